/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Local migration end to end with real QEMU and the test guest: every
 * migration ends with the guest's memory checked on the side that has it.
 * "Mid-migration" is made certain, not timed: the stream is capped and the
 * test acts on the first progress line, long before the copy can finish.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <poll.h>
#include <pty.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/guest/guest-layout.h"
#include "tests/guest/memcheck.h"
#include "tests/helpers/guest.h"
#include "tests/helpers/pair.h"
#include "tests/helpers/proc.h"
#include "tests/helpers/qemu.h"

TestSuite(migrate, .timeout = 300, .fini = stop_pair);

struct cli_run {
	int exit_code;
	json_t *result; /* the last line, {"event":"result", ...} */
	int progress_lines;
	unsigned long long tunnel_bytes; /* the last progress line's */
	char last_status[32];		 /* the last progress line's status */
	int policy_lines;
	char policy[32]; /* the last policy line's "policy" */
	int advice_lines;
	char advice[512]; /* the last "advise" line's reason */
};

static const char *field(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	cr_assert(s, "no %s in the line", key);
	return s;
}

/* What the test does mid-migration: on the first progress line, or on the advice. */
enum mid_action {
	MID_NONE,
	MID_SIGINT,
	MID_SIGTERM,
	MID_KILL_DST,
	MID_KILL_SRC,
	MID_SIGINT_ON_ADVICE,
};

/* Does @mid to qmigrate (@p) or a QEMU; true once acted (MID_NONE: at once). */
static bool act(struct tp_proc *p, enum mid_action mid)
{
	switch (mid) {
	case MID_SIGINT:
	case MID_SIGINT_ON_ADVICE:
		cr_assert_eq(tp_signal(p, SIGINT), 0);
		break;
	case MID_SIGTERM:
		cr_assert_eq(tp_signal(p, SIGTERM), 0);
		break;
	case MID_KILL_DST:
		cr_assert_eq(tq_qemu_kill(&pair.dst, SIGKILL), 0);
		break;
	case MID_KILL_SRC:
		cr_assert_eq(tq_qemu_kill(&pair.src, SIGKILL), 0);
		break;
	case MID_NONE:
		break;
	}
	return true;
}

static void run_cli(const char *const extra[], enum mid_action mid, struct cli_run *out)
{
	const char *argv[32] = { getenv("QMIGRATE"), "migrate", "--json", "--src-qmp",
				 pair.src.qmp_path, "--dst-qmp", pair.dst.qmp_path };
	int argc = 7;
	struct tp_proc p;
	char line[8192];
	bool acted = false;

	cr_assert(argv[0], "QMIGRATE is not set");
	for (; extra && *extra; extra++)
		argv[argc++] = *extra;
	argv[argc] = NULL;
	memset(out, 0, sizeof(*out));
	cr_assert_eq(tp_spawn(&p, argv), 0);
	while (tp_read_line(&p, line, sizeof(line), 240) == 1) {
		json_error_t jerr;
		json_t *obj = json_loads(line, 0, &jerr);

		cr_assert(obj, "not JSON: %s", line);
		cr_assert(json_is_string(json_object_get(obj, "event")), "no event: %s", line);
		if (strcmp(json_string_value(json_object_get(obj, "event")), "policy") == 0) {
			const char *pol = json_string_value(json_object_get(obj, "policy"));

			cr_assert(pol && json_is_string(json_object_get(obj, "action")) &&
					  json_is_string(json_object_get(obj, "reason")),
				  "incomplete policy line: %s", line);
			snprintf(out->policy, sizeof(out->policy), "%s", pol);
			out->policy_lines++;
			if (strcmp(pol, "advise") == 0) {
				cr_assert_str_eq(field(obj, "action"), "advise", "%s",
						 line);
				cr_assert_null(json_object_get(obj, "value"), "%s", line);
				snprintf(out->advice, sizeof(out->advice), "%s",
					 field(obj, "reason"));
				out->advice_lines++;
				if (!acted && mid == MID_SIGINT_ON_ADVICE)
					acted = act(&p, mid);
			}
		}
		if (strcmp(json_string_value(json_object_get(obj, "event")), "progress") == 0) {
			json_t *tunnel = json_object_get(obj, "tunnel_bytes");
			json_int_t bytes = json_integer_value(tunnel);

			cr_assert(json_is_integer(tunnel), "no tunnel_bytes: %s", line);
			cr_assert_geq(bytes, (json_int_t)out->tunnel_bytes,
				      "the tunnel counter went back: %s", line);
			out->tunnel_bytes = (unsigned long long)bytes;
			snprintf(out->last_status, sizeof(out->last_status), "%s",
				 json_string_value(json_object_get(obj, "status")));
			out->progress_lines++;
			if (!acted && mid != MID_SIGINT_ON_ADVICE)
				acted = act(&p, mid);
		}
		json_decref(out->result);
		out->result = obj;
	}
	out->exit_code = tp_wait(&p, 60);
	tp_cleanup(&p);
	cr_assert(out->result, "no output from qmigrate");
	cr_assert_str_eq(json_string_value(json_object_get(out->result, "event")), "result");
	if (mid != MID_NONE)
		cr_assert(acted, "the migration ended before any progress was reported");
}

/*
 * An uncapped migration with QEMU's default downtime limit: the gentle guest
 * (GENTLE MiB/s, tests/helpers/pair.h) is the lever that makes it converge,
 * under KVM and TCG alike.  Over unix, the local default, a 1 GiB guest
 * too; over tcp QEMU moves the same pages through another socket, which
 * 256 MiB shows as well.
 */
static void migrate_and_verify(unsigned mib, const char *transport)
{
	const char *const extra[] = { "--transport", transport, NULL };
	struct cli_run run;
	json_t *phases;

	start_pair_paced(mib, GENTLE);
	run_cli(extra, MID_NONE, &run);
	cr_assert_eq(run.exit_code, 0, "exit %d", run.exit_code);
	cr_assert_str_eq(field(run.result, "status"), "completed");
	cr_assert_str_eq(field(run.result, "vm"), "destination");
	cr_assert_gt(json_integer_value(json_object_get(run.result, "total_ms")), 0);
	cr_assert_geq(json_integer_value(json_object_get(run.result, "downtime_ms")), 0);
	cr_assert_geq(json_integer_value(json_object_get(run.result, "transferred_bytes")),
		      (json_int_t)mib << 20 >> 4, "implausibly few bytes moved");
	cr_assert_gt(json_integer_value(json_object_get(run.result, "passes")), 0);
	cr_assert_gt(json_real_value(json_object_get(run.result, "throughput_mbps")), 0);
	cr_assert_null(json_object_get(run.result, "error"));
	cr_assert_eq(run.tunnel_bytes, 0, "a direct migration counted tunnel bytes");
	phases = json_object_get(run.result, "phases");
	for (int i = 0; i < QM_PHASE_DONE; i++) {
		char key[32];

		snprintf(key, sizeof(key), "%s_ms", qm_phase_name(i));
		cr_assert(json_is_integer(json_object_get(phases, key)), "no %s", key);
	}
	assert_on_destination("running");
	json_decref(run.result);
}

Test(migrate, unix_256mib_completes_with_memory_intact)
{
	migrate_and_verify(256, "unix");
}

Test(migrate, tcp_256mib_completes_with_memory_intact)
{
	migrate_and_verify(256, "tcp");
}

Test(migrate, unix_1gib_completes_with_memory_intact)
{
	migrate_and_verify(1024, "unix");
}

/*
 * The guest's modes (tests/guest/guest-layout.h): a hot set incremented in a
 * tight loop, rep movs/stos, SSE stores.  One small migration in each, under
 * whichever accelerator the machine has; the check on the destination
 * covers the sweep, the mode's regions, and any lost write the guest itself
 * saw once it ran there.
 */
/* The source QEMU is older than 9.0 (query-version). */
static bool qemu_before_9(void)
{
	json_t *v = qmp_once(&pair.src, "query-version", NULL);
	json_int_t major = json_integer_value(json_object_get(json_object_get(v, "qemu"), "major"));

	cr_assert_gt(major, 0, "query-version gave no major version");
	json_decref(v);
	return major < 9;
}

static void migrate_in_mode(unsigned mode)
{
	struct cli_run run;

	start_pair_mode(64, GENTLE, mode);
	pair.hot_loss_is_qemus = (mode & QMG_MODE_HOT) && !tq_kvm_usable() && qemu_before_9();
	run_cli(NULL, MID_NONE, &run);
	cr_assert_eq(run.exit_code, 0, "exit %d", run.exit_code);
	cr_assert_str_eq(field(run.result, "status"), "completed");
	assert_on_destination("running");
	json_decref(run.result);
}

Test(migrate, hot_set_mode_loses_no_write)
{
	migrate_in_mode(QMG_MODE_HOT);
}

Test(migrate, string_mode_loses_no_write)
{
	migrate_in_mode(QMG_MODE_STRING);
}

Test(migrate, sse_mode_loses_no_write)
{
	migrate_in_mode(QMG_MODE_SSE);
}

static void cancel_mid_migration(enum mid_action signal_action)
{
	const char *const extra[] = { "--bandwidth", "16", NULL };
	struct cli_run run;
	char *status;

	start_pair_paced(256, GENTLE);
	run_cli(extra, signal_action, &run);
	cr_assert_eq(run.exit_code, 1, "exit %d", run.exit_code);
	cr_assert_str_eq(field(run.result, "status"), "cancelled");
	cr_assert_str_eq(field(run.result, "vm"), "source");
	cr_assert_eq(tq_qemu_wait_exit(&pair.dst, 20), 0, "a destination QEMU remains");
	status = vm_status(&pair.src);
	cr_assert_str_eq(status, "running");
	free(status);
	assert_guest_runs(&pair.src);
	check_memory(&pair.src);
	json_decref(run.result);
}

Test(migrate, sigint_mid_migration_keeps_vm_on_source_and_quits_destination)
{
	cancel_mid_migration(MID_SIGINT);
}

Test(migrate, sigterm_mid_migration_keeps_vm_on_source_and_quits_destination)
{
	cancel_mid_migration(MID_SIGTERM);
}

Test(migrate, source_killed_mid_migration_exits_3_with_state_uncertain)
{
	const char *const extra[] = { "--bandwidth", "16", NULL };
	struct cli_run run;
	const char *message;

	start_pair_paced(256, GENTLE);
	run_cli(extra, MID_KILL_SRC, &run);
	cr_assert_eq(run.exit_code, 3, "exit %d", run.exit_code);
	cr_assert_str_eq(field(run.result, "status"), "failed");
	cr_assert_str_eq(field(run.result, "vm"), "unknown");
	/*
	 * Both connections close from the one kill: the destination's load fails
	 * and QEMU exits at once, so either side's error may be the first.
	 */
	message = field(json_object_get(run.result, "error"), "message");
	cr_assert(strstr(message, "source QEMU") || strstr(message, "destination QEMU"),
		  "the error names no QEMU: %s", message);
	/* The half-filled destination does not stay behind. */
	cr_assert_eq(tq_qemu_wait_exit(&pair.dst, 20), 0, "a destination QEMU remains");
	json_decref(run.result);
}

Test(migrate, destination_killed_mid_migration_fails_with_vm_on_source)
{
	const char *const extra[] = { "--bandwidth", "16", NULL };
	struct cli_run run;
	const char *message;
	char *status;

	start_pair_paced(256, GENTLE);
	run_cli(extra, MID_KILL_DST, &run);
	cr_assert_eq(run.exit_code, 1, "exit %d", run.exit_code);
	cr_assert_str_eq(field(run.result, "status"), "failed");
	cr_assert_str_eq(field(run.result, "vm"), "source");
	message = field(json_object_get(run.result, "error"), "message");
	cr_assert(strstr(message, "destination QEMU"), "the error does not name the cause: %s",
		  message);
	status = vm_status(&pair.src);
	cr_assert_str_eq(status, "running");
	free(status);
	assert_guest_runs(&pair.src);
	check_memory(&pair.src);
	json_decref(run.result);
}

Test(migrate, paused_source_stays_paused_on_destination)
{
	struct cli_run run;
	char *status;

	start_pair(256);
	json_decref(qmp_once(&pair.src, "stop", NULL));
	run_cli(NULL, MID_NONE, &run);
	cr_assert_eq(run.exit_code, 0);
	cr_assert_str_eq(field(run.result, "vm"), "destination");
	cr_assert_eq(tq_qemu_wait_exit(&pair.src, 20), 0);
	status = vm_status(&pair.dst);
	cr_assert_str_eq(status, "paused");
	free(status);
	check_memory(&pair.dst);
	json_decref(run.result);
}

/*
 * --wait: qmigrate starts before the QEMUs do.  Its first line (begin) comes
 * before the test starts them, so it certainly waited for their sockets,
 * which appear as links once the guest runs.  The wait is only a bound,
 * longer than starting the pair may take.
 */
Test(migrate, wait_connects_to_sockets_that_appear_after_qmigrate_started)
{
	char dir[] = "/tmp/qmigrate-wait-XXXXXX", src[64], dst[64], line[8192];
	const char *const argv[] = { getenv("QMIGRATE"), "migrate", "--json", "--wait", "280",
				     "--src-qmp", src, "--dst-qmp", dst, NULL };
	json_t *result = NULL;
	struct tp_proc p;
	int exit_code;

	cr_assert(argv[0], "QMIGRATE is not set");
	cr_assert(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src.sock", dir);
	snprintf(dst, sizeof(dst), "%s/dst.sock", dir);
	cr_assert_eq(tp_spawn(&p, argv), 0);
	cr_assert_eq(tp_read_line(&p, line, sizeof(line), 60), 1, "qmigrate printed nothing");
	cr_assert(strstr(line, "\"phase\":\"begin\""), "%s", line);
	start_pair(256);
	cr_assert_eq(symlink(pair.src.qmp_path, src), 0);
	cr_assert_eq(symlink(pair.dst.qmp_path, dst), 0);
	while (tp_read_line(&p, line, sizeof(line), 240) == 1) {
		json_decref(result);
		result = json_loads(line, 0, NULL);
		cr_assert(result, "not JSON: %s", line);
	}
	exit_code = tp_wait(&p, 60);
	tp_cleanup(&p);
	unlink(src);
	unlink(dst);
	rmdir(dir);
	cr_assert_eq(exit_code, 0, "exit %d", exit_code);
	cr_assert_str_eq(field(result, "status"), "completed");
	cr_assert_str_eq(field(result, "vm"), "destination");
	check_memory(&pair.dst);
	json_decref(result);
}

/*
 * Runs @argv on a terminal of its own (so that qmigrate draws its bar) until
 * it closes it; the output goes into @out.  When @interrupt_at is not NULL,
 * qmigrate gets a SIGINT once that text has appeared.  Returns the wait status.
 */
static int run_on_terminal(const char *const argv[], char *out, size_t size,
			   const char *interrupt_at)
{
	bool interrupted = false;
	size_t len = 0;
	int master, status;
	pid_t pid;

	cr_assert(argv[0], "QMIGRATE is not set");
	pid = forkpty(&master, NULL, NULL, NULL);
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	for (;;) {
		struct pollfd pfd = { .fd = master, .events = POLLIN };
		ssize_t n;

		cr_assert_gt(poll(&pfd, 1, 240000), 0, "qmigrate printed nothing for 240 s");
		n = read(master, out + len, size - 1 - len);
		if (n <= 0)
			break; /* EIO once the child closed the terminal */
		len += (size_t)n;
		cr_assert_lt(len, size - 1);
		out[len] = '\0';
		if (interrupt_at && !interrupted && strstr(out, interrupt_at)) {
			cr_assert_eq(kill(pid, SIGINT), 0);
			interrupted = true;
		}
	}
	out[len] = '\0';
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	close(master);
	return status;
}

/*
 * Capped so that progress is certainly sampled; the generous downtime limit
 * lets it switch over after the first pass although the guest dirties memory
 * faster than the cap.
 */
#define SAMPLED "--bandwidth", "64", "--max-downtime", "60000"

Test(migrate, terminal_shows_progress_bar_and_summary)
{
	const char *const argv[] = { getenv("QMIGRATE"), "migrate", SAMPLED,
				     "--src-qmp", pair.src.qmp_path,
				     "--dst-qmp", pair.dst.qmp_path, NULL };
	static char out[1 << 20];
	int status;

	start_pair(256);
	status = run_on_terminal(argv, out, sizeof(out), NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", out);
	cr_assert(strstr(out, "MiB/s") && strstr(out, "pass ") && strstr(out, "remaining") &&
			  strstr(out, "downtime ~") && strstr(out, "ETA"),
		  "no progress bar in: %s", out);
	cr_assert_null(strstr(out, "tunnel "), "a direct migration shows a tunnel in: %s",
		       out);
	cr_assert(strstr(out, "migration completed"), "no summary in: %s", out);
	check_memory(&pair.dst);
}

Test(migrate, terminal_bar_shows_the_tunnel_counter)
{
	const char *const argv[] = { getenv("QMIGRATE"), "migrate",
				     "--transport", "tunnel", SAMPLED,
				     "--src-qmp", pair.src.qmp_path,
				     "--dst-qmp", pair.dst.qmp_path, NULL };
	static char out[1 << 20];
	const char *last = NULL;
	double mib = 0;
	int status, end = 0;

	start_pair(256);
	status = run_on_terminal(argv, out, sizeof(out), NULL);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s", out);
	for (const char *s = out; (s = strstr(s, "  tunnel ")); s++)
		last = s;
	cr_assert(last, "no tunnel counter in the bar: %s", out);
	cr_assert(sscanf(last, "  tunnel %lf MiB%n", &mib, &end) == 1 && end > 0,
		  "no MiB figure after 'tunnel': %.40s", last);
	cr_assert_gt(mib, 0, "%.40s", last);
	cr_assert(strstr(out, "migration completed"), "no summary in: %s", out);
	check_memory(&pair.dst);
}

/*
 * The full-speed guest re-dirties all its RAM on every pass, which takes 1 s
 * at this cap: QEMU expects a downtime of about 1 s, above its default
 * 300 ms, pass after pass.  The advice comes at about the 7th pass; the test
 * then interrupts qmigrate, as a user would.  Should the advice never come,
 * the default completion timeout (120 s for this guest) still ends the run.
 */
#define NOT_CONVERGING "--bandwidth", "64"
#define NOT_CONVERGING_MIB 64

Test(migrate, not_converging_advises_once_in_a_policy_line)
{
	const char *const extra[] = { NOT_CONVERGING, NULL };
	struct cli_run run;

	start_pair(NOT_CONVERGING_MIB);
	run_cli(extra, MID_SIGINT_ON_ADVICE, &run);
	cr_assert_eq(run.exit_code, 1, "exit %d", run.exit_code);
	cr_assert_str_eq(field(run.result, "status"), "cancelled");
	cr_assert_str_eq(field(run.result, "vm"), "source");
	cr_assert_eq(run.advice_lines, 1, "%d advice lines", run.advice_lines);
	cr_assert(strstr(run.advice, "stays above the limit 300 ms after 5 passes") &&
			  strstr(run.advice, "--max-downtime ") &&
			  strstr(run.advice, "or a higher --bandwidth (now 64 MiB/s)"),
		  "%s", run.advice);
	/* The advice is the only decision: it acts on nothing. */
	cr_assert_eq(run.policy_lines, 1);
	assert_back_on_source();
	json_decref(run.result);
}

Test(migrate, not_converging_terminal_shows_the_advice_on_a_line_of_its_own)
{
	const char *const argv[] = {
		getenv("QMIGRATE"), "migrate",	 NOT_CONVERGING,    "--src-qmp",
		pair.src.qmp_path,  "--dst-qmp", pair.dst.qmp_path, NULL,
	};
	static char out[1 << 20];
	const char *advice, *end;
	int status;

	start_pair(NOT_CONVERGING_MIB);
	status = run_on_terminal(argv, out, sizeof(out), "advice: ");
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 1, "%s", out);
	advice = strstr(out, "advice: the guest dirties memory faster than it is sent: ");
	cr_assert(advice, "no advice in: %s", out);
	cr_assert_null(strstr(advice + 1, "advice: "), "advice twice in: %s", out);
	/* It starts a line: the bar before it was erased, not written over. */
	cr_assert(advice - out >= 4 && memcmp(advice - 4, "\r\033[K", 4) == 0,
		  "the advice does not start a line: %.80s",
		  advice - 4 > out ? advice - 4 : out);
	/* And ends one before any redraw (the terminal turns \n into \r\n). */
	end = strstr(advice, "\r\n");
	cr_assert(end, "the advice line does not end: %s", advice);
	cr_assert_null(memchr(advice, '\r', (size_t)(end - advice)), "garbled: %s",
		       advice);
	cr_assert_null(memchr(advice, '\033', (size_t)(end - advice)), "garbled: %s",
		       advice);
	cr_assert(strstr(out, "pass ") && strstr(out, "downtime ~"), "no bar in: %s",
		  out);
	cr_assert(strstr(out, "migration cancelled"), "no summary in: %s", out);
	assert_back_on_source();
}

Test(migrate, tunnel_progress_lines_count_the_tunnel_bytes)
{
	const char *const extra[] = { "--transport", "tunnel", SAMPLED, NULL };
	struct cli_run run;

	start_pair(256);
	run_cli(extra, MID_NONE, &run);
	cr_assert_eq(run.exit_code, 0, "exit %d", run.exit_code);
	cr_assert_str_eq(field(run.result, "status"), "completed");
	cr_assert_gt(run.progress_lines, 0, "no progress line");
	/*
	 * The last line is the final sample, whenever the polls fell: the
	 * source QEMU cannot complete before all but the pipes' and the pump's
	 * few MiB went through the tunnel.
	 */
	cr_assert_str_eq(run.last_status, "completed");
	cr_assert_gt(run.tunnel_bytes, 0, "no progress line counted a tunnelled byte");
	check_memory(&pair.dst);
	json_decref(run.result);
}

struct api_run {
	int progress;
	bool done;
	struct qm_result result;
};

static void api_progress(struct qm_job *job, const struct qm_progress *p, void *ud)
{
	struct api_run *r = ud;

	cr_assert_eq(p->phase, QM_PHASE_PERFORM);
	cr_assert(p->percent >= 0 && p->percent <= 100);
	r->progress++;
}

static void api_done(struct qm_job *job, const struct qm_result *res, void *ud)
{
	struct api_run *r = ud;

	r->result = *res;
	r->done = true;
}

Test(migrate, embedding_api_runs_a_job_on_the_callers_loop)
{
	struct qm_job_callbacks cbs = { .progress = api_progress, .done = api_done };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct api_run r = { 0 };
	struct qm_error err = { 0 };
	struct qm_job *job;

	start_pair(256);
	struct qm_job_options opts = {
		.src_qmp = pair.src.qmp_path,
		.dst_qmp = pair.dst.qmp_path,
		.bandwidth = 128ULL << 20, /* progress is certainly sampled... */
		.max_downtime_ms = 60000,  /* ...and it switches over after one pass */
	};
	job = qm_job_new(ctx, loop, &opts, &cbs, &r, &err);
	cr_assert(job, "%s", err.text);
	cr_assert_eq(qm_job_start(job, &err), 0, "%s", err.text);
	while (!r.done)
		ev_run(loop, EVRUN_ONCE);
	qm_job_unref(job);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	cr_assert_eq(r.result.status, QM_JOB_COMPLETED, "%s", r.result.error.text);
	cr_assert_eq(r.result.vm, QM_VM_DESTINATION);
	cr_assert_gt(r.progress, 0, "no progress callback");
	check_memory(&pair.dst);
}

Test(migrate, policy_decisions_are_json_lines_and_a_timeout_rolls_back)
{
	const char *const extra[] = { "--bandwidth", "16", "--timeout", "1", NULL };
	struct cli_run run;
	char *status;

	start_pair_paced(256, GENTLE);
	run_cli(extra, MID_NONE, &run);
	cr_assert_eq(run.exit_code, 1, "exit %d", run.exit_code);
	cr_assert_str_eq(field(run.result, "status"), "failed");
	cr_assert_str_eq(field(run.result, "vm"), "source");
	cr_assert_eq(run.policy_lines, 1);
	cr_assert_str_eq(run.policy, "timeout");
	cr_assert_str_eq(field(json_object_get(run.result, "error"), "class"), "PolicyCancelled");
	status = vm_status(&pair.src);
	cr_assert_str_eq(status, "running");
	free(status);
	check_memory(&pair.src);
	json_decref(run.result);
}
