/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checks policy settings before a job starts: mistakes surface as usage errors. */
#include <errno.h>
#include <math.h>

#include "engine/policy.h"
#include "util/error.h"

#define USAGE(err, ...) qm_error_set(err, -EINVAL, "Usage", __VA_ARGS__)

static int check_downtime(long long ms, const char *option, struct qm_error *err)
{
	if (ms < 0)
		return USAGE(err, "%s must not be negative (%lld ms)", option, ms);
	if (ms > QM_POLICY_MAX_DOWNTIME_LIMIT_MS)
		return USAGE(err, "%s %lld ms is above QEMU's limit of %d ms", option, ms,
			     QM_POLICY_MAX_DOWNTIME_LIMIT_MS);
	return 0;
}

static int check_ranges(const struct qm_policy_settings *s, struct qm_error *err)
{
	/* Every field of one type is checked alike, named as the command names it. */
	const struct {
		double v;
		const char *option;
	} seconds[] = {
		{ s->step_delay, "--downtime-delay" },
		{ s->stall_timeout, "--stall-timeout" },
		{ s->pause_after, "--pause-after" },
	};
	const struct {
		int v;
		const char *option;
	} counts[] = {
		{ s->downtime_steps, "--downtime-steps" },
		{ s->downtime_double, "--downtime-double" },
		{ s->postcopy_after_passes, "--postcopy-after-passes" },
	};

	/* A negative timeout is the caller's way to say "none" (QM_POLICY_NO_TIMEOUT). */
	if (!isfinite(s->timeout))
		return USAGE(err, "--timeout must be a number of seconds (not %g)",
			     s->timeout);
	for (size_t i = 0; i < ARRAY_SIZE(seconds); i++)
		if (!isfinite(seconds[i].v) || seconds[i].v < 0)
			return USAGE(err,
				     "%s must be a number of seconds, 0 or more (not %g)",
				     seconds[i].option, seconds[i].v);
	for (size_t i = 0; i < ARRAY_SIZE(counts); i++)
		if (counts[i].v < 0)
			return USAGE(err, "%s must not be negative (%d)",
				     counts[i].option, counts[i].v);
	if (check_downtime(s->max_downtime_ms, "--max-downtime", err) < 0)
		return -EINVAL;
	return check_downtime(s->initial_downtime_ms, "the initial downtime", err);
}

int qm_policy_settings_validate(const struct qm_policy_settings *s, struct qm_error *err)
{
	long long max = s->max_downtime_ms ? s->max_downtime_ms
					   : QM_POLICY_DEFAULT_MAX_DOWNTIME_MS;
	long long initial = s->initial_downtime_ms ? s->initial_downtime_ms
						   : QM_POLICY_QEMU_DOWNTIME_MS;

	if (check_ranges(s, err) < 0)
		return -EINVAL;
	/* Both would set the limit, each from its own idea of where it stands. */
	if (s->downtime_steps && s->downtime_double)
		return USAGE(err, "--downtime-steps and --downtime-double both raise the "
				  "downtime limit: choose one");
	if (s->downtime_steps > QM_POLICY_MAX_STEPS)
		return USAGE(err, "--downtime-steps %d is too many (at most %d)",
			     s->downtime_steps, QM_POLICY_MAX_STEPS);
	if (s->step_delay > 0 && !s->downtime_steps)
		return USAGE(err, "--downtime-delay needs --downtime-steps");
	if (s->downtime_double && initial >= max)
		return USAGE(err,
			     "--downtime-double has nothing to double: the downtime "
			     "limit starts at %lld ms, --max-downtime is %lld ms",
			     initial, max);
	if (s->timeout_per_gib && s->timeout <= 0)
		return USAGE(err, "a timeout per GiB needs --timeout SEC above 0");
	if (s->postcopy_after_passes && !s->postcopy)
		return USAGE(err, "--postcopy-after-passes needs --postcopy");
	return 0;
}
