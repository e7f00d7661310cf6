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
 * With a mode on (QMG_MODE_* below), [1 MiB, 4 MiB) leaves the pattern and
 * [2 MiB, 4 MiB), 2 MiB-aligned so that the host may back it with a huge
 * page, holds the modes' regions.
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
 * bytes [0, 0x20), of the ranges, and of the mode block (mode, region count
 * and regions) sum to zero; the counters, which change, are outside it.
 */
#define QMG_MAGIC "QMGUEST1" /* 8 bytes, no terminator in the page */
#define QMG_VERSION 2
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
#define QMG_OFF_MODE 0x230     /* u32: the modes that run (QMG_MODE_*) */
#define QMG_OFF_NREGIONS 0x234 /* u32: how many regions follow */
#define QMG_OFF_REGIONS 0x238  /* u64 start, u32 bytes, u32 kind (QMG_KIND_*) */
#define QMG_MAX_REGIONS 8
#define QMG_REGION_SIZE 16
/* Rounds completed, one counter for each mode (u64) */
#define QMG_OFF_HOT_ROUNDS 0x2c0
#define QMG_OFF_STRING_ROUNDS 0x2c8
#define QMG_OFF_SSE_ROUNDS 0x2d0
/*
 * A lost write the guest saw itself, before it overwrote it: the region's
 * kind (0: none), the address, what it expected and what it found.  The
 * guest then prints it on COM1 and halts.
 */
#define QMG_OFF_LOST_KIND 0x2e0 /* u32 */
#define QMG_OFF_LOST_ADDR 0x2e8 /* u64 */
#define QMG_OFF_LOST_EXPECTED 0x2f0 /* u64 */
#define QMG_OFF_LOST_FOUND 0x2f8 /* u64 */
/*
 * The disk mode (QMG_MODE_DISK): where its records are on the data disk,
 * zero without it (in the checksum), and the rounds it completed (not).
 */
#define QMG_OFF_DISK_LBA 0x300	   /* u64: the first record's sector */
#define QMG_OFF_DISK_SECTORS 0x308 /* u32: how many records */
#define QMG_OFF_DISK_STRIDE 0x30c  /* u32: sectors from one record to the next */
#define QMG_OFF_DISK_END 0x310	   /* end of the checksummed disk block */
#define QMG_OFF_DISK_ROUNDS 0x310  /* u64: disk rounds completed */

/*
 * The dirty-rate cap: QEMU's -fw_cfg name=QMG_FWCFG_DIRTY_RATE,string=N makes
 * every pass after the first increment at most N MiB of pages (4 KiB each)
 * per second, in chunks of QMG_PACE_PAGES pages.  Without it, or with 0, the
 * guest goes as fast as its CPU does.  Pass 1 is never paced.
 */
#define QMG_FWCFG_DIRTY_RATE "opt/org.qmigrate/dirty-rate"
#define QMG_PACE_PAGES 256

/*
 * Modes: QEMU's -fw_cfg name=QMG_FWCFG_MODE,string=N, N the decimal sum of
 * the flags.  Without it, or with 0, the guest only sweeps.  Each mode runs
 * rounds over its regions, between chunks of QMG_MODE_PAGES swept pages
 * (and, for the hot set, while the dirty-rate cap makes the guest wait);
 * a round writes round + 1 (the round's count in the layout page, plus one;
 * string: times QMG_STRING_SPREAD) over every unit of its regions in
 * ascending address order, then counts the round.  So a dump shows each region holding, unit by unit, the count
 * plus one up to one boundary and the count after it.  Before it overwrites
 * a region, the guest checks that it holds the count (the hot set: its last
 * page; QMG_OFF_LOST_*): a write lost by a migration and overwritten since
 * is caught too.  The hot set increments in place, so a lost write there
 * stays lost.
 *
 *   hot     QMG_HOT_PAGES pages, a u64 at offset 0 of each, incremented
 *           (incq) QMG_HOT_ROUNDS rounds in a row: the same few TLB entries
 *   string  rep stosq of (round + 1) * QMG_STRING_SPREAD (so that every byte
 *           changes every round), rep stosb of its low byte, then rep movsq
 *           and rep movsb copies of the stosq region (units of 1 byte for
 *           stosb and movsb, of 8 for stosq and movsq)
 *   sse     movdqa, movups (16-byte stores at 8 mod 16, across page
 *           boundaries), movntdq then sfence; units of 8 bytes
 */
#define QMG_FWCFG_MODE "opt/org.qmigrate/mode"
#define QMG_MODE_HOT 1
#define QMG_MODE_STRING 2
#define QMG_MODE_SSE 4
#define QMG_MODE_ALL 7 /* the memory modes */
#define QMG_MODE_DISK 8
#define QMG_MODE_VALID (QMG_MODE_ALL | QMG_MODE_DISK)
#define QMG_MODE_PAGES 2048 /* swept pages between two rounds of each mode */
#define QMG_HOT_ROUNDS 16   /* hot rounds in a row */
#define QMG_STRING_SPREAD 0x0101010101010101

#define QMG_MODE_AREA 0x200000 /* the regions: [2 MiB, 4 MiB); the pattern then starts at 4 MiB */
#define QMG_MODE_AREA_END 0x400000
#define QMG_HOT_PAGES 64
#define QMG_HOT_ADDR 0x200000
#define QMG_STRING_BYTES 0x4000 /* each string and SSE region */
#define QMG_STOSQ_ADDR 0x240000
#define QMG_STOSB_ADDR 0x244000
#define QMG_MOVSQ_ADDR 0x248000
#define QMG_MOVSB_ADDR 0x24c000
#define QMG_MOVDQA_ADDR 0x250000
#define QMG_MOVUPS_ADDR 0x254008 /* 8 mod 16, QMG_STRING_BYTES - 16 bytes */
#define QMG_MOVNTDQ_ADDR 0x258000

/* Region kinds, as the layout page names them */
#define QMG_KIND_HOT 1
#define QMG_KIND_STOSQ 2
#define QMG_KIND_STOSB 3
#define QMG_KIND_MOVSQ 4
#define QMG_KIND_MOVSB 5
#define QMG_KIND_MOVDQA 6
#define QMG_KIND_MOVUPS 7
#define QMG_KIND_MOVNTDQ 8
#define QMG_KIND_MAX 8
#define QMG_KIND_DISK 9 /* not a region: a lost disk write (QMG_OFF_LOST_*) */

/*
 * The disk mode: -fw_cfg name=QMG_FWCFG_MODE with QMG_MODE_DISK set, and a
 * data disk at the pc's primary IDE slave (hdb; the legacy ports 0x1f0, so
 * not q35's AHCI) of at least QMG_DISK_MIN_BYTES.  The guest runs disk
 * rounds: for each of QMG_DISK_SECTORS records, QMG_DISK_STRIDE sectors apart
 * from QMG_DISK_LBA, in ascending order, it reads the sector back by ATA PIO
 * and checks that it holds the record of round R (the disk rounds counter;
 * round 1 does not check: the disk starts with anything), then writes the
 * record of round R + 1 and waits until the write completed.  After the last
 * record, it counts the round at QMG_OFF_DISK_ROUNDS.  It writes one record
 * each time the dirty-rate cap makes it wait, and after each pass (once it
 * is counted, before its '.') it finishes the round.  So the disk holds R + 1
 * up to one boundary and R after it, and R >= passes - 1 (the round that
 * ends the last pass may be running).  A record (512 bytes, little-endian): QMG_DISK_MAGIC, the u64
 * sector number, then the u64 round in each of the 62 quadwords left.
 *
 * A mismatch is a lost write: kind QMG_KIND_DISK, the byte offset on the
 * disk of the first wrong quadword, expected and found (QMG_OFF_LOST_*).
 */
#define QMG_DISK_MAGIC "QMGDISK1" /* 8 bytes */
#define QMG_DISK_LBA 8
#define QMG_DISK_SECTORS 16
#define QMG_DISK_STRIDE 1024 /* 512 KiB: the records land in different clusters */
#define QMG_DISK_MIN_BYTES ((QMG_DISK_LBA + (QMG_DISK_SECTORS - 1) * QMG_DISK_STRIDE + 1) * 512)
#define QMG_SECTOR_SIZE 512

#endif
