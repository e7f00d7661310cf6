/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Describing a running QEMU from its QMP socket: who is at the other end
 * (SO_PEERCRED), its command line (/proc), what it says of itself (QMP),
 * and the description xml/domain-describe.h builds from them.  Private to
 * qmigrate.
 *
 * Asynchronous on the connection's loop, so that a migration's begin phase
 * can describe its source; qm_describe_sync() runs the loop for a command.
 */
#ifndef QM_ENGINE_DESCRIBE_H
#define QM_ENGINE_DESCRIBE_H

#include <jansson.h>

#include "qmigrate.h"
#include "util/macros.h"
#include "xml/domain-describe.h"

struct qm_describe_opts {
	const char *proc_root; /* where /proc is; NULL: "/proc" (tests point elsewhere) */
};

/*
 * @d is the description, the callback's to free (NULL on failure); @facts
 * what was gathered (borrowed: the commands' replies by name, with "pid" and
 * "emulator"), NULL when gathering failed; @err is NULL on success.
 */
typedef void (*qm_describe_fn)(void *userdata, struct qm_domain *d, json_t *facts,
			       const struct qm_error *err);

/*
 * Starts describing the QEMU at the other end of @qmp; @done runs once, from
 * the loop.  Returns 0, or a negative errno with @err filled and no callback.
 * Error classes besides xml/domain-describe.h's: those of QMP; DescribePeer
 * (the process cannot be seen: another PID namespace, another user, gone);
 * DescribeArgv (engine/proc.h).
 */
int qm_describe_start(struct qm_qmp *qmp, const struct qm_describe_opts *opts,
		      qm_describe_fn done, void *userdata,
		      struct qm_error *err) _must_check_;

/*
 * The same, running @qmp's loop until it is done.  *@out is the description
 * (NULL on failure); *@facts, when @facts is not NULL, a new reference to
 * what was gathered (or NULL).  Not for use inside a loop callback.
 */
int qm_describe_sync(struct qm_qmp *qmp, const struct qm_describe_opts *opts,
		     struct qm_domain **out, json_t **facts,
		     struct qm_error *err) _must_check_;

/*
 * Reads @replies (the object qm_describe_fn's @facts is) into @f: strings
 * borrowed from @replies, lists allocated (qm_describe_facts_release frees
 * them).  Class DescribeInvalid when a reply lacks what it must hold.
 */
int qm_describe_facts_read(json_t *replies, struct qm_describe_facts *f,
			   struct qm_error *err) _must_check_;
void qm_describe_facts_release(struct qm_describe_facts *f);

#endif
