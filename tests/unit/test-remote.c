/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The source's side of a migration between hosts (engine/dest-remote.c)
 * against tests/helpers/fake-agent, started through --dest exec: and
 * scripted by its arguments, with a scripted fake QMP server as the source
 * QEMU.  Each case checks the result, what the source QEMU was sent (the
 * script fails on anything else), what the agent received (its record), and
 * that the agent's process was reaped: no child of this process is left,
 * not even a zombie.
 *
 * The destination's QMP in the source's transcript: test-remote-qmp-log.c.
 *
 * Not covered: the answer that never comes (prepare and finish wait 60 s,
 * cleanup 30 s), which is too slow for a unit test.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/remote-run.h"

TestSuite(remote, .init = remote_setup, .fini = remote_teardown, .timeout = 30);

/* ---- hello ----------------------------------------------------------------------- */

/*
 * The job fails before prepare with @error_class and @piece in its message;
 * nothing changed, and the agent (if it read anything) never got prepare:
 * the settings and the description go only to a peer that passed its hello.
 */
static void expect_ended_before_prepare(struct rrun *run, const struct fq_step *src,
					const char *error_class, const char *piece)
{
	run_remote(run, src);
	expect_failure(run, error_class, piece);
	expect_untouched(run);
	cr_assert_not(received(run, "prepare"), "%s", run->record);
}

Test(remote, an_agent_without_the_tunnel_feature_is_refused_before_prepare)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = { .agent = "--lack tunnel",
			    .opts = { .transport = QM_TRANSPORT_TUNNEL } };

	expect_ended_before_prepare(&run, src, "PeerFeature",
				    "lacks the feature \"tunnel\"");
	cr_assert(recorded(&run, "hello protocol=1 needs=attach,tunnel", false), "%s",
		  run.record);
	cr_assert(recorded(&run, "eof", false), "%s", run.record);
}

Test(remote, an_agent_without_multifd_is_refused_for_a_multifd_migration)
{
	static const struct fq_step src[] = { SRC_BEGIN_WITH_CAPS(CAPS_ALL),
					      SRC_LOCATED(5), FQ_END };
	struct rrun run = { .agent = "--lack multifd",
			    .opts = { .multifd_channels = 2 } };

	expect_ended_before_prepare(&run, src, "PeerFeature",
				    "lacks the feature \"multifd\"");
	cr_assert(recorded(&run, "hello protocol=1 needs=attach,direct,multifd", false),
		  "%s", run.record);
}

Test(remote, an_agent_that_needs_a_feature_this_side_lacks_is_refused)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = { .agent = "--need teleport" };

	expect_ended_before_prepare(&run, src, "PeerFeature",
				    "needs the feature \"teleport\"");
}

/* A login banner or a shell profile writing to stdout ahead of the agent. */
Test(remote, a_banner_instead_of_a_frame_is_a_protocol_error)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = { .agent = "--banner Welcome" };

	expect_ended_before_prepare(&run, src, "PeerProtocol", "magic");
}

Test(remote, an_agent_that_exits_before_its_hello_fails_the_job)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = { .agent = "--exit-at start" };

	expect_ended_before_prepare(&run, src, "PeerClosed", "did the agent exit?");
	cr_assert_gt(run.agent_pid, 0);
	cr_assert_str_eq(run.record, "");
}

Test(remote, an_agent_program_that_fails_at_once_fails_the_job)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = { .uri = "exec:/bin/false" };

	expect_ended_before_prepare(&run, src, "PeerClosed", "did the agent exit?");
}

Test(remote, an_agent_program_that_does_not_exist_fails_the_job)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = { .uri = "exec:/nonexistent/qmigrate serve --stdio" };

	expect_ended_before_prepare(&run, src, "PeerClosed", "did the agent exit?");
}

/* ---- prepare --------------------------------------------------------------------- */

Test(remote, a_refusal_of_prepare_passes_through_verbatim)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = {
		.agent = "--prepare-error VmExists --refused "
			 "--message a+QEMU+named+vm1+already+runs+here+(pid+4242)",
	};

	run_remote(&run, src);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(run.result.error.error_class, "VmExists");
	cr_assert_str_eq(run.result.error.text,
			 "a QEMU named vm1 already runs here (pid 4242)");
	expect_untouched(&run);
	/* The agent rolled back before it answered: no cleanup follows. */
	cr_assert(received(&run, "prepare"), "%s", run.record);
	cr_assert_not(received(&run, "cleanup"), "%s", run.record);
	cr_assert(recorded(&run, "eof", false), "%s", run.record);
}

Test(remote, a_failed_prepare_that_changed_the_destination_says_so)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = {
		.agent = "--prepare-error GenericError --changed "
			 "--message the+destination+QEMU+exited",
	};

	run_remote(&run, src);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_str_eq(run.result.error.error_class, "GenericError");
	cr_assert_str_eq(run.result.error.text, "the destination QEMU exited");
	cr_assert(run.result.changed);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
	cr_assert_not(received(&run, "cleanup"), "%s", run.record);
}

/* Whatever paused the source meanwhile, a VM that ran before the migration runs again. */
Test(remote, a_failed_prepare_resumes_a_source_found_paused)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		FQ_EXPECT("query-status", 5),
		R(5, STATUS("paused")),
		FQ_EXPECT("cont", 6),
		R(6, "{}"),
		SRC_LOCATED(7),
		FQ_END,
	};
	struct rrun run = {
		.agent = "--prepare-error GenericError --changed --message boom"
	};

	run_remote(&run, src);
	expect_failure(&run, "GenericError", "boom");
	cr_assert(run.result.changed);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
}

/* Begin ended before the agent said hello: prepare goes out only after it. */
Test(remote, prepare_waits_for_an_agent_whose_hello_comes_late)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE_TO_AGENT,
		SRC_COMPLETES,
		FQ_END,
	};
	struct rrun run = { .agent = "--hello-on-signal", .hello_in_prepare = true };

	run_remote(&run, src);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert_not(run.hello_in_prepare, "the job never waited in prepare");
	cr_assert_not(recorded(&run, "input before hello", false), "%s", run.record);
	cr_assert(recorded(&run, "finish vm=vm1", false), "%s", run.record);
}

/* ---- the channel closes ---------------------------------------------------------- */

Test(remote, the_agent_gone_during_perform_cancels_and_the_source_keeps_the_vm)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE_TO_AGENT,
		EVENT("MIGRATION", "{\"status\": \"active\"}"),
		FQ_EXPECT("query-migrate", 3),
		R(3, ACTIVE),
		FQ_WAIT, /* the test kills the agent here */
		FQ_EXPECT("migrate_cancel", 4),
		R(4, "{}"),
		EVENT("MIGRATION", "{\"status\": \"cancelled\"}"),
		FQ_EXPECT("query-migrate", 5),
		R(5, "{\"status\": \"cancelled\"}"),
		SRC_LOCATED(6),
		FQ_END,
	};
	struct rrun run = { .kill_at_wait = true };

	run_remote(&run, src);
	expect_failure(&run, "PeerClosed", "closed the channel");
	cr_assert(run.result.changed);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
	cr_assert(received(&run, "prepare"), "%s", run.record);
	cr_assert_not(received(&run, "finish"), "%s", run.record);
}

/* Finish may have resumed the VM there: the source must not run it too. */
Test(remote, the_agent_gone_during_finish_leaves_the_source_paused_and_the_vm_unknown)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE_TO_AGENT,
		EVENT("MIGRATION", "{\"status\": \"completed\"}"),
		FQ_EXPECT("query-migrate", 3),
		R(3, COMPLETED),
		/* no cont, no quit: confirm leaves the source alone */
		FQ_END,
	};
	struct rrun run = { .agent = "--exit-at finish" };

	run_remote(&run, src);
	expect_failure(&run, "PeerClosed", "look at the destination");
	cr_assert(run.result.changed);
	cr_assert_eq(run.result.vm, QM_VM_UNKNOWN);
	cr_assert(recorded(&run, "finish vm=vm1", false), "%s", run.record);
}

Test(remote, the_agent_gone_during_an_attached_prepare_may_have_changed_the_destination)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = { .agent = "--exit-at prepare" };

	run_remote(&run, src);
	expect_failure(&run, "PeerClosed", "closed the channel");
	/* It may have started the incoming side of the QEMU it attached to. */
	cr_assert(run.result.changed);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
}

/* ---- a description for the agent to launch from ------------------------------------ */

#define DOMAIN                                                                           \
	"<domain type='qemu'><name>vm1</name><uuid>" UUID "</uuid>"                      \
	"<memory unit='MiB'>64</memory><os><type>hvm</type></os>"                        \
	"<devices><emulator>/usr/bin/qemu-system-x86_64</emulator></devices></domain>"

Test(remote, a_cancel_while_the_agent_prepares_ends_the_job_at_once)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = {
		.agent = "--silent",
		.cancel_on_prepare = true,
		.opts = { .launch_dest = true, .domain_xml = DOMAIN },
	};

	run_remote(&run, src);
	cr_assert_eq(run.result.status, QM_JOB_CANCELLED, "%s", run.result.error.text);
	cr_assert_str_eq(run.result.error.error_class, "Cancelled");
	/* A QEMU the agent launched goes with the channel: nothing was changed. */
	expect_untouched(&run);
	cr_assert(recorded(&run, "eof", false), "%s", run.record);
}

Test(remote, a_cancel_as_prepare_begins_sends_the_agent_nothing)
{
	static const struct fq_step src[] = { SRC_UNTOUCHED };
	struct rrun run = { .agent = "--silent", .cancel_as_prepare_begins = true };

	run_remote(&run, src);
	cr_assert_eq(run.result.status, QM_JOB_CANCELLED, "%s", run.result.error.text);
	expect_untouched(&run);
	cr_assert_not(received(&run, "prepare"), "%s", run.record);
}

Test(remote, a_migration_completes_through_the_agent_with_the_jobs_settings)
{
	static const char *const map[] = { "/images/a.img=/srv/b.img",
					   "/images/c.img=/srv/d.img", NULL };
	static const struct fq_step src[] = {
		SRC_BEGIN_WITH_CAPS(CAPS_ALL),
		SRC_MIGRATE_TO_AGENT,
		SRC_COMPLETES,
		FQ_END,
	};
	struct rrun run = {
		.agent = "--qmp /run/there/vm1/qmp.sock --pid 4242",
		.opts = {
			.transport = QM_TRANSPORT_TCP,
			.multifd_channels = 2,
			.policy = { .postcopy = true },
			.launch_dest = true,
			.domain_xml = DOMAIN,
			.disk_map = map,
			.graphics_listen = "0.0.0.0",
			.migrate_address = "192.0.2.7",
		},
	};
	char line[1024];

	run_remote(&run, src);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s: %s",
		     run.result.error.error_class, run.result.error.text);
	cr_assert_eq(run.result.vm, QM_VM_DESTINATION);
	cr_assert(run.result.changed);
	cr_assert_str_eq(run.result.dst_qmp, "/run/there/vm1/qmp.sock");
	cr_assert_eq(run.result.dst_pid, 4242);
	cr_assert_eq(run.result.total_ms, 1234);
	cr_assert(recorded(&run, "hello protocol=1 needs=launch,direct,multifd,postcopy",
			   false),
		  "%s", run.record);
	snprintf(line, sizeof(line),
		 "prepare vm=vm1 transport=tcp multifd=2 postcopy=1 paused=0 launch=1 "
		 "allow-same-host=0 qmp= migrate-address=192.0.2.7 "
		 "graphics-listen=0.0.0.0 "
		 "disk-map=/images/a.img=/srv/b.img,/images/c.img=/srv/d.img domain=%zu "
		 "qmp-log=0",
		 strlen(DOMAIN));
	cr_assert(recorded(&run, line, false), "%s\nis not in\n%s", line, run.record);
	cr_assert(recorded(&run, "finish vm=vm1", false), "%s", run.record);
	cr_assert_not(received(&run, "cleanup"), "%s", run.record);
	/* The source hung up, and the agent saw the end of the session. */
	cr_assert(recorded(&run, "eof", false), "%s", run.record);
}

Test(remote, a_migrate_address_is_a_host_name_or_an_ip_address)
{
	static const char *const good[] = { "192.0.2.7", "fe80::1",
					    "dst-01.lab_a.example" };
	char too_long[65] = { 0 };
	const char *const bad[] = { "", "a b", "h;x", "[::1]", "fe80::1%eth0", too_long };
	struct qm_job_options o = { .dest_uri = "exec:/bin/true",
				    .transport = QM_TRANSPORT_TCP };

	memset(too_long, 'a', 64);

	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		struct qm_error err = { 0 };

		o.migrate_address = good[i];
		cr_expect_eq(qm_remote_options_check(&o, &err), 0, "%s: %s", good[i],
			     err.text);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct qm_error err = { 0 };

		o.migrate_address = bad[i];
		cr_expect_eq(qm_remote_options_check(&o, &err), -EINVAL, "'%s'", bad[i]);
		cr_expect_str_eq(err.error_class, "Usage");
		cr_expect(strstr(err.text, "is not a host name or an IP address"), "%s",
			  err.text);
	}
}

/*
 * With leases, a peer that cannot carry lockstate would let the VM run there
 * without them: refused by its hello, before prepare, with the VM (and the
 * lease, which begin found held by the source) left as they were.
 */
Test(remote, an_agent_without_lockstate_is_refused_when_leases_are_in_use)
{
	char dir[] = "/tmp/qmigrate-lease-XXXXXX", path[64], fdsets[256];
	const char *leases[] = { path, NULL };
	struct qm_lease l;
	struct qm_error err = { 0 };

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/vm.lease", dir);
	cr_assert_eq(qm_lease_open(path, &l, &err), 0, "%s", err.text);
	cr_assert_eq(qm_lease_acquire(&l, UUID, SRC_HOST_UUID, QM_LEASE_ANY_GEN, &err), 0,
		     "%s", err.text);
	/* The fake source QEMU is this process: its fd set names the test's descriptor. */
	snprintf(fdsets, sizeof(fdsets),
		 "{\"return\": [{\"fdset-id\": 1000, \"fds\": [{\"fd\": %d, "
		 "\"opaque\": \"qmigrate-lease:%s\"}]}]}",
		 l.fd, path);
	const struct fq_step src[] = { SRC_BEGIN, FQ_EXPECT("query-fdsets", 8),
				       FQ_REPLY_TEXT(8, fdsets), SRC_LOCATED(5), FQ_END };
	struct rrun run = { .agent = "--lack lockstate",
			    .opts = { .launch_dest = true, .domain_xml = DOMAIN,
				      .leases = leases } };

	expect_ended_before_prepare(&run, src, "PeerFeature", "lacks the feature \"lockstate\"");
	cr_assert(recorded(&run, "hello protocol=1 needs=launch,direct,lockstate", false), "%s",
		  run.record);
	/* Still the source's, at the generation it took it. */
	cr_assert_eq(qm_lease_release(&l, &err), 0);
	cr_assert_eq(l.state.generation, 1);
	qm_lease_close(&l);
	unlink(path);
	rmdir(dir);
}
