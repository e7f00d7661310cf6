/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "tests/helpers/stream.h"

/* One loop turn moves at most this much, so that the loop stays responsive. */
#define TS_BUF (256 * 1024)

void ts_pattern(uint64_t seed, uint64_t off, unsigned char *buf, size_t len)
{
	/* A multiplicative hash of the offset: no period a short shift would hide. */
	for (size_t i = 0; i < len; i++)
		buf[i] =
			(unsigned char)(((off + i + seed) * 0x9E3779B97F4A7C15ull) >> 56);
}

ssize_t ts_mismatch(uint64_t seed, uint64_t off, const unsigned char *buf, size_t len)
{
	for (size_t i = 0; i < len; i++)
		if (buf[i] !=
		    (unsigned char)(((off + i + seed) * 0x9E3779B97F4A7C15ull) >> 56))
			return (ssize_t)i;
	return -1;
}

static void set_nonblock(int fd)
{
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
}

ssize_t ts_write(int fd, const void *buf, size_t len)
{
	struct stat st;
	sigset_t pipe_set, old;
	ssize_t n;
	int error;

	if (fstat(fd, &st) == 0 && S_ISSOCK(st.st_mode)) {
		n = send(fd, buf, len, MSG_NOSIGNAL);
		return n < 0 ? -errno : n;
	}
	/* Block SIGPIPE for this write, and take away the one it may raise. */
	sigemptyset(&pipe_set);
	sigaddset(&pipe_set, SIGPIPE);
	pthread_sigmask(SIG_BLOCK, &pipe_set, &old);
	n = write(fd, buf, len);
	error = errno;
	if (n < 0 && error == EPIPE) {
		const struct timespec zero = { 0 };

		sigtimedwait(&pipe_set, NULL, &zero);
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	return n < 0 ? -error : n;
}

static void feed_end(struct ts_feed *f, struct ev_loop *loop)
{
	ev_io_stop(loop, &f->io);
	if (f->end == TS_CLOSE)
		close(f->fd);
	else if (f->end == TS_SHUTDOWN)
		shutdown(f->fd, SHUT_WR);
	f->ended = true;
}

static void feed_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ts_feed *f = (struct ts_feed *)w;

	while (f->sent < f->total) {
		size_t len = f->total - f->sent < TS_BUF ? f->total - f->sent : TS_BUF;
		ssize_t n;

		ts_pattern(f->seed, f->sent, f->buf, len);
		n = ts_write(f->fd, f->buf, len);
		if (n == -EAGAIN)
			return;
		if (n < 0) {
			f->error = (int)n;
			ev_io_stop(loop, &f->io);
			return;
		}
		f->sent += (uint64_t)n;
		if ((size_t)n < len)
			return;
	}
	feed_end(f, loop);
}

void ts_feed_start(struct ts_feed *f, struct ev_loop *loop, int fd, uint64_t seed,
		   uint64_t total, enum ts_end end)
{
	memset(f, 0, sizeof(*f));
	f->fd = fd;
	f->seed = seed;
	f->total = total;
	f->end = end;
	f->buf = malloc(TS_BUF);
	set_nonblock(fd);
	ev_io_init(&f->io, feed_cb, fd, EV_WRITE);
	ev_io_start(loop, &f->io);
}

void ts_feed_stop(struct ts_feed *f, struct ev_loop *loop)
{
	ev_io_stop(loop, &f->io);
	free(f->buf);
	f->buf = NULL;
}

static void check_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct ts_check *c = (struct ts_check *)w;
	ssize_t n = read(c->fd, c->buf, TS_BUF), bad;

	if (n < 0 && errno == EAGAIN)
		return;
	if (n <= 0) {
		c->eof = n == 0;
		c->error = n < 0 ? -errno : 0;
		ev_io_stop(loop, &c->io);
		return;
	}
	bad = ts_mismatch(c->seed, c->got, c->buf, (size_t)n);
	if (bad >= 0 && c->mismatch_at < 0)
		c->mismatch_at = (ssize_t)c->got + bad;
	c->got += (uint64_t)n;
	if (c->close_after && c->got >= c->close_after) {
		ev_io_stop(loop, &c->io);
		close(c->fd);
		c->closed = true;
	}
}

void ts_check_start(struct ts_check *c, struct ev_loop *loop, int fd, uint64_t seed)
{
	memset(c, 0, sizeof(*c));
	c->fd = fd;
	c->seed = seed;
	c->mismatch_at = -1;
	c->buf = malloc(TS_BUF);
	set_nonblock(fd);
	ev_io_init(&c->io, check_cb, fd, EV_READ);
	ev_io_start(loop, &c->io);
}

void ts_check_stop(struct ts_check *c, struct ev_loop *loop)
{
	ev_io_stop(loop, &c->io);
	free(c->buf);
	c->buf = NULL;
}

size_t ts_fill(int fd)
{
	static const unsigned char junk[65536];
	size_t total = 0;
	ssize_t n;

	set_nonblock(fd);
	while ((n = ts_write(fd, junk, sizeof(junk))) > 0)
		total += (size_t)n;
	return total;
}

bool ts_writable(int fd)
{
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };

	return poll(&pfd, 1, 0) == 1 && (pfd.revents & POLLOUT);
}

int ts_count_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	int n = 0;

	if (!d)
		return -1;
	while ((e = readdir(d)))
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1; /* the directory's own descriptor */
}

int ts_tcp_pair(int fds[2])
{
	struct sockaddr_in addr = { .sin_family = AF_INET,
				    .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(addr);
	int l = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	int r = -1;

	fds[0] = fds[1] = -1;
	if (l < 0)
		return -errno;
	if (bind(l, (struct sockaddr *)&addr, sizeof(addr)) == 0 && listen(l, 1) == 0 &&
	    getsockname(l, (struct sockaddr *)&addr, &len) == 0) {
		fds[1] = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
		if (fds[1] >= 0 &&
		    connect(fds[1], (struct sockaddr *)&addr, sizeof(addr)) == 0)
			fds[0] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
		r = fds[0] >= 0 ? 0 : -errno;
	}
	close(l);
	if (r < 0 && fds[1] >= 0)
		close(fds[1]);
	return r;
}
