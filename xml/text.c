/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdlib.h>
#include <stdint.h>
#include <string.h>

#include "util/utf8.h"
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
	const uint8_t *p = (const uint8_t *)s;
	size_t left = strlen(s);

	while (left) {
		uint32_t c;
		size_t n = qm_utf8_char(p, left, &c);

		if (n == 0)
			return false;
		if (!(c == 0x9 || c == 0xa || c == 0xd || (c >= 0x20 && c <= 0xd7ff) ||
		      (c >= 0xe000 && c <= 0xfffd) || c >= 0x10000))
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
