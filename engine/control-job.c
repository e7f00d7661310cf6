/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Binds the control server to a job: each op is the public qm_job_* command. */
#include <errno.h>

#include "engine/control.h"
#include "engine/job.h"
#include "util/error.h"

static void job_query(void *ud, struct qm_control_query *q)
{
	struct qm_job *job = ud;

	q->phase = job->phase;
	q->status = job->finished ? job->result.status : QM_JOB_RUNNING;
	q->progress = *qm_job_progress(job);
}

static int job_cancel(void *ud)
{
	return qm_job_cancel(ud);
}

static int job_force_complete(void *ud)
{
	return qm_job_force_complete(ud);
}

static int job_set_downtime(void *ud, unsigned long long ms)
{
	return qm_job_set_downtime(ud, ms);
}

static int job_set_bandwidth(void *ud, unsigned long long bytes_per_s)
{
	return qm_job_set_bandwidth(ud, bytes_per_s);
}

static const struct qm_control_ops job_ops = {
	.query = job_query,
	.cancel = job_cancel,
	.force_complete = job_force_complete,
	.set_downtime = job_set_downtime,
	.set_bandwidth = job_set_bandwidth,
};

_public_ int qm_job_listen_control(struct qm_job *job, const char *path,
				   struct qm_error *err)
{
	if (job->control)
		return qm_error_set(err, -EALREADY, "Usage",
				    "the job already listens on %s",
				    qm_control_path(job->control));
	/* The server holds no reference: the job frees it in its last unref. */
	job->control = qm_control_new(job->loop, path, &job_ops, job, err);
	return job->control ? 0 : (err && err->code ? err->code : -EIO);
}
