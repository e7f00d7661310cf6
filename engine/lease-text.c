/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The text of a lease file: three key=value lines, read strictly. */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "engine/lease.h"
#include "util/error.h"
#include "util/uuid.h"
#include "xml/text.h"

enum { KEY_OWNER, KEY_VM, KEY_GENERATION, N_KEYS };

static const char *const keys[N_KEYS] = {
	[KEY_OWNER] = "owner-host-uuid",
	[KEY_VM] = "vm-uuid",
	[KEY_GENERATION] = "generation",
};

/* What is wrong, then what a lease is and what to do. */
static _printf_(4, 5) int invalid(const char *path, unsigned line, struct qm_error *err,
				  const char *fmt, ...)
{
	char what[160];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return qm_error_set(err, -EBADMSG, "LeaseInvalid",
			    "%s is not a qmigrate lease (line %u: %s); a lease holds "
			    "owner-host-uuid=, vm-uuid= and generation= lines: if no VM "
			    "uses this file, remove it",
			    path, line, what);
}

static int set_value(struct qm_lease_state *st, int key, const char *value)
{
	switch (key) {
	case KEY_OWNER:
		return qm_uuid_normalise(value, st->owner) ? 0 : -1;
	case KEY_VM:
		return qm_uuid_normalise(value, st->vm_uuid) ? 0 : -1;
	default:
		/* 0 is only ever the empty file's. */
		return qm_text_to_u64(value, UINT64_MAX, &st->generation) &&
				       st->generation > 0
			       ? 0
			       : -1;
	}
}

static int parse_line(char *line, unsigned no, unsigned *seen, const char *path,
		      struct qm_lease_state *st, struct qm_error *err)
{
	char *eq = strchr(line, '=');
	char shown[64];

	if (!eq)
		return invalid(path, no, err, "no '='");
	*eq = '\0';
	for (int k = 0; k < N_KEYS; k++) {
		if (strcmp(line, keys[k]) != 0)
			continue;
		if (*seen & (1u << k))
			return invalid(path, no, err, "a key given twice");
		*seen |= 1u << k;
		if (set_value(st, k, eq + 1) < 0)
			return invalid(path, no, err, "%s '%s' is not %s", keys[k],
				       qm_text_printable(eq + 1, shown, sizeof(shown)),
				       k == KEY_GENERATION ? "a number 1..2^64-1"
							   : "a uuid");
		return 0;
	}
	return invalid(path, no, err, "unknown key '%s'",
		       qm_text_printable(line, shown, sizeof(shown)));
}

/* The 1-based line of byte @pos. */
static unsigned line_of(const char *buf, size_t pos)
{
	unsigned line = 1;

	for (size_t i = 0; i < pos; i++)
		line += buf[i] == '\n';
	return line;
}

int qm_lease_text_parse(const char *buf, size_t len, const char *path,
			struct qm_lease_state *st, struct qm_error *err)
{
	char text[QM_LEASE_FILE_MAX + 1];
	unsigned seen = 0, no = 0;
	const char *nul;
	char *line, *next;
	int r;

	memset(st, 0, sizeof(*st));
	if (len == 0)
		return 0;
	if (len > QM_LEASE_FILE_MAX)
		return qm_error_set(err, -EFBIG, "LeaseInvalid",
				    "%s is not a qmigrate lease: more than %d bytes",
				    path, QM_LEASE_FILE_MAX);
	nul = memchr(buf, '\0', len);
	if (nul)
		return invalid(path, line_of(buf, (size_t)(nul - buf)), err,
			       "a NUL byte");
	if (buf[len - 1] != '\n')
		return invalid(path, line_of(buf, len - 1), err, "no newline at its end");
	memcpy(text, buf, len);
	text[len] = '\0';
	for (line = text; *line; line = next) {
		next = strchr(line, '\n');
		*next++ = '\0';
		r = parse_line(line, ++no, &seen, path, st, err);
		if (r < 0) {
			memset(st, 0, sizeof(*st));
			return r;
		}
	}
	for (int k = 0; k < N_KEYS; k++) {
		if (!(seen & (1u << k))) {
			memset(st, 0, sizeof(*st));
			return invalid(path, no, err, "no %s", keys[k]);
		}
	}
	return 0;
}

int qm_lease_text_format(const struct qm_lease_state *st, char *buf, size_t size)
{
	int n = snprintf(buf, size, "%s=%s\n%s=%s\n%s=%" PRIu64 "\n", keys[KEY_OWNER],
			 st->owner, keys[KEY_VM], st->vm_uuid, keys[KEY_GENERATION],
			 st->generation);

	return n < 0 || (size_t)n >= size ? -ENOSPC : n;
}
