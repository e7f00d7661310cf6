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

struct region {
	uint64_t start;
	uint32_t bytes, kind;
};

struct layout {
	uint32_t nranges;
	uint64_t ram_top;
	uint64_t passes;
	uint32_t byte;
	struct range ranges[QMG_MAX_RANGES];
	uint32_t mode, nregions;
	struct region regions[QMG_MAX_REGIONS];
	uint32_t lost_kind;
	uint64_t lost_addr, lost_expected, lost_found;
	uint64_t disk_lba, disk_rounds;
	uint32_t disk_sectors, disk_stride;
	const uint8_t *page; /* the layout page itself, for the rounds counters */
};

/*
 * How each kind of region is written: the rounds counter it goes by, and
 * its units (@size bytes every @stride bytes).  A round R writes
 * unit_value(R + 1) over every unit in ascending order.
 */
static const struct kind {
	const char *name;
	unsigned counter; /* QMG_OFF_*_ROUNDS */
	unsigned stride, size;
} kinds[QMG_KIND_MAX + 1] = {
	[QMG_KIND_HOT] = { "hot", QMG_OFF_HOT_ROUNDS, QMG_PAGE_SIZE, 8 },
	[QMG_KIND_STOSQ] = { "stosq", QMG_OFF_STRING_ROUNDS, 8, 8 },
	[QMG_KIND_STOSB] = { "stosb", QMG_OFF_STRING_ROUNDS, 1, 1 },
	[QMG_KIND_MOVSQ] = { "movsq", QMG_OFF_STRING_ROUNDS, 8, 8 },
	[QMG_KIND_MOVSB] = { "movsb", QMG_OFF_STRING_ROUNDS, 1, 1 },
	[QMG_KIND_MOVDQA] = { "movdqa", QMG_OFF_SSE_ROUNDS, 8, 8 },
	[QMG_KIND_MOVUPS] = { "movups", QMG_OFF_SSE_ROUNDS, 8, 8 },
	[QMG_KIND_MOVNTDQ] = { "movntdq", QMG_OFF_SSE_ROUNDS, 8, 8 },
};

/* What round @r leaves in the unit at @gpa of a region of kind @kind. */
static uint64_t unit_value(uint32_t kind, uint64_t r, uint64_t gpa)
{
	switch (kind) {
	case QMG_KIND_STOSQ:
	case QMG_KIND_MOVSQ:
		return r * QMG_STRING_SPREAD;
	case QMG_KIND_STOSB:
		return r & 0xff;
	case QMG_KIND_MOVSB: /* a byte of the stosq region's quadwords */
		return r * QMG_STRING_SPREAD >> 8 * (gpa % 8) & 0xff;
	default:
		return r;
	}
}

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
	l->nregions = get32(page + QMG_OFF_NREGIONS);
	if (l->nregions > QMG_MAX_REGIONS)
		return false;
	for (unsigned o = QMG_OFF_MODE;
	     o < QMG_OFF_REGIONS + l->nregions * QMG_REGION_SIZE; o += 4)
		sum += get32(page + o);
	for (unsigned o = QMG_OFF_DISK_LBA; o < QMG_OFF_DISK_END; o += 4)
		sum += get32(page + o);
	if (sum)
		return false;
	l->disk_lba = get64(page + QMG_OFF_DISK_LBA);
	l->disk_sectors = get32(page + QMG_OFF_DISK_SECTORS);
	l->disk_stride = get32(page + QMG_OFF_DISK_STRIDE);
	l->disk_rounds = get64(page + QMG_OFF_DISK_ROUNDS);
	l->mode = get32(page + QMG_OFF_MODE);
	for (uint32_t i = 0; i < l->nregions; i++) {
		const uint8_t *r = page + QMG_OFF_REGIONS + QMG_REGION_SIZE * i;

		l->regions[i].start = get64(r);
		l->regions[i].bytes = get32(r + 8);
		l->regions[i].kind = get32(r + 12);
	}
	l->lost_kind = get32(page + QMG_OFF_LOST_KIND);
	l->lost_addr = get64(page + QMG_OFF_LOST_ADDR);
	l->lost_expected = get64(page + QMG_OFF_LOST_EXPECTED);
	l->lost_found = get64(page + QMG_OFF_LOST_FOUND);
	l->page = page;
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
	for (uint32_t i = 0; i < l->nregions; i++) {
		const struct region *r = &l->regions[i];

		if (!r->kind || r->kind > QMG_KIND_MAX || !r->bytes ||
		    r->bytes % kinds[r->kind].stride || r->start + r->bytes > low ||
		    r->start + r->bytes > GIB4)
			return say(res, -EINVAL, "region %u of the layout page is malformed",
				   i);
	}
	return 0;
}

/* A dump being checked: @low is where RAM above 4 GiB starts in it. */
struct walk {
	const uint8_t *ram;
	const struct layout *l;
	uint64_t low;
	const struct region *region; /* NULL: the sweep's pages */
	uint64_t rounds;	     /* the region's rounds counter */
};

static const uint8_t *at(const struct walk *w, uint64_t gpa)
{
	return w->ram + (gpa < GIB4 ? gpa : w->low + (gpa - GIB4));
}

/* One unit of a sequence: where it is, what it holds, and what it may hold. */
struct unit {
	uint64_t gpa;
	uint64_t found;
	uint64_t hi, lo; /* written by the round (or pass) in progress, by the one before */
};

/* Walks a sequence in the order the guest writes it. */
struct cursor {
	uint32_t range;
	uint64_t next; /* 0: the start */
};

/* The sweep: byte QMG_BYTE_OFFSET of every patterned page, ascending. */
static bool next_page(const struct walk *w, struct cursor *c, struct unit *u)
{
	for (; c->range < w->l->nranges; c->range++, c->next = 0) {
		const struct range *r = &w->l->ranges[c->range];

		if (c->next < r->start)
			c->next = r->start;
		if (c->next < r->end) {
			u->gpa = c->next;
			u->found = at(w, u->gpa)[w->l->byte];
			u->lo = w->l->passes & 0xff;
			u->hi = (u->lo + 1) & 0xff;
			c->next += QMG_PAGE_SIZE;
			return true;
		}
	}
	return false;
}

/* A mode's region: its units, ascending. */
static bool next_unit(const struct walk *w, struct cursor *c, struct unit *u)
{
	const struct region *r = w->region;
	const struct kind *k = &kinds[r->kind];

	if (c->next >= r->bytes)
		return false;
	u->gpa = r->start + c->next;
	u->found = k->size == 8 ? get64(at(w, u->gpa)) : *at(w, u->gpa);
	u->lo = unit_value(r->kind, w->rounds, u->gpa);
	u->hi = unit_value(r->kind, w->rounds + 1, u->gpa);
	c->next += k->stride;
	return true;
}

static bool next(const struct walk *w, struct cursor *c, struct unit *u)
{
	return w->region ? next_unit(w, c, u) : next_page(w, c, u);
}

/* The verdict on one sequence. */
struct verdict {
	uint64_t units, bad, boundary; /* boundary: the first unit not yet rewritten; 0: none */
	struct unit first_bad;
};

/*
 * The good sequences are "hi up to unit b, lo from b on" for some b.  Picks
 * the b with the fewest mismatches (the smallest on a tie), so that one
 * stale unit is reported as itself rather than as a misplaced boundary.
 */
static void verify(const struct walk *w, struct verdict *v)
{
	uint64_t cost = 0, best, best_at = 0, k = 0;
	struct cursor c = { 0 };
	struct unit u;

	memset(v, 0, sizeof(*v));
	while (next(w, &c, &u))
		cost += u.found != u.lo;
	best = cost;
	for (c = (struct cursor){ 0 }; next(w, &c, &u);) {
		cost += (u.found != u.hi) - (uint64_t)(u.found != u.lo);
		k++;
		if (cost < best) {
			best = cost;
			best_at = k;
		}
	}
	v->units = k;
	v->bad = best;
	k = 0;
	for (c = (struct cursor){ 0 }; next(w, &c, &u); k++) {
		uint64_t want = k < best_at ? u.hi : u.lo;

		if (k == best_at && best_at && best_at < v->units)
			v->boundary = u.gpa;
		if (u.found != want && !v->first_bad.gpa) {
			v->first_bad = u;
			v->first_bad.lo = want; /* what it should hold */
		}
	}
}

static const char *kind_name(uint32_t kind)
{
	if (kind == QMG_KIND_DISK)
		return "disk";
	return kind && kind <= QMG_KIND_MAX ? kinds[kind].name : "unknown";
}

static void set_region(struct qm_memcheck_result *res, const char *name)
{
	snprintf(res->region, sizeof(res->region), "%s", name);
}

/* The modes' regions, in the layout page's order; the first bad one in @res. */
static int verify_regions(struct walk *w, struct qm_memcheck_result *res)
{
	struct verdict v;

	for (uint32_t i = 0; i < w->l->nregions; i++) {
		const struct region *r = &w->l->regions[i];

		w->region = r;
		w->rounds = get64(w->l->page + kinds[r->kind].counter);
		verify(w, &v);
		res->regions++;
		if (!v.bad)
			continue;
		res->ok = false;
		res->bad_pages = v.bad;
		res->bad_addr = v.first_bad.gpa;
		res->expected = v.first_bad.lo;
		res->found = v.first_bad.found;
		set_region(res, kinds[r->kind].name);
		return say(res, 0,
			   "BAD: region %s, page 0x%llx: 0x%llx holds 0x%llx, expected 0x%llx "
			   "(%llu of %llu units wrong, %llu rounds)",
			   res->region, (unsigned long long)(res->bad_addr & ~(uint64_t)0xfff),
			   (unsigned long long)res->bad_addr,
			   (unsigned long long)res->found, (unsigned long long)res->expected,
			   (unsigned long long)v.bad, (unsigned long long)v.units,
			   (unsigned long long)w->rounds);
	}
	return 0;
}

/* The lost write the guest itself saw before it overwrote it, if any. */
static int guest_saw_lost_write(const struct layout *l, struct qm_memcheck_result *res)
{
	res->ok = false;
	res->bad_pages = 1;
	res->bad_addr = l->lost_addr;
	res->expected = l->lost_expected;
	res->found = l->lost_found;
	set_region(res, kind_name(l->lost_kind));
	if (l->lost_kind == QMG_KIND_DISK)
		return say(res, 0,
			   "BAD: the guest saw a lost disk write: sector %llu, byte 0x%llx of "
			   "the disk held 0x%llx, expected 0x%llx",
			   (unsigned long long)(l->lost_addr / QMG_SECTOR_SIZE),
			   (unsigned long long)l->lost_addr, (unsigned long long)l->lost_found,
			   (unsigned long long)l->lost_expected);
	return say(res, 0,
		   "BAD: the guest saw a lost write in region %s, page 0x%llx: 0x%llx held "
		   "0x%llx, expected 0x%llx",
		   res->region, (unsigned long long)(l->lost_addr & ~(uint64_t)0xfff),
		   (unsigned long long)l->lost_addr, (unsigned long long)l->lost_found,
		   (unsigned long long)l->lost_expected);
}

/* "hot+string+sse+disk" */
static void mode_names(uint32_t mode, char *buf, size_t size)
{
	static const char *const names[] = { "hot", "string", "sse", "disk" };
	size_t len = 0;

	buf[0] = '\0';
	for (unsigned i = 0; i < 4; i++)
		if (mode & 1u << i && len < size)
			len += snprintf(buf + len, size - len, "%s%s", len ? "+" : "",
					names[i]);
}

int qm_memcheck_buffer(const uint8_t *ram, uint64_t len, struct qm_memcheck_result *res)
{
	struct layout l;
	struct walk w = { .ram = ram, .l = &l };
	struct verdict v;
	char modes[32] = "", tail[96] = "";
	int r;

	memset(res, 0, sizeof(*res));
	if (len < QMG_LAYOUT_ADDR + QMG_PAGE_SIZE)
		return say(res, -EINVAL, "a dump of %llu bytes is too short",
			   (unsigned long long)len);
	if (!parse_layout(ram + QMG_LAYOUT_ADDR, &l)) {
		res->bad_pages = 1;
		res->bad_addr = QMG_LAYOUT_ADDR;
		set_region(res, "layout");
		return say(res, 0,
			   "BAD: no valid layout page at 0x%x: lost, or not the qmigrate "
			   "test guest",
			   QMG_LAYOUT_ADDR);
	}
	res->passes = l.passes;
	res->ram_top = l.ram_top;
	res->mode = l.mode;
	r = check_ranges(&l, len, res);
	if (r < 0)
		return r;
	if (l.lost_kind)
		return guest_saw_lost_write(&l, res);
	if (!l.passes)
		return say(res, -EINVAL, "the guest has not completed its first pass");
	w.low = low_size(&l, len);
	verify(&w, &v);
	res->pages = v.units;
	res->bad_pages = v.bad;
	res->boundary = v.boundary;
	res->ok = !v.bad;
	if (!res->ok) {
		res->bad_addr = v.first_bad.gpa;
		res->expected = v.first_bad.lo;
		res->found = v.first_bad.found;
		set_region(res, "sweep");
		return say(res, 0,
			   "BAD: page 0x%llx holds 0x%02llx, expected 0x%02llx (%llu of %llu "
			   "pages wrong, %llu passes)",
			   (unsigned long long)res->bad_addr, (unsigned long long)res->found,
			   (unsigned long long)res->expected,
			   (unsigned long long)res->bad_pages, (unsigned long long)res->pages,
			   (unsigned long long)res->passes);
	}
	r = verify_regions(&w, res);
	if (r < 0 || !res->ok)
		return r;
	if (l.mode) {
		mode_names(l.mode, modes, sizeof(modes));
		snprintf(tail, sizeof(tail), "; mode %s: %u regions intact", modes,
			 res->regions);
	}
	if (res->boundary)
		return say(
		    res, 0,
		    "ok: %llu pages after %llu passes, pass %llu stopped at 0x%llx%s",
		    (unsigned long long)res->pages, (unsigned long long)res->passes,
		    (unsigned long long)res->passes + 1,
		    (unsigned long long)res->boundary, tail);
	return say(res, 0, "ok: %llu pages after %llu passes%s",
		   (unsigned long long)res->pages, (unsigned long long)res->passes, tail);
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

int qm_memcheck_guest_disk(const uint8_t *ram, uint64_t len, struct qm_guest_disk *disk)
{
	struct layout l;

	memset(disk, 0, sizeof(*disk));
	if (len < QMG_LAYOUT_ADDR + QMG_PAGE_SIZE || !parse_layout(ram + QMG_LAYOUT_ADDR, &l))
		return -EINVAL;
	disk->mode = l.mode;
	disk->passes = l.passes;
	disk->lba = l.disk_lba;
	disk->sectors = l.disk_sectors;
	disk->stride = l.disk_stride;
	disk->rounds = l.disk_rounds;
	return l.mode & QMG_MODE_DISK ? 0 : -ENOENT;
}
