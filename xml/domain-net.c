/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <interface>: user networking or a tap device, with its MAC address and model. */
#include <ctype.h>
#include <string.h>

#include "xml/domain-internal.h"
#include "xml/text.h"

/* A tap device's name must fit IFNAMSIZ (16) with its NUL. */
static const struct qm_dom_text tap_text = { .rule = QM_DOM_TOKEN,
					     .max = 15,
					     .required = true };
static const struct qm_dom_text model_text = { .rule = QM_DOM_TOKEN,
					       .max = 63,
					       .required = true };

/* Exactly six pairs of hex digits separated by ':'. */
static bool mac_is_valid(const char *s)
{
	if (strlen(s) != 17)
		return false;
	for (int i = 0; i < 17; i++) {
		if (i % 3 == 2 ? s[i] != ':' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return true;
}

static int parse_mac(xmlNode *n, struct qm_domain_net *net, struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *v = NULL;
	xmlNode *mac;
	char shown[40];
	int r;

	r = qm_dom_child(n, "mac", &mac, err);
	if (r < 0 || !mac)
		return r;
	v = xmlGetNoNsProp(mac, BAD_CAST "address");
	if (!v)
		return qm_dom_invalid(mac, err, "has no address attribute");
	if (!mac_is_valid((const char *)v))
		return qm_dom_invalid(
			mac, err,
			"address='%s' is not a MAC address "
			"(six pairs of hex digits separated by ':')",
			qm_text_printable((const char *)v, shown, sizeof(shown)));
	for (int i = 0; i < 17; i++)
		net->mac[i] = (char)tolower((unsigned char)v[i]);
	net->mac[17] = '\0';
	/* The lowest bit of the first octet marks a group address; libvirt refuses it
	 * too. */
	if (strtoul(net->mac, NULL, 16) & 1)
		return qm_dom_invalid(mac, err,
				      "address='%s' is a multicast address, "
				      "not one a network card may have",
				      net->mac);
	return 0;
}

static int parse_model(xmlNode *n, struct qm_domain_net *net, struct qm_error *err)
{
	xmlNode *model;
	int r;

	r = qm_dom_child(n, "model", &model, err);
	if (r == 0 && model)
		r = qm_dom_string(model, "type", &model_text, &net->model, err);
	return r;
}

/* Type ethernet needs the tap's name: qmigrate opens an existing tap, it makes none. */
static int parse_target(xmlNode *n, struct qm_domain_net *net, struct qm_error *err)
{
	xmlNode *target;
	int r;

	if (net->type != QM_DOMAIN_NET_ETHERNET)
		return 0;
	r = qm_dom_child(n, "target", &target, err);
	if (r < 0)
		return r;
	if (!target)
		return qm_dom_invalid(n, err,
				      "type='ethernet' has no <target dev=...> "
				      "naming its tap device");
	return qm_dom_string(target, "dev", &tap_text, &net->tap, err);
}

int qm_dom_parse_net(xmlNode *n, struct qm_domain_net *net, struct qm_error *err)
{
	int r, type;

	net->node = n;
	r = qm_dom_enum(n, "type", qm_domain_net_type_names,
			ARRAY_SIZE(qm_domain_net_type_names), -1, &type, err);
	if (r < 0)
		return r;
	net->type = (enum qm_domain_net_type)type;
	r = parse_mac(n, net, err);
	if (r == 0)
		r = parse_model(n, net, err);
	if (r == 0)
		r = parse_target(n, net, err);
	if (r == 0)
		r = qm_dom_parse_address(n, &net->address, err);
	return r;
}
