/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client against a real QEMU (-machine none): the handshake, plain
 * commands, fd passing (getfd, add-fd), events, QMP's error classes and an
 * adopted fd.  Every test starts its own QEMU and stops it by pid; every wait
 * is bounded by a loop timer, and the suite by its timeout.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/helpers/qemu.h"
#include "util/macros.h"

#define WAIT_SECONDS 20.0
#define QEMU_VM_FILE_MAGIC 0x5145564d /* "QEVM", big-endian, first in every stream */
#define QEMU_VM_FILE_VERSION 3

static struct tq_qemu vm;
static struct ev_loop *loop;
static struct qm_ctx *ctx;
static struct qm_qmp *qmp;

static _printf_(6, 0) void log_to_stderr(void *userdata, int priority, const char *file, int line,
			  const char *fn, const char *format, va_list args)
{
	fprintf(stderr, "libqmigrate: %s:%d %s: ", file, line, fn);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

static void setup(void)
{
	const struct tq_qemu_opts opts = { .machine = "none" };

	cr_assert_eq(tq_qemu_start(&vm, &opts), 0, "cannot start QEMU");
	loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert_not_null(loop);
	ctx = qm_ctx_new();
	cr_assert_not_null(ctx);
	qm_ctx_set_log_fn(ctx, log_to_stderr, NULL);
}

static void teardown(void)
{
	qmp = qm_qmp_unref(qmp);
	ctx = qm_ctx_unref(ctx);
	if (loop)
		ev_loop_destroy(loop);
	loop = NULL;
	tq_qemu_stop(&vm);
}

TestSuite(qmp_qemu, .init = setup, .fini = teardown, .timeout = 90);

/* ---- helpers ------------------------------------------------------------- */

static void expire(struct ev_loop *l, ev_timer *w, int revents)
{
	*(bool *)w->data = true;
}

/* Runs the loop until *@done, failing the test after WAIT_SECONDS. */
static void run_until(const bool *done, const char *what)
{
	bool expired = false;
	ev_timer timer;

	ev_now_update(loop);
	ev_timer_init(&timer, expire, WAIT_SECONDS, 0.);
	timer.data = &expired;
	ev_timer_start(loop, &timer);
	while (!*done && !expired)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &timer);
	cr_assert(*done, "no %s within %.0f s", what, WAIT_SECONDS);
}

static struct qm_qmp *new_qmp(void)
{
	const struct qm_qmp_options opts = { .connect_timeout = WAIT_SECONDS };
	struct qm_qmp *q = qm_qmp_new(ctx, loop, &opts);

	cr_assert_not_null(q);
	return q;
}

static void connect_qmp(void)
{
	struct qm_error err = { 0 };

	qmp = new_qmp();
	cr_assert_eq(qm_qmp_connect(qmp, vm.qmp_path, &err), 0, "%s", err.text);
}

/* Runs @command and fails the test unless it succeeds; returns its "return". */
static json_t *must(const char *command, json_t *args, int fd)
{
	struct qm_error err = { 0 };
	json_t *ret = qm_qmp_command_sync(qmp, command, args, fd, &err);

	cr_assert_not_null(ret, "%s failed: %s: %s", command, err.error_class, err.text);
	cr_assert(!qm_error_is_set(&err));
	return ret;
}

static void expect_status(const char *status, bool running)
{
	json_auto_t *ret = must("query-status", NULL, -1);

	cr_assert_str_eq(json_string_value(json_object_get(ret, "status")), status);
	cr_assert(json_is_boolean(json_object_get(ret, "running")));
	cr_assert_eq(json_boolean_value(json_object_get(ret, "running")), running);
}

struct reply {
	bool done;
	json_t *ret;
	struct qm_error err;
};

static void on_reply(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	struct reply *r = ud;

	cr_assert(!r->done, "a reply callback ran twice");
	cr_assert((ret == NULL) != (err == NULL),
		  "exactly one of ret and err must be set");
	r->done = true;
	r->ret = json_incref(ret);
	if (err)
		r->err = *err;
}

/* Queues @command; checks that its callback does not run inside the call. */
static void queue(const char *command, json_t *args, int fd, struct reply *r)
{
	memset(r, 0, sizeof(*r));
	cr_assert_eq(qm_qmp_command(qmp, command, args, fd, 0, on_reply, r), 0);
	cr_assert(!r->done, "the callback of %s ran inside qm_qmp_command", command);
}

struct events {
	int count;
	char name[32];
	char status[32]; /* data.status, when the event has one */
	double timestamp;
	bool done;
};

static void on_event(struct qm_qmp *q, const char *name, json_t *data, double ts,
		     void *ud)
{
	struct events *e = ud;

	e->count++;
	snprintf(e->name, sizeof(e->name), "%s", name);
	if (json_is_string(json_object_get(data, "status")))
		snprintf(e->status, sizeof(e->status), "%s",
			 json_string_value(json_object_get(data, "status")));
	e->timestamp = ts;
	e->done = true;
}

static double now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads up to @len bytes, stopping early only at EOF; -ETIMEDOUT after @seconds. */
static ssize_t read_bounded(int fd, void *buf, size_t len, double seconds)
{
	double deadline = now_s() + seconds;
	size_t got = 0;

	while (got < len) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		int ms = (int)((deadline - now_s()) * 1000);
		ssize_t n;

		if (ms <= 0 || poll(&pfd, 1, ms) == 0)
			return -ETIMEDOUT;
		n = read(fd, (char *)buf + got, len - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static uint32_t be32(const unsigned char *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static int unix_connect_blocking(const char *path)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	double deadline = now_s() + WAIT_SECONDS;
	int fd;

	cr_assert_lt(strlen(path), sizeof(addr.sun_path));
	strcpy(addr.sun_path, path);
	for (;;) {
		fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
		cr_assert_geq(fd, 0);
		if (connect(fd, (struct sockaddr *)&addr, sizeof(addr)) == 0)
			return fd;
		/* The socket file exists a moment before QEMU listens on it. */
		cr_assert(errno == ECONNREFUSED && now_s() < deadline, "connect %s: %s",
			  path, strerror(errno));
		close(fd);
		poll(NULL, 0, 10);
	}
}

/* ---- tests --------------------------------------------------------------- */

Test(qmp_qemu, query_version_matches_the_greeting)
{
	json_t *version;
	struct reply r;

	connect_qmp();
	/* Queued before the greeting: it goes out after qmp_capabilities. */
	queue("query-version", NULL, -1, &r);
	cr_assert(!qm_qmp_is_ready(qmp));
	run_until(&r.done, "reply to query-version");
	cr_assert_not_null(r.ret, "%s: %s", r.err.error_class, r.err.text);
	cr_assert(qm_qmp_is_ready(qmp));

	version = json_object_get(qm_qmp_greeting(qmp), "version");
	cr_assert(json_is_object(version), "the greeting has no version");
	cr_assert(
	    json_is_integer(json_object_get(json_object_get(r.ret, "qemu"), "major")));
	cr_assert(json_equal(version, r.ret), "query-version differs from the greeting");
	json_decref(r.ret);
}

Test(qmp_qemu, query_status_says_running)
{
	connect_qmp();
	expect_status("running", true);
}

Test(qmp_qemu, getfd_pipe_receives_the_migration_stream)
{
	unsigned char head[8], rest[65536];
	json_t *ret;
	struct events mig = { 0 };
	double deadline;
	ssize_t n;
	int p[2];

	connect_qmp();
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	ret = must("getfd", json_pack("{s:s}", "fdname", "mig"), p[1]);
	json_decref(ret);
	/* QEMU now holds the only write end: EOF on p[0] means it closed its copy. */
	close(p[1]);

	ret = must("migrate-set-capabilities",
		   json_pack("{s:[{s:s, s:b}]}", "capabilities", "capability", "events",
			     "state", true),
		   -1);
	json_decref(ret);
	cr_assert_eq(qm_qmp_subscribe(qmp, "MIGRATION", on_event, &mig), 0);
	ret = must("migrate", json_pack("{s:s}", "uri", "fd:mig"), -1);
	json_decref(ret);

	n = read_bounded(p[0], head, sizeof(head), WAIT_SECONDS);
	cr_assert_eq(n, (ssize_t)sizeof(head), "read the stream header: %zd", n);
	cr_assert_eq(be32(head), QEMU_VM_FILE_MAGIC, "magic %08x", be32(head));
	cr_assert_eq(be32(head + 4), QEMU_VM_FILE_VERSION);

	/* Drain the rest: QEMU closes the fd when the stream is complete. */
	deadline = now_s() + WAIT_SECONDS;
	do {
		n = read_bounded(p[0], rest, sizeof(rest), deadline - now_s());
		cr_assert_geq(n, 0, "the migration stream did not end: %s",
			      strerror((int)-n));
	} while (n == (ssize_t)sizeof(rest));
	close(p[0]);

	/* MIGRATION events run setup, active, completed: wait for the last. */
	while (strcmp(mig.status, "completed") != 0) {
		cr_assert(strcmp(mig.status, "failed") != 0, "the migration failed");
		mig.done = false;
		run_until(&mig.done, "MIGRATION event");
	}
	{
		json_auto_t *info = must("query-migrate", NULL, -1);

		cr_assert_str_eq(json_string_value(json_object_get(info, "status")),
				 "completed");
	}
	expect_status("postmigrate", false);
}

Test(qmp_qemu, add_fd_is_listed_by_query_fdsets)
{
	json_auto_t *added = NULL, *sets = NULL;
	json_t *set, *fds, *entry;
	json_int_t fd_in_qemu;
	size_t i, j;
	int p[2];
	bool found = false;

	connect_qmp();
	cr_assert_eq(pipe2(p, O_CLOEXEC), 0);
	added =
	    must("add-fd",
		 json_pack("{s:i, s:s}", "fdset-id", 7, "opaque", "qmigrate-test"), p[0]);
	close(p[0]);
	close(p[1]);
	cr_assert_eq(json_integer_value(json_object_get(added, "fdset-id")), 7);
	cr_assert(json_is_integer(json_object_get(added, "fd")));
	fd_in_qemu = json_integer_value(json_object_get(added, "fd"));
	cr_assert_geq(fd_in_qemu, 0);

	sets = must("query-fdsets", NULL, -1);
	cr_assert(json_is_array(sets));
	json_array_foreach(sets, i, set)
	{
		if (json_integer_value(json_object_get(set, "fdset-id")) != 7)
			continue;
		fds = json_object_get(set, "fds");
		json_array_foreach(fds, j, entry)
		{
			if (json_integer_value(json_object_get(entry, "fd")) !=
			    fd_in_qemu)
				continue;
			cr_assert_str_eq(
			    json_string_value(json_object_get(entry, "opaque")),
			    "qmigrate-test");
			found = true;
		}
	}
	cr_assert(found, "fd %lld is not in fdset 7", (long long)fd_in_qemu);

	json_decref(must("remove-fd", json_pack("{s:i}", "fdset-id", 7), -1));
	json_decref(sets);
	sets = must("query-fdsets", NULL, -1);
	cr_assert_eq(json_array_size(sets), 0, "fdset 7 outlived remove-fd");
}

Test(qmp_qemu, stop_emits_STOP_and_cont_emits_RESUME)
{
	struct events stop = { 0 }, resume = { 0 };
	struct reply r;
	double wall = (double)time(NULL), skew;

	connect_qmp();
	cr_assert_eq(qm_qmp_subscribe(qmp, "STOP", on_event, &stop), 0);
	cr_assert_eq(qm_qmp_subscribe(qmp, "RESUME", on_event, &resume), 0);

	queue("stop", NULL, -1, &r);
	run_until(&r.done, "reply to stop");
	cr_assert_not_null(r.ret, "%s: %s", r.err.error_class, r.err.text);
	json_decref(r.ret);
	run_until(&stop.done, "STOP event");
	cr_assert_eq(stop.count, 1);
	cr_assert_str_eq(stop.name, "STOP");
	skew = stop.timestamp - wall;
	cr_assert(skew > -3600 && skew < 3600, "timestamp %f is not now", stop.timestamp);
	cr_assert_eq(resume.count, 0, "RESUME subscriber saw a STOP");
	expect_status("paused", false);

	queue("cont", NULL, -1, &r);
	run_until(&r.done, "reply to cont");
	cr_assert_not_null(r.ret, "%s: %s", r.err.error_class, r.err.text);
	json_decref(r.ret);
	run_until(&resume.done, "RESUME event");
	cr_assert_eq(resume.count, 1);
	cr_assert_str_eq(resume.name, "RESUME");
	cr_assert_eq(stop.count, 1, "STOP subscriber saw a RESUME");
	expect_status("running", true);

	qm_qmp_unsubscribe(qmp, on_event, &stop);
	queue("stop", NULL, -1, &r);
	run_until(&r.done, "reply to stop");
	json_decref(r.ret);
	cr_assert_eq(stop.count, 1, "an unsubscribed callback ran");
}

Test(qmp_qemu, errors_keep_the_qmp_class)
{
	struct qm_error err = { 0 };
	json_t *ret;
	struct reply r;

	connect_qmp();
	queue("no-such-command", NULL, -1, &r);
	run_until(&r.done, "reply to no-such-command");
	cr_assert_null(r.ret);
	cr_assert_str_eq(r.err.error_class, "CommandNotFound");
	cr_assert_lt(r.err.code, 0);
	cr_assert_not_null(strstr(r.err.text, "no-such-command"), "text: %s", r.err.text);

	ret = qm_qmp_command_sync(qmp, "device_del", json_pack("{s:s}", "id", "nope"), -1,
				  &err);
	cr_assert_null(ret);
	cr_assert_str_eq(err.error_class, "DeviceNotFound", "%s: %s", err.error_class,
			 err.text);

	/* getfd without an fd: QEMU's GenericError, and the connection lives on. */
	qm_error_clear(&err);
	ret = qm_qmp_command_sync(qmp, "getfd", json_pack("{s:s}", "fdname", "x"), -1,
				  &err);
	cr_assert_null(ret);
	cr_assert_str_eq(err.error_class, "GenericError", "%s: %s", err.error_class,
			 err.text);
	expect_status("running", true);
}

static void on_close(struct qm_qmp *q, const struct qm_error *err, void *ud)
{
	*(bool *)ud = true;
}

Test(qmp_qemu, adopted_fd_speaks_qmp_and_is_closed_with_the_connection)
{
	struct qm_error err = { 0 };
	bool closed = false;
	int fd;

	fd = unix_connect_blocking(vm.qmp_path);
	qmp = new_qmp();
	cr_assert_eq(qm_qmp_adopt_fd(qmp, fd, &err), 0, "%s", err.text);
	qm_qmp_set_close_fn(qmp, on_close, &closed);
	expect_status("running", true);
	cr_assert(qm_qmp_is_ready(qmp));
	cr_assert_not_null(qm_qmp_greeting(qmp));

	qm_qmp_close(qmp, NULL);
	cr_assert(!closed, "the close callback ran inside qm_qmp_close");
	run_until(&closed, "close callback");
	qmp = qm_qmp_unref(qmp);
	cr_assert_null(qmp);

	/* QEMU serves one client at a time: a second one is greeted only if fd was
	 * closed. */
	connect_qmp();
	expect_status("running", true);
}
