/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The checks before anything changes: run states, blockers, the two QEMUs, identity. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "engine/job.h"
#include "engine/precheck.h"
#include "util/error.h"

#define NIL_UUID "00000000-0000-0000-0000-000000000000"
#define MACHINE_SUFFIX "-machine" /* a machine type's QOM type is its name and this */

/* ---- the source's run state --------------------------------------------------- */

/* QEMU's RunState values: NULL advice lets the VM migrate. */
static const struct {
	const char *state;
	const char *advice; /* what the state means, and what to do */
} run_states[] = {
	{ "running", NULL },
	{ "paused", NULL },
	/* Started with -S, never run: QEMU migrates it, and it arrives in prelaunch. */
	{ "prelaunch", NULL },
	{ "inmigrate", "waiting for an incoming migration: that QEMU has no VM to send "
		       "(swapped --src-qmp and --dst-qmp?)" },
	{ "postmigrate",
	  "stopped after migrating away: the VM runs on that migration's destination; "
	  "migrate it from there" },
	{ "finish-migrate", "finishing another migration: wait until it ends" },
	{ "save-vm", "saving a snapshot: wait until it is done" },
	{ "restore-vm", "loading a snapshot: wait until it is done" },
	{ "suspended",
	  "suspended by the guest (ACPI S3): wake it (system_wakeup) first" },
	{ "shutdown",
	  "shut down (QEMU kept it with -no-shutdown): there is nothing to migrate; "
	  "reset it (system_reset) and start it (cont) first" },
	{ "guest-panicked",
	  "stopped on a guest kernel panic: take a dump if you need one, then reset "
	  "it (system_reset) first" },
	{ "internal-error",
	  "stopped by an emulation error (see that QEMU's log): its state cannot be "
	  "trusted; reset it (system_reset) first" },
	{ "io-error",
	  "paused on a disk I/O error: fix the storage, then resume it (cont) first" },
	{ "watchdog",
	  "stopped by its watchdog: reset (system_reset) or resume (cont) it first" },
	{ "debug", "stopped by a debugger (gdbstub): detach it and resume the VM first" },
	{ "colo", "in COLO fault tolerance, which qmigrate does not drive" },
};

int qm_precheck_run_state(const char *state, struct qm_error *err)
{
	if (!state)
		return qm_error_set(err, -EPROTO, "ProtocolError",
				    "the source QEMU's query-status gave no status");
	for (size_t i = 0; i < ARRAY_SIZE(run_states); i++) {
		if (strcmp(state, run_states[i].state) != 0)
			continue;
		if (!run_states[i].advice)
			return 0;
		return qm_error_set(err, -EINVAL, "InvalidState",
				    "the source VM is %s, %s", state,
				    run_states[i].advice);
	}
	return qm_error_set(
		err, -EINVAL, "InvalidState",
		"the source VM is %s, a state qmigrate does not know: only a running "
		"or paused VM can migrate",
		state);
}

/* ---- query-migrate: another migration, blockers ------------------------------- */

/* Appends @s to @buf (of @size), ending with "..." when it does not fit. */
static void append(char *buf, size_t size, const char *s)
{
	size_t len = strlen(buf);

	if (len + strlen(s) < size) {
		memcpy(buf + len, s, strlen(s) + 1);
		return;
	}
	snprintf(buf + len, size - len, "%s", s);
	memcpy(buf + size - 4, "...", 4);
}

int qm_precheck_migration(json_t *info, struct qm_error *err)
{
	const char *status = json_string_value(json_object_get(info, "status"));
	json_t *reasons = json_object_get(info, "blocked-reasons");
	struct qm_error blocked = { .code = -EPERM, .error_class = "MigrationBlocked" };
	size_t i;
	json_t *r;

	if (qm_migration_status_active(status))
		return qm_error_set(
			err, -EBUSY, "MigrationActive",
			"a migration is already under way on the source (status %s): "
			"wait for it to end, or cancel it (migrate_cancel)",
			status);
	if (json_array_size(reasons) == 0)
		return 0;
	/* The advice first: QEMU's reasons are what a long list may cut short. */
	snprintf(blocked.text, sizeof(blocked.text),
		 "the source VM cannot migrate until what blocks it is gone (unplug the "
		 "device, or restart the VM without the option); QEMU says: ");
	json_array_foreach(reasons, i, r) {
		if (i)
			append(blocked.text, sizeof(blocked.text), "; ");
		append(blocked.text, sizeof(blocked.text),
		       json_string_value(r) ? json_string_value(r) : "(no reason given)");
	}
	return qm_error_copy(err, &blocked);
}

/* ---- the destination ------------------------------------------------------------ */

int qm_precheck_incoming(const char *state, struct qm_error *err)
{
	if (state && strcmp(state, "inmigrate") == 0)
		return 0;
	return qm_error_set(
		err, -EINVAL, "InvalidState",
		"the destination QEMU is %s, not waiting for a migration: start it "
		"with -incoming defer (and -S)",
		state ? state : "in an unknown state");
}

/* ---- the two QEMUs ----------------------------------------------------------------- */

json_t *qm_machine_type_args(void)
{
	return json_pack("{s:s, s:s}", "path", "/machine", "property", "type");
}

int qm_qemu_facts_read(struct qm_qemu_facts *f, const char *side, json_t *target,
		       json_t *kvm, json_t *type, struct qm_error *err)
{
	const char *arch = json_string_value(json_object_get(target, "arch"));
	json_t *enabled = json_object_get(kvm, "enabled");
	const char *qom = json_string_value(type);
	size_t len;

	if (!arch || strlen(arch) >= sizeof(f->arch))
		return qm_error_set(err, -EPROTO, "ProtocolError",
				    "the %s QEMU's query-target gave no arch", side);
	if (!json_is_boolean(enabled))
		return qm_error_set(
			err, -EPROTO, "ProtocolError",
			"the %s QEMU's query-kvm did not say whether KVM is enabled",
			side);
	if (!qom || !*qom || strlen(qom) >= sizeof(f->machine))
		return qm_error_set(err, -EPROTO, "ProtocolError",
				    "the %s QEMU did not give its machine's type", side);
	snprintf(f->arch, sizeof(f->arch), "%s", arch);
	f->kvm = json_is_true(enabled);
	len = strlen(qom);
	if (len > strlen(MACHINE_SUFFIX) &&
	    strcmp(qom + len - strlen(MACHINE_SUFFIX), MACHINE_SUFFIX) == 0)
		len -= strlen(MACHINE_SUFFIX);
	snprintf(f->machine, sizeof(f->machine), "%.*s", (int)len, qom);
	return 0;
}

bool qm_precheck_tcg_loses_writes(const struct qm_qemu_facts *f, json_t *greeting, char *why,
				  size_t len)
{
	json_t *qemu = json_object_get(json_object_get(greeting, "version"), "qemu");
	json_t *major = json_object_get(qemu, "major"), *minor = json_object_get(qemu, "minor");
	char version[32] = "of unknown version";

	if (f->kvm)
		return false;
	if (json_is_integer(major) && json_is_integer(minor)) {
		if (json_integer_value(major) >= 9)
			return false;
		snprintf(version, sizeof(version), "%lld.%lld",
			 (long long)json_integer_value(major),
			 (long long)json_integer_value(minor));
	}
	snprintf(why, len,
		 "the source QEMU %s runs the VM under TCG, where QEMU before 9.0 can lose "
		 "guest writes during a live migration (a page the guest keeps rewriting "
		 "may arrive stale): migrate under KVM, or with QEMU 9.0 or later",
		 version);
	return true;
}

static bool machine_listed(json_t *machines, const char *machine)
{
	size_t i;
	json_t *m;

	json_array_foreach(machines, i, m) {
		const char *name = json_string_value(json_object_get(m, "name"));
		const char *alias = json_string_value(json_object_get(m, "alias"));

		if ((name && strcmp(name, machine) == 0) ||
		    (alias && strcmp(alias, machine) == 0))
			return true;
	}
	return false;
}

static const char *accel_name(bool kvm)
{
	return kvm ? "KVM" : "TCG (no KVM)";
}

int qm_precheck_same_machine(const struct qm_qemu_facts *src,
			     const struct qm_qemu_facts *dst, json_t *machines,
			     struct qm_error *err)
{
	if (strcmp(src->arch, dst->arch) != 0)
		return qm_error_set(
			err, -EINVAL, "ArchMismatch",
			"the source QEMU emulates %s but the destination QEMU emulates "
			"%s: start the destination with qemu-system-%s",
			src->arch, dst->arch, src->arch);
	if (src->kvm != dst->kvm)
		return qm_error_set(
			err, -EINVAL, "AccelMismatch",
			"the source QEMU runs the VM with %s but the destination QEMU "
			"uses %s, and a vCPU's state does not carry over between them: "
			"start the destination with -accel %s",
			accel_name(src->kvm), accel_name(dst->kvm),
			src->kvm ? "kvm" : "tcg");
	if (!machine_listed(machines, src->machine))
		return qm_error_set(
			err, -ENOTSUP, "MachineTypeMissing",
			"the destination's QEMU has no machine type '%s', which the "
			"source VM uses: run a QEMU there that has it (qemu-system-%s "
			"-machine help lists them)",
			src->machine, src->arch);
	if (strcmp(src->machine, dst->machine) != 0)
		return qm_error_set(
			err, -EINVAL, "MachineTypeMismatch",
			"the destination QEMU runs machine type '%s' but the source VM "
			"uses '%s', and QEMU would refuse its state: start the "
			"destination with -machine %s",
			dst->machine, src->machine, src->machine);
	return 0;
}

/* ---- identity ------------------------------------------------------------------- */

int qm_precheck_identity(const char *name, const char *uuid, json_t *dst_name,
			 json_t *dst_uuid, struct qm_error *err)
{
	const char *n = json_string_value(json_object_get(dst_name, "name"));
	const char *u = json_string_value(json_object_get(dst_uuid, "UUID"));

	/* A destination started without -name or -uuid takes the source's. */
	if (n && *n && strcmp(name, "unnamed") != 0 && strcmp(n, name) != 0)
		return qm_error_set(
			err, -EINVAL, "NameMismatch",
			"the destination QEMU belongs to another VM: it was started "
			"with -name '%s', but the VM to migrate is '%s'; start the "
			"destination with -name %s, or without -name",
			n, name, name);
	if (u && strcmp(u, NIL_UUID) != 0 && strcmp(uuid, NIL_UUID) != 0 &&
	    strcasecmp(u, uuid) != 0)
		return qm_error_set(
			err, -EINVAL, "UuidMismatch",
			"the destination QEMU belongs to another VM: it was started "
			"with -uuid %s, but the VM to migrate has uuid %s; start the "
			"destination with -uuid %s, or without -uuid",
			u, uuid, uuid);
	return 0;
}
