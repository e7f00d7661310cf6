/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <libxml/xmlwriter.h>

#include "util/error.h"
#include "util/uuid.h"
#include "xml/cookie-internal.h"

/* A text writer whose first failure sticks, so the calls need no checks between them. */
struct writer {
	xmlTextWriterPtr w;
	bool failed;
};

static void check(struct writer *wr, int rc)
{
	if (rc < 0)
		wr->failed = true;
}

static void start(struct writer *wr, const char *name)
{
	check(wr, xmlTextWriterStartElement(wr->w, BAD_CAST name));
}

static void end(struct writer *wr)
{
	check(wr, xmlTextWriterEndElement(wr->w));
}

static void attr(struct writer *wr, const char *name, const char *value)
{
	check(wr, xmlTextWriterWriteAttribute(wr->w, BAD_CAST name, BAD_CAST value));
}

static void attr_int(struct writer *wr, const char *name, int value)
{
	char buf[16];

	snprintf(buf, sizeof(buf), "%d", value);
	attr(wr, name, buf);
}

static void element(struct writer *wr, const char *name, const char *text)
{
	check(wr, xmlTextWriterWriteElement(wr->w, BAD_CAST name, BAD_CAST text));
}

static void element_u64(struct writer *wr, const char *name, uint64_t value)
{
	char buf[24];

	snprintf(buf, sizeof(buf), "%" PRIu64, value);
	element(wr, name, buf);
}

static void write_graphics(struct writer *wr, const struct qm_cookie_graphics *g)
{
	start(wr, "graphics");
	attr(wr, "type", g->type);
	attr_int(wr, "port", g->port);
	attr_int(wr, "tlsPort", g->tls_port);
	if (g->listen[0])
		attr(wr, "listen", g->listen);
	if (g->tls_subject[0]) {
		start(wr, "cert");
		attr(wr, "info", "subject");
		attr(wr, "value", g->tls_subject);
		end(wr);
	}
	end(wr);
}

static void write_lockstate(struct writer *wr, const struct qm_cookie_lockstate *l)
{
	start(wr, "lockstate");
	attr(wr, "driver", l->driver);
	start(wr, "leases");
	for (unsigned i = 0; i < l->n_leases; i++) {
		char gen[24];

		snprintf(gen, sizeof(gen), "%" PRIu64, l->leases[i].generation);
		start(wr, "lease");
		attr(wr, "path", l->leases[i].path);
		attr(wr, "generation", gen);
		end(wr);
	}
	end(wr);
	end(wr);
}

static void write_migrate(struct writer *wr, const char *uri)
{
	start(wr, "migrate");
	attr(wr, "uri", uri);
	end(wr);
}

static void write_source(struct writer *wr, const struct qm_cookie_source *s)
{
	start(wr, "source");
	attr(wr, "arch", s->arch);
	attr(wr, "machine", s->machine);
	attr(wr, "accel", s->kvm ? "kvm" : "tcg");
	attr(wr, "state", s->running ? "running" : "paused");
	if (s->pid > 0) {
		char pid[24];

		snprintf(pid, sizeof(pid), "%ld", s->pid);
		attr(wr, "pid", pid);
	}
	end(wr);
}

/* The signed fields were checked non-negative by qm_cookie_validate. */
static void write_stats(struct writer *wr, const struct qm_cookie_stats *s)
{
	start(wr, "statistics");
	for (size_t i = 0; i < ARRAY_SIZE(qm_cookie_stats_fields); i++) {
		const struct qm_cookie_stat_info *f = &qm_cookie_stats_fields[i];
		const char *p = (const char *)s + f->offset;
		uint64_t v;

		if (f->is_signed)
			v = (uint64_t) * (const int64_t *)p;
		else
			v = *(const uint64_t *)p;
		element_u64(wr, f->element, v);
	}
	end(wr);
}

static void write_nbd(struct writer *wr, const struct qm_cookie_nbd *nbd)
{
	start(wr, "nbd");
	if (nbd->host[0]) {
		attr(wr, "host", nbd->host);
		attr_int(wr, "port", nbd->port);
	}
	if (nbd->socket[0])
		attr(wr, "socket", nbd->socket);
	for (unsigned i = 0; i < nbd->n_disks; i++) {
		char cap[24];

		snprintf(cap, sizeof(cap), "%" PRIu64, nbd->disks[i].capacity);
		start(wr, "disk");
		attr(wr, "target", nbd->disks[i].target);
		if (nbd->disks[i].export_name[0])
			attr(wr, "export", nbd->disks[i].export_name);
		attr(wr, "capacity", cap);
		if (nbd->disks[i].backing[0]) {
			attr(wr, "backing", nbd->disks[i].backing);
			attr(wr, "backing-format", nbd->disks[i].backing_format);
		}
		end(wr);
	}
	end(wr);
}

static void write_cookie(struct writer *wr, const struct qm_cookie *c)
{
	unsigned sections = qm_cookie_sections(c);
	char uuid[QM_UUID_STRLEN + 1], host_uuid[QM_UUID_STRLEN + 1];

	/* Both were checked by qm_cookie_validate. */
	qm_uuid_normalise(c->uuid, uuid);
	qm_uuid_normalise(c->host_uuid, host_uuid);

	check(wr, xmlTextWriterStartDocument(wr->w, NULL, "UTF-8", NULL));
	start(wr, QM_COOKIE_ROOT);
	element(wr, "name", c->name);
	element(wr, "uuid", uuid);
	element(wr, "hostname", c->hostname);
	element(wr, "hostuuid", host_uuid);
	for (size_t i = 0; i < ARRAY_SIZE(qm_cookie_features); i++) {
		unsigned flag = qm_cookie_features[i].flag;

		if (!(sections & flag))
			continue;
		start(wr, "feature");
		attr(wr, "name", qm_cookie_features[i].name);
		if (c->mandatory & flag)
			attr(wr, "mandatory", "yes");
		end(wr);
	}
	if (sections & QM_COOKIE_GRAPHICS)
		write_graphics(wr, &c->graphics);
	if (sections & QM_COOKIE_LOCKSTATE)
		write_lockstate(wr, &c->lockstate);
	if (sections & QM_COOKIE_MIGRATE)
		write_migrate(wr, c->migrate_uri);
	if (sections & QM_COOKIE_STATS)
		write_stats(wr, &c->stats);
	if (sections & QM_COOKIE_SOURCE)
		write_source(wr, &c->source);
	if (sections & QM_COOKIE_NBD)
		write_nbd(wr, &c->nbd);
	end(wr);
	check(wr, xmlTextWriterEndDocument(wr->w));
}

static void buffer_freep(xmlBufferPtr *b)
{
	xmlBufferFree(*b);
}

int qm_cookie_format(const struct qm_cookie *c, char **out, struct qm_error *err)
{
	_cleanup_(buffer_freep) xmlBufferPtr buf = NULL;
	struct writer wr = { 0 };
	size_t len;
	int r;

	*out = NULL;
	r = qm_cookie_validate(c, err);
	if (r < 0)
		return r;
	buf = xmlBufferCreate();
	if (buf)
		wr.w = xmlNewTextWriterMemory(buf, 0);
	if (!wr.w)
		return qm_error_set(err, -ENOMEM, "CookieFormat", "out of memory");
	check(&wr, xmlTextWriterSetIndent(wr.w, 1));
	check(&wr, xmlTextWriterSetIndentString(wr.w, BAD_CAST "  "));
	write_cookie(&wr, c);
	/* Freeing the writer flushes it into buf. */
	xmlFreeTextWriter(wr.w);
	if (wr.failed)
		return qm_error_set(err, -ENOMEM, "CookieFormat",
				    "cannot write the cookie XML");

	len = (size_t)xmlBufferLength(buf);
	if (len > QM_COOKIE_MAX)
		return qm_error_set(err, -E2BIG, "CookieTooLarge",
				    "the cookie would be %zu bytes, more "
				    "than the %d a peer accepts",
				    len, QM_COOKIE_MAX);
	*out = strndup((const char *)xmlBufferContent(buf), len);
	if (!*out)
		return qm_error_set(err, -ENOMEM, "CookieFormat", "out of memory");
	return 0;
}
