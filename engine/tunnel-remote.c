/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tunnelled transport between hosts, the source's side.  Every stream
 * rides a stream process of its own (engine/stream.h: ssh to the
 * destination's `qmigrate serve --stdio --stream PATH`, or exec:), whose
 * stdin carries it and whose stdout brings the return path back.
 *
 * One stream, one way: QEMU writes into a pipe passed with getfd and the
 * pump splices it into the stream process's stdin, pipe to pipe, so this
 * side still copies nothing.  Otherwise the source QEMU migrates to our
 * UNIX socket as in local mode, and each connection it opens gets a stream
 * process and a pump, both ways with post-copy.
 *
 * Storage migration's NBD connections ride stream processes of their own
 * the same way, both ways, to the destination's NBD server socket; they
 * need no order among themselves (stream index 0 each).
 *
 * A stream process that exits before its stream ended fails the job: its
 * pump fails writing into it or reading from it, and a status other than 0
 * says so even sooner.  The processes get SIGTERM at hang-up, and are
 * stopped and reaped, within bounds, when the tunnel closes.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/stream.h"
#include "engine/tunnel-internal.h"
#include "util/error.h"
#include "util/log.h"
#include "xml/domain-argv.h"

struct stream {
	struct qm_tunnel *t;
	struct qm_stream_proc proc;
	pid_t pid;     /* kept for messages once reaped */
	ev_io exit_io; /* its pidfd: readable once it exited */
	int slot;      /* its pump in t->pumps, or -1 */
	enum qm_tunnel_lane_id lane;
};

struct qm_tunnel_remote {
	/*
	 * Per lane, of every stream process: ... --stream-index N; argv[argc + 1]
	 * is N's slot.  NULL: the lane goes nowhere.
	 */
	char **argv[QM_LANES];
	size_t argc[QM_LANES];
	struct stream streams[QM_TUNNEL_PUMPS];
	size_t n, n_migration;
	bool hung_up; /* the exits that follow are ours */
};

static void exit_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct stream *s = w->data;
	struct qm_tunnel *t = s->t;
	char how[64];

	if (!qm_child_reap(&s->proc.child))
		return;
	ev_io_stop(loop, w);
	qm_child_describe(&s->proc.child, how, sizeof(how));
	qm_dbg(t->job->ctx, "tunnel: stream process %d %s", (int)s->pid, how);
	/* Its stream ended already, or is being let go of: the pump has the last word. */
	if (s->slot < 0 || !t->pumps[s->slot].pump || t->remote->hung_up || t->job->finished ||
	    s->proc.child.status == 0)
		return;
	qm_job_failf(t->job, -EPIPE, "TunnelFailed",
		     "tunnel: the stream process %s (pid %d) %s", t->remote->argv[s->lane][0],
		     (int)s->pid, how);
	qm_tunnel_hangup(t->job);
}

/* A new stream process of @lane, watched; its pipes' ends are in (*out)->proc for a pump. */
static int spawn(struct qm_tunnel *t, enum qm_tunnel_lane_id lane, bool back,
		 struct stream **out, struct qm_error *err)
{
	struct qm_tunnel_remote *rt = t->remote;
	char **argv = rt->argv[lane];
	size_t argc = rt->argc[lane];
	struct stream *s;
	char index[24];
	int r;

	if (rt->n == QM_TUNNEL_PUMPS)
		return qm_error_set(err, -EMFILE, "TunnelFailed",
				    "tunnel: more than %d streams", QM_TUNNEL_PUMPS);
	s = &rt->streams[rt->n];
	/*
	 * A migration stream's place in QEMU's order: the destination connects
	 * them in it.  NBD connections have no order.
	 */
	snprintf(index, sizeof(index), "%zu", lane == QM_LANE_MIGRATION ? rt->n_migration : 0);
	argv[argc + 1] = index;
	r = qm_stream_spawn(argv, back, &s->proc, err);
	argv[argc + 1] = NULL;
	if (r < 0)
		return r;
	rt->n++;
	if (lane == QM_LANE_MIGRATION)
		rt->n_migration++;
	s->t = t;
	s->pid = s->proc.child.pid;
	s->slot = -1;
	s->lane = lane;
	ev_io_init(&s->exit_io, exit_cb, s->proc.child.pidfd, EV_READ);
	s->exit_io.data = s;
	ev_io_start(t->job->loop, &s->exit_io);
	qm_dbg(t->job->ctx, "tunnel: stream process %s started, pid %d", argv[0],
	       (int)s->pid);
	*out = s;
	return 0;
}

/* A connection of the source QEMU's: to its own stream process. */
static int join_remote(struct qm_tunnel_lane *l, int in, struct qm_error *err)
{
	struct qm_tunnel *t = l->t;
	bool back = qm_tunnel_lane_both_ways(t, l->id);
	struct qm_pump_options o = { .bidirectional = back,
				     .mode = qm_tunnel_pump_mode(t) };
	size_t slot = t->n_pumps;
	struct stream *s;
	int r;

	r = spawn(t, l->id, back, &s, err);
	if (r < 0) {
		close(in);
		return r;
	}
	o.forward = (struct qm_pump_fds){ .in = in, .out = steal_fd(&s->proc.in_fd) };
	o.back = (struct qm_pump_fds){ .in = steal_fd(&s->proc.out_fd), .out = in };
	r = qm_tunnel_pump_add(t, l->id, &o, err);
	if (r == 0)
		s->slot = (int)slot;
	return r;
}

/* One stream one way: QEMU's pipe, spliced into one stream process. */
static int open_pipe(struct qm_tunnel *t, char *uri, size_t uri_len)
{
	struct qm_pump_options o = { .mode = qm_tunnel_pump_mode(t) };
	struct qm_error err = { 0 };
	struct stream *s;
	int from_src[2];

	if (pipe2(from_src, O_CLOEXEC) < 0)
		return qm_job_failf(t->job, -errno, "TunnelFailed", "tunnel: pipe: %s",
				    strerror(errno));
	qm_pipe_grow(from_src[1], QEMU_PIPE_SIZE);
	t->qemu_fd[QM_TUNNEL_SOURCE] = from_src[1];
	if (spawn(t, QM_LANE_MIGRATION, false, &s, &err) < 0) {
		close(from_src[0]);
		qm_job_fail(t->job, &err);
		return err.code;
	}
	o.forward = (struct qm_pump_fds){ .in = from_src[0],
					  .out = steal_fd(&s->proc.in_fd) };
	if (qm_tunnel_pump_add(t, QM_LANE_MIGRATION, &o, &err) < 0) {
		qm_job_fail(t->job, &err);
		return err.code;
	}
	s->slot = 0;
	snprintf(uri, uri_len, "fd:%s", QM_TUNNEL_FDNAME);
	return 0;
}

/* @argv, then QM_STREAM_INDEX_OPTION and room for the index (which spawn() lends). */
static char **copy_argv(char *const argv[], size_t *argc)
{
	size_t n = qm_argv_len((const char *const *)argv);
	char **v = qm_argv_dup((const char *const *)argv, 2);

	if (v && !(v[n] = strdup(QM_STREAM_INDEX_OPTION))) {
		qm_argv_free(v);
		return NULL;
	}
	*argc = n;
	return v;
}

int qm_tunnel_open_remote(struct qm_job *job, char **stream_argv, char *uri,
			  size_t uri_len)
{
	struct qm_tunnel *t = qm_tunnel_new(job);
	struct qm_tunnel_remote *rt;
	int r;

	if (!t)
		return -ENOMEM;
	if (!stream_argv || !stream_argv[0])
		return qm_job_failf(job, -EINVAL, "Usage", "tunnel: no stream command");
	rt = t->remote = calloc(1, sizeof(*t->remote));
	if (!rt || !(rt->argv[QM_LANE_MIGRATION] =
			     copy_argv(stream_argv, &rt->argc[QM_LANE_MIGRATION])))
		return qm_job_failf(job, -ENOMEM, "GenericError", "out of memory");
	t->join = join_remote;
	if (qm_tunnel_uses_pipes(job))
		return open_pipe(t, uri, uri_len);
	r = qm_tunnel_listen(t, QM_LANE_MIGRATION);
	if (r < 0)
		return r;
	snprintf(uri, uri_len, "unix:%s", t->lanes[QM_LANE_MIGRATION].listen_path);
	return 0;
}

int qm_tunnel_nbd_open_remote(struct qm_job *job, char **stream_argv, char *path,
			      size_t len)
{
	struct qm_tunnel *t = job->tunnel;
	struct qm_tunnel_remote *rt = t ? t->remote : NULL;
	int r;

	if (!rt)
		return qm_job_failf(job, -EINVAL, "GenericError",
				    "tunnel: the NBD lane needs an open tunnel between hosts");
	if (!stream_argv || !stream_argv[0])
		return qm_job_failf(job, -EINVAL, "Usage", "tunnel: no stream command");
	if (!(rt->argv[QM_LANE_NBD] = copy_argv(stream_argv, &rt->argc[QM_LANE_NBD])))
		return qm_job_failf(job, -ENOMEM, "GenericError", "out of memory");
	r = qm_tunnel_listen(t, QM_LANE_NBD);
	if (r < 0)
		return r;
	snprintf(path, len, "%s", t->lanes[QM_LANE_NBD].listen_path);
	return 0;
}

void qm_tunnel_remote_hangup(struct qm_tunnel *t)
{
	struct qm_tunnel_remote *rt = t->remote;

	if (!rt)
		return;
	rt->hung_up = true;
	for (size_t i = 0; i < rt->n; i++)
		qm_child_signal(&rt->streams[i].proc.child, SIGTERM);
}

void qm_tunnel_remote_free(struct qm_tunnel *t)
{
	struct qm_tunnel_remote *rt = t->remote;
	struct qm_stream_proc *ps[QM_TUNNEL_PUMPS];
	size_t left;

	if (!rt)
		return;
	for (size_t i = 0; i < rt->n; i++) {
		ev_io_stop(t->job->loop, &rt->streams[i].exit_io);
		ps[i] = &rt->streams[i].proc;
	}
	left = qm_stream_procs_stop(ps, rt->n);
	if (left)
		qm_err(t->job->ctx,
		       "tunnel: %zu stream processes did not end after SIGKILL: "
		       "left behind",
		       left);
	for (int i = 0; i < QM_LANES; i++)
		qm_argv_free(rt->argv[i]);
	free(rt);
	t->remote = NULL;
}
