/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Untrusted bytes to an XML tree, safely: the first half of reading a cookie. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>

#include "util/error.h"
#include "xml/cookie-internal.h"

/*
 * No network, no entity substitution, no DTD loading, defaulting or
 * validation, nothing printed; the encoding is UTF-8 whatever the document
 * claims, so no converter ever runs.  Huge-text limits stay on.
 */
#define PARSE_OPTIONS                                                                    \
	(XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA | \
	 XML_PARSE_IGNORE_ENC)

/* What the parser's callbacks saw; hung on ctxt->_private. */
struct read_state {
	bool dtd;
	bool failed;
	int line;
	char message[200];
};

static struct read_state *state_of(void *ctx)
{
	return ((xmlParserCtxtPtr)ctx)->_private;
}

/*
 * A <!DOCTYPE> of any kind ends the parse before its internal subset is
 * read, so no entity is ever declared, let alone expanded or fetched.
 */
static void on_doctype(void *ctx, const xmlChar *name, const xmlChar *public_id,
		       const xmlChar *system_id)
{
	state_of(ctx)->dtd = true;
	xmlStopParser(ctx);
}

static void on_entity_decl(void *ctx, const xmlChar *name, int type,
			   const xmlChar *public_id, const xmlChar *system_id,
			   xmlChar *content)
{
	state_of(ctx)->dtd = true;
	xmlStopParser(ctx);
}

/* Structured errors of this parser context only: keeps the first error. */
static void on_error(void *ctx, xmlErrorPtr e)
{
	struct read_state *st = state_of(ctx);
	size_t n;

	if (e->level < XML_ERR_ERROR || st->failed)
		return;
	st->failed = true;
	st->line = e->line;
	snprintf(st->message, sizeof(st->message), "%s",
		 e->message ? e->message : "unknown error");
	/* libxml2's messages end in a newline and some hold more: keep one line. */
	n = strlen(st->message);
	while (n > 0 && st->message[n - 1] == '\n')
		st->message[--n] = '\0';
	for (char *p = st->message; *p; p++)
		if (*p == '\n')
			*p = ' ';
}

static void parser_freep(xmlParserCtxtPtr *p)
{
	xmlFreeParserCtxt(*p);
}

int qm_cookie_read_xml(const char *xml, size_t len, xmlDocPtr *out, struct qm_error *err)
{
	_cleanup_(parser_freep) xmlParserCtxtPtr ctxt = NULL;
	_cleanup_(doc_freep) xmlDocPtr doc = NULL;
	struct read_state st = { 0 };

	if (len > QM_COOKIE_MAX)
		return qm_error_set(err, -E2BIG, "CookieTooLarge",
				    "cookie is %zu bytes, more than the %d accepted", len,
				    QM_COOKIE_MAX);
	if (len == 0)
		return qm_error_set(err, -EBADMSG, "CookieMalformed", "cookie is empty");

	ctxt = xmlNewParserCtxt();
	if (!ctxt || !ctxt->sax)
		return qm_error_set(err, -ENOMEM, "CookieMalformed", "out of memory");
	ctxt->_private = &st;
	ctxt->sax->internalSubset = on_doctype;
	ctxt->sax->externalSubset = on_doctype;
	ctxt->sax->entityDecl = on_entity_decl;
	ctxt->sax->serror = on_error;

	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, "UTF-8", PARSE_OPTIONS);
	if (st.dtd || (doc && (doc->intSubset || doc->extSubset)))
		return qm_error_set(err, -EBADMSG, "CookieUnsafe",
				    "cookie has a document type declaration: "
				    "a cookie may not carry a DTD or declare "
				    "entities");
	if (!doc || st.failed)
		return qm_error_set(err, -EBADMSG, "CookieMalformed",
				    "cookie is not well-formed XML (line %d): %s",
				    st.line, st.failed ? st.message : "unknown error");
	*out = steal_pointer(&doc);
	return 0;
}
