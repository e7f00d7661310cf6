/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <ev.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/guest/guest-layout.h"
#include "tests/guest/memcheck.h"
#include "tests/helpers/guest.h"
#include "tests/helpers/pair.h"
#include "util/macros.h"

struct pair pair;

void start_pair_mode(unsigned mib, unsigned dirty_rate, unsigned mode)
{
	struct tq_qemu_opts src = {
		.machine = "pc",
		.mem_mib = mib,
		.boot_image = tg_guest_image(),
		.dirty_rate = dirty_rate,
		.guest_mode = mode,
	};
	struct tq_qemu_opts dst = src; /* the same fw_cfg too: the same machine */

	dst.paused = true;
	dst.incoming_defer = true;
	pair.mib = mib;
	pair.dirty_rate = dirty_rate;
	pair.mode = mode;
	pair.hot_loss_is_qemus = false;
	cr_assert_eq(tq_qemu_start(&pair.src, &src), 0);
	cr_assert_eq(tq_qemu_start(&pair.dst, &dst), 0);
	/*
	 * Until the first full pass, pages hold BIOS leftovers; after it, every
	 * pass increments (pass 1 is never paced, so this wait is short).
	 */
	cr_assert_geq(tg_guest_wait_passes(&pair.src, 1, 180), 1);
}

void start_pair_paced(unsigned mib, unsigned dirty_rate)
{
	start_pair_mode(mib, dirty_rate, 0);
}

void start_pair(unsigned mib)
{
	start_pair_paced(mib, 0);
}

void stop_pair(void)
{
	tq_qemu_stop(&pair.src);
	tq_qemu_stop(&pair.dst);
}

json_t *qmp_once(struct tq_qemu *vm, const char *cmd, json_t *args)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_qmp *q = qm_qmp_new(ctx, loop, NULL);
	struct qm_error err = { 0 };
	json_t *ret = NULL;

	if (qm_qmp_connect(q, vm->qmp_path, &err) == 0)
		ret = qm_qmp_command_sync(q, cmd, args, -1, &err);
	else
		json_decref(args);
	cr_assert(ret, "%s on %s: %s", cmd, vm->qmp_path, err.text);
	qm_qmp_unref(q);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	return ret;
}

char *vm_status(struct tq_qemu *vm)
{
	json_t *ret = qmp_once(vm, "query-status", NULL);
	char *s = strdup(json_string_value(json_object_get(ret, "status")));

	json_decref(ret);
	return s;
}

/* Stops @vm, saves its RAM and checks the guest's invariant. */
void check_memory(struct tq_qemu *vm)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_qmp *q = qm_qmp_new(ctx, loop, NULL);
	struct qm_memcheck_result res;
	struct qm_error err = { 0 };
	char path[256];
	json_t *ret;

	snprintf(path, sizeof(path), "%s/mem.dump", vm->dir);
	cr_assert_eq(qm_qmp_connect(q, vm->qmp_path, &err), 0, "%s", err.text);
	ret = qm_qmp_command_sync(q, "stop", NULL, -1, &err);
	cr_assert(ret, "stop: %s", err.text);
	json_decref(ret);
	cr_assert_eq(tg_guest_dump(q, pair.mib, path), 0);
	qm_qmp_unref(q);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	cr_assert_eq(qm_memcheck_file(path, 0, &res), 0, "%s", res.message);
	if (!res.ok && pair.hot_loss_is_qemus && strcmp(res.region, "hot") == 0) {
		cr_log_warn("KNOWN QEMU BUG (QEMU < 9.0, TCG; qmigrate warns about it): %s",
			    res.message);
		fprintf(stderr, "tests: KNOWN QEMU BUG, not counted: %s\n", res.message);
		res.ok = true;
	}
	cr_assert(res.ok, "memory check on %s: %s", vm->dir, res.message);
	/*
	 * The guest patterns all its RAM but the first MiB and a few at the end;
	 * with a mode on, its sweep starts at 4 MiB, after the modes' regions.
	 */
	cr_assert_geq(res.pages, (pair.mib - (pair.mode ? 6 : 4)) * MIB / QMG_PAGE_SIZE,
		      "only %llu pages of %u MiB checked on %s", (unsigned long long)res.pages,
		      pair.mib, vm->dir);
	cr_assert_eq(res.mode, pair.mode, "the guest ran modes %u, not %u", res.mode, pair.mode);
	unlink(path);
}

/* Bytes of serial output: the guest prints one character per pass. */
static long serial_bytes(struct tq_qemu *vm)
{
	struct stat st;

	return stat(vm->serial_path, &st) == 0 ? (long)st.st_size : 0;
}

/*
 * The guest keeps making passes on @vm: one more, within a bound that allows
 * a paced guest three times the pass its cap allows.
 */
void assert_guest_runs(struct tq_qemu *vm)
{
	long before = serial_bytes(vm);
	double bound = 60 + (pair.dirty_rate ? 3.0 * pair.mib / pair.dirty_rate : 0);
	char lost[256];

	for (int i = 0; i < bound * 100 && serial_bytes(vm) < before + 1; i++) {
		if (tg_guest_lost_write(vm, lost, sizeof(lost)))
			break;
		usleep(10000);
	}
	cr_assert_not(tg_guest_lost_write(vm, lost, sizeof(lost)),
		      "QEMU lost a write the guest made (accel %s): %s", tq_accel(), lost);
	cr_assert_geq(serial_bytes(vm), before + 1, "the guest makes no progress on %s", vm->dir);
}

void assert_back_on_source(void)
{
	char *status;

	cr_assert_eq(tq_qemu_wait_exit(&pair.dst, 20), 0, "a destination QEMU remains");
	status = vm_status(&pair.src);
	cr_assert_str_eq(status, "running");
	free(status);
	assert_guest_runs(&pair.src);
	check_memory(&pair.src);
}

static void on_progress(struct qm_job *job, const struct qm_progress *p, void *ud)
{
	struct run *r = ud;

	r->progress++;
	r->tunnel_bytes = p->tunnel_bytes;
	if (r->first_progress && !r->acted && p->tunnel_bytes >= r->act_at_tunnel_bytes &&
	    (!r->ready || r->ready())) {
		r->acted = true;
		r->first_progress(job);
	}
}

static void on_phase(struct qm_job *job, enum qm_phase phase, void *ud)
{
	struct run *r = ud;

	if (r->phase)
		r->phase(job, phase);
}

static void on_policy(struct qm_job *job, const struct qm_policy_decision *d, void *ud)
{
	struct run *r = ud;

	snprintf(r->policy, sizeof(r->policy), "%s", d->policy);
	snprintf(r->action, sizeof(r->action), "%s", d->action);
	r->decisions++;
}

static void on_done(struct qm_job *job, const struct qm_result *res, void *ud)
{
	struct run *r = ud;

	r->result = *res;
	r->done = true;
}

/* The engine's log in the test's (QMIGRATE_LOG=debug tells everything). */
static _printf_(6, 0) void log_to_stderr(void *ud, int priority, const char *file, int line,
			  const char *fn, const char *format, va_list args)
{
	fprintf(stderr, "qmigrate: ");
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

void run_job(struct qm_job_options *opts, struct run *r)
{
	struct qm_job_callbacks cbs = {
		.phase = on_phase,
		.progress = on_progress,
		.policy = on_policy,
		.done = on_done,
	};
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_error err = { 0 };
	struct qm_job *job;

	qm_ctx_set_log_fn(ctx, log_to_stderr, NULL);
	opts->src_qmp = pair.src.qmp_path;
	/* A job that launches its destination gets no socket for it. */
	opts->dst_qmp = opts->launch_dest ? NULL : pair.dst.qmp_path;
	job = qm_job_new(ctx, loop, opts, &cbs, r, &err);
	cr_assert(job, "%s", err.text);
	cr_assert_eq(qm_job_start(job, &err), 0, "%s", err.text);
	while (!r->done)
		ev_run(loop, EVRUN_ONCE);
	qm_job_unref(job);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	if (r->first_progress)
		cr_assert(r->acted, "the migration ended before any progress was reported");
}

/* Completed on the destination, which runs the guest with its memory intact. */
void assert_completed(const struct run *r, const char *want_status)
{
	cr_assert_eq(r->result.status, QM_JOB_COMPLETED, "%s", r->result.error.text);
	cr_assert_eq(r->result.vm, QM_VM_DESTINATION);
	assert_on_destination(want_status);
}

void assert_on_destination(const char *want_status)
{
	char *status;

	cr_assert_eq(tq_qemu_wait_exit(&pair.src, 20), 0, "the source QEMU is still there");
	status = vm_status(&pair.dst);
	cr_assert_str_eq(status, want_status);
	free(status);
	if (strcmp(want_status, "running") == 0)
		assert_guest_runs(&pair.dst);
	check_memory(&pair.dst);
}

