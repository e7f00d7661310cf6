/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test guest (tests/guest/) in a real QEMU: where its image is, how many
 * passes its serial port reported, and its RAM saved for qm_memcheck_file().
 */
#ifndef QM_TESTS_GUEST_H
#define QM_TESTS_GUEST_H

#include <stdbool.h>
#include <stddef.h>

#include "tests/helpers/qemu.h"

struct qm_qmp;

/* $top_builddir/tests/guest/guest.img, or the build tree's when unset. */
const char *tg_guest_image(void);

/*
 * Passes completed according to the serial output: the '.' after the banner
 * line.  -EAGAIN while the banner is incomplete; -EPROTO when anything else
 * follows it (the guest rebooted or printed an error); -errno when unreadable.
 */
long tg_guest_passes(const struct tq_qemu *vm);

/*
 * The guest's "qm-guest: lost write: ..." line (tests/guest/README: it saw
 * a region it was about to overwrite hold a wrong value, and halted), in
 * @line; false when there is none.
 */
bool tg_guest_lost_write(const struct tq_qemu *vm, char *line, size_t size);

/*
 * Waits at most @timeout seconds for @n passes.  Returns the passes seen, or
 * -ETIMEDOUT, -EPROTO, -ECHILD (QEMU exited), with a message on stderr.
 */
long tg_guest_wait_passes(struct tq_qemu *vm, long n, double timeout);

/*
 * Saves the RAM (@ram_mib, QEMU's -m) of a stopped guest into @path, in the
 * order qm_memcheck_file() reads: guest-physical [0, low), then [4 GiB, top)
 * when there is RAM above 4 GiB, where the guest's layout page tells top.
 * Returns 0, or a negative errno with a message on stderr.
 */
int tg_guest_dump(struct qm_qmp *qmp, unsigned ram_mib, const char *path);

#endif
