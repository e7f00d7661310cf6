/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stddef.h>
#include <string.h>

#include <libxml/xmlstring.h>

#include "util/error.h"
#include "util/host.h"
#include "util/uuid.h"
#include "xml/cookie-internal.h"
#include "xml/text.h"

const struct qm_cookie_feature_info qm_cookie_features[6] = {
	{ QM_COOKIE_GRAPHICS, "graphics", "graphics" },
	{ QM_COOKIE_LOCKSTATE, "lockstate", "lockstate" },
	{ QM_COOKIE_MIGRATE, "migrate", "migrate" },
	{ QM_COOKIE_STATS, "statistics", "statistics" },
	{ QM_COOKIE_SOURCE, "source", "source" },
	{ QM_COOKIE_NBD, "nbd", "nbd" },
};

/* clang-format off */
#define STAT(field, signed_) { #field, offsetof(struct qm_cookie_stats, field), signed_ }

const struct qm_cookie_stat_info qm_cookie_stats_fields[7] = {
	STAT(total_ms, true),
	STAT(downtime_ms, true),
	STAT(setup_ms, true),
	STAT(transferred_bytes, false),
	STAT(remaining_bytes, false),
	STAT(total_bytes, false),
	STAT(passes, false),
};
/* clang-format on */

const struct qm_cookie_feature_info *qm_cookie_feature_by_name(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(qm_cookie_features); i++)
		if (strcmp(qm_cookie_features[i].name, name) == 0)
			return &qm_cookie_features[i];
	return NULL;
}

unsigned qm_cookie_sections(const struct qm_cookie *c)
{
	unsigned sections = c->features & QM_COOKIE_KNOWN;

	if (c->graphics.type[0] == '\0')
		sections &= ~(unsigned)QM_COOKIE_GRAPHICS;
	return sections;
}

/* What a text field may hold, beyond being terminated, fitting and valid UTF-8. */
enum text_rule {
	TEXT_PLAIN,   /* no control characters */
	TEXT_NOSPACE, /* ... and no spaces: addresses, URIs */
	TEXT_PATH,    /* ... and absolute */
	TEXT_TOKEN,   /* [a-z0-9_-]: driver names */
	TEXT_HOST,    /* qm_hostname_is_valid */
	TEXT_UUID,    /* qm_uuid_is_valid */
};

struct text_field {
	const char *label;
	const char *s;
	size_t size;
	bool required;
	enum text_rule rule;
};

static bool rule_ok(const char *s, enum text_rule rule)
{
	switch (rule) {
	case TEXT_PLAIN:
		return !qm_text_has_control(s, false);
	case TEXT_NOSPACE:
		return !qm_text_has_control(s, true);
	case TEXT_PATH:
		return s[0] == '/' && !qm_text_has_control(s, false);
	case TEXT_TOKEN:
		return s[strspn(s, "abcdefghijklmnopqrstuvwxyz0123456789_-")] == '\0';
	case TEXT_HOST:
		return qm_hostname_is_valid(s);
	case TEXT_UUID:
		return qm_uuid_is_valid(s);
	}
	return false;
}

static const char *const rule_text[] = {
	[TEXT_PLAIN] = "contains control characters",
	[TEXT_NOSPACE] = "contains spaces or control characters",
	[TEXT_PATH] = "is not an absolute path without control characters",
	[TEXT_TOKEN] = "is not made of a-z, 0-9, '_' and '-'",
	[TEXT_HOST] = "is not a host name (letters, digits, '-', '.', '_')",
	[TEXT_UUID] = "is not a uuid in 8-4-4-4-12 form",
};

static int check_text(const struct text_field *f, struct qm_error *err)
{
	char shown[128];

	if (strnlen(f->s, f->size) == f->size)
		return qm_error_set(err, -EINVAL, "CookieInvalid",
				    "cookie %s is not terminated within %zu bytes",
				    f->label, f->size);
	if (f->s[0] == '\0' && f->required)
		return qm_error_set(err, -EINVAL, "CookieInvalid",
				    "cookie %s is missing or empty", f->label);
	if (f->s[0] == '\0')
		return 0;
	if (!xmlCheckUTF8((const xmlChar *)f->s))
		return qm_error_set(err, -EINVAL, "CookieInvalid",
				    "cookie %s is not valid UTF-8", f->label);
	if (!rule_ok(f->s, f->rule))
		return qm_error_set(err, -EINVAL, "CookieInvalid", "cookie %s '%s' %s",
				    f->label, qm_text_printable(f->s, shown, sizeof(shown)),
				    rule_text[f->rule]);
	return 0;
}

static int check_texts(const struct text_field *f, size_t n, struct qm_error *err)
{
	int r;

	for (size_t i = 0; i < n; i++) {
		r = check_text(&f[i], err);
		if (r < 0)
			return r;
	}
	return 0;
}

#define TEXT(label, field, req, rule)                                                    \
	{                                                                                \
		label, field, sizeof(field), req, rule                                   \
	}

static int check_port(const char *label, int port, struct qm_error *err)
{
	if (port < -1 || port > 65535)
		return qm_error_set(err, -ERANGE, "CookieInvalid",
				    "cookie graphics %s %d is not in -1..65535", label,
				    port);
	return 0;
}

static int check_graphics(const struct qm_cookie_graphics *g, struct qm_error *err)
{
	const struct text_field f[] = {
		TEXT("graphics listen address", g->listen, false, TEXT_NOSPACE),
		TEXT("graphics TLS subject", g->tls_subject, false, TEXT_PLAIN),
	};
	int r;

	if (strcmp(g->type, "spice") != 0 && strcmp(g->type, "vnc") != 0)
		return qm_error_set(err, -EINVAL, "CookieInvalid",
				    "cookie graphics type '%.16s' is neither "
				    "spice nor vnc",
				    g->type);
	r = check_texts(f, ARRAY_SIZE(f), err);
	if (r == 0)
		r = check_port("port", g->port, err);
	if (r == 0)
		r = check_port("tlsPort", g->tls_port, err);
	return r;
}

static int check_lockstate(const struct qm_cookie_lockstate *l, struct qm_error *err)
{
	const struct text_field driver = TEXT("lock driver", l->driver, true, TEXT_TOKEN);
	int r;

	if (l->n_leases > QM_COOKIE_MAX_LEASES)
		return qm_error_set(err, -E2BIG, "CookieInvalid",
				    "cookie carries %u leases, more than %d", l->n_leases,
				    QM_COOKIE_MAX_LEASES);
	r = check_text(&driver, err);
	for (unsigned i = 0; r == 0 && i < l->n_leases; i++) {
		const struct text_field f =
		    TEXT("lease path", l->leases[i].path, true, TEXT_PATH);

		r = check_text(&f, err);
		if (r == 0 && l->leases[i].generation == 0)
			r = qm_error_set(err, -ERANGE, "CookieInvalid",
					 "cookie lease %s has generation 0: a lease is "
					 "at generation 1 or more once taken",
					 l->leases[i].path);
	}
	return r;
}

static int check_stats(const struct qm_cookie_stats *s, struct qm_error *err)
{
	for (size_t i = 0; i < ARRAY_SIZE(qm_cookie_stats_fields); i++) {
		const struct qm_cookie_stat_info *f = &qm_cookie_stats_fields[i];

		if (f->is_signed && *(const int64_t *)((const char *)s + f->offset) < 0)
			return qm_error_set(err, -ERANGE, "CookieInvalid",
					    "cookie statistic %s is negative",
					    f->element);
	}
	return 0;
}

static int check_nbd(const struct qm_cookie_nbd *nbd, struct qm_error *err)
{
	const struct text_field server[] = {
		TEXT("nbd host", nbd->host, false, TEXT_NOSPACE),
		TEXT("nbd socket", nbd->socket, false, TEXT_PATH),
	};
	bool served = nbd->host[0] || nbd->socket[0];
	int r;

	if (nbd->n_disks == 0 || nbd->n_disks > QM_COOKIE_MAX_DISKS)
		return qm_error_set(err, -E2BIG, "CookieInvalid",
				    "cookie nbd section carries %u disks, not 1..%d",
				    nbd->n_disks, QM_COOKIE_MAX_DISKS);
	r = check_texts(server, ARRAY_SIZE(server), err);
	if (r == 0 && (nbd->host[0] ? nbd->port < 1 || nbd->port > 65535 : nbd->port != -1))
		r = qm_error_set(err, -ERANGE, "CookieInvalid",
				 "cookie nbd port %d does not go with host '%s'", nbd->port,
				 nbd->host);
	if (r == 0 && nbd->host[0] && nbd->socket[0])
		r = qm_error_set(err, -EINVAL, "CookieInvalid",
				 "cookie nbd section names both a host and a socket");
	for (unsigned i = 0; r == 0 && i < nbd->n_disks; i++) {
		const struct qm_cookie_disk *d = &nbd->disks[i];
		const struct text_field f[] = {
			TEXT("nbd disk target", d->target, true, TEXT_TOKEN),
			TEXT("nbd disk export", d->export_name, served, TEXT_TOKEN),
			TEXT("nbd disk backing", d->backing, false, TEXT_PATH),
		};

		r = check_texts(f, ARRAY_SIZE(f), err);
		/* qemu-img reads "raw" and "qcow2" alone: no protocol, no other driver. */
		if (r == 0 && (d->backing[0] ? strcmp(d->backing_format, "raw") != 0 &&
						       strcmp(d->backing_format, "qcow2") != 0
					     : d->backing_format[0] != '\0'))
			r = qm_error_set(err, -EINVAL, "CookieInvalid",
					 "cookie nbd disk %s: backing format '%s' does not go "
					 "with backing '%s' (raw or qcow2, with a backing file)",
					 d->target, d->backing_format, d->backing);
		if (r == 0 && d->capacity == 0)
			r = qm_error_set(err, -ERANGE, "CookieInvalid",
					 "cookie nbd disk %s has no capacity", d->target);
		for (unsigned j = 0; r == 0 && j < i; j++)
			if (strcmp(nbd->disks[j].target, d->target) == 0)
				r = qm_error_set(err, -EINVAL, "CookieInvalid",
						 "cookie nbd disk %s appears twice", d->target);
	}
	return r;
}

int qm_cookie_validate(const struct qm_cookie *c, struct qm_error *err)
{
	const struct text_field head[] = {
		TEXT("name", c->name, true, TEXT_PLAIN),
		TEXT("uuid", c->uuid, true, TEXT_UUID),
		TEXT("hostname", c->hostname, true, TEXT_HOST),
		TEXT("hostuuid", c->host_uuid, true, TEXT_UUID),
	};
	const struct text_field uri =
	    TEXT("migrate uri", c->migrate_uri, true, TEXT_NOSPACE);
	const struct text_field source[] = {
		TEXT("source arch", c->source.arch, true, TEXT_TOKEN),
		TEXT("source machine", c->source.machine, true, TEXT_NOSPACE),
	};
	unsigned sections = qm_cookie_sections(c);
	int r;

	if ((c->features | c->mandatory) & ~QM_COOKIE_KNOWN)
		return qm_error_set(err, -EINVAL, "CookieInvalid",
				    "cookie has unknown feature bits 0x%x",
				    (c->features | c->mandatory) & ~QM_COOKIE_KNOWN);
	if (c->mandatory & ~c->features)
		return qm_error_set(err, -EINVAL, "CookieInvalid",
				    "cookie makes features 0x%x mandatory "
				    "without carrying them",
				    c->mandatory & ~c->features);
	r = check_texts(head, ARRAY_SIZE(head), err);
	if (r == 0 && (sections & QM_COOKIE_GRAPHICS))
		r = check_graphics(&c->graphics, err);
	if (r == 0 && (sections & QM_COOKIE_LOCKSTATE))
		r = check_lockstate(&c->lockstate, err);
	if (r == 0 && (sections & QM_COOKIE_MIGRATE))
		r = check_text(&uri, err);
	if (r == 0 && (sections & QM_COOKIE_STATS))
		r = check_stats(&c->stats, err);
	if (r == 0 && (sections & QM_COOKIE_SOURCE))
		r = check_texts(source, ARRAY_SIZE(source), err);
	if (r == 0 && (sections & QM_COOKIE_NBD))
		r = check_nbd(&c->nbd, err);
	return r;
}
