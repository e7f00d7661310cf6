/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Writing a domain description: the tree as it was read, in libxml2's
 * indented layout (reading dropped the input's own layout), without an XML
 * declaration, as libvirt writes it.  The migratable form is a copy of the
 * tree with its secrets cut out.
 */
#include <errno.h>
#include <string.h>

#include <libxml/xmlsave.h>

#include "util/error.h"
#include "xml/domain-internal.h"

static void buffer_freep(xmlBufferPtr *b)
{
	xmlBufferFree(*b);
}

static int dump(xmlDocPtr doc, char **out, struct qm_error *err)
{
	_cleanup_(buffer_freep) xmlBufferPtr buf = xmlBufferCreate();
	xmlSaveCtxtPtr save;
	size_t len;
	long r;

	*out = NULL;
	save = buf ? xmlSaveToBuffer(buf, "UTF-8", XML_SAVE_FORMAT | XML_SAVE_NO_DECL)
		   : NULL;
	if (!save)
		return qm_error_set(err, -ENOMEM, "DomainFormat", "out of memory");
	r = xmlSaveDoc(save, doc);
	/* Closing flushes into buf and reports any error of the whole save. */
	if (xmlSaveClose(save) < 0 || r < 0)
		return qm_error_set(err, -ENOMEM, "DomainFormat",
				    "cannot write the domain XML");
	len = (size_t)xmlBufferLength(buf);
	if (len > QM_DOMAIN_MAX)
		return qm_error_set(err, -E2BIG, "DomainTooLarge",
				    "the domain XML would be %zu bytes, more than the %d "
				    "a reader accepts",
				    len, QM_DOMAIN_MAX);
	*out = strndup((const char *)xmlBufferContent(buf), len);
	if (!*out)
		return qm_error_set(err, -ENOMEM, "DomainFormat", "out of memory");
	return 0;
}

int qm_domain_format(const struct qm_domain *d, char **out, struct qm_error *err)
{
	return dump(d->doc, out, err);
}

int qm_domain_migratable_format(const struct qm_domain *d, char **out,
				struct qm_error *err)
{
	_cleanup_(doc_freep) xmlDocPtr copy = xmlCopyDoc(d->doc, 1);

	*out = NULL;
	if (!copy)
		return qm_error_set(err, -ENOMEM, "DomainFormat", "out of memory");
	qm_dom_strip_secrets(xmlDocGetRootElement(copy));
	return dump(copy, out, err);
}
