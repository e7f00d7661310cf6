/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The job's QMP transcript (qm_job_options.qmp_log) of a migration against
 * the two fake QEMUs: both sides, both directions, one JSON object a line in
 * time order, in a 0600 file; a symbolic link is refused.  The masking of
 * secrets is the QMP client's (test-qmp-client.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <signal.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/job.h"
#include "engine/peer-msg.h"
#include "tests/helpers/engine-harness.h"

TestSuite(engine_qmp_log, .timeout = 20);

struct seen {
	int lines;
	int sides[2][2]; /* [source, destination][send, recv] */
	bool greeting[2], migrate, migrate_incoming, event;
	int closed[2]; /* {"closed"} lines, source and destination */
};

static void check_line(struct seen *s, json_t *line, double *last_ts)
{
	const char *side = json_string_value(json_object_get(line, "side"));
	const char *dir = json_string_value(json_object_get(line, "dir"));
	json_t *msg = json_object_get(line, "msg");
	const char *execute = json_string_value(json_object_get(msg, "execute"));
	double ts = json_real_value(json_object_get(line, "ts"));
	json_t *closed;
	int i, d;

	cr_assert(json_is_real(json_object_get(line, "ts")));
	cr_assert_geq(ts, *last_ts, "time went back: %f < %f", ts, *last_ts);
	cr_assert_gt(ts, 1.5e9, "not seconds since the epoch: %f", ts);
	*last_ts = ts;
	closed = json_object_get(line, "closed");
	if (closed) {
		/* The end of a connection: who closed it, and why. */
		cr_assert(side && dir && !strcmp(dir, "recv") && !msg, "%s", dir);
		cr_assert(json_is_string(json_object_get(closed, "class")));
		cr_assert(json_is_string(json_object_get(closed, "desc")));
		cr_assert(json_is_integer(json_object_get(closed, "errno")));
		s->closed[!strcmp(side, "destination")]++;
		return;
	}
	cr_assert(side && dir && json_is_object(msg));
	cr_assert(!strcmp(side, "source") || !strcmp(side, "destination"), "side %s",
		  side);
	cr_assert(!strcmp(dir, "send") || !strcmp(dir, "recv"), "dir %s", dir);
	i = !strcmp(side, "destination");
	d = !strcmp(dir, "recv");
	s->sides[i][d]++;
	if (json_object_get(msg, "QMP"))
		s->greeting[i] = d;
	if (execute && !strcmp(execute, "migrate"))
		s->migrate = !i && !d;
	if (execute && !strcmp(execute, "migrate-incoming"))
		s->migrate_incoming = i && !d;
	if (json_object_get(msg, "event"))
		s->event = d;
}

Test(engine_qmp_log, a_migration_writes_both_sides_both_ways_as_json_lines_in_a_0600_file)
{
	static const struct fq_step src[] = { SRC_BEGIN, SRC_MIGRATE, SRC_COMPLETES,
					      FQ_END };
	static const struct fq_step dst[] = { DST_PREPARE, DST_RESUMES, FQ_END };
	char dir[] = "/tmp/qmigrate-qmplog-XXXXXX", path[64], text[16384];
	struct run run = { 0 };
	struct seen s = { 0 };
	double last_ts = 0;
	struct stat st;
	FILE *f;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/qmp.log", dir);
	run.qmp_log = path;
	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	f = fopen(path, "r");
	cr_assert(f);
	while (fgets(text, sizeof(text), f)) {
		json_error_t jerr;
		json_t *line = json_loads(text, 0, &jerr);

		cr_assert(strchr(text, '\n'), "a line too long or cut: %s", text);
		cr_assert(json_is_object(line), "line %d is not JSON: %s (%s)",
			  s.lines + 1, text, jerr.text);
		check_line(&s, line, &last_ts);
		json_decref(line);
		s.lines++;
	}
	fclose(f);
	unlink(path);
	rmdir(dir);
	for (int i = 0; i < 2; i++)
		for (int d = 0; d < 2; d++)
			cr_assert_gt(s.sides[i][d], 1, "side %d dir %d: %d lines", i, d,
				     s.sides[i][d]);
	cr_assert(s.greeting[0] && s.greeting[1],
		  "a greeting is missing or not received");
	cr_assert(s.migrate, "no migrate sent to the source");
	cr_assert(s.migrate_incoming, "no migrate-incoming sent to the destination");
	cr_assert(s.event, "no event received");
	/* The source QEMU quit: its connection's end is in the transcript, once. */
	cr_assert_eq(s.closed[0], 1, "the source's close logged %d times", s.closed[0]);
}

Test(engine_qmp_log, a_symbolic_link_is_refused_before_anything_starts)
{
	char dir[] = "/tmp/qmigrate-qmplog-XXXXXX", link[64], target[64];
	struct qm_job_options opts = { .src_qmp = "/nonexistent/src",
				       .dst_qmp = "/nonexistent/dst" };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_error err = { 0 };
	struct qm_job *job;

	cr_assert(mkdtemp(dir));
	snprintf(link, sizeof(link), "%s/qmp.log", dir);
	snprintf(target, sizeof(target), "%s/target", dir);
	cr_assert_eq(symlink(target, link), 0);
	opts.qmp_log = link;
	job = qm_job_new(ctx, loop, &opts, NULL, NULL, &err);
	cr_assert_null(job, "a symbolic link was followed");
	cr_assert_eq(err.code, -ELOOP, "%d %s", err.code, err.text);
	cr_assert(strstr(err.text, "symbolic link"), "%s", err.text);
	cr_assert_eq(access(target, F_OK), -1, "the link's target was created");
	unlink(link);
	rmdir(dir);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
}

/* The log runs into the file size limit (EFBIG): one warning, the job goes on. */
Test(engine_qmp_log, a_write_error_warns_once_and_the_migration_completes)
{
	static const struct fq_step src[] = { SRC_BEGIN, SRC_MIGRATE, SRC_COMPLETES,
					      FQ_END };
	static const struct fq_step dst[] = { DST_PREPARE, DST_RESUMES, FQ_END };
	char dir[] = "/tmp/qmigrate-qmplog-XXXXXX", path[64];
	struct rlimit small = { 2048, 2048 };
	struct run run = { 0 };
	const char *w;
	struct stat st;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/qmp.log", dir);
	/* criterion runs each test in a process of its own: the limit stays here. */
	signal(SIGXFSZ, SIG_IGN);
	cr_assert_eq(setrlimit(RLIMIT_FSIZE, &small), 0);
	run.qmp_log = path;
	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	w = strstr(run.warnings, "QMP log: ");
	cr_assert(w, "no warning: %s", run.warnings);
	cr_assert_null(strstr(w + 1, "QMP log: "), "more than one warning: %s",
		       run.warnings);
	cr_assert_eq(stat(path, &st), 0);
	cr_assert_leq(st.st_size, 2048);
	unlink(path);
	rmdir(dir);
}

/* A message over 1 MiB is logged as its first 4096 bytes and its size. */
Test(engine_qmp_log, a_huge_message_is_cut_to_a_bounded_line)
{
	size_t n = (1 << 20) + 100;
	char *big = malloc(n + 64), dir[] = "/tmp/qmigrate-qmplog-XXXXXX", path[64];
	const struct fq_step src[] = {
		SRC_BEGIN, FQ_SEND_TEXT(big), SRC_MIGRATE, SRC_COMPLETES, FQ_END,
	};
	static const struct fq_step dst[] = { DST_PREPARE, DST_RESUMES, FQ_END };
	struct run run = { 0 };
	json_t *line, *cut = NULL;
	char *text = NULL;
	size_t cap = 0;
	FILE *f;
	int len;

	cr_assert(big && mkdtemp(dir));
	len = sprintf(big, "{\"event\": \"BIG\", \"data\": {\"s\": \"");
	memset(big + len, 'x', n - (size_t)len - 4);
	strcpy(big + n - 4, "\"}}");
	snprintf(path, sizeof(path), "%s/qmp.log", dir);
	run.qmp_log = path;
	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	f = fopen(path, "r");
	cr_assert(f);
	while (getline(&text, &cap, f) > 0) {
		/* query-machines' reply is the longest whole message, 10 KB */
		cr_assert_lt(strlen(text), 65536, "a line of %zu bytes", strlen(text));
		line = json_loads(text, 0, NULL);
		cr_assert(line, "not JSON: %.200s", text);
		if (json_object_get(line, "bytes"))
			cr_assert_lt(strlen(text), 4096 + 200,
				     "the cut line has %zu bytes", strlen(text));
		if (json_object_get(line, "bytes"))
			cut = json_incref(line);
		json_decref(line);
	}
	free(text);
	fclose(f);
	unlink(path);
	rmdir(dir);
	free(big);
	cr_assert(cut, "the big event is not in the log");
	cr_assert_eq(json_integer_value(json_object_get(cut, "bytes")),
		     (json_int_t)n - 1);
	cr_assert_eq(json_string_length(json_object_get(cut, "msg")), 4096);
	json_decref(cut);
}

/* ---- the agent's side: forwarded, not written (feature qmp-log) ----------------------- */

static struct forwarded {
	int messages, cut, incoming;
	long long cut_bytes;
	double last_ts;
} fwd;

/* What the agent would queue for the source: each must encode as a peer message. */
static void collect(const struct qm_peer_qmp_log *l, void *run)
{
	struct qm_peer_msg m = { .type = QM_PEER_QMP_LOG, .qmp_log = *l };
	struct qm_error err = { 0 };
	const char *ex = json_string_value(json_object_get(l->msg, "execute"));
	char *frame = NULL;
	size_t len;

	cr_assert_eq(qm_peer_msg_encode(&m, &frame, &len, &err), 0, "%s", err.text);
	free(frame);
	cr_assert_geq(l->ts, fwd.last_ts);
	fwd.last_ts = l->ts;
	fwd.messages++;
	if (json_is_string(l->msg)) {
		fwd.cut++;
		fwd.cut_bytes = l->bytes;
		cr_assert_leq(json_string_length(l->msg), 4096);
	}
	if (ex && strcmp(ex, "migrate-incoming") == 0 && l->sent)
		fwd.incoming++;
}

/*
 * A message whose JSON is over a peer message's bound (64 KiB), well under
 * the local 1 MiB, is forwarded as its start and its size: it still crosses.
 */
Test(engine_qmp_log, forwarded_messages_fit_a_peer_message_a_big_one_cut)
{
	size_t n = 100000;
	char *big = malloc(n + 1);
	const struct fq_step src[] = { SRC_BEGIN, SRC_MIGRATE, SRC_COMPLETES, FQ_END };
	const struct fq_step dst[] = { DST_PREPARE, FQ_SEND_TEXT(big), DST_RESUMES, FQ_END };
	struct run run = { .qmp_forward = collect };
	int len;

	cr_assert(big);
	len = sprintf(big, "{\"event\": \"BIG\", \"data\": {\"s\": \"");
	memset(big + len, 'x', n - (size_t)len - 3);
	strcpy(big + n - 3, "\"}}");
	migrate_with(&run, src, dst, false);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert_gt(fwd.messages, 20, "%d messages", fwd.messages);
	cr_assert_eq(fwd.incoming, 1);
	cr_assert_eq(fwd.cut, 1, "%d cut", fwd.cut);
	cr_assert_eq(fwd.cut_bytes, (long long)n);
	free(big);
}
