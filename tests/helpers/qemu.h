/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Real QEMU for integration tests: started with an argv (never a shell),
 * tracked by pid, killed by pid, every wait bounded.  Each instance gets a
 * private 0700 directory for its QMP socket, serial log and dumps.
 */
#ifndef QM_TESTS_QEMU_H
#define QM_TESTS_QEMU_H

#include <stdbool.h>
#include <sys/types.h>

struct tq_qemu_opts {
	const char *machine;	/* default "none"; "pc" or "q35" to run a guest */
	unsigned mem_mib;	/* -m, when nonzero */
	/*
	 * Raw disk image to boot from, or NULL.  IDE cannot attach a read-only
	 * drive, so it is opened with snapshot=on: QEMU only reads it (two QEMUs
	 * may share it) and the guest's writes go to a throwaway overlay.
	 */
	const char *boot_image;
	bool paused;		/* -S */
	bool incoming_defer;	/* -incoming defer */
	bool second_qmp;	/* a second QMP monitor at qmp2_path, for an observer */
	const char *const *extra_args; /* NULL-terminated, appended last */
	const char *accel;	       /* "kvm" or "tcg"; NULL: tq_accel() */
	/* The test guest's dirty-rate cap in MiB/s (tests/guest/guest-layout.h); 0: none */
	unsigned dirty_rate;
	/* The test guest's modes (QMG_MODE_* in tests/guest/guest-layout.h); 0: none */
	unsigned guest_mode;
};

struct tq_qemu {
	pid_t pid;
	char dir[128];	       /* private 0700 directory, removed by tq_qemu_stop */
	char qmp_path[192];    /* the QMP socket (server) */
	char qmp2_path[192];   /* the second QMP socket, with opts->second_qmp */
	char serial_path[192]; /* guest serial output, as a file */
	int exit_status;       /* after it was reaped: the wait status */
};

/*
 * The accelerator tests use, "kvm" or "tcg", as scripts/accel prints it
 * (QMIGRATE_TEST_ACCEL=tcg|kvm forces one); said once on stderr.  NULL, with
 * the script's message on stderr, when it fails (kvm forced but not usable):
 * tq_qemu_start() then fails.
 */
const char *tq_accel(void);
/* True when tq_accel() is "kvm". */
bool tq_kvm_usable(void);

/*
 * Starts QEMU and waits (at most 20 s) until its QMP socket exists.
 * Returns 0, or a negative errno with a message on stderr.
 */
int tq_qemu_start(struct tq_qemu *vm, const struct tq_qemu_opts *opts);
/* Waits at most @timeout seconds for the process to exit; 0 once reaped, -ETIMEDOUT. */
int tq_qemu_wait_exit(struct tq_qemu *vm, double timeout);
/* True while the process has not exited (reaps it when it has). */
bool tq_qemu_alive(struct tq_qemu *vm);
/* SIGTERM, a bounded wait, then SIGKILL; removes the directory.  Safe to repeat. */
void tq_qemu_stop(struct tq_qemu *vm);
/* Sends @sig to the QEMU process by its pid. */
int tq_qemu_kill(struct tq_qemu *vm, int sig);
/*
 * SIGSTOP, then waits at most @timeout seconds until every thread has
 * stopped (a stopped QEMU reacts to nothing).  0, -ECHILD if it exited
 * instead, -ETIMEDOUT.  tq_qemu_stop() ends a frozen QEMU too.
 */
int tq_qemu_freeze(struct tq_qemu *vm, double timeout);
/* SIGCONT. */
int tq_qemu_thaw(struct tq_qemu *vm);

#endif
