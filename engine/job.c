/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The job's lifecycle: options, connections, phase transitions, errors, the result. */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "engine/batch.h"
#include "engine/control.h"
#include "engine/job.h"
#include "util/error.h"
#include "util/log.h"
#include "xml/domain-argv.h"

#define DEFAULT_POLL_INTERVAL 0.1
/* A healthy QEMU cancels within a second; one that does not is stuck (see source.c). */
#define DEFAULT_CANCEL_TIMEOUT 20.0
/* SPICE's own server gives a client 10 s to reach the destination (docs/graphics.md). */
#define DEFAULT_SPICE_TIMEOUT 10.0

bool qm_job_failed(const struct qm_job *job)
{
	return qm_error_is_set(&job->error);
}

void qm_job_fail(struct qm_job *job, const struct qm_error *err)
{
	bool first = !qm_job_failed(job);

	qm_error_copy(&job->error, err);
	if (!first)
		return;
	qm_info(job->ctx, "%s failed: %s", qm_phase_name(job->phase), job->error.text);
	/* A running migration is cancelled; every other phase notices on its next step. */
	if (job->phase == QM_PHASE_PERFORM && job->place != QM_PLACE_AGENT)
		qm_source_abort_perform(job);
	else if (job->phase == QM_PHASE_PREPARE && job->place == QM_PLACE_SOURCE)
		qm_remote_abort_prepare(job);
	else if (job->phase == QM_PHASE_PREPARE)
		qm_dest_launch_abort(job);
}

int qm_job_failf(struct qm_job *job, int code, const char *error_class, const char *fmt, ...)
{
	struct qm_error err = { 0 };
	va_list ap;

	err.code = code < 0 ? code : -EIO;
	snprintf(err.error_class, sizeof(err.error_class), "%s", error_class);
	va_start(ap, fmt);
	vsnprintf(err.text, sizeof(err.text), fmt, ap);
	va_end(ap);
	qm_job_fail(job, &err);
	return err.code;
}

int qm_job_refuse(struct qm_job *job, const struct qm_error *err)
{
	if (!qm_job_failed(job))
		job->refused = true;
	qm_job_fail(job, err);
	return err->code;
}

void qm_job_set_cookie(struct qm_job *job, char *xml)
{
	free(job->cookie);
	job->cookie = xml;
}

void qm_job_cookie_init(const struct qm_job *job, struct qm_cookie *c, unsigned features)
{
	const struct qm_result *r = &job->result;

	memset(c, 0, sizeof(*c));
	snprintf(c->name, sizeof(c->name), "%s", job->name);
	snprintf(c->uuid, sizeof(c->uuid), "%s", job->uuid);
	snprintf(c->hostname, sizeof(c->hostname), "%s", job->hostname);
	snprintf(c->host_uuid, sizeof(c->host_uuid), "%s", job->host_uuid);
	c->features = features;
	if (!(features & QM_COOKIE_STATS))
		return;
	c->stats.total_ms = r->total_ms;
	c->stats.downtime_ms = r->downtime_ms;
	c->stats.setup_ms = r->setup_ms;
	c->stats.transferred_bytes = r->transferred_bytes;
	c->stats.passes = r->passes;
}

int qm_job_emit_cookie(struct qm_job *job, const struct qm_cookie *c)
{
	struct qm_error err = { 0 };
	char *xml = NULL;
	int r;

	r = qm_cookie_format(c, &xml, &err);
	if (r < 0) {
		qm_job_fail(job, &err);
		return r;
	}
	qm_dbg(job->ctx, "cookie out of %s:\n%s", qm_phase_name(job->phase), xml);
	qm_job_set_cookie(job, xml);
	return 0;
}

int qm_job_take_cookie(struct qm_job *job, const struct qm_cookie_check *check,
		       struct qm_cookie *c)
{
	struct qm_error err = { 0 };
	int r;

	if (!job->cookie)
		return qm_job_failf(job, -EPROTO, "CookieMissing", "no cookie from the previous phase");
	r = qm_cookie_parse(job->cookie, strlen(job->cookie), check, c, &err);
	if (r < 0)
		qm_job_fail(job, &err);
	return r;
}

void qm_job_batch(struct qm_job *job, struct qm_qmp *qmp, struct qm_batch_cmd *cmds, size_t n,
		  void (*done)(void *job, json_t **results, const struct qm_error *err))
{
	struct qm_error err = { 0 };

	if (qm_batch_run(qmp, cmds, n, done, job, &err) < 0) {
		qm_job_fail(job, &err);
		done(job, NULL, &err);
	}
}

static long long ms_since(const struct qm_job *job, ev_tstamp t)
{
	return (long long)((ev_time() - t) * 1000 + 0.5);
}

static void job_done(struct qm_job *job);

void qm_job_enter(struct qm_job *job, enum qm_phase phase)
{
	/* Phases only move forward. */
	if (phase <= job->phase && job->started) {
		qm_err(job->ctx, "BUG: phase %s after %s", qm_phase_name(phase),
		       qm_phase_name(job->phase));
		abort();
	}
	if (job->started)
		job->result.phase_ms[job->phase] = ms_since(job, job->t_phase);
	job->started = true;
	job->phase = phase;
	job->t_phase = ev_time();
	job->progress.phase = phase;
	qm_dbg(job->ctx, "phase %s%s", qm_phase_name(phase),
	       qm_job_failed(job) && phase != QM_PHASE_DONE ? " (rolling back)" : "");
	if (job->cbs.phase)
		job->cbs.phase(job, phase, job->userdata);
	switch (phase) {
	case QM_PHASE_BEGIN:
		qm_source_begin(job);
		break;
	case QM_PHASE_PREPARE:
		if (job->place == QM_PLACE_SOURCE)
			qm_remote_prepare(job);
		else
			qm_dest_prepare(job);
		break;
	case QM_PHASE_PERFORM:
		if (job->place == QM_PLACE_AGENT)
			qm_agent_prepared(job);
		else
			qm_source_perform(job);
		break;
	case QM_PHASE_FINISH:
		if (job->place == QM_PLACE_SOURCE)
			qm_remote_finish(job);
		else
			qm_dest_finish(job);
		break;
	case QM_PHASE_CONFIRM:
		if (job->place == QM_PLACE_AGENT)
			qm_agent_finished(job);
		else
			qm_source_confirm(job);
		break;
	case QM_PHASE_DONE:
		job_done(job);
		break;
	}
}

static void job_done(struct qm_job *job)
{
	struct qm_result *r = &job->result;

	r->wall_ms = ms_since(job, job->t_start);
	r->was_running = job->src_was_running;
	if (!qm_job_failed(job)) {
		r->status = QM_JOB_COMPLETED;
	} else {
		r->status = strcmp(job->error.error_class, "Cancelled") == 0 ? QM_JOB_CANCELLED
									     : QM_JOB_FAILED;
		r->error = job->error;
	}
	if (r->total_ms > 0)
		r->throughput_mbps = (double)r->transferred_bytes * 8 / 1e6 / (r->total_ms / 1000.0);
	qm_tunnel_close(job);
	qm_runtime_dir_remove(job);
	job->finished = true;
	qm_monitor_stop(job);
	qm_graphics_stop(job);
	/* A job has an agent (the source's) or a QEMU it launched, never both. */
	if (!qm_remote_settle(job) && !qm_dest_launch_settle(job))
		qm_job_notify_done(job);
}

void qm_job_notify_done(struct qm_job *job)
{
	struct qm_result *r = &job->result;

	qm_job_ref(job);
	if (job->cbs.done)
		job->cbs.done(job, r, job->userdata);
	qm_job_unref(job);
}

/* ---- connections ---------------------------------------------------------------- */

static void side_closed(struct qm_job *job, bool source, const struct qm_error *err)
{
	bool expected = source ? job->src_quitting : job->dst_quitting;

	qm_qmp_log_closed(job, source, err);
	if (source)
		job->src_gone = true;
	else
		job->dst_gone = true;
	if (job->finished)
		return;
	/* A QEMU we asked to quit has gone: the phase waiting for that moves on. */
	if (expected) {
		if (source && job->phase == QM_PHASE_CONFIRM)
			qm_job_enter(job, QM_PHASE_DONE);
		else if (!source && job->phase == QM_PHASE_FINISH)
			qm_job_enter(job, QM_PHASE_CONFIRM);
		return;
	}
	/*
	 * Once the migration completed the source holds nothing the destination
	 * lacks: confirm would have stopped it anyway.  Failing the job now
	 * would make finish kill the destination, the only copy of the VM left.
	 */
	if (source && job->perform_done && !qm_job_failed(job)) {
		qm_warn(job->ctx, "the source QEMU went away after the migration completed: "
				  "the destination has the VM");
		return;
	}
	/* Finish succeeded: the destination runs the VM and confirm needs it no more. */
	if (!source && job->phase == QM_PHASE_CONFIRM && !qm_job_failed(job)) {
		qm_warn(job->ctx, "the destination's QMP connection closed after finish: "
				  "it has the VM");
		return;
	}
	qm_job_fail(job, err); /* the connection's label names the side */
	/* Without the source's QMP the monitor learns nothing more: perform is over. */
	if (source)
		qm_source_perform_lost(job);
}

static void src_closed(struct qm_qmp *q, const struct qm_error *err, void *ud)
{
	side_closed(ud, true, err);
}

void qm_job_dst_closed(struct qm_qmp *q, const struct qm_error *err, void *ud)
{
	side_closed(ud, false, err);
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* ---- public API ------------------------------------------------------------------ */

/*
 * QEMU's monitor serves one client at a time: the side that connects second
 * would wait for a greeting until the first lets go.  Either name may be a
 * link to the other, hence the device and inode.
 */
static int check_two_sockets(const char *src, const char *dst, struct qm_error *err)
{
	struct stat a, b;

	if (strcmp(src, dst) == 0)
		return qm_error_set(err, -EINVAL, "Usage",
				    "the source and destination QMP sockets are both %s: a migration needs two QEMUs",
				    src);
	if (stat(src, &a) == 0 && stat(dst, &b) == 0 && a.st_dev == b.st_dev &&
	    a.st_ino == b.st_ino)
		return qm_error_set(err, -EINVAL, "Usage",
				    "the source and destination QMP sockets %s and %s are the same socket: a migration needs two QEMUs",
				    src, dst);
	return 0;
}

static bool dup_opt(char **dst, const char *src)
{
	if (!src)
		return true;
	*dst = strdup(src);
	return *dst != NULL;
}

_public_ struct qm_job *qm_job_new(struct qm_ctx *ctx, struct ev_loop *loop,
				   const struct qm_job_options *opts,
				   const struct qm_job_callbacks *cbs, void *userdata,
				   struct qm_error *err)
{
	_cleanup_(qm_argv_freep) char **leases = NULL;
	struct qm_job_options o;

	if (!opts || !opts->src_qmp) {
		qm_error_set(err, -EINVAL, "Usage", "the source's QMP socket is needed");
		return NULL;
	}
	if (qm_remote_options_check(opts, err) < 0)
		return NULL;
	if (qm_job_dest_options_check(opts, err) < 0 || qm_storage_options_check(opts, err) < 0)
		return NULL;
	if (qm_job_leases_gather(opts, &leases, err) < 0)
		return NULL;
	/* A socket on another host may have any name. */
	if (opts->dst_qmp && !opts->dest_uri &&
	    check_two_sockets(opts->src_qmp, opts->dst_qmp, err) < 0)
		return NULL;
	o = *opts;
	o.leases = (const char *const *)leases;
	return qm_job_alloc(ctx, loop, &o, cbs, userdata, err);
}

struct qm_job *qm_job_alloc(struct qm_ctx *ctx, struct ev_loop *loop,
			    const struct qm_job_options *opts, const struct qm_job_callbacks *cbs,
			    void *userdata, struct qm_error *err)
{
	struct qm_job *job;

	if (opts->transport != QM_TRANSPORT_UNIX && opts->transport != QM_TRANSPORT_TCP &&
	    opts->transport != QM_TRANSPORT_TUNNEL) {
		qm_error_set(err, -EINVAL, "Usage", "unknown transport %d", opts->transport);
		return NULL;
	}
	struct qm_policy_settings policy = opts->policy;

	/*
	 * The ladder and doubling climb up to the one --max-downtime.  Without
	 * them it is the limit from the start (qm_params_args), which the
	 * policies compare QEMU's expected downtime with.
	 */
	if (policy.downtime_steps || policy.downtime_double) {
		if (!policy.max_downtime_ms)
			policy.max_downtime_ms = (long long)opts->max_downtime_ms;
	} else if (!policy.initial_downtime_ms) {
		policy.initial_downtime_ms = (long long)opts->max_downtime_ms;
	}
	if (qm_policy_settings_validate(&policy, err) < 0)
		return NULL;
	if ((unsigned)opts->tunnel_copy > QM_TUNNEL_COPY_READWRITE) {
		qm_error_set(err, -EINVAL, "Usage", "unknown tunnel copy mode %d", opts->tunnel_copy);
		return NULL;
	}
	job = calloc(1, sizeof(*job));
	if (!job) {
		qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
		return NULL;
	}
	job->refcount = 1;
	job->ctx = qm_ctx_ref(ctx);
	job->loop = loop;
	job->opts = *opts;
	if (cbs)
		job->cbs = *cbs;
	job->userdata = userdata;
	if (!dup_opt(&job->src_qmp, opts->src_qmp) || !dup_opt(&job->dst_qmp, opts->dst_qmp) ||
	    !dup_opt(&job->runtime_parent, opts->runtime_dir) ||
	    !dup_opt(&job->domain_xml, opts->domain_xml) ||
	    !dup_opt(&job->dst_domain_xml, opts->dst_domain_xml) ||
	    !dup_opt(&job->passwd_file, opts->graphics_passwd_file)) {
		qm_job_unref(job);
		qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
		return NULL;
	}
	if (qm_job_lease_options_copy(job, opts) < 0) {
		qm_job_unref(job);
		qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
		return NULL;
	}
	if (qm_job_dest_options_copy(job, opts, err) < 0 ||
	    qm_remote_options_copy(job, opts, err) < 0 ||
	    qm_storage_options_copy(job, opts, err) < 0 ||
	    qm_qmp_log_open(job, opts->qmp_log, err) < 0) {
		qm_job_unref(job);
		return NULL;
	}
	snprintf(job->listen_address, sizeof(job->listen_address), "%s",
		 opts->migrate_address && !opts->dest_uri ? opts->migrate_address : "127.0.0.1");
	job->opts.policy = policy;
	job->opts.src_qmp = job->src_qmp;
	job->opts.dst_qmp = job->dst_qmp;
	job->opts.runtime_dir = job->runtime_parent;
	job->opts.domain_xml = job->domain_xml;
	job->opts.dst_domain_xml = job->dst_domain_xml;
	job->opts.graphics_passwd_file = job->passwd_file;
	job->opts.graphics_listen = job->graphics_listen;
	job->opts.spice_x509_dir = job->spice_x509_dir;
	job->opts.disk_map = NULL; /* parsed into job->disk_map */
	job->opts.qmp_log = NULL;  /* open in job->qmp_log */
	job->result.dst_pid = -1;
	if (job->opts.poll_interval <= 0)
		job->opts.poll_interval = DEFAULT_POLL_INTERVAL;
	if (job->opts.cancel_timeout <= 0)
		job->opts.cancel_timeout = DEFAULT_CANCEL_TIMEOUT;
	if (job->opts.spice_timeout <= 0)
		job->opts.spice_timeout = DEFAULT_SPICE_TIMEOUT;
	job->result.total_ms = job->result.downtime_ms = job->result.setup_ms = -1;
	for (int i = 0; i < QM_PHASE_DONE; i++)
		job->result.phase_ms[i] = -1;
	job->progress.expected_downtime_ms = -1;
	job->progress.status = job->qemu_status;
	job->dst_pidfd = -1;
	ev_timer_init(&job->kick, kick_cb, 0., 0.);
	job->kick.data = job;
	ev_timer_init(&job->poll_timer, NULL, 0., 0.);
	ev_timer_init(&job->finish_timer, NULL, 0., 0.);
	ev_timer_init(&job->kill_timer, NULL, 0., 0.);
	ev_timer_init(&job->cancel_timer, NULL, 0., 0.);
	ev_timer_init(&job->spice_timer, NULL, 0., 0.);
	return job;
}

_public_ struct qm_job *qm_job_ref(struct qm_job *job)
{
	if (job)
		job->refcount++;
	return job;
}

/* A description may hold passwords. */
static void wipe_free(char *s)
{
	if (s)
		explicit_bzero(s, strlen(s));
	free(s);
}

_public_ struct qm_job *qm_job_unref(struct qm_job *job)
{
	if (!job || --job->refcount > 0)
		return job;
	ev_timer_stop(job->loop, &job->kick);
	ev_timer_stop(job->loop, &job->poll_timer);
	ev_timer_stop(job->loop, &job->finish_timer);
	ev_timer_stop(job->loop, &job->kill_timer);
	ev_timer_stop(job->loop, &job->cancel_timer);
	qm_graphics_stop(job);
	qm_tunnel_close(job);
	qm_control_free(job->control);
	qm_runtime_dir_remove(job);
	qm_qmp_unref(job->src);
	qm_qmp_unref(job->dst);
	if (job->dst_pidfd >= 0)
		close(job->dst_pidfd);
	qm_qmp_log_free(job);
	qm_dest_launch_free(job);
	qm_storage_free(job);
	qm_remote_free(job);
	qm_job_leases_free(job);
	wipe_free(job->domain_xml);
	wipe_free(job->dst_domain_xml);
	free(job->passwd_file);
	qm_job_dest_options_free(job);
	qm_ctx_unref(job->ctx);
	free(job->cookie);
	free(job->src_qmp);
	free(job->dst_qmp);
	free(job->runtime_parent);
	free(job);
	return NULL;
}

static void kick_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	qm_job_enter(w->data, QM_PHASE_BEGIN);
}

static struct qm_qmp *open_side(struct qm_job *job, const char *path, const char *label,
				double wait_for_path, qm_qmp_close_fn closed, bool source,
				struct qm_error *err)
{
	struct qm_qmp_options opts = {
		.label = label,
		.connect_timeout = job->opts.connect_timeout,
		.wait_for_path = wait_for_path,
	};
	struct qm_qmp *q = qm_qmp_new(job->ctx, job->loop, &opts);

	if (!q) {
		qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
		return NULL;
	}
	qm_qmp_set_close_fn(q, closed, job);
	qm_qmp_log_attach(job, q, source);
	if (qm_qmp_connect(q, path, err) < 0)
		return qm_qmp_unref(q);
	return q;
}

int qm_job_open_dst(struct qm_job *job, const char *path, double wait_for_path,
		    struct qm_error *err)
{
	job->dst = open_side(job, path, "destination QEMU", wait_for_path, qm_job_dst_closed,
			     false, err);
	if (!job->dst)
		return err && err->code ? err->code : -EIO;
	job->dst_gone = false;
	return 0;
}

_public_ int qm_job_start(struct qm_job *job, struct qm_error *err)
{
	int r;

	if (job->started)
		return qm_error_set(err, -EALREADY, "Usage", "the job was already started");
	/* A socket waited for may have appeared since qm_job_new, a link to the other. */
	r = job->opts.dst_qmp && job->place == QM_PLACE_LOCAL
		    ? check_two_sockets(job->opts.src_qmp, job->opts.dst_qmp, err)
		    : 0;
	if (r < 0)
		return r;
	job->t_start = ev_time();
	job->src = open_side(job, job->opts.src_qmp, "source QEMU", job->opts.wait_for_qmp,
			     src_closed, true, err);
	if (!job->src)
		return err ? err->code : -EIO;
	if (job->place == QM_PLACE_SOURCE) {
		/* No destination QMP here: the agent has it. */
		job->dst_gone = true;
		r = qm_remote_start(job, err);
		if (r < 0)
			return r;
		ev_timer_start(job->loop, &job->kick);
		return 0;
	}
	/* A destination to launch has no connection until prepare starts it. */
	job->dst_gone = job->opts.launch_dest;
	if (!job->opts.launch_dest) {
		r = qm_job_open_dst(job, job->opts.dst_qmp, job->opts.wait_for_qmp, err);
		if (r < 0)
			return r;
	}
	/* Begin runs from the loop, so no callback ever runs inside this call. */
	ev_timer_start(job->loop, &job->kick);
	return 0;
}

_public_ int qm_job_cancel(struct qm_job *job)
{
	if (job->finished)
		return -EALREADY;
	if (qm_job_failed(job))
		return 0; /* already rolling back */
	if (job->phase > QM_PHASE_PERFORM || job->perform_done) {
		qm_info(job->ctx, "too late to cancel: the VM's state is already on the destination");
		return -EBUSY;
	}
	job->cancel_requested = true;
	qm_job_failf(job, -ECANCELED, "Cancelled", "migration cancelled by request");
	return 0;
}

_public_ const struct qm_progress *qm_job_progress(const struct qm_job *job)
{
	return &job->progress;
}
