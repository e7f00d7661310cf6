/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * engine/tunnel-remote: the tunnel between hosts, end to end without QEMU
 * (and one case of the tunnel on one host, engine/tunnel.c).
 * The test plays the source QEMU (it writes into the pipe, or connects to
 * tunnel.sock) and the destination QEMU (a UNIX listener); the stream
 * command is tests/helpers/stream-sink, which does what `qmigrate serve
 * --stdio --stream PATH` does on the other host.  The job is a real one,
 * never started: the tunnel only needs its loop, options and error.
 *
 * "No process left behind" is checked from outside: waitid(P_ALL) says
 * ECHILD once this process has no child at all, running or zombie.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/child.h"
#include "engine/stream.h"
#include "engine/tunnel-internal.h"
#include "tests/helpers/pump-harness.h"
#include "tests/helpers/sockfd.h"
#include "util/net.h"

#define N_CONNS 8

static char dir[64], dst_path[128], nbd_path[128], sink[4096];
static struct qm_ctx *ctx;
static struct qm_job *job;
static int lfd = -1;
static ev_io accept_io;
static int conns[N_CONNS]; /* the destination's side of each stream, in order */
static int n_conns;

static void setup(void)
{
	const char *top = getenv("top_builddir");

	harness_setup();
	snprintf(dir, sizeof(dir), "/tmp/qm-tr-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(dst_path, sizeof(dst_path), "%s/migrate.sock", dir);
	snprintf(nbd_path, sizeof(nbd_path), "%s/nbd.sock", dir);
	snprintf(sink, sizeof(sink), "%s/tests/helpers/stream-sink",
		 top && *top ? top : ABS_TOP_BUILDDIR);
	ctx = qm_ctx_new();
	cr_assert(ctx);
}

static void teardown(void)
{
	ev_io_stop(loop, &accept_io);
	for (int i = 0; i < n_conns; i++)
		close(conns[i]);
	if (lfd >= 0)
		close(lfd);
	unlink(dst_path);
	unlink(nbd_path);
	/* The markers the stream processes leave beside the sockets (engine/stream-sink.c). */
	qm_stream_markers_remove(dst_path);
	qm_stream_markers_remove(nbd_path);
	qm_job_unref(job);
	qm_ctx_unref(ctx);
	cr_assert_eq(rmdir(dir), 0, "%s is not empty: %s", dir, strerror(errno));
	harness_teardown();
}

TestSuite(tunnel_remote, .init = setup, .fini = teardown, .timeout = 60);

/* True once this process has no child left, running or not yet reaped. */
static bool no_children(void)
{
	siginfo_t si;

	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

/*
 * The destination's server (listening on @nfd, non-blocking) accepts the
 * connection the tunnel joins to it; the loop runs meanwhile (bounded by
 * the suite's timeout).
 */
static int server_accepts(int nfd)
{
	int fd, e;

	for (;;) {
		fd = accept4(nfd, NULL, NULL, SOCK_CLOEXEC);
		e = errno; /* before the loop runs and sets it again */
		if (fd >= 0 || (e != EAGAIN && e != EINTR) || qm_job_failed(job))
			break;
		ev_run(loop, EVRUN_NOWAIT);
	}
	cr_assert_geq(fd, 0, "accept: %s; the job: %s", strerror(e), job->error.text);
	return fd;
}

static void accept_cb(struct ev_loop *l, ev_io *w, int revents)
{
	int fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);

	cr_assert_geq(fd, 0, "accept: %s", strerror(errno));
	cr_assert_lt(n_conns, N_CONNS);
	conns[n_conns++] = fd;
}

/* A UNIX listener at @path, blocking accepts (the test accepts itself). */
static int listen_at(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);

	cr_assert_geq(fd, 0);
	cr_assert_lt(strlen(path), sizeof(addr.sun_path));
	strcpy(addr.sun_path, path);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(fd, N_CONNS), 0);
	return fd;
}

/* The destination QEMU's incoming socket, accepting on the loop. */
static void destination_listens(void)
{
	lfd = listen_at(dst_path);
	ev_io_init(&accept_io, accept_cb, lfd, EV_READ);
	ev_io_start(loop, &accept_io);
}

static void new_job(bool postcopy, unsigned multifd)
{
	struct qm_job_options opts = {
		.src_qmp = "/nonexistent/src.sock",
		.dst_qmp = "/nonexistent/dst.sock",
		.transport = QM_TRANSPORT_TUNNEL,
		.runtime_dir = dir,
		.multifd_channels = multifd,
		.policy.postcopy = postcopy,
	};
	struct qm_error err = { 0 };

	job = qm_job_new(ctx, loop, &opts, NULL, NULL, &err);
	cr_assert(job, "%s", err.text);
	if (!qm_tunnel_uses_pipes(job))
		cr_assert_eq(qm_runtime_dir_create(job), 0, "%s", job->error.text);
}

/* The tunnel with @argv as the stream command; its URI in @uri. */
static void open_remote(char **argv, char *uri, size_t len)
{
	int r = qm_tunnel_open_remote(job, argv, uri, len);

	cr_assert_eq(r, 0, "%s", job->error.text);
	cr_assert_not(qm_job_failed(job));
}

/* The source QEMU's end of the one-way pipe, as getfd would pass it. */
static int source_pipe(void)
{
	struct stat st;
	int fd = dup(qm_tunnel_qemu_fd(job, QM_TUNNEL_SOURCE));

	cr_assert_geq(fd, 0);
	cr_assert_eq(fstat(fd, &st), 0);
	cr_assert(S_ISFIFO(st.st_mode));
	cr_assert_eq(qm_tunnel_qemu_fd(job, QM_TUNNEL_DESTINATION), -1);
	qm_tunnel_qemu_fd_passed(job, QM_TUNNEL_SOURCE);
	return fd;
}

/* A connection of the source QEMU to the tunnel at @uri ("unix:PATH"). */
static int source_connects(const char *uri)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_eq(strncmp(uri, "unix:", 5), 0, "%s", uri);
	cr_assert_lt(strlen(uri + 5), sizeof(addr.sun_path));
	strcpy(addr.sun_path, uri + 5);
	cr_assert_eq(connect(fd, (struct sockaddr *)&addr, sizeof(addr)), 0, "%s",
		     strerror(errno));
	return fd;
}

static bool pumps_ended(void)
{
	for (size_t i = 0; i < job->tunnel->n_pumps; i++)
		if (job->tunnel->pumps[i].pump)
			return false;
	return true;
}

/*
 * Every stream ended normally: the destination closed its side, each sink
 * exited 0 and was reaped, every pump finished, the job did not fail.
 */
static void expect_clean_end(size_t streams)
{
	for (int i = 0; i < n_conns; i++)
		shutdown(conns[i], SHUT_RDWR);
	spin_until((no_children() && pumps_ended()) || qm_job_failed(job));
	cr_assert_not(qm_job_failed(job), "%s", job->error.text);
	cr_assert_eq(job->tunnel->n_pumps, streams);
	cr_assert_eq(n_conns, (int)streams);
}

Test(tunnel_remote, one_stream_goes_from_the_pipe_through_a_stream_process)
{
	char *argv[] = { sink, QM_STREAM_OPTION, dst_path, NULL };
	struct ts_feed feed;
	struct ts_check check;
	char uri[256];

	destination_listens();
	new_job(false, 0);
	open_remote(argv, uri, sizeof(uri));
	cr_assert_str_eq(uri, "fd:" QM_TUNNEL_FDNAME);
	ts_feed_start(&feed, loop, source_pipe(), SEED, 24 * TS_MIB, TS_CLOSE);
	spin_until(n_conns == 1);
	ts_check_start(&check, loop, conns[0], SEED);
	spin_until(check.eof || check.error);
	cr_assert(check.eof, "the destination saw no end of stream: %d", check.error);
	cr_assert(feed.ended);
	cr_assert_eq(check.got, 24 * TS_MIB);
	cr_assert_eq(check.mismatch_at, -1);
	expect_clean_end(1);
	cr_assert_eq(qm_tunnel_bytes(job), 24 * TS_MIB);
	ts_feed_stop(&feed, loop);
	ts_check_stop(&check, loop);
}

/* Each of the source's connections, in turn, comes out as a connection of its own. */
static void streams_over_the_socket(bool postcopy, unsigned multifd)
{
	char *argv[] = { sink, "serve", "--stdio", QM_STREAM_OPTION, dst_path, NULL };
	size_t n = multifd + 1;
	struct ts_feed feed[N_CONNS], back[N_CONNS];
	struct ts_check check[N_CONNS], at_src[N_CONNS];
	int src[N_CONNS];
	char uri[256];
	bool all;

	destination_listens();
	new_job(postcopy, multifd);
	open_remote(argv, uri, sizeof(uri));
	cr_assert_str_eq(strrchr(uri, '/'), "/tunnel.sock", "%s", uri);
	for (size_t i = 0; i < n; i++) {
		src[i] = source_connects(uri);
		spin_until(n_conns == (int)i + 1 || qm_job_failed(job));
		cr_assert_not(qm_job_failed(job), "%s", job->error.text);
		ts_feed_start(&feed[i], loop, src[i], SEED + i, (i + 1) * 3 * TS_MIB,
			      postcopy ? TS_SHUTDOWN : TS_CLOSE);
		ts_check_start(&check[i], loop, conns[i], SEED + i);
		if (!postcopy)
			continue;
		ts_feed_start(&back[i], loop, conns[i], SEED_BACK + i, (i + 1) * TS_MIB,
			      TS_SHUTDOWN);
		ts_check_start(&at_src[i], loop, src[i], SEED_BACK + i);
	}
	do {
		all = true;
		for (size_t i = 0; i < n; i++)
			all &= (check[i].eof || check[i].error) &&
			       (!postcopy || at_src[i].eof || at_src[i].error);
		if (!all)
			ev_run(loop, EVRUN_ONCE);
	} while (!all);
	for (size_t i = 0; i < n; i++) {
		cr_assert(check[i].eof, "stream %zu: %d", i, check[i].error);
		cr_assert_eq(check[i].got, (i + 1) * 3 * TS_MIB, "stream %zu", i);
		cr_assert_eq(check[i].mismatch_at, -1, "stream %zu", i);
		if (postcopy) {
			cr_assert(at_src[i].eof, "return path %zu: %d", i,
				  at_src[i].error);
			cr_assert_eq(at_src[i].got, (i + 1) * TS_MIB, "return path %zu",
				     i);
			cr_assert_eq(at_src[i].mismatch_at, -1, "return path %zu", i);
		}
	}
	expect_clean_end(n);
	for (size_t i = 0; i < n; i++) {
		ts_feed_stop(&feed[i], loop);
		ts_check_stop(&check[i], loop);
		if (postcopy) {
			ts_feed_stop(&back[i], loop);
			ts_check_stop(&at_src[i], loop);
			close(src[i]);
		}
	}
}

Test(tunnel_remote, multifd_streams_each_get_a_stream_process)
{
	streams_over_the_socket(false, 2);
}

Test(tunnel_remote, with_postcopy_the_return_path_comes_back)
{
	streams_over_the_socket(true, 1);
}

Test(tunnel_remote, a_stream_process_that_fails_fails_the_job)
{
	/* Nothing listens at dst_path: the sink exits 1 at once. */
	char *argv[] = { sink, QM_STREAM_OPTION, dst_path, NULL };
	struct ts_feed feed;
	char uri[256];

	new_job(false, 0);
	open_remote(argv, uri, sizeof(uri));
	ts_feed_start(&feed, loop, source_pipe(), SEED, 64 * TS_MIB, TS_CLOSE);
	spin_until(qm_job_failed(job));
	cr_assert_str_eq(job->error.error_class, "TunnelFailed");
	cr_assert(strncmp(job->error.text, "tunnel: ", 8) == 0, "%s", job->error.text);
	/* The hang-up let go of the pipe: the source QEMU is not left blocked in it. */
	spin_until(feed.error || feed.ended);
	cr_assert_eq(feed.error, -EPIPE);
	spin_until(no_children());
	ts_feed_stop(&feed, loop);
	close(feed.fd);
}

/* Nothing is written, so no pump can notice: the exit itself fails the job. */
Test(tunnel_remote, a_stream_process_that_exits_while_its_stream_is_idle_fails_the_job)
{
	char *argv[] = { "/bin/sh", "-c", "exit 3", QM_STREAM_OPTION, dst_path, NULL };
	char uri[256];
	int src;

	new_job(false, 0);
	open_remote(argv, uri, sizeof(uri));
	src = source_pipe();
	spin_until(qm_job_failed(job));
	cr_assert_str_eq(job->error.error_class, "TunnelFailed");
	cr_assert(strstr(job->error.text, "the stream process /bin/sh (pid "), "%s",
		  job->error.text);
	cr_assert(strstr(job->error.text, "exited with status 3"), "%s", job->error.text);
	cr_assert(no_children());
	close(src);
}

Test(tunnel_remote, close_kills_a_stream_process_that_ignores_sigterm)
{
	char *argv[] = { "/bin/sh",	   "-c",     "trap '' TERM; exec sleep 600",
			 QM_STREAM_OPTION, dst_path, NULL };
	char uri[256];
	double t;

	new_job(false, 0);
	open_remote(argv, uri, sizeof(uri));
	close(source_pipe());
	qm_tunnel_hangup(job);
	cr_assert_not(no_children());
	t = qm_monotonic();
	qm_tunnel_close(job);
	t = qm_monotonic() - t;
	cr_assert(no_children(), "a stream process was left behind");
	cr_assert_lt(t, 2 * QM_STREAM_STOP_GRACE + 10, "%.1f s", t);
}

Test(tunnel_remote, no_stream_command_fails_the_job)
{
	char *argv[] = { NULL };
	char uri[256];

	new_job(false, 0);
	cr_assert_lt(qm_tunnel_open_remote(job, argv, uri, sizeof(uri)), 0);
	cr_assert_str_eq(job->error.error_class, "Usage");
}

/*
 * Storage migration's lane: each NBD connection of the source rides a stream
 * process of its own to the destination's NBD socket, both ways, without
 * waiting for any other (index 0, markers of their own socket), beside the
 * migration's multifd streams; the two lanes' bytes are counted apart.
 */
Test(tunnel_remote, nbd_connections_ride_stream_processes_of_their_own_both_ways)
{
	char *mig_argv[] = { sink, QM_STREAM_OPTION, dst_path, NULL };
	char *nbd_argv[] = { sink, QM_STREAM_OPTION, nbd_path, NULL };
	struct ts_feed feed[2], back[2];
	struct ts_check check[2], at_src[2];
	int nfd = listen_at(nbd_path), src[2], dst[2];
	char uri[256], path[256], marker[256];

	destination_listens();
	new_job(false, 2);
	open_remote(mig_argv, uri, sizeof(uri));
	cr_assert_eq(qm_tunnel_nbd_open_remote(job, nbd_argv, path, sizeof(path)), 0, "%s",
		     job->error.text);
	cr_assert_str_eq(strrchr(path, '/'), "/nbd-tunnel.sock", "%s", path);
	cr_assert_eq(strncmp(path, job->runtime_dir, strlen(job->runtime_dir)), 0, "%s", path);
	for (int i = 0; i < 2; i++) {
		char nbd_uri[300];

		snprintf(nbd_uri, sizeof(nbd_uri), "unix:%s", path);
		src[i] = source_connects(nbd_uri);
		/* Its stream process connects without waiting for anyone. */
		dst[i] = server_accepts(nfd);
		ts_feed_start(&feed[i], loop, src[i], SEED + i, (i + 1) * TS_MIB, TS_SHUTDOWN);
		ts_check_start(&check[i], loop, dst[i], SEED + i);
		ts_feed_start(&back[i], loop, dst[i], SEED_BACK + i, TS_MIB / 4, TS_SHUTDOWN);
		ts_check_start(&at_src[i], loop, src[i], SEED_BACK + i);
	}
	spin_until((check[0].eof || check[0].error) && (check[1].eof || check[1].error) &&
		   (at_src[0].eof || at_src[0].error) && (at_src[1].eof || at_src[1].error));
	for (int i = 0; i < 2; i++) {
		cr_assert(check[i].eof, "connection %d: %d", i, check[i].error);
		cr_assert_eq(check[i].got, (size_t)(i + 1) * TS_MIB);
		cr_assert_eq(check[i].mismatch_at, -1);
		cr_assert(at_src[i].eof, "connection %d back: %d", i, at_src[i].error);
		cr_assert_eq(at_src[i].got, TS_MIB / 4);
		cr_assert_eq(at_src[i].mismatch_at, -1);
	}
	/* The NBD connections left their socket's marker, not the migration's stream 0's. */
	qm_stream_marker(nbd_path, 0, marker, sizeof(marker));
	cr_assert_eq(access(marker, F_OK), 0, "%s", marker);
	qm_stream_marker(dst_path, 0, marker, sizeof(marker));
	cr_assert_neq(access(marker, F_OK), 0, "%s exists before any migration stream", marker);
	for (int i = 0; i < 2; i++)
		close(dst[i]);
	spin_until((no_children() && pumps_ended()) || qm_job_failed(job));
	cr_assert_not(qm_job_failed(job), "%s", job->error.text);
	cr_assert_eq(qm_tunnel_nbd_bytes(job), 3 * TS_MIB);
	cr_assert_eq(qm_tunnel_bytes(job), 0);
	for (int i = 0; i < 2; i++) {
		ts_feed_stop(&feed[i], loop);
		ts_check_stop(&check[i], loop);
		ts_feed_stop(&back[i], loop);
		ts_check_stop(&at_src[i], loop);
		close(src[i]);
	}
	close(nfd);
}

Test(tunnel_remote, the_nbd_lane_needs_a_tunnel_between_hosts)
{
	char *nbd_argv[] = { sink, QM_STREAM_OPTION, nbd_path, NULL };
	char path[256];

	new_job(false, 0);
	cr_assert_lt(qm_tunnel_nbd_open_remote(job, nbd_argv, path, sizeof(path)), 0);
	cr_assert(strstr(job->error.text, "needs an open tunnel"), "%s", job->error.text);
}

/*
 * On one host, each NBD connection is joined to the destination's socket by
 * a connection of the engine's with a bulk send buffer: while the server
 * has not read yet, the tunnel holds at least what that buffer was granted
 * (4 MiB as root), where a default one held some 500 KB all told, and the
 * mirror waited for the server every few hundred KiB.  All of it then
 * arrives.  (Where the kernel grants no more than its default, as to a
 * user under the default net.core.wmem_max, there is nothing to gain.)
 */
Test(tunnel_remote, on_one_host_the_nbd_lane_buffers_megabytes_for_the_server)
{
	int granted = ts_sndbuf_granted(QM_BULK_SNDBUF);
	size_t want, sent = 0, got = 0;
	static char buf[64 * 1024];
	int nfd = listen_at(nbd_path), src, dst;
	char uri[300], path[256];
	double give_up;

	cr_assert_gt(granted, 0, "SO_SNDBUF: %s", strerror(-granted));
	want = (size_t)granted / 2; /* Linux doubles what it grants, for its own overhead */
	new_job(false, 2); /* several streams: the local tunnel listens */
	cr_assert_eq(qm_tunnel_open(job, dst_path, uri, sizeof(uri)), 0, "%s", job->error.text);
	cr_assert_eq(qm_tunnel_nbd_open(job, nbd_path, path, sizeof(path)), 0, "%s",
		     job->error.text);
	snprintf(uri, sizeof(uri), "unix:%s", path);
	src = source_connects(uri);
	dst = server_accepts(nfd);
	cr_assert_eq(fcntl(src, F_SETFL, O_NONBLOCK), 0);
	memset(buf, 0x5a, sizeof(buf));
	/* The server reads nothing yet; the pump's thread moves the bytes on. */
	give_up = now() + 20;
	while (sent < want && now() < give_up) {
		struct pollfd p = { .fd = src, .events = POLLOUT };
		ssize_t n = write(src, buf, want - sent < sizeof(buf) ? want - sent : sizeof(buf));

		if (n > 0) {
			sent += (size_t)n;
			continue;
		}
		cr_assert(n < 0 && errno == EAGAIN, "write: %s", strerror(errno));
		(void)poll(&p, 1, 100);
	}
	cr_assert_geq(sent, want,
		      "the tunnel took %zu bytes the server had not read, not the %zu of the "
		      "send buffer it asked for",
		      sent, want);
	shutdown(src, SHUT_WR);
	for (;;) {
		ssize_t n = read(dst, buf, sizeof(buf));

		if (n <= 0) {
			cr_assert_eq(n, 0, "read: %s", strerror(errno));
			break;
		}
		got += (size_t)n;
	}
	cr_assert_eq(got, sent);
	close(dst);
	spin_until(pumps_ended() || qm_job_failed(job));
	cr_assert_not(qm_job_failed(job), "%s", job->error.text);
	cr_assert_eq(qm_tunnel_nbd_bytes(job), sent);
	close(src);
	close(nfd);
}
