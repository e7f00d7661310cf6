/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Connecting: a socket path retried while QEMU starts, or an adopted fd; the handshake deadline. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/client-private.h"
#include "qmp/socket.h"
#include "util/error.h"

void qm_qmp_start_io(struct qm_qmp *q, int fd, bool in_progress)
{
	q->fd = fd;
	ev_io_set(&q->rio, fd, EV_READ);
	ev_io_set(&q->wio, fd, EV_WRITE);
	if (in_progress) {
		ev_io_start(q->loop, &q->wio);
		return;
	}
	q->state = QMP_GREETING;
	ev_io_start(q->loop, &q->rio);
}

static void try_connect(struct qm_qmp *q)
{
	int in_progress;
	int fd = qm_unix_connect(q->path, &in_progress);

	if (fd >= 0) {
		ev_timer_stop(q->loop, &q->connect_timer);
		qm_qmp_start_io(q, fd, in_progress);
		return;
	}
	q->connect_errno = -fd;
	if ((fd == -ENOENT || fd == -ECONNREFUSED) && ev_now(q->loop) < q->deadline) {
		ev_timer_set(&q->connect_timer, CONNECT_RETRY, 0.);
		ev_timer_start(q->loop, &q->connect_timer);
		return;
	}
	struct qm_error err = { 0 };
	qm_error_set(&err, fd, "ConnectionFailed",
		     "cannot connect to QMP socket %s: %s%s", q->path, strerror(-fd),
		     fd == -ENOENT || fd == -ECONNREFUSED ? " (is QEMU running with -qmp unix:PATH,server=on?)" : "");
	qm_qmp_fail(q, &err);
}

static void connect_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	try_connect(w->data);
}

static void handshake_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_qmp *q = w->data;
	struct qm_error err = { 0 };

	if (q->state == QMP_CONNECTING && q->connect_errno) {
		qm_error_set(&err, -q->connect_errno, "ConnectionFailed",
			     "cannot connect to QMP socket %s: %s (waited %.1f s; is QEMU running with -qmp unix:PATH,server=on?)",
			     q->path, strerror(q->connect_errno), q->opts.connect_timeout);
		qm_qmp_fail(q, &err);
		return;
	}
	qm_error_set(&err, -ETIMEDOUT, "ConnectionFailed",
		     "no QMP greeting from %s within %.1f s (is another client connected to this monitor?)",
		     q->path ? q->path : "the QMP socket", q->opts.connect_timeout);
	qm_qmp_fail(q, &err);
}

static int check_idle(const struct qm_qmp *q, struct qm_error *err)
{
	if (q->state != QMP_IDLE)
		return qm_error_set(err, -EALREADY, "Usage", "QMP connection already started");
	return 0;
}

static void begin(struct qm_qmp *q)
{
	/*
	 * A caller may come here long after the loop last ran (it started
	 * QEMU, say): from a stale ev_now the deadline would be past already.
	 */
	ev_now_update(q->loop);
	q->state = QMP_CONNECTING;
	q->deadline = ev_now(q->loop) + q->opts.connect_timeout;
	ev_timer_set(&q->handshake_timer, q->opts.connect_timeout, 0.);
	ev_timer_start(q->loop, &q->handshake_timer);
}

_public_ int qm_qmp_connect(struct qm_qmp *q, const char *path, struct qm_error *err)
{
	int r = check_idle(q, err);

	if (r < 0)
		return r;
	q->path = strdup(path);
	if (!q->path)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	begin(q);
	/* Try at once; retries and failures are reported from the loop. */
	try_connect(q);
	return 0;
}

_public_ int qm_qmp_adopt_fd(struct qm_qmp *q, int fd, struct qm_error *err)
{
	int flags, r = check_idle(q, err);

	if (r < 0)
		return r;
	flags = fcntl(fd, F_GETFL);
	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return qm_error_set(err, -errno, "GenericError", "cannot adopt fd %d: %s", fd,
				    strerror(errno));
	begin(q);
	qm_qmp_start_io(q, fd, false);
	return 0;
}

void qm_qmp_init_connect(struct qm_qmp *q)
{
	ev_timer_init(&q->connect_timer, connect_timer_cb, CONNECT_RETRY, 0.);
	ev_timer_init(&q->handshake_timer, handshake_timer_cb, 1., 0.);
	q->connect_timer.data = q->handshake_timer.data = q;
}
