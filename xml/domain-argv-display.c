/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The display: the video adapter, VNC and SPICE, and the memory balloon.
 * No password ever goes on the command line (CVE-2015-3252): a display
 * with one starts locked (VNC password=on, SPICE with ticketing) until the
 * caller sets it over QMP with set_password; a display without one is open.
 */
#include <errno.h>
#include <string.h>

#include "xml/domain-argv-internal.h"

/* Where a display listens when the description does not say: this host only. */
#define DEFAULT_LISTEN "127.0.0.1"
#define VNC_BASE 5900 /* QEMU takes a display number; port = 5900 + display */
#define VNC_AUTO_LAST 99 /* autoport: QEMU takes the first free display up to this */

static const struct {
	const char *model, *device;
} video_models[] = {
	{ "vga", "VGA" },	     { "cirrus", "cirrus-vga" }, { "virtio", "virtio-vga" },
	{ "qxl", "qxl-vga" },	     { "bochs", "bochs-display" }, { "none", NULL },
};

static xmlNode *devices_child(const struct qm_domain *d, const char *name, size_t *count)
{
	xmlNode *found = NULL;

	*count = 0;
	for (xmlNode *n = xmlDocGetRootElement(d->doc)->children; n; n = n->next) {
		if (!qm_dom_is(n, "devices"))
			continue;
		for (xmlNode *c = n->children; c; c = c->next) {
			if (!qm_dom_is(c, name))
				continue;
			if (!found)
				found = c;
			(*count)++;
		}
	}
	return found;
}

static void video(struct qm_argv_build *b, xmlNode *n)
{
	_cleanup_xmlfree_ xmlChar *type = NULL;
	struct qm_domain_address a;
	xmlNode *model;
	char *buf;
	size_t size;
	FILE *f;

	if (qm_dom_child(n, "model", &model, b->err) < 0 ||
	    qm_dom_parse_address(n, &a, b->err) < 0) {
		b->r = -EINVAL;
		return;
	}
	type = model ? xmlGetNoNsProp(model, BAD_CAST "type") : NULL;
	for (size_t i = 0; type && i < ARRAY_SIZE(video_models); i++) {
		if (!xmlStrEqual(type, BAD_CAST video_models[i].model))
			continue;
		if (!video_models[i].device)
			return;
		qm_ab_add(b, "-device");
		f = qm_ab_open(b, &buf, &size);
		if (!f)
			return;
		fprintf(f, "%s,id=video0", video_models[i].device);
		qm_ab_pci_addr(b, f, &a, n);
		qm_ab_close(b, f, &buf);
		return;
	}
	qm_ab_refuse(b, model ? model : n, "video model type='%s' is not supported",
		     type ? (const char *)type : "");
}

static void balloon(struct qm_argv_build *b, xmlNode *n)
{
	_cleanup_xmlfree_ xmlChar *model = xmlGetNoNsProp(n, BAD_CAST "model");
	struct qm_domain_address a;
	char *buf;
	size_t size;
	FILE *f;

	if (xmlStrEqual(model, BAD_CAST "none"))
		return;
	if (qm_dom_parse_address(n, &a, b->err) < 0) {
		b->r = -EINVAL;
		return;
	}
	qm_ab_add(b, "-device");
	f = qm_ab_open(b, &buf, &size);
	if (!f)
		return;
	fputs("virtio-balloon-pci,id=balloon0", f);
	qm_ab_pci_addr(b, f, &a, n);
	qm_ab_close(b, f, &buf);
}

void qm_ab_video(struct qm_argv_build *b)
{
	size_t count;
	xmlNode *n = devices_child(b->d, "video", &count);

	if (count > 1) {
		qm_ab_refuse(b, n, "only one <video> is supported");
		return;
	}
	if (n)
		video(b, n);
	n = devices_child(b->d, "memballoon", &count);
	if (count > 1)
		qm_ab_refuse(b, n, "only one <memballoon> is supported");
	else if (n)
		balloon(b, n);
}

/* An IPv6 address goes in brackets, as in a URL. */
static void listen_addr(FILE *f, const char *listen)
{
	bool v6 = strchr(listen, ':') != NULL;

	fputs(v6 ? "[" : "", f);
	qm_ab_esc(f, listen);
	fputs(v6 ? "]" : "", f);
}

static void vnc(struct qm_argv_build *b, const struct qm_domain_graphics *g)
{
	char *buf;
	size_t size;
	FILE *f;

	if (!g->autoport && g->port < VNC_BASE) {
		qm_ab_refuse(b, g->node, "a VNC display needs a port or autoport");
		return;
	}
	qm_ab_add(b, "-vnc");
	f = qm_ab_open(b, &buf, &size);
	if (!f)
		return;
	listen_addr(f, g->listen ? g->listen : DEFAULT_LISTEN);
	if (g->autoport)
		fprintf(f, ":0,to=%d", VNC_AUTO_LAST);
	else
		fprintf(f, ":%d", g->port - VNC_BASE);
	/* Locked until set_password: the password itself never goes here. */
	if (g->passwd || b->opts->locked[QM_DOMAIN_GRAPHICS_VNC])
		fputs(",password=on", f);
	qm_ab_close(b, f, &buf);
}

static void spice(struct qm_argv_build *b, const struct qm_domain_graphics *g)
{
	char *buf;
	size_t size;
	FILE *f;

	/* A live description says autoport with the ports it got: those ports are kept. */
	if (g->port <= 0 && g->tls_port <= 0) {
		qm_ab_refuse(b, g->node, "SPICE needs a port: QEMU cannot pick one");
		return;
	}
	if (g->tls_port > 0 && !b->opts->spice_x509_dir) {
		qm_ab_refuse(b, g->node,
			     "SPICE over TLS (tlsPort) needs the directory of its certificates "
			     "(--spice-x509-dir)");
		return;
	}
	qm_ab_add(b, "-spice");
	f = qm_ab_open(b, &buf, &size);
	if (!f)
		return;
	if (g->port > 0)
		fprintf(f, "port=%d,", g->port);
	if (g->tls_port > 0) {
		fprintf(f, "tls-port=%d,x509-dir=", g->tls_port);
		qm_ab_esc(f, b->opts->spice_x509_dir);
		fputc(',', f);
	}
	fputs("addr=", f);
	qm_ab_esc(f, g->listen ? g->listen : DEFAULT_LISTEN);
	/* With a password, ticketing stays on and nobody connects until set_password. */
	if (!g->passwd && !b->opts->locked[QM_DOMAIN_GRAPHICS_SPICE])
		fputs(",disable-ticketing=on", f);
	qm_ab_close(b, f, &buf);
}

void qm_ab_graphics(struct qm_argv_build *b)
{
	bool seen[2] = { false, false };

	for (size_t i = 0; i < b->d->n_graphics && b->r == 0; i++) {
		const struct qm_domain_graphics *g = &b->d->graphics[i];

		if (seen[g->type]) {
			qm_ab_refuse(b, g->node, "a second %s display is not supported",
				     qm_domain_graphics_type_names[g->type]);
			return;
		}
		seen[g->type] = true;
		if (g->type == QM_DOMAIN_GRAPHICS_VNC)
			vnc(b, g);
		else
			spice(b, g);
	}
}
