/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test guest's checker on the regions of its modes (hot, string, SSE,
 * disk), on dumps made by hand.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/memcheck-dump.h"

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
