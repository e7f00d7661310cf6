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

struct qm_peer_msg {
	enum qm_peer_type type;
	struct qm_peer_hello hello; /* QM_PEER_HELLO */
	char *cookie;	/* the phases: the phase's cookie (XML), at most QM_COOKIE_MAX bytes */
	char *domain;	/* QM_PEER_PREPARE, optional: the migratable description */
	char error_class[64]; /* QM_PEER_ERROR */
	char message[512];    /* QM_PEER_ERROR */
};

/* "hello", "prepare", "prepare-reply", ...; NULL for a value out of range. */
const char *qm_peer_type_name(enum qm_peer_type type);

/* Frees what @m owns (cookie, domain) and zeroes it; the struct itself is the caller's. */
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

/*
 * The hello rules: refuses (-EPROTONOSUPPORT, class PeerFeature) a peer
 * speaking another protocol, a peer that lacks a feature @local needs, and
 * a peer that needs a feature @local lacks; the message names the feature.
 */
int qm_peer_check_hello(const struct qm_peer_hello *local, const struct qm_peer_hello *remote,
			struct qm_error *err) _must_check_;

#endif
