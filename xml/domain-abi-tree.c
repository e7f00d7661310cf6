/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The whole tree, compared element by element: every attribute, every text
 * and every child, whether qmigrate knows it or not.  The rules below list
 * the exceptions, by the element's path from <domain>: what is host-side
 * (may differ), and what the typed view compares in its own terms (a
 * memory size in any unit, a uuid in either case).  An element with no
 * rule is compared as it is written; so is everything inside an element in
 * a namespace other than ours and libvirt's QEMU one.
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

enum how {
	COMPARE, /* attributes, text and children, but for the rule's lists */
	HOST,	 /* the host's business, with all it holds: may differ, or be absent */
	VIEW,	 /* the typed view compares all of it */
};

struct rule {
	/* From <domain>, names without indices; "" is <domain>, "*" any one name. */
	const char *path;
	enum how how;
	/*
	 * Its presence alone says nothing the view has not compared (absent,
	 * it has defaults): on one side only, its parts are compared with
	 * nothing, one by one.  Without it, an element on one side only is a
	 * difference in itself.
	 */
	bool parts;
	bool view_text; /* its text is the view's */
	unsigned list;	/* a device list of the view: paired only as the view did */
	const char *const *view; /* attributes the view compares */
	const char *const *host; /* attributes that may differ */
};

/* clang-format off */
#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define CHR_HOST_PARTS(kind)                                                             \
	{ .path = "devices/" kind "/source", .how = HOST },                              \
	{ .path = "devices/" kind "/protocol", .how = HOST },                            \
	{ .path = "devices/" kind "/log", .how = HOST },                                 \
	{ .path = "devices/" kind "/target", .parts = true, .view = L("port", "type") }

static const struct rule rules[] = {
	/* id is the host's running number for the domain. */
	{ .path = "", .view = L("type"), .host = L("id") },
	{ .path = "name", .parts = true, .view_text = true },
	{ .path = "uuid", .parts = true, .view_text = true },
	/* Words for people and programs on the host; the guest never sees them. */
	{ .path = "title", .how = HOST },
	{ .path = "description", .how = HOST },
	{ .path = "metadata", .how = HOST },
	/* dumpCore: whether the host's core dumps hold guest memory. */
	{ .path = "memory", .parts = true, .view_text = true, .view = L("unit"),
	  .host = L("dumpCore") },
	/* The balloon's target: run-time state, which migrates with the balloon. */
	{ .path = "currentMemory", .how = HOST },
	/* placement and cpuset pin vCPUs to host CPUs. */
	{ .path = "vcpu", .parts = true, .view_text = true, .view = L("current"),
	  .host = L("placement", "cpuset") },
	/* Host resources: cgroups, pinning, limits, security labels. */
	{ .path = "resource", .how = HOST },
	{ .path = "cputune", .how = HOST },
	{ .path = "memtune", .how = HOST },
	{ .path = "blkiotune", .how = HOST },
	{ .path = "numatune", .how = HOST },
	{ .path = "seclabel", .how = HOST },
	/* What the host does once the guest has powered off, rebooted or crashed. */
	{ .path = "on_poweroff", .how = HOST },
	{ .path = "on_reboot", .how = HOST },
	{ .path = "on_crash", .how = HOST },
	{ .path = "os/type", .parts = true, .view_text = true, .view = L("arch", "machine") },
	/* check: how libvirt checks the host's CPU against the model. */
	{ .path = "cpu", .parts = true, .view = L("mode"), .host = L("check") },
	{ .path = "cpu/model", .parts = true, .view_text = true },
	{ .path = "devices", .parts = true },
	{ .path = "devices/emulator", .how = HOST },
	/*
	 * The name libvirt gives a device on QEMU's command line: never seen
	 * by the guest, and not used on qmigrate's.
	 */
	{ .path = "devices/*/alias", .how = HOST },

	/* snapshot: libvirt's policy for the host's snapshots. */
	{ .path = "devices/disk", .list = QM_ABI_DISKS, .view = L("device"),
	  .host = L("type", "snapshot") },
	/* The image's container and how the host reads and caches it. */
	{ .path = "devices/disk/driver", .parts = true,
	  .host = L("name", "type", "cache", "io") },
	{ .path = "devices/disk/source", .how = HOST },
	{ .path = "devices/disk/backingStore", .how = HOST },
	{ .path = "devices/disk/target", .parts = true, .view = L("dev", "bus") },
	{ .path = "devices/disk/readonly", .how = VIEW },
	{ .path = "devices/disk/serial", .parts = true, .view_text = true },
	{ .path = "devices/disk/address", .how = VIEW },

	/* user or ethernet, the tap's name, a host network: the host's end. */
	{ .path = "devices/interface", .list = QM_ABI_NETS, .host = L("type") },
	{ .path = "devices/interface/target", .how = HOST },
	{ .path = "devices/interface/source", .how = HOST },
	{ .path = "devices/interface/mac", .parts = true, .view = L("address") },
	{ .path = "devices/interface/model", .parts = true, .view = L("type") },
	{ .path = "devices/interface/address", .how = VIEW },

	/* Where and how clients reach the display: the host's server. */
	{ .path = "devices/graphics", .list = QM_ABI_GRAPHICS, .view = L("type"),
	  .host = L("listen", "port", "autoport", "tlsPort", "websocket", "passwd",
		    "passwdValidTo", "connected", "sharePolicy") },
	{ .path = "devices/graphics/listen", .how = HOST },

	/* The chr type (pty, file, unix, tcp), its source and its log: the host's end. */
	{ .path = "devices/serial", .list = QM_ABI_SERIALS, .host = L("type") },
	CHR_HOST_PARTS("serial"),
	{ .path = "devices/console", .list = QM_ABI_CONSOLES, .host = L("type", "tty") },
	CHR_HOST_PARTS("console"),

	{ .path = "qemu:commandline", .parts = true },
	{ .path = "qemu:commandline/qemu:arg", .parts = true, .view = L("value") },
};
/* clang-format on */

/* An element with no rule: compared as it is written. */
static const struct rule plain = { .path = NULL };

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

/* @path against @pattern, where a segment "*" stands for any one name. */
static bool matches(const char *pattern, const char *path)
{
	while (*pattern && *path) {
		size_t p = strcspn(pattern, "/"), n = strcspn(path, "/");

		if (!(p == 1 && *pattern == '*') && (p != n || strncmp(pattern, path, n)))
			return false;
		pattern += p + (pattern[p] == '/');
		path += n + (path[n] == '/');
	}
	return !*pattern && !*path;
}

static const struct rule *find_rule(const struct walk *w)
{
	if (w->foreign)
		return &plain;
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		if (matches(rules[i].path, w->rule))
			return &rules[i];
	return &plain;
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
	const struct rule *rule;
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

static void compare_node(struct walk *w, const struct rule *r, const xmlNode *s,
			 const xmlNode *d);

/* The part of the paths for one child, and whether rules still apply under it. */
static void enter(struct walk *w, const xmlNode *n, size_t index, bool indexed)
{
	size_t pl = strlen(w->path), rl = strlen(w->rule);
	bool devices = !w->foreign && strcmp(w->rule, "devices") == 0;
	char name[QM_ABI_NAME];

	qm_abi_name(name, n->ns, n->name);
	if (devices)
		qm_abi_device_path(w->path, n, index);
	else
		snprintf(w->path + pl, sizeof(w->path) - pl, "%s%s", pl ? "/" : "", name);
	pl = strlen(w->path);
	if (indexed && !devices)
		snprintf(w->path + pl, sizeof(w->path) - pl, "[%zu]", index + 1);
	if (n->ns && strcmp(ns_href(n->ns), QM_DOMAIN_QEMU_NS) != 0)
		w->foreign = true;
	snprintf(w->rule + rl, sizeof(w->rule) - rl, "%s%s%s", rl ? "/" : "",
		 n->ns ? "qemu:" : "", (const char *)n->name);
}

/* One name's children on both sides: @ns of @s with @nd of @d. */
static void compare_group(struct walk *w, const struct child *s, size_t ns,
			  const struct child *d, size_t nd)
{
	const xmlNode *first = ns ? s[0].n : d[0].n;
	size_t pl = strlen(w->path), rl = strlen(w->rule);
	bool foreign = w->foreign;
	const struct rule *r;

	enter(w, first, 0, false);
	r = find_rule(w);
	w->path[pl] = '\0';
	w->rule[rl] = '\0';
	w->foreign = foreign;
	if (r->how != COMPARE ||
	    (r->list && (ns != nd || (w->abi->unpaired & r->list)))) {
		/* Host-side, the view's, or a list whose count the view reported. */
	} else if (ns != nd && !r->parts) {
		char name[QM_ABI_NAME], shown[QM_ABI_SHOWN];

		qm_abi_name(name, first->ns, first->name);
		qm_abi_diff(w->abi, "%s%s%s: %zu on the source, %zu on the destination",
			    qm_abi_path(w->path, shown), pl ? "/" : "", name, ns, nd);
	} else {
		for (size_t i = 0; i < ns || i < nd; i++) {
			w->path[pl] = '\0';
			w->rule[rl] = '\0';
			w->foreign = foreign;
			enter(w, i < ns ? s[i].n : d[i].n, i, ns > 1 || nd > 1);
			compare_node(w, r, i < ns ? s[i].n : NULL,
				     i < nd ? d[i].n : NULL);
		}
	}
	w->path[pl] = '\0';
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
static void compare_node(struct walk *w, const struct rule *r, const xmlNode *s,
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

	compare_node(&w, &rules[0], xmlDocGetRootElement(src->doc),
		     xmlDocGetRootElement(dst->doc));
}

void qm_abi_element(struct qm_abi *abi, const char *path, xmlNode *src, xmlNode *dst,
		    const char *const *skip)
{
	struct walk w = { .abi = abi, .foreign = true };
	struct attr_filter f = { .rule = &plain, .skip = skip };

	snprintf(w.path, sizeof(w.path), "%s", path);
	w.secret = qm_abi_secret(src) || qm_abi_secret(dst);
	compare_attrs(&w, &f, src, dst);
	compare_text(&w, src, dst);
	compare_children(&w, src, dst);
}
