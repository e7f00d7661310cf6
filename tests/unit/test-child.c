/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Children where the kernel lacks a pidfd call: a seccomp filter in the test's
 * worker answers ENOSYS to it, as Linux before 5.1/5.3, a container's filter or
 * valgrind (which handles no pidfd_send_signal) do.  Signals fall back to the pid
 * while the pidfd shows the process has not exited; no pidfd_open is a clear error.
 */
#include <errno.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <criterion/criterion.h>

#include "engine/child.h"
#include "util/error.h"

TestSuite(child, .timeout = 30);

/* From here on, syscall @nr fails with ENOSYS in this process and its children. */
static void without_syscall(int nr)
{
	struct sock_filter code[] = {
		BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
		BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (unsigned)nr, 0, 1),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ERRNO | ENOSYS),
		BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
	};
	struct sock_fprog prog = { .len = sizeof(code) / sizeof(code[0]),
				   .filter = code };

	cr_assert_eq(prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0), 0, "%s", strerror(errno));
	cr_assert_eq(prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog), 0, "%s",
		     strerror(errno));
}

static void spawn(struct qm_child *c, char *const argv[])
{
	struct qm_child_opts o = { .stdio = { -1, -1, -1 } };
	struct qm_error err = { 0 };

	cr_assert_eq(qm_child_spawn(c, argv, &o, "Test", &err), 0, "%s", err.text);
}

/* Reaps @c within 10 s; the pidfd wakes us when it exits. */
static void reap(struct qm_child *c)
{
	struct pollfd p = { .fd = c->pidfd, .events = POLLIN };

	cr_assert_eq(poll(&p, 1, 10000), 1, "the child did not exit");
	cr_assert(qm_child_reap(c));
}

Test(child, a_signal_goes_by_pid_without_pidfd_send_signal)
{
	char *argv[] = { "sleep", "60", NULL };
	struct qm_child c;

	without_syscall(__NR_pidfd_send_signal);
	spawn(&c, argv);
	cr_assert_eq(qm_child_signal(&c, SIGKILL), 0);
	reap(&c);
	cr_assert(WIFSIGNALED(c.status) && WTERMSIG(c.status) == SIGKILL);
	cr_assert_eq(qm_child_signal(&c, SIGKILL), -ESRCH);
	qm_child_release(&c);
}

Test(child, an_exited_process_is_not_signalled_by_pid)
{
	char *argv[] = { "true", NULL };
	struct pollfd p;
	struct qm_child c;

	without_syscall(__NR_pidfd_send_signal);
	spawn(&c, argv);
	p = (struct pollfd){ .fd = c.pidfd, .events = POLLIN };
	cr_assert_eq(poll(&p, 1, 10000), 1, "the child did not exit");
	/* Not reaped: the pid is still its own, yet the pidfd says it has gone. */
	cr_assert_eq(qm_pidfd_signal(c.pidfd, c.pid, SIGTERM), -ESRCH);
	cr_assert(qm_child_reap(&c));
	qm_child_release(&c);
}

Test(child, without_pidfd_open_a_spawn_fails_clearly_and_leaves_no_child)
{
	char *argv[] = { "sleep", "60", NULL };
	struct qm_child_opts o = { .stdio = { -1, -1, -1 } };
	struct qm_error err = { 0 };
	struct qm_child c;

	without_syscall(__NR_pidfd_open);
	cr_assert_eq(qm_child_spawn(&c, argv, &o, "Test", &err), -ENOSYS);
	cr_assert_str_eq(err.error_class, "Test");
	cr_assert(strstr(err.text, "Linux 5.3"), "%s", err.text);
	cr_assert_eq(c.pid, -1);
	cr_assert_eq(waitpid(-1, NULL, WNOHANG), -1, "a child is left");
	cr_assert_eq(errno, ECHILD);
}
