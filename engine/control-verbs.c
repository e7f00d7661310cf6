/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control protocol: one request line in, one reply line out.
 *   {"verb":"query"}  ->  {"ok":true,"phase":..,"status":..,"progress":{..}}
 *   {"verb":"cancel"}, {"verb":"force-complete"}  ->  {"ok":true}
 *   {"verb":"set-downtime","value":MS}, {"verb":"set-bandwidth","value":MIB_PER_S}
 * Failures reply {"ok":false,"error":"..."}; the connection stays usable.
 */
#include <errno.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/control.h"
#include "engine/policy.h"

enum value_kind {
	VALUE_NONE,
	VALUE_MS,
	VALUE_MIB_PER_S,
};

struct verb {
	const char *name;
	enum value_kind value;
	long long max; /* the largest value accepted (the smallest is 1) */
	/* Returns a reply for success, NULL with @r set for a failed command. */
	json_t *(*run)(const struct qm_control_ops *ops, void *ud, unsigned long long v,
		       int *r);
};

static json_t *ok(int r, int *rp)
{
	*rp = r;
	return r < 0 ? NULL : json_pack("{s:b}", "ok", 1);
}

static json_t *progress_json(const struct qm_progress *p)
{
	return json_pack("{s:s, s:s, s:f, s:I, s:I, s:I, s:f, s:I, s:I, s:f}", "phase",
			 qm_phase_name(p->phase), "status", p->status ? p->status : "",
			 "elapsed", p->elapsed, "transferred_bytes",
			 (json_int_t)p->transferred_bytes, "remaining_bytes",
			 (json_int_t)p->remaining_bytes, "total_bytes",
			 (json_int_t)p->total_bytes, "mbps", p->mbps, "passes",
			 (json_int_t)p->passes, "expected_downtime_ms",
			 (json_int_t)p->expected_downtime_ms, "percent", p->percent);
}

static json_t *do_query(const struct qm_control_ops *ops, void *ud, unsigned long long v,
			int *r)
{
	struct qm_control_query q = { .progress.expected_downtime_ms = -1 };

	ops->query(ud, &q);
	*r = 0;
	return json_pack("{s:b, s:s, s:s, s:o}", "ok", 1, "phase", qm_phase_name(q.phase),
			 "status", qm_job_status_name(q.status), "progress",
			 progress_json(&q.progress));
}

static json_t *do_cancel(const struct qm_control_ops *ops, void *ud, unsigned long long v,
			 int *r)
{
	return ok(ops->cancel(ud), r);
}

static json_t *do_force_complete(const struct qm_control_ops *ops, void *ud,
				 unsigned long long v, int *r)
{
	return ok(ops->force_complete(ud), r);
}

static json_t *do_set_downtime(const struct qm_control_ops *ops, void *ud,
			       unsigned long long v, int *r)
{
	return ok(ops->set_downtime(ud, v), r);
}

static json_t *do_set_bandwidth(const struct qm_control_ops *ops, void *ud,
				unsigned long long v, int *r)
{
	/* The protocol speaks MiB/s, as `migrate --bandwidth` does; the job bytes/s. */
	return ok(ops->set_bandwidth(ud, v * 1024 * 1024), r);
}

/* Sorted by name: the error for an unknown verb lists them in this order. */
static const struct verb verbs[] = {
	{ "cancel", VALUE_NONE, 0, do_cancel },
	{ "force-complete", VALUE_NONE, 0, do_force_complete },
	{ "query", VALUE_NONE, 0, do_query },
	/* 2^40 MiB/s keeps the product in bytes/s far from overflowing. */
	{ "set-bandwidth", VALUE_MIB_PER_S, 1LL << 40, do_set_bandwidth },
	{ "set-downtime", VALUE_MS, QM_POLICY_MAX_DOWNTIME_LIMIT_MS, do_set_downtime },
};

static const char *const unit_names[] = {
	[VALUE_NONE] = "",
	[VALUE_MS] = "ms",
	[VALUE_MIB_PER_S] = "MiB/s",
};

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

static json_t *error_json(const char *fmt, ...) _printf_(1, 2);
static json_t *error_json(const char *fmt, ...)
{
	char text[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return json_pack("{s:b, s:s}", "ok", 0, "error", text);
}

/* The message for a command the job refused. */
static json_t *refused(const struct qm_control_ops *ops, void *ud,
		       const struct verb *verb, int r)
{
	struct qm_control_query q = { 0 };

	switch (r) {
	case -EBUSY:
		ops->query(ud, &q);
		return error_json("not migrating right now (phase %s)",
				  qm_phase_name(q.phase));
	case -EALREADY:
		return error_json("the job has finished");
	case -EINVAL:
		return error_json("%s: the job refused the value", verb->name);
	default:
		return error_json("%s failed: %s", verb->name, strerror(-r));
	}
}

static json_t *unknown_verb(const char *name)
{
	char known[128] = "";
	size_t len = 0;

	for (size_t i = 0; i < ARRAY_SIZE(verbs) && len < sizeof(known); i++)
		len += snprintf(known + len, sizeof(known) - len, "%s%s", i ? ", " : "",
				verbs[i].name);
	return error_json("unknown verb '%.64s' (known: %s)", name, known);
}

/* Checks the request's "value" against what @verb takes; sets *v or returns an error. */
static json_t *check_value(const struct verb *verb, json_t *value, unsigned long long *v)
{
	const char *unit = unit_names[verb->value];
	json_int_t n;

	if (verb->value == VALUE_NONE)
		return value ? error_json("%s takes no value", verb->name) : NULL;
	if (!value)
		return error_json("%s needs a \"value\" (%s)", verb->name, unit);
	if (!json_is_integer(value))
		return error_json("%s: \"value\" must be an integer (%s)", verb->name,
				  unit);
	n = json_integer_value(value);
	if (n < 1 || n > verb->max)
		return error_json("%s: value %lld out of range (1..%lld %s)", verb->name,
				  (long long)n, verb->max, unit);
	*v = (unsigned long long)n;
	return NULL;
}

static json_t *handle(const struct qm_control_ops *ops, void *ud, const char *line,
		      size_t len)
{
	const struct verb *verb;
	const char *name;
	unsigned long long v = 0;
	json_error_t jerr;
	json_auto_t *req = json_loadb(line, len, 0, &jerr);
	json_t *reply;
	int r;

	if (!req)
		return error_json("the request is not JSON: %s", jerr.text);
	if (!json_is_object(req))
		return error_json("the request must be a JSON object");
	name = json_string_value(json_object_get(req, "verb"));
	if (!name)
		return error_json("the request has no \"verb\" string");
	verb = find_verb(name);
	if (!verb)
		return unknown_verb(name);
	reply = check_value(verb, json_object_get(req, "value"), &v);
	if (reply)
		return reply;
	reply = verb->run(ops, ud, v, &r);
	return r < 0 ? refused(ops, ud, verb, r) : reply;
}

static char *dump_line(json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
	char *line = NULL;

	json_decref(obj);
	if (text && asprintf(&line, "%s\n", text) < 0)
		line = NULL;
	free(text);
	return line;
}

char *qm_control_handle(const struct qm_control_ops *ops, void *userdata,
			const char *line, size_t len)
{
	return dump_line(handle(ops, userdata, line, len));
}

char *qm_control_error_reply(const char *message)
{
	return dump_line(error_json("%s", message));
}
