/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"

_public_ void qm_error_clear(struct qm_error *err)
{
	if (err)
		memset(err, 0, sizeof(*err));
}

_public_ bool qm_error_is_set(const struct qm_error *err)
{
	return err && err->code != 0;
}

int qm_error_set(struct qm_error *err, int code, const char *error_class, const char *fmt, ...)
{
	va_list ap;

	if (code >= 0)
		code = -EIO;
	if (!err || err->code)
		return code;
	err->code = code;
	snprintf(err->error_class, sizeof(err->error_class), "%s",
		 error_class ? error_class : "GenericError");
	va_start(ap, fmt);
	vsnprintf(err->text, sizeof(err->text), fmt, ap);
	va_end(ap);
	return code;
}

int qm_error_copy(struct qm_error *dst, const struct qm_error *src)
{
	if (!src || !src->code)
		return 0;
	return qm_error_set(dst, src->code, src->error_class, "%s", src->text);
}
