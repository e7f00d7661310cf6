/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The control server: a UNIX stream socket on a libev loop that speaks one
 * JSON object per line, so that a running job can be queried, cancelled,
 * forced to complete or retuned from another process.  It is written
 * against qm_control_ops, not the job, so that tests drive it with fakes;
 * control-job.c binds it to a real job.
 */
#ifndef QM_ENGINE_CONTROL_H
#define QM_ENGINE_CONTROL_H

#include <ev.h>

#include "qmigrate.h"
#include "util/macros.h"

/* The longest request line, without its newline; a longer one closes the client. */
#define QM_CONTROL_MAX_LINE 4096
/* Clients served at once; one more is told so and closed. */
#define QM_CONTROL_MAX_CLIENTS 16

struct qm_control_query {
	enum qm_phase phase;
	enum qm_job_status status;   /* QM_JOB_RUNNING until the job is done */
	struct qm_progress progress; /* progress.status stays the callee's */
};

/*
 * What the server may ask of a job.  The commands return what the qm_job_*
 * commands return: 0, -EBUSY (not migrating now), -EALREADY (finished),
 * -EINVAL, or another negative errno.  They run inside the server's read
 * callback and must not free the server.
 */
struct qm_control_ops {
	void (*query)(void *userdata, struct qm_control_query *q);
	int (*cancel)(void *userdata);
	int (*force_complete)(void *userdata);
	int (*set_downtime)(void *userdata, unsigned long long ms);
	int (*set_bandwidth)(void *userdata, unsigned long long bytes_per_s);
};

struct qm_control;

/*
 * Listens on a new socket at @path (mode 0600).  A stale socket there is
 * replaced; a live one, or a file that is not a socket, is refused and left
 * alone.  @ops is copied; @loop and @userdata must outlive the server.
 * Returns NULL with @err filled.
 */
struct qm_control *qm_control_new(struct ev_loop *loop, const char *path,
				  const struct qm_control_ops *ops, void *userdata,
				  struct qm_error *err) _must_check_;
/* Disconnects every client and removes the socket file, if it is still ours. */
void qm_control_free(struct qm_control *srv);
const char *qm_control_path(const struct qm_control *srv);
/* Clients connected now (for tests and debugging). */
size_t qm_control_clients(const struct qm_control *srv);

/*
 * control-verbs.c: answers one request line (@len bytes, no newline) through
 * @ops.  Returns the reply, one compact JSON object ending in a newline, for
 * the caller to free; NULL when out of memory.
 */
char *qm_control_handle(const struct qm_control_ops *ops, void *userdata,
			const char *line, size_t len) _must_check_;
/* An error reply that no request caused: a line too long, too many clients. */
char *qm_control_error_reply(const char *message) _must_check_;

#endif
