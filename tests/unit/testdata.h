/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Data-driven tests: files under $top_srcdir/tests/data (top_srcdir comes
 * from make check's environment, else the configured source tree), and
 * golden files rewritten instead of compared when QMIGRATE_REGENERATE_GOLDEN=1.
 */
#ifndef QM_TESTS_TESTDATA_H
#define QM_TESTS_TESTDATA_H

#include <stdbool.h>
#include <stddef.h>

/* "$top_srcdir/tests/data/" @rel, in a new string. */
char *td_path(const char *rel);
/* A whole file, NUL-terminated, in a new buffer; its length in @len.  NULL and errno. */
char *td_read(const char *path, size_t *len);
/* Names in @dir ending in @suffix, sorted, NULL-terminated; free with td_free_list. */
char **td_list(const char *dir, const char *suffix);
void td_free_list(char **names);
/* DIR/NAME with NAME's ".xml" replaced by @ext, in a new string. */
char *td_sibling(const char *dir, const char *name, const char *ext);
/*
 * Calls @fn(dir, name) for every NAME in $top_srcdir/tests/data/@rel that
 * ends in @suffix, in order; fails the test when there are fewer than @min
 * (an empty or misplaced folder must not pass silently).
 */
void td_each(const char *rel, const char *suffix, size_t min,
	     void (*fn)(const char *dir, const char *name));
/*
 * A hostile input: DIR/NAME.xml, and NAME.error with the error class on
 * line 1 and a piece of the message on line 2.  Free xml.
 */
struct td_hostile {
	char *xml;
	size_t len;
	char cls[64], text[256];
};
void td_read_hostile(const char *dir, const char *name, struct td_hostile *h);
/* @head, then 'x' up to exactly @size bytes with @tail, NUL-terminated; to free(). */
char *td_padded(const char *head, const char *tail, size_t size);
/*
 * A non-blocking TCP listener on 127.0.0.1 and an ephemeral port (in @port),
 * for readers that must never fetch: td_expect_no_connection() then checks
 * that nobody connected.
 */
int td_listen_loopback(int *port);
void td_expect_no_connection(int fd);
/* @xml read as a domain description (qm_domain_free it); fails the test when refused. */
struct qm_domain *td_domain(const char *xml);
/* True when golden files are to be written rather than compared. */
bool td_regenerate(void);
/*
 * Compares @actual with the golden file tests/data/@rel byte for byte, or
 * writes it there when regenerating.  Fails the current test on a mismatch.
 */
void td_golden(const char *rel, const char *actual);

#endif
