/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The peer protocol's wire format: frames over any byte stream (ssh's
 * stdin/stdout, a socketpair), pure and buffer-based.  A frame is
 *
 *   offset 0   4 bytes  magic "QMPP"
 *   offset 4   2 bytes  frame format version, big endian (QM_PEER_FRAME_VERSION)
 *   offset 6   2 bytes  reserved, zero
 *   offset 8   4 bytes  body length in bytes, big endian
 *   offset 12  body     one JSON object in UTF-8 (engine/peer-msg.h)
 *
 * A length prefix rather than a delimiter: the reader knows the size before
 * it buffers the body, so an oversized frame is refused from its header, and
 * a body is never scanned twice.  JSON for the body because the engine
 * already speaks it (jansson) and unknown fields are easy to skip.
 *
 * The bound: the largest legitimate body is a prepare request carrying a
 * cookie (QM_COOKIE_MAX) and a migratable description (QM_DOMAIN_MAX).  Both
 * are XML 1.0, whose characters escape to at most two bytes in a JSON string
 * (quote, backslash, tab, CR, LF; other control characters are not XML, and
 * UTF-8 is written as is), plus a little for the field names.
 */
#ifndef QM_ENGINE_PEER_FRAME_H
#define QM_ENGINE_PEER_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "qmigrate.h"
#include "util/macros.h"
#include "xml/cookie.h"
#include "xml/domain.h"

#define QM_PEER_MAGIC "QMPP"
#define QM_PEER_FRAME_VERSION 1
#define QM_PEER_HEADER_SIZE 12
/* A prepare: its cookie and description, its disk map (64 entries of 1 KiB), escaped; then names. */
#define QM_PEER_DISK_MAP_BYTES (64 * 1024)
#define QM_PEER_BODY_MAX (2 * (QM_COOKIE_MAX + QM_DOMAIN_MAX + QM_PEER_DISK_MAP_BYTES) + 16384)
#define QM_PEER_FRAME_MAX (QM_PEER_HEADER_SIZE + QM_PEER_BODY_MAX)

/* What qm_peer_frame_parse() found at the start of a buffer. */
struct qm_peer_frame {
	size_t need;	 /* returned 0: at least this many more bytes are needed */
	size_t consumed; /* returned 1: header and body, to skip before the next frame */
	const char *body; /* returned 1: points into the buffer parsed */
	size_t body_len;
};

/*
 * Looks for one frame at the start of @buf.  Returns 1 with @f's consumed,
 * body and body_len set; 0 when the frame is not complete yet (@f->need
 * says how many bytes are missing at least); or a negative errno with @err
 * filled (class PeerProtocol): -EPROTO for a wrong magic or a non-zero
 * reserved field, -EPROTONOSUPPORT for another frame version, -EMSGSIZE
 * for a body over QM_PEER_BODY_MAX.  A wrong magic is seen from its first
 * byte, before the header is whole.
 */
int qm_peer_frame_parse(const void *buf, size_t len, struct qm_peer_frame *f,
			struct qm_error *err) _must_check_;

/* Writes the header of a frame of @body_len bytes (at most QM_PEER_BODY_MAX). */
void qm_peer_frame_header(uint8_t hdr[QM_PEER_HEADER_SIZE], size_t body_len);

/*
 * Encodes @body as a frame into a new buffer, *@frame (the caller frees it),
 * of *@frame_len bytes.  Returns 0, -E2BIG (class PeerProtocol) when @body is
 * over QM_PEER_BODY_MAX, or -ENOMEM.
 */
int qm_peer_frame_encode(const char *body, size_t body_len, char **frame, size_t *frame_len,
			 struct qm_error *err) _must_check_;

#endif
