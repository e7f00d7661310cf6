/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The "qmp-log" message: one message to or from the destination QEMU, which
 * the agent forwards for the source's QMP transcript (feature qmp-log).
 * Both ways by the same rules, so that this side never sends what the peer
 * refuses: "ts" a number of seconds since the epoch, "dir" "send" or "recv",
 * "msg" an object, an array or a string of at most QM_PEER_QMP_LOG_MAX bytes as
 * compact JSON, optional "bytes" and "dropped" counts.
 */
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <string.h>

#include "engine/peer-msg.h"
#include "util/error.h"

/* Larger than any count a message or a queue reaches, small enough for a double. */
#define COUNT_MAX ((long long)1 << 50)

static int bad(const char *field, const char *problem, int code, struct qm_error *err)
{
	return qm_error_set(err, code, "PeerProtocol",
			    "%speer message \"qmp-log\": field \"%s\" %s",
			    code == -EPROTO ? "" : "outgoing ", field, problem);
}

static bool ts_ok(double ts)
{
	return isfinite(ts) && ts >= 0 && ts < 1e11;
}

/* "msg": an object (an array: a malformed QEMU's) or a string, whose compact JSON fits.
 */
static int check_msg(const json_t *msg, int code, struct qm_error *err)
{
	size_t size;

	if (!json_is_object(msg) && !json_is_array(msg) && !json_is_string(msg))
		return bad("msg", "is missing, or not an object, an array or a string",
			   code, err);
	size = json_dumpb(msg, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY);
	if (size == 0 || size > QM_PEER_QMP_LOG_MAX)
		return qm_error_set(
			err, code, "PeerProtocol",
			"%speer message \"qmp-log\": field \"msg\" is %zu bytes, over "
			"its bound of %d",
			code == -EPROTO ? "" : "outgoing ", size, QM_PEER_QMP_LOG_MAX);
	return 0;
}

/* An optional count into *@out; absent: @absent. */
static int get_count(json_t *obj, const char *field, long long absent, long long *out,
		     struct qm_error *err)
{
	json_t *v = json_object_get(obj, field);

	*out = absent;
	if (!v)
		return 0;
	if (!json_is_integer(v) || json_integer_value(v) < 0 ||
	    json_integer_value(v) > COUNT_MAX)
		return bad(field, "is not a count", -EPROTO, err);
	*out = (long long)json_integer_value(v);
	return 0;
}

int qm_peer_qmp_log_decode(json_t *obj, struct qm_peer_qmp_log *l, struct qm_error *err)
{
	json_t *ts = json_object_get(obj, "ts"), *msg = json_object_get(obj, "msg");
	const char *dir = json_string_value(json_object_get(obj, "dir"));
	int r;

	if (!json_is_number(ts) || !ts_ok(json_number_value(ts)))
		return bad("ts", "is not a number of seconds since the epoch", -EPROTO,
			   err);
	if (!dir || (strcmp(dir, "send") != 0 && strcmp(dir, "recv") != 0))
		return bad("dir", "is not \"send\" or \"recv\"", -EPROTO, err);
	r = check_msg(msg, -EPROTO, err);
	if (r == 0)
		r = get_count(obj, "bytes", -1, &l->bytes, err);
	if (r == 0)
		r = get_count(obj, "dropped", 0, &l->dropped, err);
	if (r < 0)
		return r;
	l->ts = json_number_value(ts);
	l->sent = dir[0] == 's';
	l->msg = json_incref(msg);
	return 0;
}

static int put(json_t *obj, const char *field, json_t *v, struct qm_error *err)
{
	if (!v || json_object_set_new(obj, field, v) < 0)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	return 0;
}

int qm_peer_qmp_log_encode(json_t *obj, const struct qm_peer_qmp_log *l,
			   struct qm_error *err)
{
	int r;

	if (!ts_ok(l->ts))
		return bad("ts", "is not a number of seconds since the epoch", -EINVAL,
			   err);
	if (l->bytes < -1 || l->bytes > COUNT_MAX || l->dropped < 0 ||
	    l->dropped > COUNT_MAX)
		return bad("bytes", "or \"dropped\" is not a count", -EINVAL, err);
	r = check_msg(l->msg, -EINVAL, err);
	if (r == 0)
		r = put(obj, "ts", json_real(l->ts), err);
	if (r == 0)
		r = put(obj, "dir", json_string(l->sent ? "send" : "recv"), err);
	if (r == 0)
		r = put(obj, "msg", json_incref(l->msg), err);
	if (r == 0 && l->bytes >= 0)
		r = put(obj, "bytes", json_integer(l->bytes), err);
	if (r == 0 && l->dropped > 0)
		r = put(obj, "dropped", json_integer(l->dropped), err);
	return r;
}
