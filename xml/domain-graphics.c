/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <graphics>: a VNC or SPICE display, where it listens and its password. */
#include <string.h>

#include "xml/domain-internal.h"

static const struct qm_dom_text listen_text = { .rule = QM_DOM_NOSPACE,
						.max = QM_DOMAIN_MAX_STRING,
						.required = true };
static const struct qm_dom_text address_text = { .rule = QM_DOM_NOSPACE,
						 .max = QM_DOMAIN_MAX_STRING };
/* Secret: no message shows it. */
static const struct qm_dom_text passwd_text = {
	.rule = QM_DOM_PLAIN,
	.max = QM_DOMAIN_MAX_STRING,
	.secret = true,
};
static const char *const yes_no[] = { "no", "yes" };

/*
 * A port attribute: -1 (libvirt's "none yet") or @min..65535.  VNC's lowest
 * is 5900 because QEMU takes a display number, the port less 5900.
 */
static int parse_port(xmlNode *n, const char *attr, uint64_t min, int *port,
		      struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *v = xmlGetNoNsProp(n, BAD_CAST attr);
	uint64_t u;
	int r;

	*port = -1;
	if (!v || xmlStrEqual(v, BAD_CAST "-1"))
		return 0;
	r = qm_dom_number(n, attr, 65535, false, &u, err);
	if (r < 0)
		return r;
	if (u < min)
		return qm_dom_invalid(n, err, "%s='%llu' is below %llu", attr,
				      (unsigned long long)u, (unsigned long long)min);
	*port = (int)u;
	return 0;
}

/*
 * listen= and <listen type="address" address=...>: libvirt writes both,
 * and they must agree.  Other listen types need what qmigrate cannot set up.
 */
static int parse_listen(xmlNode *n, struct qm_domain_graphics *g, struct qm_error *err)
{
	_cleanup_free_ char *address = NULL;
	_cleanup_xmlfree_ xmlChar *type = NULL;
	xmlNode *listen;
	int r;

	r = qm_dom_child(n, "listen", &listen, err);
	if (r == 0 && xmlHasProp(n, BAD_CAST "listen"))
		r = qm_dom_string(n, "listen", &listen_text, &g->listen, err);
	if (r < 0 || !listen)
		return r;
	type = xmlGetNoNsProp(listen, BAD_CAST "type");
	if (!type || !xmlStrEqual(type, BAD_CAST "address"))
		return qm_dom_invalid(listen, err,
				      "type='%.32s' is not supported: only address",
				      type ? (const char *)type : "");
	/* Without an address it says "the default", as no listen at all does. */
	r = qm_dom_string(listen, "address", &address_text, &address, err);
	if (r < 0 || !address)
		return r;
	if (g->listen && strcmp(g->listen, address) != 0)
		return qm_dom_invalid(
			listen, err,
			"address='%s' differs from the listen='%s' of <graphics>",
			address, g->listen);
	if (!g->listen)
		g->listen = steal_pointer(&address);
	return 0;
}

/*
 * A live description says autoport="yes" with the port it got; without
 * autoport, a missing or -1 port means the same.
 */
static int parse_ports(xmlNode *n, struct qm_domain_graphics *g, struct qm_error *err)
{
	bool vnc = g->type == QM_DOMAIN_GRAPHICS_VNC;
	int r, autoport = 0;

	r = parse_port(n, "port", vnc ? 5900 : 1, &g->port, err);
	if (r == 0 && !vnc)
		r = parse_port(n, "tlsPort", 1, &g->tls_port, err);
	if (r == 0)
		r = qm_dom_enum(n, "autoport", yes_no, ARRAY_SIZE(yes_no), g->port < 0,
				&autoport, err);
	g->autoport = autoport == 1;
	return r;
}

int qm_dom_parse_graphics(xmlNode *n, struct qm_domain_graphics *g, struct qm_error *err)
{
	int r, type;

	g->node = n;
	g->tls_port = -1;
	r = qm_dom_enum(n, "type", qm_domain_graphics_type_names,
			ARRAY_SIZE(qm_domain_graphics_type_names), -1, &type, err);
	if (r < 0)
		return r;
	g->type = (enum qm_domain_graphics_type)type;
	r = parse_ports(n, g, err);
	if (r == 0)
		r = parse_listen(n, g, err);
	if (r == 0)
		r = qm_dom_string(n, "passwd", &passwd_text, &g->passwd, err);
	return r;
}
