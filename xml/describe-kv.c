/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's option strings, read as QEMU reads them: elements split at a
 * single ',' (",," is a comma inside a value), "key=value", a first element
 * without '=' for the option's implied key, a bare "flag" meaning flag=on
 * and "noflag" flag=off.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml/describe-internal.h"

/* The value from @p up to a single ',' or the end, unescaped; *@end after it. */
static char *read_value(const char *p, const char **end)
{
	char *v = malloc(strlen(p) + 1), *q = v;

	if (!v)
		return NULL;
	for (; *p; p++) {
		if (*p == ',') {
			if (p[1] != ',')
				break;
			p++;
		}
		*q++ = *p;
	}
	*q = '\0';
	*end = *p ? p + 1 : p;
	return v;
}

static int add(struct qm_kvlist *l, char *key, char *value)
{
	struct qm_kv *v;

	if (!key || !value) {
		free(key);
		free(value);
		return -ENOMEM;
	}
	v = realloc(l->v, (l->n + 1) * sizeof(*v));
	if (!v) {
		free(key);
		free(value);
		return -ENOMEM;
	}
	l->v = v;
	l->v[l->n++] = (struct qm_kv){ .key = key, .value = value };
	return 0;
}

int qm_kv_parse(const char *s, const char *implied, struct qm_kvlist *out)
{
	const char *p = s;
	int r = 0;

	*out = (struct qm_kvlist){ 0 };
	while (*p && r == 0) {
		size_t len = strcspn(p, "=,");

		char *key;

		if (p[len] == '=') {
			if (len == 0) {
				r = -EINVAL;
				break;
			}
			key = strndup(p, len); /* before read_value moves p on */
			r = add(out, key, read_value(p + len + 1, &p));
		} else if (p == s && implied) {
			r = add(out, strdup(implied), read_value(p, &p));
		} else if (len == 0) {
			p++; /* an empty element, as QEMU skips it */
		} else if (strncmp(p, "no", 2) == 0 && len > 2) {
			r = add(out, strndup(p + 2, len - 2), strdup("off"));
			p += len + (p[len] == ',');
		} else {
			r = add(out, strndup(p, len), strdup("on"));
			p += len + (p[len] == ',');
		}
	}
	if (r < 0)
		qm_kv_free(out);
	return r;
}

void qm_kv_free(struct qm_kvlist *l)
{
	for (size_t i = 0; i < l->n; i++) {
		free(l->v[i].key);
		free(l->v[i].value);
	}
	free(l->v);
	*l = (struct qm_kvlist){ 0 };
}

const char *qm_kv_get(const struct qm_kvlist *l, const char *key)
{
	for (size_t i = l->n; i-- > 0;)
		if (strcmp(l->v[i].key, key) == 0)
			return l->v[i].value;
	return NULL;
}

bool qm_kv_on(const struct qm_kvlist *l, const char *key)
{
	const char *v = qm_kv_get(l, key);

	return v && (!strcmp(v, "on") || !strcmp(v, "yes") || !strcmp(v, "true"));
}

bool qm_kv_listed(const char *const *list, const char *s)
{
	for (; list && *list; list++)
		if (strcmp(*list, s) == 0)
			return true;
	return false;
}

const struct qm_kv *qm_kv_find(const struct qm_kvlist *l, const char *const *keys)
{
	for (size_t i = 0; i < l->n; i++)
		if (qm_kv_listed(keys, l->v[i].key))
			return &l->v[i];
	return NULL;
}

const struct qm_kv *qm_kv_unknown(const struct qm_kvlist *l, const char *const *known)
{
	for (size_t i = 0; i < l->n; i++)
		if (!qm_kv_listed(known, l->v[i].key))
			return &l->v[i];
	return NULL;
}

char *qm_kv_join(const struct qm_kvlist *l, const char *const *skip, const char *implied)
{
	char *buf = NULL;
	size_t size;
	FILE *f = open_memstream(&buf, &size);
	bool first = true;

	if (!f)
		return NULL;
	for (size_t i = 0; i < l->n; i++) {
		if (qm_kv_listed(skip, l->v[i].key))
			continue;
		/* The implied key's value goes first and bare, as it was given. */
		if (!first || !implied || strcmp(l->v[i].key, implied) != 0)
			fprintf(f, "%s%s=", first ? "" : ",", l->v[i].key);
		for (const char *p = l->v[i].value; *p; p++) {
			if (*p == ',')
				fputc(',', f);
			fputc(*p, f);
		}
		first = false;
	}
	if (fclose(f) != 0) {
		free(buf);
		return NULL;
	}
	return buf;
}
