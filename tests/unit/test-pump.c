/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tunnel/pump: bytes moved and verified in every mode and topology, the
 * fall-back from splice, the three ways a pump ends, the return path, the
 * hang-up before migrate_cancel, and that nothing leaks (descriptors are
 * counted in /proc/self/fd; ASan counts the rest).  No sleeps: the test
 * spins its loop under the suite's timeout.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/helpers/stream.h"
#include "tunnel/pump.h"

#define BIG (64 * TS_MIB)
#define SEED 0x5eed
#define SEED_BACK 0xbac

static struct ev_loop *loop;
static pthread_t loop_thread;

static struct done {
	int calls;
	bool on_loop_thread;
	bool free_pump; /* the callback frees the pump */
	struct qm_pump_result r;
} done;

static void on_done(struct qm_pump *pump, const struct qm_pump_result *r, void *userdata)
{
	struct done *d = userdata;

	d->calls++;
	d->on_loop_thread = pthread_equal(pthread_self(), loop_thread);
	d->r = *r;
	if (d->free_pump)
		qm_pump_free(pump);
}

static void warm_cb(struct ev_loop *l, ev_async *w, int revents)
{
}

static void setup(void)
{
	ev_async warm;

	loop = ev_loop_new(EVFLAG_AUTO);
	loop_thread = pthread_self();
	/* libev opens its wake-up descriptor at the first ev_async: not in a count */
	ev_async_init(&warm, warm_cb);
	ev_async_start(loop, &warm);
	ev_async_stop(loop, &warm);
}

static void teardown(void)
{
	ev_loop_destroy(loop);
}

TestSuite(pump, .init = setup, .fini = teardown, .timeout = 60);

#define spin_until(cond)                                                                 \
	do {                                                                             \
		while (!(cond))                                                          \
			ev_run(loop, EVRUN_ONCE);                                        \
	} while (0)

static struct qm_pump *start(const struct qm_pump_options *o)
{
	struct qm_error err = { 0 };
	struct qm_pump *p = qm_pump_new(loop, o, on_done, &done, &err);

	cr_assert_not_null(p, "qm_pump_new: %s", err.text);
	cr_assert_eq(qm_pump_start(p, &err), 0, "qm_pump_start: %s", err.text);
	return p;
}

static struct qm_pump_stats stats(struct qm_pump *p, enum qm_pump_dir dir)
{
	struct qm_pump_stats st;

	qm_pump_get_stats(p, dir, &st);
	return st;
}

static void socket_pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

static void pipe_pair(int pv[2])
{
	cr_assert_eq(pipe2(pv, O_CLOEXEC), 0);
}

static void expect_failure(enum qm_pump_dir dir, enum qm_pump_side side, int code,
			   const char *text)
{
	cr_assert_eq(done.calls, 1);
	cr_assert_eq(done.r.end, QM_PUMP_FAILED, "ended %s",
		     qm_pump_end_name(done.r.end));
	cr_assert_eq(done.r.dir, dir);
	cr_assert_eq(done.r.side, side, "side %s", qm_pump_side_name(done.r.side));
	cr_assert_eq(done.r.error.code, code, "%d: %s", done.r.error.code,
		     done.r.error.text);
	cr_assert_str_eq(done.r.error.error_class, "TunnelFailed");
	cr_assert_str_eq(done.r.error.text, text);
}

/* ---- moving bytes ------------------------------------------------------------ */

enum topology { SOCKET_TO_SOCKET, PIPE_TO_SOCKET, SOCKET_TO_PIPE };

/*
 * Moves BIG patterned bytes through a pump: the feeder writes the input's
 * far end and closes it, the checker reads the output's far end to EOF.
 */
static void transfer(enum topology t, enum qm_pump_mode mode,
		     enum qm_pump_strategy expect)
{
	int before = ts_count_fds(), a[2], b[2];
	struct ts_feed feed;
	struct ts_check check;
	struct qm_pump_stats st, last = { 0 };
	struct qm_pump *p;

	/* [0]: the pump's end, [1]: the test's end */
	if (t == PIPE_TO_SOCKET)
		pipe_pair(a);
	else
		socket_pair(a);
	if (t == SOCKET_TO_PIPE) {
		int pv[2];

		pipe_pair(pv);
		b[0] = pv[1]; /* the pump writes */
		b[1] = pv[0]; /* the checker reads */
	} else {
		socket_pair(b);
	}
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] }, .mode = mode });
	ts_feed_start(&feed, loop, a[1], SEED, BIG, TS_CLOSE);
	ts_check_start(&check, loop, b[1], SEED);
	while (!done.calls || !check.eof) {
		ev_run(loop, EVRUN_ONCE);
		st = stats(p, QM_PUMP_FORWARD);
		cr_assert_geq(st.bytes_read, st.bytes_written);
		cr_assert_geq(st.bytes_written, last.bytes_written);
		last = st;
	}
	cr_assert_eq(done.calls, 1);
	cr_assert(done.on_loop_thread);
	cr_assert_eq(done.r.end, QM_PUMP_FINISHED, "%s: %s", qm_pump_end_name(done.r.end),
		     done.r.error.text);
	cr_assert_not(qm_error_is_set(&done.r.error));
	cr_assert(feed.ended);
	cr_assert_eq(check.mismatch_at, -1, "wrong byte at %zd", check.mismatch_at);
	cr_assert_eq(check.got, BIG);
	st = stats(p, QM_PUMP_FORWARD);
	cr_assert_eq(st.bytes_read, BIG);
	cr_assert_eq(st.bytes_written, BIG);
	cr_assert_eq(st.strategy, expect, "strategy %s",
		     qm_pump_strategy_name(st.strategy));
	cr_assert_eq(done.r.stats[QM_PUMP_FORWARD].bytes_written, BIG);
	cr_assert_eq(done.r.stats[QM_PUMP_RETURN].bytes_written, 0);
	qm_pump_free(p);
	ts_feed_stop(&feed, loop);
	ts_check_stop(&check, loop);
	close(b[1]);
	cr_assert_eq(ts_count_fds(), before);
}

Test(pump, moves_64_mib_socket_to_socket_with_splice)
{
	transfer(SOCKET_TO_SOCKET, QM_PUMP_SPLICE, QM_PUMP_STRATEGY_SPLICE);
}

Test(pump, moves_64_mib_socket_to_socket_with_read_write)
{
	transfer(SOCKET_TO_SOCKET, QM_PUMP_READWRITE, QM_PUMP_STRATEGY_READWRITE);
}

Test(pump, moves_64_mib_socket_to_socket_by_splice_in_auto_mode)
{
	transfer(SOCKET_TO_SOCKET, QM_PUMP_AUTO, QM_PUMP_STRATEGY_SPLICE);
}

Test(pump, moves_64_mib_pipe_to_socket_with_splice)
{
	transfer(PIPE_TO_SOCKET, QM_PUMP_SPLICE, QM_PUMP_STRATEGY_SPLICE);
}

Test(pump, moves_64_mib_pipe_to_socket_with_read_write)
{
	transfer(PIPE_TO_SOCKET, QM_PUMP_READWRITE, QM_PUMP_STRATEGY_READWRITE);
}

Test(pump, moves_64_mib_pipe_to_socket_by_splice_in_auto_mode)
{
	transfer(PIPE_TO_SOCKET, QM_PUMP_AUTO, QM_PUMP_STRATEGY_SPLICE);
}

Test(pump, moves_64_mib_socket_to_pipe_with_splice)
{
	transfer(SOCKET_TO_PIPE, QM_PUMP_SPLICE, QM_PUMP_STRATEGY_SPLICE);
}

Test(pump, moves_64_mib_socket_to_pipe_with_read_write)
{
	transfer(SOCKET_TO_PIPE, QM_PUMP_READWRITE, QM_PUMP_STRATEGY_READWRITE);
}

Test(pump, moves_64_mib_socket_to_pipe_by_splice_in_auto_mode)
{
	transfer(SOCKET_TO_PIPE, QM_PUMP_AUTO, QM_PUMP_STRATEGY_SPLICE);
}

Test(pump, moves_bytes_in_chunks_smaller_than_a_page)
{
	int before = ts_count_fds(), a[2], b[2];
	struct ts_feed feed;
	struct ts_check check;
	struct qm_pump *p;

	socket_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] }, .chunk = 1000 });
	ts_feed_start(&feed, loop, a[1], SEED, 4 * TS_MIB, TS_CLOSE);
	ts_check_start(&check, loop, b[1], SEED);
	spin_until(done.calls && check.eof);
	cr_assert_eq(done.r.end, QM_PUMP_FINISHED);
	cr_assert_eq(check.mismatch_at, -1);
	cr_assert_eq(check.got, 4 * TS_MIB);
	cr_assert_eq(stats(p, QM_PUMP_FORWARD).strategy, QM_PUMP_STRATEGY_SPLICE);
	qm_pump_free(p);
	ts_feed_stop(&feed, loop);
	ts_check_stop(&check, loop);
	close(b[1]);
	cr_assert_eq(ts_count_fds(), before);
}

/* ---- falling back from splice ------------------------------------------------ */

/* A memfd opened for appending: splice(2) refuses O_APPEND outputs with EINVAL. */
static int appending_memfd(void)
{
	int fd = memfd_create("pump-out", MFD_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fcntl(fd, F_SETFL, O_APPEND), 0);
	return fd;
}

Test(pump, auto_mode_falls_back_to_read_write_when_the_output_refuses_splice)
{
	const uint64_t size = 32 * TS_MIB;
	int before = ts_count_fds(), a[2], out = appending_memfd(), verify = dup(out);
	unsigned char *buf = malloc(TS_MIB);
	struct ts_feed feed;
	struct qm_pump *p;

	socket_pair(a);
	p = start(&(struct qm_pump_options){ .forward = { a[0], out },
					     .mode = QM_PUMP_AUTO });
	ts_feed_start(&feed, loop, a[1], SEED, size, TS_CLOSE);
	spin_until(done.calls);
	cr_assert_eq(done.r.end, QM_PUMP_FINISHED, "%s", done.r.error.text);
	cr_assert_eq(stats(p, QM_PUMP_FORWARD).strategy, QM_PUMP_STRATEGY_READWRITE);
	cr_assert_eq(stats(p, QM_PUMP_FORWARD).bytes_written, size);
	/* the first chunk went into the pipe by splice before the output refused it */
	for (uint64_t off = 0; off < size; off += TS_MIB) {
		cr_assert_eq(pread(verify, buf, TS_MIB, (off_t)off), (ssize_t)TS_MIB);
		cr_assert_eq(ts_mismatch(SEED, off, buf, TS_MIB), -1, "near %llu",
			     (unsigned long long)off);
	}
	cr_assert_eq(pread(verify, buf, 1, (off_t)size), 0);
	qm_pump_free(p);
	ts_feed_stop(&feed, loop);
	free(buf);
	close(verify);
	cr_assert_eq(ts_count_fds(), before);
}

static size_t read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len && (n = read(fd, buf + got, len - got)) > 0)
		got += (size_t)n;
	return got;
}

Test(pump, auto_mode_falls_back_to_read_write_when_the_input_refuses_splice)
{
	/* procfs files such as auxv have no splice_read: EINVAL */
	int in = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC), copy, b[2];
	char want[8192], got[8192];
	size_t want_len, got_len;
	struct qm_pump *p;

	cr_assert_geq(in, 0);
	copy = open("/proc/self/auxv", O_RDONLY | O_CLOEXEC);
	want_len = read_all(copy, want, sizeof(want));
	close(copy);
	cr_assert_gt(want_len, 0);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { in, b[0] } });
	spin_until(done.calls);
	cr_assert_eq(done.r.end, QM_PUMP_FINISHED, "%s", done.r.error.text);
	cr_assert_eq(stats(p, QM_PUMP_FORWARD).strategy, QM_PUMP_STRATEGY_READWRITE);
	cr_assert_eq(stats(p, QM_PUMP_FORWARD).bytes_written, want_len);
	got_len = read_all(b[1], got,
			   sizeof(got)); /* to the end of stream the pump passed on */
	cr_assert_eq(got_len, want_len);
	cr_assert_eq(memcmp(got, want, want_len), 0);
	qm_pump_free(p);
	close(b[1]);
}

Test(pump, splice_mode_fails_where_the_kernel_refuses_splice)
{
	int a[2];
	struct ts_feed feed;
	struct qm_pump *p;

	socket_pair(a);
	p = start(&(struct qm_pump_options){ .forward = { a[0], appending_memfd() },
					     .mode = QM_PUMP_SPLICE });
	ts_feed_start(&feed, loop, a[1], SEED, TS_MIB, TS_CLOSE);
	spin_until(done.calls);
	expect_failure(
		QM_PUMP_FORWARD, QM_PUMP_SIDE_WRITE, -EINVAL,
		"splice(2) cannot move these descriptors' data (EINVAL while writing)");
	cr_assert_eq(stats(p, QM_PUMP_FORWARD).bytes_written, 0);
	qm_pump_free(p);
	ts_feed_stop(&feed, loop);
	if (!feed.ended)
		close(a[1]);
}

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

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * Feeds @feed until the pump holds bytes that it cannot write because
 * nobody reads its output @out: its thread is blocked, or about to be.
 */
static void fill_until_stuck(struct qm_pump *p, int feed, int out)
{
	for (;;) {
		struct qm_pump_stats st;

		ts_fill(feed);
		st = stats(p, QM_PUMP_FORWARD);
		if (st.bytes_read > st.bytes_written && !ts_writable(out))
			return;
	}
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

/* ---- both directions ---------------------------------------------------------- */

Test(pump, bidirectional_over_two_sockets_moves_bytes_both_ways_at_once)
{
	const uint64_t size = 16 * TS_MIB;
	int before = ts_count_fds(), a[2], b[2];
	struct ts_feed fwd_feed, back_feed;
	struct ts_check fwd_check, back_check;
	bool overlap = false;
	struct qm_pump *p;

	socket_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] },
					     .bidirectional = true,
					     .back = { b[0], a[0] } });
	/* each test end both writes and reads: it ends its writing half only */
	ts_feed_start(&fwd_feed, loop, a[1], SEED, size, TS_SHUTDOWN);
	ts_check_start(&fwd_check, loop, b[1], SEED);
	ts_feed_start(&back_feed, loop, b[1], SEED_BACK, size, TS_SHUTDOWN);
	ts_check_start(&back_check, loop, a[1], SEED_BACK);
	while (!done.calls || !fwd_check.eof || !back_check.eof) {
		uint64_t f, r;

		ev_run(loop, EVRUN_ONCE);
		f = stats(p, QM_PUMP_FORWARD).bytes_written;
		r = stats(p, QM_PUMP_RETURN).bytes_written;
		overlap |= f > 0 && f < size && r > 0 && r < size;
	}
	cr_assert(overlap, "never saw both directions mid-stream at once");
	cr_assert_eq(done.r.end, QM_PUMP_FINISHED, "%s", done.r.error.text);
	cr_assert_eq(fwd_check.got, size);
	cr_assert_eq(back_check.got, size);
	cr_assert_eq(fwd_check.mismatch_at, -1);
	cr_assert_eq(back_check.mismatch_at, -1);
	for (int d = 0; d < QM_PUMP_NDIRS; d++) {
		cr_assert_eq(done.r.stats[d].bytes_read, size);
		cr_assert_eq(done.r.stats[d].bytes_written, size);
		cr_assert_eq(done.r.stats[d].strategy, QM_PUMP_STRATEGY_SPLICE);
	}
	qm_pump_free(p);
	ts_feed_stop(&fwd_feed, loop);
	ts_feed_stop(&back_feed, loop);
	ts_check_stop(&fwd_check, loop);
	ts_check_stop(&back_check, loop);
	close(a[1]);
	close(b[1]);
	cr_assert_eq(ts_count_fds(), before);
}

/* Four pipes: fwd in, fwd out, back in, back out; [0] reads, [1] writes. */
struct four_pipes {
	int fwd_in[2], fwd_out[2], back_in[2], back_out[2];
};

static struct qm_pump *start_over_pipes(struct four_pipes *fp)
{
	pipe_pair(fp->fwd_in);
	pipe_pair(fp->fwd_out);
	pipe_pair(fp->back_in);
	pipe_pair(fp->back_out);
	return start(&(struct qm_pump_options){
		.forward = { fp->fwd_in[0], fp->fwd_out[1] },
		.bidirectional = true,
		.back = { fp->back_in[0], fp->back_out[1] },
	});
}

Test(pump, bidirectional_over_pipes_passes_each_end_of_stream_on)
{
	int before = ts_count_fds();
	struct four_pipes fp;
	struct ts_feed fwd_feed, back_feed;
	struct ts_check fwd_check, back_check;
	struct qm_pump *p = start_over_pipes(&fp);

	ts_feed_start(&fwd_feed, loop, fp.fwd_in[1], SEED, 8 * TS_MIB, TS_CLOSE);
	ts_check_start(&fwd_check, loop, fp.fwd_out[0], SEED);
	/* the return path ends first, while the forward path still runs */
	ts_feed_start(&back_feed, loop, fp.back_in[1], SEED_BACK, TS_MIB / 2, TS_CLOSE);
	ts_check_start(&back_check, loop, fp.back_out[0], SEED_BACK);
	spin_until(done.calls && fwd_check.eof && back_check.eof);
	cr_assert_eq(done.r.end, QM_PUMP_FINISHED, "%s", done.r.error.text);
	cr_assert_eq(fwd_check.got, 8 * TS_MIB);
	cr_assert_eq(back_check.got, TS_MIB / 2);
	cr_assert_eq(fwd_check.mismatch_at, -1);
	cr_assert_eq(back_check.mismatch_at, -1);
	qm_pump_free(p);
	ts_feed_stop(&fwd_feed, loop);
	ts_feed_stop(&back_feed, loop);
	ts_check_stop(&fwd_check, loop);
	ts_check_stop(&back_check, loop);
	close(fp.fwd_out[0]);
	close(fp.back_out[0]);
	cr_assert_eq(ts_count_fds(), before);
}

/* The reader of @dir's output is gone; the other direction idles, its input open. */
static void one_direction_fails(enum qm_pump_dir dir, const char *text)
{
	int before = ts_count_fds();
	struct four_pipes fp;
	struct qm_pump *p = start_over_pipes(&fp);
	int feed = dir == QM_PUMP_FORWARD ? fp.fwd_in[1] : fp.back_in[1];
	int idle = dir == QM_PUMP_FORWARD ? fp.back_in[1] : fp.fwd_in[1];
	char byte = 'x';

	close(dir == QM_PUMP_FORWARD ? fp.fwd_out[0] : fp.back_out[0]);
	cr_assert_eq(ts_write(feed, &byte, 1), 1);
	spin_until(done.calls);
	expect_failure(dir, QM_PUMP_SIDE_WRITE, -EPIPE, text);
	qm_pump_free(p);
	close(feed);
	close(idle);
	close(dir == QM_PUMP_FORWARD ? fp.back_out[0] : fp.fwd_out[0]);
	cr_assert_eq(ts_count_fds(), before);
}

Test(pump, a_failing_forward_path_stops_the_return_path)
{
	one_direction_fails(QM_PUMP_FORWARD,
			    "the peer closed the tunnel (EPIPE while writing)");
}

Test(pump, a_failing_return_path_stops_the_forward_path_and_says_so)
{
	one_direction_fails(QM_PUMP_RETURN,
			    "the peer closed the tunnel (EPIPE while writing "
			    "on the return path)");
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
