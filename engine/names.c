/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "qmigrate.h"
#include "util/macros.h"

static const char *const phase_names[] = {
	[QM_PHASE_BEGIN] = "begin",   [QM_PHASE_PREPARE] = "prepare",
	[QM_PHASE_PERFORM] = "perform", [QM_PHASE_FINISH] = "finish",
	[QM_PHASE_CONFIRM] = "confirm", [QM_PHASE_DONE] = "done",
};

static const char *const status_names[] = {
	[QM_JOB_RUNNING] = "running",
	[QM_JOB_COMPLETED] = "completed",
	[QM_JOB_FAILED] = "failed",
	[QM_JOB_CANCELLED] = "cancelled",
};

static const char *const vm_names[] = {
	[QM_VM_UNKNOWN] = "unknown",
	[QM_VM_DESTINATION] = "destination",
	[QM_VM_SOURCE] = "source",
	[QM_VM_SOURCE_PAUSED] = "source-paused",
};

_public_ const char *qm_phase_name(enum qm_phase phase)
{
	return (unsigned)phase < ARRAY_SIZE(phase_names) ? phase_names[phase] : "?";
}

_public_ const char *qm_job_status_name(enum qm_job_status status)
{
	return (unsigned)status < ARRAY_SIZE(status_names) ? status_names[status] : "?";
}

_public_ const char *qm_vm_location_name(enum qm_vm_location vm)
{
	return (unsigned)vm < ARRAY_SIZE(vm_names) ? vm_names[vm] : "?";
}
