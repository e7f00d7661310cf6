/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client's lifetime against the scripted fake server: closing,
 * callbacks that drop the last reference, the traffic log.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tests/helpers/qmp-harness.h"
#include "util/macros.h"

TestSuite(qmp_client, .init = harness_setup, .fini = harness_teardown, .timeout = 10);

/* ---- the connection closes
 * ------------------------------------------------------------- */

/* Two commands pending when @script (HANDSHAKE, two EXPECTs, then trouble) closes. */
static void expect_both_fail(const struct fq_step *script,
			     const struct qm_qmp_options *opts, int code,
			     const char *error_class)
{
	struct reply a = { .label = "a" }, b = { .label = "b" },
		     late = { .label = "late" };

	serve(script, opts);
	command("query-status", NULL, &a);
	command("query-version", NULL, &b);
	spin_until(closed.calls && !fq_connected(fake));
	spin_a_little();
	cr_assert_str_eq(trail, "a! b! close ");
	expect_error(&a, code, error_class);
	expect_error(&b, code, error_class);
	cr_assert_eq(closed.calls, 1);
	cr_assert_eq(closed.err.code, code);
	cr_assert_str_eq(closed.err.error_class, error_class);
	cr_assert_str_eq(closed.err.text, a.err.text);
	cr_assert_str_eq(b.err.text, a.err.text);
	cr_assert_not(qm_qmp_is_ready(qmp));
	cr_assert_eq(qm_qmp_command(qmp, "query-status", NULL, -1, 0, on_reply, &late),
		     -ENOTCONN);
	spin_a_little();
	cr_assert_eq(late.calls, 0);
	fq_free(fake);
}

Test(qmp_client, an_oversized_message_closes_with_a_clear_error_and_fails_every_pending)
{
	char big[2048];
	const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-version", 1),
		FQ_SEND_TEXT(big),
		FQ_END,
	};
	struct qm_qmp_options opts = { .max_message = 1024 };

	snprintf(big, sizeof(big), "{\"event\": \"X\", \"data\": \"%01500d\"}\r\n", 0);
	expect_both_fail(script, &opts, -EMSGSIZE, "ProtocolError");
	cr_assert(strstr(closed.err.text, "1024"), "%s", closed.err.text);
}

Test(qmp_client, malformed_json_closes_and_fails_every_pending_command)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-version", 1),
		FQ_SEND_TEXT("{\"return\": {\"status\": running}, \"id\": 2}\r\n"),
		FQ_END,
	};

	expect_both_fail(script, NULL, -EPROTO, "ProtocolError");
	cr_assert(strstr(closed.err.text, "malformed JSON"), "%s", closed.err.text);
}

Test(qmp_client, a_message_that_is_not_an_object_closes_and_fails_every_pending_command)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-version", 1),
		FQ_SEND_TEXT("hello\r\n"),
		FQ_END,
	};

	expect_both_fail(script, NULL, -EPROTO, "ProtocolError");
}

Test(qmp_client, eof_fails_every_pending_command_and_calls_close_once)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-version", 1),
		FQ_HANGUP,
		FQ_END,
	};

	expect_both_fail(script, NULL, -ECONNRESET, "ConnectionClosed");
}

Test(qmp_client, eof_before_the_greeting_fails_commands_queued_early)
{
	static const struct fq_step script[] = {
		FQ_HANGUP,
		FQ_END,
	};
	struct reply a = { .label = "a" };

	serve(script, NULL);
	command("query-status", NULL, &a);
	spin_until(closed.calls);
	cr_assert_str_eq(trail, "a! close ");
	expect_error(&a, -ECONNRESET, "ConnectionClosed");
	cr_assert_null(qm_qmp_greeting(qmp));
	fq_free(fake);
}

Test(qmp_client, close_fails_pending_commands_from_the_loop_with_the_given_error)
{
	static const struct fq_step script[] = {
		FQ_SEND_FILE("greeting.json"),
		FQ_EXPECT("qmp_capabilities", 0),
		FQ_END,
	};
	struct reply a = { .label = "a" }, b = { .label = "b" };
	struct qm_error why = { .code = -EINTR,
				.error_class = "JobCancelled",
				.text = "cancelled by the user" };

	serve(script, NULL);
	command("query-status", NULL, &a);
	spin_until(fq_finished(fake));
	command("query-version", NULL, &b);
	qm_qmp_close(qmp, &why);
	cr_assert_str_eq(trail, "", "called back inside qm_qmp_close: %s", trail);
	spin_until(closed.calls && fq_peer_closed(fake));
	cr_assert_str_eq(trail, "a! b! close ");
	expect_error(&a, -EINTR, "JobCancelled");
	expect_error(&b, -EINTR, "JobCancelled");
	cr_assert_str_eq(a.err.text, "cancelled by the user");
	cr_assert_str_eq(closed.err.text, "cancelled by the user");
	fq_free(fake);
}

Test(qmp_client, a_command_on_a_closed_connection_returns_enotconn_and_never_calls_back)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_END,
	};
	struct reply r = { .label = "r" };

	serve(script, NULL);
	spin_until(qm_qmp_is_ready(qmp));
	qm_qmp_close(qmp, NULL);
	cr_assert_eq(closed.calls, 0, "the close callback ran inside qm_qmp_close");
	cr_assert_eq(qm_qmp_command(qmp, "query-status", NULL, -1, 0, on_reply, &r),
		     -ENOTCONN);
	spin_until(closed.calls && fq_peer_closed(fake));
	spin_a_little();
	cr_assert_eq(r.calls, 0);
	cr_assert_eq(closed.calls, 1);
	cr_assert_eq(closed.err.code, -ECANCELED);
	cr_assert_str_eq(closed.err.error_class, "ConnectionClosed");
	fq_free(fake);
}

Test(qmp_client, a_command_before_connecting_returns_enotconn)
{
	struct reply r = { .label = "r" };

	qmp = new_client(NULL);
	cr_assert_eq(qm_qmp_command(qmp, "query-status", NULL, -1, 0, on_reply, &r),
		     -ENOTCONN);
	spin_a_little();
	cr_assert_eq(r.calls, 0);
	cr_assert_eq(closed.calls, 0);
}

/* ---- callbacks that drop the last reference
 * ----------------------------------------------------- */

static void unref_on_reply(struct qm_qmp *q, json_t *ret, const struct qm_error *err,
			   void *ud)
{
	on_reply(q, ret, err, ud);
	cr_assert_eq(q, qmp);
	qm_qmp_unref(q);
	qmp = NULL;
}

static void unref_on_event(struct qm_qmp *q, const char *name, json_t *data, double ts,
			   void *ud)
{
	on_event(q, name, data, ts, ud);
	qm_qmp_unref(q);
	qmp = NULL;
}

static void unref_on_close(struct qm_qmp *q, const struct qm_error *err, void *ud)
{
	on_close(q, err, ud);
	qm_qmp_unref(q);
	qmp = NULL;
}

/* Dropping the last reference closes the connection without calling back again. */
static void expect_quiet_close(void)
{
	spin_until(fq_peer_closed(fake));
	spin_a_little();
	cr_assert_null(qmp);
}

Test(qmp_client, a_reply_callback_dropping_the_last_reference_is_safe)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-version", 1),
		FQ_REPLY_FILE(0, "query-status.json"),
		FQ_REPLY_FILE(1, "query-version.json"),
		FQ_SEND_FILE("event-stop.json"),
		FQ_END,
	};
	struct reply a = { .label = "a" }, b = { .label = "b" };
	struct sub all = { 0 };

	serve(script, NULL);
	subscribe(NULL, on_event, &all);
	cr_assert_eq(qm_qmp_command(qmp, "query-status", NULL, -1, 0, unref_on_reply, &a),
		     0);
	command("query-version", NULL, &b);
	expect_quiet_close();
	cr_assert_str_eq(trail, "a ");
	fq_free(fake);
}

static const struct fq_step two_events[] = {
	FQ_HANDSHAKE,
	FQ_SEND_FILE("event-stop.json"),
	FQ_SEND_FILE("event-migration.json"),
	FQ_END,
};

Test(qmp_client, an_event_callback_dropping_the_last_reference_is_safe)
{
	struct sub s = { 0 };

	serve(two_events, NULL);
	subscribe(NULL, unref_on_event, &s);
	expect_quiet_close();
	cr_assert_str_eq(trail, "STOP ");
	fq_free(fake);
}

Test(qmp_client, a_failure_callback_dropping_the_last_reference_stops_the_rest)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-version", 1),
		FQ_HANGUP,
		FQ_END,
	};
	struct reply a = { .label = "a" }, b = { .label = "b" };

	serve(script, NULL);
	cr_assert_eq(qm_qmp_command(qmp, "query-status", NULL, -1, 0, unref_on_reply, &a),
		     0);
	command("query-version", NULL, &b);
	spin_until(a.calls);
	spin_a_little();
	cr_assert_str_eq(trail, "a! ");
	fq_free(fake);
}

Test(qmp_client, a_timeout_callback_dropping_the_last_reference_is_safe)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-version", 1),
		FQ_END,
	};
	struct reply a = { .label = "a" }, b = { .label = "b" };

	serve(script, NULL);
	cr_assert_eq(
		qm_qmp_command(qmp, "query-status", NULL, -1, 0.05, unref_on_reply, &a),
		0);
	command("query-version", NULL, &b);
	expect_quiet_close();
	cr_assert_str_eq(trail, "a! ");
	expect_error(&a, -ETIMEDOUT, "CommandTimeout");
	fq_free(fake);
}

Test(qmp_client, the_close_callback_may_drop_the_last_reference)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_HANGUP,
		FQ_END,
	};

	serve(script, NULL);
	qm_qmp_set_close_fn(qmp, unref_on_close, NULL);
	spin_until(closed.calls);
	spin_a_little();
	cr_assert_null(qmp);
	cr_assert_str_eq(trail, "close ");
	fq_free(fake);
}

/* ---- the traffic log
 * ------------------------------------------------------------------------- */

static char logged[65536]; /* one line per message */

static _printf_(6, 0) void record_log(void *userdata, int priority, const char *file, int line,
		       const char *fn, const char *format, va_list args)
{
	size_t len = strlen(logged);

	len += (size_t)vsnprintf(logged + len, sizeof(logged) - len, format, args);
	snprintf(logged + len, sizeof(logged) - len, "\n");
}

static const struct fq_step traced_script[] = {
	FQ_HANDSHAKE,
	FQ_EXPECT("query-status", 0),
	FQ_SEND_TEXT("{\"return\": {}, \"id\": 999999}\r\n"),
	FQ_SEND_FILE("event-stop.json"),
	FQ_REPLY_FILE(0, "query-status.json"),
	FQ_END,
};

static void run_traced_session(void)
{
	struct reply st = { .label = "status" };

	qm_ctx_unref(ctx);
	ctx = qm_ctx_new();
	cr_assert(ctx);
	qm_ctx_set_log_fn(ctx, record_log, NULL);
	serve(traced_script, NULL);
	command("query-status", NULL, &st);
	spin_until(st.calls);
	qm_qmp_close(qmp, NULL);
	spin_until(closed.calls && fq_finished(fake));
}

/* "QMP <<< " and the recorded message @file without its CRLF, as one log line. */
static void expect_logged_in(const char *file)
{
	char *text = fq_load(file), want[1024];

	snprintf(want, sizeof(want), "QMP <<< %.*s\n", (int)strlen(text) - 2, text);
	cr_assert(strstr(logged, want), "no line %s in:\n%s", want, logged);
	free(text);
}

Test(qmp_client, with_qmp_trace_the_log_gets_every_raw_message)
{
	char want[256];

	setenv("QMIGRATE_QMP_TRACE", "1", 1);
	run_traced_session();
	expect_logged_in("greeting.json");
	expect_logged_in("event-stop.json");
	cr_assert(strstr(logged, "QMP <<< {\"return\": {}, \"id\": 999999}\n"), "%s",
		  logged);
	snprintf(want, sizeof(want),
		 "QMP >>> {\"execute\":\"qmp_capabilities\",\"id\":%lld}\n",
		 (long long)json_integer_value(fq_slot_id(fake, FQ_CAPS_SLOT)));
	cr_assert(strstr(logged, want), "no line %s in:\n%s", want, logged);
	snprintf(want, sizeof(want),
		 "QMP >>> {\"execute\":\"query-status\",\"id\":%lld}\n",
		 (long long)json_integer_value(fq_slot_id(fake, 0)));
	cr_assert(strstr(logged, want), "no line %s in:\n%s", want, logged);
	fq_free(fake);
}

Test(qmp_client, debug_logging_without_qmp_trace_shows_no_raw_messages)
{
	setenv("QMIGRATE_LOG", "debug", 1);
	run_traced_session();
	cr_assert(strstr(logged, "matches no pending command"), "%s", logged);
	cr_assert_null(strstr(logged, "QMP <<<"), "%s", logged);
	cr_assert_null(strstr(logged, "QMP >>>"), "%s", logged);
	fq_free(fake);
}

Test(qmp_client, without_qmp_trace_nothing_is_logged_or_printed)
{
	int saved_out = dup(1), saved_err = dup(2);
	FILE *out = tmpfile();
	struct stat st;

	cr_assert(out && saved_out >= 0 && saved_err >= 0);
	fflush(stdout);
	fflush(stderr);
	dup2(fileno(out), 1);
	dup2(fileno(out), 2);
	run_traced_session();
	fflush(stdout);
	fflush(stderr);
	dup2(saved_out, 1);
	dup2(saved_err, 2);
	close(saved_out);
	close(saved_err);
	cr_assert_eq(fstat(fileno(out), &st), 0);
	cr_assert_eq(st.st_size, 0, "something was printed");
	cr_assert_str_eq(logged, "");
	fclose(out);
	fq_free(fake);
}
