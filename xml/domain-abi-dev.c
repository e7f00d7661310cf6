/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The devices of the typed view, compared pairwise in order: the guest
 * finds its devices where the description puts them, and QEMU places
 * those without an address in the order they come.  Only what the guest
 * sees is compared here; the host-side fields (paths, formats, caches,
 * listen addresses, ports, passwords, tap names, endpoints) are not.
 */
#include <stdio.h>
#include <string.h>

#include "xml/domain-abi-internal.h"
#include "xml/domain-internal.h"

/* The attributes the typed view reads from an <address> of each type. */
static const char *const pci_attrs[] = {
	"type", "domain", "bus", "slot", "function", NULL
};
static const char *const drive_attrs[] = { "type",   "controller", "bus",
					   "target", "unit",	   NULL };
static const char *const no_attrs[] = { NULL };

static xmlNode *address_node(xmlNode *dev)
{
	for (xmlNode *c = dev->children; c; c = c->next)
		if (qm_dom_is(c, "address"))
			return c;
	return NULL;
}

static const char *address_text(const struct qm_domain_address *a, char *buf, size_t size)
{
	switch (a->type) {
	case QM_DOMAIN_ADDR_PCI:
		snprintf(buf, size, "pci %04x:%02x:%02x.%x", a->domain, a->bus, a->slot,
			 a->function);
		break;
	case QM_DOMAIN_ADDR_DRIVE:
		snprintf(buf, size, "drive controller %u bus %u target %u unit %u",
			 a->controller, a->bus, a->target, a->unit);
		break;
	case QM_DOMAIN_ADDR_OTHER:
		snprintf(buf, size, "of another type");
		break;
	default:
		snprintf(buf, size, "none");
	}
	return buf;
}

static bool same_address(const struct qm_domain_address *a,
			 const struct qm_domain_address *b)
{
	return a->type == b->type && a->domain == b->domain && a->bus == b->bus &&
	       a->slot == b->slot && a->function == b->function &&
	       a->controller == b->controller && a->target == b->target &&
	       a->unit == b->unit;
}

/*
 * The numbers the view read, compared as numbers (0x04 is 4); when they are
 * equal, the rest of the element as it is written (multifunction=, or every
 * attribute of a type the view does not read).
 */
static void compare_address(struct qm_abi *abi, const char *path, xmlNode *s, xmlNode *d,
			    const struct qm_domain_address *a,
			    const struct qm_domain_address *b, bool secret)
{
	char ta[64], tb[64], sub[QM_ABI_PATH];
	xmlNode *sn = address_node(s), *dn = address_node(d);

	if (!same_address(a, b) && secret) {
		qm_abi_diff(abi, "%s: address differs (a secret: not shown)", path);
		return;
	}
	if (!same_address(a, b)) {
		qm_abi_diff(abi, "%s: address %s on the source, %s on the destination",
			    path, address_text(a, ta, sizeof(ta)),
			    address_text(b, tb, sizeof(tb)));
		return;
	}
	if (!sn || !dn)
		return;
	snprintf(sub, sizeof(sub), "%s/address", path);
	qm_abi_element(abi, sub, sn, dn,
		       a->type == QM_DOMAIN_ADDR_PCI	 ? pci_attrs
		       : a->type == QM_DOMAIN_ADDR_DRIVE ? drive_attrs
							 : no_attrs);
}

/* "vda, vdb, sda", cut to fit @size; a secret disk's name is not shown. */
static const char *disk_list(const struct qm_domain *d, char *buf, size_t size)
{
	size_t len = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < d->n_disks && len < size; i++)
		len += (size_t)snprintf(
			buf + len, size - len, "%s%s", i ? ", " : "",
			qm_abi_secret(d->disks[i].node) ? "(secret)" : d->disks[i].dev);
	if (len >= size && size > 4)
		memcpy(buf + size - 4, "...", 4);
	return d->n_disks ? buf : "none";
}

static bool has_disk(const struct qm_domain *d, const char *dev)
{
	for (size_t i = 0; i < d->n_disks; i++)
		if (strcmp(d->disks[i].dev, dev) == 0)
			return true;
	return false;
}

/*
 * Disks are paired by their place.  When the counts differ, or the same
 * targets come in another order, pairing them would compare different
 * disks: that is said once, with both lists.
 */
static bool disks_paired(struct qm_abi *abi, const struct qm_domain *s,
			 const struct qm_domain *d)
{
	char ls[64], ld[64];
	bool moved = false, same_set = true;

	if (s->n_disks != d->n_disks) {
		qm_abi_diff(abi,
			    "devices/disk: %zu on the source (%s), %zu on the "
			    "destination (%s)",
			    s->n_disks, disk_list(s, ls, sizeof(ls)), d->n_disks,
			    disk_list(d, ld, sizeof(ld)));
		return false;
	}
	for (size_t i = 0; i < s->n_disks; i++) {
		same_set &= has_disk(d, s->disks[i].dev);
		moved |= strcmp(s->disks[i].dev, d->disks[i].dev) != 0;
	}
	if (!moved || !same_set)
		return true;
	qm_abi_diff(abi,
		    "devices/disk: in another order, %s on the source, %s on the "
		    "destination",
		    disk_list(s, ls, sizeof(ls)), disk_list(d, ld, sizeof(ld)));
	return false;
}

static void compare_disk(struct qm_abi *abi, size_t i, const struct qm_domain_disk *a,
			 const struct qm_domain_disk *b)
{
	const char *const *dev_names = qm_domain_disk_device_names;
	const char *const *bus_names = qm_domain_disk_bus_names;
	bool secret = qm_abi_secret(a->node) || qm_abi_secret(b->node);
	char path[QM_ABI_PATH];

	qm_abi_device_path(path, a->node, i);
	qm_abi_strings(abi, path, "device", dev_names[a->device], dev_names[b->device],
		       false);
	qm_abi_strings(abi, path, "target dev", a->dev, b->dev, secret);
	qm_abi_strings(abi, path, "bus", bus_names[a->bus], bus_names[b->bus], false);
	/* A cdrom is always read-only; a cdrom against a disk is said once, above. */
	if (a->device == b->device && a->readonly != b->readonly)
		qm_abi_diff(abi, "%s: %s on the source, %s on the destination", path,
			    a->readonly ? "read-only" : "writable",
			    b->readonly ? "read-only" : "writable");
	/* The path is the host's; whether the tray holds a medium is the guest's. */
	if (a->device == b->device && !a->file != !b->file)
		qm_abi_diff(abi, "%s: %s on the source, %s on the destination", path,
			    a->file ? "a medium" : "an empty drive",
			    b->file ? "a medium" : "an empty drive");
	qm_abi_strings(abi, path, "serial", a->serial, b->serial, secret);
	compare_address(abi, path, a->node, b->node, &a->address, &b->address, secret);
}

/* The other lists are paired by place when their counts agree. */
static bool counts_agree(struct qm_abi *abi, const char *element, size_t a, size_t b)
{
	if (a == b)
		return true;
	qm_abi_diff(abi, "devices/%s: %zu on the source, %zu on the destination", element,
		    a, b);
	return false;
}

static void compare_net(struct qm_abi *abi, size_t i, const struct qm_domain_net *a,
			const struct qm_domain_net *b)
{
	bool secret = qm_abi_secret(a->node) || qm_abi_secret(b->node);
	char path[QM_ABI_PATH];

	qm_abi_device_path(path, a->node, i);
	qm_abi_strings(abi, path, "mac", a->mac[0] ? a->mac : NULL,
		       b->mac[0] ? b->mac : NULL, secret);
	qm_abi_strings(abi, path, "model", a->model, b->model, secret);
	compare_address(abi, path, a->node, b->node, &a->address, &b->address, secret);
}

static void compare_graphics(struct qm_abi *abi, size_t i,
			     const struct qm_domain_graphics *a,
			     const struct qm_domain_graphics *b)
{
	const char *const *names = qm_domain_graphics_type_names;
	char path[QM_ABI_PATH];

	qm_abi_device_path(path, a->node, i);
	qm_abi_strings(abi, path, "type", names[a->type], names[b->type], false);
}

static const char *port_text(int port, char *buf, size_t size)
{
	if (port < 0)
		return "none";
	snprintf(buf, size, "%d", port);
	return buf;
}

/* Where the guest finds the port; the chr type and its source are the host's end. */
static void compare_chr(struct qm_abi *abi, size_t i, const struct qm_domain_chr *a,
			const struct qm_domain_chr *b)
{
	bool secret = qm_abi_secret(a->node) || qm_abi_secret(b->node);
	char path[QM_ABI_PATH], pa[16], pb[16];

	qm_abi_device_path(path, a->node, i);
	if (a->target_port != b->target_port && secret)
		qm_abi_diff(abi, "%s: target port differs (a secret: not shown)", path);
	else if (a->target_port != b->target_port)
		qm_abi_diff(abi,
			    "%s: target port %s on the source, %s on the destination",
			    path, port_text(a->target_port, pa, sizeof(pa)),
			    port_text(b->target_port, pb, sizeof(pb)));
	qm_abi_strings(abi, path, "target type", a->target_type, b->target_type, secret);
}

static void compare_chrs(struct qm_abi *abi, const char *element, unsigned bit,
			 const struct qm_domain_chr *a, size_t na,
			 const struct qm_domain_chr *b, size_t nb)
{
	if (!counts_agree(abi, element, na, nb)) {
		abi->unpaired |= bit;
		return;
	}
	for (size_t i = 0; i < na; i++)
		compare_chr(abi, i, &a[i], &b[i]);
}

void qm_abi_devices(struct qm_abi *abi, const struct qm_domain *s,
		    const struct qm_domain *d)
{
	if (disks_paired(abi, s, d))
		for (size_t i = 0; i < s->n_disks; i++)
			compare_disk(abi, i, &s->disks[i], &d->disks[i]);
	else
		abi->unpaired |= QM_ABI_DISKS;
	if (counts_agree(abi, "interface", s->n_nets, d->n_nets))
		for (size_t i = 0; i < s->n_nets; i++)
			compare_net(abi, i, &s->nets[i], &d->nets[i]);
	else
		abi->unpaired |= QM_ABI_NETS;
	if (counts_agree(abi, "graphics", s->n_graphics, d->n_graphics))
		for (size_t i = 0; i < s->n_graphics; i++)
			compare_graphics(abi, i, &s->graphics[i], &d->graphics[i]);
	else
		abi->unpaired |= QM_ABI_GRAPHICS;
	compare_chrs(abi, "serial", QM_ABI_SERIALS, s->serials, s->n_serials, d->serials,
		     d->n_serials);
	compare_chrs(abi, "console", QM_ABI_CONSOLES, s->consoles, s->n_consoles,
		     d->consoles, d->n_consoles);
}
