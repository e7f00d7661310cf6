/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading untrusted XML into a libxml2 tree: shared by the cookie and the
 * domain description, and the cleanup helpers for libxml2's objects.
 */
#ifndef QM_XML_READ_H
#define QM_XML_READ_H

#include <stddef.h>

#include <libxml/tree.h>
#include <libxml/xmlmemory.h>
#include <libxml/xmlstring.h>

#include "qmigrate.h"
#include "util/macros.h"

/* What is being read: names it in messages and error classes, and bounds it. */
struct qm_xml_source {
	const char *what;   /* "cookie": how every message names the document */
	const char *prefix; /* "Cookie": the classes are CookieTooLarge, and so on */
	size_t max;	    /* at most this many bytes */
};

/*
 * Reads @len bytes of untrusted XML into a tree in *@out (xmlFreeDoc it):
 * at most @src->max bytes, UTF-8 whatever the document declares, no DTD or
 * entity declaration at all, nothing fetched, nothing printed.  Fails with
 * class PREFIX + TooLarge (checked before a byte is looked at), Unsafe (a
 * DTD or entity declaration) or Malformed (not well-formed XML, empty, not
 * UTF-8).
 */
int qm_xml_read(const struct qm_xml_source *src, const char *xml, size_t len,
		xmlDocPtr *out, struct qm_error *err) _must_check_;

static inline void doc_freep(xmlDocPtr *d)
{
	xmlFreeDoc(*d);
}

static inline void xml_freep(xmlChar **p)
{
	xmlFree(*p);
}
#define _cleanup_xmlfree_ _cleanup_(xml_freep)

#endif
