/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Dumps of the test guest's memory made by hand, for the checker's tests
 * (test-memcheck.c, test-memcheck-modes.c): the layout page written as the
 * guest writes it, without the checker's code.
 */
#ifndef QM_TESTS_MEMCHECK_DUMP_H
#define QM_TESTS_MEMCHECK_DUMP_H

#include <stdint.h>

#include "tests/guest/guest-layout.h"
#include "tests/guest/memcheck.h"

#define MIB (UINT64_C(1) << 20)
#define GIB4 (UINT64_C(1) << 32)

struct region {
	uint64_t start;
	uint32_t bytes, kind;
};

struct dump {
	uint8_t *ram;
	uint64_t len;
	uint64_t starts[4], ends[4];
	unsigned nranges;
	uint32_t mode;
	unsigned nregions;
	struct region regions[QMG_MAX_REGIONS];
};

void put32(uint8_t *p, uint32_t v);
void put64(uint8_t *p, uint64_t v);
/* The offset of guest-physical @gpa in the dump (RAM above 4 GiB follows RAM below). */
uint64_t offset_of(const struct dump *d, uint64_t gpa, uint64_t ram_top);
/* Writes the layout page as the guest does, without using the checker's code. */
void write_layout(struct dump *d, uint64_t ram_top, uint64_t passes);
/*
 * A 16 MiB guest like the real one: RAM [1 MiB, 15 MiB) patterned, the
 * rest filled with noise; every patterned page holds @value.
 */
void make_dump(struct dump *d, uint64_t passes, uint8_t value);
/* Sets the pages of [from, to) to @value. */
void set_pages(struct dump *d, uint64_t from, uint64_t to, uint8_t value);
/* The checker's verdict on @d, whose memory it frees. */
struct qm_memcheck_result check(struct dump *d);

#endif
