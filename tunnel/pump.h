/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tunnel pump: moves a migration stream from one file descriptor to
 * another in a thread of its own, with splice(2) where the kernel allows it,
 * and tells the caller's libev loop when it stopped.  It never touches QMP.
 *
 * A pump has one direction (forward) or two (forward and return: QEMU's
 * return path in postcopy travels back over the same tunnel), one thread per
 * direction.  Both directions are one object because they usually share
 * their descriptors (the two ends of the tunnel are full-duplex sockets):
 * ownership, the hang-up before migrate_cancel and the end report belong to
 * the tunnel, not to one direction.
 *
 * Threads: every call below is for the thread that runs the loop.  Only the
 * pump's own threads run elsewhere; they block every signal (so a peer that
 * hangs up means EPIPE, never SIGPIPE) and never log.
 *
 * Descriptors: qm_pump_new() takes every descriptor named in the options,
 * even when it fails.  It makes them non-blocking and close-on-exec (the
 * open file descriptions must not be shared with another process that
 * expects blocking I/O: pass QEMU the other end of a socketpair or pipe, not
 * a dup of these).  The pump closes them when its threads have ended, just
 * before the done callback, or in qm_pump_free(), whichever comes first.
 * When a direction finishes it passes the end of stream on at once: it shuts
 * down the writing half of an output socket, or releases an output that is
 * not a socket (a pipe reader sees EOF) when the other direction does not
 * use it.
 */
#ifndef QM_TUNNEL_PUMP_H
#define QM_TUNNEL_PUMP_H

#include <stdint.h>

#include "qmigrate.h"
#include "util/macros.h"

struct ev_loop;
struct qm_pump;

enum qm_pump_mode {
	QM_PUMP_AUTO,	   /* splice; read/write where the kernel refuses splice */
	QM_PUMP_SPLICE,	   /* splice only: a refusal fails the pump */
	QM_PUMP_READWRITE, /* read/write through a buffer only */
};

/* How a direction moves its bytes now. */
enum qm_pump_strategy {
	QM_PUMP_STRATEGY_NONE, /* the thread has not started yet */
	QM_PUMP_STRATEGY_SPLICE,
	QM_PUMP_STRATEGY_READWRITE,
};

enum qm_pump_dir {
	QM_PUMP_FORWARD,
	QM_PUMP_RETURN,
	QM_PUMP_NDIRS,
};

enum qm_pump_side {
	QM_PUMP_SIDE_NONE,
	QM_PUMP_SIDE_READ,
	QM_PUMP_SIDE_WRITE,
};

enum qm_pump_end {
	QM_PUMP_FINISHED, /* every direction reached end of stream and delivered it */
	QM_PUMP_ABORTED,  /* qm_pump_abort() or qm_pump_hangup() stopped it */
	QM_PUMP_FAILED,	  /* a read or a write failed: see the cause */
};

/* Descriptors of one direction: bytes read from @in are written to @out. */
struct qm_pump_fds {
	int in, out;
};

struct qm_pump_options {
	struct qm_pump_fds forward;
	/*
	 * The return path, when @bidirectional.  Over two sockets it is
	 * { .in = forward.out, .out = forward.in }; it may also use
	 * descriptors of its own (two pipes).  The two directions may not
	 * read from the same descriptor nor write into the same one.
	 */
	bool bidirectional;
	struct qm_pump_fds back;
	enum qm_pump_mode mode;
	/* Most bytes one transfer moves; 0: 1 MiB (see pump.c for why). */
	size_t chunk;
};

/* Counters, readable at any time (written <= read); exact once the pump has ended. */
struct qm_pump_stats {
	uint64_t bytes_read;	/* taken from the input */
	uint64_t bytes_written; /* delivered to the output */
	enum qm_pump_strategy strategy;
};

struct qm_pump_result {
	enum qm_pump_end end;
	/*
	 * When failed, the first failure: its direction, the side that failed,
	 * and @error (code: the negative errno; class "TunnelFailed"; text
	 * such as "the peer closed the tunnel (EPIPE while writing)").  Unset
	 * otherwise.  When one direction fails, the other is aborted.
	 */
	enum qm_pump_dir dir;
	enum qm_pump_side side;
	struct qm_error error;
	struct qm_pump_stats stats[QM_PUMP_NDIRS];
};

/*
 * Runs once, from the loop, when every thread of a started pump has ended;
 * the descriptors are closed by then.  It may free the pump.
 */
typedef void (*qm_pump_done_fn)(struct qm_pump *pump, const struct qm_pump_result *r,
				void *userdata);

/*
 * Returns a pump that does not run yet, or NULL with @err filled (invalid
 * options, a descriptor that is not open, out of memory or descriptors).
 * Takes the descriptors in @opts, even on failure (see above).
 */
struct qm_pump *qm_pump_new(struct ev_loop *loop, const struct qm_pump_options *opts,
			    qm_pump_done_fn done, void *userdata,
			    struct qm_error *err) _must_check_;
/*
 * Starts the threads.  Returns 0, and @done will run once; or a negative
 * errno with @err filled, and @done never runs (free the pump).
 */
int qm_pump_start(struct qm_pump *pump, struct qm_error *err) _must_check_;
/*
 * Ends gracefully: each direction stops reading once its input has nothing
 * more to give right now (or at end of stream, whichever comes first),
 * writes out what it read, passes the end of stream on and finishes.  For a
 * return path that the far side does not close.  Without it, a direction
 * runs until end of stream.
 */
void qm_pump_drain(struct qm_pump *pump);
/*
 * Stops now, dropping what was read and not yet written: the threads wake
 * even when blocked, and end "aborted" in bounded time.  Returns at once.
 */
void qm_pump_abort(struct qm_pump *pump);
/*
 * Aborts and lets go of every descriptor now, while the threads may still
 * run: sockets are shut down and every file is released, so whoever is at
 * the other end (a QEMU flushing into the tunnel) gets EOF or EPIPE at once;
 * for a pipe a thread sleeps on in poll(), as soon as that thread wakes (the
 * abort wakes it now): until then the sleeping poll holds the file.
 * Call it before QMP migrate_cancel.  The numbers stay reserved (they name
 * an inert file) until the pump closes them.
 */
void qm_pump_hangup(struct qm_pump *pump);
/* Zeroes for a direction the pump does not have. */
void qm_pump_get_stats(const struct qm_pump *pump, enum qm_pump_dir dir,
		       struct qm_pump_stats *st);
/* Aborts a running pump, joins its threads; @done does not run.  NULL is fine. */
void qm_pump_free(struct qm_pump *pump);

/*
 * Asks for a pipe of @size bytes, halving while the kernel refuses
 * (unprivileged users are held to pipe-max-size and, past
 * pipe-user-pages-soft, to small pipes).  Returns what it holds now, or 0.
 */
size_t qm_pipe_grow(int fd, size_t size);

const char *qm_pump_mode_name(enum qm_pump_mode mode);
const char *qm_pump_strategy_name(enum qm_pump_strategy strategy);
const char *qm_pump_end_name(enum qm_pump_end end);
const char *qm_pump_side_name(enum qm_pump_side side);

#endif
