/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Migration capabilities and parameters: which side needs what for the
 * job's options, whether that QEMU has it, and the QMP arguments that set it.
 * Both sides get what both need (multifd, postcopy-ram); a capability one
 * QEMU lacks is refused before anything starts.
 */
#include <errno.h>
#include <string.h>

#include "engine/job.h"
#include "util/error.h"
#include "util/macros.h"

/* QMP's max-bandwidth is bytes/s; this is libvirt's "unlimited" too (INT64_MAX rounded to MiB). */
#define UNLIMITED_BANDWIDTH ((long long)(INT64_MAX / (1024 * 1024)) * 1024 * 1024)

enum { SRC = 1, DST = 2 };

static bool always(const struct qm_job_options *o)
{
	return true;
}

static bool want_auto_converge(const struct qm_job_options *o)
{
	return o->auto_converge;
}

static bool want_xbzrle(const struct qm_job_options *o)
{
	return o->xbzrle;
}

static bool want_multifd(const struct qm_job_options *o)
{
	return o->multifd_channels > 0;
}

static bool want_postcopy(const struct qm_job_options *o)
{
	return o->policy.postcopy;
}

/* The mirrors are completed while the source is paused, before the switch-over. */
static bool want_storage(const struct qm_job_options *o)
{
	return o->copy_storage != QM_COPY_STORAGE_NONE;
}

static const struct {
	const char *name;
	int sides;
	bool (*wanted)(const struct qm_job_options *o);
	const char *option; /* the command's option that wants it, or NULL: always */
} caps[] = {
	{ "events", SRC | DST, always, NULL },
	{ "auto-converge", SRC, want_auto_converge, "--auto-converge" },
	{ "xbzrle", SRC, want_xbzrle, "--xbzrle" },
	{ "multifd", SRC | DST, want_multifd, "--multifd" },
	{ "postcopy-ram", SRC | DST, want_postcopy, "--postcopy" },
	{ "pause-before-switchover", SRC, want_storage, "--copy-storage" },
};

static bool listed(json_t *available, const char *name)
{
	size_t i;
	json_t *c;

	json_array_foreach(available, i, c)
		if (strcmp(json_string_value(json_object_get(c, "capability")) ?: "", name) == 0)
			return true;
	return false;
}

int qm_caps_check(const struct qm_job *job, json_t *available, bool source,
		  struct qm_error *err)
{
	int side = source ? SRC : DST;

	for (size_t i = 0; i < ARRAY_SIZE(caps); i++) {
		if (!(caps[i].sides & side) || !caps[i].wanted(&job->opts))
			continue;
		if (listed(available, caps[i].name))
			continue;
		if (!caps[i].option)
			return qm_error_set(
				err, -ENOTSUP, "CapabilityMissing",
				"the %s QEMU lacks the migration capability '%s', "
				"which qmigrate needs: use a newer QEMU there",
				source ? "source" : "destination", caps[i].name);
		return qm_error_set(
			err, -ENOTSUP, "CapabilityMissing",
			"the %s QEMU lacks the migration capability '%s': migrate "
			"without %s, or use a newer QEMU there",
			source ? "source" : "destination", caps[i].name, caps[i].option);
	}
	return 0;
}

json_t *qm_caps_args(const struct qm_job *job, bool source)
{
	int side = source ? SRC : DST;
	json_t *list = json_array();

	for (size_t i = 0; list && i < ARRAY_SIZE(caps); i++)
		if ((caps[i].sides & side) && caps[i].wanted(&job->opts))
			json_array_append_new(list, json_pack("{s:s, s:b}", "capability",
							      caps[i].name, "state", 1));
	return json_pack("{s:o}", "capabilities", list);
}

static void set_int(json_t *p, const char *key, long long v)
{
	json_object_set_new(p, key, json_integer((json_int_t)v));
}

json_t *qm_params_args(const struct qm_job *job, bool source)
{
	const struct qm_job_options *o = &job->opts;
	json_t *p = json_object();

	if (!p)
		return NULL;
	if (o->multifd_channels)
		set_int(p, "multifd-channels", o->multifd_channels);
	if (!source)
		return json_object_size(p) ? p : (json_decref(p), NULL);
	set_int(p, "max-bandwidth", o->bandwidth ? (long long)o->bandwidth : UNLIMITED_BANDWIDTH);
	/* With a ladder or doubling, the policies own the limit from QEMU's default up. */
	if (o->max_downtime_ms && !o->policy.downtime_steps && !o->policy.downtime_double)
		set_int(p, "downtime-limit", (long long)o->max_downtime_ms);
	if (o->auto_converge && o->throttle_initial)
		set_int(p, "cpu-throttle-initial", o->throttle_initial);
	if (o->auto_converge && o->throttle_increment)
		set_int(p, "cpu-throttle-increment", o->throttle_increment);
	if (o->xbzrle && o->xbzrle_cache)
		set_int(p, "xbzrle-cache-size", (long long)o->xbzrle_cache);
	return p;
}
