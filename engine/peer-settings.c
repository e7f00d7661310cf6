/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The peer messages' fields beyond the cookie: prepare's "settings", the
 * destination QEMU named in prepare-reply, and cleanup's "postcopy".  Every
 * field is checked on both sides, as peer-msg.c does for the rest.
 */
#include <errno.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "engine/peer-msg.h"
#include "util/error.h"
#include "util/host.h"

static const char *const copy_storage_modes[] = {
	[QM_COPY_STORAGE_NONE] = "none",
	[QM_COPY_STORAGE_ALL] = "all",
	[QM_COPY_STORAGE_INC] = "inc",
};

static const char *const transports[] = {
	[QM_TRANSPORT_UNIX] = "unix",
	[QM_TRANSPORT_TCP] = "tcp",
	[QM_TRANSPORT_TUNNEL] = "tunnel",
};

/* What a string setting may hold. */
enum kind {
	PATH, /* absolute, no control character */
	ADDR, /* qm_addr_text_ok: a host name or an IP literal */
};

static int bad(const struct qm_peer_msg *m, const char *field, const char *problem,
	       struct qm_error *err)
{
	return qm_error_set(err, -EPROTO, "PeerProtocol", "peer message \"%s\": %s %s",
			    qm_peer_type_name(m->type), field, problem);
}

static bool text_ok(const char *s, enum kind kind)
{
	if (kind == ADDR)
		return qm_addr_text_ok(s);
	if (s[0] != '/')
		return false;
	for (const unsigned char *p = (const unsigned char *)s; *p; p++)
		if (*p < 0x20 || *p == 0x7f)
			return false;
	return true;
}

/* An optional string into @out (of @size); absent leaves it "". */
static int get_str(const struct qm_peer_msg *m, json_t *obj, const char *field, enum kind kind,
		   char *out, size_t size, struct qm_error *err)
{
	json_t *v = json_object_get(obj, field);
	const char *s = json_string_value(v);

	if (!v)
		return 0;
	if (!s || json_string_length(v) != strlen(s))
		return bad(m, field, "is not a string", err);
	if (!*s || strlen(s) >= size || !text_ok(s, kind))
		return bad(m, field, kind == PATH ? "is not an absolute path that fits"
						  : "is not a host name or an address",
			   err);
	memcpy(out, s, strlen(s) + 1);
	return 0;
}

static int get_bool(const struct qm_peer_msg *m, json_t *obj, const char *field, bool *out,
		    struct qm_error *err)
{
	json_t *v = json_object_get(obj, field);

	*out = false;
	if (!v)
		return 0;
	if (!json_is_boolean(v))
		return bad(m, field, "is not true or false", err);
	*out = json_is_true(v);
	return 0;
}

static int get_disk_map(const struct qm_peer_msg *m, json_t *obj, struct qm_peer_settings *s,
			struct qm_error *err)
{
	json_t *arr = json_object_get(obj, "disk-map"), *v;
	size_t i;

	if (!arr)
		return 0;
	if (!json_is_array(arr) || json_array_size(arr) > QM_PEER_DISK_MAP_MAX)
		return bad(m, "disk-map", "is not an array of at most 64 strings", err);
	s->disk_map = calloc(json_array_size(arr) + 1, sizeof(char *));
	if (!s->disk_map)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	json_array_foreach(arr, i, v) {
		const char *e = json_string_value(v);

		if (!e || json_string_length(v) != strlen(e) || strlen(e) > QM_PEER_DISK_MAP_ENTRY ||
		    !text_ok(e, PATH) || !strchr(e, '='))
			return bad(m, "disk-map", "holds an entry that is not SRC=DST", err);
		s->disk_map[i] = strdup(e);
		if (!s->disk_map[i])
			return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
		s->n_disk_map++;
	}
	return 0;
}

/* "copy-storage": "all" or "inc"; absent (or "none"): the disks are shared. */
static int get_copy_storage(const struct qm_peer_msg *m, json_t *obj,
			    struct qm_peer_settings *s, struct qm_error *err)
{
	json_t *v = json_object_get(obj, "copy-storage");

	s->copy_storage = QM_COPY_STORAGE_NONE;
	if (!v)
		return 0;
	for (size_t i = 0; i < ARRAY_SIZE(copy_storage_modes); i++)
		if (json_is_string(v) && strcmp(json_string_value(v), copy_storage_modes[i]) == 0) {
			s->copy_storage = (enum qm_copy_storage)i;
			return 0;
		}
	return bad(m, "copy-storage", "is not \"none\", \"all\" or \"inc\"", err);
}

static int decode_settings(const struct qm_peer_msg *m, json_t *obj, struct qm_peer_settings *s,
			   struct qm_error *err)
{
	json_t *t = json_object_get(obj, "transport"), *mf = json_object_get(obj, "multifd");
	size_t i;
	int r;

	if (!json_is_object(obj))
		return bad(m, "settings", "is missing, or not an object", err);
	for (i = 0; i < ARRAY_SIZE(transports); i++)
		if (json_is_string(t) && strcmp(json_string_value(t), transports[i]) == 0)
			break;
	if (i == ARRAY_SIZE(transports))
		return bad(m, "transport", "is not \"unix\", \"tcp\" or \"tunnel\"", err);
	s->transport = (enum qm_transport)i;
	if (mf && (!json_is_integer(mf) || json_integer_value(mf) < 0 ||
		   json_integer_value(mf) > QM_PEER_MULTIFD_MAX))
		return bad(m, "multifd", "is not an integer from 0 to 63", err);
	s->multifd = (unsigned)json_integer_value(mf);
	r = get_bool(m, obj, "postcopy", &s->postcopy, err);
	if (r == 0)
		r = get_bool(m, obj, "paused", &s->paused, err);
	if (r == 0)
		r = get_bool(m, obj, "launch", &s->launch, err);
	if (r == 0)
		r = get_bool(m, obj, "allow-same-host", &s->allow_same_host, err);
	if (r == 0)
		r = get_bool(m, obj, "qmp-log", &s->qmp_log, err);
	if (r == 0)
		r = get_str(m, obj, "qmp", PATH, s->qmp, sizeof(s->qmp), err);
	if (r == 0)
		r = get_str(m, obj, "migrate-address", ADDR, s->migrate_address,
			    sizeof(s->migrate_address), err);
	if (r == 0)
		r = get_str(m, obj, "graphics-listen", ADDR, s->graphics_listen,
			    sizeof(s->graphics_listen), err);
	if (r == 0)
		r = get_str(m, obj, "spice-x509-dir", PATH, s->spice_x509_dir,
			    sizeof(s->spice_x509_dir), err);
	if (r == 0)
		r = get_disk_map(m, obj, s, err);
	if (r == 0)
		r = get_copy_storage(m, obj, s, err);
	if (r == 0 && s->launch == !!s->qmp[0])
		r = bad(m, "settings", "must name either a QMP socket or launch, not both", err);
	return r;
}

int qm_peer_settings_decode(json_t *obj, struct qm_peer_msg *m, struct qm_error *err)
{
	json_t *pid = json_object_get(obj, "pid");
	int r;

	switch (m->type) {
	case QM_PEER_PREPARE:
		return decode_settings(m, json_object_get(obj, "settings"), &m->settings, err);
	case QM_PEER_PREPARE_REPLY:
		r = get_str(m, obj, "qmp", PATH, m->qmp, sizeof(m->qmp), err);
		if (r == 0 && pid &&
		    (!json_is_integer(pid) || json_integer_value(pid) < 1 ||
		     json_integer_value(pid) > (1 << 22)))
			r = bad(m, "pid", "is not a process id", err);
		m->pid = (long)json_integer_value(pid);
		return r;
	case QM_PEER_CLEANUP:
		return get_bool(m, obj, "postcopy", &m->postcopy, err);
	case QM_PEER_ERROR:
		r = get_bool(m, obj, "refused", &m->refused, err);
		return r < 0 ? r : get_bool(m, obj, "changed", &m->changed, err);
	default:
		return 0;
	}
}

/* ---- encoding: the same rules, so that this side never sends what the peer refuses ---- */

static int put(json_t *obj, const char *field, json_t *v, struct qm_error *err)
{
	if (json_object_set_new(obj, field, v) < 0)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	return 0;
}

static int put_str(const struct qm_peer_msg *m, json_t *obj, const char *field, enum kind kind,
		   const char *s, struct qm_error *err)
{
	if (!s[0])
		return 0;
	if (!text_ok(s, kind))
		return qm_error_set(err, -EINVAL, "PeerProtocol",
				    "outgoing peer message \"%s\": %s is not allowed",
				    qm_peer_type_name(m->type), field);
	return put(obj, field, json_string(s), err);
}

static int encode_settings(const struct qm_peer_msg *m, json_t *obj, struct qm_error *err)
{
	const struct qm_peer_settings *s = &m->settings;
	json_t *set = json_object(), *map = json_array();
	int r;

	if ((unsigned)s->transport >= ARRAY_SIZE(transports) || s->multifd > QM_PEER_MULTIFD_MAX ||
	    s->n_disk_map > QM_PEER_DISK_MAP_MAX || s->launch == !!s->qmp[0] ||
	    (unsigned)s->copy_storage >= ARRAY_SIZE(copy_storage_modes)) {
		json_decref(set);
		json_decref(map);
		return qm_error_set(err, -EINVAL, "PeerProtocol",
				    "outgoing peer message \"prepare\": settings out of bounds");
	}
	r = put(obj, "settings", set, err);
	if (r == 0)
		r = put(set, "transport", json_string(transports[s->transport]), err);
	if (r == 0)
		r = put(set, "multifd", json_integer(s->multifd), err);
	if (r == 0)
		r = put(set, "postcopy", json_boolean(s->postcopy), err);
	if (r == 0)
		r = put(set, "paused", json_boolean(s->paused), err);
	if (r == 0)
		r = put(set, "launch", json_boolean(s->launch), err);
	if (r == 0)
		r = put(set, "allow-same-host", json_boolean(s->allow_same_host), err);
	/* Only when asked: an agent without the feature never sees it. */
	if (r == 0 && s->qmp_log)
		r = put(set, "qmp-log", json_true(), err);
	if (r == 0)
		r = put_str(m, set, "qmp", PATH, s->qmp, err);
	if (r == 0)
		r = put_str(m, set, "migrate-address", ADDR, s->migrate_address, err);
	if (r == 0)
		r = put_str(m, set, "graphics-listen", ADDR, s->graphics_listen, err);
	if (r == 0)
		r = put_str(m, set, "spice-x509-dir", PATH, s->spice_x509_dir, err);
	if (r == 0 && s->copy_storage != QM_COPY_STORAGE_NONE)
		r = put(set, "copy-storage", json_string(copy_storage_modes[s->copy_storage]), err);
	for (size_t i = 0; r == 0 && i < s->n_disk_map; i++)
		if (!text_ok(s->disk_map[i], PATH) || !strchr(s->disk_map[i], '=') ||
		    strlen(s->disk_map[i]) > QM_PEER_DISK_MAP_ENTRY ||
		    json_array_append_new(map, json_string(s->disk_map[i])) < 0)
			r = qm_error_set(err, -EINVAL, "PeerProtocol",
					 "outgoing peer message \"prepare\": disk map entry %zu "
					 "is not SRC=DST",
					 i);
	if (r == 0 && s->n_disk_map)
		return put(set, "disk-map", map, err);
	json_decref(map);
	return r;
}

int qm_peer_settings_encode(json_t *obj, const struct qm_peer_msg *m, struct qm_error *err)
{
	int r = 0;

	switch (m->type) {
	case QM_PEER_PREPARE:
		return encode_settings(m, obj, err);
	case QM_PEER_PREPARE_REPLY:
		r = put_str(m, obj, "qmp", PATH, m->qmp, err);
		if (r == 0 && m->pid > 0)
			r = put(obj, "pid", json_integer(m->pid), err);
		return r;
	case QM_PEER_CLEANUP:
		return m->postcopy ? put(obj, "postcopy", json_true(), err) : 0;
	case QM_PEER_ERROR:
		if (m->refused)
			r = put(obj, "refused", json_true(), err);
		if (r == 0 && m->changed)
			r = put(obj, "changed", json_true(), err);
		return r;
	default:
		return 0;
	}
}

void qm_peer_settings_release(struct qm_peer_settings *s)
{
	for (size_t i = 0; s->disk_map && s->disk_map[i]; i++)
		free(s->disk_map[i]);
	free(s->disk_map);
	s->disk_map = NULL;
	s->n_disk_map = 0;
}
