/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What every harness in tests/fuzz/ shares. */
#ifndef QM_TESTS_FUZZ_H
#define QM_TESTS_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* A broken promise is a finding: say which and why, and abort for libFuzzer. */
#define fuzz_assert(cond, ...)                                                           \
	do {                                                                             \
		if (!(cond)) {                                                           \
			fprintf(stderr, "%s: %s: ", __FILE__, #cond);                    \
			fprintf(stderr, __VA_ARGS__);                                    \
			fputc('\n', stderr);                                             \
			abort();                                                         \
		}                                                                        \
	} while (0)

#endif
