/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * An asynchronous peer channel on a libev loop: frames out of a queue with
 * non-blocking writes, decoded messages in through a callback, over a read
 * fd and a write fd (ssh's stdout and stdin, or both ends of one socket).
 * No threads.  The channel owns both fds and sets them non-blocking (which
 * a process's stdin/stdout share with whoever else holds them).
 *
 * Whatever ends the channel (a malformed or oversized frame, a message that
 * does not decode, EOF, a read or write error) closes both fds and calls
 * .closed once, from the loop, with the reason: class PeerProtocol for what
 * the peer sent, PeerClosed for EOF and I/O errors.  A write to a pipe or
 * a socket whose reader is gone is such an error, never a SIGPIPE: the
 * program need not ignore it.
 */
#ifndef QM_ENGINE_PEER_CHAN_H
#define QM_ENGINE_PEER_CHAN_H

#include <ev.h>
#include <stddef.h>

#include "engine/peer-msg.h"
#include "qmigrate.h"
#include "util/macros.h"

struct qm_peer_chan;

struct qm_peer_chan_ops {
	/*
	 * One decoded message.  @m lives for the call; the callee may take
	 * its cookie and domain (and set them NULL).  May unref @c.
	 */
	void (*message)(struct qm_peer_chan *c, struct qm_peer_msg *m, void *userdata);
	/*
	 * The channel ended, with @err: called once, never inside a call made
	 * on the channel, and not at all once the last reference is dropped.
	 * May unref @c.
	 */
	void (*closed)(struct qm_peer_chan *c, const struct qm_error *err, void *userdata);
};

/*
 * Returns a channel with one reference reading @rfd and writing @wfd (the
 * same fd for a socket), or NULL with @err filled.  Takes both fds, even
 * on failure.  @label (may be NULL) starts every error: "peer ssh://b".
 */
struct qm_peer_chan *qm_peer_chan_new(struct ev_loop *loop, int rfd, int wfd, const char *label,
				      const struct qm_peer_chan_ops *ops, void *userdata,
				      struct qm_error *err) _must_check_;
struct qm_peer_chan *qm_peer_chan_ref(struct qm_peer_chan *c);
/* Drops a reference; the last one closes the fds without calling .closed.  Returns NULL. */
struct qm_peer_chan *qm_peer_chan_unref(struct qm_peer_chan *c);

/*
 * Queues @m and starts writing it.  Returns 0 once queued (an error while
 * writing comes through .closed); -EINVAL or -E2BIG when @m cannot be
 * encoded (the channel stays open); -EPIPE when the channel is closed.
 */
int qm_peer_chan_send(struct qm_peer_chan *c, const struct qm_peer_msg *m,
		      struct qm_error *err) _must_check_;

/*
 * The same for a message that may be left out (the QMP transcript's): when
 * more than @max_queued bytes wait for the peer already, -EAGAIN (class
 * PeerBusy) and nothing is queued, so that a peer that reads slowly costs
 * bounded memory.  qm_peer_chan_send() itself never refuses for that.
 */
int qm_peer_chan_send_bounded(struct qm_peer_chan *c, const struct qm_peer_msg *m,
			      size_t max_queued, struct qm_error *err) _must_check_;

/* Bytes queued and not yet written. */
size_t qm_peer_chan_queued(const struct qm_peer_chan *c);
/*
 * For tests: the read buffer as it is (@cap bytes, consumed ones included),
 * so that a test can show a delivered frame's bytes were wiped.
 */
const char *qm_peer_chan_read_buffer(const struct qm_peer_chan *c, size_t *cap);
/* True once the channel has ended (.closed is due or delivered). */
bool qm_peer_chan_is_closed(const struct qm_peer_chan *c);

#endif
