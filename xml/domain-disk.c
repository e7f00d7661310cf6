/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* <disk>: a file-backed disk or cdrom drive. */
#include <string.h>

#include "xml/domain-internal.h"

static const struct qm_dom_text file_text = { .rule = QM_DOM_PATH,
					      .max = QM_DOMAIN_MAX_PATH };
static const struct qm_dom_text dev_text = { .rule = QM_DOM_TOKEN,
					     .max = 31,
					     .required = true };
static const struct qm_dom_text serial_text = { .rule = QM_DOM_SERIAL,
						.max = QM_DOMAIN_MAX_STRING,
						.required = true };

/* libvirt's guess of a bus from the target's name, when <target> has no bus. */
static const struct {
	const char *prefix;
	enum qm_domain_disk_bus bus;
} bus_of_dev[] = {
	{ "vd", QM_DOMAIN_BUS_VIRTIO },
	{ "hd", QM_DOMAIN_BUS_IDE },
	{ "sd", QM_DOMAIN_BUS_SCSI },
};

/* Only type="file": any other source needs what the later steps cannot start. */
static int check_type(xmlNode *n, struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *type = xmlGetNoNsProp(n, BAD_CAST "type");

	if (type && !xmlStrEqual(type, BAD_CAST "file"))
		return qm_dom_invalid(n, err, "type='%.32s' is not supported: only file",
				      (const char *)type);
	return 0;
}

static int parse_source(xmlNode *n, struct qm_domain_disk *disk, struct qm_error *err)
{
	xmlNode *source;
	int r;

	r = qm_dom_child(n, "source", &source, err);
	if (r == 0 && source)
		r = qm_dom_string(source, "file", &file_text, &disk->file, err);
	if (r < 0)
		return r;
	/* A cdrom drive may be empty; a disk may not. */
	if (!disk->file && disk->device == QM_DOMAIN_DISK_DISK)
		return qm_dom_invalid(n, err, "has no <source file=...>");
	return 0;
}

static int parse_driver(xmlNode *n, struct qm_domain_disk *disk, struct qm_error *err)
{
	xmlNode *driver;
	int r, format = QM_DOMAIN_FORMAT_RAW, cache = QM_DOMAIN_CACHE_DEFAULT;

	r = qm_dom_child(n, "driver", &driver, err);
	if (r == 0 && driver)
		r = qm_dom_enum(driver, "type", qm_domain_disk_format_names,
				ARRAY_SIZE(qm_domain_disk_format_names), format, &format,
				err);
	if (r == 0 && driver)
		r = qm_dom_enum(driver, "cache", qm_domain_disk_cache_names,
				ARRAY_SIZE(qm_domain_disk_cache_names), cache, &cache,
				err);
	disk->format = (enum qm_domain_disk_format)format;
	disk->cache = (enum qm_domain_disk_cache)cache;
	return r;
}

static int guess_bus(xmlNode *target, const char *dev, int *bus, struct qm_error *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(bus_of_dev); i++) {
		if (strncmp(dev, bus_of_dev[i].prefix, 2) == 0) {
			*bus = (int)bus_of_dev[i].bus;
			return 0;
		}
	}
	return qm_dom_invalid(target, err,
			      "has no bus attribute, and dev='%.32s' does not start with "
			      "vd, hd or sd to say which",
			      dev);
}

static int parse_target(xmlNode *n, struct qm_domain_disk *disk, struct qm_error *err)
{
	xmlNode *target;
	int r, bus = -1;

	r = qm_dom_child(n, "target", &target, err);
	if (r < 0)
		return r;
	if (!target)
		return qm_dom_invalid(n, err, "has no <target dev=...>");
	r = qm_dom_string(target, "dev", &dev_text, &disk->dev, err);
	if (r == 0 && xmlHasProp(target, BAD_CAST "bus"))
		r = qm_dom_enum(target, "bus", qm_domain_disk_bus_names,
				ARRAY_SIZE(qm_domain_disk_bus_names), -1, &bus, err);
	else if (r == 0)
		r = guess_bus(target, disk->dev, &bus, err);
	disk->bus = (enum qm_domain_disk_bus)bus;
	return r;
}

static int parse_flags(xmlNode *n, struct qm_domain_disk *disk, struct qm_error *err)
{
	xmlNode *readonly, *serial;
	int r;

	r = qm_dom_child(n, "readonly", &readonly, err);
	if (r == 0)
		r = qm_dom_child(n, "serial", &serial, err);
	if (r == 0 && serial)
		r = qm_dom_string(serial, NULL, &serial_text, &disk->serial, err);
	/* libvirt makes every cdrom read-only, whatever the XML says. */
	disk->readonly = readonly || disk->device == QM_DOMAIN_DISK_CDROM;
	return r;
}

int qm_dom_parse_disk(xmlNode *n, struct qm_domain_disk *disk, struct qm_error *err)
{
	int r, device;

	disk->node = n;
	r = check_type(n, err);
	if (r == 0)
		r = qm_dom_enum(n, "device", qm_domain_disk_device_names,
				ARRAY_SIZE(qm_domain_disk_device_names),
				QM_DOMAIN_DISK_DISK, &device, err);
	if (r < 0)
		return r;
	disk->device = (enum qm_domain_disk_device)device;
	r = parse_source(n, disk, err);
	if (r == 0)
		r = parse_driver(n, disk, err);
	if (r == 0)
		r = parse_target(n, disk, err);
	if (r == 0)
		r = parse_flags(n, disk, err);
	if (r == 0)
		r = qm_dom_parse_address(n, &disk->address, err);
	return r;
}
