/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The agent's session: the peer channel, and a job placed QM_PLACE_AGENT
 * whose prepare and finish are dest.c's.  Where a local job would go on
 * with the source's phases, this one answers the source instead:
 * entering perform means prepare is done (its reply goes back), entering
 * confirm means finish or cleanup is done (the same).
 */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/agent.h"
#include "engine/job.h"
#include "engine/peer-chan.h"
#include "qmp/internal.h"
#include "util/error.h"
#include "util/host.h"
#include "util/log.h"

/* After its last answer the agent waits this long for the source to hang up. */
#define LINGER 10.0
/*
 * Past this many bytes queued for the source (it reads slower than QEMU
 * talks), a QMP message is dropped from its transcript rather than queued:
 * the answers the migration needs still go, and memory stays bounded.
 */
#define FORWARD_QUEUE_MAX ((size_t)4 << 20)

struct qm_agent {
	struct qm_ctx *ctx;
	struct ev_loop *loop;
	const struct qm_agent_opts *opts;
	struct qm_peer_chan *chan;
	struct qm_peer_hello hello;
	bool greeted;
	struct qm_job *job;
	enum qm_peer_type answering; /* the reply the source waits for; QM_PEER_HELLO: none */
	long long dropped;	     /* QMP messages not forwarded since the last one */
	bool forward_failed;	     /* a qmp-log message could not be sent: warned once */
	bool done;		     /* the job ended, or never began */
	struct qm_error error;	     /* the session's failure */
	ev_timer linger;
};

void qm_agent_pick_address(const char *given, char *out, size_t size)
{
	const char *conn = getenv("SSH_CONNECTION");
	char word[4][64] = { { 0 } };
	unsigned char buf[16];

	snprintf(out, size, "%s", given ? given : "127.0.0.1");
	/* "client-address client-port server-address server-port": the address the source reached. */
	if (given || !conn ||
	    sscanf(conn, "%63s %63s %63s %63s", word[0], word[1], word[2], word[3]) != 4)
		return;
	if (inet_pton(AF_INET, word[2], buf) == 1 || inet_pton(AF_INET6, word[2], buf) == 1)
		snprintf(out, size, "%s", word[2]);
}

static void session_over(struct qm_agent *a)
{
	ev_timer_stop(a->loop, &a->linger);
	ev_break(a->loop, EVBREAK_ONE);
}

static void linger_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_agent *a = w->data;

	qm_warn(a->ctx, "the source did not hang up within %.0f s of the last answer", LINGER);
	session_over(a);
}

/* The last answer went out: the source hangs up once it read it. */
static void wind_down(struct qm_agent *a)
{
	a->done = true;
	if (!a->chan || qm_peer_chan_is_closed(a->chan)) {
		session_over(a);
		return;
	}
	ev_timer_init(&a->linger, linger_cb, LINGER, 0.);
	a->linger.data = a;
	ev_timer_start(a->loop, &a->linger);
}

static void send_msg(struct qm_agent *a, const struct qm_peer_msg *m)
{
	struct qm_error err = { 0 };

	if (!a->chan || qm_peer_chan_is_closed(a->chan))
		return;
	if (qm_peer_chan_send(a->chan, m, &err) < 0)
		qm_err(a->ctx, "cannot answer the source: %s", err.text);
}

static void send_error(struct qm_agent *a, const struct qm_error *err, bool refused,
		       bool changed, char *cookie)
{
	struct qm_peer_msg m = { .type = QM_PEER_ERROR, .refused = refused, .changed = changed,
				 .cookie = cookie };

	snprintf(m.error_class, sizeof(m.error_class), "%s",
		 err->error_class[0] ? err->error_class : "GenericError");
	/* The message crosses to a terminal: no control characters. */
	snprintf(m.message, sizeof(m.message), "%s", err->text[0] ? err->text : "failed");
	for (char *p = m.message; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			*p = ' ';
	send_msg(a, &m);
}

/* A session that cannot go on before a job exists: says why, then ends. */
static void refuse_session(struct qm_agent *a, const struct qm_error *err)
{
	qm_err(a->ctx, "%s", err->text);
	if (!qm_error_is_set(&a->error))
		qm_error_copy(&a->error, err);
	send_error(a, err, true, false, NULL);
	wind_down(a);
}

/* ---- the job's hooks: where a local job would run the source's phases ------------ */

void qm_agent_prepared(struct qm_job *job)
{
	struct qm_agent *a = job->agent;
	struct qm_peer_msg m = { .type = QM_PEER_PREPARE_REPLY, .cookie = job->cookie };

	if (!a->chan || qm_peer_chan_is_closed(a->chan)) {
		/* Nobody to migrate from: what prepare made goes. */
		qm_job_failf(job, -EPIPE, "PeerClosed", "the source went away during prepare");
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	m.pid = qm_dest_launch_pid(job, m.qmp);
	if (!m.qmp[0] && job->opts.dst_qmp) {
		/* Attached: the QEMU at the other end of its QMP socket. */
		pid_t pid = qm_qmp_peer_pid(job->dst);

		snprintf(m.qmp, sizeof(m.qmp), "%s", job->opts.dst_qmp);
		if (pid > 0)
			m.pid = (long)pid;
	}
	a->answering = QM_PEER_HELLO;
	send_msg(a, &m);
	/* The source migrates now; finish or cleanup comes next. */
}

void qm_agent_finished(struct qm_job *job)
{
	struct qm_agent *a = job->agent;
	struct qm_peer_msg m = { .type = a->answering, .cookie = job->cookie };
	struct qm_cookie c;

	if (a->answering == QM_PEER_CLEANUP_REPLY) {
		/* Rolled back as the source asked: the reply carries a cookie with who we are. */
		qm_job_cookie_init(job, &c, 0);
		if (qm_job_emit_cookie(job, &c) == 0)
			m.cookie = job->cookie;
		else
			m.type = QM_PEER_ERROR;
	} else if (qm_job_failed(job) || a->answering == QM_PEER_HELLO) {
		m.type = QM_PEER_ERROR;
	}
	if (m.type == QM_PEER_ERROR)
		/* With leases, the cookie says where finish left them (the source's last). */
		send_error(a, &job->error, job->refused, job->result.changed,
			   job->dst_leased ? job->cookie : NULL);
	else
		send_msg(a, &m);
	a->answering = QM_PEER_HELLO;
	qm_job_enter(job, QM_PHASE_DONE);
}

static void job_done(struct qm_job *job, const struct qm_result *r, void *ud)
{
	struct qm_agent *a = ud;

	if (r->status != QM_JOB_COMPLETED && !qm_error_is_set(&a->error))
		qm_error_copy(&a->error, &r->error);
	if (r->status == QM_JOB_COMPLETED)
		qm_info(a->ctx, "the VM runs here%s", job->opts.paused ? " (paused)" : "");
	wind_down(a);
}

/*
 * The destination's QMP, for the source's transcript (setting qmp-log): queued
 * on the channel, never waited for; what cannot go is dropped, counted in the
 * next message, and never fails the migration.
 */
static void forward_qmp(const struct qm_peer_qmp_log *l, void *userdata)
{
	struct qm_agent *a = userdata;
	struct qm_peer_msg m = { .type = QM_PEER_QMP_LOG, .qmp_log = *l };
	struct qm_error err = { 0 };

	if (!a->chan || qm_peer_chan_is_closed(a->chan))
		return;
	m.qmp_log.dropped = a->dropped;
	if (qm_peer_chan_send_bounded(a->chan, &m, FORWARD_QUEUE_MAX, &err) < 0) {
		/* Queue full (-EAGAIN): the next message says how many were dropped. */
		if (err.code != -EAGAIN && !a->forward_failed) {
			qm_warn(a->ctx, "cannot forward a QMP message to the source: %s",
				err.text);
			a->forward_failed = true;
		}
		a->dropped++;
		return;
	}
	a->dropped = 0;
}

/* ---- the requests ------------------------------------------------------------------- */

static struct qm_job *job_for(struct qm_agent *a, struct qm_peer_msg *m, struct qm_error *err)
{
	const struct qm_peer_settings *s = &m->settings;
	struct qm_job_callbacks cbs = { .done = job_done };
	struct qm_job_options o = {
		/* The tunnel's far end is a UNIX socket here; the source carries the streams. */
		.transport = s->transport == QM_TRANSPORT_TUNNEL ? QM_TRANSPORT_UNIX : s->transport,
		.multifd_channels = s->multifd,
		.paused = s->paused,
		.launch_dest = s->launch,
		.dst_qmp = s->qmp[0] ? s->qmp : NULL,
		.domain_xml = s->launch ? m->domain : NULL,
		.graphics_listen = s->graphics_listen[0] ? s->graphics_listen : NULL,
		.spice_x509_dir = s->spice_x509_dir[0] ? s->spice_x509_dir : NULL,
		.disk_map = (const char *const *)s->disk_map,
		.copy_storage = s->copy_storage,
		.runtime_dir = a->opts->runtime_dir,
	};
	struct qm_job *job;

	o.policy.postcopy = s->postcopy;
	if (s->launch && !m->domain) {
		qm_error_set(err, -EINVAL, "Usage",
			     "the agent launches the destination from a description, and "
			     "prepare carried none");
		return NULL;
	}
	if (qm_job_dest_options_check(&o, err) < 0)
		return NULL;
	job = qm_job_alloc(a->ctx, a->loop, &o, &cbs, a, err);
	if (!job)
		return NULL;
	job->place = QM_PLACE_AGENT;
	job->agent = a;
	job->refuse_same_host = !s->allow_same_host;
	job->t_start = ev_time();
	qm_agent_pick_address(s->migrate_address[0] ? s->migrate_address
						    : a->opts->migrate_address,
			      job->listen_address, sizeof(job->listen_address));
	/* Before the destination's QMP opens: its greeting is in the transcript. */
	if ((s->qmp_log && qm_qmp_log_forward(job, forward_qmp, a, err) < 0) ||
	    qm_host_identity(a->opts->host_uuid, job->hostname, job->host_uuid, err) < 0 ||
	    (o.dst_qmp && qm_job_open_dst(job, o.dst_qmp, 0, err) < 0))
		return qm_job_unref(job);
	job->dst_gone = o.launch_dest;
	qm_job_set_cookie(job, m->cookie);
	m->cookie = NULL;
	return job;
}

static void on_prepare(struct qm_agent *a, struct qm_peer_msg *m)
{
	struct qm_error err = { 0 };

	a->job = job_for(a, m, &err);
	if (!a->job) {
		refuse_session(a, &err);
		return;
	}
	a->answering = QM_PEER_PREPARE_REPLY;
	qm_job_enter(a->job, QM_PHASE_PREPARE);
}

static void on_finish(struct qm_agent *a, struct qm_peer_msg *m)
{
	struct qm_job *job = a->job;

	if (m->type == QM_PEER_FINISH) {
		qm_job_set_cookie(job, m->cookie);
		m->cookie = NULL;
		a->answering = QM_PEER_FINISH_REPLY;
	} else {
		a->answering = QM_PEER_CLEANUP_REPLY;
		job->postcopy_entered = m->postcopy;
		qm_job_failf(job, -ECANCELED, "SourceFailed",
			     "the source ended the migration: rolling back");
	}
	qm_job_enter(job, QM_PHASE_FINISH);
}

static void on_message(struct qm_peer_chan *c, struct qm_peer_msg *m, void *ud)
{
	struct qm_agent *a = ud;
	struct qm_error err = { 0 };
	bool waiting = a->job && a->job->phase == QM_PHASE_PERFORM && !a->job->finished;

	if (a->done)
		return;
	if (m->type == QM_PEER_HELLO && !a->greeted) {
		if (qm_peer_check_hello(&a->hello, &m->hello, &err) < 0) {
			refuse_session(a, &err);
			return;
		}
		a->greeted = true;
		return;
	}
	if (a->greeted && m->type == QM_PEER_PREPARE && !a->job) {
		on_prepare(a, m);
		return;
	}
	if (a->greeted && waiting && (m->type == QM_PEER_FINISH || m->type == QM_PEER_CLEANUP)) {
		on_finish(a, m);
		return;
	}
	qm_error_set(&err, -EPROTO, "PeerProtocol", "the source sent \"%s\" out of turn",
		     qm_peer_type_name(m->type));
	if (a->job && !a->job->finished) {
		/* Closing makes the job roll back, as when the source goes away. */
		qm_err(a->ctx, "%s", err.text);
		qm_job_fail(a->job, &err);
		a->chan = qm_peer_chan_unref(a->chan);
		if (waiting)
			qm_job_enter(a->job, QM_PHASE_FINISH);
		return;
	}
	refuse_session(a, &err);
}

static void on_closed(struct qm_peer_chan *c, const struct qm_error *err, void *ud)
{
	struct qm_agent *a = ud;
	struct qm_job *job = a->job;
	struct qm_error why = *err; /* @err lives in the channel */

	a->chan = qm_peer_chan_unref(a->chan);
	err = &why;
	if (a->done || !job) {
		if (!a->done && err->code != -EPIPE && strcmp(err->error_class, "PeerClosed") != 0)
			qm_error_copy(&a->error, err);
		session_over(a);
		return;
	}
	if (job->finished)
		return;
	/* Finish under way goes on: the source keeps its side paused meanwhile. */
	if (job->phase >= QM_PHASE_FINISH)
		return;
	qm_info(a->ctx, "the source went away before finish: rolling back");
	qm_job_fail(job, err);
	if (job->phase == QM_PHASE_PERFORM)
		qm_job_enter(job, QM_PHASE_FINISH);
	/* In prepare, the step under way sees the failure and rolls back. */
}

static const struct qm_peer_chan_ops chan_ops = {
	.message = on_message,
	.closed = on_closed,
};

int qm_agent_serve(struct qm_ctx *ctx, const struct qm_agent_opts *o, struct qm_error *err)
{
	struct qm_agent a = { .ctx = ctx, .opts = o, .answering = QM_PEER_HELLO };
	struct qm_peer_msg hello = { .type = QM_PEER_HELLO };
	int r = 0;

	a.loop = ev_loop_new(EVFLAG_AUTO);
	if (!a.loop) {
		close(o->rfd);
		if (o->wfd != o->rfd)
			close(o->wfd);
		return qm_error_set(err, -ENOMEM, "GenericError", "cannot create an event loop");
	}
	ev_timer_init(&a.linger, linger_cb, LINGER, 0.);
	qm_peer_hello_init(&a.hello);
	hello.hello = a.hello;
	a.chan = qm_peer_chan_new(a.loop, o->rfd, o->wfd, "source", &chan_ops, &a, err);
	if (!a.chan || qm_peer_chan_send(a.chan, &hello, err) < 0) {
		r = err->code;
		goto out;
	}
	ev_run(a.loop, 0);
	if (!a.done && !qm_error_is_set(&a.error))
		qm_error_set(&a.error, -EPIPE, "PeerClosed", "the source went away");
	if (qm_error_is_set(&a.error)) {
		qm_error_copy(err, &a.error);
		r = a.error.code ? a.error.code : -EIO;
	}
out:
	a.chan = qm_peer_chan_unref(a.chan);
	qm_job_unref(a.job);
	ev_loop_destroy(a.loop);
	return r;
}
