/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Writing cookies: golden files, round trips, and what the writer refuses. */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/unit/testdata.h"
#include "xml/cookie.h"

#define VM_UUID "c7a5fdbd-edaf-9455-926a-d65c16db1809"
#define HOST_UUID "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4"

static void set(char *dst, size_t size, const char *s)
{
	/* Zero-filled like the reader's fields, so that cookies compare with memcmp. */
	cr_assert(strlen(s) < size);
	memset(dst, 0, size);
	strcpy(dst, s);
}
#define SET(field, s) set(field, sizeof(field), s)

static void base(struct qm_cookie *c)
{
	memset(c, 0, sizeof(*c));
	SET(c->name, "vm1");
	SET(c->uuid, VM_UUID);
	SET(c->hostname, "src.example.org");
	SET(c->host_uuid, HOST_UUID);
}

static void graphics(struct qm_cookie *c)
{
	c->features |= QM_COOKIE_GRAPHICS;
	SET(c->graphics.type, "spice");
	SET(c->graphics.listen, "192.0.2.10");
	c->graphics.port = 5901;
	c->graphics.tls_port = 5902;
	SET(c->graphics.tls_subject, "C=XX,L=Lab,O=qmigrate,CN=dst.example.org");
}

static void lockstate(struct qm_cookie *c)
{
	c->features |= QM_COOKIE_LOCKSTATE;
	SET(c->lockstate.driver, "fcntl");
	c->lockstate.n_leases = 2;
	SET(c->lockstate.leases[0].path, "/var/lib/qmigrate/leases/vm1.disk0");
	c->lockstate.leases[0].generation = 7;
	SET(c->lockstate.leases[1].path, "/var/lib/qmigrate/leases/vm1.disk1");
	c->lockstate.leases[1].generation = UINT64_MAX;
}

static void migrate(struct qm_cookie *c)
{
	c->features |= QM_COOKIE_MIGRATE;
	SET(c->migrate_uri, "tcp:192.0.2.10:49152");
}

static void stats(struct qm_cookie *c)
{
	c->features |= QM_COOKIE_STATS;
	c->stats = (struct qm_cookie_stats){
		.total_ms = 8123,
		.downtime_ms = 37,
		.setup_ms = 12,
		.transferred_bytes = 1073741824,
		.remaining_bytes = 0,
		.total_bytes = 1082130432,
		.passes = 4,
	};
}

static void build_minimal(struct qm_cookie *c)
{
	base(c);
}

static void build_full(struct qm_cookie *c)
{
	base(c);
	graphics(c);
	lockstate(c);
	migrate(c);
	stats(c);
	c->mandatory = QM_COOKIE_LOCKSTATE;
}

/* The prepare phase's cookie: graphics and where to send the stream. */
static void build_graphics_vnc(struct qm_cookie *c)
{
	base(c);
	c->features |= QM_COOKIE_GRAPHICS;
	SET(c->graphics.type, "vnc");
	c->graphics.port = 5900;
	c->graphics.tls_port = -1;
	migrate(c);
}

/* The graphics flag without graphics data: neither the feature nor the section appears.
 */
static void build_graphics_absent(struct qm_cookie *c)
{
	base(c);
	c->features |= QM_COOKIE_GRAPHICS;
	c->mandatory |= QM_COOKIE_GRAPHICS;
	migrate(c);
}

/* The begin phase's cookie: the source's leases, which the destination must understand.
 */
static void build_mandatory_lockstate(struct qm_cookie *c)
{
	base(c);
	lockstate(c);
	c->mandatory = QM_COOKIE_LOCKSTATE;
}

static void build_lockstate_no_leases(struct qm_cookie *c)
{
	base(c);
	c->features |= QM_COOKIE_LOCKSTATE;
	SET(c->lockstate.driver, "fcntl");
}

static void build_statistics(struct qm_cookie *c)
{
	base(c);
	stats(c);
	c->stats.total_ms = INT64_MAX;
	c->stats.total_bytes = UINT64_MAX;
}

/* Markup characters in every kind of field come back as they went in. */
static void build_escaping(struct qm_cookie *c)
{
	base(c);
	SET(c->name, "web <\"prod\"> & 'co' \xc3\xa9t\xc3\xa9");
	lockstate(c);
	SET(c->lockstate.leases[0].path, "/leases/a&b<c>\"d\"'e'");
	memset(&c->lockstate.leases[1], 0, sizeof(c->lockstate.leases[1]));
	c->lockstate.n_leases = 1;
	migrate(c);
	SET(c->migrate_uri, "tcp:[2001:db8::1]:4444?a=1&b=<2>");
	graphics(c);
	SET(c->graphics.tls_subject, "O=\"A & B\", CN=<x>");
}

static const struct golden {
	const char *name;
	void (*build)(struct qm_cookie *c);
} goldens[] = {
	{ "minimal", build_minimal },
	{ "full", build_full },
	{ "graphics-vnc", build_graphics_vnc },
	{ "graphics-absent", build_graphics_absent },
	{ "mandatory-lockstate", build_mandatory_lockstate },
	{ "lockstate-no-leases", build_lockstate_no_leases },
	{ "statistics", build_statistics },
	{ "escaping", build_escaping },
};

static void expect_cookie_eq(const struct qm_cookie *a, const struct qm_cookie *b,
			     const char *what)
{
	cr_expect_str_eq(a->name, b->name, "%s: name", what);
	cr_expect_str_eq(a->uuid, b->uuid, "%s: uuid", what);
	cr_expect_str_eq(a->hostname, b->hostname, "%s: hostname", what);
	cr_expect_str_eq(a->host_uuid, b->host_uuid, "%s: host uuid", what);
	cr_expect_eq(a->features, b->features, "%s: features 0x%x != 0x%x", what,
		     a->features, b->features);
	cr_expect_eq(a->mandatory, b->mandatory, "%s: mandatory 0x%x != 0x%x", what,
		     a->mandatory, b->mandatory);
	cr_expect_str_eq(a->graphics.type, b->graphics.type, "%s: graphics type", what);
	cr_expect_eq(a->graphics.port, b->graphics.port, "%s: graphics port", what);
	cr_expect_eq(a->graphics.tls_port, b->graphics.tls_port, "%s: tls port", what);
	cr_expect_eq(a->lockstate.n_leases, b->lockstate.n_leases, "%s: leases", what);
	cr_expect_str_eq(a->migrate_uri, b->migrate_uri, "%s: migrate uri", what);
	/* Everything else, strings and statistics included, byte for byte. */
	cr_expect(memcmp(a, b, sizeof(*a)) == 0, "%s: cookies differ", what);
}

Test(cookie_format, matches_golden_files_and_reads_back_the_same)
{
	for (size_t i = 0; i < sizeof(goldens) / sizeof(goldens[0]); i++) {
		struct qm_cookie c, back;
		struct qm_error err = { 0 };
		char *xml = NULL, rel[96];

		goldens[i].build(&c);
		cr_assert_eq(qm_cookie_format(&c, &xml, &err), 0, "%s: %s",
			     goldens[i].name, err.text);
		snprintf(rel, sizeof(rel), "cookie/golden/%s.xml", goldens[i].name);
		td_golden(rel, xml);

		cr_assert_eq(qm_cookie_parse(xml, strlen(xml), NULL, &back, &err), 0,
			     "%s: %s", goldens[i].name, err.text);
		/* An empty graphics section is never written, so never read back. */
		if (!c.graphics.type[0]) {
			c.features &= ~(unsigned)QM_COOKIE_GRAPHICS;
			c.mandatory &= ~(unsigned)QM_COOKIE_GRAPHICS;
		}
		expect_cookie_eq(&back, &c, goldens[i].name);
		free(xml);
	}
}

static char *format_ok(const struct qm_cookie *c)
{
	struct qm_error err = { 0 };
	char *xml = NULL;

	cr_assert_eq(qm_cookie_format(c, &xml, &err), 0, "%s", err.text);
	cr_assert_not_null(xml);
	return xml;
}

Test(cookie_format, writes_features_with_mandatory_marks)
{
	_cleanup_free_ char *xml = NULL;
	struct qm_cookie c;

	build_full(&c);
	xml = format_ok(&c);
	cr_expect(strstr(xml, "<feature name=\"graphics\"/>"));
	cr_expect(strstr(xml, "<feature name=\"lockstate\" mandatory=\"yes\"/>"));
	cr_expect(strstr(xml, "<feature name=\"migrate\"/>"));
	cr_expect(strstr(xml, "<feature name=\"statistics\"/>"));
	cr_expect(strstr(xml, "<graphics type=\"spice\" port=\"5901\" tlsPort=\"5902\" "
			      "listen=\"192.0.2.10\">"));
	cr_expect_null(strstr(xml, "passwd"));
}

Test(cookie_format, graphics_flag_without_data_writes_no_graphics)
{
	_cleanup_free_ char *xml = NULL;
	struct qm_cookie c;

	build_graphics_absent(&c);
	xml = format_ok(&c);
	cr_expect_null(strstr(xml, "graphics"), "%s", xml);
}

Test(cookie_format, upper_case_uuids_are_written_in_lower_case)
{
	_cleanup_free_ char *xml = NULL;
	struct qm_cookie c;

	base(&c);
	SET(c.uuid, "C7A5FDBD-EDAF-9455-926A-D65C16DB1809");
	xml = format_ok(&c);
	cr_expect(strstr(xml, "<uuid>" VM_UUID "</uuid>"), "%s", xml);
}

static void expect_format_error(const struct qm_cookie *c, int code, const char *cls,
				const char *text)
{
	struct qm_error err = { 0 };
	char *xml = (char *)"untouched";

	cr_expect_eq(qm_cookie_format(c, &xml, &err), code, "expected %d: %s", code,
		     err.text);
	cr_expect_null(xml);
	cr_expect_str_eq(err.error_class, cls);
	cr_expect(strstr(err.text, text), "'%s' lacks '%s'", err.text, text);
}

Test(cookie_format, refuses_what_a_reader_would_refuse)
{
	struct qm_cookie c;

	base(&c);
	c.name[0] = '\0';
	expect_format_error(&c, -EINVAL, "CookieInvalid", "name is missing");

	base(&c);
	SET(c.uuid, "not-a-uuid");
	expect_format_error(&c, -EINVAL, "CookieInvalid", "uuid 'not-a-uuid'");

	base(&c);
	memset(c.hostname, 'h', sizeof(c.hostname));
	expect_format_error(&c, -EINVAL, "CookieInvalid", "hostname is not terminated");

	base(&c);
	SET(c.name, "line\nbreak");
	expect_format_error(&c, -EINVAL, "CookieInvalid", "control characters");

	base(&c);
	SET(c.name, "bad \xff utf8");
	expect_format_error(&c, -EINVAL, "CookieInvalid", "not valid UTF-8");

	build_full(&c);
	c.graphics.port = 70000;
	expect_format_error(&c, -ERANGE, "CookieInvalid", "70000 is not in -1..65535");

	build_full(&c);
	SET(c.graphics.type, "rdp");
	expect_format_error(&c, -EINVAL, "CookieInvalid", "neither spice nor vnc");

	build_full(&c);
	c.lockstate.n_leases = QM_COOKIE_MAX_LEASES + 1;
	expect_format_error(&c, -E2BIG, "CookieInvalid", "more than 8");

	build_full(&c);
	SET(c.lockstate.leases[1].path, "relative/path");
	expect_format_error(&c, -EINVAL, "CookieInvalid", "not an absolute path");

	build_full(&c);
	c.lockstate.leases[1].generation = 0;
	expect_format_error(&c, -ERANGE, "CookieInvalid", "vm1.disk1 has generation 0");

	build_full(&c);
	c.stats.downtime_ms = -1;
	expect_format_error(&c, -ERANGE, "CookieInvalid", "downtime_ms is negative");

	base(&c);
	c.features = 1u << 9;
	expect_format_error(&c, -EINVAL, "CookieInvalid", "unknown feature bits 0x200");

	base(&c);
	c.mandatory = QM_COOKIE_STATS;
	expect_format_error(&c, -EINVAL, "CookieInvalid", "mandatory without carrying");

	base(&c);
	c.features = QM_COOKIE_MIGRATE;
	expect_format_error(&c, -EINVAL, "CookieInvalid", "migrate uri is missing");
}

Test(cookie_format, refuses_a_cookie_larger_than_a_reader_accepts)
{
	struct qm_cookie c;
	char path[256];

	/* Eight leases of 255 bytes of '"', each written as "&quot;": ~12 KiB of leases.
	 */
	memset(path, '"', sizeof(path) - 1);
	path[0] = '/';
	path[sizeof(path) - 1] = '\0';
	build_full(&c);
	c.lockstate.n_leases = QM_COOKIE_MAX_LEASES;
	for (unsigned i = 0; i < QM_COOKIE_MAX_LEASES; i++) {
		SET(c.lockstate.leases[i].path, path);
		c.lockstate.leases[i].generation = 1;
	}
	memset(c.name, '<', sizeof(c.name) - 1); /* written as "&lt;": another 1 KiB */
	memset(c.migrate_uri, '&', sizeof(c.migrate_uri) - 1);
	memset(c.graphics.tls_subject, '"', sizeof(c.graphics.tls_subject) - 1);
	expect_format_error(&c, -E2BIG, "CookieTooLarge", "more than the 16384");
}
