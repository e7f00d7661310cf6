/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The engine's phases when all goes well, and bad input before anything
 * starts (engine-harness.h drives the two fake QEMUs; the prechecks'
 * refusals are in test-engine-precheck.c): bad input fails at once, "at
 * once" checked against a bound (BOUND_MS) far below the 10 s a QMP
 * connection gets by default.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "tests/helpers/engine-harness.h"

TestSuite(engine, .timeout = 20);

#define BOUND_MS 5000

Test(engine, completed_migration_runs_all_phases_and_reports_qemu_figures)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		SRC_COMPLETES,
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

/* ---- bad input: nothing changes ------------------------------------------------- */

/* Failed with nothing changed, the VM where it was, and @what in the error. */
static void assert_nothing_changed(const struct run *run, const char *side, const char *what)
{
	const struct qm_result *r = &run->result;

	cr_assert_eq(r->status, QM_JOB_FAILED, "%s", r->error.text);
	cr_assert_not(r->changed, "the job says it changed something");
	cr_assert_eq(r->vm, QM_VM_SOURCE, "vm %s", qm_vm_location_name(r->vm));
	cr_assert_str_eq(r->error.error_class, "ConnectionFailed");
	cr_assert(strstr(r->error.text, side) && strstr(r->error.text, what), "%s",
		  r->error.text);
	cr_assert_eq(r->phase_ms[QM_PHASE_PREPARE], -1, "prepare ran");
	cr_assert_eq(r->phase_ms[QM_PHASE_PERFORM], -1, "perform ran");
}

Test(engine, a_missing_source_socket_fails_at_once_and_changes_nothing)
{
	static const struct fq_step dst[] = { FQ_END };
	struct run run = { 0 };

	migrate_with(&run, NULL, dst, false);
	assert_nothing_changed(&run, "source QEMU", "/src does not exist");
	cr_assert_lt(run.result.wall_ms, BOUND_MS);
}

Test(engine, a_missing_destination_socket_fails_at_once_and_changes_nothing)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		FQ_EXPECT("query-status", 5),
		R(5, RUNNING),
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, NULL, false);
	assert_nothing_changed(&run, "destination QEMU", "/dst does not exist");
	cr_assert_lt(run.result.wall_ms, BOUND_MS);
}

/*
 * A socket that accepts and never greets (a monitor busy with another
 * client): nothing went to it.  The destination finished its handshake long
 * before the source's connect timeout, and any command to it now would fail
 * the test: the job never reached the VM, so it leaves that QEMU alone.
 */
Test(engine, a_source_that_never_greets_changes_nothing_and_leaves_the_destination_alone)
{
	static const struct fq_step src[] = { FQ_END };
	static const struct fq_step dst[] = { FQ_HANDSHAKE, FQ_END };
	struct run run = { .connect_timeout = 0.5 };

	migrate_with(&run, src, dst, false);
	assert_nothing_changed(&run, "source QEMU", "no QMP greeting");
	cr_assert_geq(run.result.wall_ms, 450, "gave up after %lld ms", run.result.wall_ms);
}

Test(engine, a_source_that_refuses_qmp_capabilities_changes_nothing)
{
	static const struct fq_step src[] = {
		FQ_SEND_FILE("greeting.json"),
		FQ_EXPECT("qmp_capabilities", 0),
		FQ_REPLY_TEXT(0, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"busy\"}}"),
		FQ_END,
	};
	static const struct fq_step dst[] = { FQ_END };
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_assert_not(run.result.changed);
	cr_assert_eq(run.result.vm, QM_VM_SOURCE);
	cr_assert_str_eq(run.result.error.error_class, "GenericError");
	cr_assert(strstr(run.result.error.text, "source QEMU: busy"), "%s",
		  run.result.error.text);
}

/* ---- the same socket for both sides ----------------------------------------------- */

static char sock_dir[64];

static void path_in_dir(char *buf, size_t len, const char *name)
{
	snprintf(buf, len, "%s/%s", sock_dir, name);
}

/* A listening socket at @name in a fresh directory; returns its fd. */
static int socket_in_dir(const char *name)
{
	struct sockaddr_un addr = { .sun_family = AF_UNIX };
	int fd;

	snprintf(sock_dir, sizeof(sock_dir), "/tmp/qmigrate-engine-XXXXXX");
	cr_assert(mkdtemp(sock_dir));
	path_in_dir(addr.sun_path, sizeof(addr.sun_path), name);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&addr, sizeof(addr)), 0);
	cr_assert_eq(listen(fd, 1), 0);
	return fd;
}

static void expect_same_socket_refused(const char *src, const char *dst)
{
	struct qm_job_options opts = { .src_qmp = src, .dst_qmp = dst };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_error err = { 0 };

	cr_assert_null(qm_job_new(ctx, loop, &opts, NULL, NULL, &err), "%s and %s accepted",
		       src, dst);
	cr_assert_eq(err.code, -EINVAL);
	cr_assert_str_eq(err.error_class, "Usage");
	cr_assert(strstr(err.text, src) && strstr(err.text, "two QEMUs"), "%s", err.text);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
}

Test(engine, the_same_socket_for_both_sides_is_refused_by_any_name)
{
	char sock[128], sym[128], hard[128];
	int fd = socket_in_dir("qmp.sock");

	path_in_dir(sock, sizeof(sock), "qmp.sock");
	path_in_dir(sym, sizeof(sym), "sym.sock");
	path_in_dir(hard, sizeof(hard), "hard.sock");
	cr_assert_eq(symlink(sock, sym), 0);
	cr_assert_eq(link(sock, hard), 0);
	expect_same_socket_refused(sock, sock);
	expect_same_socket_refused(sock, sym);
	expect_same_socket_refused(hard, sock);
	/* Two sockets that do not exist yet are two names: the wait finds out. */
	expect_same_socket_refused("/nonexistent/a.sock", "/nonexistent/a.sock");
	close(fd);
	unlink(sym);
	unlink(hard);
	unlink(sock);
	rmdir(sock_dir);
}

/* A socket waited for may appear after qm_job_new, as a link to the other one. */
Test(engine, start_refuses_sockets_that_became_one_after_new)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_error err = { 0 };
	char sock[128], sym[128];
	struct qm_job *job;
	int fd = socket_in_dir("qmp.sock");

	path_in_dir(sock, sizeof(sock), "qmp.sock");
	path_in_dir(sym, sizeof(sym), "later.sock");
	struct qm_job_options opts = { .src_qmp = sock, .dst_qmp = sym, .wait_for_qmp = 30 };

	job = qm_job_new(ctx, loop, &opts, NULL, NULL, &err);
	cr_assert(job, "%s", err.text);
	cr_assert_eq(symlink(sock, sym), 0);
	cr_assert_eq(qm_job_start(job, &err), -EINVAL);
	cr_assert_str_eq(err.error_class, "Usage");
	cr_assert(strstr(err.text, "same socket"), "%s", err.text);
	qm_job_unref(job);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	close(fd);
	unlink(sym);
	unlink(sock);
	rmdir(sock_dir);
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
