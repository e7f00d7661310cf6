/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The blocking convenience call: runs the caller's loop until one reply arrives. */
#include <ev.h>
#include <jansson.h>
#include <string.h>

#include "qmp/internal.h"
#include "util/error.h"

struct sync_wait {
	bool done;
	json_t *ret;
	struct qm_error *err;
};

static void sync_reply(struct qm_qmp *q, json_t *ret, const struct qm_error *err, void *ud)
{
	struct sync_wait *w = ud;

	w->done = true;
	w->ret = json_incref(ret);
	qm_error_copy(w->err, err);
}

_public_ json_t *qm_qmp_command_sync(struct qm_qmp *q, const char *command, json_t *args, int fd,
				    struct qm_error *err)
{
	struct qm_error local = { 0 };
	struct sync_wait w = { .err = err ? err : &local };
	int r;

	r = qm_qmp_command(q, command, args, fd, 0, sync_reply, &w);
	if (r < 0) {
		qm_error_set(err, r, "ConnectionClosed", "cannot send %s: %s", command,
			     strerror(-r));
		return NULL;
	}
	/* Bounded: every command ends by reply, timeout or connection failure. */
	qm_qmp_ref(q);
	while (!w.done)
		ev_run(qm_qmp_loop(q), EVRUN_ONCE);
	qm_qmp_unref(q);
	return w.ret;
}
