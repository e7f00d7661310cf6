/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/helpers/fake-qmp.h"
#include "tests/helpers/sockfd.h"
#include "util/net.h"

#define MAX_FDS 8

struct chunk {
	char *data;
	size_t len, off;
	bool slow;
	bool hangup;
};

struct fq {
	struct ev_loop *loop;
	const struct fq_step *script;
	const struct fq_step *step; /* the next step to run */
	int fd, client_fd, listen_fd;
	char *path;
	ev_io rio, wio, lio;
	bool resumed, peer_closed;
	char *in; /* received bytes not yet split into lines */
	size_t in_len;
	struct chunk *out; /* output queue; out[0] is written first */
	size_t out_n;
	int fds[MAX_FDS]; /* received, not yet claimed by an EXPECT step */
	int nfds;
	int kept_fd; /* the fd a step said to keep, or -1 */
	json_t *slots[FQ_SLOTS];
	json_t *ids; /* every command id seen, to check they are unique */
};

static const char *const op_names[] = {
	[FQ_OP_END] = "END",	 [FQ_OP_SEND] = "SEND",	    [FQ_OP_EXPECT] = "EXPECT",
	[FQ_OP_REPLY] = "REPLY", [FQ_OP_HANGUP] = "HANGUP", [FQ_OP_WAIT] = "WAIT",
};

static const char *describe(const struct fq_step *s)
{
	const char *what = s->name ? s->name : s->file;
	static char buf[128];

	snprintf(buf, sizeof(buf), "%s %s", op_names[s->op], what ? what : "");
	return buf;
}

char *fq_load(const char *name)
{
	const char *top = getenv("top_srcdir");
	char path[4096];
	char *text = NULL;
	size_t len = 0;
	FILE *f;

	snprintf(path, sizeof(path), "%s/tests/data/qmp/%s", top ? top : ABS_TOP_SRCDIR,
		 name);
	f = fopen(path, "re");
	cr_assert(f, "cannot open %s: %s", path, strerror(errno));
	cr_assert(getdelim(&text, &len, '\0', f) > 0, "cannot read %s", path);
	fclose(f);
	return text;
}

/* ---- output ------------------------------------------------------------- */

static void start_writing(struct fq *f)
{
	if (f->fd >= 0 && f->out_n > 0)
		ev_io_start(f->loop, &f->wio);
}

static void queue(struct fq *f, char *data, bool slow, bool hangup)
{
	struct chunk *last = f->out_n ? &f->out[f->out_n - 1] : NULL;
	size_t len = data ? strlen(data) : 0;

	cr_assert(!last || !last->hangup, "fake QMP: script writes after HANGUP");
	if (last && !hangup && last->slow == slow) {
		last->data = realloc(last->data, last->len + len + 1);
		cr_assert(last->data);
		memcpy(last->data + last->len, data, len + 1);
		last->len += len;
		free(data);
		return;
	}
	f->out = realloc(f->out, (f->out_n + 1) * sizeof(*f->out));
	cr_assert(f->out);
	f->out[f->out_n++] = (struct chunk){
		.data = data, .len = len, .slow = slow, .hangup = hangup
	};
}

static void drop_output(struct fq *f)
{
	for (size_t i = 0; i < f->out_n; i++)
		free(f->out[i].data);
	f->out_n = 0;
}

static void disconnect(struct fq *f)
{
	ev_io_stop(f->loop, &f->rio);
	ev_io_stop(f->loop, &f->wio);
	if (f->fd >= 0)
		close(f->fd);
	f->fd = -1;
	drop_output(f);
}

static void on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fq *f = w->data;
	struct chunk *c = &f->out[0];
	ssize_t n;

	if (c->hangup) {
		disconnect(f);
		return;
	}
	n = send(f->fd, c->data + c->off, c->slow ? 1 : c->len - c->off, MSG_NOSIGNAL);
	if (n < 0 && (errno == EPIPE || errno == ECONNRESET)) {
		f->peer_closed = true;
		disconnect(f);
		return;
	}
	if (n < 0) {
		cr_assert(errno == EAGAIN, "fake QMP: send: %s", strerror(errno));
		return;
	}
	c->off += (size_t)n;
	if (c->off < c->len)
		return;
	free(c->data);
	memmove(f->out, f->out + 1, --f->out_n * sizeof(*f->out));
	if (f->out_n == 0)
		ev_io_stop(loop, w);
}

static char *step_text(const struct fq_step *s)
{
	char *text = s->text ? strdup(s->text) : fq_load(s->file);

	cr_assert(text);
	return text;
}

static char *reply_text(struct fq *f, const struct fq_step *s)
{
	char *text = step_text(s), *out;
	json_t *msg = json_loads(text, 0, NULL);
	json_t *id = f->slots[s->slot];
	size_t len;

	cr_assert(json_is_object(msg), "fake QMP: REPLY text is not a JSON object: %s",
		  text);
	cr_assert(id, "fake QMP: REPLY to slot %d, where no command was kept", s->slot);
	json_object_set(msg, "id", id);
	/* QEMU's own layout: ", " and ": " separators, CRLF after each message. */
	out = json_dumps(msg, 0);
	len = strlen(out);
	out = realloc(out, len + 3);
	memcpy(out + len, "\r\n", 3);
	json_decref(msg);
	free(text);
	return out;
}

static void advance(struct fq *f)
{
	for (;; f->step++) {
		const struct fq_step *s = f->step;

		switch (s->op) {
		case FQ_OP_SEND:
			queue(f, step_text(s), s->slow, false);
			break;
		case FQ_OP_REPLY:
			queue(f, reply_text(f, s), s->slow, false);
			break;
		case FQ_OP_HANGUP:
			queue(f, NULL, false, true);
			break;
		case FQ_OP_WAIT:
			if (!f->resumed)
				goto stop;
			f->resumed = false;
			break;
		case FQ_OP_EXPECT:
		case FQ_OP_END:
			goto stop;
		}
	}
stop:
	start_writing(f);
}

/* ---- input --------------------------------------------------------------- */

static void check_sndbuf(int fd, const struct fq_step *s)
{
	int got = 0, want = ts_sndbuf_granted(s->fd_sndbuf);
	socklen_t len = sizeof(got);

	cr_assert_gt(want, 0, "fake QMP: SO_SNDBUF: %s", strerror(-want));
	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len), 0,
		     "fake QMP: the fd sent with %s is not a socket", s->name);
	cr_assert_eq(got, want,
		     "fake QMP: the socket sent with %s has a send buffer of %d, not %d",
		     s->name, got, want);
}

static void check_fd(struct fq *f, const struct fq_step *s)
{
	struct stat st;
	int fd;

	cr_assert(f->nfds > 0, "fake QMP: %s came without an fd", s->name);
	fd = f->fds[0];
	memmove(f->fds, f->fds + 1, --f->nfds * sizeof(int));
	cr_assert(fstat(fd, &st) == 0, "fake QMP: fstat: %s", strerror(errno));
	if (s->fd_sndbuf)
		check_sndbuf(fd, s);
	if (s->fd_keep) {
		cr_assert_eq(f->kept_fd, -1, "fake QMP: a script keeps one fd at most");
		f->kept_fd = fd;
	} else {
		close(fd);
	}
	if (s->fd_type)
		cr_assert_eq(st.st_mode & S_IFMT, s->fd_type,
			     "fake QMP: the fd sent with %s has type 0%o, not 0%o",
			     s->name, st.st_mode & S_IFMT, s->fd_type);
	if (s->fd_same)
		cr_assert(st.st_dev == s->fd_same->st_dev &&
				  st.st_ino == s->fd_same->st_ino,
			  "fake QMP: the fd sent with %s is not the expected file",
			  s->name);
}

/*
 * The other end of the kept pipe is let go of: no descriptor of this process
 * (the engine's included) names it any more, and so its writer gets EPIPE
 * (POLLERR), its reader EOF (POLLHUP).  That last part waits, bounded: a
 * thread that was polling the pipe holds the file until it wakes.
 */
static void check_orphaned(struct fq *f, const struct fq_step *s)
{
	struct pollfd pfd = { .fd = f->kept_fd };
	char name[64];
	struct stat st;
	int fds[8];

	cr_assert_geq(f->kept_fd, 0, "fake QMP: %s: no fd was kept", s->name);
	cr_assert_eq(fstat(f->kept_fd, &st), 0);
	/* Both ends of a pipe share its inode: the kept end is the only holder left. */
	snprintf(name, sizeof(name), "pipe:[%llu]", (unsigned long long)st.st_ino);
	cr_assert_eq(ts_fds_naming(getpid(), name, fds, 8), 1,
		     "fake QMP: when %s came, the kept pipe's other end was still held", s->name);
	cr_assert_eq(poll(&pfd, 1, 10000), 1,
		     "fake QMP: 10 s after %s, the kept pipe's other end is still open", s->name);
	cr_assert(pfd.revents & (POLLERR | POLLHUP), "fake QMP: %s: revents %#x", s->name,
		  pfd.revents);
}

static void check_args(const struct fq_step *s, json_t *cmd)
{
	json_t *want = json_loads(s->args, 0, NULL);
	json_t *got = json_object_get(cmd, "arguments");
	char *text = json_dumps(cmd, JSON_COMPACT);

	cr_assert(want, "fake QMP: bad .args in the script: %s", s->args);
	cr_assert(json_equal(want, got), "fake QMP: %s wanted arguments %s, got %s",
		  s->name, s->args, text);
	free(text);
	json_decref(want);
}

static void handle_command(struct fq *f, const char *line, size_t len)
{
	const struct fq_step *s = f->step;
	json_t *cmd = json_loadb(line, len, 0, NULL);
	const char *name = json_string_value(json_object_get(cmd, "execute"));
	json_t *id = json_object_get(cmd, "id"), *seen;
	size_t i;

	cr_assert(name, "fake QMP: not a command: %.*s", (int)len, line);
	cr_assert(id, "fake QMP: command %s has no id", name);
	json_array_foreach(f->ids, i, seen)
		cr_assert(!json_equal(seen, id), "fake QMP: %s reuses an id: %.*s", name,
			  (int)len, line);
	json_array_append(f->ids, id);
	cr_assert(s->op == FQ_OP_EXPECT && strcmp(s->name, name) == 0,
		  "fake QMP: unexpected command %s at step %td (%s)", name, s - f->script,
		  describe(s));
	if (s->args)
		check_args(s, cmd);
	if (s->fd)
		check_fd(f, s);
	if (s->kept_fd_orphaned)
		check_orphaned(f, s);
	json_decref(f->slots[s->slot]);
	f->slots[s->slot] = json_incref(id);
	json_decref(cmd);
	f->step++;
	advance(f);
}

static void keep_fds(struct fq *f, struct msghdr *m)
{
	struct cmsghdr *c;

	cr_assert(!(m->msg_flags & MSG_CTRUNC), "fake QMP: too many fds at once");
	for (c = CMSG_FIRSTHDR(m); c; c = CMSG_NXTHDR(m, c)) {
		size_t n = (c->cmsg_len - CMSG_LEN(0)) / sizeof(int);

		if (c->cmsg_level != SOL_SOCKET || c->cmsg_type != SCM_RIGHTS)
			continue;
		cr_assert(f->nfds + n <= MAX_FDS, "fake QMP: too many fds pending");
		memcpy(f->fds + f->nfds, CMSG_DATA(c), n * sizeof(int));
		f->nfds += (int)n;
	}
}

static void on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fq *f = w->data;
	union {
		char buf[CMSG_SPACE(MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} control;
	char buf[4096], *nl;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr m = { .msg_iov = &iov,
			    .msg_iovlen = 1,
			    .msg_control = control.buf,
			    .msg_controllen = sizeof(control.buf) };
	ssize_t n = recvmsg(f->fd, &m, MSG_CMSG_CLOEXEC);

	if (n < 0 && errno == EAGAIN)
		return;
	cr_assert(n >= 0 || errno == ECONNRESET, "fake QMP: recvmsg: %s",
		  strerror(errno));
	if (n <= 0) {
		f->peer_closed = true;
		disconnect(f);
		return;
	}
	keep_fds(f, &m);
	f->in = realloc(f->in, f->in_len + (size_t)n);
	cr_assert(f->in);
	memcpy(f->in + f->in_len, buf, (size_t)n);
	f->in_len += (size_t)n;
	/* The client ends every command with a newline; compact JSON has none inside. */
	while (f->fd >= 0 && (nl = memchr(f->in, '\n', f->in_len))) {
		size_t len = (size_t)(nl - f->in) + 1;

		handle_command(f, f->in, len - 1);
		memmove(f->in, f->in + len, f->in_len - len);
		f->in_len -= len;
	}
}

/* ---- lifetime ------------------------------------------------------------ */

static void serve(struct fq *f, int fd)
{
	f->fd = fd;
	ev_io_init(&f->rio, on_readable, fd, EV_READ);
	ev_io_init(&f->wio, on_writable, fd, EV_WRITE);
	f->rio.data = f->wio.data = f;
	ev_io_start(f->loop, &f->rio);
	start_writing(f);
}

static struct fq *fq_alloc(struct ev_loop *loop, const struct fq_step *script)
{
	struct fq *f = calloc(1, sizeof(*f));

	cr_assert(f);
	f->loop = loop;
	f->script = f->step = script;
	f->fd = f->client_fd = f->listen_fd = f->kept_fd = -1;
	f->ids = json_array();
	return f;
}

struct fq *fq_new(struct ev_loop *loop, const struct fq_step *script)
{
	struct fq *f = fq_alloc(loop, script);
	int sv[2];

	cr_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == 0);
	cr_assert(fcntl(sv[0], F_SETFL, O_NONBLOCK) == 0);
	f->client_fd = sv[1];
	serve(f, sv[0]);
	advance(f);
	return f;
}

static void on_listen(struct ev_loop *loop, ev_io *w, int revents)
{
	struct fq *f = w->data;
	int fd = accept4(f->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);

	if (fd < 0 && errno == EAGAIN)
		return;
	cr_assert(fd >= 0, "fake QMP: accept: %s", strerror(errno));
	ev_io_stop(loop, w);
	close(f->listen_fd);
	f->listen_fd = -1;
	serve(f, fd);
	advance(f);
}

struct fq *fq_listen(struct ev_loop *loop, const char *path, const struct fq_step *script)
{
	struct fq *f = fq_alloc(loop, script);
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	cr_assert(strlen(path) < sizeof(addr.sun_path));
	strcpy(addr.sun_path, path);
	f->path = strdup(path);
	f->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	cr_assert(f->listen_fd >= 0);
	cr_assert(bind(f->listen_fd, (struct sockaddr *)&addr, sizeof(addr)) == 0,
		  "fake QMP: bind %s: %s", path, strerror(errno));
	cr_assert(listen(f->listen_fd, 1) == 0);
	ev_io_init(&f->lio, on_listen, f->listen_fd, EV_READ);
	f->lio.data = f;
	ev_io_start(loop, &f->lio);
	return f;
}

int fq_client_fd(struct fq *f)
{
	int fd = f->client_fd;

	f->client_fd = -1;
	return fd;
}

void fq_resume(struct fq *f)
{
	cr_assert(f->step->op == FQ_OP_WAIT, "fake QMP: fq_resume() outside a WAIT step");
	f->resumed = true;
	advance(f);
}

bool fq_waiting(const struct fq *f)
{
	return f->step->op == FQ_OP_WAIT;
}

bool fq_finished(const struct fq *f)
{
	return f->step->op == FQ_OP_END && f->out_n == 0;
}

bool fq_peer_closed(const struct fq *f)
{
	return f->peer_closed;
}

bool fq_connected(const struct fq *f)
{
	return f->fd >= 0;
}

json_t *fq_slot_id(const struct fq *f, int slot)
{
	return f->slots[slot];
}

void fq_free(struct fq *f)
{
	if (!f)
		return;
	if (f->step->op != FQ_OP_END)
		cr_expect_fail("fake QMP: script not consumed, stopped at step %td (%s)",
			       f->step - f->script, describe(f->step));
	else if (f->out_n > 0)
		cr_expect_fail("fake QMP: script output not all written");
	if (f->nfds > 0)
		cr_expect_fail("fake QMP: %d fd(s) received that no step expected",
			       f->nfds);
	disconnect(f);
	ev_io_stop(f->loop, &f->lio);
	for (int i = 0; i < f->nfds; i++)
		close(f->fds[i]);
	if (f->kept_fd >= 0)
		close(f->kept_fd);
	if (f->client_fd >= 0)
		close(f->client_fd);
	if (f->listen_fd >= 0)
		close(f->listen_fd);
	if (f->path)
		unlink(f->path);
	for (int i = 0; i < FQ_SLOTS; i++)
		json_decref(f->slots[i]);
	json_decref(f->ids);
	free(f->path);
	free(f->in);
	free(f->out);
	free(f);
}
