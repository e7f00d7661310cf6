/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checking policy settings before a job starts: mistakes are usage errors. */
#include <criterion/criterion.h>
#include <errno.h>
#include <math.h>
#include <string.h>

#include "engine/policy.h"
#include "tests/helpers/policy-harness.h"
#include "util/error.h"

static void assert_refused(const struct qm_policy_settings *s, const char *text_part)
{
	struct qm_error err = { 0 };

	cr_assert_eq(qm_policy_settings_validate(s, &err), -EINVAL);
	cr_assert_eq(err.code, -EINVAL);
	cr_assert_str_eq(err.error_class, "Usage");
	cr_assert(strstr(err.text, text_part), "\"%s\" does not say \"%s\"", err.text,
		  text_part);
}

static void assert_accepted(const struct qm_policy_settings *s)
{
	struct qm_error err = { 0 };

	cr_assert_eq(qm_policy_settings_validate(s, &err), 0, "%s", err.text);
	cr_assert_not(qm_error_is_set(&err));
}

Test(validate, accepts_all_off)
{
	struct qm_policy_settings s = { 0 };

	assert_accepted(&s);
}

Test(validate, accepts_every_policy_together_but_one_downtime_policy)
{
	struct qm_policy_settings s = {
		.max_downtime_ms = 2000,
		.downtime_steps = 10,
		.step_delay = 30,
		.timeout = 800,
		.timeout_per_gib = true,
		.stall_timeout = 150,
		.pause_after = 600,
		.postcopy = true,
		.postcopy_after_passes = 5,
		.ram_bytes = 4 * GIB,
	};

	assert_accepted(&s);
}

Test(validate, accepts_steps_without_max_downtime)
{
	struct qm_policy_settings s = { .downtime_steps = 10 };

	assert_accepted(&s);
}

Test(validate, refuses_ladder_with_doubling)
{
	struct qm_policy_settings s = { .downtime_steps = 10, .downtime_double = 5 };

	assert_refused(&s, "choose one");
}

Test(validate, refuses_negative_values_naming_the_option)
{
	static const struct {
		struct qm_policy_settings s;
		const char *option;
	} cases[] = {
		{ { .max_downtime_ms = -1 }, "--max-downtime" },
		{ { .initial_downtime_ms = -5 }, "initial downtime" },
		{ { .downtime_steps = -2 }, "--downtime-steps" },
		{ { .downtime_double = -1 }, "--downtime-double" },
		{ { .downtime_steps = 3, .step_delay = -0.5 }, "--downtime-delay" },
		{ { .stall_timeout = -10 }, "--stall-timeout" },
		{ { .pause_after = -3 }, "--pause-after" },
		{ { .postcopy = true, .postcopy_after_passes = -1 },
		  "--postcopy-after-passes" },
	};

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_refused(&cases[i].s, cases[i].option);
}

Test(validate, refuses_non_finite_seconds)
{
	struct qm_policy_settings nan_ = { .timeout = NAN };
	struct qm_policy_settings minus_inf = { .timeout = -INFINITY };
	struct qm_policy_settings inf = { .pause_after = INFINITY };

	assert_refused(&nan_, "--timeout");
	assert_refused(&minus_inf, "--timeout");
	assert_refused(&inf, "--pause-after");
}

Test(validate, accepts_a_negative_timeout_as_none)
{
	struct qm_policy_settings none = { .timeout = QM_POLICY_NO_TIMEOUT };
	struct qm_policy_settings minus_five = { .timeout = -5 };

	assert_accepted(&none);
	assert_accepted(&minus_five);
}

Test(validate, refuses_downtime_above_qemu_limit)
{
	struct qm_policy_settings s = { .max_downtime_ms = 2000001 };
	struct qm_policy_settings ok = { .max_downtime_ms = 2000000 };

	assert_refused(&s, "QEMU's limit");
	assert_accepted(&ok);
}

Test(validate, refuses_too_many_steps)
{
	struct qm_policy_settings s = { .downtime_steps = QM_POLICY_MAX_STEPS + 1 };
	struct qm_policy_settings ok = { .downtime_steps = QM_POLICY_MAX_STEPS };

	assert_refused(&s, "too many");
	assert_accepted(&ok);
}

Test(validate, refuses_options_missing_the_one_they_need)
{
	struct qm_policy_settings delay = { .step_delay = 30 };
	struct qm_policy_settings per_gib = { .timeout_per_gib = true };
	struct qm_policy_settings per_gib_none = { .timeout = QM_POLICY_NO_TIMEOUT,
						   .timeout_per_gib = true };
	struct qm_policy_settings passes = { .postcopy_after_passes = 3 };

	assert_refused(&delay, "--downtime-delay needs --downtime-steps");
	assert_refused(&per_gib, "needs --timeout");
	assert_refused(&per_gib_none, "needs --timeout");
	assert_refused(&passes, "--postcopy-after-passes needs --postcopy");
}

Test(validate, refuses_doubling_with_nothing_to_double)
{
	/* QEMU's default 300 ms is already above a 200 ms max. */
	struct qm_policy_settings s = { .max_downtime_ms = 200, .downtime_double = 3 };
	struct qm_policy_settings ok = { .max_downtime_ms = 200,
					 .initial_downtime_ms = 50,
					 .downtime_double = 3 };

	assert_refused(&s, "nothing to double");
	assert_accepted(&ok);
}

Test(validate, keeps_the_first_error)
{
	struct qm_policy_settings s = { .downtime_steps = 10, .downtime_double = 5 };
	struct qm_error err = { 0 };

	qm_error_set(&err, -EIO, "Earlier", "first");
	cr_assert_eq(qm_policy_settings_validate(&s, &err), -EINVAL);
	cr_assert_str_eq(err.error_class, "Earlier");
}
