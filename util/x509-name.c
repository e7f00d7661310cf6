/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Certificate -> subject text (util/x509-name.h).  The path to the subject
 * is fixed, five levels deep: Certificate, TBSCertificate, Name, RDN,
 * AttributeTypeAndValue (RFC 5280, 4.1).
 */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "util/der.h"
#include "util/error.h"
#include "util/utf8.h"
#include "util/x509-name.h"

#define CLASS "X509Subject"

/* The version, [0] EXPLICIT: the only optional field before the subject. */
#define TAG_VERSION 0xa0

enum {
	UTF8_STRING = 0x0c,
	PRINTABLE_STRING = 0x13,
	T61_STRING = 0x14,
	IA5_STRING = 0x16,
	VISIBLE_STRING = 0x1a
};

/*
 * Attribute types by their DER-encoded OID, and the name OpenSSL (which
 * spice clients use to parse the subject they are given) knows them by.
 */
static const struct {
	const char *name;
	uint8_t len;
	uint8_t oid[10];
} attrs[] = {
	{ "CN", 3, { 0x55, 0x04, 0x03 } },
	{ "SN", 3, { 0x55, 0x04, 0x04 } }, /* surname */
	{ "serialNumber", 3, { 0x55, 0x04, 0x05 } },
	{ "C", 3, { 0x55, 0x04, 0x06 } },
	{ "L", 3, { 0x55, 0x04, 0x07 } },
	{ "ST", 3, { 0x55, 0x04, 0x08 } },
	{ "street", 3, { 0x55, 0x04, 0x09 } },
	{ "O", 3, { 0x55, 0x04, 0x0a } },
	{ "OU", 3, { 0x55, 0x04, 0x0b } },
	{ "title", 3, { 0x55, 0x04, 0x0c } },
	{ "postalCode", 3, { 0x55, 0x04, 0x11 } },
	{ "GN", 3, { 0x55, 0x04, 0x2a } },
	{ "initials", 3, { 0x55, 0x04, 0x2b } },
	{ "dnQualifier", 3, { 0x55, 0x04, 0x2e } },
	{ "pseudonym", 3, { 0x55, 0x04, 0x41 } },
	/* 1.2.840.113549.1.9.1 */
	{ "emailAddress", 9, { 0x2a, 0x86, 0x48, 0x86, 0xf7, 0x0d, 0x01, 0x09, 0x01 } },
	/* 0.9.2342.19200300.100.1.25 and .1 */
	{ "DC", 10, { 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x19 } },
	{ "UID", 10, { 0x09, 0x92, 0x26, 0x89, 0x93, 0xf2, 0x2c, 0x64, 0x01, 0x01 } },
};

static const char *attr_name(const struct qm_der_item *oid)
{
	for (size_t i = 0; i < ARRAY_SIZE(attrs); i++)
		if (oid->len == attrs[i].len &&
		    memcmp(oid->val, attrs[i].oid, oid->len) == 0)
			return attrs[i].name;
	return NULL;
}

/*
 * The length of the UTF-8 sequence at @s (@n bytes left) when it is valid,
 * shortest and past ASCII, or 0.  Besides what qm_utf8_char refuses: C1
 * controls, and U+FFFE and U+FFFF, which XML (the cookie) cannot carry.
 */
static size_t utf8_seq(const uint8_t *s, size_t n)
{
	uint32_t cp;
	size_t len = qm_utf8_char(s, n, &cp);

	if (len < 2 || cp < 0xa0 || cp == 0xfffe || cp == 0xffff)
		return 0;
	return len;
}

static bool printable_char(uint8_t c)
{
	return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') ||
	       (c >= '0' && c <= '9') || strchr(" '()+,-./:=?", c) != NULL;
}

/* Whether @v is a value of its string type that the text can carry exactly. */
static bool value_ok(const struct qm_der_item *v)
{
	for (size_t i = 0, step; i < v->len; i += step) {
		uint8_t c = v->val[i];

		step = 1;
		if (c == 0)
			return false;
		if (c >= 0x80) {
			/* Only UTF8String says what a byte past ASCII means. */
			if (v->tag != UTF8_STRING)
				return false;
			step = utf8_seq(v->val + i, v->len - i);
			if (step == 0)
				return false;
			continue;
		}
		if (c < 0x20 || c == 0x7f)
			return false;
		if (v->tag == PRINTABLE_STRING && !printable_char(c))
			return false;
	}
	return v->len > 0;
}

/* Appends @s (@n bytes) to @out at *@at, "\" before "," and "\" when @esc. */
static bool put(char *out, size_t size, size_t *at, const void *s, size_t n, bool esc)
{
	const char *p = s;

	for (size_t i = 0; i < n; i++) {
		bool special = esc && (p[i] == ',' || p[i] == '\\');

		if (*at + 1 + special >= size)
			return false;
		if (special)
			out[(*at)++] = '\\';
		out[(*at)++] = p[i];
	}
	out[*at] = '\0';
	return true;
}

static int refuse(struct qm_error *err, char *out, int code, const char *what)
{
	out[0] = '\0';
	return qm_error_set(err, code, CLASS, "certificate subject: %s", what);
}

/* One RDN: a SET of exactly one attribute, written as NAME=value. */
static int rdn(const struct qm_der_item *set, char *out, size_t size, size_t *at,
	       struct qm_error *err)
{
	struct qm_der in = qm_der_inside(set), atv;
	struct qm_der_item seq, oid, val;
	const char *name;

	if (qm_der_expect(&in, QM_DER_SEQUENCE, &seq) < 0)
		return refuse(err, out, -EBADMSG, "an RDN is not a SET of attributes");
	/* Several attributes in one RDN: the client's text makes one RDN of each. */
	if (in.len)
		return refuse(err, out, -ENOTSUP, "a multi-valued RDN cannot be written");
	atv = qm_der_inside(&seq);
	if (qm_der_expect(&atv, QM_DER_OID, &oid) < 0 || qm_der_next(&atv, &val) < 0 ||
	    atv.len)
		return refuse(err, out, -EBADMSG,
			      "an attribute is not an OID and a value");
	name = attr_name(&oid);
	if (!name)
		return refuse(err, out, -ENOTSUP,
			      "an attribute type without a known name");
	if (val.tag != UTF8_STRING && val.tag != PRINTABLE_STRING &&
	    val.tag != IA5_STRING && val.tag != VISIBLE_STRING && val.tag != T61_STRING)
		return refuse(err, out, -ENOTSUP, "a value of a string type not read");
	if (!value_ok(&val))
		return refuse(err, out, -ENOTSUP,
			      "a value that is empty or cannot be written");
	if ((*at && !put(out, size, at, ",", 1, false)) ||
	    !put(out, size, at, name, strlen(name), false) ||
	    !put(out, size, at, "=", 1, false) ||
	    !put(out, size, at, val.val, val.len, true))
		return refuse(err, out, -E2BIG, "too long");
	return 0;
}

/* Moves @tbs to its subject: past version, serial, signature, issuer, validity. */
static int to_subject(struct qm_der *tbs, struct qm_der_item *subject)
{
	struct qm_der at = *tbs;
	struct qm_der_item it;

	if (qm_der_next(&at, &it) < 0)
		return -EBADMSG;
	if (it.tag == TAG_VERSION && qm_der_next(&at, &it) < 0)
		return -EBADMSG;
	if (it.tag != QM_DER_INTEGER || qm_der_expect(&at, QM_DER_SEQUENCE, &it) < 0 ||
	    qm_der_expect(&at, QM_DER_SEQUENCE, &it) < 0 ||
	    qm_der_expect(&at, QM_DER_SEQUENCE, &it) < 0 ||
	    qm_der_expect(&at, QM_DER_SEQUENCE, subject) < 0)
		return -EBADMSG;
	*tbs = at;
	return 0;
}

int qm_x509_subject(const uint8_t *der, size_t len, char *out, size_t size,
		    struct qm_error *err)
{
	struct qm_der all = { .p = der, .len = len }, cert, tbs, name;
	struct qm_der_item it, subject;
	size_t at = 0;
	int r;

	if (size == 0)
		return qm_error_set(err, -E2BIG, CLASS, "certificate subject: no room");
	out[0] = '\0';
	/* One certificate and nothing after it. */
	if (qm_der_expect(&all, QM_DER_SEQUENCE, &it) < 0 || all.len)
		return refuse(err, out, -EBADMSG, "not a DER certificate");
	cert = qm_der_inside(&it);
	if (qm_der_expect(&cert, QM_DER_SEQUENCE, &it) < 0)
		return refuse(err, out, -EBADMSG, "no TBSCertificate");
	tbs = qm_der_inside(&it);
	if (to_subject(&tbs, &subject) < 0)
		return refuse(err, out, -EBADMSG, "no subject where RFC 5280 puts it");
	name = qm_der_inside(&subject);
	if (name.len == 0)
		return refuse(err, out, -ENOTSUP, "the subject is empty");
	while (name.len) {
		if (qm_der_expect(&name, QM_DER_SET, &it) < 0)
			return refuse(err, out, -EBADMSG,
				      "the subject is not a SEQUENCE of SETs");
		r = rdn(&it, out, size, &at, err);
		if (r < 0)
			return r;
	}
	return 0;
}
