/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The peer protocol's messages: the body of a frame (engine/peer-frame.h) is
 * a JSON object whose "type" names the message.  Decoding validates every
 * field a type needs (present, of its type, within its bound); fields it does
 * not know are ignored, so that a newer peer may add some.  The message set
 * is in docs/peer-protocol.md.
 */
#ifndef QM_ENGINE_PEER_MSG_H
#define QM_ENGINE_PEER_MSG_H

#include <stdbool.h>
#include <stddef.h>

#include "qmigrate.h"
#include "util/macros.h"

/* The message set's version, sent in hello; compatible additions are features. */
#define QM_PEER_PROTOCOL 1
#define QM_PEER_MAX_FEATURES 32
#define QM_PEER_NAME_MAX 64 /* a feature name or a version string, with its NUL */

enum qm_peer_type {
	QM_PEER_HELLO,
	QM_PEER_PREPARE,
	QM_PEER_PREPARE_REPLY,
	QM_PEER_FINISH,
	QM_PEER_FINISH_REPLY,
	QM_PEER_CLEANUP,
	QM_PEER_CLEANUP_REPLY,
	QM_PEER_ERROR,
	QM_PEER_QMP_LOG,
};

struct qm_peer_feature {
	char name[QM_PEER_NAME_MAX]; /* [a-z0-9-], starting with a letter */
	bool needed;		     /* the sender refuses a peer without it */
};

struct qm_peer_hello {
	int protocol; /* QM_PEER_PROTOCOL */
	char version[QM_PEER_NAME_MAX]; /* the sender's qmigrate version */
	size_t n_features;
	struct qm_peer_feature features[QM_PEER_MAX_FEATURES];
};

#define QM_PEER_DISK_MAP_MAX 64
#define QM_PEER_DISK_MAP_ENTRY 1024 /* bytes of one "SRC=DST" */
#define QM_PEER_MULTIFD_MAX 63
#define QM_PEER_QMP_MAX 107 /* bytes of a QMP socket path: sun_path less its NUL */
#define QM_PEER_X509_DIR_MAX 1024 /* bytes of spice-x509-dir */

/*
 * How the migration runs, sent with prepare: what the agent needs beyond the
 * cookie to prepare the destination (docs/peer-protocol.md, "settings").
 */
struct qm_peer_settings {
	enum qm_transport transport;
	unsigned multifd; /* channels, 0..QM_PEER_MULTIFD_MAX; 0: no multifd */
	bool postcopy, paused;
	bool launch;	      /* launch the destination from the description sent along */
	bool allow_same_host; /* do not refuse a source with the agent's host uuid */
	bool qmp_log;	      /* forward the destination's QMP messages (feature qmp-log) */
	char qmp[QM_PEER_QMP_MAX + 1];	  /* without launch: the QEMU to attach to, there */
	char migrate_address[64];	  /* direct: where QEMU listens; "": the agent picks */
	char graphics_listen[64];	  /* "": as described */
	char spice_x509_dir[QM_PEER_X509_DIR_MAX + 1]; /* "": none (docs/graphics.md) */
	size_t n_disk_map;
	char **disk_map; /* "SRC=DST" (absolute paths), owned; NULL when none */
	enum qm_copy_storage copy_storage; /* NONE: the destination sees the disks already */
};

struct json_t;

/*
 * One message to or from the destination QEMU, forwarded by the agent for the
 * source's QMP transcript (feature qmp-log; engine/qmp-log.c writes it).
 */
#define QM_PEER_QMP_LOG_MAX 65536 /* bytes of "msg" as compact JSON */
struct qm_peer_qmp_log {
	double ts;	     /* seconds since the epoch, the agent's clock */
	bool sent;	     /* "dir": "send" (to QEMU) or "recv" */
	struct json_t *msg;  /* owned; a string: the start of one too big or not JSON */
	long long bytes;     /* the message's size when "msg" is a string of its start; -1 */
	long long dropped;   /* messages not forwarded just before this one (queue full) */
};

struct qm_peer_msg {
	enum qm_peer_type type;
	struct qm_peer_hello hello; /* QM_PEER_HELLO */
	struct qm_peer_settings settings; /* QM_PEER_PREPARE */
	/* QM_PEER_PREPARE_REPLY, optional: the destination QEMU there; "" and 0 when unsaid */
	char qmp[QM_PEER_QMP_MAX + 1];
	long pid;
	bool postcopy; /* QM_PEER_CLEANUP: post-copy had begun, the destination holds the VM */
	/* the phases: the phase's cookie (XML), at most QM_COOKIE_MAX bytes; optional in
	 * QM_PEER_ERROR (the leases a failed finish gave back) */
	char *cookie;
	char *domain;	/* QM_PEER_PREPARE, optional: the migratable description */
	char error_class[64]; /* QM_PEER_ERROR */
	char message[512];    /* QM_PEER_ERROR */
	bool refused;	      /* QM_PEER_ERROR, optional: a precheck refused, nothing changed */
	bool changed;	      /* QM_PEER_ERROR, optional: the agent changed a QEMU first */
	struct qm_peer_qmp_log qmp_log; /* QM_PEER_QMP_LOG */
};

/* peer-settings.c: the settings object of prepare, and the phases' optional fields */
int qm_peer_settings_decode(struct json_t *obj, struct qm_peer_msg *m,
			    struct qm_error *err) _must_check_;
int qm_peer_settings_encode(struct json_t *obj, const struct qm_peer_msg *m,
			    struct qm_error *err) _must_check_;
void qm_peer_settings_release(struct qm_peer_settings *s);

/* peer-qmp-log.c: the fields of "qmp-log", checked by the same rules both ways */
int qm_peer_qmp_log_decode(struct json_t *obj, struct qm_peer_qmp_log *l,
			   struct qm_error *err) _must_check_;
int qm_peer_qmp_log_encode(struct json_t *obj, const struct qm_peer_qmp_log *l,
			   struct qm_error *err) _must_check_;

/* "hello", "prepare", "prepare-reply", ...; NULL for a value out of range. */
const char *qm_peer_type_name(enum qm_peer_type type);

/* Frees what @m owns (cookie, domain, qmp_log.msg) and zeroes it; not @m itself. */
void qm_peer_msg_release(struct qm_peer_msg *m);

/*
 * Decodes the body of one frame into @m (released first: pass a zeroed or
 * released one).  Returns 0, or -EPROTO / -ENOMEM with @err filled (class
 * PeerProtocol, the message names the type and field at fault); on error
 * @m owns nothing.
 */
int qm_peer_msg_decode(const char *body, size_t len, struct qm_peer_msg *m,
		       struct qm_error *err) _must_check_;

/*
 * Encodes @m as a whole frame, header included, into *@frame (the caller
 * frees it) of *@frame_len bytes.  @m is checked by the rules decoding
 * applies, so that this side never sends what the peer must refuse.
 * Returns 0, -EINVAL (a field out of bounds), -E2BIG or -ENOMEM.
 */
int qm_peer_msg_encode(const struct qm_peer_msg *m, char **frame, size_t *frame_len,
		       struct qm_error *err) _must_check_;

/* A hello with this qmigrate's version and every feature it has, none needed. */
void qm_peer_hello_init(struct qm_peer_hello *h);
/* Marks @name (one of the features qm_peer_hello_init lists) needed. */
void qm_peer_hello_need(struct qm_peer_hello *h, const char *name);
/* @h lists the feature @name. */
bool qm_peer_hello_has(const struct qm_peer_hello *h, const char *name);

/*
 * The hello rules: refuses (-EPROTONOSUPPORT, class PeerFeature) a peer
 * speaking another protocol, a peer that lacks a feature @local needs, and
 * a peer that needs a feature @local lacks; the message names the feature.
 */
int qm_peer_check_hello(const struct qm_peer_hello *local, const struct qm_peer_hello *remote,
			struct qm_error *err) _must_check_;

#endif
