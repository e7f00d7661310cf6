/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tests/helpers/qmp-harness.h"

struct ev_loop *loop;
struct qm_ctx *ctx;
struct qm_qmp *qmp;
struct fq *fake;
char trail[2048];
struct closed closed;

void note(const char *fmt, ...)
{
	size_t len = strlen(trail);
	va_list ap;

	va_start(ap, fmt);
	len += (size_t)vsnprintf(trail + len, sizeof(trail) - len, fmt, ap);
	va_end(ap);
	snprintf(trail + len, sizeof(trail) - len, " ");
}

void harness_setup(void)
{
	unsetenv("QMIGRATE_LOG");
	unsetenv("QMIGRATE_QMP_TRACE");
	loop = ev_loop_new(EVFLAG_AUTO);
	ctx = qm_ctx_new();
	cr_assert(loop && ctx);
}

void harness_teardown(void)
{
	qm_qmp_unref(qmp);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
}

void spin_a_little(void)
{
	for (int i = 0; i < 20; i++)
		ev_run(loop, EVRUN_NOWAIT);
}

void on_reply(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	struct reply *r = ud;
	char *text;

	r->calls++;
	if (err) {
		r->err = *err;
		note("%s!", r->label);
		return;
	}
	text = json_dumps(ret, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);
	snprintf(r->ret, sizeof(r->ret), "%s", text);
	free(text);
	note("%s", r->label);
}

void on_event(struct qm_qmp *q, const char *name, json_t *data, double timestamp,
	      void *ud)
{
	struct sub *s = ud;
	char *text = data ? json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS) : NULL;

	s->calls++;
	snprintf(s->name, sizeof(s->name), "%s", name);
	snprintf(s->data, sizeof(s->data), "%s", text ? text : "null");
	s->timestamp = timestamp;
	free(text);
	note("%s", name);
}

void on_close(struct qm_qmp *q, const struct qm_error *err, void *ud)
{
	closed.calls++;
	closed.err = *err;
	note("close");
}

struct qm_qmp *new_client(const struct qm_qmp_options *opts)
{
	struct qm_qmp *q = qm_qmp_new(ctx, loop, opts);

	cr_assert(q);
	qm_qmp_set_close_fn(q, on_close, NULL);
	return q;
}

void serve(const struct fq_step *script, const struct qm_qmp_options *opts)
{
	struct qm_error err = { 0 };

	fake = fq_new(loop, script);
	qmp = new_client(opts);
	cr_assert_eq(qm_qmp_adopt_fd(qmp, fq_client_fd(fake), &err), 0, "%s", err.text);
}

void command_timeout(const char *name, const char *args, double timeout, struct reply *r)
{
	json_t *a = args ? json_loads(args, 0, NULL) : NULL;

	cr_assert(!args || a, "bad JSON: %s", args);
	cr_assert_eq(qm_qmp_command(qmp, name, a, -1, timeout, on_reply, r), 0);
	cr_assert_eq(r->calls, 0, "%s: called back inside qm_qmp_command", r->label);
}

void command(const char *name, const char *args, struct reply *r)
{
	command_timeout(name, args, 0, r);
}

void subscribe(const char *name, qm_qmp_event_fn cb, struct sub *s)
{
	cr_assert_eq(qm_qmp_subscribe(qmp, name, cb, s), 0);
}

json_t *recorded(const char *file, const char *key)
{
	char *text = fq_load(file);
	json_t *msg = json_loads(text, 0, NULL);
	json_t *value = json_incref(json_object_get(msg, key));

	cr_assert(value, "%s has no \"%s\"", file, key);
	json_decref(msg);
	free(text);
	return value;
}

void expect_recorded_return(const struct reply *r, const char *file)
{
	json_t *ret = recorded(file, "return");
	char *want = json_dumps(ret, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY);

	cr_assert_eq(r->calls, 1, "%s: called back %d times", r->label, r->calls);
	cr_assert_eq(r->err.code, 0, "%s failed: %s", r->label, r->err.text);
	cr_assert_str_eq(r->ret, want, "%s", r->label);
	free(want);
	json_decref(ret);
}

void expect_error(const struct reply *r, int code, const char *error_class)
{
	cr_assert_eq(r->calls, 1, "%s: called back %d times", r->label, r->calls);
	cr_assert_eq(r->err.code, code, "%s: code %d (%s), wanted %d", r->label,
		     r->err.code, r->err.text, code);
	cr_assert_str_eq(r->err.error_class, error_class, "%s: %s", r->label,
			 r->err.text);
	cr_assert_str_eq(r->ret, "", "%s", r->label);
}
