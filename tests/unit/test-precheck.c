/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The prechecks as pure functions of QMP return values (engine/precheck.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <string.h>

#include "engine/precheck.h"

TestSuite(precheck);

static json_t *json(const char *text)
{
	json_error_t e;
	json_t *j = json_loads(text, JSON_DECODE_ANY, &e);

	cr_assert(j, "%s: %s", text, e.text);
	return j;
}

static void expect_error(const struct qm_error *err, const char *cls, const char *word)
{
	cr_expect_lt(err->code, 0);
	cr_expect_str_eq(err->error_class, cls, "%s", err->text);
	cr_expect(strstr(err->text, word), "'%s' not in: %s", word, err->text);
}

/* Reads facts from @target, @kvm and @type (JSON texts); returns the call's result. */
static int read_facts(struct qm_qemu_facts *f, const char *target, const char *kvm,
		      const char *type, struct qm_error *err)
{
	json_t *t = json(target), *k = json(kvm), *m = json(type);
	int r = qm_qemu_facts_read(f, "destination", t, k, m, err);

	json_decref(t);
	json_decref(k);
	json_decref(m);
	return r;
}

Test(precheck, facts_strip_the_qom_suffix_from_the_machine_type)
{
	struct qm_qemu_facts f;
	struct qm_error err = { 0 };

	cr_assert_eq(read_facts(&f, "{\"arch\": \"x86_64\"}", "{\"enabled\": true}",
				"\"pc-i440fx-7.2-machine\"", &err),
		     0, "%s", err.text);
	cr_expect_str_eq(f.arch, "x86_64");
	cr_expect(f.kvm);
	cr_expect_str_eq(f.machine, "pc-i440fx-7.2");
	/* A type without the suffix is taken as it is; the suffix alone stays too. */
	cr_assert_eq(read_facts(&f, "{\"arch\": \"s390x\"}", "{\"enabled\": false}",
				"\"s390-ccw-virtio\"", &err),
		     0);
	cr_expect_str_eq(f.machine, "s390-ccw-virtio");
	cr_expect_not(f.kvm);
	cr_assert_eq(read_facts(&f, "{\"arch\": \"x86_64\"}", "{\"enabled\": false}",
				"\"-machine\"", &err),
		     0);
	cr_expect_str_eq(f.machine, "-machine");
}

Test(precheck, facts_missing_or_malformed_are_a_protocol_error_naming_the_side)
{
	static const char *const bad[][4] = {
		{ "{}", "{\"enabled\": true}", "\"none-machine\"", "arch" },
		{ "{\"arch\": 3}", "{\"enabled\": true}", "\"none-machine\"", "arch" },
		{ "{\"arch\": \"x86_64\"}", "{\"enabled\": \"yes\"}", "\"none-machine\"",
		  "KVM" },
		{ "{\"arch\": \"x86_64\"}", "{}", "\"none-machine\"", "KVM" },
		{ "{\"arch\": \"x86_64\"}", "{\"enabled\": true}", "\"\"", "machine" },
		{ "{\"arch\": \"x86_64\"}", "{\"enabled\": true}", "{}", "machine" },
		{ "{\"arch\": \"x86_64xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx\"}",
		  "{\"enabled\": true}", "\"none-machine\"", "arch" },
	};
	char long_type[300];
	struct qm_qemu_facts f;

	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		struct qm_error err = { 0 };

		cr_expect_eq(read_facts(&f, bad[i][0], bad[i][1], bad[i][2], &err),
			     -EPROTO, "case %zu", i);
		expect_error(&err, "ProtocolError", bad[i][3]);
		expect_error(&err, "ProtocolError", "destination QEMU");
	}
	memset(long_type, 'a', sizeof(long_type));
	long_type[0] = '"';
	strcpy(long_type + sizeof(long_type) - 2, "\"");
	struct qm_error err = { 0 };

	cr_expect_eq(read_facts(&f, "{\"arch\": \"x86_64\"}", "{\"enabled\": true}",
				long_type, &err),
		     -EPROTO);
}

Test(precheck, running_paused_and_prelaunch_may_migrate)
{
	struct qm_error err = { 0 };

	cr_expect_eq(qm_precheck_run_state("running", &err), 0);
	cr_expect_eq(qm_precheck_run_state("paused", &err), 0);
	cr_expect_eq(qm_precheck_run_state("prelaunch", &err), 0);
	cr_expect_not(qm_error_is_set(&err), "%s", err.text);
}

Test(precheck, other_run_states_are_refused_naming_the_state)
{
	static const char *const states[] = {
		"inmigrate",	  "postmigrate",   "finish-migrate", "save-vm",
		"restore-vm",	  "suspended",	   "shutdown",	     "guest-panicked",
		"internal-error", "io-error",	   "watchdog",	     "debug",
		"colo",		  "something-new",
	};

	for (size_t i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
		struct qm_error err = { 0 };

		cr_expect_eq(qm_precheck_run_state(states[i], &err), -EINVAL, "%s",
			     states[i]);
		expect_error(&err, "InvalidState", states[i]);
		expect_error(&err, "InvalidState", "the source VM is ");
	}
	struct qm_error err = { 0 };

	cr_expect_eq(qm_precheck_run_state(NULL, &err), -EPROTO);
	expect_error(&err, "ProtocolError", "no status");
}

static int check_migration(const char *info, struct qm_error *err)
{
	json_t *j = json(info);
	int r = qm_precheck_migration(j, err);

	json_decref(j);
	return r;
}

Test(precheck, idle_and_finished_migrations_pass)
{
	static const char *const ok[] = {
		"{}",
		"{\"status\": \"completed\"}",
		"{\"status\": \"failed\"}",
		"{\"status\": \"cancelled\"}",
		"{\"blocked-reasons\": []}",
		"{\"blocked-reasons\": \"not a list\"}",
	};
	struct qm_error err = { 0 };

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_expect_eq(check_migration(ok[i], &err), 0, "%s: %s", ok[i], err.text);
}

Test(precheck, every_blocker_reason_is_listed_in_order)
{
	struct qm_error err = { 0 };

	cr_assert_eq(
		check_migration(
			"{\"blocked-reasons\": [\"first\", \"second\", 7, \"third\"]}",
			&err),
		-EPERM);
	expect_error(&err, "MigrationBlocked",
		     "QEMU says: first; second; (no reason given); third");
	cr_expect(strstr(err.text, "third") + strlen("third") ==
			  err.text + strlen(err.text),
		  "%s", err.text);
}

Test(precheck, a_blocker_list_too_long_for_the_message_ends_with_an_ellipsis)
{
	char info[4096] = "{\"blocked-reasons\": [";
	struct qm_error err = { 0 };

	for (int i = 0; i < 20; i++)
		snprintf(info + strlen(info), sizeof(info) - strlen(info),
			 "%s\"device %02d blocks migration for a reason\"", i ? ", " : "",
			 i);
	strcat(info, "]}");
	cr_assert_eq(check_migration(info, &err), -EPERM);
	expect_error(&err, "MigrationBlocked", "unplug the device");
	expect_error(&err, "MigrationBlocked", "device 00 blocks");
	cr_expect_eq(strlen(err.text), sizeof(err.text) - 1);
	cr_expect_str_eq(err.text + strlen(err.text) - 3, "...");
}

Test(precheck, a_migration_under_way_is_refused)
{
	static const char *const busy[] = { "setup", "active", "postcopy-active",
					    "cancelling" };

	for (size_t i = 0; i < sizeof(busy) / sizeof(busy[0]); i++) {
		char info[64];
		struct qm_error err = { 0 };

		snprintf(info, sizeof(info), "{\"status\": \"%s\"}", busy[i]);
		cr_expect_eq(check_migration(info, &err), -EBUSY, "%s", busy[i]);
		expect_error(&err, "MigrationActive", busy[i]);
	}
}

Test(precheck, only_a_waiting_destination_passes)
{
	struct qm_error err = { 0 };

	cr_expect_eq(qm_precheck_incoming("inmigrate", &err), 0);
	cr_expect_eq(qm_precheck_incoming("prelaunch", &err), -EINVAL);
	expect_error(&err, "InvalidState", "-incoming defer");
	qm_error_clear(&err);
	cr_expect_eq(qm_precheck_incoming(NULL, &err), -EINVAL);
	expect_error(&err, "InvalidState", "unknown state");
}

/* ---- the two QEMUs ------------------------------------------------------------ */

static const struct qm_qemu_facts src_pc = { "x86_64", "pc-i440fx-7.2", true };

static int compare(const struct qm_qemu_facts *dst, const char *machines,
		   struct qm_error *err)
{
	json_t *m = json(machines);
	int r = qm_precheck_same_machine(&src_pc, dst, m, err);

	json_decref(m);
	return r;
}

#define MACHINES                                                                         \
	"[{\"name\": \"pc-q35-7.2\", \"alias\": \"q35\"}, {\"name\": "                   \
	"\"pc-i440fx-7.2\"}]"

Test(precheck, the_same_arch_accel_and_machine_pass)
{
	struct qm_error err = { 0 };

	cr_expect_eq(compare(&src_pc, MACHINES, &err), 0, "%s", err.text);
}

Test(precheck, arch_is_checked_first)
{
	const struct qm_qemu_facts dst = { "aarch64", "virt-7.2", false };
	struct qm_error err = { 0 };

	cr_expect_eq(compare(&dst, "[]", &err), -EINVAL);
	expect_error(&err, "ArchMismatch", "qemu-system-x86_64");
}

Test(precheck, either_accelerator_mismatch_is_refused_saying_which_to_use)
{
	const struct qm_qemu_facts tcg = { "x86_64", "pc-i440fx-7.2", false };
	const struct qm_qemu_facts src_tcg = tcg;
	json_t *m = json(MACHINES);
	struct qm_error err = { 0 };

	cr_expect_eq(compare(&tcg, MACHINES, &err), -EINVAL);
	expect_error(&err, "AccelMismatch", "with KVM but the destination QEMU uses TCG");
	expect_error(&err, "AccelMismatch", "-accel kvm");
	qm_error_clear(&err);
	cr_expect_eq(qm_precheck_same_machine(&src_tcg, &src_pc, m, &err), -EINVAL);
	expect_error(&err, "AccelMismatch",
		     "with TCG (no KVM) but the destination QEMU uses KVM");
	expect_error(&err, "AccelMismatch", "-accel tcg");
	json_decref(m);
}

Test(precheck, a_machine_type_is_found_by_name_or_alias)
{
	const struct qm_qemu_facts q35 = { "x86_64", "q35", true };
	const struct qm_qemu_facts dst = { "x86_64", "pc-i440fx-7.2", true };
	json_t *m = json("[{\"name\": \"pc-q35-7.2\", \"alias\": \"q35\"}]");
	struct qm_error err = { 0 };

	/* Its own type, not its alias, is what a QEMU says it runs; an alias is still
	 * found. */
	cr_expect_eq(qm_precheck_same_machine(&q35, &q35, m, &err), 0, "%s", err.text);
	cr_expect_eq(compare(&dst,
			     "[{\"name\": \"pc-q35-7.2\", \"alias\": \"pc-i440fx-7.2\"}]",
			     &err),
		     0, "%s", err.text);
	json_decref(m);
}

Test(precheck, a_missing_machine_type_comes_before_a_different_one)
{
	const struct qm_qemu_facts dst = { "x86_64", "pc-q35-7.2", true };
	struct qm_error err = { 0 };

	cr_expect_eq(
		compare(&dst, "[{\"name\": \"pc-q35-7.2\", \"alias\": \"q35\"}]", &err),
		-ENOTSUP);
	expect_error(&err, "MachineTypeMissing", "no machine type 'pc-i440fx-7.2'");
	qm_error_clear(&err);
	cr_expect_eq(compare(&dst, MACHINES, &err), -EINVAL);
	expect_error(
		&err, "MachineTypeMismatch",
		"runs machine type 'pc-q35-7.2' but the source VM uses 'pc-i440fx-7.2'");
	expect_error(&err, "MachineTypeMismatch", "-machine pc-i440fx-7.2");
}

/* ---- identity ----------------------------------------------------------------- */

#define VM_UUID "4c6f7e2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
#define NIL "00000000-0000-0000-0000-000000000000"

static int identity(const char *name, const char *uuid, const char *dst_name,
		    const char *dst_uuid, struct qm_error *err)
{
	json_t *n = json(dst_name), *u = json(dst_uuid);
	int r = qm_precheck_identity(name, uuid, n, u, err);

	json_decref(n);
	json_decref(u);
	return r;
}

Test(precheck, a_destination_without_name_or_uuid_or_with_the_vms_passes)
{
	struct qm_error err = { 0 };

	cr_expect_eq(identity("vm1", VM_UUID, "{}", "{\"UUID\": \"" NIL "\"}", &err), 0);
	cr_expect_eq(identity("vm1", VM_UUID, "{\"name\": \"\"}", "{}", &err), 0);
	cr_expect_eq(identity("vm1", VM_UUID, "{\"name\": \"vm1\"}",
			      "{\"UUID\": \"4C6F7E2A-1B3D-4E5F-8A9B-0C1D2E3F4A5B\"}",
			      &err),
		     0);
	/* A VM with no name or no uuid of its own matches any destination. */
	cr_expect_eq(identity("unnamed", NIL, "{\"name\": \"vm2\"}",
			      "{\"UUID\": \"" VM_UUID "\"}", &err),
		     0);
	cr_expect_not(qm_error_is_set(&err), "%s", err.text);
}

Test(precheck, another_vms_name_or_uuid_is_refused)
{
	struct qm_error err = { 0 };

	cr_expect_eq(identity("vm1", VM_UUID, "{\"name\": \"vm2\"}", "{}", &err),
		     -EINVAL);
	expect_error(&err, "NameMismatch", "-name 'vm2', but the VM to migrate is 'vm1'");
	qm_error_clear(&err);
	cr_expect_eq(identity("vm1", VM_UUID, "{\"name\": \"vm1\"}",
			      "{\"UUID\": \"" NIL "1\"}", &err),
		     -EINVAL);
	expect_error(&err, "UuidMismatch",
		     "-uuid " NIL "1, but the VM to migrate has uuid");
}

static json_t *greeting(int major, int minor)
{
	json_t *g = json_pack("{s:{s:{s:i, s:i, s:i}}}", "version", "qemu", "major",
			      major, "minor", minor, "micro", 0);

	cr_assert(g);
	return g;
}

/* QEMU before 9.0 may lose guest writes when it migrates under TCG. */
Test(precheck, a_tcg_source_before_qemu_9_may_lose_writes)
{
	struct qm_qemu_facts tcg = { .kvm = false }, kvm = { .kvm = true };
	json_t *old = greeting(7, 2), *fixed = greeting(9, 0), *later = greeting(10, 1);
	char why[320] = "";

	cr_assert(qm_precheck_tcg_loses_writes(&tcg, old, why, sizeof(why)));
	cr_assert(strstr(why, "QEMU 7.2 runs the VM under TCG"), "%s", why);
	cr_assert(strstr(why, "migrate under KVM, or with QEMU 9.0 or later"), "%s", why);
	cr_assert_not(qm_precheck_tcg_loses_writes(&kvm, old, why, sizeof(why)));
	cr_assert_not(qm_precheck_tcg_loses_writes(&tcg, fixed, why, sizeof(why)));
	cr_assert_not(qm_precheck_tcg_loses_writes(&tcg, later, why, sizeof(why)));
	/* A greeting without a version: the warning, for an unknown version. */
	cr_assert(qm_precheck_tcg_loses_writes(&tcg, NULL, why, sizeof(why)));
	cr_assert(strstr(why, "of unknown version"), "%s", why);
	json_decref(old);
	json_decref(fixed);
	json_decref(later);
}
