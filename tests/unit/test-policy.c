/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Timeouts, pause, post-copy, rules across policies, JSON: from synthetic samples. */
#include <criterion/criterion.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/policy.h"
#include "tests/helpers/policy-harness.h"

/* ---- completion timeout ------------------------------------------------------ */

Test(timeout, cancels_once_age_exceeds_it)
{
	struct qm_policy_settings s = { .timeout = 800 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(MIB), 800);
	assert_none(&r);
	r = eval(&s, &st, active(MIB), 801);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
	cr_assert_str_eq(r.a[0].reason,
			 "timeout: still migrating after 801 s, limit 800 s");
	cr_assert(st.cancelled);
}

Test(timeout, counts_from_migration_start_not_job_start)
{
	struct qm_policy_settings s = { .timeout = 10 };
	struct qm_policy_state st;
	struct run r;

	/* The samples say the job is 12345 s old; the migration is 9 s old. */
	start(&st, &s);
	r = eval(&s, &st, active(MIB), 9);
	assert_none(&r);
}

Test(timeout, per_gib_scales_with_ram)
{
	struct qm_policy_settings s = { .timeout = 10, .timeout_per_gib = true };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	/* Unsized: no limit yet, however long. */
	r = eval(&s, &st, sample("setup", 0, 0, 0), 100);
	assert_none(&r);
	cr_assert_not(st.cancelled);
	start(&st, &s);
	r = eval(&s, &st, sample("active", GIB, 4 * GIB, 1), 40);
	assert_none(&r);
	r = eval(&s, &st, sample("active", GIB, 4 * GIB, 1), 41);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
	cr_assert_str_eq(r.a[0].reason, "timeout: still migrating after 41 s, limit 40 s "
					"(10 s per GiB of 4.00 GiB)");
}

Test(timeout, applies_during_setup)
{
	struct qm_policy_settings s = { .timeout = 30 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, sample("setup", 0, 0, 0), 31);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
}

Test(timeout, default_scales_with_ram)
{
	struct qm_policy_settings s = { 0 };
	struct qm_policy_state st;
	struct run r;

	/* 800 s per GiB of a 4 GiB guest, like nova. */
	start(&st, &s);
	r = eval(&s, &st, sample("active", GIB, 4 * GIB, 1), 3200);
	assert_none(&r);
	r = eval(&s, &st, sample("active", GIB, 4 * GIB, 1), 3201);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
	cr_assert_str_eq(
		r.a[0].reason,
		"timeout: still migrating after 3201 s, limit 3200 s (the default: "
		"800 s per GiB of 4.00 GiB of RAM, at least 120 s; change it with "
		"--timeout SEC, or --timeout 0 for none)");
}

Test(timeout, default_has_a_floor_for_small_guests)
{
	struct qm_policy_settings s = { 0 };
	struct qm_policy_state st;
	struct run r;

	/* 800 s per GiB of 64 MiB would be 50 s. */
	start(&st, &s);
	r = eval(&s, &st, sample("active", MIB, 64 * MIB, 1), 120);
	assert_none(&r);
	r = eval(&s, &st, sample("active", MIB, 64 * MIB, 1), 121);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
	cr_assert(strstr(r.a[0].reason,
			 "limit 120 s (the default: 800 s per GiB of 0.06 GiB"),
		  "%s", r.a[0].reason);
}

Test(timeout, default_applies_before_ram_is_sized)
{
	struct qm_policy_settings s = { 0 };
	struct qm_policy_state st;
	struct run r;

	/* A migration stuck in setup does not run forever either. */
	start(&st, &s);
	r = eval(&s, &st, sample("setup", 0, 0, 0), 120);
	assert_none(&r);
	r = eval(&s, &st, sample("setup", 0, 0, 0), 121);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
	cr_assert_str_eq(
		r.a[0].reason,
		"timeout: still migrating after 121 s, limit 120 s (the default: at "
		"least 120 s; change it with --timeout SEC, or --timeout 0 for none)");
}

Test(timeout, negative_means_none)
{
	struct qm_policy_settings s = { .timeout = QM_POLICY_NO_TIMEOUT };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, sample("setup", 0, 0, 0), 1000);
	assert_none(&r);
	r = eval(&s, &st, sample("active", GIB, 4 * GIB, 1), 1e7);
	assert_none(&r);
	cr_assert_not(st.cancelled);
}

Test(timeout, explicit_value_wins_over_the_default)
{
	struct qm_policy_settings s = { .timeout = 5000 };
	struct qm_policy_state st;
	struct run r;

	/* Above the default for 4 GiB (3200 s), and it says nothing of a default. */
	start(&st, &s);
	r = eval(&s, &st, sample("active", GIB, 4 * GIB, 1), 5000);
	assert_none(&r);
	r = eval(&s, &st, sample("active", GIB, 4 * GIB, 1), 5001);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
	cr_assert_str_eq(r.a[0].reason,
			 "timeout: still migrating after 5001 s, limit 5000 s");
}

/* ---- stall timeout ----------------------------------------------------------- */

Test(stall, cancels_without_new_low_for_that_long)
{
	struct qm_policy_settings s = { .stall_timeout = 10 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(100 * MIB), 5);
	assert_none(&r);
	/* Higher than the low is no progress. */
	r = eval(&s, &st, active(300 * MIB), 14.9);
	assert_none(&r);
	r = eval(&s, &st, active(100 * MIB), 15);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_STALL, 0);
	cr_assert_str_eq(r.a[0].reason,
			 "stalled: remaining not below 100.0 MiB for 10 s, limit 10 s");
}

Test(stall, timeout_resets_on_new_low)
{
	struct qm_policy_settings s = { .stall_timeout = 10 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	eval(&s, &st, active(100 * MIB), 0);
	r = eval(&s, &st, active(99 * MIB), 9);
	assert_none(&r);
	cr_assert_float_eq(st.low_at, T0 + 9, 1e-9);
	r = eval(&s, &st, active(150 * MIB), 18.9);
	assert_none(&r);
	r = eval(&s, &st, active(99 * MIB), 19);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_STALL, 0);
}

Test(stall, ignores_setup_and_unsized_samples)
{
	struct qm_policy_settings s = { .stall_timeout = 10 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, sample("setup", 0, 0, 0), 0);
	assert_none(&r);
	r = eval(&s, &st, sample("active", 0, 0, 0), 50);
	assert_none(&r);
	cr_assert_not(st.have_low);
	/* The stall clock starts with the first counted sample. */
	r = eval(&s, &st, active(MIB), 60);
	assert_none(&r);
	r = eval(&s, &st, active(MIB), 69.9);
	assert_none(&r);
	r = eval(&s, &st, active(MIB), 70);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_STALL, 0);
}

/* ---- pause-after and post-copy ----------------------------------------------- */

Test(force, pause_after_fires_once)
{
	struct qm_policy_settings s = { .pause_after = 60 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(MIB), 60);
	assert_none(&r);
	r = eval(&s, &st, active(MIB), 61);
	assert_one(&r, QM_POLICY_PAUSE_SOURCE, QM_POLICY_PAUSE_AFTER, 0);
	cr_assert_str_eq(r.a[0].reason, "still migrating after 61 s, pause-after 60 s");
	r = eval(&s, &st, active(MIB), 62);
	assert_none(&r);
	r = eval(&s, &st, active(MIB), 600);
	assert_none(&r);
}

Test(force, postcopy_after_passes_fires_once)
{
	struct qm_policy_settings s = { .postcopy = true, .postcopy_after_passes = 3 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, sample("active", MIB, GIB, 2), 1);
	assert_none(&r);
	r = eval(&s, &st, sample("active", MIB, GIB, 3), 2);
	assert_one(&r, QM_POLICY_START_POSTCOPY, QM_POLICY_POSTCOPY, 0);
	cr_assert_str_eq(r.a[0].reason, "pass 3 reached 3: switch to post-copy");
	/* QEMU may still say "active" before it switches. */
	r = eval(&s, &st, sample("active", MIB, GIB, 4), 3);
	assert_none(&r);
}

Test(force, postcopy_after_passes_needs_postcopy_enabled)
{
	struct qm_policy_settings s = { .postcopy_after_passes = 3 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, sample("active", MIB, GIB, 10), 1);
	assert_none(&r);
}

Test(force, postcopy_wins_over_pause_in_same_sample)
{
	struct qm_policy_settings s = { .postcopy = true,
					.postcopy_after_passes = 2,
					.pause_after = 10 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, sample("active", MIB, GIB, 2), 11);
	assert_one(&r, QM_POLICY_START_POSTCOPY, QM_POLICY_POSTCOPY, 0);
	/* Pausing after post-copy started only adds downtime. */
	r = eval(&s, &st, sample("active", MIB, GIB, 2), 12);
	assert_none(&r);
}

Test(force, force_complete_starts_postcopy_when_enabled)
{
	struct qm_policy_settings s = { .postcopy = true };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	qm_policy_force_complete(&st);
	r = eval(&s, &st, active(MIB), 1);
	assert_one(&r, QM_POLICY_START_POSTCOPY, QM_POLICY_FORCE_COMPLETE, 0);
	cr_assert_str_eq(r.a[0].reason, "force-complete: switch to post-copy");
	qm_policy_force_complete(&st);
	r = eval(&s, &st, active(MIB), 2);
	assert_none(&r);
}

Test(force, force_complete_without_postcopy_pauses)
{
	struct qm_policy_settings s = { 0 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(MIB), 1);
	assert_none(&r);
	qm_policy_force_complete(&st);
	r = eval(&s, &st, active(MIB), 2);
	assert_one(&r, QM_POLICY_PAUSE_SOURCE, QM_POLICY_FORCE_COMPLETE, 0);
	cr_assert_str_eq(r.a[0].reason,
			 "force-complete: pause the source (post-copy is not enabled)");
	cr_assert_not(st.force_complete);
	/* Once: a second request finds the source already paused. */
	qm_policy_force_complete(&st);
	r = eval(&s, &st, active(MIB), 3);
	assert_none(&r);
}

Test(force, force_complete_after_pause_after_does_nothing)
{
	struct qm_policy_settings s = { .pause_after = 5 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(MIB), 6);
	assert_one(&r, QM_POLICY_PAUSE_SOURCE, QM_POLICY_PAUSE_AFTER, 0);
	qm_policy_force_complete(&st);
	r = eval(&s, &st, active(MIB), 7);
	assert_none(&r);
}

Test(force, pause_after_suppressed_by_force_complete_in_same_sample)
{
	struct qm_policy_settings s = { .pause_after = 5 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	qm_policy_force_complete(&st);
	r = eval(&s, &st, active(MIB), 6);
	assert_one(&r, QM_POLICY_PAUSE_SOURCE, QM_POLICY_FORCE_COMPLETE, 0);
}

Test(force, postcopy_active_suppresses_postcopy_and_pause)
{
	struct qm_policy_settings s = { .postcopy = true,
					.postcopy_after_passes = 2,
					.pause_after = 10 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	qm_policy_force_complete(&st);
	/* Someone else started post-copy: the request is moot. */
	r = eval(&s, &st, sample("postcopy-active", MIB, GIB, 5), 20);
	assert_none(&r);
	cr_assert(st.postcopy_started);
	cr_assert_not(st.force_complete);
	r = eval(&s, &st, sample("active", MIB, GIB, 5), 21);
	assert_none(&r);
}

/* ---- rules across policies --------------------------------------------------- */

Test(rules, cancel_wins_over_pause_in_same_sample)
{
	struct qm_policy_settings s = { .timeout = 100, .pause_after = 50 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(MIB), 101);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
	cr_assert_not(st.paused);
}

Test(rules, cancel_wins_over_every_other_action)
{
	struct qm_policy_settings s = {
		.stall_timeout = 5,
		.downtime_steps = 10,
		.step_delay = 1,
		.postcopy = true,
		.postcopy_after_passes = 1,
		.ram_bytes = GIB,
	};
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, sample("active", MIB, GIB, 0), 0);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 50);
	qm_policy_force_complete(&st);
	r = eval(&s, &st, sample("active", MIB, GIB, 1), 5);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_STALL, 0);
}

Test(rules, timeout_reported_before_stall_when_both_due)
{
	struct qm_policy_settings s = { .timeout = 20, .stall_timeout = 5 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	eval(&s, &st, active(MIB), 0);
	r = eval(&s, &st, active(MIB), 21);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
}

Test(rules, nothing_acts_after_cancel)
{
	struct qm_policy_settings s = { .timeout = 10,
					.pause_after = 20,
					.downtime_steps = 5 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(MIB), 11);
	assert_one(&r, QM_POLICY_CANCEL, QM_POLICY_TIMEOUT, 0);
	qm_policy_force_complete(&st);
	for (int i = 12; i < 40; i++) {
		r = eval(&s, &st, active(MIB), i);
		assert_none(&r);
	}
}

Test(rules, several_policies_act_on_one_sample_in_order)
{
	struct qm_policy_settings s = {
		.downtime_steps = 10,
		.step_delay = 1,
		.ram_bytes = GIB,
		.postcopy = true,
		.postcopy_after_passes = 2,
	};
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, sample("active", MIB, GIB, 2), 3);
	cr_assert_eq(r.n, 2);
	assert_action(&r, 0, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 185);
	assert_action(&r, 1, QM_POLICY_START_POSTCOPY, QM_POLICY_POSTCOPY, 0);
}

Test(rules, ended_statuses_produce_no_actions)
{
	static const char *const statuses[] = { "completed", "failed", "cancelling",
						"cancelled", "none",   "wait-unplug" };
	struct qm_policy_settings s = {
		.timeout = 1,
		.stall_timeout = 1,
		.pause_after = 1,
		.downtime_steps = 3,
		.postcopy = true,
		.postcopy_after_passes = 1,
	};

	for (size_t i = 0; i < sizeof(statuses) / sizeof(statuses[0]); i++) {
		struct qm_policy_state st;
		struct run r;

		start(&st, &s);
		qm_policy_force_complete(&st);
		r = eval(&s, &st, sample(statuses[i], MIB, GIB, 9), 100);
		cr_assert_eq(r.n, 0, "%s produced %zu actions", statuses[i], r.n);
	}
}

Test(rules, non_finite_clock_produces_no_actions)
{
	struct qm_policy_settings s = { .timeout = 10 };
	struct qm_policy_state st;
	struct qm_policy_action out[QM_POLICY_MAX_ACTIONS];
	struct qm_progress p = active(MIB);

	start(&st, &s);
	cr_assert_eq(qm_policy_evaluate(&s, &st, &p, NAN, out), 0);
	cr_assert_eq(qm_policy_evaluate(&s, &st, &p, INFINITY, out), 0);
	cr_assert_not(st.cancelled);
}

Test(rules, equal_state_and_inputs_give_equal_decisions)
{
	struct qm_policy_settings s = { .max_downtime_ms = 5000,
					.downtime_double = 2,
					.stall_timeout = 30,
					.pause_after = 8 };
	struct qm_policy_state a, b;
	struct run ra, rb;

	start(&a, &s);
	for (int i = 0; i < 6; i++)
		eval(&s, &a, active(MIB), i);
	b = a;
	ra = eval(&s, &a, active(MIB), 9);
	rb = eval(&s, &b, active(MIB), 9);
	cr_assert_eq(ra.n, 2);
	cr_assert_eq(rb.n, ra.n);
	for (size_t i = 0; i < ra.n; i++) {
		cr_assert_eq(ra.a[i].type, rb.a[i].type);
		cr_assert_eq(ra.a[i].value, rb.a[i].value);
		cr_assert_str_eq(ra.a[i].reason, rb.a[i].reason);
	}
	cr_assert_eq(memcmp(&a, &b, sizeof(a)), 0);
}

/* ---- JSON and names ---------------------------------------------------------- */

static void assert_json(const struct qm_policy_action *a, const char *expected)
{
	json_t *o = qm_policy_action_to_json(a);
	char *text;

	cr_assert(o);
	text = json_dumps(o, JSON_COMPACT);
	cr_assert_str_eq(text, expected);
	free(text);
	json_decref(o);
}

Test(json, set_downtime_carries_value_in_ms)
{
	struct qm_policy_action a = {
		.type = QM_POLICY_SET_DOWNTIME,
		.policy = QM_POLICY_LADDER,
		.value = 200,
		.reason = "downtime step 3/10 at 150 s: 200 ms",
	};

	assert_json(
		&a,
		"{\"event\":\"policy\",\"policy\":\"ladder\",\"action\":\"set-downtime\","
		"\"value\":200,\"reason\":\"downtime step 3/10 at 150 s: 200 ms\"}");
}

Test(json, actions_without_value_have_no_value_key)
{
	struct qm_policy_action a = {
		.type = QM_POLICY_CANCEL,
		.policy = QM_POLICY_STALL,
		.reason = "stalled: x",
	};

	assert_json(&a,
		    "{\"event\":\"policy\",\"policy\":\"stall\",\"action\":\"cancel\","
		    "\"reason\":\"stalled: x\"}");
}

Test(json, evaluated_action_renders)
{
	struct qm_policy_settings s = { .pause_after = 1 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(MIB), 2);
	cr_assert_eq(r.n, 1);
	assert_json(&r.a[0],
		    "{\"event\":\"policy\",\"policy\":\"pause-after\","
		    "\"action\":\"pause-source\",\"reason\":\"still migrating after 2 s, "
		    "pause-after 1 s\"}");
}

Test(json, names_come_from_tables)
{
	cr_assert_str_eq(qm_policy_name(QM_POLICY_LADDER), "ladder");
	cr_assert_str_eq(qm_policy_name(QM_POLICY_DOUBLE), "double");
	cr_assert_str_eq(qm_policy_name(QM_POLICY_TIMEOUT), "timeout");
	cr_assert_str_eq(qm_policy_name(QM_POLICY_STALL), "stall");
	cr_assert_str_eq(qm_policy_name(QM_POLICY_PAUSE_AFTER), "pause-after");
	cr_assert_str_eq(qm_policy_name(QM_POLICY_POSTCOPY), "postcopy");
	cr_assert_str_eq(qm_policy_name(QM_POLICY_FORCE_COMPLETE), "force-complete");
	cr_assert_str_eq(qm_policy_name(QM_POLICY_ADVICE), "advise");
	cr_assert_str_eq(qm_policy_name((enum qm_policy)99), "?");
	cr_assert_str_eq(qm_policy_action_name(QM_POLICY_SET_DOWNTIME), "set-downtime");
	cr_assert_str_eq(qm_policy_action_name(QM_POLICY_CANCEL), "cancel");
	cr_assert_str_eq(qm_policy_action_name(QM_POLICY_PAUSE_SOURCE), "pause-source");
	cr_assert_str_eq(qm_policy_action_name(QM_POLICY_START_POSTCOPY),
			 "start-postcopy");
	cr_assert_str_eq(qm_policy_action_name(QM_POLICY_ADVISE), "advise");
	cr_assert_str_eq(qm_policy_action_name((enum qm_policy_action_type) - 1), "?");
}
