/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who this host is, as the migration cookie says it: a host name and a host
 * uuid.  The uuid lets a destination refuse a migration from itself.
 */
#ifndef QM_UTIL_HOST_H
#define QM_UTIL_HOST_H

#include <stdbool.h>

#include "qmigrate.h"
#include "util/macros.h"

/* Where the host uuid comes from; NULL fields take the defaults. */
struct qm_host_sources {
	const char *machine_id;	  /* "/etc/machine-id": 32 hex digits */
	const char *product_uuid; /* "/sys/class/dmi/id/product_uuid": a uuid */
};

/*
 * Fills @hostname from gethostname(2) and @host_uuid with the canonical
 * lower-case uuid of this host: @uuid when given (--host-uuid; class Usage
 * when it is not a uuid), else qm_host_uuid's.  Returns 0 or a negative
 * errno with @err filled.
 */
int qm_host_identity(const char *uuid, char hostname[256], char host_uuid[37],
		     struct qm_error *err) _must_check_;

/*
 * The host uuid: /etc/machine-id (32 hex digits, written 8-4-4-4-12), else
 * the SMBIOS product uuid.  @src may be NULL (the defaults); tests point it
 * at their own files.  Fails with class "HostIdentity" when neither gives a
 * uuid, naming both files and why.
 */
int qm_host_uuid(const struct qm_host_sources *src, char host_uuid[37],
		 struct qm_error *err) _must_check_;

/*
 * True for a host name qmigrate accepts: 1..255 bytes of letters, digits,
 * '-', '.' and '_' (RFC 1123 plus the underscore some hosts use).
 */
bool qm_hostname_is_valid(const char *s);

/*
 * True when @s holds only what an address qmigrate passes on may: letters,
 * digits, '.', ':', '-' and '_', a host name or an IP literal.  Length and
 * emptiness are the caller's to check ("" is true).
 */
bool qm_addr_text_ok(const char *s);

#endif
