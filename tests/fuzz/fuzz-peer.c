/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for the peer protocol's decoder.  The input is read two
 * ways: as one frame body, and as a byte stream of frames whose bodies are
 * decoded in turn.  Besides not crashing: every refusal carries its class
 * and message, the parser never claims bytes it was not given, a frame cut
 * short is none yet and asks for no more than its rest, and a
 * message that decodes encodes again and decodes to the same message.
 */
#include <errno.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/peer-frame.h"
#include "engine/peer-msg.h"
#include "tests/fuzz/fuzz.h"

static bool same_text(const char *a, const char *b)
{
	return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

static void check_round_trip(const struct qm_peer_msg *m)
{
	struct qm_peer_msg back = { 0 };
	struct qm_peer_frame f;
	struct qm_error err = { 0 };
	char *frame = NULL;
	size_t len;
	int r;

	r = qm_peer_msg_encode(m, &frame, &len, &err);
	fuzz_assert(r == 0, "accepted message not encodable: %s", err.text);
	fuzz_assert(qm_peer_frame_parse(frame, len, &f, &err) == 1, "%s", err.text);
	fuzz_assert(f.consumed == len, "%zu of %zu", f.consumed, len);
	r = qm_peer_msg_decode(f.body, f.body_len, &back, &err);
	fuzz_assert(r == 0, "encoded message not decodable: %s", err.text);
	fuzz_assert(back.type == m->type && same_text(back.cookie, m->cookie) &&
			    same_text(back.domain, m->domain) &&
			    strcmp(back.error_class, m->error_class) == 0 &&
			    strcmp(back.message, m->message) == 0 &&
			    memcmp(&back.hello, &m->hello, sizeof(m->hello)) == 0 &&
			    back.qmp_log.ts == m->qmp_log.ts &&
			    back.qmp_log.sent == m->qmp_log.sent &&
			    back.qmp_log.bytes == m->qmp_log.bytes &&
			    back.qmp_log.dropped == m->qmp_log.dropped &&
			    (back.qmp_log.msg == m->qmp_log.msg ||
			     json_equal(back.qmp_log.msg, m->qmp_log.msg)),
		    "round trip changed a %s message", qm_peer_type_name(m->type));
	qm_peer_msg_release(&back);
	free(frame);
}

static void decode_body(const char *body, size_t len)
{
	struct qm_peer_msg m = { 0 };
	struct qm_error err = { 0 };
	int r = qm_peer_msg_decode(body, len, &m, &err);

	if (r < 0) {
		fuzz_assert(r == err.code && err.error_class[0] && err.text[0], "%d %s",
			    r, err.text);
		fuzz_assert(!m.cookie && !m.domain && !m.qmp_log.msg,
			    "a refused message owns strings");
		return;
	}
	check_round_trip(&m);
	qm_peer_msg_release(&m);
}

/*
 * What a reader holds while a frame arrives: any part of @frame, whole of
 * @len bytes, is no frame yet and wants no more than the rest of it.
 */
static void check_prefix(const uint8_t *frame, size_t len, size_t cut)
{
	struct qm_peer_frame f;
	struct qm_error err = { 0 };
	int r = qm_peer_frame_parse(frame, cut, &f, &err);

	fuzz_assert(r == 0, "%zu of a %zu-byte frame: %d %s", cut, len, r, err.text);
	fuzz_assert(f.need > 0 && f.need <= len - cut, "%zu of %zu needs %zu", cut, len,
		    f.need);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	size_t off = 0;

	decode_body((const char *)data, size);
	while (off < size) {
		struct qm_peer_frame f;
		struct qm_error err = { 0 };
		int r = qm_peer_frame_parse(data + off, size - off, &f, &err);

		if (r < 0) {
			fuzz_assert(r == err.code && err.text[0], "%d %s", r, err.text);
			break;
		}
		if (r == 0) {
			fuzz_assert(f.need > 0, "needs nothing yet has no frame");
			break;
		}
		fuzz_assert(f.consumed <= size - off && f.consumed > 0 &&
				    f.body_len + QM_PEER_HEADER_SIZE == f.consumed,
			    "consumed %zu of %zu", f.consumed, size - off);
		check_prefix(data + off, f.consumed, f.consumed - 1);
		check_prefix(data + off, f.consumed, f.consumed / 2);
		decode_body(f.body, f.body_len);
		off += f.consumed;
	}
	return 0;
}
