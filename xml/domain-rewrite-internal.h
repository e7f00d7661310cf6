/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the files of the destination rewrite: each rule edits a working
 * copy of the description (its tree, found through its view), so that a
 * failure leaves the caller's description as it was.
 */
#ifndef QM_XML_DOMAIN_REWRITE_INTERNAL_H
#define QM_XML_DOMAIN_REWRITE_INTERNAL_H

#include <libxml/tree.h>

#include "xml/domain-internal.h"
#include "xml/domain-rewrite.h"

/* Fails with class DomainRewrite and -EINVAL. */
int qm_rw_fail(struct qm_error *err, const char *fmt, ...) _printf_(2, 3);

/* Sets the attribute @attr (no namespace) of @n to @value, as text. */
int qm_rw_set(xmlNode *n, const char *attr, const char *value,
	      struct qm_error *err) _must_check_;

/*
 * A value given to the rewrite, checked as the reader checks what it reads
 * (the rewritten description is read again): 1..@max bytes of UTF-8
 * without control characters, and without spaces when @nospace, absolute
 * when @path.  @what names it in the message, @cls is the error's class.
 */
struct qm_rw_value {
	const char *what, *cls;
	size_t max;
	bool nospace, path;
};
int qm_rw_check(const struct qm_rw_value *how, const char *s,
		struct qm_error *err) _must_check_;

/* The rules, each over the working copy @d. */
int qm_rw_disks(struct qm_domain *d, const struct qm_domain_rewrite *o,
		struct qm_error *err) _must_check_;
int qm_rw_chrs(struct qm_domain *d, const struct qm_domain_rewrite *o,
	       struct qm_error *err) _must_check_;

#endif
