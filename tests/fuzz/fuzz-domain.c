/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for the domain description reader.  Besides not
 * crashing: a description that is read must be writable in both forms
 * (unless too large once indented), its migratable form must hold no
 * secret and be readable, formatting what was formatted must give the
 * same bytes, and the ABI check must find nothing between a description
 * and what it was written as, either way round.  Then the destination
 * rewrite with every option but the disk map must succeed on it, and
 * what it gives must hold to the same.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml/domain-abi.h"
#include "xml/domain-rewrite.h"
#include "xml/domain.h"
#include "xml/read.h"
#include "tests/fuzz/fuzz.h"

/* True when some element under @n has a passwd attribute or is marked secret="yes". */
static bool holds_secret(const xmlNode *n)
{
	for (; n; n = n->next) {
		_cleanup_xmlfree_ xmlChar *mark = NULL;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (const xmlAttr *a = n->properties; a; a = a->next)
			if (!a->ns && xmlStrEqual(a->name, BAD_CAST "passwd"))
				return true;
		mark = xmlGetNoNsProp(n, BAD_CAST "secret");
		if (xmlStrEqual(mark, BAD_CAST "yes") || holds_secret(n->children))
			return true;
	}
	return false;
}

/* Looks for a secret in what the writer wrote by reading it as XML, not as text. */
static bool wrote_secret(const char *xml)
{
	static const struct qm_xml_source src = { "written domain XML", "Fuzz",
						  QM_DOMAIN_MAX };
	_cleanup_(doc_freep) xmlDocPtr doc = NULL;
	struct qm_error err = { 0 };

	fuzz_assert(qm_xml_read(&src, xml, strlen(xml), &doc, &err) == 0, "%s", err.text);
	return holds_secret(xmlDocGetRootElement(doc));
}

/* Reads @xml, which qmigrate wrote, and checks that @format writes it back unchanged. */
static void expect_stable(const char *xml, int (*format)(const struct qm_domain *,
							 char **, struct qm_error *))
{
	_cleanup_domain_ struct qm_domain *d = NULL;
	_cleanup_free_ char *again = NULL;
	struct qm_error err = { 0 };
	int r;

	r = qm_domain_parse(xml, strlen(xml), &d, &err);
	fuzz_assert(r == 0, "written domain XML not readable: %s\n%s", err.text, xml);
	r = format(d, &again, &err);
	fuzz_assert(r == 0, "cannot write it again: %s\n%s", err.text, xml);
	fuzz_assert(strcmp(xml, again) == 0, "formatting is not stable\n%s\n---\n%s", xml,
		    again);
}

/* @d and @xml, the full form it was written as, are the same machine to a guest. */
static void expect_same_abi(const struct qm_domain *d, const char *xml)
{
	_cleanup_domain_ struct qm_domain *again = NULL;
	struct qm_error err = { 0 };

	fuzz_assert(qm_domain_parse(xml, strlen(xml), &again, &err) == 0, "%s", err.text);
	fuzz_assert(qm_domain_abi_check(d, again, &err) == 0, "%s\n%s", err.text, xml);
	fuzz_assert(qm_domain_abi_check(again, d, &err) == 0, "%s\n%s", err.text, xml);
}

/* Every rule but the disk map, which needs the disks' own paths. */
static void rewrite(struct qm_domain *d)
{
	static const struct qm_domain_rewrite opts = {
		.graphics_listen = "0.0.0.0",
		.chr_dir = "/run/qmigrate/fuzz",
		.chr_listen = "::",
		.vnc_cut = true,
	};
	_cleanup_free_ char *full = NULL, *mig = NULL;
	struct qm_error err = { 0 };
	int r;

	r = qm_domain_rewrite(d, &opts, &err);
	fuzz_assert(r >= 0, "a description read cannot be rewritten: %s", err.text);
	r = qm_domain_format(d, &full, &err);
	if (r == -E2BIG)
		return;
	fuzz_assert(r == 0, "rewritten but not writable: %s", err.text);
	fuzz_assert(qm_domain_migratable_format(d, &mig, &err) == 0, "%s", err.text);
	fuzz_assert(!wrote_secret(mig), "%s", mig);
	expect_stable(full, qm_domain_format);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_domain_ struct qm_domain *d = NULL;
	_cleanup_free_ char *full = NULL, *mig = NULL;
	struct qm_error err = { 0 };
	int r;

	r = qm_domain_parse((const char *)data, size, &d, &err);
	if (r < 0) {
		fuzz_assert(r == err.code && err.error_class[0] && err.text[0] && !d,
			    "%d %s", r, err.text);
		return 0;
	}

	r = qm_domain_format(d, &full, &err);
	if (r == -E2BIG)
		return 0;
	fuzz_assert(r == 0, "description read but not writable: %s", err.text);
	/* The migratable form is the full one less some of it: it fits too. */
	r = qm_domain_migratable_format(d, &mig, &err);
	fuzz_assert(r == 0, "no migratable form: %s", err.text);
	fuzz_assert(strlen(mig) <= strlen(full), "the migratable form grew");
	fuzz_assert(!wrote_secret(mig), "%s", mig);

	expect_stable(full, qm_domain_format);
	expect_stable(mig, qm_domain_migratable_format);
	expect_stable(mig, qm_domain_format);
	expect_same_abi(d, full);
	rewrite(d);
	return 0;
}
