/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The leases through the phases, against fake QEMUs and real lease files.
 * The fake source QEMU is this process: the descriptor its query-fdsets
 * names is one of the test's, which begin copies with pidfd_getfd (allowed
 * on one's own pid).  That descriptor, kept open by the test, stands for
 * the source QEMU's: whether its description holds the lock is what the
 * source QEMU would hold.
 */
#include <criterion/criterion.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/job.h"
#include "engine/lease.h"
#include "tests/helpers/engine-harness.h"
#include "util/error.h"
#include "xml/domain-argv.h"

#define HOST "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4"
#define OTHER_HOST "9f8e7d6c-5b4a-4392-8171-605f4e3d2c1b"

struct leased {
	char dir[64];
	char path[128];
	const char *paths[2];
	struct qm_lease src; /* the source QEMU's description */
	struct stat st;
	char fdsets[512];      /* query-fdsets' reply on the source */
	char add_fd_args[512]; /* what the destination must be handed */
	struct qm_lease third; /* a third party's, when it takes the lease */
	char cookie_gen[32];   /* perform's cookie, as finish began */
	bool was_free_at_finish, held_at_confirm;
};

static void leased_init(struct leased *t, bool lock)
{
	struct qm_error err = { 0 };

	snprintf(t->dir, sizeof(t->dir), "/tmp/qmigrate-lease-XXXXXX");
	cr_assert(mkdtemp(t->dir));
	snprintf(t->path, sizeof(t->path), "%s/vm.lease", t->dir);
	t->paths[0] = t->path;
	t->paths[1] = NULL;
	cr_assert_eq(qm_lease_open(t->path, &t->src, &err), 0, "%s", err.text);
	if (lock)
		cr_assert_eq(
			qm_lease_acquire(&t->src, UUID, HOST, QM_LEASE_ANY_GEN, &err), 0,
			"%s", err.text);
	cr_assert_eq(stat(t->path, &t->st), 0);
	snprintf(t->fdsets, sizeof(t->fdsets),
		 "{\"return\": [{\"fdset-id\": 1000, \"fds\": [{\"fd\": %d, \"opaque\": "
		 "\"qmigrate-lease:%s\"}]}]}",
		 t->src.fd, t->path);
	snprintf(t->add_fd_args, sizeof(t->add_fd_args),
		 "{\"fdset-id\": 1000, \"opaque\": \"qmigrate-lease:%s\"}", t->path);
	qm_lease_init(&t->third);
}

static void leased_fini(struct leased *t)
{
	qm_lease_close(&t->src);
	qm_lease_close(&t->third);
	unlink(t->path);
	rmdir(t->dir);
}

/* Whether any description holds the lease: what a new taker would find. */
static bool locked(const char *path)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };
	int fd = open(path, O_RDWR | O_CLOEXEC);

	cr_assert_geq(fd, 0);
	cr_assert_eq(fcntl(fd, F_OFD_GETLK, &fl), 0);
	close(fd);
	return fl.l_type != F_UNLCK;
}

static uint64_t generation(const char *path)
{
	char buf[QM_LEASE_FILE_MAX];
	struct qm_lease_state st;
	struct qm_error err = { 0 };
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	cr_assert_geq(fd, 0);
	n = read(fd, buf, sizeof(buf));
	close(fd);
	cr_assert_geq(n, 0);
	cr_assert_eq(qm_lease_text_parse(buf, (size_t)n, path, &st, &err), 0, "%s",
		     err.text);
	return st.generation;
}

static void watch(struct run *run, struct qm_job *job, enum qm_phase phase)
{
	struct leased *t = run->hook_data;
	struct qm_cookie_check check = { 0 };
	struct qm_cookie c;
	struct qm_error err = { 0 };

	if (phase == QM_PHASE_FINISH && !qm_job_failed(job)) {
		/* Perform's cookie carries the leases, released, under a mandatory
		 * feature. */
		cr_assert_eq(qm_cookie_parse(job->cookie, strlen(job->cookie),
					     &check, &c, &err),
			     0, "%s", err.text);
		cr_assert(c.features & QM_COOKIE_LOCKSTATE);
		cr_assert(c.mandatory & QM_COOKIE_LOCKSTATE);
		cr_assert_eq(c.lockstate.n_leases, 1);
		cr_assert_str_eq(c.lockstate.leases[0].path, t->path);
		snprintf(t->cookie_gen, sizeof(t->cookie_gen), "%llu",
			 (unsigned long long)c.lockstate.leases[0].generation);
		t->was_free_at_finish = !locked(t->path);
	}
	if (phase == QM_PHASE_CONFIRM)
		t->held_at_confirm = locked(t->path);
}

/* A third party takes the lease while finish gives it back. */
static void grab(struct run *run, struct qm_job *job, enum qm_phase phase)
{
	struct leased *t = run->hook_data;
	struct qm_error err = { 0 };

	(void)job;
	if (phase != QM_PHASE_CONFIRM)
		return;
	cr_assert_eq(qm_lease_open(t->path, &t->third, &err), 0, "%s", err.text);
	cr_assert_eq(
		qm_lease_acquire(&t->third, UUID, OTHER_HOST, QM_LEASE_ANY_GEN, &err), 0,
		"%s", err.text);
}

#define FDSETS(t) FQ_EXPECT("query-fdsets", 8), FQ_REPLY_TEXT(8, (t).fdsets)
/* Finish up to the leases: the destination loaded the VM and waits. */
#define DST_LOADED                                                                       \
	FQ_EXPECT("query-status", 5), FQ_EXPECT("query-migrate", 6),                     \
		R(5, STATUS("paused")), R(6, "{\"status\": \"completed\"}")
#define ADD_FD(t)                                                                        \
	{ .op = FQ_OP_EXPECT,                                                            \
	  .name = "add-fd",                                                              \
	  .slot = 9,                                                                     \
	  .args = (t).add_fd_args,                                                       \
	  .fd = true,                                                                    \
	  .fd_type = S_IFREG,                                                            \
	  .fd_same = &(t).st,                                                            \
	  .fd_keep = true },                                                             \
		R(9, "{\"fdset-id\": 1000, \"fd\": 42}")
#define CONT_REFUSED                                                                     \
	FQ_EXPECT("cont", 7), FQ_EXPECT("query-status", 8),                              \
		FQ_REPLY_TEXT(7, "{\"error\": {\"class\": \"GenericError\", \"desc\": "  \
				 "\"cont refused\"}}"),                                  \
		R(8, STATUS("paused"))
/* Perform completes: the source is paused. */
#define SRC_COMPLETED                                                                    \
	EVENT("MIGRATION", "{\"status\": \"completed\"}"),                               \
		FQ_EXPECT("query-migrate", 3), R(3, COMPLETED)

/* Up to confirm after a failed finish: the source, paused, is asked its state. */
#define SRC_HANDED_OVER(t)                                                               \
	SRC_BEGIN, FDSETS(t), SRC_MIGRATE, SRC_COMPLETED, FQ_EXPECT("query-status", 4),  \
		R(4, STATUS("paused"))
/* The destination takes the lease, refuses cont, gives it back and is stopped. */
#define DST_CONT_FAILS(t)                                                                \
	DST_PREPARE, DST_LOADED, ADD_FD(t), CONT_REFUSED, QUIT_AND_GO(10)

/*
 * The VM's description, holding a lease for each of @paths (NULL-terminated);
 * free() it.
 */
static char *description(const char *const *paths)
{
	char *xml = NULL, *more;

	cr_assert(asprintf(&xml,
			   "<domain type=\"qemu\"><name>vm1</name><uuid>%s</uuid>"
			   "<memory>65536</memory><os><type>hvm</type></os><devices>",
			   UUID) > 0);
	for (; *paths; paths++) {
		cr_assert(asprintf(&more, "%s<lease><target path=\"%s\"/></lease>", xml,
				   *paths) > 0);
		free(xml);
		xml = more;
	}
	cr_assert(asprintf(&more, "%s</devices></domain>", xml) > 0);
	free(xml);
	return more;
}

/* The lease, named by @leases, the description @domain_xml or both, moves. */
static void expect_handover(struct leased *t, const char *const *leases,
			    const char *domain_xml)
{
	const struct fq_step src[] = { SRC_BEGIN, FDSETS(*t), SRC_MIGRATE, SRC_COMPLETES,
				       FQ_END };
	const struct fq_step dst[] = { DST_PREPARE,
				       DST_LOADED,
				       ADD_FD(*t),
				       FQ_EXPECT("cont", 7),
				       FQ_EXPECT("query-status", 8),
				       R(7, "{}"),
				       R(8, RUNNING),
				       FQ_END };
	struct run run = { .leases = leases,
			   .domain_xml = domain_xml,
			   .host_uuid = HOST,
			   .on_phase = watch,
			   .hook_data = t };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s: %s",
		     run.result.error.error_class, run.result.error.text);
	cr_assert_eq(run.result.vm, QM_VM_DESTINATION);
	/* Released after perform, at the generation the source took it. */
	cr_assert_str_eq(t->cookie_gen, "1");
	cr_assert(t->was_free_at_finish,
		  "the source still held the lease when finish began");
	/* Held at confirm: by the destination's copy (add-fd, kept by its QEMU). */
	cr_assert(t->held_at_confirm);
	cr_assert_eq(generation(t->path), 2);
	/* Its QEMU and the job gone, nothing holds it: not the source's description. */
	cr_assert_not(locked(t->path));
}

Test(engine_lease, the_lease_moves_from_the_source_to_the_destination_before_cont)
{
	struct leased t;

	leased_init(&t, true);
	expect_handover(&t, t.paths, NULL);
	leased_fini(&t);
}

Test(engine_lease, a_lease_only_in_the_description_is_adopted_and_moves)
{
	struct leased t;

	leased_init(&t, true);
	_cleanup_free_ char *xml = description(t.paths);

	expect_handover(&t, NULL, xml);
	leased_fini(&t);
}

/* One lease, one add-fd: the script has no room for a second. */
Test(engine_lease, a_lease_both_given_and_described_moves_once)
{
	struct leased t;

	leased_init(&t, true);
	_cleanup_free_ char *xml = description(t.paths);

	expect_handover(&t, t.paths, xml);
	leased_fini(&t);
}

Test(engine_lease, the_job_s_leases_are_the_given_ones_then_the_description_s_new_ones)
{
	const char *given[] = { "/tmp/b.lease", "/tmp/a.lease", NULL };
	const char *described[] = { "/tmp/a.lease", "/tmp/c.lease", NULL };
	_cleanup_free_ char *xml = description(described);
	struct qm_job_options o = { .launch_dest = true,
				    .leases = given,
				    .domain_xml = xml };
	struct qm_error err = { 0 };
	char **out;

	cr_assert_eq(qm_job_leases_gather(&o, &out, &err), 0, "%s", err.text);
	cr_assert_eq(qm_argv_len((const char *const *)out), 3);
	cr_expect_str_eq(out[0], "/tmp/b.lease");
	cr_expect_str_eq(out[1], "/tmp/a.lease");
	cr_expect_str_eq(out[2], "/tmp/c.lease");
	qm_argv_free(out);
	o.leases = NULL;
	cr_assert_eq(qm_job_leases_gather(&o, &out, &err), 0, "%s", err.text);
	cr_assert_eq(qm_argv_len((const char *const *)out), 2);
	cr_expect_str_eq(out[0], "/tmp/a.lease");
	qm_argv_free(out);
	o.domain_xml = NULL;
	cr_assert_eq(qm_job_leases_gather(&o, &out, &err), 0, "%s", err.text);
	cr_expect_null(out);
}

Test(engine_lease, a_failed_cont_gives_the_lease_back_to_the_source_which_resumes)
{
	struct leased t;

	leased_init(&t, true);
	const struct fq_step src[] = { SRC_HANDED_OVER(t), FQ_EXPECT("cont", 5),
				       R(5, "{}"),	   FQ_EXPECT("query-status", 6),
				       R(6, RUNNING),	   FQ_END };
	const struct fq_step dst[] = { DST_PREPARE,  DST_LOADED,      ADD_FD(t),
				       CONT_REFUSED, QUIT_AND_GO(10), FQ_END };
	struct run run = {
		.leases = t.paths, .host_uuid = HOST, .on_phase = watch, .hook_data = &t
	};

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(run.result.error.error_class, "GenericError", "%s",
			 run.result.error.text);
	cr_assert(strstr(run.result.error.text, "cont refused"), "%s",
		  run.result.error.text);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
	/* The destination had given it back by confirm. */
	cr_assert_not(t.held_at_confirm);
	/* 1 the source, 2 the destination, 3 the source again: on the source's
	 * description. */
	cr_assert_eq(generation(t.path), 3);
	cr_assert(locked(t.path),
		  "the source QEMU's description does not hold the lease");
	cr_assert_eq(qm_lease_release(&t.src, &(struct qm_error){ 0 }), 0);
	cr_assert_not(locked(t.path));
	leased_fini(&t);
}

Test(engine_lease, a_lease_taken_meanwhile_leaves_the_source_paused_naming_it)
{
	struct leased t;

	leased_init(&t, true);
	const struct fq_step src[] = { SRC_HANDED_OVER(t), FQ_END };
	const struct fq_step dst[] = { DST_PREPARE,  DST_LOADED,      ADD_FD(t),
				       CONT_REFUSED, QUIT_AND_GO(10), FQ_END };
	struct run run = {
		.leases = t.paths, .host_uuid = HOST, .on_phase = grab, .hook_data = &t
	};

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE_PAUSED);
	cr_assert_str_eq(run.result.error.error_class, "LeaseHeld", "%s",
			 run.result.error.text);
	cr_assert(strstr(run.result.error.text, t.path), "%s", run.result.error.text);
	cr_assert(strstr(run.result.error.text, "stays paused"), "%s",
		  run.result.error.text);
	cr_assert(strstr(run.result.error.text, OTHER_HOST), "%s", run.result.error.text);
	cr_assert(strstr(run.result.error.text, "cont refused"), "%s",
		  run.result.error.text);
	cr_assert_eq(generation(t.path), 3);
	leased_fini(&t);
}

/* Begin finds @fdsets on the source: refused, nothing changed, the VM runs there. */
static void expect_not_held(struct leased *t, const char *fdsets, const char *why)
{
	const struct fq_step src[] = { SRC_BEGIN,
				       FQ_EXPECT("query-fdsets", 8),
				       FQ_REPLY_TEXT(8, fdsets),
				       FQ_EXPECT("query-status", 9),
				       R(9, RUNNING),
				       FQ_END };
	const struct fq_step dst[] = { FQ_HANDSHAKE, FQ_END };
	struct run run = { .leases = t->paths, .host_uuid = HOST };
	char hint[192];

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(run.result.error.error_class, "LeaseNotHeld", "%s",
			 run.result.error.text);
	snprintf(hint, sizeof(hint), "qmigrate launch --lease %s", t->path);
	cr_assert(strstr(run.result.error.text, hint), "%s", run.result.error.text);
	cr_assert(strstr(run.result.error.text, why), "%s", run.result.error.text);
	cr_assert_not(run.result.changed);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
}

Test(engine_lease, a_source_without_the_lease_in_its_fd_sets_is_refused)
{
	struct leased t;

	leased_init(&t, true);
	expect_not_held(&t, "{\"return\": []}", "none of its fd sets");
	leased_fini(&t);
}

Test(engine_lease, a_source_whose_lease_descriptor_is_not_locked_is_refused)
{
	struct leased t;

	leased_init(&t, false);
	expect_not_held(&t, t.fdsets, "not locked");
	cr_assert_not(locked(t.path));
	leased_fini(&t);
}

static void expect_usage(struct qm_job_options *o, const char *piece)
{
	const char *leases[] = { "/tmp/qmigrate-no-such.lease", NULL };
	/* With a description, its leases are the ones: none given. */
	const char *const *given = o->leases || o->domain_xml ? o->leases : leases;
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_error err = { 0 };
	struct qm_job *job;

	o->src_qmp = "/tmp/qmigrate-src.sock";
	o->leases = given;
	job = qm_job_new(ctx, loop, o, NULL, NULL, &err);
	cr_assert_null(job);
	cr_assert_str_eq(err.error_class, "Usage", "%s", err.text);
	cr_assert(strstr(err.text, piece), "%s", err.text);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
}

Test(engine_lease, leases_with_post_copy_are_refused_up_front)
{
	struct qm_job_options o = { .launch_dest = true, .policy = { .postcopy = true } };

	expect_usage(&o, "the destination runs the VM before the source has stopped");
}

Test(engine_lease, leases_with_an_attached_destination_are_refused_up_front)
{
	struct qm_job_options o = { .dst_qmp = "/tmp/qmigrate-dst.sock" };

	expect_usage(&o, "--launch-dest");
}

Test(engine_lease, a_lease_named_twice_is_refused_up_front)
{
	const char *twice[] = { "/tmp/a.lease", "/tmp/b.lease", "/tmp/a.lease", NULL };
	struct qm_job_options o = { .launch_dest = true, .leases = twice };

	expect_usage(&o, "the lease /tmp/a.lease is named twice");
}

Test(engine_lease, a_described_lease_with_post_copy_is_refused_up_front)
{
	const char *described[] = { "/tmp/a.lease", NULL };
	_cleanup_free_ char *xml = description(described);
	struct qm_job_options o = { .launch_dest = true,
				    .domain_xml = xml,
				    .policy = { .postcopy = true } };

	expect_usage(&o, "leases do not work with post-copy");
}

Test(engine_lease, more_than_8_leases_given_and_described_together_are_refused)
{
	const char *given[] = { "/tmp/1", "/tmp/2", "/tmp/3", "/tmp/4", "/tmp/5", NULL };
	const char *described[] = {
		"/tmp/5", "/tmp/6", "/tmp/7", "/tmp/8", "/tmp/9", NULL
	};
	_cleanup_free_ char *xml = description(described);
	struct qm_job_options o = { .launch_dest = true,
				    .leases = given,
				    .domain_xml = xml };

	expect_usage(&o, "more than 8 leases (--lease and the description's");
}

Test(engine_lease, a_lease_only_the_destination_s_description_names_is_refused)
{
	const char *described[] = { "/tmp/a.lease", NULL };
	const char *dst_described[] = { "/tmp/a.lease", "/tmp/b.lease", NULL };
	_cleanup_free_ char *xml = description(described);
	_cleanup_free_ char *dst_xml = description(dst_described);
	struct qm_job_options o = { .launch_dest = true,
				    .domain_xml = xml,
				    .dst_domain_xml = dst_xml };

	expect_usage(&o, "the destination's description names the lease /tmp/b.lease");
}

Test(engine_lease, a_relative_lease_path_is_refused_up_front)
{
	const char *relative[] = { "vm.lease", NULL };
	struct qm_job_options o = { .launch_dest = true, .leases = relative };

	expect_usage(&o, "is not absolute: give the absolute path");
}

/* The destination does not see the lease file: the hosts share no filesystem. */
static void hide(struct run *run, struct qm_job *job, enum qm_phase phase)
{
	struct leased *t = run->hook_data;
	char away[160];

	(void)job;
	snprintf(away, sizeof(away), "%s.away", t->path);
	if (phase == QM_PHASE_PREPARE)
		cr_assert_eq(rename(t->path, away), 0);
}

Test(engine_lease, a_destination_without_the_lease_file_is_refused_in_prepare)
{
	struct leased t;
	char away[160];
	struct stat st;

	leased_init(&t, true);
	const struct fq_step src[] = { SRC_BEGIN, FDSETS(t), FQ_EXPECT("query-status", 9),
				       R(9, RUNNING), FQ_END };
	const struct fq_step dst[] = { FQ_HANDSHAKE, FQ_END };
	struct run run = {
		.leases = t.paths, .host_uuid = HOST, .on_phase = hide, .hook_data = &t
	};

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(run.result.error.error_class, "LeaseFile", "%s",
			 run.result.error.text);
	cr_assert(strstr(run.result.error.text, "not on the destination host"), "%s",
		  run.result.error.text);
	cr_assert_not(run.result.changed);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
	/* Not created there; the source still holds it. */
	cr_assert_eq(lstat(t.path, &st), -1);
	snprintf(away, sizeof(away), "%s.away", t.path);
	cr_assert_eq(rename(away, t.path), 0);
	cr_assert(locked(t.path));
	cr_assert_eq(generation(t.path), 1);
	leased_fini(&t);
}
