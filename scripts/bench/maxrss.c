/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * maxrss COMMAND [ARGS...]: runs COMMAND (argv, no shell) and prints on
 * stderr its peak resident set size ("maxrss_kib=N", from wait4) and its
 * peak anonymous memory ("anon_kib=N": heap, stacks, written data pages,
 * sampled every 5 ms from /proc/PID/smaps_rollup).  RSS also counts every
 * library page touched; anonymous memory is what the process itself costs.
 * Exits as COMMAND did.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static long anon_kib(pid_t pid)
{
	char path[64], line[256];
	long total = 0, kib;
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/smaps_rollup", (int)pid);
	f = fopen(path, "re");
	if (!f)
		return -1;
	while (fgets(line, sizeof(line), f))
		if (sscanf(line, "Anonymous: %ld kB", &kib) == 1)
			total += kib;
	fclose(f);
	return total;
}

int main(int argc, char *argv[])
{
	const struct timespec tick = { 0, 5000000 };
	long peak_anon = 0;
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
	for (;;) {
		pid_t r = wait4(pid, &status, WNOHANG, &ru);
		long kib;

		if (r == pid)
			break;
		if (r < 0) {
			perror("wait4");
			return 1;
		}
		kib = anon_kib(pid);
		if (kib > peak_anon)
			peak_anon = kib;
		nanosleep(&tick, NULL);
	}
	fprintf(stderr, "maxrss_kib=%ld\nanon_kib=%ld\n", ru.ru_maxrss, peak_anon);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
