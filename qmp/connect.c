/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Connecting: a socket path (waited for when asked, retried while it refuses),
 * or an adopted fd; the handshake deadline.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

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

/* What a path that is not a socket is instead, for the error. */
static const struct {
	mode_t type;
	const char *name;
} file_types[] = {
	{ S_IFREG, "a regular file" },	  { S_IFDIR, "a directory" },
	{ S_IFIFO, "a FIFO" },		  { S_IFCHR, "a character device" },
	{ S_IFBLK, "a block device" },
};

static const char *file_type_name(mode_t mode)
{
	for (size_t i = 0; i < ARRAY_SIZE(file_types); i++)
		if ((mode & S_IFMT) == file_types[i].type)
			return file_types[i].name;
	return "not a socket";
}

/* The path is there: from now on the connect timeout runs, greeting included. */
static void path_found(struct qm_qmp *q)
{
	if (q->path_found)
		return;
	q->path_found = true;
	ev_timer_set(&q->handshake_timer, q->opts.connect_timeout, 0.);
	ev_timer_start(q->loop, &q->handshake_timer);
}

static void retry_later(struct qm_qmp *q)
{
	ev_timer_set(&q->connect_timer, CONNECT_RETRY, 0.);
	ev_timer_start(q->loop, &q->connect_timer);
}

static void fail_missing(struct qm_qmp *q)
{
	struct qm_error err = { 0 };

	if (q->opts.wait_for_path > 0)
		qm_error_set(&err, -ENOENT, "ConnectionFailed",
			     "QMP socket %s did not appear within %.1f s (is QEMU running with -qmp unix:PATH,server=on?)",
			     q->path, q->opts.wait_for_path);
	else
		qm_error_set(&err, -ENOENT, "ConnectionFailed",
			     "QMP socket %s does not exist (is QEMU running with -qmp unix:PATH,server=on?)",
			     q->path);
	qm_qmp_fail(q, &err);
}

/*
 * connect(2) refuses a path that is not a socket just as it refuses a socket
 * nobody accepts on yet; only the second may change by waiting.
 */
static bool fail_not_socket(struct qm_qmp *q)
{
	struct qm_error err = { 0 };
	struct stat st;

	if (stat(q->path, &st) < 0 || S_ISSOCK(st.st_mode))
		return false;
	qm_error_set(&err, -ENOTSOCK, "ConnectionFailed",
		     "QMP socket path %s is not a socket (it is %s)", q->path,
		     file_type_name(st.st_mode));
	qm_qmp_fail(q, &err);
	return true;
}

static void try_connect(struct qm_qmp *q)
{
	struct qm_error err = { 0 };
	int in_progress;
	int fd = qm_unix_connect(q->path, &in_progress);

	if (fd >= 0) {
		ev_timer_stop(q->loop, &q->connect_timer);
		path_found(q);
		qm_qmp_start_io(q, fd, in_progress);
		return;
	}
	q->connect_errno = -fd;
	if (fd == -ENOENT) {
		if (ev_now(q->loop) < q->path_deadline)
			retry_later(q);
		else
			fail_missing(q);
		return;
	}
	if (fd == -ECONNREFUSED) {
		if (fail_not_socket(q))
			return;
		/* Until the handshake timer says how long it waited. */
		path_found(q);
		retry_later(q);
		return;
	}
	qm_error_set(&err, fd, "ConnectionFailed", "cannot connect to QMP socket %s: %s", q->path,
		     strerror(-fd));
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
	 * QEMU, say): from a stale ev_now the deadlines would be past already.
	 */
	ev_now_update(q->loop);
	q->state = QMP_CONNECTING;
	q->path_deadline = ev_now(q->loop) + q->opts.wait_for_path;
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
	/*
	 * The first try too runs from the loop: a path that fails at once then
	 * fails the commands queued after this call with its reason, as a
	 * socket that fails later does.
	 */
	ev_timer_set(&q->connect_timer, 0., 0.);
	ev_timer_start(q->loop, &q->connect_timer);
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
	path_found(q);
	qm_qmp_start_io(q, fd, false);
	return 0;
}

void qm_qmp_init_connect(struct qm_qmp *q)
{
	ev_timer_init(&q->connect_timer, connect_timer_cb, CONNECT_RETRY, 0.);
	ev_timer_init(&q->handshake_timer, handshake_timer_cb, 1., 0.);
	q->connect_timer.data = q->handshake_timer.data = q;
}
