/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* query-migrate's return value as a progress sample. */
#include <criterion/criterion.h>
#include <jansson.h>

#include "engine/job.h"

static void sample(const char *text, struct qm_progress *p, char *status, size_t len)
{
	json_error_t jerr;
	json_t *info = json_loads(text, 0, &jerr);

	cr_assert(info, "%s", jerr.text);
	memset(p, 0, sizeof(*p));
	qm_progress_from_json(info, p, status, len);
	json_decref(info);
}

Test(progress, active_sample_carries_qemu_figures_and_percent_of_clean_ram)
{
	struct qm_progress p;
	char status[32];

	sample("{\"status\": \"active\", \"expected-downtime\": 42, \"ram\": {\"transferred\": 1000,"
	       " \"remaining\": 1024, \"total\": 4096, \"dirty-sync-count\": 3, \"mbps\": 812.5}}",
	       &p, status, sizeof(status));
	cr_assert_str_eq(p.status, "active");
	cr_assert_eq(p.transferred_bytes, 1000);
	cr_assert_eq(p.remaining_bytes, 1024);
	cr_assert_eq(p.total_bytes, 4096);
	cr_assert_eq(p.passes, 3);
	cr_assert_eq(p.expected_downtime_ms, 42);
	cr_assert_float_eq(p.mbps, 812.5, 1e-9);
	cr_assert_float_eq(p.percent, 75.0, 1e-9);
}

Test(progress, setup_sample_without_ram_is_zero_percent_and_unknown_downtime)
{
	struct qm_progress p;
	char status[32];

	sample("{\"status\": \"setup\"}", &p, status, sizeof(status));
	cr_assert_str_eq(p.status, "setup");
	cr_assert_eq(p.expected_downtime_ms, -1);
	cr_assert_float_eq(p.percent, 0.0, 1e-9);
}

Test(progress, completed_is_one_hundred_percent)
{
	struct qm_progress p;
	char status[32];

	sample("{\"status\": \"completed\", \"ram\": {\"remaining\": 0, \"total\": 0}}", &p, status,
	       sizeof(status));
	cr_assert_float_eq(p.percent, 100.0, 1e-9);
}

Test(progress, active_statuses_are_recognised)
{
	static const char *const active[] = { "setup", "active", "pre-switchover", "device",
					      "postcopy-active", "cancelling", "wait-unplug" };
	static const char *const ended[] = { "none", "completed", "failed", "cancelled" };

	for (size_t i = 0; i < sizeof(active) / sizeof(active[0]); i++)
		cr_assert(qm_migration_status_active(active[i]), "%s", active[i]);
	for (size_t i = 0; i < sizeof(ended) / sizeof(ended[0]); i++)
		cr_assert_not(qm_migration_status_active(ended[i]), "%s", ended[i]);
	cr_assert_not(qm_migration_status_active(NULL));
}
