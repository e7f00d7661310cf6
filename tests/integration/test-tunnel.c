/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The tunnelled transport with real QEMU and the test guest: the stream goes
 * through qmigrate's own pump threads.  Every test ends with the guest's
 * memory checked on the side that has the VM.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/helpers/pair.h"
#include "tests/helpers/sockfd.h"

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

	start_pair_paced(256, GENTLE); /* uncapped: the gentle guest converges */
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
	cr_assert_eq(r->result.status, status, "%s", r->result.error.text);
	cr_assert_eq(r->result.vm, QM_VM_SOURCE, "the VM is %s: %s",
		     qm_vm_location_name(r->result.vm), r->result.error.text);
	assert_back_on_source();
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

/*
 * The destination QEMU's end of the one tunnel stream, waited for (bounded)
 * while it runs.
 */
static int destination_stream_fd(void)
{
	int fds[8], n = 0;

	for (int i = 0; i < 1000 && n == 0; i++) {
		n = ts_accepted_fds(pair.dst.pid, "/migrate.sock", fds, 8);
		cr_assert_geq(n, 0, "cannot list the destination's sockets: %s",
			      strerror(-n));
		if (n == 0)
			usleep(10000);
	}
	cr_assert_eq(n, 1, "the destination QEMU holds %d streams, not one", n);
	return fds[0];
}

/*
 * Closes the far end of the pump's connection for real, through a copy of
 * the destination's descriptor: it stops reading and drops what it had not
 * read, as a close would.  The pump's next write fails with EPIPE, and a
 * pump blocked on the full socket wakes to the room the drop makes.  Not
 * SHUT_WR: the pump's return direction would read an EOF and pass it on to
 * the source QEMU's return path, which could react before the pump fails.
 * The QEMU is frozen first so that it cannot notice either (it would read
 * its EOF and exit, and its going could be what the job hears first).
 */
static void close_far_end(struct qm_job *job)
{
	static char drop[1 << 16];
	int fd = destination_stream_fd(), copy, r;
	ssize_t n;

	r = tq_qemu_freeze(&pair.dst, 10);
	cr_assert_eq(r, 0, "cannot freeze the destination QEMU: %s", strerror(-r));
	copy = ts_copy_fd(pair.dst.pid, fd);
	cr_assert_geq(copy, 0, "cannot copy the destination's fd %d: %s", fd,
		      strerror(-copy));
	cr_assert_eq(shutdown(copy, SHUT_RD), 0, "shutdown: %s", strerror(errno));
	while ((n = recv(copy, drop, sizeof(drop), MSG_DONTWAIT)) > 0)
		;
	cr_assert(n == 0 || errno == EAGAIN, "dropping what it had not read: %s",
		  strerror(errno));
	close(copy);
}

static bool thawed;

/* The job failed before finish: the destination may go on, see its EOF or the quit. */
static void thaw_in_finish(struct qm_job *job, enum qm_phase phase)
{
	if (phase != QM_PHASE_FINISH)
		return;
	cr_assert_eq(tq_qemu_thaw(&pair.dst), 0, "the destination went while frozen");
	thawed = true;
}

Test(tunnel, far_end_closed_mid_stream_fails_with_the_tunnels_cause_and_rolls_back)
{
	/*
	 * postcopy-ram (never started) keeps one socket stream with a return
	 * path, whatever the plain tunnel uses.  Not multifd: QEMU 7.2's
	 * destination can hang for good in multifd_recv_sync_main() when a
	 * channel ends mid-stream, deaf to QMP and SIGTERM alike.
	 */
	struct qm_job_options o = {
		.transport = QM_TRANSPORT_TUNNEL,
		.bandwidth = 16 * MIB,
		.policy = { .postcopy = true },
	};
	struct run r = {
		.first_progress = close_far_end,
		.act_at_tunnel_bytes = 1, /* the stream reached the destination */
		.phase = thaw_in_finish,
	};

	start_pair(256);
	run_job(&o, &r);
	cr_assert(thawed, "the job never entered finish");
	/* The pump's write was the first failure; nothing else may be blamed. */
	cr_assert_str_eq(r.result.error.error_class, "TunnelFailed", "%s: %s",
			 r.result.error.error_class, r.result.error.text);
	cr_assert(strstr(r.result.error.text, "tunnel"), "%s", r.result.error.text);
	cr_assert(strstr(r.result.error.text, "EPIPE"), "%s", r.result.error.text);
	assert_on_source(&r, QM_JOB_FAILED);
}

/*
 * Every stream (the main one and two multifd channels) has reached the
 * destination, so that the source QEMU's end of the story does not depend on
 * how far its channels had got.  Asked on every sample: the loop must go on
 * accepting the channels in between.
 */
static bool all_streams_arrived(void)
{
	int fds[8], n = ts_accepted_fds(pair.dst.pid, "/migrate.sock", fds, 8);

	cr_assert_geq(n, 0, "cannot list the destination's sockets: %s", strerror(-n));
	return n == 3;
}

/* Cancels, with the destination frozen: it can answer nothing, quit included. */
static void freeze_destination_and_cancel(struct qm_job *job)
{
	int r = tq_qemu_freeze(&pair.dst, 10);

	cr_assert_eq(r, 0, "cannot freeze the destination QEMU: %s", strerror(-r));
	cr_assert_eq(qm_job_cancel(job), 0);
}

/*
 * A destination that ignores quit is killed, as QEMU 7.2's is that hangs in
 * multifd_recv_sync_main() after a broken multifd stream.  Frozen stands in
 * for that hang, deterministically: only SIGKILL ends a stopped process, so
 * a destination gone (from the stopped state) was killed by the engine.
 */
Test(tunnel, a_destination_deaf_to_quit_after_a_cancel_is_killed)
{
	struct qm_job_options o = {
		.transport = QM_TRANSPORT_TUNNEL,
		.multifd_channels = 2,
		.bandwidth = 16 * MIB,
	};
	struct run r = {
		.first_progress = freeze_destination_and_cancel,
		.ready = all_streams_arrived,
	};

	start_pair(256);
	run_job(&o, &r);
	assert_on_source(&r, QM_JOB_CANCELLED);
	cr_assert(WIFSIGNALED(pair.dst.exit_status) && WTERMSIG(pair.dst.exit_status) == SIGKILL,
		  "the destination ended otherwise (wait status %#x)", pair.dst.exit_status);
}
