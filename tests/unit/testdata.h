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
/* True when golden files are to be written rather than compared. */
bool td_regenerate(void);
/*
 * Compares @actual with the golden file tests/data/@rel byte for byte, or
 * writes it there when regenerating.  Fails the current test on a mismatch.
 */
void td_golden(const char *rel, const char *actual);

#endif
