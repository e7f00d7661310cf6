/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The job's private runtime directory (0700) for sockets. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/job.h"
#include "engine/stream.h"
#include "util/log.h"

static const char *const runtime_files[] = { "migrate.sock", "tunnel.sock" };

int qm_runtime_dir_create(struct qm_job *job)
{
	const char *parent = job->opts.runtime_dir;
	int n;

	if (!parent)
		parent = secure_getenv("XDG_RUNTIME_DIR");
	if (!parent || !*parent)
		parent = "/tmp";
	n = snprintf(job->runtime_dir, sizeof(job->runtime_dir), "%s/qmigrate-XXXXXX", parent);
	if (n < 0 || (size_t)n >= sizeof(job->runtime_dir)) {
		job->runtime_dir[0] = '\0';
		return qm_job_failf(job, -ENAMETOOLONG, "GenericError",
				    "runtime directory %s is too long a path for UNIX sockets: use a shorter --runtime-dir or XDG_RUNTIME_DIR",
				    parent);
	}
	/* mkdtemp creates it 0700: only this user reaches the sockets inside. */
	if (!mkdtemp(job->runtime_dir)) {
		int r = -errno;

		job->runtime_dir[0] = '\0';
		return qm_job_failf(job, r, "GenericError", "cannot create a runtime directory in %s: %s",
				    parent, strerror(-r));
	}
	return 0;
}

void qm_runtime_dir_remove(struct qm_job *job)
{
	char path[sizeof(job->runtime_dir) + 32];

	if (!job->runtime_dir[0])
		return;
	for (size_t i = 0; i < ARRAY_SIZE(runtime_files); i++) {
		snprintf(path, sizeof(path), "%s/%s", job->runtime_dir, runtime_files[i]);
		unlink(path);
	}
	/* What the streams of a tunnel between hosts leave. */
	qm_stream_markers_remove(job->runtime_dir);
	if (rmdir(job->runtime_dir) < 0)
		qm_warn(job->ctx, "cannot remove %s: %s", job->runtime_dir, strerror(errno));
	job->runtime_dir[0] = '\0';
}
