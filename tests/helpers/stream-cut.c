/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * stream-cut: a relay for the fault matrix's stream cells (tests only).  It
 * goes into `--dest exec:` in front of the agent, runs the command after
 * `--` with pipes for its stdin and stdout, relays its own stdin to the
 * command's and the command's stdout to its own, and makes one fault
 * happen once exactly BYTES went toward the command:
 *
 *   stream-cut --after BYTES --do cut|deaf [--if-arg WORD] [--fired FILE]
 *              -- COMMAND ARGS...
 *
 *   cut    closes both directions at once (the command sees its stdin end,
 *          the writer a broken pipe) and exits 0, leaving the command to
 *          end by itself, as a dropped connection would;
 *   deaf   stops reading its stdin, never closes it, and relays the
 *          command's stdout on: the writer's pipe fills and stays full
 *          until the relay is killed (or DEAF_MAX_S passed).
 *
 * --if-arg WORD: only a command holding the word WORD is relayed; any
 * other is exec'd as it is (the agent's control channel, when WORD is the
 * `--stream` that only the stream processes get).  --fired FILE is written
 * once the fault happened.  No timing is involved: the fault is made at
 * the byte count, whatever the speed.  Writes block: the command's return
 * path is only read between them, which is enough for one stream one way.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#define BUF_BYTES (64 * 1024)
#define DEAF_MAX_S 300 /* a deaf relay nobody kills ends by itself */

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...);

static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "stream-cut: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

/* False once the reader went. */
static bool write_all(int fd, const char *p, size_t n)
{
	while (n) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return false;
		p += w;
		n -= (size_t)w;
	}
	return true;
}

static void fired(const char *file, const char *what, unsigned long long at)
{
	FILE *f;

	fprintf(stderr, "stream-cut: %s after %llu bytes\n", what, at);
	if (!file)
		return;
	f = fopen(file, "we");
	if (!f)
		die("cannot write %s", file);
	fprintf(f, "%s %llu\n", what, at);
	fclose(f);
}

static pid_t spawn(char **argv, int *in_fd, int *out_fd)
{
	int in[2], out[2];
	pid_t pid;

	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(out, O_CLOEXEC) < 0)
		die("pipe: %s", strerror(errno));
	pid = fork();
	if (pid < 0)
		die("fork: %s", strerror(errno));
	if (pid == 0) {
		if (dup2(in[0], STDIN_FILENO) < 0 || dup2(out[1], STDOUT_FILENO) < 0)
			_exit(127);
		execvp(argv[0], argv);
		fprintf(stderr, "stream-cut: cannot run %s: %s\n", argv[0],
			strerror(errno));
		_exit(127);
	}
	close(in[0]);
	close(out[1]);
	*in_fd = in[1];
	*out_fd = out[0];
	return pid;
}

static bool has_word(char **argv, const char *word)
{
	for (; *argv; argv++)
		if (strcmp(*argv, word) == 0)
			return true;
	return false;
}

int main(int argc, char **argv)
{
	unsigned long long after = 0, sent = 0;
	const char *mode = NULL, *if_arg = NULL, *fired_file = NULL;
	bool after_given = false, deaf = false;
	int in_fd, out_fd, i, status;
	static char buf[BUF_BYTES];
	pid_t pid;

	for (i = 1; i < argc && strcmp(argv[i], "--") != 0; i++) {
		if (i + 1 >= argc)
			die("%s needs a value", argv[i]);
		if (strcmp(argv[i], "--after") == 0) {
			char *end;

			errno = 0;
			after = strtoull(argv[++i], &end, 10);
			if (errno || *end || end == argv[i])
				die("invalid --after '%s'", argv[i]);
			after_given = true;
		} else if (strcmp(argv[i], "--do") == 0) {
			mode = argv[++i];
		} else if (strcmp(argv[i], "--if-arg") == 0) {
			if_arg = argv[++i];
		} else if (strcmp(argv[i], "--fired") == 0) {
			fired_file = argv[++i];
		} else {
			die("unknown option '%s'", argv[i]);
		}
	}
	if (i + 1 >= argc || !after_given || !mode)
		die("usage: stream-cut --after BYTES --do cut|deaf [--if-arg WORD] "
		    "[--fired FILE] -- COMMAND ARGS...");
	if (strcmp(mode, "deaf") == 0)
		deaf = true;
	else if (strcmp(mode, "cut") != 0)
		die("no fault '%s' (cut or deaf)", mode);
	argv += i + 1;
	if (if_arg && !has_word(argv, if_arg)) {
		execvp(argv[0], argv);
		die("cannot run %s: %s", argv[0], strerror(errno));
	}
	signal(SIGPIPE, SIG_IGN);
	pid = spawn(argv, &in_fd, &out_fd);

	for (bool in_open = true, out_open = true; in_open || out_open;) {
		struct pollfd p[2] = {
			{ .fd = in_open ? STDIN_FILENO : -1, .events = POLLIN },
			{ .fd = out_open ? out_fd : -1, .events = POLLIN },
		};
		ssize_t n;

		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		if (p[0].revents) {
			size_t want = sizeof(buf);

			if (after - sent < want)
				want = (size_t)(after - sent);
			n = want ? read(STDIN_FILENO, buf, want) : 0;
			if (n > 0 && !write_all(in_fd, buf, (size_t)n))
				n = 0;
			if (n > 0)
				sent += (unsigned long long)n;
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
				in_open = false;
				close(in_fd);
			}
			if (sent == after)
				break;
		}
		if (p[1].revents) {
			n = read(out_fd, buf, sizeof(buf));
			if (n > 0 && write_all(STDOUT_FILENO, buf, (size_t)n))
				continue;
			if (n == 0 || (n < 0 && errno != EINTR && errno != EAGAIN)) {
				out_open = false;
				close(STDOUT_FILENO);
			}
		}
	}
	if (sent < after) {
		/* The stream ended before the fault: the command's status is ours. */
		if (waitpid(pid, &status, 0) < 0)
			die("waitpid: %s", strerror(errno));
		return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	}
	if (!deaf) {
		fired(fired_file, "cut", sent);
		close(STDIN_FILENO);
		close(STDOUT_FILENO);
		close(in_fd);
		close(out_fd);
		return 0;
	}
	fired(fired_file, "deaf", sent);
	/* Deaf: stdin stays open, unread; the command's stdout still goes on. */
	alarm(DEAF_MAX_S);
	for (;;) {
		ssize_t n = read(out_fd, buf, sizeof(buf));

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		write_all(STDOUT_FILENO, buf, (size_t)n);
	}
	pause();
	return 0;
}
