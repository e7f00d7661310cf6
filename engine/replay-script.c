/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reads a QMP transcript (JSON lines {"ts", "side", "dir", "msg"}, as
 * engine/qmp-log.c writes them) into a replay script: per side the greeting
 * and the commands in order, each with its reply (matched by id) and the
 * events (and QEMU's hang-ups, {"closed": ...} lines) recorded after it,
 * before its reply or after.  An event
 * belongs to the last command sent on either side before it, so that the destination's
 * MIGRATION events come back when the source's polls that saw them come.  Bounded in
 * lines and line size; every error names the line.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/replay.h"
#include "util/error.h"
#include "util/io.h"

/* The whole transcript: the line limits times a margin would be gigabytes. */
#define MAX_FILE ((size_t)256 << 20)

const char *const qm_replay_side_names[QM_REPLAY_SIDES] = { "source", "destination" };

struct reader {
	struct qm_replay_script *s;
	const char *name;
	size_t line;
	json_t *pending[QM_REPLAY_SIDES]; /* id (as JSON text) -> index in cmds */
	int last_side;			  /* the side of the command sent last, or -1 */
	struct qm_error *err;
};

static int bad(struct reader *r, const char *fmt, const char *what)
{
	return qm_error_set(r->err, -EINVAL, "Usage", "%s:%zu: %s%s", r->name, r->line,
			    fmt, what ? what : "");
}

static int side_of(const char *name)
{
	for (int i = 0; i < QM_REPLAY_SIDES; i++)
		if (name && strcmp(name, qm_replay_side_names[i]) == 0)
			return i;
	return -1;
}

static int add_command(struct reader *r, int side, json_t *msg)
{
	struct qm_replay_side *sd = &r->s->side[side];
	const char *name = json_string_value(json_object_get(msg, "execute"));
	struct qm_replay_cmd *cmds, *c;
	json_t *list;
	char *id;

	if (!name)
		name = json_string_value(json_object_get(msg, "exec-oob"));
	if (!name)
		return bad(r, "a command without \"execute\"", NULL);
	cmds = realloc(sd->cmds, (sd->n_cmds + 1) * sizeof(*cmds));
	if (!cmds)
		return qm_error_set(r->err, -ENOMEM, "GenericError", "out of memory");
	sd->cmds = cmds;
	c = &cmds[sd->n_cmds];
	*c = (struct qm_replay_cmd){ .name = name,
				     .msg = json_incref(msg),
				     .pre = json_array(),
				     .events = json_array(),
				     .line = r->line };
	list = json_object_get(sd->by_name, name);
	if (!list) {
		list = json_array();
		json_object_set_new(sd->by_name, name, list);
	}
	id = json_dumps(json_object_get(msg, "id"), JSON_ENCODE_ANY | JSON_COMPACT);
	if (!c->pre || !c->events || !list || !id ||
	    json_array_append_new(list, json_integer((json_int_t)sd->n_cmds)) < 0 ||
	    json_object_set_new(r->pending[side], id,
				json_integer((json_int_t)sd->n_cmds)) < 0) {
		free(id);
		json_decref(c->msg);
		json_decref(c->pre);
		json_decref(c->events);
		return qm_error_set(r->err, -ENOMEM, "GenericError", "out of memory");
	}
	free(id);
	sd->n_cmds++;
	r->last_side = side;
	return 0;
}

/*
 * Where what QEMU says besides replies goes: after the command sent last on
 * either side, before its reply when that has not come yet; before any
 * command, after the greeting of @side.
 */
static json_t *events_of(struct reader *r, int side)
{
	struct qm_replay_side *sd;
	struct qm_replay_cmd *c;

	if (r->last_side < 0)
		return r->s->side[side].events;
	sd = &r->s->side[r->last_side];
	c = &sd->cmds[sd->n_cmds - 1];
	return c->reply ? c->events : c->pre;
}

static int add_reply(struct reader *r, int side, json_t *msg)
{
	struct qm_replay_side *sd = &r->s->side[side];
	_cleanup_free_ char *id =
		json_dumps(json_object_get(msg, "id"), JSON_ENCODE_ANY | JSON_COMPACT);
	json_t *index = id ? json_object_get(r->pending[side], id) : NULL;
	struct qm_replay_cmd *c;

	if (!index)
		return bad(r, "a reply to no command sent before it, id ",
			   id ? id : "none");
	c = &sd->cmds[json_integer_value(index)];
	json_object_del(r->pending[side], id);
	c->reply = json_deep_copy(msg);
	if (!c->reply)
		return qm_error_set(r->err, -ENOMEM, "GenericError", "out of memory");
	json_object_del(c->reply, "id");
	return 0;
}

static int add_received(struct reader *r, int side, json_t *msg)
{
	struct qm_replay_side *sd = &r->s->side[side];

	if (json_object_get(msg, "QMP")) {
		if (sd->greeting)
			return bad(r, "a second greeting from the ",
				   qm_replay_side_names[side]);
		sd->greeting = json_incref(msg);
		return 0;
	}
	if (json_object_get(msg, "return") || json_object_get(msg, "error"))
		return add_reply(r, side, msg);
	if (!json_is_string(json_object_get(msg, "event")))
		return bad(r, "a message from QEMU that is no greeting, reply or event",
			   NULL);
	if (json_array_append_new(events_of(r, side), json_pack("[iO]", side, msg)) < 0)
		return qm_error_set(r->err, -ENOMEM, "GenericError", "out of memory");
	return 0;
}

/*
 * A connection's end goes where an event would: the server hangs up that side
 * when the command it followed is answered.  Only QEMU's hang-ups: qmigrate's
 * own closes (ECANCELED) happen again by themselves.
 */
static int add_closed(struct reader *r, int side, json_t *closed)
{
	if (!json_is_object(closed))
		return bad(r, "\"closed\" is not a JSON object", NULL);
	if (json_integer_value(json_object_get(closed, "errno")) == ECANCELED)
		return 0;
	if (json_array_append_new(events_of(r, side),
				  json_pack("[i{sO}]", side, "closed", closed)) < 0)
		return qm_error_set(r->err, -ENOMEM, "GenericError", "out of memory");
	if (!json_object_get(r->s->side[side].by_name, "quit"))
		r->s->side[side].hung_up = true;
	return 0;
}

static int add_line(struct reader *r, const char *text, size_t len)
{
	json_error_t jerr;
	json_auto_t *line = json_loadb(text, len, 0, &jerr);
	json_t *msg;
	const char *dir;
	int side;

	if (!json_is_object(line))
		return bad(r, "not a JSON object: ",
			   line ? "another JSON value" : jerr.text);
	side = side_of(json_string_value(json_object_get(line, "side")));
	if (side < 0)
		return bad(r, "\"side\" is neither \"source\" nor \"destination\"", NULL);
	dir = json_string_value(json_object_get(line, "dir"));
	if (json_object_get(line, "closed"))
		return add_closed(r, side, json_object_get(line, "closed"));
	msg = json_object_get(line, "msg");
	if (json_is_string(msg) && json_object_get(line, "bytes"))
		return bad(r,
			   "a message cut or not JSON when it was recorded: it cannot be "
			   "replayed",
			   NULL);
	if (!json_is_object(msg))
		return bad(r, "\"msg\" is not a JSON object", NULL);
	if (dir && strcmp(dir, "send") == 0)
		return add_command(r, side, msg);
	if (dir && strcmp(dir, "recv") == 0)
		return add_received(r, side, msg);
	return bad(r, "\"dir\" is neither \"send\" nor \"recv\"", NULL);
}

static int check_sides(struct reader *r)
{
	for (int i = 0; i < QM_REPLAY_SIDES; i++) {
		const struct qm_replay_side *sd = &r->s->side[i];

		if (!sd->greeting && (sd->n_cmds || json_array_size(sd->events)))
			return qm_error_set(
				r->err, -EINVAL, "Usage",
				"%s: no greeting from the %s QEMU: not a whole "
				"transcript",
				r->name, qm_replay_side_names[i]);
	}
	if (!r->s->side[0].greeting && !r->s->side[1].greeting)
		return qm_error_set(r->err, -EINVAL, "Usage", "%s: an empty transcript",
				    r->name);
	return 0;
}

static int parse_lines(struct reader *r, const char *text, size_t len)
{
	const char *p = text, *end = text + len;

	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t n = nl ? (size_t)(nl - p) : (size_t)(end - p);
		int ret;

		r->line++;
		if (r->line > QM_REPLAY_MAX_LINES)
			return bad(r, "more lines than a transcript may have", NULL);
		if (n > QM_REPLAY_MAX_LINE)
			return bad(r, "a line longer than a transcript's may be", NULL);
		/* A line of blanks (an editor's last line) says nothing. */
		if (strspn(p, " \t\r") < n) {
			ret = add_line(r, p, n);
			if (ret < 0)
				return ret;
		}
		p += n + 1;
	}
	r->s->lines = r->line;
	return check_sides(r);
}

int qm_replay_script_parse(const char *name, const char *text, size_t len,
			   struct qm_replay_script **out, struct qm_error *err)
{
	struct reader r = { .name = name, .err = err, .last_side = -1 };
	int ret = -ENOMEM;

	*out = NULL;
	r.s = calloc(1, sizeof(*r.s));
	if (!r.s)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	for (int i = 0; i < QM_REPLAY_SIDES; i++) {
		r.s->side[i].events = json_array();
		r.s->side[i].by_name = json_object();
		r.pending[i] = json_object();
		if (!r.s->side[i].events || !r.s->side[i].by_name || !r.pending[i])
			goto out;
	}
	ret = parse_lines(&r, text, len);
out:
	for (int i = 0; i < QM_REPLAY_SIDES; i++)
		json_decref(r.pending[i]);
	if (ret < 0) {
		qm_error_set(err, ret, "GenericError", "out of memory");
		qm_replay_script_free(r.s);
		return ret;
	}
	*out = r.s;
	return 0;
}

int qm_replay_script_read(const char *path, struct qm_replay_script **out,
			  struct qm_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	_cleanup_free_ char *text = NULL;
	struct stat st;
	size_t got;
	int r;

	*out = NULL;
	if (fd < 0)
		return qm_error_set(err, -errno, "Usage", "%s: %s", path,
				    strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return qm_error_set(err, -EINVAL, "Usage", "%s: not a regular file",
				    path);
	if ((unsigned long long)st.st_size > MAX_FILE)
		return qm_error_set(err, -EFBIG, "Usage",
				    "%s: larger than a transcript may be (%zu MiB)", path,
				    MAX_FILE >> 20);
	/* One byte more than it says: a file that grew is refused, not cut. */
	text = malloc((size_t)st.st_size + 1);
	if (!text)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	r = qm_read_upto(fd, text, (size_t)st.st_size + 1, &got);
	if (r < 0)
		return qm_error_set(err, r, "Usage", "%s: %s", path, strerror(-r));
	if (got > (size_t)st.st_size)
		return qm_error_set(err, -EAGAIN, "Usage", "%s: grew while it was read",
				    path);
	return qm_replay_script_parse(path, text, got, out, err);
}

void qm_replay_script_free(struct qm_replay_script *s)
{
	if (!s)
		return;
	for (int i = 0; i < QM_REPLAY_SIDES; i++) {
		struct qm_replay_side *sd = &s->side[i];

		for (size_t j = 0; j < sd->n_cmds; j++) {
			json_decref(sd->cmds[j].msg);
			json_decref(sd->cmds[j].reply);
			json_decref(sd->cmds[j].pre);
			json_decref(sd->cmds[j].events);
		}
		free(sd->cmds);
		json_decref(sd->greeting);
		json_decref(sd->events);
		json_decref(sd->by_name);
	}
	free(s);
}
