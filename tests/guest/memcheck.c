/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include "tests/guest/guest-layout.h"
#include "tests/guest/memcheck.h"

#define GIB4 (UINT64_C(1) << 32)

struct range {
	uint64_t start, end;
};

struct layout {
	uint32_t nranges;
	uint64_t ram_top;
	uint64_t passes;
	uint32_t byte;
	struct range ranges[QMG_MAX_RANGES];
};

static uint32_t get32(const uint8_t *p)
{
	return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static uint64_t get64(const uint8_t *p)
{
	return get32(p) | (uint64_t)get32(p + 4) << 32;
}

__attribute__((format(printf, 3, 4))) static int say(struct qm_memcheck_result *res,
						     int r, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(res->message, sizeof(res->message), fmt, ap);
	va_end(ap);
	return r;
}

/* Decodes the layout page; false when it is not one (lost, or another guest). */
static bool parse_layout(const uint8_t *page, struct layout *l)
{
	uint32_t sum = 0;

	if (memcmp(page + QMG_OFF_MAGIC, QMG_MAGIC, 8) ||
	    get32(page + QMG_OFF_VERSION) != QMG_VERSION)
		return false;
	l->nranges = get32(page + QMG_OFF_NRANGES);
	if (l->nranges > QMG_MAX_RANGES)
		return false;
	for (unsigned o = 0; o < QMG_OFF_PASSES; o += 4)
		sum += get32(page + o);
	for (unsigned o = 0; o < l->nranges * 16; o += 4)
		sum += get32(page + QMG_OFF_RANGES + o);
	if (sum)
		return false;
	l->ram_top = get64(page + QMG_OFF_RAM_TOP);
	l->passes = get64(page + QMG_OFF_PASSES);
	l->byte = get32(page + QMG_OFF_BYTE);
	for (uint32_t i = 0; i < l->nranges; i++) {
		l->ranges[i].start = get64(page + QMG_OFF_RANGES + 16 * i);
		l->ranges[i].end = get64(page + QMG_OFF_RANGES + 16 * i + 8);
	}
	return true;
}

/* Where guest RAM below 4 GiB ends in a dump of @len bytes; 0 when it cannot. */
static uint64_t low_size(const struct layout *l, uint64_t len)
{
	if (l->ram_top <= GIB4)
		return len;
	if (l->ram_top - GIB4 >= len)
		return 0;
	return len - (l->ram_top - GIB4);
}

/* Checks that the ranges are sorted, disjoint, whole pages, and inside the dump. */
static int check_ranges(const struct layout *l, uint64_t len,
			struct qm_memcheck_result *res)
{
	uint64_t low = low_size(l, len), prev = 0;

	if (!low || low > GIB4)
		return say(
		    res, -EINVAL,
		    "a dump of %llu bytes cannot hold RAM up to 0x%llx: wrong RAM size?",
		    (unsigned long long)len, (unsigned long long)l->ram_top);
	if (l->byte >= QMG_PAGE_SIZE)
		return say(res, -EINVAL, "the layout page says byte %u of each page",
			   l->byte);
	if (!l->nranges)
		return say(res, -EINVAL, "the guest found no RAM to increment");
	for (uint32_t i = 0; i < l->nranges; i++) {
		const struct range *r = &l->ranges[i];
		bool inside = r->end <= GIB4 ? r->end <= low
					     : r->start >= GIB4 && r->end <= l->ram_top;

		if (r->start < prev || r->start >= r->end ||
		    (r->start | r->end) % QMG_PAGE_SIZE)
			return say(res, -EINVAL,
				   "range %u of the layout page is malformed", i);
		if (!inside)
			return say(res, -EINVAL,
				   "range 0x%llx-0x%llx is not in a dump of %llu bytes: "
				   "wrong RAM size?",
				   (unsigned long long)r->start,
				   (unsigned long long)r->end, (unsigned long long)len);
		prev = r->end;
	}
	return 0;
}

/* A dump being checked: @low is where RAM above 4 GiB starts in it. */
struct walk {
	const uint8_t *ram;
	const struct layout *l;
	uint64_t low;
};

static uint8_t page_value(const struct walk *w, uint64_t gpa)
{
	uint64_t off = gpa < GIB4 ? gpa : w->low + (gpa - GIB4);

	return w->ram[off + w->l->byte];
}

/* Walks the patterned pages in ascending order: the next page's address and value. */
struct cursor {
	uint32_t range;
	uint64_t next; /* 0: the start of the range */
};

static bool next_page(const struct walk *w, struct cursor *c, uint64_t *gpa, uint8_t *v)
{
	for (; c->range < w->l->nranges; c->range++, c->next = 0) {
		const struct range *r = &w->l->ranges[c->range];

		if (c->next < r->start)
			c->next = r->start;
		if (c->next < r->end) {
			*gpa = c->next;
			*v = page_value(w, *gpa);
			c->next += QMG_PAGE_SIZE;
			return true;
		}
	}
	return false;
}

/*
 * The good dumps are "hi up to page b, lo from b on" for some b.  Picks the
 * b with the fewest mismatches (the smallest on a tie), so that one stale
 * page is reported as itself rather than as a misplaced boundary.
 */
static void verify(const struct walk *w, struct qm_memcheck_result *res)
{
	uint8_t lo = w->l->passes & 0xff, hi = lo + 1, v;
	uint64_t cost = 0, best, best_at = 0, k = 0, gpa;
	struct cursor c = { 0 };

	while (next_page(w, &c, &gpa, &v))
		cost += v != lo;
	best = cost;
	for (c = (struct cursor){ 0 }; next_page(w, &c, &gpa, &v);) {
		cost += (v != hi) - (uint64_t)(v != lo);
		k++;
		if (cost < best) {
			best = cost;
			best_at = k;
		}
	}
	res->pages = k;
	res->bad_pages = best;
	res->ok = !best;
	k = 0;
	for (c = (struct cursor){ 0 }; next_page(w, &c, &gpa, &v); k++) {
		uint8_t want = k < best_at ? hi : lo;

		if (k == best_at && best_at && best_at < res->pages)
			res->boundary = gpa;
		if (v != want && !res->bad_addr) {
			res->bad_addr = gpa;
			res->expected = want;
			res->found = v;
		}
	}
}

int qm_memcheck_buffer(const uint8_t *ram, uint64_t len, struct qm_memcheck_result *res)
{
	struct layout l;
	struct walk w = { .ram = ram, .l = &l };
	int r;

	memset(res, 0, sizeof(*res));
	if (len < QMG_LAYOUT_ADDR + QMG_PAGE_SIZE)
		return say(res, -EINVAL, "a dump of %llu bytes is too short",
			   (unsigned long long)len);
	if (!parse_layout(ram + QMG_LAYOUT_ADDR, &l)) {
		res->bad_pages = 1;
		res->bad_addr = QMG_LAYOUT_ADDR;
		return say(res, 0,
			   "BAD: no valid layout page at 0x%x: lost, or not the qmigrate "
			   "test guest",
			   QMG_LAYOUT_ADDR);
	}
	res->passes = l.passes;
	res->ram_top = l.ram_top;
	r = check_ranges(&l, len, res);
	if (r < 0)
		return r;
	if (!l.passes)
		return say(res, -EINVAL, "the guest has not completed its first pass");
	w.low = low_size(&l, len);
	verify(&w, res);
	if (res->ok && res->boundary)
		return say(
		    res, 0,
		    "ok: %llu pages after %llu passes, pass %llu stopped at 0x%llx",
		    (unsigned long long)res->pages, (unsigned long long)res->passes,
		    (unsigned long long)res->passes + 1,
		    (unsigned long long)res->boundary);
	if (res->ok)
		return say(res, 0, "ok: %llu pages after %llu passes",
			   (unsigned long long)res->pages,
			   (unsigned long long)res->passes);
	return say(
	    res, 0,
	    "BAD: page 0x%llx holds 0x%02x, expected 0x%02x (%llu of %llu pages wrong, "
	    "%llu passes)",
	    (unsigned long long)res->bad_addr, res->found, res->expected,
	    (unsigned long long)res->bad_pages, (unsigned long long)res->pages,
	    (unsigned long long)res->passes);
}

int qm_memcheck_file(const char *path, uint64_t ram_bytes, struct qm_memcheck_result *res)
{
	struct stat st;
	void *map;
	int fd, r;

	memset(res, 0, sizeof(*res));
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return say(res, -errno, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) < 0) {
		r = say(res, -errno, "%s: %s", path, strerror(errno));
		goto out;
	}
	if (ram_bytes && (uint64_t)st.st_size != ram_bytes) {
		r = say(res, -EINVAL,
			"%s: %llu bytes, but the guest has %llu bytes of RAM%s", path,
			(unsigned long long)st.st_size, (unsigned long long)ram_bytes,
			(uint64_t)st.st_size < ram_bytes ? " (truncated dump)" : "");
		goto out;
	}
	if (st.st_size < QMG_LAYOUT_ADDR + QMG_PAGE_SIZE) {
		r = say(res, -EINVAL, "%s: a dump of %llu bytes is too short", path,
			(unsigned long long)st.st_size);
		goto out;
	}
	map = mmap(NULL, st.st_size, PROT_READ, MAP_PRIVATE, fd, 0);
	if (map == MAP_FAILED) {
		r = say(res, -errno, "%s: mmap: %s", path, strerror(errno));
		goto out;
	}
	r = qm_memcheck_buffer(map, st.st_size, res);
	munmap(map, st.st_size);
out:
	close(fd);
	return r;
}

int qm_memcheck_dump_ranges(const uint8_t *layout_page, uint64_t ram_bytes,
			    uint64_t start[2], uint64_t size[2])
{
	struct layout l;
	uint64_t low;

	if (!parse_layout(layout_page, &l))
		return -EINVAL;
	low = low_size(&l, ram_bytes);
	if (!low || low > GIB4)
		return -EINVAL;
	start[0] = 0;
	size[0] = low;
	if (l.ram_top <= GIB4)
		return 1;
	start[1] = GIB4;
	size[1] = l.ram_top - GIB4;
	return 2;
}
