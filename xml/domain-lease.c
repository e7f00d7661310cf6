/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <lease>: a lock lease the VM holds (docs/leases.md).  libvirt's element
 * also has <lockspace> and <key>, which name a lease in a lock manager's
 * terms; qmigrate's lease is a file and reads only <target path>, so any
 * other child is refused rather than silently not honoured.
 */
#include "xml/domain-internal.h"

/* A lease's path goes into the cookie: the bound is the cookie's. */
static const struct qm_dom_text path_text = { .rule = QM_DOM_PATH,
					      .max = QM_DOMAIN_MAX_LEASE_PATH,
					      .required = true };

int qm_dom_parse_lease(xmlNode *n, struct qm_domain_lease *lease, struct qm_error *err)
{
	xmlNode *target;
	int r;

	lease->node = n;
	for (xmlNode *c = n->children; c; c = c->next)
		if (c->type == XML_ELEMENT_NODE && !qm_dom_is(c, "target"))
			return qm_dom_invalid(c, err,
					      "is not supported: qmigrate reads only "
					      "<target path=...> of a <lease>");
	r = qm_dom_child(n, "target", &target, err);
	if (r < 0)
		return r;
	if (!target)
		return qm_dom_invalid(n, err,
				      "has no <target path=...> naming the lease file");
	return qm_dom_string(target, "path", &path_text, &lease->path, err);
}
