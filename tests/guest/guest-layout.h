/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test guest's memory layout, shared by guest.S (through the assembler's
 * preprocessor, hence only #defines) and the checker, memcheck.c.
 *
 * Guest-physical memory below 1 MiB, which is never part of the pattern:
 *
 *   0x00000-0x004ff  real-mode IVT and BIOS data area (the BIOS's, untouched)
 *   0x01000-0x01fff  PML4
 *   0x02000-0x02fff  PDPT (64 entries used)
 *   0x03000-0x03bff  the BIOS E820 map as int 15h returned it (<= 128 x 24 bytes)
 *   0x04000-0x04fff  the layout page: what the guest increments, and how far
 *                    it got (QMG_OFF_* below); the checker reads it from the dump
 *   0x05000-0x07bff  stack (grows down from 0x7c00)
 *   0x07c00-0x07dff  boot sector (loaded by the BIOS)
 *   0x07e00-0x0fdff  the rest of the image (loaded by the boot sector, int 13h)
 *   0x10000-0x4ffff  64 page directories of 2 MiB pages: identity map of 0-64 GiB
 *   0x9fc00-0xfffff  EBDA, VGA hole, ROMs (the BIOS's)
 *
 * The pattern: every E820 "usable" page from 1 MiB up to the end of RAM,
 * except the last 1 MiB of the highest usable region and anything above
 * 64 GiB.  Pass 1 stores 1 into the byte at QMG_BYTE_OFFSET of every such
 * page, every later pass increments it (mod 256), in ascending address order;
 * then the guest counts the pass at QMG_OFF_PASSES and writes one '.' to COM1.
 * So after n complete passes every page holds n mod 256, and while pass n+1
 * runs, the pages below its cursor hold n+1.
 */
#ifndef QM_TESTS_GUEST_LAYOUT_H
#define QM_TESTS_GUEST_LAYOUT_H

#define QMG_PAGE_SIZE 0x1000
#define QMG_BYTE_OFFSET 0      /* the byte of each page the guest increments */
#define QMG_SKIP_LOW 0x100000  /* the pattern starts at 1 MiB */
#define QMG_SKIP_HIGH 0x100000 /* and spares the last 1 MiB of the highest region */
#define QMG_MAP_GIB 64	       /* identity-mapped, hence patterned, RAM */

#define QMG_PML4_ADDR 0x1000
#define QMG_PDPT_ADDR 0x2000
#define QMG_E820_ADDR 0x3000
#define QMG_E820_MAX 128
#define QMG_LAYOUT_ADDR 0x4000
#define QMG_STACK_TOP 0x7c00
#define QMG_PD_ADDR 0x10000

/*
 * The layout page, little-endian.  The checksum makes the 32-bit words of
 * bytes [0, 0x20) and of the ranges sum to zero; the pass counter, which
 * changes, is outside it.
 */
#define QMG_MAGIC "QMGUEST1" /* 8 bytes, no terminator in the page */
#define QMG_VERSION 1
#define QMG_OFF_MAGIC 0x00
#define QMG_OFF_VERSION 0x08  /* u32 */
#define QMG_OFF_NRANGES 0x0c  /* u32: how many ranges follow */
#define QMG_OFF_RAM_TOP 0x10  /* u64: end of the highest usable E820 region */
#define QMG_OFF_BYTE 0x18     /* u32: QMG_BYTE_OFFSET */
#define QMG_OFF_CHECKSUM 0x1c /* u32 */
#define QMG_OFF_PASSES 0x20   /* u64: passes completed */
#define QMG_OFF_DIRTY_RATE 0x28 /* u32: the dirty-rate cap in MiB/s, 0 for none */
#define QMG_OFF_RANGES 0x30   /* u64 start, u64 end (exclusive): sorted, disjoint */
#define QMG_MAX_RANGES 32

/*
 * The dirty-rate cap: QEMU's -fw_cfg name=QMG_FWCFG_DIRTY_RATE,string=N makes
 * every pass after the first increment at most N MiB of pages (4 KiB each)
 * per second, in chunks of QMG_PACE_PAGES pages.  Without it, or with 0, the
 * guest goes as fast as its CPU does.  Pass 1 is never paced.
 */
#define QMG_FWCFG_DIRTY_RATE "opt/org.qmigrate/dirty-rate"
#define QMG_PACE_PAGES 256

#endif
