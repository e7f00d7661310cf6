/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A child process for tests: argv only, stdout read line by line, waits bounded, killed by pid. */
#ifndef QM_TESTS_PROC_H
#define QM_TESTS_PROC_H

#include <stddef.h>
#include <sys/types.h>

struct tp_proc {
	pid_t pid;
	int out_fd; /* the child's stdout */
	char buf[65536];
	size_t len;
	int status; /* wait status once reaped */
};

/* Starts @argv (argv[0] is a path) with stdout piped to us; stderr is inherited. */
int tp_spawn(struct tp_proc *p, const char *const argv[]);
/* Reads one line (without the newline): 1, 0 at EOF, -ETIMEDOUT after @timeout seconds. */
int tp_read_line(struct tp_proc *p, char *line, size_t len, double timeout);
/* Waits at most @timeout seconds; returns the exit code, 128+signal, or -ETIMEDOUT. */
int tp_wait(struct tp_proc *p, double timeout);
/* Sends @sig by pid. */
int tp_signal(struct tp_proc *p, int sig);
/* SIGKILL if still running, reap, close the pipe.  Safe to repeat. */
void tp_cleanup(struct tp_proc *p);

#endif
