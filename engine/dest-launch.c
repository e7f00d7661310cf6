/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A destination QEMU that the job starts itself (launch_dest) and owns.
 *
 * It runs from the migratable form of the destination's description, so no
 * password is on its command line; its displays start locked and get their
 * passwords with set_password once its QMP answers.  Prepare goes on only
 * then.  Its exit is watched through a pidfd: a QEMU that dies while prepare
 * waits for it (a disk it cannot open, say) fails the job with its status
 * and the tail of its log, not with a closed socket.  Whichever way the job
 * fails, it ends stopped (quit by the rollback, else SIGKILL), reaped, and
 * its directory removed; success hands it over to the caller, running.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/graphics-passwd.h"
#include "engine/job.h"
#include "engine/launch.h"
#include "qmp/internal.h"
#include "util/error.h"
#include "util/log.h"

#define EXIT_GRACE 2.0 /* seconds a QEMU whose QMP socket closed gets to show it exited */
#define QUIT_GRACE 5.0 /* seconds a QEMU asked to quit gets before SIGKILL */
#define KILL_GRACE 5.0 /* seconds a killed QEMU gets to become reapable */
#define TAIL 512

enum launch_state {
	LAUNCH_WAITING,	 /* prepare waits for its QMP to answer */
	LAUNCH_READY,	 /* prepare went on with it */
	LAUNCH_SETTLING, /* the job failed and is done: it is being stopped */
};

struct qm_dest_launch {
	struct qm_launch *l;
	enum launch_state state;
	ev_io exit_watch; /* its pidfd: readable once it exited */
	ev_timer timer;	  /* EXIT_GRACE while waiting; QUIT_GRACE, KILL_GRACE while settling */
	bool lost;	  /* its QMP closed while prepare waited: lost_err unless it exited */
	struct qm_error lost_err;
	bool killed;
	void (*ready)(struct qm_job *job);
};

static void free_launch(struct qm_job *job, bool release)
{
	struct qm_dest_launch *dl = job->launch;

	ev_io_stop(job->loop, &dl->exit_watch);
	ev_timer_stop(job->loop, &dl->timer);
	if (release)
		qm_launch_release(dl->l);
	else
		qm_launch_free(dl->l);
	free(dl);
	job->launch = NULL;
}

/* True once QEMU was reaped; an exit nobody asked for fails the job (first error wins). */
static bool reap(struct qm_job *job)
{
	struct qm_dest_launch *dl = job->launch;
	struct qm_error err = { 0 };
	char when[64];

	snprintf(when, sizeof(when), "during %s", qm_phase_name(job->phase));
	if (qm_launch_reap(dl->l, when, &err) == -EAGAIN)
		return false;
	ev_io_stop(job->loop, &dl->exit_watch);
	if (err.code && !job->dst_quitting && !job->finished)
		qm_job_failf(job, err.code, err.error_class, "the destination %s", err.text);
	return true;
}

/* Prepare goes on (or rolls back), with the job's own handling of the connection. */
static void leave_waiting(struct qm_job *job)
{
	struct qm_dest_launch *dl = job->launch;

	dl->state = LAUNCH_READY;
	ev_timer_stop(job->loop, &dl->timer);
	if (job->dst) {
		if (qm_qmp_close_error(job->dst))
			job->dst_gone = true;
		qm_qmp_set_close_fn(job->dst, qm_job_dst_closed, job);
	}
	if (qm_job_failed(job)) {
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	dl->ready(job);
}

/* While prepare waits, the probe's failure says what happened, not the close. */
static void waiting_closed(struct qm_qmp *q, const struct qm_error *err, void *ud)
{
	struct qm_job *job = ud;

	job->dst_gone = true;
}

static void settled(struct qm_job *job)
{
	qm_info(job->ctx, "the destination QEMU it launched is stopped and its directory removed");
	free_launch(job, false);
	qm_job_notify_done(job);
}

static void exit_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct qm_job *job = w->data;

	/* A failure while prepare waits reaches qm_dest_launch_abort, which ends the wait. */
	if (reap(job) && job->launch->state == LAUNCH_SETTLING)
		settled(job);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_job *job = w->data;
	struct qm_dest_launch *dl = job->launch;
	char tail[TAIL];

	if (dl->state == LAUNCH_WAITING) {
		if (!qm_job_failed(job)) {
			qm_launch_log_tail(dl->l, tail, sizeof(tail));
			qm_job_failf(job, dl->lost_err.code, dl->lost_err.error_class,
				     "%s (its log%s)", dl->lost_err.text,
				     tail[0] ? tail : ": empty");
		}
		leave_waiting(job);
		return;
	}
	if (!dl->killed) {
		qm_warn(job->ctx, "the destination QEMU did not quit within %.0f s: killing it",
			QUIT_GRACE);
		dl->killed = qm_launch_signal(dl->l, SIGKILL) == 0;
		ev_timer_set(&dl->timer, KILL_GRACE, 0.);
		ev_timer_start(job->loop, &dl->timer);
		return;
	}
	qm_err(job->ctx, "the destination QEMU (pid %d) did not end %.0f s after SIGKILL: "
	       "left behind, with its directory %s",
	       (int)qm_launch_pid(dl->l), KILL_GRACE, qm_launch_dir(dl->l));
	free_launch(job, true);
	qm_job_notify_done(job);
}

static void passwd_set(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	/* A lost connection is the probe's to report. */
	if (!err || qm_qmp_close_error(q))
		return;
	qm_job_failf(ud, err->code, err->error_class,
		     "cannot set the password of the destination's display: %s", err->text);
}

static void probed(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	struct qm_job *job = ud;
	struct qm_dest_launch *dl = job->launch;

	if (err && !qm_job_failed(job)) {
		if (!qm_qmp_close_error(q)) {
			qm_job_fail(job, err);
		} else if (!reap(job)) {
			/* Its socket closes before it can be reaped: give its exit a moment. */
			dl->lost = true;
			dl->lost_err = *err;
			ev_timer_set(&dl->timer, EXIT_GRACE, 0.);
			ev_timer_start(job->loop, &dl->timer);
			return;
		}
	}
	leave_waiting(job);
}

/* The full description's passwords, or the file's, go with set_password. */
static int set_passwords(struct qm_job *job, const struct qm_domain *full, const char *file_pw)
{
	for (size_t i = 0; i < full->n_graphics; i++) {
		const struct qm_domain_graphics *g = &full->graphics[i];
		const char *pw = qm_passwd_for(g, file_pw);
		int r;

		if (!pw)
			continue;
		r = qm_qmp_command(job->dst, "set_password", qm_passwd_args(g, pw), -1, 0,
				   passwd_set, job);
		if (r < 0)
			return qm_job_failf(job, r, "GenericError",
					    "cannot send set_password to the destination: %s",
					    strerror(-r));
	}
	return 0;
}

/* The description QEMU is started from: the migratable form, with no secret in it. */
static int migratable(struct qm_job *job, const struct qm_domain *full, struct qm_domain **out)
{
	_cleanup_free_ char *xml = NULL;
	struct qm_error err = { 0 };
	int r;

	r = qm_domain_migratable_format(full, &xml, &err);
	if (r == 0)
		r = qm_domain_parse(xml, strlen(xml), out, &err);
	if (r < 0)
		qm_job_fail(job, &err);
	return r;
}

static int start(struct qm_job *job, const struct qm_domain *full, const char *file_pw)
{
	_cleanup_domain_ struct qm_domain *d = NULL;
	struct qm_launch_opts lopts = {
		.runtime_parent = job->opts.runtime_dir,
		.incoming = true,
		/* On success it outlives this process, in a session of its own. */
		.detach = true,
		.chr_into_dir = true,
		/* Finish hands it the leases: they must stay with it when we disconnect. */
		.fdset_pin = job->dst_leased,
		.spice_x509_dir = job->spice_x509_dir,
		/* prepare serves the disks that move from this QEMU */
		.serves_disks = job->storage && job->storage->n_disks > 0,
	};
	struct qm_dest_launch *dl;
	struct qm_error err = { 0 };
	double wait = job->opts.wait_for_qmp > QM_LAUNCH_TIMEOUT ? job->opts.wait_for_qmp
								 : QM_LAUNCH_TIMEOUT;
	int r;

	if (migratable(job, full, &d) < 0)
		return -EINVAL;
	for (size_t i = 0; i < full->n_graphics; i++)
		if (qm_passwd_for(&full->graphics[i], file_pw))
			lopts.locked[full->graphics[i].type] = true;
	dl = calloc(1, sizeof(*dl));
	if (!dl)
		return qm_job_failf(job, -ENOMEM, "GenericError", "out of memory");
	r = qm_launch_start(d, &lopts, &dl->l, &err);
	if (r < 0) {
		free(dl);
		qm_job_fail(job, &err);
		return r;
	}
	job->launch = dl;
	dl->ready = NULL;
	ev_timer_init(&dl->timer, timer_cb, 0., 0.);
	dl->timer.data = job;
	ev_io_init(&dl->exit_watch, exit_cb, qm_launch_pidfd(dl->l), EV_READ);
	dl->exit_watch.data = job;
	ev_io_start(job->loop, &dl->exit_watch);
	qm_info(job->ctx, "launched the destination QEMU: pid %d, QMP socket %s",
		(int)qm_launch_pid(dl->l), qm_launch_qmp_path(dl->l));
	r = qm_job_open_dst(job, qm_launch_qmp_path(dl->l), wait, &err);
	if (r < 0) {
		qm_job_fail(job, &err);
		return r;
	}
	qm_qmp_set_close_fn(job->dst, waiting_closed, job);
	return set_passwords(job, full, file_pw);
}

void qm_dest_launch(struct qm_job *job, void (*ready)(struct qm_job *job))
{
	_cleanup_domain_ struct qm_domain *full = NULL;
	_cleanup_passwd_ char *file_pw = NULL;
	struct qm_error err = { 0 };
	int r;

	if (qm_job_dest_domain(job, &full) < 0)
		goto rollback;
	/* The images of the disks that move exist before QEMU opens them. */
	if (qm_storage_create_images(job, full) < 0)
		goto rollback;
	if (job->opts.graphics_passwd_file) {
		if (qm_passwd_read_file(job->opts.graphics_passwd_file, &file_pw, &err) < 0) {
			qm_job_fail(job, &err);
			goto rollback;
		}
		if (!full->n_graphics) {
			qm_job_failf(job, -EINVAL, "PasswdFile",
				     "a graphics password file was given, but the description "
				     "has no <graphics> display to set it on");
			goto rollback;
		}
	}
	if (start(job, full, file_pw) < 0)
		goto fail;
	job->launch->ready = ready;
	r = qm_qmp_command(job->dst, "query-status", NULL, -1, 0, probed, job);
	if (r < 0) {
		qm_job_failf(job, r, "GenericError", "cannot query the destination: %s",
			     strerror(-r));
		goto fail;
	}
	return;
fail:
	if (job->launch) {
		leave_waiting(job);
		return;
	}
rollback:
	qm_job_enter(job, QM_PHASE_FINISH);
}

void qm_dest_launch_abort(struct qm_job *job)
{
	struct qm_dest_launch *dl = job->launch;

	if (!dl || dl->state != LAUNCH_WAITING)
		return;
	if (dl->lost) {
		/* The grace for its exit ends now: the job has its error. */
		ev_timer_stop(job->loop, &dl->timer);
		ev_timer_set(&dl->timer, 0., 0.);
		ev_timer_start(job->loop, &dl->timer);
		return;
	}
	/*
	 * Still waiting for its socket or its greeting: the probe fails with the
	 * job's error, and prepare rolls back from there.  Once QMP is up the
	 * probe's answer is on its way, and the rollback can quit QEMU politely.
	 */
	if (job->dst && !qm_qmp_close_error(job->dst) && !qm_qmp_is_ready(job->dst))
		qm_qmp_close(job->dst, &job->error);
}

bool qm_dest_launch_settle(struct qm_job *job)
{
	struct qm_dest_launch *dl = job->launch;
	struct qm_result *res = &job->result;

	if (!dl)
		return false;
	reap(job);
	if (qm_launch_pid(dl->l) <= 0) {
		free_launch(job, false);
		return false;
	}
	/* After post-copy began the destination holds the VM: it is never stopped. */
	if (!qm_job_failed(job) || job->postcopy_entered) {
		snprintf(res->dst_qmp, sizeof(res->dst_qmp), "%s", qm_launch_qmp_path(dl->l));
		res->dst_pid = qm_launch_pid(dl->l);
		qm_info(job->ctx, "the destination QEMU keeps running: pid %ld, QMP socket %s",
			res->dst_pid, res->dst_qmp);
		free_launch(job, true);
		return false;
	}
	dl->state = LAUNCH_SETTLING;
	/* The rollback asked it to quit; otherwise (its QMP gone, never there) it is killed. */
	if (!job->dst_quitting)
		dl->killed = qm_launch_signal(dl->l, SIGKILL) == 0;
	ev_timer_set(&dl->timer, dl->killed ? KILL_GRACE : QUIT_GRACE, 0.);
	ev_timer_start(job->loop, &dl->timer);
	ev_io_start(job->loop, &dl->exit_watch);
	return true;
}

void qm_dest_launch_free(struct qm_job *job)
{
	if (!job->launch)
		return;
	/* The job goes before its end: what it launched goes with it, at once. */
	qm_launch_signal(job->launch->l, SIGKILL);
	free_launch(job, false);
}

long qm_dest_launch_pid(const struct qm_job *job, char qmp[108])
{
	if (!job->launch) {
		qmp[0] = '\0';
		return 0;
	}
	snprintf(qmp, 108, "%s", qm_launch_qmp_path(job->launch->l));
	return (long)qm_launch_pid(job->launch->l);
}
