/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination's phases through an agent on another host (QM_PLACE_SOURCE):
 * the agent (`qmigrate serve --stdio`, over ssh or exec:) runs dest.c's
 * prepare and finish on its side; this file starts it, greets it, and
 * carries each phase's cookie there and back over the peer channel.
 *
 * One request at a time: prepare (with the settings and the description),
 * then finish after a perform that completed, or cleanup after a failure
 * once the agent prepared.  The agent answers with the phase's reply or with
 * an error, after it rolled its own side back.  When the channel ends, the
 * agent stops the QEMU it prepared, unless finish was under way: then the
 * destination may run the VM, and confirm leaves the source paused.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/dest-uri.h"
#include "engine/job.h"
#include "engine/peer-chan.h"
#include "engine/ssh-argv.h"
#include "engine/stream.h"
#include "util/error.h"
#include "util/host.h"
#include "util/log.h"
#include "xml/domain-argv.h"

/* Bounds on the agent's answers: prepare may launch QEMU (20 s) and describe nothing. */
#define PREPARE_TIMEOUT 60.0
#define FINISH_TIMEOUT 60.0
#define CLEANUP_TIMEOUT 30.0
/* The agent exits once the channel closes; past this it is killed. */
#define EXIT_TIMEOUT 10.0

struct qm_remote {
	struct qm_job *job;
	struct qm_dest_uri uri;
	char **ssh_options; /* NULL-terminated copies */
	size_t n_ssh_options;
	char *remote_qmigrate;
	char *migrate_address;
	char label[96];

	struct qm_stream_proc proc; /* the agent's process */
	bool spawned;
	struct qm_peer_chan *chan;
	struct qm_peer_hello hello; /* ours: what this migration needs */
	bool greeted;		    /* the agent's hello passed */
	bool log_forwarded;	    /* prepare asks the agent to forward its QMP (qmp-log) */
	bool log_dropped;	    /* the agent said it dropped some: warned once */
	enum qm_peer_type waiting;  /* the reply awaited, or QM_PEER_HELLO for none */
	bool prepare_sent;	    /* prepare went out (once the agent's hello passed) */
	bool prepared;		    /* the agent prepared: a failure needs its cleanup */
	bool rolled_back;	    /* the agent said error: its side is rolled back */
	ev_timer timer;		    /* the answer awaited must come by then */
	double timeout;		    /* its bound, for the message */
	char **disk_map;	    /* --disk-map's "SRC=DST", for the agent */
	ev_io exit_io;		    /* the agent's pidfd, once the job is done */
	ev_timer exit_timer;
};

/* ---- options ------------------------------------------------------------------ */

int qm_remote_options_check(const struct qm_job_options *o, struct qm_error *err)
{
	struct qm_dest_uri u = { 0 };
	size_t n = 0;
	int r;

	if (!o->dest_uri) {
		if (o->ssh_options || o->remote_qmigrate || o->migrate_address)
			return qm_error_set(err, -EINVAL, "Usage",
					    "--ssh-option, --remote-qmigrate and --migrate-address "
					    "need --dest");
		return 0;
	}
	r = qm_dest_uri_parse(o->dest_uri, &u, err);
	qm_dest_uri_release(&u);
	if (r < 0)
		return r;
	if (o->transport == QM_TRANSPORT_UNIX)
		return qm_error_set(err, -EINVAL, "Usage",
				    "a UNIX socket does not reach another host: use --transport tcp "
				    "or tunnel with --dest");
	if (o->dst_domain_xml || o->graphics_passwd_file)
		return qm_error_set(err, -ENOTSUP, "Usage",
				    "--dest-domain and --graphics-passwd-file do not work with "
				    "--dest yet: give the destination's passwords in --domain");
	for (; o->ssh_options && o->ssh_options[n]; n++) {
		if (n == QM_SSH_OPTIONS_MAX)
			return qm_error_set(err, -E2BIG, "Usage", "more than %d --ssh-option",
					    QM_SSH_OPTIONS_MAX);
		r = qm_ssh_option_check(o->ssh_options[n], err);
		if (r < 0)
			return r;
	}
	if (o->migrate_address &&
	    (strlen(o->migrate_address) >= 64 || !qm_addr_text_ok(o->migrate_address) ||
	     !*o->migrate_address))
		return qm_error_set(err, -EINVAL, "Usage",
				    "--migrate-address '%.64s' is not a host name or an IP address",
				    o->migrate_address);
	return 0;
}

int qm_remote_options_copy(struct qm_job *job, const struct qm_job_options *o,
			   struct qm_error *err)
{
	struct qm_remote *rm;

	if (!o->dest_uri)
		return 0;
	rm = calloc(1, sizeof(*rm));
	if (!rm)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	job->remote = rm;
	job->place = QM_PLACE_SOURCE;
	job->refuse_same_host = !o->allow_same_host;
	rm->job = job;
	qm_stream_proc_init(&rm->proc);
	ev_timer_init(&rm->timer, NULL, 0., 0.);
	ev_timer_init(&rm->exit_timer, NULL, 0., 0.);
	ev_io_init(&rm->exit_io, NULL, -1, EV_READ);
	rm->waiting = QM_PEER_HELLO;
	if (qm_dest_uri_parse(o->dest_uri, &rm->uri, err) < 0)
		return err->code;
	snprintf(rm->label, sizeof(rm->label), "agent at %.80s", o->dest_uri);
	rm->ssh_options = qm_argv_dup(o->ssh_options, 0);
	if (!rm->ssh_options)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	rm->n_ssh_options = qm_argv_len(o->ssh_options);
	rm->disk_map = qm_argv_dup(o->disk_map, 0);
	if (!rm->disk_map ||
	    (o->remote_qmigrate && !(rm->remote_qmigrate = strdup(o->remote_qmigrate))) ||
	    (o->migrate_address && !(rm->migrate_address = strdup(o->migrate_address))))
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	job->opts.dest_uri = NULL; /* the parsed copy is rm->uri */
	job->opts.ssh_options = NULL;
	job->opts.remote_qmigrate = rm->remote_qmigrate;
	job->opts.migrate_address = rm->migrate_address;
	return 0;
}

/* The command line of the agent, or with @stream of a stream to that socket there. */
static int qm_remote_argv(const struct qm_job *job, const char *stream, char ***argv,
		   struct qm_error *err)
{
	const struct qm_remote *rm = job->remote;
	struct qm_ssh_opts so = {
		.remote_qmigrate = rm->remote_qmigrate,
		.options = (const char *const *)rm->ssh_options,
		.n_options = rm->n_ssh_options,
	};

	return qm_dest_stream_argv(&rm->uri, &so, stream, argv, err);
}

/* ---- the channel ------------------------------------------------------------------ */

static void arm(struct qm_remote *rm, enum qm_peer_type reply, double timeout);
static void send_prepare(struct qm_remote *rm);


/* The request awaited is over, by its reply, an error or the channel's end: move on. */
static void answered(struct qm_remote *rm)
{
	struct qm_job *job = rm->job;
	enum qm_peer_type was = rm->waiting;

	ev_timer_stop(job->loop, &rm->timer);
	rm->waiting = QM_PEER_HELLO;
	switch (was) {
	case QM_PEER_PREPARE_REPLY:
		if (!qm_job_failed(job)) {
			qm_job_enter(job, QM_PHASE_PERFORM);
			return;
		}
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	case QM_PEER_FINISH_REPLY:
	case QM_PEER_CLEANUP_REPLY:
		qm_job_enter(job, QM_PHASE_CONFIRM);
		return;
	default:
		return;
	}
}

static int send_msg(struct qm_remote *rm, const struct qm_peer_msg *m)
{
	struct qm_error err = { 0 };

	if (!rm->chan || qm_peer_chan_is_closed(rm->chan))
		return qm_job_failf(rm->job, -EPIPE, "PeerClosed", "%s: the channel is closed",
				    rm->label);
	if (qm_peer_chan_send(rm->chan, m, &err) < 0) {
		qm_job_fail(rm->job, &err);
		return err.code;
	}
	return 0;
}

/*
 * The disks too: the agent serves them at a UNIX socket there, and each NBD
 * connection of the source's mirrors rides a stream process of its own to
 * it.  The cookie the source's perform reads names our end of the tunnel.
 */
static int tunnel_nbd(struct qm_remote *rm, struct qm_cookie *c)
{
	struct qm_job *job = rm->job;
	struct qm_error err = { 0 };
	char **argv = NULL;
	int r;

	if (!c->nbd.socket[0])
		return qm_job_failf(job, -EPROTO, "PeerProtocol",
				    "%s: the tunnel needs the disks served at a UNIX socket "
				    "there, not at %.100s port %d",
				    rm->label, c->nbd.host, c->nbd.port);
	r = qm_remote_argv(job, c->nbd.socket, &argv, &err);
	if (r < 0) {
		qm_job_fail(job, &err);
		return r;
	}
	r = qm_tunnel_nbd_open_remote(job, argv, c->nbd.socket, sizeof(c->nbd.socket));
	qm_argv_free(argv);
	return r;
}

/*
 * Tunnelled: the agent's QEMU listens on a UNIX socket there; each stream
 * rides a process of its own (ssh, or exec:'s program) to it, and the
 * source QEMU migrates into the local end of the tunnel instead.
 */
static int tunnel_open(struct qm_remote *rm)
{
	struct qm_job *job = rm->job;
	struct qm_cookie_check check = { .name = job->name, .uuid = job->uuid };
	struct qm_cookie c;
	struct qm_error err = { 0 };
	char **argv = NULL;
	int r;

	r = qm_job_take_cookie(job, &check, &c);
	if (r < 0)
		return r;
	if (strncmp(c.migrate_uri, "unix:", 5) != 0)
		return qm_job_failf(job, -EPROTO, "PeerProtocol",
				    "%s: the tunnel needs a UNIX socket there, not '%.100s'",
				    rm->label, c.migrate_uri);
	r = qm_remote_argv(job, c.migrate_uri + 5, &argv, &err);
	if (r < 0) {
		qm_job_fail(job, &err);
		return r;
	}
	if (!qm_tunnel_uses_pipes(job))
		r = qm_runtime_dir_create(job);
	if (r == 0)
		r = qm_tunnel_open_remote(job, argv, c.migrate_uri, sizeof(c.migrate_uri));
	qm_argv_free(argv);
	if (r == 0 && (c.features & QM_COOKIE_NBD))
		r = tunnel_nbd(rm, &c);
	if (r < 0) {
		if (!qm_job_failed(job))
			qm_job_failf(job, r, "TunnelFailed", "cannot open the tunnel: %s",
				     strerror(-r));
		return r;
	}
	return qm_job_emit_cookie(job, &c);
}

/* Prepare's reply: the destination is waiting; the stream goes where its cookie says. */
static void prepare_replied(struct qm_remote *rm, struct qm_peer_msg *m)
{
	struct qm_job *job = rm->job;

	qm_job_set_cookie(job, m->cookie);
	m->cookie = NULL;
	rm->prepared = true;
	job->result.changed = true;
	snprintf(job->result.dst_qmp, sizeof(job->result.dst_qmp), "%s", m->qmp);
	job->result.dst_pid = m->pid > 0 ? m->pid : -1;
	if (job->opts.transport == QM_TRANSPORT_TUNNEL)
		tunnel_open(rm);
}

static void on_message(struct qm_peer_chan *c, struct qm_peer_msg *m, void *ud)
{
	struct qm_remote *rm = ud;
	struct qm_job *job = rm->job;
	struct qm_error err = { 0 };

	if (m->type == QM_PEER_HELLO && !rm->greeted) {
		if (qm_peer_check_hello(&rm->hello, &m->hello, &err) < 0) {
			qm_job_refuse(job, &err);
			rm->chan = qm_peer_chan_unref(rm->chan);
			answered(rm);
			return;
		}
		rm->greeted = true;
		qm_dbg(job->ctx, "%s: qmigrate %s", rm->label, m->hello.version);
		/* Asked only for a log, and only of an agent that can. */
		rm->log_forwarded = job->qmp_log && qm_peer_hello_has(&m->hello, "qmp-log");
		if (job->qmp_log && !rm->log_forwarded)
			qm_warn(job->ctx,
				"%s: qmigrate %s there does not forward the destination's QMP "
				"messages: the QMP log holds the source's side only",
				rm->label, m->hello.version);
		if (rm->waiting == QM_PEER_PREPARE_REPLY && !rm->prepare_sent)
			send_prepare(rm);
		return;
	}
	if (m->type == QM_PEER_QMP_LOG && rm->log_forwarded && rm->prepare_sent) {
		/* Whenever it comes, and never a reason to fail: the transcript's business. */
		qm_qmp_log_forwarded(job, &m->qmp_log);
		if (m->qmp_log.dropped && !rm->log_dropped)
			qm_warn(job->ctx,
				"%s: the agent dropped %lld of the destination's QMP messages "
				"from the QMP log: the channel lagged",
				rm->label, m->qmp_log.dropped);
		rm->log_dropped = rm->log_dropped || m->qmp_log.dropped;
		return;
	}
	if (m->type == QM_PEER_ERROR) {
		/* Its class and message verbatim, whenever it comes: the agent gives up. */
		qm_error_set(&err, -EIO, m->error_class, "%s", m->message);
		if (m->refused)
			qm_job_refuse(job, &err);
		else
			qm_job_fail(job, &err);
		if (m->changed)
			job->result.changed = true;
		/* The leases a failed finish gave back, for confirm to take them again. */
		if (m->cookie) {
			qm_job_set_cookie(job, m->cookie);
			m->cookie = NULL;
		}
		rm->rolled_back = true;
		/* Nothing was asked (it refused our hello): the session is over. */
		if (rm->waiting == QM_PEER_HELLO)
			rm->chan = qm_peer_chan_unref(rm->chan);
		answered(rm);
		return;
	}
	if (!rm->greeted || m->type != rm->waiting) {
		qm_job_failf(job, -EPROTO, "PeerProtocol", "%s: sent \"%s\" out of turn", rm->label,
			     qm_peer_type_name(m->type));
		rm->chan = qm_peer_chan_unref(rm->chan);
		answered(rm);
		return;
	}
	if (m->type == QM_PEER_PREPARE_REPLY)
		prepare_replied(rm, m);
	else if (m->type == QM_PEER_FINISH_REPLY) {
		qm_job_set_cookie(job, m->cookie);
		m->cookie = NULL;
	}
	answered(rm);
}

/*
 * The agent is out of reach: the channel closed, the answer awaited did not
 * come in time, or the job stopped waiting for it.  Without the channel the
 * agent rolls back on its own whatever it still holds; what it did
 * meanwhile is not known here.  Fails the job with @err and moves on.
 */
static void lost(struct qm_remote *rm, const struct qm_error *err)
{
	struct qm_job *job = rm->job;
	struct qm_error e = { 0 };

	rm->chan = qm_peer_chan_unref(rm->chan);
	rm->rolled_back = true;
	/* A QEMU it attached to may have started its incoming side; one it launched goes. */
	if (rm->waiting == QM_PEER_PREPARE_REPLY && rm->prepare_sent && !job->opts.launch_dest)
		job->result.changed = true;
	if (rm->waiting == QM_PEER_FINISH_REPLY) {
		/* Finish may have resumed the VM there: confirm leaves the source paused. */
		job->dest_uncertain = true;
		qm_error_set(&e, err->code, err->error_class,
			     "%s, while finish was under way: the destination may run the VM, so "
			     "the source stays paused; look at the destination before resuming it",
			     err->text);
		err = &e;
	}
	qm_job_fail(job, err);
	answered(rm);
}

static void on_closed(struct qm_peer_chan *c, const struct qm_error *err, void *ud)
{
	struct qm_remote *rm = ud;

	if (rm->job->finished) {
		rm->chan = qm_peer_chan_unref(rm->chan);
		return;
	}
	lost(rm, err);
}

static const struct qm_peer_chan_ops chan_ops = {
	.message = on_message,
	.closed = on_closed,
};

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_remote *rm = w->data;
	struct qm_error err = { 0 };

	/* Prepare waits for the agent's hello first, within the same bound. */
	qm_error_set(&err, -ETIMEDOUT, "PeerTimeout", "%s: no %s within %.0f s", rm->label,
		     rm->greeted ? qm_peer_type_name(rm->waiting) : "hello", rm->timeout);
	lost(rm, &err);
}

static void abort_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_remote *rm = w->data;
	struct qm_error err = { 0 };

	qm_info(rm->job->ctx, "%s: no longer waiting for prepare: the agent rolls back", rm->label);
	qm_error_set(&err, -ECANCELED, "PeerClosed", "%s: prepare abandoned", rm->label);
	lost(rm, &err); /* the job's own error wins */
}

void qm_remote_abort_prepare(struct qm_job *job)
{
	struct qm_remote *rm = job->remote;

	/* A reply, an error or the channel's end handled here moves the job on anyway. */
	if (!rm || rm->waiting != QM_PEER_PREPARE_REPLY || !rm->chan)
		return;
	/* From the loop: the caller may be qm_job_cancel(), and phases run from the loop. */
	ev_timer_stop(job->loop, &rm->timer);
	ev_timer_init(&rm->timer, abort_cb, 0., 0.);
	rm->timer.data = rm;
	ev_timer_start(job->loop, &rm->timer);
}

static void arm(struct qm_remote *rm, enum qm_peer_type reply, double timeout)
{
	rm->waiting = reply;
	rm->timeout = timeout;
	ev_timer_init(&rm->timer, timer_cb, timeout, 0.);
	rm->timer.data = rm;
	ev_timer_start(rm->job->loop, &rm->timer);
}

int qm_remote_start(struct qm_job *job, struct qm_error *err)
{
	struct qm_remote *rm = job->remote;
	struct qm_peer_msg hello = { .type = QM_PEER_HELLO };
	char **argv = NULL;
	int r;

	qm_peer_hello_init(&rm->hello);
	qm_peer_hello_need(&rm->hello, job->opts.launch_dest ? "launch" : "attach");
	qm_peer_hello_need(&rm->hello,
			   job->opts.transport == QM_TRANSPORT_TUNNEL ? "tunnel" : "direct");
	if (job->opts.multifd_channels)
		qm_peer_hello_need(&rm->hello, "multifd");
	if (job->opts.policy.postcopy)
		qm_peer_hello_need(&rm->hello, "postcopy");
	/* A peer that cannot carry the leases would run the VM without them. */
	if (job->opts.leases)
		qm_peer_hello_need(&rm->hello, "lockstate");
	r = qm_remote_argv(job, NULL, &argv, err);
	if (r < 0)
		return r;
	r = qm_stream_spawn(argv, true, &rm->proc, err);
	qm_argv_free(argv);
	if (r < 0)
		return r;
	rm->spawned = true;
	rm->chan = qm_peer_chan_new(job->loop, rm->proc.out_fd, rm->proc.in_fd, rm->label,
				    &chan_ops, rm, err);
	rm->proc.out_fd = rm->proc.in_fd = -1; /* the channel took them */
	if (!rm->chan)
		return err->code;
	hello.hello = rm->hello;
	return qm_peer_chan_send(rm->chan, &hello, err);
}

/* ---- the phases ------------------------------------------------------------------- */

static int settings_from_job(const struct qm_job *job, struct qm_peer_settings *s)
{
	const struct qm_job_options *o = &job->opts;

	s->transport = o->transport;
	s->multifd = o->multifd_channels;
	s->postcopy = o->policy.postcopy;
	s->paused = o->paused;
	s->launch = o->launch_dest;
	s->copy_storage = o->copy_storage;
	s->allow_same_host = !job->refuse_same_host;
	if (o->dst_qmp && snprintf(s->qmp, sizeof(s->qmp), "%s", o->dst_qmp) >= (int)sizeof(s->qmp))
		return qm_job_failf((struct qm_job *)job, -ENAMETOOLONG, "Usage",
				    "--dst-qmp is longer than a UNIX socket path may be");
	snprintf(s->migrate_address, sizeof(s->migrate_address), "%s",
		 o->migrate_address ? o->migrate_address : "");
	snprintf(s->graphics_listen, sizeof(s->graphics_listen), "%s",
		 o->graphics_listen ? o->graphics_listen : "");
	if (o->spice_x509_dir && snprintf(s->spice_x509_dir, sizeof(s->spice_x509_dir), "%s",
					  o->spice_x509_dir) >= (int)sizeof(s->spice_x509_dir))
		return qm_job_failf((struct qm_job *)job, -ENAMETOOLONG, "Usage",
				    "--spice-x509-dir is longer than %d bytes",
				    QM_PEER_X509_DIR_MAX);
	return 0;
}

/* Prepare goes out: the job waits for its reply (armed), and the agent passed its hello. */
static void send_prepare(struct qm_remote *rm)
{
	struct qm_job *job = rm->job;
	struct qm_peer_msg m = { .type = QM_PEER_PREPARE };

	if (settings_from_job(job, &m.settings) < 0) {
		answered(rm);
		return;
	}
	m.settings.disk_map = rm->disk_map; /* borrowed */
	m.settings.n_disk_map = qm_argv_len((const char *const *)rm->disk_map);
	m.settings.qmp_log = rm->log_forwarded;
	m.cookie = job->cookie;
	/* The full description: the agent sets the passwords, as prepare does here. */
	m.domain = job->domain_xml ? job->domain_xml : job->described_xml;
	if (send_msg(rm, &m) < 0) {
		answered(rm);
		return;
	}
	rm->prepare_sent = true;
}

void qm_remote_prepare(struct qm_job *job)
{
	struct qm_remote *rm = job->remote;

	/* A failure in the phase's callback (a cancel) leaves nothing to ask the agent. */
	if (qm_job_failed(job)) {
		qm_job_enter(job, QM_PHASE_FINISH);
		return;
	}
	arm(rm, QM_PEER_PREPARE_REPLY, PREPARE_TIMEOUT);
	/*
	 * Hello first (docs/peer-protocol.md): the settings and the description,
	 * passwords included, go only to a peer whose hello passed.  Begin runs
	 * while the agent starts, so its hello has usually come by now.
	 */
	if (rm->greeted)
		send_prepare(rm);
}

void qm_remote_finish(struct qm_job *job)
{
	struct qm_remote *rm = job->remote;
	struct qm_peer_msg m = { .cookie = job->cookie };

	if (!qm_job_failed(job)) {
		m.type = QM_PEER_FINISH;
		if (send_msg(rm, &m) == 0) {
			arm(rm, QM_PEER_FINISH_REPLY, FINISH_TIMEOUT);
			return;
		}
		/* Finish never reached the agent: the destination did not resume. */
	} else if (rm->prepared && !rm->rolled_back) {
		m.type = QM_PEER_CLEANUP;
		m.postcopy = job->postcopy_entered;
		if (send_msg(rm, &m) == 0) {
			arm(rm, QM_PEER_CLEANUP_REPLY, CLEANUP_TIMEOUT);
			return;
		}
	}
	qm_job_enter(job, QM_PHASE_CONFIRM);
}

/* ---- the end ------------------------------------------------------------------------ */

static void reap(struct qm_remote *rm)
{
	ev_io_stop(rm->job->loop, &rm->exit_io);
	ev_timer_stop(rm->job->loop, &rm->exit_timer);
	qm_stream_proc_stop(&rm->proc);
	rm->spawned = false;
}

/* The agent is gone: the job's end is told only now, so that nobody stops it sooner. */
static void exit_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct qm_remote *rm = w->data;

	reap(rm);
	qm_job_notify_done(rm->job);
}

static void exit_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_remote *rm = w->data;

	qm_warn(rm->job->ctx, "%s did not exit within %.0f s of the end: stopped it",
		rm->label, EXIT_TIMEOUT);
	reap(rm);
	qm_job_notify_done(rm->job);
}

bool qm_remote_settle(struct qm_job *job)
{
	struct qm_remote *rm = job->remote;

	if (!rm)
		return false;
	ev_timer_stop(job->loop, &rm->timer);
	/* EOF tells the agent that the session is over. */
	rm->chan = qm_peer_chan_unref(rm->chan);
	if (!rm->spawned || rm->proc.child.pidfd < 0)
		return false;
	ev_io_init(&rm->exit_io, exit_cb, rm->proc.child.pidfd, EV_READ);
	rm->exit_io.data = rm;
	ev_io_start(job->loop, &rm->exit_io);
	ev_timer_init(&rm->exit_timer, exit_timer_cb, EXIT_TIMEOUT, 0.);
	rm->exit_timer.data = rm;
	ev_timer_start(job->loop, &rm->exit_timer);
	return true;
}

void qm_remote_free(struct qm_job *job)
{
	struct qm_remote *rm = job->remote;

	if (!rm)
		return;
	ev_timer_stop(job->loop, &rm->timer);
	rm->chan = qm_peer_chan_unref(rm->chan);
	if (rm->spawned)
		reap(rm);
	qm_dest_uri_release(&rm->uri);
	qm_argv_free(rm->ssh_options);
	qm_argv_free(rm->disk_map);
	free(rm->remote_qmigrate);
	free(rm->migrate_address);
	free(rm);
	job->remote = NULL;
}
