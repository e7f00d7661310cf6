/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_QMP_FRAME_H
#define QM_QMP_FRAME_H

#include <stdbool.h>
#include <stddef.h>

#include "util/macros.h"

/*
 * Splits a byte stream into top-level JSON objects without parsing them:
 * it tracks nesting and strings, so the cost is linear however the bytes
 * arrive (one at a time, or many messages in one read).  Whitespace,
 * including CRLF, between messages is skipped.
 */
struct qm_frame {
	char *buf;
	size_t cap;
	size_t start; /* first byte of the message being scanned */
	size_t scan;  /* next byte to look at */
	size_t len;   /* bytes held */
	size_t max;   /* largest message accepted */
	unsigned depth;
	bool in_string;
	bool escape;
};

void qm_frame_init(struct qm_frame *f, size_t max);
void qm_frame_release(struct qm_frame *f);
/* Returns room for at least @want more bytes, or NULL when out of memory. */
char *qm_frame_space(struct qm_frame *f, size_t want) _must_check_;
void qm_frame_commit(struct qm_frame *f, size_t n);
/*
 * Finds the next complete message: returns 1 and sets @msg/@len (valid until
 * the next call that changes @f), 0 when more bytes are needed, -EMSGSIZE
 * when a message exceeds the cap, -EPROTO when the stream holds something
 * other than a JSON object.
 */
int qm_frame_next(struct qm_frame *f, const char **msg, size_t *len) _must_check_;

#endif
