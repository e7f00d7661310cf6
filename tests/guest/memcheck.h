/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test guest's invariant, checked on a dump of its RAM.
 *
 * A dump is guest RAM in QEMU's RAM order, from offset 0: guest-physical
 * [0, low) followed, when the guest has RAM above 4 GiB, by [4 GiB, ram_top),
 * where low = dump size - (ram_top - 4 GiB).  QMP "pmemsave" of a stopped
 * VM writes it: one command (val 0, size = RAM) when all RAM sits below 4 GiB,
 * else two whose files are concatenated (see tests/helpers/guest.c).
 *
 * The guest publishes in its layout page (guest-layout.h) which pages it
 * increments and how many passes it completed, n.  The dump is good when,
 * in ascending address order, the patterned pages hold n + 1 up to one
 * boundary (where the pass in progress stopped) and n from there on, mod 256;
 * either part may be empty.  Anything else means a page was lost.
 *
 * With modes on (QMG_MODE_* in guest-layout.h), the layout page also lists
 * the modes' regions, each checked the same way against its rounds counter,
 * unit by unit; and a lost write the guest itself saw makes the dump bad.
 */
#ifndef QM_TESTS_GUEST_MEMCHECK_H
#define QM_TESTS_GUEST_MEMCHECK_H

#include <stdbool.h>
#include <stdint.h>

struct qm_memcheck_result {
	bool ok;	    /* the invariant holds */
	uint64_t pages;	    /* patterned pages looked at */
	uint64_t passes;    /* passes the guest had completed */
	uint64_t ram_top;   /* end of the guest's highest usable RAM region */
	uint64_t boundary;  /* first page the pass in progress had not reached; 0: none */
	uint32_t mode;	    /* the guest's modes (QMG_MODE_*) */
	unsigned regions;   /* the modes' regions checked */
	/* the first region that breaks its pattern: "sweep", "layout", or a mode's ("hot", "stosq"...) */
	char region[16];
	uint64_t bad_pages; /* units (the sweep's: pages) in it that break the pattern (0 when ok) */
	uint64_t bad_addr;  /* the first of them, guest-physical */
	uint64_t expected;  /* its expected value */
	uint64_t found;	    /* and the value it holds */
	char message[256];  /* one line for people: the verdict, or why there is none */
};

/*
 * Checks the @len bytes at @ram, a dump as described above.  Returns 0 when
 * the check ran (@res->ok says good or bad: a lost page, or a layout page
 * that is not there), or -EINVAL when it could not (the dump does not match
 * the layout, the guest has not finished its first pass); @res->message
 * says why in every case.
 */
int qm_memcheck_buffer(const uint8_t *ram, uint64_t len, struct qm_memcheck_result *res);

/*
 * Same for the dump file at @path.  @ram_bytes is the guest's RAM size: the
 * file must hold exactly that many bytes (0: take the file's size).  Returns
 * as qm_memcheck_buffer, or a negative errno when the file cannot be read.
 */
int qm_memcheck_file(const char *path, uint64_t ram_bytes,
		     struct qm_memcheck_result *res);

/*
 * How to dump: given the guest's layout page (QMG_PAGE_SIZE bytes read from
 * guest-physical QMG_LAYOUT_ADDR) and its RAM size, fills the guest-physical
 * ranges to save, in dump order: @start[i], @size[i] for i < the return value
 * (1 or 2).  Returns -EINVAL when the page is not a valid layout page or does
 * not fit @ram_bytes.
 */
int qm_memcheck_dump_ranges(const uint8_t *layout_page, uint64_t ram_bytes,
			    uint64_t start[2], uint64_t size[2]);

/* What the guest's layout page says of its disk mode (guest-layout.h). */
struct qm_guest_disk {
	uint32_t mode;	  /* the guest's modes (QMG_MODE_*) */
	uint64_t passes;  /* passes completed */
	uint64_t lba;	  /* the first record's sector */
	uint32_t sectors; /* records */
	uint32_t stride;  /* sectors from one record to the next */
	uint64_t rounds;  /* disk rounds completed */
};

/*
 * Reads the disk mode's fields from the layout page of the dump @ram (@len
 * bytes).  Returns 0, -EINVAL when there is no valid layout page, -ENOENT
 * when the guest's disk mode is off.
 */
int qm_memcheck_guest_disk(const uint8_t *ram, uint64_t len, struct qm_guest_disk *disk);

#endif
