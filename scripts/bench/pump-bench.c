/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * pump-bench: what the tunnel pump costs.  A writer thread writes SIZE bytes
 * into a stream socket and a reader thread reads them from another, as QEMU
 * and QEMU (or the peer) would; three paths between them:
 *
 *   direct          writer -> socket -> reader: the baseline, no pump
 *   pump-splice     writer -> socket -> pump (splice) -> socket -> reader
 *   pump-readwrite  writer -> socket -> pump (read/write) -> socket -> reader
 *
 * over three kinds of stream socket: socketpair(2), UNIX sockets connected
 * through a path, and TCP on the loopback (where the pump path runs two TCP
 * connections to the direct path's one).  Every round runs every path over
 * every transport, the paths in another order each round, so that a noisy
 * neighbour slows them all alike; a ratio is taken within each round, and
 * the report shows medians over the rounds.  GB/s is 10^9 bytes a second;
 * CPU is this process's user + system seconds (all threads) per GB moved.
 *
 * The pump path has three busy threads to the direct path's two: on a
 * machine with fewer than three CPUs to spare, they take turns.
 */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "tunnel/pump.h"

#define MAX_ROUNDS 15

enum path { DIRECT, PUMP_SPLICE, PUMP_READWRITE, NPATHS };
enum transport { SOCKETPAIR, UNIX_PATH, TCP, NTRANSPORTS };

static const char *const path_names[NPATHS] = { "direct", "pump-splice",
						"pump-readwrite" };
static const char *const transport_names[NTRANSPORTS] = { "socketpair", "unix", "tcp" };

struct settings {
	uint64_t size; /* bytes a run moves */
	size_t block;  /* bytes per write() and read() of the writer and the reader */
	size_t chunk;  /* the pump's chunk; 0: its default */
	int rounds;
	bool verbose;
	bool skip[NTRANSPORTS];
	bool skip_path[NPATHS];
	char dir[64]; /* where the UNIX sockets live */
};

static void die(const char *fmt, ...) __attribute__((format(printf, 1, 2), noreturn));
static void die(const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	fputs("pump-bench: ", stderr);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
	exit(1);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_seconds(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
	       (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

/* ---- connected stream sockets: fds[0] is written, fds[1] is read ---- */

static void listen_and_connect(int domain, struct sockaddr *addr, socklen_t len,
			       int fds[2])
{
	int l = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);

	if (l < 0 || bind(l, addr, len) < 0 || listen(l, 1) < 0 ||
	    getsockname(l, addr, &len) < 0)
		die("listen: %s", strerror(errno));
	fds[0] = socket(domain, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fds[0] < 0 || connect(fds[0], addr, len) < 0)
		die("connect: %s", strerror(errno));
	fds[1] = accept4(l, NULL, NULL, SOCK_CLOEXEC);
	if (fds[1] < 0)
		die("accept: %s", strerror(errno));
	close(l);
}

static void make_pair(const struct settings *s, enum transport t, int fds[2])
{
	static unsigned serial;

	switch (t) {
	case SOCKETPAIR:
		if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) < 0)
			die("socketpair: %s", strerror(errno));
		return;
	case UNIX_PATH: {
		struct sockaddr_un sun = { .sun_family = AF_UNIX };

		snprintf(sun.sun_path, sizeof(sun.sun_path), "%s/s%u", s->dir, serial++);
		listen_and_connect(AF_UNIX, (struct sockaddr *)&sun, sizeof(sun), fds);
		unlink(sun.sun_path);
		return;
	}
	case TCP: {
		struct sockaddr_in sin = { .sin_family = AF_INET,
					   .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };

		listen_and_connect(AF_INET, (struct sockaddr *)&sin, sizeof(sin), fds);
		return;
	}
	case NTRANSPORTS:
		break;
	}
	abort();
}

/* ---- the writer and the reader ---- */

struct end {
	const struct settings *s;
	int fd;
	uint64_t bytes;
	pthread_t thread;
};

static void *writer_main(void *arg)
{
	struct end *e = arg;
	char *buf = malloc(e->s->block);

	pthread_setname_np(pthread_self(), "writer");
	memset(buf, 0x5a, e->s->block);
	while (e->bytes < e->s->size) {
		uint64_t left = e->s->size - e->bytes;
		ssize_t n = write(e->fd, buf, left < e->s->block ? left : e->s->block);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("writer: %s", strerror(errno));
		e->bytes += (uint64_t)n;
	}
	shutdown(e->fd, SHUT_WR);
	free(buf);
	return NULL;
}

static void *reader_main(void *arg)
{
	struct end *e = arg;
	char *buf = malloc(e->s->block);
	ssize_t n;

	pthread_setname_np(pthread_self(), "reader");
	while ((n = read(e->fd, buf, e->s->block)) != 0) {
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			die("reader: %s", strerror(errno));
		e->bytes += (uint64_t)n;
	}
	free(buf);
	return NULL;
}

static void start_end(struct end *e, const struct settings *s, int fd,
		      void *(*fn)(void *))
{
	*e = (struct end){ .s = s, .fd = fd };
	if (pthread_create(&e->thread, NULL, fn, e))
		die("pthread_create failed");
}

/* ---- one run ---- */

struct sample {
	double gbps, cpu_per_gb;
};

static void on_done(struct qm_pump *pump, const struct qm_pump_result *r, void *userdata)
{
	*(struct qm_pump_result *)userdata = *r;
}

static struct sample run(const struct settings *s, enum transport t, enum path path)
{
	int in[2], out[2] = { -1, -1 };
	struct end writer, reader;
	struct qm_pump_result result = { 0 };
	struct ev_loop *loop = NULL;
	struct qm_pump *pump = NULL;
	struct sample x;
	double t0, c0, secs;

	make_pair(s, t, in);
	if (path != DIRECT) {
		struct qm_pump_options o = {
			.forward = { in[1], 0 },
			.mode = path == PUMP_SPLICE ? QM_PUMP_SPLICE : QM_PUMP_READWRITE,
			.chunk = s->chunk,
		};
		struct qm_error err = { 0 };

		make_pair(s, t, out);
		o.forward.out = out[0];
		loop = ev_loop_new(EVFLAG_AUTO);
		pump = qm_pump_new(loop, &o, on_done, &result, &err);
		if (!pump)
			die("%s", err.text);
	}
	t0 = now();
	c0 = cpu_seconds();
	if (pump && qm_pump_start(pump, NULL) < 0)
		die("cannot start the pump");
	start_end(&writer, s, in[0], writer_main);
	start_end(&reader, s, path == DIRECT ? in[1] : out[1], reader_main);
	if (loop)
		ev_run(loop, 0); /* until the pump ends: its watcher is the only one */
	pthread_join(writer.thread, NULL);
	pthread_join(reader.thread, NULL);
	secs = now() - t0;
	if (pump && result.end != QM_PUMP_FINISHED)
		die("the pump %s: %s", qm_pump_end_name(result.end), result.error.text);
	if (reader.bytes != s->size)
		die("%s over %s: %llu bytes arrived of %llu", path_names[path],
		    transport_names[t], (unsigned long long)reader.bytes,
		    (unsigned long long)s->size);
	x.gbps = (double)s->size / secs / 1e9;
	x.cpu_per_gb = (cpu_seconds() - c0) / ((double)s->size / 1e9);
	qm_pump_free(pump);
	if (loop)
		ev_loop_destroy(loop);
	close(in[0]);
	close(path == DIRECT ? in[1] : out[1]); /* the pump closed its own */
	return x;
}

/* ---- the report ---- */

static int cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;

	return (x > y) - (x < y);
}

static double median(double *v, int n)
{
	double sorted[MAX_ROUNDS];

	memcpy(sorted, v, (size_t)n * sizeof(*v));
	qsort(sorted, (size_t)n, sizeof(*v), cmp_double);
	return n % 2 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
}

static void usage(FILE *f)
{
	fprintf(f,
		"usage: pump-bench [-s GIB] [-r ROUNDS] [-b KIB] [-c KIB] [-t "
		"TRANSPORTS] "
		"[-p PATHS] [-v]\n"
		"  -s  GiB moved by each run (default 4)\n"
		"  -r  rounds; the report shows medians (default 3, at most %d)\n"
		"  -b  KiB per write() and read() of the writer and the reader (default "
		"1024)\n"
		"  -c  KiB per pump transfer (default: the pump's, 1024)\n"
		"  -t  transports to run, e.g. socketpair,unix (default: "
		"socketpair,unix,tcp)\n"
		"  -p  paths to run, e.g. pump-splice, for a profiler (default: all "
		"three)\n"
		"  -v  print every run\n",
		MAX_ROUNDS);
}

static void parse(int argc, char **argv, struct settings *s)
{
	int c;

	while ((c = getopt(argc, argv, "s:r:b:c:t:p:vh")) != -1) {
		switch (c) {
		case 's':
			s->size = (uint64_t)(strtod(optarg, NULL) * (1ull << 30));
			break;
		case 'r':
			s->rounds = atoi(optarg);
			break;
		case 'b':
			s->block = (size_t)atoi(optarg) << 10;
			break;
		case 'c':
			s->chunk = (size_t)atoi(optarg) << 10;
			break;
		case 't':
			for (int t = 0; t < NTRANSPORTS; t++)
				s->skip[t] = !strstr(optarg, transport_names[t]);
			break;
		case 'p':
			for (int p = 0; p < NPATHS; p++)
				s->skip_path[p] = !strstr(optarg, path_names[p]);
			break;
		case 'v':
			s->verbose = true;
			break;
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			exit(2);
		}
	}
	if (s->size == 0 || s->block == 0 || s->rounds < 1 || s->rounds > MAX_ROUNDS) {
		usage(stderr);
		exit(2);
	}
}

/* Every round runs every path over every transport, each round in another order. */
static void measure(const struct settings *s, struct sample out[][NPATHS][MAX_ROUNDS])
{
	for (int r = 0; r < s->rounds; r++)
		for (int t = 0; t < NTRANSPORTS; t++)
			for (int i = 0; i < NPATHS; i++) {
				int p = (i + r) % NPATHS;

				if (s->skip[t] || s->skip_path[p])
					continue;
				out[t][p][r] = run(s, t, p);
				if (s->verbose)
					fprintf(stderr,
						"round %d %-10s %-14s %6.2f GB/s %5.2f "
						"CPU s/GB\n",
						r + 1, transport_names[t], path_names[p],
						out[t][p][r].gbps,
						out[t][p][r].cpu_per_gb);
			}
}

/* Median over the rounds of a[p] / b[q] (GB/s), each ratio taken within one round. */
static double ratio(const struct settings *s, struct sample v[][MAX_ROUNDS], int p, int q)
{
	double x[MAX_ROUNDS];

	for (int r = 0; r < s->rounds; r++)
		x[r] = v[p][r].gbps / v[q][r].gbps;
	return median(x, s->rounds);
}

static void report(const struct settings *s, struct sample v[][NPATHS][MAX_ROUNDS])
{
	printf("pump-bench: %.2f GiB a run, %zu KiB writes and reads, medians of %d "
	       "rounds, "
	       "%ld CPUs\n",
	       (double)s->size / (1ull << 30), s->block >> 10, s->rounds,
	       sysconf(_SC_NPROCESSORS_ONLN));
	printf("%-11s %11s %12s %15s | %14s %17s | %s\n", "GB/s", "direct", "pump-splice",
	       "pump-readwrite", "splice/direct", "splice/readwrite",
	       "CPU s/GB: direct splice readwrite");
	for (int t = 0; t < NTRANSPORTS; t++) {
		double g[NPATHS], u[NPATHS];

		if (s->skip[t])
			continue;
		for (int p = 0; p < NPATHS; p++) {
			double x[MAX_ROUNDS], y[MAX_ROUNDS];

			for (int r = 0; r < s->rounds; r++) {
				x[r] = v[t][p][r].gbps;
				y[r] = v[t][p][r].cpu_per_gb;
			}
			g[p] = median(x, s->rounds);
			u[p] = median(y, s->rounds);
		}
		printf("%-11s %11.2f %12.2f %15.2f | %14.2f %17.2f | %16.2f %6.2f "
		       "%9.2f\n",
		       transport_names[t], g[DIRECT], g[PUMP_SPLICE], g[PUMP_READWRITE],
		       ratio(s, v[t], PUMP_SPLICE, DIRECT),
		       ratio(s, v[t], PUMP_SPLICE, PUMP_READWRITE), u[DIRECT],
		       u[PUMP_SPLICE], u[PUMP_READWRITE]);
	}
}

int main(int argc, char **argv)
{
	static struct sample samples[NTRANSPORTS][NPATHS][MAX_ROUNDS];
	struct settings s = { .size = 4ull << 30, .block = 1 << 20, .rounds = 3 };
	const char *tmp = getenv("TMPDIR");

	parse(argc, argv, &s);
	/* a short directory: UNIX socket paths must fit in sun_path */
	snprintf(s.dir, sizeof(s.dir), "%s/pump-bench.XXXXXX",
		 tmp && *tmp && strlen(tmp) < 40 ? tmp : "/tmp");
	if (!mkdtemp(s.dir))
		die("mkdtemp %s: %s", s.dir, strerror(errno));
	measure(&s, samples);
	rmdir(s.dir);
	report(&s, samples);
	return 0;
}
