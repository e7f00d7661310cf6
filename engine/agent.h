/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination agent, `qmigrate serve --stdio`: one session of the peer
 * protocol (docs/peer-protocol.md) on a read and a write descriptor, in
 * which the source engine has this host run the destination's phases
 * (prepare, finish, or cleanup) with dest.c, the same code as local mode.
 * Private to qmigrate.
 *
 * The agent launches the destination QEMU from the description it is sent,
 * or attaches to the QMP socket it is told.  When the channel closes before
 * finish, it stops what it prepared; once finish resumed the VM here, the
 * QEMU keeps running after the agent exits.  Nothing but the protocol goes
 * to the write descriptor: logs go through the context (stderr).
 */
#ifndef QM_ENGINE_AGENT_H
#define QM_ENGINE_AGENT_H

#include "qmigrate.h"
#include "util/macros.h"

struct qm_agent_opts {
	int rfd, wfd;		     /* the channel; both are taken */
	const char *runtime_dir;     /* parent of its directories; NULL: $XDG_RUNTIME_DIR, /tmp */
	const char *host_uuid;	     /* this host's uuid; NULL: /etc/machine-id */
	/*
	 * Direct transport: where the destination QEMU listens unless the
	 * source says; NULL: the address the ssh connection reached
	 * ($SSH_CONNECTION), else 127.0.0.1.
	 */
	const char *migrate_address;
};

/*
 * Serves one session, blocking, on a loop of its own, until the source
 * closes the channel (or the session failed and was cleaned up).  Returns
 * 0 when a migration completed here, else a negative errno with @err
 * filled: the session's failure, which the source was also told when the
 * channel still stood.
 */
int qm_agent_serve(struct qm_ctx *ctx, const struct qm_agent_opts *o,
		   struct qm_error *err) _must_check_;

/* The address the agent picks for direct transport, into @out (of @size). */
void qm_agent_pick_address(const char *given, char *out, size_t size);

#endif
