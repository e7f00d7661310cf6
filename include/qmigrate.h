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
	double connect_timeout; /* seconds to retry a socket that is not there yet; 0: 10 s */
	double command_timeout; /* default seconds before a command fails; 0: 30 s, <0: none */
	size_t max_message;	/* bytes in one incoming message; 0: 64 MiB */
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
 * Starts connecting to the UNIX socket at @path; while it does not exist or
 * refuses, retries until the connect timeout.  Commands may be queued at
 * once; they go out after the greeting and qmp_capabilities.
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

#ifdef __cplusplus
}
#endif
#endif
