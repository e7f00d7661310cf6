/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "engine/peer-chan.h"
#include "engine/peer-frame.h"
#include "util/error.h"
#include "util/list.h"

#define READ_CHUNK 65536
/* The end of the channel from the other side, read or written. */
#define CLOSED_BY_PEER "the peer closed the channel (did the agent exit? its stderr says why)"

struct outframe {
	struct qm_list link;
	char *data;
	size_t len, off;
};

struct qm_peer_chan {
	int refcount;
	struct ev_loop *loop;
	int rfd, wfd;
	bool wfd_pipe; /* send(2) said ENOTSOCK: write(2) from now on */
	char *label;
	struct qm_peer_chan_ops ops;
	void *userdata;
	ev_io rio, wio;
	ev_timer close_timer; /* delivers .closed from the loop, never inline */
	char *rbuf;	      /* bytes read and not yet framed */
	size_t rlen, rcap;
	struct qm_list sendq;
	size_t queued;
	bool closed, close_notified;
	struct qm_error close_err;
};

/*
 * A frame may carry a description with passwords (prepare's message): every
 * buffer that held frame bytes is wiped before it is freed or reused.
 */
static void free_frame(struct outframe *o)
{
	qm_list_del(&o->link);
	explicit_bzero(o->data, o->len);
	free(o->data);
	free(o);
}

static void drop_queue(struct qm_peer_chan *c)
{
	struct outframe *o, *n;

	qm_list_for_each_safe(o, n, &c->sendq, link)
		free_frame(o);
	c->queued = 0;
}

static void stop_io(struct qm_peer_chan *c)
{
	ev_io_stop(c->loop, &c->rio);
	ev_io_stop(c->loop, &c->wio);
	if (c->rfd >= 0)
		close(c->rfd);
	if (c->wfd >= 0 && c->wfd != c->rfd)
		close(c->wfd);
	c->rfd = c->wfd = -1;
	drop_queue(c);
	if (c->rbuf)
		explicit_bzero(c->rbuf, c->rcap);
	free(c->rbuf);
	c->rbuf = NULL;
	c->rlen = c->rcap = 0;
}

/* Ends the channel with @err (the first reason is kept); .closed comes from the loop. */
static void fail(struct qm_peer_chan *c, const struct qm_error *err)
{
	if (c->closed)
		return;
	c->closed = true;
	qm_error_set(&c->close_err, err->code, err->error_class, "%s: %s", c->label, err->text);
	stop_io(c);
	ev_timer_set(&c->close_timer, 0., 0.);
	ev_timer_start(c->loop, &c->close_timer);
}

static void fail_errno(struct qm_peer_chan *c, int code, const char *error_class,
		       const char *what)
{
	struct qm_error err = { 0 };

	qm_error_set(&err, code, error_class, "%s", what);
	fail(c, &err);
}

static void close_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_peer_chan *c = w->data;

	if (c->close_notified)
		return;
	c->close_notified = true;
	/* The callee may drop its reference: the error it was given must outlive that. */
	qm_peer_chan_ref(c);
	if (c->ops.closed)
		c->ops.closed(c, &c->close_err, c->userdata);
	qm_peer_chan_unref(c);
}

/* ---- writing ------------------------------------------------------------- */

/*
 * A pipe has no MSG_NOSIGNAL, and a library must not leave ignoring SIGPIPE
 * to the program that embeds it: SIGPIPE is blocked in this thread around
 * the write, and the one the write raised is taken back before unblocking.
 * One that was pending already is not ours, and stays.
 */
static ssize_t write_pipe(int fd, const char *buf, size_t len)
{
	static const struct timespec now = { 0 };
	sigset_t sigpipe, old, pending;
	bool was_pending;
	ssize_t n;
	int saved;

	sigemptyset(&sigpipe);
	sigaddset(&sigpipe, SIGPIPE);
	sigpending(&pending);
	was_pending = sigismember(&pending, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &sigpipe, &old);
	n = write(fd, buf, len);
	saved = errno;
	if (n < 0 && saved == EPIPE && !was_pending)
		while (sigtimedwait(&sigpipe, NULL, &now) < 0 && errno == EINTR)
			;
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	errno = saved;
	return n;
}

static ssize_t write_some(struct qm_peer_chan *c, const char *buf, size_t len)
{
	ssize_t n;

	if (!c->wfd_pipe) {
		/* MSG_NOSIGNAL: a peer that went away must not kill us with SIGPIPE. */
		n = send(c->wfd, buf, len, MSG_NOSIGNAL);
		if (n >= 0 || errno != ENOTSOCK)
			return n;
		c->wfd_pipe = true;
	}
	return write_pipe(c->wfd, buf, len);
}

static void flush(struct qm_peer_chan *c)
{
	while (!qm_list_empty(&c->sendq)) {
		struct outframe *o = qm_list_first(&c->sendq, struct outframe, link);
		ssize_t n = write_some(c, o->data + o->off, o->len - o->off);

		if (n < 0) {
			int e = errno;
			char what[128];

			if (e == EINTR)
				continue;
			if (e == EAGAIN || e == EWOULDBLOCK) {
				ev_io_start(c->loop, &c->wio);
				return;
			}
			/* Whether the reader's end or our write comes first is a race: one message. */
			if (e == EPIPE || e == ECONNRESET)
				snprintf(what, sizeof(what), "%s", CLOSED_BY_PEER);
			else
				snprintf(what, sizeof(what), "writing to the peer: %s", strerror(e));
			fail_errno(c, -e, "PeerClosed", what);
			return;
		}
		o->off += (size_t)n;
		c->queued -= (size_t)n;
		if (o->off < o->len)
			continue;
		free_frame(o);
	}
	ev_io_stop(c->loop, &c->wio);
}

static void wio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	flush(w->data);
}

int qm_peer_chan_send(struct qm_peer_chan *c, const struct qm_peer_msg *m, struct qm_error *err)
{
	struct outframe *o;
	char *frame;
	size_t len;
	int r;

	if (c->closed)
		return qm_error_set(err, -EPIPE, "PeerClosed", "%s: the channel is closed",
				    c->label);
	r = qm_peer_msg_encode(m, &frame, &len, err);
	if (r < 0)
		return r;
	o = calloc(1, sizeof(*o));
	if (!o) {
		free(frame);
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	}
	o->data = frame;
	o->len = len;
	qm_list_add_tail(&c->sendq, &o->link);
	c->queued += len;
	/* Not when a frame is ahead of it: its bytes go after that one's. */
	if (!ev_is_active(&c->wio))
		flush(c);
	return 0;
}

int qm_peer_chan_send_bounded(struct qm_peer_chan *c, const struct qm_peer_msg *m,
			      size_t max_queued, struct qm_error *err)
{
	if (!c->closed && c->queued > max_queued)
		return qm_error_set(err, -EAGAIN, "PeerBusy",
				    "%s: %zu bytes wait for the peer, over %zu", c->label,
				    c->queued, max_queued);
	return qm_peer_chan_send(c, m, err);
}

/* ---- reading ------------------------------------------------------------- */

/* Frames and delivers what the buffer holds; stops when a callback drops the channel. */
static void deliver(struct qm_peer_chan *c)
{
	struct qm_peer_frame f;
	struct qm_error err = { 0 };
	size_t off = 0;
	int r;

	while (!c->closed && c->refcount > 1) {
		struct qm_peer_msg m = { 0 };

		r = qm_peer_frame_parse(c->rbuf + off, c->rlen - off, &f, &err);
		if (r == 0)
			break;
		if (r > 0)
			r = qm_peer_msg_decode(f.body, f.body_len, &m, &err);
		if (r < 0) {
			fail(c, &err);
			return;
		}
		off += f.consumed;
		if (c->ops.message)
			c->ops.message(c, &m, c->userdata);
		qm_peer_msg_release(&m);
	}
	if (c->closed)
		return;
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	explicit_bzero(c->rbuf + c->rlen, off);
}

static void rio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct qm_peer_chan *c = w->data;
	char what[160];
	ssize_t n;

	if (c->rcap - c->rlen < READ_CHUNK) {
		/*
		 * Not realloc: the old buffer is wiped before it goes.  Zeroed, so
		 * that what lies past the bytes read is known to hold nothing.
		 */
		char *p = calloc(1, c->rlen + READ_CHUNK);

		if (!p) {
			fail_errno(c, -ENOMEM, "GenericError", "out of memory");
			return;
		}
		if (c->rbuf) {
			memcpy(p, c->rbuf, c->rlen);
			explicit_bzero(c->rbuf, c->rcap);
			free(c->rbuf);
		}
		c->rbuf = p;
		c->rcap = c->rlen + READ_CHUNK;
	}
	n = read(c->rfd, c->rbuf + c->rlen, READ_CHUNK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
			return;
		snprintf(what, sizeof(what), "reading from the peer: %s", strerror(errno));
		fail_errno(c, -errno, "PeerClosed", what);
		return;
	}
	if (n == 0) {
		if (c->rlen == 0) {
			fail_errno(c, -ECONNRESET, "PeerClosed", CLOSED_BY_PEER);
			return;
		}
		snprintf(what, sizeof(what),
			 "the peer closed the channel in the middle of a frame, after %zu "
			 "bytes of it",
			 c->rlen);
		fail_errno(c, -EPROTO, "PeerProtocol", what);
		return;
	}
	c->rlen += (size_t)n;
	qm_peer_chan_ref(c);
	deliver(c);
	qm_peer_chan_unref(c);
}

/* ---- lifetime ------------------------------------------------------------ */

static int set_nonblock(int fd)
{
	int flags = fcntl(fd, F_GETFL);

	if (flags < 0 || fcntl(fd, F_SETFL, flags | O_NONBLOCK) < 0)
		return -errno;
	return 0;
}

struct qm_peer_chan *qm_peer_chan_new(struct ev_loop *loop, int rfd, int wfd, const char *label,
				      const struct qm_peer_chan_ops *ops, void *userdata,
				      struct qm_error *err)
{
	struct qm_peer_chan *c = calloc(1, sizeof(*c));
	int r;

	if (c)
		c->label = strdup(label ? label : "peer");
	if (!c || !c->label) {
		qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
		goto fail;
	}
	r = set_nonblock(rfd);
	if (r == 0 && wfd != rfd)
		r = set_nonblock(wfd);
	if (r < 0) {
		qm_error_set(err, r, "PeerClosed", "%s: cannot use the channel's fds: %s",
			     c->label, strerror(-r));
		goto fail;
	}
	c->refcount = 1;
	c->loop = loop;
	c->rfd = rfd;
	c->wfd = wfd;
	c->ops = *ops;
	c->userdata = userdata;
	qm_list_init(&c->sendq);
	ev_io_init(&c->rio, rio_cb, rfd, EV_READ);
	ev_io_init(&c->wio, wio_cb, wfd, EV_WRITE);
	ev_timer_init(&c->close_timer, close_timer_cb, 0., 0.);
	c->rio.data = c->wio.data = c->close_timer.data = c;
	ev_io_start(loop, &c->rio);
	return c;

fail:
	close(rfd);
	if (wfd != rfd)
		close(wfd);
	if (c)
		free(c->label);
	free(c);
	return NULL;
}

struct qm_peer_chan *qm_peer_chan_ref(struct qm_peer_chan *c)
{
	if (c)
		c->refcount++;
	return c;
}

struct qm_peer_chan *qm_peer_chan_unref(struct qm_peer_chan *c)
{
	if (!c || --c->refcount > 0)
		return NULL;
	stop_io(c);
	ev_timer_stop(c->loop, &c->close_timer);
	free(c->label);
	free(c);
	return NULL;
}

const char *qm_peer_chan_read_buffer(const struct qm_peer_chan *c, size_t *cap)
{
	*cap = c->rcap;
	return c->rbuf;
}

size_t qm_peer_chan_queued(const struct qm_peer_chan *c)
{
	return c->queued;
}

bool qm_peer_chan_is_closed(const struct qm_peer_chan *c)
{
	return c->closed;
}
