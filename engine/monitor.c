/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The progress monitor during perform: polls query-migrate on the source at
 * a steady interval, and at once whenever a MIGRATION or MIGRATION_PASS event
 * says something changed.  One poll is in flight at a time.
 */
#include <string.h>

#include "engine/job.h"
#include "util/log.h"

/*
 * QEMU flips the status to "completed" a moment before it computes
 * total-time and downtime: until they appear, look again shortly (bounded).
 */
#define FINAL_RETRY 0.002
#define FINAL_RETRIES 100

static void poll_now(struct qm_job *job);

static bool final_figures_pending(struct qm_job *job, json_t *info)
{
	if (strcmp(job->qemu_status, "completed") != 0 ||
	    json_integer_value(json_object_get(info, "total-time")) > 0 ||
	    job->final_retries >= FINAL_RETRIES)
		return false;
	job->final_retries++;
	ev_timer_stop(job->loop, &job->poll_timer);
	ev_timer_set(&job->poll_timer, FINAL_RETRY, job->opts.poll_interval);
	ev_timer_start(job->loop, &job->poll_timer);
	return true;
}

static void polled(struct qm_qmp *q, json_t *info, const struct qm_error *err, void *ud)
{
	struct qm_job *job = ud;

	job->poll_inflight = false;
	if (job->perform_done || job->phase != QM_PHASE_PERFORM)
		return;
	if (err) {
		/* A lost connection ends perform from its close callback. */
		qm_job_fail(job, err);
		return;
	}
	qm_progress_from_json(info, &job->progress, job->qemu_status, sizeof(job->qemu_status));
	if (strncmp(job->qemu_status, "postcopy", 8) == 0 && !job->postcopy_entered) {
		job->postcopy_entered = true;
		qm_info(job->ctx, "post-copy: the destination runs the VM from now on");
	}
	job->progress.elapsed = ev_time() - job->t_start;
	job->progress.tunnel_bytes = qm_tunnel_bytes(job);
	/* Paused before the switch-over: the disks' mirrors complete first. */
	if (strcmp(job->qemu_status, "pre-switchover") == 0)
		qm_storage_switchover(job);
	if (final_figures_pending(job, info))
		return;
	if (!qm_migration_status_active(job->qemu_status) &&
	    strcmp(job->qemu_status, "none") != 0) {
		/*
		 * The last sample, at 100%: the bar ends full, and its figures
		 * (the tunnel's counter among them) are the final ones rather than
		 * whatever the last poll happened to catch.  A cancel from the
		 * callback still rolls back: the destination has not resumed.
		 */
		if (strcmp(job->qemu_status, "completed") == 0 && job->cbs.progress)
			job->cbs.progress(job, &job->progress, job->userdata);
		qm_source_migration_ended(job, info);
		return;
	}
	if (job->cbs.progress)
		job->cbs.progress(job, &job->progress, job->userdata);
	if (job->phase != QM_PHASE_PERFORM || job->perform_done)
		return; /* the callback cancelled, and the cancel already ended perform */
	qm_job_run_policies(job);
	if (job->poll_again) {
		job->poll_again = false;
		poll_now(job);
	}
}

static void poll_now(struct qm_job *job)
{
	int r;

	if (job->poll_inflight) {
		job->poll_again = true;
		return;
	}
	r = qm_qmp_command(job->src, "query-migrate", NULL, -1, 0, polled, job);
	if (r == 0) {
		job->poll_inflight = true;
		return;
	}
	qm_job_failf(job, r, "ConnectionClosed", "cannot poll the source: %s", strerror(-r));
	qm_source_perform_lost(job);
}

static void poll_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	poll_now(w->data);
}

static void migration_event(struct qm_qmp *q, const char *name, json_t *data, double ts,
			    void *ud)
{
	struct qm_job *job = ud;

	if (job->phase == QM_PHASE_PERFORM && !job->perform_done)
		poll_now(job);
}

/* The source pauses at switch-over; any other pause or resume is worth a line. */
static void run_state_event(struct qm_qmp *q, const char *name, json_t *data, double ts,
			    void *ud)
{
	struct qm_job *job = ud;

	job->src_running = strcmp(name, "RESUME") == 0;
	qm_info(job->ctx, "source VM %s during %s", job->src_running ? "resumed" : "paused",
		qm_phase_name(job->phase));
}

void qm_monitor_start(struct qm_job *job)
{
	ev_timer_init(&job->poll_timer, poll_timer_cb, job->opts.poll_interval,
		      job->opts.poll_interval);
	job->poll_timer.data = job;
	ev_timer_start(job->loop, &job->poll_timer);
	job->src_running = job->src_was_running;
	if (qm_qmp_subscribe(job->src, "MIGRATION", migration_event, job) < 0 ||
	    qm_qmp_subscribe(job->src, "MIGRATION_PASS", migration_event, job) < 0 ||
	    qm_qmp_subscribe(job->src, "STOP", run_state_event, job) < 0 ||
	    qm_qmp_subscribe(job->src, "RESUME", run_state_event, job) < 0)
		qm_warn(job->ctx, "cannot subscribe to migration events; polling only");
}

void qm_monitor_stop(struct qm_job *job)
{
	ev_timer_stop(job->loop, &job->poll_timer);
	if (job->src) {
		qm_qmp_unsubscribe(job->src, migration_event, job);
		qm_qmp_unsubscribe(job->src, run_state_event, job);
	}
}
