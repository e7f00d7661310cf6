/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_QMP_INTERNAL_H
#define QM_QMP_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "qmigrate.h"

struct ev_loop *qm_qmp_loop(const struct qm_qmp *qmp);
/* The QEMU at the other end of the open connection, as a pidfd to close(), or -errno. */
int qm_qmp_peer_pidfd(const struct qm_qmp *qmp);
/*
 * The same, with its pid and uid (SO_PEERCRED).  -ESRCH with *@pid 0: the
 * peer lives in another PID namespace, where its pid has no number here;
 * with *@pid set: it has gone.
 */
int qm_qmp_peer(const struct qm_qmp *qmp, pid_t *pid, uid_t *uid);
/*
 * Only its pid, once qm_qmp_peer showed it is still that QEMU (the pidfd
 * is closed again); or qm_qmp_peer's -errno.
 */
pid_t qm_qmp_peer_pid(const struct qm_qmp *qmp);
/*
 * Why the connection closed (borrowed), or NULL while it is not closed; set
 * before the close callback runs, as soon as a command can no longer be queued.
 */
const struct qm_error *qm_qmp_close_error(const struct qm_qmp *qmp);

/*
 * A transcript of the connection: @cb sees every message, as it goes out
 * (@sent, commands with their secrets masked as in the debug trace) or as
 * it came in (greeting, replies, events), @len bytes without a newline,
 * borrowed.  It must not close or free @qmp.  NULL stops it.
 */
typedef void (*qm_qmp_transcript_fn)(struct qm_qmp *qmp, bool sent, const char *text,
				     size_t len, void *userdata);
void qm_qmp_set_transcript(struct qm_qmp *qmp, qm_qmp_transcript_fn cb, void *userdata);

#endif
