/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Network interfaces (a -netdev "hostnetN" and a -device "netN") and
 * character devices (a -chardev "charserialN" or "charconsoleN" and the
 * device the guest sees).
 */
#include <errno.h>
#include <string.h>

#include "xml/domain-argv-internal.h"

/* <model type=...> of an interface: the QEMU device. */
static const struct {
	const char *model, *device;
} net_models[] = {
	{ "virtio", "virtio-net-pci" }, { "e1000", "e1000" },
	{ "e1000e", "e1000e" },		{ "rtl8139", "rtl8139" },
	{ "vmxnet3", "vmxnet3" },
};

/* libvirt's model for an x86 interface without <model>: what such a guest has seen. */
#define NET_DEFAULT_MODEL "rtl8139"

static const char *net_device(const struct qm_domain_net *net)
{
	const char *model = net->model ? net->model : NET_DEFAULT_MODEL;

	for (size_t i = 0; i < ARRAY_SIZE(net_models); i++)
		if (strcmp(net_models[i].model, model) == 0)
			return net_models[i].device;
	return NULL;
}

static void net(struct qm_argv_build *b, const struct qm_domain_net *n, size_t i)
{
	const char *device = net_device(n);
	unsigned boot;
	char *buf;
	size_t size;
	FILE *f;

	if (!device) {
		qm_ab_refuse(b, n->node, "model type='%s' is not supported", n->model);
		return;
	}
	if (qm_ab_bootindex(b, n->node, "network", i == 0, &boot) < 0)
		return;
	qm_ab_add(b, "-netdev");
	if (n->type == QM_DOMAIN_NET_USER)
		qm_ab_addf(b, "user,id=hostnet%zu", i);
	else /* an existing tap the owner set up: no script runs */
		qm_ab_addf(b, "tap,id=hostnet%zu,ifname=%s,script=no,downscript=no", i,
			   n->tap);
	qm_ab_add(b, "-device");
	f = qm_ab_open(b, &buf, &size);
	if (!f)
		return;
	fprintf(f, "%s,netdev=hostnet%zu,id=net%zu", device, i, i);
	if (n->mac[0])
		fprintf(f, ",mac=%s", n->mac);
	qm_ab_pci_addr(b, f, &n->address, n->node);
	if (boot)
		fprintf(f, ",bootindex=%u", boot);
	qm_ab_close(b, f, &buf);
}

void qm_ab_nets(struct qm_argv_build *b)
{
	for (size_t i = 0; i < b->d->n_nets && b->r == 0; i++)
		net(b, &b->d->nets[i], i);
}

/* -chardev BACKEND,id=@id,...: the host side of a serial port or a console. */
static void chardev(struct qm_argv_build *b, const struct qm_domain_chr *c, const char *id)
{
	char *buf;
	size_t size;
	FILE *f;

	qm_ab_add(b, "-chardev");
	f = qm_ab_open(b, &buf, &size);
	if (!f)
		return;
	switch (c->type) {
	case QM_DOMAIN_CHR_PTY:
		fprintf(f, "pty,id=%s", id);
		break;
	case QM_DOMAIN_CHR_FILE:
		fprintf(f, "file,id=%s,path=", id);
		qm_ab_esc(f, c->path);
		break;
	case QM_DOMAIN_CHR_UNIX:
		fprintf(f, "socket,id=%s,path=", id);
		qm_ab_esc(f, c->path);
		break;
	case QM_DOMAIN_CHR_TCP:
		fprintf(f, "socket,id=%s,host=", id);
		qm_ab_esc(f, c->host);
		fputs(",port=", f);
		qm_ab_esc(f, c->service);
		if (c->telnet)
			fputs(",telnet=on", f);
		break;
	}
	/* A listening socket must not hold the guest back until someone connects. */
	if ((c->type == QM_DOMAIN_CHR_UNIX || c->type == QM_DOMAIN_CHR_TCP) &&
	    c->mode == QM_DOMAIN_CHR_BIND)
		fputs(",server=on,wait=off", f);
	qm_ab_close(b, f, &buf);
}

static void serial(struct qm_argv_build *b, const struct qm_domain_chr *c, size_t i)
{
	unsigned port = c->target_port >= 0 ? (unsigned)c->target_port : (unsigned)i;
	char id[32];

	if (!qm_dom_chr_serial_target(c->target_type)) {
		qm_ab_refuse(b, c->node, "target type='%s' is not supported", c->target_type);
		return;
	}
	/* The PC has four ISA serial ports. */
	if (port > 3) {
		qm_ab_refuse(b, c->node, "target port %u: an ISA serial port is 0..3", port);
		return;
	}
	snprintf(id, sizeof(id), "charserial%zu", i);
	chardev(b, c, id);
	qm_ab_add(b, "-device");
	qm_ab_addf(b, "isa-serial,chardev=%s,id=serial%zu,index=%u", id, i, port);
}

static void console(struct qm_argv_build *b, const struct qm_domain_chr *c, size_t i,
		    bool *bus)
{
	char id[32];

	/* libvirt writes a serial console twice, as <serial> and <console>: one port. */
	if (qm_dom_chr_serial_target(c->target_type)) {
		if (qm_dom_console_serial(b->d, c) < 0)
			qm_ab_refuse(b, c->node, "a serial console needs the <serial> of "
						 "its port");
		return;
	}
	if (strcmp(c->target_type, "virtio") != 0) {
		qm_ab_refuse(b, c->node, "target type='%s' is not supported", c->target_type);
		return;
	}
	if (!*bus) {
		qm_ab_add(b, "-device");
		qm_ab_add(b, "virtio-serial-pci,id=virtio-console-bus");
		*bus = true;
	}
	snprintf(id, sizeof(id), "charconsole%zu", i);
	chardev(b, c, id);
	qm_ab_add(b, "-device");
	qm_ab_addf(b, "virtconsole,bus=virtio-console-bus.0,chardev=%s,id=console%zu", id, i);
}

void qm_ab_chardevs(struct qm_argv_build *b)
{
	bool bus = false;

	for (size_t i = 0; i < b->d->n_serials && b->r == 0; i++)
		serial(b, &b->d->serials[i], i);
	for (size_t i = 0; i < b->d->n_consoles && b->r == 0; i++)
		console(b, &b->d->consoles[i], i, &bus);
}
