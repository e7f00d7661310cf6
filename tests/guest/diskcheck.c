/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/guest/diskcheck.h"
#include "tests/guest/guest-layout.h"

#define QUADS (QMG_SECTOR_SIZE / 8)
#define MAX_RECORDS (1u << 20)

static uint64_t get64(const uint8_t *p)
{
	uint64_t v = 0;

	for (int i = 7; i >= 0; i--)
		v = v << 8 | p[i];
	return v;
}

__attribute__((format(printf, 3, 4))) static int say(struct qm_diskcheck_result *res,
						     int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return r;
}

/* Quadword @q of the record of round @round for sector @lba. */
static uint64_t record_quad(uint64_t lba, uint64_t round, unsigned q)
{
	uint64_t magic = 0;

	if (q == 0) {
		for (int i = 7; i >= 0; i--)
			magic = magic << 8 | (uint8_t)QMG_DISK_MAGIC[i];
		return magic;
	}
	return q == 1 ? lba : round;
}

/* The first quadword of @sec that is not the record of @round for @lba; QUADS if none. */
static unsigned first_diff(const uint8_t *sec, uint64_t lba, uint64_t round)
{
	unsigned q;

	for (q = 0; q < QUADS; q++)
		if (get64(sec + 8 * q) != record_quad(lba, round, q))
			break;
	return q;
}

/* What a wrong record holds instead, in a few words. */
static void describe(const uint8_t *sec, uint64_t lba, char *buf, size_t size)
{
	uint64_t round = get64(sec + 16);

	if (get64(sec) != record_quad(lba, 0, 0))
		snprintf(buf, size, "no record there%s",
			 get64(sec) || get64(sec + 8) || round ? "" : " (zeroes)");
	else if (get64(sec + 8) != lba)
		snprintf(buf, size, "the record of sector %llu",
			 (unsigned long long)get64(sec + 8));
	else if (first_diff(sec, lba, round) < QUADS)
		snprintf(buf, size, "a torn record of round %llu",
			 (unsigned long long)round);
	else
		snprintf(buf, size, "the record of round %llu",
			 (unsigned long long)round);
}

static int check_geometry(uint64_t len, const struct qm_guest_disk *g,
			  struct qm_diskcheck_result *res)
{
	uint64_t last;

	if (!g->sectors || g->sectors > MAX_RECORDS || !g->stride)
		return say(res, -EINVAL,
			   "the layout page says %u records %u sectors apart", g->sectors,
			   g->stride);
	last = (uint64_t)(g->sectors - 1) * g->stride; /* no overflow: both < 2^32 */
	if (g->lba >= len / QMG_SECTOR_SIZE || last >= len / QMG_SECTOR_SIZE - g->lba)
		return say(res, -EINVAL,
			   "an image of %llu bytes cannot hold the records at sectors "
			   "%llu to "
			   "%llu: wrong image?",
			   (unsigned long long)len, (unsigned long long)g->lba,
			   (unsigned long long)(g->lba + last));
	if (!g->rounds)
		return say(res, -EINVAL,
			   "the guest has not completed its first disk round");
	return 0;
}

int qm_diskcheck_buffer(const uint8_t *disk, uint64_t len, const struct qm_guest_disk *g,
			struct qm_diskcheck_result *res)
{
	uint64_t cost = 0, best, best_at = 0, n, hi, lo;
	char what[64], passes[40] = "";
	int r;

	memset(res, 0, sizeof(*res));
	res->rounds = g->rounds;
	res->passes = g->passes;
	r = check_geometry(len, g, res);
	if (r < 0)
		return r;
	n = g->sectors;
	res->records = n;
	/* A round runs after each pass is counted: the last one may still run. */
	if (g->rounds + 1 < g->passes)
		return say(res, 0,
			   "BAD: the memory says %llu disk rounds after %llu passes",
			   (unsigned long long)g->rounds, (unsigned long long)g->passes);
	lo = g->rounds;
	hi = g->rounds + 1;

	/*
	 * The good images are "hi up to record b, lo from b on" (b = n: the
	 * round wrote every record, and is not counted yet).  The b with the
	 * fewest wrong records (the smallest on a tie), so that one stale
	 * record is reported as itself.
	 */
	for (uint64_t i = 0; i < n; i++)
		cost += first_diff(disk + (g->lba + i * g->stride) * QMG_SECTOR_SIZE,
				   g->lba + i * g->stride, lo) < QUADS;
	best = cost;
	for (uint64_t i = 0; i < n; i++) {
		uint64_t lba = g->lba + i * g->stride;
		const uint8_t *sec = disk + lba * QMG_SECTOR_SIZE;

		cost += (first_diff(sec, lba, hi) < QUADS) -
			(uint64_t)(first_diff(sec, lba, lo) < QUADS);
		if (cost < best) {
			best = cost;
			best_at = i + 1;
		}
	}
	res->bad = best;
	if (best_at && best_at < n)
		res->boundary = g->lba + best_at * g->stride;
	for (uint64_t i = 0; i < n && best; i++) {
		uint64_t lba = g->lba + i * g->stride, round = i < best_at ? hi : lo;
		const uint8_t *sec = disk + lba * QMG_SECTOR_SIZE;
		unsigned q = first_diff(sec, lba, round);

		if (q == QUADS)
			continue;
		res->sector = lba;
		res->offset = 8 * q;
		res->expected = record_quad(lba, round, q);
		res->found = get64(sec + 8 * q);
		describe(sec, lba, what, sizeof(what));
		if (g->passes)
			snprintf(passes, sizeof(passes), " after %llu passes",
				 (unsigned long long)g->passes);
		return say(res, 0,
			   "BAD: sector %llu (record %llu): byte 0x%llx holds 0x%llx, "
			   "expected 0x%llx: %s, not round %llu's (%llu of %llu records "
			   "wrong, %llu rounds%s)",
			   (unsigned long long)lba, (unsigned long long)i,
			   (unsigned long long)res->offset,
			   (unsigned long long)res->found,
			   (unsigned long long)res->expected, what,
			   (unsigned long long)round, (unsigned long long)best,
			   (unsigned long long)n, (unsigned long long)g->rounds, passes);
	}
	res->ok = true;
	if (res->boundary)
		return say(res, 0,
			   "ok: %llu records after %llu disk rounds, round %llu stopped "
			   "at sector %llu",
			   (unsigned long long)n, (unsigned long long)g->rounds,
			   (unsigned long long)hi, (unsigned long long)res->boundary);
	return say(res, 0, "ok: %llu records after %llu disk rounds%s",
		   (unsigned long long)n, (unsigned long long)g->rounds,
		   best_at == n ? ", the round in progress wrote them all" : "");
}

/* Maps the whole file @path read-only; its size in @len. */
static int map_file(const char *path, const uint8_t **map, uint64_t *len,
		    struct qm_diskcheck_result *res)
{
	struct stat st;
	void *p;
	int fd, r = 0;

	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return say(res, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = say(res, -errno, "%s: %s", path, strerror(errno));
	} else if (!S_ISREG(st.st_mode) || st.st_size < QMG_PAGE_SIZE + QMG_LAYOUT_ADDR) {
		r = say(res, -EINVAL, "%s: not a regular file of %d bytes or more", path,
			QMG_PAGE_SIZE + QMG_LAYOUT_ADDR);
	} else {
		p = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
		if (p == MAP_FAILED) {
			r = say(res, -errno, "%s: mmap: %s", path, strerror(errno));
		} else {
			*map = p;
			*len = st.st_size;
		}
	}
	close(fd);
	return r;
}

/* Checks the raw image at @image against @g. */
static int check_image(const char *image, const struct qm_guest_disk *g,
		       struct qm_diskcheck_result *res)
{
	const uint8_t *disk;
	uint64_t len;
	int r;

	r = map_file(image, &disk, &len, res);
	if (r < 0)
		return r;
	if (!memcmp(disk, "QFI\xfb", 4))
		r = say(res, -EINVAL,
			"%s: a qcow2 image; convert it first: qemu-img convert -O raw",
			image);
	else
		r = qm_diskcheck_buffer(disk, len, g, res);
	munmap((void *)disk, len);
	return r;
}

int qm_diskcheck_files(const char *image, const char *dump, uint64_t ram_bytes,
		       struct qm_diskcheck_result *res)
{
	struct qm_guest_disk g;
	const uint8_t *ram;
	uint64_t len;
	int r;

	memset(res, 0, sizeof(*res));
	r = map_file(dump, &ram, &len, res);
	if (r < 0)
		return r;
	if (ram_bytes && len != ram_bytes)
		r = say(res, -EINVAL,
			"%s: %llu bytes, but the guest has %llu bytes of RAM", dump,
			(unsigned long long)len, (unsigned long long)ram_bytes);
	else
		r = qm_memcheck_guest_disk(ram, len, &g);
	munmap((void *)ram, len);
	if (r == -EINVAL && !res->message[0])
		return say(res, r,
			   "%s: no valid layout page: not a dump of the test guest",
			   dump);
	if (r == -ENOENT)
		return say(res, -EINVAL, "%s: the guest's disk mode is off", dump);
	if (r < 0)
		return r;
	return check_image(image, &g, res);
}

int qm_diskcheck_file_rounds(const char *image, uint64_t rounds,
			     struct qm_diskcheck_result *res)
{
	struct qm_guest_disk g = {
		.mode = QMG_MODE_DISK,
		.passes = 0, /* unknown */
		.lba = QMG_DISK_LBA,
		.sectors = QMG_DISK_SECTORS,
		.stride = QMG_DISK_STRIDE,
		.rounds = rounds,
	};

	memset(res, 0, sizeof(*res));
	return check_image(image, &g, res);
}
