/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pump's insides, shared by pump.c (lifecycle, on the loop thread),
 * flow.c (one direction's thread), copy.c (how the bytes move) and
 * pump-text.c (names and the words for a failure).
 *
 * Descriptor rule: the pump's descriptor numbers are closed only after
 * every thread has been joined.  Until then a file is let go of by dup3()ing
 * the inert placeholder over its number, so a number a thread uses never
 * comes to name somebody else's file; that is what makes qm_pump_hangup()
 * and the threads' own end-of-stream release safe without a lock.
 */
#ifndef QM_TUNNEL_PUMP_INTERNAL_H
#define QM_TUNNEL_PUMP_INTERNAL_H

#include <ev.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <sys/types.h>

#include "tunnel/pump.h"

/* One direction: its descriptors (borrowed from the pump) and its thread. */
struct qm_flow {
	struct qm_pump *pump;
	enum qm_pump_dir dir;
	int in, out;
	bool out_socket, out_shared; /* out_shared: the other direction uses out too */
	size_t chunk;

	/* splice: in -> pipe[1], pipe[0] -> out; @piped bytes sit in the pipe */
	int pipe[2];
	size_t pipe_cap, piped;
	/* read/write: buf[off, off + len) is waiting to be written */
	char *buf;
	size_t off, len;
	bool eof;

	/* written by the thread, read anywhere */
	_Atomic uint64_t bytes_read, bytes_written;
	_Atomic int strategy;

	/* the end: written by the thread, read by the loop after the join */
	enum qm_pump_end end;
	enum qm_pump_side side;
	int error; /* negative errno when failed */

	pthread_t thread;
	bool started;
};

enum qm_pump_state {
	QM_PUMP_NEW,
	QM_PUMP_RUNNING,
	QM_PUMP_ENDED, /* threads joined, descriptors closed */
};

struct qm_pump {
	struct ev_loop *loop;
	ev_async async; /* the last thread to end sends it */
	qm_pump_done_fn done;
	void *userdata;
	enum qm_pump_mode mode;
	enum qm_pump_state state;

	struct qm_flow flows[QM_PUMP_NDIRS];
	unsigned nflows;

	/* the distinct descriptors we own, and whether each is a socket */
	int fds[4];
	bool is_socket[4];
	unsigned nfds;
	int placeholder; /* an O_PATH descriptor: every I/O on it fails with EBADF */

	/* Level-triggered wake-ups, never read: once written, poll() always returns. */
	int abort_efd, drain_efd;
	atomic_bool aborting, draining;
	atomic_int running;	  /* threads not yet ended */
	atomic_int first_failure; /* the direction that failed first, or -1 */
};

/* flow.c */
void *qm_flow_main(void *flow);
/*
 * Waits until @fd is ready for @events (POLLIN or POLLOUT) or the pump is
 * told to stop.  Returns 0 when ready (or in error: the next call tells),
 * QM_FLOW_DRAINED when waiting for input and a drain says to stop reading,
 * -ECANCELED on abort, or a negative errno.
 */
#define QM_FLOW_DRAINED 1
int qm_flow_wait(struct qm_flow *f, int fd, short events);
bool qm_flow_aborting(const struct qm_flow *f);
/* Records a failure of @side and returns @error. */
int qm_flow_fail(struct qm_flow *f, enum qm_pump_side side, int error);
/* Lets go of the file behind @fd for good (see the descriptor rule). */
void qm_pump_release_fd(struct qm_pump *p, int fd);

/* copy.c: each returns 0 at end of stream, -ECANCELED, or a failure (recorded). */
#define QM_FLOW_FALLBACK 2 /* splice refused these descriptors: use read/write */
int qm_copy_splice(struct qm_flow *f);
int qm_copy_readwrite(struct qm_flow *f);

/* pump-text.c: "the peer closed the tunnel (EPIPE while writing)" */
void qm_pump_cause(char *buf, size_t len, enum qm_pump_dir dir, enum qm_pump_side side,
		   int error);

#endif
