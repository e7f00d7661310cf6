/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Domain descriptions from data folders.  tests/data/domain/hostile/NAME.xml
 * with NAME.error (line 1: the error class; line 2: a piece of the text)
 * must be refused.  tests/data/domain/good/NAME.xml must be read, and
 * written back as the golden NAME.formatted and NAME.migratable
 * (QMIGRATE_REGENERATE_GOLDEN=1 rewrites them).  Every password in those
 * inputs contains "s3cret", which must never appear in a migratable form
 * or in an error message.  tests/data/domain/example.xml is the example of
 * docs/domain.md, which must hold it verbatim.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <libxml/parser.h>
#include <libxml/tree.h>

#include "tests/unit/testdata.h"
#include "xml/domain.h"
#include "xml/read.h"

#define MARK "s3cret"

static void run_hostile(const char *dir, const char *name)
{
	static struct qm_domain sentinel;
	struct qm_error err = { 0 };
	struct qm_domain *d = &sentinel;
	struct td_hostile h;
	int r;

	td_read_hostile(dir, name, &h);
	r = qm_domain_parse(h.xml, h.len, &d, &err);
	free(h.xml);
	cr_expect_lt(r, 0, "%s: parsed, but should fail with %s", name, h.cls);
	cr_expect_null(d, "%s: a refused description must leave *out NULL", name);
	if (d != &sentinel)
		qm_domain_free(d);
	cr_expect_eq(r, err.code, "%s: returned %d, error says %d", name, r, err.code);
	cr_expect_str_eq(err.error_class, h.cls, "%s: class %s (%s), expected %s", name,
			 err.error_class, err.text, h.cls);
	cr_expect(strstr(err.text, h.text), "%s: error '%s' lacks '%s'", name, err.text,
		  h.text);
	cr_expect_null(strstr(err.text, MARK), "%s: the error shows a secret: %s", name,
		       err.text);
}

Test(domain_data, refuses_every_hostile_input)
{
	td_each("domain/hostile", ".xml", 100, run_hostile);
}

/* Layout is the whitespace-only text that formatting replaces. */
static const xmlNode *skip_layout(const xmlNode *n)
{
	while (n && n->type == XML_TEXT_NODE && xmlIsBlankNode((xmlNode *)n))
		n = n->next;
	return n;
}

static const char *ns_of(const xmlNs *ns)
{
	return ns && ns->href ? (const char *)ns->href : "";
}

static bool same_attrs(const xmlNode *a, const xmlNode *b)
{
	const xmlAttr *x = a->properties, *y = b->properties;

	for (; x && y; x = x->next, y = y->next) {
		_cleanup_xmlfree_ xmlChar *vx =
			xmlNodeListGetString(a->doc, x->children, 1);
		_cleanup_xmlfree_ xmlChar *vy =
			xmlNodeListGetString(b->doc, y->children, 1);

		if (!xmlStrEqual(x->name, y->name) ||
		    strcmp(ns_of(x->ns), ns_of(y->ns)) || !xmlStrEqual(vx, vy))
			return false;
	}
	return !x && !y;
}

/*
 * True when the trees from @a and @b hold the same nodes, names, namespaces,
 * attributes, text, comments and processing instructions, layout aside.
 */
static bool same_tree(const xmlNode *a, const xmlNode *b)
{
	for (a = skip_layout(a), b = skip_layout(b); a && b;
	     a = skip_layout(a->next), b = skip_layout(b->next)) {
		if (a->type != b->type || !xmlStrEqual(a->name, b->name) ||
		    !xmlStrEqual(a->content, b->content))
			return false;
		if (a->type != XML_ELEMENT_NODE)
			continue;
		if (strcmp(ns_of(a->ns), ns_of(b->ns)) || !same_attrs(a, b) ||
		    !same_tree(a->children, b->children))
			return false;
	}
	return !a && !b;
}

/*
 * Test data is trusted: libxml2's own reader, kept off the network, and
 * reading CDATA as text as qmigrate's does.
 */
static xmlDocPtr read_tree(const char *xml, size_t len)
{
	xmlDocPtr doc = xmlReadMemory(xml, (int)len, NULL, NULL,
				      XML_PARSE_NONET | XML_PARSE_NOCDATA);

	cr_assert(doc, "cannot read back:\n%s", xml);
	return doc;
}

/* True when some element under @n still holds a secret. */
static bool holds_secret(const xmlNode *n)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (const xmlAttr *a = n->properties; a; a = a->next) {
			_cleanup_xmlfree_ xmlChar *v =
				xmlNodeListGetString(n->doc, a->children, 1);

			if (!a->ns && xmlStrEqual(a->name, BAD_CAST "passwd"))
				return true;
			if (!a->ns && xmlStrEqual(a->name, BAD_CAST "secret") &&
			    xmlStrEqual(v, BAD_CAST "yes"))
				return true;
		}
		if (holds_secret(n->children))
			return true;
	}
	return false;
}

/* Formatting what @xml formats to gives the same bytes. */
static void expect_stable(const char *name, const char *xml, bool migratable)
{
	_cleanup_free_ char *again = NULL;
	struct qm_error err = { 0 };
	struct qm_domain *d;

	cr_assert_eq(qm_domain_parse(xml, strlen(xml), &d, &err), 0, "%s: %s", name,
		     err.text);
	cr_assert_eq(migratable ? qm_domain_migratable_format(d, &again, &err)
				: qm_domain_format(d, &again, &err),
		     0, "%s: %s", name, err.text);
	cr_expect_str_eq(again, xml, "%s: formatting is not stable", name);
	qm_domain_free(d);
}

static void run_good(const char *dir, const char *name)
{
	_cleanup_free_ char *xml_path = td_sibling(dir, name, ".xml");
	_cleanup_free_ char *base = strndup(name, strlen(name) - 4);
	_cleanup_free_ char *xml = NULL, *full = NULL, *mig = NULL, *rel = NULL;
	_cleanup_free_ char *mig_rel = NULL;
	struct qm_error err = { 0 };
	struct qm_domain *d;
	xmlDocPtr in, out;
	size_t len;

	xml = td_read(xml_path, &len);
	cr_assert(xml, "%s: %s", xml_path, strerror(errno));
	cr_assert_eq(qm_domain_parse(xml, len, &d, &err), 0, "%s: %s: %s", name,
		     err.error_class, err.text);
	cr_assert_eq(qm_domain_format(d, &full, &err), 0, "%s: %s", name, err.text);
	cr_assert_eq(qm_domain_migratable_format(d, &mig, &err), 0, "%s: %s", name,
		     err.text);
	qm_domain_free(d);

	cr_assert(asprintf(&rel, "domain/good/%s.formatted", base) >= 0);
	cr_assert(asprintf(&mig_rel, "domain/good/%s.migratable", base) >= 0);
	td_golden(rel, full);
	td_golden(mig_rel, mig);

	/* Nothing was dropped: the same tree, layout aside. */
	in = read_tree(xml, len);
	out = read_tree(full, strlen(full));
	cr_expect(same_tree(in->children, out->children),
		  "%s: the formatted tree differs from the input", name);
	xmlFreeDoc(out);
	xmlFreeDoc(in);

	out = read_tree(mig, strlen(mig));
	cr_expect(!holds_secret(out->children), "%s: migratable form holds a secret:\n%s",
		  name, mig);
	xmlFreeDoc(out);
	cr_expect_null(strstr(mig, MARK), "%s: migratable form holds a password:\n%s",
		       name, mig);

	expect_stable(name, full, false);
	expect_stable(name, mig, true);
	/* With no secret left, the full form of the migratable one is itself. */
	expect_stable(name, mig, false);
}

Test(domain_data, reads_and_writes_back_every_good_input)
{
	td_each("domain/good", ".xml", 10, run_good);
}

/* The example is in the form qmigrate writes, and the documentation shows it verbatim. */
Test(domain_data, the_documented_example_is_read_and_written_back_unchanged)
{
	_cleanup_free_ char *path = td_path("domain/example.xml"), *example = NULL;
	_cleanup_free_ char *doc_path = NULL, *doc = NULL, *out = NULL, *mig = NULL;
	_cleanup_free_ char *fenced = NULL;
	struct qm_error err = { 0 };
	struct qm_domain *d;
	size_t len, doc_len;

	example = td_read(path, &len);
	cr_assert(example, "%s: %s", path, strerror(errno));
	doc_path = td_path("../../docs/domain.md");
	doc = td_read(doc_path, &doc_len);
	cr_assert(doc, "%s: %s", doc_path, strerror(errno));
	cr_assert(asprintf(&fenced, "```xml\n%s```\n", example) >= 0);
	cr_expect(strstr(doc, fenced),
		  "docs/domain.md does not hold tests/data/domain/example.xml verbatim "
		  "in an xml block");

	cr_assert_eq(qm_domain_parse(example, len, &d, &err), 0, "%s", err.text);
	cr_assert_eq(qm_domain_format(d, &out, &err), 0, "%s", err.text);
	cr_expect_str_eq(out, example, "the example is not in the form qmigrate writes");
	cr_assert_eq(qm_domain_migratable_format(d, &mig, &err), 0, "%s", err.text);
	cr_expect(strstr(example, MARK), "the example should show a password");
	cr_expect_null(strstr(mig, MARK), "%s", mig);
	qm_domain_free(d);
}
