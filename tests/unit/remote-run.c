/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The runner of the remote tests (remote-run.h). */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/remote-run.h"

/*
 * Bound on the agent's exit once the job is done; it takes milliseconds.
 * Below the job's own 10 s, after which it would stop the agent itself.
 */
#define REAP_BOUND 5.0

static char work[64];	/* the source's socket, the agent's pid file and record */
static char parent[96]; /* the job's runtime parent: empty at the end */

void work_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", work, name);
}

void remote_setup(void)
{
	snprintf(work, sizeof(work), "/tmp/qm-remote-XXXXXX");
	cr_assert(mkdtemp(work));
	work_path(parent, sizeof(parent), "rt");
	cr_assert_eq(mkdir(parent, 0700), 0);
}

void remote_teardown(void)
{
	static const char *const files[] = { "src", "pid", "pid.tmp", "record",
					     "qmp.log" };
	char path[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		work_path(path, sizeof(path), files[i]);
		unlink(path);
	}
	cr_expect_eq(rmdir(parent), 0, "the runtime parent %s is not empty: %s", parent,
		     strerror(errno));
	rmdir(work);
}

static void on_done(struct qm_job *job, const struct qm_result *r, void *ud)
{
	struct rrun *run = ud;

	cr_assert_not(run->done, "done called twice");
	run->result = *r;
	run->done = true;
}

/* Warnings and errors into run->warnings. */
static _printf_(6, 0) void on_log(void *ud, int priority, const char *file, int line,
				  const char *fn, const char *format, va_list args)
{
	struct rrun *run = ud;
	size_t n = strlen(run->warnings);

	if (priority > LOG_WARNING || n + 2 >= sizeof(run->warnings))
		return;
	vsnprintf(run->warnings + n, sizeof(run->warnings) - n - 1, format, args);
	strcat(run->warnings, "\n");
}

static void on_phase(struct qm_job *job, enum qm_phase phase, void *ud)
{
	struct rrun *run = ud;

	run->phase = phase;
	if (phase == QM_PHASE_PREPARE && run->cancel_as_prepare_begins)
		cr_assert_eq(qm_job_cancel(job), 0);
}

static void read_file(const char *name, char *buf, size_t size)
{
	char path[128];
	ssize_t n = 0;
	int fd;

	work_path(path, sizeof(path), name);
	buf[0] = '\0';
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return;
	n = read(fd, buf, size - 1);
	close(fd);
	buf[n > 0 ? n : 0] = '\0';
}

static long agent_pid(void)
{
	char buf[32];

	read_file("pid", buf, sizeof(buf));
	return atol(buf);
}

/* No child of this process is left, running or a zombie (nothing is reaped here). */
static bool no_children(void)
{
	siginfo_t si = { 0 };

	return waitid(P_ALL, 0, &si, WEXITED | WNOHANG | WNOWAIT) < 0 && errno == ECHILD;
}

static void bound_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	*(bool *)w->data = true;
}

/* Wakes the loop, whose body looks at the agent's files: nothing else tells it. */
static void poll_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
}

/* What the test does to the job or the agent once they reached a point. */
static void act(struct rrun *run, struct fq *fsrc)
{
	char rec[sizeof(run->record)];

	if (run->kill_at_wait && fq_waiting(fsrc)) {
		cr_assert_gt(agent_pid(), 0);
		cr_assert_eq(kill((pid_t)agent_pid(), SIGKILL), 0);
		run->kill_at_wait = false;
		fq_resume(fsrc);
	}
	/* After the loop turn that entered prepare: whatever prepare sends went out. */
	if (run->hello_in_prepare && run->phase == QM_PHASE_PREPARE && agent_pid() > 0) {
		cr_assert_eq(kill((pid_t)agent_pid(), SIGUSR1), 0);
		run->hello_in_prepare = false;
	}
	if (run->cancel_on_prepare) {
		read_file("record", rec, sizeof(rec));
		if (strstr(rec, "\nprepare ")) {
			cr_assert_eq(qm_job_cancel(run->job), 0);
			run->cancel_on_prepare = false;
		}
	}
}

void run_remote(struct rrun *run, const struct fq_step *src_script)
{
	struct qm_job_callbacks cbs = { .done = on_done, .phase = on_phase };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_error err = { 0 };
	char src[128], uri[1024];
	ev_timer bound, poll;
	bool bounded = false;
	struct qm_job *job;
	struct fq *fsrc;

	work_path(src, sizeof(src), "src");
	snprintf(uri, sizeof(uri),
		 "exec:%s/tests/helpers/fake-agent --pid-file %s/pid --record %s/record "
		 "%s",
		 ABS_TOP_BUILDDIR, work, work, run->agent ? run->agent : "");
	qm_ctx_set_log_fn(ctx, on_log, run);
	qm_ctx_set_log_priority(ctx, LOG_WARNING);
	fsrc = fq_listen(loop, src, src_script);
	run->opts.src_qmp = src;
	run->opts.dest_uri = run->uri ? run->uri : uri;
	run->opts.runtime_dir = parent;
	run->opts.poll_interval = 1e6;
	run->opts.host_uuid = SRC_HOST_UUID;
	/* tcp is --dest's default; unix does not cross hosts. */
	if (run->opts.transport == QM_TRANSPORT_UNIX)
		run->opts.transport = QM_TRANSPORT_TCP;
	/* Attached by default, to a path on the agent's host. */
	if (!run->opts.launch_dest && !run->opts.dst_qmp)
		run->opts.dst_qmp = "/run/there/qmp.sock";
	job = qm_job_new(ctx, loop, &run->opts, &cbs, run, &err);
	cr_assert(job, "%s: %s", err.error_class, err.text);
	run->job = job;
	ev_timer_init(&poll, poll_cb, 0.01, 0.01);
	if (run->cancel_on_prepare || run->hello_in_prepare)
		ev_timer_start(loop, &poll);
	cr_assert_eq(qm_job_start(job, &err), 0, "%s", err.text);
	while (!run->done) {
		ev_run(loop, EVRUN_ONCE);
		act(run, fsrc);
	}
	ev_timer_stop(loop, &poll);
	while (!fq_finished(fsrc))
		ev_run(loop, EVRUN_NOWAIT);
	/* The job lets the agent go and reaps it by itself once it exited. */
	ev_timer_init(&bound, bound_cb, REAP_BOUND, 0.);
	bound.data = &bounded;
	ev_timer_start(loop, &bound);
	while (!no_children() && !bounded)
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &bound);
	read_file("record", run->record, sizeof(run->record));
	run->agent_pid = agent_pid();
	qm_job_unref(job);
	fq_free(fsrc);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	cr_assert_not(bounded, "the agent was not reaped within %.0f s of the end",
		      REAP_BOUND);
	cr_assert(no_children());
	if (run->agent_pid > 0) {
		cr_assert_eq(kill((pid_t)run->agent_pid, 0), -1,
			     "the agent %ld still exists", run->agent_pid);
		cr_assert_eq(errno, ESRCH);
	}
}

/* The record holds a line that is @line, or with @prefix_only one that starts with it. */
bool recorded(const struct rrun *run, const char *line, bool prefix_only)
{
	size_t n = strlen(line);

	for (const char *p = run->record; *p;) {
		const char *end = strchrnul(p, '\n');

		if ((size_t)(end - p) >= n && strncmp(p, line, n) == 0 &&
		    (prefix_only || (size_t)(end - p) == n))
			return true;
		p = *end ? end + 1 : end;
	}
	return false;
}

/* The agent received a message of @type ("prepare", "finish"...). */
bool received(const struct rrun *run, const char *type)
{
	char head[64];

	snprintf(head, sizeof(head), "%s ", type);
	return recorded(run, head, true);
}

void expect_failure(const struct rrun *run, const char *error_class,
			   const char *piece)
{
	const struct qm_result *r = &run->result;

	cr_assert_eq(r->status, QM_JOB_FAILED, "status %d: %s", r->status, r->error.text);
	cr_assert_str_eq(r->error.error_class, error_class, "%s", r->error.text);
	cr_assert(strstr(r->error.text, piece), "'%s' is not in: %s", piece,
		  r->error.text);
}

/* Nothing changed anywhere: the VM runs on the source as it did. */
void expect_untouched(const struct rrun *run)
{
	cr_assert_not(run->result.changed);
	cr_assert_eq(run->result.vm, QM_VM_SOURCE);
	cr_assert_str_eq(run->result.dst_qmp, "");
	cr_assert_eq(run->result.dst_pid, -1);
}
