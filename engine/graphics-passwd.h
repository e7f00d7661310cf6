/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Display passwords, set over QMP with set_password on a QEMU started from
 * a description: never on a command line, in a log line, a cookie or a
 * result (CVE-2015-3252).  The QMP client masks the password in its trace.
 * Private to qmigrate.
 */
#ifndef QM_ENGINE_GRAPHICS_PASSWD_H
#define QM_ENGINE_GRAPHICS_PASSWD_H

#include <jansson.h>

#include "qmigrate.h"
#include "util/macros.h"
#include "xml/domain.h"

#define QM_PASSWD_MAX 255 /* bytes of a password read from a file */

/*
 * Reads the password in the file @path into a new string in *@out (free it
 * with qm_passwd_free): at most QM_PASSWD_MAX bytes and one trailing
 * newline, which is stripped.  Class PasswdFile when the file cannot be
 * read, is not a regular file, is empty, too long or holds a NUL or a line
 * break inside.  The message never quotes the file's contents.
 */
int qm_passwd_read_file(const char *path, char **out, struct qm_error *err) _must_check_;

/* Wipes and frees; accepts NULL. */
void qm_passwd_free(char *passwd);

static inline void qm_passwd_freep(char **p)
{
	qm_passwd_free(*p);
}
#define _cleanup_passwd_ _cleanup_(qm_passwd_freep)

/*
 * The password display @g gets: @override (a password file's) when set,
 * else its own passwd; NULL when it gets none.  Borrowed.
 */
const char *qm_passwd_for(const struct qm_domain_graphics *g, const char *override);

/* set_password's arguments for display @g: {"protocol", "password"}; NULL when out of memory. */
json_t *qm_passwd_args(const struct qm_domain_graphics *g, const char *passwd);

/*
 * Blocking, for `qmigrate launch` before any loop runs: connects to
 * @qmp_path and sets the password of every display of @d that has one.
 * Errors: QEMU's class verbatim, or the connection's.
 */
int qm_passwd_set_sync(struct qm_ctx *ctx, const char *qmp_path, const struct qm_domain *d,
		       struct qm_error *err) _must_check_;

#endif
