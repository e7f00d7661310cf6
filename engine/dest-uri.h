/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination of a migration between hosts, `--dest URI`: where the
 * agent (`qmigrate serve --stdio`) runs and how it is started.  Private to
 * qmigrate; docs/peer-protocol.md ("Reaching the agent") has the rules.
 *
 *   ssh://[user@]host[:port]   the agent over the OpenSSH client
 *   exec:PROGRAM ARGS          any program, for harnesses and tests
 *
 * Parsing is strict and pure: nothing is resolved or started here, and
 * what is accepted is safe to put into an argv (engine/ssh-argv.h).
 */
#ifndef QM_ENGINE_DEST_URI_H
#define QM_ENGINE_DEST_URI_H

#include "qmigrate.h"
#include "util/macros.h"

#define QM_DEST_URI_MAX 16384	  /* bytes of a whole URI */
#define QM_DEST_USER_MAX 32	  /* bytes of a user name, as useradd's bound */
#define QM_DEST_HOST_MAX 253	  /* bytes of a host name, without a trailing dot */
#define QM_DEST_LABEL_MAX 63	  /* bytes of one label of a host name */
#define QM_DEST_EXEC_ARGS_MAX 64  /* words of exec:, the program included */
#define QM_DEST_EXEC_ARG_MAX 4096 /* bytes of one word of exec: */

enum qm_dest_kind {
	QM_DEST_SSH,
	QM_DEST_EXEC,
};

struct qm_dest_uri {
	enum qm_dest_kind kind;
	/* ssh: */
	char user[QM_DEST_USER_MAX + 1]; /* "" when the URI names none */
	/* A name as written, or an IP address without the brackets of IPv6. */
	char host[QM_DEST_HOST_MAX + 2]; /* + a trailing dot */
	unsigned port;			 /* 0 when the URI names none */
	/* exec: the program and its arguments, NULL-terminated; owned. */
	char **exec_argv;
};

/*
 * Parses @uri into @out (qm_dest_uri_release it).  Returns 0, or a negative
 * errno with @err filled, class Usage, saying what is wrong and what to
 * write: -EINVAL for a malformed URI, -E2BIG past a bound, -ENOMEM.  On
 * failure @out owns nothing.
 */
int qm_dest_uri_parse(const char *uri, struct qm_dest_uri *out,
		      struct qm_error *err) _must_check_;

/* Frees what @u owns and clears it; accepts a cleared or NULL @u. */
void qm_dest_uri_release(struct qm_dest_uri *u);

#endif
