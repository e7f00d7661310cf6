/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Several QMP commands in flight at once, one completion for all of them. */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/batch.h"
#include "qmp/internal.h"
#include "util/error.h"

struct batch {
	size_t n, left;
	qm_batch_fn done;
	void *userdata;
	struct qm_error err;
	struct slot {
		struct batch *batch;
		bool optional;
	} *slots;
	json_t *results[];
};

static void batch_finish(struct batch *b)
{
	b->done(b->userdata, b->results, qm_error_is_set(&b->err) ? &b->err : NULL);
	for (size_t i = 0; i < b->n; i++)
		json_decref(b->results[i]);
	free(b->slots);
	free(b);
}

static void batch_reply(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	struct slot *s = ud;
	struct batch *b = s->batch;

	if (ret)
		b->results[s - b->slots] = json_incref(ret);
	else if (!s->optional)
		qm_error_copy(&b->err, err);
	if (--b->left == 0)
		batch_finish(b);
}

int qm_batch_run(struct qm_qmp *qmp, struct qm_batch_cmd *cmds, size_t n, qm_batch_fn done,
		 void *userdata, struct qm_error *err)
{
	struct batch *b = calloc(1, sizeof(*b) + n * sizeof(json_t *));
	size_t queued = 0;
	int r = 0;

	if (b)
		b->slots = calloc(n, sizeof(*b->slots));
	if (!b || !b->slots) {
		for (size_t i = 0; i < n; i++)
			json_decref(cmds[i].args);
		free(b);
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	}
	b->n = b->left = n;
	b->done = done;
	b->userdata = userdata;
	for (size_t i = 0; i < n; i++) {
		b->slots[i].batch = b;
		b->slots[i].optional = cmds[i].optional;
		if (r < 0) {
			json_decref(cmds[i].args);
			continue;
		}
		r = qm_qmp_command(qmp, cmds[i].name, cmds[i].args,
				   cmds[i].pass_fd ? cmds[i].fd : -1, 0, batch_reply,
				   &b->slots[i]);
		if (r == 0)
			queued++;
	}
	if (r < 0) {
		/*
		 * A connection that already failed (a socket path that does not
		 * exist) reports it from the loop, maybe only after this: its
		 * reason, not "cannot send", is what the caller must see.
		 */
		const struct qm_error *closed = qm_qmp_close_error(qmp);

		if (closed)
			qm_error_copy(&b->err, closed);
		else
			qm_error_set(&b->err, r, "ConnectionClosed", "cannot send %s: %s",
				     cmds[queued].name, strerror(-r));
		if (queued == 0) {
			qm_error_copy(err, &b->err);
			free(b->slots);
			free(b);
			return r;
		}
		/* The queued ones still answer (or fail) later; then the batch ends. */
		b->left = queued;
	}
	return 0;
}
