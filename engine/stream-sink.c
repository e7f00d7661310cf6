/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination's end of a stream between hosts: stdin to the destination
 * QEMU's incoming socket, and its return path back to stdout, with the pump.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/stream.h"
#include "tunnel/pump.h"
#include "util/error.h"
#include "util/log.h"

#define SUN_PATH_SIZE sizeof(((struct sockaddr_un *)0)->sun_path)

struct sink {
	bool done;
	struct qm_pump_result r;
};

static void sink_done(struct qm_pump *pump, const struct qm_pump_result *r, void *ud)
{
	struct sink *s = ud;

	s->r = *r;
	s->done = true;
}

static int check_path(const char *path, struct qm_error *err)
{
	if (!path || path[0] != '/')
		return qm_error_set(err, -EINVAL, "Usage",
				    "the stream's socket path must be absolute: \"%s\"",
				    path ? path : "");
	if (strlen(path) >= SUN_PATH_SIZE)
		return qm_error_set(
			err, -ENAMETOOLONG, "Usage",
			"the stream's socket path is longer than %zu bytes: %s",
			SUN_PATH_SIZE - 1, path);
	return 0;
}

/*
 * Blocking, so that a full backlog (every multifd channel connecting at
 * once) waits for room rather than failing; SO_SNDTIMEO bounds that wait.
 */
static int connect_to(const char *path, struct qm_error *err)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	struct timeval tv = { .tv_sec = QM_STREAM_CONNECT_TIMEOUT };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), r, e;

	if (fd < 0)
		return qm_error_set(err, -errno, "TunnelFailed", "stream: socket: %s",
				    strerror(errno));
	strcpy(addr.sun_path, path);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	/* A UNIX socket's interrupted connect starts over: retrying is safe. */
	do
		r = connect(fd, (struct sockaddr *)&addr, sizeof(addr));
	while (r < 0 && errno == EINTR);
	if (r == 0)
		return fd;
	e = errno == EAGAIN ? ETIMEDOUT : errno;
	close(fd);
	return qm_error_set(err, -e, "TunnelFailed",
			    "cannot connect to the destination's migration socket %s: %s",
			    path, strerror(e));
}

static int relay(struct qm_ctx *ctx, struct ev_loop *loop, const char *path,
		 const struct qm_pump_options *o, struct qm_error *err)
{
	struct sink s = { 0 };
	struct qm_pump *p = qm_pump_new(loop, o, sink_done, &s, err);

	if (!p)
		return err->code;
	if (qm_pump_start(p, err) < 0) {
		qm_pump_free(p);
		return err->code;
	}
	qm_dbg(ctx, "stream: relaying to and from %s", path);
	while (!s.done)
		ev_run(loop, EVRUN_ONCE);
	qm_pump_free(p);
	qm_dbg(ctx, "stream: %s after %llu bytes in, %llu bytes back",
	       qm_pump_end_name(s.r.end),
	       (unsigned long long)s.r.stats[QM_PUMP_FORWARD].bytes_written,
	       (unsigned long long)s.r.stats[QM_PUMP_RETURN].bytes_written);
	if (s.r.end == QM_PUMP_FINISHED)
		return 0;
	return qm_error_set(err, s.r.error.code < 0 ? s.r.error.code : -EIO,
			    "TunnelFailed", "stream to %s: %s", path,
			    s.r.end == QM_PUMP_FAILED ? s.r.error.text : "aborted");
}

void qm_stream_marker(const char *path, unsigned index, char *out, size_t size)
{
	snprintf(out, size, "%s.%u.on", path, index);
}

void qm_stream_markers_remove(const char *path)
{
	char marker[PATH_MAX];

	for (unsigned i = 0; i < QM_STREAM_MAX; i++) {
		qm_stream_marker(path, i, marker, sizeof(marker));
		if (unlink(marker) < 0 && errno == ENOENT)
			break;
	}
}

/*
 * QEMU 7.2's incoming side tells the main stream from the multifd channels
 * by the order they connect in, and the source QEMU connects in that order.
 * The stream processes start together, so each waits until the one before
 * it connected (its marker exists), bounded, then connects and says so.
 */
static int wait_turn(const char *path, unsigned index, struct qm_error *err)
{
	char before[SUN_PATH_SIZE + 32];
	double deadline = qm_monotonic() + QM_STREAM_CONNECT_TIMEOUT;

	if (index == 0)
		return 0;
	qm_stream_marker(path, index - 1, before, sizeof(before));
	while (access(before, F_OK) != 0) {
		if (qm_monotonic() > deadline)
			return qm_error_set(err, -ETIMEDOUT, "TunnelFailed",
					    "stream %u: stream %u did not connect to %s within %d s",
					    index, index - 1, path, QM_STREAM_CONNECT_TIMEOUT);
		usleep(2000);
	}
	return 0;
}

static void took_turn(const char *path, unsigned index)
{
	char mine[SUN_PATH_SIZE + 32];
	int fd;

	qm_stream_marker(path, index, mine, sizeof(mine));
	fd = open(mine, O_WRONLY | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd >= 0)
		close(fd);
}

int qm_stream_sink(struct qm_ctx *ctx, const char *path, unsigned index, int in_fd, int out_fd,
		   struct qm_error *err)
{
	struct qm_pump_options o = { .bidirectional = true, .mode = QM_PUMP_AUTO };
	struct ev_loop *loop;
	int sock, r;

	r = check_path(path, err);
	if (r == 0)
		r = wait_turn(path, index, err);
	sock = r < 0 ? r : connect_to(path, err);
	if (sock >= 0)
		took_turn(path, index);
	loop = sock < 0 ? NULL : ev_loop_new(EVFLAG_AUTO);
	if (!loop) {
		close(in_fd);
		if (out_fd != in_fd)
			close(out_fd);
		if (sock < 0)
			return sock;
		close(sock);
		return qm_error_set(err, -ENOMEM, "TunnelFailed",
				    "stream: cannot make a loop");
	}
	/* The pump passes each end on: stdin's EOF shuts the socket's writing half. */
	o.forward = (struct qm_pump_fds){ .in = in_fd, .out = sock };
	o.back = (struct qm_pump_fds){ .in = sock, .out = out_fd };
	r = relay(ctx, loop, path, &o, err);
	ev_loop_destroy(loop);
	return r;
}
