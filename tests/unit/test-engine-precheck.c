/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The prechecks in the engine, against the two fake QEMUs: every refusal has
 * its class and its message, and comes before anything changed.  The fake
 * fails the test on any command its script does not list, so a script that
 * ends after the queries (and the rollback's look at the source) proves that
 * nothing was sent that changes a QEMU: no quit, no cont, no migrate.
 */
#include <criterion/criterion.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "tests/helpers/engine-harness.h"

TestSuite(engine_precheck, .timeout = 20);

/*
 * A running source whose query-migrate gives @migrate and whose capabilities
 * are @caps; then the reply steps of its facts.  Refused in begin or prepare,
 * the rollback finds it running, as it was.
 */
#define SRC_STAYS(migrate, caps, ...)                                                    \
	{                                                                                \
		SRC_QUERIES, SRC_ANSWERS(RUNNING, migrate, caps), __VA_ARGS__,           \
			FQ_EXPECT("query-status", 9), R(9, RUNNING), FQ_END,             \
	}
#define TARGET_X86 FQ_REPLY_FILE(5, "query-target.json")
#define KVM_OFF_AT(s) FQ_REPLY_FILE(s, "query-kvm.json")
#define MACHINE_NONE FQ_REPLY_FILE(7, "qom-get-machine-type.json")

static const struct fq_step src_stays[] = SRC_STAYS("{}", CAPS, SRC_FACTS);
/* A source that migrates its running VM. */
static const struct fq_step src_completes[] = { SRC_BEGIN, SRC_MIGRATE, SRC_COMPLETES,
						FQ_END };
/* A destination that begin's refusal never reaches. */
static const struct fq_step dst_untouched[] = { FQ_HANDSHAKE, FQ_END };

/*
 * Failed with @cls before perform, nothing changed, the VM at @vm, and each
 * of the NULL-terminated words in the message.
 */
static void assert_refused(const struct run *run, const char *cls, enum qm_vm_location vm,
			   ...)
{
	const struct qm_result *r = &run->result;
	const char *word;
	va_list ap;

	cr_assert_eq(r->status, QM_JOB_FAILED, "%s", r->error.text);
	cr_assert_str_eq(r->error.error_class, cls, "%s", r->error.text);
	cr_assert_not(r->changed, "a refusal changed something: %s", r->error.text);
	cr_assert_eq(r->vm, vm, "vm %s", qm_vm_location_name(r->vm));
	cr_assert_eq(r->phase_ms[QM_PHASE_PERFORM], -1, "perform ran");
	va_start(ap, vm);
	while ((word = va_arg(ap, const char *)))
		cr_assert(strstr(r->error.text, word), "'%s' not in: %s", word,
			  r->error.text);
	va_end(ap);
}

/* ---- the source's run state ----------------------------------------------------- */

/* Begin on a source in @state is refused; the message names it and says @advice. */
static void refuse_source_in(const char *state, const char *advice)
{
	char status[160];

	snprintf(status, sizeof(status), "{\"return\": " STATUS("%s") "}", state);
	const struct fq_step src[] = {
		SRC_QUERIES,
		{ .op = FQ_OP_REPLY, .slot = 0, .text = status },
		R(1, "{}"),
		R(2, "{\"name\": \"vm1\"}"),
		R(3, "{\"UUID\": \"" UUID "\"}"),
		R(4, CAPS),
		SRC_FACTS,
		/* confirm looks where the VM is, and leaves it so */
		FQ_EXPECT("query-status", 9),
		{ .op = FQ_OP_REPLY, .slot = 9, .text = status },
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst_untouched, false);
	assert_refused(&run, "InvalidState", QM_VM_SOURCE_PAUSED, state, advice, NULL);
	cr_assert_eq(run.result.phase_ms[QM_PHASE_PREPARE], -1, "prepare ran");
}

Test(engine_precheck,
     begin_refuses_a_source_waiting_for_incoming_and_leaves_the_destination_alone)
{
	refuse_source_in("inmigrate", "swapped --src-qmp and --dst-qmp?");
}

Test(engine_precheck,
     every_state_but_running_paused_and_prelaunch_is_refused_with_what_to_do)
{
	static const char *const refused[][2] = {
		{ "postmigrate", "migrate it from there" },
		{ "finish-migrate", "wait until it ends" },
		{ "save-vm", "snapshot" },
		{ "restore-vm", "snapshot" },
		{ "suspended", "system_wakeup" },
		{ "shutdown", "system_reset" },
		{ "guest-panicked", "panic" },
		{ "internal-error", "emulation error" },
		{ "io-error", "fix the storage" },
		{ "watchdog", "watchdog" },
		{ "debug", "debugger" },
		{ "colo", "COLO" },
		{ "a-future-state", "only a running or paused VM can migrate" },
	};

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		refuse_source_in(refused[i][0], refused[i][1]);
}

/* QEMU migrates a VM started with -S that never ran: it arrives in prelaunch. */
Test(engine_precheck, a_prelaunch_source_migrates_and_is_not_resumed_on_the_destination)
{
	static const struct fq_step src[] = {
		SRC_QUERIES,   SRC_ANSWERS(STATUS("prelaunch"), "{}", CAPS),
		SRC_FACTS,     SRC_MIGRATE,
		SRC_COMPLETES, FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_PREPARE,
		FQ_EXPECT("query-status", 5),
		FQ_EXPECT("query-migrate", 6),
		R(5, STATUS("prelaunch")),
		R(6, "{\"status\": \"completed\"}"),
		FQ_END, /* no cont */
	};
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert_eq(run.result.vm, QM_VM_DESTINATION);
	cr_assert_not(run.result.was_running);
}

/* ---- query-migrate: blockers, another migration --------------------------------- */

#define IVSHMEM "Migration is disabled when using feature 'peer mode' in device 'ivshmem'"

Test(engine_precheck, one_migration_blocker_is_refused_with_qemus_reason)
{
	static const struct fq_step src[] =
		SRC_STAYS("{\"blocked-reasons\": [\"" IVSHMEM "\"]}", CAPS, SRC_FACTS);
	struct run run = { 0 };

	migrate_with(&run, src, dst_untouched, false);
	assert_refused(&run, "MigrationBlocked", QM_VM_SOURCE, IVSHMEM,
		       "unplug the device", NULL);
}

Test(engine_precheck, every_migration_blocker_is_in_the_message)
{
	static const struct fq_step src[] = SRC_STAYS(
		"{\"blocked-reasons\": [\"" IVSHMEM
		"\", \"non-migratable device: 0000:00:05.0/vfio\","
		" \"State blocked by non-migratable CPU device (invtsc flag)\"]}",
		CAPS, SRC_FACTS);
	struct run run = { 0 };

	migrate_with(&run, src, dst_untouched, false);
	assert_refused(
		&run, "MigrationBlocked", QM_VM_SOURCE, IVSHMEM "; non-migratable device",
		"vfio; State blocked by non-migratable CPU device (invtsc flag)", NULL);
}

Test(engine_precheck, an_empty_blocker_list_does_not_refuse)
{
	static const struct fq_step src[] = {
		SRC_QUERIES,   SRC_ANSWERS(RUNNING, "{\"blocked-reasons\": []}", CAPS),
		SRC_FACTS,     SRC_MIGRATE,
		SRC_COMPLETES, FQ_END,
	};
	static const struct fq_step dst[] = { DST_PREPARE, DST_RESUMES, FQ_END };
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
}

Test(engine_precheck, a_migration_under_way_on_the_source_is_refused)
{
	static const struct fq_step src[] = SRC_STAYS(ACTIVE, CAPS, SRC_FACTS);
	struct run run = { 0 };

	migrate_with(&run, src, dst_untouched, false);
	assert_refused(&run, "MigrationActive", QM_VM_SOURCE, "already under way",
		       "active", "migrate_cancel", NULL);
}

/* ---- the two QEMUs ------------------------------------------------------------------
 */

Test(engine_precheck, another_arch_on_the_destination_is_refused)
{
	static const struct fq_step dst[] = {
		DST_QUERIES,
		DST_ANSWERS(STATUS("inmigrate"), "{}", NIL_UUID),
		R(5, "{\"arch\": \"aarch64\"}"),
		KVM_OFF_AT(6),
		MACHINE_NONE,
		FQ_REPLY_FILE(8, "query-machines.json"),
		DST_NO_DISPLAY,
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src_stays, dst, false);
	assert_refused(&run, "ArchMismatch", QM_VM_SOURCE, "source QEMU emulates x86_64",
		       "destination QEMU emulates aarch64", "qemu-system-x86_64", NULL);
}

Test(engine_precheck, kvm_on_the_source_and_tcg_on_the_destination_is_refused)
{
	static const struct fq_step src[] =
		SRC_STAYS("{}", CAPS, TARGET_X86, R(6, KVM_ON), MACHINE_NONE);
	static const struct fq_step dst[] = { DST_CHECKS, FQ_END }; /* recorded: TCG */
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	assert_refused(&run, "AccelMismatch", QM_VM_SOURCE,
		       "source QEMU runs the VM with KVM", "destination QEMU uses TCG",
		       "-accel kvm", NULL);
}

/*
 * The recorded source runs under TCG on QEMU 7.2, which can lose guest
 * writes during a migration: begin warns once, and the job goes on; with
 * KVM it does not warn.
 */
Test(engine_precheck, a_tcg_source_before_qemu_9_is_warned_about_once)
{
	static const struct fq_step dst[] = { DST_PREPARE, DST_RESUMES, FQ_END };
	struct run run = { 0 };

	migrate_with(&run, src_completes, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert_eq(run.tcg_warnings, 1, "%d TCG warnings", run.tcg_warnings);
}

Test(engine_precheck, a_kvm_source_is_not_warned_about)
{
	static const struct fq_step src[] =
		SRC_STAYS("{}", CAPS, TARGET_X86, R(6, KVM_ON), MACHINE_NONE);
	static const struct fq_step dst[] = { DST_CHECKS, FQ_END };
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.tcg_warnings, 0, "%d TCG warnings", run.tcg_warnings);
}

Test(engine_precheck, a_machine_type_the_destination_qemu_lacks_is_refused)
{
	/* A source on a newer QEMU than the destination's 7.2. */
	static const struct fq_step src[] = SRC_STAYS(
		"{}", CAPS, TARGET_X86, KVM_OFF_AT(6), R(7, "\"pc-q35-9.2-machine\""));
	static const struct fq_step dst[] = { DST_CHECKS, FQ_END };
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	assert_refused(&run, "MachineTypeMissing", QM_VM_SOURCE,
		       "no machine type 'pc-q35-9.2'", "qemu-system-x86_64 -machine help",
		       NULL);
}

Test(engine_precheck, a_destination_started_with_another_machine_type_is_refused)
{
	static const struct fq_step src[] = SRC_STAYS(
		"{}", CAPS, TARGET_X86, KVM_OFF_AT(6), R(7, "\"pc-i440fx-7.2-machine\""));
	static const struct fq_step dst[] = { DST_CHECKS, FQ_END }; /* recorded: none */
	struct run run = { 0 };

	migrate_with(&run, src, dst, false);
	assert_refused(&run, "MachineTypeMismatch", QM_VM_SOURCE,
		       "destination QEMU runs machine type 'none'",
		       "source VM uses 'pc-i440fx-7.2'", "-machine pc-i440fx-7.2", NULL);
}

/* ---- the destination: its state, its identity ----------------------------------- */

Test(engine_precheck, prepare_refuses_a_running_destination_and_leaves_it_alone)
{
	static const struct fq_step dst[] = {
		DST_QUERIES,
		DST_ANSWERS(RUNNING, "{}", "{}"),
		DST_FACTS,
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src_stays, dst, false);
	assert_refused(&run, "InvalidState", QM_VM_SOURCE, "destination QEMU is running",
		       "-incoming defer", NULL);
}

Test(engine_precheck, destination_with_another_vms_name_is_refused)
{
	static const struct fq_step dst[] = {
		DST_QUERIES,
		DST_ANSWERS(STATUS("inmigrate"), "{\"name\": \"vm2\"}", "{}"),
		DST_FACTS,
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src_stays, dst, false);
	assert_refused(&run, "NameMismatch", QM_VM_SOURCE, "another VM", "-name 'vm2'",
		       "is 'vm1'", "-name vm1, or without -name", NULL);
}

Test(engine_precheck, destination_with_another_vms_uuid_is_refused)
{
	static const struct fq_step dst[] = {
		DST_QUERIES,
		DST_ANSWERS(STATUS("inmigrate"), "{\"name\": \"vm1\"}",
			    "{\"UUID\": \"0badc0de-1b3d-4e5f-8a9b-0c1d2e3f4a5b\"}"),
		DST_FACTS,
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src_stays, dst, false);
	assert_refused(&run, "UuidMismatch", QM_VM_SOURCE,
		       "-uuid 0badc0de-1b3d-4e5f-8a9b-0c1d2e3f4a5b", "has uuid " UUID,
		       "-uuid " UUID ", or without -uuid", NULL);
}

Test(engine_precheck, a_destination_named_like_the_vm_is_accepted)
{
	static const struct fq_step dst[] = {
		DST_QUERIES,
		DST_ANSWERS(STATUS("inmigrate"), "{\"name\": \"vm1\"}",
			    "{\"UUID\": \"" UUID "\"}"),
		DST_FACTS,
		DST_INCOMING,
		DST_RESUMES,
		FQ_END,
	};
	struct run run = { 0 };

	migrate_with(&run, src_completes, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
}

/* ---- capabilities -------------------------------------------------------------------
 */

Test(engine_precheck, capability_the_destination_lacks_is_refused_before_anything_starts)
{
	static const struct fq_step src[] =
		SRC_STAYS("{}",
			  "[{\"state\": false, \"capability\": \"events\"},"
			  " {\"state\": false, \"capability\": \"multifd\"}]",
			  SRC_FACTS);
	static const struct fq_step dst[] = { DST_CHECKS, FQ_END }; /* no multifd here */
	struct run run = { .multifd = 4 };

	migrate_with(&run, src, dst, false);
	assert_refused(&run, "CapabilityMissing", QM_VM_SOURCE, "destination QEMU lacks",
		       "'multifd'", "migrate without --multifd", NULL);
}

Test(engine_precheck, capability_the_source_lacks_is_refused_in_begin)
{
	struct run run = { .multifd = 4 }; /* CAPS has no multifd */

	migrate_with(&run, src_stays, dst_untouched, false);
	assert_refused(&run, "CapabilityMissing", QM_VM_SOURCE, "source QEMU lacks",
		       "'multifd'", NULL);
	cr_assert_eq(run.result.phase_ms[QM_PHASE_PREPARE], -1, "prepare ran");
}
