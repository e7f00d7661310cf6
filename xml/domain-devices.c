/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * <devices>: the emulator and the lists of devices, each bounded, and the
 * <address> any device may carry.
 */
#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "xml/domain-internal.h"

static const struct qm_dom_text emulator_text = { .rule = QM_DOM_PATH,
						  .max = QM_DOMAIN_MAX_PATH,
						  .required = true };

/* One list of devices: its element, its bound, where it goes and how it is read. */
struct device_list {
	const char *element;
	size_t max;
	size_t size;	     /* of one item */
	size_t items, count; /* offsets in struct qm_domain of the array and its length */
	int (*parse)(xmlNode *n, void *item, struct qm_error *err);
};

/* The parsers take their item as void *, so that one table can hold them all. */
static int parse_disk(xmlNode *n, void *item, struct qm_error *err)
{
	return qm_dom_parse_disk(n, item, err);
}

static int parse_net(xmlNode *n, void *item, struct qm_error *err)
{
	return qm_dom_parse_net(n, item, err);
}

static int parse_graphics(xmlNode *n, void *item, struct qm_error *err)
{
	return qm_dom_parse_graphics(n, item, err);
}

static int parse_chr(xmlNode *n, void *item, struct qm_error *err)
{
	return qm_dom_parse_chr(n, item, err);
}

static int parse_lease(xmlNode *n, void *item, struct qm_error *err)
{
	return qm_dom_parse_lease(n, item, err);
}

/* clang-format off */
#define LIST(element, max, type, items, count, parse)                                    \
	{ element, max, sizeof(type), offsetof(struct qm_domain, items),                  \
	  offsetof(struct qm_domain, count), parse }

static const struct device_list lists[] = {
	LIST("disk", QM_DOMAIN_MAX_DISKS, struct qm_domain_disk, disks, n_disks, parse_disk),
	LIST("interface", QM_DOMAIN_MAX_NETS, struct qm_domain_net, nets, n_nets, parse_net),
	LIST("graphics", QM_DOMAIN_MAX_GRAPHICS, struct qm_domain_graphics, graphics,
	     n_graphics, parse_graphics),
	LIST("serial", QM_DOMAIN_MAX_SERIALS, struct qm_domain_chr, serials, n_serials,
	     parse_chr),
	LIST("console", QM_DOMAIN_MAX_CONSOLES, struct qm_domain_chr, consoles, n_consoles,
	     parse_chr),
	LIST("lease", QM_DOMAIN_MAX_LEASES, struct qm_domain_lease, leases, n_leases,
	     parse_lease),
};
/* clang-format on */

/* Counts first, so that nothing is allocated for a list over its bound. */
static int parse_list(xmlNode *devices, const struct device_list *l, struct qm_domain *d,
		      struct qm_error *err)
{
	size_t want = qm_dom_count(devices, l->element);
	size_t *count = (size_t *)((char *)d + l->count);
	char *items;
	int r;

	if (want > l->max)
		return qm_dom_invalid(devices, err,
				      "holds %zu <%s> elements, at most %zu", want,
				      l->element, l->max);
	if (want == 0)
		return 0;
	items = calloc(want, l->size);
	if (!items)
		return qm_error_set(err, -ENOMEM, "DomainInvalid", "out of memory");
	/* The array's field has its own pointer type: memcpy stores it without a pun. */
	memcpy((char *)d + l->items, &items, sizeof(items));
	for (xmlNode *n = devices->children; n; n = n->next) {
		if (!qm_dom_is(n, l->element))
			continue;
		/* Counted before it is read, so that free sees what it holds. */
		r = l->parse(n, items + *count * l->size, err);
		(*count)++;
		if (r < 0)
			return r;
	}
	return 0;
}

/* Two disks on one target would be one drive to the guest; libvirt refuses it too. */
static int check_disk_targets(const struct qm_domain *d, struct qm_error *err)
{
	for (size_t i = 0; i < d->n_disks; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->disks[i].dev, d->disks[j].dev) == 0)
				return qm_dom_invalid(
					d->disks[i].node, err,
					"target dev='%s' is also the target "
					"of an earlier disk",
					d->disks[i].dev);
	return 0;
}

/* Opened twice, a lease would be held against itself. */
static int check_lease_paths(const struct qm_domain *d, struct qm_error *err)
{
	for (size_t i = 0; i < d->n_leases; i++)
		for (size_t j = 0; j < i; j++)
			if (strcmp(d->leases[i].path, d->leases[j].path) == 0)
				return qm_dom_invalid(d->leases[i].node, err,
						      "path '%s' is also the path of an "
						      "earlier lease",
						      d->leases[i].path);
	return 0;
}

int qm_dom_parse_devices(xmlNode *devices, struct qm_domain *d, struct qm_error *err)
{
	xmlNode *emulator;
	int r;

	r = qm_dom_child(devices, "emulator", &emulator, err);
	if (r == 0 && emulator)
		r = qm_dom_string(emulator, NULL, &emulator_text, &d->emulator, err);
	for (size_t i = 0; r == 0 && i < ARRAY_SIZE(lists); i++)
		r = parse_list(devices, &lists[i], d, err);
	if (r == 0)
		r = check_disk_targets(d, err);
	if (r == 0)
		r = check_lease_paths(d, err);
	return r;
}

/* One number of an <address>: its attribute, its bound, where it goes. */
struct address_field {
	const char *attr;
	uint64_t max;
	size_t offset;
};

#define FIELD(attr, max, field)                                                          \
	{                                                                                \
		attr, max, offsetof(struct qm_domain_address, field)                     \
	}

static const struct address_field pci_fields[] = {
	FIELD("domain", 0xffff, domain),
	FIELD("bus", 0xff, bus),
	FIELD("slot", 0x1f, slot),
	FIELD("function", 0x7, function),
};

static const struct address_field drive_fields[] = {
	FIELD("controller", 0xffff, controller),
	FIELD("bus", 0xffff, bus),
	FIELD("target", 0xffff, target),
	FIELD("unit", 0xffff, unit),
};

static const struct {
	const char *type;
	enum qm_domain_addr_type value;
	const struct address_field *fields;
	size_t n_fields;
} address_types[] = {
	{ "pci", QM_DOMAIN_ADDR_PCI, pci_fields, ARRAY_SIZE(pci_fields) },
	{ "drive", QM_DOMAIN_ADDR_DRIVE, drive_fields, ARRAY_SIZE(drive_fields) },
};

/* An absent number is 0, as libvirt reads it; libvirt writes PCI ones in hex. */
int qm_dom_parse_address(xmlNode *dev, struct qm_domain_address *a, struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *type = NULL;
	xmlNode *n;
	int r;

	memset(a, 0, sizeof(*a));
	r = qm_dom_child(dev, "address", &n, err);
	if (r < 0 || !n)
		return r;
	type = xmlGetNoNsProp(n, BAD_CAST "type");
	if (!type || !type[0])
		return qm_dom_invalid(n, err, "has no type attribute");
	a->type = QM_DOMAIN_ADDR_OTHER;
	for (size_t i = 0; i < ARRAY_SIZE(address_types); i++) {
		if (!xmlStrEqual(type, BAD_CAST address_types[i].type))
			continue;
		a->type = address_types[i].value;
		for (size_t j = 0; j < address_types[i].n_fields; j++) {
			const struct address_field *f = &address_types[i].fields[j];
			uint64_t v = 0;

			r = qm_dom_number(n, f->attr, f->max, true, &v, err);
			if (r < 0)
				return r;
			*(unsigned *)((char *)a + f->offset) = (unsigned)v;
		}
	}
	return 0;
}
