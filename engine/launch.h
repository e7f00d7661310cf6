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
 * qm_launch_new() waits, blocking and bounded: it is meant for the command
 * and the destination agent before their loop runs, not inside a loop
 * callback.  A caller with a loop uses qm_launch_start() instead and
 * watches qm_launch_pidfd() and the QMP socket itself.
 */
#ifndef QM_ENGINE_LAUNCH_H
#define QM_ENGINE_LAUNCH_H

#include <stdbool.h>
#include <sys/types.h>

#include "engine/lease.h"
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
	/*
	 * Displays, by enum qm_domain_graphics_type, that start locked though
	 * @d holds no password: a migratable description lost its passwords,
	 * and the caller sets them over QMP from its own copy.
	 */
	bool locked[2];
	/*
	 * The character devices' files and listening sockets move into the
	 * runtime directory (xml/domain-rewrite.h, chr_dir), as serialN.log and
	 * the like: a second QEMU of the VM on this host must not write the
	 * source's log or take its socket.
	 */
	bool chr_into_dir;
	/*
	 * Open leases (engine/lease.h), normally held, that QEMU holds as long
	 * as it runs: lease i becomes QEMU's fd 3 + i, named on its command
	 * line with -add-fd in fd set QM_LEASE_FDSET + i with the opaque
	 * QM_LEASE_OPAQUE PATH (query-fdsets shows them).  The caller keeps
	 * its own descriptors, of the same descriptions.  At most QM_LEASE_MAX.
	 */
	const struct qm_lease *leases;
	size_t n_leases;
	/*
	 * QEMU keeps fd sets with no lease yet (qm_domain_argv_opts.fdset_pin):
	 * a migration's destination is handed them with add-fd.
	 */
	bool fdset_pin;
	/* SPICE's TLS directory for a display with a tlsPort (qm_domain_argv_opts). */
	const char *spice_x509_dir;
	/*
	 * QEMU will serve disks over NBD (a storage migration's destination):
	 * its allocator keeps the memory it frees instead of handing it back
	 * to the system, QM_LAUNCH_NBD_TUNABLES in its GLIBC_TUNABLES, unless
	 * our environment sets GLIBC_TUNABLES already (docs/storage.md).
	 */
	bool serves_disks;
};

/*
 * The NBD server allocates every request's buffer and frees it once the
 * data is written; with glibc's defaults those buffers (2 MiB for a
 * mirror's requests) are mapped and unmapped, or trimmed off the heap,
 * each time, and every 4 KiB page the destination receives costs a page
 * fault.  A fixed mmap threshold at glibc's maximum keeps them on the heap,
 * and a trim threshold of 128 MiB (more than the NBD requests in flight
 * hold) keeps the heap's top.
 */
#define QM_LAUNCH_NBD_TUNABLES \
	"glibc.malloc.mmap_threshold=33554432:glibc.malloc.trim_threshold=134217728"

struct qm_launch;

/*
 * Builds the command line of @d, starts it and waits until its QMP socket
 * exists.  On success *@out owns the process.  Error classes: those of
 * qm_domain_argv(); LaunchDir (the runtime directory cannot be made, or is
 * not a 0700 directory of ours); Usage (more than QM_LEASE_MAX leases, or
 * one not open); LaunchExited (QEMU exited first: the
 * message holds its status and the tail of its log); LaunchTimeout; Launch
 * (fork failed).  Nothing is left behind on failure.
 */
int qm_launch_new(const struct qm_domain *d, const struct qm_launch_opts *opts,
		  struct qm_launch **out, struct qm_error *err) _must_check_;

/*
 * The first half of qm_launch_new(): builds the command line, makes the
 * directory and starts QEMU, without waiting for anything.  @opts->timeout
 * is not used.  The same errors but LaunchExited and LaunchTimeout.
 */
int qm_launch_start(const struct qm_domain *d, const struct qm_launch_opts *opts,
		    struct qm_launch **out, struct qm_error *err) _must_check_;
/*
 * The second half: blocks until the QMP socket exists, at most @timeout
 * seconds (0: QM_LAUNCH_TIMEOUT).  LaunchExited or LaunchTimeout, with the
 * tail of QEMU's log; the process is left for qm_launch_free().
 */
int qm_launch_wait_socket(struct qm_launch *l, double timeout,
			  struct qm_error *err) _must_check_;

/* A pidfd of the process (borrowed), readable once it exited; -1 once reaped. */
int qm_launch_pidfd(const struct qm_launch *l);
/*
 * Never blocks: -EAGAIN while the process runs; 0 once it is reaped.  When
 * this call reaped it, @err gets class LaunchExited: "QEMU exited with
 * status N @when: the tail of its log".
 */
int qm_launch_reap(struct qm_launch *l, const char *when, struct qm_error *err);
/*
 * The last 400 bytes of QEMU's log on one line, as ": text" for the end of an
 * error message; "" when the log is empty.
 */
void qm_launch_log_tail(const struct qm_launch *l, char *out, size_t size);
/* Sends @sig through the pidfd; -ESRCH once reaped. */
int qm_launch_signal(struct qm_launch *l, int sig);

/* -1 once reaped. */
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
