/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's phases when all goes well, and the refusals before anything
 * starts (engine-harness.h drives the two fake QEMUs).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/helpers/engine-harness.h"

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

/* query-migrate in pass @n, QEMU expecting a downtime of @ms. */
#define ACTIVE_IN_PASS(n, ms)                                                            \
	"{\"status\": \"active\", \"total-time\": 10, \"expected-downtime\": " #ms ","   \
	" \"ram\": {\"transferred\": 1000, \"remaining\": 3000, \"total\": 4000,"        \
	" \"dirty-sync-count\": " #n ", \"mbps\": 800}}"
/* That sample, polled on a MIGRATION_PASS event. */
#define PASS_SAMPLE(n, ms)                                                               \
	EVENT("MIGRATION_PASS", "{\"pass\": " #n "}"), FQ_EXPECT("query-migrate", 3),    \
		R(3, ACTIVE_IN_PASS(n, ms))
#define END_COMPLETED                                                                    \
	EVENT("MIGRATION", "{\"status\": \"completed\"}"),                               \
		FQ_EXPECT("query-migrate", 4), R(4, COMPLETED), QUIT_AND_GO(5)

Test(engine, advice_is_a_policy_decision_and_sends_nothing_to_qemu)
{
	/* Any command after migrate but the polls would be unexpected: the fake fails. */
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		PASS_SAMPLE(1, 300),
		PASS_SAMPLE(2, 2400),
		PASS_SAMPLE(3, 2400),
		PASS_SAMPLE(4, 2400),
		PASS_SAMPLE(5, 2400),
		PASS_SAMPLE(6, 2400),
		PASS_SAMPLE(7, 2400),
		PASS_SAMPLE(8, 2400),
		END_COMPLETED,
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
	cr_assert_eq(run.decisions, 1, "%d decisions, the last %s", run.decisions,
		     run.decision);
	cr_assert_str_eq(run.decision, "advise advise");
	/* QEMU's default limit; not capped, so a higher bandwidth is no lever. */
	cr_assert(strstr(run.reason,
			 "expected downtime 2400 ms stays above the limit 300 ms "
			 "after 5 passes (sending 95.4 MiB/s); to converge: "
			 "--max-downtime 2500, --auto-converge, --pause-after SEC, "
			 "or --postcopy"),
		  "%s", run.reason);
}

Test(engine, advice_knows_the_max_downtime_and_bandwidth_the_job_set)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		FQ_EXPECT("migrate-set-capabilities", 0),
		{ .op = FQ_OP_EXPECT,
		  .name = "migrate-set-parameters",
		  .slot = 1,
		  .args = "{\"max-bandwidth\": 16777216, \"downtime-limit\": 3000}" },
		R(0, "{}"),
		R(1, "{}"),
		FQ_EXPECT("migrate", 2),
		R(2, "{}"),
		/* Within --max-downtime: no advice however long. */
		PASS_SAMPLE(2, 2400),
		PASS_SAMPLE(3, 2400),
		PASS_SAMPLE(4, 2400),
		PASS_SAMPLE(5, 2400),
		PASS_SAMPLE(6, 2400),
		PASS_SAMPLE(7, 2400),
		PASS_SAMPLE(8, 3500),
		PASS_SAMPLE(9, 3500),
		PASS_SAMPLE(10, 3500),
		PASS_SAMPLE(11, 3500),
		PASS_SAMPLE(12, 3500),
		PASS_SAMPLE(13, 3500),
		END_COMPLETED,
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		DST_RESUMES,
		FQ_END,
	};
	struct run run = { .max_downtime_ms = 3000, .bandwidth = 16 * 1024 * 1024 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert_eq(run.decisions, 1, "%d decisions, the last %s", run.decisions,
		     run.decision);
	cr_assert_str_eq(run.decision, "advise advise");
	cr_assert(strstr(run.reason,
			 "expected downtime 3500 ms stays above the limit 3000 ms "
			 "after 5 passes"),
		  "%s", run.reason);
	cr_assert(strstr(run.reason,
			 "--max-downtime 3600, --auto-converge, --pause-after SEC, "
			 "--postcopy, or a higher --bandwidth (now 16 MiB/s)"),
		  "%s", run.reason);
}
