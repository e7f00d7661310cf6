/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "xml/text.h"

bool qm_text_has_control(const char *s, bool or_space)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f || (or_space && *s == ' '))
			return true;
	return false;
}

bool qm_text_xml_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t left = strlen(s);

	while (left) {
		uint32_t c;
		size_t n;

		if (p[0] < 0x80) {
			c = p[0];
			n = 1;
		} else if ((p[0] & 0xe0) == 0xc0) {
			c = p[0] & 0x1f;
			n = 2;
		} else if ((p[0] & 0xf0) == 0xe0) {
			c = p[0] & 0x0f;
			n = 3;
		} else if ((p[0] & 0xf8) == 0xf0) {
			c = p[0] & 0x07;
			n = 4;
		} else {
			return false;
		}
		if (n > left)
			return false;
		for (size_t i = 1; i < n; i++) {
			if ((p[i] & 0xc0) != 0x80)
				return false;
			c = c << 6 | (p[i] & 0x3f);
		}
		/* The shortest form only: an overlong one is another way to hide a byte. */
		if ((n == 2 && c < 0x80) || (n == 3 && c < 0x800) || (n == 4 && c < 0x10000))
			return false;
		if (!(c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
		      (c >= 0xe000 && c <= 0xfffd) || (c >= 0x10000 && c <= 0x10ffff)))
			return false;
		p += n;
		left -= n;
	}
	return true;
}

const char *qm_text_printable(const char *s, char *buf, size_t size)
{
	size_t i;

	for (i = 0; s[i] && i < size - 1; i++)
		buf[i] = (unsigned char)s[i] < 0x20 || s[i] == 0x7f ? '?' : s[i];
	buf[i] = '\0';
	return buf;
}

bool qm_text_to_u64(const char *s, uint64_t max, uint64_t *out)
{
	unsigned long long v;
	char *end;

	/* strtoull alone would take spaces, a sign and "0x". */
	if (!s[0] || s[strspn(s, "0123456789")] != '\0')
		return false;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || *end || v > max)
		return false;
	*out = v;
	return true;
}
