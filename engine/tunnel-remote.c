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
};

struct qm_tunnel_remote {
	/* of every stream process: ... --stream-index N; argv[argc + 1] is N's slot */
	char **argv;
	size_t argc;
	struct stream streams[QM_STREAM_MAX];
	size_t n;
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
	if (s->slot < 0 || !t->pumps[s->slot] || t->remote->hung_up || t->job->finished ||
	    s->proc.child.status == 0)
		return;
	qm_job_failf(t->job, -EPIPE, "TunnelFailed",
		     "tunnel: the stream process %s (pid %d) %s", t->remote->argv[0],
		     (int)s->pid, how);
	qm_tunnel_hangup(t->job);
}

/* A new stream process, watched; its pipes' ends are in (*out)->proc for a pump. */
static int spawn(struct qm_tunnel *t, bool back, struct stream **out,
		 struct qm_error *err)
{
	struct qm_tunnel_remote *rt = t->remote;
	struct stream *s;
	char index[24];
	int r;

	if (rt->n == QM_STREAM_MAX)
		return qm_error_set(err, -EMFILE, "TunnelFailed",
				    "tunnel: more than %d streams", QM_STREAM_MAX);
	s = &rt->streams[rt->n];
	/* The stream's place in QEMU's order: the destination connects them in it. */
	snprintf(index, sizeof(index), "%zu", rt->n);
	rt->argv[rt->argc + 1] = index;
	r = qm_stream_spawn(rt->argv, back, &s->proc, err);
	rt->argv[rt->argc + 1] = NULL;
	if (r < 0)
		return r;
	rt->n++;
	s->t = t;
	s->pid = s->proc.child.pid;
	s->slot = -1;
	ev_io_init(&s->exit_io, exit_cb, s->proc.child.pidfd, EV_READ);
	s->exit_io.data = s;
	ev_io_start(t->job->loop, &s->exit_io);
	qm_dbg(t->job->ctx, "tunnel: stream process %s started, pid %d", rt->argv[0],
	       (int)s->pid);
	*out = s;
	return 0;
}

/* A connection of the source QEMU's: to its own stream process. */
static int join_remote(struct qm_tunnel *t, int in, struct qm_error *err)
{
	bool back = t->job->opts.policy.postcopy;
	struct qm_pump_options o = { .bidirectional = back,
				     .mode = qm_tunnel_pump_mode(t) };
	size_t slot = t->n_pumps;
	struct stream *s;
	int r;

	r = spawn(t, back, &s, err);
	if (r < 0) {
		close(in);
		return r;
	}
	o.forward = (struct qm_pump_fds){ .in = in, .out = steal_fd(&s->proc.in_fd) };
	o.back = (struct qm_pump_fds){ .in = steal_fd(&s->proc.out_fd), .out = in };
	r = qm_tunnel_pump_add(t, &o, err);
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
	if (spawn(t, false, &s, &err) < 0) {
		close(from_src[0]);
		qm_job_fail(t->job, &err);
		return err.code;
	}
	o.forward = (struct qm_pump_fds){ .in = from_src[0],
					  .out = steal_fd(&s->proc.in_fd) };
	if (qm_tunnel_pump_add(t, &o, &err) < 0) {
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

	if (!t)
		return -ENOMEM;
	if (!stream_argv || !stream_argv[0])
		return qm_job_failf(job, -EINVAL, "Usage", "tunnel: no stream command");
	t->remote = calloc(1, sizeof(*t->remote));
	if (!t->remote || !(t->remote->argv = copy_argv(stream_argv, &t->remote->argc)))
		return qm_job_failf(job, -ENOMEM, "GenericError", "out of memory");
	t->join = join_remote;
	if (qm_tunnel_uses_pipes(job))
		return open_pipe(t, uri, uri_len);
	if (!job->runtime_dir[0])
		return qm_job_failf(job, -EINVAL, "GenericError",
				    "tunnel: no runtime directory for its socket");
	return qm_tunnel_listen(t, uri, uri_len);
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
	struct qm_stream_proc *ps[QM_STREAM_MAX];
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
	qm_argv_free(rt->argv);
	free(rt);
	t->remote = NULL;
}
