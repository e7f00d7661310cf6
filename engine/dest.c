/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The destination side's phases: prepare and finish. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/batch.h"
#include "engine/child.h"
#include "engine/job.h"
#include "engine/proc.h"
#include "qmp/internal.h"
#include "util/error.h"
#include "util/host.h"
#include "util/log.h"

#define FINISH_POLL 0.005
/* A waiting QEMU quits at once; one that does not is stuck (see dest_kill). */
#define QUIT_TIMEOUT 10.0
#define KILL_TIMEOUT 5.0

/* ---- prepare -------------------------------------------------------------------- */

static void prepare_emit(struct qm_job *job)
{
	struct qm_cookie c;

	if (qm_job_failed(job)) {
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	/* Once incoming, the disks are served for the source's mirrors. */
	if (qm_storage_wanted(job) && !qm_storage_serving(job)) {
		qm_storage_serve(job, prepare_emit);
		return;
	}
	/* The graphics section is written only when it holds a display. */
	qm_job_cookie_init(job, &c, QM_COOKIE_MIGRATE | QM_COOKIE_GRAPHICS);
	snprintf(c.migrate_uri, sizeof(c.migrate_uri), "%s", job->migrate_uri);
	c.graphics = job->dst_graphics;
	qm_storage_cookie(job, &c);
	if (qm_job_emit_cookie(job, &c) < 0) {
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	qm_job_enter(job, QM_PHASE_PERFORM);
}

static void incoming_port(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	json_t *addr = res ? json_array_get(json_object_get(res[0], "socket-address"), 0) : NULL;
	const char *port = json_string_value(json_object_get(addr, "port"));

	if (err)
		qm_job_fail(job, err);
	if (!qm_job_failed(job) && !port)
		qm_job_failf(job, -EPROTO, "ProtocolError",
			     "the destination QEMU did not say which TCP port it listens on");
	if (qm_job_failed(job)) {
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	snprintf(job->migrate_uri, sizeof(job->migrate_uri), strchr(job->listen_address, ':')
		 ? "tcp:[%s]:%s" : "tcp:%s:%s", job->listen_address, port);
	prepare_emit(job);
}

static void incoming_started(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	struct qm_batch_cmd cmds[] = { { .name = "query-migrate" } };

	if (err)
		qm_job_fail(job, err);
	if (qm_job_failed(job)) {
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	if (job->opts.transport == QM_TRANSPORT_TCP) {
		qm_job_batch(job, job->dst, cmds, ARRAY_SIZE(cmds), incoming_port);
		return;
	}
	if (job->opts.transport == QM_TRANSPORT_TUNNEL && !qm_tunnel_uses_pipes(job)) {
		/* The source sends into the tunnel; the pumps carry it to migrate.sock. */
		char dst_path[sizeof(job->migrate_uri)];

		snprintf(dst_path, sizeof(dst_path), "%s", job->migrate_uri + strlen("unix:"));
		if (qm_tunnel_open(job, dst_path, job->migrate_uri, sizeof(job->migrate_uri)) < 0) {
			qm_job_enter(job, QM_PHASE_FINISH);
			return;
		}
	}
	prepare_emit(job);
}

static void prepare_checked(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	const char *state;
	struct qm_batch_cmd cmds[4];
	struct qm_qemu_facts dst;
	struct qm_error perr = { 0 };
	json_t *params;
	size_t n = 0;

	if (err)
		qm_job_fail(job, err);
	if (qm_job_failed(job))
		goto rollback;
	state = json_string_value(json_object_get(res[0], "status"));
	if (qm_precheck_incoming(state, &perr) < 0 ||
	    qm_qemu_facts_read(&dst, "destination", res[4], res[5], res[6], &perr) < 0 ||
	    qm_precheck_same_machine(&job->src_facts, &dst, res[7], &perr) < 0 ||
	    qm_precheck_identity(job->name, job->uuid, res[1], res[2], &perr) < 0 ||
	    qm_caps_check(job, res[3], false, &perr) < 0) {
		qm_job_refuse(job, &perr);
		goto rollback;
	}
	qm_graphics_from_qemu(res[8], res[9], qm_graphics_reached(job), &job->dst_graphics);
	qm_graphics_cert(job, &job->dst_graphics);
	if (qm_tunnel_uses_pipes(job)) {
		if (qm_tunnel_open_pipes(job) < 0)
			goto rollback;
		snprintf(job->migrate_uri, sizeof(job->migrate_uri), "fd:%s", QM_TUNNEL_FDNAME);
	} else if (job->opts.transport != QM_TRANSPORT_TCP) {
		if (qm_runtime_dir_create(job) < 0)
			goto rollback;
		snprintf(job->migrate_uri, sizeof(job->migrate_uri), "unix:%s/migrate.sock",
			 job->runtime_dir);
	} else {
		snprintf(job->migrate_uri, sizeof(job->migrate_uri),
			 strchr(job->listen_address, ':') ? "tcp:[%s]:0" : "tcp:%s:0",
			 job->listen_address);
	}
	cmds[n++] = (struct qm_batch_cmd){ .name = "migrate-set-capabilities",
					   .args = qm_caps_args(job, false) };
	params = qm_params_args(job, false);
	if (params)
		cmds[n++] = (struct qm_batch_cmd){ .name = "migrate-set-parameters", .args = params };
	if (qm_tunnel_qemu_fd(job, QM_TUNNEL_DESTINATION) >= 0)
		cmds[n++] = (struct qm_batch_cmd){
			.name = "getfd",
			.args = json_pack("{s:s}", "fdname", QM_TUNNEL_FDNAME),
			.pass_fd = true,
			.fd = qm_tunnel_qemu_fd(job, QM_TUNNEL_DESTINATION),
		};
	cmds[n++] = (struct qm_batch_cmd){
		.name = "migrate-incoming",
		.args = json_pack("{s:s}", "uri", job->migrate_uri),
	};
	/* A QEMU the job started is held by dest-launch.c already. */
	if (!job->launch && job->dst_pidfd < 0) {
		uid_t uid;

		job->dst_pidfd = qm_qmp_peer(job->dst, &job->dst_pid, &uid);
		/* A QMP server in this very process (an embedder's, a test's) is no QEMU. */
		if (job->dst_pidfd >= 0 && job->dst_pid == getpid()) {
			close(job->dst_pidfd);
			job->dst_pidfd = -1;
		}
	}
	job->incoming_started = true;
	job->result.changed = true;
	qm_job_batch(job, job->dst, cmds, n, incoming_started);
	/* The connection sends a copy of its own. */
	qm_tunnel_qemu_fd_passed(job, QM_TUNNEL_DESTINATION);
	return;
rollback:
	qm_job_enter(job, QM_PHASE_FINISH);
}

/*
 * What the prechecks need to know of the destination, and where its display
 * listens (for prepare's cookie), in one round trip.  A QEMU built without
 * SPICE or VNC does not know their query: it has none of that display.
 */
static void prepare_query(struct qm_job *job)
{
	struct qm_batch_cmd cmds[] = {
		{ .name = "query-status" },
		{ .name = "query-name", .optional = true },
		{ .name = "query-uuid", .optional = true },
		{ .name = "query-migrate-capabilities" },
		{ .name = "query-target" },
		{ .name = "query-kvm" },
		{ .name = "qom-get", .args = qm_machine_type_args() },
		{ .name = "query-machines" },
		{ .name = "query-spice", .optional = true },
		{ .name = "query-vnc", .optional = true },
	};

	qm_job_batch(job, job->dst, cmds, ARRAY_SIZE(cmds), prepare_checked);
}

/*
 * Begin's cookie is what this side knows of the source, here or on another
 * host: the VM's identity and what the prechecks compare with.  A cookie
 * this side cannot take is a refusal: nothing was touched yet.
 */
static int prepare_take_cookie(struct qm_job *job)
{
	struct qm_cookie_check check = {
		.local_host_uuid = job->refuse_same_host ? job->host_uuid : NULL,
	};
	struct qm_cookie c;
	struct qm_error err = { 0 };
	int r;

	if (!job->cookie)
		return qm_job_failf(job, -EPROTO, "CookieMissing", "no cookie from begin");
	r = qm_cookie_parse(job->cookie, strlen(job->cookie), &check, &c, &err);
	if (r == 0 && !(c.features & QM_COOKIE_SOURCE))
		r = qm_error_set(&err, -EPROTO, "CookieInvalid",
				 "begin's cookie does not describe the source QEMU");
	if (r < 0)
		return qm_job_refuse(job, &err);
	r = qm_dest_leases_check(job, &c);
	if (r == 0)
		r = qm_storage_take_begin(job, &c);
	if (r < 0)
		return r;
	snprintf(job->name, sizeof(job->name), "%s", c.name);
	snprintf(job->uuid, sizeof(job->uuid), "%s", c.uuid);
	snprintf(job->src_facts.arch, sizeof(job->src_facts.arch), "%s", c.source.arch);
	snprintf(job->src_facts.machine, sizeof(job->src_facts.machine), "%s", c.source.machine);
	job->src_facts.kvm = c.source.kvm;
	job->src_was_running = c.source.running;
	job->src_pid = c.source.pid;
	/* The source answered begin, or there would be no cookie. */
	job->src_answered = true;
	return 0;
}

void qm_dest_prepare(struct qm_job *job)
{
	if (prepare_take_cookie(job) < 0) {
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	/*
	 * An agent launching the VM on its host refuses when a QEMU of that name
	 * runs there already: the VM would run twice.  On the source's own host
	 * (--allow-same-host) the source QEMU itself is not counted.
	 */
	if (job->place == QM_PLACE_AGENT && job->opts.launch_dest && strcmp(job->name, "unnamed")) {
		long other = qm_proc_find_qemu_named(job->name, job->refuse_same_host ? 0
										       : job->src_pid);

		if (other) {
			struct qm_error err = { 0 };

			qm_error_set(&err, -EEXIST, "VmExists",
				     "a QEMU named '%s' already runs on the destination host "
				     "(pid %ld): stop it there, or migrate to another host",
				     job->name, other);
			qm_job_refuse(job, &err);
			qm_job_enter(job, QM_PHASE_FINISH);
			return;
		}
	}
	/* A destination to launch is checked like any other once its QMP answers. */
	if (job->opts.launch_dest)
		qm_dest_launch(job, prepare_query);
	else
		prepare_query(job);
}

/* ---- finish --------------------------------------------------------------------- */

/*
 * The destination took no notice of quit.  QEMU 7.2's incoming side can
 * block its main loop for good when a multifd stream breaks (it waits for a
 * sync that never comes), and then only SIGKILL ends it.  It is a QEMU we
 * had already decided to stop, waiting for a migration that failed, holding
 * nothing of the VM's: the source keeps all of it.
 */
static void kill_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_job *job = w->data;

	if (job->phase != QM_PHASE_FINISH)
		return;
	qm_err(job->ctx, "the killed destination QEMU still holds its QMP socket after %.0f s",
	       KILL_TIMEOUT);
	qm_job_enter(job, QM_PHASE_CONFIRM);
}

static bool dest_kill(struct qm_job *job)
{
	pid_t pid;
	uid_t uid;
	int pidfd = qm_qmp_peer(job->dst, &pid, &uid), r = pidfd;

	if (pidfd >= 0) {
		r = qm_pidfd_signal(pidfd, pid, SIGKILL);
		close(pidfd);
	}
	if (r < 0) {
		qm_err(job->ctx, "the destination QEMU did not quit, and cannot be killed: %s",
		       strerror(-r));
		return false;
	}
	qm_warn(job->ctx, "the destination QEMU did not quit within %.0f s: killed it",
		QUIT_TIMEOUT);
	ev_timer_init(&job->kill_timer, kill_timer_cb, KILL_TIMEOUT, 0.);
	job->kill_timer.data = job;
	ev_timer_start(job->loop, &job->kill_timer);
	return true;
}

/*
 * The destination's QMP went away after its incoming side started, and the
 * QEMU may live on: waiting for a stream that will not come, or holding a
 * whole paused copy of the VM while the source resumes it.  Without QMP it
 * cannot be asked to quit, so it is killed through the pidfd taken before
 * migrate-incoming.  Post-copy's destination has the VM: never.
 */
static void dest_kill_lost(struct qm_job *job)
{
	int r;

	if (job->dst_pidfd < 0 || !job->incoming_started || job->postcopy_entered || job->launch)
		return;
	r = qm_pidfd_signal(job->dst_pidfd, job->dst_pid, SIGKILL);
	if (r == 0)
		qm_warn(job->ctx, "the destination QEMU's QMP connection closed during the "
				  "migration: killed that QEMU (pid %ld), so that the VM is only "
				  "on the source", (long)job->dst_pid);
	else if (r != -ESRCH)
		qm_err(job->ctx, "the destination QEMU (pid %ld) lost its QMP connection and "
				 "cannot be killed: %s; stop it by hand, the source has the VM",
		       (long)job->dst_pid, strerror(-r));
	job->result.changed = true;
}

static void dest_quit_sent(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	struct qm_job *job = ud;

	/* Normally the close callback moves on once QEMU has gone. */
	if (err && job->phase == QM_PHASE_FINISH && !job->dst_gone &&
	    strcmp(err->error_class, "CommandTimeout") == 0 && dest_kill(job))
		return; /* the connection closes when it dies */
	if (err && job->phase == QM_PHASE_FINISH) {
		/* A connection closed under the quit means QEMU went: what we wanted. */
		if (!job->dst_gone && strcmp(err->error_class, "ConnectionClosed") != 0)
			qm_err(job->ctx, "cannot quit the destination QEMU: %s", err->text);
		qm_job_enter(job, QM_PHASE_CONFIRM);
	}
}

static void dest_quit(struct qm_job *job)
{
	qm_info(job->ctx, "stopping the destination QEMU");
	job->dst_quitting = true;
	/* Stopping a QEMU the job launched puts things back as they were. */
	if (!job->launch)
		job->result.changed = true;
	if (qm_qmp_command(job->dst, "quit", NULL, -1, QUIT_TIMEOUT, dest_quit_sent, job) < 0) {
		/* Its QMP is gone already (the close callback may not have run yet). */
		dest_kill_lost(job);
		qm_job_enter(job, QM_PHASE_CONFIRM);
	}
}

static void dest_abort_status(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	const char *state = res ? json_string_value(json_object_get(res[0], "status")) : NULL;

	if (state && strcmp(state, "inmigrate") == 0) {
		dest_quit(job);
		return;
	}
	/* Never stop a QEMU that is not a waiting destination: it may run another VM. */
	qm_warn(job->ctx, "the destination QEMU is %s, not a waiting destination: left alone",
		state ? state : "unreachable");
	qm_job_enter(job, QM_PHASE_CONFIRM);
}

/*
 * A failed migration leaves no destination behind: a QEMU whose incoming side
 * we started, or that still waits for a migration, is stopped.
 */
static void dest_abort(struct qm_job *job)
{
	struct qm_batch_cmd cmds[] = { { .name = "query-status" } };
	struct qm_error err = { 0 };

	ev_timer_stop(job->loop, &job->finish_timer);
	/* Before anything else: the source takes them back in confirm. */
	qm_dest_leases_give_back(job);
	/* The images prepare created go; QEMU may still have them open, which is harmless. */
	qm_storage_remove_images(job);
	if (job->dst_gone) {
		dest_kill_lost(job);
		qm_job_enter(job, QM_PHASE_CONFIRM);
		return;
	}
	if (job->launch && !job->postcopy_entered) {
		/* The job started this QEMU for the VM: it goes whatever failed. */
		dest_quit(job);
		return;
	}
	if (job->refused) {
		qm_info(job->ctx, "refused before anything changed: "
			"the destination QEMU is left as it is");
		qm_job_enter(job, QM_PHASE_CONFIRM);
		return;
	}
	if (!job->src_answered) {
		/*
		 * The job never reached the VM (a wrong source path, say): whatever the
		 * destination waits for, this job has not touched it.  The caller may
		 * fix the source and try again with it.
		 */
		qm_info(job->ctx, "the source QEMU was never reached: "
			"the destination QEMU is left as it is");
		qm_job_enter(job, QM_PHASE_CONFIRM);
		return;
	}
	if (job->postcopy_entered) {
		/* The destination holds the newest state of the running VM: never kill it. */
		qm_err(job->ctx, "post-copy had started: the destination QEMU is left as it is");
		qm_job_enter(job, QM_PHASE_CONFIRM);
		return;
	}
	if (job->incoming_started) {
		dest_quit(job);
		return;
	}
	if (qm_batch_run(job->dst, cmds, 1, dest_abort_status, job, &err) < 0)
		dest_abort_status(job, NULL, &err);
}

static void finish_emit(struct qm_job *job)
{
	struct qm_cookie c;

	qm_job_cookie_init(job, &c, QM_COOKIE_STATS);
	if (qm_job_emit_cookie(job, &c) < 0) {
		dest_abort(job);
		return;
	}
	qm_storage_keep_images(job);
	qm_job_enter(job, QM_PHASE_CONFIRM);
}

static void dest_resumed(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	const char *state = res ? json_string_value(json_object_get(res[1], "status")) : NULL;

	if (err)
		qm_job_fail(job, err);
	if (!qm_job_failed(job) && (!state || strcmp(state, "running") != 0))
		qm_job_failf(job, -EIO, "ResumeFailed",
			     "the destination VM did not start running (it is %s)",
			     state ? state : "in an unknown state");
	if (qm_job_failed(job)) {
		dest_abort(job);
		return;
	}
	finish_emit(job);
}

static void finish_poll(struct qm_job *job);

static void finish_resume(struct qm_job *job)
{
	struct qm_batch_cmd cmds[] = { { .name = "cont" }, { .name = "query-status" } };

	if (qm_job_failed(job)) {
		dest_abort(job);
		return;
	}
	/* Before the VM runs here: no one else may write its disks any more. */
	if (qm_storage_serving(job)) {
		qm_storage_unserve(job, finish_resume);
		return;
	}
	if (!job->src_was_running || job->opts.paused) {
		finish_emit(job);
		return;
	}
	qm_job_batch(job, job->dst, cmds, ARRAY_SIZE(cmds), dest_resumed);
}

static void finish_polled(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	const char *state = res ? json_string_value(json_object_get(res[0], "status")) : NULL;
	const char *mig = res ? json_string_value(json_object_get(res[1], "status")) : NULL;

	job->finish_inflight = false;
	if (err)
		qm_job_fail(job, err);
	if (!qm_job_failed(job) && mig && strcmp(mig, "failed") == 0)
		qm_job_failf(job, -EIO, "MigrationFailed",
			     "the destination could not load the incoming migration");
	if (qm_job_failed(job)) {
		dest_abort(job);
		return;
	}
	if (!state || strcmp(state, "inmigrate") == 0) {
		/* Still loading the last pages: look again very soon. */
		ev_timer_set(&job->finish_timer, FINISH_POLL, 0.);
		ev_timer_start(job->loop, &job->finish_timer);
		return;
	}
	/* At the last moment: the leases move only once the VM's state is all here. */
	qm_dest_leases_take(job, finish_resume);
}

static void finish_poll(struct qm_job *job)
{
	struct qm_batch_cmd cmds[] = { { .name = "query-status" }, { .name = "query-migrate" } };

	if (job->finish_inflight)
		return;
	job->finish_inflight = true;
	qm_job_batch(job, job->dst, cmds, ARRAY_SIZE(cmds), finish_polled);
}

static void finish_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	finish_poll(w->data);
}

/* Perform's cookie has QEMU's figures, which finish's cookie passes on. */
static int finish_take_cookie(struct qm_job *job)
{
	struct qm_cookie_check check = { .name = job->name, .uuid = job->uuid };
	struct qm_result *r = &job->result;
	struct qm_cookie c;

	if (qm_job_take_cookie(job, &check, &c) < 0 || qm_dest_leases_open(job, &c) < 0)
		return -EPROTO;
	if (!(c.features & QM_COOKIE_STATS))
		return 0;
	r->total_ms = c.stats.total_ms;
	r->downtime_ms = c.stats.downtime_ms;
	r->setup_ms = c.stats.setup_ms;
	r->transferred_bytes = c.stats.transferred_bytes;
	r->passes = c.stats.passes;
	return 0;
}

void qm_dest_finish(struct qm_job *job)
{
	if (qm_job_failed(job) || finish_take_cookie(job) < 0) {
		dest_abort(job);
		return;
	}
	ev_timer_init(&job->finish_timer, finish_timer_cb, FINISH_POLL, 0.);
	job->finish_timer.data = job;
	finish_poll(job);
}
