/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The downtime policies, ladder and doubling, driven with synthetic samples and times. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "engine/policy.h"
#include "tests/helpers/policy-harness.h"
#include "util/error.h"

/* ---- ladder ------------------------------------------------------------------ */

Test(ladder, sets_base_downtime_at_first_sample)
{
	struct qm_policy_settings s = { .max_downtime_ms = 500, .downtime_steps = 10 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(GIB), 0.1);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 50);
	cr_assert_str_eq(r.a[0].reason, "downtime step 0/10 at 0 s: 50 ms");
	cr_assert_eq(st.downtime_ms, 50);
}

/* Nova's documented example: 10 steps, 30 s delay, 3 GiB, 400 ms max. */
Test(ladder, follows_nova_documented_progression)
{
	static const long long expected[] = { 40,  76,	112, 148, 184, 220,
					      256, 292, 328, 364, 400 };
	struct qm_policy_settings s = { .max_downtime_ms = 400,
					.downtime_steps = 10,
					.step_delay = 30,
					.ram_bytes = 3 * GIB };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	for (int i = 0; i <= 10; i++) {
		r = eval(&s, &st, active(GIB), 90.0 * i);
		assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, expected[i]);
		r = eval(&s, &st, active(GIB), 90.0 * i + 89.9);
		assert_none(&r);
	}
	cr_assert_eq(st.ladder_step, 10);
}

Test(ladder, reaches_max_downtime_at_last_step)
{
	/* 500 / 3 is not whole: the last step must still land on 500 exactly. */
	/* Without a timeout: the default one would end it before 10000 s. */
	struct qm_policy_settings s = { .max_downtime_ms = 500,
					.downtime_steps = 3,
					.step_delay = 10,
					.timeout = QM_POLICY_NO_TIMEOUT,
					.ram_bytes = GIB };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(GIB), 0);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 166);
	r = eval(&s, &st, active(GIB), 10);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 277);
	r = eval(&s, &st, active(GIB), 20);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 388);
	r = eval(&s, &st, active(GIB), 30);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 500);
	cr_assert_str_eq(r.a[0].reason, "downtime step 3/3 at 30 s: 500 ms");
	r = eval(&s, &st, active(GIB), 10000);
	assert_none(&r);
}

Test(ladder, delay_scales_with_ram_gib)
{
	struct qm_policy_settings two = { .downtime_steps = 10, .ram_bytes = 2 * GIB };
	struct qm_policy_settings four = { .downtime_steps = 10, .ram_bytes = 4 * GIB };
	struct qm_policy_state st2, st4;
	struct run r;

	start(&st2, &two);
	start(&st4, &four);
	eval(&two, &st2, active(GIB), 0);
	eval(&four, &st4, active(GIB), 0);
	/* Nova's default delay, 75 s per GiB: 150 s for 2 GiB, 300 s for 4 GiB. */
	r = eval(&two, &st2, active(GIB), 149.9);
	assert_none(&r);
	r = eval(&two, &st2, active(GIB), 150);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 95);
	r = eval(&four, &st4, active(GIB), 299.9);
	assert_none(&r);
	r = eval(&four, &st4, active(GIB), 300);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 95);
	cr_assert_str_eq(r.a[0].reason, "downtime step 1/10 at 300 s: 95 ms");
}

Test(ladder, fractional_gib_gives_fractional_delay)
{
	struct qm_policy_settings s = { .downtime_steps = 10, .ram_bytes = 256 * MIB };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	eval(&s, &st, active(GIB), 0);
	/* 75 s per GiB of a quarter GiB: a step every 18.75 s. */
	r = eval(&s, &st, active(GIB), 18.74);
	assert_none(&r);
	r = eval(&s, &st, active(GIB), 18.75);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 95);
}

Test(ladder, takes_ram_size_from_first_sized_sample)
{
	/* Without a timeout: the default one's floor would end it before 500 s. */
	struct qm_policy_settings s = { .downtime_steps = 10,
					.step_delay = 10,
					.timeout = QM_POLICY_NO_TIMEOUT };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	/* Before QEMU sizes the RAM only step 0 is due, however late. */
	r = eval(&s, &st, sample("setup", 0, 0, 0), 0);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 50);
	r = eval(&s, &st, sample("setup", 0, 0, 0), 500);
	assert_none(&r);
	/* 2 GiB: 20 s a step, so at 500 s every step is due: straight to the last. */
	r = eval(&s, &st, sample("active", GIB, 2 * GIB, 1), 500);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 500);
	cr_assert_eq(st.ram_bytes, 2 * GIB);
}

Test(ladder, jumps_to_latest_due_step_after_a_gap)
{
	struct qm_policy_settings s = { .downtime_steps = 10,
					.step_delay = 75,
					.ram_bytes = GIB };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	eval(&s, &st, active(GIB), 0);
	r = eval(&s, &st, active(GIB), 230);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 185);
	cr_assert_str_eq(r.a[0].reason, "downtime step 3/10 at 225 s: 185 ms");
	r = eval(&s, &st, active(GIB), 299);
	assert_none(&r);
}

/* Times found by search, where age / step_len rounds across a step's time. */
Test(ladder, step_is_due_exactly_when_its_time_has_come_despite_rounding)
{
	struct qm_policy_settings mid = { .downtime_steps = 10,
					  .step_delay = 224.0 / 11,
					  .ram_bytes = GIB };
	struct qm_policy_settings last = { .downtime_steps = 10,
					   .step_delay = 165.0 / 13,
					   .ram_bytes = GIB };
	struct qm_policy_settings under = { .downtime_steps = 10,
					    .step_delay = 9.0 / 7,
					    .ram_bytes = GIB };
	struct qm_policy_action out[QM_POLICY_MAX_ACTIONS];
	struct qm_progress p = active(MIB);
	struct qm_policy_state st;

	/* 9 s / (9/7 s) rounds to 6.999..., yet 7 * (9/7 s) is 9 s: step 7 is due. */
	start(&st, &under);
	cr_assert_eq(qm_policy_evaluate(&under, &st, &p, 1009.0, out), 1);
	cr_assert_eq(out[0].value, 365, "step 7 is 365 ms, not %lld", out[0].value);

	/* 183.27272727272725 s: step 9 is at 183.27272727272728 s. */
	start(&st, &mid);
	cr_assert_eq(qm_policy_evaluate(&mid, &st, &p, 1183.2727272727273, out), 1);
	cr_assert_eq(out[0].value, 410, "step 8 is 410 ms, not %lld", out[0].value);
	cr_assert_eq(st.ladder_step, 8);
	cr_assert_eq(qm_policy_evaluate(&mid, &st, &p, 1184, out), 1);
	cr_assert_eq(out[0].value, 455);

	/* The same just before the last step. */
	start(&st, &last);
	cr_assert_eq(qm_policy_evaluate(&last, &st, &p, 1126.923076923077, out), 1);
	cr_assert_eq(out[0].value, 455, "step 9 is 455 ms, not %lld", out[0].value);
	cr_assert_eq(qm_policy_evaluate(&last, &st, &p, 1127, out), 1);
	cr_assert_eq(out[0].value, 500);
}

Test(ladder, never_repeats_the_limit_in_force)
{
	/* Step 0 of 3000 ms in 10 steps is 300 ms, QEMU's default: nothing to send. */
	struct qm_policy_settings s = { .max_downtime_ms = 3000,
					.downtime_steps = 10,
					.step_delay = 1,
					.ram_bytes = GIB };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(GIB), 0);
	assert_none(&r);
	cr_assert_eq(st.ladder_step, 0);
	r = eval(&s, &st, active(GIB), 1);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 570);
}

Test(ladder, skips_steps_that_round_to_the_same_limit)
{
	/* 5 ms in 10 steps: values 0.5, 0.95, 1.4 ... round down and repeat. */
	struct qm_policy_settings s = { .max_downtime_ms = 5,
					.downtime_steps = 10,
					.step_delay = 1,
					.ram_bytes = GIB };
	struct qm_policy_state st;
	long long sent[12];
	size_t nsent = 0;

	start(&st, &s);
	for (int i = 0; i <= 10; i++) {
		struct run r = eval(&s, &st, active(GIB), i);

		for (size_t k = 0; k < r.n; k++)
			sent[nsent++] = r.a[k].value;
	}
	/* Never 0 (QEMU would never converge), never the same value twice. */
	cr_assert_eq(nsent, 5);
	cr_assert_eq(sent[0], 1);
	cr_assert_eq(sent[1], 2);
	cr_assert_eq(sent[2], 3);
	cr_assert_eq(sent[3], 4);
	cr_assert_eq(sent[4], 5);
}

Test(ladder, uses_default_max_downtime_without_one)
{
	struct qm_policy_settings s = { .downtime_steps = 10,
					.step_delay = 1,
					.ram_bytes = GIB };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, active(GIB), 10);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER,
		   QM_POLICY_DEFAULT_MAX_DOWNTIME_MS);
}

Test(ladder, acts_only_in_setup_and_active)
{
	struct qm_policy_settings s = { .downtime_steps = 10,
					.step_delay = 1,
					.ram_bytes = GIB };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	r = eval(&s, &st, sample("pre-switchover", 0, GIB, 3), 5);
	assert_none(&r);
	r = eval(&s, &st, sample("device", 0, GIB, 3), 5);
	assert_none(&r);
	r = eval(&s, &st, sample("setup", 0, 0, 0), 5);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_LADDER, 275);
}

/* ---- doubling ---------------------------------------------------------------- */

Test(doubling, waits_for_n_flat_samples)
{
	struct qm_policy_settings s = { .max_downtime_ms = 2000, .downtime_double = 3 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	/* The first sample has nothing to compare with; then three that do not fall. */
	r = eval(&s, &st, active(100 * MIB), 1);
	assert_none(&r);
	r = eval(&s, &st, active(100 * MIB), 2);
	assert_none(&r);
	r = eval(&s, &st, active(120 * MIB), 3);
	assert_none(&r);
	r = eval(&s, &st, active(120 * MIB), 4);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, 600);
	cr_assert_str_eq(
		r.a[0].reason,
		"remaining has not fallen for 3 samples: downtime 300 -> 600 ms");
	/* The count starts again. */
	r = eval(&s, &st, active(120 * MIB), 5);
	assert_none(&r);
	r = eval(&s, &st, active(120 * MIB), 6);
	assert_none(&r);
	r = eval(&s, &st, active(120 * MIB), 7);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, 1200);
}

Test(doubling, count_survives_falls_within_a_pass)
{
	struct qm_policy_settings s = { .max_downtime_ms = 2000, .downtime_double = 2 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	eval(&s, &st, active(100 * MIB), 1);
	r = eval(&s, &st, active(50 * MIB), 2); /* fell: the pass goes on */
	assert_none(&r);
	r = eval(&s, &st, active(200 * MIB), 3); /* a new pass jumps back up: 1 */
	assert_none(&r);
	r = eval(&s, &st, active(100 * MIB), 4); /* fell: still 1 */
	assert_none(&r);
	r = eval(&s, &st, active(200 * MIB), 5); /* another pass: 2 */
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, 600);
	r = eval(&s, &st, active(250 * MIB), 6); /* the count starts again after doubling */
	assert_none(&r);
}

Test(doubling, caps_at_max_downtime)
{
	struct qm_policy_settings s = { .max_downtime_ms = 1000, .downtime_double = 1 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	eval(&s, &st, active(MIB), 1);
	r = eval(&s, &st, active(MIB), 2);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, 600);
	r = eval(&s, &st, active(MIB), 3);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, 1000);
	cr_assert_str_eq(
		r.a[0].reason,
		"remaining has not fallen for 1 samples: downtime 600 -> 1000 ms (max)");
	/* At the cap: never the same value again. */
	for (int i = 4; i < 10; i++) {
		r = eval(&s, &st, active(MIB), i);
		assert_none(&r);
	}
	cr_assert_eq(st.downtime_ms, 1000);
}

Test(doubling, uses_default_max_downtime_without_one)
{
	struct qm_policy_settings s = { .initial_downtime_ms = 200,
					.downtime_double = 1 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	eval(&s, &st, active(MIB), 1);
	r = eval(&s, &st, active(MIB), 2);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, 400);
	r = eval(&s, &st, active(MIB), 3);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, 500);
}

Test(doubling, ignores_setup_and_unsized_samples)
{
	struct qm_policy_settings s = { .downtime_double = 1, .max_downtime_ms = 2000 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	for (int i = 0; i < 5; i++) {
		r = eval(&s, &st, sample("setup", 0, 0, 0), i);
		assert_none(&r);
		r = eval(&s, &st, sample("active", 0, 0, 0), i);
		assert_none(&r);
	}
	cr_assert_not(st.have_prev);
	eval(&s, &st, active(MIB), 6);
	r = eval(&s, &st, active(MIB), 7);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, 600);
}

Test(doubling, continues_from_limit_the_caller_set)
{
	struct qm_policy_settings s = { .max_downtime_ms = 5000, .downtime_double = 1 };
	struct qm_policy_state st;
	struct run r;

	start(&st, &s);
	eval(&s, &st, active(MIB), 1);
	/* A "set downtime" command changed the limit; the caller says so. */
	st.downtime_ms = 700;
	r = eval(&s, &st, active(MIB), 2);
	assert_one(&r, QM_POLICY_SET_DOWNTIME, QM_POLICY_DOUBLE, 1400);
}
