/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the command line can express.  The reader keeps every element it
 * does not know; starting a guest from such a description would quietly
 * give a different machine, so before building anything each element of
 * the description is checked against these tables and the first one the
 * builder cannot honour is refused by name.
 */
#include <string.h>

#include "xml/domain-argv-internal.h"

/* An element: which children it may hold, and which values of one attribute. */
struct element_rule {
	const char *parent; /* NULL: a child of <domain> */
	const char *name;
	/* Children it may hold, NULL-terminated; NULL: any (text-only or not ours). */
	const char *const *children;
	/* When set, the attribute @attr may only take one of @values (or be absent). */
	const char *attr;
	const char *const *values;
};

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define NONE ((const char *const[]){ NULL })

/* clang-format off */
static const struct element_rule rules[] = {
	{ NULL, "name", NONE, NULL, NULL },
	{ NULL, "uuid", NONE, NULL, NULL },
	{ NULL, "title", NONE, NULL, NULL },
	{ NULL, "description", NONE, NULL, NULL },
	/* Free-form data for other programs: nothing in it reaches QEMU. */
	{ NULL, "metadata", NULL, NULL, NULL },
	{ NULL, "memory", NONE, NULL, NULL },
	/* The balloon's target, set at run time, not on the command line. */
	{ NULL, "currentMemory", NONE, NULL, NULL },
	{ NULL, "vcpu", NONE, NULL, NULL },
	{ NULL, "os", LIST("type", "boot"), NULL, NULL },
	{ NULL, "cpu", LIST("model"), "match", LIST("exact") },
	{ NULL, "features", LIST("acpi", "apic", "pae"), NULL, NULL },
	/* QEMU's own behaviour: power off ends it, reboot resets, a crash ends it. */
	{ NULL, "on_poweroff", NONE, NULL, NULL },
	{ NULL, "on_reboot", NONE, NULL, NULL },
	{ NULL, "on_crash", NONE, NULL, NULL },
	{ NULL, "devices", LIST("emulator", "disk", "interface", "graphics", "serial",
				"console", "controller", "video", "memballoon", "input",
				"lease"), NULL, NULL },
	{ "devices", "disk", LIST("driver", "source", "target", "readonly", "serial",
				  "address", "boot", "alias"), NULL, NULL },
	{ "disk", "driver", NONE, "name", LIST("qemu") },
	{ "devices", "interface", LIST("mac", "target", "model", "address", "boot",
				       "alias"), NULL, NULL },
	{ "devices", "graphics", LIST("listen"), NULL, NULL },
	{ "devices", "serial", LIST("source", "target", "protocol", "alias"), NULL, NULL },
	{ "devices", "console", LIST("source", "target", "protocol", "alias"), NULL, NULL },
	{ "devices", "controller", LIST("address", "alias"), NULL, NULL },
	{ "devices", "video", LIST("model", "address", "alias"), NULL, NULL },
	{ "devices", "memballoon", LIST("address", "alias"), "model",
	  LIST("virtio", "none") },
	{ "devices", "input", LIST("alias"), "bus", LIST("ps2") },
	/* A lease reaches QEMU as a descriptor (-add-fd), not as a device. */
	{ "devices", "lease", LIST("target"), NULL, NULL },
};
/* clang-format on */

/* The text of the only element <name> of ours under <domain>, for the lifecycle rules. */
static const struct {
	const char *element, *value;
} lifecycle[] = {
	{ "on_poweroff", "destroy" },
	{ "on_reboot", "restart" },
	{ "on_crash", "destroy" },
};

static const char *parent_name(const xmlNode *n)
{
	const xmlNode *p = n->parent;

	return p && p->type == XML_ELEMENT_NODE && p->parent &&
			       p->parent->type == XML_ELEMENT_NODE
		       ? (const char *)p->name
		       : NULL;
}

static const struct element_rule *find_rule(const xmlNode *n)
{
	const char *parent = parent_name(n);

	for (size_t i = 0; i < ARRAY_SIZE(rules); i++) {
		if (strcmp(rules[i].name, (const char *)n->name) != 0)
			continue;
		if (!rules[i].parent ? !parent : parent && !strcmp(rules[i].parent, parent))
			return &rules[i];
	}
	return NULL;
}

static bool listed(const char *const *list, const char *name)
{
	for (; *list; list++)
		if (strcmp(*list, name) == 0)
			return true;
	return false;
}

static void check_lifecycle(struct qm_argv_build *b, xmlNode *n)
{
	for (size_t i = 0; i < ARRAY_SIZE(lifecycle); i++) {
		_cleanup_xmlfree_ xmlChar *text = NULL;

		if (!xmlStrEqual(n->name, BAD_CAST lifecycle[i].element))
			continue;
		text = xmlNodeGetContent(n);
		if (!xmlStrEqual(text, BAD_CAST lifecycle[i].value))
			qm_ab_refuse(b, n, "only '%s' is supported (QEMU's own behaviour)",
				     lifecycle[i].value);
	}
}

static void check_element(struct qm_argv_build *b, xmlNode *n);

static void check_children(struct qm_argv_build *b, xmlNode *n,
			   const struct element_rule *rule)
{
	for (xmlNode *c = n->children; c && b->r == 0; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		if (rule->children && (c->ns || !listed(rule->children, (const char *)c->name))) {
			qm_ab_refuse(b, c, "<%s> cannot be expressed on the QEMU command "
					   "line by qmigrate (yet)",
				     c->name);
			return;
		}
		if (rule->children)
			check_element(b, c);
	}
}

static void check_element(struct qm_argv_build *b, xmlNode *n)
{
	const struct element_rule *rule = find_rule(n);
	_cleanup_xmlfree_ xmlChar *value = NULL;

	if (!rule) /* a leaf of a known element: its parser read it */
		return;
	if (rule->attr) {
		value = xmlGetNoNsProp(n, BAD_CAST rule->attr);
		if (value && !listed(rule->values, (const char *)value)) {
			qm_ab_refuse(b, n, "%s='%s' is not supported", rule->attr, value);
			return;
		}
	}
	check_children(b, n, rule);
}

/*
 * A secret argument stays off the wire, and off the command line too:
 * every user of the host reads a command line (CVE-2015-3252's lesson).
 */
static void check_qemu_arg(struct qm_argv_build *b, xmlNode *c)
{
	_cleanup_xmlfree_ xmlChar *secret = NULL;

	if (c->type != XML_ELEMENT_NODE)
		return;
	if (!qm_dom_is_qemu(c, "arg")) {
		qm_ab_refuse(b, c, "<%s> is not supported", c->name);
		return;
	}
	secret = xmlGetNoNsProp(c, BAD_CAST "secret");
	if (xmlStrEqual(secret, BAD_CAST "yes"))
		qm_ab_refuse(b, c, "would put a secret on the command line, which every "
				   "user of the host can read: pass it in a file "
				   "(-object secret,file=...)");
}

void qm_ab_check(struct qm_argv_build *b)
{
	xmlNode *root = xmlDocGetRootElement(b->d->doc);

	for (xmlNode *n = root->children; n && b->r == 0; n = n->next) {
		if (n->type != XML_ELEMENT_NODE)
			continue;
		/* The passthrough is read by the parser; <qemu:env> is not expressed. */
		if (qm_dom_is_qemu(n, "commandline")) {
			for (xmlNode *c = n->children; c && b->r == 0; c = c->next)
				check_qemu_arg(b, c);
			continue;
		}
		if (n->ns || !find_rule(n)) {
			qm_ab_refuse(b, n, "<%s> cannot be expressed on the QEMU command line "
					   "by qmigrate (yet)",
				     n->name);
			return;
		}
		check_lifecycle(b, n);
		check_element(b, n);
	}
}
