/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test guest's data disk, checked against its memory.
 *
 * In the disk mode (guest-layout.h, QMG_MODE_DISK) the guest rewrites a set
 * of records on its data disk after each pass (and while the dirty-rate cap
 * makes it wait), in ascending order, and counts the round in its layout
 * page once every write completed.  Given
 * the raw image and what the memory says (qm_memcheck_guest_disk() on a dump
 * taken at the same instant, the VM stopped), the image is good when every
 * record is whole (its magic, its own sector number, one round throughout)
 * and the records hold, in ascending order, rounds + 1 up to one boundary
 * (where the round in progress stopped) and rounds after it; and the rounds
 * are at least the passes minus one (a round runs after every pass).  So no
 * write the guest saw completed is missing, and none is from the future.
 */
#ifndef QM_TESTS_GUEST_DISKCHECK_H
#define QM_TESTS_GUEST_DISKCHECK_H

#include <stdbool.h>
#include <stdint.h>

#include "tests/guest/memcheck.h"

struct qm_diskcheck_result {
	bool ok;	   /* every record as the memory says */
	uint64_t records;  /* records looked at */
	uint64_t rounds;   /* disk rounds the memory says completed */
	uint64_t passes;   /* passes the memory says completed */
	uint64_t boundary; /* first record's sector the round in progress had not reached;
			      0: none */
	uint64_t bad;	   /* records that break the pattern (0 when ok) */
	uint64_t sector;   /* the first of them */
	uint64_t offset;   /* the byte of it that first differs */
	uint64_t expected; /* the quadword expected there */
	uint64_t found;	   /* and the one it holds */
	char message[320]; /* one line for people: the verdict, or why there is none */
};

/*
 * Checks the raw disk image @disk (@len bytes) against @guest.  Returns 0
 * when the check ran (@res->ok says good or bad), -EINVAL when it could
 * not (the image cannot hold the records, no round completed yet);
 * @res->message says why in every case.
 */
int qm_diskcheck_buffer(const uint8_t *disk, uint64_t len,
			const struct qm_guest_disk *guest,
			struct qm_diskcheck_result *res);

/*
 * Same for the raw image file @image and the memory dump file @dump of
 * @ram_bytes bytes (0: the file's size).  Returns as qm_diskcheck_buffer,
 * or a negative errno when a file cannot be read or is not what it should
 * be (a qcow2 image, a dump of a guest without the disk mode).
 */
int qm_diskcheck_files(const char *image, const char *dump, uint64_t ram_bytes,
		       struct qm_diskcheck_result *res);

/*
 * Same with only the rounds counter (the records where guest-layout.h puts
 * them; the passes unknown).
 */
int qm_diskcheck_file_rounds(const char *image, uint64_t rounds,
			     struct qm_diskcheck_result *res);

#endif
