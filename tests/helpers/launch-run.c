/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The launch_dest runner of launch-run.h. */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <unistd.h>

#include "tests/helpers/launch-run.h"

char parent[64]; /* the runtime parent: empty again at the end */
char work[64];	 /* the fake servers' sockets, pid files, scripts */

void dl_setup(void)
{
	snprintf(parent, sizeof(parent), "/tmp/qm-dl-rt-XXXXXX");
	snprintf(work, sizeof(work), "/tmp/qm-dl-work-XXXXXX");
	cr_assert(mkdtemp(parent));
	cr_assert(mkdtemp(work));
}

void work_path(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", work, name);
}

void dl_teardown(void)
{
	static const char *const files[] = { "src", "dst", "pid", "argv", "emu", "pw" };
	char path[128];

	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		work_path(path, sizeof(path), files[i]);
		unlink(path);
	}
	rmdir(work);
	cr_expect_eq(rmdir(parent), 0, "the runtime parent %s is not empty: %s", parent,
		     strerror(errno));
}

const char *fake_emulator(void)
{
	static char path[4096];
	const char *top = getenv("top_builddir");

	snprintf(path, sizeof(path), "%s/tests/helpers/fake-emulator",
		 top && *top ? top : ABS_TOP_BUILDDIR);
	return path;
}

/* A description run by @emulator, with @devices and @args (<qemu:arg>s). */
char *domain(const char *emulator, const char *devices, const char *args)
{
	char *xml;

	cr_assert(asprintf(&xml,
			   "<domain type='qemu' "
			   "xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
			   "<name>vm1</name><uuid>" UUID "</uuid>"
			   "<memory unit='MiB'>64</memory><os><type>hvm</type></os>"
			   "<devices><emulator>%s</emulator>%s</devices>"
			   "<qemu:commandline>%s</qemu:commandline></domain>",
			   emulator, devices, args) >= 0);
	return xml;
}

/*
 * The fake emulator relaying to the server at work/dst, its pid in work/pid
 * and its arguments in work/argv.
 */
char *relayed_domain(const char *devices)
{
	char args[512];

	snprintf(args, sizeof(args),
		 "<qemu:arg value='-write-pid'/><qemu:arg value='%s/pid'/>"
		 "<qemu:arg value='-write-argv'/><qemu:arg value='%s/argv'/>"
		 "<qemu:arg value='-qmp-relay'/><qemu:arg value='%s/dst'/>",
		 work, work, work);
	return domain(fake_emulator(), devices, args);
}

pid_t launched_pid(void)
{
	char path[128], buf[32] = "";
	int fd;

	work_path(path, sizeof(path), "pid");
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "the emulator wrote no pid: was it launched?");
	cr_assert_gt(read(fd, buf, sizeof(buf) - 1), 0);
	close(fd);
	cr_assert_gt(atoi(buf), 0);
	return atoi(buf);
}

/* Gone for good: the job reaped its child, so not even a zombie remains. */
void assert_gone(pid_t pid)
{
	cr_assert_eq(kill(pid, 0), -1, "the launched emulator %d still exists", (int)pid);
	cr_assert_eq(errno, ESRCH);
}

static void on_done(struct qm_job *job, const struct qm_result *r, void *ud)
{
	struct lrun *run = ud;

	cr_assert_not(run->done, "done called twice");
	run->result = *r;
	run->done = true;
	run->alive_at_done = r->dst_pid > 0 && kill((pid_t)r->dst_pid, 0) == 0;
}

static void on_progress(struct qm_job *job, const struct qm_progress *p, void *ud)
{
	struct lrun *run = ud;

	if (strcmp(p->status, "mirror") == 0 && run->n_mirror++ == 0)
		run->mirror = *p;
}

/* Every line the library logs, QMP trace included, for the password checks. */
__attribute__((format(printf, 6, 0))) static void
log_capture(void *ud, int priority, const char *file, int line, const char *fn,
	    const char *format, va_list args)
{
	struct lrun *run = ud;
	size_t room = sizeof(run->log) - run->log_len;
	int n;

	if (room <= 1)
		return;
	n = vsnprintf(run->log + run->log_len, room, format, args);
	if (n > 0)
		run->log_len += (size_t)n < room - 1 ? (size_t)n : room - 1;
	if (run->log_len < sizeof(run->log) - 1)
		run->log[run->log_len++] = '\n';
	run->log[run->log_len] = '\0';
}

void run_launch(struct lrun *run, const char *xml, const struct fq_step *src_script,
		const struct fq_step *dst_script)
{
	struct qm_job_callbacks cbs = { .done = on_done, .progress = on_progress };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_error err = { 0 };
	struct qm_ctx *ctx;
	struct fq *fsrc, *fdst;
	char src[128], dst[128];
	struct qm_job *job;

	setenv("QMIGRATE_QMP_TRACE", "1", 1);
	ctx = qm_ctx_new();
	unsetenv("QMIGRATE_QMP_TRACE");
	qm_ctx_set_log_fn(ctx, log_capture, run);
	qm_ctx_set_log_priority(ctx, LOG_DEBUG);
	work_path(src, sizeof(src), "src");
	work_path(dst, sizeof(dst), "dst");
	fsrc = src_script ? fq_listen(loop, src, src_script) : NULL;
	fdst = dst_script ? fq_listen(loop, dst, dst_script) : NULL;
	run->opts.src_qmp = src;
	run->opts.launch_dest = true;
	run->opts.domain_xml = xml;
	run->opts.runtime_dir = parent;
	run->opts.poll_interval = 1e6;
	job = qm_job_new(ctx, loop, &run->opts, &cbs, run, &err);
	cr_assert(job, "%s: %s", err.error_class, err.text);
	cr_assert_eq(qm_job_start(job, &err), 0, "%s", err.text);
	while (!run->done) {
		ev_run(loop, EVRUN_ONCE);
		if ((run->on_wait == ACT_RESUME_BOTH ||
		     run->on_wait == ACT_CANCEL_BOTH) &&
		    fsrc && fdst && fq_waiting(fsrc) && fq_waiting(fdst)) {
			if (run->on_wait == ACT_CANCEL_BOTH)
				cr_assert_eq(qm_job_cancel(job), 0);
			run->on_wait = ACT_NONE;
			fq_resume(fdst);
			fq_resume(fsrc);
		}
		if ((run->on_wait == ACT_CANCEL || run->on_wait == ACT_UNREF) && fdst &&
		    fq_connected(fdst) && fq_waiting(fdst)) {
			if (run->on_wait == ACT_UNREF) {
				job = qm_job_unref(job);
				fq_resume(fdst);
				break;
			}
			cr_assert_eq(qm_job_cancel(job), 0);
			run->on_wait = ACT_NONE;
			fq_resume(fdst);
		}
	}
	while ((fsrc && !fq_finished(fsrc)) || (fdst && !fq_finished(fdst)))
		ev_run(loop, EVRUN_NOWAIT);
	qm_job_unref(job);
	fq_free(fsrc);
	fq_free(fdst);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
}

/* The caller's part after success: stop it by pid, reap it, remove its directory. */
void stop_handed_over(const struct qm_result *r)
{
	char dir[sizeof(r->dst_qmp)], path[sizeof(dir) + 16];
	struct stat st;
	int status;

	cr_assert_eq(stat(r->dst_qmp, &st), 0, "%s: %s", r->dst_qmp, strerror(errno));
	cr_expect(S_ISSOCK(st.st_mode));
	cr_assert_eq(kill((pid_t)r->dst_pid, SIGKILL), 0);
	cr_assert_eq(waitpid((pid_t)r->dst_pid, &status, 0), (pid_t)r->dst_pid);
	snprintf(dir, sizeof(dir), "%s", r->dst_qmp);
	*strrchr(dir, '/') = '\0';
	cr_expect_eq(strncmp(dir, parent, strlen(parent)), 0, "%s is not under %s", dir,
		     parent);
	unlink(r->dst_qmp);
	snprintf(path, sizeof(path), "%s/qemu.log", dir);
	unlink(path);
	cr_expect_eq(rmdir(dir), 0);
}
