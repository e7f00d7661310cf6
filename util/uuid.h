/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_UTIL_UUID_H
#define QM_UTIL_UUID_H

#include <stdbool.h>

#define QM_UUID_STRLEN 36 /* 8-4-4-4-12, without the NUL */

/* True when @s is exactly a canonical 8-4-4-4-12 hex uuid, in either case. */
bool qm_uuid_is_valid(const char *s);
/*
 * Writes the lower-case form of @s into @out; @s may equal @out.  Returns
 * false (with @out untouched) when @s is not a canonical uuid.
 */
bool qm_uuid_normalise(const char *s, char out[QM_UUID_STRLEN + 1]);
/* Formats 32 hex digits (e.g. a machine-id) as a lower-case uuid; false if not 32 hex. */
bool qm_uuid_from_hex32(const char *hex, char out[QM_UUID_STRLEN + 1]);

#endif
