/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <serial> and <console>: a character device on a pty, a file, a unix or a tcp socket. */
#include <string.h>

#include "xml/domain-internal.h"

static const struct qm_dom_text path_text = { .rule = QM_DOM_PATH,
					      .max = QM_DOMAIN_MAX_PATH,
					      .required = true };
static const struct qm_dom_text host_text = { .rule = QM_DOM_NOSPACE,
					      .max = QM_DOMAIN_MAX_STRING,
					      .required = true };
static const struct qm_dom_text target_type_text = { .rule = QM_DOM_TOKEN, .max = 31 };
static const char *const protocols[] = { "raw", "telnet" };

/*
 * A tcp service is a port number: QEMU takes no service names.  0 is a
 * port only to listen on: QEMU then binds a free one (query-chardev tells
 * which), as the destination rewrite asks so that two guests on one host
 * never want the same port.
 */
static int parse_service(xmlNode *source, struct qm_domain_chr *chr, struct qm_error *err)
{
	static const struct qm_dom_text service_text = { .rule = QM_DOM_TOKEN,
							 .max = 5,
							 .required = true };
	uint64_t port = 0;
	int r;

	r = qm_dom_number(source, "service", 65535, false, &port, err);
	if (r >= 0)
		r = qm_dom_string(source, "service", &service_text, &chr->service, err);
	if (r < 0)
		return r;
	if (port == 0 && chr->mode != QM_DOMAIN_CHR_BIND)
		return qm_dom_invalid(
			source, err,
			"service='0' is not a port to connect to: only a "
			"listening socket (mode='bind') may let QEMU pick one");
	return 0;
}

static int parse_source(xmlNode *n, struct qm_domain_chr *chr, struct qm_error *err)
{
	xmlNode *source;
	int r, mode = QM_DOMAIN_CHR_CONNECT;

	if (chr->type == QM_DOMAIN_CHR_PTY)
		return 0;
	r = qm_dom_child(n, "source", &source, err);
	if (r < 0)
		return r;
	if (!source)
		return qm_dom_invalid(n, err, "type='%s' has no <source>",
				      qm_domain_chr_type_names[chr->type]);
	if (chr->type != QM_DOMAIN_CHR_FILE)
		r = qm_dom_enum(source, "mode", qm_domain_chr_mode_names,
				ARRAY_SIZE(qm_domain_chr_mode_names), mode, &mode, err);
	chr->mode = (enum qm_domain_chr_mode)mode;
	if (r == 0 &&
	    (chr->type == QM_DOMAIN_CHR_FILE || chr->type == QM_DOMAIN_CHR_UNIX))
		r = qm_dom_string(source, "path", &path_text, &chr->path, err);
	if (r == 0 && chr->type == QM_DOMAIN_CHR_TCP)
		r = qm_dom_string(source, "host", &host_text, &chr->host, err);
	if (r == 0 && chr->type == QM_DOMAIN_CHR_TCP)
		r = parse_service(source, chr, err);
	return r;
}

static int parse_protocol(xmlNode *n, struct qm_domain_chr *chr, struct qm_error *err)
{
	xmlNode *protocol;
	int r, telnet = 0;

	if (chr->type != QM_DOMAIN_CHR_TCP)
		return 0;
	r = qm_dom_child(n, "protocol", &protocol, err);
	if (r == 0 && protocol)
		r = qm_dom_enum(protocol, "type", protocols, ARRAY_SIZE(protocols), 0,
				&telnet, err);
	chr->telnet = telnet == 1;
	return r;
}

static int parse_target(xmlNode *n, struct qm_domain_chr *chr, struct qm_error *err)
{
	xmlNode *target;
	uint64_t port;
	int r;

	chr->target_port = -1;
	r = qm_dom_child(n, "target", &target, err);
	if (r < 0 || !target)
		return r;
	r = qm_dom_number(target, "port", 65535, false, &port, err);
	if (r > 0)
		chr->target_port = (int)port;
	if (r >= 0)
		r = qm_dom_string(target, "type", &target_type_text, &chr->target_type,
				  err);
	return r;
}

int qm_dom_parse_chr(xmlNode *n, struct qm_domain_chr *chr, struct qm_error *err)
{
	int r, type;

	chr->node = n;
	r = qm_dom_enum(n, "type", qm_domain_chr_type_names,
			ARRAY_SIZE(qm_domain_chr_type_names), -1, &type, err);
	if (r < 0)
		return r;
	chr->type = (enum qm_domain_chr_type)type;
	r = parse_source(n, chr, err);
	if (r == 0)
		r = parse_protocol(n, chr, err);
	if (r == 0)
		r = parse_target(n, chr, err);
	return r;
}

bool qm_dom_chr_serial_target(const char *type)
{
	return !type || strcmp(type, "serial") == 0 || strcmp(type, "isa-serial") == 0;
}

int qm_dom_console_serial(const struct qm_domain *d, const struct qm_domain_chr *c)
{
	int port = c->target_port >= 0 ? c->target_port : 0;

	if (!qm_dom_chr_serial_target(c->target_type))
		return -1;
	for (size_t i = 0; i < d->n_serials; i++) {
		int p = d->serials[i].target_port >= 0 ? d->serials[i].target_port
						       : (int)i;

		if (p == port)
			return (int)i;
	}
	return -1;
}
