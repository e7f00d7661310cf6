/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for the certificate subject reader: the input as PEM
 * and, unless it decodes, as DER.  Besides not crashing, a refusal leaves
 * the subject empty with the error it returns, and an accepted subject is
 * text a SPICE client reads back as written: NUL-terminated inside its
 * buffer, no control character, every "\" escaping a "," or a "\", and
 * every unescaped "," followed by NAME=; and prepare's cookie carries it
 * unchanged.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/pem.h"
#include "util/x509-name.h"
#include "xml/cookie.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define fuzz_assert(cond, ...)                                                           \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "fuzz-x509: %s: ", #cond);                       \
			fprintf(stderr, __VA_ARGS__);                                    \
			fputc('\n', stderr);                                             \
			abort();                                                         \
		}                                                                        \
	} while (0)

static void check_text(const char *s)
{
	bool key = true;

	fuzz_assert(s[0] && strchr(s, '=') && s[0] != ',', "%s", s);
	for (const char *p = s; *p; p++) {
		fuzz_assert((unsigned char)*p >= 0x20 && *p != 0x7f, "%s", s);
		if (*p == '\\') {
			p++;
			fuzz_assert(*p == ',' || *p == '\\', "%s", s);
		} else if (*p == ',') {
			fuzz_assert(!key && p[1] && p[1] != '=', "%s", s);
			key = true;
		} else if (*p == '=' && key) {
			fuzz_assert(p[1], "empty value: %s", s);
			key = false;
		}
	}
	fuzz_assert(!key, "%s", s);
}

/* A prepare cookie with @s as its subject reads back with it. */
static void check_cookie(const char *s)
{
	struct qm_cookie c = { .features = QM_COOKIE_GRAPHICS }, back;
	_cleanup_free_ char *xml = NULL;
	struct qm_error err = { 0 };

	snprintf(c.name, sizeof(c.name), "vm1");
	snprintf(c.uuid, sizeof(c.uuid), "c7a5fdbd-edaf-9455-926a-d65c16db1809");
	snprintf(c.hostname, sizeof(c.hostname), "dst.example.org");
	snprintf(c.host_uuid, sizeof(c.host_uuid),
		 "00000000-0000-0000-0000-000000000001");
	snprintf(c.graphics.type, sizeof(c.graphics.type), "spice");
	snprintf(c.graphics.listen, sizeof(c.graphics.listen), "192.0.2.10");
	c.graphics.port = 5901;
	c.graphics.tls_port = 5902;
	snprintf(c.graphics.tls_subject, sizeof(c.graphics.tls_subject), "%s", s);
	fuzz_assert(qm_cookie_format(&c, &xml, &err) == 0, "%s: %s", s, err.text);
	fuzz_assert(qm_cookie_parse(xml, strlen(xml), NULL, &back, &err) == 0, "%s: %s",
		    s, err.text);
	fuzz_assert(strcmp(back.graphics.tls_subject, s) == 0, "%s", s);
}

static void subject(const uint8_t *der, size_t len)
{
	char out[QM_X509_SUBJECT_MAX];
	struct qm_error err = { 0 };
	int r = qm_x509_subject(der, len, out, sizeof(out), &err);

	if (r < 0) {
		fuzz_assert(r == err.code && err.text[0] && out[0] == '\0', "%d %s", r,
			    err.text);
		return;
	}
	fuzz_assert(strlen(out) < sizeof(out), "unterminated");
	check_text(out);
	check_cookie(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ uint8_t *der = NULL;
	struct qm_error err = { 0 };
	size_t len;
	int r;

	r = qm_pem_certificate((const char *)data, size, &der, &len, &err);
	if (r == 0) {
		fuzz_assert(der && len > 0, "decoded nothing");
		subject(der, len);
		return 0;
	}
	fuzz_assert(r == err.code && !der, "%d", r);
	subject(data, size);
	return 0;
}
