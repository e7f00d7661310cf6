/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * maxrss COMMAND [ARGS...]: runs COMMAND (argv, no shell) and prints its peak
 * resident set size in KiB on stderr as "maxrss_kib=N"; exits as COMMAND did.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
	struct rusage ru;
	int status;
	pid_t pid;

	if (argc < 2) {
		fputs("usage: maxrss COMMAND [ARGS...]\n", stderr);
		return 2;
	}
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 1;
	}
	if (pid == 0) {
		execvp(argv[1], argv + 1);
		fprintf(stderr, "maxrss: exec %s: %s\n", argv[1], strerror(errno));
		_exit(127);
	}
	if (wait4(pid, &status, 0, &ru) < 0) {
		perror("wait4");
		return 1;
	}
	fprintf(stderr, "maxrss_kib=%ld\n", ru.ru_maxrss);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
