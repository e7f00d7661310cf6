/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The test guest's checker on dumps made by hand, layout page included. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/unit/memcheck-dump.h"

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
