/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client's insides, shared by its parts: client.c (commands,
 * replies, closing), command-text.c (a command's wire text and its masked
 * trace), connect.c (connecting and the handshake deadline) and events.c
 * (subscribers and event dispatch).  Nothing outside qmp/ uses it.
 */
#ifndef QM_QMP_CLIENT_PRIVATE_H
#define QM_QMP_CLIENT_PRIVATE_H

#include <ev.h>
#include <jansson.h>

#include "qmigrate.h"
#include "qmp/frame.h"
#include "qmp/internal.h"
#include "util/list.h"

#define DEFAULT_CONNECT_TIMEOUT 10.0
#define DEFAULT_COMMAND_TIMEOUT 30.0
#define DEFAULT_MAX_MESSAGE ((size_t)64 << 20)
#define CONNECT_RETRY 0.02
#define READ_CHUNK 65536
#define MAX_IOV 64

enum qmp_state {
	QMP_IDLE,	  /* nothing asked yet */
	QMP_CONNECTING,	  /* socket not there yet, or connect in progress */
	QMP_GREETING,	  /* connected, waiting for the greeting */
	QMP_NEGOTIATING,  /* qmp_capabilities sent */
	QMP_READY,	  /* user commands flow */
	QMP_CLOSED,
};

struct pending {
	struct qm_list link;
	struct qm_qmp *qmp;
	ev_timer timer;
	long long id;
	char *text; /* the serialized command, while not fully sent */
	size_t len, off;
	/* what the trace shows instead of @text: its password masked (set_password) */
	char *trace;
	double timeout;
	int fd;	      /* our dup of the fd to pass, or -1 */
	bool internal; /* qmp_capabilities: may go before READY */
	qm_qmp_reply_fn cb;
	void *userdata;
};

struct subscriber {
	struct qm_list link;
	char *name;
	qm_qmp_event_fn cb; /* NULL once unsubscribed during a dispatch */
	void *userdata;
};

struct qm_qmp {
	int refcount;
	struct qm_ctx *ctx;
	struct ev_loop *loop;
	struct qm_qmp_options opts;
	enum qmp_state state;
	int fd;
	char *path;
	char *label; /* prefixes connection errors */
	ev_io rio, wio;
	ev_timer connect_timer; /* retries while the socket is not there */
	ev_timer handshake_timer;
	ev_timer fail_timer; /* delivers failures from the loop, never inline */
	ev_tstamp path_deadline; /* until then a missing path is waited for */
	bool path_found;	 /* it existed once: the handshake timer runs */
	int connect_errno; /* why the last attempt failed */
	struct qm_frame frame;
	long long next_id;
	struct qm_list sendq;  /* not fully written yet */
	struct qm_list waitq;  /* written, waiting for the reply */
	struct qm_list failq;  /* to be failed from fail_timer */
	struct qm_list subscribers;
	unsigned dispatching; /* event dispatches under way: unsubscribing only marks */
	json_t *greeting;
	unsigned early_events; /* events that came before the greeting, dropped */
	struct qm_error close_err;
	bool close_notified;
	qm_qmp_close_fn close_cb;
	void *close_data;
	qm_qmp_transcript_fn transcript_cb; /* qm_qmp_set_transcript */
	void *transcript_data;
};

/* client.c */
/* Closes with @err (the first reason is kept); failures are delivered from the loop. */
void qm_qmp_fail(struct qm_qmp *q, const struct qm_error *err);
void qm_qmp_fail_errno(struct qm_qmp *q, int code, const char *error_class, const char *what);

/* connect.c */
void qm_qmp_init_connect(struct qm_qmp *q);
/* Starts reading (and, while a connect is in progress, waiting to write) on @fd. */
void qm_qmp_start_io(struct qm_qmp *q, int fd, bool in_progress);

/* events.c */
void qm_qmp_handle_event(struct qm_qmp *q, json_t *msg, const char *name);
void qm_qmp_free_subscribers(struct qm_qmp *q);

/* command-text.c */
/*
 * The wire form of a command, newline-terminated, as json_dumps with
 * JSON_COMPACT makes it.  Steals @args.  NULL when out of memory.
 */
char *qm_qmp_format_command(const char *command, long long id, json_t *args, size_t *len);
/*
 * What the trace and the transcript show of a command with a secret (a
 * "password" argument, a secret object's data): the secret as "***".
 * NULL when the command has none.
 */
char *qm_qmp_masked_command(const char *command, long long id, json_t *args);

#endif
