/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The migration cookie: an XML document passed out of every phase and into
 * the next.  Bounded (QM_COOKIE_MAX bytes), parsed with no network access and
 * no entity expansion.  Each optional section is a feature; a writer may mark
 * a feature mandatory, and a reader refuses a mandatory feature it does not
 * know.  Never holds a password.
 */
#ifndef QM_XML_COOKIE_H
#define QM_XML_COOKIE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qmigrate.h"
#include "util/macros.h"

#define QM_COOKIE_MAX 16384
#define QM_COOKIE_MAX_LEASES 8
#define QM_COOKIE_MAX_DISKS 16

/* The sections a cookie may carry; also the feature names in the XML. */
enum qm_cookie_feature {
	QM_COOKIE_GRAPHICS = 1u << 0,  /* "graphics" */
	QM_COOKIE_LOCKSTATE = 1u << 1, /* "lockstate" */
	QM_COOKIE_MIGRATE = 1u << 2,   /* "migrate": where the source sends the stream */
	QM_COOKIE_STATS = 1u << 3,     /* "statistics" */
	QM_COOKIE_SOURCE = 1u << 4,    /* "source": the source QEMU, for prepare's checks */
	QM_COOKIE_NBD = 1u << 5,       /* "nbd": the disks that move, and where they go */
};

struct qm_cookie_graphics {
	char type[16];	  /* "spice" or "vnc" */
	char listen[256]; /* address clients connect to */
	int port;	  /* -1 when none */
	int tls_port;	  /* -1 when none */
	char tls_subject[256];
};

/* One lease (engine/lease.h): which file, and the generation its sender left it at. */
struct qm_cookie_lease {
	char path[256];	     /* absolute */
	uint64_t generation; /* 1..UINT64_MAX: a lease in a cookie was taken at least once */
};

struct qm_cookie_lockstate {
	char driver[32]; /* "fcntl" */
	unsigned n_leases;
	struct qm_cookie_lease leases[QM_COOKIE_MAX_LEASES];
};

/* What the destination's prechecks compare with (engine/precheck.h). */
struct qm_cookie_source {
	char arch[32];	   /* query-target's "arch" */
	char machine[128]; /* the machine type, as query-machines names it */
	bool kvm;	   /* accel="kvm", else "tcg" */
	bool running;	   /* state="running", else "paused" */
	long pid;	   /* the source QEMU's pid on its host, 0 when unknown */
};

/* One disk that moves (docs/storage.md). */
struct qm_cookie_disk {
	char target[32];      /* <target dev>: "vda"; [a-z0-9_-] */
	char export_name[64]; /* the destination's NBD export; "" in begin's cookie */
	uint64_t capacity;    /* virtual size in bytes, at least 1 */
	/*
	 * --copy-storage inc: the shared backing file the copied top layer sits
	 * on (an absolute path, the same on both hosts) and its format ("raw",
	 * "qcow2"); both "" when the whole disk is copied.
	 */
	char backing[512];
	char backing_format[8];
};

/*
 * Begin's cookie: the disks to copy and their sizes (host "", port -1,
 * socket ""); prepare's: the destination's NBD server, at a TCP host and
 * port or at a UNIX socket (never both), and each disk's export.
 */
struct qm_cookie_nbd {
	char host[256];
	int port; /* 1..65535 with a host, else -1 */
	char socket[108]; /* an absolute path that fits a sockaddr_un, or "" */
	unsigned n_disks; /* 1..QM_COOKIE_MAX_DISKS, targets distinct */
	struct qm_cookie_disk disks[QM_COOKIE_MAX_DISKS];
};

struct qm_cookie_stats {
	int64_t total_ms, downtime_ms, setup_ms;
	uint64_t transferred_bytes, remaining_bytes, total_bytes;
	uint64_t passes;
};

struct qm_cookie {
	char name[256];
	char uuid[37];	     /* canonical 8-4-4-4-12 lower-case form */
	char hostname[256];
	char host_uuid[37];
	unsigned features;  /* enum qm_cookie_feature: the sections present */
	unsigned mandatory; /* the subset the reader must understand */
	struct qm_cookie_graphics graphics;
	struct qm_cookie_lockstate lockstate;
	char migrate_uri[512];
	struct qm_cookie_stats stats;
	struct qm_cookie_source source;
	struct qm_cookie_nbd nbd;
};

/* What a reader checks a cookie against; NULL fields are not checked. */
struct qm_cookie_check {
	const char *name;	     /* must equal <name> */
	const char *uuid;	     /* must equal <uuid> */
	const char *local_host_uuid; /* when set, a cookie from this same host is refused */
};

/*
 * Formats @c as XML into a new string in *@out (free() it).  Only the
 * sections in c->features are written; the graphics section only when it
 * holds data.  Returns 0 or a negative errno with @err filled: class
 * CookieInvalid for a cookie a reader would refuse, CookieTooLarge when the
 * XML would exceed QM_COOKIE_MAX.  UUIDs are written in lower case.
 */
int qm_cookie_format(const struct qm_cookie *c, char **out, struct qm_error *err) _must_check_;

/*
 * Parses @len bytes of @xml into @c (zeroed first).  Refuses with a clear
 * @err: more than QM_COOKIE_MAX bytes, malformed XML, a DTD or entity,
 * missing name/uuid/hostname/host uuid, an unknown mandatory feature, a
 * mismatch against @check.  Unknown optional features are ignored.
 * On failure *@c is left zeroed.  Error classes: CookieTooLarge,
 * CookieMalformed (not well-formed XML), CookieUnsafe (a DTD or entity),
 * CookieInvalid (a missing, duplicate, over-long or malformed field),
 * CookieFeature (an unknown mandatory feature: the peer is newer),
 * CookieMismatch (name or uuid differ from @check), CookieSameHost.
 */
int qm_cookie_parse(const char *xml, size_t len, const struct qm_cookie_check *check,
		    struct qm_cookie *c, struct qm_error *err) _must_check_;

#endif
