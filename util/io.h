/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_UTIL_IO_H
#define QM_UTIL_IO_H

#include <stddef.h>

#include "util/macros.h"

/*
 * Reads up to @size bytes of @fd into @buf, or fewer at the end of the file:
 * *@got says how many.  Returns 0 or a negative errno.  Read one byte more
 * than a bound to tell an oversized file from one that just fits.
 */
int qm_read_upto(int fd, char *buf, size_t size, size_t *got) _must_check_;
/* Writes all @len bytes of @buf to @fd (a blocking one), through EINTR: 0 or -errno. */
int qm_write_all(int fd, const char *buf, size_t len) _must_check_;

struct qm_error;

/*
 * Creates a new private directory (0700: only this user reaches the sockets
 * inside) @parent/@prefix-XXXXXX, its path into @buf of @size bytes; @parent
 * NULL or empty: $XDG_RUNTIME_DIR, else /tmp.  On error @buf is "".
 */
int qm_private_dir_new(char *buf, size_t size, const char *parent, const char *prefix,
		       struct qm_error *err) _must_check_;

#endif
