/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Untrusted bytes to an XML tree, safely: the first half of reading a cookie
 * or a domain description.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libxml/parser.h>

#include "util/error.h"
#include "xml/read.h"

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

/* Fails with class @src->prefix + @suffix, e.g. "CookieUnsafe". */
static _printf_(5, 6) int fail(const struct qm_xml_source *src, struct qm_error *err,
			       int code, const char *suffix, const char *fmt, ...)
{
	char cls[64], text[sizeof(err->text)];
	va_list ap;

	snprintf(cls, sizeof(cls), "%s%s", src->prefix, suffix);
	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return qm_error_set(err, code, cls, "%s", text);
}

int qm_xml_read(const struct qm_xml_source *src, const char *xml, size_t len,
		xmlDocPtr *out, struct qm_error *err)
{
	_cleanup_(parser_freep) xmlParserCtxtPtr ctxt = NULL;
	_cleanup_(doc_freep) xmlDocPtr doc = NULL;
	struct read_state st = { 0 };

	if (len > src->max)
		return fail(src, err, -E2BIG, "TooLarge",
			    "%s is %zu bytes, more than the %zu accepted", src->what, len,
			    src->max);
	if (len == 0)
		return fail(src, err, -EBADMSG, "Malformed", "%s is empty", src->what);

	ctxt = xmlNewParserCtxt();
	if (!ctxt || !ctxt->sax)
		return fail(src, err, -ENOMEM, "Malformed", "out of memory");
	ctxt->_private = &st;
	ctxt->sax->internalSubset = on_doctype;
	ctxt->sax->externalSubset = on_doctype;
	ctxt->sax->entityDecl = on_entity_decl;
	ctxt->sax->serror = on_error;

	doc = xmlCtxtReadMemory(ctxt, xml, (int)len, NULL, "UTF-8", PARSE_OPTIONS);
	if (st.dtd || (doc && (doc->intSubset || doc->extSubset)))
		return fail(src, err, -EBADMSG, "Unsafe",
			    "%s has a document type declaration: a %s may not carry a "
			    "DTD or declare entities",
			    src->what, src->what);
	if (!doc || st.failed)
		return fail(src, err, -EBADMSG, "Malformed",
			    "%s is not well-formed XML (line %d): %s", src->what, st.line,
			    st.failed ? st.message : "unknown error");
	*out = steal_pointer(&doc);
	return 0;
}
