/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Policy and action names, and an action as the {"event": "policy"} log line. */
#include "engine/policy.h"
#include "util/macros.h"

static const char *const policy_names[] = {
	[QM_POLICY_LADDER] = "ladder",
	[QM_POLICY_DOUBLE] = "double",
	[QM_POLICY_TIMEOUT] = "timeout",
	[QM_POLICY_STALL] = "stall",
	[QM_POLICY_PAUSE_AFTER] = "pause-after",
	[QM_POLICY_POSTCOPY] = "postcopy",
	[QM_POLICY_FORCE_COMPLETE] = "force-complete",
	[QM_POLICY_ADVICE] = "advise",
};

static const char *const action_names[] = {
	[QM_POLICY_SET_DOWNTIME] = "set-downtime",
	[QM_POLICY_CANCEL] = "cancel",
	[QM_POLICY_PAUSE_SOURCE] = "pause-source",
	[QM_POLICY_START_POSTCOPY] = "start-postcopy",
	[QM_POLICY_ADVISE] = "advise",
};

const char *qm_policy_name(enum qm_policy policy)
{
	return (unsigned)policy < ARRAY_SIZE(policy_names) ? policy_names[policy] : "?";
}

const char *qm_policy_action_name(enum qm_policy_action_type type)
{
	return (unsigned)type < ARRAY_SIZE(action_names) ? action_names[type] : "?";
}

json_t *qm_policy_action_to_json(const struct qm_policy_action *a)
{
	const char *policy = qm_policy_name(a->policy),
		   *action = qm_policy_action_name(a->type);

	if (a->type == QM_POLICY_SET_DOWNTIME)
		return json_pack("{s:s, s:s, s:s, s:I, s:s}", "event", "policy", "policy",
				 policy, "action", action, "value", (json_int_t)a->value,
				 "reason", a->reason);
	return json_pack("{s:s, s:s, s:s, s:s}", "event", "policy", "policy", policy,
			 "action", action, "reason", a->reason);
}
