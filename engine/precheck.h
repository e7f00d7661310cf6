/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The checks a migration passes before anything changes, on the replies to
 * the queries that begin and prepare already batch.  Each refusal has its own
 * error class and says what is wrong and what to do.  Pure functions of QMP
 * return values: they fill @err and return 0 or a negative errno.
 */
#ifndef QM_ENGINE_PRECHECK_H
#define QM_ENGINE_PRECHECK_H

#include <jansson.h>
#include <stdbool.h>

#include "qmigrate.h"
#include "util/macros.h"

/* What must be the same in both QEMUs. */
struct qm_qemu_facts {
	char arch[32];	   /* query-target's "arch", e.g. "x86_64" */
	char machine[128]; /* the machine type as query-machines names it, e.g.
			      "pc-i440fx-7.2" */
	bool kvm;	   /* query-kvm's "enabled" */
};

/*
 * QEMU before 9.0 can lose guest writes when it migrates a VM under TCG:
 * its dirty-bitmap sync clears a page's bit without dropping the TLB
 * entries that write it, so stores through a cached entry are not tracked
 * (fixed by QEMU's "physmem: Fix migration dirty bitmap coherency with TCG
 * memory access").  tests/guest's hot-set mode loses such writes, with
 * plain QEMU 7.2 too (scripts/guest-pingpong).  Given a source that does
 * not use KVM and the QMP greeting's "QMP" object, fills @why with a
 * warning for the user and returns true; false when the source is safe.
 */
bool qm_precheck_tcg_loses_writes(const struct qm_qemu_facts *f, json_t *greeting, char *why,
				  size_t len);

/* qom-get's arguments that ask for the machine's QOM type (a new reference). */
json_t *qm_machine_type_args(void);

/*
 * Reads @f from the return values of query-target, query-kvm and qom-get
 * (qm_machine_type_args).  @side ("source", "destination") names the QEMU in
 * a ProtocolError.
 */
int qm_qemu_facts_read(struct qm_qemu_facts *f, const char *side, json_t *target,
		       json_t *kvm, json_t *type, struct qm_error *err) _must_check_;

/*
 * The source VM's run state (query-status' "status") lets it migrate: running,
 * paused, or prelaunch (started with -S and never run; it arrives in
 * prelaunch).  Class InvalidState, naming the state and what to do.
 */
int qm_precheck_run_state(const char *state, struct qm_error *err) _must_check_;

/*
 * query-migrate's return value on the source: no migration under way
 * (MigrationActive), no migration blocker (MigrationBlocked, with every
 * reason QEMU gives).
 */
int qm_precheck_migration(json_t *info, struct qm_error *err) _must_check_;

/* The destination waits for a migration: its state is inmigrate (InvalidState). */
int qm_precheck_incoming(const char *state, struct qm_error *err) _must_check_;

/*
 * Both QEMUs emulate the same arch (ArchMismatch) with the same accelerator
 * (AccelMismatch); the destination's binary has the source's machine type,
 * by name or alias in query-machines' return value @machines
 * (MachineTypeMissing), and the destination runs it (MachineTypeMismatch).
 */
int qm_precheck_same_machine(const struct qm_qemu_facts *src,
			     const struct qm_qemu_facts *dst, json_t *machines,
			     struct qm_error *err) _must_check_;

/*
 * The destination QEMU is this VM's: its -name and -uuid (the return values
 * of query-name and query-uuid) are the VM's @name and @uuid, or unset
 * (NameMismatch, UuidMismatch).  A VM with no name ("unnamed") or the nil
 * uuid matches any.
 */
int qm_precheck_identity(const char *name, const char *uuid, json_t *dst_name,
			 json_t *dst_uuid, struct qm_error *err) _must_check_;

#endif
