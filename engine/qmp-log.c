/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The job's QMP transcript (qm_job_options.qmp_log): every message to and
 * from both QEMUs as JSON lines {"ts", "side", "dir", "msg"}, and the end of
 * each connection as {"ts", "side", "dir": "recv", "closed": {"class",
 * "desc", "errno"}}, what a user attaches to a bug report and what
 * `qmigrate replay` serves back (replay-script.c).  The QMP client masks the secrets (qmp/client.c,
 * the same rule as its debug trace); this file only writes.  Logging never
 * fails the migration: a write error warns once and stops it.
 *
 * Through an agent (docs/peer-protocol.md, feature qmp-log) the destination's
 * QMP is the agent's: there the log has no file but a sink that forwards each
 * message to the source, which writes it here as the destination's.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "engine/job.h"
#include "engine/peer-msg.h"
#include "qmp/internal.h"
#include "util/error.h"
#include "util/io.h"
#include "util/log.h"

/* A message past this is logged as its first MAX_SHOWN bytes and its size. */
#define MAX_MSG ((size_t)1 << 20)
#define MAX_SHOWN 4096

struct qm_qmp_log;

struct log_side {
	struct qm_qmp_log *log;
	const char *name;
};

struct qm_qmp_log {
	struct qm_ctx *ctx;
	int fd; /* -1 on the agent: the sink forwards */
	qm_qmp_log_sink_fn sink;
	void *sink_data;
	bool failed;
	double last_ts;
	struct log_side side[2]; /* source, destination */
};

/* Takes @fd (-1: none). */
static int log_new(struct qm_job *job, int fd, struct qm_error *err)
{
	struct qm_qmp_log *log = calloc(1, sizeof(*log));

	if (!log) {
		if (fd >= 0)
			close(fd);
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	}
	log->ctx = job->ctx;
	log->fd = fd;
	log->side[0] = (struct log_side){ log, "source" };
	log->side[1] = (struct log_side){ log, "destination" };
	job->qmp_log = log;
	return 0;
}

int qm_qmp_log_open(struct qm_job *job, const char *path, struct qm_error *err)
{
	struct stat st;
	int fd;

	if (!path)
		return 0;
	/* O_NONBLOCK: a FIFO without a reader fails here instead of hanging. */
	fd = open(path,
		  O_WRONLY | O_CREAT | O_TRUNC | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK,
		  0600);
	if (fd < 0) {
		int e = errno;

		return qm_error_set(err, -e, "Usage", "QMP log %s: %s", path,
				    e == ELOOP ? "a symbolic link, refused"
					       : strerror(e));
	}
	/* An existing file keeps its mode: it too gets the new file's 0600. */
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || fchmod(fd, 0600) < 0) {
		close(fd);
		return qm_error_set(err, -EINVAL, "Usage",
				    "QMP log %s: not a regular file", path);
	}
	return log_new(job, fd, err);
}

int qm_qmp_log_forward(struct qm_job *job, qm_qmp_log_sink_fn sink, void *userdata,
		       struct qm_error *err)
{
	int r;

	if (job->qmp_log)
		return qm_error_set(err, -EEXIST, "GenericError",
				    "the job has a QMP log already");
	r = log_new(job, -1, err);
	if (r == 0) {
		job->qmp_log->sink = sink;
		job->qmp_log->sink_data = userdata;
	}
	return r;
}

void qm_qmp_log_free(struct qm_job *job)
{
	if (!job->qmp_log)
		return;
	if (job->qmp_log->fd >= 0)
		close(job->qmp_log->fd);
	free(job->qmp_log);
	job->qmp_log = NULL;
}

static double now_ts(void)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return (double)now.tv_sec + (double)now.tv_nsec / 1e9;
}

/* @ts, never less than the line before's: a clock step back must not reorder
 * the transcript. */
static double log_time(struct qm_qmp_log *log, double ts)
{
	if (ts < log->last_ts)
		ts = log->last_ts;
	log->last_ts = ts;
	return ts;
}

/*
 * The message as JSON; a huge or malformed one as a string of its start.
 * Forwarded (@max_dumped not 0), huge is what a peer message cannot carry.
 */
static json_t *log_msg(const char *text, size_t len, size_t max_dumped, json_t **bytes)
{
	json_t *msg = len <= MAX_MSG ? json_loadb(text, len, JSON_ALLOW_NUL, NULL) : NULL;

	if (msg && max_dumped &&
	    json_dumpb(msg, NULL, 0, JSON_COMPACT | JSON_ENCODE_ANY) > max_dumped) {
		json_decref(msg);
		msg = NULL;
	}
	if (msg)
		return msg;
	*bytes = json_integer((json_int_t)len);
	msg = json_stringn(text, len < MAX_SHOWN ? len : MAX_SHOWN);
	/* Not UTF-8, or cut inside a character: the line must stay JSON. */
	return msg ? msg : json_string("(not UTF-8, not shown)");
}

/* Writes @line (stolen) and a newline in one write: lines never interleave. */
static void log_write(struct qm_qmp_log *log, json_t *line)
{
	char *dumped = line ? json_dumps(line, JSON_COMPACT) : NULL;
	int r = -ENOMEM;

	json_decref(line);
	if (dumped) {
		size_t n = strlen(dumped);
		char *l = realloc(dumped, n + 2);

		if (l) {
			dumped = l;
			memcpy(dumped + n, "\n", 2);
			r = qm_write_all(log->fd, dumped, n + 1);
		}
		free(dumped);
	}
	if (r < 0) {
		log->failed = true;
		qm_warn(log->ctx, "QMP log: %s; the rest of the transcript is lost",
			strerror(-r));
	}
}

static void log_line(struct qm_qmp *qmp, bool sent, const char *text, size_t len,
		     void *userdata)
{
	struct log_side *side = userdata;
	struct qm_qmp_log *log = side->log;
	json_t *bytes = NULL, *msg;
	struct qm_peer_qmp_log fwd = { .sent = sent, .bytes = -1 };

	if (log->failed)
		return;
	/* Before json_pack: its arguments' order of evaluation is unspecified. */
	msg = log_msg(text, len, log->sink ? QM_PEER_QMP_LOG_MAX : 0, &bytes);
	if (!log->sink) {
		double ts = log_time(log, now_ts());

		log_write(log, json_pack("{s:f, s:s, s:s, s:o, s:o*}", "ts", ts, "side",
					 side->name, "dir", sent ? "send" : "recv", "msg", msg,
					 "bytes", bytes));
		return;
	}
	fwd.ts = log_time(log, now_ts());
	fwd.msg = msg;
	if (bytes)
		fwd.bytes = (long long)json_integer_value(bytes);
	if (msg)
		log->sink(&fwd, log->sink_data);
	json_decref(msg);
	json_decref(bytes);
}

void qm_qmp_log_forwarded(struct qm_job *job, const struct qm_peer_qmp_log *l)
{
	struct qm_qmp_log *log = job->qmp_log;
	double now = now_ts(), ts;

	if (!log || log->failed || log->fd < 0)
		return;
	ts = log_time(log, l->ts < now ? l->ts : now);
	log_write(log, json_pack("{s:f, s:s, s:s, s:O, s:o*}", "ts", ts, "side", "destination",
				 "dir", l->sent ? "send" : "recv", "msg", l->msg, "bytes",
				 l->bytes >= 0 ? json_integer((json_int_t)l->bytes) : NULL));
}

void qm_qmp_log_closed(struct qm_job *job, bool source, const struct qm_error *err)
{
	struct qm_qmp_log *log = job->qmp_log;
	double ts;

	/* An agent's log forwards messages only: the source logs its own ends. */
	if (!log || log->failed || log->fd < 0)
		return;
	ts = log_time(log, now_ts());
	/* errno ECANCELED: qmigrate closed it; anything else: QEMU went away. */
	log_write(log, json_pack("{s:f, s:s, s:s, s:{s:s, s:s, s:i}}", "ts", ts, "side",
				 log->side[source ? 0 : 1].name, "dir", "recv", "closed",
				 "class", err ? err->error_class : "ConnectionClosed", "desc",
				 err ? err->text : "", "errno", err ? -err->code : 0));
}

void qm_qmp_log_attach(struct qm_job *job, struct qm_qmp *qmp, bool source)
{
	if (job->qmp_log)
		qm_qmp_set_transcript(qmp, log_line, &job->qmp_log->side[source ? 0 : 1]);
}
