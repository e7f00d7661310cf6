/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* query-migrate's return value as a progress sample: pure functions, unit-tested. */
#include <stdio.h>
#include <string.h>

#include "engine/job.h"
#include "util/macros.h"

static const char *const active_statuses[] = {
	"setup",	 "active",	     "pre-switchover", "device",
	"postcopy-active", "postcopy-paused", "postcopy-recover", "wait-unplug",
	"cancelling",	 "colo",
};

bool qm_migration_status_active(const char *status)
{
	for (size_t i = 0; status && i < ARRAY_SIZE(active_statuses); i++)
		if (strcmp(status, active_statuses[i]) == 0)
			return true;
	return false;
}

static unsigned long long u64(json_t *o, const char *key)
{
	json_int_t v = json_integer_value(json_object_get(o, key));

	return v > 0 ? (unsigned long long)v : 0;
}

void qm_progress_from_json(json_t *info, struct qm_progress *p, char *status, size_t status_len)
{
	json_t *ram = json_object_get(info, "ram");
	json_t *downtime = json_object_get(info, "expected-downtime");
	const char *s = json_string_value(json_object_get(info, "status"));

	snprintf(status, status_len, "%s", s ? s : "none");
	p->status = status;
	p->transferred_bytes = u64(ram, "transferred");
	p->remaining_bytes = u64(ram, "remaining");
	p->total_bytes = u64(ram, "total");
	p->passes = u64(ram, "dirty-sync-count");
	p->mbps = json_number_value(json_object_get(ram, "mbps"));
	p->expected_downtime_ms = json_is_integer(downtime) ? json_integer_value(downtime) : -1;
	/* The share of RAM that is not (or no longer) dirty: it can fall between passes. */
	if (p->total_bytes > 0 && p->remaining_bytes <= p->total_bytes)
		p->percent = 100.0 * (double)(p->total_bytes - p->remaining_bytes) /
			     (double)p->total_bytes;
	else
		p->percent = 0;
	if (strcmp(status, "completed") == 0)
		p->percent = 100;
}
