/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Disks and their controllers.  Each disk with a medium is two -blockdev
 * nodes, a protocol node "file-DEV" and a format node "fmt-DEV" (named
 * after the target, so that a later step can find them over QMP), and a
 * -device "disk-DEV" on its bus.
 */
#include <errno.h>
#include <string.h>

#include "xml/domain-argv-internal.h"

/* Node names are at most 31 bytes; the longest prefix is "file-". */
#define DEV_MAX 26

/* How <driver cache=...> maps to the node's cache options and the device's write cache. */
static const struct {
	const char *direct, *no_flush, *write_cache;
} cache_modes[] = {
	[QM_DOMAIN_CACHE_NONE] = { "on", "off", "on" },
	[QM_DOMAIN_CACHE_WRITETHROUGH] = { "off", "off", "off" },
	[QM_DOMAIN_CACHE_WRITEBACK] = { "off", "off", "on" },
	[QM_DOMAIN_CACHE_DIRECTSYNC] = { "on", "off", "off" },
	[QM_DOMAIN_CACHE_UNSAFE] = { "off", "on", "on" },
};

/* <controller type= model=>: what QEMU device it is; NULL: built into the machine. */
static const struct {
	const char *type, *model, *device, *id;
} controllers[] = {
	{ "scsi", "virtio-scsi", "virtio-scsi-pci", "scsi" },
	{ "scsi", "lsilogic", "lsi53c895a", "scsi" },
	{ "virtio-serial", NULL, "virtio-serial-pci", "virtio-serial" },
	{ "ide", NULL, NULL, NULL },
	{ "sata", NULL, NULL, NULL },
	{ "pci", "pci-root", NULL, NULL },
	{ "pci", "pcie-root", NULL, NULL },
	{ "usb", "none", NULL, NULL },
	{ "usb", "qemu-xhci", "qemu-xhci", "usb" },
	{ "usb", "piix3-uhci", "piix3-usb-uhci", "usb" },
};

static xmlNode *devices_node(const struct qm_domain *d)
{
	for (xmlNode *n = xmlDocGetRootElement(d->doc)->children; n; n = n->next)
		if (qm_dom_is(n, "devices"))
			return n;
	return NULL;
}

static void controller(struct qm_argv_build *b, xmlNode *n)
{
	_cleanup_xmlfree_ xmlChar *type = xmlGetNoNsProp(n, BAD_CAST "type");
	_cleanup_xmlfree_ xmlChar *model = xmlGetNoNsProp(n, BAD_CAST "model");
	struct qm_domain_address a;
	uint64_t index = 0;
	char *buf;
	size_t size;
	FILE *f;

	if (qm_dom_number(n, "index", 0xff, false, &index, b->err) < 0 ||
	    qm_dom_parse_address(n, &a, b->err) < 0) {
		b->r = -EINVAL;
		return;
	}
	for (size_t i = 0; i < ARRAY_SIZE(controllers); i++) {
		if (!type || !xmlStrEqual(type, BAD_CAST controllers[i].type))
			continue;
		if (controllers[i].model && !xmlStrEqual(model, BAD_CAST controllers[i].model))
			continue;
		if (!controllers[i].model && model)
			continue;
		if (!controllers[i].device) {
			if (index != 0 || a.type != QM_DOMAIN_ADDR_NONE)
				qm_ab_refuse(b, n, "only index 0 of the machine's own "
						   "controller is supported");
			return;
		}
		qm_ab_add(b, "-device");
		f = qm_ab_open(b, &buf, &size);
		if (!f)
			return;
		fprintf(f, "%s,id=%s%u", controllers[i].device, controllers[i].id,
			(unsigned)index);
		qm_ab_pci_addr(b, f, &a, n);
		qm_ab_close(b, f, &buf);
		return;
	}
	qm_ab_refuse(b, n, "controller type='%s' model='%s' is not supported",
		     type ? (const char *)type : "", model ? (const char *)model : "");
}

void qm_ab_controllers(struct qm_argv_build *b)
{
	xmlNode *devices = devices_node(b->d);

	for (xmlNode *n = devices ? devices->children : NULL; n && b->r == 0; n = n->next)
		if (qm_dom_is(n, "controller"))
			controller(b, n);
}

/* A SCSI disk's controller index must name a <controller type='scsi'>. */
static bool has_scsi_controller(const struct qm_domain *d, unsigned index)
{
	xmlNode *devices = devices_node(d);

	for (xmlNode *n = devices ? devices->children : NULL; n; n = n->next) {
		_cleanup_xmlfree_ xmlChar *type = NULL;
		uint64_t i = 0;

		if (!qm_dom_is(n, "controller"))
			continue;
		type = xmlGetNoNsProp(n, BAD_CAST "type");
		if (xmlStrEqual(type, BAD_CAST "scsi") &&
		    qm_dom_number(n, "index", 0xff, false, &i, NULL) >= 0 && i == index)
			return true;
	}
	return false;
}

static void blockdev(struct qm_argv_build *b, const struct qm_domain_disk *disk)
{
	const char *ro = disk->readonly ? "on" : "off";
	const char *fmt = qm_domain_disk_format_names[disk->format];
	char *buf;
	size_t size;
	FILE *f;

	qm_ab_add(b, "-blockdev");
	f = qm_ab_open(b, &buf, &size);
	if (f) {
		fputs("driver=file,filename=", f);
		qm_ab_esc(f, disk->file);
		fprintf(f, ",node-name=file-%s,read-only=%s", disk->dev, ro);
		if (disk->cache != QM_DOMAIN_CACHE_DEFAULT)
			fprintf(f, ",cache.direct=%s,cache.no-flush=%s",
				cache_modes[disk->cache].direct, cache_modes[disk->cache].no_flush);
	}
	qm_ab_close(b, f, &buf);
	qm_ab_add(b, "-blockdev");
	f = qm_ab_open(b, &buf, &size);
	if (f) {
		fprintf(f, "driver=%s,file=file-%s,node-name=" QM_FORMAT_NODE_PREFIX "%s,read-only=%s", fmt,
			disk->dev, disk->dev, ro);
		if (disk->cache != QM_DOMAIN_CACHE_DEFAULT)
			fprintf(f, ",cache.direct=%s,cache.no-flush=%s",
				cache_modes[disk->cache].direct, cache_modes[disk->cache].no_flush);
	}
	qm_ab_close(b, f, &buf);
}

/* The index of "hdc" or "sdb": the letter after the prefix; -1 when not that form. */
static int dev_index(const char *dev)
{
	if (strlen(dev) != 3 || dev[2] < 'a' || dev[2] > 'z')
		return -1;
	return dev[2] - 'a';
}

static void ide_place(struct qm_argv_build *b, FILE *f, const struct qm_domain_disk *disk)
{
	const struct qm_domain_address *a = &disk->address;
	int i = dev_index(disk->dev);

	/* The pc's IDE has two units a bus; q35's AHCI one a port (ide.0 to ide.5). */
	unsigned units = b->q35 ? 1 : 2;

	if (a->type == QM_DOMAIN_ADDR_DRIVE) {
		if (a->controller != 0 || a->target != 0 || a->unit >= units) {
			qm_ab_refuse(b, disk->node, "an IDE drive address needs controller 0, "
						    "target 0 and unit 0%s",
				     units == 2 ? " or 1" : "");
			return;
		}
		fprintf(f, ",bus=ide.%u,unit=%u", a->bus, a->unit);
		return;
	}
	if (a->type != QM_DOMAIN_ADDR_NONE || i < 0) {
		qm_ab_refuse(b, disk->node, "an IDE disk needs a drive <address> or a "
					    "target dev of the form hdX");
		return;
	}
	/* In order: on the pc hda hdb on ide.0, hdc hdd on ide.1; on q35 one a port. */
	fprintf(f, ",bus=ide.%u,unit=%u", (unsigned)i / units, (unsigned)i % units);
}

static void scsi_place(struct qm_argv_build *b, FILE *f, const struct qm_domain_disk *disk)
{
	const struct qm_domain_address *a = &disk->address;
	int i = dev_index(disk->dev);

	if (a->type == QM_DOMAIN_ADDR_DRIVE) {
		if (!has_scsi_controller(b->d, a->controller)) {
			qm_ab_refuse(b, disk->node, "no <controller type='scsi' index='%u'>",
				     a->controller);
			return;
		}
		fprintf(f, ",bus=scsi%u.0,channel=%u,scsi-id=%u,lun=%u", a->controller,
			a->bus, a->target, a->unit);
		return;
	}
	if (a->type != QM_DOMAIN_ADDR_NONE || i < 0) {
		qm_ab_refuse(b, disk->node, "a SCSI disk needs a drive <address> or a "
					    "target dev of the form sdX");
		return;
	}
	if (!has_scsi_controller(b->d, 0)) {
		qm_ab_refuse(b, disk->node, "no <controller type='scsi' index='0'>");
		return;
	}
	fprintf(f, ",bus=scsi0.0,channel=0,scsi-id=0,lun=%d", i);
}

static const char *device_model(const struct qm_domain_disk *disk)
{
	bool cd = disk->device == QM_DOMAIN_DISK_CDROM;

	switch (disk->bus) {
	case QM_DOMAIN_BUS_VIRTIO:
		return cd ? NULL : "virtio-blk-pci";
	case QM_DOMAIN_BUS_IDE:
		return cd ? "ide-cd" : "ide-hd";
	case QM_DOMAIN_BUS_SCSI:
		return cd ? "scsi-cd" : "scsi-hd";
	}
	return NULL;
}

static void disk_device(struct qm_argv_build *b, const struct qm_domain_disk *disk,
			bool first_of_kind)
{
	bool cd = disk->device == QM_DOMAIN_DISK_CDROM;
	const char *model = device_model(disk);
	unsigned boot;
	char *buf;
	size_t size;
	FILE *f;

	if (!model) {
		qm_ab_refuse(b, disk->node, "a cdrom cannot be on the virtio bus");
		return;
	}
	/* QEMU refuses a read-only backend for a writable IDE or SCSI disk. */
	if (!cd && disk->readonly && disk->bus != QM_DOMAIN_BUS_VIRTIO) {
		qm_ab_refuse(b, disk->node, "a read-only %s disk cannot be attached: use "
					    "virtio, or a qcow2 overlay",
			     qm_domain_disk_bus_names[disk->bus]);
		return;
	}
	if (qm_ab_bootindex(b, disk->node, cd ? "cdrom" : "hd", first_of_kind, &boot) < 0)
		return;
	qm_ab_add(b, "-device");
	f = qm_ab_open(b, &buf, &size);
	if (!f)
		return;
	fputs(model, f);
	if (disk->bus == QM_DOMAIN_BUS_IDE)
		ide_place(b, f, disk);
	else if (disk->bus == QM_DOMAIN_BUS_SCSI)
		scsi_place(b, f, disk);
	else
		qm_ab_pci_addr(b, f, &disk->address, disk->node);
	if (disk->file)
		fprintf(f, ",drive=" QM_FORMAT_NODE_PREFIX "%s", disk->dev);
	fprintf(f, ",id=disk-%s", disk->dev);
	if (disk->serial) {
		fputs(",serial=", f);
		qm_ab_esc(f, disk->serial);
	}
	if (boot)
		fprintf(f, ",bootindex=%u", boot);
	if (disk->cache != QM_DOMAIN_CACHE_DEFAULT && !cd)
		fprintf(f, ",write-cache=%s", cache_modes[disk->cache].write_cache);
	qm_ab_close(b, f, &buf);
}

void qm_ab_disks(struct qm_argv_build *b)
{
	bool seen_disk = false, seen_cd = false;

	for (size_t i = 0; i < b->d->n_disks && b->r == 0; i++) {
		const struct qm_domain_disk *disk = &b->d->disks[i];
		bool cd = disk->device == QM_DOMAIN_DISK_CDROM;
		bool *seen = cd ? &seen_cd : &seen_disk;

		if (strlen(disk->dev) > DEV_MAX) {
			qm_ab_refuse(b, disk->node, "target dev='%s' is longer than %d bytes, "
						    "too long for QEMU's node names",
				     disk->dev, DEV_MAX);
			return;
		}
		if (disk->file)
			blockdev(b, disk);
		disk_device(b, disk, !*seen);
		*seen = true;
	}
}
