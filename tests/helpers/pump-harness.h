/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the pump tests share: one loop per test (criterion runs each test in
 * its own process), the done callback's record, and helpers that assert.
 */
#ifndef QM_TESTS_PUMP_HARNESS_H
#define QM_TESTS_PUMP_HARNESS_H

#include <ev.h>

#include "tests/helpers/stream.h"
#include "tunnel/pump.h"

#define BIG (64 * TS_MIB)
#define SEED 0x5eed
#define SEED_BACK 0xbac

#define spin_until(cond)                                                                 \
	do {                                                                             \
		while (!(cond))                                                          \
			ev_run(loop, EVRUN_ONCE);                                        \
	} while (0)

extern struct ev_loop *loop;

/* What the done callback saw; it frees the pump when free_pump is set. */
extern struct done {
	int calls;
	bool on_loop_thread;
	bool free_pump;
	struct qm_pump_result r;
} done;

/* The done callback: records into done (pass &done as its userdata). */
void on_done(struct qm_pump *pump, const struct qm_pump_result *r, void *userdata);
void harness_setup(void);
void harness_teardown(void);

/* A new, started pump that reports to done. */
struct qm_pump *start(const struct qm_pump_options *o);
struct qm_pump_stats stats(struct qm_pump *p, enum qm_pump_dir dir);
/* [0] is the pump's end, [1] the test's: a socketpair, or a pipe that the pump reads. */
void socket_pair(int sv[2]);
void pipe_pair(int pv[2]);
/* done saw one failure of @dir's @side, with this code and text. */
void expect_failure(enum qm_pump_dir dir, enum qm_pump_side side, int code,
		    const char *text);
/*
 * Feeds @feed until the pump holds bytes that it cannot write because
 * nobody reads its output @out: its thread is blocked, or about to be.
 */
void fill_until_stuck(struct qm_pump *p, int feed, int out);
double now(void);

#endif
