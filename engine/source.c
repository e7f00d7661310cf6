/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The source side's phases: begin, perform, confirm. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/batch.h"
#include "engine/job.h"
#include "qmp/internal.h"
#include "util/error.h"
#include "util/host.h"
#include "util/log.h"

#define ZERO_UUID "00000000-0000-0000-0000-000000000000"

/* ---- begin ---------------------------------------------------------------------- */

/* Begin's cookie goes to prepare; after a failure, through finish (rollback). */
static void begin_end(struct qm_job *job)
{
	struct qm_cookie c;
	pid_t pid;

	/* The disks to copy, and their sizes, go in the cookie too. */
	if (!qm_job_failed(job) && qm_storage_wanted(job) && !job->storage->n_disks) {
		qm_storage_query(job, begin_end);
		return;
	}
	if (!qm_job_failed(job)) {
		/* What the destination's prechecks compare with travels in the cookie. */
		qm_job_cookie_init(job, &c, QM_COOKIE_SOURCE);
		c.mandatory = QM_COOKIE_SOURCE;
		snprintf(c.source.arch, sizeof(c.source.arch), "%s", job->src_facts.arch);
		snprintf(c.source.machine, sizeof(c.source.machine), "%s", job->src_facts.machine);
		c.source.kvm = job->src_facts.kvm;
		c.source.running = job->src_was_running;
		/* An agent on this same host tells the source from another QEMU of the VM. */
		pid = qm_qmp_peer_pid(job->src);
		if (pid > 0)
			c.source.pid = (long)pid;
		qm_storage_cookie(job, &c);
		/* The destination checks it can reach the leases before anything changes. */
		if (qm_source_leases_cookie(job, &c) == 0 && qm_job_emit_cookie(job, &c) == 0) {
			qm_job_enter(job, QM_PHASE_PREPARE);
			return;
		}
	}
	/* Through finish, so that a destination left waiting is stopped too. */
	qm_job_enter(job, QM_PHASE_FINISH);
}

static void begin_done(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	struct qm_error herr = { 0 };
	const char *state, *name, *uuid;
	char tcg_why[320];

	if (res && res[0])
		job->src_answered = true;
	if (err)
		qm_job_fail(job, err);
	if (qm_job_failed(job))
		goto rollback;
	state = json_string_value(json_object_get(res[0], "status"));
	if (qm_precheck_run_state(state, &herr) < 0 ||
	    qm_precheck_migration(res[1], &herr) < 0 ||
	    qm_caps_check(job, res[4], true, &herr) < 0 ||
	    qm_qemu_facts_read(&job->src_facts, "source", res[5], res[6], res[7],
			       &herr) < 0) {
		qm_job_refuse(job, &herr);
		goto rollback;
	}
	if (qm_precheck_tcg_loses_writes(&job->src_facts, qm_qmp_greeting(job->src), tcg_why,
					 sizeof(tcg_why)))
		qm_warn(job->ctx, "%s", tcg_why);
	job->src_was_running = strcmp(state, "running") == 0;
	name = json_string_value(json_object_get(res[2], "name"));
	uuid = json_string_value(json_object_get(res[3], "UUID"));
	snprintf(job->name, sizeof(job->name), "%s", name && *name ? name : "unnamed");
	snprintf(job->uuid, sizeof(job->uuid), "%s", uuid ? uuid : ZERO_UUID);
	if (qm_host_identity(job->opts.host_uuid, job->hostname, job->host_uuid, &herr) < 0) {
		qm_job_fail(job, &herr);
		goto rollback;
	}
	/* res[8] exists only with leases: query-fdsets is asked only then. */
	if (qm_source_leases_adopt(job, job->lease_paths ? res[8] : NULL) < 0)
		goto rollback;
	/* A destination to launch with no description is the source's own. */
	if (job->opts.launch_dest && !job->opts.domain_xml) {
		qm_job_describe_source(job, begin_end);
		return;
	}
	begin_end(job);
	return;
rollback:
	/* Through finish, so that a destination left waiting is stopped too. */
	qm_job_enter(job, QM_PHASE_FINISH);
}

void qm_source_begin(struct qm_job *job)
{
	struct qm_batch_cmd cmds[] = {
		{ .name = "query-status" },
		{ .name = "query-migrate" },
		{ .name = "query-name", .optional = true },
		{ .name = "query-uuid", .optional = true },
		{ .name = "query-migrate-capabilities" },
		{ .name = "query-target" },
		{ .name = "query-kvm" },
		{ .name = "qom-get", .args = qm_machine_type_args() },
		{ .name = "query-fdsets" }, /* only with leases: where the source keeps them */
	};

	qm_job_batch(job, job->src, cmds, ARRAY_SIZE(cmds) - !job->lease_paths, begin_done);
}

/* ---- perform -------------------------------------------------------------------- */

/* Perform is over, whichever way: one exit, taken once. */
static void perform_end(struct qm_job *job)
{
	if (job->phase != QM_PHASE_PERFORM || job->perform_done)
		return;
	job->perform_done = true;
	ev_timer_stop(job->loop, &job->cancel_timer);
	qm_monitor_stop(job);
	qm_job_enter(job, QM_PHASE_FINISH);
}

void qm_source_perform_lost(struct qm_job *job)
{
	perform_end(job);
}

static void migrate_sent(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	struct qm_job *job = ud;

	if (job->phase != QM_PHASE_PERFORM || job->perform_done)
		return;
	if (err) {
		/* No migration started: nothing to cancel, nothing to wait for. */
		job->migrate_issued = false;
		qm_job_fail(job, err);
		perform_end(job);
	}
}

static void perform_migrate(struct qm_job *job)
{
	int r;

	if (job->phase != QM_PHASE_PERFORM || job->perform_done)
		return;
	if (qm_job_failed(job)) {
		perform_end(job);
		return;
	}
	qm_monitor_start(job);
	r = qm_qmp_command(job->src, "migrate", json_pack("{s:s}", "uri", job->migrate_uri), -1,
			   0, migrate_sent, job);
	if (r < 0) {
		qm_job_failf(job, r, "ConnectionClosed", "cannot send migrate to the source: %s",
			     strerror(-r));
		perform_end(job);
		return;
	}
	job->migrate_issued = true;
	qm_policy_state_init(&job->policy_state, &job->opts.policy, ev_time());
	job->policy_state.bandwidth = job->opts.bandwidth;
	job->policy_state.auto_converge = job->opts.auto_converge;
}

static void perform_configured(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;

	if (err)
		qm_job_fail(job, err);
	if (job->phase != QM_PHASE_PERFORM || job->perform_done)
		return;
	if (qm_job_failed(job)) {
		perform_end(job);
		return;
	}
	/* Before migrate: QEMU may say the clients moved at switch-over already. */
	qm_graphics_relocation_sent(job, job->spice_sent && res[2]);
	/* The disks first: the memory moves once every mirror is in step. */
	if (qm_storage_wanted(job))
		qm_storage_mirror(job, perform_migrate);
	else
		perform_migrate(job);
}

void qm_source_perform(struct qm_job *job)
{
	struct qm_cookie_check check = {
		.name = job->name,
		.uuid = job->uuid,
		.local_host_uuid = job->refuse_same_host ? job->host_uuid : NULL,
	};
	struct qm_cookie c;
	struct qm_batch_cmd cmds[4];
	size_t n = 0;
	json_t *spice;
	int tunnel_fd = qm_tunnel_qemu_fd(job, QM_TUNNEL_SOURCE);

	if (qm_job_take_cookie(job, &check, &c) < 0) {
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	snprintf(job->migrate_uri, sizeof(job->migrate_uri), "%s", c.migrate_uri);
	if (!job->migrate_uri[0]) {
		qm_job_failf(job, -EPROTO, "CookieInvalid",
			     "the destination's cookie says nowhere to send the migration");
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	/* fd: names the pipe this engine passes, and nothing else. */
	if ((strncmp(job->migrate_uri, "fd:", 3) == 0) !=
	    (tunnel_fd >= 0 && strcmp(job->migrate_uri, "fd:" QM_TUNNEL_FDNAME) == 0)) {
		qm_job_failf(job, -EPROTO, "CookieInvalid",
			     "the destination's cookie names the descriptor '%s', which this engine did not open",
			     job->migrate_uri);
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	if (qm_storage_wanted(job) && qm_storage_take_prepare(job, &c) < 0) {
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	cmds[n++] = (struct qm_batch_cmd){ .name = "migrate-set-capabilities",
					   .args = qm_caps_args(job, true) };
	cmds[n++] = (struct qm_batch_cmd){ .name = "migrate-set-parameters",
					   .args = qm_params_args(job, true) };
	job->result.changed = job->src_changed = true;
	/* SPICE clients follow the VM; a failure here must not stop the migration. */
	spice = qm_graphics_relocation_args(&c);
	job->spice_sent = spice != NULL;
	/* perform_configured finds its answer at 2. */
	if (spice)
		cmds[n++] = (struct qm_batch_cmd){ .name = "client_migrate_info", .args = spice,
						   .optional = true };
	if (tunnel_fd >= 0)
		cmds[n++] = (struct qm_batch_cmd){
			.name = "getfd",
			.args = json_pack("{s:s}", "fdname", QM_TUNNEL_FDNAME),
			.pass_fd = true,
			.fd = tunnel_fd,
		};
	qm_job_batch(job, job->src, cmds, n, perform_configured);
	/* The connection sends a copy of its own. */
	qm_tunnel_qemu_fd_passed(job, QM_TUNNEL_SOURCE);
}

static void cancel_sent(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	if (err)
		qm_warn(((struct qm_job *)ud)->ctx, "migrate_cancel: %s", err->text);
}

/*
 * QEMU 7.2's migration thread can wait for good in multifd_send_sync_main()
 * once a multifd channel broke, and then never says "cancelled".  The VM is
 * on the source all the same (confirm finds out whether it runs); only that
 * QEMU's migration stays stuck, so the job goes on without waiting.
 */
static void cancel_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_job *job = w->data;

	if (job->phase != QM_PHASE_PERFORM || job->perform_done)
		return;
	qm_err(job->ctx,
	       "the source QEMU did not finish cancelling the migration within %g s; going on: "
	       "the VM stays there, but that QEMU may refuse another migration until it restarts",
	       job->opts.cancel_timeout);
	perform_end(job);
}

void qm_source_abort_perform(struct qm_job *job)
{
	qm_storage_perform_failed(job);
	if (!job->migrate_issued || job->perform_done || job->src_gone)
		return;
	/* First let go of the tunnel, or QEMU can block flushing into it (libvirt's lesson). */
	qm_tunnel_hangup(job);
	qm_info(job->ctx, "cancelling the migration on the source");
	if (qm_qmp_command(job->src, "migrate_cancel", NULL, -1, 0, cancel_sent, job) < 0)
		qm_warn(job->ctx, "cannot send migrate_cancel");
	if (!ev_is_active(&job->cancel_timer)) {
		ev_timer_init(&job->cancel_timer, cancel_timer_cb, job->opts.cancel_timeout, 0.);
		job->cancel_timer.data = job;
		ev_timer_start(job->loop, &job->cancel_timer);
	}
}

/* The migration failed: record why, unless the destination's going was the cause. */
static void failure_checked(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;

	/* A destination that vanished is the cause; the broken stream only its effect. */
	if (err)
		qm_job_fail(job, err);
	qm_job_failf(job, -EIO, "MigrationFailed", "migration failed: %s", job->migration_error);
	perform_end(job);
}

void qm_source_migration_ended(struct qm_job *job, json_t *info)
{
	const char *status = json_string_value(json_object_get(info, "status"));
	json_t *ram = json_object_get(info, "ram");
	struct qm_result *r = &job->result;
	struct qm_batch_cmd check[] = { { .name = "query-status" } };
	struct qm_error err = { 0 };
	const char *desc;
	struct qm_cookie c;

	if (job->phase != QM_PHASE_PERFORM || job->perform_done || job->perform_ending)
		return;
	job->perform_ending = true;
	job->migrate_issued = false; /* it ended: nothing left to cancel */
	qm_monitor_stop(job);
	if (status && strcmp(status, "completed") == 0) {
		r->total_ms = json_integer_value(json_object_get(info, "total-time"));
		r->downtime_ms = json_integer_value(json_object_get(info, "downtime"));
		r->setup_ms = json_integer_value(json_object_get(info, "setup-time"));
		r->transferred_bytes = json_integer_value(json_object_get(ram, "transferred"));
		r->passes = json_integer_value(json_object_get(ram, "dirty-sync-count"));
		qm_job_cookie_init(job, &c, QM_COOKIE_STATS);
		c.stats.total_bytes = json_integer_value(json_object_get(ram, "total"));
		/* The source is paused for good: its leases go to the destination. */
		if (qm_source_leases_release(job, &c) == 0)
			qm_job_emit_cookie(job, &c);
	} else if (status && strcmp(status, "cancelled") == 0) {
		qm_job_failf(job, -ECANCELED, "Cancelled", "the migration was cancelled");
	} else {
		desc = json_string_value(json_object_get(info, "error-desc"));
		snprintf(job->migration_error, sizeof(job->migration_error), "%s",
			 desc ? desc : "QEMU gave no reason");
		/*
		 * Only a job with no cause yet asks: otherwise the first error has won
		 * already, and a hung destination would hold the rollback until the
		 * command timed out.
		 */
		if (!qm_job_failed(job) && !job->dst_gone &&
		    qm_batch_run(job->dst, check, 1, failure_checked, job, &err) == 0)
			return;
		failure_checked(job, NULL, NULL);
		return;
	}
	perform_end(job);
}

/* ---- confirm -------------------------------------------------------------------- */

/* Where the VM is when the source cannot say. */
static enum qm_vm_location unlocated(const struct qm_job *job)
{
	/*
	 * Nothing that could move or stop it went to the source QEMU: it is where
	 * it was, whatever the destination was told (it never got the VM).
	 */
	return job->src_changed ? QM_VM_UNKNOWN : QM_VM_SOURCE;
}

static void confirm_located(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	const char *state = res ? json_string_value(json_object_get(res[0], "status")) : NULL;

	if (!state)
		job->result.vm = unlocated(job);
	else if (strcmp(state, "running") == 0)
		job->result.vm = QM_VM_SOURCE;
	else
		job->result.vm = QM_VM_SOURCE_PAUSED;
	qm_job_enter(job, QM_PHASE_DONE);
}

static void locate_on_source(struct qm_job *job)
{
	struct qm_batch_cmd cmds[] = { { .name = "query-status", .optional = true } };
	struct qm_error err = { 0 };

	if (qm_batch_run(job->src, cmds, 1, confirm_located, job, &err) < 0)
		confirm_located(job, NULL, &err);
}

static void source_resumed(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;

	if (err)
		qm_err(job->ctx, "cannot resume the source: %s", err->text);
	locate_on_source(job);
}

static void rollback_status(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	const char *state = res ? json_string_value(json_object_get(res[0], "status")) : NULL;
	struct qm_batch_cmd cmds[] = { { .name = "cont" } };
	struct qm_error serr = { 0 };

	if (!state) {
		confirm_located(job, NULL, err);
		return;
	}
	/* The VM stays paused where it cannot hold its leases: someone else may run it. */
	if (qm_source_leases_take_back(job) < 0 || !job->src_was_running ||
	    strcmp(state, "running") == 0) {
		confirm_located(job, res, NULL);
		return;
	}
	qm_info(job->ctx, "resuming the source (it was running before the migration)");
	job->result.changed = job->src_changed = true;
	if (qm_batch_run(job->src, cmds, 1, source_resumed, job, &serr) < 0)
		confirm_located(job, NULL, &serr);
}

static void source_quit(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	struct qm_job *job = ud;

	/* The close callback finishes the phase once QEMU has gone. */
	if (err && !job->src_gone && strcmp(err->error_class, "ConnectionClosed") != 0)
		qm_warn(job->ctx, "cannot quit the source QEMU: %s", err->text);
	if (err && job->phase == QM_PHASE_CONFIRM)
		qm_job_enter(job, QM_PHASE_DONE);
}

static void source_stop(struct qm_job *job)
{
	if (job->src_gone) {
		qm_job_enter(job, QM_PHASE_DONE);
		return;
	}
	job->src_quitting = true;
	if (qm_qmp_command(job->src, "quit", NULL, -1, 0, source_quit, job) < 0)
		qm_job_enter(job, QM_PHASE_DONE);
}

static void confirm_rollback(struct qm_job *job)
{
	struct qm_batch_cmd cmds[] = { { .name = "query-status", .optional = true } };
	struct qm_error err = { 0 };

	if (qm_batch_run(job->src, cmds, 1, rollback_status, job, &err) < 0)
		rollback_status(job, NULL, &err);
}

void qm_source_confirm(struct qm_job *job)
{

	if (qm_job_failed(job)) {
		/*
		 * After post-copy began the source's state is stale: resuming it
		 * would fork the VM.  So it is when the agent went away during
		 * finish, which may have resumed the VM there.
		 */
		if (job->dest_uncertain)
			qm_err(job->ctx, "the destination may run the VM: the source is left "
					 "paused; look at the destination before resuming it");
		if (job->src_gone || job->postcopy_entered || job->dest_uncertain) {
			job->result.vm = unlocated(job);
			qm_job_enter(job, QM_PHASE_DONE);
			return;
		}
		/* The mirrors go first: the source's disks are its own again. */
		qm_storage_source_rollback(job, confirm_rollback);
		return;
	}
	job->result.vm = QM_VM_DESTINATION;
	/* The destination holds the leases: ours go (the source QEMU's with it). */
	qm_leases_close(job->src_leases, job->n_src_leases);
	job->n_src_leases = 0;
	if (job->opts.keep_source || job->src_gone) {
		qm_job_enter(job, QM_PHASE_DONE);
		return;
	}
	/* SPICE clients move over first, as libvirt lets them (bounded). */
	qm_graphics_await(job, source_stop);
}
