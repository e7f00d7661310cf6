/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <string.h>

#include "tests/helpers/policy-harness.h"

struct qm_progress sample(const char *status, unsigned long long remaining,
				 unsigned long long total, unsigned long long passes)
{
	struct qm_progress p = {
		.phase = QM_PHASE_PERFORM,
		.status = status,
		/* The job's age, unlike the migration's on purpose: policies ignore it.
		 */
		.elapsed = 12345.0,
		.remaining_bytes = remaining,
		.total_bytes = total,
		.passes = passes,
		.expected_downtime_ms = -1,
	};

	return p;
}

/* An active sample of a 1 GiB guest. */
struct qm_progress active(unsigned long long remaining)
{
	return sample("active", remaining, GIB, 1);
}

struct run eval(const struct qm_policy_settings *s, struct qm_policy_state *st,
		       struct qm_progress p, double age)
{
	struct run r;

	memset(&r, 0xa5, sizeof(r));
	r.n = qm_policy_evaluate(s, st, &p, T0 + age, r.a);
	cr_assert_leq(r.n, QM_POLICY_MAX_ACTIONS);
	return r;
}

void start(struct qm_policy_state *st, const struct qm_policy_settings *s)
{
	qm_policy_state_init(st, s, T0);
}

void assert_action(const struct run *r, size_t i, enum qm_policy_action_type type,
			  enum qm_policy policy, long long value)
{
	cr_assert_gt(r->n, i, "expected an action #%zu, got %zu", i, r->n);
	cr_assert_eq(r->a[i].type, type, "action #%zu is %s", i,
		     qm_policy_action_name(r->a[i].type));
	cr_assert_eq(r->a[i].policy, policy, "action #%zu came from %s", i,
		     qm_policy_name(r->a[i].policy));
	cr_assert_eq(r->a[i].value, value, "action #%zu value %lld, expected %lld", i,
		     r->a[i].value, value);
}

void assert_one(const struct run *r, enum qm_policy_action_type type,
		       enum qm_policy policy, long long value)
{
	cr_assert_eq(r->n, 1, "expected one action, got %zu", r->n);
	assert_action(r, 0, type, policy, value);
}

void assert_none(const struct run *r)
{
	cr_assert_eq(r->n, 0, "expected no action, got %zu, the first %s: %s", r->n,
		     qm_policy_action_name(r->a[0].type), r->a[0].reason);
}
