/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The second half of reading a cookie: from the XML tree to struct qm_cookie.
 * Elements are found by name in any order; unknown elements and attributes
 * are ignored (that is how a passwd attribute is dropped), duplicates are
 * refused, and each section must be announced by its <feature>.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include <libxml/tree.h>

#include "util/error.h"
#include "util/uuid.h"
#include "xml/cookie-internal.h"
#include "xml/text.h"

/* An element of ours: no namespace. */
static bool is_element(const xmlNode *n, const char *name)
{
	return n->type == XML_ELEMENT_NODE && !n->ns &&
	       (!name || xmlStrEqual(n->name, BAD_CAST name));
}

static int too_long(const char *label, size_t len, size_t size, struct qm_error *err)
{
	return qm_error_set(err, -EMSGSIZE, "CookieInvalid",
			    "cookie %s is too long: %zu bytes, at most %zu", label, len,
			    size - 1);
}

static int copy_value(const char *label, const xmlChar *value, char *dst, size_t size,
		      struct qm_error *err)
{
	size_t len;

	if (!value)
		return qm_error_set(err, -ENOMEM, "CookieMalformed", "out of memory");
	len = strlen((const char *)value);
	if (len >= size)
		return too_long(label, len, size, err);
	memcpy(dst, value, len + 1);
	return 0;
}

/* The text inside @n, e.g. <name>TEXT</name>. */
static int get_text(xmlNode *n, const char *label, char *dst, size_t size,
		    struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *text = xmlNodeGetContent(n);

	return copy_value(label, text, dst, size, err);
}

/* A required attribute must be there and not empty; an optional one may be absent. */
static int get_attr(xmlNode *n, const char *attr, bool required, char *dst, size_t size,
		    struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *v = xmlGetNoNsProp(n, BAD_CAST attr);
	char label[64];

	snprintf(label, sizeof(label), "<%s %s>", (const char *)n->name, attr);
	if (required && (!v || !v[0]))
		return qm_error_set(err, -EBADMSG, "CookieInvalid",
				    "cookie element <%s> has no %s attribute",
				    (const char *)n->name, attr);
	return v ? copy_value(label, v, dst, size, err) : 0;
}

/* An absent port is -1, "none". */
static int get_port(xmlNode *n, const char *attr, int *port, struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *v = xmlGetNoNsProp(n, BAD_CAST attr);
	const char *s = (const char *)v;
	uint64_t u;

	*port = -1;
	if (!s || strcmp(s, "-1") == 0)
		return 0;
	if (!qm_text_to_u64(s, 65535, &u))
		return qm_error_set(err, -ERANGE, "CookieInvalid",
				    "cookie <%s %s='%.32s'> is not an "
				    "integer in -1..65535",
				    (const char *)n->name, attr, s);
	*port = (int)u;
	return 0;
}

static int duplicate(const char *element, struct qm_error *err)
{
	return qm_error_set(err, -EBADMSG, "CookieInvalid",
			    "cookie has more than one <%s>", element);
}

static int parse_graphics(xmlNode *n, struct qm_cookie *c, struct qm_error *err)
{
	struct qm_cookie_graphics *g = &c->graphics;
	int r;

	/* Any passwd attribute is never read: a cookie carries no secrets. */
	r = get_attr(n, "type", true, g->type, sizeof(g->type), err);
	if (r == 0)
		r = get_port(n, "port", &g->port, err);
	if (r == 0)
		r = get_port(n, "tlsPort", &g->tls_port, err);
	if (r == 0)
		r = get_attr(n, "listen", false, g->listen, sizeof(g->listen), err);
	if (r < 0)
		return r;
	for (xmlNode *cert = n->children; cert; cert = cert->next) {
		_cleanup_xmlfree_ xmlChar *info = NULL;

		if (!is_element(cert, "cert"))
			continue;
		info = xmlGetNoNsProp(cert, BAD_CAST "info");
		if (!xmlStrEqual(info, BAD_CAST "subject"))
			continue;
		if (g->tls_subject[0])
			return duplicate("cert info='subject'", err);
		r = get_attr(cert, "value", true, g->tls_subject, sizeof(g->tls_subject),
			     err);
		if (r < 0)
			return r;
	}
	return 0;
}

/* Required: finish checks that the lease file is still at this generation. */
static int get_generation(xmlNode *n, uint64_t *gen, struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *v = xmlGetNoNsProp(n, BAD_CAST "generation");

	if (!v)
		return qm_error_set(err, -EBADMSG, "CookieInvalid",
				    "cookie element <lease> has no generation attribute");
	if (!qm_text_to_u64((const char *)v, UINT64_MAX, gen) || *gen == 0)
		return qm_error_set(err, -ERANGE, "CookieInvalid",
				    "cookie <lease generation='%.32s'> is not an integer "
				    "in 1..18446744073709551615",
				    (const char *)v);
	return 0;
}

static int parse_leases(xmlNode *n, struct qm_cookie_lockstate *l, struct qm_error *err)
{
	int r;

	for (xmlNode *lease = n->children; lease; lease = lease->next) {
		if (!is_element(lease, "lease"))
			continue;
		if (l->n_leases == QM_COOKIE_MAX_LEASES)
			return qm_error_set(err, -E2BIG, "CookieInvalid",
					    "cookie carries more than %d leases",
					    QM_COOKIE_MAX_LEASES);
		r = get_attr(lease, "path", true, l->leases[l->n_leases].path,
			     sizeof(l->leases[0].path), err);
		if (r == 0)
			r = get_generation(lease, &l->leases[l->n_leases].generation, err);
		if (r < 0)
			return r;
		l->n_leases++;
	}
	return 0;
}

static int parse_lockstate(xmlNode *n, struct qm_cookie *c, struct qm_error *err)
{
	struct qm_cookie_lockstate *l = &c->lockstate;
	bool seen = false;
	int r;

	r = get_attr(n, "driver", true, l->driver, sizeof(l->driver), err);
	if (r < 0)
		return r;
	for (xmlNode *leases = n->children; leases; leases = leases->next) {
		if (!is_element(leases, "leases"))
			continue;
		if (seen)
			return duplicate("leases", err);
		seen = true;
		r = parse_leases(leases, l, err);
		if (r < 0)
			return r;
	}
	return 0;
}

static int parse_migrate(xmlNode *n, struct qm_cookie *c, struct qm_error *err)
{
	return get_attr(n, "uri", true, c->migrate_uri, sizeof(c->migrate_uri), err);
}

/* An optional pid: absent is 0. */
static int get_pid(xmlNode *n, long *pid, struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *v = xmlGetNoNsProp(n, BAD_CAST "pid");
	uint64_t u;

	*pid = 0;
	if (!v)
		return 0;
	if (!qm_text_to_u64((const char *)v, 1u << 22, &u) || u == 0)
		return qm_error_set(err, -ERANGE, "CookieInvalid",
				    "cookie <%s pid='%.32s'> is not a process id",
				    (const char *)n->name, (const char *)v);
	*pid = (long)u;
	return 0;
}

/* @attr is one of two words: *@first says which. */
static int get_choice(xmlNode *n, const char *attr, const char *yes, const char *no,
		      bool *first, struct qm_error *err)
{
	char v[16];
	int r = get_attr(n, attr, true, v, sizeof(v), err);

	if (r < 0)
		return r;
	if (strcmp(v, yes) != 0 && strcmp(v, no) != 0)
		return qm_error_set(err, -EINVAL, "CookieInvalid",
				    "cookie <%s %s='%s'> is neither '%s' nor '%s'",
				    (const char *)n->name, attr, v, yes, no);
	*first = strcmp(v, yes) == 0;
	return 0;
}

static int parse_source(xmlNode *n, struct qm_cookie *c, struct qm_error *err)
{
	struct qm_cookie_source *s = &c->source;
	int r;

	r = get_attr(n, "arch", true, s->arch, sizeof(s->arch), err);
	if (r == 0)
		r = get_attr(n, "machine", true, s->machine, sizeof(s->machine), err);
	if (r == 0)
		r = get_choice(n, "accel", "kvm", "tcg", &s->kvm, err);
	if (r == 0)
		r = get_choice(n, "state", "running", "paused", &s->running, err);
	if (r == 0)
		r = get_pid(n, &s->pid, err);
	return r;
}

/* Absent statistics are 0; unknown ones (from a newer peer) are ignored. */
static int parse_stat(xmlNode *n, const struct qm_cookie_stat_info *f,
		      struct qm_cookie_stats *s, struct qm_error *err)
{
	_cleanup_xmlfree_ xmlChar *text = xmlNodeGetContent(n);
	void *p = (char *)s + f->offset;
	uint64_t v;

	if (!text)
		return qm_error_set(err, -ENOMEM, "CookieMalformed", "out of memory");
	if (!qm_text_to_u64((const char *)text, f->is_signed ? INT64_MAX : UINT64_MAX, &v))
		return qm_error_set(err, -ERANGE, "CookieInvalid",
				    "cookie statistic <%s>%.32s</%s> is not "
				    "a non-negative integer",
				    f->element, (const char *)text, f->element);
	if (f->is_signed)
		*(int64_t *)p = (int64_t)v;
	else
		*(uint64_t *)p = v;
	return 0;
}

static int parse_stats(xmlNode *n, struct qm_cookie *c, struct qm_error *err)
{
	unsigned seen = 0;
	int r;

	for (xmlNode *child = n->children; child; child = child->next) {
		for (size_t i = 0; i < ARRAY_SIZE(qm_cookie_stats_fields); i++) {
			const struct qm_cookie_stat_info *f = &qm_cookie_stats_fields[i];

			if (!is_element(child, f->element))
				continue;
			if (seen & (1u << i))
				return duplicate(f->element, err);
			seen |= 1u << i;
			r = parse_stat(child, f, &c->stats, err);
			if (r < 0)
				return r;
		}
	}
	return 0;
}

static int parse_disk(xmlNode *n, struct qm_cookie_nbd *nbd, struct qm_error *err)
{
	struct qm_cookie_disk *d;
	char cap[24];
	int r;

	if (nbd->n_disks == QM_COOKIE_MAX_DISKS)
		return qm_error_set(err, -E2BIG, "CookieInvalid",
				    "cookie carries more than %d disks", QM_COOKIE_MAX_DISKS);
	d = &nbd->disks[nbd->n_disks];
	r = get_attr(n, "target", true, d->target, sizeof(d->target), err);
	if (r == 0)
		r = get_attr(n, "export", false, d->export_name, sizeof(d->export_name), err);
	if (r == 0)
		r = get_attr(n, "capacity", true, cap, sizeof(cap), err);
	if (r == 0)
		r = get_attr(n, "backing", false, d->backing, sizeof(d->backing), err);
	if (r == 0)
		r = get_attr(n, "backing-format", false, d->backing_format,
			     sizeof(d->backing_format), err);
	if (r < 0)
		return r;
	if (!qm_text_to_u64(cap, INT64_MAX, &d->capacity) || d->capacity == 0)
		return qm_error_set(err, -ERANGE, "CookieInvalid",
				    "cookie <disk capacity='%.24s'> is not a size in bytes", cap);
	nbd->n_disks++;
	return 0;
}

static int parse_nbd(xmlNode *n, struct qm_cookie *c, struct qm_error *err)
{
	struct qm_cookie_nbd *nbd = &c->nbd;
	int r;

	r = get_attr(n, "host", false, nbd->host, sizeof(nbd->host), err);
	if (r == 0)
		r = get_port(n, "port", &nbd->port, err);
	if (r == 0)
		r = get_attr(n, "socket", false, nbd->socket, sizeof(nbd->socket), err);
	for (xmlNode *d = n->children; r == 0 && d; d = d->next)
		if (is_element(d, "disk"))
			r = parse_disk(d, nbd, err);
	return r;
}

static const struct {
	unsigned flag;
	int (*parse)(xmlNode *n, struct qm_cookie *c, struct qm_error *err);
} section_parsers[] = {
	{ QM_COOKIE_GRAPHICS, parse_graphics },
	{ QM_COOKIE_LOCKSTATE, parse_lockstate },
	{ QM_COOKIE_MIGRATE, parse_migrate },
	{ QM_COOKIE_STATS, parse_stats },
	{ QM_COOKIE_SOURCE, parse_source },
	{ QM_COOKIE_NBD, parse_nbd },
};

/* clang-format off */
#define HEADER(element, field)                                                           \
	{ element, offsetof(struct qm_cookie, field), sizeof(((struct qm_cookie *)0)->field) }
/* clang-format on */

static const struct {
	const char *element;
	size_t offset, size;
} header_fields[] = {
	HEADER("name", name),
	HEADER("uuid", uuid),
	HEADER("hostname", hostname),
	HEADER("hostuuid", host_uuid),
};

/* Reads the <feature> list: which sections are announced, which are mandatory. */
static int parse_features(xmlNode *root, unsigned *listed, unsigned *mandatory,
			  struct qm_error *err)
{
	for (xmlNode *n = root->children; n; n = n->next) {
		_cleanup_xmlfree_ xmlChar *name = NULL, *mand = NULL;
		const struct qm_cookie_feature_info *f;
		bool required;

		if (!is_element(n, "feature"))
			continue;
		name = xmlGetNoNsProp(n, BAD_CAST "name");
		mand = xmlGetNoNsProp(n, BAD_CAST "mandatory");
		if (!name || !name[0])
			return qm_error_set(err, -EBADMSG, "CookieInvalid",
					    "cookie has a <feature> without a name");
		if (mand && !xmlStrEqual(mand, BAD_CAST "yes") &&
		    !xmlStrEqual(mand, BAD_CAST "no"))
			return qm_error_set(err, -EBADMSG, "CookieInvalid",
					    "cookie feature '%.64s' has "
					    "mandatory='%.16s', neither yes nor no",
					    (const char *)name, (const char *)mand);
		required = mand && xmlStrEqual(mand, BAD_CAST "yes");
		f = qm_cookie_feature_by_name((const char *)name);
		if (!f && required)
			return qm_error_set(err, -EPROTONOSUPPORT, "CookieFeature",
					    "cookie requires feature '%.64s', "
					    "which this qmigrate (%s) does not "
					    "know: the peer runs a newer qmigrate "
					    "than this one; upgrade this side",
					    (const char *)name, PACKAGE_VERSION);
		if (!f)
			continue;
		*listed |= f->flag;
		if (required)
			*mandatory |= f->flag;
	}
	return 0;
}

static int parse_section(xmlNode *n, unsigned listed, struct qm_cookie *c,
			 struct qm_error *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(qm_cookie_features); i++) {
		const struct qm_cookie_feature_info *f = &qm_cookie_features[i];

		if (!is_element(n, f->element))
			continue;
		if (!(listed & f->flag))
			return qm_error_set(err, -EBADMSG, "CookieInvalid",
					    "cookie has a <%s> section but does not list "
					    "feature '%s'",
					    f->element, f->name);
		if (c->features & f->flag)
			return duplicate(f->element, err);
		c->features |= f->flag;
		return section_parsers[i].parse(n, c, err);
	}
	return 0; /* not a section this qmigrate knows: ignored */
}

static int parse_header(xmlNode *n, unsigned *seen, struct qm_cookie *c,
			struct qm_error *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(header_fields); i++) {
		const char *element = header_fields[i].element;
		char label[16];

		if (!is_element(n, element))
			continue;
		if (*seen & (1u << i))
			return duplicate(element, err);
		*seen |= 1u << i;
		snprintf(label, sizeof(label), "<%s>", element);
		return get_text(n, label, (char *)c + header_fields[i].offset,
				header_fields[i].size, err);
	}
	return 0;
}

static int parse_root(xmlNode *root, struct qm_cookie *c, struct qm_error *err)
{
	unsigned listed = 0, mandatory = 0, seen = 0;
	int r;

	r = parse_features(root, &listed, &mandatory, err);
	if (r < 0)
		return r;
	for (xmlNode *n = root->children; n; n = n->next) {
		r = parse_header(n, &seen, c, err);
		if (r == 0)
			r = parse_section(n, listed, c, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < ARRAY_SIZE(header_fields); i++)
		if (!(seen & (1u << i)))
			return qm_error_set(err, -EBADMSG, "CookieInvalid",
					    "cookie has no <%s>",
					    header_fields[i].element);
	for (size_t i = 0; i < ARRAY_SIZE(qm_cookie_features); i++)
		if (listed & ~c->features & qm_cookie_features[i].flag)
			return qm_error_set(err, -EBADMSG, "CookieInvalid",
					    "cookie lists feature '%s' but has "
					    "no <%s> section",
					    qm_cookie_features[i].name,
					    qm_cookie_features[i].element);
	c->mandatory = mandatory;
	return 0;
}

static int check_cookie(const struct qm_cookie *c, const struct qm_cookie_check *check,
			struct qm_error *err)
{
	if (!check)
		return 0;
	if (check->name && strcmp(check->name, c->name) != 0)
		return qm_error_set(err, -EINVAL, "CookieMismatch",
				    "cookie is for domain '%s', expected '%s'", c->name,
				    check->name);
	if (check->uuid && strcasecmp(check->uuid, c->uuid) != 0)
		return qm_error_set(err, -EINVAL, "CookieMismatch",
				    "cookie is for domain uuid %s, expected %s", c->uuid,
				    check->uuid);
	if (check->local_host_uuid &&
	    strcasecmp(check->local_host_uuid, c->host_uuid) == 0)
		return qm_error_set(err, -EINVAL, "CookieSameHost",
				    "source and destination are the same "
				    "host (host uuid %s): a domain cannot "
				    "migrate to the host it runs on; to "
				    "migrate within one host anyway (tests, "
				    "one-host labs) use --allow-same-host",
				    c->host_uuid);
	return 0;
}

static int parse(const char *xml, size_t len, const struct qm_cookie_check *check,
		 struct qm_cookie *c, struct qm_error *err)
{
	_cleanup_(doc_freep) xmlDocPtr doc = NULL;
	xmlNode *root;
	int r;

	r = qm_cookie_read_xml(xml, len, &doc, err);
	if (r < 0)
		return r;
	root = xmlDocGetRootElement(doc);
	if (!root || !is_element(root, QM_COOKIE_ROOT))
		return qm_error_set(err, -EBADMSG, "CookieInvalid",
				    "cookie root element is <%.64s>%s%.64s, not <%s>",
				    root ? (const char *)root->name : "",
				    root && root->ns ? " in namespace " : "",
				    root && root->ns && root->ns->href
					? (const char *)root->ns->href
					: "",
				    QM_COOKIE_ROOT);
	r = parse_root(root, c, err);
	if (r == 0)
		r = qm_cookie_validate(c, err);
	if (r < 0)
		return r;
	qm_uuid_normalise(c->uuid, c->uuid);
	qm_uuid_normalise(c->host_uuid, c->host_uuid);
	return check_cookie(c, check, err);
}

int qm_cookie_parse(const char *xml, size_t len, const struct qm_cookie_check *check,
		    struct qm_cookie *c, struct qm_error *err)
{
	int r;

	memset(c, 0, sizeof(*c));
	r = parse(xml, len, check, c, err);
	/* No half-read cookie for a caller who forgets to look at the result. */
	if (r < 0)
		memset(c, 0, sizeof(*c));
	return r;
}
