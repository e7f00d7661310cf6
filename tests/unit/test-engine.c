/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The migration job's phases against two scripted fake QMP servers, one per
 * side.  Polling is switched off (a huge interval) so that only the scripted
 * MIGRATION events drive the monitor and every script is deterministic.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <limits.h>
#include <ev.h>
#include <sys/stat.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/helpers/fake-qmp.h"

#define R(slot, json) FQ_REPLY_TEXT(slot, "{\"return\": " json "}")
#define EVENT(name, data)                                                                  \
	FQ_SEND_TEXT("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"" name \
		     "\", \"data\": " data "}")
#define STATUS(s) "{\"status\": \"" s "\", \"singlestep\": false, \"running\": false}"
#define RUNNING "{\"status\": \"running\", \"singlestep\": false, \"running\": true}"
#define UUID "4c6f7e2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
#define CAPS "[{\"state\": false, \"capability\": \"events\"}," \
	" {\"state\": false, \"capability\": \"postcopy-ram\"}]"
#define COMPLETED                                                                          \
	"{\"status\": \"completed\", \"setup-time\": 3, \"downtime\": 17, \"total-time\": 1234," \
	" \"ram\": {\"transferred\": 268435456, \"remaining\": 0, \"total\": 268435456,"       \
	" \"dirty-sync-count\": 4, \"mbps\": 1000}}"
#define ACTIVE                                                                             \
	"{\"status\": \"active\", \"total-time\": 10, \"expected-downtime\": 300,"             \
	" \"ram\": {\"transferred\": 1000, \"remaining\": 3000, \"total\": 4000,"              \
	" \"dirty-sync-count\": 1, \"mbps\": 800}}"

/* Begin on the source: the VM runs, is named vm1 and has a uuid. */
#define SRC_BEGIN                                                                          \
	FQ_HANDSHAKE, FQ_EXPECT("query-status", 0), FQ_EXPECT("query-migrate", 1),          \
		FQ_EXPECT("query-name", 2), FQ_EXPECT("query-uuid", 3),                   \
		FQ_EXPECT("query-migrate-capabilities", 4), R(0, RUNNING), R(1, "{}"),      \
		R(2, "{\"name\": \"vm1\"}"), R(3, "{\"UUID\": \"" UUID "\"}"), R(4, CAPS)
/* Begin with the source offering the capabilities @caps (a JSON array). */
#define SRC_BEGIN_WITH_CAPS(caps)                                                          \
	FQ_HANDSHAKE, FQ_EXPECT("query-status", 0), FQ_EXPECT("query-migrate", 1),          \
		FQ_EXPECT("query-name", 2), FQ_EXPECT("query-uuid", 3),                   \
		FQ_EXPECT("query-migrate-capabilities", 4), R(0, RUNNING), R(1, "{}"),      \
		R(2, "{\"name\": \"vm1\"}"), R(3, "{\"UUID\": \"" UUID "\"}"), R(4, caps)
/* Prepare on the destination: a QEMU waiting with -incoming defer, no name or uuid. */
#define DST_CHECKS                                                                         \
	FQ_HANDSHAKE, FQ_EXPECT("query-status", 0), FQ_EXPECT("query-name", 1),             \
		FQ_EXPECT("query-uuid", 2), FQ_EXPECT("query-migrate-capabilities", 10),    \
		R(0, STATUS("inmigrate")), R(1, "{}"),                                     \
		R(2, "{\"UUID\": \"00000000-0000-0000-0000-000000000000\"}"), R(10, CAPS)
#define DST_PREPARE                                                                        \
	DST_CHECKS, FQ_EXPECT("migrate-set-capabilities", 3),                              \
		FQ_EXPECT("migrate-incoming", 4), R(3, "{}"), R(4, "{}")
/* Finish on a destination that completed: it is resumed. */
#define DST_RESUMES                                                                        \
	FQ_EXPECT("query-status", 5), FQ_EXPECT("query-migrate", 6), R(5, STATUS("paused")), \
		R(6, "{\"status\": \"completed\"}"), FQ_EXPECT("cont", 7),                \
		FQ_EXPECT("query-status", 8), R(7, "{}"), R(8, RUNNING)
/* Perform on the source up to the migrate command. */
/* Without --bandwidth the stream is not capped: QEMU's own 128 MiB/s default is lifted. */
#define SRC_MIGRATE                                                                        \
	FQ_EXPECT("migrate-set-capabilities", 0),                                          \
		{ .op = FQ_OP_EXPECT,                                                      \
		  .name = "migrate-set-parameters",                                        \
		  .slot = 1,                                                               \
		  .args = "{\"max-bandwidth\": 9223372036853727232}" },                     \
		R(0, "{}"), R(1, "{}"), FQ_EXPECT("migrate", 2), R(2, "{}")
/* The first sample shows an active migration; the test cancels on it. */
#define SRC_ACTIVE_THEN_CANCEL                                                             \
	EVENT("MIGRATION", "{\"status\": \"active\"}"), FQ_EXPECT("query-migrate", 3),       \
		R(3, ACTIVE), FQ_EXPECT("migrate_cancel", 4), R(4, "{}")
#define QUIT_AND_GO(slot) FQ_EXPECT("quit", slot), R(slot, "{}"), FQ_HANGUP

struct run {
	struct qm_result result;
	bool done;
	enum qm_phase phases[16];
	int n_phases;
	int n_progress;
	struct qm_progress last;  /* the last sample reported */
	char last_status[32];	  /* its status */
	const char *dir;      /* the parent of the job's runtime directory */
	int runtime_mode;     /* its permission bits, seen when perform starts */
	bool cancel_on_progress;
	unsigned multifd; /* --multifd for this run */
	double cancel_timeout;
	enum qm_transport transport;
	struct fq *resume_on_progress;
	struct qm_job *job;
};

/* The mode of the one qmigrate-* directory in @dir, or -1. */
static int runtime_dir_mode(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];
	struct stat st;
	int mode = -1;

	cr_assert(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "qmigrate-", 9) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			cr_assert_eq(lstat(path, &st), 0);
			cr_assert(S_ISDIR(st.st_mode));
			mode = st.st_mode & 07777;
		}
	closedir(d);
	return mode;
}

static void on_phase(struct qm_job *job, enum qm_phase phase, void *ud)
{
	struct run *run = ud;

	cr_assert_lt(run->n_phases, 16);
	run->phases[run->n_phases++] = phase;
	if (phase == QM_PHASE_PERFORM)
		run->runtime_mode = runtime_dir_mode(run->dir);
}

static void on_progress(struct qm_job *job, const struct qm_progress *p, void *ud)
{
	struct run *run = ud;

	run->n_progress++;
	run->last = *p;
	snprintf(run->last_status, sizeof(run->last_status), "%s", p->status);
	if (run->cancel_on_progress)
		cr_assert_eq(qm_job_cancel(job), 0);
	if (run->resume_on_progress)
		fq_resume(run->resume_on_progress);
}

static void on_done(struct qm_job *job, const struct qm_result *r, void *ud)
{
	struct run *run = ud;

	cr_assert_not(run->done, "done called twice");
	run->result = *r;
	run->done = true;
}

static void migrate_with(struct run *run, const struct fq_step *src_script,
			 const struct fq_step *dst_script, bool dst_waits)
{
	struct qm_job_callbacks cbs = { .phase = on_phase, .progress = on_progress, .done = on_done };
	char dir[] = "/tmp/qmigrate-engine-XXXXXX", src[64], dst[64];
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_error err = { 0 };
	struct qm_ctx *ctx = qm_ctx_new();
	struct fq *fsrc, *fdst;

	cr_assert(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	fsrc = fq_listen(loop, src, src_script);
	fdst = fq_listen(loop, dst, dst_script);
	run->dir = dir;
	run->runtime_mode = -1;
	if (dst_waits)
		run->resume_on_progress = fdst;
	struct qm_job_options opts = {
		.src_qmp = src,
		.dst_qmp = dst,
		.transport = run->transport,
		.runtime_dir = dir,
		.poll_interval = 1e6,
		.multifd_channels = run->multifd,
		.cancel_timeout = run->cancel_timeout,
	};
	run->job = qm_job_new(ctx, loop, &opts, &cbs, run, &err);
	cr_assert(run->job, "%s", err.text);
	cr_assert_eq(qm_job_start(run->job, &err), 0, "%s", err.text);
	cr_assert_not(run->done, "the result came inside qm_job_start");
	while (!run->done)
		ev_run(loop, EVRUN_ONCE);
	/* Let the servers see the last bytes and hang-ups. */
	while (!fq_finished(fsrc) || !fq_finished(fdst))
		ev_run(loop, EVRUN_NOWAIT);
	qm_job_unref(run->job);
	fq_free(fsrc);
	fq_free(fdst);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	unlink(src);
	unlink(dst);
	/* The job removed its private runtime directory inside ours. */
	cr_assert_eq(rmdir(dir), 0, "runtime directory left behind");
	/* Phases only move forward. */
	for (int i = 1; i < run->n_phases; i++)
		cr_assert_gt(run->phases[i], run->phases[i - 1]);
	cr_assert_eq(run->phases[run->n_phases - 1], QM_PHASE_DONE);
}

TestSuite(engine, .timeout = 20);

Test(engine, completed_migration_runs_all_phases_and_reports_qemu_figures)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		EVENT("MIGRATION", "{\"status\": \"completed\"}"),
		FQ_EXPECT("query-migrate", 3),
		R(3, COMPLETED),
		QUIT_AND_GO(4),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		DST_RESUMES,
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert_eq(run.result.vm, QM_VM_DESTINATION);
	cr_assert(run.result.was_running);
	cr_assert_eq(run.result.total_ms, 1234);
	cr_assert_eq(run.result.downtime_ms, 17);
	cr_assert_eq(run.result.setup_ms, 3);
	cr_assert_eq(run.result.transferred_bytes, 268435456ULL);
	cr_assert_eq(run.result.passes, 4);
	cr_assert_float_eq(run.result.throughput_mbps, 268435456.0 * 8 / 1e6 / 1.234, 1e-6);
	cr_assert_eq(run.n_phases, 6);
	for (int i = 0; i < QM_PHASE_DONE; i++)
		cr_assert_geq(run.result.phase_ms[i], 0, "phase %d has no time", i);
	cr_assert_not(qm_error_is_set(&run.result.error));
	/* The one sample is the final one, full, with QEMU's final figures. */
	cr_assert_eq(run.n_progress, 1);
	cr_assert_str_eq(run.last_status, "completed");
	cr_assert_float_eq(run.last.percent, 100.0, 1e-9);
	cr_assert_eq(run.last.transferred_bytes, 268435456ULL);
	cr_assert_eq(run.last.remaining_bytes, 0);
	/* The stream's socket lives in a private directory only this user can enter. */
	cr_assert_eq(run.runtime_mode, 0700, "runtime directory mode %o", run.runtime_mode);
}

/* getfd with a pipe, checked to be one, for the fd: URI below. */
#define GETFD_PIPE(s)                                                                   \
	{ .op = FQ_OP_EXPECT,                                                              \
	  .name = "getfd",                                                                 \
	  .slot = (s),                                                                     \
	  .args = "{\"fdname\": \"qmigrate-tunnel\"}",                                      \
	  .fd = true,                                                                      \
	  .fd_type = S_IFIFO }
#define FD_URI "{\"uri\": \"fd:qmigrate-tunnel\"}"
/* Prepare on a destination that reads the tunnel's pipe as its fd: incoming. */
#define DST_PREPARE_PIPE                                                                   \
	DST_CHECKS, FQ_EXPECT("migrate-set-capabilities", 3), GETFD_PIPE(11),               \
		{ .op = FQ_OP_EXPECT, .name = "migrate-incoming", .slot = 4, .args = FD_URI }, \
		R(3, "{}"), R(11, "{}"), R(4, "{}")

Test(engine, plain_tunnel_passes_each_qemu_a_pipe_for_an_fd_uri)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		FQ_EXPECT("migrate-set-capabilities", 0),
		FQ_EXPECT("migrate-set-parameters", 1),
		GETFD_PIPE(2),
		R(0, "{}"),
		R(1, "{}"),
		R(2, "{}"),
		{ .op = FQ_OP_EXPECT, .name = "migrate", .slot = 3, .args = FD_URI },
		R(3, "{}"),
		EVENT("MIGRATION", "{\"status\": \"completed\"}"),
		FQ_EXPECT("query-migrate", 4),
		R(4, COMPLETED),
		QUIT_AND_GO(5),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE_PIPE,
		DST_RESUMES,
		FQ_END,
	};
	struct run run = { .transport = QM_TRANSPORT_TUNNEL };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert_eq(run.result.vm, QM_VM_DESTINATION);
}

Test(engine, failed_finish_quits_destination_and_resumes_source)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		EVENT("MIGRATION", "{\"status\": \"completed\"}"),
		FQ_EXPECT("query-migrate", 3),
		R(3, COMPLETED),
		/* confirm rolls back: the source sits in postmigrate and was running */
		FQ_EXPECT("query-status", 4),
		R(4, STATUS("postmigrate")),
		FQ_EXPECT("cont", 5),
		R(5, "{}"),
		FQ_EXPECT("query-status", 6),
		R(6, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		FQ_EXPECT("query-status", 5),
		FQ_EXPECT("query-migrate", 6),
		R(5, STATUS("paused")),
		R(6, "{\"status\": \"completed\"}"),
		FQ_EXPECT("cont", 7),
		FQ_EXPECT("query-status", 8),
		FQ_REPLY_TEXT(7, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"cannot start: device gone\"}}"),
		R(8, STATUS("paused")),
		QUIT_AND_GO(9),
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
	cr_assert_str_eq(run.result.error.error_class, "GenericError");
	cr_assert_str_eq(run.result.error.text, "cannot start: device gone");
}

Test(engine, perform_error_wins_over_later_finish_and_confirm_errors)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		EVENT("MIGRATION", "{\"status\": \"failed\"}"),
		FQ_EXPECT("query-migrate", 3),
		R(3, "{\"status\": \"failed\", \"error-desc\": \"Unable to write to socket: Broken pipe\"}"),
		FQ_EXPECT("query-status", 4),
		R(4, STATUS("paused")),
		FQ_EXPECT("cont", 5),
		FQ_REPLY_TEXT(5, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"resume refused\"}}"),
		FQ_EXPECT("query-status", 6),
		R(6, STATUS("paused")),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		/* before blaming the stream, the engine checks the destination is there */
		FQ_EXPECT("query-status", 7),
		R(7, STATUS("inmigrate")),
		FQ_EXPECT("quit", 5),
		FQ_REPLY_TEXT(5, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"quit refused\"}}"),
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(run.result.error.error_class, "MigrationFailed");
	cr_assert(strstr(run.result.error.text, "Broken pipe"), "%s", run.result.error.text);
	/* It was running and could not be resumed: paused on the source, state intact. */
	cr_assert_eq(run.result.vm, QM_VM_SOURCE_PAUSED);
	cr_assert(run.result.was_running);
}

Test(engine, cancel_during_perform_cancels_migration_and_keeps_vm_on_source)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		SRC_ACTIVE_THEN_CANCEL,
		EVENT("MIGRATION", "{\"status\": \"cancelled\"}"),
		FQ_EXPECT("query-migrate", 5),
		R(5, "{\"status\": \"cancelled\"}"),
		FQ_EXPECT("query-status", 6),
		R(6, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		QUIT_AND_GO(5),
		FQ_END,
	};
	struct run run = { .cancel_on_progress = true };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.n_progress, 1);
	cr_assert_eq(run.result.status, QM_JOB_CANCELLED);
	cr_assert_str_eq(run.result.error.error_class, "Cancelled");
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
}

/*
 * libvirt's lesson: the tunnel lets go of its ends before migrate_cancel, or
 * QEMU can block flushing into a pipe nobody reads.  The fake keeps the pipe
 * it was given, as QEMU does, and checks when migrate_cancel comes that no
 * descriptor holds the pump's end any more and that writing would fail.
 * (Both calls fall in one loop turn, so their order inside it is not seen
 * from here; what is seen is what QEMU sees when it reads the command.)
 */
Test(engine, cancel_hangs_up_the_tunnel_before_migrate_cancel)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		FQ_EXPECT("migrate-set-capabilities", 0),
		FQ_EXPECT("migrate-set-parameters", 1),
		{ .op = FQ_OP_EXPECT,
		  .name = "getfd",
		  .slot = 2,
		  .fd = true,
		  .fd_type = S_IFIFO,
		  .fd_keep = true },
		R(0, "{}"),
		R(1, "{}"),
		R(2, "{}"),
		{ .op = FQ_OP_EXPECT, .name = "migrate", .slot = 3, .args = FD_URI },
		R(3, "{}"),
		EVENT("MIGRATION", "{\"status\": \"active\"}"),
		FQ_EXPECT("query-migrate", 4),
		R(4, ACTIVE),
		{ .op = FQ_OP_EXPECT, .name = "migrate_cancel", .slot = 5, .kept_fd_orphaned = true },
		R(5, "{}"),
		EVENT("MIGRATION", "{\"status\": \"cancelled\"}"),
		FQ_EXPECT("query-migrate", 6),
		R(6, "{\"status\": \"cancelled\"}"),
		FQ_EXPECT("query-status", 7),
		R(7, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE_PIPE,
		QUIT_AND_GO(5),
		FQ_END,
	};
	struct run run = { .transport = QM_TRANSPORT_TUNNEL, .cancel_on_progress = true };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_CANCELLED, "%s", run.result.error.text);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
}

/* QEMU may report a cancelled migration as failed: the cancel was first, and it is the cause. */
Test(engine, migration_failing_after_the_job_failed_does_not_ask_the_destination)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		SRC_ACTIVE_THEN_CANCEL,
		EVENT("MIGRATION", "{\"status\": \"failed\"}"),
		FQ_EXPECT("query-migrate", 5),
		R(5, "{\"status\": \"failed\", \"error-desc\": \"Broken pipe\"}"),
		FQ_EXPECT("query-status", 6),
		R(6, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		/* no query-status first: a failed job's cause is known already */
		QUIT_AND_GO(5),
		FQ_END,
	};
	struct run run = { .cancel_on_progress = true };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_CANCELLED);
	cr_assert_str_eq(run.result.error.error_class, "Cancelled");
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
}

/* QEMU 7.2 can stay "cancelling" for good after a broken multifd stream. */
Test(engine, a_source_that_never_finishes_cancelling_is_not_waited_for_forever)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		SRC_ACTIVE_THEN_CANCEL,
		EVENT("MIGRATION", "{\"status\": \"cancelling\"}"),
		FQ_EXPECT("query-migrate", 5),
		R(5, "{\"status\": \"cancelling\"}"),
		/* ...and nothing more, until the engine gives up waiting */
		FQ_EXPECT("query-status", 6),
		R(6, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		QUIT_AND_GO(5),
		FQ_END,
	};
	struct run run = { .cancel_on_progress = true, .cancel_timeout = 0.3 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_CANCELLED);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
	cr_assert_geq(run.result.phase_ms[QM_PHASE_PERFORM], 300, "perform took %lld ms",
		      (long long)run.result.phase_ms[QM_PHASE_PERFORM]);
}

Test(engine, destination_gone_mid_perform_cancels_and_names_the_cause)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		SRC_ACTIVE_THEN_CANCEL,
		EVENT("MIGRATION", "{\"status\": \"failed\"}"),
		FQ_EXPECT("query-migrate", 5),
		R(5, "{\"status\": \"failed\", \"error-desc\": \"Broken pipe\"}"),
		FQ_EXPECT("query-status", 6),
		R(6, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		FQ_WAIT, /* until the source reported progress */
		FQ_HANGUP,
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst, true);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
	cr_assert(strstr(run.result.error.text, "destination QEMU"), "%s", run.result.error.text);
	cr_assert_str_eq(run.result.error.error_class, "ConnectionClosed");
}

Test(engine, begin_refuses_a_source_waiting_for_incoming_and_stops_the_waiting_destination)
{
	static const struct fq_step src[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-migrate", 1),
		FQ_EXPECT("query-name", 2),
		FQ_EXPECT("query-uuid", 3),
		FQ_EXPECT("query-migrate-capabilities", 10),
		R(0, STATUS("inmigrate")),
		R(1, "{}"),
		R(2, "{}"),
		R(3, "{\"UUID\": \"" UUID "\"}"),
		R(10, CAPS),
		FQ_EXPECT("query-status", 4),
		R(4, STATUS("inmigrate")),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		R(0, STATUS("inmigrate")),
		QUIT_AND_GO(1),
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(run.result.error.error_class, "InvalidState");
	cr_assert(strstr(run.result.error.text, "swapped"), "%s", run.result.error.text);
	cr_assert_eq(run.result.phase_ms[QM_PHASE_PREPARE], -1);
	cr_assert_eq(run.result.phase_ms[QM_PHASE_PERFORM], -1);
}

Test(engine, prepare_refuses_a_running_destination_and_leaves_it_alone)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		FQ_EXPECT("query-status", 4),
		R(4, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-name", 1),
		FQ_EXPECT("query-uuid", 2),
		FQ_EXPECT("query-migrate-capabilities", 10),
		R(0, RUNNING),
		R(1, "{}"),
		R(2, "{}"),
		R(10, CAPS),
		/* rollback looks again, sees a running VM, and sends nothing more */
		FQ_EXPECT("query-status", 3),
		R(3, RUNNING),
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(run.result.error.error_class, "InvalidState");
	cr_assert(strstr(run.result.error.text, "-incoming defer"), "%s", run.result.error.text);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
}

Test(engine, destination_with_another_vms_name_is_refused)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		FQ_EXPECT("query-status", 4),
		R(4, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-name", 1),
		FQ_EXPECT("query-uuid", 2),
		FQ_EXPECT("query-migrate-capabilities", 10),
		R(0, STATUS("inmigrate")),
		R(1, "{\"name\": \"vm2\"}"),
		R(2, "{}"),
		R(10, CAPS),
		FQ_EXPECT("query-status", 3),
		R(3, STATUS("inmigrate")),
		QUIT_AND_GO(4),
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(run.result.error.error_class, "NameMismatch");
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
}

Test(engine, source_gone_mid_perform_leaves_the_vm_location_unknown)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		EVENT("MIGRATION", "{\"status\": \"active\"}"),
		FQ_EXPECT("query-migrate", 3),
		R(3, ACTIVE),
		FQ_HANGUP,
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		QUIT_AND_GO(5),
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_eq(run.result.vm, QM_VM_UNKNOWN);
	cr_assert(strstr(run.result.error.text, "source QEMU"), "%s", run.result.error.text);
}

Test(engine, capability_the_destination_lacks_is_refused_before_anything_starts)
{
	static const struct fq_step src[] = {
		SRC_BEGIN_WITH_CAPS("[{\"state\": false, \"capability\": \"events\"},"
				    " {\"state\": false, \"capability\": \"multifd\"}]"),
		FQ_EXPECT("query-status", 4),
		R(4, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_CHECKS, /* no multifd here */
		/* nothing was started: the waiting destination is stopped, nothing else */
		FQ_EXPECT("query-status", 3),
		R(3, STATUS("inmigrate")),
		QUIT_AND_GO(4),
		FQ_END,
	};
	struct run run = { .multifd = 4 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(run.result.error.error_class, "CapabilityMissing");
	cr_assert(strstr(run.result.error.text, "destination") &&
			  strstr(run.result.error.text, "'multifd'"),
		  "%s", run.result.error.text);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
	cr_assert_eq(run.result.phase_ms[QM_PHASE_PERFORM], -1, "perform ran");
}

Test(engine, capability_the_source_lacks_is_refused_in_begin)
{
	static const struct fq_step src[] = {
		SRC_BEGIN, /* CAPS has no multifd */
		FQ_EXPECT("query-status", 4),
		R(4, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		R(0, STATUS("inmigrate")),
		QUIT_AND_GO(1),
		FQ_END,
	};
	struct run run = { .multifd = 4 };

	migrate_with(&run, src, dst, false);
	cr_assert_str_eq(run.result.error.error_class, "CapabilityMissing");
	cr_assert(strstr(run.result.error.text, "source QEMU lacks") &&
			  strstr(run.result.error.text, "'multifd'"),
		  "%s", run.result.error.text);
	cr_assert_eq(run.result.phase_ms[QM_PHASE_PREPARE], -1, "prepare ran");
}

Test(engine, migration_failure_with_the_destination_gone_names_the_destination)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		EVENT("MIGRATION", "{\"status\": \"failed\"}"),
		FQ_EXPECT("query-migrate", 3),
		R(3, "{\"status\": \"failed\", \"error-desc\": \"Unable to write to socket: Broken pipe\"}"),
		FQ_EXPECT("query-status", 4),
		R(4, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		/* asked whether it is still there, it is not: its going is the cause */
		FQ_EXPECT("query-status", 7),
		FQ_HANGUP,
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
	cr_assert(strstr(run.result.error.text, "destination QEMU"), "%s", run.result.error.text);
}
