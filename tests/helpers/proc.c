/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/helpers/proc.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

int tp_spawn(struct tp_proc *p, const char *const argv[])
{
	int fds[2];

	memset(p, 0, sizeof(*p));
	p->pid = -1;
	p->out_fd = -1;
	if (pipe2(fds, O_CLOEXEC) < 0)
		return -errno;
	p->pid = fork();
	if (p->pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -errno;
	}
	if (p->pid == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		dup2(fds[1], STDOUT_FILENO);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	p->out_fd = fds[0];
	return 0;
}

int tp_read_line(struct tp_proc *p, char *line, size_t len, double timeout)
{
	double deadline = now() + timeout;

	for (;;) {
		char *nl = memchr(p->buf, '\n', p->len);
		struct pollfd pfd = { .fd = p->out_fd, .events = POLLIN };
		ssize_t n;
		int left;

		if (nl) {
			size_t l = (size_t)(nl - p->buf);

			snprintf(line, len, "%.*s", (int)l, p->buf);
			memmove(p->buf, nl + 1, p->len - l - 1);
			p->len -= l + 1;
			return 1;
		}
		if (p->out_fd < 0 || p->len == sizeof(p->buf))
			return 0;
		left = (int)((deadline - now()) * 1000);
		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, left) <= 0)
			continue;
		n = read(p->out_fd, p->buf + p->len, sizeof(p->buf) - p->len);
		if (n <= 0) {
			close(p->out_fd);
			p->out_fd = -1;
			if (p->len == 0)
				return 0;
			/* A last line without a newline. */
			p->buf[p->len++] = '\n';
			continue;
		}
		p->len += (size_t)n;
	}
}

int tp_wait(struct tp_proc *p, double timeout)
{
	double deadline = now() + timeout;
	struct timespec tick = { 0, 10000000 };

	while (p->pid > 0) {
		pid_t r = waitpid(p->pid, &p->status, WNOHANG);

		if (r == p->pid) {
			p->pid = -1;
			break;
		}
		if (now() > deadline)
			return -ETIMEDOUT;
		nanosleep(&tick, NULL);
	}
	if (WIFEXITED(p->status))
		return WEXITSTATUS(p->status);
	return 128 + WTERMSIG(p->status);
}

int tp_signal(struct tp_proc *p, int sig)
{
	if (p->pid <= 0)
		return -ESRCH;
	return kill(p->pid, sig) < 0 ? -errno : 0;
}

void tp_cleanup(struct tp_proc *p)
{
	if (p->pid > 0) {
		kill(p->pid, SIGKILL);
		waitpid(p->pid, &p->status, 0);
		p->pid = -1;
	}
	if (p->out_fd >= 0) {
		close(p->out_fd);
		p->out_fd = -1;
	}
}
