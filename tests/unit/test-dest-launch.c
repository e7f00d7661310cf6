/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A destination the job launches itself (launch_dest), without QEMU: the
 * description's emulator is tests/helpers/fake-emulator, which relays its
 * QMP socket to a scripted fake QMP server (-qmp-relay) and writes its pid
 * (-write-pid), or a script that dies at once.  Whatever happens, nothing
 * the job launched is left: no process (checked by pid) and no directory
 * (the runtime parent must be empty at the end).
 */
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

#include "engine/graphics-passwd.h"
#include "tests/helpers/launch-run.h"

#define PASSWORD "s3cr3tPw"
#define ZERO_UUID "{\"UUID\": \"00000000-0000-0000-0000-000000000000\"}"
#define BOUND_MS 5000 /* "at once": far below the 20 s a launched QEMU gets for its socket */

/* A bound: memcheck runs the slowest case (3 s natively) in 34 s. */
TestSuite(dest_launch, .init = dl_setup, .fini = dl_teardown, .timeout = 120);

/* ---- options -------------------------------------------------------------------- */

static void expect_refused(const struct qm_job_options *opts, const char *cls, const char *piece)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_error err = { 0 };

	cr_expect_null(qm_job_new(ctx, loop, opts, NULL, NULL, &err));
	cr_expect_str_eq(err.error_class, cls);
	cr_expect(strstr(err.text, piece), "'%s' is not in: %s", piece, err.text);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
}

Test(dest_launch, launch_dest_with_a_destination_socket_is_a_usage_error)
{
	_cleanup_free_ char *xml = relayed_domain("");
	struct qm_job_options opts = {
		.src_qmp = "/nonexistent/src",
		.dst_qmp = "/nonexistent/dst",
		.launch_dest = true,
		.domain_xml = xml,
	};

	expect_refused(&opts, "Usage", "not both");
}

Test(dest_launch, a_disk_map_that_is_not_two_absolute_paths_is_a_usage_error)
{
	static const char *const map[] = { "/images/a.img=/images/b.img", "a.img=/b.img", NULL };
	struct qm_job_options opts = {
		.src_qmp = "/nonexistent/src",
		.launch_dest = true,
		.disk_map = map,
	};

	expect_refused(&opts, "Usage", "a.img");
}

Test(dest_launch, a_disk_map_without_launch_dest_is_a_usage_error)
{
	static const char *const map[] = { "/images/a.img=/images/b.img", NULL };
	struct qm_job_options opts = {
		.src_qmp = "/nonexistent/src",
		.dst_qmp = "/nonexistent/dst",
		.disk_map = map,
	};

	expect_refused(&opts, "Usage", "--launch-dest");
}

Test(dest_launch, no_destination_at_all_is_a_usage_error)
{
	struct qm_job_options opts = { .src_qmp = "/nonexistent/src" };

	expect_refused(&opts, "Usage", "--launch-dest");
}

Test(dest_launch, a_password_file_without_launch_dest_is_a_usage_error)
{
	struct qm_job_options opts = {
		.src_qmp = "/nonexistent/src",
		.dst_qmp = "/nonexistent/dst",
		.graphics_passwd_file = "/nonexistent/pw",
	};

	expect_refused(&opts, "Usage", "--launch-dest");
}

Test(dest_launch, a_destination_description_needs_launch_dest)
{
	_cleanup_free_ char *xml = relayed_domain("");
	struct qm_job_options opts = {
		.src_qmp = "/nonexistent/src",
		.dst_qmp = "/nonexistent/dst",
		.dst_domain_xml = xml,
	};

	expect_refused(&opts, "Usage", "--launch-dest");
}

Test(dest_launch, a_bad_description_is_refused_before_anything_starts)
{
	struct qm_job_options opts = {
		.src_qmp = "/nonexistent/src",
		.launch_dest = true,
		.domain_xml = "<domain type='qemu'><name>vm1</name>",
	};

	expect_refused(&opts, "DomainMalformed", "the VM's description");
}

/* ---- the launched QEMU fails ------------------------------------------------------ */

Test(dest_launch, an_emulator_that_exits_early_fails_prepare_at_once_with_its_log)
{
	static const struct fq_step src[] = { SRC_STAYS };
	char emu[128], body[512];
	_cleanup_free_ char *xml = NULL;
	struct lrun run = { 0 };
	FILE *f;

	work_path(emu, sizeof(emu), "emu");
	snprintf(body, sizeof(body),
		 "#!/bin/sh\necho $$ > %s/pid\n"
		 "echo 'qemu: -blockdev file=/nope: Could not open: No such file' >&2\nexit 3\n",
		 work);
	f = fopen(emu, "w");
	cr_assert(f);
	fputs(body, f);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(emu, 0700), 0);
	xml = domain(emu, "", "");

	run_launch(&run, xml, src, NULL);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect_str_eq(run.result.error.error_class, "LaunchExited");
	cr_expect(strstr(run.result.error.text, "the destination QEMU exited with status 3"),
		  "%s", run.result.error.text);
	cr_expect(strstr(run.result.error.text, "Could not open"), "no log tail: %s",
		  run.result.error.text);
	cr_expect_lt(run.result.phase_ms[QM_PHASE_PREPARE], BOUND_MS);
	cr_expect_eq(run.result.vm, QM_VM_SOURCE);
	cr_expect_eq(run.result.dst_pid, -1);
	cr_expect_str_eq(run.result.dst_qmp, "");
	assert_gone(launched_pid());
}

Test(dest_launch, a_failure_in_prepare_after_the_launch_quits_and_reaps_it)
{
	static const struct fq_step src[] = { SRC_STAYS };
	static const struct fq_step dst[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 9),
		R(9, STATUS("inmigrate")),
		DST_QUERY_STEPS,
		DST_ANSWERS(STATUS("inmigrate"), "{\"name\": \"another-vm\"}", ZERO_UUID),
		DST_FACTS,
		/* refused, but the job launched it: it quits; the relay exits with it */
		QUIT_AND_GO(4),
		FQ_END,
	};
	_cleanup_free_ char *xml = relayed_domain("");
	struct lrun run = { 0 };

	run_launch(&run, xml, src, dst);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect_str_eq(run.result.error.error_class, "NameMismatch");
	cr_expect_eq(run.result.vm, QM_VM_SOURCE);
	cr_expect_eq(run.result.dst_pid, -1);
	assert_gone(launched_pid());
}

Test(dest_launch, a_launched_qemu_that_never_answers_is_killed)
{
	static const struct fq_step src[] = { SRC_STAYS };
	char args[256];
	_cleanup_free_ char *xml = NULL;
	struct lrun run = { .opts.connect_timeout = 0.3 };

	/* It listens on its QMP socket but never greets: the handshake times out. */
	snprintf(args, sizeof(args), "<qemu:arg value='-write-pid'/><qemu:arg value='%s/pid'/>",
		 work);
	xml = domain(fake_emulator(), "", args);
	run_launch(&run, xml, src, NULL);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect(strstr(run.result.error.text, "destination QEMU"), "%s",
		  run.result.error.text);
	cr_expect(strstr(run.result.error.text, "fake-emulator: listening"), "no log tail: %s",
		  run.result.error.text);
	cr_expect_eq(run.result.vm, QM_VM_SOURCE);
	assert_gone(launched_pid());
}

/* ---- cancelled or dropped while prepare waits for it ------------------------------ */

/* The launched QEMU's monitor takes the connection, but greets only after the test acted. */
static const struct fq_step dst_waits[] = {
	FQ_WAIT,
	FQ_END,
};

Test(dest_launch, a_cancel_while_prepare_waits_kills_what_was_launched)
{
	static const struct fq_step src[] = { SRC_STAYS };
	_cleanup_free_ char *xml = relayed_domain("");
	struct lrun run = { .on_wait = ACT_CANCEL };

	run_launch(&run, xml, src, dst_waits);
	cr_assert_eq(run.result.status, QM_JOB_CANCELLED, "%s", run.result.error.text);
	cr_expect_eq(run.result.vm, QM_VM_SOURCE);
	cr_expect_eq(run.result.dst_pid, -1);
	assert_gone(launched_pid());
}

Test(dest_launch, the_last_unref_while_prepare_waits_kills_what_was_launched)
{
	static const struct fq_step src[] = { SRC_BEGIN, FQ_END };
	_cleanup_free_ char *xml = relayed_domain("");
	struct lrun run = { .on_wait = ACT_UNREF };

	run_launch(&run, xml, src, dst_waits);
	cr_expect_not(run.done);
	assert_gone(launched_pid());
}

/* ---- success: set_password, then the destination is handed over ------------------ */

#define SET_PASSWORD(s, p)                                                               \
	{ .op = FQ_OP_EXPECT,                                                              \
	  .name = "set_password",                                                          \
	  .slot = (s),                                                                     \
	  .args = "{\"protocol\": \"vnc\", \"password\": \"" p "\"}" }

/* Completes, and the destination's display gets @pw first. */
static void migrate_with_password(struct lrun *run, const char *xml, const struct fq_step *dst)
{
	static const struct fq_step src[] = {
		SRC_BEGIN,
		SRC_MIGRATE,
		SRC_COMPLETES,
		FQ_END,
	};

	run_launch(run, xml, src, dst);
	cr_assert_eq(run->result.status, QM_JOB_COMPLETED, "%s", run->result.error.text);
	cr_assert_eq(run->result.vm, QM_VM_DESTINATION);
	cr_assert_gt(run->result.dst_pid, 0);
	cr_expect(run->alive_at_done, "the destination was not running when the job ended");
	cr_expect_eq(run->result.dst_pid, launched_pid());
}

static void expect_no_password_in(const char *what, const char *text, size_t len)
{
	cr_expect_null(memmem(text, len, PASSWORD, strlen(PASSWORD)), "the password is in %s",
		       what);
	cr_expect_null(memmem(text, len, "filepw12", 8), "the file's password is in %s", what);
}

/*
 * The launched emulator's command line, NULs and all, as it wrote it at its
 * start: /proc/PID/cmdline is empty once it quits, as it does when the
 * script's server hangs up.
 */
static size_t read_cmdline(char *buf, size_t size)
{
	char path[128];
	ssize_t n;
	int fd;

	work_path(path, sizeof(path), "argv");
	fd = open(path, O_RDONLY);
	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	n = read(fd, buf, size);
	close(fd);
	cr_assert_gt(n, 0);
	return (size_t)n;
}

#define DST_READY_AND_MIGRATES                                                           \
	DST_QUERY_STEPS, DST_ANSWERS(STATUS("inmigrate"), "{}", ZERO_UUID), DST_FACTS,      \
		FQ_EXPECT("migrate-set-capabilities", 3), FQ_EXPECT("migrate-incoming", 4), \
		R(3, "{}"), R(4, "{}"), DST_RESUMES
/* The display gets @pw, the probe answers, and the migration goes through. */
#define DST_PASSWORD_THEN_MIGRATES(pw)                                                   \
	FQ_HANDSHAKE, SET_PASSWORD(11, pw), FQ_EXPECT("query-status", 9), R(11, "{}"),      \
		R(9, STATUS("inmigrate")), DST_READY_AND_MIGRATES

Test(dest_launch, a_display_password_is_set_over_qmp_and_shown_nowhere)
{
	static const struct fq_step dst[] = { DST_PASSWORD_THEN_MIGRATES(PASSWORD), FQ_END };
	_cleanup_free_ char *xml = relayed_domain(
		"<graphics type='vnc' autoport='yes' listen='127.0.0.1' passwd='" PASSWORD "'/>");
	struct lrun run = { 0 };
	char cmdline[8192];
	size_t n;

	migrate_with_password(&run, xml, dst);
	n = read_cmdline(cmdline, sizeof(cmdline));
	expect_no_password_in("the command line", cmdline, n);
	cr_expect(memmem(cmdline, n, ",password=on", 12), "the display does not start locked");
	expect_no_password_in("the log", run.log, run.log_len);
	cr_expect(strstr(run.log, "\"execute\":\"set_password\""), "no set_password traced");
	cr_expect(strstr(run.log, "\"password\":\"***\""), "the password is not masked");
	expect_no_password_in("the result", (const char *)&run.result, sizeof(run.result));
	stop_handed_over(&run.result);
}

Test(dest_launch, a_password_file_sets_the_display_password_instead)
{
	static const struct fq_step dst[] = { DST_PASSWORD_THEN_MIGRATES("filepw12"), FQ_END };
	_cleanup_free_ char *xml = relayed_domain(
		"<graphics type='vnc' autoport='yes' passwd='" PASSWORD "'/>");
	struct lrun run = { 0 };
	char pw[128];
	FILE *f;

	work_path(pw, sizeof(pw), "pw");
	f = fopen(pw, "w");
	cr_assert(f);
	fputs("filepw12\n", f);
	cr_assert_eq(fclose(f), 0);
	run.opts.graphics_passwd_file = pw;
	migrate_with_password(&run, xml, dst);
	expect_no_password_in("the log", run.log, run.log_len);
	stop_handed_over(&run.result);
}

Test(dest_launch, a_refused_password_fails_prepare_and_stops_the_destination)
{
	static const struct fq_step src[] = { SRC_STAYS };
	static const struct fq_step dst[] = {
		FQ_HANDSHAKE,
		SET_PASSWORD(11, PASSWORD),
		FQ_EXPECT("query-status", 9),
		FQ_REPLY_TEXT(11, "{\"error\": {\"class\": \"GenericError\", "
				  "\"desc\": \"Could not set password\"}}"),
		R(9, STATUS("inmigrate")),
		QUIT_AND_GO(4),
		FQ_END,
	};
	_cleanup_free_ char *xml = relayed_domain(
		"<graphics type='vnc' autoport='yes' passwd='" PASSWORD "'/>");
	struct lrun run = { 0 };

	run_launch(&run, xml, src, dst);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect_str_eq(run.result.error.error_class, "GenericError");
	cr_expect(strstr(run.result.error.text, "cannot set the password"), "%s",
		  run.result.error.text);
	assert_gone(launched_pid());
}

/* ---- the password file ------------------------------------------------------------ */

static int read_pw(const char *content, size_t len, char **out, struct qm_error *err)
{
	char path[128];
	int fd;

	work_path(path, sizeof(path), "pw");
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, content, len), (ssize_t)len);
	close(fd);
	return qm_passwd_read_file(path, out, err);
}

Test(dest_launch, a_password_file_loses_its_trailing_newline_only)
{
	struct qm_error err = { 0 };
	char *pw = NULL;

	cr_assert_eq(read_pw("a b\n", 4, &pw, &err), 0, "%s", err.text);
	cr_expect_str_eq(pw, "a b");
	qm_passwd_free(pw);
	cr_assert_eq(read_pw("abc", 3, &pw, &err), 0, "%s", err.text);
	cr_expect_str_eq(pw, "abc");
	qm_passwd_free(pw);
}

Test(dest_launch, bad_password_files_are_refused_without_their_contents)
{
	char big[300];
	struct {
		const char *content;
		size_t len;
		const char *piece;
	} cases[] = {
		{ "", 0, "empty" },
		{ "\n", 1, "empty" },
		{ "two\nlines\n", 10, "line break" },
		{ "nul\0byte", 8, "NUL" },
		{ big, sizeof(big), "longer" },
	};

	memset(big, 'x', sizeof(big));
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct qm_error err = { 0 };
		char *pw = NULL;

		cr_expect_lt(read_pw(cases[i].content, cases[i].len, &pw, &err), 0, "case %zu",
			     i);
		cr_expect_null(pw);
		cr_expect_str_eq(err.error_class, "PasswdFile");
		cr_expect(strstr(err.text, cases[i].piece), "case %zu: %s", i, err.text);
		cr_expect_null(strstr(err.text, "lines"), "the contents are quoted: %s",
			       err.text);
	}
}

Test(dest_launch, a_password_file_that_is_not_a_regular_file_is_refused)
{
	struct qm_error err = { 0 };
	char *pw = NULL;

	cr_expect_lt(qm_passwd_read_file(work, &pw, &err), 0);
	cr_expect_str_eq(err.error_class, "PasswdFile");
	cr_expect(strstr(err.text, "not a regular file"), "%s", err.text);
}

/* ---- the destination's own description ------------------------------------------ */

Test(dest_launch, a_destination_description_the_guest_would_tell_apart_is_refused)
{
	static const struct fq_step src[] = { SRC_STAYS };
	_cleanup_free_ char *xml = relayed_domain("");
	_cleanup_free_ char *dst_xml = relayed_domain("");
	char pid_path[128];
	struct lrun run = { 0 };
	char *mem = strstr(dst_xml, ">64<");

	cr_assert(mem);
	memcpy(mem, ">32<", 4);
	run.opts.dst_domain_xml = dst_xml;
	run_launch(&run, xml, src, NULL);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect_str_eq(run.result.error.error_class, "DomainAbi");
	cr_expect(strstr(run.result.error.text, "memory: 65536 KiB on the source, "
						"32768 KiB on the destination"),
		  "%s", run.result.error.text);
	cr_expect_eq(run.result.vm, QM_VM_SOURCE);
	cr_expect_not(run.result.changed);
	cr_expect_eq(run.result.dst_pid, -1);
	/* Refused before anything started: the emulator never ran. */
	work_path(pid_path, sizeof(pid_path), "pid");
	cr_expect_neq(access(pid_path, F_OK), 0, "the destination was launched");
}

Test(dest_launch, a_disk_map_source_that_no_disk_has_is_refused_before_the_launch)
{
	static const struct fq_step src[] = { SRC_STAYS };
	static const char *const map[] = { "/images/not-there.img=/images/b.img", NULL };
	_cleanup_free_ char *xml = relayed_domain("");
	char pid_path[128];
	struct lrun run = { 0 };

	run.opts.disk_map = map;
	run_launch(&run, xml, src, NULL);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect_str_eq(run.result.error.error_class, "DomainRewrite");
	cr_expect(strstr(run.result.error.text, "/images/not-there.img"), "%s",
		  run.result.error.text);
	cr_expect_not(run.result.changed);
	work_path(pid_path, sizeof(pid_path), "pid");
	cr_expect_neq(access(pid_path, F_OK), 0, "the destination was launched");
}
