/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The description itself: a libxml2 tree of what was collected, written
 * and read back with qm_domain_parse(), so that it is checked by the same
 * rules as a description a user writes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "xml/describe-internal.h"
#include "xml/domain-internal.h"
#include "xml/text.h"

#define MIB (1024 * 1024)

struct xb {
	struct qm_describe *ds;
	xmlNs *qemu;
	bool failed;
	const char *unwritable; /* the first value XML cannot carry as it is */
};

/*
 * A value from the command line that XML cannot carry (not UTF-8, a control
 * character) would be escaped or dropped on the way out, and the
 * description would start QEMU with another argument: refused instead.
 */
static bool writable(struct xb *x, const char *value)
{
	if (qm_text_xml_ok(value))
		return true;
	if (!x->unwritable)
		x->unwritable = value;
	return false;
}

static xmlNode *child(struct xb *x, xmlNode *parent, const char *name, const char *text)
{
	xmlNode *n;

	if (text && !writable(x, text))
		text = "";
	n = text ? xmlNewTextChild(parent, NULL, BAD_CAST name, BAD_CAST text)
		 : xmlNewChild(parent, NULL, BAD_CAST name, NULL);
	x->failed |= !n;
	return n;
}

static void attr(struct xb *x, xmlNode *n, const char *name, const char *value)
{
	if (n && value && writable(x, value))
		x->failed |= !xmlNewProp(n, BAD_CAST name, BAD_CAST value);
}

static void attrf(struct xb *x, xmlNode *n, const char *name, const char *fmt, ...)
	_printf_(4, 5);

static void attrf(struct xb *x, xmlNode *n, const char *name, const char *fmt, ...)
{
	char buf[64];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	attr(x, n, name, buf);
}

static void identity(struct xb *x, xmlNode *root)
{
	const struct qm_describe_facts *f = x->ds->f;
	char name[32], buf[32];
	xmlNode *n;

	snprintf(name, sizeof(name), "qemu-%ld", (long)f->pid);
	child(x, root, "name", f->name ? f->name : name);
	child(x, root, "uuid", f->uuid);
	/* QEMU rounds memory to pages: a whole number of KiB. */
	if (f->memory % MIB == 0) {
		snprintf(buf, sizeof(buf), "%" PRIu64, f->memory / MIB);
		n = child(x, root, "memory", buf);
		attr(x, n, "unit", "MiB");
	} else {
		snprintf(buf, sizeof(buf), "%" PRIu64, (f->memory + 1023) / 1024);
		n = child(x, root, "memory", buf);
		attr(x, n, "unit", "KiB");
	}
}

static void cpus(struct xb *x, xmlNode *root)
{
	struct qm_describe *ds = x->ds;
	unsigned current = ds->f->vcpus ? ds->f->vcpus : 1;
	unsigned max = ds->smp_max > current ? ds->smp_max : current;
	char buf[16];
	xmlNode *n;

	snprintf(buf, sizeof(buf), "%u", max);
	n = child(x, root, "vcpu", buf);
	if (current < max)
		attrf(x, n, "current", "%u", current);
}

static void machine(struct xb *x, xmlNode *root)
{
	struct qm_describe *ds = x->ds;
	xmlNode *os = child(x, root, "os", NULL), *n;

	n = os ? child(x, os, "type", "hvm") : NULL;
	attr(x, n, "arch", ds->f->arch);
	attr(x, n, "machine", ds->f->machine);
	/* The builder reads a missing <acpi/> as acpi=off, as libvirt does. */
	if (ds->f->acpi > 0) {
		n = child(x, root, "features", NULL);
		if (n)
			child(x, n, "acpi", NULL);
	}
	if (ds->cpu_mode == QM_DOMAIN_CPU_NONE)
		return;
	n = child(x, root, "cpu", NULL);
	attr(x, n, "mode", qm_domain_cpu_mode_names[ds->cpu_mode]);
	if (n && ds->cpu_model)
		child(x, n, "model", ds->cpu_model);
}

static void serial(struct xb *x, xmlNode *devices, const struct qm_dserial *s)
{
	xmlNode *n = child(x, devices, "serial", NULL), *src;

	attr(x, n, "type", qm_domain_chr_type_names[s->type]);
	if (!n)
		return;
	if (s->type != QM_DOMAIN_CHR_PTY) {
		src = child(x, n, "source", NULL);
		if (s->type != QM_DOMAIN_CHR_FILE)
			attr(x, src, "mode", s->bind ? "bind" : "connect");
		attr(x, src, "path", s->path);
		attr(x, src, "host", s->host);
		attr(x, src, "service", s->service);
	}
	if (s->telnet)
		attr(x, child(x, n, "protocol", NULL), "type", "telnet");
	attrf(x, child(x, n, "target", NULL), "port", "%u", s->index);
}

static void graphics(struct xb *x, xmlNode *devices, const char *type,
		     const struct qm_describe_display *d, const char *listen,
		     bool autoport)
{
	xmlNode *n = child(x, devices, "graphics", NULL);

	attr(x, n, "type", type);
	if (d->port > 0)
		attrf(x, n, "port", "%d", d->port);
	else
		attr(x, n, "port", "-1");
	attr(x, n, "autoport", autoport ? "yes" : "no");
	if (listen) {
		attr(x, n, "listen", listen);
		n = n ? child(x, n, "listen", NULL) : NULL;
		attr(x, n, "type", "address");
		attr(x, n, "address", listen);
	}
}

static void devices(struct xb *x, xmlNode *root)
{
	struct qm_describe *ds = x->ds;
	xmlNode *n = child(x, root, "devices", NULL);

	if (!n)
		return;
	child(x, n, "emulator", ds->f->emulator);
	for (size_t i = 0; i < ds->n_serials; i++)
		serial(x, n, &ds->serials[i]);
	/* VNC takes a free display on the destination; SPICE cannot, and keeps its port.
	 */
	if (ds->vnc)
		graphics(x, n, "vnc", &ds->f->vnc, ds->vnc_listen, true);
	if (ds->spice)
		graphics(x, n, "spice", &ds->f->spice, ds->spice_listen, false);
}

static void passthrough(struct xb *x, xmlNode *root)
{
	struct qm_describe *ds = x->ds;
	xmlNode *cl;

	if (ds->n_pass == 0)
		return;
	x->qemu = xmlNewNs(root, BAD_CAST QM_DOMAIN_QEMU_NS, BAD_CAST "qemu");
	cl = x->qemu ? xmlNewChild(root, x->qemu, BAD_CAST "commandline", NULL) : NULL;
	x->failed |= !cl;
	for (size_t i = 0; cl && i < ds->n_pass; i++) {
		xmlNode *arg = xmlNewChild(cl, x->qemu, BAD_CAST "arg", NULL);

		x->failed |= !arg;
		attr(x, arg, "value", ds->pass[i]);
	}
}

int qm_ds_build(struct qm_describe *ds, struct qm_domain **out)
{
	_cleanup_(doc_freep) xmlDocPtr doc = xmlNewDoc(BAD_CAST "1.0");
	xmlNode *root = doc ? xmlNewNode(NULL, BAD_CAST "domain") : NULL;
	struct xb x = { .ds = ds };
	xmlBuffer *buf;
	int r;

	if (!root) {
		qm_ds_nomem(ds);
		return ds->r;
	}
	xmlDocSetRootElement(doc, root);
	passthrough(&x, root); /* first: the namespace goes on the root */
	attr(&x, root, "type", ds->f->kvm ? "kvm" : "qemu");
	identity(&x, root);
	cpus(&x, root);
	machine(&x, root);
	devices(&x, root);
	/* The passthrough comes last, as libvirt writes it. */
	if (x.qemu) {
		for (xmlNode *n = root->children; n; n = n->next) {
			if (n->ns == x.qemu) {
				xmlUnlinkNode(n);
				xmlAddChild(root, n);
				break;
			}
		}
	}
	if (x.unwritable && !x.failed) {
		char shown[128];

		qm_ds_refuse(ds,
			     "the command line holds a value that XML cannot carry as it is "
			     "(not UTF-8, or a control character): '%s'",
			     qm_text_printable(x.unwritable, shown, sizeof(shown)));
		return ds->r;
	}
	buf = x.failed ? NULL : xmlBufferCreate();
	if (!buf || xmlNodeDump(buf, doc, root, 0, 0) < 0) {
		xmlBufferFree(buf);
		qm_ds_nomem(ds);
		return ds->r;
	}
	r = qm_domain_parse((const char *)xmlBufferContent(buf),
			    (size_t)xmlBufferLength(buf), out, ds->err);
	xmlBufferFree(buf);
	return r;
}
