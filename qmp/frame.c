/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "qmp/frame.h"

void qm_frame_init(struct qm_frame *f, size_t max)
{
	memset(f, 0, sizeof(*f));
	f->max = max;
}

void qm_frame_release(struct qm_frame *f)
{
	free(f->buf);
	memset(f, 0, sizeof(*f));
}

char *qm_frame_space(struct qm_frame *f, size_t want)
{
	size_t need;
	char *p;

	/* Drop consumed bytes first, so the buffer only holds one message's worth. */
	if (f->start > 0 && (f->start == f->len || f->cap - f->len < want)) {
		memmove(f->buf, f->buf + f->start, f->len - f->start);
		f->len -= f->start;
		f->scan -= f->start;
		f->start = 0;
	}
	need = f->len + want;
	if (need > f->cap) {
		size_t cap = f->cap ? f->cap : 4096;

		while (cap < need)
			cap *= 2;
		p = realloc(f->buf, cap);
		if (!p)
			return NULL;
		f->buf = p;
		f->cap = cap;
	}
	return f->buf + f->len;
}

void qm_frame_commit(struct qm_frame *f, size_t n)
{
	f->len += n;
}

static bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

int qm_frame_next(struct qm_frame *f, const char **msg, size_t *len)
{
	while (f->scan < f->len) {
		char c = f->buf[f->scan];

		if (f->depth == 0) {
			/* Between messages: skip separators, then expect an object. */
			if (is_space(c)) {
				f->start = ++f->scan;
				continue;
			}
			if (c != '{')
				return -EPROTO;
			f->start = f->scan;
		}
		if (++f->scan - f->start > f->max)
			return -EMSGSIZE;
		if (f->in_string) {
			if (f->escape)
				f->escape = false;
			else if (c == '\\')
				f->escape = true;
			else if (c == '"')
				f->in_string = false;
		} else if (c == '"') {
			f->in_string = true;
		} else if (c == '{' || c == '[') {
			f->depth++;
		} else if (c == '}' || c == ']') {
			if (--f->depth == 0) {
				*msg = f->buf + f->start;
				*len = f->scan - f->start;
				f->start = f->scan;
				return 1;
			}
		}
	}
	return 0;
}
