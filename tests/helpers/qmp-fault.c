/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmp-fault: a QMP proxy for the fault matrix (tests only).  It stands
 * between the engine and two real QEMUs, forwards their traffic, and makes
 * one fault happen at an exact point: when the N-th command of a name
 * arrives on one side, before that command is forwarded.
 *
 *   qmp-fault [--src QEMU-SOCK:LISTEN[@PID]] [--dst QEMU-SOCK:LISTEN[@PID]]
 *             --at SIDE:COMMAND[:N] --do ACTION [--fired FILE]
 *   qmp-fault --bind-exec LISTEN PROGRAM [ARGS...]
 *
 * A side not given is not proxied (the engine connects to that QEMU
 * itself): the side of --at, and the one close hangs up, must be given.
 *
 * The engine kills a destination that ignores quit, or whose QMP went
 * away, by its QMP peer's pid: the process that called listen() on the
 * socket it connected to.  Behind a plain proxy that is the proxy.  So
 * --bind-exec binds and listens on LISTEN (0600), keeps that socket as
 * fd BIND_FD and execs PROGRAM (QEMU): the listener is QEMU's pid.  A
 * side given as LISTEN@PID then takes its listening socket from PID's
 * BIND_FD (pidfd_getfd) instead of binding one, and the engine's peer
 * behind the proxy is the QEMU itself.
 *
 * SIDE is src or dst; N counts from 1 (default 1).  ACTION is one of
 *   delay:MS          hold the command MS ms (at most 60000), then forward it
 *   drop              never forward it (the engine's command timeout fires)
 *   error             answer it with a GenericError, never forward it
 *   close:SIDE        hang up SIDE's connection, both ways (not forwarded
 *                     when SIDE is the side of the command)
 *   signal:SIG:PID    send SIG (KILL, STOP, INT, TERM, CONT) to PID, then
 *                     forward; @FILE instead of PID reads the pid from FILE
 *                     (waited for, at most 10 s)
 * --fired FILE is written once the fault happened, so that a test knows
 * its fault was injected and did not pass by missing it.
 *
 * The LISTEN sockets are created 0600 (their directory should be 0700);
 * each serves one connection.  The proxy exits once both connections have
 * come and gone, or on SIGTERM, and removes its sockets.  A fault is made
 * once; everything else goes through unchanged, lines from the engine and
 * bytes from QEMU.
 */
#include <errno.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LINE_MAX_BYTES (1 << 20)
#define PIDFILE_WAIT_MS 10000
#define DELAY_MAX_MS 60000
#define BIND_FD 100 /* where --bind-exec leaves the listening socket */

enum action { A_DELAY, A_DROP, A_ERROR, A_CLOSE, A_SIGNAL };

struct side {
	const char *name, *upstream, *listen_path;
	pid_t bound_by; /* the --bind-exec process that listens, or 0 */
	int lfd, cfd, ufd;
	bool connected, done;
	char *line; /* the engine's partial line */
	size_t len;
	unsigned seen; /* commands named as the rule's, on this side */
};

static struct side sides[2] = { { .name = "src" }, { .name = "dst" } };
static struct {
	int side;
	char command[64];
	unsigned n;
	enum action action;
	long delay_ms;
	int target, sig;
	const char *pid_arg, *fired;
	bool done;
} rule = { .n = 1, .target = -1 };
static volatile sig_atomic_t stop;

__attribute__((format(printf, 1, 2), noreturn)) static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fprintf(stderr, "qmp-fault: ");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(2);
}

static int side_index(const char *name)
{
	if (strcmp(name, "src") == 0)
		return 0;
	if (strcmp(name, "dst") == 0)
		return 1;
	die("no side '%s' (src or dst)", name);
}

static int unix_fd(const char *path, bool listening)
{
	struct sockaddr_un a = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (fd < 0 || strlen(path) >= sizeof(a.sun_path))
		die("cannot make a socket for %s", path);
	memcpy(a.sun_path, path, strlen(path) + 1);
	if (listening) {
		mode_t old = umask(0177);
		int r = bind(fd, (struct sockaddr *)&a, sizeof(a));

		umask(old);
		if (r < 0 || listen(fd, 1) < 0)
			die("cannot listen on %s", path);
	} else if (connect(fd, (struct sockaddr *)&a, sizeof(a)) < 0) {
		die("cannot connect to %s", path);
	}
	return fd;
}

static void write_all(int fd, const char *p, size_t n)
{
	while (n && fd >= 0) {
		ssize_t w = write(fd, p, n);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return; /* the reader went: its close shows on the next poll */
		p += w;
		n -= (size_t)w;
	}
}

static void hang_up(struct side *s)
{
	if (s->cfd >= 0)
		close(s->cfd);
	if (s->ufd >= 0)
		close(s->ufd);
	s->cfd = s->ufd = -1;
	s->done = true;
}

static void sleep_ms(long ms)
{
	struct timespec t = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&t, &t) < 0 && errno == EINTR)
		;
}

static pid_t target_pid(void)
{
	const char *p = rule.pid_arg;
	char buf[32];
	long pid = 0;

	if (*p != '@')
		return (pid_t)atol(p);
	/* The pid of a process started after the proxy (the qmigrate under test). */
	for (int i = 0; i < PIDFILE_WAIT_MS / 10 && pid <= 0; i++) {
		FILE *f = fopen(p + 1, "re");

		if (f) {
			if (fgets(buf, sizeof(buf), f))
				pid = atol(buf);
			fclose(f);
		}
		if (pid <= 0)
			sleep_ms(10);
	}
	if (pid <= 0)
		die("no pid in %s", p + 1);
	return (pid_t)pid;
}

static void answer_error(struct side *s, json_t *cmd)
{
	json_t *reply = json_pack("{s:{s:s,s:s}}", "error", "class", "GenericError",
				  "desc", "qmp-fault: injected error");
	char *text;

	if (json_object_get(cmd, "id"))
		json_object_set(reply, "id", json_object_get(cmd, "id"));
	text = json_dumps(reply, JSON_COMPACT);
	write_all(s->cfd, text, strlen(text));
	write_all(s->cfd, "\r\n", 2);
	free(text);
	json_decref(reply);
}

static void mark_fired(const char *what)
{
	FILE *f;

	rule.done = true;
	if (!rule.fired)
		return;
	f = fopen(rule.fired, "we");
	if (!f)
		die("cannot write %s", rule.fired);
	fprintf(f, "%s\n", what);
	fclose(f);
}

/* The fault, at the rule's command; true when the command goes on to QEMU. */
static bool inject(struct side *s, json_t *cmd)
{
	switch (rule.action) {
	case A_DELAY:
		sleep_ms(rule.delay_ms);
		mark_fired("delay");
		return true;
	case A_DROP:
		mark_fired("drop");
		return false;
	case A_ERROR:
		answer_error(s, cmd);
		mark_fired("error");
		return false;
	case A_CLOSE:
		hang_up(&sides[rule.target]);
		mark_fired("close");
		return &sides[rule.target] != s;
	case A_SIGNAL:
		if (kill(target_pid(), rule.sig) < 0)
			die("cannot signal: %s", strerror(errno));
		mark_fired("signal");
		return true;
	}
	return true;
}

static void engine_line(struct side *s, char *line, size_t n)
{
	json_t *cmd = json_loadb(line, n, 0, NULL);
	const char *name = json_string_value(json_object_get(cmd, "execute"));
	bool forward = true;

	if (!rule.done && &sides[rule.side] == s && name &&
	    strcmp(name, rule.command) == 0 && ++s->seen == rule.n)
		forward = inject(s, cmd);
	json_decref(cmd);
	if (forward && !s->done)
		write_all(s->ufd, line, n);
}

static void from_engine(struct side *s)
{
	char buf[65536], *nl;
	ssize_t r = read(s->cfd, buf, sizeof(buf));

	if (r <= 0) {
		hang_up(s);
		return;
	}
	if (s->len + (size_t)r > LINE_MAX_BYTES)
		die("a line from the engine on %s is too long", s->name);
	s->line = realloc(s->line, s->len + (size_t)r);
	if (!s->line)
		die("out of memory");
	memcpy(s->line + s->len, buf, (size_t)r);
	s->len += (size_t)r;
	while (!s->done && (nl = memchr(s->line, '\n', s->len))) {
		size_t n = (size_t)(nl - s->line) + 1;
		char *rest;

		/* The line leaves the buffer first: a fault may hang this side up. */
		rest = malloc(s->len - n + 1);
		if (!rest)
			die("out of memory");
		memcpy(rest, s->line + n, s->len - n);
		s->len -= n;
		nl = s->line;
		s->line = rest;
		engine_line(s, nl, n);
		free(nl);
	}
}

static void from_qemu(struct side *s)
{
	char buf[65536];
	ssize_t r = read(s->ufd, buf, sizeof(buf));

	if (r <= 0) {
		hang_up(s);
		return;
	}
	write_all(s->cfd, buf, (size_t)r);
}

static void parse_action(const char *a)
{
	static const struct {
		const char *name;
		int sig;
	} sigs[] = { { "KILL", SIGKILL },
		     { "STOP", SIGSTOP },
		     { "INT", SIGINT },
		     { "TERM", SIGTERM },
		     { "CONT", SIGCONT } };
	char name[16];
	const char *colon;

	if (strncmp(a, "delay:", 6) == 0) {
		rule.action = A_DELAY;
		rule.delay_ms = atol(a + 6);
		if (rule.delay_ms <= 0 || rule.delay_ms > DELAY_MAX_MS)
			die("a delay is 1 to 60000 ms, not '%s'", a + 6);
	} else if (strcmp(a, "drop") == 0) {
		rule.action = A_DROP;
	} else if (strcmp(a, "error") == 0) {
		rule.action = A_ERROR;
	} else if (strncmp(a, "close:", 6) == 0) {
		rule.action = A_CLOSE;
		rule.target = side_index(a + 6);
	} else if (strncmp(a, "signal:", 7) == 0 && (colon = strchr(a + 7, ':')) &&
		   (size_t)(colon - a - 7) < sizeof(name)) {
		rule.action = A_SIGNAL;
		snprintf(name, sizeof(name), "%.*s", (int)(colon - a - 7), a + 7);
		for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
			if (strcmp(sigs[i].name, name) == 0)
				rule.sig = sigs[i].sig;
		rule.pid_arg = colon + 1;
		if (!rule.sig || !*rule.pid_arg)
			die("no such signal action '%s'", a);
	} else {
		die("no such action '%s'", a);
	}
}

static void parse_at(const char *at)
{
	char side[4];
	int used = 0;

	if (sscanf(at, "%3[a-z]:%63[^:]%n", side, rule.command, &used) != 2)
		die("--at wants SIDE:COMMAND[:N], not '%s'", at);
	rule.side = side_index(side);
	if (at[used] == ':')
		rule.n = (unsigned)atoi(at + used + 1);
	else if (at[used])
		die("--at wants SIDE:COMMAND[:N], not '%s'", at);
	if (rule.n < 1)
		die("N counts from 1 in '%s'", at);
}

static void parse_side(struct side *s, char *arg)
{
	char *colon = strrchr(arg, ':'), *at;

	if (!colon)
		die("a side is QEMU-SOCKET:LISTEN-SOCKET[@PID], not '%s'", arg);
	*colon = '\0';
	s->upstream = arg;
	s->listen_path = colon + 1;
	at = strrchr(s->listen_path, '@');
	if (at) {
		*at = '\0';
		s->bound_by = (pid_t)atol(at + 1);
		if (s->bound_by <= 0)
			die("no pid in '@%s'", at + 1);
	}
}

/* The listening socket --bind-exec left in @pid (a QEMU now). */
static int inherited_listener(pid_t pid)
{
	int pidfd = pidfd_open(pid, 0), fd;

	if (pidfd < 0)
		die("no process %ld: %s", (long)pid, strerror(errno));
	fd = pidfd_getfd(pidfd, BIND_FD, 0);
	if (fd < 0)
		die("cannot take fd %d of %ld: %s", BIND_FD, (long)pid, strerror(errno));
	close(pidfd);
	return fd;
}

/* --bind-exec LISTEN PROGRAM ARGS...: listen as this pid, then become PROGRAM. */
static int bind_exec(int argc, char **argv)
{
	int fd;

	if (argc < 4)
		die("usage: qmp-fault --bind-exec LISTEN PROGRAM [ARGS...]");
	fd = unix_fd(argv[2], true);
	if (dup2(fd, BIND_FD) < 0) /* dup2 clears close-on-exec */
		die("dup2: %s", strerror(errno));
	close(fd);
	execvp(argv[3], argv + 3);
	die("cannot run %s: %s", argv[3], strerror(errno));
}

static void on_term(int sig)
{
	(void)sig;
	stop = 1;
}

int main(int argc, char **argv)
{
	bool have_at = false, have_do = false;
	struct sigaction sa = { .sa_handler = on_term };

	if (argc > 1 && strcmp(argv[1], "--bind-exec") == 0)
		return bind_exec(argc, argv);
	for (int i = 1; i + 1 < argc; i += 2) {
		if (strcmp(argv[i], "--src") == 0)
			parse_side(&sides[0], argv[i + 1]);
		else if (strcmp(argv[i], "--dst") == 0)
			parse_side(&sides[1], argv[i + 1]);
		else if (strcmp(argv[i], "--at") == 0 && (have_at = true))
			parse_at(argv[i + 1]);
		else if (strcmp(argv[i], "--do") == 0 && (have_do = true))
			parse_action(argv[i + 1]);
		else if (strcmp(argv[i], "--fired") == 0)
			rule.fired = argv[i + 1];
		else
			die("unknown argument '%s'", argv[i]);
	}
	if (argc % 2 == 0 || !have_at || !have_do || !sides[rule.side].upstream ||
	    (rule.action == A_CLOSE && !sides[rule.target].upstream))
		die("usage: qmp-fault --src QEMU:LISTEN --dst QEMU:LISTEN --at "
		    "SIDE:CMD[:N] "
		    "--do ACTION [--fired FILE]");
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	for (int i = 0; i < 2; i++) {
		sides[i].cfd = sides[i].ufd = sides[i].lfd = -1;
		/* A side not given goes straight to its QEMU. */
		sides[i].connected = sides[i].done = !sides[i].upstream;
		if (sides[i].upstream)
			sides[i].lfd = sides[i].bound_by ? inherited_listener(sides[i].bound_by)
							 : unix_fd(sides[i].listen_path, true);
	}
	while (!stop && !(sides[0].done && sides[1].done)) {
		struct pollfd p[4];
		struct side *owner[4];
		int n = 0;

		for (int i = 0; i < 2; i++) {
			struct side *s = &sides[i];

			if (!s->connected) {
				p[n] = (struct pollfd){ .fd = s->lfd, .events = POLLIN };
				owner[n++] = s;
			} else if (!s->done) {
				p[n] = (struct pollfd){ .fd = s->cfd, .events = POLLIN };
				owner[n++] = s;
				p[n] = (struct pollfd){ .fd = s->ufd, .events = POLLIN };
				owner[n++] = s;
			}
		}
		if (poll(p, (nfds_t)n, -1) < 0) {
			if (errno == EINTR)
				continue;
			die("poll: %s", strerror(errno));
		}
		for (int k = 0; k < n; k++) {
			struct side *s = owner[k];

			if (!p[k].revents || (s->done && s->connected))
				continue;
			if (p[k].fd == s->lfd && !s->connected) {
				s->cfd = accept4(s->lfd, NULL, NULL, SOCK_CLOEXEC);
				if (s->cfd < 0)
					continue;
				s->connected = true;
				s->ufd = unix_fd(s->upstream, false);
			} else if (p[k].fd == s->cfd) {
				from_engine(s);
			} else if (p[k].fd == s->ufd) {
				from_qemu(s);
			}
		}
	}
	for (int i = 0; i < 2; i++) {
		hang_up(&sides[i]);
		if (sides[i].lfd < 0)
			continue;
		close(sides[i].lfd);
		unlink(sides[i].listen_path);
		free(sides[i].line);
	}
	return 0;
}
