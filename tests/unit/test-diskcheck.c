/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The test guest's disk checker on images and dumps made by hand, faults planted. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/guest/diskcheck.h"
#include "tests/guest/guest-layout.h"

#define MIB (UINT64_C(1) << 20)
#define ROUNDS 41
#define NREC QMG_DISK_SECTORS

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

static uint64_t lba_of(unsigned i)
{
	return QMG_DISK_LBA + (uint64_t)i * QMG_DISK_STRIDE;
}

/* Writes the record of @round for sector @lba at @sec, as guest.S does. */
static void put_record(uint8_t *sec, uint64_t lba, uint64_t round)
{
	memcpy(sec, QMG_DISK_MAGIC, 8);
	put64(sec + 8, lba);
	for (unsigned o = 16; o < QMG_SECTOR_SIZE; o += 8)
		put64(sec + o, round);
}

struct image {
	uint8_t *disk;
	uint64_t len;
	struct qm_guest_disk g;
};

static uint8_t *record(struct image *im, unsigned i)
{
	return im->disk + lba_of(i) * QMG_SECTOR_SIZE;
}

/*
 * An 8 MiB data disk after ROUNDS rounds; with @boundary <= NREC a round is
 * running and wrote the records below @boundary.  The rest is noise.
 */
static void make_image(struct image *im, unsigned boundary)
{
	im->len = 8 * MIB;
	im->disk = malloc(im->len);
	cr_assert(im->disk);
	for (uint64_t i = 0; i < im->len; i++)
		im->disk[i] = i * 2654435761u >> 11;
	im->g = (struct qm_guest_disk){ .mode = QMG_MODE_DISK,
					.passes = ROUNDS + (boundary <= NREC),
					.lba = QMG_DISK_LBA,
					.sectors = NREC,
					.stride = QMG_DISK_STRIDE,
					.rounds = ROUNDS };
	for (unsigned i = 0; i < NREC; i++)
		put_record(record(im, i), lba_of(i),
			   ROUNDS + (i < boundary && boundary <= NREC));
}

static struct qm_diskcheck_result check(struct image *im)
{
	struct qm_diskcheck_result res;

	cr_assert_eq(qm_diskcheck_buffer(im->disk, im->len, &im->g, &res), 0, "%s",
		     res.message);
	free(im->disk);
	return res;
}

#define NONE (NREC + 1) /* no round running */

Test(diskcheck, every_record_of_the_last_round_is_good)
{
	struct image im;
	struct qm_diskcheck_result res;

	make_image(&im, NONE);
	res = check(&im);
	cr_assert(res.ok, "%s", res.message);
	cr_assert_eq(res.records, NREC);
	cr_assert_eq(res.rounds, ROUNDS);
	cr_assert_eq(res.boundary, 0);
}

Test(diskcheck, a_round_in_progress_is_good_wherever_it_stopped)
{
	for (unsigned b = 0; b <= NREC; b++) {
		struct image im;
		struct qm_diskcheck_result res;

		make_image(&im, b);
		res = check(&im);
		cr_assert(res.ok, "boundary %u: %s", b, res.message);
		cr_assert_eq(res.boundary, b && b < NREC ? lba_of(b) : 0, "boundary %u",
			     b);
	}
}

/* Checks that @res reports record @i: its byte @offset, @expected and @found. */
static void assert_bad(const struct qm_diskcheck_result *res, unsigned i, uint64_t offset,
		       uint64_t expected, uint64_t found, const char *what)
{
	cr_assert_not(res->ok, "%s", res->message);
	cr_assert_eq(res->bad, 1, "%s", res->message);
	cr_assert_eq(res->sector, lba_of(i), "%s", res->message);
	cr_assert_eq(res->offset, offset, "%s", res->message);
	cr_assert_eq(res->expected, expected, "%s", res->message);
	cr_assert_eq(res->found, found, "%s", res->message);
	cr_assert(strstr(res->message, what), "'%s' not in: %s", what, res->message);
	cr_assert(strncmp(res->message, "BAD: sector ", 12) == 0, "%s", res->message);
}

Test(diskcheck, an_old_record_is_a_lost_write)
{
	struct image im;
	struct qm_diskcheck_result res;

	make_image(&im, NONE);
	put_record(record(&im, 5), lba_of(5), ROUNDS - 1);
	res = check(&im);
	assert_bad(&res, 5, 16, ROUNDS, ROUNDS - 1,
		   "the record of round 40, not round 41's");
}

Test(diskcheck, an_old_record_behind_a_running_round_is_a_lost_write)
{
	struct image im;
	struct qm_diskcheck_result res;

	make_image(&im, 9);
	put_record(record(&im, 12), lba_of(12), ROUNDS - 1);
	res = check(&im);
	assert_bad(&res, 12, 16, ROUNDS, ROUNDS - 1, "round 40");
	cr_assert_eq(res.boundary, lba_of(9));
}

Test(diskcheck, a_zeroed_record_is_caught)
{
	struct image im;
	struct qm_diskcheck_result res;

	make_image(&im, NONE);
	memset(record(&im, 0), 0, QMG_SECTOR_SIZE);
	res = check(&im);
	assert_bad(&res, 0, 0, 0x314b534944474d51, 0, "no record there (zeroes)");
}

Test(diskcheck, the_record_of_another_sector_is_caught)
{
	struct image im;
	struct qm_diskcheck_result res;

	make_image(&im, NONE);
	memcpy(record(&im, 7), record(&im, 6), QMG_SECTOR_SIZE);
	res = check(&im);
	assert_bad(&res, 7, 8, lba_of(7), lba_of(6), "the record of sector 6152");
}

Test(diskcheck, a_torn_record_is_caught)
{
	struct image im;
	struct qm_diskcheck_result res;

	make_image(&im, 4);
	put64(record(&im, 1) + 256, ROUNDS); /* one quadword left from the round before */
	res = check(&im);
	assert_bad(&res, 1, 256, ROUNDS + 1, ROUNDS, "a torn record of round 42");
}

Test(diskcheck, a_record_from_the_future_is_caught)
{
	struct image im;
	struct qm_diskcheck_result res;

	make_image(&im, NONE);
	put_record(record(&im, 0), lba_of(0), ROUNDS + 2);
	res = check(&im);
	assert_bad(&res, 0, 16, ROUNDS, ROUNDS + 2, "the record of round 43");
}

Test(diskcheck, a_new_record_past_the_boundary_is_caught)
{
	struct image im;
	struct qm_diskcheck_result res;

	make_image(&im, 3);
	put_record(record(&im, 10), lba_of(10), ROUNDS + 1);
	res = check(&im);
	assert_bad(&res, 10, 16, ROUNDS, ROUNDS + 1, "round 42");
}

Test(diskcheck, more_rounds_than_passes_is_good)
{
	struct image im;
	struct qm_diskcheck_result res;

	make_image(&im, NONE);
	im.g.passes =
		3; /* rounds also run while the dirty-rate cap makes the guest wait */
	res = check(&im);
	cr_assert(res.ok, "%s", res.message);
}

Test(diskcheck, fewer_rounds_than_passes_less_one_are_caught)
{
	static const uint64_t passes[] = { ROUNDS + 2, ROUNDS + 100 };

	for (unsigned i = 0; i < 2; i++) {
		struct image im;
		struct qm_diskcheck_result res;

		make_image(&im, NONE);
		im.g.passes = passes[i];
		res = check(&im);
		cr_assert_not(res.ok, "passes %llu: %s", (unsigned long long)passes[i],
			      res.message);
		cr_assert(strstr(res.message, "disk rounds after"), "%s", res.message);
	}
}

Test(diskcheck, what_cannot_be_checked_is_an_error)
{
	struct image im;
	struct qm_diskcheck_result res;

	make_image(&im, NONE);
	im.g.rounds = 0;
	im.g.passes = 1;
	cr_assert_eq(qm_diskcheck_buffer(im.disk, im.len, &im.g, &res), -EINVAL);
	cr_assert(strstr(res.message, "first disk round"), "%s", res.message);
	im.g.rounds = ROUNDS;
	im.g.passes = ROUNDS;
	cr_assert_eq(qm_diskcheck_buffer(im.disk, lba_of(NREC - 1) * QMG_SECTOR_SIZE,
					 &im.g, &res),
		     -EINVAL);
	cr_assert(strstr(res.message, "cannot hold"), "%s", res.message);
	im.g.lba = UINT64_MAX - 4;
	cr_assert_eq(qm_diskcheck_buffer(im.disk, im.len, &im.g, &res), -EINVAL);
	im.g.lba = QMG_DISK_LBA;
	im.g.sectors = 0;
	cr_assert_eq(qm_diskcheck_buffer(im.disk, im.len, &im.g, &res), -EINVAL);
	free(im.disk);
}

/* ---- files: the image and a dump whose layout page says where and how far ---- */

/* A 1 MiB dump with only a layout page, as guest.S writes it in @mode. */
static uint8_t *make_dump(uint32_t mode, uint64_t passes, uint64_t rounds)
{
	uint8_t *ram = calloc(1, MIB), *p = ram + QMG_LAYOUT_ADDR;
	uint32_t sum = 0;

	cr_assert(ram);
	memcpy(p, QMG_MAGIC, 8);
	put32(p + QMG_OFF_VERSION, QMG_VERSION);
	put64(p + QMG_OFF_RAM_TOP, MIB);
	put64(p + QMG_OFF_PASSES, passes);
	put32(p + QMG_OFF_MODE, mode);
	if (mode & QMG_MODE_DISK) {
		put64(p + QMG_OFF_DISK_LBA, QMG_DISK_LBA);
		put32(p + QMG_OFF_DISK_SECTORS, QMG_DISK_SECTORS);
		put32(p + QMG_OFF_DISK_STRIDE, QMG_DISK_STRIDE);
	}
	put64(p + QMG_OFF_DISK_ROUNDS, rounds);
	for (unsigned o = 0; o < QMG_PAGE_SIZE; o += 4) {
		bool counter = o >= QMG_OFF_PASSES && o < QMG_OFF_RANGES;

		if (!counter && o < QMG_OFF_DISK_END && o != QMG_OFF_CHECKSUM)
			sum += p[o] | p[o + 1] << 8 | p[o + 2] << 16 |
			       (uint32_t)p[o + 3] << 24;
	}
	put32(p + QMG_OFF_CHECKSUM, -sum);
	return ram;
}

/* Writes @len bytes to a new file named after the template @path. */
static void write_file(char *path, const uint8_t *data, uint64_t len)
{
	int fd = mkstemp(path);

	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
}

/* Replaces the file @path, made by write_file(), by another. */
static void rewrite_file(char *path, const uint8_t *data, uint64_t len)
{
	unlink(path);
	memcpy(path + strlen(path) - 6, "XXXXXX", 6);
	write_file(path, data, len);
}

Test(diskcheck_files, the_dump_says_where_the_records_are_and_how_far)
{
	char img[] = "/tmp/test-diskcheck-img-XXXXXX",
	     dump[] = "/tmp/test-diskcheck-mem-XXXXXX";
	struct qm_diskcheck_result res;
	struct image im;
	uint8_t *ram;

	make_image(&im, NONE);
	write_file(img, im.disk, im.len);
	ram = make_dump(QMG_MODE_DISK | QMG_MODE_HOT, ROUNDS, ROUNDS);
	write_file(dump, ram, MIB);
	cr_assert_eq(qm_diskcheck_files(img, dump, MIB, &res), 0, "%s", res.message);
	cr_assert(res.ok, "%s", res.message);
	cr_assert_eq(qm_diskcheck_file_rounds(img, ROUNDS, &res), 0, "%s", res.message);
	cr_assert(res.ok, "%s", res.message);

	/* one round ahead in memory, and done: the disk lost a whole round */
	free(ram);
	ram = make_dump(QMG_MODE_DISK, ROUNDS + 1, ROUNDS + 1);
	rewrite_file(dump, ram, MIB);
	cr_assert_eq(qm_diskcheck_files(img, dump, MIB, &res), 0, "%s", res.message);
	cr_assert_not(res.ok, "%s", res.message);
	cr_assert_eq(res.bad, NREC, "%s", res.message);
	cr_assert_eq(qm_diskcheck_file_rounds(img, ROUNDS + 2, &res), 0, "%s",
		     res.message);
	cr_assert_not(res.ok, "%s", res.message);

	/* the wrong RAM size; a dump whose disk block fails the checksum; no disk mode */
	cr_assert_eq(qm_diskcheck_files(img, dump, 2 * MIB, &res), -EINVAL);
	ram[QMG_LAYOUT_ADDR + QMG_OFF_DISK_STRIDE] ^= 1;
	rewrite_file(dump, ram, MIB);
	cr_assert_eq(qm_diskcheck_files(img, dump, MIB, &res), -EINVAL);
	cr_assert(strstr(res.message, "no valid layout page"), "%s", res.message);
	free(ram);
	ram = make_dump(QMG_MODE_HOT, ROUNDS, 0);
	rewrite_file(dump, ram, MIB);
	cr_assert_eq(qm_diskcheck_files(img, dump, MIB, &res), -EINVAL);
	cr_assert(strstr(res.message, "disk mode is off"), "%s", res.message);

	/* a qcow2 image is refused, not misread */
	memcpy(im.disk, "QFI\xfb", 4);
	rewrite_file(img, im.disk, im.len);
	cr_assert_eq(qm_diskcheck_file_rounds(img, ROUNDS, &res), -EINVAL);
	cr_assert(strstr(res.message, "qcow2"), "%s", res.message);
	unlink(img);
	unlink(dump);
	free(ram);
	free(im.disk);
}
