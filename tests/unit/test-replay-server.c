/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The replay server (engine/replay-server.c) as a client sees it on the
 * wire: the greeting, replies by name and order (the last again past the
 * end) with the client's ids, events on their own side with the first
 * answer of the command they followed (before or after its reply, as
 * recorded), a recorded hang-up of the other side that holds a reply until
 * the client has seen it, CommandNotFound for a command never recorded,
 * passed fds closed, a hang-up after quit, and private sockets.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/replay.h"
#include "qmp/socket.h"

TestSuite(replay_server, .timeout = 20);

static const char transcript[] =
	"{\"side\":\"source\",\"dir\":\"recv\",\"msg\":{\"QMP\":{\"v\":\"src\"}}}\n"
	"{\"side\":\"destination\",\"dir\":\"recv\",\"msg\":{\"QMP\":{\"v\":\"dst\"}}}\n"
	"{\"side\":\"source\",\"dir\":\"send\",\"msg\":{\"execute\":\"query-migrate\","
	"\"id\":1}}\n"
	"{\"side\":\"source\",\"dir\":\"recv\",\"msg\":{\"return\":{\"n\":1},\"id\":1}}\n"
	"{\"side\":\"source\",\"dir\":\"send\",\"msg\":{\"execute\":\"query-migrate\","
	"\"id\":2}}\n"
	"{\"side\":\"destination\",\"dir\":\"recv\",\"msg\":{\"event\":\"MIGRATION\"}}\n"
	"{\"side\":\"source\",\"dir\":\"recv\",\"msg\":{\"return\":{\"n\":2},\"id\":2}}\n"
	"{\"side\":\"source\",\"dir\":\"recv\",\"msg\":{\"event\":\"STOP\"}}\n"
	"{\"side\":\"source\",\"dir\":\"send\",\"msg\":{\"execute\":\"getfd\",\"id\":3}}"
	"\n"
	"{\"side\":\"source\",\"dir\":\"recv\",\"msg\":{\"return\":{},\"id\":3}}\n"
	"{\"side\":\"source\",\"dir\":\"send\",\"msg\":{\"execute\":\"set_password\","
	"\"arguments\":{\"password\":\"********\"},\"id\":4}}\n"
	"{\"side\":\"source\",\"dir\":\"recv\",\"msg\":{\"return\":{},\"id\":4}}\n"
	"{\"side\":\"source\",\"dir\":\"send\",\"msg\":{\"execute\":\"quit\",\"id\":5}}\n"
	"{\"side\":\"destination\",\"dir\":\"recv\",\"closed\":{\"class\":"
	"\"ConnectionClosed\","
	"\"desc\":\"gone\",\"errno\":104}}\n"
	"{\"side\":\"source\",\"dir\":\"recv\",\"msg\":{\"event\":\"SHUTDOWN\"}}\n"
	"{\"side\":\"source\",\"dir\":\"recv\",\"msg\":{\"return\":{},\"id\":5}}\n";

struct fixture {
	struct ev_loop *loop;
	struct qm_replay_script *script;
	struct qm_replay *server;
	struct qm_ctx *ctx;
	char tmp[64];
};

static void setup(struct fixture *f)
{
	struct qm_error err = { 0 };

	f->loop = ev_loop_new(EVFLAG_AUTO);
	f->ctx = qm_ctx_new();
	snprintf(f->tmp, sizeof(f->tmp), "/tmp/qmigrate-rs-XXXXXX");
	cr_assert(mkdtemp(f->tmp));
	cr_assert_eq(qm_replay_script_parse("t", transcript, sizeof(transcript) - 1,
					    &f->script, &err),
		     0, "%s", err.text);
	cr_assert_eq(qm_replay_new(f->ctx, f->loop, f->script, f->tmp, &f->server, &err),
		     0, "%s", err.text);
}

static void teardown(struct fixture *f)
{
	qm_replay_free(f->server);
	qm_replay_script_free(f->script);
	qm_ctx_unref(f->ctx);
	ev_loop_destroy(f->loop);
	cr_assert_eq(rmdir(f->tmp), 0, "%s is not empty: the replay left files", f->tmp);
}

static int client(struct fixture *f, int side)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
		 qm_replay_socket(f->server, side));
	cr_assert_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s",
		     strerror(errno));
	return fd;
}

/* The next message on @fd, the server's loop turning meanwhile; NULL: closed. */
static json_t *next(struct fixture *f, int fd)
{
	char line[8192];
	size_t len = 0;

	for (;;) {
		ssize_t n = recv(fd, line + len, 1, 0);

		if (n == 0)
			return NULL;
		if (n < 0) {
			cr_assert_eq(errno, EAGAIN, "%s", strerror(errno));
			ev_run(f->loop, EVRUN_NOWAIT);
			poll(NULL, 0, 1);
			continue;
		}
		if (line[len] == '\n') {
			json_t *msg = json_loadb(line, len, 0, NULL);

			cr_assert(json_is_object(msg), "not JSON: %.*s", (int)len, line);
			return msg;
		}
		cr_assert_lt(++len, sizeof(line));
	}
}

static void send_text(int fd, const char *text, int pass_fd)
{
	struct iovec iov = { .iov_base = (void *)text, .iov_len = strlen(text) };

	cr_assert_eq(qm_send_iov(fd, &iov, 1, pass_fd), (ssize_t)strlen(text));
}

/* Sends @text, and returns the next message's "return" member as text. */
static char *ask(struct fixture *f, int fd, const char *text)
{
	json_t *msg;
	char *ret;

	send_text(fd, text, -1);
	msg = next(f, fd);
	cr_assert_not_null(msg, "closed after %s", text);
	ret = json_dumps(json_object_get(msg, "return"), JSON_COMPACT | JSON_ENCODE_ANY);
	json_decref(msg);
	return ret;
}

static void expect_event(struct fixture *f, int fd, const char *name)
{
	json_t *msg = next(f, fd);

	cr_assert_str_eq(json_string_value(json_object_get(msg, "event")), name);
	json_decref(msg);
}

static void expect_text(char *got, const char *want)
{
	cr_assert_str_eq(got, want);
	free(got);
}

Test(replay_server, replies_by_name_and_order_then_the_last_again)
{
	struct fixture f = { 0 };
	json_t *msg, *reply;
	int src, dst;

	setup(&f);
	src = client(&f, QM_REPLAY_SOURCE);
	dst = client(&f, QM_REPLAY_DEST);
	msg = next(&f, src);
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(msg, "QMP"), "v")),
		"src");
	json_decref(msg);
	msg = next(&f, dst);
	cr_assert_str_eq(
		json_string_value(json_object_get(json_object_get(msg, "QMP"), "v")),
		"dst");
	json_decref(msg);

	send_text(src, "{\"execute\":\"query-migrate\",\"id\":\"a\"}", -1);
	reply = next(&f, src);
	cr_assert_str_eq(json_string_value(json_object_get(reply, "id")), "a");
	cr_assert_eq(json_integer_value(
			     json_object_get(json_object_get(reply, "return"), "n")),
		     1);
	json_decref(reply);
	expect_text(ask(&f, src, "{\"execute\":\"query-migrate\",\"id\":2}"),
		    "{\"n\":2}");
	/* Its events: the destination's on the destination, the source's after the reply.
	 */
	expect_event(&f, src, "STOP");
	expect_event(&f, dst, "MIGRATION");
	/* Past the end, the last reply again, and no event a second time. */
	expect_text(ask(&f, src, "{\"execute\":\"query-migrate\",\"id\":3}"),
		    "{\"n\":2}");
	expect_text(ask(&f, src, "{\"execute\":\"query-migrate\",\"id\":4}"),
		    "{\"n\":2}");
	cr_assert_eq(recv(dst, (char[1]){ 0 }, 1, MSG_DONTWAIT), -1, "a second event");
	close(src);
	close(dst);
	teardown(&f);
}

Test(replay_server, a_command_never_recorded_is_not_found_and_counted)
{
	struct fixture f = { 0 };
	json_t *msg;
	size_t n;
	int src;

	setup(&f);
	src = client(&f, QM_REPLAY_SOURCE);
	json_decref(next(&f, src));
	send_text(src, "{\"execute\":\"query-migrate\",\"id\":1}", -1);
	json_decref(next(&f, src));
	send_text(src, "{\"execute\":\"blockdev-mirror\",\"id\":9}", -1);
	msg = next(&f, src);
	cr_assert_str_eq(json_string_value(
				 json_object_get(json_object_get(msg, "error"), "class")),
			 "CommandNotFound");
	cr_assert_eq(json_integer_value(json_object_get(msg, "id")), 9);
	json_decref(msg);
	cr_assert_str_eq(qm_replay_divergence(f.server, &n), "source blockdev-mirror\n");
	cr_assert_eq(n, 1);
	close(src);
	teardown(&f);
}

/*
 * The destination hung up in the transcript, and was never sent quit: a quit
 * that comes first (the recorded QEMU exited by itself, racing the job's next
 * command) is met by that hang-up, not a divergence.
 */
Test(replay_server, a_command_to_a_qemu_that_hung_up_meets_the_hang_up)
{
	struct fixture f = { 0 };
	size_t n = 9;
	int dst;

	setup(&f);
	dst = client(&f, QM_REPLAY_DEST);
	json_decref(next(&f, dst));
	send_text(dst, "{\"execute\":\"quit\",\"id\":1}", -1);
	cr_assert_null(next(&f, dst), "the destination answered a command it never had");
	cr_assert_str_eq(qm_replay_divergence(f.server, &n), "");
	cr_assert_eq(n, 0);
	close(dst);
	teardown(&f);
}

Test(replay_server, a_passed_fd_is_closed_and_quit_and_a_recorded_close_hang_up)
{
	struct fixture f = { 0 };
	int src, dst, p[2];
	json_t *msg;
	char c;

	setup(&f);
	src = client(&f, QM_REPLAY_SOURCE);
	dst = client(&f, QM_REPLAY_DEST);
	json_decref(next(&f, src));
	cr_assert_eq(pipe2(p, O_CLOEXEC | O_NONBLOCK), 0);
	send_text(src,
		  "{\"execute\":\"getfd\",\"arguments\":{\"fdname\":\"x\"},\"id\":1}",
		  p[1]);
	close(p[1]);
	msg = next(&f, src);
	cr_assert_eq(json_integer_value(json_object_get(msg, "id")), 1);
	cr_assert(json_is_object(json_object_get(msg, "return")));
	json_decref(msg);
	/* The only write end left was the server's: closed, the pipe reads EOF. */
	cr_assert_eq(read(p[0], &c, 1), 0, "the server kept the fd");
	close(p[0]);
	cr_assert_eq(qm_replay_fds_received(f.server), 1);
	/* A masked secret's command is answered like any other. */
	expect_text(ask(&f, src,
			"{\"execute\":\"set_password\",\"arguments\":{\"password\":"
			"\"s3cret\"},"
			"\"id\":2}"),
		    "{}");
	json_decref(next(&f, dst));
	/*
	 * The destination hung up before the source answered quit, in the
	 * transcript: the source's answer waits until the client has seen that
	 * hang-up and closed its end, so that the job takes them in that order.
	 */
	send_text(src, "{\"execute\":\"quit\",\"id\":3}", -1);
	cr_assert_null(next(&f, dst), "the destination is still open");
	for (int i = 0; i < 20; i++)
		ev_run(f.loop, EVRUN_NOWAIT);
	cr_assert_eq(recv(src, (char[1]){ 0 }, 1, MSG_DONTWAIT), -1,
		     "the source answered before the destination's hang-up was seen");
	close(dst);
	expect_event(&f, src, "SHUTDOWN");
	msg = next(&f, src);
	cr_assert_eq(json_integer_value(json_object_get(msg, "id")), 3);
	json_decref(msg);
	msg = next(&f, src);
	cr_assert_null(msg, "still open after quit");
	close(src);
	teardown(&f);
}

Test(replay_server, the_sockets_are_private_and_removed)
{
	struct fixture f = { 0 };
	char dir[256];
	struct stat st;

	setup(&f);
	for (int i = 0; i < QM_REPLAY_SIDES; i++) {
		const char *path = qm_replay_socket(f.server, i);

		cr_assert_eq(stat(path, &st), 0);
		cr_assert(S_ISSOCK(st.st_mode));
		cr_assert_eq(st.st_mode & 0777, 0600, "%s is %o", path,
			     st.st_mode & 0777);
		cr_assert(strstr(path, qm_replay_side_names[i]));
	}
	snprintf(dir, sizeof(dir), "%s", qm_replay_socket(f.server, 0));
	*strrchr(dir, '/') = '\0';
	cr_assert_eq(stat(dir, &st), 0);
	cr_assert_eq(st.st_mode & 0777, 0700, "%s is %o", dir, st.st_mode & 0777);
	teardown(&f); /* rmdir of the parent fails if anything is left */
}

Test(replay_server, a_transcript_without_a_destination_is_refused)
{
	static const char one_side[] =
		"{\"side\":\"source\",\"dir\":\"recv\",\"msg\":{\"QMP\":{}}}\n";
	struct qm_replay_script *s = NULL;
	struct qm_replay *r = NULL;
	struct qm_error err = { 0 };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);

	cr_assert_eq(
		qm_replay_script_parse("t", one_side, sizeof(one_side) - 1, &s, &err), 0);
	cr_assert_lt(qm_replay_new(NULL, loop, s, "/tmp", &r, &err), 0);
	cr_assert_null(r);
	cr_assert(strstr(err.text, "nothing of the destination"), "%s", err.text);
	qm_replay_script_free(s);
	ev_loop_destroy(loop);
}
