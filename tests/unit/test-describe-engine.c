/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Describing a QEMU over QMP, without QEMU: the bounded /proc readers on
 * fake files, QEMU's facts read from its replies, and the whole path on the
 * scripted fake QMP server.  The fake's end of the socketpair is this very
 * process, so its "/proc" is a directory made here (the proc_root seam),
 * holding a recorded command line under this process's pid.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "engine/describe.h"
#include "engine/proc.h"
#include "tests/helpers/qmp-harness.h"
#include "tests/unit/testdata.h"
#include "xml/domain-argv.h"

TestSuite(describe_engine, .init = harness_setup, .fini = harness_teardown,
	  .timeout = 10);

static char dir[64];

static void make_dir(void)
{
	snprintf(dir, sizeof(dir), "/tmp/qmigrate-describe-XXXXXX");
	cr_assert(mkdtemp(dir));
}

static void remove_in(const char *rel)
{
	char path[128];

	snprintf(path, sizeof(path), "%s/%s", dir, rel);
	unlink(path);
	rmdir(path); /* when it is the pid's directory */
}

/* Removes what the tests put in dir (files f0..f7, PID/cmdline, PID/exe), and dir. */
static void remove_dir(void)
{
	char rel[64];
	const char *const in_pid[] = { "cmdline", "exe", "" };

	for (size_t i = 0; i < ARRAY_SIZE(in_pid); i++) {
		snprintf(rel, sizeof(rel), "%d/%s", (int)getpid(), in_pid[i]);
		remove_in(rel);
	}
	for (int i = 0; i < 8; i++) {
		snprintf(rel, sizeof(rel), "f%d", i);
		remove_in(rel);
	}
	rmdir(dir);
}

static char *make_file(int i, const char *data, size_t len)
{
	char *path;
	int fd;

	cr_assert(asprintf(&path, "%s/f%d", dir, i) >= 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, data, len), (ssize_t)len);
	close(fd);
	return path;
}

static void expect_argv_error(const char *path, const char *text)
{
	struct qm_error err = { 0 };
	char **argv = (char **)&err;

	cr_expect_lt(qm_proc_read_argv(path, &argv, &err), 0, "%s read", path);
	cr_expect_null(argv);
	cr_expect_str_eq(err.error_class, "DescribeArgv");
	cr_expect(strstr(err.text, text), "'%s' lacks '%s'", err.text, text);
}

Test(describe_engine, reads_a_command_line_split_at_its_nuls)
{
	_cleanup_free_ char *a = NULL, *b = NULL;
	_cleanup_argv_ char **argv = NULL, **argv2 = NULL;
	struct qm_error err = { 0 };

	make_dir();
	a = make_file(0, "qemu\0-m\0\0x,y\0", 13);
	cr_assert_eq(qm_proc_read_argv(a, &argv, &err), 0, "%s", err.text);
	cr_expect_str_eq(argv[0], "qemu");
	cr_expect_str_eq(argv[1], "-m");
	cr_expect_str_eq(argv[2], "");
	cr_expect_str_eq(argv[3], "x,y");
	cr_expect_null(argv[4]);
	/* A command line that lost its last NUL still ends where the file does. */
	b = make_file(1, "qemu\0-S", 7);
	cr_assert_eq(qm_proc_read_argv(b, &argv2, &err), 0, "%s", err.text);
	cr_expect_str_eq(argv2[1], "-S");
	cr_expect_null(argv2[2]);
	remove_dir();
}

Test(describe_engine, reads_no_more_than_its_bound)
{
	_cleanup_free_ char *big = malloc(QM_PROC_CMDLINE_MAX + 1), *at = NULL,
			    *over = NULL;
	_cleanup_free_ char *many = calloc(QM_DESCRIBE_MAX_ARGS + 1, 1), *empty = NULL;
	_cleanup_free_ char *too_many = NULL;
	_cleanup_argv_ char **argv = NULL;
	struct qm_error err = { 0 };

	make_dir();
	cr_assert(big && many);
	memset(big, 'x', QM_PROC_CMDLINE_MAX + 1);
	big[QM_PROC_CMDLINE_MAX - 1] = '\0';
	at = make_file(0, big, QM_PROC_CMDLINE_MAX);
	cr_assert_eq(qm_proc_read_argv(at, &argv, &err), 0, "%s", err.text);
	cr_expect_eq(strlen(argv[0]), QM_PROC_CMDLINE_MAX - 1);
	big[QM_PROC_CMDLINE_MAX] = '\0';
	over = make_file(1, big, QM_PROC_CMDLINE_MAX + 1);
	expect_argv_error(over, "is longer than 262144 bytes");
	too_many = make_file(2, many, QM_DESCRIBE_MAX_ARGS + 1);
	expect_argv_error(too_many, "holds more than 4096 arguments");
	empty = make_file(3, "", 0);
	expect_argv_error(empty, "is empty: the process has exited");
	expect_argv_error(dir, "is not a regular file");
	expect_argv_error("/nonexistent/cmdline", "cannot open /nonexistent/cmdline");
	remove_dir();
}

Test(describe_engine, a_fifo_is_refused_without_blocking)
{
	_cleanup_free_ char *path = NULL;

	make_dir();
	cr_assert(asprintf(&path, "%s/f0", dir) >= 0);
	cr_assert_eq(mkfifo(path, 0600), 0);
	expect_argv_error(path, "is not a regular file");
	remove_dir();
}

Test(describe_engine, an_emulator_replaced_since_it_started_is_its_path)
{
	_cleanup_free_ char *link = NULL, *exe = NULL, *rel = NULL, *none = NULL;
	struct qm_error err = { 0 };

	make_dir();
	cr_assert(asprintf(&link, "%s/f0", dir) >= 0);
	cr_assert_eq(symlink("/usr/bin/qemu-system-x86_64 (deleted)", link), 0);
	cr_assert_eq(qm_proc_read_exe(link, &exe, &err), 0, "%s", err.text);
	cr_expect_str_eq(exe, "/usr/bin/qemu-system-x86_64");
	cr_assert(asprintf(&rel, "%s/f1", dir) >= 0);
	cr_assert_eq(symlink("qemu", rel), 0);
	cr_expect_lt(qm_proc_read_exe(rel, &none, &err), 0);
	cr_expect_null(none);
	cr_expect(strstr(err.text, "does not link to an absolute path"), "%s", err.text);
	remove_dir();
}

/* ---- QEMU's replies ------------------------------------------------------------ */

static json_t *recorded_facts(const char *name)
{
	_cleanup_free_ char *path = NULL;
	json_error_t jerr;
	json_t *f;

	cr_assert(asprintf(&path, "%s/tests/data/domain/describe/%s.facts",
			   getenv("top_srcdir") ? getenv("top_srcdir") : ABS_TOP_SRCDIR,
			   name) >= 0);
	f = json_load_file(path, 0, &jerr);
	cr_assert(f, "%s: %s", path, jerr.text);
	return f;
}

Test(describe_engine, reads_the_versioned_machine_type_and_the_media_chain)
{
	json_t *r = recorded_facts("helper-pc");
	struct qm_describe_facts f;
	struct qm_error err = { 0 };

	cr_assert_eq(qm_describe_facts_read(r, &f, &err), 0, "%s", err.text);
	cr_expect_str_eq(f.machine, "pc-i440fx-7.2");
	cr_expect_eq(f.acpi, 1);
	cr_expect_eq(f.memory, 64 << 20);
	cr_expect_eq(f.vcpus, 1);
	cr_expect_null(f.name);
	cr_assert_eq(f.n_media, 1);
	cr_expect_str_eq(f.media[0].device, "ide0-hd0");
	/* snapshot=on: a temporary overlay on top, the image as its backing file. */
	cr_expect_str_eq(f.media[0].files[f.media[0].n_files - 1],
			 "/var/lib/qmigrate/guest.img");
	cr_expect_eq(f.n_chardevs, 3);
	cr_expect_eq(f.n_peripherals, 0);
	cr_expect_eq(f.n_anonymous, 0);
	qm_describe_facts_release(&f);
	json_decref(r);
}

Test(describe_engine, facts_that_lack_what_they_must_hold_are_refused)
{
	static const char *const removed[] = { "query-uuid",	 "query-target",
					       "emulator",	 "query-kvm",
					       "query-machines", "machine-type",
					       "query-block",	 "peripheral",
					       "query-chardev" };

	for (size_t i = 0; i < ARRAY_SIZE(removed); i++) {
		json_t *r = recorded_facts("helper-pc");
		struct qm_describe_facts f;
		struct qm_error err = { 0 };

		json_object_del(r, removed[i]);
		cr_expect_lt(qm_describe_facts_read(r, &f, &err), 0, "without %s",
			     removed[i]);
		cr_expect_str_eq(err.error_class, "DescribeInvalid", "without %s",
				 removed[i]);
		qm_describe_facts_release(&f);
		json_decref(r);
	}
}

/* ---- the whole path, on the fake QMP server ---------------------------------------- */

/* The keys of engine/describe.c's questions, in the order they are asked. */
static const char *const asked[] = {
	"query-name",	 "query-uuid",	    "query-target",
	"query-kvm",	 "query-cpus-fast", "query-memory-size-summary",
	"query-block",	 "query-vnc",	    "query-spice",
	"query-chardev", "query-machines",  "machine-type",
	"machine-acpi",	 "peripheral",	    "peripheral-anon",
};
static const char *const commands[] = {
	"query-name",	 "query-uuid",	    "query-target",
	"query-kvm",	 "query-cpus-fast", "query-memory-size-summary",
	"query-block",	 "query-vnc",	    "query-spice",
	"query-chardev", "query-machines",  "qom-get",
	"qom-get",	 "qom-list",	    "qom-list",
};

static struct fq_step script[64];
static char *texts[ARRAY_SIZE(asked)];

/* Replies from a recorded facts file; @fail_key gets a GenericError instead. */
static void script_from(const char *name, const char *fail_key)
{
	json_t *r = recorded_facts(name);
	size_t n = 0;

	script[n++] = (struct fq_step)FQ_SEND_FILE("greeting.json");
	script[n++] = (struct fq_step)FQ_EXPECT("qmp_capabilities", FQ_CAPS_SLOT);
	script[n++] = (struct fq_step)FQ_REPLY_FILE(FQ_CAPS_SLOT, "capabilities.json");
	for (size_t i = 0; i < ARRAY_SIZE(asked); i++) {
		json_t *ret = json_object_get(r, asked[i]);

		if (fail_key && !strcmp(asked[i], fail_key))
			texts[i] = strdup(
				"{\"error\": {\"class\": \"GenericError\", \"desc\": "
				"\"no\"}}");
		else if (ret) {
			json_t *reply = json_pack("{s:O}", "return", ret);

			texts[i] = json_dumps(reply, JSON_COMPACT);
			json_decref(reply);
		} else
			texts[i] = strdup(
				"{\"error\": {\"class\": \"GenericError\", \"desc\": "
				"\"Property 'none-machine.acpi' not found\"}}");
		cr_assert(texts[i]);
		script[n++] = (struct fq_step)FQ_EXPECT(commands[i], (int)i);
		script[n++] = (struct fq_step)FQ_REPLY_TEXT((int)i, texts[i]);
	}
	script[n] = (struct fq_step)FQ_END;
	json_decref(r);
}

/* This process as QEMU: its "/proc/PID" with the emulator's link. */
static void fake_proc(void)
{
	_cleanup_free_ char *pid_dir = NULL, *exe = NULL;

	cr_assert(asprintf(&pid_dir, "%s/%d", dir, (int)getpid()) >= 0);
	cr_assert_eq(mkdir(pid_dir, 0700), 0);
	cr_assert(asprintf(&exe, "%s/exe", pid_dir) >= 0);
	cr_assert_eq(symlink("/usr/bin/qemu-system-x86_64", exe), 0);
}

struct result {
	int calls;
	struct qm_domain *d;
	bool facts;
	struct qm_error err;
};

static void on_described(void *ud, struct qm_domain *d, json_t *facts,
			 const struct qm_error *err)
{
	struct result *res = ud;

	res->calls++;
	res->d = d;
	res->facts = facts != NULL;
	if (err)
		res->err = *err;
}

/* ... and the command line of the recorded @name.argv. */
static void write_cmdline(const char *name)
{
	_cleanup_free_ char *argv_path = NULL, *text = NULL, *path = NULL;
	size_t len;
	int fd;

	cr_assert(asprintf(&argv_path, "%s/tests/data/domain/describe/%s.argv",
			   getenv("top_srcdir") ? getenv("top_srcdir") : ABS_TOP_SRCDIR,
			   name) >= 0);
	text = td_read(argv_path, &len);
	cr_assert(text);
	for (size_t i = 0; i < len; i++)
		text[i] = text[i] == '\n' ? '\0' : text[i];
	cr_assert(asprintf(&path, "%s/%d/cmdline", dir, (int)getpid()) >= 0);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	cr_assert(fd >= 0);
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	close(fd);
}

static void run(const char *name, const char *fail_key, bool with_cmdline,
		struct result *res)
{
	struct qm_describe_opts opts = { .proc_root = dir };
	struct qm_error err = { 0 };

	make_dir();
	fake_proc();
	if (with_cmdline)
		write_cmdline(name);
	script_from(name, fail_key);
	serve(script, NULL);
	cr_assert_eq(qm_describe_start(qmp, &opts, on_described, res, &err), 0, "%s",
		     err.text);
	cr_expect_eq(res->calls, 0, "called back inside the call");
	spin_until(res->calls);
	spin_until(fq_finished(fake));
	fq_free(fake);
	remove_dir();
	for (size_t i = 0; i < ARRAY_SIZE(texts); i++)
		free(texts[i]);
}

Test(describe_engine, describes_the_qemu_at_the_other_end_of_the_socket)
{
	struct result res = { 0 };
	char name[32];

	run("helper-pc", NULL, true, &res);
	cr_assert_eq(res.calls, 1);
	cr_assert(res.d, "%s: %s", res.err.error_class, res.err.text);
	cr_expect(res.facts);
	/* Unnamed: the name is the pid's, and the pid is this process's. */
	snprintf(name, sizeof(name), "qemu-%d", (int)getpid());
	cr_expect_str_eq(res.d->name, name);
	cr_expect_str_eq(res.d->machine, "pc-i440fx-7.2");
	cr_expect_str_eq(res.d->emulator, "/usr/bin/qemu-system-x86_64");
	cr_expect_eq(res.d->memory_kib, 64 * 1024);
	cr_assert_eq(res.d->n_serials, 1);
	cr_expect_str_eq(res.d->serials[0].path, "/run/vm/serial.log");
	qm_domain_free(res.d);
}

Test(describe_engine, a_question_qemu_fails_fails_the_description_with_its_class)
{
	struct result res = { 0 };

	run("helper-pc", "query-uuid", true, &res);
	cr_assert_eq(res.calls, 1);
	cr_expect_null(res.d);
	cr_expect_not(res.facts);
	cr_expect_str_eq(res.err.error_class, "GenericError");
}

Test(describe_engine, an_optional_question_qemu_fails_is_no_fact)
{
	struct result res = { 0 };

	/* Machine none has no acpi property: its qom-get fails, and that is a fact. */
	run("helper-none", NULL, true, &res);
	cr_assert(res.d, "%s: %s", res.err.error_class, res.err.text);
	cr_expect_str_eq(res.d->machine, "none");
	qm_domain_free(res.d);
}

Test(describe_engine, a_process_whose_command_line_cannot_be_read_is_not_described)
{
	struct result res = { 0 };

	run("helper-pc", NULL, false, &res);
	cr_expect_null(res.d);
	cr_expect_str_eq(res.err.error_class, "DescribeArgv");
	cr_expect(strstr(res.err.text, "cmdline"), "%s", res.err.text);
}
