/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/peer-frame.h"
#include "util/error.h"

_Static_assert(QM_PEER_BODY_MAX <= UINT32_MAX, "the length field is 32 bits");

static uint32_t get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 | p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = v >> 16;
	p[2] = v >> 8;
	p[3] = v;
}

int qm_peer_frame_parse(const void *buf, size_t len, struct qm_peer_frame *f,
			struct qm_error *err)
{
	const uint8_t *p = buf;
	size_t magic_len = strlen(QM_PEER_MAGIC);
	unsigned version;
	uint32_t body_len;

	memset(f, 0, sizeof(*f));
	if (len && memcmp(p, QM_PEER_MAGIC, len < magic_len ? len : magic_len) != 0)
		return qm_error_set(err, -EPROTO, "PeerProtocol",
				    "peer frame does not start with the magic \"%s\": the "
				    "other side is not a qmigrate peer, or the stream is "
				    "out of step (is the remote command printing to stdout?)",
				    QM_PEER_MAGIC);
	if (len < QM_PEER_HEADER_SIZE) {
		f->need = QM_PEER_HEADER_SIZE - len;
		return 0;
	}
	version = (unsigned)p[4] << 8 | p[5];
	if (version != QM_PEER_FRAME_VERSION)
		return qm_error_set(err, -EPROTONOSUPPORT, "PeerProtocol",
				    "peer frame version %u, this qmigrate reads version %d: "
				    "install the same qmigrate release on both hosts",
				    version, QM_PEER_FRAME_VERSION);
	if (p[6] || p[7])
		return qm_error_set(err, -EPROTO, "PeerProtocol",
				    "peer frame reserved field is 0x%02x%02x, not zero", p[6],
				    p[7]);
	body_len = get_be32(p + 8);
	if (body_len > QM_PEER_BODY_MAX)
		return qm_error_set(err, -EMSGSIZE, "PeerProtocol",
				    "peer frame body of %lu bytes is over the bound of %d bytes",
				    (unsigned long)body_len, QM_PEER_BODY_MAX);
	if (len - QM_PEER_HEADER_SIZE < body_len) {
		f->need = body_len - (len - QM_PEER_HEADER_SIZE);
		return 0;
	}
	f->consumed = QM_PEER_HEADER_SIZE + (size_t)body_len;
	f->body = (const char *)p + QM_PEER_HEADER_SIZE;
	f->body_len = body_len;
	return 1;
}

void qm_peer_frame_header(uint8_t hdr[QM_PEER_HEADER_SIZE], size_t body_len)
{
	memcpy(hdr, QM_PEER_MAGIC, 4);
	hdr[4] = QM_PEER_FRAME_VERSION >> 8;
	hdr[5] = QM_PEER_FRAME_VERSION & 0xff;
	hdr[6] = 0;
	hdr[7] = 0;
	put_be32(hdr + 8, (uint32_t)body_len);
}

int qm_peer_frame_encode(const char *body, size_t body_len, char **frame, size_t *frame_len,
			 struct qm_error *err)
{
	char *out;

	if (body_len > QM_PEER_BODY_MAX)
		return qm_error_set(err, -E2BIG, "PeerProtocol",
				    "peer message of %zu bytes is over the frame bound of %d bytes",
				    body_len, QM_PEER_BODY_MAX);
	out = malloc(QM_PEER_HEADER_SIZE + body_len);
	if (!out)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	qm_peer_frame_header((uint8_t *)out, body_len);
	memcpy(out + QM_PEER_HEADER_SIZE, body, body_len);
	*frame = out;
	*frame_len = QM_PEER_HEADER_SIZE + body_len;
	return 0;
}
