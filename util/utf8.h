/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_UTIL_UTF8_H
#define QM_UTIL_UTF8_H

#include <stddef.h>
#include <stdint.h>

/*
 * The length of the UTF-8 sequence at @s (@n bytes left, @n > 0) when it is
 * a Unicode scalar value in its shortest form (no overlong form, surrogate,
 * or code point past U+10FFFF), with the code point in @cp; else 0.
 */
size_t qm_utf8_char(const uint8_t *s, size_t n, uint32_t *cp);

#endif
