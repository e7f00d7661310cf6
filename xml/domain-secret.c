/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What a domain description must not let leave the host, in one place:
 * every attribute named passwd (libvirt's graphics password; anywhere, so
 * that a password in an element qmigrate does not know is caught too) and
 * every element marked secret="yes", with all it holds.  libvirt's own
 * <secret> element is not one: it names a secret kept elsewhere by uuid or
 * usage, and the destination needs the name to find its own copy.
 */
#include <stdbool.h>

#include "xml/domain-internal.h"

#define SECRET "secret"
#define PASSWD "passwd"

static bool is_secret_element(xmlNode *n)
{
	_cleanup_xmlfree_ xmlChar *v = xmlGetNoNsProp(n, BAD_CAST SECRET);

	return xmlStrEqual(v, BAD_CAST "yes");
}

static bool is_secret_attr(const xmlAttr *a)
{
	return !a->ns && xmlStrEqual(a->name, BAD_CAST PASSWD);
}

/* Also refuses a secret root: the migratable form would be empty. */
int qm_dom_check_secrets(xmlNode *n, struct qm_error *err)
{
	int r, count = 0;

	for (; n; n = n->next) {
		_cleanup_xmlfree_ xmlChar *v = NULL;

		if (n->type != XML_ELEMENT_NODE)
			continue;
		v = xmlGetNoNsProp(n, BAD_CAST SECRET);
		if (v && !xmlStrEqual(v, BAD_CAST "yes") &&
		    !xmlStrEqual(v, BAD_CAST "no"))
			return qm_dom_invalid(n, err,
					      "secret='%.16s' is neither yes nor no: "
					      "a secret must be marked secret='yes'",
					      (const char *)v);
		if (v && !n->parent->parent && xmlStrEqual(v, BAD_CAST "yes"))
			return qm_dom_invalid(n, err,
					      "the root element cannot be secret");
		count += v && xmlStrEqual(v, BAD_CAST "yes");
		r = qm_dom_check_secrets(n->children, err);
		if (r < 0)
			return r;
		count += r;
	}
	return count;
}

void qm_dom_strip_secrets(xmlNode *n)
{
	xmlNode *next;
	xmlAttr *a, *next_attr;

	for (; n; n = next) {
		next = n->next;
		if (n->type != XML_ELEMENT_NODE)
			continue;
		if (is_secret_element(n)) {
			xmlUnlinkNode(n);
			xmlFreeNode(n);
			continue;
		}
		for (a = n->properties; a; a = next_attr) {
			next_attr = a->next;
			if (is_secret_attr(a))
				xmlRemoveProp(a);
		}
		qm_dom_strip_secrets(n->children);
	}
}
