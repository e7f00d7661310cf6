/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * One migration stream between hosts.  Private to qmigrate.
 *
 * The source starts a stream process per stream: the command that starts
 * the destination agent with "--stream PATH" appended (over ssh, or exec:).
 * Its stdin carries the stream to the destination host, its stdout the
 * return path back.  There, `qmigrate serve --stdio --stream PATH` is the
 * sink: it connects to the destination QEMU's incoming UNIX socket PATH and
 * relays both ways until both directions end.
 */
#ifndef QM_ENGINE_STREAM_H
#define QM_ENGINE_STREAM_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/child.h"
#include "engine/peer-msg.h"
#include "qmigrate.h"
#include "util/macros.h"

#define QM_STREAM_OPTION "--stream"
#define QM_STREAM_INDEX_OPTION "--stream-index"
/* Streams of one migration: the main stream and up to QM_PEER_MULTIFD_MAX channels. */
#define QM_STREAM_MAX (QM_PEER_MULTIFD_MAX + 1)
/* Seconds a stream process gets after SIGTERM, and again after SIGKILL. */
#define QM_STREAM_STOP_GRACE 2.0
/* Seconds the sink waits for room in the listener's backlog. */
#define QM_STREAM_CONNECT_TIMEOUT 30

/* ---- stream-sink.c: the destination's end -------------------------------- */

/*
 * Stream @index (0: the main stream, in the order the source QEMU opened
 * them) first waits until stream @index - 1 connected, as its marker file
 * PATH.N.on says (qm_stream_marker), at most QM_STREAM_CONNECT_TIMEOUT
 * seconds; once connected it leaves its own marker.
 *
 * Connects to the UNIX socket @path and relays @in_fd -> socket and
 * socket -> @out_fd with the pump, on a loop of its own; blocks until both
 * directions ended.  The end of either input is passed on at once (the
 * socket's writing half is shut down; @out_fd is closed).  Takes @in_fd and
 * @out_fd, even on failure.  Logs through @ctx (NULL: nothing), never
 * writes to stdout itself: stdout is the stream.
 *
 * Returns 0 when both directions reached their end of stream and delivered
 * it; else a negative errno with @err filled: class Usage for a path that
 * is not absolute or does not fit a socket address, TunnelFailed when the
 * socket cannot be reached or the relay fails.
 */
int qm_stream_sink(struct qm_ctx *ctx, const char *path, unsigned index, int in_fd, int out_fd,
		   struct qm_error *err) _must_check_;
/*
 * The marker of stream @index to the socket @path, PATH.N.on, into @out of
 * @size (truncated to fit).  Each socket has its own order: the NBD
 * connections to another socket in the same directory do not count.
 */
void qm_stream_marker(const char *path, unsigned index, char *out, size_t size);
/* Removes the markers the streams to @path left: stream 0's up to the first missing. */
void qm_stream_markers_remove(const char *path);

/* ---- stream-proc.c: the source's end ------------------------------------- */

struct qm_stream_proc {
	struct qm_child child;
	int in_fd;  /* the writing end of its stdin: the caller takes it (steal_fd) */
	int out_fd; /* with @back, the reading end of its stdout; else -1 */
};

/* Nothing started: stop and describe are fine on it. */
void qm_stream_proc_init(struct qm_stream_proc *p);
/*
 * Starts @argv (execvp, no shell) with stdin a pipe and stdout a pipe when
 * @back, else /dev/null; stderr is ours, so that what ssh or the agent says
 * reaches the user; nothing else is inherited.  The pipes' ends stay in @p
 * for the caller.  Returns 0, or a negative errno with @err filled (class
 * TunnelFailed) and nothing left to stop.
 */
int qm_stream_spawn(char *const argv[], bool back, struct qm_stream_proc *p,
		    struct qm_error *err) _must_check_;
/*
 * Stops the processes still running (SIGTERM through the pidfd, at most
 * QM_STREAM_STOP_GRACE seconds for up to QM_STREAM_MAX of them together, SIGKILL, as
 * long again), reaps them, and closes what @ps still hold.  Returns how
 * many could not be reaped.  Safe to repeat.
 */
size_t qm_stream_procs_stop(struct qm_stream_proc *const ps[], size_t n);
static inline size_t qm_stream_proc_stop(struct qm_stream_proc *p)
{
	return qm_stream_procs_stop(&p, 1);
}

#endif
