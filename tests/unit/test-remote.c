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

#include "engine/job.h"
#include "tests/helpers/engine-harness.h"
#include "tests/helpers/fake-agent.h"

#define SRC_HOST_UUID "0b5d5c1e-2f3a-4b4c-8d5e-6f708192a3b4"
#define AGENT_MIGRATE_URI "tcp:127.0.0.1:4444"
#define CAPS_ALL                                                                         \
	"[{\"state\": false, \"capability\": \"events\"},"                               \
	" {\"state\": false, \"capability\": \"postcopy-ram\"},"                         \
	" {\"state\": false, \"capability\": \"multifd\"}]"
/*
 * Bound on the agent's exit once the job is done; it takes milliseconds.
 * Below the job's own 10 s, after which it would stop the agent itself.
 */
#define REAP_BOUND 5.0

static char work[64];	/* the source's socket, the agent's pid file and record */
static char parent[96]; /* the job's runtime parent: empty at the end */

static void work_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", work, name);
}

static void setup(void)
{
	snprintf(work, sizeof(work), "/tmp/qm-remote-XXXXXX");
	cr_assert(mkdtemp(work));
	work_path(parent, sizeof(parent), "rt");
	cr_assert_eq(mkdir(parent, 0700), 0);
}

static void teardown(void)
{
	static const char *const files[] = { "src", "pid", "pid.tmp", "record",
					     "qmp.log" };
	char path[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		work_path(path, sizeof(path), files[i]);
		unlink(path);
	}
	cr_expect_eq(rmdir(parent), 0, "the runtime parent %s is not empty: %s", parent,
		     strerror(errno));
	rmdir(work);
}

TestSuite(remote, .init = setup, .fini = teardown, .timeout = 30);

struct rrun {
	/* the test's options; the runner adds the source, the agent and the bounds */
	struct qm_job_options opts;
	const char *agent;	/* the fake agent's arguments */
	const char *uri;	/* or this --dest instead of the fake agent */
	bool kill_at_wait;	/* SIGKILL for the agent when the source's script WAITs */
	bool cancel_on_prepare; /* qm_job_cancel once the agent recorded prepare */
	bool hello_in_prepare;	/* SIGUSR1 for the agent (--hello-on-signal) in prepare */
	bool cancel_as_prepare_begins; /* qm_job_cancel in the phase callback */
	enum qm_phase phase;
	struct qm_job *job;
	struct qm_result result;
	bool done;
	char record[8192]; /* what the agent received, a line a message */
	char warnings[4096]; /* what the job warned of, a line each */
	long agent_pid;	   /* from its pid file; 0 when it wrote none */
};

static void on_done(struct qm_job *job, const struct qm_result *r, void *ud)
{
	struct rrun *run = ud;

	cr_assert_not(run->done, "done called twice");
	run->result = *r;
	run->done = true;
}

/* Warnings and errors into run->warnings. */
static _printf_(6, 0) void on_log(void *ud, int priority, const char *file, int line,
				  const char *fn, const char *format, va_list args)
{
	struct rrun *run = ud;
	size_t n = strlen(run->warnings);

	if (priority > LOG_WARNING || n + 2 >= sizeof(run->warnings))
		return;
	vsnprintf(run->warnings + n, sizeof(run->warnings) - n - 1, format, args);
	strcat(run->warnings, "\n");
}

static void on_phase(struct qm_job *job, enum qm_phase phase, void *ud)
{
	struct rrun *run = ud;

	run->phase = phase;
	if (phase == QM_PHASE_PREPARE && run->cancel_as_prepare_begins)
		cr_assert_eq(qm_job_cancel(job), 0);
}

static void read_file(const char *name, char *buf, size_t size)
{
	char path[128];
	ssize_t n = 0;
	int fd;

	work_path(path, sizeof(path), name);
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
}

static long agent_pid(void)
{
	char buf[32];

	read_file("pid", buf, sizeof(buf));
	return atol(buf);
}

/* No child of this process is left, running or a zombie (nothing is reaped here). */
static bool no_children(void)
{
	siginfo_t si = { 0 };

	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

static void bound_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	*(bool *)w->data = true;
}

/* Wakes the loop, whose body looks at the agent's files: nothing else tells it. */
static void poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* What the test does to the job or the agent once they reached a point. */
static void act(struct rrun *run, struct fq *fsrc)
{
	char rec[sizeof(run->record)];

	if (run->kill_at_wait && fq_waiting(fsrc)) {
		cr_assert_gt(agent_pid(), 0);
		cr_assert_eq(kill((pid_t)agent_pid(), SIGKILL), 0);
		run->kill_at_wait = false;
		fq_resume(fsrc);
	}
	/* After the loop turn that entered prepare: whatever prepare sends went out. */
	if (run->hello_in_prepare && run->phase == QM_PHASE_PREPARE && agent_pid() > 0) {
		cr_assert_eq(kill((pid_t)agent_pid(), SIGUSR1), 0);
		run->hello_in_prepare = false;
	}
	if (run->cancel_on_prepare) {
		read_file("record", rec, sizeof(rec));
		if (strstr(rec, "\nprepare ")) {
			cr_assert_eq(qm_job_cancel(run->job), 0);
			run->cancel_on_prepare = false;
		}
	}
}

static void run_remote(struct rrun *run, const struct fq_step *src_script)
{
	struct qm_job_callbacks cbs = { .done = on_done, .phase = on_phase };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_error err = { 0 };
	char src[128], uri[1024];
	ev_timer bound, poll;
	bool bounded = false;
	struct qm_job *job;
	struct fq *fsrc;

	work_path(src, sizeof(src), "src");
	snprintf(uri, sizeof(uri),
		 "exec:%s/tests/helpers/fake-agent --pid-file %s/pid --record %s/record "
		 "%s",
		 ABS_TOP_BUILDDIR, work, work, run->agent ? run->agent : "");
	qm_ctx_set_log_fn(ctx, on_log, run);
	qm_ctx_set_log_priority(ctx, LOG_WARNING);
	fsrc = fq_listen(loop, src, src_script);
	run->opts.src_qmp = src;
	run->opts.dest_uri = run->uri ? run->uri : uri;
	run->opts.runtime_dir = parent;
	run->opts.poll_interval = 1e6;
	run->opts.host_uuid = SRC_HOST_UUID;
	/* tcp is --dest's default; unix does not cross hosts. */
	if (run->opts.transport == QM_TRANSPORT_UNIX)
		run->opts.transport = QM_TRANSPORT_TCP;
	/* Attached by default, to a path on the agent's host. */
	if (!run->opts.launch_dest && !run->opts.dst_qmp)
		run->opts.dst_qmp = "/run/there/qmp.sock";
	job = qm_job_new(ctx, loop, &run->opts, &cbs, run, &err);
	cr_assert(job, "%s: %s", err.error_class, err.text);
	run->job = job;
	ev_timer_init(&poll, poll_cb, 0.01, 0.01);
	if (run->cancel_on_prepare || run->hello_in_prepare)
		ev_timer_start(loop, &poll);
	cr_assert_eq(qm_job_start(job, &err), 0, "%s", err.text);
	while (!run->done) {
		ev_run(loop, EVRUN_ONCE);
		act(run, fsrc);
	}
	ev_timer_stop(loop, &poll);
	while (!fq_finished(fsrc))
		ev_run(loop, EVRUN_NOWAIT);
	/* The job lets the agent go and reaps it by itself once it exited. */
	ev_timer_init(&bound, bound_cb, REAP_BOUND, 0.);
	bound.data = &bounded;
	ev_timer_start(loop, &bound);
	while (!no_children() && !bounded)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &bound);
	read_file("record", run->record, sizeof(run->record));
	run->agent_pid = agent_pid();
	qm_job_unref(job);
	fq_free(fsrc);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	cr_assert_not(bounded, "the agent was not reaped within %.0f s of the end",
		      REAP_BOUND);
	cr_assert(no_children());
	if (run->agent_pid > 0) {
		cr_assert_eq(kill((pid_t)run->agent_pid, 0), -1,
			     "the agent %ld still exists", run->agent_pid);
		cr_assert_eq(errno, ESRCH);
	}
}

/* ---- what the cases check ---------------------------------------------------------- */

/* The record holds a line that is @line, or with @prefix_only one that starts with it. */
static bool recorded(const struct rrun *run, const char *line, bool prefix_only)
{
	size_t n = strlen(line);

	for (const char *p = run->record; *p;) {
		const char *end = strchrnul(p, '\n');

		if ((size_t)(end - p) >= n && strncmp(p, line, n) == 0 &&
		    (prefix_only || (size_t)(end - p) == n))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

/* The agent received a message of @type ("prepare", "finish"...). */
static bool received(const struct rrun *run, const char *type)
{
	char head[64];

	snprintf(head, sizeof(head), "%s ", type);
	return recorded(run, head, true);
}

static void expect_failure(const struct rrun *run, const char *error_class,
			   const char *piece)
{
	const struct qm_result *r = &run->result;

	cr_assert_eq(r->status, QM_JOB_FAILED, "status %d: %s", r->status, r->error.text);
	cr_assert_str_eq(r->error.error_class, error_class, "%s", r->error.text);
	cr_assert(strstr(r->error.text, piece), "'%s' is not in: %s", piece,
		  r->error.text);
}

/* Nothing changed anywhere: the VM runs on the source as it did. */
static void expect_untouched(const struct rrun *run)
{
	cr_assert_not(run->result.changed);
	cr_assert_eq(run->result.vm, QM_VM_SOURCE);
	cr_assert_str_eq(run->result.dst_qmp, "");
	cr_assert_eq(run->result.dst_pid, -1);
}

/* Confirm locates the VM on a source that still runs. */
#define SRC_LOCATED(slot) FQ_EXPECT("query-status", slot), R(slot, RUNNING)
/* Begin, and confirm finds the source as it was: nothing else reaches it. */
#define SRC_UNTOUCHED SRC_BEGIN, SRC_LOCATED(5), FQ_END
/* Perform up to the migrate command, which goes where the agent's cookie says. */
#define SRC_MIGRATE_TO_AGENT                                                             \
	FQ_EXPECT("migrate-set-capabilities", 0),                                        \
		FQ_EXPECT("migrate-set-parameters", 1), R(0, "{}"), R(1, "{}"),          \
		{ .op = FQ_OP_EXPECT,                                                    \
		  .name = "migrate",                                                     \
		  .slot = 2,                                                             \
		  .args = "{\"uri\": \"" AGENT_MIGRATE_URI "\"}" },                      \
		R(2, "{}")

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

/* ---- the destination's QMP in the source's transcript (feature qmp-log) ---------------- */

static const struct fq_step completes_src[] = { SRC_BEGIN_WITH_CAPS(CAPS_ALL),
						SRC_MIGRATE_TO_AGENT, SRC_COMPLETES, FQ_END };

/* The transcript's destination lines, checked as JSON lines in time order; how many. */
static int destination_lines(const char *path, double not_after, json_t *dst[8])
{
	char line[8192];
	double last = 0;
	int n = 0;
	FILE *f = fopen(path, "r");

	cr_assert(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);
		double ts = json_real_value(json_object_get(j, "ts"));

		cr_assert(j, "not JSON: %s", line);
		cr_assert_geq(ts, last, "time went back: %s", line);
		cr_assert_leq(ts, not_after, "a line from the future: %s", line);
		last = ts;
		if (strcmp(json_string_value(json_object_get(j, "side")), "destination") != 0 ||
		    n == 8) {
			json_decref(j);
			continue;
		}
		dst[n++] = j;
	}
	fclose(f);
	return n;
}

Test(remote, the_agent_forwards_the_destinations_qmp_into_the_sources_transcript)
{
	struct rrun run = { .agent = "--forward-qmp" };
	char path[128];
	json_t *dst[8], *msg;
	int n;

	work_path(path, sizeof(path), "qmp.log");
	run.opts.qmp_log = path;
	run_remote(&run, completes_src);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	/* Asked for, in prepare's settings. */
	cr_assert(strstr(run.record, " qmp-log=1\n"), "%s", run.record);
	n = destination_lines(path, (double)time(NULL) + 1, dst);
	cr_assert_eq(n, 3, "%d destination lines", n);
	/* In order, both ways, the agent's clock bounded by the source's. */
	cr_assert_str_eq(json_string_value(json_object_get(dst[0], "dir")), "send");
	msg = json_object_get(dst[0], "msg");
	cr_assert_str_eq(json_string_value(json_object_get(msg, "execute")), "migrate-incoming");
	cr_assert_str_eq(json_string_value(json_object_get(dst[1], "dir")), "recv");
	msg = json_object_get(dst[1], "msg");
	cr_assert(json_is_object(json_object_get(msg, "return")));
	cr_assert_eq(json_integer_value(json_object_get(msg, "id")), 1);
	cr_assert(json_is_string(json_object_get(dst[2], "msg")));
	cr_assert_eq(json_integer_value(json_object_get(dst[2], "bytes")), 2000000);
	cr_assert_null(json_object_get(dst[1], "dropped"), "the line format is unchanged");
	for (int i = 0; i < n; i++)
		json_decref(dst[i]);
	cr_assert(strstr(run.warnings, "the agent dropped 3 of the destination's QMP messages"),
		  "%s", run.warnings);
}

/* An agent that cannot forward still migrates: a warning says the log is half. */
Test(remote, an_agent_without_qmp_log_migrates_and_the_source_warns)
{
	struct rrun run = { .agent = "--lack qmp-log --forward-qmp" };
	char path[128];
	json_t *dst[8];

	work_path(path, sizeof(path), "qmp.log");
	run.opts.qmp_log = path;
	run_remote(&run, completes_src);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert(strstr(run.record, " qmp-log=0\n"), "%s", run.record);
	cr_assert(strstr(run.warnings, "does not forward the destination's QMP messages: the "
				       "QMP log holds the source's side only"),
		  "%s", run.warnings);
	cr_assert_eq(destination_lines(path, (double)time(NULL) + 1, dst), 0);
}

/* No transcript, no forwarding asked: the agent that could sends nothing. */
Test(remote, without_a_qmp_log_the_agent_is_not_asked_to_forward)
{
	struct rrun run = { .agent = "--forward-qmp" };

	run_remote(&run, completes_src);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert(strstr(run.record, " qmp-log=0\n"), "%s", run.record);
	cr_assert_null(strstr(run.warnings, "QMP"), "%s", run.warnings);
}
