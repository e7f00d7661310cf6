/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The test guest's checker on dumps made by hand, layout page included. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

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

static void put32(uint8_t *p, uint32_t v)
{
	for (int i = 0; i < 4; i++)
		p[i] = v >> (8 * i);
}

static void put64(uint8_t *p, uint64_t v)
{
	put32(p, v);
	put32(p + 4, v >> 32);
}

/* The offset of guest-physical @gpa in the dump (RAM above 4 GiB follows RAM below). */
static uint64_t offset_of(const struct dump *d, uint64_t gpa, uint64_t ram_top)
{
	return gpa < GIB4 ? gpa : d->len - (ram_top - gpa);
}

/* Writes the layout page as the guest does, without using the checker's code. */
static void write_layout(struct dump *d, uint64_t ram_top, uint64_t passes)
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
static void make_dump(struct dump *d, uint64_t passes, uint8_t value)
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
static void set_pages(struct dump *d, uint64_t from, uint64_t to, uint8_t value)
{
	for (uint64_t a = from; a < to; a += QMG_PAGE_SIZE)
		d->ram[a + QMG_BYTE_OFFSET] = value;
}

static struct qm_memcheck_result check(struct dump *d)
{
	struct qm_memcheck_result res;

	cr_assert_eq(qm_memcheck_buffer(d->ram, d->len, &res), 0, "%s", res.message);
	free(d->ram);
	return res;
}

Test(memcheck, all_pages_equal_is_good)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 7, 7);
	res = check(&d);
	cr_assert(res.ok, "%s", res.message);
	cr_assert_eq(res.pages, 14 * MIB / QMG_PAGE_SIZE);
	cr_assert_eq(res.passes, 7);
	cr_assert_eq(res.boundary, 0);
	cr_assert_eq(res.bad_pages, 0);
}

Test(memcheck, pass_done_but_not_yet_counted_is_good)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 7, 8);
	res = check(&d);
	cr_assert(res.ok, "%s", res.message);
	cr_assert_eq(res.boundary, 0);
}

Test(memcheck, one_boundary_stepping_by_one_is_good)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 7, 7);
	set_pages(&d, 1 * MIB, 5 * MIB + 0x3000, 8);
	res = check(&d);
	cr_assert(res.ok, "%s", res.message);
	cr_assert_eq(res.boundary, 5 * MIB + 0x3000, "boundary 0x%llx",
		     (unsigned long long)res.boundary);
	cr_assert(strstr(res.message, "stopped at 0x503000"), "%s", res.message);
}

Test(memcheck, boundary_wrapping_255_to_0_is_good)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 255, 255);
	set_pages(&d, 1 * MIB, 9 * MIB, 0);
	res = check(&d);
	cr_assert(res.ok, "%s", res.message);
	cr_assert_eq(res.boundary, 9 * MIB);
}

Test(memcheck, pass_counter_past_255_is_taken_mod_256)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 256 * 3 + 4, 4);
	set_pages(&d, 1 * MIB, 2 * MIB, 5);
	res = check(&d);
	cr_assert(res.ok, "%s", res.message);
}

Test(memcheck, two_boundaries_are_bad)
{
	struct dump d;
	struct qm_memcheck_result res;

	/* 8 ... 8 7 ... 7 8 ... 8: a second, smaller run of 8 */
	make_dump(&d, 7, 7);
	set_pages(&d, 1 * MIB, 4 * MIB, 8);
	set_pages(&d, 12 * MIB, 13 * MIB, 8);
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_eq(res.bad_addr, 12 * MIB, "first bad 0x%llx",
		     (unsigned long long)res.bad_addr);
	cr_assert_eq(res.expected, 7);
	cr_assert_eq(res.found, 8);
	cr_assert_eq(res.bad_pages, MIB / QMG_PAGE_SIZE);
}

Test(memcheck, two_steps_down_are_bad)
{
	struct dump d;
	struct qm_memcheck_result res;

	/* 8 ... 8 7 ... 7 6 ... 6 */
	make_dump(&d, 7, 7);
	set_pages(&d, 1 * MIB, 4 * MIB, 8);
	set_pages(&d, 10 * MIB, 15 * MIB, 6);
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_eq(res.bad_addr, 10 * MIB);
	cr_assert_eq(res.found, 6);
}

Test(memcheck, step_of_two_is_bad)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 7, 7);
	set_pages(&d, 1 * MIB, 6 * MIB, 9);
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_eq(res.bad_addr, 1 * MIB);
	cr_assert_eq(res.expected, 7);
	cr_assert_eq(res.found, 9);
}

Test(memcheck, step_up_is_bad)
{
	struct dump d;
	struct qm_memcheck_result res;

	/* 7 ... 7 8 ... 8: the high pages ahead of the low ones */
	make_dump(&d, 7, 7);
	set_pages(&d, 10 * MIB, 15 * MIB, 8);
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
}

Test(memcheck, stale_page_is_bad_and_named)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 40, 40);
	set_pages(&d, 1 * MIB, 7 * MIB, 41);
	d.ram[0x9a5000 + QMG_BYTE_OFFSET] = 37;
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_eq(res.bad_addr, 0x9a5000, "first bad 0x%llx",
		     (unsigned long long)res.bad_addr);
	cr_assert_eq(res.expected, 40);
	cr_assert_eq(res.found, 37);
	cr_assert_eq(res.bad_pages, 1);
	cr_assert(strstr(res.message, "0x9a5000"), "%s", res.message);
}

Test(memcheck, stale_first_page_is_named_not_taken_as_reference)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 40, 40);
	d.ram[1 * MIB + QMG_BYTE_OFFSET] = 39;
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_eq(res.bad_addr, 1 * MIB);
	cr_assert_eq(res.bad_pages, 1);
}

Test(memcheck, zero_page_is_bad)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 200, 200);
	memset(d.ram + 0xe00000, 0, QMG_PAGE_SIZE);
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_eq(res.bad_addr, 0xe00000);
	cr_assert_eq(res.expected, 200);
	cr_assert_eq(res.found, 0);
}

Test(memcheck, lost_layout_page_is_bad)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 3, 3);
	memset(d.ram + QMG_LAYOUT_ADDR, 0, QMG_PAGE_SIZE);
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_eq(res.bad_addr, QMG_LAYOUT_ADDR);
}

Test(memcheck, corrupt_layout_page_is_bad)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 3, 3);
	d.ram[QMG_LAYOUT_ADDR + QMG_OFF_RANGES + 9] ^= 1;
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_eq(res.bad_addr, QMG_LAYOUT_ADDR);
}

Test(memcheck, pages_outside_the_ranges_are_not_checked)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 9, 0x55);
	d.nranges = 2;
	d.starts[0] = 1 * MIB;
	d.ends[0] = 3 * MIB;
	d.starts[1] = 4 * MIB;
	d.ends[1] = 7 * MIB;
	write_layout(&d, 16 * MIB, 9);
	set_pages(&d, 1 * MIB, 3 * MIB, 10);
	set_pages(&d, 4 * MIB, 5 * MIB, 10);
	set_pages(&d, 5 * MIB, 7 * MIB, 9);
	res = check(&d);
	cr_assert(res.ok, "%s", res.message);
	cr_assert_eq(res.pages, 5 * MIB / QMG_PAGE_SIZE);
	cr_assert_eq(res.boundary, 5 * MIB);
}

Test(memcheck, ram_above_4gib_follows_ram_below_in_the_dump)
{
	struct dump d;
	struct qm_memcheck_result res;
	uint64_t top = GIB4 + 4 * MIB;

	/* 12 MiB below 4 GiB, 4 MiB above: a 16 MiB dump */
	make_dump(&d, 20, 21);
	d.nranges = 2;
	d.starts[0] = 1 * MIB;
	d.ends[0] = 12 * MIB;
	d.starts[1] = GIB4;
	d.ends[1] = top - 1 * MIB;
	write_layout(&d, top, 20);
	set_pages(&d, 1 * MIB, 12 * MIB, 21);
	set_pages(&d, offset_of(&d, GIB4, top), offset_of(&d, top - MIB, top), 20);
	d.ram[offset_of(&d, GIB4 + 0x5000, top) + QMG_BYTE_OFFSET] = 17;
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_eq(res.bad_addr, GIB4 + 0x5000, "first bad 0x%llx",
		     (unsigned long long)res.bad_addr);
	cr_assert_eq(res.expected, 20);
	cr_assert_eq(res.found, 17);
	cr_assert_eq(res.bad_pages, 1);
}

Test(memcheck, dump_ranges_split_at_4gib)
{
	struct dump d;
	uint64_t start[2], size[2], top = GIB4 + 2048 * MIB;

	make_dump(&d, 1, 1);
	d.nranges = 1;
	write_layout(&d, 3 * GIB4 / 4 - 128 * 1024, 1);
	cr_assert_eq(
	    qm_memcheck_dump_ranges(d.ram + QMG_LAYOUT_ADDR, 3072 * MIB, start, size), 1);
	cr_assert_eq(start[0], 0);
	cr_assert_eq(size[0], 3072 * MIB);
	write_layout(&d, top, 1);
	cr_assert_eq(
	    qm_memcheck_dump_ranges(d.ram + QMG_LAYOUT_ADDR, 5120 * MIB, start, size), 2);
	cr_assert_eq(size[0], 3072 * MIB);
	cr_assert_eq(start[1], GIB4);
	cr_assert_eq(size[1], 2048 * MIB);
	cr_assert_eq(
	    qm_memcheck_dump_ranges(d.ram + QMG_LAYOUT_ADDR, 2048 * MIB, start, size),
	    -EINVAL);
	memset(d.ram + QMG_LAYOUT_ADDR, 0, 8);
	cr_assert_eq(
	    qm_memcheck_dump_ranges(d.ram + QMG_LAYOUT_ADDR, 5120 * MIB, start, size),
	    -EINVAL);
	free(d.ram);
}

Test(memcheck, guest_before_its_first_pass_cannot_be_checked)
{
	struct dump d;
	struct qm_memcheck_result res;

	make_dump(&d, 0, 1);
	cr_assert_eq(qm_memcheck_buffer(d.ram, d.len, &res), -EINVAL);
	cr_assert(strstr(res.message, "first pass"), "%s", res.message);
	free(d.ram);
}

static void write_file(const char *path, const uint8_t *data, uint64_t len)
{
	FILE *f = fopen(path, "wb");

	cr_assert(f);
	cr_assert_eq(fwrite(data, 1, len, f), len);
	cr_assert_eq(fclose(f), 0);
}

Test(memcheck, file_of_the_right_size_is_checked)
{
	struct dump d;
	struct qm_memcheck_result res;
	char path[] = "/tmp/test-memcheck-XXXXXX";
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	close(fd);
	make_dump(&d, 7, 7);
	d.ram[3 * MIB] = 1;
	write_file(path, d.ram, d.len);
	cr_assert_eq(qm_memcheck_file(path, d.len, &res), 0, "%s", res.message);
	cr_assert_not(res.ok);
	cr_assert_eq(res.bad_addr, 3 * MIB);
	cr_assert_eq(qm_memcheck_file(path, 0, &res), 0, "%s", res.message);
	cr_assert_eq(res.bad_addr, 3 * MIB);
	unlink(path);
	free(d.ram);
}

Test(memcheck, truncated_dump_is_an_error)
{
	struct dump d;
	struct qm_memcheck_result res;
	char path[] = "/tmp/test-memcheck-XXXXXX";
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	close(fd);
	make_dump(&d, 7, 7);
	write_file(path, d.ram, d.len - 5 * MIB);
	cr_assert_eq(qm_memcheck_file(path, d.len, &res), -EINVAL);
	cr_assert(strstr(res.message, "truncated"), "%s", res.message);
	/* without the size, the layout page's ranges do not fit either */
	cr_assert_eq(qm_memcheck_file(path, 0, &res), -EINVAL);
	write_file(path, d.ram, 0x3000);
	cr_assert_eq(qm_memcheck_file(path, 0, &res), -EINVAL);
	unlink(path);
	cr_assert_eq(qm_memcheck_file(path, 0, &res), -ENOENT);
	free(d.ram);
}

/* ---- the modes' regions ---- */

/* The regions as guest.S lays them out, by mode. */
static const struct {
	struct region r;
	uint32_t mode;
	const char *name;
} all_regions[] = {
	{ { QMG_HOT_ADDR, QMG_HOT_PAGES * QMG_PAGE_SIZE, QMG_KIND_HOT }, QMG_MODE_HOT, "hot" },
	{ { QMG_STOSQ_ADDR, QMG_STRING_BYTES, QMG_KIND_STOSQ }, QMG_MODE_STRING, "stosq" },
	{ { QMG_STOSB_ADDR, QMG_STRING_BYTES, QMG_KIND_STOSB }, QMG_MODE_STRING, "stosb" },
	{ { QMG_MOVSQ_ADDR, QMG_STRING_BYTES, QMG_KIND_MOVSQ }, QMG_MODE_STRING, "movsq" },
	{ { QMG_MOVSB_ADDR, QMG_STRING_BYTES, QMG_KIND_MOVSB }, QMG_MODE_STRING, "movsb" },
	{ { QMG_MOVDQA_ADDR, QMG_STRING_BYTES, QMG_KIND_MOVDQA }, QMG_MODE_SSE, "movdqa" },
	{ { QMG_MOVUPS_ADDR, QMG_STRING_BYTES - 16, QMG_KIND_MOVUPS }, QMG_MODE_SSE, "movups" },
	{ { QMG_MOVNTDQ_ADDR, QMG_STRING_BYTES, QMG_KIND_MOVNTDQ }, QMG_MODE_SSE, "movntdq" },
};
#define NREGIONS (sizeof(all_regions) / sizeof(all_regions[0]))

/* Rounds each mode completed in the made-up dumps; the string one wraps its bytes. */
#define HOT_ROUNDS 1000
#define STRING_ROUNDS 255
#define SSE_ROUNDS 77

static unsigned stride(uint32_t kind)
{
	return kind == QMG_KIND_HOT ? QMG_PAGE_SIZE
	       : kind == QMG_KIND_STOSB || kind == QMG_KIND_MOVSB ? 1
								   : 8;
}

static uint64_t rounds_of(uint32_t kind)
{
	return kind == QMG_KIND_HOT ? HOT_ROUNDS
	       : kind >= QMG_KIND_MOVDQA ? SSE_ROUNDS
					 : STRING_ROUNDS;
}

/*
 * What round @r leaves at @gpa: the string quadwords are r times
 * 0x0101010101010101, so that each of their bytes changes every round; stosb
 * stores the low byte, movsb copies the bytes.
 */
static uint64_t value_at(uint32_t kind, uint64_t r, uint64_t gpa)
{
	uint64_t q = r * 0x0101010101010101u;

	switch (kind) {
	case QMG_KIND_STOSB:
		return r % 256;
	case QMG_KIND_MOVSB:
		return (q >> (gpa % 8 * 8)) % 256;
	case QMG_KIND_STOSQ:
	case QMG_KIND_MOVSQ:
		return q;
	default:
		return r;
	}
}

static void put_unit(struct dump *d, uint32_t kind, uint64_t gpa, uint64_t v)
{
	if (stride(kind) == 1)
		d->ram[gpa] = v;
	else
		put64(d->ram + gpa, v);
}

static uint64_t units(const struct region *r)
{
	return r->bytes / stride(r->kind);
}

static uint64_t unit_addr(const struct region *r, uint64_t i)
{
	return r->start + i * stride(r->kind);
}

/*
 * A 16 MiB guest in @mode after 7 passes, the sweep from 4 MiB; each region
 * stopped a third of the way through its round (the movsb one mid-quadword),
 * so that both values are there.
 */
static void make_mode_dump(struct dump *d, uint32_t mode)
{
	uint8_t *p;

	make_dump(d, 7, 7);
	set_pages(d, 1 * MIB, 4 * MIB, 0x55); /* no longer patterned */
	d->starts[0] = 4 * MIB;
	d->mode = mode;
	for (unsigned i = 0; i < NREGIONS; i++) {
		const struct region *r = &all_regions[i].r;
		uint64_t n = units(r), b = n / 3 | 1;

		if (!(mode & all_regions[i].mode))
			continue;
		d->regions[d->nregions++] = *r;
		for (uint64_t u = 0; u < n; u++) {
			uint64_t gpa = unit_addr(r, u);
			uint64_t round = rounds_of(r->kind) + (u < b);

			put_unit(d, r->kind, gpa, value_at(r->kind, round, gpa));
		}
	}
	write_layout(d, 16 * MIB, 7);
	p = d->ram + QMG_LAYOUT_ADDR;
	put64(p + QMG_OFF_HOT_ROUNDS, HOT_ROUNDS);
	put64(p + QMG_OFF_STRING_ROUNDS, STRING_ROUNDS);
	put64(p + QMG_OFF_SSE_ROUNDS, SSE_ROUNDS);
	put32(p + QMG_OFF_LOST_KIND, 0);
}

static unsigned regions_in(uint32_t mode)
{
	unsigned n = 0;

	for (unsigned i = 0; i < NREGIONS; i++)
		n += !!(mode & all_regions[i].mode);
	return n;
}

Test(memcheck_modes, intact_regions_are_good_in_every_mode)
{
	static const uint32_t modes[] = { QMG_MODE_HOT, QMG_MODE_STRING, QMG_MODE_SSE,
					  QMG_MODE_ALL };

	for (unsigned m = 0; m < 4; m++) {
		struct dump d;
		struct qm_memcheck_result res;

		make_mode_dump(&d, modes[m]);
		res = check(&d);
		cr_assert(res.ok, "mode %u: %s", modes[m], res.message);
		cr_assert_eq(res.mode, modes[m]);
		cr_assert_eq(res.regions, regions_in(modes[m]), "mode %u: %u regions",
			     modes[m], res.regions);
		cr_assert_eq(res.pages, 11 * MIB / QMG_PAGE_SIZE);
	}
	{
		struct dump d;
		struct qm_memcheck_result res;

		make_mode_dump(&d, QMG_MODE_ALL);
		res = check(&d);
		cr_assert(strstr(res.message, "mode hot+string+sse: 8 regions intact"), "%s",
			  res.message);
	}
}

/* Region @i: every unit written by the round in progress, or none. */
static void whole_round(struct dump *d, unsigned i, bool done)
{
	const struct region *r = &all_regions[i].r;

	for (uint64_t u = 0; u < units(r); u++) {
		uint64_t gpa = unit_addr(r, u);

		put_unit(d, r->kind, gpa, value_at(r->kind, rounds_of(r->kind) + done, gpa));
	}
}

Test(memcheck_modes, a_round_not_begun_or_not_yet_counted_is_good)
{
	for (unsigned i = 0; i < NREGIONS; i++) {
		for (int done = 0; done < 2; done++) {
			struct dump d;
			struct qm_memcheck_result res;

			make_mode_dump(&d, QMG_MODE_ALL);
			whole_round(&d, i, done);
			res = check(&d);
			cr_assert(res.ok, "%s, round %s: %s", all_regions[i].name,
				  done ? "done" : "not begun", res.message);
		}
	}
}

/*
 * Plants @value into @count units of region @i from unit @at, and checks
 * that the checker names the region, the first unit, and both values.
 */
static void planted_is_caught(unsigned i, uint64_t at, uint64_t count, uint64_t round,
			      const char *what)
{
	const struct region *r = &all_regions[i].r;
	uint64_t gpa = unit_addr(r, at), n = units(r), b = n / 3 | 1;
	uint64_t want = value_at(r->kind, rounds_of(r->kind) + (at < b), gpa);
	uint64_t old = value_at(r->kind, round, gpa);
	struct qm_memcheck_result res;
	struct dump d;

	make_mode_dump(&d, QMG_MODE_ALL);
	for (uint64_t u = at; u < at + count; u++)
		put_unit(&d, r->kind, unit_addr(r, u), value_at(r->kind, round, unit_addr(r, u)));
	res = check(&d);
	cr_assert_not(res.ok, "%s, %s: not caught: %s", all_regions[i].name, what,
		      res.message);
	cr_assert_str_eq(res.region, all_regions[i].name, "%s: %s", what, res.message);
	cr_assert_eq(res.bad_addr, gpa, "%s, %s: %s", all_regions[i].name, what, res.message);
	cr_assert_eq(res.expected, want, "%s, %s: %s", all_regions[i].name, what, res.message);
	cr_assert_eq(res.found, old, "%s, %s: %s", all_regions[i].name, what, res.message);
	cr_assert_eq(res.bad_pages, count, "%s, %s: %s", all_regions[i].name, what,
		     res.message);
	cr_assert(strstr(res.message, all_regions[i].name), "%s", res.message);
}

Test(memcheck_modes, an_old_value_in_one_place_is_caught_in_every_region)
{
	for (unsigned i = 0; i < NREGIONS; i++) {
		const struct region *r = &all_regions[i].r;
		uint64_t n = units(r), b = n / 3 | 1, rounds = rounds_of(r->kind);

		/* after the boundary: the previous round's write lost */
		planted_is_caught(i, n - n / 4, 1, rounds - 1, "stale after the boundary");
		/* before it: the round in progress lost this one */
		planted_is_caught(i, b / 2, 1, rounds, "stale before the boundary");
		/* the last unit, where a round ends */
		planted_is_caught(i, n - 1, 1, rounds - 1, "stale last unit");
	}
}

Test(memcheck_modes, a_skipped_page_is_caught_in_every_region)
{
	for (unsigned i = 0; i < NREGIONS; i++) {
		const struct region *r = &all_regions[i].r;
		uint64_t per_page = QMG_PAGE_SIZE / stride(r->kind);
		/* the page after the boundary's, aligned for all but movups (8 mod 16) */
		uint64_t n = units(r), page = (n / 3 / per_page + 1) * per_page;

		if (per_page > 1 && r->start % QMG_PAGE_SIZE)
			page -= (r->start % QMG_PAGE_SIZE) / stride(r->kind);
		cr_assert_lt(page + per_page, n, "%s", all_regions[i].name);
		planted_is_caught(i, page, per_page, rounds_of(r->kind) - 1,
				  "a page skipped by the previous round");
	}
}

Test(memcheck_modes, movsb_may_stop_mid_quadword_but_not_out_of_order)
{
	const struct region *r = &all_regions[4].r;
	struct qm_memcheck_result res;
	struct dump d;
	uint64_t gpa = r->start + 0x1003; /* the 4th byte of a quadword */

	cr_assert_eq(r->kind, QMG_KIND_MOVSB);
	make_mode_dump(&d, QMG_MODE_STRING);
	whole_round(&d, 4, false);
	for (uint64_t a = r->start; a < gpa; a++)
		d.ram[a] = value_at(r->kind, STRING_ROUNDS + 1, a);
	res = check(&d);
	cr_assert(res.ok, "%s", res.message);

	/* the byte before the boundary still old, the one at it new */
	make_mode_dump(&d, QMG_MODE_STRING);
	whole_round(&d, 4, false);
	for (uint64_t a = r->start; a < gpa - 1; a++)
		d.ram[a] = value_at(r->kind, STRING_ROUNDS + 1, a);
	d.ram[gpa] = value_at(r->kind, STRING_ROUNDS + 1, gpa);
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_str_eq(res.region, "movsb");
}

Test(memcheck_modes, a_lost_write_the_guest_saw_is_bad)
{
	struct qm_memcheck_result res;
	struct dump d;
	char want[128];
	uint8_t *p;

	make_mode_dump(&d, QMG_MODE_ALL);
	p = d.ram + QMG_LAYOUT_ADDR;
	put32(p + QMG_OFF_LOST_KIND, QMG_KIND_MOVNTDQ);
	put64(p + QMG_OFF_LOST_ADDR, QMG_MOVNTDQ_ADDR + 0x2010);
	put64(p + QMG_OFF_LOST_EXPECTED, SSE_ROUNDS);
	put64(p + QMG_OFF_LOST_FOUND, SSE_ROUNDS - 1);
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_str_eq(res.region, "movntdq");
	cr_assert_eq(res.bad_addr, QMG_MOVNTDQ_ADDR + 0x2010);
	cr_assert_eq(res.expected, SSE_ROUNDS);
	cr_assert_eq(res.found, SSE_ROUNDS - 1);
	snprintf(want, sizeof(want), "guest saw a lost write in region movntdq, page 0x%x",
		 QMG_MOVNTDQ_ADDR + 0x2000);
	cr_assert(strstr(res.message, want), "%s", res.message);
}

Test(memcheck_modes, a_lost_disk_write_the_guest_saw_is_bad)
{
	struct qm_memcheck_result res;
	struct dump d;
	uint8_t *p;

	make_mode_dump(&d, QMG_MODE_ALL | QMG_MODE_DISK);
	p = d.ram + QMG_LAYOUT_ADDR;
	put32(p + QMG_OFF_LOST_KIND, QMG_KIND_DISK);
	put64(p + QMG_OFF_LOST_ADDR, 0x581010); /* sector 11272, its 3rd quadword */
	put64(p + QMG_OFF_LOST_EXPECTED, 0x21);
	put64(p + QMG_OFF_LOST_FOUND, 0x1f);
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_str_eq(res.region, "disk");
	cr_assert(strstr(res.message, "lost disk write: sector 11272, byte 0x581010 of the "
				      "disk held 0x1f, expected 0x21"),
		  "%s", res.message);
}

Test(memcheck_modes, the_disk_mode_is_named)
{
	struct qm_memcheck_result res;
	struct dump d;

	make_mode_dump(&d, QMG_MODE_ALL | QMG_MODE_DISK);
	res = check(&d);
	cr_assert(res.ok, "%s", res.message);
	cr_assert(strstr(res.message, "mode hot+string+sse+disk: 8 regions intact"), "%s",
		  res.message);
}

Test(memcheck_modes, a_lost_rounds_counter_is_caught)
{
	struct qm_memcheck_result res;
	struct dump d;

	/* the counter one behind: the regions look two rounds ahead of it */
	make_mode_dump(&d, QMG_MODE_HOT);
	put64(d.ram + QMG_LAYOUT_ADDR + QMG_OFF_HOT_ROUNDS, HOT_ROUNDS - 1);
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_str_eq(res.region, "hot");
}

Test(memcheck_modes, the_mode_block_is_checksummed_and_checked)
{
	struct qm_memcheck_result res;
	struct dump d;

	make_mode_dump(&d, QMG_MODE_ALL);
	d.ram[QMG_LAYOUT_ADDR + QMG_OFF_REGIONS + 1] ^= 0x10;
	res = check(&d);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_str_eq(res.region, "layout");

	make_mode_dump(&d, QMG_MODE_ALL);
	d.regions[2].kind = QMG_KIND_MAX + 1;
	write_layout(&d, 16 * MIB, 7);
	cr_assert_eq(qm_memcheck_buffer(d.ram, d.len, &res), -EINVAL);
	cr_assert(strstr(res.message, "region 2"), "%s", res.message);

	d.regions[2].kind = QMG_KIND_STOSB;
	d.regions[2].start = 16 * MIB - QMG_STRING_BYTES / 2;
	write_layout(&d, 16 * MIB, 7);
	cr_assert_eq(qm_memcheck_buffer(d.ram, d.len, &res), -EINVAL);
	free(d.ram);
}
