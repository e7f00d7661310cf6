/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * tunnel/pump moving bytes: 64 MiB verified byte for byte in every mode and
 * topology, the fall-back from splice, both directions at once (and one
 * failing direction stopping the other).  How a pump ends, the hang-up and
 * its lifetime are in test-pump-end.c.  No sleeps: the tests spin the loop
 * under the suite's timeout.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "tests/helpers/pump-harness.h"

TestSuite(pump, .init = harness_setup, .fini = harness_teardown, .timeout = 60);

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

/* ---- both directions ---------------------------------------------------------- */

Test(pump, bidirectional_over_two_sockets_moves_bytes_both_ways_at_once)
{
	const uint64_t size = 16 * TS_MIB;
	int before = ts_count_fds(), a[2], b[2];
	struct ts_feed fwd_feed, back_feed;
	struct ts_check fwd_check, back_check;
	struct qm_pump *p;

	socket_pair(a);
	socket_pair(b);
	p = start(&(struct qm_pump_options){ .forward = { a[0], b[0] },
					     .bidirectional = true,
					     .back = { b[0], a[0] } });
	/* each test end both writes and reads: it ends its writing half only */
	ts_feed_start(&fwd_feed, loop, a[1], SEED, size, TS_SHUTDOWN);
	ts_check_start(&fwd_check, loop, b[1], SEED);
	/*
	 * The forward direction mid-stream, then its feed held: it cannot end
	 * (the socket buffers hold far less than @size).  The return direction
	 * must move meanwhile: the pump does not serve one direction after the
	 * other.  No timing: the suite's timeout bounds the waits.
	 */
	while (stats(p, QM_PUMP_FORWARD).bytes_written == 0)
		ev_run(loop, EVRUN_ONCE);
	ev_io_stop(loop, &fwd_feed.io);
	cr_assert_lt(fwd_feed.sent, size);
	ts_feed_start(&back_feed, loop, b[1], SEED_BACK, size, TS_SHUTDOWN);
	ts_check_start(&back_check, loop, a[1], SEED_BACK);
	while (stats(p, QM_PUMP_RETURN).bytes_written == 0)
		ev_run(loop, EVRUN_ONCE);
	cr_assert_lt(stats(p, QM_PUMP_FORWARD).bytes_written, size,
		     "the return direction waited for the forward one to end");
	ev_io_start(loop, &fwd_feed.io);
	while (!done.calls || !fwd_check.eof || !back_check.eof)
		ev_run(loop, EVRUN_ONCE);
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
