/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The migration job, shared by the files that implement its phases:
 * source.c (begin, perform, confirm), dest.c (prepare, finish),
 * monitor.c (progress during perform), job.c (lifecycle and transitions).
 */
#ifndef QM_ENGINE_JOB_H
#define QM_ENGINE_JOB_H

#include <ev.h>
#include <jansson.h>
#include <limits.h>

#include "engine/lease.h"
#include "engine/policy.h"
#include "engine/precheck.h"
#include "engine/storage.h"
#include "qmigrate.h"
#include "xml/cookie.h"
#include "xml/domain.h"

struct qm_disk_map_entry;

/*
 * Where the phases run.  The destination's phases (prepare, finish) are the
 * same code (dest.c) in this process or in the agent on the other host; the
 * source's (begin, perform, confirm) run only where the source is.  What
 * crosses between the two is the cookie (docs/remote.md).
 */
enum qm_job_place {
	QM_PLACE_LOCAL,	 /* both sides in this process */
	QM_PLACE_SOURCE, /* the source's side here, the destination's in an agent (dest-remote.c) */
	QM_PLACE_AGENT,	 /* this process is the agent: the destination's side only (agent.c) */
};

struct qm_job {
	int refcount;
	struct qm_ctx *ctx;
	struct ev_loop *loop;
	struct qm_job_options opts; /* strings point into the copies below */
	char *src_qmp, *dst_qmp, *runtime_parent;
	/* full descriptions (passwords too: wiped on free) and the password file */
	char *domain_xml, *dst_domain_xml, *passwd_file;
	char *graphics_listen;
	char *spice_x509_dir;
	struct qm_disk_map_entry *disk_map; /* parsed from opts.disk_map */
	size_t n_disk_map;
	/* launch_dest without domain_xml: the source as begin described it */
	char *described_xml;
	void (*describe_next)(struct qm_job *job); /* while begin describes the source */
	struct qm_job_callbacks cbs;
	void *userdata;

	enum qm_job_place place;
	struct qm_remote *remote; /* QM_PLACE_SOURCE: the agent and the channel to it */
	struct qm_agent *agent;	  /* QM_PLACE_AGENT: the channel to the source */
	/* direct transport: the address the destination QEMU listens on */
	char listen_address[64];
	/* prepare refuses a source whose cookie has this host's uuid */
	bool refuse_same_host;
	/* the agent went away during finish: the destination may run the VM */
	bool dest_uncertain;

	struct qm_qmp *src, *dst;
	struct qm_qmp_log *qmp_log; /* opts.qmp_log's transcript (qmp-log.c), or NULL */
	bool src_gone, dst_gone;	   /* the QMP connection closed */
	bool src_quitting, dst_quitting; /* we asked that QEMU to quit */

	enum qm_phase phase;
	bool started, finished;
	ev_timer kick; /* starts begin from the loop */
	struct qm_error error; /* the first error wins */
	bool refused; /* a precheck failed first: nothing changed, both QEMUs left alone */
	bool cancel_requested;
	ev_tstamp t_start, t_phase;
	struct qm_result result;

	/* what begin learnt about the VM */
	bool src_answered; /* the source answered begin: the job has reached the VM */
	bool src_was_running;
	long src_pid; /* the source QEMU's pid, as begin's cookie says (0: unknown) */
	struct qm_qemu_facts src_facts; /* for prepare's comparison with the destination */
	char name[256], uuid[37];
	char hostname[256], host_uuid[37];

	/* the cookie out of the last phase, into the next */
	char *cookie;

	/* prepare */
	char runtime_dir[96]; /* UNIX socket paths inside must fit sun_path (108) */
	char migrate_uri[512];
	bool incoming_started; /* migrate-incoming went to the destination */
	/*
	 * That destination QEMU, held from just before migrate-incoming (its QMP
	 * peer then), so that it can be stopped even once its QMP has gone; -1.
	 */
	int dst_pidfd;
	pid_t dst_pid;
	/* what clients of the destination's display connect to; type "" when none */
	struct qm_cookie_graphics dst_graphics;

	/* perform */
	bool migrate_issued, perform_done;
	bool src_changed; /* a command that changes the source QEMU went to it */
	bool perform_ending;	     /* the migration ended; perform is wrapping up */
	ev_timer cancel_timer;	     /* migrate_cancel went: the migration must end by then */
	char migration_error[256]; /* QEMU's error-desc when it failed */
	ev_timer poll_timer;
	bool poll_inflight, poll_again;
	bool src_running; /* from STOP and RESUME events during perform */
	struct qm_policy_state policy_state;
	bool postcopy_entered; /* the destination runs the VM: no rollback any more */
	int final_retries;
	struct qm_progress progress;
	char qemu_status[32];

	/* SPICE clients following the VM (graphics-relocate.c) */
	bool spice_sent;      /* client_migrate_info is in perform's batch */
	bool spice_relocating; /* ... and the source QEMU accepted it */
	bool spice_migrated;   /* SPICE_MIGRATE_COMPLETED came */
	ev_timer spice_timer;  /* confirm waits for it until then */
	void (*spice_next)(struct qm_job *job); /* what confirm does once it came or the wait ended */

	/* the tunnelled transport (tunnel.c) */
	struct qm_tunnel *tunnel;

	/* finish */
	ev_timer finish_timer;
	bool finish_inflight;
	ev_timer kill_timer; /* a killed destination's connection must close by then */

	struct qm_control *control; /* control-job.c: the socket of qm_job_listen_control */

	struct qm_dest_launch *launch; /* dest-launch.c: the destination QEMU the job started */

	/* lease-job.c: the leases handed over with the VM (docs/leases.md) */
	char **lease_paths;		      /* opts.leases, copied; NULL: none */
	struct qm_lease src_leases[QM_LEASE_MAX]; /* the source QEMU's, adopted in begin */
	size_t n_src_leases;
	struct qm_lease dst_leases[QM_LEASE_MAX]; /* taken in finish for the destination */
	size_t n_dst_leases;
	uint64_t dst_expect[QM_LEASE_MAX]; /* the generations perform's cookie says */
	bool dst_took[QM_LEASE_MAX];	   /* finish took it: its generation moved */
	bool dst_leased; /* begin's cookie has leases: the destination must take them */
	void (*lease_next)(struct qm_job *job); /* after a lease step's QMP round trip */

	struct qm_storage *storage; /* storage-*.c: the disks that move; NULL: none */
};

/* job.c */
bool qm_job_failed(const struct qm_job *job);
/* Records @err (first wins) and pokes whatever must react (cancelling a running migration). */
void qm_job_fail(struct qm_job *job, const struct qm_error *err);
int qm_job_failf(struct qm_job *job, int code, const char *error_class, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
/* Fails the job with a precheck's @err; first, both QEMUs are left as they are. */
int qm_job_refuse(struct qm_job *job, const struct qm_error *err);
/* Moves forward to @phase (never back) and runs it. */
void qm_job_enter(struct qm_job *job, enum qm_phase phase);
/* Replaces the cookie passed to the next phase; takes @xml. */
void qm_job_set_cookie(struct qm_job *job, char *xml);
/* Starts a cookie with the VM's and this host's identity, the given features, and
 * with QM_COOKIE_STATS the result's figures. */
void qm_job_cookie_init(const struct qm_job *job, struct qm_cookie *c, unsigned features);
/* Formats @c into the job's cookie; fails the job on error.  Returns 0 or -errno. */
int qm_job_emit_cookie(struct qm_job *job, const struct qm_cookie *c);
/* Parses the job's cookie into @c, checked against @check; fails the job on error. */
int qm_job_take_cookie(struct qm_job *job, const struct qm_cookie_check *check,
		       struct qm_cookie *c);
/* qmp-log.c: opts.qmp_log's file, opened 0600 (a symlink refused) by qm_job_alloc */
int qm_qmp_log_open(struct qm_job *job, const char *path, struct qm_error *err);
/* Writes @qmp's messages to the transcript, as the source's or the destination's. */
void qm_qmp_log_attach(struct qm_job *job, struct qm_qmp *qmp, bool source);
/* ...and the end of a side's connection, @err saying why. */
void qm_qmp_log_closed(struct qm_job *job, bool source, const struct qm_error *err);
void qm_qmp_log_free(struct qm_job *job);
/*
 * The agent's side (feature qmp-log): instead of a file, each message goes to
 * @sink as the peer message's fields (borrowed), for the source's transcript.
 * Returns 0 or -ENOMEM with @err filled.
 */
struct qm_peer_qmp_log;
typedef void (*qm_qmp_log_sink_fn)(const struct qm_peer_qmp_log *l, void *userdata);
int qm_qmp_log_forward(struct qm_job *job, qm_qmp_log_sink_fn sink, void *userdata,
		       struct qm_error *err);
/*
 * The source's side: writes a message the agent forwarded as the destination's,
 * at the agent's time, but never before the line before nor after now.
 */
void qm_qmp_log_forwarded(struct qm_job *job, const struct qm_peer_qmp_log *l);

/* Connects the destination's QMP at @path, waiting up to @wait_for_path seconds for it. */
int qm_job_open_dst(struct qm_job *job, const char *path, double wait_for_path,
		    struct qm_error *err);
/* The destination's QMP connection closed: the job's own handling. */
void qm_job_dst_closed(struct qm_qmp *q, const struct qm_error *err, void *job);
/* The end: the result goes to the done callback (after dest-launch.c settled). */
void qm_job_notify_done(struct qm_job *job);
/* Runs a batch on @qmp; on a failure to send, fails the job and calls @done(NULL results). */
struct qm_batch_cmd;
void qm_job_batch(struct qm_job *job, struct qm_qmp *qmp, struct qm_batch_cmd *cmds, size_t n,
		  void (*done)(void *job, json_t **results, const struct qm_error *err));

/* actions.c: a policy's or a command's action (enum qm_policy_action_type) */
int qm_job_apply(struct qm_job *job, int type, long long value, const char *policy,
		 const char *reason);
/* Evaluates the policies on the latest progress sample and applies their actions. */
void qm_job_run_policies(struct qm_job *job);

/* source.c */
void qm_source_begin(struct qm_job *job);
void qm_source_perform(struct qm_job *job);
void qm_source_abort_perform(struct qm_job *job);
/* The source's QMP connection is gone: a running perform ends now. */
void qm_source_perform_lost(struct qm_job *job);
void qm_source_confirm(struct qm_job *job);

/* dest.c */
void qm_dest_prepare(struct qm_job *job);
void qm_dest_finish(struct qm_job *job);

/* job.c: the shared constructor; qm_job_new() checks a source is named first */
struct qm_job *qm_job_alloc(struct qm_ctx *ctx, struct ev_loop *loop,
			    const struct qm_job_options *opts, const struct qm_job_callbacks *cbs,
			    void *userdata, struct qm_error *err);

/* dest-remote.c: the destination's phases through an agent (QM_PLACE_SOURCE) */
int qm_remote_options_check(const struct qm_job_options *opts, struct qm_error *err);
int qm_remote_options_copy(struct qm_job *job, const struct qm_job_options *opts,
			   struct qm_error *err);
/* Starts the agent and greets it, from qm_job_start: it connects while begin runs. */
int qm_remote_start(struct qm_job *job, struct qm_error *err);
void qm_remote_prepare(struct qm_job *job);
/*
 * The job failed while prepare waits for the agent (a cancel, the source
 * gone): stops waiting, from the loop.  Closing the channel has the agent
 * roll back what it prepared, as when the source goes away.
 */
void qm_remote_abort_prepare(struct qm_job *job);
void qm_remote_finish(struct qm_job *job);
/*
 * The job is done: lets the agent go (it exits once the channel closes, after
 * stopping what it launched).  True while it runs: the job's end is told once
 * it exited, or was stopped EXIT_TIMEOUT on.
 */
bool qm_remote_settle(struct qm_job *job);
void qm_remote_free(struct qm_job *job);

/* agent.c: the agent's side of the phases that belong to the source (QM_PLACE_AGENT) */
void qm_agent_prepared(struct qm_job *job); /* prepare ended: its reply goes back */
void qm_agent_finished(struct qm_job *job); /* finish or cleanup ended: the same */

/* dest-domain.c: the destination's description, and the options that ask for one */
int qm_job_dest_options_check(const struct qm_job_options *opts, struct qm_error *err);
/* Copies the options dest-domain.c reads into @job, the disk map parsed ("Usage" errors). */
int qm_job_dest_options_copy(struct qm_job *job, const struct qm_job_options *opts,
			     struct qm_error *err);
void qm_job_dest_options_free(struct qm_job *job);
/*
 * The description the destination is launched from, in its full form: the
 * destination's own once the ABI check passed, else the VM's; then
 * rewritten for the destination.  Fails the job on error (a refusal when
 * the guest would see a change or the rewrite cannot apply).
 */
int qm_job_dest_domain(struct qm_job *job, struct qm_domain **out);
/*
 * Begin's last step with launch_dest and no description: describes the
 * source, then calls @next (the job failed, as a refusal, when it cannot).
 */
void qm_job_describe_source(struct qm_job *job, void (*next)(struct qm_job *job));

/* dest-launch.c: a destination QEMU that the job starts and owns */
/*
 * Starts it and connects job->dst; calls @ready once its QMP answered and its
 * displays have their passwords, or fails the job and enters finish.
 */
void qm_dest_launch(struct qm_job *job, void (*ready)(struct qm_job *job));
/* The job failed during prepare: stop waiting for the launched QEMU's socket. */
void qm_dest_launch_abort(struct qm_job *job);
/*
 * The job is done: release the launched QEMU on success, else stop it.  True
 * when that takes a while: qm_job_notify_done() follows from the loop.
 */
bool qm_dest_launch_settle(struct qm_job *job);
/* The last unref: a QEMU still owned is killed and reaped, its directory removed. */
void qm_dest_launch_free(struct qm_job *job);
/* The launched QEMU's pid and QMP socket (in @qmp); 0 and "" when there is none. */
long qm_dest_launch_pid(const struct qm_job *job, char qmp[108]);

/* graphics-relocate.c: the destination's display, and SPICE clients following the VM */
/*
 * What prepare's cookie says of the destination's display, from its
 * query-spice and query-vnc replies (either NULL: no answer); a wildcard
 * listen address becomes @reached, the address the source reached this
 * host by.  g->type is "" when there is nothing a client could connect to.
 */
void qm_graphics_from_qemu(json_t *spice, json_t *vnc, const char *reached,
			   struct qm_cookie_graphics *g);
/* The address of this host that the source reached (never a wildcard). */
const char *qm_graphics_reached(const struct qm_job *job);
/* client_migrate_info's arguments for the cookie's graphics, or NULL when not SPICE. */
json_t *qm_graphics_relocation_args(const struct qm_cookie *c);
/* Perform's batch came back: @accepted says whether client_migrate_info was; watches for its end. */
void qm_graphics_relocation_sent(struct qm_job *job, bool accepted);
/*
 * Confirm, before it quits the source: once SPICE clients followed the VM,
 * or none is connected, or after job->opts.spice_timeout, calls @next (from
 * the loop or at once).
 */
void qm_graphics_await(struct qm_job *job, void (*next)(struct qm_job *job));
/* The job ends: no more waiting or watching.  Safe to repeat. */
void qm_graphics_stop(struct qm_job *job);

/* graphics-cert.c: the destination's SPICE certificate subject */
/*
 * Fills g->tls_subject for a SPICE display with a TLS port from the
 * certificate the destination QEMU serves; leaves it empty with a warning
 * when that cannot be read exactly.
 */
void qm_graphics_cert(struct qm_job *job, struct qm_cookie_graphics *g);
/*
 * The certificate file a QEMU command line's -spice options name, as QEMU
 * finds it (x509-cert-file, else x509-dir or "." with server-cert.pem),
 * into @out.  Returns 1, 0 when no -spice option has a tls-port, or
 * -E2BIG.
 */
int qm_spice_cert_path(char *const *argv, char *out, size_t size);

/* monitor.c */
void qm_monitor_start(struct qm_job *job);
void qm_monitor_stop(struct qm_job *job);
/* The source's migration ended (completed, failed or cancelled): perform is over. */
void qm_source_migration_ended(struct qm_job *job, json_t *info);

/* progress.c: pure conversion of query-migrate's return value */
void qm_progress_from_json(json_t *info, struct qm_progress *p, char *status, size_t status_len);
/* True for the statuses in which a migration is still under way. */
bool qm_migration_status_active(const char *status);

/* caps.c: capabilities and parameters for one side (source or destination) */
/* Every capability the job needs is in @available (CapabilityMissing). */
int qm_caps_check(const struct qm_job *job, json_t *available, bool source,
		  struct qm_error *err);
json_t *qm_caps_args(const struct qm_job *job, bool source);
/* migrate-set-parameters' arguments, or NULL when that side needs none. */
json_t *qm_params_args(const struct qm_job *job, bool source);

/* tunnel.c: one stream one way goes pipe to pipe; else over sockets */
enum qm_tunnel_side { QM_TUNNEL_SOURCE, QM_TUNNEL_DESTINATION };
#define QM_TUNNEL_FDNAME "qmigrate-tunnel"
bool qm_tunnel_uses_pipes(const struct qm_job *job);
/* Two pipes and the pump between them; each QEMU gets its end with getfd. */
int qm_tunnel_open_pipes(struct qm_job *job);
/* The pipe end @side's QEMU gets, or -1; then passed: our copy is closed. */
int qm_tunnel_qemu_fd(const struct qm_job *job, enum qm_tunnel_side side);
void qm_tunnel_qemu_fd_passed(struct qm_job *job, enum qm_tunnel_side side);
/* Listens for the source's streams and pumps each to @dst_path. */
int qm_tunnel_open(struct qm_job *job, const char *dst_path, char *uri, size_t uri_len);
/*
 * Between hosts (tunnel-remote.c): every stream rides a process started from
 * @stream_argv (NULL-terminated, "--stream PATH" included; copied), its
 * stdin to the destination, its stdout back.  With qm_tunnel_uses_pipes():
 * a pipe for the source QEMU (qm_tunnel_qemu_fd) and one process now, @uri
 * "fd:" QM_TUNNEL_FDNAME; else a socket in job->runtime_dir (which must
 * exist) and one process per connection.  Fails the job on error.
 */
int qm_tunnel_open_remote(struct qm_job *job, char **stream_argv, char *uri, size_t uri_len);
/*
 * Storage migration through the tunnel opened above: listens on
 * RUNDIR/nbd-tunnel.sock (its path into @path) for the source QEMU's NBD
 * clients, and joins each connection both ways to the destination's NBD
 * server at the UNIX socket @dst_path (qm_tunnel_nbd_open), or through a
 * stream process of its own started from @stream_argv ("--stream PATH"
 * included; copied) on another host (qm_tunnel_nbd_open_remote).  Fails
 * the job on error.
 */
int qm_tunnel_nbd_open(struct qm_job *job, const char *dst_path, char *path, size_t len);
int qm_tunnel_nbd_open_remote(struct qm_job *job, char **stream_argv, char *path,
			      size_t len);
/* Lets go of every stream now: before migrate_cancel, so QEMU cannot block on it. */
void qm_tunnel_hangup(struct qm_job *job);
/* What the migration streams, and the NBD connections, moved to the destination. */
unsigned long long qm_tunnel_bytes(const struct qm_job *job);
unsigned long long qm_tunnel_nbd_bytes(const struct qm_job *job);
void qm_tunnel_close(struct qm_job *job);

/* lease-job.c: the leases through the phases (docs/leases.md) */
/*
 * The job's leases into a new array in *@out (qm_argv_free it; NULL: none):
 * opts->leases, then the <lease> paths of the VM's description
 * (opts->domain_xml) not among them.  Usage errors: too many, relative, a
 * path twice in opts->leases, a lease only the destination's description
 * names, leases with post-copy or an attached destination.
 */
int qm_job_leases_gather(const struct qm_job_options *opts, char ***out,
			 struct qm_error *err) _must_check_;
int qm_job_lease_options_copy(struct qm_job *job, const struct qm_job_options *opts);
/* Closes every lease descriptor of the job (the locks stay with QEMU's copies). */
void qm_job_leases_free(struct qm_job *job);
/*
 * Begin: takes a copy of each lease the source QEMU holds in its fd sets
 * (@fdsets, query-fdsets' return value); refuses the job (LeaseNotHeld,
 * LeaseVm, LeaseFile...) when it cannot.
 */
int qm_source_leases_adopt(struct qm_job *job, json_t *fdsets);
/* Adds the source's leases to @c (lockstate, mandatory); 0 with none. */
int qm_source_leases_cookie(struct qm_job *job, struct qm_cookie *c);
/* Perform's end: releases the source's leases into @c.  Fails the job on error. */
int qm_source_leases_release(struct qm_job *job, struct qm_cookie *c);
/*
 * Confirm after a failure: takes the source's leases back, at the
 * generations the destination's cookie says.  0 when the source may be
 * resumed; otherwise the job's error says where a lease is held.
 */
int qm_source_leases_take_back(struct qm_job *job);
/* Prepare: checks the leases of begin's cookie @c can be opened here. */
int qm_dest_leases_check(struct qm_job *job, const struct qm_cookie *c);
/* Finish: opens the leases of perform's cookie @c (none: 0). */
int qm_dest_leases_open(struct qm_job *job, const struct qm_cookie *c);
/*
 * Finish, before the VM resumes: takes the leases and hands each to the
 * destination QEMU (add-fd), then calls @next; fails the job and calls
 * @next all the same on error.
 */
void qm_dest_leases_take(struct qm_job *job, void (*next)(struct qm_job *job));
/* Finish failed: releases what the destination took, into the job's cookie. */
void qm_dest_leases_give_back(struct qm_job *job);

/* runtime.c */
int qm_runtime_dir_create(struct qm_job *job);
void qm_runtime_dir_remove(struct qm_job *job);

#endif
