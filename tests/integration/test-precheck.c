/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The prechecks against real QEMU: a real migration blocker, a destination
 * started with another machine type and another accelerator are refused
 * before anything changes, and both QEMUs are found as they were; a VM
 * started with -S that never ran migrates and starts on the destination.
 */
#include <criterion/criterion.h>
#include <ev.h>
#include <stdio.h>
#include <string.h>

#include "qmigrate.h"
#include "tests/helpers/engine-harness.h"
#include "tests/helpers/guest.h"
#include "tests/helpers/qemu.h"

static struct tq_qemu src, dst;

static void stop_both(void)
{
	tq_qemu_stop(&src);
	tq_qemu_stop(&dst);
}

TestSuite(precheck_qemu, .timeout = 240, .fini = stop_both);

static void start(struct tq_qemu *vm, const char *machine, const char *accel,
		  bool incoming, const char *const *extra)
{
	struct tq_qemu_opts o = {
		.machine = machine,
		.accel = accel,
		.paused = incoming,
		.incoming_defer = incoming,
		.extra_args = extra,
	};

	cr_assert_eq(tq_qemu_start(vm, &o), 0);
}

/* One QMP command on a fresh connection to @path; fails the test on an error. */
static json_t *qmp_once(const char *path, const char *cmd)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_qmp *q = qm_qmp_new(ctx, loop, NULL);
	struct qm_error err = { 0 };
	json_t *ret = NULL;

	if (qm_qmp_connect(q, path, &err) == 0)
		ret = qm_qmp_command_sync(q, cmd, NULL, -1, &err);
	cr_assert(ret, "%s on %s: %s", cmd, path, err.text);
	qm_qmp_unref(q);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	return ret;
}

static void assert_status(const char *path, const char *want)
{
	json_t *ret = qmp_once(path, "query-status");
	const char *status = json_string_value(json_object_get(ret, "status"));

	cr_assert(status && strcmp(status, want) == 0, "%s is %s, not %s", path,
		  status ? status : "(none)", want);
	json_decref(ret);
}

static void on_done(struct qm_job *job, const struct qm_result *r, void *ud)
{
	*(struct qm_result *)ud = *r;
}

/*
 * Migrates from @src_qmp to @dst_qmp on @loop (on which a fake destination
 * may listen) and returns the result.
 */
static struct qm_result run_job(struct ev_loop *loop, const char *src_qmp,
				const char *dst_qmp)
{
	struct qm_job_callbacks cbs = { .done = on_done };
	struct qm_job_options opts = { .src_qmp = src_qmp, .dst_qmp = dst_qmp };
	struct qm_result r = { .status = QM_JOB_RUNNING };
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_error err = { 0 };
	struct qm_job *job = qm_job_new(ctx, loop, &opts, &cbs, &r, &err);

	cr_assert(job, "%s", err.text);
	cr_assert_eq(qm_job_start(job, &err), 0, "%s", err.text);
	while (r.status == QM_JOB_RUNNING)
		ev_run(loop, EVRUN_ONCE);
	qm_job_unref(job);
	qm_ctx_unref(ctx);
	return r;
}

/* Refused with @cls and @what in the message; nothing changed, the VM on the source. */
static void assert_refused(const struct qm_result *r, const char *cls, const char *what)
{
	cr_assert_eq(r->status, QM_JOB_FAILED, "%s", r->error.text);
	cr_assert_str_eq(r->error.error_class, cls, "%s", r->error.text);
	cr_assert(strstr(r->error.text, what), "'%s' not in: %s", what, r->error.text);
	cr_assert_not(r->changed, "a refusal changed something");
	cr_assert_eq(r->vm, QM_VM_SOURCE, "vm %s", qm_vm_location_name(r->vm));
	cr_assert_eq(r->phase_ms[QM_PHASE_PERFORM], -1, "perform ran");
}

/* Both QEMUs as the test left them: the source runs, the destination still waits. */
static void assert_untouched(void)
{
	cr_assert(tq_qemu_alive(&src) && tq_qemu_alive(&dst), "a QEMU went");
	assert_status(src.qmp_path, "running");
	assert_status(dst.qmp_path, "inmigrate");
}

static struct qm_result migrate_real(void)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_result r = run_job(loop, src.qmp_path, dst.qmp_path);

	ev_loop_destroy(loop);
	return r;
}

/* ivshmem in peer mode (ivshmem-plain's default) blocks migration, KVM or TCG. */
Test(precheck_qemu, a_real_migration_blocker_is_refused_with_qemus_reason)
{
	static const char *const ivshmem[] = {
		"-object", "memory-backend-ram,id=shm,size=1M,share=on",
		"-device", "ivshmem-plain,memdev=shm",
		NULL,
	};
	struct qm_result r;

	start(&src, "pc", NULL, false, ivshmem);
	start(&dst, "pc", NULL, true, ivshmem);
	r = migrate_real();
	assert_refused(&r, "MigrationBlocked", "'peer mode' in device 'ivshmem'");
	assert_untouched();
}

Test(precheck_qemu, a_destination_with_another_machine_type_is_refused_before_migrate)
{
	struct qm_result r;

	start(&src, "pc", NULL, false, NULL);
	start(&dst, "q35", NULL, true, NULL);
	r = migrate_real();
	assert_refused(&r, "MachineTypeMismatch", "runs machine type 'pc-q35-");
	cr_assert(strstr(r.error.text, "the source VM uses 'pc-i440fx-"), "%s",
		  r.error.text);
	assert_untouched();
}

/*
 * KVM against TCG with two real QEMUs where KVM works.  Without KVM the
 * source is a real TCG QEMU and the destination a fake that says KVM, with
 * QEMU's recorded replies otherwise: the source's real query-kvm is still
 * what is compared.
 */
Test(precheck_qemu, another_accelerator_on_the_destination_is_refused)
{
	static const struct fq_step kvm_dst[] = {
		DST_QUERIES,
		DST_ANSWERS(STATUS("inmigrate"), "{}", NIL_UUID),
		FQ_REPLY_FILE(5, "query-target.json"),
		R(6, KVM_ON),
		FQ_REPLY_FILE(7, "qom-get-machine-type.json"),
		FQ_REPLY_FILE(8, "query-machines.json"),
		DST_NO_DISPLAY,
		FQ_END,
	};
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	char fake_path[256];
	struct qm_result r;
	struct fq *fake;

	if (tq_kvm_usable()) {
		start(&src, "none", "kvm", false, NULL);
		start(&dst, "none", "tcg", true, NULL);
		r = run_job(loop, src.qmp_path, dst.qmp_path);
		assert_refused(&r, "AccelMismatch",
			       "with KVM but the destination QEMU uses TCG");
		assert_untouched();
	} else {
		fprintf(stderr, "no KVM here: a fake destination says it runs KVM\n");
		start(&src, "none", "tcg", false, NULL);
		snprintf(fake_path, sizeof(fake_path), "%s/fake-dst.sock", src.dir);
		fake = fq_listen(loop, fake_path, kvm_dst);
		r = run_job(loop, src.qmp_path, fake_path);
		while (!fq_finished(fake))
			ev_run(loop, EVRUN_NOWAIT);
		fq_free(fake); /* fails the test if the job sent it anything more */
		assert_refused(&r, "AccelMismatch",
			       "with TCG (no KVM) but the destination QEMU uses KVM");
		assert_status(src.qmp_path, "running");
	}
	ev_loop_destroy(loop);
}

/* A VM started with -S that never ran: QEMU migrates it, and cont starts it there. */
Test(precheck_qemu, a_prelaunch_source_migrates_and_starts_on_the_destination)
{
	struct tq_qemu_opts o = {
		.machine = "pc",
		.mem_mib = 64,
		.boot_image = tg_guest_image(),
		.paused = true,
	};
	struct qm_result r;

	cr_assert_eq(tq_qemu_start(&src, &o), 0);
	o.incoming_defer = true;
	cr_assert_eq(tq_qemu_start(&dst, &o), 0);
	assert_status(src.qmp_path, "prelaunch");
	r = migrate_real();
	cr_assert_eq(r.status, QM_JOB_COMPLETED, "%s", r.error.text);
	cr_assert_eq(r.vm, QM_VM_DESTINATION);
	cr_assert_not(r.was_running);
	cr_assert_eq(tq_qemu_wait_exit(&src, 20), 0, "the source QEMU is still there");
	assert_status(dst.qmp_path, "prelaunch");
	json_decref(qmp_once(dst.qmp_path, "cont"));
	cr_assert_geq(tg_guest_wait_passes(&dst, 2, 180), 2);
}
