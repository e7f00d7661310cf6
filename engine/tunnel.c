/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tunnelled transport: local mode, and what the mode between hosts
 * shares.  The pumps run in their own threads and never touch QMP; this
 * file runs on the loop.
 *
 * One stream, one way (no multifd, no post-copy): QEMU writes into a pipe
 * passed with getfd, the pump carries the bytes into another pipe that the
 * destination reads as its fd: incoming.  Pipe to pipe, splice only moves
 * page references, so the stream is copied no more often than QEMU to QEMU.
 *
 * Several streams, or a return path: the engine listens on a private UNIX
 * socket and the source QEMU migrates to it; every connection QEMU opens (the
 * main stream, then one per multifd channel) is joined to a connection of its
 * own to the destination's incoming socket by a pump: one thread each way
 * with post-copy, whose return path flows back, else one thread per stream.
 *
 * Storage migration adds a second lane: the engine listens on another
 * socket, where the source QEMU's NBD clients connect for the mirrors, and
 * joins each connection, both ways, to the destination's NBD server socket.
 *
 * Between hosts, tunnel-remote.c carries each stream through a process of
 * its own instead; the pumps, the sockets, hang-up and close are shared.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/tunnel-internal.h"
#include "qmp/socket.h"
#include "util/error.h"
#include "util/log.h"
#include "util/net.h"

static void pump_done(struct qm_pump *pump, const struct qm_pump_result *r, void *ud)
{
	struct qm_tunnel *t = ud;

	for (size_t i = 0; i < t->n_pumps; i++)
		if (t->pumps[i].pump == pump) {
			t->pumps[i].pump = NULL;
			t->lanes[t->pumps[i].lane].bytes_ended +=
				r->stats[QM_PUMP_FORWARD].bytes_written;
		}
	if (r->end == QM_PUMP_FAILED && !t->job->finished) {
		qm_job_failf(t->job, r->error.code, "TunnelFailed", "tunnel: %s", r->error.text);
		/* Nothing flows any more: QEMU must not block flushing into it. */
		qm_tunnel_hangup(t->job);
	}
	qm_pump_free(pump);
}

enum qm_pump_mode qm_tunnel_pump_mode(const struct qm_tunnel *t)
{
	static const enum qm_pump_mode modes[] = {
		[QM_TUNNEL_COPY_AUTO] = QM_PUMP_AUTO,
		[QM_TUNNEL_COPY_SPLICE] = QM_PUMP_SPLICE,
		[QM_TUNNEL_COPY_READWRITE] = QM_PUMP_READWRITE,
	};

	return modes[t->job->opts.tunnel_copy];
}

static const struct {
	const char *socket; /* ours, in the runtime directory */
	const char *what;   /* the destination's socket the lane reaches */
} lane_names[QM_LANES] = {
	[QM_LANE_MIGRATION] = { "tunnel.sock", "incoming socket" },
	[QM_LANE_NBD] = { "nbd-tunnel.sock", "NBD server socket" },
};

bool qm_tunnel_lane_both_ways(const struct qm_tunnel *t, enum qm_tunnel_lane_id lane)
{
	return lane == QM_LANE_NBD || t->job->opts.policy.postcopy;
}

int qm_tunnel_pump_add(struct qm_tunnel *t, enum qm_tunnel_lane_id lane,
		       const struct qm_pump_options *o, struct qm_error *err)
{
	struct qm_pump *p = qm_pump_new(t->job->loop, o, pump_done, t, err);

	if (!p)
		return err->code;
	if (qm_pump_start(p, err) < 0) {
		qm_pump_free(p);
		return err->code;
	}
	t->pumps[t->n_pumps++] = (struct qm_tunnel_pump){ .pump = p, .lane = lane };
	t->lanes[lane].joined++;
	qm_dbg(t->job->ctx, "tunnel: %s connection %zu joined", lane_names[lane].socket,
	       t->lanes[lane].joined);
	return 0;
}

static int join(struct qm_tunnel_lane *l, int in, struct qm_error *err)
{
	struct qm_tunnel *t = l->t;
	struct qm_pump_options o = {
		.bidirectional = qm_tunnel_lane_both_ways(t, l->id),
		.mode = qm_tunnel_pump_mode(t),
	};
	int in_progress, out;

	out = qm_unix_connect(l->dst_path, &in_progress);
	if (out < 0) {
		close(in);
		return qm_error_set(err, out, "TunnelFailed",
				    "tunnel: cannot reach the destination's %s: %s",
				    lane_names[l->id].what, strerror(-out));
	}
	/*
	 * The pump writes a pipe's megabyte at a time: with the default send
	 * buffer it would wait for the destination every 200 KiB or so.
	 */
	qm_socket_sndbuf(out, QM_BULK_SNDBUF);
	o.forward = (struct qm_pump_fds){ .in = in, .out = out };
	o.back = (struct qm_pump_fds){ .in = out, .out = in };
	return qm_tunnel_pump_add(t, l->id, &o, err);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct qm_tunnel_lane *l = w->data;
	struct qm_tunnel *t = l->t;
	struct qm_error err = { 0 };
	int fd = accept4(l->listen_fd, NULL, NULL, SOCK_CLOEXEC);

	if (fd < 0) {
		if (errno != EAGAIN && errno != EINTR)
			qm_job_failf(t->job, -errno, "TunnelFailed", "tunnel: accept: %s",
				     strerror(errno));
		return;
	}
	/* Bounded: a QEMU that keeps connecting does not get a thread each time. */
	if (l->joined == l->max) {
		close(fd);
		qm_job_failf(t->job, -EMFILE, "TunnelFailed",
			     "tunnel: more than %zu connections to its %s", l->max,
			     lane_names[l->id].socket);
		return;
	}
	if (t->join(l, fd, &err) < 0)
		qm_job_fail(t->job, &err);
}

bool qm_tunnel_uses_pipes(const struct qm_job *job)
{
	return job->opts.transport == QM_TRANSPORT_TUNNEL && !job->opts.multifd_channels &&
	       !job->opts.policy.postcopy;
}

struct qm_tunnel *qm_tunnel_new(struct qm_job *job)
{
	struct qm_tunnel *t = calloc(1, sizeof(*t));

	if (!t) {
		qm_job_failf(job, -ENOMEM, "GenericError", "out of memory");
		return NULL;
	}
	t->job = job;
	for (int i = 0; i < QM_LANES; i++) {
		t->lanes[i].t = t;
		t->lanes[i].id = (enum qm_tunnel_lane_id)i;
		t->lanes[i].listen_fd = -1;
		t->lanes[i].max = i == QM_LANE_NBD ? QM_TUNNEL_NBD_MAX : QM_STREAM_MAX;
	}
	t->qemu_fd[0] = t->qemu_fd[1] = -1;
	t->join = join;
	job->tunnel = t;
	return t;
}

int qm_tunnel_open_pipes(struct qm_job *job)
{
	struct qm_tunnel *t = qm_tunnel_new(job);
	struct qm_pump_options o = { 0 };
	struct qm_error err = { 0 };
	int from_src[2], to_dst[2];

	if (!t)
		return -ENOMEM;
	o.mode = qm_tunnel_pump_mode(t);
	if (pipe2(from_src, O_CLOEXEC) < 0)
		return qm_job_failf(job, -errno, "TunnelFailed", "tunnel: pipe: %s", strerror(errno));
	if (pipe2(to_dst, O_CLOEXEC) < 0) {
		int r = -errno;

		close(from_src[0]);
		close(from_src[1]);
		return qm_job_failf(job, r, "TunnelFailed", "tunnel: pipe: %s", strerror(-r));
	}
	/* Big pipes: fewer wake-ups for QEMU and for the pump; a small one still works. */
	qm_pipe_grow(from_src[1], QEMU_PIPE_SIZE);
	qm_pipe_grow(to_dst[1], QEMU_PIPE_SIZE);
	t->qemu_fd[QM_TUNNEL_SOURCE] = from_src[1];
	t->qemu_fd[QM_TUNNEL_DESTINATION] = to_dst[0];
	o.forward = (struct qm_pump_fds){ .in = from_src[0], .out = to_dst[1] };
	if (qm_tunnel_pump_add(t, QM_LANE_MIGRATION, &o, &err) < 0)
		qm_job_fail(job, &err);
	return err.code;
}

int qm_tunnel_qemu_fd(const struct qm_job *job, enum qm_tunnel_side side)
{
	return job->tunnel ? job->tunnel->qemu_fd[side] : -1;
}

void qm_tunnel_qemu_fd_passed(struct qm_job *job, enum qm_tunnel_side side)
{
	struct qm_tunnel *t = job->tunnel;

	/* Ours closed, QEMU's is the only end left: its close is the pump's EOF or EPIPE. */
	if (t && t->qemu_fd[side] >= 0) {
		close(t->qemu_fd[side]);
		t->qemu_fd[side] = -1;
	}
}

int qm_tunnel_listen(struct qm_tunnel *t, enum qm_tunnel_lane_id lane)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct qm_tunnel_lane *l = &t->lanes[lane];
	struct qm_job *job = t->job;
	mode_t old;
	int r;

	if (!job->runtime_dir[0]) {
		r = qm_runtime_dir_create(job);
		if (r < 0)
			return r;
	}
	r = snprintf(l->listen_path, sizeof(l->listen_path), "%s/%s", job->runtime_dir,
		     lane_names[lane].socket);
	if (r < 0 || (size_t)r >= sizeof(l->listen_path))
		return qm_job_failf(job, -ENAMETOOLONG, "GenericError", "tunnel socket path too long");
	strcpy(addr.sun_path, l->listen_path);
	l->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->listen_fd < 0)
		return qm_job_failf(job, -errno, "TunnelFailed", "tunnel: socket: %s", strerror(errno));
	/* 0600 from the start: the directory is 0700 already, this is belt and braces. */
	old = umask(0177);
	r = bind(l->listen_fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (r < 0 || listen(l->listen_fd, (int)l->max) < 0)
		return qm_job_failf(job, -errno, "TunnelFailed", "tunnel: cannot listen on %s: %s",
				    l->listen_path, strerror(errno));
	ev_io_init(&l->accept_io, accept_cb, l->listen_fd, EV_READ);
	l->accept_io.data = l;
	ev_io_start(job->loop, &l->accept_io);
	return 0;
}

int qm_tunnel_open(struct qm_job *job, const char *dst_path, char *uri, size_t uri_len)
{
	struct qm_tunnel *t = qm_tunnel_new(job);
	struct qm_tunnel_lane *l;
	int r;

	if (!t)
		return -ENOMEM;
	l = &t->lanes[QM_LANE_MIGRATION];
	snprintf(l->dst_path, sizeof(l->dst_path), "%s", dst_path);
	r = qm_tunnel_listen(t, QM_LANE_MIGRATION);
	if (r < 0)
		return r;
	snprintf(uri, uri_len, "unix:%s", l->listen_path);
	return 0;
}

int qm_tunnel_nbd_open(struct qm_job *job, const char *dst_path, char *path, size_t len)
{
	struct qm_tunnel *t = job->tunnel;
	struct qm_tunnel_lane *l;
	int r;

	if (!t)
		return qm_job_failf(job, -EINVAL, "GenericError",
				    "tunnel: the NBD lane needs an open tunnel");
	l = &t->lanes[QM_LANE_NBD];
	if (strlen(dst_path) >= sizeof(l->dst_path))
		return qm_job_failf(job, -ENAMETOOLONG, "TunnelFailed",
				    "tunnel: the NBD server socket path is too long");
	snprintf(l->dst_path, sizeof(l->dst_path), "%s", dst_path);
	r = qm_tunnel_listen(t, QM_LANE_NBD);
	if (r < 0)
		return r;
	snprintf(path, len, "%s", l->listen_path);
	return 0;
}

/* No connection joins any more: QEMU's next one is refused, not fed in. */
static void stop_listening(struct qm_tunnel *t)
{
	for (int i = 0; i < QM_LANES; i++) {
		struct qm_tunnel_lane *l = &t->lanes[i];

		ev_io_stop(t->job->loop, &l->accept_io);
		if (l->listen_fd >= 0) {
			close(l->listen_fd);
			unlink(l->listen_path);
			l->listen_fd = -1;
		}
	}
}

void qm_tunnel_hangup(struct qm_job *job)
{
	struct qm_tunnel *t = job->tunnel;

	if (!t)
		return;
	/* A multifd channel that connects after this must not block on a pump. */
	stop_listening(t);
	for (size_t i = 0; i < t->n_pumps; i++)
		if (t->pumps[i].pump)
			qm_pump_hangup(t->pumps[i].pump);
	qm_tunnel_remote_hangup(t);
}

static unsigned long long lane_bytes(const struct qm_job *job, enum qm_tunnel_lane_id lane)
{
	const struct qm_tunnel *t = job->tunnel;
	unsigned long long n;

	if (!t)
		return 0;
	n = t->lanes[lane].bytes_ended;
	for (size_t i = 0; i < t->n_pumps; i++) {
		struct qm_pump_stats st;

		if (!t->pumps[i].pump || t->pumps[i].lane != lane)
			continue;
		qm_pump_get_stats(t->pumps[i].pump, QM_PUMP_FORWARD, &st);
		n += st.bytes_written;
	}
	return n;
}

unsigned long long qm_tunnel_bytes(const struct qm_job *job)
{
	return lane_bytes(job, QM_LANE_MIGRATION);
}

unsigned long long qm_tunnel_nbd_bytes(const struct qm_job *job)
{
	return lane_bytes(job, QM_LANE_NBD);
}

void qm_tunnel_close(struct qm_job *job)
{
	struct qm_tunnel *t = job->tunnel;

	if (!t)
		return;
	if (t->lanes[QM_LANE_NBD].joined)
		qm_info(job->ctx, "tunnel: %zu NBD connection(s) carried %llu bytes to the destination",
			t->lanes[QM_LANE_NBD].joined, qm_tunnel_nbd_bytes(job));
	job->tunnel = NULL;
	stop_listening(t);
	for (size_t i = 0; i < t->n_pumps; i++)
		qm_pump_free(t->pumps[i].pump);
	/* After the pumps: their stdin is closed, and nothing is left to write into it. */
	qm_tunnel_remote_free(t);
	for (int side = 0; side < 2; side++)
		if (t->qemu_fd[side] >= 0)
			close(t->qemu_fd[side]);
	free(t);
}
