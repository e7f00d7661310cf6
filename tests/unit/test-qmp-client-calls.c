/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client against the scripted fake server: fds sent with a
 * command, the blocking call, who is at the other end, the transcript.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qmp/internal.h"
#include "tests/helpers/qmp-harness.h"

TestSuite(qmp_client, .init = harness_setup, .fini = harness_teardown, .timeout = 10);

/* ---- file descriptors
 * -------------------------------------------------------------------- */

Test(qmp_client, an_fd_sent_with_getfd_reaches_the_server_and_the_caller_keeps_its_own)
{
	struct reply r = { .label = "getfd" };
	struct stat st;
	int p[2];
	char c;

	cr_assert_eq(pipe(p), 0);
	cr_assert_eq(fstat(p[1], &st), 0);
	const struct fq_step script[] = {
		FQ_HANDSHAKE,
		{ .op = FQ_OP_EXPECT,
		  .name = "getfd",
		  .args = "{\"fdname\": \"migration\"}",
		  .fd = true,
		  .fd_type = S_IFIFO,
		  .fd_same = &st },
		FQ_REPLY_FILE(0, "getfd.json"),
		FQ_END,
	};

	serve(script, NULL);
	/* Queued before the greeting: the client holds the fd until it may send. */
	cr_assert_eq(qm_qmp_command(qmp, "getfd",
				    json_pack("{s:s}", "fdname", "migration"), p[1], 0,
				    on_reply, &r),
		     0);
	spin_until(r.calls);
	expect_recorded_return(&r, "getfd.json");
	cr_assert_neq(fcntl(p[1], F_GETFD), -1, "the caller's fd was closed");
	cr_assert_eq(write(p[1], "x", 1), 1);
	cr_assert_eq(read(p[0], &c, 1), 1);
	cr_assert_eq(c, 'x');
	close(p[0]);
	close(p[1]);
	fq_free(fake);
}

Test(qmp_client, the_caller_may_close_its_fd_right_after_queueing_it)
{
	struct reply r = { .label = "add-fd" }, st_reply = { .label = "status" };
	char path[] = "/tmp/qmp-unit-XXXXXX";
	struct stat st;
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	unlink(path);
	cr_assert_eq(fstat(fd, &st), 0);
	const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 1),
		{ .op = FQ_OP_EXPECT,
		  .name = "add-fd",
		  .args = "{\"fdset-id\": 1}",
		  .fd = true,
		  .fd_type = S_IFREG,
		  .fd_same = &st },
		FQ_REPLY_TEXT(0, "{\"return\": {\"fdset-id\": 1, \"fd\": 25}}"),
		FQ_REPLY_FILE(1, "query-status.json"),
		FQ_END,
	};

	serve(script, NULL);
	spin_until(qm_qmp_is_ready(qmp));
	command("query-status", NULL, &st_reply);
	cr_assert_eq(qm_qmp_command(qmp, "add-fd", json_pack("{s:i}", "fdset-id", 1), fd,
				    0, on_reply, &r),
		     0);
	close(fd);
	spin_until(r.calls && st_reply.calls);
	cr_assert_eq(r.err.code, 0, "%s", r.err.text);
	cr_assert_str_eq(r.ret, "{\"fd\":25,\"fdset-id\":1}");
	fq_free(fake);
}

/* ---- the blocking call
 * ----------------------------------------------------------------------- */

Test(qmp_client, command_sync_returns_the_value)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-version", 0),
		FQ_REPLY_FILE(0, "query-version.json"),
		FQ_END,
	};
	struct qm_error err = { 0 };
	json_t *want = recorded("query-version.json", "return");
	json_t *ret;

	serve(script, NULL);
	ret = qm_qmp_command_sync(qmp, "query-version", NULL, -1, &err);
	cr_assert(ret, "%s", err.text);
	cr_assert_not(qm_error_is_set(&err));
	cr_assert(json_equal(ret, want));
	json_decref(ret);
	json_decref(want);
	fq_free(fake);
}

Test(qmp_client, command_sync_returns_the_error)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("no-such-command", 0),
		FQ_REPLY_FILE(0, "error-command-not-found.json"),
		FQ_END,
	};
	struct qm_error err = { 0 };

	serve(script, NULL);
	cr_assert_null(qm_qmp_command_sync(qmp, "no-such-command", NULL, -1, &err));
	cr_assert_str_eq(err.error_class, "CommandNotFound");
	cr_assert_str_eq(err.text, "The command no-such-command has not been found");
	fq_free(fake);
}

Test(qmp_client, command_sync_on_a_closed_connection_fails_at_once)
{
	struct qm_error err = { 0 };

	qmp = new_client(NULL);
	qm_qmp_close(qmp, NULL);
	cr_assert_null(qm_qmp_command_sync(qmp, "query-status", NULL, -1, &err));
	cr_assert_eq(err.code, -ENOTCONN);
	cr_assert_str_eq(err.error_class, "ConnectionClosed");
}

/* ---- who is at the other end ------------------------------------------------ */

/* The fake server is this process: a socketpair's peer is the one that made it. */
Test(qmp_client, peer_pid_names_the_server_until_it_hangs_up)
{
	static const struct fq_step script[] = { FQ_END };

	/* Connected is enough: the greeting does not matter here. */
	serve(script, NULL);
	cr_assert_eq(qm_qmp_peer_pid(qmp), getpid());
	/* Gone, though the client has not read the hang-up yet. */
	fq_free(fake);
	cr_assert_eq(qm_qmp_peer_pid(qmp), -ESRCH);
	qm_qmp_close(qmp, NULL);
	cr_assert_eq(qm_qmp_peer_pid(qmp), -ENOTCONN);
}

/* ---- the transcript ----------------------------------------------------------- */

struct transcript {
	char text[8192]; /* every message, ">>> " sent or "<<< " received, one a line */
	size_t len;
};

static void on_transcript(struct qm_qmp *q, bool sent, const char *text, size_t len,
			  void *ud)
{
	struct transcript *t = ud;
	int n = snprintf(t->text + t->len, sizeof(t->text) - t->len, "%s%.*s\n",
			 sent ? ">>> " : "<<< ", (int)len, text);

	cr_assert(n > 0 && (size_t)n < sizeof(t->text) - t->len, "transcript too long");
	t->len += (size_t)n;
}

Test(qmp_client, the_transcript_has_every_message_with_passwords_and_secrets_masked)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		{ .op = FQ_OP_EXPECT,
		  .name = "set_password",
		  .slot = 0,
		  .args = "{\"protocol\": \"vnc\", \"password\": \"hunter2-vnc\"}" },
		FQ_REPLY_TEXT(0, "{\"return\": {}}"),
		{ .op = FQ_OP_EXPECT,
		  .name = "object-add",
		  .slot = 1,
		  .args = "{\"qom-type\": \"secret\", \"id\": \"s0\", \"data\": \"hunter2-data\"}" },
		FQ_REPLY_TEXT(1, "{\"return\": {}}"),
		{ .op = FQ_OP_EXPECT,
		  .name = "object-add",
		  .slot = 2,
		  .args = "{\"qom-type\": \"secret\", \"id\": \"s1\","
			  " \"props\": {\"data\": \"hunter2-props\"}}" },
		FQ_REPLY_TEXT(2, "{\"return\": {}}"),
		FQ_SEND_FILE("event-stop.json"),
		FQ_END,
	};
	struct reply pw = { .label = "pw" }, s0 = { .label = "s0" }, s1 = { .label = "s1" };
	struct transcript t = { .len = 0 };
	int n;

	serve(script, NULL);
	qm_qmp_set_transcript(qmp, on_transcript, &t);
	command("set_password", "{\"protocol\": \"vnc\", \"password\": \"hunter2-vnc\"}", &pw);
	command("object-add", "{\"qom-type\": \"secret\", \"id\": \"s0\", \"data\": \"hunter2-data\"}",
		&s0);
	command("object-add",
		"{\"qom-type\": \"secret\", \"id\": \"s1\", \"props\": {\"data\": \"hunter2-props\"}}",
		&s1);
	spin_until(pw.calls && s0.calls && s1.calls && strstr(t.text, "\"STOP\""));
	fq_free(fake);
	/* The fake got the real secrets (its EXPECT args); the transcript none of them. */
	cr_assert_null(strstr(t.text, "hunter2"), "%s", t.text);
	cr_assert(strstr(t.text, "<<< {\"QMP\""), "no greeting: %s", t.text);
	cr_assert(strstr(t.text, ">>> {\"execute\":\"qmp_capabilities\""), "%s", t.text);
	cr_assert(strstr(t.text, "\"set_password\"") && strstr(t.text, "\"password\":\"***\""),
		  "%s", t.text);
	/* s0's data and s1's props.data */
	n = 0;
	for (const char *p = t.text; (p = strstr(p, "\"data\":\"***\"")); p++)
		n++;
	cr_assert_eq(n, 2, "%s", t.text);
	cr_assert(strstr(t.text, "\"props\":{\"data\":\"***\"}"), "%s", t.text);
	cr_assert(strstr(t.text, "<<< {\"return\""), "no reply: %s", t.text);
}
