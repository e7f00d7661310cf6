/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Convergence policies: pure decisions from settings, state, sample and time. */
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/policy.h"
#include "util/macros.h"

#define GIB (1024.0 * 1024 * 1024)
#define MIB (1024.0 * 1024)

struct actions {
	struct qm_policy_action *a;
	size_t n;
};

static struct qm_policy_action *add(struct actions *acts, enum qm_policy_action_type type,
				    enum qm_policy policy, long long value)
{
	struct qm_policy_action *a = &acts->a[acts->n++];

	a->type = type;
	a->policy = policy;
	a->value = value;
	a->reason[0] = '\0';
	return a;
}

static long long max_downtime(const struct qm_policy_settings *s)
{
	return s->max_downtime_ms > 0 ? s->max_downtime_ms
				      : QM_POLICY_DEFAULT_MAX_DOWNTIME_MS;
}

static double step_delay(const struct qm_policy_settings *s)
{
	return s->step_delay > 0 ? s->step_delay : QM_POLICY_DEFAULT_STEP_DELAY;
}

/* Guest RAM in GiB, or 0 while unknown. */
static double ram_gib(const struct qm_policy_state *st)
{
	return (double)st->ram_bytes / GIB;
}

void qm_policy_state_init(struct qm_policy_state *st, const struct qm_policy_settings *s,
			  double start)
{
	memset(st, 0, sizeof(*st));
	st->start = start;
	st->downtime_ms = s->initial_downtime_ms > 0 ? s->initial_downtime_ms
						     : QM_POLICY_QEMU_DOWNTIME_MS;
	st->ram_bytes = s->ram_bytes;
	st->ladder_step = -1;
}

void qm_policy_force_complete(struct qm_policy_state *st)
{
	st->force_complete = true;
}

/* ---- cancelling policies ----------------------------------------------------- */

/*
 * The completion timeout in seconds, or 0 when there is none (yet); @how
 * says where a limit other than a plain --timeout comes from.
 */
static double timeout_limit(const struct qm_policy_settings *s,
			    const struct qm_policy_state *st, char *how, size_t len)
{
	double limit;

	how[0] = '\0';
	if (s->timeout < 0)
		return 0;
	if (s->timeout == 0) {
		char ram[64] = "";

		limit = QM_POLICY_DEFAULT_TIMEOUT_PER_GIB * ram_gib(st);
		if (limit < QM_POLICY_DEFAULT_TIMEOUT_MIN)
			limit = QM_POLICY_DEFAULT_TIMEOUT_MIN;
		if (st->ram_bytes)
			snprintf(ram, sizeof(ram), "%g s per GiB of %.2f GiB of RAM, ",
				 QM_POLICY_DEFAULT_TIMEOUT_PER_GIB, ram_gib(st));
		snprintf(how, len,
			 " (the default: %sat least %g s; change it with --timeout SEC, "
			 "or --timeout 0 for none)",
			 ram, QM_POLICY_DEFAULT_TIMEOUT_MIN);
		return limit;
	}
	if (!s->timeout_per_gib)
		return s->timeout;
	/* Until the RAM size is known there is no limit to compare with. */
	if (!st->ram_bytes)
		return 0;
	snprintf(how, len, " (%g s per GiB of %.2f GiB)", s->timeout, ram_gib(st));
	return s->timeout * ram_gib(st);
}

static bool timeout_due(const struct qm_policy_settings *s,
			const struct qm_policy_state *st, double age,
			struct actions *acts)
{
	struct qm_policy_action *a;
	char how[200];
	double limit = timeout_limit(s, st, how, sizeof(how));

	if (limit <= 0 || age <= limit)
		return false;
	a = add(acts, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
	snprintf(a->reason, sizeof(a->reason),
		 "timeout: still migrating after %.0f s, limit %.0f s%s", age, limit,
		 how);
	return true;
}

/* Call after the low was updated with this sample. */
static bool stall_due(const struct qm_policy_settings *s,
		      const struct qm_policy_state *st, double now, struct actions *acts)
{
	struct qm_policy_action *a;

	if (s->stall_timeout <= 0 || !st->have_low || now - st->low_at < s->stall_timeout)
		return false;
	a = add(acts, QM_POLICY_CANCEL, QM_POLICY_STALL, 0);
	snprintf(a->reason, sizeof(a->reason),
		 "stalled: remaining not below %.1f MiB for %.0f s, limit %.0f s",
		 (double)st->low_remaining / MIB, now - st->low_at, s->stall_timeout);
	return true;
}

/* ---- downtime ---------------------------------------------------------------- */

/*
 * Step @i's limit, base + offset * i with base = max / n and offset =
 * (max - base) / n, which is max * (n + (n - 1) * i) / n^2: computed in
 * integers so that step n is exactly max (floating point may land a hair
 * below).  Rounded down like nova, but never 0, which QEMU would take as
 * "no downtime at all" and never converge.
 */
static long long ladder_value(long long max, int n, int i)
{
	unsigned long long num =
		(unsigned long long)max *
		((unsigned long long)n + (unsigned long long)(n - 1) * (unsigned)i);
	unsigned long long v = num / ((unsigned long long)n * (unsigned)n);

	return v > 0 ? (long long)v : 1;
}

/*
 * The last step whose time has come: step i is due once step_len * i <= age.
 * Every test is that product, because the quotient age / step_len can round
 * to the next whole step a hair before its time (and a hair after it too).
 */
static int ladder_reached(int n, double step_len, double age)
{
	int i;

	if (!(age >= 0))
		return -1;
	/* Only step 0 is due while the RAM size, hence the step length, is unknown. */
	if (step_len <= 0)
		return 0;
	if (step_len * n <= age)
		return n;
	i = (int)(age / step_len);
	while (i > 0 && step_len * i > age)
		i--;
	while (i < n && step_len * (i + 1) <= age)
		i++;
	return i;
}

static void ladder(const struct qm_policy_settings *s, struct qm_policy_state *st,
		   double age, struct actions *acts)
{
	int n = s->downtime_steps, i;
	double step_len = step_delay(s) * ram_gib(st);
	long long value;
	struct qm_policy_action *a;

	if (n <= 0)
		return;
	i = ladder_reached(n, step_len, age);
	if (i <= st->ladder_step)
		return;
	st->ladder_step = i;
	value = ladder_value(max_downtime(s), n, i);
	if (value == st->downtime_ms)
		return;
	st->downtime_ms = value;
	a = add(acts, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, value);
	snprintf(a->reason, sizeof(a->reason), "downtime step %d/%d at %.0f s: %lld ms",
		 i, n, step_len * i, value);
}

/* For a counted sample only. */
static void doubling(const struct qm_policy_settings *s, struct qm_policy_state *st,
		     const struct qm_progress *p, struct actions *acts)
{
	long long old = st->downtime_ms, max = max_downtime(s), value;
	struct qm_policy_action *a;
	bool flat = st->have_prev && p->remaining_bytes >= st->prev_remaining;

	st->have_prev = true;
	st->prev_remaining = p->remaining_bytes;
	/*
	 * Counted since the last doubling, not reset by a fall: within a pass the
	 * remaining bytes always fall, and it is each new pass's jump back up
	 * that says the guest outpaces the stream (Proxmox counts the same way).
	 */
	if (flat)
		st->flat_samples++;
	if (s->downtime_double <= 0 || st->flat_samples < s->downtime_double)
		return;
	st->flat_samples = 0;
	value = old > max - old ? max : old * 2;
	if (value <= old)
		return;
	st->downtime_ms = value;
	a = add(acts, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, value);
	snprintf(a->reason, sizeof(a->reason),
		 "remaining has not fallen for %d samples: downtime %lld -> %lld ms%s",
		 s->downtime_double, old, value, value == max ? " (max)" : "");
}

/* ---- forcing convergence ----------------------------------------------------- */

/*
 * Post-copy and pausing the source both force convergence; once one is under
 * way the other only adds downtime (a pause after post-copy) or risk (post-copy
 * splits the guest's state between the hosts, for no gain once it is paused).
 */
static bool forcing(const struct qm_policy_state *st)
{
	return st->paused || st->postcopy_started;
}

static void postcopy_after(const struct qm_policy_settings *s, struct qm_policy_state *st,
			   const struct qm_progress *p, struct actions *acts)
{
	struct qm_policy_action *a;

	if (!s->postcopy || s->postcopy_after_passes <= 0 || forcing(st) ||
	    p->passes < (unsigned long long)s->postcopy_after_passes)
		return;
	st->postcopy_started = true;
	a = add(acts, QM_POLICY_START_POSTCOPY, QM_POLICY_POSTCOPY, 0);
	snprintf(a->reason, sizeof(a->reason),
		 "pass %llu reached %d: switch to post-copy", p->passes,
		 s->postcopy_after_passes);
}

static void force_complete(const struct qm_policy_settings *s, struct qm_policy_state *st,
			   struct actions *acts)
{
	struct qm_policy_action *a;

	if (!st->force_complete)
		return;
	st->force_complete = false;
	if (forcing(st))
		return;
	if (s->postcopy) {
		st->postcopy_started = true;
		a = add(acts, QM_POLICY_START_POSTCOPY, QM_POLICY_FORCE_COMPLETE, 0);
		snprintf(a->reason, sizeof(a->reason),
			 "force-complete: switch to post-copy");
		return;
	}
	st->paused = true;
	a = add(acts, QM_POLICY_PAUSE_SOURCE, QM_POLICY_FORCE_COMPLETE, 0);
	snprintf(a->reason, sizeof(a->reason),
		 "force-complete: pause the source (post-copy is not enabled)");
}

static void pause_after(const struct qm_policy_settings *s, struct qm_policy_state *st,
			double age, struct actions *acts)
{
	struct qm_policy_action *a;

	if (s->pause_after <= 0 || forcing(st) || age <= s->pause_after)
		return;
	st->paused = true;
	a = add(acts, QM_POLICY_PAUSE_SOURCE, QM_POLICY_PAUSE_AFTER, 0);
	snprintf(a->reason, sizeof(a->reason),
		 "still migrating after %.0f s, pause-after %.0f s", age, s->pause_after);
}

/* ---- advice ------------------------------------------------------------------ */

/*
 * The highest limit the policies will set by themselves: the ladder and
 * doubling climb to the maximum, so an expected downtime within their reach
 * needs no advice.
 */
static long long reachable_downtime(const struct qm_policy_settings *s,
				    const struct qm_policy_state *st)
{
	long long max = max_downtime(s);

	if ((s->downtime_steps > 0 || s->downtime_double > 0) && max > st->downtime_ms)
		return max;
	return st->downtime_ms;
}

/* @levers, the ones that apply, into @buf: "a, b, or c". */
static void join_levers(char *buf, size_t len, const char *const *levers, size_t n)
{
	size_t used = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < n && used < len; i++) {
		const char *sep = i == 0 ? "" : i + 1 < n ? ", " : ", or ";

		used += (size_t)snprintf(buf + used, len - used, "%s%s", sep, levers[i]);
	}
}

/* The options that would make the migration converge and are not in use yet. */
static void advice_levers(const struct qm_policy_settings *s,
			  const struct qm_policy_state *st, long long expected, char *buf,
			  size_t len)
{
	/* Enough to cover what QEMU expects, rounded up to the next 100 ms. */
	long long downtime = (expected / 100 + 1) * 100;
	char max_downtime_opt[48], bandwidth_opt[64];
	const struct {
		bool applies;
		const char *text;
	} all[] = {
		{ downtime <= QM_POLICY_MAX_DOWNTIME_LIMIT_MS, max_downtime_opt },
		{ !st->auto_converge, "--auto-converge" },
		{ s->pause_after <= 0, "--pause-after SEC" },
		{ !s->postcopy, "--postcopy" },
		{ s->postcopy && s->postcopy_after_passes <= 0,
		  "--postcopy-after-passes N" },
		{ st->bandwidth > 0, bandwidth_opt },
	};
	const char *levers[ARRAY_SIZE(all)];
	size_t n = 0;

	snprintf(max_downtime_opt, sizeof(max_downtime_opt), "--max-downtime %lld",
		 downtime);
	snprintf(bandwidth_opt, sizeof(bandwidth_opt),
		 "a higher --bandwidth (now %.0f MiB/s)", (double)st->bandwidth / MIB);
	for (size_t i = 0; i < ARRAY_SIZE(all); i++)
		if (all[i].applies)
			levers[n++] = all[i].text;
	if (!n) {
		snprintf(buf, len, "every option that would help is in use");
		return;
	}
	join_levers(buf, len, levers, n);
}

/*
 * Tells the user, once, that the guest outpaces the stream: QEMU's expected
 * downtime has stayed above the limit for QM_POLICY_ADVISE_PASSES passes.
 * For a counted sample only.
 */
static void advise(const struct qm_policy_settings *s, struct qm_policy_state *st,
		   const struct qm_progress *p, struct actions *acts)
{
	long long limit = reachable_downtime(s, st), expected = p->expected_downtime_ms;
	struct qm_policy_action *a;
	char ceiling[48] = "", levers[200];

	/* Forcing converges by itself; a sample without an estimate says nothing. */
	if (st->advised || forcing(st) || expected < 0)
		return;
	if (expected <= limit) {
		st->have_above = false;
		return;
	}
	if (!st->have_above || p->passes < st->above_from) {
		st->have_above = true;
		st->above_from = p->passes;
	}
	if (p->passes - st->above_from < QM_POLICY_ADVISE_PASSES)
		return;
	st->advised = true;
	if (limit != st->downtime_ms)
		snprintf(ceiling, sizeof(ceiling), " (rising to %lld ms)", limit);
	advice_levers(s, st, expected, levers, sizeof(levers));
	a = add(acts, QM_POLICY_ADVISE, QM_POLICY_ADVICE, 0);
	/* QEMU's mbps is 10^6 bits/s. */
	snprintf(a->reason, sizeof(a->reason),
		 "the guest dirties memory faster than it is sent: expected downtime "
		 "%lld ms stays above the limit %lld ms%s after %llu passes (sending "
		 "%.1f MiB/s); to converge: %s",
		 expected, st->downtime_ms, ceiling, p->passes - st->above_from,
		 p->mbps * 1e6 / 8 / MIB, levers);
}

/* ---- one sample -------------------------------------------------------------- */

static void track_low(struct qm_policy_state *st, const struct qm_progress *p, double now)
{
	if (st->have_low && p->remaining_bytes >= st->low_remaining)
		return;
	st->have_low = true;
	st->low_remaining = p->remaining_bytes;
	st->low_at = now;
}

size_t qm_policy_evaluate(const struct qm_policy_settings *s, struct qm_policy_state *st,
			  const struct qm_progress *p, double now,
			  struct qm_policy_action out[QM_POLICY_MAX_ACTIONS])
{
	struct actions acts = { .a = out };
	double age = now - st->start;
	bool setup, counted;

	/* A clock gone wrong must not look like a timeout. */
	if (st->cancelled || !p->status || !isfinite(now))
		return 0;
	if (strncmp(p->status, "postcopy-", 9) == 0) {
		st->postcopy_started = true;
		st->force_complete = false;
		return 0;
	}
	setup = strcmp(p->status, "setup") == 0;
	if (!setup && strcmp(p->status, "active") != 0)
		return 0;
	if (!st->ram_bytes)
		st->ram_bytes = p->total_bytes;
	/* During setup, and before QEMU sized the RAM, remaining means nothing yet. */
	counted = !setup && p->total_bytes > 0;
	if (counted)
		track_low(st, p, now);
	if (timeout_due(s, st, age, &acts) || (counted && stall_due(s, st, now, &acts))) {
		st->cancelled = true;
		return acts.n;
	}
	ladder(s, st, age, &acts);
	if (counted)
		doubling(s, st, p, &acts);
	postcopy_after(s, st, p, &acts);
	force_complete(s, st, &acts);
	pause_after(s, st, age, &acts);
	if (counted)
		advise(s, st, p, &acts);
	return acts.n;
}
