/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The whole tree, compared element by element: every attribute, every text
 * and every child, whether qmigrate knows it or not.  The rules
 * (domain-abi-rules.c) list the exceptions: what is host-side (may
 * differ), and what the typed view compares in its own terms.  An element
 * with no rule is compared as it is written; so is everything inside an
 * element in a namespace other than ours and libvirt's QEMU one.
 *
 * Children are paired by name (and namespace) in order: the nth <controller>
 * with the nth <controller>.  The order of different kinds of element is
 * layout: qmigrate builds each kind of device in its own order.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml/domain-abi-internal.h"
#include "xml/domain-internal.h"

struct walk {
	struct qm_abi *abi;
	char path[QM_ABI_PATH]; /* in messages: devices/disk[2] (vdb)/target */
	char rule[QM_ABI_PATH]; /* for the rules: devices/disk/target */
	bool foreign;		/* in or under an element of another namespace */
	bool secret;		/* in or under an element marked secret */
};

/* The path in a message; <domain> itself has an empty one. */
static const char *here(const struct walk *w)
{
	return w->path[0] ? w->path : "domain";
}

static const struct qm_abi_rule *find_rule(const struct walk *w)
{
	return w->foreign ? &qm_abi_plain : qm_abi_find_rule(w->rule);
}

static bool listed(const char *const *list, const xmlChar *name)
{
	for (; list && *list; list++)
		if (xmlStrEqual(BAD_CAST(*list), name))
			return true;
	return false;
}

static const char *ns_href(const xmlNs *ns)
{
	return ns && ns->href ? (const char *)ns->href : "";
}

/* ---- attributes --------------------------------------------------------- */

struct attr_filter {
	const struct qm_abi_rule *rule;
	const char *const *skip; /* also skipped: what a caller has compared */
};

/* secret= is qmigrate's own mark, for what leaves the host: not the guest's. */
static bool skipped(const struct attr_filter *f, const xmlAttr *a)
{
	if (a->ns)
		return false;
	return xmlStrEqual(a->name, BAD_CAST "secret") ||
	       listed(f->rule->view, a->name) || listed(f->rule->host, a->name) ||
	       listed(f->skip, a->name);
}

static xmlAttr *find_attr(const xmlNode *n, const xmlAttr *like)
{
	for (xmlAttr *a = n ? n->properties : NULL; a; a = a->next)
		if (xmlStrEqual(a->name, like->name) &&
		    strcmp(ns_href(a->ns), ns_href(like->ns)) == 0)
			return a;
	return NULL;
}

/*
 * libvirt reads an address's numbers in decimal or in hex after 0x.  At
 * most 15 digits, so that two numbers too large to read are never equal.
 */
static bool as_number(const char *s, unsigned long long *v)
{
	char *end;
	int base = strncmp(s, "0x", 2) == 0 ? 16 : 10;
	size_t len;

	if (base == 16)
		s += 2;
	len = strspn(s, base == 16 ? "0123456789abcdefABCDEF" : "0123456789");
	if (len == 0 || len > 15 || s[len])
		return false;
	*v = strtoull(s, &end, base);
	return *end == '\0';
}

static bool same_value(const xmlNode *element, const char *a, const char *b)
{
	unsigned long long x, y;

	if (!a || !b)
		return a == b;
	if (strcmp(a, b) == 0)
		return true;
	return qm_dom_is(element, "address") && as_number(a, &x) && as_number(b, &y) &&
	       x == y;
}

static xmlChar *attr_value(struct walk *w, const xmlAttr *a)
{
	xmlChar *v;

	if (!a)
		return NULL;
	v = xmlNodeGetContent((const xmlNode *)a);
	w->abi->nomem |= !v;
	return v;
}

static void compare_attr(struct walk *w, const xmlNode *element, const xmlAttr *sa,
			 const xmlAttr *da)
{
	const xmlAttr *a = sa ? sa : da;
	_cleanup_xmlfree_ xmlChar *sv = attr_value(w, sa);
	_cleanup_xmlfree_ xmlChar *dv = attr_value(w, da);
	char name[QM_ABI_NAME];

	if ((sa && !sv) || (da && !dv) || same_value(element, (char *)sv, (char *)dv))
		return;
	qm_abi_name(name, a->ns, a->name);
	/* A password, wherever it is, is never shown. */
	qm_abi_strings(w->abi, here(w), name, (char *)sv, (char *)dv,
		       w->secret || (!a->ns && xmlStrEqual(a->name, BAD_CAST "passwd")));
}

static void compare_attrs(struct walk *w, const struct attr_filter *f, const xmlNode *s,
			  const xmlNode *d)
{
	const xmlNode *element = s ? s : d;

	for (xmlAttr *a = s ? s->properties : NULL; a; a = a->next)
		if (!skipped(f, a))
			compare_attr(w, element, a, find_attr(d, a));
	for (xmlAttr *a = d ? d->properties : NULL; a; a = a->next)
		if (!skipped(f, a) && !find_attr(s, a))
			compare_attr(w, element, NULL, a);
}

/* ---- text ---------------------------------------------------------------- */

/* The element's own text, its children's aside; NULL when it has none. */
static char *own_text(struct walk *w, const xmlNode *n)
{
	size_t len = 0;
	char *text;

	for (const xmlNode *c = n ? n->children : NULL; c; c = c->next)
		if (c->type == XML_TEXT_NODE || c->type == XML_CDATA_SECTION_NODE)
			len += (size_t)xmlStrlen(c->content);
	if (len == 0)
		return NULL;
	text = malloc(len + 1);
	w->abi->nomem |= !text;
	if (!text)
		return NULL;
	len = 0;
	for (const xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_TEXT_NODE && c->type != XML_CDATA_SECTION_NODE)
			continue;
		memcpy(text + len, c->content, (size_t)xmlStrlen(c->content));
		len += (size_t)xmlStrlen(c->content);
	}
	text[len] = '\0';
	return text;
}

static void compare_text(struct walk *w, const xmlNode *s, const xmlNode *d)
{
	_cleanup_free_ char *st = own_text(w, s);
	_cleanup_free_ char *dt = own_text(w, d);

	qm_abi_strings(w->abi, here(w), NULL, st, dt, w->secret);
}

/* ---- children ------------------------------------------------------------ */

/* A child element and its place, to sort children by name and keep their order. */
struct child {
	xmlNode *n;
	size_t pos;
};

static int name_cmp(const xmlNode *a, const xmlNode *b)
{
	int c = strcmp(ns_href(a->ns), ns_href(b->ns));

	return c ? c : xmlStrcmp(a->name, b->name);
}

static int by_name(const void *x, const void *y)
{
	const struct child *a = x, *b = y;
	int c = name_cmp(a->n, b->n);

	return c ? c : a->pos < b->pos ? -1 : a->pos > b->pos;
}

/* @n's child elements sorted by name, each name's in order; NULL when none. */
static struct child *children_of(struct walk *w, const xmlNode *n, size_t *count)
{
	struct child *list;
	size_t k = 0;

	*count = 0;
	for (xmlNode *c = n ? n->children : NULL; c; c = c->next)
		*count += c->type == XML_ELEMENT_NODE;
	if (*count == 0)
		return NULL;
	list = calloc(*count, sizeof(*list));
	w->abi->nomem |= !list;
	if (!list) {
		*count = 0;
		return NULL;
	}
	for (xmlNode *c = n->children; c; c = c->next) {
		if (c->type != XML_ELEMENT_NODE)
			continue;
		list[k] = (struct child){ c, k };
		k++;
	}
	qsort(list, *count, sizeof(*list), by_name);
	return list;
}

static void compare_node(struct walk *w, const struct qm_abi_rule *r, const xmlNode *s,
			 const xmlNode *d);

/* The rule path of the children named as @n, and whether rules still apply there. */
static void enter_rule(struct walk *w, const xmlNode *n)
{
	size_t rl = strlen(w->rule);

	if (n->ns && strcmp(ns_href(n->ns), QM_DOMAIN_QEMU_NS) != 0)
		w->foreign = true;
	snprintf(w->rule + rl, sizeof(w->rule) - rl, "%s%s%s", rl ? "/" : "",
		 n->ns ? "qemu:" : "", (const char *)n->name);
}

/* The path of @n in messages; a device goes by its place and its name. */
static void enter_path(struct walk *w, const xmlNode *n, size_t index, bool indexed,
		       bool device)
{
	size_t pl = strlen(w->path);
	char name[QM_ABI_NAME];

	if (device) {
		qm_abi_device_path(w->path, n, index);
		return;
	}
	qm_abi_name(name, n->ns, n->name);
	if (indexed)
		snprintf(w->path + pl, sizeof(w->path) - pl, "%s%s[%zu]", pl ? "/" : "",
			 name, index + 1);
	else
		snprintf(w->path + pl, sizeof(w->path) - pl, "%s%s", pl ? "/" : "", name);
}

/* One name's children on both sides under @r: @ns of @s with @nd of @d. */
static void compare_members(struct walk *w, const struct qm_abi_rule *r,
			    const struct child *s, size_t ns, const struct child *d,
			    size_t nd, bool device)
{
	size_t pl = strlen(w->path);
	char shown[QM_ABI_SHOWN];

	/* Host-side, the view's, or a list the view could not pair and said so. */
	if (r->how != QM_ABI_COMPARE ||
	    (r->list && (ns != nd || (w->abi->unpaired & r->list))))
		return;
	if (ns != nd && !r->parts) {
		enter_path(w, ns ? s[0].n : d[0].n, 0, false, false);
		qm_abi_diff(w->abi, "%s: %zu on the source, %zu on the destination",
			    qm_abi_path(w->path, shown), ns, nd);
		w->path[pl] = '\0';
		return;
	}
	for (size_t i = 0; i < ns || i < nd; i++) {
		enter_path(w, i < ns ? s[i].n : d[i].n, i, ns > 1 || nd > 1, device);
		compare_node(w, r, i < ns ? s[i].n : NULL, i < nd ? d[i].n : NULL);
		w->path[pl] = '\0';
	}
}

static void compare_group(struct walk *w, const struct child *s, size_t ns,
			  const struct child *d, size_t nd)
{
	size_t rl = strlen(w->rule);
	bool foreign = w->foreign, device = !foreign && strcmp(w->rule, "devices") == 0;

	enter_rule(w, ns ? s[0].n : d[0].n);
	compare_members(w, find_rule(w), s, ns, d, nd, device);
	w->rule[rl] = '\0';
	w->foreign = foreign;
}

static void compare_children(struct walk *w, const xmlNode *s, const xmlNode *d)
{
	size_t ns, nd, i = 0, j = 0;
	_cleanup_free_ struct child *sc = children_of(w, s, &ns);
	_cleanup_free_ struct child *dc = children_of(w, d, &nd);

	/* A merge of two sorted lists, one name at a time. */
	while (i < ns || j < nd) {
		const xmlNode *name;
		size_t i1 = i, j1 = j;

		if (i < ns && (j >= nd || name_cmp(sc[i].n, dc[j].n) <= 0))
			name = sc[i].n;
		else
			name = dc[j].n;
		while (i1 < ns && name_cmp(sc[i1].n, name) == 0)
			i1++;
		while (j1 < nd && name_cmp(dc[j1].n, name) == 0)
			j1++;
		/* A side with no children has no array to point into. */
		compare_group(w, sc ? sc + i : NULL, i1 - i, dc ? dc + j : NULL, j1 - j);
		i = i1;
		j = j1;
	}
}

/* @s or @d may be NULL, when the rule compares the element part by part. */
static void compare_node(struct walk *w, const struct qm_abi_rule *r, const xmlNode *s,
			 const xmlNode *d)
{
	struct attr_filter f = { .rule = r };
	bool secret = w->secret;

	w->secret |= qm_abi_marked_secret(s) || qm_abi_marked_secret(d);
	compare_attrs(w, &f, s, d);
	if (!r->view_text)
		compare_text(w, s, d);
	compare_children(w, s, d);
	w->secret = secret;
}

void qm_abi_tree(struct qm_abi *abi, const struct qm_domain *src,
		 const struct qm_domain *dst)
{
	struct walk w = { .abi = abi };

	compare_node(&w, qm_abi_find_rule(""), xmlDocGetRootElement(src->doc),
		     xmlDocGetRootElement(dst->doc));
}

void qm_abi_element(struct qm_abi *abi, const char *path, xmlNode *src, xmlNode *dst,
		    const char *const *skip)
{
	struct walk w = { .abi = abi, .foreign = true };
	struct attr_filter f = { .rule = &qm_abi_plain, .skip = skip };

	snprintf(w.path, sizeof(w.path), "%s", path);
	w.secret = qm_abi_secret(src) || qm_abi_secret(dst);
	compare_attrs(&w, &f, src, dst);
	compare_text(&w, src, dst);
	compare_children(&w, src, dst);
}
