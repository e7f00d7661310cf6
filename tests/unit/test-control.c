/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control server on a real loop and real sockets, in front of a fake job
 * that records what reaches it.  No sleeps: every wait spins the loop once
 * at a time, and the suite's timeout catches a server that never answers.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "engine/control.h"

#define MIB (1024ULL * 1024)

struct fake {
	char log[512]; /* "cancel;downtime=5;" in call order */
	int r;	       /* what the commands return */
	enum qm_phase phase;
};

static struct fake fake;
static struct ev_loop *loop;
static struct qm_control *srv;
static char dir[64], path[96]; /* fits sun_path (108) */

/* Appends "@what;" or "@what=@v;" to the fake's log. */
static void log_call(const char *what, bool with_value, unsigned long long v)
{
	size_t len = strlen(fake.log);

	if (with_value)
		snprintf(fake.log + len, sizeof(fake.log) - len, "%s=%llu;", what, v);
	else
		snprintf(fake.log + len, sizeof(fake.log) - len, "%s;", what);
}

static void fake_query(void *ud, struct qm_control_query *q)
{
	cr_assert_eq(ud, &fake);
	q->phase = fake.phase;
	q->status = QM_JOB_RUNNING;
	q->progress.phase = fake.phase;
	q->progress.status = "active";
	q->progress.transferred_bytes = 1000;
	q->progress.remaining_bytes = 3000;
	q->progress.total_bytes = 4000;
	q->progress.passes = 2;
	q->progress.percent = 25;
	q->progress.expected_downtime_ms = 40;
}

static int fake_cancel(void *ud)
{
	log_call("cancel", false, 0);
	return fake.r;
}

static int fake_force(void *ud)
{
	log_call("force", false, 0);
	return fake.r;
}

static int fake_downtime(void *ud, unsigned long long ms)
{
	log_call("downtime", true, ms);
	return fake.r;
}

static int fake_bandwidth(void *ud, unsigned long long bytes)
{
	log_call("bandwidth", true, bytes);
	return fake.r;
}

static const struct qm_control_ops fake_ops = {
	.query = fake_query,
	.cancel = fake_cancel,
	.force_complete = fake_force,
	.set_downtime = fake_downtime,
	.set_bandwidth = fake_bandwidth,
};

static struct qm_control *listen_here(struct qm_error *err)
{
	return qm_control_new(loop, path, &fake_ops, &fake, err);
}

static void setup(void)
{
	struct qm_error err = { 0 };

	memset(&fake, 0, sizeof(fake));
	fake.phase = QM_PHASE_PERFORM;
	snprintf(dir, sizeof(dir), "/tmp/qm-control-XXXXXX");
	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	loop = ev_loop_new(EVFLAG_AUTO);
	srv = listen_here(&err);
	cr_assert(srv, "%s", err.text);
}

static void teardown(void)
{
	qm_control_free(srv);
	ev_loop_destroy(loop);
	unlink(path);
	rmdir(dir);
}

TestSuite(control, .init = setup, .fini = teardown, .timeout = 10);

/* ---- a test client ---------------------------------------------------------------- */

struct tc {
	int fd;
	char buf[16384];
	size_t len;
};

static void tc_connect(struct tc *c)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };

	memset(c, 0, sizeof(*c));
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	c->fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(c->fd, 0);
	cr_assert_eq(connect(c->fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "connect: %s",
		     strerror(errno));
}

static void tc_send(struct tc *c, const char *s)
{
	cr_assert_eq(write(c->fd, s, strlen(s)), (ssize_t)strlen(s));
}

/* Reads what is there without waiting; returns what read returned. */
static ssize_t tc_pull(struct tc *c)
{
	ssize_t n =
		recv(c->fd, c->buf + c->len, sizeof(c->buf) - 1 - c->len, MSG_DONTWAIT);

	if (n > 0)
		c->len += (size_t)n;
	c->buf[c->len] = '\0';
	return n;
}

/* Spins the loop until a whole reply line arrived; returns it parsed. */
static json_t *tc_reply(struct tc *c)
{
	char *nl;
	json_error_t jerr;
	json_t *obj;

	while (!(nl = memchr(c->buf, '\n', c->len))) {
		cr_assert_neq(tc_pull(c), 0, "the server hung up instead of replying");
		if (!memchr(c->buf, '\n', c->len))
			ev_run(loop, EVRUN_ONCE);
	}
	obj = json_loadb(c->buf, (size_t)(nl - c->buf), 0, &jerr);
	cr_assert(obj, "reply is not JSON: %.*s", (int)(nl - c->buf), c->buf);
	c->len -= (size_t)(nl + 1 - c->buf);
	memmove(c->buf, nl + 1, c->len);
	return obj;
}

/*
 * Spins the loop until the server closed the connection.  A server that hangs
 * up on unread bytes leaves ECONNRESET behind the data: that is a close too.
 */
static void tc_wait_eof(struct tc *c)
{
	ssize_t n;

	while ((n = tc_pull(c)) != 0) {
		if (n < 0 && errno == ECONNRESET)
			break;
		cr_assert(n < 0 && errno == EAGAIN, "unexpected bytes or error: %s",
			  strerror(errno));
		ev_run(loop, EVRUN_ONCE);
	}
}

static void tc_close(struct tc *c)
{
	close(c->fd);
}

static void assert_ok(json_t *reply)
{
	cr_assert(json_is_true(json_object_get(reply, "ok")), "not ok: %s",
		  json_string_value(json_object_get(reply, "error")));
	json_decref(reply);
}

/* Checks that @reply is an error containing @text. */
static void assert_error(json_t *reply, const char *text)
{
	const char *msg = json_string_value(json_object_get(reply, "error"));

	cr_assert(json_is_false(json_object_get(reply, "ok")), "not an error reply");
	cr_assert(msg, "no error message");
	cr_assert(strstr(msg, text), "error '%s' does not say '%s'", msg, text);
	json_decref(reply);
}

/* One request on a fresh connection. */
static json_t *request(const char *line)
{
	struct tc c;
	json_t *reply;

	tc_connect(&c);
	tc_send(&c, line);
	reply = tc_reply(&c);
	tc_close(&c);
	return reply;
}

/* ---- the socket file -------------------------------------------------------------- */

Test(control, socket_is_created_0600_whatever_the_umask)
{
	struct qm_error err = { 0 };
	struct stat st;
	mode_t old;

	qm_control_free(srv);
	old = umask(0);
	srv = listen_here(&err);
	cr_assert_eq(umask(old), 0, "the umask was not restored");
	cr_assert(srv, "%s", err.text);
	cr_assert_eq(lstat(path, &st), 0);
	cr_assert(S_ISSOCK(st.st_mode));
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
}

Test(control, socket_file_is_removed_when_the_server_is_freed)
{
	qm_control_free(srv);
	srv = NULL;
	cr_assert_eq(access(path, F_OK), -1);
	cr_assert_eq(errno, ENOENT);
}

Test(control, existing_regular_file_is_refused_and_left_intact)
{
	struct qm_error err = { 0 };
	char buf[16] = "";
	int fd;

	qm_control_free(srv);
	srv = NULL;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, "precious", 8), 8);
	close(fd);
	cr_assert_null(listen_here(&err));
	cr_assert_eq(err.code, -EEXIST);
	cr_assert(strstr(err.text, path) && strstr(err.text, "not a socket"), "%s",
		  err.text);
	fd = open(path, O_RDONLY);
	cr_assert_eq(read(fd, buf, sizeof(buf) - 1), 8);
	close(fd);
	cr_assert_str_eq(buf, "precious");
}

Test(control, stale_socket_is_replaced)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct qm_error err = { 0 };
	int fd;

	qm_control_free(srv);
	srv = NULL;
	/* A socket file nobody listens on any more, as a crashed process leaves it. */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
	close(fd);
	srv = listen_here(&err);
	cr_assert(srv, "%s", err.text);
	assert_ok(request("{\"verb\":\"cancel\"}\n"));
}

Test(control, live_socket_of_another_server_is_refused)
{
	struct qm_error err = { 0 };

	cr_assert_null(listen_here(&err));
	cr_assert_eq(err.code, -EADDRINUSE, "%d %s", err.code, err.text);
	assert_ok(request("{\"verb\":\"cancel\"}\n")); /* the first one still serves */
}

/* ---- verbs ------------------------------------------------------------------------ */

Test(control, query_reports_phase_status_and_progress)
{
	json_t *reply = request("{\"verb\":\"query\"}\n"), *p;

	cr_assert(json_is_true(json_object_get(reply, "ok")));
	cr_assert_str_eq(json_string_value(json_object_get(reply, "phase")), "perform");
	cr_assert_str_eq(json_string_value(json_object_get(reply, "status")), "running");
	p = json_object_get(reply, "progress");
	cr_assert_str_eq(json_string_value(json_object_get(p, "status")), "active");
	cr_assert_eq(json_integer_value(json_object_get(p, "transferred_bytes")), 1000);
	cr_assert_eq(json_integer_value(json_object_get(p, "remaining_bytes")), 3000);
	cr_assert_eq(json_integer_value(json_object_get(p, "total_bytes")), 4000);
	cr_assert_eq(json_integer_value(json_object_get(p, "passes")), 2);
	cr_assert_eq(json_integer_value(json_object_get(p, "expected_downtime_ms")), 40);
	cr_assert_float_eq(json_real_value(json_object_get(p, "percent")), 25, 1e-9);
	cr_assert(json_is_real(json_object_get(p, "mbps")));
	cr_assert(json_is_real(json_object_get(p, "elapsed")));
	json_decref(reply);
}

Test(control, every_command_reaches_the_job_with_its_value)
{
	assert_ok(request("{\"verb\":\"cancel\"}\n"));
	assert_ok(request("{\"verb\":\"force-complete\"}\n"));
	assert_ok(request("{\"verb\":\"set-downtime\",\"value\":750}\n"));
	assert_ok(request("{\"verb\":\"set-bandwidth\",\"value\":16}\n"));
	cr_assert_str_eq(fake.log, "cancel;force;downtime=750;bandwidth=16777216;");
}

Test(control, bandwidth_is_converted_from_mib_to_bytes_per_second)
{
	assert_ok(request("{\"verb\":\"set-bandwidth\",\"value\":1}\n"));
	assert_ok(request("{\"verb\":\"set-bandwidth\",\"value\":1099511627776}\n"));
	cr_assert_str_eq(fake.log, "bandwidth=1048576;bandwidth=1152921504606846976;");
}

Test(control, busy_job_says_it_is_not_migrating_and_names_the_phase)
{
	fake.r = -EBUSY;
	fake.phase = QM_PHASE_PREPARE;
	assert_error(request("{\"verb\":\"cancel\"}\n"),
		     "not migrating right now (phase prepare)");
	fake.phase = QM_PHASE_CONFIRM;
	assert_error(request("{\"verb\":\"set-downtime\",\"value\":5}\n"),
		     "not migrating right now (phase confirm)");
}

Test(control, finished_job_says_so)
{
	fake.r = -EALREADY;
	assert_error(request("{\"verb\":\"force-complete\"}\n"), "the job has finished");
	assert_error(request("{\"verb\":\"set-bandwidth\",\"value\":5}\n"),
		     "the job has finished");
}

Test(control, other_errors_name_the_verb_and_the_errno)
{
	fake.r = -EIO;
	assert_error(request("{\"verb\":\"cancel\"}\n"),
		     "cancel failed: Input/output error");
}

/* ---- bad requests ----------------------------------------------------------------- */

Test(control, bad_requests_get_error_replies_and_the_connection_stays_usable)
{
	static const struct {
		const char *line, *error;
	} cases[] = {
		{ "{\"verb\":\"reboot\"}\n", "unknown verb 'reboot'" },
		{ "{\"verb\":\"qu\n", "not JSON" },
		{ "not json at all\n", "not JSON" },
		{ "[\"query\"]\n", "must be a JSON object" },
		{ "{}\n", "no \"verb\"" },
		{ "{\"verb\":7}\n", "no \"verb\"" },
		{ "{\"verb\":\"set-downtime\"}\n",
		  "set-downtime needs a \"value\" (ms)" },
		{ "{\"verb\":\"set-bandwidth\"}\n", "needs a \"value\" (MiB/s)" },
		{ "{\"verb\":\"set-downtime\",\"value\":-5}\n",
		  "out of range (1..2000000 ms)" },
		{ "{\"verb\":\"set-downtime\",\"value\":0}\n", "out of range" },
		{ "{\"verb\":\"set-downtime\",\"value\":2000001}\n", "out of range" },
		{ "{\"verb\":\"set-bandwidth\",\"value\":1099511627777}\n",
		  "out of range" },
		{ "{\"verb\":\"set-downtime\",\"value\":1.5}\n", "must be an integer" },
		{ "{\"verb\":\"set-downtime\",\"value\":\"300\"}\n",
		  "must be an integer" },
		{ "{\"verb\":\"set-downtime\",\"value\":null}\n", "must be an integer" },
		{ "{\"verb\":\"cancel\",\"value\":1}\n", "cancel takes no value" },
	};
	struct tc c;

	tc_connect(&c);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		tc_send(&c, cases[i].line);
		assert_error(tc_reply(&c), cases[i].error);
	}
	cr_assert_str_eq(fake.log, "", "a bad request reached the job");
	tc_send(&c, "{\"verb\":\"cancel\"}\n");
	assert_ok(tc_reply(&c));
	tc_close(&c);
}

Test(control, unknown_verb_lists_the_known_ones)
{
	assert_error(request("{\"verb\":\"x\"}\n"),
		     "known: cancel, force-complete, query, set-bandwidth, set-downtime");
}

Test(control, over_long_line_gets_an_error_and_the_client_is_closed)
{
	static char big[QM_CONTROL_MAX_LINE + 100];
	struct tc c;

	memset(big, 'x', sizeof(big) - 1);
	tc_connect(&c);
	tc_send(&c, big);
	assert_error(tc_reply(&c), "longer than 4096 bytes");
	tc_wait_eof(&c);
	tc_close(&c);
	cr_assert_eq(qm_control_clients(srv), 0);
	cr_assert_str_eq(fake.log, "");
	assert_ok(request("{\"verb\":\"cancel\"}\n")); /* the server serves on */
}

Test(control, line_of_exactly_the_limit_is_accepted)
{
	static char line[QM_CONTROL_MAX_LINE + 2];
	const char *req = "{\"verb\":\"cancel\"}";

	memset(line, ' ', QM_CONTROL_MAX_LINE);
	memcpy(line, req, strlen(req));
	line[QM_CONTROL_MAX_LINE] = '\n';
	assert_ok(request(line));
}

Test(control, blank_lines_and_crlf_are_tolerated)
{
	struct tc c;

	tc_connect(&c);
	tc_send(&c, "\n\r\n{\"verb\":\"cancel\"}\r\n");
	assert_ok(tc_reply(&c));
	tc_close(&c);
}

/* ---- clients ---------------------------------------------------------------------- */

Test(control, pipelined_requests_get_replies_in_order)
{
	struct tc c;
	json_t *reply;

	tc_connect(&c);
	tc_send(&c, "{\"verb\":\"query\"}\n{\"verb\":\"bogus\"}\n"
		    "{\"verb\":\"set-downtime\",\"value\":5}\n{\"verb\":\"cancel\"}\n");
	reply = tc_reply(&c);
	cr_assert_str_eq(json_string_value(json_object_get(reply, "phase")), "perform");
	json_decref(reply);
	assert_error(tc_reply(&c), "bogus");
	assert_ok(tc_reply(&c));
	assert_ok(tc_reply(&c));
	cr_assert_str_eq(fake.log, "downtime=5;cancel;");
	tc_close(&c);
}

Test(control, two_clients_are_served_at_once)
{
	struct tc a, b;

	tc_connect(&a);
	tc_connect(&b);
	tc_send(&a, "{\"verb\":\"set-down"); /* a stalls mid-request... */
	tc_send(&b, "{\"verb\":\"cancel\"}\n");
	assert_ok(tc_reply(&b)); /* ...and b is answered meanwhile */
	cr_assert_eq(qm_control_clients(srv), 2);
	tc_send(&a, "time\",\"value\":9}\n");
	assert_ok(tc_reply(&a));
	cr_assert_str_eq(fake.log, "cancel;downtime=9;");
	tc_close(&a);
	tc_close(&b);
}

Test(control, client_that_disconnects_mid_request_is_freed)
{
	struct tc c;

	tc_connect(&c);
	tc_send(&c, "{\"verb\":\"can");
	while (qm_control_clients(srv) == 0)
		ev_run(loop, EVRUN_ONCE);
	tc_close(&c);
	while (qm_control_clients(srv) > 0)
		ev_run(loop, EVRUN_ONCE);
	cr_assert_str_eq(fake.log, "", "half a request reached the job");
	assert_ok(request("{\"verb\":\"cancel\"}\n"));
}

Test(control, replies_to_a_client_that_stopped_sending_still_go_out)
{
	struct tc c;

	tc_connect(&c);
	tc_send(&c, "{\"verb\":\"cancel\"}\n");
	shutdown(c.fd, SHUT_WR);
	assert_ok(tc_reply(&c));
	tc_wait_eof(&c);
	tc_close(&c);
}

Test(control, clients_beyond_the_limit_are_told_and_closed)
{
	struct tc c[QM_CONTROL_MAX_CLIENTS + 1];

	/* One at a time: a blocking connect waits while the listen backlog is full. */
	for (size_t i = 0; i < QM_CONTROL_MAX_CLIENTS; i++) {
		tc_connect(&c[i]);
		while (qm_control_clients(srv) < i + 1)
			ev_run(loop, EVRUN_ONCE);
	}
	tc_connect(&c[QM_CONTROL_MAX_CLIENTS]);
	assert_error(tc_reply(&c[QM_CONTROL_MAX_CLIENTS]), "too many control clients");
	tc_wait_eof(&c[QM_CONTROL_MAX_CLIENTS]);
	for (size_t i = 0; i <= QM_CONTROL_MAX_CLIENTS; i++)
		tc_close(&c[i]);
}

Test(control, freeing_the_server_with_clients_connected_hangs_them_up)
{
	struct tc c;

	tc_connect(&c);
	while (qm_control_clients(srv) == 0)
		ev_run(loop, EVRUN_ONCE);
	qm_control_free(srv);
	srv = NULL;
	cr_assert_eq(tc_pull(&c), 0);
	tc_close(&c);
}

static bool ticked;

static void tick_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	ticked = true;
}

Test(control, running_out_of_fds_pauses_accepting_and_then_recovers)
{
	struct rlimit old, low;
	ev_timer tick;
	unsigned before;
	struct tc c;
	int fd;

	tc_connect(&c);
	/* The lowest free fd becomes the limit: the server's accept gets EMFILE. */
	fd = open("/dev/null", O_RDONLY);
	cr_assert_geq(fd, 0);
	close(fd);
	cr_assert_eq(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)fd;
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &low), 0);
	ev_run(loop, EVRUN_ONCE);
	cr_assert_eq(qm_control_clients(srv), 0);
	/* A server that kept trying would wake the loop on every iteration meanwhile. */
	ev_timer_init(&tick, tick_cb, 0.05, 0.);
	ev_timer_start(loop, &tick);
	before = ev_iteration(loop);
	while (!ticked)
		ev_run(loop, EVRUN_ONCE);
	cr_assert_lt(ev_iteration(loop) - before, 10, "the loop spun %u times",
		     ev_iteration(loop) - before);
	cr_assert_eq(setrlimit(RLIMIT_NOFILE, &old), 0);
	/* Accepting resumes after the back-off, and the waiting client is served. */
	tc_send(&c, "{\"verb\":\"cancel\"}\n");
	assert_ok(tc_reply(&c));
	tc_close(&c);
}
