/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Children from an argv: no shell, signals through a pidfd, reaped in bounded time. */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/child.h"
#include "util/error.h"

double qm_monotonic(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

void qm_child_init(struct qm_child *c)
{
	c->pid = -1;
	c->pidfd = -1;
	c->status = -1;
}

/* In the child: never returns.  Only async-signal-safe calls after fork. */
static void exec_child(char *const argv[], const struct qm_child_opts *o, pid_t parent)
{
	int top = 3 + (int)o->n_keep; /* the first descriptor not given to the child */
	int moved[3], kept[QM_CHILD_KEEP_MAX];
	sigset_t none;

	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	if (o->detach) {
		setsid();
	} else {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) /* the parent died before prctl */
			_exit(127);
	}
	if (o->private_umask)
		umask(0177);
	/*
	 * Out of the way first, above every place they go: a descriptor given
	 * may itself be 0, 1, 2 or 3 + i.  dup2 clears close-on-exec on the copy.
	 */
	for (int i = 0; i < 3; i++) {
		moved[i] = -1;
		if (o->stdio[i] >= 0 &&
		    (moved[i] = fcntl(o->stdio[i], F_DUPFD_CLOEXEC, top)) < 0)
			_exit(127);
	}
	for (size_t i = 0; i < o->n_keep; i++)
		if ((kept[i] = fcntl(o->keep[i], F_DUPFD_CLOEXEC, top)) < 0)
			_exit(127);
	for (int i = 0; i < 3; i++)
		if (moved[i] >= 0 && dup2(moved[i], i) < 0)
			_exit(127);
	for (size_t i = 0; i < o->n_keep; i++)
		if (dup2(kept[i], 3 + (int)i) < 0)
			_exit(127);
	/* What the caller left inheritable stays here (old kernels: cloexec only). */
	close_range((unsigned)top, ~0U, 0);
	if (o->envp)
		execvpe(argv[0], argv, o->envp);
	else
		execvp(argv[0], argv);
	dprintf(STDERR_FILENO, "qmigrate: cannot run %s: %s\n", argv[0], strerror(errno));
	_exit(127);
}

int qm_child_spawn(struct qm_child *c, char *const argv[], const struct qm_child_opts *o,
		   const char *error_class, struct qm_error *err)
{
	pid_t parent = getpid(), pid;
	int r;

	qm_child_init(c);
	if (o->n_keep > QM_CHILD_KEEP_MAX)
		return qm_error_set(err, -E2BIG, error_class,
				    "%zu descriptors to hand on, at most %d", o->n_keep,
				    QM_CHILD_KEEP_MAX);
	pid = fork();
	if (pid < 0)
		return qm_error_set(err, -errno, error_class, "fork: %s",
				    strerror(errno));
	if (pid == 0)
		exec_child(argv, o, parent);
	/* Not reaped yet, so the pid is still this child's. */
	c->pid = pid;
	c->pidfd = pidfd_open(pid, 0);
	if (c->pidfd >= 0)
		return 0;
	r = -errno;
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
	c->pid = -1;
	return qm_error_set(err, r, error_class, "pidfd_open: %s%s", strerror(-r),
			    r == -ENOSYS ? " (qmigrate needs Linux 5.3 or later)" : "");
}

bool qm_child_reap(struct qm_child *c)
{
	int status;
	pid_t r;

	if (c->pid <= 0)
		return true;
	r = waitpid(c->pid, &status, WNOHANG);
	if (r == c->pid) {
		c->status = status;
	} else if (r < 0 && errno == ECHILD) {
		c->status = -1; /* a SIGCHLD handler of the program that embeds us, say */
	} else {
		return false;
	}
	c->pid = -1;
	return true;
}

int qm_pidfd_signal(int pidfd, pid_t pid, int sig)
{
	struct pollfd p = { .fd = pidfd, .events = POLLIN };

	if (pidfd_send_signal(pidfd, sig, NULL, 0) == 0)
		return 0;
	if (errno != ENOSYS)
		return -errno;
	/*
	 * No pidfd_send_signal (valgrind, a seccomp filter): by pid, once the
	 * pidfd shows the process has not exited, so the pid is still its own.
	 */
	if (poll(&p, 1, 0) < 0)
		return -errno;
	if (p.revents & POLLIN)
		return -ESRCH;
	return kill(pid, sig) < 0 ? -errno : 0;
}

int qm_child_signal(struct qm_child *c, int sig)
{
	if (c->pid <= 0)
		return -ESRCH;
	return qm_pidfd_signal(c->pidfd, c->pid, sig);
}

/* Reaps what exits by @deadline; the pidfd wakes us, so no sleep outlasts it. */
static void reap_until(struct qm_child *const cs[], size_t n, double deadline)
{
	for (size_t i = 0; i < n; i++) {
		while (!qm_child_reap(cs[i])) {
			struct pollfd p = { .fd = cs[i]->pidfd, .events = POLLIN };
			double left = deadline - qm_monotonic();

			if (left <= 0)
				break;
			poll(&p, 1, (int)(left * 1000) + 1);
		}
	}
}

size_t qm_children_stop(struct qm_child *const cs[], size_t n, double grace)
{
	size_t left = 0;

	for (size_t i = 0; i < n; i++)
		if (!qm_child_reap(cs[i]))
			qm_child_signal(cs[i], SIGTERM);
	reap_until(cs, n, qm_monotonic() + grace);
	for (size_t i = 0; i < n; i++)
		if (!qm_child_reap(cs[i]))
			qm_child_signal(cs[i], SIGKILL);
	reap_until(cs, n, qm_monotonic() + grace);
	for (size_t i = 0; i < n; i++)
		left += !qm_child_reap(cs[i]);
	return left;
}

void qm_child_describe(const struct qm_child *c, char *buf, size_t len)
{
	if (c->pid > 0)
		snprintf(buf, len, "is running");
	else if (c->status == -1)
		snprintf(buf, len, "exited");
	else if (WIFSIGNALED(c->status))
		snprintf(buf, len, "was killed by signal %d", WTERMSIG(c->status));
	else
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(c->status));
}

void qm_child_release(struct qm_child *c)
{
	if (c->pidfd >= 0)
		close(c->pidfd);
	c->pidfd = -1;
}
