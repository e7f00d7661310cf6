/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmp-rate-bench: QMP commands per second through qmigrate's client and
 * through a minimal raw-socket client, against one real QEMU (-machine none).
 *
 * Two modes, each N query-status commands per client: "sequential" waits for
 * each reply before sending the next; "pipelined" sends them all and counts
 * the replies as they come.  Both clients put the same bytes on the wire (the
 * command with an id, one per line); the raw client does nothing else
 * (blocking writes and reads, replies counted by newline), so qmigrate/raw is
 * the cost of the library: JSON building and parsing, reply matching, the
 * event loop.
 *
 * Fairness: each client has its own QMP monitor on the same QEMU and stays
 * connected, and within a round the N commands run in slices that alternate
 * between the clients (who goes first alternates too), so a noisy neighbour
 * slows both alike.  The ratio is taken per round; the report shows medians.
 */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/helpers/qemu.h"

#define COMMAND "query-status"
#define WARMUP 200
#define IO_CHUNK 65536
#define RAW_TIMEOUT_MS 30000
#define MAX_ROUNDS 15
#define MAX_SLICES 1000
#define TARGET 0.9

enum { QMIGRATE, RAW, NCLIENTS };
enum { SEQUENTIAL, PIPELINED, NMODES };

static const char *const client_names[NCLIENTS] = { "qmigrate", "raw" };
static const char *const mode_names[NMODES] = { "sequential", "pipelined" };

/* Wall-clock and CPU seconds (this process only: QEMU is a child) spent so far. */
struct stopwatch {
	double wall, cpu;
};

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + ru.ru_stime.tv_sec +
	       ru.ru_stime.tv_usec / 1e6;
}

static struct stopwatch stopwatch_now(void)
{
	return (struct stopwatch){ .wall = now(), .cpu = cpu_seconds() };
}

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));

static struct tq_qemu vm;

static void die(const char *fmt, ...)
{
	va_list ap;

	fputs("qmp-rate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	tq_qemu_stop(&vm);
	exit(1);
}

/* ---- qmigrate's client ----------------------------------------------------- */

struct run {
	struct qm_qmp *qmp;
	long to_send; /* sequential: commands still to queue */
	long pending; /* replies still expected */
};

static void queue_one(struct run *r, qm_qmp_reply_fn cb)
{
	int rc = qm_qmp_command(r->qmp, COMMAND, NULL, -1, 0, cb, r);

	if (rc < 0)
		die("qm_qmp_command: %s", strerror(-rc));
	r->to_send--;
}

static void check_reply(struct run *r, json_t *ret, const struct qm_error *err)
{
	if (err)
		die("%s failed: %s: %s", COMMAND, err->error_class, err->text);
	if (!json_is_object(ret))
		die("%s returned no object", COMMAND);
	r->pending--;
}

static void seq_reply(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	struct run *r = ud;

	check_reply(r, ret, err);
	if (r->to_send > 0)
		queue_one(r, seq_reply);
}

static void pipe_reply(struct qm_qmp *q, json_t *ret, const struct qm_error *err,
		       void *ud)
{
	check_reply(ud, ret, err);
}

static void qmigrate_run(struct ev_loop *loop, struct qm_qmp *qmp, int mode, long n)
{
	struct run r = { .qmp = qmp, .to_send = n, .pending = n };

	if (mode == SEQUENTIAL) {
		queue_one(&r, seq_reply);
	} else {
		while (r.to_send > 0)
			queue_one(&r, pipe_reply);
	}
	/* Bounded: every command ends by its reply or its timeout, which dies. */
	while (r.pending > 0)
		ev_run(loop, EVRUN_ONCE);
}

/* ---- the raw client ---------------------------------------------------------- */

struct raw {
	int fd;
	long id;
	char in[IO_CHUNK];
};

static void raw_write(struct raw *c, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(c->fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("write: %s", strerror(errno));
		buf += n;
		len -= (size_t)n;
	}
}

/* One blocking read; returns the number of newlines (replies) it brought. */
static long raw_read(struct raw *c)
{
	struct pollfd pfd = { .fd = c->fd, .events = POLLIN };
	long lines = 0;
	ssize_t n;

	if (poll(&pfd, 1, RAW_TIMEOUT_MS) == 0)
		die("raw client: no reply within %d ms", RAW_TIMEOUT_MS);
	n = read(c->fd, c->in, sizeof(c->in));
	if (n < 0 && errno == EINTR)
		return 0;
	if (n <= 0)
		die("raw client: read: %s",
		    n ? strerror(errno) : "QEMU closed the connection");
	for (const char *p = c->in, *end = c->in + n; (p = memchr(p, '\n', end - p)); p++)
		lines++;
	return lines;
}

static void raw_wait(struct raw *c, long lines)
{
	while (lines > 0)
		lines -= raw_read(c);
}

static size_t raw_format(struct raw *c, char *buf, size_t size)
{
	int len =
	    snprintf(buf, size, "{\"execute\":\"" COMMAND "\",\"id\":%ld}\n", c->id++);

	if (len < 0 || (size_t)len >= size)
		die("command too long");
	return (size_t)len;
}

static void raw_sequential(struct raw *c, long n)
{
	char cmd[128];

	for (long i = 0; i < n; i++) {
		raw_write(c, cmd, raw_format(c, cmd, sizeof(cmd)));
		raw_wait(c, 1);
	}
}

/*
 * Writes and reads interleave: QEMU stops reading while its queue is full, so
 * writing everything first could block both sides.  poll says which way.
 */
static void raw_pipelined(struct raw *c, long n)
{
	size_t cap = (size_t)n * 64 + 64, len = 0, off = 0;
	char *out = malloc(cap);
	long replies = 0;

	if (!out)
		die("out of memory");
	for (long i = 0; i < n; i++)
		len += raw_format(c, out + len, cap - len);
	while (replies < n) {
		struct pollfd pfd = { .fd = c->fd,
				      .events = POLLIN | (off < len ? POLLOUT : 0) };

		if (poll(&pfd, 1, RAW_TIMEOUT_MS) == 0)
			die("raw client: stuck with %ld of %ld replies", replies, n);
		if (pfd.revents & POLLOUT) {
			size_t chunk = len - off < IO_CHUNK ? len - off : IO_CHUNK;

			raw_write(c, out + off, chunk);
			off += chunk;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR))
			replies += raw_read(c);
	}
	free(out);
}

static void raw_connect(struct raw *c, const char *path)
{
	static const char caps[] = "{\"execute\":\"qmp_capabilities\"}\n";
	struct sockaddr_un addr = { .sun_family = AF_UNIX };

	if (strlen(path) >= sizeof(addr.sun_path))
		die("socket path too long: %s", path);
	memcpy(addr.sun_path, path, strlen(path) + 1);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&addr, sizeof(addr)) < 0)
		die("connect %s: %s", path, strerror(errno));
	c->id = 1;
	raw_wait(c, 1); /* the greeting */
	raw_write(c, caps, sizeof(caps) - 1);
	raw_wait(c, 1);
}

/* ---- the measurement --------------------------------------------------------- */

struct bench {
	struct ev_loop *loop;
	struct qm_qmp *qmp;
	struct raw *raw;
};

static void bench_connect(struct bench *b, struct qm_ctx *ctx)
{
	struct qm_error err = { 0 };
	json_t *ret;

	b->loop = ev_loop_new(EVFLAG_AUTO);
	b->qmp = b->loop ? qm_qmp_new(ctx, b->loop, NULL) : NULL;
	b->raw = calloc(1, sizeof(*b->raw));
	if (!b->qmp || !b->raw)
		die("out of memory");
	if (qm_qmp_connect(b->qmp, vm.qmp_path, &err) < 0)
		die("%s", err.text);
	ret = qm_qmp_command_sync(b->qmp, COMMAND, NULL, -1, &err);
	if (!ret)
		die("%s: %s", err.error_class, err.text);
	json_decref(ret);
	/* By now QEMU is in its main loop: the second monitor listens too. */
	raw_connect(b->raw, vm.qmp2_path);
	qmigrate_run(b->loop, b->qmp, SEQUENTIAL, WARMUP);
	raw_sequential(b->raw, WARMUP);
}

static void bench_close(struct bench *b)
{
	qm_qmp_unref(b->qmp);
	ev_loop_destroy(b->loop);
	close(b->raw->fd);
	free(b->raw);
}

static void run_slice(struct bench *b, int who, int mode, long n)
{
	if (who == QMIGRATE)
		qmigrate_run(b->loop, b->qmp, mode, n);
	else if (mode == SEQUENTIAL)
		raw_sequential(b->raw, n);
	else
		raw_pipelined(b->raw, n);
}

/* ---- the report -------------------------------------------------------------- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	qsort(v, n, sizeof(*v), cmp_double);
	return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void usage(FILE *out)
{
	fputs("Usage: qmp-rate-bench [-n N] [-r ROUNDS] [-s SLICES] [-o qmigrate|raw]\n"
	      "  -n N        commands per client, mode and round (default 20000)\n"
	      "  -r ROUNDS   rounds; the report shows medians (default 5)\n"
	      "  -s SLICES   alternate the clients SLICES times per round (default 10;\n"
	      "              1: each client sends its N commands in one go)\n"
	      "  -o CLIENT   measure only this client (to profile it)\n"
	      "QEMU comes from $QEMU, else qemu-system-x86_64 on $PATH.\n",
	      out);
}

static const char *qemu_version(struct bench *b, char *buf, size_t size)
{
	struct qm_error err = { 0 };
	json_t *ret = qm_qmp_command_sync(b->qmp, "query-version", NULL, -1, &err), *qemu;

	if (!ret)
		die("query-version: %s", err.text);
	qemu = json_object_get(ret, "qemu");
	snprintf(buf, size, "%lld.%lld.%lld",
		 (long long)json_integer_value(json_object_get(qemu, "major")),
		 (long long)json_integer_value(json_object_get(qemu, "minor")),
		 (long long)json_integer_value(json_object_get(qemu, "micro")));
	json_decref(ret);
	return buf;
}

static long parse_long(const char *arg, char opt, long min, long max)
{
	char *end;
	long v = strtol(arg, &end, 10);

	if (*end || end == arg || v < min || v > max)
		die("invalid -%c '%s' (%ld to %ld)", opt, arg, min, max);
	return v;
}

struct result {
	double rate[NCLIENTS];	 /* commands/s */
	double cpu_us[NCLIENTS]; /* this process's CPU per command */
	double ratio;
};

/* One round of one mode: N commands per client, in @slices alternating slices. */
static struct result measure(struct bench *b, int mode, long n, int slices, int round,
			     int only)
{
	struct stopwatch spent[NCLIENTS] = { 0 };
	struct result res = { 0 };

	for (int i = 0; i < slices; i++) {
		long len = n / slices + (i < n % slices);

		for (int k = 0; k < NCLIENTS; k++) {
			int who = (k + i + round) % NCLIENTS;
			struct stopwatch t0, t1;

			if (only >= 0 && who != only)
				continue;
			t0 = stopwatch_now();
			run_slice(b, who, mode, len);
			t1 = stopwatch_now();
			spent[who].wall += t1.wall - t0.wall;
			spent[who].cpu += t1.cpu - t0.cpu;
		}
	}
	for (int k = 0; k < NCLIENTS; k++) {
		if (spent[k].wall <= 0)
			continue;
		res.rate[k] = n / spent[k].wall;
		res.cpu_us[k] = spent[k].cpu * 1e6 / n;
	}
	res.ratio = res.rate[RAW] > 0 ? res.rate[QMIGRATE] / res.rate[RAW] : 0;
	return res;
}

int main(int argc, char *argv[])
{
	const struct tq_qemu_opts opts = { .machine = "none", .second_qmp = true };
	struct result res[MAX_ROUNDS][NMODES];
	double col[MAX_ROUNDS];
	long n = 20000;
	int rounds = 5, slices = 10, only = -1, c;
	struct bench b;
	struct qm_ctx *ctx;
	char version[64];

	while ((c = getopt(argc, argv, "n:r:s:o:h")) != -1) {
		switch (c) {
		case 'n':
			n = parse_long(optarg, 'n', 1, 100000000);
			break;
		case 'r':
			rounds = (int)parse_long(optarg, 'r', 1, MAX_ROUNDS);
			break;
		case 's':
			slices = (int)parse_long(optarg, 's', 1, MAX_SLICES);
			break;
		case 'o':
			for (int k = 0; k < NCLIENTS; k++)
				if (strcmp(optarg, client_names[k]) == 0)
					only = k;
			if (only < 0)
				die("invalid -o '%s' (qmigrate or raw)", optarg);
			break;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (slices > n)
		slices = (int)n;
	ctx = qm_ctx_new();
	if (!ctx)
		die("out of memory");
	if (tq_qemu_start(&vm, &opts) < 0)
		die("cannot start QEMU");
	bench_connect(&b, ctx);

	printf(
	    "qmp-rate: QEMU %s (pid %d, accel %s, -machine none), %s\n"
	    "  N = %ld commands per client, mode and round; %d round%s of %d alternating "
	    "slice%s\n",
	    qemu_version(&b, version, sizeof(version)), (int)vm.pid, tq_accel(), COMMAND,
	    n, rounds, rounds > 1 ? "s" : "", slices, slices > 1 ? "s" : "");
	for (int r = 0; r < rounds; r++) {
		printf("  round %d:", r + 1);
		for (int m = 0; m < NMODES; m++) {
			res[r][m] = measure(&b, m, n, slices, r, only);
			printf("%s %s %.0f / %.0f (%.3f)", m ? "," : "", mode_names[m],
			       res[r][m].rate[QMIGRATE], res[r][m].rate[RAW],
			       res[r][m].ratio);
			fflush(stdout);
		}
		printf("  cmd/s, qmigrate / raw (ratio)\n");
		fflush(stdout);
	}
	bench_close(&b);
	tq_qemu_stop(&vm);
	qm_ctx_unref(ctx);

	printf("\n%-11s %15s %11s %13s   %s\n", "mode", "qmigrate cmd/s", "raw cmd/s",
	       "qmigrate/raw", "CPU us/cmd (qmigrate / raw)");
	for (int m = 0; m < NMODES; m++) {
		double med[5];
		int i = 0;

		for (int k = 0; k < NCLIENTS; k++) {
			for (int r = 0; r < rounds; r++)
				col[r] = res[r][m].rate[k];
			med[i++] = median(col, rounds);
		}
		for (int r = 0; r < rounds; r++)
			col[r] = res[r][m].ratio;
		med[i++] = median(col, rounds);
		for (int k = 0; k < NCLIENTS; k++) {
			for (int r = 0; r < rounds; r++)
				col[r] = res[r][m].cpu_us[k];
			med[i++] = median(col, rounds);
		}
		printf("%-11s %15.0f %11.0f %13.3f   %6.1f / %-6.1f %s\n", mode_names[m],
		       med[0], med[1], med[2], med[3], med[4],
		       only >= 0	  ? ""
		       : med[2] >= TARGET ? "ok"
					  : "BELOW TARGET 0.9");
	}
	printf("(each column is a median over the rounds; qmigrate/raw is the median of the\n"
	       " rounds' own ratios, so it need not equal the ratio of the two medians)\n");
	return 0;
}
