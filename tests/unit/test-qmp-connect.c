/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client's connecting against the scripted fake server: an adopted
 * fd, a socket path and its deadlines.  Bad paths fail at once: "at once" is
 * checked against a bound (BOUND) far below the default connect timeout.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/helpers/qmp-harness.h"

TestSuite(qmp_client, .init = harness_setup, .fini = harness_teardown, .timeout = 10);

#define BOUND 5.0 /* seconds; the default connect timeout is 10 s */

Test(qmp_client, adopt_fd_reaches_ready_and_a_second_start_is_refused)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_END,
	};
	struct qm_error err = { 0 };
	int fds[2];

	serve(script, NULL);
	spin_until(qm_qmp_is_ready(qmp));
	cr_assert_eq(
		json_integer_value(json_object_get(
			json_object_get(json_object_get(qm_qmp_greeting(qmp), "version"),
					"qemu"),
			"major")),
		7);
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, fds), 0);
	cr_assert_eq(qm_qmp_adopt_fd(qmp, fds[0], &err), -EALREADY);
	cr_assert_str_eq(err.error_class, "Usage");
	qm_error_clear(&err);
	cr_assert_eq(qm_qmp_connect(qmp, "/nonexistent", &err), -EALREADY);
	close(fds[0]);
	close(fds[1]);
	fq_free(fake);
}

Test(qmp_client, a_failed_adopt_leaves_the_connection_unstarted)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_END,
	};
	struct qm_error err = { 0 };

	fake = fq_new(loop, script);
	qmp = new_client(NULL);
	cr_assert_eq(qm_qmp_adopt_fd(qmp, -1, &err), -EBADF);
	cr_assert_str_eq(err.error_class, "GenericError");
	qm_error_clear(&err);
	cr_assert_eq(qm_qmp_adopt_fd(qmp, fq_client_fd(fake), &err), 0, "%s", err.text);
	spin_until(qm_qmp_is_ready(qmp));
	cr_assert_eq(closed.calls, 0);
	fq_free(fake);
}

static char sock_dir[64], sock_path[128];
static const struct fq_step *late_script;

static void listen_later(struct ev_loop *l, ev_timer *w, int revents)
{
	fake = fq_listen(l, sock_path, late_script);
}

static void make_sock_dir(void)
{
	snprintf(sock_dir, sizeof(sock_dir), "/tmp/qmp-unit-XXXXXX");
	cr_assert(mkdtemp(sock_dir));
	snprintf(sock_path, sizeof(sock_path), "%s/qmp.sock", sock_dir);
}

Test(qmp_client, waiting_for_the_path_connects_once_a_listener_appears)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_REPLY_FILE(0, "query-status.json"),
		FQ_END,
	};
	struct qm_qmp_options opts = { .wait_for_path = 5 };
	struct qm_error err = { 0 };
	struct reply st = { .label = "status" };
	ev_timer later;

	make_sock_dir();
	late_script = script;
	qmp = new_client(&opts);
	cr_assert_eq(qm_qmp_connect(qmp, sock_path, &err), 0, "%s", err.text);
	command("query-status", NULL, &st);
	ev_timer_init(&later, listen_later, 0.05, 0.);
	ev_timer_start(loop, &later);
	spin_until(st.calls);
	expect_recorded_return(&st, "query-status.json");
	cr_assert(qm_qmp_is_ready(qmp));
	spin_until(fq_finished(fake));
	fq_free(fake);
	rmdir(sock_dir);
}

Test(qmp_client, waiting_for_a_path_that_never_appears_fails_after_the_wait_naming_the_path)
{
	struct qm_qmp_options opts = { .wait_for_path = 0.05 };
	struct qm_error err = { 0 };
	struct reply st = { .label = "status" };
	ev_tstamp start;

	make_sock_dir();
	qmp = new_client(&opts);
	ev_now_update(loop);
	start = ev_now(loop);
	cr_assert_eq(qm_qmp_connect(qmp, sock_path, &err), 0, "%s", err.text);
	command("query-status", NULL, &st);
	spin_until(closed.calls);
	cr_assert_geq(ev_now(loop) - start, 0.045, "gave up after %f s",
		      ev_now(loop) - start);
	cr_assert_str_eq(trail, "status! close ");
	expect_error(&st, -ENOENT, "ConnectionFailed");
	cr_assert(strstr(st.err.text, sock_path), "%s", st.err.text);
	cr_assert(strstr(st.err.text, "did not appear within 0.1 s"), "%s", st.err.text);
	cr_assert_str_eq(closed.err.text, st.err.text);
	rmdir(sock_dir);
}

/*
 * A caller that blocked for a while before connecting (a harness starting
 * QEMU, say) leaves the loop's clock behind: the wait still counts from
 * the connect, not from when the loop last looked at the time.  The sleep
 * makes the clock stale; nothing waits on it.
 */
Test(qmp_client, a_connect_after_the_loop_sat_idle_still_waits_its_whole_timeout)
{
	struct qm_qmp_options opts = { .wait_for_path = 0.25 };
	struct qm_error err = { 0 };
	ev_tstamp start;

	make_sock_dir();
	qmp = new_client(&opts);
	ev_now_update(loop);
	usleep(400000);
	start = ev_time();
	cr_assert_eq(qm_qmp_connect(qmp, sock_path, &err), 0, "%s", err.text);
	spin_until(closed.calls);
	cr_assert_geq(ev_time() - start, 0.245, "gave up after %f s", ev_time() - start);
	cr_assert_eq(closed.err.code, -ENOENT, "%s", closed.err.text);
	rmdir(sock_dir);
}

Test(qmp_client, a_second_connect_is_refused_and_keeps_the_first_path)
{
	struct qm_qmp_options opts = { .connect_timeout = 0.05 };
	struct qm_error err = { 0 };

	make_sock_dir();
	qmp = new_client(&opts);
	cr_assert_eq(qm_qmp_connect(qmp, sock_path, &err), 0, "%s", err.text);
	cr_assert_eq(qm_qmp_connect(qmp, "/elsewhere.sock", &err), -EALREADY);
	cr_assert_str_eq(err.error_class, "Usage");
	spin_until(closed.calls);
	cr_assert(strstr(closed.err.text, sock_path), "%s", closed.err.text);
	rmdir(sock_dir);
}

Test(qmp_client, a_connect_failure_is_reported_from_the_loop)
{
	char path[200];
	struct qm_error err = { 0 };

	memset(path, 'x', sizeof(path) - 1);
	path[sizeof(path) - 1] = '\0';
	qmp = new_client(NULL);
	cr_assert_eq(qm_qmp_connect(qmp, path, &err), 0, "%s", err.text);
	cr_assert_eq(closed.calls, 0, "the close callback ran inside qm_qmp_connect");
	spin_until(closed.calls);
	cr_assert_eq(closed.err.code, -ENAMETOOLONG);
	cr_assert_str_eq(closed.err.error_class, "ConnectionFailed");
}

/* Connects with the default options; the close comes within BOUND. */
static void connect_and_fail_at_once(const char *path)
{
	struct qm_error err = { 0 };
	ev_tstamp start = ev_time();

	qmp = new_client(NULL);
	cr_assert_eq(qm_qmp_connect(qmp, path, &err), 0, "%s", err.text);
	spin_until(closed.calls);
	cr_assert_lt(ev_time() - start, BOUND, "failed after %f s", ev_time() - start);
	cr_assert_str_eq(closed.err.error_class, "ConnectionFailed");
	cr_assert(strstr(closed.err.text, path), "%s", closed.err.text);
}

Test(qmp_client, a_missing_path_fails_at_once_naming_the_path)
{
	struct reply st = { .label = "status" };
	struct qm_error err = { 0 };
	ev_tstamp start = ev_time();

	make_sock_dir();
	qmp = new_client(NULL);
	cr_assert_eq(qm_qmp_connect(qmp, sock_path, &err), 0, "%s", err.text);
	command("query-status", NULL, &st);
	spin_until(closed.calls);
	cr_assert_lt(ev_time() - start, BOUND, "failed after %f s", ev_time() - start);
	cr_assert_str_eq(trail, "status! close ");
	expect_error(&st, -ENOENT, "ConnectionFailed");
	cr_assert(strstr(st.err.text, sock_path), "%s", st.err.text);
	cr_assert(strstr(st.err.text, "does not exist"), "%s", st.err.text);
	cr_assert_str_eq(closed.err.text, st.err.text);
	rmdir(sock_dir);
}

Test(qmp_client, a_regular_file_fails_at_once_as_not_a_socket)
{
	int fd;

	make_sock_dir();
	fd = open(sock_path, O_CREAT | O_WRONLY | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0);
	close(fd);
	connect_and_fail_at_once(sock_path);
	cr_assert_eq(closed.err.code, -ENOTSOCK, "%s", closed.err.text);
	cr_assert(strstr(closed.err.text, "is not a socket (it is a regular file)"), "%s",
		  closed.err.text);
	unlink(sock_path);
	rmdir(sock_dir);
}

/* Waiting is for a missing path: a directory never turns into a socket. */
Test(qmp_client, a_directory_fails_at_once_as_not_a_socket_even_when_waiting)
{
	struct qm_qmp_options opts = { .wait_for_path = 30 };
	struct qm_error err = { 0 };
	ev_tstamp start = ev_time();

	make_sock_dir();
	qmp = new_client(&opts);
	cr_assert_eq(qm_qmp_connect(qmp, sock_dir, &err), 0, "%s", err.text);
	spin_until(closed.calls);
	cr_assert_lt(ev_time() - start, BOUND, "failed after %f s", ev_time() - start);
	cr_assert_eq(closed.err.code, -ENOTSOCK, "%s", closed.err.text);
	cr_assert(strstr(closed.err.text, sock_dir) &&
			  strstr(closed.err.text, "is not a socket (it is a directory)"),
		  "%s", closed.err.text);
	rmdir(sock_dir);
}

/* A socket nobody accepts on yet (QEMU binds, then listens) is the one thing retried. */
Test(qmp_client, a_socket_that_refuses_is_retried_until_the_connect_timeout)
{
	struct qm_qmp_options opts = { .connect_timeout = 0.1 };
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct qm_error err = { 0 };
	ev_tstamp start;
	int fd;

	make_sock_dir();
	cr_assert_lt(strlen(sock_path), sizeof(addr.sun_path));
	strcpy(addr.sun_path, sock_path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	qmp = new_client(&opts);
	start = ev_time();
	cr_assert_eq(qm_qmp_connect(qmp, sock_path, &err), 0, "%s", err.text);
	spin_until(closed.calls);
	cr_assert_geq(ev_time() - start, 0.095, "gave up after %f s", ev_time() - start);
	cr_assert_eq(closed.err.code, -ECONNREFUSED, "%s", closed.err.text);
	cr_assert(strstr(closed.err.text, "waited 0.1 s"), "%s", closed.err.text);
	close(fd);
	unlink(sock_path);
	rmdir(sock_dir);
}
