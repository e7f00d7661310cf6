/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The job's private runtime directory (0700) for sockets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/job.h"
#include "engine/stream.h"
#include "util/io.h"
#include "util/log.h"

static const char *const runtime_files[] = { "migrate.sock", "tunnel.sock", "nbd.sock",
					     "nbd-tunnel.sock" };

int qm_runtime_dir_create(struct qm_job *job)
{
	struct qm_error err = { 0 };
	int r = qm_private_dir_new(job->runtime_dir, sizeof(job->runtime_dir),
				   job->opts.runtime_dir, "qmigrate", &err);

	if (r < 0)
		qm_job_fail(job, &err);
	return r;
}

void qm_runtime_dir_remove(struct qm_job *job)
{
	char path[sizeof(job->runtime_dir) + 32];

	if (!job->runtime_dir[0])
		return;
	for (size_t i = 0; i < ARRAY_SIZE(runtime_files); i++) {
		snprintf(path, sizeof(path), "%s/%s", job->runtime_dir, runtime_files[i]);
		unlink(path);
		/* What the streams of a tunnel between hosts leave beside a socket. */
		qm_stream_markers_remove(path);
	}
	if (rmdir(job->runtime_dir) < 0)
		qm_warn(job->ctx, "cannot remove %s: %s", job->runtime_dir, strerror(errno));
	job->runtime_dir[0] = '\0';
}
