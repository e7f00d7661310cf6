/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The pump's lifecycle, on the loop thread: set up, start, stop, report, free. */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tunnel/pump-internal.h"
#include "util/error.h"
#include "util/list.h"

/*
 * Why 1 MiB a transfer: each costs two or three system calls, so the chunk
 * amortises them (1 MiB is 100 us of data at 10 GB/s, against a few us of
 * calls); it is also the largest pipe an unprivileged process gets by
 * default (/proc/sys/fs/pipe-max-size).  Bigger only grows the footprint.
 * It is a ceiling: a socket gives what it holds (a few hundred KiB by
 * default), so most transfers are smaller.
 */
#define PUMP_CHUNK (1u << 20)
#define PUMP_CHUNK_MAX (64u << 20)

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

/* Takes @fd into the pump's set once, however many times the options name it. */
static void adopt_fd(struct qm_pump *p, int fd)
{
	if (fd < 0)
		return;
	for (unsigned i = 0; i < p->nfds; i++)
		if (p->fds[i] == fd)
			return;
	p->fds[p->nfds++] = fd;
}

/* Closes each descriptor named in @o once, however many times it is named. */
static void close_option_fds(const struct qm_pump_options *o)
{
	const int fds[] = { o->forward.in, o->forward.out, o->back.in, o->back.out };
	unsigned n = o->bidirectional ? 4 : 2;

	for (unsigned i = 0; i < n; i++) {
		bool seen = fds[i] < 0;

		for (unsigned j = 0; j < i; j++)
			seen |= fds[j] == fds[i];
		if (!seen)
			close(fds[i]);
	}
}

static int check_options(const struct qm_pump_options *o, struct qm_error *err)
{
	const struct qm_pump_fds *f = &o->forward, *b = &o->back;

	if ((unsigned)o->mode > QM_PUMP_READWRITE)
		return qm_error_set(err, -EINVAL, "Usage", "unknown pump mode %d",
				    o->mode);
	if (o->chunk > PUMP_CHUNK_MAX)
		return qm_error_set(err, -EINVAL, "Usage",
				    "pump chunk of %zu bytes is over %u", o->chunk,
				    PUMP_CHUNK_MAX);
	if (f->in < 0 || f->out < 0 || (o->bidirectional && (b->in < 0 || b->out < 0)))
		return qm_error_set(err, -EBADF, "Usage",
				    "the pump needs every descriptor");
	if (f->in == f->out || (o->bidirectional && b->in == b->out))
		return qm_error_set(
			err, -EINVAL, "Usage",
			"a pump direction cannot read and write one descriptor");
	if (o->bidirectional && (b->in == f->in || b->out == f->out))
		return qm_error_set(
			err, -EINVAL, "Usage",
			"the two directions cannot share an input or an output");
	return 0;
}

/*
 * Non-blocking, so that only poll() ever waits; close-on-exec, so that no
 * child holds a stream open.
 */
static int prepare_fd(struct qm_pump *p, unsigned i, struct qm_error *err)
{
	int fd = p->fds[i], fl;
	struct stat st;

	if (fstat(fd, &st) < 0 || (fl = fcntl(fd, F_GETFL)) < 0 ||
	    fcntl(fd, F_SETFL, fl | O_NONBLOCK) < 0 || fcntl(fd, F_SETFD, FD_CLOEXEC) < 0)
		return qm_error_set(err, -errno, "Usage", "pump descriptor %d: %s", fd,
				    strerror(errno));
	p->is_socket[i] = S_ISSOCK(st.st_mode);
	return 0;
}

static bool fd_is_socket(const struct qm_pump *p, int fd)
{
	for (unsigned i = 0; i < p->nfds; i++)
		if (p->fds[i] == fd)
			return p->is_socket[i];
	return false;
}

size_t qm_pipe_grow(int fd, size_t size)
{
	long page = sysconf(_SC_PAGESIZE);
	int cap;

	for (; size >= (size_t)page; size /= 2)
		if (fcntl(fd, F_SETPIPE_SZ, (int)size) >= 0)
			break;
	cap = fcntl(fd, F_GETPIPE_SZ);
	return cap > 0 ? (size_t)cap : 0;
}

/* The private pipe holds one chunk; what the kernel grants is the transfer size. */
static int pipe_setup(struct qm_flow *f)
{
	size_t cap;

	if (pipe2(f->pipe, O_NONBLOCK | O_CLOEXEC) < 0)
		return -errno;
	cap = qm_pipe_grow(f->pipe[1], f->chunk);
	if (!cap)
		return -errno;
	f->pipe_cap = cap < f->chunk ? cap : f->chunk;
	return 0;
}

static int flow_setup(struct qm_pump *p, enum qm_pump_dir dir,
		      const struct qm_pump_fds *fds, const struct qm_pump_fds *other,
		      size_t chunk, struct qm_error *err)
{
	struct qm_flow *f = &p->flows[dir];
	int r;

	f->pump = p;
	f->dir = dir;
	f->in = fds->in;
	f->out = fds->out;
	f->out_socket = fd_is_socket(p, f->out);
	f->out_shared = other && (other->in == f->out || other->out == f->out);
	f->chunk = chunk;
	if (p->mode != QM_PUMP_READWRITE) {
		r = pipe_setup(f);
		if (r < 0)
			return qm_error_set(err, r, "TunnelFailed",
					    "cannot make the pump's pipe: %s",
					    strerror(-r));
	}
	/* Auto mode needs it only if splice is refused; the thread makes it then. */
	if (p->mode == QM_PUMP_READWRITE && !(f->buf = malloc(chunk)))
		return qm_error_set(err, -ENOMEM, "TunnelFailed", "out of memory");
	return 0;
}

static void pump_async_cb(struct ev_loop *loop, ev_async *w, int revents);
static void pump_end(struct qm_pump *p);

static int pump_setup(struct qm_pump *p, const struct qm_pump_options *o,
		      struct qm_error *err)
{
	size_t chunk = o->chunk ? o->chunk : PUMP_CHUNK;
	int r;

	for (unsigned i = 0; i < p->nfds; i++) {
		r = prepare_fd(p, i, err);
		if (r < 0)
			return r;
	}
	p->placeholder = open("/", O_PATH | O_DIRECTORY | O_CLOEXEC);
	p->abort_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	p->drain_efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (p->placeholder < 0 || p->abort_efd < 0 || p->drain_efd < 0)
		return qm_error_set(err, -errno, "TunnelFailed",
				    "cannot set the pump up: %s", strerror(errno));
	p->nflows = o->bidirectional ? 2 : 1;
	r = flow_setup(p, QM_PUMP_FORWARD, &o->forward,
		       o->bidirectional ? &o->back : NULL, chunk, err);
	if (r == 0 && o->bidirectional)
		r = flow_setup(p, QM_PUMP_RETURN, &o->back, &o->forward, chunk, err);
	return r;
}

struct qm_pump *qm_pump_new(struct ev_loop *loop, const struct qm_pump_options *opts,
			    qm_pump_done_fn done, void *userdata, struct qm_error *err)
{
	struct qm_pump *p;
	int r;

	if (!opts) {
		qm_error_set(err, -EINVAL, "Usage", "the pump needs options");
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		close_option_fds(opts);
		qm_error_set(err, -ENOMEM, "TunnelFailed", "out of memory");
		return NULL;
	}
	/* Ownership first, so that every failure below closes what we were given. */
	adopt_fd(p, opts->forward.in);
	adopt_fd(p, opts->forward.out);
	if (opts->bidirectional) {
		adopt_fd(p, opts->back.in);
		adopt_fd(p, opts->back.out);
	}
	p->placeholder = p->abort_efd = p->drain_efd = -1;
	for (unsigned i = 0; i < QM_PUMP_NDIRS; i++)
		p->flows[i].pipe[0] = p->flows[i].pipe[1] = -1;
	p->loop = loop;
	p->done = done;
	p->userdata = userdata;
	p->mode = opts->mode;
	atomic_init(&p->first_failure, -1);
	ev_async_init(&p->async, pump_async_cb);

	r = check_options(opts, err);
	if (r == 0 && (!loop || !done))
		r = qm_error_set(err, -EINVAL, "Usage",
				 "the pump needs a loop and a callback");
	if (r == 0)
		r = pump_setup(p, opts, err);
	if (r < 0) {
		qm_pump_free(p);
		return NULL;
	}
	return p;
}

/* Wakes every thread and tells it to stop; the eventfd stays readable for good. */
static void raise_flag(atomic_bool *flag, int efd)
{
	const uint64_t one = 1;

	atomic_store(flag, true);
	if (write(efd, &one, sizeof(one)) < 0) {
		/* only EAGAIN (the counter is full) is possible: it is readable already
		 */
	}
}

void qm_pump_abort(struct qm_pump *pump)
{
	if (pump && pump->state != QM_PUMP_ENDED)
		raise_flag(&pump->aborting, pump->abort_efd);
}

void qm_pump_drain(struct qm_pump *pump)
{
	if (pump && pump->state != QM_PUMP_ENDED)
		raise_flag(&pump->draining, pump->drain_efd);
}

void qm_pump_release_fd(struct qm_pump *p, int fd)
{
	int r;

	do
		r = dup3(p->placeholder, fd, O_CLOEXEC);
	while (r < 0 && (errno == EINTR || errno == EBUSY));
}

void qm_pump_hangup(struct qm_pump *pump)
{
	if (!pump || pump->state == QM_PUMP_ENDED)
		return;
	qm_pump_abort(pump);
	/*
	 * shutdown() acts on the socket itself, at once, even while a thread
	 * holds it in a system call; releasing the file then drops our
	 * reference (TCP resets a peer whose data we never read).
	 */
	for (unsigned i = 0; i < pump->nfds; i++) {
		if (pump->is_socket[i])
			shutdown(pump->fds[i], SHUT_RDWR);
		qm_pump_release_fd(pump, pump->fds[i]);
	}
}

int qm_pump_start(struct qm_pump *pump, struct qm_error *err)
{
	sigset_t all, old;
	int r = 0;

	if (pump->state != QM_PUMP_NEW)
		return qm_error_set(err, -EALREADY, "Usage",
				    "the pump was already started");
	pump->state = QM_PUMP_RUNNING;
	atomic_store(&pump->running, (int)pump->nflows);
	ev_async_start(pump->loop, &pump->async);
	/* The threads inherit a mask that blocks every signal (see pump.h). */
	sigfillset(&all);
	pthread_sigmask(SIG_SETMASK, &all, &old);
	for (unsigned i = 0; i < pump->nflows && r == 0; i++) {
		struct qm_flow *f = &pump->flows[i];

		r = pthread_create(&f->thread, NULL, qm_flow_main, f);
		f->started = r == 0;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (r == 0)
		return 0;
	/* A thread that did start stops; the async never fires, as one never ends. */
	qm_pump_abort(pump);
	pump_end(pump);
	return qm_error_set(err, -r, "TunnelFailed", "cannot start the pump thread: %s",
			    strerror(r));
}

void qm_pump_get_stats(const struct qm_pump *pump, enum qm_pump_dir dir,
		       struct qm_pump_stats *st)
{
	const struct qm_flow *f;

	memset(st, 0, sizeof(*st));
	if ((unsigned)dir >= pump->nflows)
		return;
	f = &pump->flows[dir];
	/* written first: see count() in copy.c */
	st->bytes_written = atomic_load_explicit(&f->bytes_written, memory_order_acquire);
	st->bytes_read = atomic_load_explicit(&f->bytes_read, memory_order_acquire);
	st->strategy = atomic_load_explicit(&f->strategy, memory_order_relaxed);
}

/* Joins every thread, then closes everything: the threads used it. */
static void pump_end(struct qm_pump *p)
{
	for (unsigned i = 0; i < QM_PUMP_NDIRS; i++) {
		struct qm_flow *f = &p->flows[i];

		if (f->started)
			pthread_join(f->thread, NULL);
		f->started = false;
		close_fd(&f->pipe[0]);
		close_fd(&f->pipe[1]);
		free(f->buf);
		f->buf = NULL;
	}
	for (unsigned i = 0; i < p->nfds; i++)
		close_fd(&p->fds[i]);
	close_fd(&p->placeholder);
	close_fd(&p->abort_efd);
	close_fd(&p->drain_efd);
	if (p->loop)
		ev_async_stop(p->loop, &p->async);
	p->state = QM_PUMP_ENDED;
}

static void fill_result(struct qm_pump *p, struct qm_pump_result *r)
{
	int failed = atomic_load(&p->first_failure);

	memset(r, 0, sizeof(*r));
	r->end = QM_PUMP_FINISHED;
	for (unsigned i = 0; i < p->nflows; i++) {
		qm_pump_get_stats(p, i, &r->stats[i]);
		if (p->flows[i].end == QM_PUMP_ABORTED)
			r->end = QM_PUMP_ABORTED;
	}
	if (failed >= 0) {
		const struct qm_flow *f = &p->flows[failed];
		char text[sizeof(r->error.text)];

		r->end = QM_PUMP_FAILED;
		r->dir = f->dir;
		r->side = f->side;
		qm_pump_cause(text, sizeof(text), f->dir, f->side, f->error);
		qm_error_set(&r->error, f->error, "TunnelFailed", "%s", text);
	}
}

static void pump_async_cb(struct ev_loop *loop, ev_async *w, int revents)
{
	struct qm_pump *p = qm_container_of(w, struct qm_pump, async);
	struct qm_pump_result r;

	if (atomic_load(&p->running) != 0 || p->state != QM_PUMP_RUNNING)
		return;
	pump_end(p);
	fill_result(p, &r);
	p->done(p, &r, p->userdata); /* may free the pump: nothing after this */
}

void qm_pump_free(struct qm_pump *pump)
{
	if (!pump)
		return;
	qm_pump_abort(pump);
	pump_end(pump);
	free(pump);
}
