/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine when something goes wrong once the migration runs: cancels,
 * failing phases, a QEMU gone; the first error wins and the VM is located.
 */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/helpers/engine-harness.h"

TestSuite(engine, .timeout = 20);

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
