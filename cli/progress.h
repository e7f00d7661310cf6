/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_CLI_PROGRESS_H
#define QM_CLI_PROGRESS_H

#include <stdbool.h>
#include <stdio.h>

#include "qmigrate.h"

/* How a running job is shown: a bar on a terminal, JSON lines, or quiet. */
struct progress_view {
	bool json;   /* one JSON object per line on stdout */
	bool bar;    /* a progress bar on stderr (a terminal) */
	bool bar_drawn;
	double t0;
};

void progress_phase(struct progress_view *v, enum qm_phase phase, double elapsed);
void progress_sample(struct progress_view *v, const struct qm_progress *p);
void progress_policy(struct progress_view *v, const struct qm_policy_decision *d);
void progress_result(struct progress_view *v, const struct qm_result *r);
/* The exit code a script can trust for @r (see qmigrate --help). */
int progress_exit_code(const struct qm_result *r);

#endif
