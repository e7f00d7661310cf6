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

#include "qmigrate.h"
#include "tests/helpers/qemu.h"

#define MIB (1024ULL * 1024)

struct pair {
	struct tq_qemu src, dst;
	unsigned mib;
	unsigned dirty_rate; /* the guest's cap, MiB/s; 0: as fast as its CPU goes */
	unsigned mode;	     /* the guest's modes (QMG_MODE_*), which the check expects */
	/*
	 * QEMU before 9.0 under TCG can lose writes to the hot set (a known QEMU
	 * bug: tests/guest/README, scripts/guest-pingpong): check_memory then
	 * reports a loss in the hot region loudly instead of failing.  Any other
	 * region must still be intact.
	 */
	bool hot_loss_is_qemus;
};

extern struct pair pair;

/*
 * The gentle guest: it dirties at most GENTLE MiB/s (tests/guest/guest-layout.h,
 * the dirty-rate cap), far less than any transport here sends even under TCG
 * on a loaded machine, so that an uncapped migration of it converges with
 * QEMU's default downtime limit whatever the accelerator.  Without the cap,
 * the guest re-dirties all its RAM 20-100 times a second under TCG, faster
 * than any stream: only a lever (a cap below the stream, pause, post-copy,
 * a downtime limit above the whole transfer) ends such a migration.
 */
#define GENTLE 64

/*
 * Starts both and waits until the guest has made its first pass (bounded):
 * the guest runs as fast as its CPU goes.
 */
void start_pair(unsigned mib);
/* The same with the guest's dirty rate capped at @dirty_rate MiB/s (0: none). */
void start_pair_paced(unsigned mib, unsigned dirty_rate);
/* The same with the guest's modes (QMG_MODE_*) on, both sides. */
void start_pair_mode(unsigned mib, unsigned dirty_rate, unsigned mode);
/* Stops both QEMUs (a criterion .fini). */
void stop_pair(void);
/* One QMP command on a fresh connection; fails the test on an error. */
json_t *qmp_once(struct tq_qemu *vm, const char *cmd, json_t *args);
/* query-status's status, to free(). */
char *vm_status(struct tq_qemu *vm);
/* Stops @vm, dumps its RAM and checks the guest's invariant on all of it. */
void check_memory(struct tq_qemu *vm);
/* The guest keeps making passes on @vm (bounded wait). */
void assert_guest_runs(struct tq_qemu *vm);
/*
 * Rolled back: the destination QEMU is gone, the source runs the guest and
 * keeps making passes, its memory intact.
 */
void assert_back_on_source(void);
/*
 * Moved: the source QEMU is gone, the destination holds the VM in
 * @want_status (and, running, keeps making passes), its memory intact.
 */
void assert_on_destination(const char *want_status);

/* A job run through the embedding API on the pair. */
struct run {
	/* Called once, on the first sample by which the tunnel carried act_at_tunnel_bytes. */
	void (*first_progress)(struct qm_job *job);
	unsigned long long act_at_tunnel_bytes;
	bool (*ready)(void); /* and, when set, on which this also holds */
	void (*phase)(struct qm_job *job, enum qm_phase phase); /* on entering each phase */
	bool acted, done;
	int progress;
	struct qm_result result;
	char policy[32], action[32]; /* the last decision */
	int decisions;
	unsigned long long tunnel_bytes; /* the last sample's */
};

/* Runs a job with @opts (the QMP paths are filled in, dst's unless launch_dest) until it ends. */
void run_job(struct qm_job_options *opts, struct run *r);
/* Completed on the destination, in @want_status, memory intact; no source left. */
void assert_completed(const struct run *r, const char *want_status);

#endif
