/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One direction's thread: picks the copy strategy, waits when a descriptor
 * is not ready, and reports how it ended.  Every descriptor is non-blocking,
 * so the thread only ever blocks in poll(), next to the abort eventfd: an
 * abort wakes it wherever it is.
 */
#include <errno.h>
#include <poll.h>
#include <sys/socket.h>

#include "tunnel/pump-internal.h"

bool qm_flow_aborting(const struct qm_flow *f)
{
	return atomic_load_explicit(&f->pump->aborting, memory_order_acquire);
}

int qm_flow_fail(struct qm_flow *f, enum qm_pump_side side, int error)
{
	/* Failing during an abort is the abort (a hang-up released the file). */
	if (qm_flow_aborting(f))
		return -ECANCELED;
	f->side = side;
	f->error = error;
	return error;
}

int qm_flow_wait(struct qm_flow *f, int fd, short events)
{
	struct qm_pump *p = f->pump;
	bool input = events & POLLIN;
	enum qm_pump_side side = input ? QM_PUMP_SIDE_READ : QM_PUMP_SIDE_WRITE;
	struct pollfd pfd[3] = {
		{ .fd = fd, .events = events },
		{ .fd = p->abort_efd, .events = POLLIN },
		{ .fd = p->drain_efd, .events = POLLIN },
	};

	for (;;) {
		/* Draining: input with nothing to give right now is the end of it. */
		bool drain = input && atomic_load(&p->draining);
		int n;

		if (qm_flow_aborting(f))
			return -ECANCELED;
		n = poll(pfd, input && !drain ? 3 : 2, drain ? 0 : -1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return qm_flow_fail(f, side, -errno);
		if (pfd[1].revents)
			return -ECANCELED;
		if (pfd[0].revents & POLLNVAL)
			return qm_flow_fail(f, side, -EBADF);
		if (pfd[0].revents)
			return 0;
		if (n == 0)
			return QM_FLOW_DRAINED;
		/* the drain eventfd woke us: look at the input again, without waiting */
	}
}

/* Passes the end of stream on to whoever reads our output. */
static void pass_eof_on(struct qm_flow *f)
{
	if (f->out_socket)
		shutdown(f->out, SHUT_WR);
	else if (!f->out_shared)
		qm_pump_release_fd(f->pump, f->out);
}

/* Tells the other direction to stop, unless a failure got there first. */
static void flow_failed(struct qm_flow *f)
{
	int none = -1;

	f->end = QM_PUMP_FAILED;
	if (atomic_compare_exchange_strong(&f->pump->first_failure, &none, (int)f->dir))
		qm_pump_abort(f->pump);
}

void *qm_flow_main(void *arg)
{
	struct qm_flow *f = arg;
	struct qm_pump *p = f->pump;
	int r = QM_FLOW_FALLBACK;

	/* for top -H and debuggers; at most 15 characters */
	pthread_setname_np(pthread_self(),
			   f->dir == QM_PUMP_FORWARD ? "qm-pump" : "qm-pump-return");
	if (p->mode != QM_PUMP_READWRITE)
		r = qm_copy_splice(f);
	if (r == QM_FLOW_FALLBACK)
		r = qm_copy_readwrite(f);
	if (r == 0) {
		f->end = QM_PUMP_FINISHED;
		pass_eof_on(f);
	} else if (r == -ECANCELED) {
		f->end = QM_PUMP_ABORTED;
	} else {
		flow_failed(f);
	}
	/* The last one out tells the loop; the loop joins us before it reads f->end. */
	if (atomic_fetch_sub(&p->running, 1) == 1)
		ev_async_send(p->loop, &p->async);
	return NULL;
}
