/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A child process the engine starts from an argv and owns: QEMU
 * (launch.c), a stream process (stream-proc.c).  Private to qmigrate.
 *
 * No shell: argv[0] is found in PATH by execvp().  The child gets the three
 * descriptors it is given as stdin, stdout and stderr, the ones it is told
 * to keep as 3, 4, ..., and nothing else: every other descriptor is closed
 * before exec, close-on-exec or not, so a descriptor an embedding program
 * left inheritable does not leak into it.
 * Signals go through a pidfd, never to a pid that a reap may have freed for
 * reuse; every wait is bounded.
 */
#ifndef QM_ENGINE_CHILD_H
#define QM_ENGINE_CHILD_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "qmigrate.h"
#include "util/macros.h"

struct qm_child {
	pid_t pid;  /* -1 once reaped, or before it started */
	int pidfd;  /* readable once the child exited; -1 before it started */
	int status; /* the wait status once reaped; -1 when someone else reaped it */
};

struct qm_child_opts {
	/* What the child's stdin, stdout and stderr become; -1: this process's own. */
	int stdio[3];
	/*
	 * Its own session and no parent-death signal: it may outlive us.
	 * Otherwise it gets SIGKILL when the thread that started it ends.
	 */
	bool detach;
	/* umask 0177 in the child: what it creates is 0600 (QEMU's sockets, its logs). */
	bool private_umask;
	/* Descriptors the child inherits: keep[i] becomes its fd 3 + i. */
	const int *keep;
	size_t n_keep; /* at most QM_CHILD_KEEP_MAX */
	/* The child's environment, NULL-terminated; NULL: this process's own. */
	char *const *envp;
};

#define QM_CHILD_KEEP_MAX 16

/* A child that was never started: pid and pidfd -1. */
void qm_child_init(struct qm_child *c);
/*
 * Starts @argv.  Returns 0, or a negative errno with @err filled (class
 * @error_class: too many descriptors to keep, fork or pidfd_open failed).  A program that cannot be run
 * is not an error here: the child says why on its stderr and exits 127.
 */
int qm_child_spawn(struct qm_child *c, char *const argv[], const struct qm_child_opts *o,
		   const char *error_class, struct qm_error *err) _must_check_;
/* Never blocks: true once reaped (now or before), its status in @c->status. */
bool qm_child_reap(struct qm_child *c);
/* Sends @sig through the pidfd: 0, or -ESRCH once reaped. */
int qm_child_signal(struct qm_child *c, int sig);
/*
 * Sends @sig to the process of @pidfd, whose pid is @pid: through the pidfd,
 * or where pidfd_send_signal is missing (ENOSYS: valgrind, a seccomp filter)
 * by @pid while the pidfd shows the process has not exited.  0 or -errno.
 */
int qm_pidfd_signal(int pidfd, pid_t pid, int sig);
/*
 * Stops every child in @cs that still runs: SIGTERM, a wait of at most
 * @grace seconds shared by all of them, SIGKILL for those left, and as long
 * again to reap them.  Returns how many could not be reaped even then (a
 * process stuck in the kernel): they are left behind.  Closes nothing.
 */
size_t qm_children_stop(struct qm_child *const cs[], size_t n, double grace);
static inline size_t qm_child_stop(struct qm_child *c, double grace)
{
	return qm_children_stop(&c, 1, grace);
}
/*
 * How it ended, for a message: "exited with status 3", "was killed by
 * signal 9", "exited" (someone else reaped it), or "is running".
 */
void qm_child_describe(const struct qm_child *c, char *buf, size_t len);
/* Closes the pidfd; the process, if any, is left alone.  Safe to repeat. */
void qm_child_release(struct qm_child *c);

/* CLOCK_MONOTONIC in seconds. */
double qm_monotonic(void);

#endif
