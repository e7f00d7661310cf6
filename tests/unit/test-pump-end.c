/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tunnel/pump ending: drain, abort of a blocked thread, failures on either
 * side and either direction, the hang-up before migrate_cancel, free of a
 * running pump, bad options; and that nothing leaks (descriptors counted in
 * /proc/self/fd, ASan counts the rest).  SIGPIPE keeps its default action:
 * the pump's threads must never take it.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/helpers/pump-harness.h"

TestSuite(pump, .init = harness_setup, .fini = harness_teardown, .timeout = 60);

/* ---- ending: drain, abort, failures ------------------------------------------ */

Test(pump, drain_delivers_what_was_sent_and_finishes_without_end_of_stream)
{
	int a[2], b[2];
	struct ts_feed feed;
	struct ts_check check;
	struct qm_pump *p;

	socket_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] } });
	/* small enough for the socket buffers: all of it is sent before the drain */
	ts_feed_start(&feed, loop, a[1], SEED, 64 * 1024, TS_KEEP);
	ts_check_start(&check, loop, b[1], SEED);
	spin_until(feed.ended);
	qm_pump_drain(p);
	spin_until(done.calls && check.eof);
	cr_assert(done.on_loop_thread);
	cr_assert_eq(done.r.end, QM_PUMP_FINISHED, "%s", done.r.error.text);
	cr_assert_eq(check.got, 64 * 1024);
	cr_assert_eq(check.mismatch_at, -1);
	qm_pump_free(p);
	ts_feed_stop(&feed, loop);
	ts_check_stop(&check, loop);
	close(a[1]);
	close(b[1]);
}

static void abort_blocked(enum qm_pump_mode mode)
{
	int before = ts_count_fds(), a[2], b[2];
	struct qm_pump *p;
	double t;

	socket_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] }, .mode = mode });
	fill_until_stuck(p, a[1], b[0]);
	t = now();
	qm_pump_abort(p);
	spin_until(done.calls);
	cr_assert_lt(now() - t, 2.0);
	cr_assert_eq(done.r.end, QM_PUMP_ABORTED);
	cr_assert_not(qm_error_is_set(&done.r.error));
	qm_pump_free(p);
	close(a[1]);
	close(b[1]);
	cr_assert_eq(ts_count_fds(), before);
}

Test(pump, abort_wakes_a_splice_thread_blocked_on_a_full_output)
{
	abort_blocked(QM_PUMP_SPLICE);
}

Test(pump, abort_wakes_a_read_write_thread_blocked_on_a_full_output)
{
	abort_blocked(QM_PUMP_READWRITE);
}

/* The reader of the output goes away mid-stream. */
static void far_end_closes(enum qm_pump_mode mode)
{
	int a[2], b[2];
	struct ts_feed feed;
	struct ts_check check;
	struct qm_pump *p;

	socket_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] }, .mode = mode });
	ts_feed_start(&feed, loop, a[1], SEED, BIG, TS_CLOSE);
	ts_check_start(&check, loop, b[1], SEED);
	check.close_after = TS_MIB;
	spin_until(done.calls);
	cr_assert(check.closed);
	expect_failure(QM_PUMP_FORWARD, QM_PUMP_SIDE_WRITE, -EPIPE,
		       "the peer closed the tunnel (EPIPE while writing)");
	cr_assert_lt(stats(p, QM_PUMP_FORWARD).bytes_written, BIG);
	qm_pump_free(p);
	ts_feed_stop(&feed, loop);
	ts_check_stop(&check, loop);
	if (!feed.ended)
		close(a[1]);
}

/* SIGPIPE keeps its default action here: the pump's threads must not take it. */
Test(pump, the_far_end_closing_fails_the_write_side_with_epipe_under_splice)
{
	far_end_closes(QM_PUMP_SPLICE);
}

Test(pump, the_far_end_closing_fails_the_write_side_with_epipe_under_read_write)
{
	far_end_closes(QM_PUMP_READWRITE);
}

static void input_reset(enum qm_pump_mode mode)
{
	const struct linger reset = { .l_onoff = 1, .l_linger = 0 };
	int tcp[2], b[2];
	struct ts_check check;
	struct qm_pump *p;
	char data[4096];

	cr_assert_eq(ts_tcp_pair(tcp), 0);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { tcp[0], b[0] }, .mode = mode });
	ts_check_start(&check, loop, b[1], SEED);
	ts_pattern(SEED, 0, (unsigned char *)data, sizeof(data));
	cr_assert_eq(ts_write(tcp[1], data, sizeof(data)), (ssize_t)sizeof(data));
	/* closing with a zero linger time sends a reset instead of an end of stream */
	cr_assert_eq(setsockopt(tcp[1], SOL_SOCKET, SO_LINGER, &reset, sizeof(reset)), 0);
	close(tcp[1]);
	spin_until(done.calls);
	expect_failure(QM_PUMP_FORWARD, QM_PUMP_SIDE_READ, -ECONNRESET,
		       "the peer reset the tunnel connection (ECONNRESET while reading)");
	qm_pump_free(p);
	ts_check_stop(&check, loop);
	cr_assert_eq(check.mismatch_at, -1);
	close(b[1]);
}

Test(pump, a_reset_input_fails_the_read_side_under_splice)
{
	input_reset(QM_PUMP_SPLICE);
}

Test(pump, a_reset_input_fails_the_read_side_under_read_write)
{
	input_reset(QM_PUMP_READWRITE);
}

/* ---- hanging up before migrate_cancel ----------------------------------------- */

struct blocked_writer {
	pthread_t thread;
	int fd;
	int error;
};

/* A QEMU flushing into the tunnel: blocking writes until one fails. */
static void *blocked_writer_main(void *arg)
{
	struct blocked_writer *w = arg;
	static const char junk[65536];
	ssize_t n;

	while ((n = ts_write(w->fd, junk, sizeof(junk))) > 0)
		;
	w->error = (int)n;
	return NULL;
}

Test(pump, hangup_unblocks_a_writer_stuck_in_the_tunnel_and_the_thread)
{
	int before = ts_count_fds(), a[2], b[2];
	struct blocked_writer w;
	struct qm_pump *p;

	socket_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] } });
	fill_until_stuck(p, a[1], b[0]);
	/* the writer blocks: its socket is full, the pump's output too, nobody reads */
	w.fd = a[1];
	cr_assert_eq(fcntl(a[1], F_SETFL, fcntl(a[1], F_GETFL) & ~O_NONBLOCK), 0);
	cr_assert_eq(pthread_create(&w.thread, NULL, blocked_writer_main, &w), 0);
	qm_pump_hangup(p);
	pthread_join(w.thread, NULL);
	/* EPIPE from the shut-down socket, or ECONNRESET once it closed with bytes unread
	 */
	cr_assert(w.error == -EPIPE || w.error == -ECONNRESET, "%d", w.error);
	spin_until(done.calls);
	cr_assert_eq(done.r.end, QM_PUMP_ABORTED);
	qm_pump_free(p);
	close(a[1]);
	close(b[1]);
	cr_assert_eq(ts_count_fds(), before);
}

Test(pump, hangup_gives_a_pipe_writer_epipe_at_once)
{
	int before = ts_count_fds(), a[2], b[2];
	char byte = 'x';
	struct qm_pump *p;

	pipe_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] } });
	fill_until_stuck(p, a[1], b[0]);
	qm_pump_hangup(p);
	/* before the loop even learns that the pump stopped */
	cr_assert_eq(ts_write(a[1], &byte, 1), -EPIPE);
	cr_assert_eq(done.calls, 0);
	spin_until(done.calls);
	cr_assert_eq(done.r.end, QM_PUMP_ABORTED);
	qm_pump_free(p);
	close(a[1]);
	close(b[1]);
	cr_assert_eq(ts_count_fds(), before);
}

/* ---- lifetime ------------------------------------------------------------------ */

Test(pump, free_of_a_running_pump_joins_its_thread_and_closes_its_descriptors)
{
	int before = ts_count_fds(), a[2], b[2];
	struct ts_feed feed;
	struct ts_check check;
	struct qm_pump *p;

	socket_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] } });
	ts_feed_start(&feed, loop, a[1], SEED, BIG, TS_CLOSE);
	ts_check_start(&check, loop, b[1], SEED);
	spin_until(check.got >= TS_MIB);
	qm_pump_free(p);
	/* the far ends see the pump's ends closed */
	spin_until(check.eof || check.error || feed.error);
	for (int i = 0; i < 10; i++)
		ev_run(loop, EVRUN_NOWAIT);
	cr_assert_eq(done.calls, 0);
	cr_assert_eq(check.mismatch_at, -1);
	ts_feed_stop(&feed, loop);
	ts_check_stop(&check, loop);
	if (!feed.ended)
		close(a[1]);
	close(b[1]);
	cr_assert_eq(ts_count_fds(), before);
}

Test(pump, free_of_a_blocked_pump_returns)
{
	int before = ts_count_fds(), a[2], b[2];
	struct qm_pump *p;

	socket_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] },
					     .bidirectional = true,
					     .back = { b[0], a[0] } });
	fill_until_stuck(p, a[1], b[0]);
	qm_pump_free(p);
	cr_assert_eq(done.calls, 0);
	close(a[1]);
	close(b[1]);
	cr_assert_eq(ts_count_fds(), before);
}

Test(pump, the_done_callback_may_free_the_pump)
{
	int before = ts_count_fds(), a[2], b[2];
	struct ts_feed feed;
	struct ts_check check;

	socket_pair(a);
	socket_pair(b);
	done.free_pump = true;
	start(&(struct qm_pump_options){ .forward = { a[0], b[0] } });
	ts_feed_start(&feed, loop, a[1], SEED, TS_MIB, TS_CLOSE);
	ts_check_start(&check, loop, b[1], SEED);
	spin_until(done.calls && check.eof);
	cr_assert_eq(done.r.end, QM_PUMP_FINISHED);
	cr_assert_eq(check.got, TS_MIB);
	ts_feed_stop(&feed, loop);
	ts_check_stop(&check, loop);
	close(b[1]);
	cr_assert_eq(ts_count_fds(), before);
}

Test(pump, a_pump_never_started_frees_its_descriptors_and_null_is_fine)
{
	int before = ts_count_fds(), a[2], b[2];
	struct qm_error err = { 0 };
	struct qm_pump *p;

	socket_pair(a);
	socket_pair(b);
	p = qm_pump_new(loop, &(struct qm_pump_options){ .forward = { a[0], b[0] } },
			on_done, &done, &err);
	cr_assert_not_null(p);
	cr_assert_eq(stats(p, QM_PUMP_FORWARD).strategy, QM_PUMP_STRATEGY_NONE);
	qm_pump_abort(p);
	qm_pump_hangup(p);
	qm_pump_free(p);
	qm_pump_free(NULL);
	close(a[1]);
	close(b[1]);
	cr_assert_eq(ts_count_fds(), before);
	cr_assert_eq(done.calls, 0);
}

Test(pump, start_twice_is_refused)
{
	int a[2], b[2];
	struct qm_error err = { 0 };
	struct qm_pump *p;

	socket_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] } });
	cr_assert_eq(qm_pump_start(p, &err), -EALREADY);
	cr_assert_str_eq(err.error_class, "Usage");
	qm_pump_free(p);
	close(a[1]);
	close(b[1]);
}

/* Bad options: NULL, and every descriptor given is closed all the same. */
static void refused(const struct qm_pump_options *o, int code, const char *text)
{
	struct qm_error err = { 0 };

	cr_assert_null(qm_pump_new(loop, o, on_done, &done, &err));
	cr_assert_eq(err.code, code, "%d: %s", err.code, err.text);
	cr_assert_str_eq(err.error_class, "Usage");
	cr_assert_str_eq(err.text, text);
}

Test(pump, bad_options_are_refused_and_the_descriptors_closed_anyway)
{
	int before = ts_count_fds(), a[2], b[2], closed[2];
	char text[64];

	refused(NULL, -EINVAL, "the pump needs options");
	socket_pair(a);
	refused(&(struct qm_pump_options){ .forward = { a[0], a[0] } }, -EINVAL,
		"a pump direction cannot read and write one descriptor");
	close(a[1]);
	socket_pair(a);
	refused(&(struct qm_pump_options){ .forward = { a[0], a[1] }, .mode = 7 },
		-EINVAL, "unknown pump mode 7");
	socket_pair(a);
	refused(&(struct qm_pump_options){ .forward = { a[0], a[1] },
					   .chunk = 1ul << 30 },
		-EINVAL, "pump chunk of 1073741824 bytes is over 67108864");
	socket_pair(a);
	socket_pair(b);
	refused(&(struct qm_pump_options){ .forward = { a[0], b[0] },
					   .bidirectional = true,
					   .back = { a[0], a[1] } },
		-EINVAL, "the two directions cannot share an input or an output");
	close(b[1]);
	socket_pair(a);
	refused(&(struct qm_pump_options){ .forward = { a[0], -1 } }, -EBADF,
		"the pump needs every descriptor");
	close(a[1]);
	/* a number that is not open */
	socket_pair(a);
	socket_pair(closed);
	close(closed[1]);
	snprintf(text, sizeof(text), "pump descriptor %d: Bad file descriptor",
		 closed[1]);
	refused(&(struct qm_pump_options){ .forward = { a[0], closed[1] } }, -EBADF,
		text);
	close(a[1]);
	close(closed[0]);
	cr_assert_eq(ts_count_fds(), before);
}
