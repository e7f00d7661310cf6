/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The peer protocol's frames alone: golden bytes, reads split anywhere, and
 * every header the parser refuses, with its message.  Goldens live in
 * tests/data/peer/golden (QMIGRATE_REGENERATE_GOLDEN=1 rewrites them).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/peer-frame.h"
#include "tests/unit/peer-data.h"
#include "tests/unit/testdata.h"

TestSuite(peer_frame, .timeout = 60);

static int parse(const void *buf, size_t len, struct qm_peer_frame *f, struct qm_error *err)
{
	qm_error_clear(err);
	return qm_peer_frame_parse(buf, len, f, err);
}

Test(peer_frame, header_is_byte_exact)
{
	static const char want[] = "QMPP\0\1\0\0\0\0\0\2{}";
	struct qm_error err = { 0 };
	char *frame;
	size_t len;

	cr_assert_eq(qm_peer_frame_encode("{}", 2, &frame, &len, &err), 0);
	cr_assert_eq(len, sizeof(want) - 1);
	cr_assert_eq(memcmp(frame, want, len), 0);
	free(frame);
}

/* Each message type's frame against tests/data/peer/golden/TYPE.frame, both ways. */
Test(peer_frame, goldens_encode_and_decode_byte_exact)
{
	for (int t = 0; t < PD_N_TYPES; t++) {
		_cleanup_free_ char *rel = NULL, *path = NULL, *frame = NULL, *golden = NULL;
		struct qm_peer_msg m, back = { 0 };
		struct qm_peer_frame f;
		struct qm_error err = { 0 };
		size_t len, glen;
		FILE *fp;

		pd_sample(t, &m);
		frame = pd_encode(&m, &len);
		cr_assert(asprintf(&rel, "peer/golden/%s.frame", qm_peer_type_name(t)) > 0);
		path = td_path(rel);
		if (td_regenerate()) {
			cr_assert(fp = fopen(path, "wb"));
			cr_assert_eq(fwrite(frame, 1, len, fp), len);
			cr_assert_eq(fclose(fp), 0);
		}
		golden = td_read(path, &glen);
		cr_assert(golden, "%s missing (QMIGRATE_REGENERATE_GOLDEN=1 writes it)", path);
		cr_assert_eq(glen, len, "%s: %zu bytes, encoded %zu", path, glen, len);
		cr_assert_eq(memcmp(golden, frame, len), 0, "%s differs", path);

		cr_assert_eq(parse(golden, glen, &f, &err), 1, "%s: %s", path, err.text);
		cr_assert_eq(f.consumed, glen);
		cr_assert_eq(qm_peer_msg_decode(f.body, f.body_len, &back, &err), 0, "%s: %s",
			     path, err.text);
		pd_assert_same(&m, &back);
		qm_peer_msg_release(&back);
		qm_peer_msg_release(&m);
	}
}

/*
 * Reads the stream as a reader would: bytes arrive in two pieces split at
 * @split, each frame is taken as soon as it is whole.  Checks that every
 * frame comes out whole and in order, and that "need" never overshoots.
 */
static void read_split(const char *stream, size_t len, const size_t *lens, size_t split)
{
	size_t have = split, off = 0;
	int n = 0;

	for (;;) {
		struct qm_peer_frame f;
		struct qm_error err = { 0 };
		int r = parse(stream + off, have - off, &f, &err);

		cr_assert_geq(r, 0, "split %zu: %s", split, err.text);
		if (r == 0) {
			cr_assert_gt(f.need, 0);
			cr_assert_leq(off + (have - off) + f.need, len, "split %zu: need %zu", split,
				      f.need);
			if (have == len)
				break;
			have = len;
			continue;
		}
		cr_assert_lt(n, PD_N_TYPES);
		cr_assert_eq(f.consumed, lens[n], "split %zu frame %d", split, n);
		cr_assert_eq(f.body, stream + off + QM_PEER_HEADER_SIZE);
		off += f.consumed;
		n++;
		if (off == len)
			break;
	}
	cr_assert_eq(n, PD_N_TYPES, "split %zu: %d frames", split, n);
	cr_assert_eq(off, len);
}

Test(peer_frame, every_split_point_of_a_stream_gives_the_same_frames)
{
	size_t lens[PD_N_TYPES], len;
	_cleanup_free_ char *stream = pd_stream(&len, lens);

	for (size_t split = 0; split <= len; split++)
		read_split(stream, len, lens, split);
}

Test(peer_frame, need_counts_the_missing_bytes)
{
	struct qm_peer_frame f;
	struct qm_error err = { 0 };
	char *frame;
	size_t len;

	cr_assert_eq(qm_peer_frame_encode("{\"a\":1}", 7, &frame, &len, &err), 0);
	cr_assert_eq(parse(frame, 0, &f, &err), 0);
	cr_assert_eq(f.need, QM_PEER_HEADER_SIZE);
	cr_assert_eq(parse(frame, 5, &f, &err), 0);
	cr_assert_eq(f.need, QM_PEER_HEADER_SIZE - 5);
	cr_assert_eq(parse(frame, QM_PEER_HEADER_SIZE + 3, &f, &err), 0);
	cr_assert_eq(f.need, 4);
	free(frame);
}

static void expect_refused(const void *buf, size_t len, int code, const char *piece)
{
	struct qm_peer_frame f;
	struct qm_error err = { 0 };

	cr_assert_eq(parse(buf, len, &f, &err), code, "%s", err.text);
	cr_assert_eq(err.code, code);
	cr_assert_str_eq(err.error_class, "PeerProtocol");
	cr_assert(strstr(err.text, piece), "'%s' lacks '%s'", err.text, piece);
}

Test(peer_frame, wrong_magic_is_refused_from_its_first_byte)
{
	expect_refused("{", 1, -EPROTO, "magic \"QMPP\"");
	expect_refused("QMPX\0\1\0\0\0\0\0\2{}", 14, -EPROTO, "not a qmigrate peer");
}

Test(peer_frame, a_good_start_of_the_magic_waits_for_more)
{
	struct qm_peer_frame f;
	struct qm_error err = { 0 };

	cr_assert_eq(parse("QM", 2, &f, &err), 0);
	cr_assert_eq(f.need, QM_PEER_HEADER_SIZE - 2);
}

Test(peer_frame, wrong_version_is_refused)
{
	expect_refused("QMPP\0\2\0\0\0\0\0\2{}", 14, -EPROTONOSUPPORT,
		       "peer frame version 2, this qmigrate reads version 1");
	expect_refused("QMPP\1\0\0\0\0\0\0\2{}", 14, -EPROTONOSUPPORT, "version 256");
}

Test(peer_frame, reserved_field_must_be_zero)
{
	expect_refused("QMPP\0\1\0\1\0\0\0\2{}", 14, -EPROTO, "reserved field is 0x0001");
}

Test(peer_frame, oversized_frame_is_refused_from_its_header)
{
	uint8_t hdr[QM_PEER_HEADER_SIZE];
	struct qm_peer_frame f;
	struct qm_error err = { 0 };

	qm_peer_frame_header(hdr, QM_PEER_BODY_MAX);
	cr_assert_eq(parse(hdr, sizeof(hdr), &f, &err), 0);
	cr_assert_eq(f.need, QM_PEER_BODY_MAX);
	qm_peer_frame_header(hdr, (size_t)QM_PEER_BODY_MAX + 1);
	expect_refused(hdr, sizeof(hdr), -EMSGSIZE, "over the bound of 704512 bytes");
	memcpy(hdr + 8, "\xff\xff\xff\xff", 4);
	expect_refused(hdr, sizeof(hdr), -EMSGSIZE, "body of 4294967295 bytes");
}

Test(peer_frame, encoding_an_oversized_body_fails)
{
	_cleanup_free_ char *body = calloc(1, (size_t)QM_PEER_BODY_MAX + 1);
	struct qm_error err = { 0 };
	char *frame = NULL;
	size_t len;

	cr_assert(body);
	cr_assert_eq(qm_peer_frame_encode(body, (size_t)QM_PEER_BODY_MAX + 1, &frame, &len, &err),
		     -E2BIG);
	cr_assert(strstr(err.text, "over the frame bound"), "%s", err.text);
	cr_assert_null(frame);
}
