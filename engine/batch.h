/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_ENGINE_BATCH_H
#define QM_ENGINE_BATCH_H

#include <jansson.h>

#include "qmigrate.h"
#include "util/macros.h"

struct qm_batch_cmd {
	const char *name;
	json_t *args;  /* stolen */
	bool optional; /* an error leaves its result NULL instead of failing the batch */
	bool pass_fd;  /* sends @fd along (SCM_RIGHTS), as getfd wants; the caller keeps it */
	int fd;
};

/*
 * @results[i] is command i's return value (borrowed, valid during the call),
 * or NULL; @err is the first error of a non-optional command, or NULL.
 */
typedef void (*qm_batch_fn)(void *userdata, json_t **results, const struct qm_error *err);

/*
 * Sends @n commands at once (pipelined) and calls @done once every reply is
 * in.  Returns 0, or a negative errno with @err filled and no callback when
 * nothing could be sent.
 */
int qm_batch_run(struct qm_qmp *qmp, struct qm_batch_cmd *cmds, size_t n, qm_batch_fn done,
		 void *userdata, struct qm_error *err) _must_check_;

#endif
