/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The subject of an X.509 certificate as the text a SPICE client compares
 * with the certificate it is shown (its "host subject", QMP's
 * client_migrate_info cert-subject): "C=XX,L=city,O=org,CN=name", one
 * KEY=value per attribute in the certificate's own order, "," between them,
 * "\," and "\\" for a comma and a backslash inside a value
 * (docs/graphics.md says why this form and this order).
 */
#ifndef QM_UTIL_X509_NAME_H
#define QM_UTIL_X509_NAME_H

#include <stddef.h>
#include <stdint.h>

#include "qmigrate.h"
#include "util/macros.h"

/* Room for a subject; the cookie holds no longer one. */
#define QM_X509_SUBJECT_MAX 256

/*
 * Reads the DER certificate @der (@len bytes) and writes its subject into
 * @out (@size bytes, NUL-terminated).  Returns 0, or with @out empty and
 * @err filled (class "X509Subject"): -EBADMSG for a certificate that is not
 * strict DER or not shaped as one; -ENOTSUP for a subject the text cannot
 * say exactly (an attribute this reader has no name for, a multi-valued
 * RDN, a value that is empty, not valid in its string type, a control
 * character, or of a string type it does not read); -E2BIG when the text
 * does not fit.  It never guesses: a client given a wrong subject refuses
 * the destination.
 */
int qm_x509_subject(const uint8_t *der, size_t len, char *out, size_t size,
		    struct qm_error *err) _must_check_;

#endif
