/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * engine/stream-sink: the destination's end of a stream between hosts.  A
 * UNIX listener stands for the destination QEMU, pipes for the stream
 * process's stdin and stdout; the sink runs in a thread, since it blocks.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/stream.h"
#include "tests/helpers/pump-harness.h"

static char dir[64], sock_path[128];

static void setup(void)
{
	harness_setup();
	snprintf(dir, sizeof(dir), "/tmp/qm-sink-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(sock_path, sizeof(sock_path), "%s/migrate.sock", dir);
}

static void teardown(void)
{
	unlink(sock_path);
	/* The markers a connected sink leaves beside the socket. */
	qm_stream_markers_remove(sock_path);
	cr_expect_eq(rmdir(dir), 0, "%s: %s", dir, strerror(errno));
	harness_teardown();
}

TestSuite(sink, .init = setup, .fini = teardown, .timeout = 60);

static int listen_at(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_lt(strlen(path), sizeof(addr.sun_path));
	strcpy(addr.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0, "%s",
		     strerror(errno));
	cr_assert_eq(listen(fd, 4), 0);
	return fd;
}

struct sink_run {
	pthread_t thread;
	const char *path;
	int index;
	int in, out;
	int r;
	struct qm_error err;
};

static void *sink_main(void *arg)
{
	struct sink_run *s = arg;

	s->r = qm_stream_sink(NULL, s->path, 0, s->in, s->out, &s->err);
	return NULL;
}

static void sink_start(struct sink_run *s, const char *path, int in, int out)
{
	memset(s, 0, sizeof(*s));
	s->path = path;
	s->in = in;
	s->out = out;
	cr_assert_eq(pthread_create(&s->thread, NULL, sink_main, s), 0);
}

/* Blocks until the sink returned: every test ends its streams first. */
static int sink_join(struct sink_run *s)
{
	cr_assert_eq(pthread_join(s->thread, NULL), 0);
	return s->r;
}

/*
 * @fwd bytes in through stdin, @back bytes out of the socket: each arrives
 * intact at the other end, followed by its end of stream.
 */
static void relay_both_ways(uint64_t fwd, uint64_t back)
{
	int before = ts_count_fds(), lfd = listen_at(sock_path), in[2], out[2], d;
	struct ts_feed feed_in, feed_back;
	struct ts_check at_dst, at_src;
	struct sink_run s;

	pipe_pair(in);	/* in[0]: the sink's stdin */
	pipe_pair(out); /* out[1]: the sink's stdout */
	sink_start(&s, sock_path, in[0], out[1]);
	d = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(d, 0, "%s", strerror(errno));
	ts_feed_start(&feed_in, loop, in[1], SEED, fwd, TS_CLOSE);
	ts_check_start(&at_dst, loop, d, SEED);
	ts_feed_start(&feed_back, loop, d, SEED_BACK, back, TS_SHUTDOWN);
	ts_check_start(&at_src, loop, out[0], SEED_BACK);
	spin_until(feed_in.ended && feed_back.ended && (at_dst.eof || at_dst.error) &&
		   (at_src.eof || at_src.error));
	cr_assert_eq(sink_join(&s), 0, "%s", s.err.text);
	cr_assert(at_dst.eof, "the socket did not see stdin's end: %d", at_dst.error);
	cr_assert(at_src.eof, "stdout did not end: %d", at_src.error);
	cr_assert_eq(at_dst.got, fwd);
	cr_assert_eq(at_dst.mismatch_at, -1);
	cr_assert_eq(at_src.got, back);
	cr_assert_eq(at_src.mismatch_at, -1);
	ts_feed_stop(&feed_in, loop);
	ts_feed_stop(&feed_back, loop);
	ts_check_stop(&at_dst, loop);
	ts_check_stop(&at_src, loop);
	close(d);
	close(out[0]);
	close(lfd);
	cr_assert_eq(ts_count_fds(), before, "the sink left descriptors open");
}

Test(sink, bytes_cross_both_ways_intact_and_each_end_is_passed_on)
{
	relay_both_ways(5 * TS_MIB, 3 * TS_MIB);
}

Test(sink, a_one_way_stream_ends_when_the_destination_closes_its_side)
{
	relay_both_ways(4 * TS_MIB, 0);
}

/* The forward end is passed on at once, while the return path still flows. */
Test(sink, end_of_stdin_reaches_the_socket_before_the_return_path_ends)
{
	int lfd = listen_at(sock_path), in[2], out[2], d;
	struct ts_check at_dst;
	struct sink_run s;
	char c = 'x';

	pipe_pair(in);
	pipe_pair(out);
	sink_start(&s, sock_path, in[0], out[1]);
	d = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(d, 0);
	close(in[1]);
	ts_check_start(&at_dst, loop, d, SEED);
	spin_until(at_dst.eof || at_dst.error);
	cr_assert(at_dst.eof);
	/* The return path is still open: a byte written now comes out of stdout. */
	cr_assert_eq(write(d, &c, 1), 1);
	c = 0;
	cr_assert_eq(read(out[0], &c, 1), 1);
	cr_assert_eq(c, 'x');
	shutdown(d, SHUT_WR);
	cr_assert_eq(read(out[0], &c, 1), 0, "stdout did not end");
	cr_assert_eq(sink_join(&s), 0, "%s", s.err.text);
	ts_check_stop(&at_dst, loop);
	close(d);
	close(out[0]);
	close(lfd);
}

Test(sink, a_destination_that_goes_away_mid_stream_fails_the_sink)
{
	int lfd = listen_at(sock_path), in[2], out[2], d;
	struct ts_feed feed_in;
	struct sink_run s;

	pipe_pair(in);
	pipe_pair(out);
	sink_start(&s, sock_path, in[0], out[1]);
	d = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
	cr_assert_geq(d, 0);
	close(d);
	ts_feed_start(&feed_in, loop, in[1], SEED, 64 * TS_MIB, TS_CLOSE);
	spin_until(feed_in.ended || feed_in.error);
	cr_assert_lt(sink_join(&s), 0);
	cr_assert_str_eq(s.err.error_class, "TunnelFailed");
	cr_assert(strstr(s.err.text, sock_path), "%s", s.err.text);
	ts_feed_stop(&feed_in, loop);
	if (!feed_in.ended)
		close(in[1]);
	close(out[0]);
	close(lfd);
}

static void expect_refused(const char *path, int code, const char *class,
			   const char *text)
{
	int before = ts_count_fds(), in[2], out[2];
	struct qm_error err = { 0 };

	pipe_pair(in);
	pipe_pair(out);
	cr_assert_eq(qm_stream_sink(NULL, path, 0, in[0], out[1], &err), code, "%s", err.text);
	cr_assert_str_eq(err.error_class, class);
	cr_assert(strstr(err.text, text), "%s", err.text);
	close(in[1]);
	close(out[0]);
	/* It took both descriptors, even so. */
	cr_assert_eq(ts_count_fds(), before);
}

Test(sink, a_missing_socket_fails_with_its_path)
{
	expect_refused(sock_path, -ENOENT, "TunnelFailed",
		       "cannot connect to the destination's migration socket");
	expect_refused(sock_path, -ENOENT, "TunnelFailed", sock_path);
}

Test(sink, a_path_that_is_not_absolute_is_refused)
{
	expect_refused("migrate.sock", -EINVAL, "Usage", "must be absolute");
	expect_refused("", -EINVAL, "Usage", "must be absolute");
}

Test(sink, a_path_longer_than_a_socket_address_is_refused)
{
	char path[200];

	memset(path, 'a', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	expect_refused(path, -ENAMETOOLONG, "Usage", "longer than 107 bytes");
}

static void *sink_indexed_main(void *arg)
{
	struct sink_run *s = arg;

	s->r = qm_stream_sink(NULL, s->path, (unsigned)s->index, s->in, s->out, &s->err);
	return NULL;
}

/*
 * QEMU 7.2 tells the main stream from the multifd channels by the order they
 * connect in: sinks started in reverse order still connect 0, 1, 2.
 */
Test(sink, streams_connect_in_their_index_order)
{
	int lfd = listen_at(sock_path), in[3][2], out[3][2];
	struct sink_run s[3];
	char path[160];

	for (int i = 2; i >= 0; i--) {
		pipe_pair(in[i]);
		pipe_pair(out[i]);
		memset(&s[i], 0, sizeof(s[i]));
		s[i].path = sock_path;
		s[i].index = i;
		s[i].in = in[i][0];
		s[i].out = out[i][1];
		/* Each says which it is first, once connected. */
		cr_assert_eq(write(in[i][1], &"012"[i], 1), 1);
		close(in[i][1]);
		cr_assert_eq(pthread_create(&s[i].thread, NULL, sink_indexed_main, &s[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		int d = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		char c = 0;

		cr_assert_geq(d, 0, "%s", strerror(errno));
		cr_assert_eq(read(d, &c, 1), 1);
		cr_assert_eq(c, "012"[i], "connection %d came from stream %c", i, c);
		close(d);
	}
	for (int i = 0; i < 3; i++) {
		cr_assert_eq(sink_join(&s[i]), 0, "%s", s[i].err.text);
		close(out[i][0]);
		qm_stream_marker(sock_path, (unsigned)i, path, sizeof(path));
		cr_assert_eq(unlink(path), 0, "no marker %s", path);
	}
	close(lfd);
}

Test(sink, markers_are_named_after_the_socket_and_removed_up_to_the_first_missing)
{
	char path[160], expect[160], other[160];
	int fd;

	qm_stream_marker(sock_path, 7, path, sizeof(path));
	snprintf(expect, sizeof(expect), "%s/migrate.sock.7.on", dir);
	cr_assert_str_eq(path, expect);
	for (unsigned i = 0; i < 4; i++) {
		if (i == 2)
			continue;
		qm_stream_marker(sock_path, i, path, sizeof(path));
		fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
		cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
		close(fd);
	}
	/* Another socket in the same directory has an order of its own. */
	snprintf(other, sizeof(other), "%s/nbd.sock", dir);
	qm_stream_marker(other, 0, path, sizeof(path));
	fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	close(fd);
	qm_stream_markers_remove(sock_path);
	for (unsigned i = 0; i < 4; i++) {
		qm_stream_marker(sock_path, i, path, sizeof(path));
		cr_expect_eq(access(path, F_OK) == 0, i == 3, "%s", path);
	}
	qm_stream_marker(other, 0, path, sizeof(path));
	cr_expect_eq(access(path, F_OK), 0, "%s was removed with another socket's", path);
	cr_assert_eq(unlink(path), 0);
	qm_stream_marker(sock_path, 3, path, sizeof(path));
	/* Stream 3 without stream 2 does not happen: the test removes it. */
	cr_assert_eq(unlink(path), 0);
}
