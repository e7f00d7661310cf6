/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Shared by the cookie's writer and reader: feature names and the rules both enforce. */
#ifndef QM_XML_COOKIE_INTERNAL_H
#define QM_XML_COOKIE_INTERNAL_H

#include "xml/cookie.h"
#include "xml/read.h"

#define QM_COOKIE_ROOT "qemu-migration"
#define QM_COOKIE_KNOWN                                                                  \
	(QM_COOKIE_GRAPHICS | QM_COOKIE_LOCKSTATE | QM_COOKIE_MIGRATE | QM_COOKIE_STATS |   \
	 QM_COOKIE_SOURCE | QM_COOKIE_NBD)

/* One feature: its flag, its name in <feature name=...>, and its section's element. */
struct qm_cookie_feature_info {
	unsigned flag;
	const char *name;
	const char *element;
};

/* In the order the sections are written. */
extern const struct qm_cookie_feature_info qm_cookie_features[6];

/* One <statistics> child: its element name and where it lives in struct qm_cookie_stats.
 */
struct qm_cookie_stat_info {
	const char *element;
	size_t offset;
	bool is_signed; /* int64_t (never negative in a cookie), else uint64_t */
};

extern const struct qm_cookie_stat_info qm_cookie_stats_fields[7];

/* The feature named @name, or NULL when this qmigrate does not know it. */
const struct qm_cookie_feature_info *qm_cookie_feature_by_name(const char *name);

/*
 * The sections @c really carries: c->features, less graphics when there is
 * no graphics data (a peer would act on an empty graphics section).
 */
unsigned qm_cookie_sections(const struct qm_cookie *c);

/*
 * Checks every field the writer would write and the reader has read:
 * terminated strings that fit, required fields, canonical uuids, ports in
 * -1..65535, non-negative statistics, at most QM_COOKIE_MAX_LEASES leases,
 * each at a generation of 1 or more.
 * Fails with class "CookieInvalid".
 */
int qm_cookie_validate(const struct qm_cookie *c, struct qm_error *err) _must_check_;

/*
 * Reads @len bytes of untrusted XML into a tree in *@out (xmlFreeDoc it),
 * as qm_xml_read does: at most QM_COOKIE_MAX bytes.  Fails with class
 * CookieTooLarge, CookieUnsafe or CookieMalformed.
 */
static inline _must_check_ int qm_cookie_read_xml(const char *xml, size_t len,
						  xmlDocPtr *out, struct qm_error *err)
{
	static const struct qm_xml_source cookie = { "cookie", "Cookie", QM_COOKIE_MAX };

	return qm_xml_read(&cookie, xml, len, out, err);
}

#endif
