/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The first certificate of a PEM file (RFC 7468): the base64 text between
 * "-----BEGIN CERTIFICATE-----" and "-----END CERTIFICATE-----", decoded.
 */
#ifndef QM_UTIL_PEM_H
#define QM_UTIL_PEM_H

#include <stddef.h>
#include <stdint.h>

#include "qmigrate.h"
#include "util/macros.h"

/*
 * Decodes the first certificate block of @text (@len bytes, not necessarily
 * NUL-terminated) into a new buffer in *@der (free it), *@der_len bytes.
 * Other blocks (keys, other certificates) and text around them are skipped.
 * Returns 0, or -EBADMSG with @err filled (class "X509Subject"): no such
 * block, no end line, or base64 that is not strict (a character outside its
 * alphabet, padding anywhere but at the end, a length not a multiple of 4).
 * Whitespace inside the block is ignored.
 */
int qm_pem_certificate(const char *text, size_t len, uint8_t **der, size_t *der_len,
		       struct qm_error *err) _must_check_;

#endif
