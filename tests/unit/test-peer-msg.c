/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The peer protocol's messages: every type round trip, every refusal of a
 * hostile body (tests/data/peer/hostile/NAME.json with NAME.error: line 1
 * the error class, line 2 a piece of the message), bodies with fields this
 * side does not know (tests/data/peer/good), the bounds, and the hello rules.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

#include "engine/peer-frame.h"
#include "engine/peer-msg.h"
#include "tests/unit/peer-data.h"
#include "tests/unit/testdata.h"

TestSuite(peer_msg, .timeout = 60);

static int decode(const char *body, size_t len, struct qm_peer_msg *m, struct qm_error *err)
{
	qm_error_clear(err);
	return qm_peer_msg_decode(body, len, m, err);
}

/* Decodes the body of the frame @frame. */
static int decode_frame(const char *frame, size_t len, struct qm_peer_msg *m,
			struct qm_error *err)
{
	struct qm_peer_frame f;

	cr_assert_eq(qm_peer_frame_parse(frame, len, &f, err), 1, "%s", err->text);
	cr_assert_eq(f.consumed, len);
	return decode(f.body, f.body_len, m, err);
}

Test(peer_msg, every_type_round_trips)
{
	for (int t = 0; t < PD_N_TYPES; t++) {
		struct qm_peer_msg m, back = { 0 };
		struct qm_error err = { 0 };
		size_t len;
		_cleanup_free_ char *frame = NULL;

		pd_sample(t, &m);
		frame = pd_encode(&m, &len);
		cr_assert_eq(decode_frame(frame, len, &back, &err), 0, "%s: %s",
			     qm_peer_type_name(t), err.text);
		pd_assert_same(&m, &back);
		qm_peer_msg_release(&back);
		qm_peer_msg_release(&m);
	}
}

/* A failed finish with leases says where it left them: error's optional cookie. */
Test(peer_msg, an_error_with_a_cookie_round_trips)
{
	struct qm_peer_msg m, back = { 0 };
	struct qm_error err = { 0 };
	_cleanup_free_ char *frame = NULL;
	size_t len;

	pd_sample(QM_PEER_ERROR, &m);
	cr_assert(m.cookie = strdup("<qemu-migration><lockstate driver='fcntl'/></qemu-migration>"));
	frame = pd_encode(&m, &len);
	cr_assert_eq(decode_frame(frame, len, &back, &err), 0, "%s", err.text);
	cr_assert_str_eq(back.cookie, m.cookie);
	cr_assert_str_eq(back.error_class, m.error_class);
	qm_peer_msg_release(&back);
	qm_peer_msg_release(&m);
}

Test(peer_msg, prepare_without_a_description_round_trips)
{
	struct qm_peer_msg m, back = { 0 };
	struct qm_error err = { 0 };
	_cleanup_free_ char *frame = NULL;
	size_t len;

	pd_sample(QM_PEER_PREPARE, &m);
	free(m.domain);
	m.domain = NULL;
	frame = pd_encode(&m, &len);
	cr_assert_eq(decode_frame(frame, len, &back, &err), 0, "%s", err.text);
	cr_assert_null(back.domain);
	pd_assert_same(&m, &back);
	qm_peer_msg_release(&back);
	qm_peer_msg_release(&m);
}

/* The disks move with the VM: the agent creates and serves them (docs/storage.md). */
Test(peer_msg, prepare_with_copy_storage_round_trips)
{
	static const enum qm_copy_storage modes[] = { QM_COPY_STORAGE_ALL, QM_COPY_STORAGE_INC };
	struct qm_error err = { 0 };

	for (size_t i = 0; i < 2; i++) {
		struct qm_peer_msg m, back = { 0 };
		_cleanup_free_ char *frame = NULL;
		const char *want;
		size_t len;

		pd_sample(QM_PEER_PREPARE, &m);
		m.settings.copy_storage = modes[i];
		frame = pd_encode(&m, &len);
		want = i ? "\"copy-storage\":\"inc\"" : "\"copy-storage\":\"all\"";
		cr_assert(memmem(frame, len, want, strlen(want)), "%.*s", (int)len, frame);
		cr_assert_eq(decode_frame(frame, len, &back, &err), 0, "%s", err.text);
		pd_assert_same(&m, &back);
		qm_peer_msg_release(&back);
		qm_peer_msg_release(&m);
	}
}

static void run_hostile(const char *dir, const char *name)
{
	_cleanup_free_ char *path = NULL, *epath = NULL, *body = NULL, *expect = NULL;
	struct qm_peer_msg m = { 0 };
	struct qm_error err = { 0 };
	char cls[64], piece[256];
	size_t len, elen;

	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	cr_assert(asprintf(&epath, "%.*s.error", (int)(strlen(path) - 5), path) > 0);
	cr_assert(body = td_read(path, &len), "%s", path);
	cr_assert(expect = td_read(epath, &elen), "%s", epath);
	cr_assert_eq(sscanf(expect, "%63[^\n]\n%255[^\n]", cls, piece), 2, "%s", epath);
	cr_assert_eq(decode(body, len, &m, &err), -EPROTO, "%s accepted", name);
	cr_assert_eq(err.code, -EPROTO);
	cr_assert_str_eq(err.error_class, cls, "%s", name);
	cr_assert(strstr(err.text, piece), "%s: '%s' lacks '%s'", name, err.text, piece);
	cr_assert_null(m.cookie);
	cr_assert_null(m.domain);
}

Test(peer_msg, hostile_bodies_are_refused_with_their_reason)
{
	td_each("peer/hostile", ".json", 30, run_hostile);
}

static void run_good(const char *dir, const char *name)
{
	_cleanup_free_ char *path = NULL, *body = NULL;
	struct qm_peer_msg m = { 0 };
	struct qm_error err = { 0 };
	size_t len;

	cr_assert(asprintf(&path, "%s/%s", dir, name) > 0);
	cr_assert(body = td_read(path, &len), "%s", path);
	cr_assert_eq(decode(body, len, &m, &err), 0, "%s: %s", name, err.text);
	cr_assert_null(m.domain, "%s: a domain outside prepare is an unknown field", name);
	qm_peer_msg_release(&m);
}

Test(peer_msg, unknown_fields_are_ignored)
{
	td_each("peer/good", ".json", 2, run_good);
}

/* A prepare body whose cookie has @cookie_len bytes and description @domain_len. */
static char *prepare_body(size_t cookie_len, size_t domain_len, char fill)
{
	char *body = NULL, *cookie = malloc(cookie_len + 1), *domain = malloc(domain_len + 1);

	cr_assert(cookie && domain);
	memset(cookie, fill, cookie_len);
	cookie[cookie_len] = '\0';
	memset(domain, fill, domain_len);
	domain[domain_len] = '\0';
	cr_assert(asprintf(&body, "{\"type\":\"prepare\",\"cookie\":\"%s\",\"domain\":\"%s\","
			   "\"settings\":{\"transport\":\"tcp\",\"launch\":true}}",
			   cookie, domain) > 0);
	free(cookie);
	free(domain);
	return body;
}

Test(peer_msg, cookie_and_description_bounds_hold_on_decode)
{
	struct qm_peer_msg m = { 0 };
	struct qm_error err = { 0 };
	char *body;

	body = prepare_body(QM_COOKIE_MAX, QM_DOMAIN_MAX, 'x');
	cr_assert_eq(decode(body, strlen(body), &m, &err), 0, "%s", err.text);
	cr_assert_eq(strlen(m.cookie), QM_COOKIE_MAX);
	cr_assert_eq(strlen(m.domain), QM_DOMAIN_MAX);
	qm_peer_msg_release(&m);
	free(body);

	body = prepare_body(QM_COOKIE_MAX + 1, 1, 'x');
	cr_assert_eq(decode(body, strlen(body), &m, &err), -EPROTO);
	cr_assert(strstr(err.text, "field \"cookie\" is 16385 bytes, over its bound of 16384"),
		  "%s", err.text);
	free(body);

	body = prepare_body(1, QM_DOMAIN_MAX + 1, 'x');
	cr_assert_eq(decode(body, strlen(body), &m, &err), -EPROTO);
	cr_assert(strstr(err.text, "field \"domain\" is 262145 bytes, over its bound of 262144"),
		  "%s", err.text);
	cr_assert_null(m.cookie);
	free(body);
}

/* The frame bound is chosen for this: the largest prepare, every byte escaped. */
Test(peer_msg, largest_prepare_fits_in_a_frame)
{
	struct qm_peer_msg m = { .type = QM_PEER_PREPARE }, back = { 0 };
	struct qm_error err = { 0 };
	_cleanup_free_ char *frame = NULL;
	size_t len;

	cr_assert(m.cookie = malloc(QM_COOKIE_MAX + 1));
	cr_assert(m.domain = malloc(QM_DOMAIN_MAX + 1));
	memset(m.cookie, '"', QM_COOKIE_MAX);
	m.cookie[QM_COOKIE_MAX] = '\0';
	memset(m.domain, '\n', QM_DOMAIN_MAX);
	m.domain[QM_DOMAIN_MAX] = '\0';
	/* The largest disk map, every byte but the slash and the '=' escaped. */
	m.settings.launch = true;
	m.settings.n_disk_map = QM_PEER_DISK_MAP_MAX;
	cr_assert(m.settings.disk_map = calloc(QM_PEER_DISK_MAP_MAX + 1, sizeof(char *)));
	for (size_t i = 0; i < QM_PEER_DISK_MAP_MAX; i++) {
		char *e = malloc(QM_PEER_DISK_MAP_ENTRY + 1);

		cr_assert(e);
		memset(e, '"', QM_PEER_DISK_MAP_ENTRY);
		e[0] = '/';
		e[1] = '=';
		e[QM_PEER_DISK_MAP_ENTRY] = '\0';
		m.settings.disk_map[i] = e;
	}
	strcpy(m.settings.migrate_address, "2001:db8::1");
	strcpy(m.settings.graphics_listen, "2001:db8::1");
	memset(m.settings.spice_x509_dir, '"', QM_PEER_X509_DIR_MAX);
	m.settings.spice_x509_dir[0] = '/';
	m.settings.spice_x509_dir[QM_PEER_X509_DIR_MAX] = '\0';
	frame = pd_encode(&m, &len);
	cr_assert_leq(len, QM_PEER_FRAME_MAX);
	cr_assert_eq(decode_frame(frame, len, &back, &err), 0, "%s", err.text);
	pd_assert_same(&m, &back);
	qm_peer_msg_release(&back);
	qm_peer_msg_release(&m);
}

static void expect_not_encoded(const struct qm_peer_msg *m, int code, const char *piece)
{
	struct qm_error err = { 0 };
	char *frame = NULL;
	size_t len;

	cr_assert_eq(qm_peer_msg_encode(m, &frame, &len, &err), code, "%s", err.text);
	cr_assert_null(frame);
	cr_assert(strstr(err.text, piece), "'%s' lacks '%s'", err.text, piece);
}

Test(peer_msg, encoding_refuses_what_the_peer_would_refuse)
{
	struct qm_peer_msg m;

	pd_sample(QM_PEER_FINISH, &m);
	m.domain = strdup("<domain/>");
	expect_not_encoded(&m, -EINVAL, "outgoing peer message \"finish\" carries a description");
	free(m.cookie);
	m.cookie = NULL;
	expect_not_encoded(&m, -EINVAL, "field \"cookie\" is empty");
	qm_peer_msg_release(&m);

	pd_sample(QM_PEER_CLEANUP_REPLY, &m);
	free(m.cookie);
	m.cookie = td_padded("<c>", "</c>", QM_COOKIE_MAX + 1);
	expect_not_encoded(&m, -EINVAL, "field \"cookie\" is 16385 bytes");
	free(m.cookie);
	m.cookie = strdup("<c>\xff</c>");
	expect_not_encoded(&m, -EINVAL, "field \"cookie\" is not valid UTF-8");
	qm_peer_msg_release(&m);

	pd_sample(QM_PEER_HELLO, &m);
	strcpy(m.hello.features[1].name, "Tunnel");
	expect_not_encoded(&m, -EINVAL, "field \"features\" has a byte not allowed");
	m.hello.protocol = 0;
	expect_not_encoded(&m, -EINVAL, "protocol 0");

	pd_sample(QM_PEER_ERROR, &m);
	strcpy(m.message, "two\nlines");
	expect_not_encoded(&m, -EINVAL, "field \"message\" has a byte not allowed");
	m.type = (enum qm_peer_type)99;
	expect_not_encoded(&m, -EINVAL, "has no type (99)");
}

/* ---- qmp-log: the destination's QMP, forwarded for the source's transcript ---- */

/* A qmp-log body whose "msg" is a string of @n bytes of @fill (@n + 2 as JSON). */
static char *qmp_log_body(size_t n, char fill)
{
	char *body = NULL, *s = malloc(n + 1);

	cr_assert(s);
	memset(s, fill, n);
	s[n] = '\0';
	cr_assert(asprintf(&body, "{\"type\":\"qmp-log\",\"ts\":1764716400.5,\"dir\":\"recv\","
			   "\"msg\":\"%s\",\"bytes\":2000000}",
			   s) > 0);
	free(s);
	return body;
}

Test(peer_msg, a_qmp_log_message_is_bounded_both_ways)
{
	struct qm_peer_msg m = { 0 }, out = { .type = QM_PEER_QMP_LOG };
	struct qm_error err = { 0 };
	_cleanup_free_ char *frame = NULL;
	char *body;
	size_t len;

	/* At the bound: the start of a huge message, as the agent sends it. */
	body = qmp_log_body(QM_PEER_QMP_LOG_MAX - 2, 'x');
	cr_assert_eq(decode(body, strlen(body), &m, &err), 0, "%s", err.text);
	cr_assert_eq(m.type, QM_PEER_QMP_LOG);
	cr_assert_eq(json_string_length(m.qmp_log.msg), QM_PEER_QMP_LOG_MAX - 2);
	cr_assert_eq(m.qmp_log.bytes, 2000000);
	cr_assert_eq(m.qmp_log.dropped, 0);
	cr_assert_not(m.qmp_log.sent);
	/* ... and it fits in a frame. */
	out.qmp_log = m.qmp_log;
	frame = pd_encode(&out, &len);
	cr_assert_leq(len, QM_PEER_FRAME_MAX);
	qm_peer_msg_release(&m);
	free(body);

	body = qmp_log_body(QM_PEER_QMP_LOG_MAX - 1, 'x');
	cr_assert_eq(decode(body, strlen(body), &m, &err), -EPROTO);
	cr_assert(strstr(err.text, "field \"msg\" is 65537 bytes, over its bound of 65536"),
		  "%s", err.text);
	cr_assert_null(m.qmp_log.msg);
	free(body);
}

Test(peer_msg, encoding_refuses_a_qmp_log_the_source_would_refuse)
{
	struct qm_peer_msg m;
	char *quotes = malloc(QM_PEER_QMP_LOG_MAX / 2 + 1);

	pd_sample(QM_PEER_QMP_LOG, &m);
	m.qmp_log.ts = NAN;
	expect_not_encoded(&m, -EINVAL, "field \"ts\" is not a number of seconds");
	m.qmp_log.ts = -1;
	expect_not_encoded(&m, -EINVAL, "field \"ts\" is not a number of seconds");
	m.qmp_log.ts = 1764716400.125;
	m.qmp_log.bytes = -2;
	expect_not_encoded(&m, -EINVAL, "is not a count");
	m.qmp_log.bytes = -1;
	json_decref(m.qmp_log.msg);
	m.qmp_log.msg = json_integer(42);
	expect_not_encoded(&m, -EINVAL, "field \"msg\" is missing, or not an object");
	json_decref(m.qmp_log.msg);
	m.qmp_log.msg = NULL;
	expect_not_encoded(&m, -EINVAL, "field \"msg\" is missing");
	/* Escaping counts: 32768 quotes are 65538 bytes of JSON. */
	cr_assert(quotes);
	memset(quotes, '"', QM_PEER_QMP_LOG_MAX / 2);
	quotes[QM_PEER_QMP_LOG_MAX / 2] = '\0';
	m.qmp_log.msg = json_string(quotes);
	free(quotes);
	expect_not_encoded(&m, -EINVAL, "field \"msg\" is 65538 bytes, over its bound of 65536");
	qm_peer_msg_release(&m);
}

/* ---- hello rules ---------------------------------------------------------- */

static void hello(struct qm_peer_hello *h, const char *version, const char *features,
		  const char *needs)
{
	_cleanup_free_ char *list = strdup(features);

	memset(h, 0, sizeof(*h));
	h->protocol = QM_PEER_PROTOCOL;
	strcpy(h->version, version);
	for (char *f = strtok(list, " "); f; f = strtok(NULL, " ")) {
		strcpy(h->features[h->n_features].name, f);
		h->features[h->n_features++].needed = strstr(needs, f) != NULL;
	}
}

Test(peer_msg, hello_accepts_a_peer_that_has_what_each_side_needs)
{
	struct qm_peer_hello local, remote;
	struct qm_error err = { 0 };

	hello(&local, "0.2.0", "launch tunnel postcopy", "launch");
	hello(&remote, "0.3.0", "launch tunnel multifd-ssh", "tunnel");
	cr_assert_eq(qm_peer_check_hello(&local, &remote, &err), 0, "%s", err.text);
	cr_assert_eq(qm_peer_check_hello(&remote, &local, &err), 0, "%s", err.text);
}

Test(peer_msg, hello_refuses_a_peer_lacking_a_needed_feature_by_name)
{
	struct qm_peer_hello local, remote;
	struct qm_error err = { 0 };

	hello(&local, "0.2.0", "launch tunnel", "tunnel");
	hello(&remote, "0.1.0", "launch", "");
	cr_assert_eq(qm_peer_check_hello(&local, &remote, &err), -EPROTONOSUPPORT);
	cr_assert_str_eq(err.error_class, "PeerFeature");
	cr_assert(strstr(err.text, "the peer (qmigrate 0.1.0) lacks the feature \"tunnel\" "
				   "that this migration needs"),
		  "%s", err.text);
}

Test(peer_msg, hello_refuses_a_peer_needing_a_feature_this_side_lacks_by_name)
{
	struct qm_peer_hello local, remote;
	struct qm_error err = { 0 };

	hello(&local, "0.1.0", "launch", "");
	hello(&remote, "0.4.0", "launch encrypted-cookie", "encrypted-cookie");
	cr_assert_eq(qm_peer_check_hello(&local, &remote, &err), -EPROTONOSUPPORT);
	cr_assert_str_eq(err.error_class, "PeerFeature");
	cr_assert(strstr(err.text, "needs the feature \"encrypted-cookie\" that this qmigrate "
				   "(0.1.0) lacks"),
		  "%s", err.text);
}

Test(peer_msg, hello_refuses_another_protocol)
{
	struct qm_peer_hello local, remote;
	struct qm_error err = { 0 };

	hello(&local, "0.1.0", "", "");
	hello(&remote, "1.0.0", "", "");
	remote.protocol = 2;
	cr_assert_eq(qm_peer_check_hello(&local, &remote, &err), -EPROTONOSUPPORT);
	cr_assert_str_eq(err.error_class, "PeerProtocol");
	cr_assert(strstr(err.text, "speaks peer protocol 2, this qmigrate (0.1.0) speaks 1"),
		  "%s", err.text);
}
