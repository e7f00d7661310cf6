/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qm_migrate: one job on a private loop, for callers that just want it done. */
#include <errno.h>
#include <ev.h>
#include <string.h>

#include "util/error.h"
#include "util/macros.h"

static void sync_done(struct qm_job *job, const struct qm_result *r, void *ud)
{
	struct qm_result *out = ud;

	*out = *r;
}

_public_ int qm_migrate(struct qm_ctx *ctx, const struct qm_job_options *opts,
			struct qm_result *result)
{
	struct qm_job_callbacks cbs = { .done = sync_done };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_job *job;
	int r;

	memset(result, 0, sizeof(*result));
	result->status = QM_JOB_RUNNING;
	result->dst_pid = -1;
	if (!loop)
		return qm_error_set(&result->error, -ENOMEM, "GenericError", "out of memory");
	job = qm_job_new(ctx, loop, opts, &cbs, result, &result->error);
	if (!job) {
		ev_loop_destroy(loop);
		result->status = QM_JOB_FAILED;
		return result->error.code;
	}
	r = qm_job_start(job, &result->error);
	if (r < 0)
		result->status = QM_JOB_FAILED;
	/* Bounded: every phase ends by a reply, a QMP timeout or a closed connection. */
	while (result->status == QM_JOB_RUNNING)
		ev_run(loop, EVRUN_ONCE);
	qm_job_unref(job);
	ev_loop_destroy(loop);
	return result->status == QM_JOB_COMPLETED ? 0 : (result->error.code ? result->error.code : -EIO);
}
