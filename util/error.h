/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_UTIL_ERROR_H
#define QM_UTIL_ERROR_H

#include "qmigrate.h"
#include "util/macros.h"

/*
 * Records an error into @err unless one is already there (the first error
 * wins).  @err may be NULL.  Returns @code (a negative errno) so that callers
 * can write `return qm_error_set(err, -EINVAL, "Usage", "...")`.
 */
int qm_error_set(struct qm_error *err, int code, const char *error_class, const char *fmt,
		 ...) _printf_(4, 5);
/* Copies @src into @dst under the same first-error rule. */
int qm_error_copy(struct qm_error *dst, const struct qm_error *src);

#endif
