/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The leases through the phases (docs/leases.md): begin takes a copy of the
 * source QEMU's; perform's end releases them into its cookie; finish takes
 * them for the destination and hands them to its QEMU before `cont`;
 * confirm takes them back on the source when finish failed.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/batch.h"
#include "engine/job.h"
#include "qmp/internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/uuid.h"
#include "xml/domain-argv.h"

/* The paths of --lease: at most QM_LEASE_MAX, each one a cookie can carry. */
static int check_given(const char *const *given, struct qm_error *err)
{
	int r = 0;

	for (size_t n = 0; given && given[n] && r == 0; n++) {
		if (n == QM_LEASE_MAX)
			return qm_error_set(err, -E2BIG, "Usage", "more than %d leases",
					    QM_LEASE_MAX);
		r = qm_lease_check_path(given[n], "Usage", err);
	}
	return r;
}

/*
 * The leases belong to the VM, so they come from the VM's description: a
 * destination description (dst_domain_xml) only says how the destination
 * runs it, and a lease it alone named would not be handed over.  Refused.
 */
static int check_dst_leases(const char *dst_xml, const char *const *paths, size_t n,
			    struct qm_error *err)
{
	_cleanup_domain_ struct qm_domain *dst = NULL;
	int r;

	if (!dst_xml)
		return 0;
	r = qm_domain_parse(dst_xml, strlen(dst_xml), &dst, err);
	for (size_t i = 0; r == 0 && i < dst->n_leases; i++) {
		size_t k = 0;

		while (k < n && strcmp(paths[k], dst->leases[i].path) != 0)
			k++;
		if (k == n)
			r = qm_error_set(
				err, -EINVAL, "Usage",
				"the destination's description names the lease %s, "
				"which neither --lease nor the VM's description "
				"(--domain) names: a lease belongs to the VM, name it "
				"there",
				dst->leases[i].path);
	}
	return r;
}

int qm_job_leases_gather(const struct qm_job_options *o, char ***out,
			 struct qm_error *err)
{
	_cleanup_domain_ struct qm_domain *vm = NULL;
	const char *paths[QM_LEASE_MAX + 1] = { NULL };
	size_t n;
	int r;

	*out = NULL;
	r = check_given(o->leases, err);
	if (r == 0 && o->domain_xml)
		r = qm_domain_parse(o->domain_xml, strlen(o->domain_xml), &vm, err);
	if (r == 0)
		r = qm_lease_paths_merge(o->leases, vm, paths, &n, err);
	if (r == 0)
		r = check_dst_leases(o->dst_domain_xml, paths, n, err);
	if (r < 0 || n == 0)
		return r;
	if (o->policy.postcopy)
		return qm_error_set(err, -EINVAL, "Usage",
				    "leases do not work with post-copy: the destination "
				    "runs the VM before the source has stopped, so the "
				    "lease cannot move between the two");
	/*
	 * A QEMU we did not start may have fd sets a QMP client can drop: QEMU
	 * 7.2 closes the fds of a set no device opened when its last monitor
	 * disconnects, and only a QEMU started with a monitor that never
	 * disconnects (launch, dest-launch.c) keeps a lease it was handed.
	 */
	if (!o->launch_dest)
		return qm_error_set(
			err, -EINVAL, "Usage",
			"leases need --launch-dest: an attached destination "
			"QEMU would drop the lease it is handed as soon as its "
			"last QMP client disconnects");
	*out = qm_argv_dup(paths, 0);
	if (!*out)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	return 0;
}

int qm_job_lease_options_copy(struct qm_job *job, const struct qm_job_options *opts)
{
	for (size_t i = 0; i < QM_LEASE_MAX; i++) {
		qm_lease_init(&job->src_leases[i]);
		qm_lease_init(&job->dst_leases[i]);
	}
	job->opts.leases = NULL;
	if (!opts->leases || !opts->leases[0])
		return 0;
	job->lease_paths = qm_argv_dup(opts->leases, 0);
	if (!job->lease_paths)
		return -ENOMEM;
	job->opts.leases = (const char *const *)job->lease_paths;
	return 0;
}

void qm_job_leases_free(struct qm_job *job)
{
	qm_leases_close(job->src_leases, job->n_src_leases);
	qm_leases_close(job->dst_leases, job->n_dst_leases);
	job->n_src_leases = job->n_dst_leases = 0;
	qm_argv_free(job->lease_paths);
	job->lease_paths = NULL;
}

/* ---- begin: the source QEMU's leases --------------------------------------- */

/* The descriptor the source QEMU keeps for @path in its fd sets, or -1. */
static long fdset_fd(json_t *fdsets, const char *path)
{
	char opaque[sizeof(QM_LEASE_OPAQUE) + QM_LEASE_PATH_MAX];
	size_t i, j;
	json_t *set, *fd;

	snprintf(opaque, sizeof(opaque), "%s%s", QM_LEASE_OPAQUE, path);
	json_array_foreach(fdsets, i, set)
		json_array_foreach(json_object_get(set, "fds"), j, fd) {
			const char *o = json_string_value(json_object_get(fd, "opaque"));
			json_t *n = json_object_get(fd, "fd");

			if (o && strcmp(o, opaque) == 0 && json_is_integer(n))
				return (long)json_integer_value(n);
		}
	return -1;
}

static int not_held(const char *path, const char *why, struct qm_error *err)
{
	/*
	 * qmigrate cannot hand a lease to a QEMU 7.2 that runs already: QEMU
	 * closes an fd set no device opened as soon as its last QMP client
	 * disconnects, so the lease would drop when this job ends.  Only a
	 * QEMU started with its leases (and a monitor that never disconnects)
	 * holds them reliably.
	 */
	return qm_error_set(
		err, -ENOLCK, "LeaseNotHeld",
		"the source QEMU does not hold the lease %s (%s): start the VM "
		"with `qmigrate launch --lease %s` (or with the lease in its "
		"description)",
		path, why, path);
}

/* A copy of the source QEMU's descriptor of lease @i, checked to hold it. */
static int adopt_one(struct qm_job *job, json_t *fdsets, int pidfd, size_t i,
		     struct qm_error *err)
{
	const char *path = job->lease_paths[i];
	struct qm_lease *l = &job->src_leases[i];
	char uuid[37];
	long target = fdset_fd(fdsets, path);
	int fd, r;

	if (target < 0 || target > INT32_MAX)
		return not_held(path, "it is in none of its fd sets", err);
	if (pidfd < 0)
		return qm_error_set(
			err, pidfd, "LeaseNotHeld",
			"cannot reach the source QEMU's descriptors of the lease "
			"%s: %s",
			path, strerror(-pidfd));
	fd = pidfd_getfd(pidfd, (int)target, 0);
	if (fd < 0) {
		r = -errno;
		return qm_error_set(
			err, r, "LeaseNotHeld",
			"cannot take a copy of the source QEMU's descriptor %ld "
			"of the lease %s: %s%s",
			target, path, strerror(-r),
			r == -ENOSYS ? " (pidfd_getfd needs Linux 5.6 or later)" : "");
	}
	r = qm_lease_adopt_fd(fd, path, l, err);
	if (r < 0)
		return r;
	job->n_src_leases = i + 1;
	if (!l->held)
		return not_held(path, "its descriptor of the file is not locked", err);
	if (!qm_uuid_normalise(job->uuid, uuid) || strcmp(l->state.vm_uuid, uuid) != 0)
		return qm_error_set(
			err, -EINVAL, "LeaseVm",
			"the lease %s was taken for VM %s, not for this VM (%s): "
			"give each VM lease files of its own",
			path, l->state.vm_uuid, job->uuid);
	return 0;
}

int qm_source_leases_adopt(struct qm_job *job, json_t *fdsets)
{
	struct qm_error err = { 0 };
	int pidfd, r = 0;

	if (!job->lease_paths)
		return 0;
	pidfd = qm_qmp_peer_pidfd(job->src);
	for (size_t i = 0; job->lease_paths[i] && r == 0; i++)
		r = adopt_one(job, fdsets, pidfd, i, &err);
	if (pidfd >= 0)
		close(pidfd);
	if (r < 0) {
		/* Refused: the source keeps whatever it holds, untouched. */
		qm_leases_close(job->src_leases, job->n_src_leases);
		job->n_src_leases = 0;
		return qm_job_refuse(job, &err);
	}
	qm_info(job->ctx, "the source QEMU holds %zu lease%s", job->n_src_leases,
		job->n_src_leases == 1 ? "" : "s");
	return 0;
}

int qm_source_leases_cookie(struct qm_job *job, struct qm_cookie *c)
{
	struct qm_error err = { 0 };
	int r;

	if (job->n_src_leases == 0)
		return 0;
	r = qm_leases_to_cookie(job->src_leases, job->n_src_leases, &c->lockstate, &err);
	if (r < 0) {
		qm_job_fail(job, &err);
		return r;
	}
	c->features |= QM_COOKIE_LOCKSTATE;
	c->mandatory |= QM_COOKIE_LOCKSTATE;
	return 0;
}

/* ---- perform's end and confirm: the source lets go, or takes back ---------- */

int qm_source_leases_release(struct qm_job *job, struct qm_cookie *c)
{
	struct qm_error err = { 0 };
	int r;

	if (job->n_src_leases == 0)
		return 0;
	/* The source is paused: from now on neither side may run the VM until finish. */
	r = qm_leases_release(job->src_leases, job->n_src_leases, &err);
	if (r < 0) {
		qm_job_fail(job, &err);
		return r;
	}
	qm_info(job->ctx, "released %zu lease%s for the destination", job->n_src_leases,
		job->n_src_leases == 1 ? "" : "s");
	return qm_source_leases_cookie(job, c);
}

/* The generation the destination left lease @l at, as its cookie says; 0: unsaid. */
static uint64_t told_generation(const struct qm_cookie *c, const struct qm_lease *l)
{
	if (!(c->features & QM_COOKIE_LOCKSTATE))
		return 0;
	for (unsigned i = 0; i < c->lockstate.n_leases; i++)
		if (strcmp(c->lockstate.leases[i].path, l->path) == 0)
			return c->lockstate.leases[i].generation;
	return 0;
}

static int take_back_one(struct qm_lease *l, const struct qm_cookie *c,
			 struct qm_error *err)
{
	uint64_t gen = told_generation(c, l);

	if (l->held)
		return 0;
	/*
	 * The destination took it and gave it back: it is at the destination's
	 * generation.  Taken again for the host that held it, as retaking does.
	 */
	if (gen && gen != l->state.generation)
		return qm_lease_acquire(l, l->state.vm_uuid, l->state.owner, gen, err);
	return qm_lease_retake(l, err);
}

int qm_source_leases_take_back(struct qm_job *job)
{
	struct qm_cookie_check check = { 0 };
	struct qm_cookie c = { 0 };
	struct qm_error err = { 0 }, ignored = { 0 }, why = { 0 };
	int r = 0;

	if (job->n_src_leases == 0)
		return 0;
	if (job->cookie &&
	    qm_cookie_parse(job->cookie, strlen(job->cookie), &check, &c, &ignored) < 0)
		memset(&c, 0, sizeof(c));
	for (size_t i = 0; i < job->n_src_leases && r == 0; i++)
		r = take_back_one(&job->src_leases[i], &c, &err);
	if (r == 0)
		return 0;
	/*
	 * An exception to "the first error wins": the VM stays paused on the
	 * source, which is what the caller must act on; the first error is
	 * kept in the message.
	 */
	why = job->error;
	qm_error_clear(&job->error);
	qm_error_set(&job->error, err.code, err.error_class,
		     "the source cannot take its lease back, so it stays paused: %s "
		     "(after: %s)",
		     err.text, why.text[0] ? why.text : "the migration failed");
	qm_err(job->ctx, "%s", job->error.text);
	return r;
}

/* ---- prepare and finish: the destination ----------------------------------- */

/*
 * The leases of begin's cookie are here, as the source holds them: the
 * hosts share their filesystem.  A lease not here is refused before
 * opening, which would create it.
 */
int qm_dest_leases_check(struct qm_job *job, const struct qm_cookie *c)
{
	struct qm_lease ls[QM_LEASE_MAX];
	uint64_t expect[QM_LEASE_MAX];
	struct qm_error err = { 0 };
	struct stat st;
	size_t n = 0;
	int r = 0;

	if (!(c->features & QM_COOKIE_LOCKSTATE))
		return 0;
	for (unsigned i = 0; i < c->lockstate.n_leases && r == 0; i++)
		if (lstat(c->lockstate.leases[i].path, &st) < 0 && errno == ENOENT)
			r = qm_error_set(&err, -ENOENT, "LeaseFile",
					 "the lease %s is not on the destination host: "
					 "lease files must be on a filesystem both hosts "
					 "share",
					 c->lockstate.leases[i].path);
	if (r == 0)
		r = qm_leases_open_cookie(&c->lockstate, ls, &n, expect, &err);
	for (size_t i = 0; i < n && r == 0; i++)
		if (ls[i].state.generation != expect[i])
			r = qm_error_set(&err, -ESTALE, "LeaseGeneration",
					 "the lease %s is at generation %" PRIu64
					 " on the destination host, not %" PRIu64
					 " as the source says: the hosts do not share it",
					 ls[i].path, ls[i].state.generation, expect[i]);
	qm_leases_close(ls, n);
	if (r < 0)
		return qm_job_refuse(job, &err);
	job->dst_leased = n > 0;
	return 0;
}

int qm_dest_leases_open(struct qm_job *job, const struct qm_cookie *c)
{
	struct qm_error err = { 0 };
	int r;

	if (!(c->features & QM_COOKIE_LOCKSTATE) && !job->dst_leased)
		return 0;
	if (!(c->features & QM_COOKIE_LOCKSTATE))
		return qm_job_failf(
			job, -EPROTO, "CookieInvalid",
			"perform's cookie carries no lockstate, though the source "
			"holds leases");
	r = qm_leases_open_cookie(&c->lockstate, job->dst_leases, &job->n_dst_leases,
				  job->dst_expect, &err);
	if (r < 0)
		qm_job_fail(job, &err);
	return r;
}

static void handed(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	void (*next)(struct qm_job * job) = job->lease_next;

	if (err)
		qm_job_fail(job, err);
	if (!qm_job_failed(job))
		qm_info(job->ctx, "the destination QEMU holds %zu lease%s",
			job->n_dst_leases, job->n_dst_leases == 1 ? "" : "s");
	next(job);
}

/* All or none, remembering which were taken: their generation moved. */
static int take_all(struct qm_job *job, struct qm_error *err)
{
	struct qm_error ignored = { 0 };
	int r;

	for (size_t i = 0; i < job->n_dst_leases; i++) {
		r = qm_lease_acquire(&job->dst_leases[i], job->uuid, job->host_uuid,
				     job->dst_expect[i], err);
		if (r < 0) {
			if (qm_leases_release(job->dst_leases, i, &ignored) < 0)
				qm_error_clear(&ignored);
			return r;
		}
		job->dst_took[i] = true;
	}
	return 0;
}

void qm_dest_leases_take(struct qm_job *job, void (*next)(struct qm_job *job))
{
	struct qm_batch_cmd cmds[QM_LEASE_MAX];
	char opaque[sizeof(QM_LEASE_OPAQUE) + QM_LEASE_PATH_MAX];
	struct qm_error err = { 0 };

	if (job->n_dst_leases == 0) {
		next(job);
		return;
	}
	if (take_all(job, &err) < 0) {
		qm_job_fail(job, &err);
		next(job);
		return;
	}
	job->lease_next = next;
	/* QEMU keeps a copy of each description: the lease is held as long as it runs. */
	for (size_t i = 0; i < job->n_dst_leases; i++) {
		snprintf(opaque, sizeof(opaque), "%s%s", QM_LEASE_OPAQUE,
			 job->dst_leases[i].path);
		cmds[i] = (struct qm_batch_cmd){
			.name = "add-fd",
			.args = json_pack("{s:i, s:s}", "fdset-id",
					  QM_LEASE_FDSET + (int)i, "opaque", opaque),
			.pass_fd = true,
			.fd = job->dst_leases[i].fd,
		};
	}
	job->result.changed = true;
	qm_job_batch(job, job->dst, cmds, job->n_dst_leases, handed);
}

void qm_dest_leases_give_back(struct qm_job *job)
{
	struct qm_error err = { 0 };
	struct qm_cookie c;

	if (job->n_dst_leases == 0)
		return;
	/* QEMU's copies share the description: unlocked too, whatever QEMU does now. */
	if (qm_leases_release(job->dst_leases, job->n_dst_leases, &err) < 0) {
		qm_err(job->ctx, "cannot give the leases back: %s", err.text);
		return;
	}
	qm_job_cookie_init(job, &c, QM_COOKIE_LOCKSTATE);
	c.mandatory = QM_COOKIE_LOCKSTATE;
	snprintf(c.lockstate.driver, sizeof(c.lockstate.driver), "fcntl");
	c.lockstate.n_leases = (unsigned)job->n_dst_leases;
	/* Those taken are at the generation this side wrote; the others as they came. */
	for (size_t i = 0; i < job->n_dst_leases; i++) {
		struct qm_cookie_lease *cl = &c.lockstate.leases[i];

		snprintf(cl->path, sizeof(cl->path), "%s", job->dst_leases[i].path);
		cl->generation = job->dst_took[i] ? job->dst_leases[i].state.generation
						  : job->dst_expect[i];
	}
	qm_job_emit_cookie(job, &c);
}
