/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Driving the convergence policies in tests: synthetic samples, an arbitrary
 * clock, and assertions on the actions.  No QEMU, no sleeps.
 */
#ifndef QM_TESTS_POLICY_HARNESS_H
#define QM_TESTS_POLICY_HARNESS_H

#include "engine/policy.h"

#define GIB (1024ULL * 1024 * 1024)
#define MIB (1024ULL * 1024)
/* The migration starts at an arbitrary point of the caller's clock. */
#define T0 1000.0

struct run {
	size_t n;
	struct qm_policy_action a[QM_POLICY_MAX_ACTIONS];
};

struct qm_progress sample(const char *status, unsigned long long remaining,
			  unsigned long long total, unsigned long long passes);
/* An active sample of a 1 GiB guest. */
struct qm_progress active(unsigned long long remaining);
/* Evaluates @p at @age seconds after the start. */
struct run eval(const struct qm_policy_settings *s, struct qm_policy_state *st,
		struct qm_progress p, double age);
void start(struct qm_policy_state *st, const struct qm_policy_settings *s);
void assert_action(const struct run *r, size_t i, enum qm_policy_action_type type,
		   enum qm_policy policy, long long value);
void assert_one(const struct run *r, enum qm_policy_action_type type, enum qm_policy policy,
		long long value);
void assert_none(const struct run *r);

#endif
