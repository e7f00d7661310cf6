/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A source QEMU running the test guest and a destination waiting for it
 * (-incoming defer), for the tests that migrate between them.  Every helper
 * fails the current criterion test on error.
 */
#ifndef QM_TESTS_MIGRATE_PAIR_H
#define QM_TESTS_MIGRATE_PAIR_H

#include <jansson.h>

#include "tests/helpers/qemu.h"

struct pair {
	struct tq_qemu src, dst;
	unsigned mib;
};

/* The pair under test: one per test process, as criterion runs one test per process. */
extern struct pair pair;

/* Starts both QEMUs with @mib MiB; returns once the guest made two full passes. */
void start_pair(unsigned mib);
/* Stops both QEMUs (a suite's .fini). */
void stop_pair(void);
/* One QMP command on @vm, on a private loop; returns "return" (a new reference). */
json_t *qmp_once(struct tq_qemu *vm, const char *cmd, json_t *args);
/* query-status's "status" of @vm, to free. */
char *vm_status(struct tq_qemu *vm);
/* Stops @vm, saves its RAM and checks the guest's invariant. */
void check_memory(struct tq_qemu *vm);
/* The guest keeps making passes on @vm (bounded wait). */
void assert_guest_runs(struct tq_qemu *vm);

#endif
