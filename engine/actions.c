/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a running migration can be told to do, by a policy or by a command:
 * set the downtime limit or the bandwidth, pause the source, switch to
 * post-copy, cancel.  One executor for both, and every decision reported.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/job.h"
#include "engine/policy.h"
#include "util/log.h"

static void report(struct qm_job *job, const char *policy, const char *action, long long value,
		   const char *reason)
{
	struct qm_policy_decision d = { policy, action, value, reason };

	qm_info(job->ctx, "%s policy: %s (%s)", policy, action, reason);
	if (job->cbs.policy)
		job->cbs.policy(job, &d, job->userdata);
}

static void command_done(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	struct qm_job *job = ud;

	if (err)
		qm_warn(job->ctx, "a command to the running migration failed: %s", err->text);
}

static int send_src(struct qm_job *job, const char *cmd, json_t *args)
{
	int r = qm_qmp_command(job->src, cmd, args, -1, 0, command_done, job);

	if (r < 0)
		qm_warn(job->ctx, "cannot send %s: %s", cmd, strerror(-r));
	return r;
}

/* Commands only make sense while the source migrates. */
static int migrating(const struct qm_job *job)
{
	if (job->finished)
		return -EALREADY;
	if (job->phase != QM_PHASE_PERFORM || job->perform_done || !job->migrate_issued)
		return -EBUSY;
	return 0;
}

int qm_job_apply(struct qm_job *job, int type, long long value, const char *policy,
		 const char *reason)
{
	int r = migrating(job);

	if (r < 0)
		return r;
	switch (type) {
	case QM_POLICY_SET_DOWNTIME:
		job->policy_state.downtime_ms = value;
		r = send_src(job, "migrate-set-parameters",
			     json_pack("{s:I}", "downtime-limit", (json_int_t)value));
		break;
	case QM_POLICY_PAUSE_SOURCE:
		job->policy_state.paused = true;
		r = send_src(job, "stop", NULL);
		break;
	case QM_POLICY_START_POSTCOPY:
		job->policy_state.postcopy_started = true;
		r = send_src(job, "migrate-start-postcopy", NULL);
		break;
	case QM_POLICY_CANCEL:
		/* The policy's reason becomes the job's error; rollback follows. */
		qm_job_failf(job, -ETIMEDOUT, "PolicyCancelled", "cancelled by the %s policy: %s",
			     policy, reason);
		break;
	case QM_POLICY_ADVISE:
		/* For the user to read and act on: nothing goes to QEMU. */
		break;
	default:
		return -EINVAL;
	}
	report(job, policy, qm_policy_action_name(type), type == QM_POLICY_SET_DOWNTIME ? value : -1,
	       reason);
	return r;
}

void qm_job_run_policies(struct qm_job *job)
{
	struct qm_policy_action actions[QM_POLICY_MAX_ACTIONS];
	size_t n = qm_policy_evaluate(&job->opts.policy, &job->policy_state, &job->progress,
				      ev_time(), actions);

	for (size_t i = 0; i < n; i++)
		qm_job_apply(job, actions[i].type, actions[i].value,
			     qm_policy_name(actions[i].policy), actions[i].reason);
}

_public_ int qm_job_set_downtime(struct qm_job *job, unsigned long long ms)
{
	char reason[64];

	if (ms == 0 || ms > QM_POLICY_MAX_DOWNTIME_LIMIT_MS)
		return -EINVAL;
	snprintf(reason, sizeof(reason), "downtime limit set to %llu ms by command", ms);
	return qm_job_apply(job, QM_POLICY_SET_DOWNTIME, (long long)ms, "control", reason);
}

_public_ int qm_job_set_bandwidth(struct qm_job *job, unsigned long long bytes_per_s)
{
	char reason[80];
	int r = migrating(job);

	if (r < 0)
		return r;
	if (bytes_per_s == 0)
		return -EINVAL;
	r = send_src(job, "migrate-set-parameters",
		     json_pack("{s:I}", "max-bandwidth", (json_int_t)bytes_per_s));
	job->policy_state.bandwidth = bytes_per_s;
	snprintf(reason, sizeof(reason), "bandwidth set to %.1f MiB/s by command",
		 bytes_per_s / 1048576.0);
	report(job, "control", "set-bandwidth", (long long)bytes_per_s, reason);
	return r;
}

_public_ int qm_job_force_complete(struct qm_job *job)
{
	int r = migrating(job);

	if (r < 0)
		return r;
	if (job->policy_state.postcopy_started || job->policy_state.paused)
		return 0; /* already forced */
	if (job->opts.policy.postcopy)
		return qm_job_apply(job, QM_POLICY_START_POSTCOPY, 0, "force-complete",
				    "switching to post-copy by command");
	return qm_job_apply(job, QM_POLICY_PAUSE_SOURCE, 0, "force-complete",
			    "pausing the source by command so that the migration converges");
}
