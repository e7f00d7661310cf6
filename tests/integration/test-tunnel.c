/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tunnelled transport with real QEMU and the test guest: the stream goes
 * through qmigrate's own pump threads.  Every test ends with the guest's
 * memory checked on the side that has the VM.
 */
#include <criterion/criterion.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "tests/helpers/pair.h"

TestSuite(tunnel, .timeout = 300, .fini = stop_pair);

Test(tunnel, plain_tunnel_completes_and_counts_its_bytes)
{
	/* Capped so that progress is certainly sampled; the downtime limit lets it
	 * switch over after the first pass although the guest outpaces the cap. */
	struct qm_job_options o = {
		.transport = QM_TRANSPORT_TUNNEL,
		.bandwidth = 256 * MIB,
		.max_downtime_ms = 60000,
	};
	struct run r = { 0 };

	start_pair(256);
	run_job(&o, &r);
	assert_completed(&r, "running");
	/* Every byte QEMU sent went through the pumps. */
	cr_assert_gt(r.progress, 0);
	cr_assert_gt(r.tunnel_bytes, 0, "the tunnel counted nothing");
	cr_assert_geq(r.result.transferred_bytes, 256 * MIB / 16);
}

Test(tunnel, tunnel_with_multifd_4_streams_completes)
{
	struct qm_job_options o = { .transport = QM_TRANSPORT_TUNNEL, .multifd_channels = 4 };
	struct run r = { 0 };

	start_pair(256);
	run_job(&o, &r);
	assert_completed(&r, "running");
}

Test(tunnel, tunnel_with_postcopy_completes_over_the_return_path)
{
	struct qm_job_options o = {
		.transport = QM_TRANSPORT_TUNNEL,
		.bandwidth = 32 * MIB,
		.policy = { .postcopy = true, .postcopy_after_passes = 1 },
	};
	struct run r = { 0 };

	start_pair(256);
	run_job(&o, &r);
	cr_assert_str_eq(r.action, "start-postcopy");
	assert_completed(&r, "running");
}

static void cancel(struct qm_job *job)
{
	cr_assert_eq(qm_job_cancel(job), 0);
}

static void kill_destination(struct qm_job *job)
{
	cr_assert_eq(tq_qemu_kill(&pair.dst, SIGKILL), 0);
}

/* The source runs the guest, memory intact, and no destination is left. */
static void assert_on_source(const struct run *r, enum qm_job_status status)
{
	char *state;

	cr_assert_eq(r->result.status, status, "%s", r->result.error.text);
	cr_assert_eq(r->result.vm, QM_VM_SOURCE);
	cr_assert_eq(tq_qemu_wait_exit(&pair.dst, 20), 0, "a destination QEMU remains");
	state = vm_status(&pair.src);
	cr_assert_str_eq(state, "running");
	free(state);
	assert_guest_runs(&pair.src);
	check_memory(&pair.src);
}

Test(tunnel, cancel_mid_stream_hangs_up_and_keeps_the_vm_on_the_source)
{
	struct qm_job_options o = { .transport = QM_TRANSPORT_TUNNEL, .bandwidth = 16 * MIB };
	struct run r = { .first_progress = cancel };

	start_pair(256);
	run_job(&o, &r);
	assert_on_source(&r, QM_JOB_CANCELLED);
}

Test(tunnel, destination_killed_mid_stream_fails_and_rolls_back)
{
	struct qm_job_options o = { .transport = QM_TRANSPORT_TUNNEL, .bandwidth = 16 * MIB };
	struct run r = { .first_progress = kill_destination };

	start_pair(256);
	run_job(&o, &r);
	assert_on_source(&r, QM_JOB_FAILED);
	/* Whichever noticed first names it: the pump's write, or the monitor's EOF. */
	cr_assert(strstr(r.result.error.text, "tunnel") ||
			  strstr(r.result.error.text, "destination QEMU"),
		  "%s", r.result.error.text);
}
