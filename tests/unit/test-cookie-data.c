/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading cookies from data folders: tests/data/cookie/hostile/NAME.xml with
 * NAME.error (line 1: the error class; line 2: a piece of the text) must be
 * refused; tests/data/cookie/good/NAME.xml must be read and written back as
 * NAME.formatted.  An optional NAME.check holds name=, uuid= and
 * local_host_uuid= lines for the reader's struct qm_cookie_check.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/unit/testdata.h"
#include "xml/cookie.h"

struct check_file {
	struct qm_cookie_check check;
	char name[256], uuid[64], host_uuid[64];
};

/* Fills @cf from DIR/BASE.check; returns the check, or NULL when there is no such file.
 */
static const struct qm_cookie_check *read_check(const char *dir, const char *base,
						struct check_file *cf)
{
	_cleanup_free_ char *path = NULL, *text = NULL;
	size_t len;

	memset(cf, 0, sizeof(*cf));
	cr_assert(asprintf(&path, "%s/%s.check", dir, base) >= 0);
	text = td_read(path, &len);
	if (!text)
		return NULL;
	for (char *line = strtok(text, "\n"); line; line = strtok(NULL, "\n")) {
		if (sscanf(line, "name=%255[^\n]", cf->name) == 1)
			cf->check.name = cf->name;
		else if (sscanf(line, "uuid=%63s", cf->uuid) == 1)
			cf->check.uuid = cf->uuid;
		else if (sscanf(line, "local_host_uuid=%63s", cf->host_uuid) == 1)
			cf->check.local_host_uuid = cf->host_uuid;
		else
			cr_assert_fail("%s: cannot read '%s'", path, line);
	}
	return &cf->check;
}

static bool is_zero(const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++)
		if (b[i])
			return false;
	return true;
}

static void run_hostile(const char *dir, const char *name)
{
	_cleanup_free_ char *base = strndup(name, strlen(name) - 4);
	const struct qm_cookie_check *check;
	struct check_file cf;
	struct qm_error err = { 0 };
	struct td_hostile h;
	struct qm_cookie c;
	int r;

	td_read_hostile(dir, name, &h);
	check = read_check(dir, base, &cf);

	memset(&c, 0xa5, sizeof(c));
	r = qm_cookie_parse(h.xml, h.len, check, &c, &err);
	free(h.xml);
	cr_expect_lt(r, 0, "%s: parsed, but should fail with %s", name, h.cls);
	cr_expect_eq(r, err.code, "%s: returned %d, error says %d", name, r, err.code);
	cr_expect_str_eq(err.error_class, h.cls, "%s: class %s (%s), expected %s", name,
			 err.error_class, err.text, h.cls);
	cr_expect(strstr(err.text, h.text), "%s: error '%s' lacks '%s'", name, err.text,
		  h.text);
	cr_expect(is_zero(&c, sizeof(c)), "%s: a refused cookie must be left zeroed",
		  name);
}

Test(cookie_parse, refuses_every_hostile_input)
{
	td_each("cookie/hostile", ".xml", 30, run_hostile);
}

static void run_good(const char *dir, const char *name)
{
	_cleanup_free_ char *xml_path = td_sibling(dir, name, ".xml");
	_cleanup_free_ char *base = strndup(name, strlen(name) - 4);
	_cleanup_free_ char *xml = NULL, *out = NULL, *rel = NULL;
	const struct qm_cookie_check *check;
	struct check_file cf;
	struct qm_error err = { 0 };
	struct qm_cookie c, back;
	size_t len;

	xml = td_read(xml_path, &len);
	cr_assert(xml, "%s: %s", xml_path, strerror(errno));
	check = read_check(dir, base, &cf);
	cr_assert_eq(qm_cookie_parse(xml, len, check, &c, &err), 0, "%s: %s: %s", name,
		     err.error_class, err.text);
	cr_assert_eq(qm_cookie_format(&c, &out, &err), 0, "%s: %s", name, err.text);
	/* The password every good input with a passwd attribute uses. */
	cr_expect_null(strstr(out, "s3cret"), "%s: a password was written back", name);
	cr_assert(asprintf(&rel, "cookie/good/%s.formatted", base) >= 0);
	td_golden(rel, out);
	cr_assert_eq(qm_cookie_parse(out, strlen(out), check, &back, &err), 0, "%s: %s",
		     name, err.text);
	cr_expect(memcmp(&c, &back, sizeof(c)) == 0, "%s: changed on a round trip", name);
}

Test(cookie_parse, reads_every_good_input)
{
	td_each("cookie/good", ".xml", 8, run_good);
}

static struct qm_cookie parse_good(const char *rel)
{
	_cleanup_free_ char *path = td_path(rel), *xml = NULL;
	struct qm_error err = { 0 };
	struct qm_cookie c;
	size_t len;

	xml = td_read(path, &len);
	cr_assert(xml, "%s: %s", path, strerror(errno));
	cr_assert_eq(qm_cookie_parse(xml, len, NULL, &c, &err), 0, "%s: %s", rel,
		     err.text);
	return c;
}

Test(cookie_parse, ignores_an_unknown_optional_feature_and_its_section)
{
	struct qm_cookie c = parse_good("cookie/good/unknown-optional-feature.xml");

	cr_expect_eq(c.features, QM_COOKIE_MIGRATE);
	cr_expect_eq(c.mandatory, 0);
	cr_expect_str_eq(c.migrate_uri, "unix:/run/qmigrate/vm1.sock");
}

Test(cookie_parse, drops_a_graphics_password)
{
	struct qm_cookie c = parse_good("cookie/good/graphics-passwd.xml");
	struct qm_error err = { 0 };
	_cleanup_free_ char *xml = NULL;

	cr_expect_eq(c.features, QM_COOKIE_GRAPHICS);
	cr_expect_str_eq(c.graphics.type, "vnc");
	cr_expect_eq(c.graphics.port, 5900);
	cr_expect_eq(c.graphics.tls_port, -1);
	cr_expect_str_eq(c.graphics.listen, "0.0.0.0");
	cr_expect_str_eq(c.graphics.tls_subject, "");
	cr_assert_eq(qm_cookie_format(&c, &xml, &err), 0, "%s", err.text);
	cr_expect_null(strstr(xml, "passwd"), "%s", xml);
	cr_expect_null(strstr(xml, "s3cret"), "%s", xml);
}

Test(cookie_parse, normalises_uuids_to_lower_case)
{
	struct qm_cookie c = parse_good("cookie/good/upper-case-uuid.xml");

	cr_expect_str_eq(c.uuid, "c7a5fdbd-edaf-9455-926a-d65c16db1809");
	cr_expect_str_eq(c.host_uuid, "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4");
}

Test(cookie_parse, reads_every_statistic_and_defaults_absent_ones_to_zero)
{
	struct qm_cookie c = parse_good("cookie/good/statistics-partial.xml");

	cr_expect_eq(c.features, QM_COOKIE_STATS);
	cr_expect_eq(c.stats.total_ms, 9223372036854775807);
	cr_expect_eq(c.stats.downtime_ms, 0);
	cr_expect_eq(c.stats.setup_ms, 5);
	cr_expect_eq(c.stats.transferred_bytes, 18446744073709551615u);
	cr_expect_eq(c.stats.passes, 2);
}

Test(cookie_parse, decodes_references_and_cdata)
{
	struct qm_cookie c = parse_good("cookie/good/references.xml");

	cr_expect_str_eq(c.name, "vm<1> & \"co\"");
	cr_expect_str_eq(c.lockstate.driver, "fcntl");
	cr_expect_eq(c.lockstate.n_leases, 8);
	cr_expect_str_eq(c.lockstate.leases[7].path, "/leases/8");
	cr_expect_eq(c.lockstate.leases[7].generation, 8);
	cr_expect_eq(c.mandatory, QM_COOKIE_LOCKSTATE);
}

/* A well-formed cookie padded with a comment to exactly @size bytes. */
static char *padded_cookie(size_t size)
{
	return td_padded("<qemu-migration><name>vm1</name>"
			 "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
			 "<hostname>h</hostname>"
			 "<hostuuid>3d1219c7-c4c5-404a-aa1f-6d2a48adfda4</hostuuid><!--",
			 "--></qemu-migration>", size);
}

Test(cookie_parse, accepts_exactly_the_maximum_size_and_refuses_one_byte_more)
{
	_cleanup_free_ char *fits = padded_cookie(QM_COOKIE_MAX);
	_cleanup_free_ char *over = padded_cookie(QM_COOKIE_MAX + 1);
	struct qm_error err = { 0 };
	struct qm_cookie c;

	cr_expect_eq(qm_cookie_parse(fits, QM_COOKIE_MAX, NULL, &c, &err), 0, "%s",
		     err.text);
	cr_expect_str_eq(c.name, "vm1");
	qm_error_clear(&err);
	cr_expect_eq(qm_cookie_parse(over, QM_COOKIE_MAX + 1, NULL, &c, &err), -E2BIG);
	cr_expect_str_eq(err.error_class, "CookieTooLarge");
	cr_expect(strstr(err.text, "16385 bytes"), "%s", err.text);
}

Test(cookie_parse, a_huge_input_is_refused_before_parsing)
{
	struct qm_error err = { 0 };
	struct qm_cookie c;

	/* The length alone decides: the bytes are never looked at. */
	cr_expect_eq(qm_cookie_parse("<qemu-migration/>", SIZE_MAX, NULL, &c, &err),
		     -E2BIG);
	cr_expect_str_eq(err.error_class, "CookieTooLarge");
}

Test(cookie_parse, keeps_the_first_error)
{
	struct qm_error err = { 0 };
	struct qm_cookie c;

	cr_expect_eq(qm_cookie_parse("<x/>", 4, NULL, &c, &err), -EBADMSG);
	cr_expect_eq(qm_cookie_parse("", 0, NULL, &c, &err), -EBADMSG);
	cr_expect_str_eq(err.error_class, "CookieInvalid");
	cr_expect(strstr(err.text, "root element is <x>"), "%s", err.text);
}

/*
 * An external entity or DTD on a port we listen on: the parser must refuse
 * the cookie without ever connecting.
 */
Test(cookie_parse, never_fetches_an_external_entity_or_dtd)
{
	/* Each form is written around the listener's URL. */
	static const char *const forms[][2] = {
		{ "<!DOCTYPE qemu-migration [<!ENTITY x SYSTEM \"",
		  "/x\">]>"
		  "<qemu-migration>&x;</qemu-migration>" },
		{ "<!DOCTYPE qemu-migration SYSTEM \"", "/x.dtd\"><qemu-migration/>" },
		{ "<!DOCTYPE qemu-migration [<!ENTITY % p SYSTEM \"",
		  "/p\"> %p;]><qemu-migration/>" },
	};
	int port;
	_cleanup_close_ int lfd = td_listen_loopback(&port);

	for (size_t i = 0; i < sizeof(forms) / sizeof(forms[0]); i++) {
		struct qm_error err = { 0 };
		struct qm_cookie c;
		char xml[512];
		int n = snprintf(xml, sizeof(xml), "%shttp://127.0.0.1:%d%s", forms[i][0],
				 port, forms[i][1]);

		cr_expect_eq(qm_cookie_parse(xml, (size_t)n, NULL, &c, &err), -EBADMSG);
		cr_expect_str_eq(err.error_class, "CookieUnsafe", "%s: %s", xml,
				 err.text);
	}
	td_expect_no_connection(lfd);
}
