/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Convergence policies, capabilities and job commands with real QEMU and the
 * test guest, through the embedding API.  The guest dirties every page on
 * every pass, so a capped migration never converges by itself: when one
 * completes, the lever under test made it so.  A test whose stream is not
 * capped runs the gentle guest (GENTLE MiB/s, tests/helpers/pair.h): that is
 * its lever.  Every test ends with the guest's memory checked on the side
 * that has the VM.
 *
 * The policies act on rates and times, not on sizes: a guest of POLICY_MIB
 * shows each of them, in half the time 256 MiB took at these caps.
 */
#include <criterion/criterion.h>
#include <ev.h>
#include <stdlib.h>
#include <string.h>

#include "qmigrate.h"
#include "tests/helpers/pair.h"

#define POLICY_MIB 128

/* Rolled back: the source runs the guest, memory intact; no destination left. */
static void assert_rolled_back(const struct run *r, const char *policy)
{
	cr_assert_eq(r->result.status, QM_JOB_FAILED);
	cr_assert_str_eq(r->result.error.error_class, "PolicyCancelled");
	cr_assert(strstr(r->result.error.text, policy), "%s", r->result.error.text);
	cr_assert_eq(r->result.vm, QM_VM_SOURCE);
	cr_assert_str_eq(r->policy, policy);
	cr_assert_str_eq(r->action, "cancel");
	assert_back_on_source();
}

TestSuite(converge, .timeout = 300, .fini = stop_pair);

Test(converge, completion_timeout_cancels_and_rolls_back)
{
	struct qm_job_options o = { .bandwidth = 16 * MIB, .policy = { .timeout = 2 } };
	struct run r = { 0 };

	start_pair(POLICY_MIB);
	run_job(&o, &r);
	assert_rolled_back(&r, "timeout");
}

Test(converge, stall_timeout_cancels_a_bandwidth_starved_migration)
{
	/* After the first pass the remaining bytes never beat that pass's low again. */
	struct qm_job_options o = { .bandwidth = 48 * MIB, .policy = { .stall_timeout = 2 } };
	struct run r = { 0 };

	start_pair(POLICY_MIB);
	run_job(&o, &r);
	assert_rolled_back(&r, "stall");
}

Test(converge, pause_after_forces_completion_of_a_guest_that_does_not_converge)
{
	struct qm_job_options o = { .bandwidth = 32 * MIB, .policy = { .pause_after = 1 } };
	struct run r = { 0 };

	start_pair(POLICY_MIB);
	run_job(&o, &r);
	cr_assert_str_eq(r.policy, "pause-after");
	cr_assert_str_eq(r.action, "pause-source");
	/* It ran before the migration, so it runs again on the destination. */
	assert_completed(&r, "running");
}

/*
 * Capped at 512 MiB/s, the guest outruns the 64 MiB/s stream by far, so that
 * only the throttle can make the migration converge; at 99 % it leaves the
 * guest ~5 MiB/s.  Uncapped, a TCG guest dirties ~30 GB/s, and even 1 % of
 * that is more than the stream carries.
 */
#define THROTTLED_GUEST 512

Test(converge, auto_converge_throttles_a_capped_migration_to_completion)
{
	struct qm_job_options o = {
		.bandwidth = 64 * MIB,
		.auto_converge = true,
		.throttle_initial = 90,
		.throttle_increment = 9,
	};
	struct run r = { 0 };

	start_pair_paced(POLICY_MIB, THROTTLED_GUEST);
	run_job(&o, &r);
	assert_completed(&r, "running");
}

Test(converge, xbzrle_keeps_memory_intact)
{
	struct qm_job_options o = { .xbzrle = true, .xbzrle_cache = 64 * MIB };
	struct run r = { 0 };

	start_pair_paced(POLICY_MIB, GENTLE);
	run_job(&o, &r);
	assert_completed(&r, "running");
}

Test(converge, multifd_4_keeps_memory_intact)
{
	struct qm_job_options o = { .multifd_channels = 4 };
	struct run r = { 0 };

	start_pair_paced(POLICY_MIB, GENTLE);
	run_job(&o, &r);
	assert_completed(&r, "running");
}

Test(converge, postcopy_after_one_pass_completes)
{
	struct qm_job_options o = {
		.bandwidth = 32 * MIB,
		.policy = { .postcopy = true, .postcopy_after_passes = 1 },
	};
	struct run r = { 0 };

	start_pair(POLICY_MIB);
	run_job(&o, &r);
	cr_assert_str_eq(r.policy, "postcopy");
	cr_assert_str_eq(r.action, "start-postcopy");
	assert_completed(&r, "running");
}

static void force_complete(struct qm_job *job)
{
	cr_assert_eq(qm_job_force_complete(job), 0);
}

Test(converge, force_complete_with_postcopy_switches_to_postcopy)
{
	struct qm_job_options o = { .bandwidth = 32 * MIB, .policy = { .postcopy = true } };
	struct run r = { .first_progress = force_complete };

	start_pair(POLICY_MIB);
	run_job(&o, &r);
	cr_assert_str_eq(r.policy, "force-complete");
	cr_assert_str_eq(r.action, "start-postcopy");
	assert_completed(&r, "running");
}

Test(converge, force_complete_without_postcopy_pauses_the_source)
{
	struct qm_job_options o = { .bandwidth = 32 * MIB };
	struct run r = { .first_progress = force_complete };

	start_pair(POLICY_MIB);
	run_job(&o, &r);
	cr_assert_str_eq(r.policy, "force-complete");
	cr_assert_str_eq(r.action, "pause-source");
	assert_completed(&r, "running");
}

static void raise_bandwidth(struct qm_job *job)
{
	cr_assert_eq(qm_job_set_bandwidth(job, 64ULL * 1024 * MIB), 0);
}

Test(converge, set_bandwidth_raised_mid_migration_takes_effect)
{
	/* At 8 MiB/s the gentle guest never converges; raised, it completes. */
	struct qm_job_options o = { .bandwidth = 8 * MIB };
	struct run r = { .first_progress = raise_bandwidth };

	start_pair_paced(POLICY_MIB, GENTLE);
	run_job(&o, &r);
	cr_assert_str_eq(r.action, "set-bandwidth");
	assert_completed(&r, "running");
}

Test(converge, paused_option_leaves_the_vm_paused_on_the_destination)
{
	struct qm_job_options o = { .paused = true };
	struct run r = { 0 };

	start_pair_paced(POLICY_MIB, GENTLE);
	run_job(&o, &r);
	cr_assert(r.result.was_running);
	assert_completed(&r, "paused");
}

Test(converge, keep_source_leaves_the_source_qemu_paused_after_success)
{
	struct qm_job_options o = { .keep_source = true };
	struct run r = { 0 };
	char *status;

	start_pair_paced(POLICY_MIB, GENTLE);
	run_job(&o, &r);
	cr_assert_eq(r.result.status, QM_JOB_COMPLETED, "%s", r.result.error.text);
	cr_assert_eq(r.result.vm, QM_VM_DESTINATION);
	/* Still there, holding the migrated-away state, not running it. */
	cr_assert(tq_qemu_alive(&pair.src), "the source QEMU was quit");
	status = vm_status(&pair.src);
	cr_assert_str_eq(status, "postmigrate");
	free(status);
	status = vm_status(&pair.dst);
	cr_assert_str_eq(status, "running");
	free(status);
	check_memory(&pair.dst);
}

static const struct qm_policy_settings pause_then_timeout = { .pause_after = 1, .timeout = 3 };

Test(converge, pause_after_is_undone_when_the_migration_rolls_back)
{
	/* At 1 MiB/s even a paused guest cannot finish in 3 s: the timeout rolls back. */
	struct qm_job_options o = { .bandwidth = 1 * MIB, .policy = pause_then_timeout };
	struct run r = { 0 };
	char *status;

	start_pair(POLICY_MIB);
	run_job(&o, &r);
	cr_assert_eq(r.decisions, 2, "expected pause-after then timeout, got %d", r.decisions);
	cr_assert_eq(r.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(r.policy, "timeout");
	cr_assert_eq(r.result.vm, QM_VM_SOURCE);
	/* It was running before pause-after stopped it: it runs again. */
	status = vm_status(&pair.src);
	cr_assert_str_eq(status, "running");
	free(status);
	cr_assert_eq(tq_qemu_wait_exit(&pair.dst, 20), 0, "a destination QEMU remains");
	assert_guest_runs(&pair.src);
	check_memory(&pair.src);
}
