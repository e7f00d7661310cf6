/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client: one connection, its greeting and capabilities handshake,
 * commands matched to replies by id, events, and the one way it closes.
 */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>

#include "qmp/client-private.h"
#include "qmp/internal.h"
#include "qmp/socket.h"
#include "util/error.h"
#include "util/log.h"

/* A command with a secret (it has a masked trace) is wiped before it is freed. */
static void wipe_text(struct pending *p)
{
	if (p->text && p->trace)
		explicit_bzero(p->text, p->len);
	free(p->text);
	p->text = NULL;
}

static void pending_free(struct pending *p)
{
	if (!p)
		return;
	qm_list_del(&p->link);
	ev_timer_stop(p->qmp->loop, &p->timer);
	if (p->fd >= 0)
		close(p->fd);
	wipe_text(p);
	free(p->trace);
	free(p);
}

/* ---- closing -------------------------------------------------------------- */

static void stop_io(struct qm_qmp *q)
{
	ev_io_stop(q->loop, &q->rio);
	ev_io_stop(q->loop, &q->wio);
	ev_timer_stop(q->loop, &q->connect_timer);
	ev_timer_stop(q->loop, &q->handshake_timer);
	if (q->fd >= 0) {
		close(q->fd);
		q->fd = -1;
	}
}

/*
 * Closes the connection with @err (the first reason is kept) and schedules
 * every pending command to fail with it.  Never calls back directly.
 */
void qm_qmp_fail(struct qm_qmp *q, const struct qm_error *err)
{
	struct pending *p;

	if (q->state == QMP_CLOSED)
		return;
	q->state = QMP_CLOSED;
	/* Every way the connection ends comes through here: say whose it was. */
	if (q->label)
		qm_error_set(&q->close_err, err->code, err->error_class, "%s: %s", q->label,
			     err->text);
	else
		qm_error_copy(&q->close_err, err);
	qm_dbg(q->ctx, "QMP %s closed: %s", q->path ? q->path : "(fd)", q->close_err.text);
	stop_io(q);
	/* Written commands are the older ones: they fail first. */
	qm_list_splice_tail(&q->failq, &q->waitq);
	qm_list_splice_tail(&q->failq, &q->sendq);
	/* Every pending command fails with the reason, not with a late timeout. */
	qm_list_for_each(p, &q->failq, link)
		ev_timer_stop(q->loop, &p->timer);
	ev_timer_set(&q->fail_timer, 0., 0.);
	ev_timer_start(q->loop, &q->fail_timer);
}

static void fail_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_qmp *q = w->data;

	qm_qmp_ref(q);
	while (!qm_list_empty(&q->failq) && q->refcount > 1) {
		struct pending *p = qm_list_first(&q->failq, struct pending, link);
		qm_qmp_reply_fn cb = p->cb;
		void *ud = p->userdata;

		pending_free(p);
		if (cb)
			cb(q, NULL, &q->close_err, ud);
	}
	if (!q->close_notified && q->refcount > 1) {
		q->close_notified = true;
		if (q->close_cb)
			q->close_cb(q, &q->close_err, q->close_data);
	}
	qm_qmp_unref(q);
}

void qm_qmp_fail_errno(struct qm_qmp *q, int code, const char *error_class, const char *what)
{
	struct qm_error err = { 0 };

	qm_error_set(&err, code, error_class, "QMP connection %s: %s",
		     q->path ? q->path : "(adopted fd)", what);
	qm_qmp_fail(q, &err);
}

/* ---- writing -------------------------------------------------------------- */

static bool may_send(const struct qm_qmp *q, const struct pending *p)
{
	return q->state == QMP_READY || (q->state == QMP_NEGOTIATING && p->internal);
}

/* Everything sent shows masked (p->trace) in the debug trace and the transcript. */
static void trace_sent(struct qm_qmp *q, const struct pending *p)
{
	const char *text = p->trace ? p->trace : p->text;
	size_t len = p->trace ? strlen(p->trace) : p->len;

	if (qm_ctx_trace_qmp(q->ctx))
		qm_dbg(q->ctx, "QMP >>> %.*s", (int)len - 1, text);
	if (q->transcript_cb)
		q->transcript_cb(q, true, text, len - 1, q->transcript_data);
}

static void flush_out(struct qm_qmp *q)
{
	while (!qm_list_empty(&q->sendq)) {
		struct iovec iov[MAX_IOV];
		struct pending *p, *first = qm_list_first(&q->sendq, struct pending, link);
		int n = 0, pass_fd = first->fd;
		ssize_t sent;

		if (!may_send(q, first))
			break;
		/* Coalesce messages, but an fd must ride with its own message's first byte. */
		qm_list_for_each(p, &q->sendq, link) {
			if (n == MAX_IOV || !may_send(q, p) || (n > 0 && p->fd >= 0))
				break;
			if (p->off == 0)
				trace_sent(q, p);
			iov[n].iov_base = p->text + p->off;
			iov[n].iov_len = p->len - p->off;
			n++;
		}
		if (first->off > 0)
			pass_fd = -1;
		sent = qm_send_iov(q->fd, iov, n, pass_fd);
		if (sent == -EAGAIN) {
			ev_io_start(q->loop, &q->wio);
			return;
		}
		if (sent < 0) {
			qm_qmp_fail_errno(q, (int)sent, "ConnectionClosed", strerror((int)-sent));
			return;
		}
		while (sent > 0) {
			p = qm_list_first(&q->sendq, struct pending, link);
			size_t left = p->len - p->off;

			if ((size_t)sent < left) {
				p->off += (size_t)sent;
				break;
			}
			sent -= (ssize_t)left;
			wipe_text(p);
			if (p->fd >= 0) {
				close(p->fd);
				p->fd = -1;
			}
			qm_list_del(&p->link);
			qm_list_add_tail(&q->waitq, &p->link);
		}
	}
	ev_io_stop(q->loop, &q->wio);
}

static void wio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct qm_qmp *q = w->data;

	if (q->state == QMP_CONNECTING) {
		int so_error = 0;
		socklen_t sl = sizeof(so_error);

		ev_io_stop(loop, w);
		getsockopt(q->fd, SOL_SOCKET, SO_ERROR, &so_error, &sl);
		if (so_error) {
			qm_qmp_fail_errno(q, -so_error, "ConnectionFailed", strerror(so_error));
			return;
		}
		q->state = QMP_GREETING;
		ev_io_start(loop, &q->rio);
		return;
	}
	flush_out(q);
}

/* ---- commands --------------------------------------------------------------- */

static void start_timer(struct qm_qmp *q, struct pending *p)
{
	if (p->timeout <= 0 || ev_is_active(&p->timer))
		return;
	ev_now_update(q->loop); /* the caller may have blocked since the loop ran (connect.c) */
	ev_timer_start(q->loop, &p->timer);
}

static void command_timeout_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct pending *p = w->data;
	struct qm_qmp *q = p->qmp;
	struct qm_error err = { 0 };
	qm_qmp_reply_fn cb = p->cb;
	void *ud = p->userdata;
	double timeout = p->timeout;

	/* A command still wholly unsent is dropped, so it never runs behind our back. */
	if (p->text && p->off > 0) {
		p->cb = NULL;
		ev_timer_stop(loop, w);
	} else {
		pending_free(p);
	}
	qm_error_set(&err, -ETIMEDOUT, "CommandTimeout", "QMP command timed out after %.1f s",
		     timeout);
	if (cb) {
		qm_qmp_ref(q);
		cb(q, NULL, &err, ud);
		qm_qmp_unref(q);
	}
}

static int queue_command(struct qm_qmp *q, const char *command, json_t *args, int fd,
			 double timeout, bool internal, qm_qmp_reply_fn cb, void *userdata)
{
	struct pending *p;
	char *trace;

	if (args && !json_is_object(args)) {
		json_decref(args);
		return -EINVAL;
	}
	if (q->state == QMP_CLOSED || q->state == QMP_IDLE) {
		json_decref(args);
		return -ENOTCONN;
	}
	p = calloc(1, sizeof(*p));
	if (!p) {
		json_decref(args);
		return -ENOMEM;
	}
	trace = qm_qmp_masked_command(command, q->next_id, args);
	/* QEMU wants no separator, but a newline keeps traces and raw peers readable. */
	p->text = qm_qmp_format_command(command, q->next_id, args, &p->len);
	if (!p->text) {
		free(trace);
		free(p);
		return -ENOMEM;
	}
	p->trace = trace;
	p->fd = -1;
	if (fd >= 0) {
		p->fd = fcntl(fd, F_DUPFD_CLOEXEC, 3);
		if (p->fd < 0) {
			int r = -errno;

			free(p->text);
			free(p->trace);
			free(p);
			return r;
		}
	}
	p->qmp = q;
	p->id = q->next_id++;
	p->internal = internal;
	p->cb = cb;
	p->userdata = userdata;
	if (timeout == 0)
		timeout = q->opts.command_timeout;
	p->timeout = timeout;
	ev_timer_init(&p->timer, command_timeout_cb, timeout, 0.);
	p->timer.data = p;
	if (internal)
		qm_list_add(&q->sendq, &p->link);
	else
		qm_list_add_tail(&q->sendq, &p->link);
	/*
	 * The clock starts once the command may go out; until then the connect
	 * and handshake deadline bounds the wait, and says better what went wrong.
	 */
	if (may_send(q, p))
		start_timer(q, p);
	if (q->state >= QMP_NEGOTIATING && !ev_is_active(&q->wio))
		flush_out(q);
	return 0;
}

_public_ int qm_qmp_command(struct qm_qmp *q, const char *command, json_t *args, int fd,
			   double timeout, qm_qmp_reply_fn cb, void *userdata)
{
	return queue_command(q, command, args, fd, timeout, false, cb, userdata);
}

/* ---- reading ---------------------------------------------------------------- */

static struct pending *take_waiting(struct qm_qmp *q, long long id)
{
	struct pending *p;

	qm_list_for_each(p, &q->waitq, link)
		if (p->id == id)
			return p;
	return NULL;
}

static void handle_reply(struct qm_qmp *q, json_t *msg)
{
	json_t *id = json_object_get(msg, "id");
	json_t *ret = json_object_get(msg, "return");
	json_t *error = json_object_get(msg, "error");
	struct qm_error err = { 0 };
	struct pending *p;
	qm_qmp_reply_fn cb;
	void *ud;

	p = json_is_integer(id) ? take_waiting(q, json_integer_value(id)) : NULL;
	if (!p) {
		/* A timed-out command's late reply, or one QEMU could not even parse. */
		qm_warn(q->ctx, "QMP reply matches no pending command; ignored");
		return;
	}
	cb = p->cb;
	ud = p->userdata;
	pending_free(p);
	if (!cb)
		return;
	if (error) {
		const char *cls = json_string_value(json_object_get(error, "class"));
		const char *desc = json_string_value(json_object_get(error, "desc"));

		/* Every error has a class and a message, even when QEMU's are empty. */
		if (!cls || !*cls)
			cls = "GenericError";
		if (!desc || !*desc)
			desc = "QEMU reported an error without a description";
		qm_error_set(&err, -EIO, cls, "%s", desc);
		cb(q, NULL, &err, ud);
	} else if (ret) {
		cb(q, ret, NULL, ud);
	} else {
		qm_error_set(&err, -EPROTO, "ProtocolError",
			     "QMP reply holds neither \"return\" nor \"error\"");
		cb(q, NULL, &err, ud);
	}
}

static void capabilities_cb(struct qm_qmp *q, json_t *ret, const struct qm_error *err,
			    void *userdata)
{
	if (err) {
		qm_qmp_fail(q, err);
		return;
	}
	struct pending *p;

	ev_timer_stop(q->loop, &q->handshake_timer);
	q->state = QMP_READY;
	qm_list_for_each(p, &q->sendq, link)
		start_timer(q, p);
	flush_out(q);
}

/*
 * QEMU 7.2 can send an event ahead of the greeting to a client that connects
 * while the machine starts (a RESUME has been seen): the event goes to the
 * monitor before the monitor has seen the connection open.  Nobody has
 * negotiated, so nobody wants it: a few are dropped, more say that this is
 * not a QMP socket.
 */
#define MAX_EARLY_EVENTS 16

static void handle_greeting(struct qm_qmp *q, json_t *msg, const char *event)
{
	json_t *greeting = json_object_get(msg, "QMP");
	int r;

	if (!json_is_object(greeting) && event && q->early_events < MAX_EARLY_EVENTS) {
		q->early_events++;
		qm_dbg(q->ctx, "QMP: event %s before the greeting, dropped", event);
		return;
	}
	if (!json_is_object(greeting)) {
		char *text = json_dumps(msg, JSON_COMPACT);
		char what[256];

		/* Say what came instead: it tells a wrong socket from a confused peer. */
		snprintf(what, sizeof(what),
			 "the first message is not a QMP greeting (is this a QMP socket?): %.120s",
			 text ? text : "?");
		free(text);
		qm_qmp_fail_errno(q, -EPROTO, "ProtocolError", what);
		return;
	}
	q->greeting = json_incref(greeting);
	q->state = QMP_NEGOTIATING;
	r = queue_command(q, "qmp_capabilities", NULL, -1, 0, true, capabilities_cb, NULL);
	if (r < 0)
		qm_qmp_fail_errno(q, r, "GenericError", "cannot queue qmp_capabilities");
}

static void dispatch(struct qm_qmp *q, const char *text, size_t len)
{
	json_error_t jerr;
	json_t *msg;
	const char *event;

	if (qm_ctx_trace_qmp(q->ctx))
		qm_dbg(q->ctx, "QMP <<< %.*s", (int)len, text);
	if (q->transcript_cb)
		q->transcript_cb(q, false, text, len, q->transcript_data);
	msg = json_loadb(text, len, JSON_ALLOW_NUL, &jerr);
	if (!json_is_object(msg)) {
		struct qm_error err = { 0 };

		qm_error_set(&err, -EPROTO, "ProtocolError",
			     "malformed JSON from QEMU at byte %d: %s", jerr.position, jerr.text);
		json_decref(msg);
		qm_qmp_fail(q, &err);
		return;
	}
	event = json_string_value(json_object_get(msg, "event"));
	if (q->state == QMP_GREETING)
		handle_greeting(q, msg, event);
	else if (event)
		qm_qmp_handle_event(q, msg, event);
	else
		handle_reply(q, msg);
	json_decref(msg);
}

static void rio_cb(struct ev_loop *loop, ev_io *w, int revents)
{
	struct qm_qmp *q = w->data;
	const char *msg;
	size_t len;
	char *space;
	ssize_t n;
	int r;

	space = qm_frame_space(&q->frame, READ_CHUNK);
	if (!space) {
		qm_qmp_fail_errno(q, -ENOMEM, "GenericError", "out of memory");
		return;
	}
	n = read(q->fd, space, READ_CHUNK);
	if (n < 0) {
		if (errno == EAGAIN || errno == EINTR)
			return;
		qm_qmp_fail_errno(q, -errno, "ConnectionClosed", strerror(errno));
		return;
	}
	if (n == 0) {
		qm_qmp_fail_errno(q, -ECONNRESET, "ConnectionClosed",
			   "QEMU closed the connection (did it exit?)");
		return;
	}
	qm_frame_commit(&q->frame, (size_t)n);
	qm_qmp_ref(q);
	while (q->state != QMP_CLOSED && q->refcount > 1) {
		r = qm_frame_next(&q->frame, &msg, &len);
		if (r == 0)
			break;
		if (r == -EMSGSIZE) {
			struct qm_error err = { 0 };

			qm_error_set(&err, r, "ProtocolError",
				     "QMP message larger than %zu bytes; closing", q->opts.max_message);
			qm_qmp_fail(q, &err);
		} else if (r < 0) {
			qm_qmp_fail_errno(q, r, "ProtocolError", "malformed JSON from QEMU (not an object)");
		} else {
			dispatch(q, msg, len);
		}
	}
	qm_qmp_unref(q);
}

/* ---- lifetime ----------------------------------------------------------------- */

_public_ struct qm_qmp *qm_qmp_new(struct qm_ctx *ctx, struct ev_loop *loop,
				   const struct qm_qmp_options *opts)
{
	struct qm_qmp *q = calloc(1, sizeof(*q));

	if (!q)
		return NULL;
	q->refcount = 1;
	q->ctx = qm_ctx_ref(ctx);
	q->loop = loop;
	if (opts)
		q->opts = *opts;
	q->opts.label = NULL;
	if (opts && opts->label && !(q->label = strdup(opts->label))) {
		free(q);
		return NULL;
	}
	if (q->opts.connect_timeout <= 0)
		q->opts.connect_timeout = DEFAULT_CONNECT_TIMEOUT;
	if (q->opts.command_timeout == 0)
		q->opts.command_timeout = DEFAULT_COMMAND_TIMEOUT;
	if (q->opts.max_message == 0)
		q->opts.max_message = DEFAULT_MAX_MESSAGE;
	q->fd = -1;
	q->next_id = 1;
	qm_frame_init(&q->frame, q->opts.max_message);
	qm_list_init(&q->sendq);
	qm_list_init(&q->waitq);
	qm_list_init(&q->failq);
	qm_list_init(&q->subscribers);
	ev_io_init(&q->rio, rio_cb, -1, EV_READ);
	ev_io_init(&q->wio, wio_cb, -1, EV_WRITE);
	ev_timer_init(&q->fail_timer, fail_timer_cb, 0., 0.);
	q->rio.data = q->wio.data = q->fail_timer.data = q;
	qm_qmp_init_connect(q);
	return q;
}

_public_ struct qm_qmp *qm_qmp_ref(struct qm_qmp *q)
{
	if (q)
		q->refcount++;
	return q;
}

static void free_all(struct qm_qmp *q)
{
	struct pending *p, *pn;

	stop_io(q);
	ev_timer_stop(q->loop, &q->fail_timer);
	qm_list_splice_tail(&q->failq, &q->sendq);
	qm_list_splice_tail(&q->failq, &q->waitq);
	qm_list_for_each_safe(p, pn, &q->failq, link)
		pending_free(p);
	qm_qmp_free_subscribers(q);
	qm_frame_release(&q->frame);
	json_decref(q->greeting);
	qm_ctx_unref(q->ctx);
	free(q->path);
	free(q->label);
	free(q);
}

_public_ struct qm_qmp *qm_qmp_unref(struct qm_qmp *q)
{
	if (!q || --q->refcount > 0)
		return q;
	free_all(q);
	return NULL;
}

_public_ void qm_qmp_close(struct qm_qmp *q, const struct qm_error *why)
{
	struct qm_error err = { 0 };

	if (why && why->code)
		qm_error_copy(&err, why);
	else
		qm_error_set(&err, -ECANCELED, "ConnectionClosed", "QMP connection closed by caller");
	qm_qmp_fail(q, &err);
}

_public_ void qm_qmp_set_close_fn(struct qm_qmp *q, qm_qmp_close_fn cb, void *userdata)
{
	q->close_cb = cb;
	q->close_data = userdata;
}

void qm_qmp_set_transcript(struct qm_qmp *q, qm_qmp_transcript_fn cb, void *userdata)
{
	q->transcript_cb = cb;
	q->transcript_data = userdata;
}

_public_ json_t *qm_qmp_greeting(const struct qm_qmp *q)
{
	return q->greeting;
}

_public_ bool qm_qmp_is_ready(const struct qm_qmp *q)
{
	return q->state == QMP_READY;
}

struct ev_loop *qm_qmp_loop(const struct qm_qmp *q)
{
	return q->loop;
}

const struct qm_error *qm_qmp_close_error(const struct qm_qmp *q)
{
	return q->state == QMP_CLOSED ? &q->close_err : NULL;
}
