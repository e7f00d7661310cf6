/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Storage migration, the destination's side: the images prepare creates
 * (never over an existing file), the NBD server that serves them while the
 * source mirrors into them, and their removal after a failure.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <libgen.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "engine/batch.h"
#include "engine/child.h"
#include "engine/job.h"
#include "engine/storage.h"
#include "util/error.h"
#include "util/log.h"
#include "xml/domain-argv.h"
#include "util/net.h"
#include "xml/domain.h"

#define NBD_FDNAME "qmigrate-nbd"
/* qemu-img create of an empty qcow2 image takes milliseconds. */
#define QEMU_IMG_TIMEOUT 30.0

int qm_storage_take_begin(struct qm_job *job, const struct qm_cookie *c)
{
	struct qm_storage *st = job->storage;
	struct qm_error err = { 0 };

	if (!(c->features & QM_COOKIE_NBD))
		return 0;
	if (!st) {
		qm_error_set(&err, -ENOTSUP, "StorageUnsupported",
			     "begin's cookie copies disks, but this destination was not "
			     "asked to");
		return qm_job_refuse(job, &err);
	}
	st->n_disks = c->nbd.n_disks;
	for (unsigned i = 0; i < c->nbd.n_disks; i++) {
		struct qm_storage_disk *d = &st->disks[i];

		snprintf(d->target, sizeof(d->target), "%s", c->nbd.disks[i].target);
		snprintf(d->export_name, sizeof(d->export_name), "%s",
			 c->nbd.disks[i].target);
		d->capacity = c->nbd.disks[i].capacity;
		snprintf(d->backing, sizeof(d->backing), "%s", c->nbd.disks[i].backing);
		snprintf(d->backing_format, sizeof(d->backing_format), "%s",
			 c->nbd.disks[i].backing_format);
		st->inc |= d->backing[0] != '\0';
	}
	return 0;
}

/* ---- the images ---------------------------------------------------------------- */

static const struct qm_domain_disk *find_disk(const struct qm_domain *d,
					      const char *target)
{
	for (size_t i = 0; i < d->n_disks; i++)
		if (d->disks[i].dev && strcmp(d->disks[i].dev, target) == 0)
			return &d->disks[i];
	return NULL;
}

static int enough_space(const char *path, uint64_t capacity, struct qm_error *err)
{
	char *copy = strdup(path);
	struct statvfs s;
	uint64_t avail;
	int r;

	if (!copy)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	r = statvfs(dirname(copy), &s) < 0 ? -errno : 0;
	free(copy);
	if (r < 0)
		return qm_error_set(err, r, "StorageFailed",
				    "cannot look at the free space for %s: %s", path,
				    strerror(-r));
	avail = (uint64_t)s.f_bavail * s.f_frsize;
	if (avail < capacity)
		return qm_error_set(
			err, -ENOSPC, "StorageNoSpace",
			"the destination has %" PRIu64 " bytes free where %s goes, "
			"less than the disk's %" PRIu64 ": free some space or map "
			"the disk elsewhere (--disk-map)",
			avail, path, capacity);
	return 0;
}

/*
 * qemu-img create -f qcow2 [-b BACKING -F FORMAT] @path @capacity, by argv,
 * bounded.  The backing path is absolute (cookie-valid.c), so qemu-img never
 * takes it for a protocol.
 */
static int qemu_img_create(const struct qm_storage_disk *d, const char *path,
			   struct qm_error *err)
{
	char size[24], msg[256] = "";
	char *argv[12] = { "qemu-img", "create", "-q", "-f", "qcow2" };
	size_t na = 5;
	struct qm_child_opts o = { .stdio = { -1, -1, -1 } };
	struct qm_child c;
	int pipefd[2], devnull, r;
	struct pollfd p;
	ssize_t n;

	if (d->backing[0]) {
		argv[na++] = "-b";
		argv[na++] = (char *)d->backing;
		argv[na++] = "-F";
		argv[na++] = (char *)d->backing_format;
	}
	argv[na++] = (char *)path;
	argv[na++] = size;
	argv[na] = NULL;
	snprintf(size, sizeof(size), "%" PRIu64, d->capacity);
	devnull = open("/dev/null", O_RDWR | O_CLOEXEC);
	if (devnull < 0 || pipe2(pipefd, O_CLOEXEC) < 0) {
		r = -errno;
		if (devnull >= 0)
			close(devnull);
		return qm_error_set(err, r, "StorageFailed", "cannot run qemu-img: %s",
				    strerror(-r));
	}
	o.stdio[0] = o.stdio[1] = devnull;
	o.stdio[2] = pipefd[1];
	qm_child_init(&c);
	r = qm_child_spawn(&c, argv, &o, "StorageFailed", err);
	close(devnull);
	close(pipefd[1]);
	if (r < 0) {
		close(pipefd[0]);
		return r;
	}
	p = (struct pollfd){ .fd = c.pidfd, .events = POLLIN };
	if (poll(&p, 1, (int)(QEMU_IMG_TIMEOUT * 1000)) <= 0)
		qm_child_stop(&c, 1.0);
	qm_child_reap(&c);
	n = read(pipefd[0], msg, sizeof(msg) - 1);
	close(pipefd[0]);
	msg[n > 0 ? n : 0] = '\0';
	msg[strcspn(msg, "\n")] = '\0';
	qm_child_release(&c);
	if (c.pid < 0 && WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0)
		return 0;
	return qm_error_set(err, -EIO, "StorageFailed",
			    "qemu-img create of %s failed: %s", path,
			    msg[0] ? msg : "no reason given");
}

/*
 * The image of @d at @path: the name is taken with O_EXCL first, so that an
 * existing file is never touched, and recorded as ours before it is filled.
 */
static int create_image(struct qm_storage_disk *d, const struct qm_domain_disk *disk,
			const char *path, struct qm_error *err)
{
	bool raw = disk->format == QM_DOMAIN_FORMAT_RAW;
	struct stat st;
	int fd, r = 0;

	/* inc: the top layer goes into a new overlay on the same, shared backing file. */
	if (d->backing[0] && raw)
		return qm_error_set(err, -EINVAL, "StorageUnsupported",
				    "--copy-storage inc: disk %s is raw in the destination's "
				    "description, and only a qcow2 image can sit on the "
				    "backing file %s",
				    d->target, d->backing);
	if (d->backing[0] && (stat(d->backing, &st) < 0 || !S_ISREG(st.st_mode)))
		return qm_error_set(err, -ENOENT, "StorageUnsupported",
				    "--copy-storage inc: disk %s's backing file %s is not on "
				    "the destination (inc needs it shared, at the same path): "
				    "use --copy-storage all",
				    d->target, d->backing);
	if (raw && enough_space(path, d->capacity, err) < 0)
		return -ENOSPC;
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		r = -errno;
		if (r == -EEXIST)
			return qm_error_set(
				err, r, "StorageExists",
				"the destination image %s of disk %s exists: qmigrate "
				"never overwrites a file; remove it, or map the disk "
				"elsewhere (--disk-map)",
				path, d->target);
		return qm_error_set(err, r, "StorageFailed",
				    "cannot create %s for disk %s: %s", path, d->target,
				    strerror(-r));
	}
	d->path = strdup(path);
	if (!d->path)
		r = qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	else if (raw && ftruncate(fd, (off_t)d->capacity) < 0)
		r = qm_error_set(err, -errno, "StorageFailed", "cannot size %s: %s", path,
				 strerror(errno));
	close(fd);
	if (!d->path)
		unlink(path);
	if (r == 0 && !raw)
		r = qemu_img_create(d, path, err);
	return r;
}

int qm_storage_create_images(struct qm_job *job, const struct qm_domain *full)
{
	struct qm_storage *st = job->storage;
	struct qm_error err = { 0 };

	for (unsigned i = 0; st && i < st->n_disks; i++) {
		struct qm_storage_disk *d = &st->disks[i];
		const struct qm_domain_disk *disk = find_disk(full, d->target);

		if (!disk || !disk->file || disk->readonly) {
			qm_error_set(&err, -ENOENT, "StorageUnsupported",
				     "the destination's description has no writable disk "
				     "<target dev='%s'> to copy into",
				     d->target);
			return qm_job_refuse(job, &err);
		}
		/* Nothing ran yet: a refusal (dest_abort removes what was created). */
		if (create_image(d, disk, disk->file, &err) < 0)
			return qm_job_refuse(job, &err);
		qm_info(job->ctx, "created %s (%s, %" PRIu64 " bytes) for disk %s",
			d->path, qm_domain_disk_format_names[disk->format], d->capacity,
			d->target);
	}
	return 0;
}

void qm_storage_keep_images(struct qm_job *job)
{
	if (job->storage)
		job->storage->keep = true;
}

void qm_storage_remove_images(struct qm_job *job)
{
	struct qm_storage *st = job->storage;

	for (unsigned i = 0; st && !st->keep && i < st->n_disks; i++) {
		struct qm_storage_disk *d = &st->disks[i];

		if (!d->path)
			continue;
		if (unlink(d->path) < 0 && errno != ENOENT)
			qm_warn(job->ctx, "cannot remove the image %s: %s", d->path,
				strerror(errno));
		else
			qm_info(job->ctx, "removed the image %s that prepare created",
				d->path);
		free(d->path);
		d->path = NULL;
	}
}

/* ---- the NBD server ------------------------------------------------------------ */

/*
 * A UNIX socket listening at RUNDIR/nbd.sock (its path into st->socket): the
 * server of a job whose migration stream does not go over TCP.  Only the
 * job's user reaches it (0600, in the 0700 runtime directory), where a TCP
 * port would take writes into the disks from any local user.
 */
static int listen_unix(struct qm_job *job, struct qm_error *err)
{
	struct qm_storage *st = job->storage;
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	mode_t old;
	int fd, r;

	if (!job->runtime_dir[0] && qm_runtime_dir_create(job) < 0) {
		qm_error_copy(err, &job->error);
		return err->code;
	}
	r = snprintf(addr.sun_path, sizeof(addr.sun_path), "%s/nbd.sock", job->runtime_dir);
	if (r < 0 || (size_t)r >= sizeof(addr.sun_path) || (size_t)r >= sizeof(st->socket))
		return qm_error_set(err, -ENAMETOOLONG, "StorageFailed",
				    "the NBD server's socket path in %s is too long",
				    job->runtime_dir);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	old = umask(0177);
	r = fd < 0 ? -1 : bind(fd, (struct sockaddr *)&addr, sizeof(addr));
	umask(old);
	if (r < 0 || listen(fd, 16) < 0) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return qm_error_set(err, r, "StorageFailed",
				    "cannot listen on %s for the NBD server: %s", addr.sun_path,
				    strerror(-r));
	}
	snprintf(st->socket, sizeof(st->socket), "%s", addr.sun_path);
	return fd;
}

/* A step of the NBD server is over: the job's error on failure, then what comes next. */
static void step_done(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	struct qm_storage *st = job->storage;
	void (*next)(struct qm_job * job) = st->next;

	st->next = NULL;
	if (err)
		qm_job_fail(job, err);
	next(job);
}

static void served(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	struct qm_storage *st = job->storage;
	char tunnel[sizeof(st->socket)];

	if (err || qm_job_failed(job)) {
		step_done(opaque, res, err);
		return;
	}
	if (st->socket[0])
		qm_info(job->ctx, "the destination serves %u disk(s) over NBD at %s",
			st->n_disks, st->socket);
	else
		qm_info(job->ctx, "the destination serves %u disk(s) over NBD on %s port %d",
			st->n_disks, st->host, st->port);
	/*
	 * Tunnelled, on one host: the source's NBD clients connect to the
	 * tunnel, which joins them to the server; the cookie names the tunnel.
	 * (Between hosts the destination's agent serves, and the source's side
	 * of the tunnel rewrites the cookie: engine/dest-remote.c.)
	 */
	if (job->opts.transport == QM_TRANSPORT_TUNNEL &&
	    qm_tunnel_nbd_open(job, st->socket, tunnel, sizeof(tunnel)) == 0)
		snprintf(st->socket, sizeof(st->socket), "%s", tunnel);
	step_done(opaque, res, NULL);
}

void qm_storage_serve(struct qm_job *job, void (*next)(struct qm_job *job))
{
	struct qm_storage *st = job->storage;
	struct qm_batch_cmd cmds[2 + QM_COOKIE_MAX_DISKS];
	struct qm_error err = { 0 };
	size_t n = 0;
	int fd;

	if (job->opts.transport == QM_TRANSPORT_TCP) {
		fd = qm_tcp_listen(job->listen_address, &st->port);
		if (fd == -EINVAL)
			qm_error_set(&err, fd, "StorageFailed",
				     "the NBD server cannot listen on '%s': not an IP address",
				     job->listen_address);
		else if (fd < 0)
			qm_error_set(&err, fd, "StorageFailed",
				     "cannot listen on %s for the NBD server: %s",
				     job->listen_address, strerror(-fd));
		else
			snprintf(st->host, sizeof(st->host), "%s", job->listen_address);
	} else {
		fd = listen_unix(job, &err);
	}
	if (fd < 0) {
		qm_job_fail(job, &err);
		next(job);
		return;
	}
	cmds[n++] =
		(struct qm_batch_cmd){ .name = "getfd",
				       .args = json_pack("{s:s}", "fdname", NBD_FDNAME),
				       .pass_fd = true,
				       .fd = fd };
	cmds[n++] = (struct qm_batch_cmd){
		.name = "nbd-server-start",
		.args = json_pack("{s:{s:s, s:{s:s}}}", "addr", "type", "fd", "data",
				  "str", NBD_FDNAME),
	};
	for (unsigned i = 0; i < st->n_disks; i++) {
		char id[64], node[64];

		snprintf(id, sizeof(id), "qmigrate-%s", st->disks[i].target);
		snprintf(node, sizeof(node), QM_FORMAT_NODE_PREFIX "%s", st->disks[i].target);
		cmds[n++] = (struct qm_batch_cmd){
			.name = "block-export-add",
			.args = json_pack("{s:s, s:s, s:s, s:b, s:s}", "type", "nbd",
					  "id", id, "node-name", node, "writable", 1,
					  "name", st->disks[i].export_name),
		};
	}
	st->next = next;
	st->serving = true;
	qm_job_batch(job, job->dst, cmds, n, served);
	/* The connection sent a copy of its own. */
	close(fd);
}

bool qm_storage_serving(const struct qm_job *job)
{
	return job->storage && job->storage->serving;
}

void qm_storage_unserve(struct qm_job *job, void (*next)(struct qm_job *job))
{
	struct qm_batch_cmd cmds[] = { { .name = "nbd-server-stop" } };

	job->storage->serving = false;
	job->storage->next = next;
	qm_job_batch(job, job->dst, cmds, 1, step_done);
}
