/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * engine/stream-proc: the source's end of a stream between hosts, a process
 * started from an argv.  Children here are small shell scripts; each is
 * stopped and reaped by the code under test, and checked gone with waitid().
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/stream.h"
#include "tests/helpers/stream.h"

TestSuite(stream_proc, .timeout = 60);

static void spawn(const char *const argv[], bool back, struct qm_stream_proc *p)
{
	struct qm_error err = { 0 };

	cr_assert_eq(qm_stream_spawn((char *const *)argv, back, p, &err), 0, "%s",
		     err.text);
	cr_assert_gt(p->child.pid, 0);
	cr_assert_geq(p->child.pidfd, 0);
	cr_assert_geq(p->in_fd, 0);
	cr_assert_eq(p->out_fd >= 0, back);
}

/* The process was reaped by qm_stream_proc_stop: no zombie, nothing of it kept open. */
static void expect_reaped(const struct qm_stream_proc *p, pid_t pid)
{
	siginfo_t si = { 0 };

	cr_assert_eq(p->child.pid, -1);
	cr_assert_eq(p->child.pidfd, -1);
	cr_assert_eq(p->in_fd, -1);
	cr_assert_eq(p->out_fd, -1);
	cr_assert_eq(waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG), -1,
		     "pid %d is still ours to reap", (int)pid);
	cr_assert_eq(errno, ECHILD);
}

/* Reads @fd to its end into @buf; bounded by the suite's timeout. */
static size_t read_all(int fd, char *buf, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len - 1 && (n = read(fd, buf + got, len - 1 - got)) > 0)
		got += (size_t)n;
	buf[got] = '\0';
	return got;
}

/* Until @p exits by itself (stop would not wait: it sends SIGTERM at once). */
static void wait_exit(const struct qm_stream_proc *p)
{
	struct pollfd pfd = { .fd = p->child.pidfd, .events = POLLIN };

	cr_assert_eq(poll(&pfd, 1, 30000), 1, "the child did not exit");
}

/* Runs @argv without a return path until it exits by itself; stops it; its exit code. */
static int run_to_exit(const char *const argv[])
{
	struct qm_stream_proc p;
	pid_t pid;

	spawn(argv, false, &p);
	pid = p.child.pid;
	wait_exit(&p);
	cr_assert_eq(qm_stream_proc_stop(&p), 0);
	expect_reaped(&p, pid);
	cr_assert(WIFEXITED(p.child.status), "status %#x", p.child.status);
	return WEXITSTATUS(p.child.status);
}

Test(stream_proc, a_child_that_exits_is_reaped_with_its_status)
{
	const char *argv[] = { "/bin/sh", "-c", "exit 3", NULL };
	int before = ts_count_fds();

	cr_assert_eq(run_to_exit(argv), 3);
	cr_assert_eq(ts_count_fds(), before);
}

Test(stream_proc, stdin_carries_the_stream_and_stdout_brings_it_back)
{
	/* "sh" without a path: execvp finds it in PATH. */
	const char *argv[] = { "sh", "-c", "exec cat", NULL };
	struct qm_stream_proc p;
	char buf[64];
	pid_t pid;
	int in;

	spawn(argv, true, &p);
	pid = p.child.pid;
	in = steal_fd(&p.in_fd);
	cr_assert_eq(write(in, "to the destination", 18), 18);
	close(in);
	cr_assert_eq(read_all(p.out_fd, buf, sizeof(buf)), 18);
	cr_assert_str_eq(buf, "to the destination");
	wait_exit(&p);
	cr_assert_eq(qm_stream_proc_stop(&p), 0);
	expect_reaped(&p, pid);
	cr_assert(WIFEXITED(p.child.status) && WEXITSTATUS(p.child.status) == 0,
		  "status %#x", p.child.status);
}

Test(stream_proc, without_a_return_path_stdout_is_dev_null)
{
	const char *argv[] = {
		"/bin/sh", "-c",
		"case $(readlink /proc/$$/fd/1) in /dev/null) exit 0;; esac; exit 1", NULL
	};

	cr_assert_eq(run_to_exit(argv), 0, "its stdout is not /dev/null");
}

/* Every descriptor of ours, close-on-exec or not, but 0, 1 and 2. */
static char **our_fds(char **argv, size_t max, size_t *n)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;

	cr_assert(d);
	while ((e = readdir(d)))
		if (atoi(e->d_name) > 2 && atoi(e->d_name) != dirfd(d) && *n < max)
			argv[(*n)++] = strdup(e->d_name);
	closedir(d);
	return argv;
}

/* Prints the descriptors among its arguments that it holds, then "end". */
static char held_fds[] =
	"for f in \"$@\"; do [ -e /proc/$$/fd/$f ] && echo \"$f\"; done; "
	"echo end";

Test(stream_proc, the_child_inherits_no_descriptor_but_its_stdio)
{
	char *argv[256] = { "/bin/sh", "-c", held_fds, "sh" };
	int leaky = open("/dev/null", O_RDONLY); /* not close-on-exec */
	struct qm_stream_proc p;
	size_t n = 4, first;
	char buf[256];
	pid_t pid;

	cr_assert_geq(leaky, 3);
	first = n;
	our_fds(argv, 250, &n);
	cr_assert_gt(n, first);
	spawn((const char *const *)argv, true, &p);
	pid = p.child.pid;
	close(steal_fd(&p.in_fd));
	read_all(p.out_fd, buf, sizeof(buf));
	cr_assert_str_eq(buf, "end\n", "the child holds descriptors of ours: %s", buf);
	cr_assert_eq(qm_stream_proc_stop(&p), 0);
	expect_reaped(&p, pid);
	for (size_t i = first; i < n; i++)
		free(argv[i]);
	close(leaky);
}

static void start_stubborn(struct qm_stream_proc *p)
{
	/* SIGTERM ignored, which exec keeps; "ready" once it is. */
	const char *argv[] = { "/bin/sh", "-c",
			       "trap '' TERM; echo ready; exec sleep 600", NULL };
	char buf[8] = { 0 };

	spawn(argv, true, p);
	cr_assert_eq(read(p->out_fd, buf, 6), 6);
	cr_assert_str_eq(buf, "ready\n");
}

Test(stream_proc, a_child_that_ignores_sigterm_is_killed_within_the_bound)
{
	struct qm_stream_proc p;
	double t;
	pid_t pid;

	start_stubborn(&p);
	pid = p.child.pid;
	t = qm_monotonic();
	cr_assert_eq(qm_stream_proc_stop(&p), 0);
	t = qm_monotonic() - t;
	expect_reaped(&p, pid);
	cr_assert(WIFSIGNALED(p.child.status) && WTERMSIG(p.child.status) == SIGKILL,
		  "status %#x", p.child.status);
	/* It had its grace, and not much more than the bound (room for a loaded host). */
	cr_assert_geq(t, QM_STREAM_STOP_GRACE - 0.1);
	cr_assert_lt(t, 2 * QM_STREAM_STOP_GRACE + 10, "%.1f s", t);
}

Test(stream_proc, several_are_stopped_under_one_grace)
{
	struct qm_stream_proc a, b, *ps[] = { &a, &b };
	pid_t pa, pb;

	start_stubborn(&a);
	start_stubborn(&b);
	pa = a.child.pid;
	pb = b.child.pid;
	cr_assert_eq(qm_stream_procs_stop(ps, 2), 0);
	expect_reaped(&a, pa);
	expect_reaped(&b, pb);
	cr_assert(WIFSIGNALED(a.child.status) && WTERMSIG(a.child.status) == SIGKILL);
	cr_assert(WIFSIGNALED(b.child.status) && WTERMSIG(b.child.status) == SIGKILL);
	/* Stopping again is harmless. */
	cr_assert_eq(qm_stream_procs_stop(ps, 2), 0);
}

Test(stream_proc, a_program_that_cannot_run_exits_127)
{
	const char *argv[] = { "/nonexistent/qmigrate", "serve", NULL };

	cr_assert_eq(run_to_exit(argv), 127);
}

Test(stream_proc, an_empty_command_is_refused)
{
	char *argv[] = { NULL };
	struct qm_error err = { 0 };
	struct qm_stream_proc p;

	cr_assert_eq(qm_stream_spawn(argv, false, &p, &err), -EINVAL);
	cr_assert_str_eq(err.error_class, "Usage");
	cr_assert_eq(p.child.pid, -1);
	cr_assert_eq(qm_stream_proc_stop(&p), 0);
}
