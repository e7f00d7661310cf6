/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The ABI check: the machine and the passthrough from the typed view, then
 * the devices (domain-abi-dev.c) and the rest of the tree
 * (domain-abi-tree.c); every difference is collected, and the message
 * names as many as fit.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "xml/domain-abi-internal.h"
#include "xml/domain-internal.h"

#define HEAD                                                                             \
	"the destination's description would change what the guest sees; make it "       \
	"match the source's: "
#define MORE "; and %zu more"
#define PASSTHROUGH "(passed to QEMU verbatim: qmigrate cannot tell what that changes)"

/* A cut in the middle of a UTF-8 character would spoil a JSON result line. */
static void trim_partial_utf8(char *s, size_t len)
{
	while (len > 0 && ((unsigned char)s[len - 1] & 0xc0) == 0x80)
		len--;
	if (len > 0 && (unsigned char)s[len - 1] >= 0xc0)
		len--;
	s[len] = '\0';
}

void qm_abi_diff(struct qm_abi *abi, const char *fmt, ...)
{
	char *item;
	va_list ap;
	int n;

	if (abi->n++ >= QM_ABI_KEPT)
		return;
	item = abi->kept[abi->n - 1];
	va_start(ap, fmt);
	n = vsnprintf(item, QM_ABI_ITEM, fmt, ap);
	va_end(ap);
	if (n >= QM_ABI_ITEM)
		trim_partial_utf8(item, QM_ABI_ITEM - 1);
}

const char *qm_abi_quote(const char *s, char *buf)
{
	size_t len, keep, o = 0;

	if (!s) {
		snprintf(buf, QM_ABI_VALUE, "none");
		return buf;
	}
	len = strlen(s);
	/* Room for the quotes and the NUL, and when cut for "..." too. */
	keep = len <= QM_ABI_VALUE - 3 ? len : QM_ABI_VALUE - 6;
	while (keep < len && keep > 0 && ((unsigned char)s[keep] & 0xc0) == 0x80)
		keep--;
	buf[o++] = '"';
	for (size_t i = 0; i < keep; i++)
		buf[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	snprintf(buf + o, QM_ABI_VALUE - o, "%s\"", keep < len ? "..." : "");
	return buf;
}

const char *qm_abi_path(const char *path, char *buf)
{
	size_t len = strlen(path);
	const char *cut;

	if (len < QM_ABI_SHOWN)
		return path;
	/* At a '/', so that no name and no UTF-8 character is cut in half. */
	cut = strchr(path + len - (QM_ABI_SHOWN - 4), '/');
	snprintf(buf, QM_ABI_SHOWN, "...%s", cut ? cut : "");
	return buf;
}

void qm_abi_strings(struct qm_abi *abi, const char *path, const char *what, const char *a,
		    const char *b, bool secret)
{
	char qa[QM_ABI_VALUE], qb[QM_ABI_VALUE], shown[QM_ABI_SHOWN];

	if (a == b || (a && b && strcmp(a, b) == 0))
		return;
	path = qm_abi_path(path, shown);
	if (secret) {
		qm_abi_diff(abi, "%s: %s%sdiffers (a secret: not shown)", path,
			    what ? what : "", what ? " " : "");
		return;
	}
	qm_abi_diff(abi, "%s: %s%s%s on the source, %s on the destination", path,
		    what ? what : "", what ? " " : "", qm_abi_quote(a, qa),
		    qm_abi_quote(b, qb));
}

void qm_abi_name(char *buf, const xmlNs *ns, const xmlChar *name)
{
	bool prefix = ns && ns->prefix;
	int n = snprintf(buf, QM_ABI_NAME, "%s%s%s",
			 prefix ? (const char *)ns->prefix : "", prefix ? ":" : "",
			 (const char *)name);

	if (n >= QM_ABI_NAME)
		trim_partial_utf8(buf, QM_ABI_NAME - 1);
}

/* The attribute @attr of @n's first child of ours named @child; to xmlFree. */
static xmlChar *child_attr(const xmlNode *n, const char *child, const char *attr)
{
	for (xmlNode *c = n->children; c; c = c->next)
		if (qm_dom_is(c, child))
			return xmlGetNoNsProp(c, BAD_CAST attr);
	return NULL;
}

/* A disk goes by its target, an interface by its MAC: the names a user knows them by. */
void qm_abi_device_path(char *buf, const xmlNode *n, size_t index)
{
	_cleanup_xmlfree_ xmlChar *label = NULL;
	char name[QM_ABI_NAME];

	if (qm_abi_secret(n))
		; /* even its name */
	else if (qm_dom_is(n, "disk"))
		label = child_attr(n, "target", "dev");
	else if (qm_dom_is(n, "interface"))
		label = child_attr(n, "mac", "address");
	qm_abi_name(name, n->ns, n->name);
	/* The parser checked both labels: a token and a MAC address, short and ASCII. */
	snprintf(buf, QM_ABI_PATH, "devices/%s[%zu]%s%.32s%s", name, index + 1,
		 label ? " (" : "", label ? (const char *)label : "", label ? ")" : "");
}

static const char *cpu_mode(enum qm_domain_cpu_mode mode)
{
	return mode == QM_DOMAIN_CPU_NONE ? NULL : qm_domain_cpu_mode_names[mode];
}

/* Identity first: another name or uuid is another VM, not another host's copy. */
static void compare_machine(struct qm_abi *abi, const struct qm_domain *s,
			    const struct qm_domain *d)
{
	qm_abi_strings(abi, "name", NULL, s->name, d->name, false);
	qm_abi_strings(abi, "uuid", NULL, s->uuid, d->uuid, false);
	qm_abi_strings(abi, "domain", "type", qm_domain_accel_names[s->accel],
		       qm_domain_accel_names[d->accel], false);
	qm_abi_strings(abi, "os/type", "arch", s->arch, d->arch, false);
	qm_abi_strings(abi, "os/type", "machine", s->machine, d->machine, false);
	if (s->memory_kib != d->memory_kib)
		qm_abi_diff(abi,
			    "memory: %" PRIu64 " KiB on the source, %" PRIu64
			    " KiB on the destination",
			    s->memory_kib, d->memory_kib);
	if (s->vcpus != d->vcpus)
		qm_abi_diff(abi, "vcpu: %u on the source, %u on the destination",
			    s->vcpus, d->vcpus);
	/* Without current= it follows the count: that difference is said once, above. */
	if (s->vcpus_current != d->vcpus_current &&
	    (s->vcpus == d->vcpus || s->vcpus_current != s->vcpus ||
	     d->vcpus_current != d->vcpus))
		qm_abi_diff(abi, "vcpu: current %u on the source, %u on the destination",
			    s->vcpus_current, d->vcpus_current);
	qm_abi_strings(abi, "cpu", "mode", cpu_mode(s->cpu_mode), cpu_mode(d->cpu_mode),
		       false);
	qm_abi_strings(abi, "cpu/model", NULL, s->cpu_model, d->cpu_model, false);
}

bool qm_abi_marked_secret(const xmlNode *n)
{
	_cleanup_xmlfree_ xmlChar *v = n ? xmlGetNoNsProp(n, BAD_CAST "secret") : NULL;

	return xmlStrEqual(v, BAD_CAST "yes");
}

bool qm_abi_secret(const xmlNode *n)
{
	for (; n && n->type == XML_ELEMENT_NODE; n = n->parent)
		if (qm_abi_marked_secret(n))
			return true;
	return false;
}

/* The <qemu:arg> elements of @d in order, as the view read their values. */
static size_t qemu_arg_nodes(const struct qm_domain *d, xmlNode **args)
{
	size_t n = 0;

	for (xmlNode *c = xmlDocGetRootElement(d->doc)->children; c; c = c->next)
		for (xmlNode *a = qm_dom_is_qemu(c, "commandline") ? c->children : NULL;
		     a && n < QM_DOMAIN_MAX_QEMU_ARGS; a = a->next)
			if (qm_dom_is_qemu(a, "arg"))
				args[n++] = a;
	return n;
}

/* Verbatim: an argument qmigrate does not parse may change anything at all. */
static void compare_passthrough(struct qm_abi *abi, const struct qm_domain *s,
				const struct qm_domain *d)
{
	xmlNode *sa[QM_DOMAIN_MAX_QEMU_ARGS], *da[QM_DOMAIN_MAX_QEMU_ARGS];
	char qa[QM_ABI_VALUE], qb[QM_ABI_VALUE];
	const char *why = " " PASSTHROUGH; /* said once */

	if (s->n_qemu_args != d->n_qemu_args) {
		qm_abi_diff(abi,
			    "qemu:commandline: %zu arguments on the source, %zu on the "
			    "destination%s",
			    s->n_qemu_args, d->n_qemu_args, why);
		return;
	}
	qemu_arg_nodes(s, sa);
	qemu_arg_nodes(d, da);
	for (size_t i = 0; i < s->n_qemu_args; i++) {
		if (strcmp(s->qemu_args[i], d->qemu_args[i]) == 0)
			continue;
		if (qm_abi_secret(sa[i]) || qm_abi_secret(da[i]))
			qm_abi_diff(abi,
				    "qemu:commandline: argument %zu differs (a "
				    "secret: not shown)%s",
				    i + 1, why);
		else
			qm_abi_diff(abi,
				    "qemu:commandline: argument %zu %s on the source, "
				    "%s on the destination%s",
				    i + 1, qm_abi_quote(s->qemu_args[i], qa),
				    qm_abi_quote(d->qemu_args[i], qb), why);
		why = "";
	}
}

/* The header, then every difference that fits, then how many did not. */
static int report(const struct qm_abi *abi, struct qm_error *err)
{
	char text[sizeof(err->text)], more[32];
	size_t len = strlen(HEAD), shown = 0;

	memcpy(text, HEAD, len + 1);
	for (; shown < abi->n && shown < QM_ABI_KEPT; shown++) {
		const char *item = abi->kept[shown];
		size_t need = (shown ? 2 : 0) + strlen(item);

		if (shown + 1 < abi->n)
			need += (size_t)snprintf(more, sizeof(more), MORE, abi->n);
		if (len + need >= sizeof(text))
			break;
		len += (size_t)snprintf(text + len, sizeof(text) - len, "%s%s",
					shown ? "; " : "", item);
	}
	if (shown < abi->n)
		snprintf(text + len, sizeof(text) - len, MORE, abi->n - shown);
	return qm_error_set(err, -EINVAL, "DomainAbi", "%s", text);
}

int qm_domain_abi_check(const struct qm_domain *src, const struct qm_domain *dst,
			struct qm_error *err)
{
	struct qm_abi abi = { 0 };

	compare_machine(&abi, src, dst);
	qm_abi_devices(&abi, src, dst);
	compare_passthrough(&abi, src, dst);
	qm_abi_tree(&abi, src, dst);
	if (abi.nomem)
		return qm_error_set(err, -ENOMEM, "DomainAbi",
				    "out of memory while comparing the descriptions");
	return abi.n ? report(&abi, err) : 0;
}
