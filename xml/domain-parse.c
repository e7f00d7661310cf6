/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reading a domain description: the safe reader gives a tree, the tree
 * gives the view.  Elements of ours are found by name in any order; a known
 * element appears at most once where the view holds one of it; everything
 * else stays in the tree untouched.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "util/uuid.h"
#include "xml/domain-internal.h"

static const struct qm_xml_source domain_source = { "domain XML", "Domain",
						    QM_DOMAIN_MAX };

static const struct qm_dom_text name_text = { .rule = QM_DOM_NAME,
					      .max = QM_DOMAIN_MAX_NAME,
					      .required = true };
static const struct qm_dom_text uuid_text = { .rule = QM_DOM_TOKEN,
					      .max = QM_UUID_STRLEN,
					      .required = true };
static const struct qm_dom_text os_text = { .rule = QM_DOM_TOKEN, .max = 63 };
static const struct qm_dom_text model_text = { .rule = QM_DOM_TOKEN,
					       .max = 63,
					       .required = true };
static const struct qm_dom_text arg_text = { .rule = QM_DOM_PLAIN,
					     .max = QM_DOMAIN_MAX_PATH,
					     .required = true };

/* <memory unit=...>: libvirt's spellings; an absent unit is KiB. */
static const struct {
	const char *unit;
	uint64_t bytes;
} memory_units[] = {
	{ "b", 1 },
	{ "bytes", 1 },
	{ "KB", 1000 },
	{ "k", 1ull << 10 },
	{ "KiB", 1ull << 10 },
	{ "MB", 1000 * 1000 },
	{ "M", 1ull << 20 },
	{ "MiB", 1ull << 20 },
	{ "GB", 1000 * 1000 * 1000 },
	{ "G", 1ull << 30 },
	{ "GiB", 1ull << 30 },
	{ "TB", 1000ull * 1000 * 1000 * 1000 },
	{ "T", 1ull << 40 },
	{ "TiB", 1ull << 40 },
};

/* A required child of @parent that appears once. */
static int required_child(xmlNode *parent, const char *name, xmlNode **out,
			  struct qm_error *err)
{
	int r = qm_dom_child(parent, name, out, err);

	if (r == 0 && !*out)
		return qm_dom_invalid(parent, err, "has no <%s>", name);
	return r;
}

static int parse_uuid(xmlNode *root, struct qm_domain *d, struct qm_error *err)
{
	_cleanup_free_ char *uuid = NULL;
	xmlNode *n;
	int r;

	r = required_child(root, "uuid", &n, err);
	if (r == 0)
		r = qm_dom_string(n, NULL, &uuid_text, &uuid, err);
	if (r < 0)
		return r;
	if (!qm_uuid_normalise(uuid, d->uuid))
		return qm_dom_invalid(n, err, "'%s' is not a uuid in 8-4-4-4-12 form",
				      uuid);
	return 0;
}

static int memory_unit(xmlNode *n, uint64_t *bytes, struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *unit = xmlGetNoNsProp(n, BAD_CAST "unit");

	if (!unit) {
		*bytes = 1024;
		return 0;
	}
	for (size_t i = 0; i < ARRAY_SIZE(memory_units); i++) {
		if (xmlStrEqual(unit, BAD_CAST memory_units[i].unit)) {
			*bytes = memory_units[i].bytes;
			return 0;
		}
	}
	return qm_dom_invalid(
		n, err,
		"unit='%.16s' is not a unit of memory: b, bytes, KB, k, KiB, "
		"MB, M, MiB, GB, G, GiB, TB, T or TiB",
		(const char *)unit);
}

/* True when <os><type machine="none">: QEMU's empty machine, which may run without memory. */
static bool machine_none(xmlNode *root)
{
	for (xmlNode *os = root->children; os; os = os->next) {
		if (!qm_dom_is(os, "os"))
			continue;
		for (xmlNode *t = os->children; t; t = t->next) {
			_cleanup_xmlfree_ xmlChar *m = NULL;

			if (!qm_dom_is(t, "type"))
				continue;
			m = xmlGetNoNsProp(t, BAD_CAST "machine");
			return xmlStrEqual(m, BAD_CAST "none");
		}
	}
	return false;
}

/* In bytes first, then KiB rounded up, as libvirt stores it. */
static int parse_memory(xmlNode *root, struct qm_domain *d, struct qm_error *err)
{
	uint64_t unit = 1024, value;
	xmlNode *n;
	int r;

	r = required_child(root, "memory", &n, err);
	if (r == 0)
		r = memory_unit(n, &unit, err);
	if (r == 0)
		r = qm_dom_number(n, NULL, UINT64_MAX / unit, false, &value, err);
	if (r < 0)
		return r;
	if (value == 0 && !machine_none(root))
		return qm_dom_invalid(n, err,
				      "is zero: a guest needs memory (only machine 'none' "
				      "runs without)");
	value *= unit;
	d->memory_kib = value / 1024 + (value % 1024 != 0);
	return 0;
}

static int parse_vcpu(xmlNode *root, struct qm_domain *d, struct qm_error *err)
{
	uint64_t vcpus = 1, current;
	xmlNode *n;
	int r;

	r = qm_dom_child(root, "vcpu", &n, err);
	if (r == 0 && n)
		r = qm_dom_number(n, NULL, QM_DOMAIN_MAX_VCPUS, false, &vcpus, err);
	if (r < 0)
		return r;
	if (vcpus == 0)
		return qm_dom_invalid(n, err, "is zero: a guest needs a CPU");
	current = vcpus;
	r = n ? qm_dom_number(n, "current", vcpus, false, &current, err) : 0;
	if (r < 0)
		return r;
	if (current == 0)
		return qm_dom_invalid(n, err, "current='0': a guest needs a CPU");
	d->vcpus = (unsigned)vcpus;
	d->vcpus_current = (unsigned)current;
	return 0;
}

/* Only hvm: a full virtual machine, the only kind QEMU runs here. */
static int parse_os(xmlNode *root, struct qm_domain *d, struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *kind = NULL;
	xmlNode *os, *type;
	int r;

	r = required_child(root, "os", &os, err);
	if (r == 0)
		r = required_child(os, "type", &type, err);
	if (r < 0)
		return r;
	kind = xmlNodeGetContent(type);
	if (!xmlStrEqual(kind, BAD_CAST "hvm"))
		return qm_dom_invalid(type, err, "is '%.16s', not hvm",
				      kind ? (const char *)kind : "");
	r = qm_dom_string(type, "arch", &os_text, &d->arch, err);
	if (r == 0)
		r = qm_dom_string(type, "machine", &os_text, &d->machine, err);
	return r;
}

static int parse_cpu(xmlNode *root, struct qm_domain *d, struct qm_error *err)
{
	xmlNode *cpu, *model;
	int r, mode;

	r = qm_dom_child(root, "cpu", &cpu, err);
	if (r < 0 || !cpu)
		return r;
	r = qm_dom_enum(cpu, "mode", qm_domain_cpu_mode_names,
			ARRAY_SIZE(qm_domain_cpu_mode_names), QM_DOMAIN_CPU_CUSTOM, &mode,
			err);
	if (r < 0)
		return r;
	d->cpu_mode = (enum qm_domain_cpu_mode)mode;
	r = qm_dom_child(cpu, "model", &model, err);
	if (r == 0 && model)
		r = qm_dom_string(model, NULL, &model_text, &d->cpu_model, err);
	return r;
}

/* Every <qemu:arg> of every <qemu:commandline>, in order, as libvirt reads them. */
static int parse_qemu_args(xmlNode *root, struct qm_domain *d, struct qm_error *err)
{
	size_t want = 0;
	int r;

	for (xmlNode *c = root->children; c; c = c->next)
		for (xmlNode *a = qm_dom_is_qemu(c, "commandline") ? c->children : NULL;
		     a; a = a->next)
			want += qm_dom_is_qemu(a, "arg");
	if (want > QM_DOMAIN_MAX_QEMU_ARGS)
		return qm_dom_invalid(root, err,
				      "holds %zu <qemu:arg> elements, at most %d", want,
				      QM_DOMAIN_MAX_QEMU_ARGS);
	if (want == 0)
		return 0;
	d->qemu_args = calloc(want, sizeof(*d->qemu_args));
	if (!d->qemu_args)
		return qm_error_set(err, -ENOMEM, "DomainInvalid", "out of memory");
	for (xmlNode *c = root->children; c; c = c->next) {
		if (!qm_dom_is_qemu(c, "commandline"))
			continue;
		for (xmlNode *a = c->children; a; a = a->next) {
			if (!qm_dom_is_qemu(a, "arg"))
				continue;
			r = qm_dom_string(a, "value", &arg_text,
					  &d->qemu_args[d->n_qemu_args], err);
			if (r < 0)
				return r;
			d->n_qemu_args++;
		}
	}
	return 0;
}

static int parse_accel(xmlNode *root, struct qm_domain *d, struct qm_error *err)
{
	int r, accel;

	r = qm_dom_enum(root, "type", qm_domain_accel_names,
			ARRAY_SIZE(qm_domain_accel_names), -1, &accel, err);
	d->accel = r == 0 ? (enum qm_domain_accel)accel : QM_DOMAIN_ACCEL_KVM;
	return r;
}

static int parse_name(xmlNode *root, struct qm_domain *d, struct qm_error *err)
{
	xmlNode *name;
	int r;

	r = required_child(root, "name", &name, err);
	if (r == 0)
		r = qm_dom_string(name, NULL, &name_text, &d->name, err);
	return r;
}

static int parse_devices(xmlNode *root, struct qm_domain *d, struct qm_error *err)
{
	xmlNode *devices;
	int r;

	r = qm_dom_child(root, "devices", &devices, err);
	if (r == 0 && devices)
		r = qm_dom_parse_devices(devices, d, err);
	return r;
}

/* The parts of <domain>, in the order libvirt writes them. */
/* clang-format off */
static int (*const root_parsers[])(xmlNode *root, struct qm_domain *d,
				   struct qm_error *err) = {
	parse_accel,
	parse_name,
	parse_uuid,
	parse_memory,
	parse_vcpu,
	parse_os,
	parse_cpu,
	parse_devices,
	parse_qemu_args,
};
/* clang-format on */

static int parse_root(xmlNode *root, struct qm_domain *d, struct qm_error *err)
{
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(root_parsers); i++) {
		r = root_parsers[i](root, d, err);
		if (r < 0)
			return r;
	}
	return 0;
}

/*
 * Whitespace between elements is layout, not content: it goes, so that
 * formatting indents the tree the same way whatever the input's layout was.
 * An element holding text of its own beside its children keeps all of it.
 */
static void drop_layout(xmlNode *parent)
{
	bool structure = false, text = false;
	xmlNode *next;

	for (xmlNode *c = parent->children; c; c = c->next) {
		if (c->type == XML_ELEMENT_NODE)
			drop_layout(c);
		if (c->type == XML_TEXT_NODE)
			text |= !xmlIsBlankNode(c);
		else
			structure = true;
	}
	if (!structure || text)
		return;
	for (xmlNode *c = parent->children; c; c = next) {
		next = c->next;
		if (c->type == XML_TEXT_NODE) {
			xmlUnlinkNode(c);
			xmlFreeNode(c);
		}
	}
}

/*
 * The migratable form must be a description too: an element the view needs
 * marked secret (<name secret="yes">, a disk's <source>) would leave the
 * destination nothing it can read.  Only elements marked secret can do
 * that; a passwd attribute is never required.
 */
static int check_migratable(xmlDocPtr doc, struct qm_error *err)
{
	_cleanup_domain_ struct qm_domain *view = calloc(1, sizeof(*view));
	struct qm_error inner = { 0 };
	int r;

	if (view)
		view->doc = xmlCopyDoc(doc, 1);
	if (!view || !view->doc)
		return qm_error_set(err, -ENOMEM, "DomainInvalid", "out of memory");
	qm_dom_strip_secrets(xmlDocGetRootElement(view->doc));
	r = parse_root(xmlDocGetRootElement(view->doc), view, &inner);
	if (r < 0)
		return qm_error_set(
			err, r, inner.error_class,
			"without the elements marked secret, it would be refused: "
			"%s",
			inner.text);
	return 0;
}

static int check_root(xmlNode *root, struct qm_error *err)
{
	if (!root)
		return qm_error_set(err, -EINVAL, "DomainInvalid",
				    "domain XML has no element");
	if (!qm_dom_is(root, "domain"))
		return qm_dom_invalid(
			root, err, "the root element is <%.64s>%s%.64s, not <domain>",
			(const char *)root->name, root->ns ? " in namespace " : "",
			root->ns && root->ns->href ? (const char *)root->ns->href : "");
	return 0;
}

/* The view of @d from its tree, d->doc. */
static int read_view(struct qm_domain *d, struct qm_error *err)
{
	xmlNode *root = xmlDocGetRootElement(d->doc);
	int r, secrets;

	r = check_root(root, err);
	if (r < 0)
		return r;
	secrets = qm_dom_check_secrets(root, err);
	if (secrets < 0)
		return secrets;
	drop_layout(root);
	r = parse_root(root, d, err);
	if (r == 0 && secrets > 0)
		r = check_migratable(d->doc, err);
	return r;
}

int qm_dom_from_doc(xmlDocPtr doc, struct qm_domain **out, struct qm_error *err)
{
	_cleanup_domain_ struct qm_domain *d = calloc(1, sizeof(*d));
	int r;

	*out = NULL;
	if (!d) {
		xmlFreeDoc(doc);
		return qm_error_set(err, -ENOMEM, "DomainInvalid", "out of memory");
	}
	d->doc = doc;
	r = read_view(d, err);
	if (r < 0)
		return r;
	*out = steal_pointer(&d);
	return 0;
}

int qm_domain_parse(const char *xml, size_t len, struct qm_domain **out,
		    struct qm_error *err)
{
	xmlDocPtr doc;
	int r;

	*out = NULL;
	r = qm_xml_read(&domain_source, xml, len, &doc, err);
	if (r < 0)
		return r;
	return qm_dom_from_doc(doc, out, err);
}

static void free_chrs(struct qm_domain_chr *chrs, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		free(chrs[i].path);
		free(chrs[i].host);
		free(chrs[i].service);
		free(chrs[i].target_type);
	}
	free(chrs);
}

void qm_domain_free(struct qm_domain *d)
{
	if (!d)
		return;
	for (size_t i = 0; i < d->n_disks; i++) {
		free(d->disks[i].file);
		free(d->disks[i].dev);
		free(d->disks[i].serial);
	}
	free(d->disks);
	for (size_t i = 0; i < d->n_nets; i++) {
		free(d->nets[i].tap);
		free(d->nets[i].model);
	}
	free(d->nets);
	for (size_t i = 0; i < d->n_graphics; i++) {
		free(d->graphics[i].listen);
		free(d->graphics[i].passwd);
	}
	free(d->graphics);
	free_chrs(d->serials, d->n_serials);
	free_chrs(d->consoles, d->n_consoles);
	for (size_t i = 0; i < d->n_leases; i++)
		free(d->leases[i].path);
	free(d->leases);
	for (size_t i = 0; i < d->n_qemu_args; i++)
		free(d->qemu_args[i]);
	free(d->qemu_args);
	free(d->name);
	free(d->arch);
	free(d->machine);
	free(d->emulator);
	free(d->cpu_model);
	xmlFreeDoc(d->doc);
	free(d);
}
