/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Checks on text read from untrusted XML, shared by the cookie and the domain readers. */
#ifndef QM_XML_TEXT_H
#define QM_XML_TEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True when @s holds a control character (below 0x20, 0x7f), or a space if @or_space. */
bool qm_text_has_control(const char *s, bool or_space);

/*
 * True when XML 1.0 can carry @s as it is: UTF-8 of characters XML allows
 * (no control character but tab, newline and return; no surrogate, U+FFFE
 * or U+FFFF).  Anything else a writer would escape or drop, so that what is
 * read back is not what was written.
 */
bool qm_text_xml_ok(const char *s);

/*
 * @s made fit for an error message, in @buf: control characters shown as
 * '?', at most @size - 1 bytes.  Returns @buf.
 */
const char *qm_text_printable(const char *s, char *buf, size_t size);

/* Decimal digits only, at most @max: no sign, space, '+', "0x" or empty string. */
bool qm_text_to_u64(const char *s, uint64_t max, uint64_t *out);

#endif
