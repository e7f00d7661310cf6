/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pump's words: names of its enums, and the text of a failure (which
 * the loop thread writes, never the pump's threads).
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "tunnel/pump-internal.h"
#include "util/macros.h"

/* What an errno means for a tunnel, where strerror() would be vague. */
static const struct {
	int error;
	enum qm_pump_side side; /* QM_PUMP_SIDE_NONE: either */
	const char *text;
} causes[] = {
	{ EPIPE, QM_PUMP_SIDE_WRITE, "the peer closed the tunnel" },
	{ ECONNRESET, QM_PUMP_SIDE_NONE, "the peer reset the tunnel connection" },
	{ ETIMEDOUT, QM_PUMP_SIDE_NONE, "the tunnel connection timed out" },
	{ EINVAL, QM_PUMP_SIDE_NONE, "splice(2) cannot move these descriptors' data" },
	{ EBADF, QM_PUMP_SIDE_NONE, "a tunnel descriptor was closed under the pump" },
};

static const char *const side_verbs[] = {
	[QM_PUMP_SIDE_NONE] = "working",
	[QM_PUMP_SIDE_READ] = "reading",
	[QM_PUMP_SIDE_WRITE] = "writing",
};

void qm_pump_cause(char *buf, size_t len, enum qm_pump_dir dir, enum qm_pump_side side,
		   int error)
{
	const char *name = strerrorname_np(-error);
	const char *text = strerrordesc_np(-error);

	for (size_t i = 0; i < ARRAY_SIZE(causes); i++)
		if (causes[i].error == -error &&
		    (causes[i].side == QM_PUMP_SIDE_NONE || causes[i].side == side))
			text = causes[i].text;
	snprintf(buf, len, "%s (%s while %s%s)", text ? text : "unknown error",
		 name ? name : "unknown errno", side_verbs[side],
		 dir == QM_PUMP_RETURN ? " on the return path" : "");
}

static const char *const mode_names[] = {
	[QM_PUMP_AUTO] = "auto",
	[QM_PUMP_SPLICE] = "splice",
	[QM_PUMP_READWRITE] = "readwrite",
};

static const char *const strategy_names[] = {
	[QM_PUMP_STRATEGY_NONE] = "none",
	[QM_PUMP_STRATEGY_SPLICE] = "splice",
	[QM_PUMP_STRATEGY_READWRITE] = "readwrite",
};

static const char *const end_names[] = {
	[QM_PUMP_FINISHED] = "finished",
	[QM_PUMP_ABORTED] = "aborted",
	[QM_PUMP_FAILED] = "failed",
};

static const char *const side_names[] = {
	[QM_PUMP_SIDE_NONE] = "none",
	[QM_PUMP_SIDE_READ] = "read",
	[QM_PUMP_SIDE_WRITE] = "write",
};

#define NAME(table, i) ((unsigned)(i) < ARRAY_SIZE(table) ? table[i] : "unknown")

const char *qm_pump_mode_name(enum qm_pump_mode mode)
{
	return NAME(mode_names, mode);
}

const char *qm_pump_strategy_name(enum qm_pump_strategy strategy)
{
	return NAME(strategy_names, strategy);
}

const char *qm_pump_end_name(enum qm_pump_end end)
{
	return NAME(end_names, end);
}

const char *qm_pump_side_name(enum qm_pump_side side)
{
	return NAME(side_names, side);
}
