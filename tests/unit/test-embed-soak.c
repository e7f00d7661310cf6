/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A program that embeds the library and runs job after job on one loop and
 * one context, as a management daemon would: 1000 jobs against the fake QMP
 * servers, one in three completing and the others failing (a source that
 * refuses QMP, a destination socket that is not there).  Nothing may pile
 * up: the open descriptors after 1000 jobs are those after 100, and the
 * resident set grew by at most 256 KiB between them.  The job is dropped in
 * its done callback, from the loop, as the API allows.
 *
 * Under valgrind (tests/valgrind-run sets QMIGRATE_VALGRIND) or ASan, the
 * resident set is the tool's too, which keeps freed blocks in quarantine:
 * only the descriptors are checked there, and the test says so; the tool
 * itself reports any leak.  Under valgrind, 300 jobs do for that (1000 take
 * minutes).
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/helpers/engine-harness.h"

#if defined(__SANITIZE_ADDRESS__)
#define UNDER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define UNDER_ASAN 1
#endif
#endif
#ifndef UNDER_ASAN
#define UNDER_ASAN 0
#endif

#define JOBS 1000
#define JOBS_UNDER_VALGRIND 300
#define BASELINE 100
#define RSS_SLACK (256 * 1024L)

TestSuite(embed, .timeout = 120);

static const struct fq_step completes_src[] = { SRC_BEGIN, SRC_MIGRATE, SRC_COMPLETES,
						FQ_END };
static const struct fq_step completes_dst[] = { DST_PREPARE, DST_RESUMES, FQ_END };
static const struct fq_step refuses_src[] = {
	FQ_SEND_FILE("greeting.json"),
	FQ_EXPECT("qmp_capabilities", 0),
	FQ_REPLY_TEXT(0,
		      "{\"error\": {\"class\": \"GenericError\", \"desc\": \"busy\"}}"),
	FQ_END,
};
static const struct fq_step idle_dst[] = { FQ_END };
static const struct fq_step no_dst_src[] = {
	SRC_BEGIN,
	FQ_EXPECT("query-status", 5),
	R(5, RUNNING),
	FQ_END,
};

/* One kind of job: the two scripts (NULL: no socket there) and how it ends. */
static const struct kind {
	const struct fq_step *src, *dst;
	enum qm_job_status status;
} kinds[] = {
	{ completes_src, completes_dst, QM_JOB_COMPLETED },
	{ refuses_src, idle_dst, QM_JOB_FAILED },
	{ no_dst_src, NULL, QM_JOB_FAILED },
};

struct embedder {
	struct ev_loop *loop;
	struct qm_ctx *ctx;
	char dir[64], src[96], dst[96];
	bool done;
	enum qm_job_status status;
};

static void on_done(struct qm_job *job, const struct qm_result *r, void *ud)
{
	struct embedder *e = ud;

	e->done = true;
	e->status = r->status;
	qm_job_unref(job);
}

static void quiet(void *ud, int priority, const char *file, int line, const char *fn,
		  const char *format, va_list args)
{
}

static void run_one(struct embedder *e, const struct kind *k)
{
	static const struct qm_job_callbacks cbs = { .done = on_done };
	struct qm_job_options opts = {
		.src_qmp = e->src,
		.dst_qmp = e->dst,
		.runtime_dir = e->dir,
		.poll_interval = 1e6,
	};
	struct fq *fsrc = k->src ? fq_listen(e->loop, e->src, k->src) : NULL;
	struct fq *fdst = k->dst ? fq_listen(e->loop, e->dst, k->dst) : NULL;
	struct qm_error err = { 0 };
	struct qm_job *job;

	e->done = false;
	job = qm_job_new(e->ctx, e->loop, &opts, &cbs, e, &err);
	cr_assert(job, "%s", err.text);
	cr_assert_eq(qm_job_start(job, &err), 0, "%s", err.text);
	while (!e->done)
		ev_run(e->loop, EVRUN_ONCE);
	while ((fsrc && !fq_finished(fsrc)) || (fdst && !fq_finished(fdst)))
		ev_run(e->loop, EVRUN_NOWAIT);
	cr_assert_eq(e->status, k->status, "%s", qm_job_status_name(e->status));
	fq_free(fsrc);
	fq_free(fdst);
	unlink(e->src);
	unlink(e->dst);
}

static int open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	int n = 0;

	cr_assert(d);
	while (readdir(d))
		n++;
	closedir(d);
	return n - 3; /* ".", ".." and the directory's own descriptor */
}

static long rss_bytes(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, resident;

	cr_assert(f);
	cr_assert_eq(fscanf(f, "%ld %ld", &size, &resident), 2);
	fclose(f);
	return resident * sysconf(_SC_PAGESIZE);
}

Test(embed, a_thousand_jobs_on_one_loop_leave_no_descriptor_and_no_memory_behind)
{
	struct embedder e = { .loop = ev_loop_new(EVFLAG_AUTO), .ctx = qm_ctx_new() };
	bool valgrind = getenv("QMIGRATE_VALGRIND") != NULL;
	bool rss_checked = !UNDER_ASAN && !valgrind;
	int jobs = valgrind ? JOBS_UNDER_VALGRIND : JOBS;
	int fds = -1;
	long rss = 0;

	cr_assert(e.loop && e.ctx);
	qm_ctx_set_log_fn(e.ctx, quiet, NULL);
	snprintf(e.dir, sizeof(e.dir), "/tmp/qmigrate-embed-XXXXXX");
	cr_assert(mkdtemp(e.dir));
	snprintf(e.src, sizeof(e.src), "%s/src", e.dir);
	snprintf(e.dst, sizeof(e.dst), "%s/dst", e.dir);
	for (int i = 1; i <= jobs; i++) {
		run_one(&e, &kinds[i % (sizeof(kinds) / sizeof(kinds[0]))]);
		if (i == BASELINE) {
			fds = open_fds();
			rss = rss_bytes();
		}
	}
	cr_assert_eq(open_fds(), fds, "%d descriptors open after %d jobs, %d after %d",
		     open_fds(), jobs, fds, BASELINE);
	if (rss_checked)
		cr_assert_leq(rss_bytes(), rss + RSS_SLACK,
			      "RSS %ld KiB after %d jobs, %ld KiB after %d",
			      rss_bytes() / 1024, jobs, rss / 1024, BASELINE);
	else
		cr_log_info(
			"RSS not checked under %s (its quarantine keeps freed memory)",
			UNDER_ASAN ? "ASan" : "valgrind");
	fprintf(stderr,
		"embed: %d jobs: %d descriptors (as after %d); RSS %ld KiB, %ld KiB "
		"after %d\n",
		jobs, open_fds(), BASELINE, rss_bytes() / 1024, rss / 1024, BASELINE);
	qm_ctx_unref(e.ctx);
	ev_loop_destroy(e.loop);
	/* Every job removed its private runtime directory inside ours. */
	cr_assert_eq(rmdir(e.dir), 0, "a runtime directory was left behind");
}
