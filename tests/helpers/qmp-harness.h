/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the QMP client tests share: one loop, context, client and fake server
 * per test (criterion runs each test in its own process), and callbacks that
 * record what they saw.
 */
#ifndef QM_TESTS_QMP_HARNESS_H
#define QM_TESTS_QMP_HARNESS_H

#include <ev.h>
#include <jansson.h>

#include "qmigrate.h"
#include "tests/helpers/fake-qmp.h"

#define spin_until(cond)                                                                 \
	do {                                                                             \
		while (!(cond))                                                          \
			ev_run(loop, EVRUN_ONCE);                                        \
	} while (0)

extern struct ev_loop *loop;
extern struct qm_ctx *ctx;
extern struct qm_qmp *qmp; /* unreferenced by the teardown */
extern struct fq *fake;	   /* freed by the test itself: fq_free() checks the script */
extern char trail[2048];   /* what the callbacks saw, in order: "STOP status! close " */

struct reply {
	const char *label;
	int calls;
	char ret[512]; /* the "return" value: compact, keys sorted */
	struct qm_error err;
};

struct sub {
	int calls;
	char name[32];
	char data[256]; /* the last event's data: compact, keys sorted, or "null" */
	double timestamp;
};

extern struct closed {
	int calls;
	struct qm_error err;
} closed;

void harness_setup(void);
void harness_teardown(void);
void note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Runs a few more loop iterations, for whatever should *not* happen. */
void spin_a_little(void);

/* Callbacks: @ud is a struct reply, a struct sub; the close one fills closed. */
void on_reply(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud);
void on_event(struct qm_qmp *q, const char *name, json_t *data, double timestamp,
	      void *ud);
void on_close(struct qm_qmp *q, const struct qm_error *err, void *ud);

/* A client with on_close set, not connected. */
struct qm_qmp *new_client(const struct qm_qmp_options *opts);
/* A client (qmp) on a fake server (fake) running @script. */
void serve(const struct fq_step *script, const struct qm_qmp_options *opts);
/* Queues @name with @args (JSON text or NULL) and checks it did not call back yet. */
void command_timeout(const char *name, const char *args, double timeout, struct reply *r);
void command(const char *name, const char *args, struct reply *r);
void subscribe(const char *name, qm_qmp_event_fn cb, struct sub *s);

/* The member @key of the recorded message @file, parsed (to json_decref). */
json_t *recorded(const char *file, const char *key);
/* @r succeeded once, with the "return" value recorded in @file. */
void expect_recorded_return(const struct reply *r, const char *file);
/* @r failed once, with @code and @error_class. */
void expect_error(const struct reply *r, int code, const char *error_class);

#endif
