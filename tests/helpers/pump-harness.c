/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <pthread.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "tests/helpers/pump-harness.h"

struct ev_loop *loop;
struct done done;
static pthread_t loop_thread;

void on_done(struct qm_pump *pump, const struct qm_pump_result *r, void *userdata)
{
	struct done *d = userdata;

	d->calls++;
	d->on_loop_thread = pthread_equal(pthread_self(), loop_thread);
	d->r = *r;
	if (d->free_pump)
		qm_pump_free(pump);
}

static void warm_cb(struct ev_loop *l, ev_async *w, int revents)
{
}

void harness_setup(void)
{
	ev_async warm;

	loop = ev_loop_new(EVFLAG_AUTO);
	loop_thread = pthread_self();
	/* libev opens its wake-up descriptor at the first ev_async: not in a count */
	ev_async_init(&warm, warm_cb);
	ev_async_start(loop, &warm);
	ev_async_stop(loop, &warm);
}

void harness_teardown(void)
{
	ev_loop_destroy(loop);
}

struct qm_pump *start(const struct qm_pump_options *o)
{
	struct qm_error err = { 0 };
	struct qm_pump *p = qm_pump_new(loop, o, on_done, &done, &err);

	cr_assert_not_null(p, "qm_pump_new: %s", err.text);
	cr_assert_eq(qm_pump_start(p, &err), 0, "qm_pump_start: %s", err.text);
	return p;
}

struct qm_pump_stats stats(struct qm_pump *p, enum qm_pump_dir dir)
{
	struct qm_pump_stats st;

	qm_pump_get_stats(p, dir, &st);
	return st;
}

void socket_pair(int sv[2])
{
	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
}

void pipe_pair(int pv[2])
{
	cr_assert_eq(pipe2(pv, O_CLOEXEC), 0);
}

void expect_failure(enum qm_pump_dir dir, enum qm_pump_side side, int code,
		    const char *text)
{
	cr_assert_eq(done.calls, 1);
	cr_assert_eq(done.r.end, QM_PUMP_FAILED, "ended %s",
		     qm_pump_end_name(done.r.end));
	cr_assert_eq(done.r.dir, dir);
	cr_assert_eq(done.r.side, side, "side %s", qm_pump_side_name(done.r.side));
	cr_assert_eq(done.r.error.code, code, "%d: %s", done.r.error.code,
		     done.r.error.text);
	cr_assert_str_eq(done.r.error.error_class, "TunnelFailed");
	cr_assert_str_eq(done.r.error.text, text);
}

double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

void fill_until_stuck(struct qm_pump *p, int feed, int out)
{
	for (;;) {
		struct qm_pump_stats st;

		ts_fill(feed);
		st = stats(p, QM_PUMP_FORWARD);
		if (st.bytes_read > st.bytes_written && !ts_writable(out))
			return;
	}
}
