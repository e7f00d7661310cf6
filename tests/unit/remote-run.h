/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The runner of test-remote.c and test-remote-qmp-log.c: a migration
 * between hosts (engine/dest-remote.c) whose agent is
 * tests/helpers/fake-agent, started through --dest exec: and scripted by its
 * arguments, with a scripted fake QMP server as the source QEMU, and what
 * the cases check of it.  The runner itself checks that the agent's process
 * was reaped: no child of this process is left, not even a zombie.
 */
#ifndef QM_TESTS_REMOTE_RUN_H
#define QM_TESTS_REMOTE_RUN_H

#include <stdbool.h>
#include <stddef.h>

#include "engine/job.h"
#include "tests/helpers/engine-harness.h"
#include "tests/helpers/fake-agent.h"

#define SRC_HOST_UUID "0b5d5c1e-2f3a-4b4c-8d5e-6f708192a3b4"
#define AGENT_MIGRATE_URI "tcp:127.0.0.1:4444"
#define CAPS_ALL                                                                         \
	"[{\"state\": false, \"capability\": \"events\"},"                               \
	" {\"state\": false, \"capability\": \"postcopy-ram\"},"                         \
	" {\"state\": false, \"capability\": \"multifd\"}]"

struct rrun {
	/* the test's options; the runner adds the source, the agent and the bounds */
	struct qm_job_options opts;
	const char *agent;	/* the fake agent's arguments */
	const char *uri;	/* or this --dest instead of the fake agent */
	bool kill_at_wait;	/* SIGKILL for the agent when the source's script WAITs */
	bool cancel_on_prepare; /* qm_job_cancel once the agent recorded prepare */
	bool hello_in_prepare;	/* SIGUSR1 for the agent (--hello-on-signal) in prepare */
	bool cancel_as_prepare_begins; /* qm_job_cancel in the phase callback */
	enum qm_phase phase;
	struct qm_job *job;
	struct qm_result result;
	bool done;
	char record[8192]; /* what the agent received, a line a message */
	char warnings[4096]; /* what the job warned of, a line each */
	long agent_pid;	   /* from its pid file; 0 when it wrote none */
};

/* The suite's init and fini: a private work directory, empty again at the end. */
void remote_setup(void);
void remote_teardown(void);
/* @name in the work directory (the source's socket, the agent's files). */
void work_path(char *buf, size_t size, const char *name);
/* Runs @run's job to its end against the source's script; the agent reaped. */
void run_remote(struct rrun *run, const struct fq_step *src_script);

/* The record holds a line that is @line, or with @prefix_only one that starts with it. */
bool recorded(const struct rrun *run, const char *line, bool prefix_only);
/* The agent received a message of @type ("prepare", "finish"...). */
bool received(const struct rrun *run, const char *type);
/* The job failed with @error_class, and @piece is in its message. */
void expect_failure(const struct rrun *run, const char *error_class, const char *piece);
/* Nothing changed anywhere: the VM runs on the source as it did. */
void expect_untouched(const struct rrun *run);

/* Confirm locates the VM on a source that still runs. */
#define SRC_LOCATED(slot) FQ_EXPECT("query-status", slot), R(slot, RUNNING)
/* Begin, and confirm finds the source as it was: nothing else reaches it. */
#define SRC_UNTOUCHED SRC_BEGIN, SRC_LOCATED(5), FQ_END
/* Perform up to the migrate command, which goes where the agent's cookie says. */
#define SRC_MIGRATE_TO_AGENT                                                             \
	FQ_EXPECT("migrate-set-capabilities", 0),                                        \
		FQ_EXPECT("migrate-set-parameters", 1), R(0, "{}"), R(1, "{}"),          \
		{ .op = FQ_OP_EXPECT,                                                    \
		  .name = "migrate",                                                     \
		  .slot = 2,                                                             \
		  .args = "{\"uri\": \"" AGENT_MIGRATE_URI "\"}" },                      \
		R(2, "{}")

#endif
