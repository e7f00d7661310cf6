/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The subject of the first certificate in a PEM file (util/x509-name.h for the text). */
#ifndef QM_UTIL_X509_FILE_H
#define QM_UTIL_X509_FILE_H

#include <stddef.h>

#include "qmigrate.h"
#include "util/macros.h"

/* A certificate file larger than this is refused: a few certificates fit many times. */
#define QM_X509_FILE_MAX (64 * 1024)

/*
 * Writes the subject of the first certificate in the PEM file @path into
 * @out (@size bytes).  Returns 0, or with @out empty and @err filled: the
 * file cannot be opened or read (a negative errno), is not a regular file
 * (-EINVAL), is larger than QM_X509_FILE_MAX (-EFBIG), or what
 * qm_pem_certificate and qm_x509_subject refuse.
 */
int qm_x509_subject_file(const char *path, char *out, size_t size,
			 struct qm_error *err) _must_check_;

#endif
