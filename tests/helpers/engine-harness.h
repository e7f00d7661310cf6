/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The migration job's phases against two scripted fake QMP servers, one per
 * side: script pieces recorded from QEMU and a runner.  Polling is switched
 * off (a huge interval) so that only the scripted MIGRATION events drive the
 * monitor and every script is deterministic.
 */
#ifndef QM_TESTS_ENGINE_HARNESS_H
#define QM_TESTS_ENGINE_HARNESS_H

#include <sys/stat.h>

#include "qmigrate.h"

struct qm_peer_qmp_log;
#include "tests/helpers/fake-qmp.h"

#define R(slot, json) FQ_REPLY_TEXT(slot, "{\"return\": " json "}")
#define EVENT(name, data)                                                                  \
	FQ_SEND_TEXT("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 2}, \"event\": \"" name \
		     "\", \"data\": " data "}")
#define STATUS(s) "{\"status\": \"" s "\", \"singlestep\": false, \"running\": false}"
#define RUNNING "{\"status\": \"running\", \"singlestep\": false, \"running\": true}"
#define UUID "4c6f7e2a-1b3d-4e5f-8a9b-0c1d2e3f4a5b"
#define CAPS "[{\"state\": false, \"capability\": \"events\"}," \
	" {\"state\": false, \"capability\": \"postcopy-ram\"}]"
#define COMPLETED                                                                          \
	"{\"status\": \"completed\", \"setup-time\": 3, \"downtime\": 17, \"total-time\": 1234," \
	" \"ram\": {\"transferred\": 268435456, \"remaining\": 0, \"total\": 268435456,"       \
	" \"dirty-sync-count\": 4, \"mbps\": 1000}}"
#define ACTIVE                                                                             \
	"{\"status\": \"active\", \"total-time\": 10, \"expected-downtime\": 300,"             \
	" \"ram\": {\"transferred\": 1000, \"remaining\": 3000, \"total\": 4000,"              \
	" \"dirty-sync-count\": 1, \"mbps\": 800}}"

/* qom-get of the machine's QOM type, as the prechecks ask on both sides. */
#define EXPECT_MACHINE_TYPE(s)                                                             \
	{ .op = FQ_OP_EXPECT,                                                              \
	  .name = "qom-get",                                                               \
	  .slot = (s),                                                                     \
	  .args = "{\"path\": \"/machine\", \"property\": \"type\"}" }
#define KVM_OFF "{\"enabled\": false, \"present\": true}"
#define KVM_ON "{\"enabled\": true, \"present\": true}"
#define NIL_UUID "{\"UUID\": \"00000000-0000-0000-0000-000000000000\"}"

/* Begin's queries on the source, in the order the engine sends them. */
#define SRC_QUERIES                                                                        \
	FQ_HANDSHAKE, FQ_EXPECT("query-status", 0), FQ_EXPECT("query-migrate", 1),          \
		FQ_EXPECT("query-name", 2), FQ_EXPECT("query-uuid", 3),                   \
		FQ_EXPECT("query-migrate-capabilities", 4), FQ_EXPECT("query-target", 5),   \
		FQ_EXPECT("query-kvm", 6), EXPECT_MACHINE_TYPE(7)
/* The VM vm1, with a uuid, in run state @status; query-migrate gives @migrate. */
#define SRC_ANSWERS(status, migrate, caps)                                                 \
	R(0, status), R(1, migrate), R(2, "{\"name\": \"vm1\"}"),                           \
		R(3, "{\"UUID\": \"" UUID "\"}"), R(4, caps)
/* The source's facts as recorded: x86_64, TCG, -machine none. */
#define SRC_FACTS                                                                          \
	FQ_REPLY_FILE(5, "query-target.json"), FQ_REPLY_FILE(6, "query-kvm.json"),        \
		FQ_REPLY_FILE(7, "qom-get-machine-type.json")
/* Begin on the source: the VM runs, is named vm1 and has a uuid. */
#define SRC_BEGIN SRC_QUERIES, SRC_ANSWERS(RUNNING, "{}", CAPS), SRC_FACTS
/* Begin with the source offering the capabilities @caps (a JSON array). */
#define SRC_BEGIN_WITH_CAPS(caps) SRC_QUERIES, SRC_ANSWERS(RUNNING, "{}", caps), SRC_FACTS

/* Prepare's queries on the destination, in the order the engine sends them. */
#define DST_QUERIES FQ_HANDSHAKE, DST_QUERY_STEPS
/* The same once connected (a launched destination answers a probe first). */
#define DST_QUERY_STEPS                                                                    \
	FQ_EXPECT("query-status", 0), FQ_EXPECT("query-name", 1), FQ_EXPECT("query-uuid", 2), \
		FQ_EXPECT("query-migrate-capabilities", 10), FQ_EXPECT("query-target", 5),  \
		FQ_EXPECT("query-kvm", 6), EXPECT_MACHINE_TYPE(7),                        \
		FQ_EXPECT("query-machines", 8), FQ_EXPECT("query-spice", 12),              \
		FQ_EXPECT("query-vnc", 13)
/* A destination in run state @status, with query-name @name and query-uuid @uuid. */
#define DST_ANSWERS(status, name, uuid) R(0, status), R(1, name), R(2, uuid), R(10, CAPS)
/*
 * The destination's facts as recorded: the source's, every machine type of
 * QEMU 7.2, and no display.
 */
#define DST_FACTS                                                                          \
	FQ_REPLY_FILE(5, "query-target.json"), FQ_REPLY_FILE(6, "query-kvm.json"),        \
		FQ_REPLY_FILE(7, "qom-get-machine-type.json"),                            \
		FQ_REPLY_FILE(8, "query-machines.json"), DST_NO_DISPLAY
/* query-spice and query-vnc of a QEMU without either display. */
#define DST_NO_DISPLAY                                                                     \
	FQ_REPLY_FILE(12, "query-spice-off.json"), FQ_REPLY_FILE(13, "query-vnc-off.json")
/* Prepare on the destination: a QEMU waiting with -incoming defer, no name or uuid. */
#define DST_CHECKS DST_QUERIES, DST_ANSWERS(STATUS("inmigrate"), "{}", NIL_UUID), DST_FACTS
/* After the checks: the destination starts listening. */
#define DST_INCOMING                                                                       \
	FQ_EXPECT("migrate-set-capabilities", 3), FQ_EXPECT("migrate-incoming", 4),        \
		R(3, "{}"), R(4, "{}")
#define DST_PREPARE DST_CHECKS, DST_INCOMING
/* Finish on a destination that completed: it is resumed. */
#define DST_RESUMES                                                                        \
	FQ_EXPECT("query-status", 5), FQ_EXPECT("query-migrate", 6), R(5, STATUS("paused")), \
		R(6, "{\"status\": \"completed\"}"), FQ_EXPECT("cont", 7),                \
		FQ_EXPECT("query-status", 8), R(7, "{}"), R(8, RUNNING)
/* Perform on the source up to the migrate command. */
/* Without --bandwidth the stream is not capped: QEMU's own 128 MiB/s default is lifted. */
#define SRC_MIGRATE                                                                        \
	FQ_EXPECT("migrate-set-capabilities", 0),                                          \
		{ .op = FQ_OP_EXPECT,                                                      \
		  .name = "migrate-set-parameters",                                        \
		  .slot = 1,                                                               \
		  .args = "{\"max-bandwidth\": 9223372036853727232}" },                     \
		R(0, "{}"), R(1, "{}"), FQ_EXPECT("migrate", 2), R(2, "{}")
/* The first sample shows an active migration; the test cancels on it. */
#define SRC_ACTIVE_THEN_CANCEL                                                             \
	EVENT("MIGRATION", "{\"status\": \"active\"}"), FQ_EXPECT("query-migrate", 3),       \
		R(3, ACTIVE), FQ_EXPECT("migrate_cancel", 4), R(4, "{}")
#define QUIT_AND_GO(slot) FQ_EXPECT("quit", slot), R(slot, "{}"), FQ_HANGUP
/* After SRC_MIGRATE: the migration completed, and the source is quit. */
#define SRC_COMPLETES                                                                      \
	EVENT("MIGRATION", "{\"status\": \"completed\"}"), FQ_EXPECT("query-migrate", 3),  \
		R(3, COMPLETED), QUIT_AND_GO(4)

/* getfd with a pipe, checked to be one, for the fd: URI below. */
#define GETFD_PIPE(s)                                                                   \
	{ .op = FQ_OP_EXPECT,                                                              \
	  .name = "getfd",                                                                 \
	  .slot = (s),                                                                     \
	  .args = "{\"fdname\": \"qmigrate-tunnel\"}",                                      \
	  .fd = true,                                                                      \
	  .fd_type = S_IFIFO }
#define FD_URI "{\"uri\": \"fd:qmigrate-tunnel\"}"
/* Prepare on a destination that reads the tunnel's pipe as its fd: incoming. */
#define DST_PREPARE_PIPE                                                                   \
	DST_CHECKS, FQ_EXPECT("migrate-set-capabilities", 3), GETFD_PIPE(11),               \
		{ .op = FQ_OP_EXPECT, .name = "migrate-incoming", .slot = 4, .args = FD_URI }, \
		R(3, "{}"), R(11, "{}"), R(4, "{}")


struct run {
	struct qm_result result;
	bool done;
	enum qm_phase phases[16];
	int n_phases;
	int n_progress;
	struct qm_progress last;  /* the last sample reported */
	char last_status[32];	  /* its status */
	const char *dir;      /* the parent of the job's runtime directory */
	int runtime_mode;     /* its permission bits, seen when perform starts */
	bool cancel_on_progress;
	unsigned multifd; /* --multifd for this run */
	double cancel_timeout;
	double connect_timeout;
	enum qm_transport transport;
	struct fq *resume_on_progress;
	struct qm_job *job;
	/* the job's policies, --max-downtime and --bandwidth for this run */
	struct qm_policy_settings policy;
	unsigned long long max_downtime_ms, bandwidth;
	/*
	 * Leases for this run, and this host's uuid; with leases the job is made
	 * with qm_job_alloc(), since qm_job_new() refuses leases with an attached
	 * destination (QEMU 7.2 would drop them), and the phases are the same.
	 */
	const char *const *leases;
	/*
	 * The VM's description, for its <lease> elements only: the job's
	 * leases are what qm_job_leases_gather() makes of it and of leases, as
	 * qm_job_new() does.
	 */
	const char *domain_xml;
	const char *host_uuid;
	void *hook_data; /* for on_phase */
	int decisions;	   /* policy decisions reported */
	char decision[64]; /* the last one, "policy action" */
	char reason[512];  /* and its reason */
	double spice_timeout;
	const char *spice_x509_dir; /* the destination's, for its certificate subject */
	char warnings[2048]; /* the job's warnings and errors, one a line */
	/*
	 * The warning that a TCG source on QEMU < 9.0 may lose writes, which
	 * the recorded source (TCG, QEMU 7.2) gets every time: counted here,
	 * not in warnings.
	 */
	int tcg_warnings;
	const char *qmp_log; /* the job's QMP transcript, when set */
	/* instead, the agent's forwarding (qm_qmp_log_forward) to this, with the run */
	void (*qmp_forward)(const struct qm_peer_qmp_log *l, void *run);
	/* on entering each phase, after it is recorded, when set */
	void (*on_phase)(struct run *run, struct qm_job *job, enum qm_phase phase);
	/* resumes the source's script at its WAIT step once this holds, when set */
	bool (*resume_src_when)(struct qm_job *job);
};


/*
 * Runs a job against the two scripts until it is done, then checks that the
 * servers consumed them, the runtime directory went and phases only moved
 * forward.  A NULL script leaves nothing at that side's path.  With
 * @dst_waits, the first progress sample resumes the destination's script at
 * its WAIT step.
 */
void migrate_with(struct run *run, const struct fq_step *src_script,
		  const struct fq_step *dst_script, bool dst_waits);

#endif
