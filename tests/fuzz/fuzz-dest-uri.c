/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for --dest URIs.  Besides not crashing: every refusal
 * carries class Usage and a message, and every accepted URI gives an argv
 * without control characters whose host and agent path, after "--", never
 * start with '-'.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/dest-uri.h"
#include "engine/ssh-argv.h"
#include "xml/domain-argv.h"
#include "tests/fuzz/fuzz.h"

static void check_argv(const struct qm_dest_uri *u, char **argv)
{
	size_t n = 0, dd = 0;

	for (; argv[n]; n++) {
		for (const char *p = argv[n]; *p; p++)
			fuzz_assert((unsigned char)*p >= 0x20 && *p != 0x7f,
				    "control character in word %zu", n);
		if (!dd && strcmp(argv[n], "--") == 0)
			dd = n;
	}
	if (u->kind == QM_DEST_EXEC)
		return;
	fuzz_assert(dd > 0 && n == dd + 5, "%zu words, -- at %zu", n, dd);
	fuzz_assert(argv[dd + 1][0] != '-' && argv[dd + 2][0] != '-', "host '%s'",
		    argv[dd + 1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	_cleanup_free_ char *s = NULL;
	struct qm_dest_uri u;
	struct qm_error err = { 0 };
	char **argv;
	int r;

	if (size > QM_DEST_URI_MAX + 16)
		return 0;
	s = strndup((const char *)data, size);
	if (!s)
		return 0;
	r = qm_dest_uri_parse(s, &u, &err);
	if (r < 0) {
		fuzz_assert(r == err.code && strcmp(err.error_class, "Usage") == 0 &&
				    err.text[0],
			    "%d %s", r, err.text);
		fuzz_assert(!u.exec_argv, "a refused URI owns words");
		return 0;
	}
	r = qm_dest_argv(&u, NULL, &argv, &err);
	fuzz_assert(r == 0, "an accepted URI gives no argv: %s", err.text);
	check_argv(&u, argv);
	qm_argv_free(argv);
	qm_dest_uri_release(&u);
	return 0;
}
