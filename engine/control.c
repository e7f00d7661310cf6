/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control server's transport: a listening UNIX socket, clients framed by
 * newlines, replies queued and flushed when the socket is writable.  Nothing
 * here blocks the loop; every fd is non-blocking.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/control.h"
#include "util/error.h"
#include "util/list.h"

/* Past this many unsent bytes a client is not read until it catches up. */
#define OUT_HIGH_WATER 65536
/* Seconds without accepting after running out of fds, rather than spin. */
#define ACCEPT_BACKOFF 0.5

struct client {
	struct qm_list node;
	struct qm_control *srv;
	ev_io rd, wr;
	char in[QM_CONTROL_MAX_LINE + 1]; /* a whole line and its newline */
	size_t in_len;
	char *out;
	size_t out_len, out_off;
	bool closing; /* flush what is queued, then hang up */
};

struct qm_control {
	struct ev_loop *loop;
	struct qm_control_ops ops;
	void *userdata;
	ev_io accept_io;
	ev_timer accept_again;
	struct qm_list clients;
	size_t n_clients;
	char *path;
	dev_t dev; /* the socket file we made, so that we only ever remove that one */
	ino_t ino;
};

static void client_free(struct client *c)
{
	ev_io_stop(c->srv->loop, &c->rd);
	ev_io_stop(c->srv->loop, &c->wr);
	close(c->rd.fd);
	qm_list_del(&c->node);
	c->srv->n_clients--;
	free(c->out);
	free(c);
}

/* Queues @line (taken); NULL means out of memory, and the client is dropped. */
static int client_queue(struct client *c, char *line)
{
	size_t n = line ? strlen(line) : 0;
	char *out;

	if (!line)
		return -ENOMEM;
	if (c->out_off > 0) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	out = realloc(c->out, c->out_len + n);
	if (!out) {
		free(line);
		return -ENOMEM;
	}
	memcpy(out + c->out_len, line, n);
	free(line);
	c->out = out;
	c->out_len += n;
	ev_io_start(c->srv->loop, &c->wr);
	if (c->out_len > OUT_HIGH_WATER)
		ev_io_stop(c->srv->loop, &c->rd);
	return 0;
}

static void client_write_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;
	ssize_t n;

	/* MSG_NOSIGNAL: a client that went away must not kill us with SIGPIPE. */
	n = send(w->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		client_free(c);
		return;
	}
	c->out_off += (size_t)n;
	if (c->out_off < c->out_len)
		return;
	c->out_off = c->out_len = 0;
	ev_io_stop(loop, w);
	if (c->closing)
		client_free(c);
	else
		ev_io_start(loop, &c->rd);
}

/* Hangs up once the queued replies are out. */
static void client_close(struct client *c)
{
	c->closing = true;
	ev_io_stop(c->srv->loop, &c->rd);
	if (c->out_len == c->out_off)
		client_free(c);
}

/* Answers every complete line in the buffer; keeps a partial one. */
static int client_dispatch(struct client *c)
{
	struct qm_control *srv = c->srv;
	char *start = c->in, *end = c->in + c->in_len, *nl;

	while ((nl = memchr(start, '\n', (size_t)(end - start)))) {
		size_t len = (size_t)(nl - start);

		if (len > 0 && start[len - 1] == '\r')
			len--;
		/* A blank line is no request: it gets no reply. */
		if (len > 0 && client_queue(c, qm_control_handle(&srv->ops, srv->userdata,
								 start, len)) < 0)
			return -ENOMEM;
		start = nl + 1;
	}
	c->in_len = (size_t)(end - start);
	memmove(c->in, start, c->in_len);
	if (c->in_len == sizeof(c->in)) {
		char msg[80];

		snprintf(msg, sizeof(msg), "request line longer than %d bytes; closing",
			 QM_CONTROL_MAX_LINE);
		client_queue(c, qm_control_error_reply(msg));
		return -EMSGSIZE;
	}
	return 0;
}

static void client_read_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct client *c = w->data;
	ssize_t n = read(w->fd, c->in + c->in_len, sizeof(c->in) - c->in_len);

	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n < 0) {
		client_free(c);
		return;
	}
	if (n == 0) {
		/* No more requests: a partial line is dropped, queued replies go out. */
		client_close(c);
		return;
	}
	c->in_len += (size_t)n;
	if (client_dispatch(c) < 0)
		client_close(c);
}

static void refuse_client(int fd)
{
	char *line = qm_control_error_reply("too many control clients; try again later");

	/* Best effort, never waiting: a fresh socket's buffer holds a short line. */
	if (line)
		send(fd, line, strlen(line), MSG_NOSIGNAL | MSG_DONTWAIT);
	free(line);
	close(fd);
}

static void accept_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct qm_control *srv = w->data;
	struct client *c;
	int fd;

	while ((fd = accept4(w->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
		if (srv->n_clients >= QM_CONTROL_MAX_CLIENTS) {
			refuse_client(fd);
			continue;
		}
		c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->srv = srv;
		ev_io_init(&c->rd, client_read_cb, fd, EV_READ);
		ev_io_init(&c->wr, client_write_cb, fd, EV_WRITE);
		c->rd.data = c->wr.data = c;
		qm_list_add_tail(&srv->clients, &c->node);
		srv->n_clients++;
		ev_io_start(loop, &c->rd);
	}
	/* The listener stays readable while a connection waits: pause, not spin. */
	if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
		ev_io_stop(loop, w);
		ev_timer_start(loop, &srv->accept_again);
	}
}

static void accept_again_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_control *srv = w->data;

	ev_io_start(loop, &srv->accept_io);
}

/* ---- the socket file ---------------------------------------------------------- */

/* Clears the way for bind: nothing there, or a stale socket that is removed. */
static int clear_path(const char *path, const struct sockaddr_un *sa,
		      struct qm_error *err)
{
	struct stat st;
	int fd, r;

	if (lstat(path, &st) < 0) {
		if (errno == ENOENT)
			return 0;
		return qm_error_set(err, -errno, "ControlSocket", "cannot check %s: %s",
				    path, strerror(errno));
	}
	if (!S_ISSOCK(st.st_mode))
		return qm_error_set(err, -EEXIST, "ControlSocket",
				    "%s exists and is not a socket; not replacing it",
				    path);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return qm_error_set(err, -errno, "ControlSocket", "socket: %s",
				    strerror(errno));
	/* A socket that still accepts belongs to a live server (another job). */
	r = connect(fd, (const struct sockaddr *)sa, sizeof(*sa));
	close(fd);
	if (r == 0)
		return qm_error_set(err, -EADDRINUSE, "ControlSocket",
				    "%s is in use by another process", path);
	if (unlink(path) < 0 && errno != ENOENT)
		return qm_error_set(err, -errno, "ControlSocket",
				    "cannot remove stale %s: %s", path, strerror(errno));
	return 0;
}

static int listen_at(struct qm_control *srv, struct qm_error *err)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct stat st;
	mode_t old_mask;
	int fd, r;

	if (strlen(srv->path) >= sizeof(sa.sun_path))
		return qm_error_set(err, -ENAMETOOLONG, "ControlSocket",
				    "%s: a socket path has at most %zu bytes", srv->path,
				    sizeof(sa.sun_path) - 1);
	memcpy(sa.sun_path, srv->path, strlen(srv->path));
	r = clear_path(srv->path, &sa, err);
	if (r < 0)
		return r;
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return qm_error_set(err, -errno, "ControlSocket", "socket: %s",
				    strerror(errno));
	/*
	 * Whoever can connect can cancel the migration: the file is born 0600.
	 * fchmod on a socket fd does not reach the file, hence the umask (the
	 * library is not thread-safe anyway).
	 */
	old_mask = umask(0177);
	r = bind(fd, (const struct sockaddr *)&sa, sizeof(sa));
	umask(old_mask);
	if (r < 0) {
		r = qm_error_set(err, -errno, "ControlSocket", "cannot bind %s: %s",
				 srv->path, strerror(errno));
		goto fail;
	}
	if (stat(srv->path, &st) < 0 || listen(fd, 8) < 0) {
		r = qm_error_set(err, -errno, "ControlSocket", "cannot listen on %s: %s",
				 srv->path, strerror(errno));
		unlink(srv->path);
		goto fail;
	}
	srv->dev = st.st_dev;
	srv->ino = st.st_ino;
	return fd;
fail:
	close(fd);
	return r;
}

struct qm_control *qm_control_new(struct ev_loop *loop, const char *path,
				  const struct qm_control_ops *ops, void *userdata,
				  struct qm_error *err)
{
	struct qm_control *srv;
	int fd;

	if (!path || !*path || !ops || !ops->query || !ops->cancel ||
	    !ops->force_complete || !ops->set_downtime || !ops->set_bandwidth) {
		qm_error_set(err, -EINVAL, "Usage",
			     "a control socket needs a path and every op");
		return NULL;
	}
	srv = calloc(1, sizeof(*srv));
	if (!srv || !(srv->path = strdup(path))) {
		free(srv);
		qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
		return NULL;
	}
	srv->loop = loop;
	srv->ops = *ops;
	srv->userdata = userdata;
	qm_list_init(&srv->clients);
	fd = listen_at(srv, err);
	if (fd < 0) {
		free(srv->path);
		free(srv);
		return NULL;
	}
	ev_io_init(&srv->accept_io, accept_cb, fd, EV_READ);
	srv->accept_io.data = srv;
	ev_io_start(loop, &srv->accept_io);
	ev_timer_init(&srv->accept_again, accept_again_cb, ACCEPT_BACKOFF, 0.);
	srv->accept_again.data = srv;
	return srv;
}

void qm_control_free(struct qm_control *srv)
{
	struct stat st;

	if (!srv)
		return;
	while (!qm_list_empty(&srv->clients))
		client_free(qm_container_of(srv->clients.next, struct client, node));
	ev_io_stop(srv->loop, &srv->accept_io);
	ev_timer_stop(srv->loop, &srv->accept_again);
	close(srv->accept_io.fd);
	/* Someone may have put another file there since: leave that one alone. */
	if (lstat(srv->path, &st) == 0 && st.st_dev == srv->dev && st.st_ino == srv->ino)
		unlink(srv->path);
	free(srv->path);
	free(srv);
}

const char *qm_control_path(const struct qm_control *srv)
{
	return srv->path;
}

size_t qm_control_clients(const struct qm_control *srv)
{
	return srv->n_clients;
}
