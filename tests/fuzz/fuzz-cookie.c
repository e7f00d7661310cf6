/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for the cookie reader.  Besides not crashing, a cookie
 * that is accepted must be writable (unless too large once written),
 * must carry no password, and must read back as the same cookie.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml/cookie-internal.h"
#include "xml/cookie.h"
#include "tests/fuzz/fuzz.h"

static const struct qm_cookie_check check = {
	.name = "vm1",
	.uuid = "c7a5fdbd-edaf-9455-926a-d65c16db1809",
	.local_host_uuid = "00000000-0000-0000-0000-000000000000",
};

/* True when some element of the tree under @n has an attribute named passwd. */
static bool has_passwd(const xmlNode *n)
{
	for (; n; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		for (const xmlAttr *a = n->properties; a; a = a->next)
			if (xmlStrEqual(a->name, BAD_CAST "passwd"))
				return true;
		if (has_passwd(n->children))
			return true;
	}
	return false;
}

/* Looks for a password in what the writer wrote by reading it as XML, not as text. */
static bool wrote_passwd(const char *xml)
{
	_cleanup_(doc_freep) xmlDocPtr doc = NULL;
	struct qm_error err = { 0 };

	fuzz_assert(qm_cookie_read_xml(xml, strlen(xml), &doc, &err) == 0, "%s",
		    err.text);
	return has_passwd(xmlDocGetRootElement(doc));
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *xml = NULL;
	struct qm_cookie c, again;
	struct qm_error err = { 0 };
	int r;

	/* The checks only run after a successful parse: exercise them too. */
	r = qm_cookie_parse((const char *)data, size, &check, &c, &err);
	fuzz_assert(r == err.code, "%d vs %d", r, err.code);
	qm_error_clear(&err);
	r = qm_cookie_parse((const char *)data, size, NULL, &c, &err);
	if (r < 0) {
		fuzz_assert(r == err.code && err.error_class[0] && err.text[0], "%d %s",
			    r, err.text);
		return 0;
	}

	r = qm_cookie_format(&c, &xml, &err);
	if (r == -E2BIG)
		return 0;
	fuzz_assert(r == 0, "accepted cookie not writable: %s", err.text);
	fuzz_assert(!wrote_passwd(xml), "%s", xml);
	r = qm_cookie_parse(xml, strlen(xml), NULL, &again, &err);
	fuzz_assert(r == 0, "written cookie not readable: %s\n%s", err.text, xml);
	fuzz_assert(memcmp(&c, &again, sizeof(c)) == 0,
		    "round trip changed the cookie\n%s", xml);
	return 0;
}
