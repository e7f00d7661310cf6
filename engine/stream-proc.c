/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The source's end of a stream between hosts: the process (ssh, exec:) carrying it. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <unistd.h>

#include "engine/stream.h"
#include "tunnel/pump.h"
#include "util/error.h"

#define STREAM_PIPE_SIZE (1u << 20) /* fewer wake-ups for the pump and for ssh */
#define STOP_BATCH QM_STREAM_MAX    /* stopped together, under one grace */

static void close_fd(int *fd)
{
	if (*fd >= 0)
		close(*fd);
	*fd = -1;
}

void qm_stream_proc_init(struct qm_stream_proc *p)
{
	qm_child_init(&p->child);
	p->in_fd = p->out_fd = -1;
}

/* Its stdin, and its stdout: a pipe back to us, or /dev/null. */
static int make_pipes(struct qm_stream_proc *p, bool back, int child_fds[2],
		      struct qm_error *err)
{
	int fds[2];

	if (pipe2(fds, O_CLOEXEC) < 0)
		return qm_error_set(err, -errno, "TunnelFailed", "stream: pipe: %s",
				    strerror(errno));
	child_fds[0] = fds[0];
	p->in_fd = fds[1];
	qm_pipe_grow(p->in_fd, STREAM_PIPE_SIZE);
	if (!back) {
		child_fds[1] = open("/dev/null", O_WRONLY | O_CLOEXEC);
		if (child_fds[1] < 0)
			return qm_error_set(err, -errno, "TunnelFailed",
					    "stream: /dev/null: %s", strerror(errno));
		return 0;
	}
	if (pipe2(fds, O_CLOEXEC) < 0)
		return qm_error_set(err, -errno, "TunnelFailed", "stream: pipe: %s",
				    strerror(errno));
	child_fds[1] = fds[1];
	p->out_fd = fds[0];
	qm_pipe_grow(child_fds[1], STREAM_PIPE_SIZE);
	return 0;
}

int qm_stream_spawn(char *const argv[], bool back, struct qm_stream_proc *p,
		    struct qm_error *err)
{
	int child_fds[2] = { -1, -1 };
	struct qm_child_opts o;
	int r;

	qm_stream_proc_init(p);
	if (!argv || !argv[0])
		return qm_error_set(err, -EINVAL, "Usage",
				    "a stream process needs a command");
	r = make_pipes(p, back, child_fds, err);
	if (r == 0) {
		o = (struct qm_child_opts){ .stdio = { child_fds[0], child_fds[1], -1 } };
		r = qm_child_spawn(&p->child, argv, &o, "TunnelFailed", err);
	}
	/* The child holds its ends now: ours would keep its stdin from ever ending. */
	close_fd(&child_fds[0]);
	close_fd(&child_fds[1]);
	if (r < 0) {
		close_fd(&p->in_fd);
		close_fd(&p->out_fd);
	}
	return r;
}

size_t qm_stream_procs_stop(struct qm_stream_proc *const ps[], size_t n)
{
	struct qm_child *cs[STOP_BATCH];
	size_t left = 0;

	for (size_t i = 0; i < n; i += STOP_BATCH) {
		size_t m = n - i < STOP_BATCH ? n - i : STOP_BATCH;

		for (size_t k = 0; k < m; k++) {
			close_fd(&ps[i + k]->in_fd);
			close_fd(&ps[i + k]->out_fd);
			cs[k] = &ps[i + k]->child;
		}
		left += qm_children_stop(cs, m, QM_STREAM_STOP_GRACE);
		for (size_t k = 0; k < m; k++)
			qm_child_release(cs[k]);
	}
	return left;
}
