/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Runs a job that launches its destination (launch_dest) without QEMU: the
 * description's emulator is tests/helpers/fake-emulator, which relays its
 * QMP socket to a scripted fake QMP server (-qmp-relay) and writes its pid
 * (-write-pid).  For test-dest-launch.c and test-engine-storage.c.
 */
#ifndef QM_TESTS_LAUNCH_RUN_H
#define QM_TESTS_LAUNCH_RUN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "tests/helpers/engine-harness.h"

extern char parent[64]; /* the runtime parent: empty again at the end */
extern char work[64];	/* the fake servers' sockets, pid files, scripts */

/* A criterion .init and .fini: make both directories; empty and remove them. */
void dl_setup(void);
void dl_teardown(void);
void work_path(char *buf, size_t size, const char *name);
const char *fake_emulator(void);
/* A description run by @emulator, with @devices and @args (<qemu:arg>s); free() it. */
char *domain(const char *emulator, const char *devices, const char *args);
/* The fake emulator relaying to work/dst; its pid in work/pid, its argv in work/argv. */
char *relayed_domain(const char *devices);
pid_t launched_pid(void);
/* Gone for good: the job reaped its child, so not even a zombie remains. */
void assert_gone(pid_t pid);

struct lrun {
	struct qm_job_options opts;
	struct qm_result result;
	bool done;
	bool alive_at_done; /* the launched destination, by result.dst_pid */
	/* the first progress sample with status "mirror" (storage), and how many came */
	struct qm_progress mirror;
	int n_mirror;
	/*
	 * What the test does once the destination connected and its script
	 * WAITs; ACT_RESUME_BOTH: once both scripts WAIT, resumes both;
	 * ACT_CANCEL_BOTH: the same after a cancel.
	 */
	enum {
		ACT_NONE,
		ACT_CANCEL,
		ACT_UNREF,
		ACT_RESUME_BOTH,
		ACT_CANCEL_BOTH
	} on_wait;
	char log[32768];
	size_t log_len;
};

/* Runs a launch_dest job of @xml against the scripts (NULL: no server at that path). */
void run_launch(struct lrun *run, const char *xml, const struct fq_step *src_script,
		const struct fq_step *dst_script);

/* The caller's part after success: stop it by pid, reap it, remove its directory. */
struct qm_result;
void stop_handed_over(const struct qm_result *r);

/* Begin, then confirm finds the VM still running on the source. */
#define SRC_STAYS SRC_BEGIN, FQ_EXPECT("query-status", 5), R(5, RUNNING), FQ_END

#endif
