/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A strict reader of DER (X.690 distinguished encoding) type-length-value
 * items, for the few certificate fields qmigrate reads (util/x509-name.c).
 * Nothing read is trusted: a length must fit in what is left, be written in
 * its shortest form, and be definite; tags must fit in one byte.  It never
 * recurses: a caller descends one level at a time with qm_der_inside, so
 * the depth it reaches is the depth its own code spells out.
 */
#ifndef QM_UTIL_DER_H
#define QM_UTIL_DER_H

#include <stddef.h>
#include <stdint.h>

#include "util/macros.h"

#define QM_DER_SEQUENCE 0x30
#define QM_DER_SET 0x31
#define QM_DER_INTEGER 0x02
#define QM_DER_OID 0x06

/* What is left to read: a window on the caller's buffer, never copied. */
struct qm_der {
	const uint8_t *p;
	size_t len;
};

/* One item: its tag byte and its value's bytes (inside the caller's buffer). */
struct qm_der_item {
	uint8_t tag;
	const uint8_t *val;
	size_t len;
};

/*
 * Reads the next item of @d into @it and moves past it.  Returns 0,
 * -ENODATA when nothing is left, or -EBADMSG for an item that is not strict
 * DER (a multi-byte tag, an indefinite, overlong or non-minimal length, a
 * length past the end).
 */
int qm_der_next(struct qm_der *d, struct qm_der_item *it) _must_check_;

/* As qm_der_next, and the item must have @tag: -EBADMSG otherwise (or at the end). */
int qm_der_expect(struct qm_der *d, uint8_t tag, struct qm_der_item *it) _must_check_;

/* The items inside @it's value, to read in turn. */
static inline struct qm_der qm_der_inside(const struct qm_der_item *it)
{
	return (struct qm_der){ .p = it->val, .len = it->len };
}

#endif
