/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Serves a replay script (replay-script.c) as the two QEMUs it recorded:
 * one UNIX socket a side in a private 0700 directory, one client at a time
 * on each.  Replies come by command name and order; the events recorded after
 * a command follow its first answer, on whichever side they were recorded.
 */
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/replay.h"
#include "qmp/frame.h"
#include "util/error.h"
#include "util/io.h"
#include "util/log.h"

/* A command the job sends is small; a QEMU's own limit is far above this. */
#define MAX_COMMAND ((size_t)1 << 20)
#define MAX_FDS 8
/* Divergences named in qm_replay_divergence(); the rest are only counted. */
#define MAX_NAMED 32

struct conn {
	struct qm_replay *r;
	int side;
	int fd;
	ev_io rio, wio;
	struct qm_frame frame;
	char *out;
	size_t out_len, out_off;
	bool closing; /* hang up once everything queued is written */
	bool shut;    /* ...done: waiting for the client to close its end */
	/*
	 * While set, what is queued waits: the other side's hang-up came first in
	 * the transcript, and the job must see it first.  That side releases it
	 * when its client has closed (the job has taken the hang-up in).
	 */
	bool holding;
	char *held;
	size_t held_len;
	struct conn *release; /* the conn this one's end releases, or NULL */
};

struct listener {
	struct qm_replay *r;
	int side;
	int fd;
	ev_io io;
	char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct conn *conn;
	bool served; /* the greeting's events went out to a first client */
};

struct qm_replay {
	struct qm_ctx *ctx;
	struct ev_loop *loop;
	const struct qm_replay_script *script;
	char dir[sizeof(((struct sockaddr_un *)0)->sun_path)];
	struct listener l[QM_REPLAY_SIDES];
	json_t *asked[QM_REPLAY_SIDES]; /* name -> how many times */
	size_t answered[QM_REPLAY_SIDES]; /* recorded commands answered */
	char *divergence;
	size_t n_divergence, divergence_len;
	size_t fds;
};

/* ---- connections ------------------------------------------------------------- */

static bool append(char **buf, size_t *len, const char *data, size_t n)
{
	char *b = realloc(*buf, *len + n);

	if (!b)
		return false;
	memcpy(b + *len, data, n);
	*buf = b;
	*len += n;
	return true;
}

static void release(struct conn *c)
{
	c->holding = false;
	if (c->held_len && !append(&c->out, &c->out_len, c->held, c->held_len))
		qm_warn(c->r->ctx, "replay: out of memory; messages to the %s are lost",
			qm_replay_side_names[c->side]);
	free(c->held);
	c->held = NULL;
	c->held_len = 0;
	if (c->out_len)
		ev_io_start(c->r->loop, &c->wio);
}

static void conn_free(struct conn *c)
{
	struct qm_replay *r;

	if (!c)
		return;
	r = c->r;
	ev_io_stop(r->loop, &c->rio);
	ev_io_stop(r->loop, &c->wio);
	close(c->fd);
	qm_frame_release(&c->frame);
	free(c->out);
	free(c->held);
	r->l[c->side].conn = NULL;
	for (int i = 0; i < QM_REPLAY_SIDES; i++)
		if (r->l[i].conn && r->l[i].conn->release == c)
			r->l[i].conn->release = NULL;
	if (c->release)
		release(c->release);
	free(c);
}

static void flush(struct conn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off,
				 MSG_NOSIGNAL | MSG_DONTWAIT);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && errno == EAGAIN) {
			ev_io_start(c->r->loop, &c->wio);
			return;
		}
		if (n < 0) {
			/* The job went away; what it did not read no longer matters. */
			conn_free(c);
			return;
		}
		c->out_off += (size_t)n;
	}
	ev_io_stop(c->r->loop, &c->wio);
	c->out_off = c->out_len = 0;
	/* Hung up as QEMU did; the client's close (EOF on reading) ends it. */
	if (c->closing && !c->shut && !c->holding) {
		c->shut = true;
		shutdown(c->fd, SHUT_WR);
	}
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	flush(w->data);
}

/* Queues @msg, as QEMU lays it out (CRLF after each message). */
static void queue(struct conn *c, json_t *msg)
{
	_cleanup_free_ char *text = json_dumps(msg, 0);
	bool ok = text &&
		  (c->holding ? append(&c->held, &c->held_len, text, strlen(text)) &&
					append(&c->held, &c->held_len, "\r\n", 2)
			      : append(&c->out, &c->out_len, text, strlen(text)) &&
					append(&c->out, &c->out_len, "\r\n", 2));

	if (!ok)
		qm_warn(c->r->ctx, "replay: out of memory; a message to the %s is lost",
			qm_replay_side_names[c->side]);
}

/*
 * Events go to the side they were recorded on, if a client is there.  When
 * @holder answers the command they came before the reply of, and one is
 * another side's hang-up, what @holder sends next waits for the job to see it.
 */
static void queue_events(struct qm_replay *r, json_t *events, struct conn *holder)
{
	size_t i;
	json_t *e;

	json_array_foreach(events, i, e) {
		struct conn *c = r->l[json_integer_value(json_array_get(e, 0))].conn;
		json_t *msg = json_array_get(e, 1);

		if (!c || c->closing)
			continue;
		if (!json_object_get(msg, "closed")) {
			queue(c, msg);
			continue;
		}
		/* QEMU hung up here: after what is queued, and nothing more. */
		c->closing = true;
		if (holder && holder != c && !holder->holding) {
			holder->holding = true;
			c->release = holder;
		}
	}
}

static void diverged(struct qm_replay *r, int side, const char *name)
{
	char line[160];
	char *d;
	int n;

	r->n_divergence++;
	if (r->n_divergence > MAX_NAMED)
		return;
	n = snprintf(line, sizeof(line), "%s %.128s\n", qm_replay_side_names[side], name);
	d = realloc(r->divergence, r->divergence_len + (size_t)n + 1);
	if (!d)
		return;
	memcpy(d + r->divergence_len, line, (size_t)n + 1);
	r->divergence = d;
	r->divergence_len += (size_t)n;
	qm_warn(r->ctx,
		"replay: the transcript has no reply to '%.128s' from the %s QEMU", name,
		qm_replay_side_names[side]);
}

static json_t *not_found(int side, const char *name)
{
	return json_pack("{s:{s:s, s:s+++}}", "error", "class", "CommandNotFound", "desc",
			 "The command ", name, " was never sent to the recorded ",
			 qm_replay_side_names[side]);
}

/*
 * The recorded command that answers @name, or NULL when the transcript has
 * none (a divergence); *@first: it was not answered before.
 */
static const struct qm_replay_cmd *recorded(struct conn *c, const char *name, bool *first)
{
	struct qm_replay *r = c->r;
	const struct qm_replay_side *sd = &r->script->side[c->side];
	json_t *list = json_object_get(sd->by_name, name);
	size_t asked, n = json_array_size(list);

	if (!n) {
		diverged(r, c->side, name);
		return NULL;
	}
	asked = (size_t)json_integer_value(json_object_get(r->asked[c->side], name));
	json_object_set_new(r->asked[c->side], name, json_integer((json_int_t)asked + 1));
	*first = asked < n;
	/* Polls that come more often than they were recorded get the last reply again. */
	return &sd->cmds[json_integer_value(
		json_array_get(list, asked < n ? asked : n - 1))];
}

static void reply(struct conn *c, json_t *id, json_t *msg)
{
	if (!msg)
		return;
	if (id)
		json_object_set(msg, "id", id);
	queue(c, msg);
	json_decref(msg);
}

static void handle(struct conn *c, const char *text, size_t len)
{
	json_auto_t *msg = json_loadb(text, len, 0, NULL);
	json_t *id = json_object_get(msg, "id");
	const char *name = json_string_value(json_object_get(msg, "execute"));
	const struct qm_replay_side *sd = &c->r->script->side[c->side];
	const struct qm_replay_cmd *cmd;
	bool first = false;

	if (!name)
		name = json_string_value(json_object_get(msg, "exec-oob"));
	if (!name) {
		reply(c, id,
		      json_pack("{s:{s:s, s:s}}", "error", "class", "GenericError",
				"desc", "replay: not a QMP command"));
		return;
	}
	/*
	 * A command this QEMU was never sent, after all it was sent, when it
	 * exited by itself in the transcript: the job sent it before the hang-up
	 * reached it, where the recorded job had seen the hang-up first (such an
	 * exit races with the job's next command).  It hangs up now, as that
	 * QEMU would have.
	 */
	if (sd->hung_up && c->r->answered[c->side] == sd->n_cmds &&
	    !json_object_get(sd->by_name, name)) {
		qm_dbg(c->r->ctx, "replay: the %s QEMU hangs up at '%.128s', as it did",
		       qm_replay_side_names[c->side], name);
		c->closing = true;
		return;
	}
	cmd = recorded(c, name, &first);
	if (!cmd) {
		reply(c, id, not_found(c->side, name));
		return;
	}
	if (first) {
		c->r->answered[c->side]++;
		queue_events(c->r, cmd->pre, c);
	}
	/* No reply recorded: QEMU went away under it, and so does this one. */
	if (cmd->reply)
		reply(c, id, json_deep_copy(cmd->reply));
	if (first)
		queue_events(c->r, cmd->events, NULL);
	if (!cmd->reply || strcmp(name, "quit") == 0)
		c->closing = true;
}

/* Closes every fd that came with the message: the replay has no QEMU to give them to. */
static void close_fds(struct qm_replay *r, struct msghdr *mh)
{
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(mh); cm; cm = CMSG_NXTHDR(mh, cm)) {
		size_t n;

		if (cm->cmsg_level != SOL_SOCKET || cm->cmsg_type != SCM_RIGHTS)
			continue;
		n = (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int);
		for (size_t i = 0; i < n; i++) {
			int fd;

			memcpy(&fd, CMSG_DATA(cm) + i * sizeof(int), sizeof(int));
			close(fd);
			r->fds++;
		}
	}
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct conn *c = w->data;
	struct qm_replay *rp = c->r;
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
	} control;
	struct iovec iov;
	struct msghdr mh = { .msg_iov = &iov, .msg_iovlen = 1 };
	const char *text;
	size_t len;
	ssize_t n;
	int r;

	iov.iov_base = qm_frame_space(&c->frame, 4096);
	iov.iov_len = 4096;
	mh.msg_control = control.buf;
	mh.msg_controllen = sizeof(control.buf);
	if (!iov.iov_base) {
		conn_free(c);
		return;
	}
	n = recvmsg(c->fd, &mh, MSG_CMSG_CLOEXEC | MSG_DONTWAIT);
	if (n < 0 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0)
		close_fds(c->r, &mh);
	/* The client closed: the job has taken a hang-up in, or it is done. */
	if (n <= 0) {
		conn_free(c);
		return;
	}
	/* What comes after QEMU hung up reaches no QEMU. */
	if (c->closing)
		return;
	qm_frame_commit(&c->frame, (size_t)n);
	while (!c->closing && (r = qm_frame_next(&c->frame, &text, &len)) > 0)
		handle(c, text, len);
	if (!c->closing && r < 0) {
		qm_warn(c->r->ctx, "replay: the %s's client sent %s; hung up",
			qm_replay_side_names[c->side],
			r == -EMSGSIZE ? "too long a command"
				       : "something other than JSON");
		c->closing = true;
	}
	/* The events of a command may be the other side's; a flush may free c. */
	for (int i = 0; i < QM_REPLAY_SIDES; i++)
		if (rp->l[i].conn)
			flush(rp->l[i].conn);
}

static void on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
	struct listener *l = w->data;
	struct qm_replay *r = l->r;
	const struct qm_replay_side *sd = &r->script->side[l->side];
	int fd = accept4(l->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
	struct conn *c;

	if (fd < 0)
		return;
	/* One client at a time, as a QEMU's QMP socket serves one. */
	c = l->conn ? NULL : calloc(1, sizeof(*c));
	if (!c) {
		close(fd);
		return;
	}
	*c = (struct conn){ .r = r, .side = l->side, .fd = fd };
	qm_frame_init(&c->frame, MAX_COMMAND);
	ev_io_init(&c->rio, on_readable, fd, EV_READ);
	ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
	c->rio.data = c->wio.data = c;
	l->conn = c;
	ev_io_start(loop, &c->rio);
	queue(c, sd->greeting);
	if (!l->served)
		queue_events(r, sd->events, NULL);
	l->served = true;
	flush(c);
}

/* ---- the server -------------------------------------------------------------- */

static int listen_side(struct qm_replay *r, int side, struct qm_error *err)
{
	struct listener *l = &r->l[side];
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int n = snprintf(l->path, sizeof(l->path), "%s/%s.sock", r->dir,
			 qm_replay_side_names[side]);

	l->r = r;
	l->side = side;
	if (n < 0 || (size_t)n >= sizeof(sa.sun_path)) {
		l->path[0] = '\0';
		return qm_error_set(
			err, -ENAMETOOLONG, "Usage",
			"%s is too long a path for a UNIX socket: use a shorter "
			"--runtime-dir",
			r->dir);
	}
	memcpy(sa.sun_path, l->path, (size_t)n + 1);
	l->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (l->fd < 0 || bind(l->fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    chmod(l->path, 0600) < 0 || listen(l->fd, 4) < 0)
		return qm_error_set(err, -errno, "GenericError",
				    "replay: cannot listen on %s: %s", l->path,
				    strerror(errno));
	ev_io_init(&l->io, on_accept, l->fd, EV_READ);
	l->io.data = l;
	ev_io_start(r->loop, &l->io);
	return 0;
}

int qm_replay_new(struct qm_ctx *ctx, struct ev_loop *loop,
		  const struct qm_replay_script *script, const char *runtime_dir,
		  struct qm_replay **out, struct qm_error *err)
{
	struct qm_replay *r;
	int ret;

	*out = NULL;
	for (int i = 0; i < QM_REPLAY_SIDES; i++)
		if (!script->side[i].greeting)
			return qm_error_set(
				err, -EINVAL, "Usage",
				"the transcript has nothing of the %s QEMU (a "
				"migration with --dest records the source only)",
				qm_replay_side_names[i]);
	r = calloc(1, sizeof(*r));
	if (!r)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	r->ctx = ctx;
	r->loop = loop;
	r->script = script;
	for (int i = 0; i < QM_REPLAY_SIDES; i++) {
		r->l[i].fd = -1;
		r->asked[i] = json_object();
		if (!r->asked[i]) {
			qm_replay_free(r);
			return qm_error_set(err, -ENOMEM, "GenericError",
					    "out of memory");
		}
	}
	ret = qm_private_dir_new(r->dir, sizeof(r->dir), runtime_dir, "qmigrate-replay",
				 err);
	for (int i = 0; i < QM_REPLAY_SIDES && ret == 0; i++)
		ret = listen_side(r, i, err);
	if (ret < 0) {
		qm_replay_free(r);
		return ret;
	}
	*out = r;
	return 0;
}

const char *qm_replay_socket(const struct qm_replay *r, int side)
{
	return r->l[side].path;
}

const char *qm_replay_divergence(const struct qm_replay *r, size_t *count)
{
	*count = r->n_divergence;
	return r->divergence ? r->divergence : "";
}

size_t qm_replay_fds_received(const struct qm_replay *r)
{
	return r->fds;
}

void qm_replay_free(struct qm_replay *r)
{
	if (!r)
		return;
	for (int i = 0; i < QM_REPLAY_SIDES; i++) {
		struct listener *l = &r->l[i];

		conn_free(l->conn);
		if (l->fd >= 0) {
			ev_io_stop(r->loop, &l->io);
			close(l->fd);
		}
		if (l->path[0])
			unlink(l->path);
		json_decref(r->asked[i]);
	}
	if (r->dir[0] && rmdir(r->dir) < 0)
		qm_warn(r->ctx, "cannot remove %s: %s", r->dir, strerror(errno));
	free(r->divergence);
	free(r);
}
