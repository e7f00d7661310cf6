/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libqmigrate: live migration of QEMU virtual machines without libvirt.
 *
 * Conventions: functions return 0 or a negative errno, or a pointer or NULL;
 * on failure they fill the caller-owned struct qm_error, where the first
 * error recorded is the one kept.  Every _unref and _free accepts NULL.
 * The library never prints: it logs through the callback set on its context.
 * Nothing here is thread-safe unless it says so; use one context per thread.
 */
#ifndef QMIGRATE_H
#define QMIGRATE_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

#ifdef __cplusplus
extern "C" {
#endif

struct ev_loop;
struct json_t;

#define QM_MUST_CHECK __attribute__((warn_unused_result))

/* ---- errors ------------------------------------------------------------ */

/*
 * An error: code is a negative errno (0 while unset); error_class is QMP's
 * error class verbatim when QEMU reported the error (else a qmigrate class
 * such as "ConnectionClosed"); text says what happened and what to do.
 */
struct qm_error {
	int code;
	char error_class[64];
	char text[512];
};

/* Clears @err so that the next error recorded into it is kept. */
void qm_error_clear(struct qm_error *err);
/* True once an error has been recorded. */
bool qm_error_is_set(const struct qm_error *err);

/* ---- context ----------------------------------------------------------- */

struct qm_ctx;

/* priority is a syslog level: LOG_ERR (3) ... LOG_DEBUG (7). */
typedef void (*qm_log_fn)(void *userdata, int priority, const char *file, int line,
			  const char *fn, const char *format, va_list args);

/*
 * Returns a new context with one reference, or NULL when out of memory.
 * The log priority starts at LOG_ERR, or at the level named by the
 * environment variable QMIGRATE_LOG ("err", "warning", "info", "debug").
 * QMIGRATE_QMP_TRACE=1 additionally logs every raw QMP message at LOG_DEBUG.
 */
struct qm_ctx *qm_ctx_new(void) QM_MUST_CHECK;
struct qm_ctx *qm_ctx_ref(struct qm_ctx *ctx);
/* Drops one reference; returns NULL, or @ctx while references remain. */
struct qm_ctx *qm_ctx_unref(struct qm_ctx *ctx);
/* Without a log function set, the library logs nothing. */
void qm_ctx_set_log_fn(struct qm_ctx *ctx, qm_log_fn fn, void *userdata);
void qm_ctx_set_log_priority(struct qm_ctx *ctx, int priority);
int qm_ctx_get_log_priority(const struct qm_ctx *ctx);

/* The library's version, e.g. "0.1.0". */
const char *qm_version(void);

/* ---- QMP client ---------------------------------------------------------- */

/*
 * An asynchronous QMP connection on a libev loop that the caller owns.
 * Callbacks never run inside the call that queued them; they run from the
 * loop.  A callback may drop the last reference to the connection.
 */
struct qm_qmp;

struct qm_qmp_options {
	/* seconds to connect and get the greeting once the path exists, retrying a
	 * socket that refuses (QEMU still starting, its backlog full); 0: 10 s */
	double connect_timeout;
	/* seconds to wait for a path that does not exist yet (a QEMU about to
	 * start); 0: a missing path fails at once */
	double wait_for_path;
	double command_timeout; /* default seconds before a command fails; 0: 30 s, <0: none */
	size_t max_message;	/* bytes in one incoming message; 0: 64 MiB */
	const char *label;	/* names this QEMU in connection errors, e.g. "source QEMU"; copied */
};

/*
 * A command's completion: on success @ret is QMP's "return" value (borrowed;
 * json_incref to keep it) and @err is NULL; on failure @ret is NULL and @err
 * says why (QMP's class verbatim, or a connection error).
 */
typedef void (*qm_qmp_reply_fn)(struct qm_qmp *qmp, struct json_t *ret,
				const struct qm_error *err, void *userdata);
/*
 * An event: @data is borrowed and may be NULL; @timestamp is QEMU's, in
 * seconds since the epoch.
 */
typedef void (*qm_qmp_event_fn)(struct qm_qmp *qmp, const char *name, struct json_t *data,
				double timestamp, void *userdata);
/* The connection closed: @err says why.  Pending commands have already failed. */
typedef void (*qm_qmp_close_fn)(struct qm_qmp *qmp, const struct qm_error *err,
				void *userdata);

/* @opts may be NULL for the defaults.  Returns NULL when out of memory. */
struct qm_qmp *qm_qmp_new(struct qm_ctx *ctx, struct ev_loop *loop,
			  const struct qm_qmp_options *opts) QM_MUST_CHECK;
struct qm_qmp *qm_qmp_ref(struct qm_qmp *qmp);
/* Dropping the last reference closes the connection without calling back. */
struct qm_qmp *qm_qmp_unref(struct qm_qmp *qmp);

/*
 * Starts connecting to the UNIX socket at @path.  A path that does not exist
 * fails at once, unless wait_for_path gives it time to appear; a path that is
 * not a socket fails at once; a socket that refuses is retried until the
 * connect timeout.  Failures come from the loop: pending commands fail and
 * the close callback runs.  Commands may be queued at once; they go out after
 * the greeting and qmp_capabilities.
 */
int qm_qmp_connect(struct qm_qmp *qmp, const char *path, struct qm_error *err) QM_MUST_CHECK;
/* Adopts an fd already connected to a QMP server; the connection owns it. */
int qm_qmp_adopt_fd(struct qm_qmp *qmp, int fd, struct qm_error *err) QM_MUST_CHECK;

/*
 * Queues @command with @args (a JSON object, or NULL; the reference is
 * stolen, even on failure).  When @fd >= 0 it is sent along with the command
 * (SCM_RIGHTS), as getfd and add-fd expect; the caller keeps its own fd.
 * @timeout in seconds: 0 for the connection's default, < 0 for none.
 * Returns 0, and @cb runs exactly once later; or a negative errno (connection
 * already closed, out of memory), and @cb never runs.
 */
int qm_qmp_command(struct qm_qmp *qmp, const char *command, struct json_t *args, int fd,
		   double timeout, qm_qmp_reply_fn cb, void *userdata) QM_MUST_CHECK;

/*
 * Runs the loop until @command's reply arrives.  Returns a new reference to
 * the "return" value, or NULL with @err filled.  Not for use inside a callback.
 */
struct json_t *qm_qmp_command_sync(struct qm_qmp *qmp, const char *command,
				   struct json_t *args, int fd,
				   struct qm_error *err) QM_MUST_CHECK;

/*
 * Calls @cb for every event called @name, or for every event when @name is NULL.
 * An event callback may unsubscribe anyone; a subscriber it adds starts with
 * the next event.  Returns 0, -EINVAL without @cb, or -ENOMEM.
 */
int qm_qmp_subscribe(struct qm_qmp *qmp, const char *name, qm_qmp_event_fn cb,
		     void *userdata) QM_MUST_CHECK;
void qm_qmp_unsubscribe(struct qm_qmp *qmp, qm_qmp_event_fn cb, void *userdata);
void qm_qmp_set_close_fn(struct qm_qmp *qmp, qm_qmp_close_fn cb, void *userdata);

/* The greeting's "QMP" object (borrowed), or NULL before it arrived. */
struct json_t *qm_qmp_greeting(const struct qm_qmp *qmp);
/* True once capabilities are negotiated and the connection is open. */
bool qm_qmp_is_ready(const struct qm_qmp *qmp);
/*
 * Closes the connection now: pending commands fail with @why (or a generic
 * "closed by caller" error), and the close callback runs, from the loop.
 */
void qm_qmp_close(struct qm_qmp *qmp, const struct qm_error *why);


/* ---- migration jobs ------------------------------------------------------- */

/*
 * A job migrates one VM from a source QEMU to a destination QEMU through the
 * five phases begin, prepare, perform, finish, confirm, on a libev loop that
 * the caller owns.  Phases only move forward; after a failure the remaining
 * phases run in their rollback form.  The first error wins.
 */
struct qm_job;

enum qm_phase {
	QM_PHASE_BEGIN,
	QM_PHASE_PREPARE,
	QM_PHASE_PERFORM,
	QM_PHASE_FINISH,
	QM_PHASE_CONFIRM,
	QM_PHASE_DONE,
};

enum qm_job_status {
	QM_JOB_RUNNING,
	QM_JOB_COMPLETED,
	QM_JOB_FAILED,
	QM_JOB_CANCELLED,
};

/* Where the VM is after the job: exactly one side runs, or the source holds it paused. */
enum qm_vm_location {
	QM_VM_UNKNOWN,	     /* could not be established: check both QEMUs */
	QM_VM_DESTINATION,   /* the destination has it (running, or paused as it was) */
	QM_VM_SOURCE,	     /* the source runs it */
	QM_VM_SOURCE_PAUSED, /* the source holds it paused, its state intact */
};

enum qm_transport {
	QM_TRANSPORT_UNIX, /* a private socket in a 0700 runtime directory */
	QM_TRANSPORT_TCP,  /* loopback, an ephemeral port */
	QM_TRANSPORT_TUNNEL, /* through the engine: a pump thread per stream */
};

/* How the tunnel's pumps copy: splice(2) where the kernel allows, or always through a buffer. */
enum qm_tunnel_copy {
	QM_TUNNEL_COPY_AUTO,
	QM_TUNNEL_COPY_SPLICE,
	QM_TUNNEL_COPY_READWRITE,
};

/* Which disks move with the VM (docs/storage.md). */
enum qm_copy_storage {
	QM_COPY_STORAGE_NONE, /* the destination sees the same images (shared storage) */
	QM_COPY_STORAGE_ALL,  /* every writable disk, copied whole over NBD */
	QM_COPY_STORAGE_INC,  /* only the top layer, above a backing file both hosts share */
};

/* qm_policy_settings.timeout for no completion timeout at all. */
#define QM_POLICY_NO_TIMEOUT (-1.0)

/*
 * Convergence policies, decided on every progress sample (units: ms, seconds,
 * bytes).  Zero switches a policy off or takes its default.
 */
struct qm_policy_settings {
	/* The highest downtime limit the ladder or the doubling may set (--max-downtime).
	 * 0: QM_POLICY_DEFAULT_MAX_DOWNTIME_MS. */
	long long max_downtime_ms;
	/* The limit in force when the migration starts: what the caller set, or 0 for
	 * QEMU's default (QM_POLICY_QEMU_DOWNTIME_MS).  Doubling starts from it, and no
	 * policy sets a value equal to the limit already in force. */
	long long initial_downtime_ms;

	/* Ladder, nova-style (--downtime-steps N): step i of N, for i = 0..N, happens
	 * step_delay * GiB * i seconds after the start and sets the limit to
	 * base + offset * i, base = max / N, offset = (max - base) / N, rounded down
	 * to whole ms but at least 1; step N sets max exactly.  The GiB are not
	 * rounded up: a 256 MiB guest steps every step_delay / 4 seconds. */
	int downtime_steps;
	/* Seconds per GiB of guest RAM between steps; 0: QM_POLICY_DEFAULT_STEP_DELAY. */
	double step_delay;

	/* Doubling, Proxmox-style (--downtime-double N): after N samples in which the
	 * remaining bytes did not fall (counted since the last doubling; a new pass's
	 * jump back up counts), double the limit (up to max). */
	int downtime_double;

	/* Completion timeout (--timeout SEC): cancel once the migration has run longer.
	 * 0: the default, 800 s per GiB of guest RAM (nova's
	 * live_migration_completion_timeout) but at least 120 s, so that a migration
	 * that cannot converge ends; negative (QM_POLICY_NO_TIMEOUT): none, the
	 * migration runs until it ends or is cancelled.  With timeout_per_gib, the
	 * limit is timeout * GiB of guest RAM (timeout must then be above 0). */
	double timeout;
	bool timeout_per_gib;
	/* Stall timeout (--stall-timeout SEC): cancel when the remaining bytes reach
	 * no new low for this long. */
	double stall_timeout;
	/* Pause-after (--pause-after SEC): stop the source's CPUs once the migration
	 * has run longer, so that it converges. */
	double pause_after;

	/* The postcopy-ram capability is on for this migration (--postcopy). */
	bool postcopy;
	/* Switch to post-copy once QEMU has made this many passes (dirty-sync-count). */
	int postcopy_after_passes;

	/* Guest RAM in bytes, for the per-GiB scaling; 0: the first sample's
	 * total_bytes (query-migrate's ram.total). */
	unsigned long long ram_bytes;
};

/*
 * A decision a policy took, as reported to the caller (and logged).  Policy
 * and action "advise" ask nothing of QEMU: it comes once, when QEMU's expected
 * downtime has stayed above the downtime limit for 5 passes, and its reason
 * tells the user, with the figures, which options would make the migration
 * converge.
 */
struct qm_policy_decision {
	const char *policy; /* "ladder", "double", "timeout", "stall", "pause-after",
			     * "postcopy", "force-complete", "advise" */
	const char *action; /* "set-downtime", "cancel", "pause-source", "start-postcopy",
			     * "advise" */
	long long value;    /* set-downtime: ms; else -1 */
	const char *reason;
};

struct qm_job_options {
	/* QMP socket of the running source QEMU */
	const char *src_qmp;
	/* QMP socket of a destination started with -incoming defer: another QEMU, so
	 * not the source's socket under another name (a link); qm_job_new and
	 * qm_job_start refuse that with a "Usage" error */
	const char *dst_qmp;
	/* seconds to wait for a QMP socket that does not exist yet (QEMUs about to
	 * start); 0: a missing socket fails the job at once */
	double wait_for_qmp;
	/* seconds each QMP connection gets, once its socket exists, to connect and
	 * greet; 0: 10 */
	double connect_timeout;
	enum qm_transport transport;
	enum qm_tunnel_copy tunnel_copy; /* with QM_TRANSPORT_TUNNEL */
	unsigned long long bandwidth; /* bytes/s; 0: not capped */
	unsigned long long max_downtime_ms; /* 0: QEMU's default (300 ms) */
	const char *runtime_dir; /* parent of the private directory; NULL: $XDG_RUNTIME_DIR or /tmp */
	double poll_interval; /* seconds between query-migrate polls; 0: 0.1 */
	/* seconds the source QEMU gets to end a cancelled migration before the job
	 * goes on without it (the VM stays there); 0: 20 */
	double cancel_timeout;
	/* seconds confirm waits, after success, for connected SPICE clients to reach
	 * the destination (SPICE_MIGRATE_COMPLETED) before it quits the source
	 * anyway, with a warning; 0: 10 (docs/graphics.md) */
	double spice_timeout;
	bool keep_source;     /* leave the source QEMU paused after success instead of quitting it */
	bool paused;	      /* leave the VM paused on the destination */

	/* capabilities and parameters, set on the side(s) that need them */
	bool auto_converge;
	int throttle_initial;	/* auto-converge's first throttle, %; 0: QEMU's (20) */
	int throttle_increment; /* its step, %; 0: QEMU's (10) */
	bool xbzrle;
	unsigned long long xbzrle_cache; /* bytes; 0: QEMU's (64 MiB) */
	unsigned multifd_channels;	 /* 0: no multifd */
	/* policy.postcopy turns on postcopy-ram on both sides */
	struct qm_policy_settings policy;

	/* A destination the job starts itself, from a description (docs/domain.md). */
	/*
	 * The VM's description as domain XML text, in its full form: it may hold
	 * passwords, so it never leaves this process (not in a cookie, a log line
	 * or an argv; the job's copy is wiped when the job goes).  NULL with
	 * launch_dest: begin describes the source QEMU from its own command line
	 * and QMP (docs/describe.md: what is kept, moved, dropped or refused).
	 */
	const char *domain_xml;
	/*
	 * A description written for the destination (its own paths, listen
	 * addresses and passwords), or NULL to use the VM's.  Prepare compares it
	 * with the VM's description (domain_xml, or the source's own) and refuses
	 * anything the guest would see change, naming it ("DomainAbi").
	 */
	const char *dst_domain_xml;
	/*
	 * Prepare starts the destination QEMU itself (-S -incoming defer, never
	 * through a shell, its QMP socket and log in a new 0700 directory under
	 * runtime_dir) from the migratable form of the destination's description,
	 * so that no password is on its command line; then sets its displays'
	 * passwords with set_password.  dst_qmp must be NULL ("Usage" error
	 * otherwise).  The description is first rewritten for the destination
	 * (docs/domain.md, "Rewritten for the destination"): its character
	 * devices' files and sockets move into that directory, listening tcp
	 * ones take a free port, VNC passwords are cut to 8 characters, and
	 * graphics_listen and disk_map apply.  The job owns that QEMU: a failure, a cancel
	 * or the last unref before the job ended stops it and removes its
	 * directory; after success it keeps running (paused with @paused), and
	 * qm_result.dst_qmp and dst_pid hand it to the caller.
	 */
	bool launch_dest;
	/*
	 * A file holding the password for every display of the launched
	 * destination, instead of each display's passwd in its description: one
	 * line, at most 255 bytes, a trailing newline stripped.  Only with
	 * launch_dest.
	 */
	const char *graphics_passwd_file;
	/* Every display of the launched destination listens here; NULL: as described. */
	const char *graphics_listen;
	/*
	 * The destination's SPICE TLS directory (QEMU's -spice x509-dir: its
	 * server-cert.pem, server-key.pem and ca-cert.pem), a path on the
	 * destination's host.  A launched destination gets it with a SPICE
	 * display's tlsPort (without it, a tlsPort is refused); for an attached
	 * one it says where its certificate is instead of its command line.
	 * Prepare's cookie carries the certificate's subject either way
	 * (docs/graphics.md).  NULL: read the attached QEMU's command line.
	 */
	const char *spice_x509_dir;
	/*
	 * The disk map of the launched destination, "SRC=DST" strings (absolute
	 * paths), NULL-terminated; NULL: none.  The disk whose source is SRC
	 * opens DST there; a SRC that no disk has is an error.  At most 64.
	 */
	const char *const *disk_map;

	/*
	 * A destination on another host (docs/remote.md): prepare and finish run
	 * in an agent there, `qmigrate serve --stdio`, reached through this URI,
	 * "ssh://[user@]host[:port]" or "exec:PROGRAM ARGS".  dst_qmp then names
	 * a QMP socket on that host for the agent to attach to; launch_dest has
	 * the agent launch the destination.  The result's dst_qmp and dst_pid
	 * are the agent's (a path and a pid on that host).
	 */
	const char *dest_uri;
	/* "Key=Value" options for ssh, NULL-terminated; NULL: none (docs/peer-protocol.md) */
	const char *const *ssh_options;
	const char *remote_qmigrate; /* the agent's program there; NULL: "qmigrate" */
	/*
	 * Direct transport between hosts: the address the destination QEMU
	 * listens on; NULL: the agent picks the one the ssh connection reached.
	 */
	const char *migrate_address;
	/* This host's uuid in the cookies; NULL: /etc/machine-id */
	const char *host_uuid;
	/* A destination with this host's uuid is not refused (tests, one-host labs) */
	bool allow_same_host;
	/*
	 * Lease files (docs/leases.md), absolute paths, NULL-terminated, at
	 * most 8; NULL: none.  The source QEMU must hold each already (started
	 * by `qmigrate launch --lease`); perform's end releases them and finish
	 * takes them on the destination before it resumes the VM.  Not with
	 * post-copy, nor with an attached destination (dst_qmp): "Usage".
	 */
	const char *const *leases;

	/*
	 * Storage migration (docs/storage.md), with launch_dest, in local mode and
	 * the direct transport only for now ("Usage" otherwise): prepare creates
	 * each copied disk's image where the disk map puts it (never over an
	 * existing file), the destination serves it over NBD, and perform mirrors
	 * the source's disk into it before the memory moves.
	 */
	enum qm_copy_storage copy_storage;
	/*
	 * The disks to copy, by <target dev> ("vda"), NULL-terminated, at most
	 * 16; NULL: every writable disk.  Implies QM_COPY_STORAGE_ALL when
	 * copy_storage is NONE.
	 */
	const char *const *copy_storage_disks;
	/*
	 * A transcript of every QMP message to and from both QEMUs, JSON lines
	 * {"ts": seconds since the epoch, "side": "source"|"destination",
	 * "dir": "send"|"recv", "msg": the message}, passwords and secrets
	 * masked; written to this path, created 0600 (a symbolic link is
	 * refused); NULL: none.  A write error warns once and stops the
	 * transcript, never the migration.  With dest_uri the agent forwards
	 * the destination's messages (peer feature qmp-log); an agent without
	 * the feature leaves the source's side only, and a warning says so.
	 */
	const char *qmp_log;
};

/* A sample of the migration's progress, from the source's query-migrate. */
struct qm_progress {
	enum qm_phase phase;
	const char *status; /* QEMU's migration status: "setup", "active", ... */
	double elapsed;	    /* seconds since the job started */
	unsigned long long transferred_bytes, remaining_bytes, total_bytes;
	double mbps;	    /* QEMU's current rate, 10^6 bits/s */
	unsigned long long passes; /* dirty-sync-count */
	long long expected_downtime_ms; /* -1 when QEMU does not say */
	double percent;	    /* 0..100, of RAM no longer dirty */
	unsigned long long tunnel_bytes; /* bytes the tunnel delivered; 0 when not tunnelled */
	/* The disks' mirrors (copy_storage), summed over the disks; 0 without */
	unsigned long long storage_transferred, storage_remaining, storage_total;
	double storage_mbps; /* their rate over the last sample, 10^6 bits/s */
};

struct qm_result {
	enum qm_job_status status;
	enum qm_vm_location vm;
	/* A command that changes a QEMU went to either side.  When false the job
	 * failed before it changed anything: both QEMUs are as they were, and vm is
	 * QM_VM_SOURCE even when the source could not be reached.  So it is when
	 * only the destination was changed (its incoming side started) and the
	 * source could not be reached: the VM never left it. */
	bool changed;
	bool was_running;  /* the VM was running when begin looked */
	long long wall_ms; /* the engine's time from begin to the end of confirm */
	/* QEMU's own figures from the final query-migrate (-1 when unknown) */
	long long total_ms, downtime_ms, setup_ms;
	unsigned long long transferred_bytes, passes;
	double throughput_mbps; /* transferred bytes over total-time, 10^6 bits/s */
	long long phase_ms[QM_PHASE_DONE]; /* time each phase took, -1 if it did not run */
	struct qm_error error; /* set unless status is QM_JOB_COMPLETED */
	/*
	 * The destination QEMU that the job launched (launch_dest) and left
	 * running: its QMP socket and pid, the caller's from now on.  Stop it by
	 * its pid or with QMP quit; it is this process's child (reap it); remove
	 * the socket's directory once it stopped.  "" and -1 when the job
	 * launched none, or stopped the one it launched (any failure but one
	 * after post-copy began, when the destination holds the VM).  With
	 * dest_uri, the agent's destination QEMU, launched or attached, as
	 * its prepare said: a path and a pid on that host, not this one's child.
	 */
	char dst_qmp[108];
	long dst_pid;
	/* copy_storage: the disks copied and their bytes (the sum of their capacities) */
	unsigned storage_disks;
	unsigned long long storage_bytes;
};

struct qm_job_callbacks {
	void (*phase)(struct qm_job *job, enum qm_phase phase, void *userdata);
	void (*progress)(struct qm_job *job, const struct qm_progress *p, void *userdata);
	/* Runs once, from the loop; the job may be unreferenced inside it. */
	void (*done)(struct qm_job *job, const struct qm_result *r, void *userdata);
	/* A policy or a control command took a decision (may be NULL). */
	void (*policy)(struct qm_job *job, const struct qm_policy_decision *d, void *userdata);
};

/* Copies @opts and @cbs; returns NULL with @err filled when they are invalid. */
struct qm_job *qm_job_new(struct qm_ctx *ctx, struct ev_loop *loop,
			  const struct qm_job_options *opts, const struct qm_job_callbacks *cbs,
			  void *userdata, struct qm_error *err) QM_MUST_CHECK;
struct qm_job *qm_job_ref(struct qm_job *job);
/*
 * Dropping the last reference of a running job does not stop QEMU (cancel
 * first), except a destination the job launched, which it kills.
 */
struct qm_job *qm_job_unref(struct qm_job *job);
/* Starts the job; the done callback reports the outcome. */
int qm_job_start(struct qm_job *job, struct qm_error *err) QM_MUST_CHECK;
/*
 * Asks the job to stop and roll back: the source keeps (or resumes) the VM,
 * the destination QEMU is stopped.  Too late once perform completed: then the
 * job finishes normally and this returns -EBUSY.
 */
int qm_job_cancel(struct qm_job *job);
const struct qm_progress *qm_job_progress(const struct qm_job *job);

/*
 * Commands for a running job; each returns 0 once the command is on its way,
 * -EBUSY when the job is not migrating (before perform, or after), -EALREADY
 * when it finished.  Force-complete switches to post-copy when it is enabled,
 * else pauses the source so that the migration converges.
 */
int qm_job_force_complete(struct qm_job *job);
int qm_job_set_downtime(struct qm_job *job, unsigned long long ms);
int qm_job_set_bandwidth(struct qm_job *job, unsigned long long bytes_per_s);

/*
 * Serves the commands above, and a query of the progress, on a new UNIX stream
 * socket at @path (mode 0600), on the job's loop, for `qmigrate job` and other
 * processes: one JSON request per line, one JSON reply per line, e.g.
 *   {"verb":"set-downtime","value":500}   ->  {"ok":true}
 * (verbs: query, cancel, force-complete, set-downtime (ms), set-bandwidth (MiB/s)).
 * A stale socket at @path is replaced; a live one or a file that is not a socket
 * is refused and left alone.  The job owns the socket: its last unref closes it
 * and removes the file.  @path is copied.  Returns 0, -EALREADY when the job
 * already listens, or another negative errno with @err filled.
 */
int qm_job_listen_control(struct qm_job *job, const char *path,
			  struct qm_error *err) QM_MUST_CHECK;

const char *qm_phase_name(enum qm_phase phase);
const char *qm_job_status_name(enum qm_job_status status);
const char *qm_vm_location_name(enum qm_vm_location vm);

/*
 * The blocking convenience call: runs a job on a private loop until it ends
 * and fills @result.  Returns 0 when the migration completed.
 */
int qm_migrate(struct qm_ctx *ctx, const struct qm_job_options *opts, struct qm_result *result);

#ifdef __cplusplus
}
#endif
#endif
