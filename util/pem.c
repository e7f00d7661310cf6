/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* PEM certificate -> DER (util/pem.h). */
#include <errno.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/pem.h"

#define BEGIN "-----BEGIN CERTIFICATE-----"
#define END "-----END CERTIFICATE-----"

/* The value of base64 digit @c, or -1. */
static int digit(char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The first line of @text that starts with @mark, or NULL. */
static const char *line_with(const char *text, size_t len, const char *mark)
{
	size_t n = strlen(mark);

	for (const char *p = text; p && (size_t)(p - text) + n <= len;) {
		if (memcmp(p, mark, n) == 0)
			return p;
		p = memchr(p, '\n', len - (size_t)(p - text));
		if (p)
			p++;
	}
	return NULL;
}

/* Decodes @b64 (@len bytes) into @out, which has room for 3/4 of it. */
static int decode(const char *b64, size_t len, uint8_t *out, size_t *out_len)
{
	unsigned quad = 0, pad = 0;
	uint32_t acc = 0;
	size_t n = 0;

	for (size_t i = 0; i < len; i++) {
		int v;

		if (is_space(b64[i]))
			continue;
		if (b64[i] == '=') {
			/* At most two, only in the last quantum. */
			if (++pad > 2 || quad < 2)
				return -EBADMSG;
			v = 0;
		} else {
			v = digit(b64[i]);
			if (v < 0 || pad)
				return -EBADMSG;
		}
		acc = acc << 6 | (uint32_t)v;
		if (++quad < 4)
			continue;
		out[n++] = (uint8_t)(acc >> 16);
		if (pad < 2)
			out[n++] = (uint8_t)(acc >> 8);
		if (pad < 1)
			out[n++] = (uint8_t)acc;
		quad = 0;
		acc = 0;
		if (pad)
			pad = 3; /* nothing may follow the padded quantum */
	}
	if (quad != 0 || n == 0)
		return -EBADMSG;
	*out_len = n;
	return 0;
}

int qm_pem_certificate(const char *text, size_t len, uint8_t **der, size_t *der_len,
		       struct qm_error *err)
{
	const char *begin = line_with(text, len, BEGIN), *body, *end;
	_cleanup_free_ uint8_t *buf = NULL;
	size_t body_len;

	*der = NULL;
	*der_len = 0;
	if (!begin)
		return qm_error_set(err, -EBADMSG, "X509Subject", "no \"%s\" line",
				    BEGIN);
	body = memchr(begin, '\n', len - (size_t)(begin - text));
	end = body ? line_with(body + 1, len - (size_t)(body + 1 - text), END) : NULL;
	if (!end)
		return qm_error_set(err, -EBADMSG, "X509Subject", "no \"%s\" line", END);
	body_len = (size_t)(end - body);
	buf = malloc(body_len / 4 * 3 + 3);
	if (!buf)
		return qm_error_set(err, -ENOMEM, "X509Subject", "out of memory");
	if (decode(body, body_len, buf, der_len) < 0)
		return qm_error_set(err, -EBADMSG, "X509Subject",
				    "the certificate block is not strict base64");
	*der = steal_pointer(&buf);
	return 0;
}
