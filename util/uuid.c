/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <ctype.h>
#include <string.h>

#include "util/uuid.h"

/* Offsets of the dashes in 8-4-4-4-12. */
static bool is_dash_at(size_t i)
{
	return i == 8 || i == 13 || i == 18 || i == 23;
}

bool qm_uuid_is_valid(const char *s)
{
	size_t i;

	for (i = 0; i < QM_UUID_STRLEN; i++) {
		if (s[i] == '\0')
			return false;
		if (is_dash_at(i) ? s[i] != '-' : !isxdigit((unsigned char)s[i]))
			return false;
	}
	return s[i] == '\0';
}

bool qm_uuid_normalise(const char *s, char out[QM_UUID_STRLEN + 1])
{
	if (!qm_uuid_is_valid(s))
		return false;
	for (size_t i = 0; i <= QM_UUID_STRLEN; i++)
		out[i] = (char)tolower((unsigned char)s[i]);
	return true;
}

bool qm_uuid_from_hex32(const char *hex, char out[QM_UUID_STRLEN + 1])
{
	size_t j = 0;

	if (strspn(hex, "0123456789abcdefABCDEF") != 32 || hex[32] != '\0')
		return false;
	for (size_t i = 0; i < QM_UUID_STRLEN; i++)
		out[i] = is_dash_at(i) ? '-' : (char)tolower((unsigned char)hex[j++]);
	out[QM_UUID_STRLEN] = '\0';
	return true;
}
