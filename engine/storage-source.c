/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Storage migration, the source's side: the mirrors into the destination's
 * NBD exports (perform), completed at the switch-over, cancelled after a
 * failure; which disks move is storage-begin.c's.  Block-job events drive it;
 * query-block-jobs at the poll interval is the fallback and the progress.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "engine/batch.h"
#include "engine/job.h"
#include "engine/storage.h"
#include "qmp/socket.h"
#include "util/error.h"
#include "util/log.h"
#include "util/net.h"
#include "xml/domain-argv.h"

#define NBD_NODE "qmigrate-nbd-"
#define JOB_PREFIX "qmigrate-"
/* A mirror that copies nothing for this long has stalled. */
#define STALL_TIMEOUT 60.0
/* Completing the ready mirrors at the switch-over flushes the last writes only. */
#define SWITCH_TIMEOUT 30.0
/* Cancelled mirrors end at once, or when their target's connection breaks. */
#define ROLLBACK_TIMEOUT 15.0
/*
 * The mirrors' buffers.  QEMU keeps 16 requests in flight and sizes them
 * from the buffer, at least 1 MiB each: a disk's 32 MiB makes 2 MiB
 * requests, the size qemu-img convert writes.  Side by side with 128 MiB
 * (8 MiB requests) and 16 MiB (QEMU 7.2's default), 32 MiB copied fastest
 * over TCP, a UNIX socket and the tunnel alike (docs/storage.md).  The
 * disks that copy at once share 128 MiB, the most the source's QEMU holds
 * for them, but never get less than QEMU's default each.
 */
#define MIRROR_BUF_DISK (32 << 20)
#define MIRROR_BUF_TOTAL (128 << 20)
#define MIRROR_BUF_MIN (16 << 20)

enum stage {
	STAGE_IDLE,
	STAGE_READY,	 /* mirrors started: waiting for every one to be ready */
	STAGE_MIGRATING, /* all ready; the memory moves, the mirrors stay in step */
	STAGE_SWITCH,	 /* pre-switchover: the mirrors complete */
	STAGE_ROLLBACK,	 /* after a failure: the mirrors are cancelled */
	STAGE_DONE,
};

static const char *const stage_names[] = {
	[STAGE_READY] = "to become ready",
	[STAGE_SWITCH] = "to complete at the switch-over",
	[STAGE_ROLLBACK] = "to end after their cancel",
};

/* ---- the mirrors -------------------------------------------------------------- */

static struct qm_storage_disk *disk_of_job(struct qm_storage *st, const char *id)
{
	if (!id || strncmp(id, JOB_PREFIX, strlen(JOB_PREFIX)) != 0)
		return NULL;
	for (unsigned i = 0; i < st->n_disks; i++)
		if (strcmp(st->disks[i].target, id + strlen(JOB_PREFIX)) == 0)
			return &st->disks[i];
	return NULL;
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents);

/* The stage's wait ends by @timeout from now, however slow the polling is. */
static void arm_deadline(struct qm_job *job, double timeout)
{
	struct qm_storage *st = job->storage;

	ev_timer_stop(job->loop, &st->deadline_timer);
	ev_set_cb(&st->deadline_timer, deadline_cb);
	st->deadline_timer.data = job;
	ev_timer_set(&st->deadline_timer, timeout, 0.);
	ev_timer_start(job->loop, &st->deadline_timer);
}

static void set_stage(struct qm_job *job, enum stage stage, double timeout)
{
	job->storage->stage = stage;
	arm_deadline(job, timeout);
}

/* The stage's wait is over: its continuation runs from here, once. */
static void stage_end(struct qm_job *job, enum stage stage)
{
	struct qm_storage *st = job->storage;
	void (*next)(struct qm_job * job) = st->next;

	st->next = NULL;
	st->stage = stage;
	ev_timer_stop(job->loop, &st->deadline_timer);
	if (stage == STAGE_DONE)
		ev_timer_stop(job->loop, &st->timer);
	if (next)
		next(job);
}

static bool all(const struct qm_storage *st, bool ready)
{
	for (unsigned i = 0; i < st->n_disks; i++) {
		const struct qm_storage_disk *d = &st->disks[i];

		if (d->mirroring && (ready ? !d->ready : !d->ended))
			return false;
	}
	return true;
}

static void report_progress(struct qm_job *job);

/* Moves on when the stage's condition holds. */
static void evaluate(struct qm_job *job)
{
	struct qm_storage *st = job->storage;

	if (st->stage == STAGE_READY && qm_job_failed(job)) {
		stage_end(job, STAGE_MIGRATING);
	} else if (st->stage == STAGE_READY && all(st, true)) {
		/* However fast they were, the mirrors' figures are seen once. */
		report_progress(job);
		stage_end(job, STAGE_MIGRATING);
	} else if ((st->stage == STAGE_SWITCH || st->stage == STAGE_ROLLBACK) &&
		   all(st, false)) {
		stage_end(job, STAGE_DONE);
	}
}

/* A mirror ended: at the switch-over that is its completion; otherwise a failure. */
static void mirror_ended(struct qm_job *job, struct qm_storage_disk *d, const char *error)
{
	struct qm_storage *st = job->storage;

	d->ended = true;
	if (error)
		qm_job_failf(job, -EIO, "StorageFailed",
			     "the mirror of disk %s failed: %s", d->target, error);
	else if (st->stage == STAGE_READY || st->stage == STAGE_MIGRATING)
		qm_job_failf(job, -EIO, "StorageFailed",
			     "the mirror of disk %s ended before the switch-over",
			     d->target);
}

static void block_job_event(struct qm_qmp *q, const char *name, json_t *data, double ts,
			    void *ud)
{
	struct qm_job *job = ud;
	struct qm_storage *st = job->storage;
	struct qm_storage_disk *d =
		st ? disk_of_job(st, json_string_value(json_object_get(data, "device")))
		   : NULL;

	if (!d || !d->mirroring || d->ended)
		return;
	if (strcmp(name, "BLOCK_JOB_READY") == 0) {
		d->ready = true;
		d->offset = (uint64_t)json_integer_value(json_object_get(data, "offset"));
		d->len = (uint64_t)json_integer_value(json_object_get(data, "len"));
	} else if (strcmp(name, "BLOCK_JOB_ERROR") == 0) {
		qm_warn(job->ctx, "the mirror of disk %s reports an I/O error (%s)",
			d->target,
			json_string_value(json_object_get(data, "operation")) ?: "?");
		return;
	} else {
		d->offset = (uint64_t)json_integer_value(json_object_get(data, "offset"));
		d->len = (uint64_t)json_integer_value(json_object_get(data, "len"));
		mirror_ended(job, d,
			     strcmp(name, "BLOCK_JOB_CANCELLED") == 0 &&
					     st->stage != STAGE_ROLLBACK &&
					     st->stage != STAGE_SWITCH
				     ? "it was cancelled"
				     : json_string_value(json_object_get(data, "error")));
	}
	evaluate(job);
}

static void report_progress(struct qm_job *job)
{
	struct qm_storage *st = job->storage;
	struct qm_progress *p = &job->progress;
	ev_tstamp now = ev_now(job->loop);
	uint64_t done = 0, len = 0;

	for (unsigned i = 0; i < st->n_disks; i++) {
		done += st->disks[i].offset;
		len += st->disks[i].len;
	}
	if (st->last_t > 0 && now > st->last_t && done >= st->last_done)
		p->storage_mbps =
			(double)(done - st->last_done) * 8 / 1e6 / (now - st->last_t);
	if (done != st->last_done && st->stage == STAGE_READY)
		arm_deadline(job, STALL_TIMEOUT);
	st->last_t = now;
	st->last_done = done;
	p->storage_transferred = done;
	p->storage_total = len;
	p->storage_remaining = len > done ? len - done : 0;
	/* While the mirrors catch up the monitor is not running yet: this is the sample.
	 */
	if (st->stage == STAGE_READY && job->cbs.progress) {
		snprintf(job->qemu_status, sizeof(job->qemu_status), "%s", "mirror");
		p->elapsed = now - job->t_start;
		job->cbs.progress(job, p, job->userdata);
	}
}

static void jobs_polled(struct qm_qmp *q, json_t *list, const struct qm_error *err,
			void *ud)
{
	struct qm_job *job = ud;
	struct qm_storage *st = job->storage;
	size_t i;
	json_t *j;

	if (!st)
		return;
	st->inflight = false;
	if (err || st->stage == STAGE_IDLE || st->stage == STAGE_DONE)
		return;
	for (unsigned k = 0; k < st->n_disks; k++) {
		struct qm_storage_disk *d = &st->disks[k];
		bool listed = false;

		if (!d->mirroring || d->ended)
			continue;
		json_array_foreach(list, i, j) {
			if (disk_of_job(st, json_string_value(
						    json_object_get(j, "device"))) != d)
				continue;
			listed = true;
			d->offset = (uint64_t)json_integer_value(
				json_object_get(j, "offset"));
			d->len = (uint64_t)json_integer_value(json_object_get(j, "len"));
			if (json_is_true(json_object_get(j, "ready")))
				d->ready = true;
		}
		/* Gone without its event: it ended, its error unknown. */
		if (!listed)
			mirror_ended(job, d, NULL);
	}
	report_progress(job);
	evaluate(job);
}

static void deadline_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_job *job = w->data;
	struct qm_storage *st = job->storage;

	if (st->stage != STAGE_ROLLBACK)
		qm_job_failf(job, -ETIMEDOUT, "StorageTimeout",
			     "the disks' mirrors took too long %s",
			     stage_names[st->stage]);
	else
		qm_warn(job->ctx, "the cancelled mirrors did not end: going on");
	for (unsigned i = 0; i < st->n_disks; i++)
		st->disks[i].ended = true;
	evaluate(job);
}

static void timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_job *job = w->data;
	struct qm_storage *st = job->storage;

	if (st->inflight || job->src_gone)
		return;
	if (qm_qmp_command(job->src, "query-block-jobs", NULL, -1, 0, jobs_polled, job) ==
	    0)
		st->inflight = true;
}

static void watch(struct qm_job *job)
{
	static const char *const events[] = { "BLOCK_JOB_READY", "BLOCK_JOB_COMPLETED",
					      "BLOCK_JOB_CANCELLED", "BLOCK_JOB_ERROR" };
	struct qm_storage *st = job->storage;

	if (!st->subscribed) {
		st->subscribed = true;
		for (size_t i = 0; i < ARRAY_SIZE(events); i++)
			if (qm_qmp_subscribe(job->src, events[i], block_job_event, job) <
			    0)
				qm_warn(job->ctx, "cannot subscribe to %s: polling only",
					events[i]);
	}
	ev_timer_init(&st->timer, timer_cb, 0., job->opts.poll_interval);
	st->timer.data = job;
	ev_timer_again(job->loop, &st->timer);
}

static void mirrors_started(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	struct qm_storage *st = job->storage;

	for (unsigned i = 0; i < st->n_disks; i++) {
		st->disks[i].nbd_added = res && res[st->disks[i].add_cmd];
		st->disks[i].mirroring = res && res[st->disks[i].mirror_cmd];
	}
	if (err)
		qm_job_fail(job, err);
	evaluate(job);
}

/*
 * The NBD server as QEMU's SocketAddress: the connection named @fdname, the
 * UNIX socket, else the TCP host and port.
 */
static json_t *server_address(const struct qm_storage *st, const char *port,
			      const char *fdname)
{
	if (fdname)
		return json_pack("{s:s, s:s}", "type", "fd", "str", fdname);
	if (st->socket[0])
		return json_pack("{s:s, s:s}", "type", "unix", "path", st->socket);
	return json_pack("{s:s, s:s, s:s}", "type", "inet", "host", st->host, "port", port);
}

/*
 * A connection to the UNIX socket, made here and handed to the source QEMU
 * (getfd) with a send buffer of QM_BULK_SNDBUF: QEMU's own has the default, and
 * the mirror's megabyte writes then wait for the server every few hundred
 * KiB.  The socket is always on this host (the destination's in the job's
 * runtime directory, or the tunnel's).  -1: QEMU connects by itself.
 */
static int nbd_connect(struct qm_job *job, const struct qm_storage *st)
{
	int fd, in_progress;

	if (!st->socket[0])
		return -1;
	fd = qm_unix_connect(st->socket, &in_progress);
	if (fd >= 0 && in_progress) {
		close(fd);
		fd = -EINPROGRESS;
	}
	if (fd < 0) {
		qm_dbg(job->ctx, "cannot connect to %s (%s): the source QEMU connects itself",
		       st->socket, strerror(-fd));
		return -1;
	}
	qm_socket_sndbuf(fd, QM_BULK_SNDBUF);
	return fd;
}

int qm_storage_mirror_buf(unsigned n_disks)
{
	int size = n_disks > 1 ? MIRROR_BUF_TOTAL / (int)n_disks : MIRROR_BUF_TOTAL;

	size &= ~((1 << 20) - 1); /* whole MiB: a multiple of any granularity */
	if (size > MIRROR_BUF_DISK)
		size = MIRROR_BUF_DISK;
	return size < MIRROR_BUF_MIN ? MIRROR_BUF_MIN : size;
}

void qm_storage_mirror(struct qm_job *job, void (*next)(struct qm_job *job))
{
	struct qm_storage *st = job->storage;
	struct qm_batch_cmd cmds[3 * QM_COOKIE_MAX_DISKS];
	int fds[QM_COOKIE_MAX_DISKS];
	char port[8];
	size_t n = 0;
	int buf_size;

	snprintf(port, sizeof(port), "%d", st->port);
	buf_size = qm_storage_mirror_buf(st->n_disks);
	st->next = next;
	set_stage(job, STAGE_READY, STALL_TIMEOUT);
	watch(job);
	for (unsigned i = 0; i < st->n_disks; i++) {
		struct qm_storage_disk *d = &st->disks[i];
		char nbd[64], fmt[64], id[64];

		snprintf(nbd, sizeof(nbd), NBD_NODE "%s", d->target);
		snprintf(fmt, sizeof(fmt), QM_FORMAT_NODE_PREFIX "%s", d->target);
		snprintf(id, sizeof(id), JOB_PREFIX "%s", d->target);
		fds[i] = nbd_connect(job, st);
		if (fds[i] >= 0) {
			cmds[n++] = (struct qm_batch_cmd){
				.name = "getfd",
				.args = json_pack("{s:s}", "fdname", nbd),
				.pass_fd = true,
				.fd = fds[i],
			};
			d->fd_named = true;
		}
		d->add_cmd = (unsigned)n;
		cmds[n++] = (struct qm_batch_cmd){
			.name = "blockdev-add",
			.args = json_pack("{s:s, s:s, s:o, s:s}", "driver", "nbd", "node-name",
					  nbd, "server",
					  server_address(st, port, fds[i] >= 0 ? nbd : NULL),
					  "export", d->export_name),
		};
		d->mirror_cmd = (unsigned)n;
		cmds[n++] = (struct qm_batch_cmd){
			.name = "blockdev-mirror",
			.args = json_pack("{s:s, s:s, s:s, s:s, s:i}", "job-id", id, "device",
					  fmt, "target", nbd, "sync", st->inc ? "top" : "full",
					  "buf-size", buf_size),
		};
		/* --bandwidth caps each disk's copy too, as libvirt's does. */
		if (job->opts.bandwidth)
			json_object_set_new(
				cmds[n - 1].args, "speed",
				json_integer((json_int_t)job->opts.bandwidth));
	}
	if (st->socket[0])
		qm_info(job->ctx, "mirroring %u disk(s) to %s", st->n_disks, st->socket);
	else
		qm_info(job->ctx, "mirroring %u disk(s) to %s port %d", st->n_disks,
			st->host, st->port);
	job->result.changed = true;
	qm_job_batch(job, job->src, cmds, n, mirrors_started);
	/* The connection sent copies of its own. */
	for (unsigned i = 0; i < st->n_disks; i++)
		if (fds[i] >= 0)
			close(fds[i]);
}

/* ---- the switch-over, and after a failure -------------------------------------- */

static void continued(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	if (err)
		qm_job_fail(ud, err);
}

static void nodes_dropped(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	struct qm_storage *st = job->storage;
	void (*after)(struct qm_job * job) = st->next;

	st->next = NULL;
	for (unsigned i = 0; res && i < st->n_disks; i++)
		if (st->disks[i].del_cmd >= 0 && res[st->disks[i].del_cmd])
			st->disks[i].nbd_added = false;
	if (after)
		after(job);
}

/*
 * blockdev-del of every NBD client node still there, and closefd of every
 * connection named for one that blockdev-add never took; then @after.
 */
static void drop_nodes(struct qm_job *job, void (*after)(struct qm_job *job))
{
	struct qm_storage *st = job->storage;
	struct qm_batch_cmd cmds[2 * QM_COOKIE_MAX_DISKS];
	struct qm_error err = { 0 };
	size_t n = 0;

	for (unsigned i = 0; i < st->n_disks; i++) {
		char nbd[64];

		snprintf(nbd, sizeof(nbd), NBD_NODE "%s", st->disks[i].target);
		/* A connection blockdev-add never took stays named in the QEMU. */
		if (st->disks[i].fd_named && !st->disks[i].nbd_added)
			cmds[n++] = (struct qm_batch_cmd){ .name = "closefd",
							   .optional = true,
							   .args = json_pack("{s:s}", "fdname",
									     nbd) };
		st->disks[i].fd_named = false;
		st->disks[i].del_cmd = -1;
		if (!st->disks[i].nbd_added)
			continue;
		st->disks[i].del_cmd = (int)n;
		cmds[n++] = (struct qm_batch_cmd){ .name = "blockdev-del",
						   .optional = true,
						   .args = json_pack("{s:s}", "node-name",
								     nbd) };
	}
	st->next = after;
	if (!n || job->src_gone ||
	    qm_batch_run(job->src, cmds, n, nodes_dropped, job, &err) < 0)
		nodes_dropped(job, NULL, NULL);
}

static void switched(struct qm_job *job)
{
	if (qm_job_failed(job) || job->phase != QM_PHASE_PERFORM || job->perform_done)
		return; /* the failure cancelled the migration */
	qm_info(job->ctx, "the disks are complete on the destination: switching over");
	if (qm_qmp_command(job->src, "migrate-continue",
			   json_pack("{s:s}", "state", "pre-switchover"), -1, 0,
			   continued, job) < 0)
		qm_job_failf(job, -EIO, "ConnectionClosed",
			     "cannot send migrate-continue to the source");
}

static void switch_mirrors_ended(struct qm_job *job)
{
	struct qm_storage *st = job->storage;

	job->result.storage_bytes = 0;
	for (unsigned i = 0; i < st->n_disks; i++)
		job->result.storage_bytes += st->disks[i].offset;
	/* The NBD connections go before the VM moves: their last writes are flushed. */
	drop_nodes(job, switched);
}

static void cancel_sent(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;

	if (err && job->storage->stage == STAGE_SWITCH)
		qm_job_fail(job, err);
	evaluate(job);
}

/* block-job-cancel of every mirror still running (@force: not completing it). */
static void cancel_mirrors(struct qm_job *job, bool force)
{
	struct qm_storage *st = job->storage;
	struct qm_batch_cmd cmds[QM_COOKIE_MAX_DISKS];
	struct qm_error err = { 0 };
	size_t n = 0;

	for (unsigned i = 0; i < st->n_disks; i++) {
		char id[64];

		if (!st->disks[i].mirroring || st->disks[i].ended)
			continue;
		snprintf(id, sizeof(id), JOB_PREFIX "%s", st->disks[i].target);
		cmds[n++] = (struct qm_batch_cmd){
			.name = "block-job-cancel",
			.optional = force,
			.args = force ? json_pack("{s:s, s:b}", "device", id, "force", 1)
				      : json_pack("{s:s}", "device", id),
		};
	}
	if (!n || job->src_gone ||
	    qm_batch_run(job->src, cmds, n, cancel_sent, job, &err) < 0) {
		if (n && !force)
			qm_job_fail(job, &err);
		for (unsigned i = 0; n && job->src_gone && i < st->n_disks; i++)
			st->disks[i].ended = true;
		evaluate(job);
	}
}

void qm_storage_switchover(struct qm_job *job)
{
	struct qm_storage *st = job->storage;

	if (!st || st->switched || st->stage != STAGE_MIGRATING || qm_job_failed(job))
		return;
	st->switched = true;
	qm_info(job->ctx, "pre-switchover: completing the disks' mirrors");
	st->next = switch_mirrors_ended;
	set_stage(job, STAGE_SWITCH, SWITCH_TIMEOUT);
	cancel_mirrors(job, false);
}

void qm_storage_perform_failed(struct qm_job *job)
{
	struct qm_storage *st = job->storage;

	/* The wait for ready mirrors ends: perform goes on to its end. */
	if (st && st->stage == STAGE_READY)
		evaluate(job);
}

static void rollback_mirrors_ended(struct qm_job *job)
{
	struct qm_storage *st = job->storage;
	void (*after)(struct qm_job * job) = st->after_rollback;

	st->after_rollback = NULL;
	drop_nodes(job, after);
}

void qm_storage_source_rollback(struct qm_job *job, void (*next)(struct qm_job *job))
{
	struct qm_storage *st = job->storage;

	if (!st || job->src_gone || st->stage == STAGE_IDLE) {
		next(job);
		return;
	}
	qm_info(job->ctx, "cancelling the disks' mirrors on the source");
	st->after_rollback = next;
	st->next = rollback_mirrors_ended;
	set_stage(job, STAGE_ROLLBACK, ROLLBACK_TIMEOUT);
	if (!ev_is_active(&st->timer))
		watch(job);
	cancel_mirrors(job, true);
}
