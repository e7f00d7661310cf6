/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The strict DER reader (util/der.h). */
#include <errno.h>

#include "util/der.h"

/* Long-form lengths take at most this many bytes: no item here nears 4 GiB. */
#define LEN_BYTES_MAX 4

static int read_len(struct qm_der *d, size_t *len)
{
	uint8_t first, n;
	size_t v = 0;

	if (d->len < 1)
		return -EBADMSG;
	first = d->p[0];
	d->p++, d->len--;
	if (first < 0x80) {
		*len = first;
		return 0;
	}
	/* 0x80 is BER's indefinite length: never in DER. */
	n = first & 0x7f;
	if (n == 0 || n > LEN_BYTES_MAX || d->len < n)
		return -EBADMSG;
	/* A leading zero byte is a longer form than needed. */
	if (d->p[0] == 0)
		return -EBADMSG;
	for (uint8_t i = 0; i < n; i++)
		v = v << 8 | d->p[i];
	d->p += n, d->len -= n;
	/* Below 128 the short form is the only DER one. */
	if (v < 0x80)
		return -EBADMSG;
	*len = v;
	return 0;
}

int qm_der_next(struct qm_der *d, struct qm_der_item *it)
{
	struct qm_der at = *d;
	size_t len;

	if (at.len == 0)
		return -ENODATA;
	it->tag = at.p[0];
	/* Tag number 31 says the number follows in more bytes: no field read here has
	 * one. */
	if ((it->tag & 0x1f) == 0x1f)
		return -EBADMSG;
	at.p++, at.len--;
	if (read_len(&at, &len) < 0 || len > at.len)
		return -EBADMSG;
	it->val = at.p;
	it->len = len;
	d->p = at.p + len;
	d->len = at.len - len;
	return 0;
}

int qm_der_expect(struct qm_der *d, uint8_t tag, struct qm_der_item *it)
{
	if (qm_der_next(d, it) < 0 || it->tag != tag)
		return -EBADMSG;
	return 0;
}
