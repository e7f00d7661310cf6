/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engine/peer-frame.h"
#include "engine/peer-msg.h"
#include "util/error.h"

/* What a field's text may hold. */
enum text_kind {
	TEXT_NAME,  /* a feature name: [a-z0-9-], starting with a letter */
	TEXT_TOKEN, /* a version or an error class: printable ASCII, no space */
	TEXT_LINE,  /* a message: no control character (it reaches a terminal) */
	TEXT_XML,   /* a cookie or a description: its own parser checks it later */
};

struct text_rule {
	const char *field;
	enum text_kind kind;
	size_t max; /* bytes */
};

static const struct text_rule rule_feature = { "features", TEXT_NAME, QM_PEER_NAME_MAX - 1 };
static const struct text_rule rule_version = { "version", TEXT_TOKEN, QM_PEER_NAME_MAX - 1 };
static const struct text_rule rule_class = { "class", TEXT_TOKEN, 63 };
static const struct text_rule rule_message = { "message", TEXT_LINE, 511 };
static const struct text_rule rule_cookie = { "cookie", TEXT_XML, QM_COOKIE_MAX };
static const struct text_rule rule_domain = { "domain", TEXT_XML, QM_DOMAIN_MAX };

struct type_info {
	const char *name;
	bool cookie; /* a phase message: carries the phase's cookie */
	bool domain; /* may carry the migratable description */
};

static const struct type_info types[] = {
	[QM_PEER_HELLO] = { "hello", false, false },
	[QM_PEER_PREPARE] = { "prepare", true, true },
	[QM_PEER_PREPARE_REPLY] = { "prepare-reply", true, false },
	[QM_PEER_FINISH] = { "finish", true, false },
	[QM_PEER_FINISH_REPLY] = { "finish-reply", true, false },
	[QM_PEER_CLEANUP] = { "cleanup", true, false },
	[QM_PEER_CLEANUP_REPLY] = { "cleanup-reply", true, false },
	[QM_PEER_ERROR] = { "error", false, false },
	[QM_PEER_QMP_LOG] = { "qmp-log", false, false },
};

const char *qm_peer_type_name(enum qm_peer_type type)
{
	if ((unsigned)type >= ARRAY_SIZE(types))
		return NULL;
	return types[type].name;
}

void qm_peer_msg_release(struct qm_peer_msg *m)
{
	free(m->cookie);
	/* A description may hold passwords. */
	if (m->domain)
		explicit_bzero(m->domain, strlen(m->domain));
	free(m->domain);
	qm_peer_settings_release(&m->settings);
	json_decref(m->qmp_log.msg);
	memset(m, 0, sizeof(*m));
}

/* How the message at fault is named in errors, and the code they carry. */
struct side {
	const char *what; /* followed by the type name */
	int code;
};

static const struct side decoding = { "peer message", -EPROTO };
static const struct side encoding = { "outgoing peer message", -EINVAL };

static bool text_char_ok(enum text_kind kind, unsigned char c, size_t i)
{
	switch (kind) {
	case TEXT_NAME:
		return (c >= 'a' && c <= 'z') || (i > 0 && ((c >= '0' && c <= '9') || c == '-'));
	case TEXT_TOKEN:
		return c > 0x20 && c < 0x7f;
	case TEXT_LINE:
		return c >= 0x20 && c != 0x7f;
	case TEXT_XML:
		return c != 0;
	}
	return false;
}

static int check_text(const struct side *side, const char *type, const struct text_rule *rule,
		      const char *s, size_t len, struct qm_error *err)
{
	if (len == 0)
		return qm_error_set(err, side->code, "PeerProtocol", "%s \"%s\": field \"%s\" is empty",
				    side->what, type, rule->field);
	if (len > rule->max)
		return qm_error_set(err, side->code, "PeerProtocol",
				    "%s \"%s\": field \"%s\" is %zu bytes, over its bound of %zu",
				    side->what, type, rule->field, len, rule->max);
	for (size_t i = 0; i < len; i++)
		if (!text_char_ok(rule->kind, (unsigned char)s[i], i))
			return qm_error_set(err, side->code, "PeerProtocol",
					    "%s \"%s\": field \"%s\" has a byte not allowed "
					    "in it (0x%02x at offset %zu)",
					    side->what, type, rule->field, (unsigned char)s[i], i);
	return 0;
}

static int field_error(const char *type, const char *field, const char *problem,
		       struct qm_error *err)
{
	return qm_error_set(err, -EPROTO, "PeerProtocol", "peer message \"%s\": field \"%s\" %s",
			    type, field, problem);
}

/*
 * Finds the string field @rule->field of @obj and checks it.  An optional
 * field that is absent gives 0 with *@s NULL.
 */
static int get_text(json_t *obj, const char *type, const struct text_rule *rule, bool required,
		    const char **s, size_t *len, struct qm_error *err)
{
	json_t *v = json_object_get(obj, rule->field);

	*s = NULL;
	*len = 0;
	if (!v)
		return required ? field_error(type, rule->field, "is missing", err) : 0;
	if (!json_is_string(v))
		return field_error(type, rule->field, "is not a string", err);
	*s = json_string_value(v);
	*len = json_string_length(v);
	return check_text(&decoding, type, rule, *s, *len, err);
}

static int get_text_into(json_t *obj, const char *type, const struct text_rule *rule, char *out,
			 struct qm_error *err)
{
	const char *s;
	size_t len;
	int r = get_text(obj, type, rule, true, &s, &len, err);

	if (r < 0)
		return r;
	memcpy(out, s, len + 1);
	return 0;
}

static int get_text_dup(json_t *obj, const char *type, const struct text_rule *rule,
			bool required, char **out, struct qm_error *err)
{
	const char *s;
	size_t len;
	int r = get_text(obj, type, rule, required, &s, &len, err);

	if (r < 0 || !s)
		return r;
	*out = strndup(s, len);
	if (!*out)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	return 0;
}

static struct qm_peer_feature *find_feature(struct qm_peer_hello *h, const char *name)
{
	for (size_t i = 0; i < h->n_features; i++)
		if (strcmp(h->features[i].name, name) == 0)
			return &h->features[i];
	return NULL;
}

/* Reads the array @field of feature names; "needs" marks those already listed. */
static int get_features(json_t *obj, const char *field, struct qm_peer_hello *h,
			struct qm_error *err)
{
	bool needs = strcmp(field, "needs") == 0;
	json_t *arr = json_object_get(obj, field), *v;
	struct text_rule rule = rule_feature;
	size_t i;
	int r;

	rule.field = field;
	if (!arr)
		return field_error("hello", field, "is missing", err);
	if (!json_is_array(arr))
		return field_error("hello", field, "is not an array", err);
	if (json_array_size(arr) > QM_PEER_MAX_FEATURES)
		return qm_error_set(err, -EPROTO, "PeerProtocol",
				    "peer message \"hello\": field \"%s\" lists %zu features, "
				    "over the bound of %d",
				    field, json_array_size(arr), QM_PEER_MAX_FEATURES);
	json_array_foreach(arr, i, v) {
		struct qm_peer_feature *f;
		const char *name = json_string_value(v);

		if (!name)
			return field_error("hello", field, "holds something other than a string",
					   err);
		r = check_text(&decoding, "hello", &rule, name, json_string_length(v), err);
		if (r < 0)
			return r;
		f = find_feature(h, name);
		if (needs) {
			if (!f)
				return qm_error_set(err, -EPROTO, "PeerProtocol",
						    "peer message \"hello\" needs the feature "
						    "\"%s\" but does not list it in \"features\"",
						    name);
			f->needed = true;
			continue;
		}
		if (f)
			return qm_error_set(err, -EPROTO, "PeerProtocol",
					    "peer message \"hello\" lists the feature \"%s\" twice",
					    name);
		f = &h->features[h->n_features++];
		memcpy(f->name, name, strlen(name) + 1);
	}
	return 0;
}

static int decode_hello(json_t *obj, struct qm_peer_hello *h, struct qm_error *err)
{
	json_t *proto = json_object_get(obj, "protocol");
	int r;

	if (!proto)
		return field_error("hello", "protocol", "is missing", err);
	if (!json_is_integer(proto) || json_integer_value(proto) < 1 ||
	    json_integer_value(proto) > 65535)
		return field_error("hello", "protocol", "is not an integer from 1 to 65535", err);
	h->protocol = (int)json_integer_value(proto);
	r = get_text_into(obj, "hello", &rule_version, h->version, err);
	if (r < 0)
		return r;
	r = get_features(obj, "features", h, err);
	if (r < 0)
		return r;
	return get_features(obj, "needs", h, err);
}

static int decode_body(json_t *obj, struct qm_peer_msg *m, struct qm_error *err)
{
	const struct type_info *t = &types[m->type];
	int r;

	if (m->type == QM_PEER_HELLO)
		return decode_hello(obj, &m->hello, err);
	if (m->type == QM_PEER_QMP_LOG)
		return qm_peer_qmp_log_decode(obj, &m->qmp_log, err);
	if (m->type == QM_PEER_ERROR) {
		r = get_text_into(obj, t->name, &rule_class, m->error_class, err);
		if (r == 0)
			r = get_text_into(obj, t->name, &rule_message, m->message, err);
		/* Optional: the leases a failed finish gave back (feature lockstate). */
		if (r == 0)
			r = get_text_dup(obj, t->name, &rule_cookie, false, &m->cookie, err);
		return r < 0 ? r : qm_peer_settings_decode(obj, m, err);
	}
	r = get_text_dup(obj, t->name, &rule_cookie, true, &m->cookie, err);
	if (r == 0 && t->domain)
		r = get_text_dup(obj, t->name, &rule_domain, false, &m->domain, err);
	return r < 0 ? r : qm_peer_settings_decode(obj, m, err);
}

/* Copies a hostile type name for an error message: printable ASCII, cut short. */
static void printable(char *out, size_t size, const char *s, size_t len)
{
	size_t i;

	for (i = 0; i < len && i + 1 < size; i++)
		out[i] = (s[i] > 0x20 && s[i] < 0x7f) ? s[i] : '?';
	out[i] = '\0';
	if (i < len && size > 4)
		memcpy(out + size - 4, "...", 4);
}

int qm_peer_msg_decode(const char *body, size_t len, struct qm_peer_msg *m,
		       struct qm_error *err)
{
	json_auto_t *obj = NULL;
	json_error_t jerr;
	json_t *type;
	char name[40];
	int r;

	qm_peer_msg_release(m);
	obj = json_loadb(body, len, JSON_REJECT_DUPLICATES, &jerr);
	if (!obj)
		return qm_error_set(err, -EPROTO, "PeerProtocol",
				    "peer message is not valid JSON: %s (at byte %d)", jerr.text,
				    jerr.position);
	if (!json_is_object(obj))
		return qm_error_set(err, -EPROTO, "PeerProtocol",
				    "peer message is a JSON array, not an object");
	type = json_object_get(obj, "type");
	if (!json_is_string(type))
		return qm_error_set(err, -EPROTO, "PeerProtocol",
				    "peer message has no \"type\" string");
	for (m->type = 0; m->type < ARRAY_SIZE(types); m->type++)
		if (strlen(types[m->type].name) == json_string_length(type) &&
		    strcmp(types[m->type].name, json_string_value(type)) == 0)
			break;
	if (m->type == ARRAY_SIZE(types)) {
		printable(name, sizeof(name), json_string_value(type), json_string_length(type));
		return qm_error_set(err, -EPROTO, "PeerProtocol",
				    "peer message of unknown type \"%s\": is the peer a newer "
				    "qmigrate that did not negotiate it?",
				    name);
	}
	r = decode_body(obj, m, err);
	if (r < 0)
		qm_peer_msg_release(m);
	return r;
}

/* ---- encoding ------------------------------------------------------------ */

static int set_text(json_t *obj, const char *type, const struct text_rule *rule, const char *s,
		    struct qm_error *err)
{
	int r = check_text(&encoding, type, rule, s, strlen(s), err);

	if (r < 0)
		return r;
	if (json_object_set_new(obj, rule->field, json_string(s)) < 0)
		return qm_error_set(err, -EINVAL, "PeerProtocol",
				    "outgoing peer message \"%s\": field \"%s\" is not "
				    "valid UTF-8",
				    type, rule->field);
	return 0;
}

static int encode_hello(json_t *obj, const struct qm_peer_hello *h, struct qm_error *err)
{
	json_t *features = json_array(), *needs = json_array();
	int r;

	if (json_object_set_new(obj, "features", features) < 0 ||
	    json_object_set_new(obj, "needs", needs) < 0 ||
	    json_object_set_new(obj, "protocol", json_integer(h->protocol)) < 0)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	if (h->protocol < 1 || h->protocol > 65535 || h->n_features > QM_PEER_MAX_FEATURES)
		return qm_error_set(err, -EINVAL, "PeerProtocol",
				    "outgoing peer message \"hello\": protocol %d or %zu "
				    "features out of bounds",
				    h->protocol, h->n_features);
	r = set_text(obj, "hello", &rule_version, h->version, err);
	for (size_t i = 0; r == 0 && i < h->n_features; i++) {
		const char *name = h->features[i].name;

		r = check_text(&encoding, "hello", &rule_feature, name, strlen(name), err);
		if (r == 0 && (json_array_append_new(features, json_string(name)) < 0 ||
			       (h->features[i].needed &&
				json_array_append_new(needs, json_string(name)) < 0)))
			r = qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	}
	return r;
}

static int encode_body(json_t *obj, const struct qm_peer_msg *m, struct qm_error *err)
{
	const struct type_info *t = &types[m->type];
	int r;

	if (m->type == QM_PEER_HELLO)
		return encode_hello(obj, &m->hello, err);
	if (m->type == QM_PEER_QMP_LOG)
		return qm_peer_qmp_log_encode(obj, &m->qmp_log, err);
	if (m->type == QM_PEER_ERROR) {
		r = set_text(obj, t->name, &rule_class, m->error_class, err);
		if (r == 0)
			r = set_text(obj, t->name, &rule_message, m->message, err);
		if (r == 0 && m->cookie)
			r = set_text(obj, t->name, &rule_cookie, m->cookie, err);
		return r < 0 ? r : qm_peer_settings_encode(obj, m, err);
	}
	r = set_text(obj, t->name, &rule_cookie, m->cookie ? m->cookie : "", err);
	if (r == 0)
		r = qm_peer_settings_encode(obj, m, err);
	if (r < 0 || !m->domain)
		return r;
	if (!t->domain)
		return qm_error_set(err, -EINVAL, "PeerProtocol",
				    "outgoing peer message \"%s\" carries a description",
				    t->name);
	return set_text(obj, t->name, &rule_domain, m->domain, err);
}

int qm_peer_msg_encode(const struct qm_peer_msg *m, char **frame, size_t *frame_len,
		       struct qm_error *err)
{
	json_auto_t *obj = NULL;
	_cleanup_free_ char *body = NULL;
	int r;

	if (!qm_peer_type_name(m->type))
		return qm_error_set(err, -EINVAL, "PeerProtocol",
				    "outgoing peer message has no type (%d)", (int)m->type);
	obj = json_object();
	if (!obj || json_object_set_new(obj, "type", json_string(types[m->type].name)) < 0)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	r = encode_body(obj, m, err);
	if (r < 0)
		return r;
	/* Compact, UTF-8 as is: the frame bound counts on at most two bytes a character. */
	body = json_dumps(obj, JSON_COMPACT | JSON_SORT_KEYS);
	if (!body)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	return qm_peer_frame_encode(body, strlen(body), frame, frame_len, err);
}
