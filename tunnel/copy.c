/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * How one direction moves its bytes.
 *
 * splice: input -> private pipe -> output.  The pipe lets any two
 * descriptors the kernel can splice meet (socket to socket needs one), and
 * the bytes stay in kernel pages: from a socket the pipe takes references to
 * the received pages, and a socket sends them on without copying them again.
 * Always going through the pipe, even when the input or the output is a
 * pipe already, costs one cheap pipe-to-pipe splice but says without doubt
 * which side failed and which one would block.
 *
 * read/write: one chunk-sized buffer, filled, then written out whole.
 *
 * Either way at most one chunk is held at a time and nothing is read until
 * it is written out: a slow reader slows the writer down (backpressure).
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <unistd.h>

#include "tunnel/pump-internal.h"

#define SPLICE_FLAGS (SPLICE_F_MOVE | SPLICE_F_NONBLOCK)

static void count(_Atomic uint64_t *counter, ssize_t n)
{
	/*
	 * Only this thread writes the counters.  Release pairs with the
	 * acquire in qm_pump_get_stats(): a reader that sees bytes written
	 * also sees the bytes read before them, so written <= read holds.
	 */
	atomic_fetch_add_explicit(counter, (uint64_t)n, memory_order_release);
}

/* The input has nothing right now: wait for it, unless a drain says this is the end. */
static int wait_input(struct qm_flow *f)
{
	int r = qm_flow_wait(f, f->in, POLLIN);

	if (r == QM_FLOW_DRAINED) {
		f->eof = true;
		return 0;
	}
	return r;
}

/* End of stream; but the end a hang-up produces (a shut-down socket) is an abort. */
static int input_ended(struct qm_flow *f)
{
	f->eof = true;
	return qm_flow_aborting(f) ? -ECANCELED : 0;
}

/* EINVAL: the kernel cannot splice this descriptor (no splice support, O_APPEND...). */
static int splice_refused(struct qm_flow *f, enum qm_pump_side side)
{
	if (f->pump->mode == QM_PUMP_AUTO && !qm_flow_aborting(f))
		return QM_FLOW_FALLBACK;
	return qm_flow_fail(f, side, -EINVAL);
}

static int splice_in(struct qm_flow *f)
{
	ssize_t n = splice(f->in, NULL, f->pipe[1], NULL, f->pipe_cap, SPLICE_FLAGS);

	if (n > 0) {
		f->piped = (size_t)n;
		count(&f->bytes_read, n);
		return 0;
	}
	if (n == 0)
		return input_ended(f);
	switch (errno) {
	case EINTR:
		return 0;
	case EAGAIN: /* the pipe is empty, so it is the input that has nothing */
		return wait_input(f);
	case EINVAL:
		return splice_refused(f, QM_PUMP_SIDE_READ);
	default:
		return qm_flow_fail(f, QM_PUMP_SIDE_READ, -errno);
	}
}

static int splice_out(struct qm_flow *f)
{
	ssize_t n = splice(f->pipe[0], NULL, f->out, NULL, f->piped, SPLICE_FLAGS);

	if (n > 0) {
		f->piped -= (size_t)n;
		count(&f->bytes_written, n);
		return 0;
	}
	if (n == 0) /* impossible while the pipe holds bytes: do not spin on it */
		return qm_flow_fail(f, QM_PUMP_SIDE_WRITE, -EIO);
	switch (errno) {
	case EINTR:
		return 0;
	case EAGAIN: /* the pipe holds bytes, so it is the output that is full */
		return qm_flow_wait(f, f->out, POLLOUT);
	case EINVAL:
		return splice_refused(f, QM_PUMP_SIDE_WRITE);
	default:
		return qm_flow_fail(f, QM_PUMP_SIDE_WRITE, -errno);
	}
}

int qm_copy_splice(struct qm_flow *f)
{
	int r;

	atomic_store(&f->strategy, QM_PUMP_STRATEGY_SPLICE);
	for (;;) {
		if (qm_flow_aborting(f))
			return -ECANCELED;
		if (f->piped)
			r = splice_out(f);
		else if (f->eof)
			return 0;
		else
			r = splice_in(f);
		if (r)
			return r;
	}
}

/*
 * Refills the buffer.  Bytes that splice left in the pipe when the output
 * refused it go first; they were counted as read already.
 */
static int fill(struct qm_flow *f)
{
	bool from_pipe = f->piped > 0;
	size_t want = from_pipe && f->piped < f->chunk ? f->piped : f->chunk;
	ssize_t n = read(from_pipe ? f->pipe[0] : f->in, f->buf, want);

	if (n > 0) {
		f->off = 0;
		f->len = (size_t)n;
		if (from_pipe)
			f->piped -= (size_t)n;
		else
			count(&f->bytes_read, n);
		return 0;
	}
	if (n == 0 && !from_pipe)
		return input_ended(f);
	if (n < 0 && errno == EINTR)
		return 0;
	if (n < 0 && errno == EAGAIN && !from_pipe)
		return wait_input(f);
	return qm_flow_fail(f, QM_PUMP_SIDE_READ, n < 0 ? -errno : -EIO);
}

static int flush(struct qm_flow *f)
{
	ssize_t n = write(f->out, f->buf + f->off, f->len);

	if (n > 0) {
		f->off += (size_t)n;
		f->len -= (size_t)n;
		count(&f->bytes_written, n);
		return 0;
	}
	if (n < 0 && errno == EINTR)
		return 0;
	if (n < 0 && errno == EAGAIN)
		return qm_flow_wait(f, f->out, POLLOUT);
	return qm_flow_fail(f, QM_PUMP_SIDE_WRITE, n < 0 ? -errno : -EIO);
}

int qm_copy_readwrite(struct qm_flow *f)
{
	int r;

	atomic_store(&f->strategy, QM_PUMP_STRATEGY_READWRITE);
	if (!f->buf && !(f->buf = malloc(f->chunk)))
		return qm_flow_fail(f, QM_PUMP_SIDE_READ, -ENOMEM);
	for (;;) {
		if (qm_flow_aborting(f))
			return -ECANCELED;
		if (f->len)
			r = flush(f);
		else if (f->eof && !f->piped)
			return 0;
		else
			r = fill(f);
		if (r)
			return r;
	}
}
