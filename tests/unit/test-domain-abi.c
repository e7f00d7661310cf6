/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ABI check, from golden pairs under tests/data/domain/abi/:
 * same/NAME.src.xml and NAME.dst.xml must pass (a guest could not tell
 * them apart); differ/NAME.src.xml and NAME.dst.xml must fail, with every
 * line of NAME.msg somewhere in the message.  Every password in those
 * files contains "s3cret", which must never be in a message.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/unit/testdata.h"
#include "xml/domain-abi.h"

#define MARK "s3cret"
#define SRC ".src.xml"

struct pair {
	struct qm_domain *src, *dst;
	char *src_xml, *dst_xml;
	char *name; /* NAME, for messages */
};

static struct qm_domain *parse(const char *path, char **xml)
{
	struct qm_error err = { 0 };
	struct qm_domain *d;
	size_t len;

	*xml = td_read(path, &len);
	cr_assert(*xml, "%s: %s", path, strerror(errno));
	cr_assert_eq(qm_domain_parse(*xml, len, &d, &err), 0, "%s: %s: %s", path,
		     err.error_class, err.text);
	return d;
}

/* DIR/NAME.src.xml and DIR/NAME.dst.xml, from @file, the first of them. */
static void read_pair(const char *dir, const char *file, struct pair *p)
{
	_cleanup_free_ char *src = NULL, *dst = NULL;
	int len = (int)(strlen(file) - strlen(SRC));

	cr_assert(asprintf(&p->name, "%.*s", len, file) >= 0);
	cr_assert(asprintf(&src, "%s/%s.src.xml", dir, p->name) >= 0);
	cr_assert(asprintf(&dst, "%s/%s.dst.xml", dir, p->name) >= 0);
	p->src = parse(src, &p->src_xml);
	p->dst = parse(dst, &p->dst_xml);
}

static void free_pair(struct pair *p)
{
	qm_domain_free(p->src);
	qm_domain_free(p->dst);
	free(p->src_xml);
	free(p->dst_xml);
	free(p->name);
}

/* The check, and what every outcome must hold to: its code, class and no secret. */
static int check(const char *name, const struct qm_domain *a, const struct qm_domain *b,
		 struct qm_error *err)
{
	int r;

	qm_error_clear(err);
	r = qm_domain_abi_check(a, b, err);
	if (r == 0) {
		cr_expect_not(qm_error_is_set(err), "%s: passed with an error set", name);
		return 0;
	}
	cr_expect_eq(r, -EINVAL, "%s: returned %d", name, r);
	cr_expect_eq(err->code, r, "%s: error code %d, returned %d", name, err->code, r);
	cr_expect_str_eq(err->error_class, "DomainAbi", "%s", name);
	cr_expect_null(strstr(err->text, MARK), "%s: a password in the message: %s", name,
		       err->text);
	return r;
}

static void run_same(const char *dir, const char *file)
{
	struct qm_error err;
	struct pair p;

	read_pair(dir, file, &p);
	cr_expect_eq(check(p.name, p.src, p.dst, &err), 0, "%s: refused: %s", p.name,
		     err.text);
	cr_expect_eq(check(p.name, p.dst, p.src, &err), 0,
		     "%s: refused the other way round: %s", p.name, err.text);
	cr_expect_eq(check(p.name, p.src, p.src, &err), 0, "%s: src against itself: %s",
		     p.name, err.text);
	cr_expect_eq(check(p.name, p.dst, p.dst, &err), 0, "%s: dst against itself: %s",
		     p.name, err.text);
	free_pair(&p);
}

Test(domain_abi, passes_every_pair_that_differs_only_on_the_host)
{
	td_each("domain/abi/same", SRC, 20, run_same);
}

/* Every line of DIR/NAME.msg is in @text. */
static void expect_message(const char *dir, const char *name, const char *text)
{
	_cleanup_free_ char *path = NULL, *msg = NULL;
	size_t len, lines = 0;

	cr_assert(asprintf(&path, "%s/%s.msg", dir, name) >= 0);
	msg = td_read(path, &len);
	cr_assert(msg, "%s: %s", path, strerror(errno));
	for (char *save = NULL, *line = strtok_r(msg, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save), lines++)
		cr_expect(strstr(text, line), "%s: the message lacks\n  %s\nit is\n  %s",
			  name, line, text);
	cr_expect_gt(lines, 0, "%s: an empty .msg", path);
}

static void run_differ(const char *dir, const char *file)
{
	struct qm_error err;
	struct pair p;

	read_pair(dir, file, &p);
	cr_expect_eq(check(p.name, p.src, p.dst, &err), -EINVAL, "%s: passed", p.name);
	expect_message(dir, p.name, err.text);
	cr_expect_eq(check(p.name, p.dst, p.src, &err), -EINVAL,
		     "%s: passed the other way round", p.name);
	free_pair(&p);
}

Test(domain_abi, refuses_every_difference_the_guest_would_see)
{
	td_each("domain/abi/differ", SRC, 40, run_differ);
}

static size_t pairs_with_mark;

/* Both ways: a password must not show whichever side holds it. */
static void run_no_password(const char *dir, const char *file)
{
	struct qm_error err;
	struct pair p;

	read_pair(dir, file, &p);
	pairs_with_mark += strstr(p.src_xml, MARK) || strstr(p.dst_xml, MARK);
	check(p.name, p.src, p.dst, &err);
	cr_expect_null(strstr(err.text, MARK), "%s: %s", p.name, err.text);
	check(p.name, p.dst, p.src, &err);
	cr_expect_null(strstr(err.text, MARK), "%s: %s", p.name, err.text);
	free_pair(&p);
}

Test(domain_abi, no_message_shows_a_password)
{
	pairs_with_mark = 0;
	td_each("domain/abi/differ", SRC, 40, run_no_password);
	/* The test means something only if differing pairs hold passwords. */
	cr_expect_geq(pairs_with_mark, 5, "only %zu differing pairs hold a password",
		      pairs_with_mark);
	td_each("domain/abi/same", SRC, 20, run_no_password);
}

static void run_symmetric(const char *dir, const char *file)
{
	struct qm_error e1, e2;
	struct pair p;

	read_pair(dir, file, &p);
	cr_expect_eq(check(p.name, p.src, p.dst, &e1) == 0,
		     check(p.name, p.dst, p.src, &e2) == 0,
		     "%s: one way %s, the other %s", p.name, e1.text, e2.text);
	free_pair(&p);
}

Test(domain_abi, accepts_the_same_whichever_side_is_which)
{
	td_each("domain/abi/same", SRC, 20, run_symmetric);
	td_each("domain/abi/differ", SRC, 40, run_symmetric);
}

/* Two readings of one file: nothing in a description differs from itself. */
static void run_itself(const char *dir, const char *file)
{
	_cleanup_free_ char *path = NULL, *x1 = NULL, *x2 = NULL;
	_cleanup_domain_ struct qm_domain *a = NULL, *b = NULL;
	struct qm_error err;

	cr_assert(asprintf(&path, "%s/%s", dir, file) >= 0);
	a = parse(path, &x1);
	b = parse(path, &x2);
	cr_expect_eq(check(file, a, b, &err), 0, "%s: %s", file, err.text);
}

Test(domain_abi, every_good_description_matches_itself)
{
	td_each("domain/good", ".xml", 10, run_itself);
	td_each("domain", ".xml", 1, run_itself); /* example.xml */
}

#define HEAD                                                                             \
	"<domain type='kvm'><name>vm1</name>"                                            \
	"<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"                              \
	"<memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>"
#define TAIL "</devices></domain>"

static void check_strings(const char *src, const char *dst, struct qm_error *err)
{
	_cleanup_domain_ struct qm_domain *a = td_domain(src);
	_cleanup_domain_ struct qm_domain *b = td_domain(dst);

	cr_assert_eq(check("inline", a, b, err), -EINVAL, "passed:\n%s\n%s", src, dst);
}

Test(domain_abi, many_differences_are_bounded_and_counted)
{
	char src[4096], dst[4096];
	size_t len = 0, shown = 0, more = 0;
	struct qm_error err;
	const char *tail;

	/* 40 watchdogs' models differ: far more than a message holds. */
	for (int i = 0; i < 40; i++)
		len += (size_t)snprintf(src + len, sizeof(src) - len,
					"<watchdog model='i6300esb' action='r%02d'/>", i);
	cr_assert_lt(len, sizeof(src));
	memcpy(dst, src, len + 1);
	for (char *p = dst; (p = strstr(p, "action='r")); p++)
		p[strlen("action='")] = 'x';
	{
		_cleanup_free_ char *s = NULL, *d = NULL;

		cr_assert(asprintf(&s, HEAD "%s" TAIL, src) >= 0);
		cr_assert(asprintf(&d, HEAD "%s" TAIL, dst) >= 0);
		check_strings(s, d, &err);
	}
	for (const char *p = err.text; (p = strstr(p, "on the destination")); p++)
		shown++;
	tail = strstr(err.text, "; and ");
	cr_assert(tail, "no count of the rest: %s", err.text);
	cr_expect_eq(sscanf(tail, "; and %zu more", &more), 1, "%s", err.text);
	cr_expect_geq(shown, 2, "%s", err.text);
	cr_expect_eq(shown + more, 40, "%zu shown and %zu more: %s", shown, more,
		     err.text);
	cr_expect_lt(strlen(err.text), sizeof(err.text) - 1, "cut: %s", err.text);
}

static bool valid_utf8(const unsigned char *s)
{
	while (*s) {
		int n = *s < 0x80	      ? 0
			: (*s & 0xe0) == 0xc0 ? 1
			: (*s & 0xf0) == 0xe0 ? 2
					      : 3;

		if (*s >= 0x80 && ((*s & 0xc0) == 0x80 || *s >= 0xf8))
			return false;
		for (s++; n > 0; n--, s++)
			if ((*s & 0xc0) != 0x80)
				return false;
	}
	return true;
}

Test(domain_abi, a_long_value_is_cut_between_characters)
{
	char value[200] = "";
	_cleanup_free_ char *s = NULL, *d = NULL;
	struct qm_error err;

	for (int i = 0; i < 60; i++)
		strcat(value, i % 2 ? "\xc3\xa9" : "e"); /* e and é */
	cr_assert(asprintf(&s, HEAD "<rng model='%s'/>" TAIL, value) >= 0);
	cr_assert(asprintf(&d, HEAD "<rng model='x%s'/>" TAIL, value) >= 0);
	check_strings(s, d, &err);
	cr_expect(strstr(err.text, "...\""), "%s", err.text);
	cr_expect(valid_utf8((const unsigned char *)err.text), "%s", err.text);
}

Test(domain_abi, nothing_inside_a_secret_element_is_shown)
{
	struct qm_error err;

	check_strings(HEAD "<app:x xmlns:app='urn:a' secret='yes'><app:y k='s3cret-1'/>"
			   "</app:x>" TAIL,
		      HEAD "<app:x xmlns:app='urn:a' secret='yes'><app:y k='s3cret-2'/>"
			   "</app:x>" TAIL,
		      &err);
	cr_expect(strstr(err.text, "devices/app:x[1]/app:y: k differs (a secret: not "
				   "shown)"),
		  "%s", err.text);
}

Test(domain_abi, an_address_compares_as_numbers)
{
	_cleanup_domain_ struct qm_domain *a = td_domain(
		HEAD "<controller type='usb' index='0'>"
		     "<address type='pci' domain='0x0000' bus='0x00' slot='0x1f'/>"
		     "</controller>" TAIL);
	_cleanup_domain_ struct qm_domain *b =
		td_domain(HEAD "<controller index='0' type='usb'>"
			       "<address type='pci' slot='31' bus='0' domain='0'/>"
			       "</controller>" TAIL);
	struct qm_error err;

	cr_expect_eq(check("address", a, b, &err), 0, "%s", err.text);
}

Test(domain_abi, a_deep_path_shows_its_end)
{
	_cleanup_free_ char *s = NULL, *d = NULL;
	char open[1024] = "", close[1024] = "";
	struct qm_error err;

	for (int i = 0; i < 60; i++) {
		strcat(open, "<deep>");
		strcat(close, "</deep>");
	}
	cr_assert(asprintf(&s, HEAD "%s<leaf k='1'/>%s" TAIL, open, close) >= 0);
	cr_assert(asprintf(&d, HEAD "%s<leaf k='2'/>%s" TAIL, open, close) >= 0);
	check_strings(s, d, &err);
	cr_expect(strstr(err.text, ": .../deep/"), "%s", err.text);
	cr_expect(strstr(err.text, "/deep/leaf: k \"1\" on the source, \"2\" on the "
				   "destination"),
		  "%s", err.text);
}

Test(domain_abi, a_long_name_is_cut_between_characters)
{
	char name[200] = "x"; /* so that no even cut falls between characters */
	_cleanup_free_ char *d = NULL;
	struct qm_error err;

	for (int i = 0; i < 60; i++)
		strcat(name, "\xc3\xa9"); /* é */
	cr_assert(asprintf(&d, HEAD "<%s/>" TAIL, name) >= 0);
	check_strings(HEAD TAIL, d, &err);
	cr_expect(strstr(err.text, ": 0 on the source, 1 on the destination"), "%s",
		  err.text);
	cr_expect(valid_utf8((const unsigned char *)err.text), "%s", err.text);
}
