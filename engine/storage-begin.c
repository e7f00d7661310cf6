/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Storage migration, the source's side, at begin: which disks move
 * (query-block: the wanted disks, their sizes and backing files), and at
 * perform, prepare's nbd section checked against them.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "engine/batch.h"
#include "engine/job.h"
#include "engine/storage.h"
#include "util/error.h"
#include "util/log.h"
#include "xml/domain-argv.h"

/* ---- begin: the disks to copy ---------------------------------------------------- */

static bool wanted(const struct qm_storage *st, const char *target)
{
	if (!st->only)
		return true;
	for (char **p = st->only; *p; p++)
		if (strcmp(*p, target) == 0)
			return true;
	return false;
}

/*
 * --copy-storage inc: the backing file under the disk's top layer, which the
 * destination must see at the same path.  query-block's image says it:
 * full-backing-filename (absolute), and the format the image records, else
 * the one QEMU opened it with.
 */
static int take_backing(struct qm_storage_disk *d, json_t *ins, const char *target,
			struct qm_error *err)
{
	json_t *image = json_object_get(ins, "image");
	const char *path = json_string_value(json_object_get(image, "full-backing-filename"));
	const char *fmt = json_string_value(json_object_get(image, "backing-filename-format"));

	if (!fmt)
		fmt = json_string_value(
			json_object_get(json_object_get(image, "backing-image"), "format"));
	if (!path || !path[0])
		return qm_error_set(err, -EINVAL, "StorageUnsupported",
				    "--copy-storage inc: disk %s has no backing file, so "
				    "all of it would have to move: use --copy-storage all",
				    target);
	if (path[0] != '/' || strlen(path) >= sizeof(d->backing))
		return qm_error_set(err, -EINVAL, "StorageUnsupported",
				    "--copy-storage inc: the backing file of disk %s is not "
				    "a local path shorter than %zu bytes: use --copy-storage all",
				    target, sizeof(d->backing));
	if (!fmt || (strcmp(fmt, "raw") != 0 && strcmp(fmt, "qcow2") != 0))
		return qm_error_set(err, -EINVAL, "StorageUnsupported",
				    "--copy-storage inc: the backing file %s of disk %s is "
				    "%s, not raw or qcow2",
				    path, target, fmt ? fmt : "of no known format");
	snprintf(d->backing, sizeof(d->backing), "%s", path);
	snprintf(d->backing_format, sizeof(d->backing_format), "%s", fmt);
	return 0;
}

/* One query-block entry: a disk to copy, one to leave, or a refusal. */
static int take_block(struct qm_storage *st, json_t *b, struct qm_error *err)
{
	json_t *ins = json_object_get(b, "inserted");
	const char *node = json_string_value(json_object_get(ins, "node-name"));
	const char *qdev = json_string_value(json_object_get(b, "qdev"));
	json_int_t size = json_integer_value(
		json_object_get(json_object_get(ins, "image"), "virtual-size"));
	const char *target;
	struct qm_storage_disk *d;

	if (!ins || json_is_true(json_object_get(ins, "ro")))
		return 0; /* empty or read-only (a cdrom): nothing to copy */
	if (!node || strncmp(node, QM_FORMAT_NODE_PREFIX, strlen(QM_FORMAT_NODE_PREFIX)) != 0) {
		if (st->only)
			return 0;
		return qm_error_set(
			err, -ENOTSUP, "StorageUnsupported",
			"cannot copy the source's disk %s (node '%s'): only disks of "
			"a QEMU started by qmigrate have node names that say their "
			"<target dev>",
			qdev ? qdev : "?", node ? node : "");
	}
	target = node + strlen(QM_FORMAT_NODE_PREFIX);
	if (!wanted(st, target))
		return 0;
	if (strlen(target) >= sizeof(d->target) || st->n_disks == QM_COOKIE_MAX_DISKS)
		return qm_error_set(err, -E2BIG, "StorageUnsupported",
				    "cannot copy disk %.32s: at most %d disks with names "
				    "shorter than %zu",
				    target, QM_COOKIE_MAX_DISKS, sizeof(d->target));
	if (size <= 0)
		return qm_error_set(err, -EPROTO, "ProtocolError",
				    "the source QEMU gave no size for disk %s", target);
	d = &st->disks[st->n_disks];
	if (st->inc && take_backing(d, ins, target, err) < 0)
		return -EINVAL;
	st->n_disks++;
	snprintf(d->target, sizeof(d->target), "%s", target);
	snprintf(d->export_name, sizeof(d->export_name), "%s", target);
	d->capacity = (uint64_t)size;
	return 0;
}

static int find_disks(struct qm_storage *st, json_t *blocks, struct qm_error *err)
{
	size_t i;
	json_t *b;
	int r;

	json_array_foreach(blocks, i, b) {
		r = take_block(st, b, err);
		if (r < 0)
			return r;
	}
	for (char **p = st->only; p && *p; p++) {
		bool found = false;

		for (unsigned k = 0; k < st->n_disks && !found; k++)
			found = strcmp(st->disks[k].target, *p) == 0;
		if (!found)
			return qm_error_set(
				err, -ENOENT, "StorageUnsupported",
				"--copy-storage-disk %s: the source has no writable "
				"disk with <target dev='%s'>",
				*p, *p);
	}
	if (!st->n_disks)
		return qm_error_set(
			err, -ENOENT, "StorageUnsupported",
			"--copy-storage: the source has no writable disk to copy");
	return 0;
}

static void blocks_queried(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	struct qm_storage *st = job->storage;
	struct qm_error serr = { 0 };
	void (*next)(struct qm_job * job) = st->next;

	st->next = NULL;
	if (err)
		qm_job_fail(job, err);
	if (!qm_job_failed(job) && find_disks(st, res[0], &serr) < 0) {
		st->n_disks = 0;
		qm_job_refuse(job, &serr);
	}
	for (unsigned i = 0; !qm_job_failed(job) && i < st->n_disks; i++) {
		job->result.storage_disks++;
		qm_info(job->ctx,
			"disk %s (%" PRIu64 " bytes) is copied to the destination",
			st->disks[i].target, st->disks[i].capacity);
	}
	next(job);
}

void qm_storage_query(struct qm_job *job, void (*next)(struct qm_job *job))
{
	struct qm_batch_cmd cmds[] = { { .name = "query-block" } };

	job->storage->next = next;
	qm_job_batch(job, job->src, cmds, 1, blocks_queried);
}

int qm_storage_take_prepare(struct qm_job *job, const struct qm_cookie *c)
{
	struct qm_storage *st = job->storage;

	if (!(c->features & QM_COOKIE_NBD) || (!c->nbd.host[0] && !c->nbd.socket[0]))
		return qm_job_failf(
			job, -EPROTO, "CookieInvalid",
			"the destination's cookie says no NBD server for the disks");
	for (unsigned i = 0; i < st->n_disks; i++) {
		const struct qm_cookie_disk *found = NULL;

		for (unsigned k = 0; k < c->nbd.n_disks && !found; k++)
			if (strcmp(c->nbd.disks[k].target, st->disks[i].target) == 0)
				found = &c->nbd.disks[k];
		if (!found || found->capacity != st->disks[i].capacity)
			return qm_job_failf(job, -EPROTO, "CookieInvalid",
					    "the destination's cookie has no export of "
					    "disk %s at its size",
					    st->disks[i].target);
		snprintf(st->disks[i].export_name, sizeof(st->disks[i].export_name), "%s",
			 found->export_name);
	}
	snprintf(st->host, sizeof(st->host), "%s", c->nbd.host);
	st->port = c->nbd.port;
	snprintf(st->socket, sizeof(st->socket), "%s", c->nbd.socket);
	return 0;
}
