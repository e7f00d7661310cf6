/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util/der, util/pem, util/x509-name and util/x509-file: the subject of the
 * certificates in tests/data/x509/good is the text next to each (checked
 * against `openssl x509 -noout -subject -nameopt sep_comma_plus,utf8,esc_2253`),
 * and every input in tests/data/x509/hostile is refused with an empty
 * subject and the error its name says (make-hostile.py builds them).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/der.h"
#include "util/error.h"
#include "util/pem.h"
#include "util/x509-file.h"
#include "util/x509-name.h"

TestSuite(x509, .timeout = 10);

static char *data_path(const char *dir, const char *name)
{
	const char *top = getenv("top_srcdir");
	char *path;

	cr_assert_geq(asprintf(&path, "%s/tests/data/x509/%s/%s",
			       top ? top : ABS_TOP_SRCDIR, dir, name),
		      0);
	return path;
}

static uint8_t *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	uint8_t *buf = malloc(1 << 17);

	cr_assert(f && buf, "%s", path);
	*len = fread(buf, 1, 1 << 17, f);
	fclose(f);
	return buf;
}

/* The subject of @name in @dir, DER or PEM by its extension; its error in *@err. */
static int subject_of(const char *dir, const char *name, char *out, size_t size,
		      struct qm_error *err)
{
	_cleanup_free_ char *path = data_path(dir, name);
	_cleanup_free_ uint8_t *der = NULL;
	size_t len;

	if (strstr(name, ".pem"))
		return qm_x509_subject_file(path, out, size, err);
	der = slurp(path, &len);
	return qm_x509_subject(der, len, out, size, err);
}

static void expect_subject(const char *file, const char *subject_file)
{
	_cleanup_free_ char *path = data_path("good", subject_file);
	_cleanup_free_ uint8_t *want = NULL;
	char out[QM_X509_SUBJECT_MAX];
	struct qm_error err = { 0 };
	size_t len;

	want = slurp(path, &len);
	want[len] = '\0';
	cr_assert_eq(subject_of("good", file, out, sizeof(out), &err), 0, "%s: %s", file,
		     err.text);
	cr_assert_str_eq(out, (char *)want, "%s", file);
}

Test(x509, subjects_are_written_in_the_certificates_order)
{
	expect_subject("plain.pem", "plain.subject");
	expect_subject("dc.pem", "dc.subject");
	expect_subject("v1-ia5.der", "v1-ia5.subject");
}

Test(x509, commas_and_backslashes_in_values_are_escaped)
{
	expect_subject("escapes.pem", "escapes.subject");
}

Test(x509, utf8_values_are_kept)
{
	expect_subject("utf8.pem", "utf8.subject");
}

Test(x509, the_first_certificate_of_a_bundle_counts)
{
	expect_subject("bundle.pem", "bundle.subject");
}

static const struct {
	const char *file;
	int code;
} hostile[] = {
	{ "truncated.der", -EBADMSG },
	{ "trailing.der", -EBADMSG },
	{ "huge-length.der", -EBADMSG },
	{ "indefinite.der", -EBADMSG },
	{ "nonminimal-length.der", -EBADMSG },
	{ "long-tag.der", -EBADMSG },
	{ "deep-nesting.der", -EBADMSG },
	{ "subject-is-set.der", -EBADMSG },
	{ "rdn-is-sequence.der", -EBADMSG },
	{ "non-utf8.der", -ENOTSUP },
	{ "overlong-utf8.der", -ENOTSUP },
	{ "surrogate-utf8.der", -ENOTSUP },
	{ "nonchar-utf8.der", -ENOTSUP },
	{ "control-char.der", -ENOTSUP },
	{ "nul-char.der", -ENOTSUP },
	{ "printable-bad-char.der", -ENOTSUP },
	{ "t61-high-byte.der", -ENOTSUP },
	{ "bmp-string.der", -ENOTSUP },
	{ "empty-value.der", -ENOTSUP },
	{ "empty-subject.der", -ENOTSUP },
	{ "unknown-attr.der", -ENOTSUP },
	{ "multi-valued.der", -ENOTSUP },
	{ "multi-valued-openssl.pem", -ENOTSUP },
	{ "too-long.der", -E2BIG },
	{ "no-end.pem", -EBADMSG },
	{ "bad-base64.pem", -EBADMSG },
	{ "pad-middle.pem", -EBADMSG },
	{ "no-block.pem", -EBADMSG },
	{ "empty.pem", -EBADMSG },
};

Test(x509, hostile_inputs_are_refused_with_an_empty_subject)
{
	for (size_t i = 0; i < ARRAY_SIZE(hostile); i++) {
		char out[QM_X509_SUBJECT_MAX] = "stale";
		struct qm_error err = { 0 };
		int r = subject_of("hostile", hostile[i].file, out, sizeof(out), &err);

		cr_expect_eq(r, hostile[i].code, "%s: %d (%s)", hostile[i].file, r,
			     err.text);
		cr_expect_eq(err.code, r, "%s", hostile[i].file);
		cr_expect_str_eq(err.error_class, "X509Subject", "%s", hostile[i].file);
		cr_expect_str_empty(out, "%s: %s", hostile[i].file, out);
	}
}

Test(x509, a_subject_that_does_not_fit_is_refused)
{
	char out[8] = "stale";
	struct qm_error err = { 0 };

	cr_assert_eq(subject_of("good", "plain.pem", out, sizeof(out), &err), -E2BIG);
	cr_assert_str_empty(out);
}

Test(x509, a_file_past_the_bound_is_not_read)
{
	char dir[] = "/tmp/test-x509-XXXXXX", path[64], out[QM_X509_SUBJECT_MAX];
	_cleanup_free_ char *good = data_path("good", "plain.pem");
	_cleanup_free_ uint8_t *pem = NULL;
	struct qm_error err = { 0 };
	size_t len;
	FILE *f;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/big.pem", dir);
	pem = slurp(good, &len);
	f = fopen(path, "wb");
	cr_assert(f);
	/* The certificate first: only the size refuses it. */
	fwrite(pem, 1, len, f);
	for (size_t n = len; n <= QM_X509_FILE_MAX; n++)
		fputc('\n', f);
	fclose(f);
	cr_expect_eq(qm_x509_subject_file(path, out, sizeof(out), &err), -EFBIG, "%s",
		     err.text);
	cr_expect_str_empty(out);
	unlink(path);
	/* Not a regular file. */
	qm_error_clear(&err);
	cr_expect_eq(qm_x509_subject_file(dir, out, sizeof(out), &err), -EINVAL, "%s",
		     err.text);
	cr_expect_eq(qm_x509_subject_file("/nonexistent/server-cert.pem", out,
					  sizeof(out), &err),
		     -ENOENT);
	cr_expect_eq(err.code, -EINVAL, "the first error stays");
	rmdir(dir);
}

Test(x509, der_lengths_must_be_definite_minimal_and_inside)
{
	static const uint8_t ok[] = { 0x30, 0x03, 0x02, 0x01, 0x05 };
	static const uint8_t bad[][6] = {
		{ 0x30, 0x80, 0x00, 0x00 },	  /* indefinite */
		{ 0x30, 0x81, 0x03, 0x02, 0x01 }, /* long form below 128 */
		{ 0x30, 0x04, 0x02, 0x01, 0x05 }, /* past the end */
		{ 0x1f, 0x81, 0x01, 0x00 },	  /* multi-byte tag */
		{ 0x30, 0x85, 1, 0, 0, 0 },	  /* five length bytes */
	};
	static const size_t bad_len[] = { 4, 5, 5, 4, 6 };
	struct qm_der d = { .p = ok, .len = sizeof(ok) }, in;
	struct qm_der_item it;

	cr_assert_eq(qm_der_expect(&d, QM_DER_SEQUENCE, &it), 0);
	cr_assert_eq(d.len, 0);
	cr_assert_eq(qm_der_next(&d, &it), -ENODATA);
	in = qm_der_inside(&it);
	cr_assert_eq(qm_der_expect(&in, QM_DER_SET, &it), -EBADMSG, "wrong tag");
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		d = (struct qm_der){ .p = bad[i], .len = bad_len[i] };
		cr_expect_eq(qm_der_next(&d, &it), -EBADMSG, "case %zu", i);
	}
}
