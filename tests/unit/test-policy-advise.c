/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Advice for a migration that cannot converge, from synthetic samples and times. */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "engine/policy.h"
#include "tests/helpers/policy-harness.h"

/* QEMU's mbps (10^6 bits/s) for 850 MiB/s. */
#define MBPS_850_MIB (850.0 * MIB * 8 / 1e6)

/* An active sample of a 1 GiB guest in pass @passes, QEMU expecting @expected ms. */
static struct qm_progress pass(unsigned long long passes, long long expected)
{
	struct qm_progress p = sample("active", 512 * MIB, GIB, passes);

	p.expected_downtime_ms = expected;
	p.mbps = MBPS_850_MIB;
	return p;
}

/* Evaluates passes @from..@to, one sample each, a second apart, and wants no action. */
static void passes_without_action(const struct qm_policy_settings *s,
				  struct qm_policy_state *st, unsigned long long from,
				  unsigned long long to, long long expected)
{
	for (unsigned long long i = from; i <= to; i++) {
		struct run r = eval(s, st, pass(i, expected), (double)i);

		assert_none(&r);
	}
}

Test(advise, advise_once_when_expected_downtime_stays_above_the_limit)
{
	struct qm_policy_settings s = { 0 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	/* Above QEMU's default 300 ms from pass 2 on: passes 2..6 are not yet 5. */
	passes_without_action(&s, &st, 2, 6, 2400);
	r = eval(&s, &st, pass(7, 2400), 7);
	assert_one(&r, QM_POLICY_ADVISE, QM_POLICY_ADVICE, 0);
	cr_assert_str_eq(
		r.a[0].reason,
		"the guest dirties memory faster than it is sent: expected downtime "
		"2400 ms stays above the limit 300 ms after 5 passes (sending "
		"850.0 MiB/s); to converge: --max-downtime 2500, --auto-converge, "
		"--pause-after SEC, or --postcopy");
	cr_assert(st.advised);
	/* Once: not again however long it goes on, nor after a dip. */
	passes_without_action(&s, &st, 8, 30, 2400);
	passes_without_action(&s, &st, 31, 31, 100);
	passes_without_action(&s, &st, 32, 50, 2400);
}

Test(advise, several_passes_between_samples_count_as_passes)
{
	struct qm_policy_settings s = { 0 };
	struct qm_policy_state st;
	struct run r;

	/* Many samples in one pass are one pass; a gap of passes counts whole. */
	start(&st, &s);
	for (int i = 0; i < 20; i++) {
		r = eval(&s, &st, pass(3, 900), i * 0.1);
		assert_none(&r);
	}
	r = eval(&s, &st, pass(9, 900), 3);
	assert_one(&r, QM_POLICY_ADVISE, QM_POLICY_ADVICE, 0);
	cr_assert(strstr(r.a[0].reason,
			 "900 ms stays above the limit 300 ms after 6 passes"),
		  "%s", r.a[0].reason);
}

Test(advise, no_advice_when_it_dips_below_the_limit)
{
	struct qm_policy_settings s = { 0 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	passes_without_action(&s, &st, 2, 6, 2400);
	/* At the limit is not above it: the count starts again. */
	passes_without_action(&s, &st, 7, 7, 300);
	passes_without_action(&s, &st, 8, 12, 2400);
	passes_without_action(&s, &st, 13, 13, 250);
	passes_without_action(&s, &st, 14, 18, 2400);
	cr_assert_not(st.advised);
	r = eval(&s, &st, pass(19, 2400), 19);
	assert_one(&r, QM_POLICY_ADVISE, QM_POLICY_ADVICE, 0);
}

Test(advise, samples_without_an_estimate_neither_count_nor_reset)
{
	struct qm_policy_settings s = { 0 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	passes_without_action(&s, &st, 2, 4, 2400);
	/* QEMU did not say (-1), and setup and unsized samples are not counted. */
	passes_without_action(&s, &st, 5, 5, -1);
	r = eval(&s, &st, sample("setup", 0, 0, 6), 6);
	assert_none(&r);
	passes_without_action(&s, &st, 6, 6, 2400);
	r = eval(&s, &st, pass(7, 2400), 7);
	assert_one(&r, QM_POLICY_ADVISE, QM_POLICY_ADVICE, 0);
}

Test(advise, advice_names_only_applicable_levers)
{
	struct qm_policy_settings s = { .postcopy = true, .pause_after = 600 };
	struct qm_policy_state st;
	struct run r;

	/* Auto-converge and pause-after in use, post-copy on, the stream capped. */
	start(&st, &s);
	st.auto_converge = true;
	st.bandwidth = 16 * MIB;
	passes_without_action(&s, &st, 2, 6, 4050);
	r = eval(&s, &st, pass(7, 4050), 7);
	assert_one(&r, QM_POLICY_ADVISE, QM_POLICY_ADVICE, 0);
	cr_assert_str_eq(
		r.a[0].reason,
		"the guest dirties memory faster than it is sent: expected downtime "
		"4050 ms stays above the limit 300 ms after 5 passes (sending "
		"850.0 MiB/s); to converge: --max-downtime 4100, "
		"--postcopy-after-passes N, or a higher --bandwidth (now 16 MiB/s)");
}

Test(advise, advice_without_a_lever_left_says_so)
{
	struct qm_policy_settings s = { .postcopy = true,
					.postcopy_after_passes = 1000,
					.pause_after = 600 };
	struct qm_policy_state st;
	struct run r;

	/* Beyond any downtime QEMU accepts, and every other option in use. */
	start(&st, &s);
	st.auto_converge = true;
	passes_without_action(&s, &st, 2, 6, 3000000);
	r = eval(&s, &st, pass(7, 3000000), 7);
	assert_one(&r, QM_POLICY_ADVISE, QM_POLICY_ADVICE, 0);
	cr_assert(strstr(r.a[0].reason,
			 "; to converge: every option that would help is in use"),
		  "%s", r.a[0].reason);
	cr_assert_null(strstr(r.a[0].reason, "--max-downtime"), "%s", r.a[0].reason);
}

Test(advise, counts_against_the_limit_in_force)
{
	struct qm_policy_settings s = { .initial_downtime_ms = 2000 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	passes_without_action(&s, &st, 2, 10, 1900);
	/* A command raised the limit: the caller updates the state. */
	passes_without_action(&s, &st, 11, 15, 2400);
	st.downtime_ms = 3000;
	passes_without_action(&s, &st, 16, 30, 2400);
	st.downtime_ms = 2000;
	passes_without_action(&s, &st, 31, 35, 2400);
	r = eval(&s, &st, pass(36, 2400), 36);
	assert_one(&r, QM_POLICY_ADVISE, QM_POLICY_ADVICE, 0);
}

Test(advise, a_ladder_is_left_to_climb_to_its_maximum)
{
	struct qm_policy_settings s = { .max_downtime_ms = 500,
					.downtime_steps = 10,
					.ram_bytes = GIB };
	struct qm_policy_state st;
	struct run r;

	/* 400 ms is above step 0's 50 ms but within the ladder's reach. */
	start(&st, &s);
	r = eval(&s, &st, pass(1, 400), 0);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 50);
	passes_without_action(&s, &st, 2, 20, 400);
	/* 2400 ms is not: the advice names both limits. */
	passes_without_action(&s, &st, 21, 25, 2400);
	r = eval(&s, &st, pass(26, 2400), 26);
	assert_one(&r, QM_POLICY_ADVISE, QM_POLICY_ADVICE, 0);
	cr_assert(strstr(r.a[0].reason, "2400 ms stays above the limit 50 ms (rising to "
					"500 ms) after 5 passes"),
		  "%s", r.a[0].reason);
}

Test(advise, no_advice_once_convergence_is_forced)
{
	struct qm_policy_settings s = { .pause_after = 3 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	passes_without_action(&s, &st, 1, 3, 2400);
	r = eval(&s, &st, pass(4, 2400), 4);
	assert_one(&r, QM_POLICY_PAUSE_SOURCE, QM_POLICY_PAUSE_AFTER, 0);
	/* Paused, the guest dirties nothing more: what QEMU still expects passes. */
	passes_without_action(&s, &st, 5, 30, 2400);
}

Test(advise, comes_last_after_the_actions_of_its_sample)
{
	struct qm_policy_settings s = { .max_downtime_ms = 5000, .downtime_double = 1 };
	struct qm_policy_state st;
	struct run r;

	/* Every sample is flat: 300 ms doubles up to 5000 ms, at pass 7. */
	start(&st, &s);
	eval(&s, &st, pass(2, 9000), 2);
	for (unsigned long long i = 3; i <= 6; i++) {
		r = eval(&s, &st, pass(i, 9000), (double)i);
		assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE,
			   300LL << (i - 2));
	}
	r = eval(&s, &st, pass(7, 9000), 7);
	cr_assert_eq(r.n, 2);
	assert_action(&r, 0, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, 5000);
	assert_action(&r, 1, QM_POLICY_ADVISE, QM_POLICY_ADVICE, 0);
	cr_assert(strstr(r.a[1].reason,
			 "9000 ms stays above the limit 5000 ms after 5 passes"),
		  "%s", r.a[1].reason);
}

Test(advise, renders_as_a_policy_line_without_value)
{
	struct qm_policy_settings s = { 0 };
	struct qm_policy_state st;
	struct run r;
	json_t *o;

	start(&st, &s);
	passes_without_action(&s, &st, 2, 6, 2400);
	r = eval(&s, &st, pass(7, 2400), 7);
	o = qm_policy_action_to_json(&r.a[0]);
	cr_assert(o);
	cr_assert_str_eq(json_string_value(json_object_get(o, "event")), "policy");
	cr_assert_str_eq(json_string_value(json_object_get(o, "policy")), "advise");
	cr_assert_str_eq(json_string_value(json_object_get(o, "action")), "advise");
	cr_assert_str_eq(json_string_value(json_object_get(o, "reason")), r.a[0].reason);
	cr_assert_null(json_object_get(o, "value"));
	json_decref(o);
}
