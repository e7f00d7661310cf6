/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Two real QEMUs with the test guest, for migration tests: the source runs
 * the guest, the destination waits with -S -incoming defer.  Every check
 * that needs QMP opens its own short connection (a monitor serves one
 * client at a time, so the engine's must be closed by then).
 */
#ifndef QM_TESTS_PAIR_H
#define QM_TESTS_PAIR_H

#include <jansson.h>

#include "tests/helpers/qemu.h"

struct pair {
	struct tq_qemu src, dst;
	unsigned mib;
};

extern struct pair pair;

/* Starts both and waits until the guest has made two passes (bounded). */
void start_pair(unsigned mib);
/* Stops both QEMUs (a criterion .fini). */
void stop_pair(void);
/* One QMP command on a fresh connection; fails the test on an error. */
json_t *qmp_once(struct tq_qemu *vm, const char *cmd, json_t *args);
/* query-status's status, to free(). */
char *vm_status(struct tq_qemu *vm);
/* Stops @vm, dumps its RAM and checks the guest's invariant. */
void check_memory(struct tq_qemu *vm);
/* The guest keeps making passes on @vm (bounded wait). */
void assert_guest_runs(struct tq_qemu *vm);

#endif
