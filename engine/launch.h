/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting QEMU from a domain description, and owning what was started.
 * Private to qmigrate.
 *
 * QEMU runs from an argv (xml/domain-argv.h), never through a shell, in a
 * private runtime directory (0700, made here and checked) that holds its
 * QMP socket and its log (stdout and stderr).  The object owns the process
 * and the directory: free kills the one (SIGTERM, a bounded wait, SIGKILL)
 * and removes the other.  Release hands both to the caller instead.
 *
 * Waiting is blocking and bounded; it is meant for the command and the
 * destination agent before their loop runs, not inside a loop callback.
 */
#ifndef QM_ENGINE_LAUNCH_H
#define QM_ENGINE_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "qmigrate.h"
#include "util/macros.h"
#include "xml/domain.h"

#define QM_LAUNCH_TIMEOUT 20.0 /* seconds for QEMU to create its QMP socket */

struct qm_launch_opts {
	/* Where the runtime directory goes; NULL: $XDG_RUNTIME_DIR, else /tmp. */
	const char *runtime_parent;
	bool paused;	 /* -S */
	bool incoming;	 /* -S -incoming defer */
	double timeout;	 /* seconds to wait for the QMP socket; 0: QM_LAUNCH_TIMEOUT */
	/*
	 * The process may outlive the caller: it gets its own session and no
	 * parent-death signal.  Without it QEMU is killed when the caller dies.
	 */
	bool detach;
};

struct qm_launch;

/*
 * Builds the command line of @d, starts it and waits until its QMP socket
 * exists.  On success *@out owns the process.  Error classes: those of
 * qm_domain_argv(); LaunchDir (the runtime directory cannot be made, or is
 * not a 0700 directory of ours); LaunchExited (QEMU exited first: the
 * message holds its status and the tail of its log); LaunchTimeout; Launch
 * (fork failed).  Nothing is left behind on failure.
 */
int qm_launch_new(const struct qm_domain *d, const struct qm_launch_opts *opts,
		  struct qm_launch **out, struct qm_error *err) _must_check_;

pid_t qm_launch_pid(const struct qm_launch *l);
const char *qm_launch_qmp_path(const struct qm_launch *l);
const char *qm_launch_dir(const struct qm_launch *l);
const char *qm_launch_log_path(const struct qm_launch *l);

/*
 * Waits for QEMU to exit and stores its wait status in *@status.  0 once
 * reaped; -EINTR when a signal interrupted the wait (the caller decides).
 */
int qm_launch_wait(struct qm_launch *l, int *status) _must_check_;

/* Kills what it started (SIGTERM, at most 5 s, SIGKILL), removes the directory, frees. */
void qm_launch_free(struct qm_launch *l);
/* Frees the object only: the process and the directory are the caller's now. */
void qm_launch_release(struct qm_launch *l);

static inline void qm_launch_freep(struct qm_launch **l)
{
	qm_launch_free(*l);
}
#define _cleanup_launch_ _cleanup_(qm_launch_freep)

#endif
