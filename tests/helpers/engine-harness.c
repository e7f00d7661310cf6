/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <dirent.h>
#include <ev.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <syslog.h>
#include <unistd.h>

#include "engine/job.h"
#include "tests/helpers/engine-harness.h"
#include "util/macros.h"
#include "xml/domain-argv.h"

/* The mode of the one qmigrate-* directory in @dir, or -1. */
static int runtime_dir_mode(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[PATH_MAX];
	struct stat st;
	int mode = -1;

	cr_assert(d);
	while ((e = readdir(d)))
		if (strncmp(e->d_name, "qmigrate-", 9) == 0) {
			snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
			cr_assert_eq(lstat(path, &st), 0);
			cr_assert(S_ISDIR(st.st_mode));
			mode = st.st_mode & 07777;
		}
	closedir(d);
	return mode;
}

static void on_phase(struct qm_job *job, enum qm_phase phase, void *ud)
{
	struct run *run = ud;

	cr_assert_lt(run->n_phases, 16);
	run->phases[run->n_phases++] = phase;
	if (phase == QM_PHASE_PERFORM)
		run->runtime_mode = runtime_dir_mode(run->dir);
	if (run->on_phase)
		run->on_phase(run, job, phase);
}

/* Warnings and errors go into run->warnings; everything to stderr with QMIGRATE_LOG. */
static _printf_(6, 0) void on_log(void *ud, int priority, const char *file, int line,
				  const char *fn, const char *format, va_list args)
{
	struct run *run = ud;
	size_t len = strlen(run->warnings);
	va_list copy;

	if (getenv("QMIGRATE_LOG")) {
		va_copy(copy, args);
		vfprintf(stderr, format, copy);
		fputc('\n', stderr);
		va_end(copy);
	}
	if (priority > LOG_WARNING || len + 2 >= sizeof(run->warnings))
		return;
	vsnprintf(run->warnings + len, sizeof(run->warnings) - len - 1, format, args);
	if (strstr(run->warnings + len, "runs the VM under TCG, where QEMU before 9.0")) {
		run->tcg_warnings++;
		run->warnings[len] = '\0';
		return;
	}
	strcat(run->warnings, "\n");
}

static void on_progress(struct qm_job *job, const struct qm_progress *p, void *ud)
{
	struct run *run = ud;

	run->n_progress++;
	run->last = *p;
	snprintf(run->last_status, sizeof(run->last_status), "%s", p->status);
	if (run->cancel_on_progress)
		cr_assert_eq(qm_job_cancel(job), 0);
	if (run->resume_on_progress)
		fq_resume(run->resume_on_progress);
}

static void on_policy(struct qm_job *job, const struct qm_policy_decision *d, void *ud)
{
	struct run *run = ud;

	run->decisions++;
	snprintf(run->decision, sizeof(run->decision), "%s %s", d->policy, d->action);
	snprintf(run->reason, sizeof(run->reason), "%s", d->reason);
}

static void on_done(struct qm_job *job, const struct qm_result *r, void *ud)
{
	struct run *run = ud;

	cr_assert_not(run->done, "done called twice");
	run->result = *r;
	run->done = true;
}

void migrate_with(struct run *run, const struct fq_step *src_script,
			 const struct fq_step *dst_script, bool dst_waits)
{
	struct qm_job_callbacks cbs = {
		.phase = on_phase,
		.progress = on_progress,
		.done = on_done,
		.policy = on_policy,
	};
	_cleanup_(qm_argv_freep) char **leases = NULL;
	char dir[] = "/tmp/qmigrate-engine-XXXXXX", src[64], dst[64];
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_error err = { 0 };
	struct qm_ctx *ctx = qm_ctx_new();
	struct fq *fsrc, *fdst;

	qm_ctx_set_log_fn(ctx, on_log, run);
	if (qm_ctx_get_log_priority(ctx) < LOG_WARNING)
		qm_ctx_set_log_priority(ctx, LOG_WARNING);
	cr_assert(mkdtemp(dir));
	snprintf(src, sizeof(src), "%s/src", dir);
	snprintf(dst, sizeof(dst), "%s/dst", dir);
	fsrc = src_script ? fq_listen(loop, src, src_script) : NULL;
	fdst = dst_script ? fq_listen(loop, dst, dst_script) : NULL;
	run->dir = dir;
	run->runtime_mode = -1;
	if (dst_waits)
		run->resume_on_progress = fdst;
	struct qm_job_options opts = {
		.src_qmp = src,
		.dst_qmp = dst,
		.transport = run->transport,
		.runtime_dir = dir,
		.poll_interval = 1e6,
		.multifd_channels = run->multifd,
		.cancel_timeout = run->cancel_timeout,
		.spice_timeout = run->spice_timeout,
		.spice_x509_dir = run->spice_x509_dir,
		.connect_timeout = run->connect_timeout,
		.policy = run->policy,
		.max_downtime_ms = run->max_downtime_ms,
		.bandwidth = run->bandwidth,
		.leases = run->leases,
		.host_uuid = run->host_uuid,
		.qmp_log = run->qmp_log,
	};
	if (run->domain_xml) {
		struct qm_job_options vm = {
			.launch_dest = true,
			.leases = run->leases,
			.domain_xml = run->domain_xml,
			.policy = run->policy,
		};

		cr_assert_eq(qm_job_leases_gather(&vm, &leases, &err), 0, "%s", err.text);
		opts.leases = (const char *const *)leases;
	}
	if (opts.leases)
		run->job = qm_job_alloc(ctx, loop, &opts, &cbs, run, &err);
	else
		run->job = qm_job_new(ctx, loop, &opts, &cbs, run, &err);
	cr_assert(run->job, "%s", err.text);
	if (run->qmp_forward)
		cr_assert_eq(qm_qmp_log_forward(run->job, run->qmp_forward, run, &err), 0);
	cr_assert_eq(qm_job_start(run->job, &err), 0, "%s", err.text);
	cr_assert_not(run->done, "the result came inside qm_job_start");
	while (!run->done) {
		ev_run(loop, EVRUN_ONCE);
		if (run->resume_src_when && fq_waiting(fsrc) && run->resume_src_when(run->job))
			fq_resume(fsrc);
	}
	/* Let the servers see the last bytes and hang-ups. */
	while ((fsrc && !fq_finished(fsrc)) || (fdst && !fq_finished(fdst)))
		ev_run(loop, EVRUN_NOWAIT);
	qm_job_unref(run->job);
	fq_free(fsrc);
	fq_free(fdst);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	unlink(src);
	unlink(dst);
	/* The job removed its private runtime directory inside ours. */
	cr_assert_eq(rmdir(dir), 0, "runtime directory left behind");
	/* Phases only move forward. */
	for (int i = 1; i < run->n_phases; i++)
		cr_assert_gt(run->phases[i], run->phases[i - 1]);
	cr_assert_eq(run->phases[run->n_phases - 1], QM_PHASE_DONE);
}

