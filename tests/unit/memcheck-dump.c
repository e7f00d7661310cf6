/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Dumps of the test guest's memory made by hand (memcheck-dump.h). */
#include <criterion/criterion.h>
#include <stdlib.h>
#include <string.h>

#include "tests/unit/memcheck-dump.h"

void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

void put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

/* The offset of guest-physical @gpa in the dump (RAM above 4 GiB follows RAM below). */
uint64_t offset_of(const struct dump *d, uint64_t gpa, uint64_t ram_top)
{
	return gpa < GIB4 ? gpa : d->len - (ram_top - gpa);
}

/* Writes the layout page as the guest does, without using the checker's code. */
void write_layout(struct dump *d, uint64_t ram_top, uint64_t passes)
{
	uint8_t *p = d->ram + QMG_LAYOUT_ADDR;
	uint32_t sum = 0;

	memset(p, 0, QMG_PAGE_SIZE);
	memcpy(p, QMG_MAGIC, 8);
	put32(p + QMG_OFF_VERSION, QMG_VERSION);
	put32(p + QMG_OFF_NRANGES, d->nranges);
	put64(p + QMG_OFF_RAM_TOP, ram_top);
	put32(p + QMG_OFF_BYTE, QMG_BYTE_OFFSET);
	put64(p + QMG_OFF_PASSES, passes);
	for (unsigned i = 0; i < d->nranges; i++) {
		put64(p + QMG_OFF_RANGES + 16 * i, d->starts[i]);
		put64(p + QMG_OFF_RANGES + 16 * i + 8, d->ends[i]);
	}
	for (unsigned o = 0; o < QMG_OFF_PASSES; o += 4)
		sum += p[o] | p[o + 1] << 8 | p[o + 2] << 16 | (uint32_t)p[o + 3] << 24;
	for (unsigned o = QMG_OFF_RANGES; o < QMG_OFF_RANGES + 16 * d->nranges; o += 4)
		sum += p[o] | p[o + 1] << 8 | p[o + 2] << 16 | (uint32_t)p[o + 3] << 24;
	put32(p + QMG_OFF_MODE, d->mode);
	put32(p + QMG_OFF_NREGIONS, d->nregions);
	for (unsigned i = 0; i < d->nregions; i++) {
		uint8_t *r = p + QMG_OFF_REGIONS + QMG_REGION_SIZE * i;

		put64(r, d->regions[i].start);
		put32(r + 8, d->regions[i].bytes);
		put32(r + 12, d->regions[i].kind);
	}
	for (unsigned o = QMG_OFF_MODE; o < QMG_OFF_REGIONS + QMG_REGION_SIZE * d->nregions;
	     o += 4)
		sum += p[o] | p[o + 1] << 8 | p[o + 2] << 16 | (uint32_t)p[o + 3] << 24;
	put32(p + QMG_OFF_CHECKSUM, -sum);
}

/*
 * A 16 MiB guest like the real one: RAM [1 MiB, 15 MiB) patterned, the
 * rest filled with noise; every patterned page holds @value.
 */
void make_dump(struct dump *d, uint64_t passes, uint8_t value)
{
	memset(d, 0, sizeof(*d));
	d->len = 16 * MIB;
	d->ram = malloc(d->len);
	cr_assert(d->ram);
	for (uint64_t i = 0; i < d->len; i++)
		d->ram[i] = i * 2654435761u >> 13;
	d->nranges = 1;
	d->starts[0] = 1 * MIB;
	d->ends[0] = 15 * MIB;
	write_layout(d, 16 * MIB, passes);
	for (uint64_t a = d->starts[0]; a < d->ends[0]; a += QMG_PAGE_SIZE)
		d->ram[a + QMG_BYTE_OFFSET] = value;
}

/* Sets the pages of [from, to) to @value. */
void set_pages(struct dump *d, uint64_t from, uint64_t to, uint8_t value)
{
	for (uint64_t a = from; a < to; a += QMG_PAGE_SIZE)
		d->ram[a + QMG_BYTE_OFFSET] = value;
}

struct qm_memcheck_result check(struct dump *d)
{
	struct qm_memcheck_result res;

	cr_assert_eq(qm_memcheck_buffer(d->ram, d->len, &res), 0, "%s", res.message);
	free(d->ram);
	return res;
}
