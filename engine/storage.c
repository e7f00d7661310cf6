/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Storage migration: the options, the job's state, and the cookie's nbd section. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/job.h"
#include "engine/storage.h"
#include "util/error.h"
#include "util/log.h"
#include "xml/domain-argv.h"

/* A <target dev> as the node names carry it (xml/domain-argv-disk.c): short, [a-z0-9]. */
static bool target_ok(const char *s)
{
	size_t n = strlen(s);

	return n > 0 && n < 26 &&
	       s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789")] == '\0';
}

int qm_storage_options_check(const struct qm_job_options *opts, struct qm_error *err)
{
	size_t n = 0;

	if (opts->copy_storage_disks)
		while (opts->copy_storage_disks[n])
			n++;
	if (opts->copy_storage == QM_COPY_STORAGE_NONE && n == 0)
		return 0;
	if ((unsigned)opts->copy_storage > QM_COPY_STORAGE_INC)
		return qm_error_set(err, -EINVAL, "Usage", "unknown copy_storage mode %d",
				    opts->copy_storage);
	if (!opts->launch_dest)
		return qm_error_set(
			err, -ENOTSUP, "Usage",
			"--copy-storage needs --launch-dest for now: the job "
			"creates the destination's images before it starts it");
	if (opts->policy.postcopy)
		return qm_error_set(
			err, -ENOTSUP, "Usage",
			"--copy-storage with --postcopy is not supported: the disks "
			"must be complete on the destination before it runs the VM");
	if (n > QM_COOKIE_MAX_DISKS)
		return qm_error_set(err, -E2BIG, "Usage",
				    "more than %d --copy-storage-disk",
				    QM_COOKIE_MAX_DISKS);
	for (size_t i = 0; i < n; i++) {
		if (!target_ok(opts->copy_storage_disks[i]))
			return qm_error_set(err, -EINVAL, "Usage",
					    "--copy-storage-disk '%.64s' is not a disk's "
					    "<target dev> (such as vda)",
					    opts->copy_storage_disks[i]);
		for (size_t j = 0; j < i; j++)
			if (strcmp(opts->copy_storage_disks[i],
				   opts->copy_storage_disks[j]) == 0)
				return qm_error_set(
					err, -EINVAL, "Usage",
					"--copy-storage-disk %s is given twice",
					opts->copy_storage_disks[i]);
	}
	return 0;
}

int qm_storage_options_copy(struct qm_job *job, const struct qm_job_options *opts,
			    struct qm_error *err)
{
	job->opts.copy_storage_disks = NULL;
	if (opts->copy_storage == QM_COPY_STORAGE_NONE &&
	    !(opts->copy_storage_disks && opts->copy_storage_disks[0]))
		return 0;
	job->opts.copy_storage = opts->copy_storage == QM_COPY_STORAGE_INC ? QM_COPY_STORAGE_INC
									    : QM_COPY_STORAGE_ALL;
	job->storage = calloc(1, sizeof(*job->storage));
	if (!job->storage)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	job->storage->inc = job->opts.copy_storage == QM_COPY_STORAGE_INC;
	job->storage->port = -1;
	ev_timer_init(&job->storage->timer, NULL, 0., 0.);
	ev_timer_init(&job->storage->deadline_timer, NULL, 0., 0.);
	if (opts->copy_storage_disks && opts->copy_storage_disks[0]) {
		job->storage->only = qm_argv_dup(opts->copy_storage_disks, 0);
		if (!job->storage->only)
			return qm_error_set(err, -ENOMEM, "GenericError",
					    "out of memory");
		job->opts.copy_storage_disks = (const char *const *)job->storage->only;
	}
	return 0;
}

bool qm_storage_wanted(const struct qm_job *job)
{
	return job->storage != NULL;
}

void qm_storage_free(struct qm_job *job)
{
	struct qm_storage *st = job->storage;

	if (!st)
		return;
	ev_timer_stop(job->loop, &st->timer);
	ev_timer_stop(job->loop, &st->deadline_timer);
	/* A job dropped before its end leaves no image behind. */
	qm_storage_remove_images(job);
	for (unsigned i = 0; i < st->n_disks; i++)
		free(st->disks[i].path);
	qm_argv_free(st->only);
	free(st);
	job->storage = NULL;
}

void qm_storage_cookie(const struct qm_job *job, struct qm_cookie *c)
{
	const struct qm_storage *st = job->storage;

	if (!st || !st->n_disks)
		return;
	c->features |= QM_COOKIE_NBD;
	/* A peer that would ignore the section would migrate without the disks. */
	c->mandatory |= QM_COOKIE_NBD;
	snprintf(c->nbd.host, sizeof(c->nbd.host), "%s", st->host);
	c->nbd.port = st->host[0] ? st->port : -1;
	snprintf(c->nbd.socket, sizeof(c->nbd.socket), "%s", st->socket);
	c->nbd.n_disks = st->n_disks;
	for (unsigned i = 0; i < st->n_disks; i++) {
		struct qm_cookie_disk *d = &c->nbd.disks[i];

		snprintf(d->target, sizeof(d->target), "%s", st->disks[i].target);
		snprintf(d->export_name, sizeof(d->export_name), "%s",
			 st->host[0] || st->socket[0] ? st->disks[i].export_name : "");
		d->capacity = st->disks[i].capacity;
		snprintf(d->backing, sizeof(d->backing), "%s", st->disks[i].backing);
		snprintf(d->backing_format, sizeof(d->backing_format), "%s",
			 st->disks[i].backing_format);
	}
}
