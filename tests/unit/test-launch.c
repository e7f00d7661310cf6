/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Starting an emulator and owning it, without QEMU: the emulator of the
 * description is a fake (tests/helpers/fake-emulator), a script that exits
 * at once, one that never creates its socket, or a file that is not there.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "engine/launch.h"

static char parent[64];

static void setup(void)
{
	snprintf(parent, sizeof(parent), "/tmp/qm-launch-XXXXXX");
	cr_assert(mkdtemp(parent));
}

/* Every failure and every free leaves the parent empty: nothing is left behind. */
static void teardown(void)
{
	cr_expect_eq(rmdir(parent), 0, "%s is not empty: %s", parent, strerror(errno));
}

TestSuite(launch, .init = setup, .fini = teardown, .timeout = 30);

static struct qm_domain *domain_with(const char *emulator)
{
	struct qm_error err = { 0 };
	struct qm_domain *d;
	char *xml;

	cr_assert(asprintf(&xml,
			   "<domain type='qemu'><name>vm1</name>"
			   "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
			   "<memory unit='MiB'>64</memory><os><type>hvm</type></os>"
			   "<devices><emulator>%s</emulator></devices></domain>",
			   emulator) >= 0);
	cr_assert_eq(qm_domain_parse(xml, strlen(xml), &d, &err), 0, "%s", err.text);
	free(xml);
	return d;
}

static void script(const char *path, const char *body)
{
	FILE *f = fopen(path, "w");

	cr_assert(f);
	fprintf(f, "#!/bin/sh\n%s\n", body);
	cr_assert_eq(fclose(f), 0);
	cr_assert_eq(chmod(path, 0700), 0);
}

static int launch(const char *emulator, double timeout, struct qm_launch **l,
		  struct qm_error *err)
{
	_cleanup_domain_ struct qm_domain *d = domain_with(emulator);
	struct qm_launch_opts opts = { .runtime_parent = parent, .timeout = timeout };

	return qm_launch_new(d, &opts, l, err);
}

Test(launch, an_emulator_that_exits_at_once_fails_with_its_log)
{
	char path[128];
	struct qm_error err = { 0 };
	struct qm_launch *l = NULL;

	snprintf(path, sizeof(path), "%s.exit", parent);
	script(path, "echo 'qemu: -nodefaults: bad option' >&2; exit 3");
	cr_expect_eq(launch(path, 10, &l, &err), -ECHILD);
	unlink(path);
	cr_expect_null(l);
	cr_expect_str_eq(err.error_class, "LaunchExited");
	cr_expect(strstr(err.text, "status 3"), "%s", err.text);
	cr_expect(strstr(err.text, "bad option"), "the log tail is missing: %s", err.text);
}

Test(launch, an_emulator_that_is_not_there_fails_with_the_reason)
{
	struct qm_error err = { 0 };
	struct qm_launch *l = NULL;

	cr_expect_eq(launch("/nonexistent/qemu", 10, &l, &err), -ECHILD);
	cr_expect_str_eq(err.error_class, "LaunchExited");
	cr_expect(strstr(err.text, "status 127"), "%s", err.text);
	cr_expect(strstr(err.text, "No such file"), "%s", err.text);
}

Test(launch, an_emulator_without_a_socket_times_out_and_is_killed)
{
	char path[128], pidfile[160], buf[32] = "";
	struct qm_error err = { 0 };
	struct qm_launch *l = NULL;
	int fd;
	pid_t pid;

	snprintf(path, sizeof(path), "%s.hang", parent);
	snprintf(pidfile, sizeof(pidfile), "%s.pid", parent);
	{
		char body[256];

		snprintf(body, sizeof(body), "echo $$ > %s; exec sleep 30", pidfile);
		script(path, body);
	}
	cr_expect_eq(launch(path, 0.3, &l, &err), -ETIMEDOUT);
	unlink(path);
	cr_expect_str_eq(err.error_class, "LaunchTimeout");
	cr_expect(strstr(err.text, "within"), "%s", err.text);
	fd = open(pidfile, O_RDONLY);
	cr_assert_geq(fd, 0);
	cr_assert_gt(read(fd, buf, sizeof(buf) - 1), 0);
	close(fd);
	unlink(pidfile);
	pid = atoi(buf);
	cr_assert_gt(pid, 0);
	cr_expect_eq(kill(pid, 0), -1, "the emulator %d still runs", pid);
}

static const char *fake(void)
{
	static char path[4096];
	const char *top = getenv("top_builddir");

	snprintf(path, sizeof(path), "%s/tests/helpers/fake-emulator",
		 top && *top ? top : ABS_TOP_BUILDDIR);
	return path;
}

Test(launch, a_started_emulator_is_owned_until_free)
{
	struct qm_error err = { 0 };
	struct qm_launch *l = NULL;
	struct stat st;
	pid_t pid;

	cr_assert_eq(launch(fake(), 10, &l, &err), 0, "%s: %s", err.error_class, err.text);
	pid = qm_launch_pid(l);
	cr_expect_gt(pid, 0);
	cr_expect_eq(kill(pid, 0), 0);
	cr_assert_eq(stat(qm_launch_dir(l), &st), 0);
	cr_expect(S_ISDIR(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0700, "directory mode %o", st.st_mode & 07777);
	cr_expect_eq(strncmp(qm_launch_qmp_path(l), qm_launch_dir(l), strlen(qm_launch_dir(l))),
		     0);
	cr_assert_eq(stat(qm_launch_qmp_path(l), &st), 0);
	cr_expect(S_ISSOCK(st.st_mode));
	cr_expect_eq(st.st_mode & 0777, 0600, "socket mode %o", st.st_mode & 0777);
	qm_launch_free(l);
	cr_expect_eq(kill(pid, 0), -1, "%d still runs after free", pid);
}

Test(launch, release_leaves_the_process_running)
{
	struct qm_error err = { 0 };
	struct qm_launch *l = NULL;
	char dir[128];
	int status;
	pid_t pid;

	cr_assert_eq(launch(fake(), 10, &l, &err), 0, "%s: %s", err.error_class, err.text);
	pid = qm_launch_pid(l);
	snprintf(dir, sizeof(dir), "%s", qm_launch_dir(l));
	qm_launch_release(l);
	cr_expect_eq(kill(pid, 0), 0, "released, but not running");
	/* The caller owns it now: end it by its pid and clean up. */
	kill(pid, SIGKILL);
	cr_expect_eq(waitpid(pid, &status, 0), pid);
	{
		char path[192];

		snprintf(path, sizeof(path), "%s/qmp.sock", dir);
		unlink(path);
		snprintf(path, sizeof(path), "%s/qemu.log", dir);
		unlink(path);
		cr_expect_eq(rmdir(dir), 0);
	}
}

/* Where the child's descriptor @fd leads; "" when it has none. */
static void child_fd(pid_t pid, int fd, char *out, size_t size)
{
	char link[64];
	ssize_t n;

	snprintf(link, sizeof(link), "/proc/%d/fd/%d", (int)pid, fd);
	n = readlink(link, out, size - 1);
	out[n > 0 ? n : 0] = '\0';
}

static void expect_lease_held(const char *path, bool held)
{
	struct qm_error err = { 0 };
	struct qm_lease l;
	int r;

	cr_assert_eq(qm_lease_open(path, &l, &err), 0, "%s", err.text);
	r = qm_lease_acquire(&l, "c7a5fdbd-edaf-9455-926a-d65c16db1809",
			     "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4", QM_LEASE_ANY_GEN, &err);
	if (held)
		cr_expect_str_eq(err.error_class, "LeaseHeld", "%s: %d %s", path, r, err.text);
	else
		cr_expect_eq(r, 0, "%s: %s", path, err.text);
	qm_lease_close(&l);
}

/*
 * The leases are the emulator's fds 3 and 4, and nothing else of ours is:
 * it holds them after ours are closed, until it is gone.
 */
Test(launch, leases_are_inherited_as_fd_3_and_up_and_held_while_it_runs)
{
	_cleanup_domain_ struct qm_domain *d = domain_with(fake());
	struct qm_launch_opts opts = { .runtime_parent = parent, .timeout = 10 };
	struct qm_lease ls[2];
	struct qm_error err = { 0 };
	struct qm_launch *l = NULL;
	char paths[3][128], got[256];
	int decoy;
	pid_t pid;

	for (int i = 0; i < 3; i++)
		snprintf(paths[i], sizeof(paths[i]), "%s.%d", parent, i);
	decoy = open(paths[2], O_RDWR | O_CREAT, 0600); /* inheritable, on purpose */
	cr_assert_geq(decoy, 0);
	for (int i = 0; i < 2; i++)
		cr_assert_eq(qm_lease_open(paths[i], &ls[i], &err), 0, "%s", err.text);
	cr_assert_eq(qm_leases_acquire(ls, 2, "c7a5fdbd-edaf-9455-926a-d65c16db1809",
				       "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4", NULL, &err),
		     0, "%s", err.text);
	opts.leases = ls;
	opts.n_leases = 2;
	cr_assert_eq(qm_launch_new(d, &opts, &l, &err), 0, "%s: %s", err.error_class,
		     err.text);
	pid = qm_launch_pid(l);
	child_fd(pid, 3, got, sizeof(got));
	cr_expect_str_eq(got, paths[0]);
	child_fd(pid, 4, got, sizeof(got));
	cr_expect_str_eq(got, paths[1]);
	for (int fd = 5; fd < 64; fd++) {
		child_fd(pid, fd, got, sizeof(got));
		cr_expect_str_neq(got, paths[2], "the decoy leaked as fd %d", fd);
	}
	qm_leases_close(ls, 2);
	expect_lease_held(paths[0], true);
	expect_lease_held(paths[1], true);
	qm_launch_free(l);
	expect_lease_held(paths[0], false);
	close(decoy);
	for (int i = 0; i < 3; i++)
		unlink(paths[i]);
}

Test(launch, more_leases_than_allowed_start_nothing)
{
	_cleanup_domain_ struct qm_domain *d = domain_with(fake());
	struct qm_lease ls[QM_LEASE_MAX + 1];
	struct qm_launch_opts opts = { .runtime_parent = parent, .leases = ls,
				       .n_leases = QM_LEASE_MAX + 1 };
	struct qm_error err = { 0 };
	struct qm_launch *l = NULL;

	for (size_t i = 0; i < QM_LEASE_MAX + 1; i++)
		qm_lease_init(&ls[i]);
	cr_expect_eq(qm_launch_new(d, &opts, &l, &err), -E2BIG);
	cr_expect_str_eq(err.error_class, "Usage");
	cr_expect_null(l);
}

Test(launch, a_description_it_cannot_express_starts_nothing)
{
	struct qm_error err = { 0 };
	struct qm_domain *d;
	struct qm_launch *l = NULL;
	struct qm_launch_opts opts = { .runtime_parent = parent };
	const char *xml = "<domain type='qemu'><name>vm1</name>"
			  "<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"
			  "<memory>65536</memory><os><type>hvm</type></os>"
			  "<devices><sound model='ich9'/></devices></domain>";

	cr_assert_eq(qm_domain_parse(xml, strlen(xml), &d, &err), 0);
	cr_expect_lt(qm_launch_new(d, &opts, &l, &err), 0);
	qm_domain_free(d);
	cr_expect_str_eq(err.error_class, "DomainUnsupported");
}

/* The value of @name in the environment @pid was started with; NULL when it has none. */
static char *child_env(pid_t pid, const char *name)
{
	static char buf[65536];
	size_t len = strlen(name), n;
	char path[64];
	FILE *f;

	snprintf(path, sizeof(path), "/proc/%d/environ", (int)pid);
	f = fopen(path, "r");
	cr_assert(f, "%s: %s", path, strerror(errno));
	n = fread(buf, 1, sizeof(buf) - 1, f);
	fclose(f);
	buf[n] = '\0';
	for (char *e = buf; e < buf + n; e += strlen(e) + 1)
		if (!strncmp(e, name, len) && e[len] == '=')
			return e + len + 1;
	return NULL;
}

/* The environment the fake emulator starts with, @serves_disks or not; its GLIBC_TUNABLES. */
static void expect_tunables(bool serves_disks, const char *want)
{
	_cleanup_domain_ struct qm_domain *d = domain_with(fake());
	struct qm_launch_opts opts = { .runtime_parent = parent, .timeout = 10,
				       .serves_disks = serves_disks };
	struct qm_error err = { 0 };
	struct qm_launch *l = NULL;
	const char *got, *path;

	cr_assert_eq(setenv("QM_TEST_INHERITED", "yes", 1), 0);
	cr_assert_eq(qm_launch_new(d, &opts, &l, &err), 0, "%s: %s", err.error_class, err.text);
	got = child_env(qm_launch_pid(l), "GLIBC_TUNABLES");
	/*
	 * The child's glibc, starting, ends each tunable it has read with a
	 * NUL in place: /proc shows the first of them, a prefix of @want.
	 */
	if (want)
		cr_expect(got && *got && !strncmp(got, want, strlen(got)) &&
				  (want[strlen(got)] == '\0' || want[strlen(got)] == ':'),
			  "GLIBC_TUNABLES=%s, not %s", got, want);
	else
		cr_expect_null(got, "GLIBC_TUNABLES=%s", got);
	/* The rest of the environment is ours, whatever happens to GLIBC_TUNABLES. */
	path = child_env(qm_launch_pid(l), "QM_TEST_INHERITED");
	cr_expect(path && !strcmp(path, "yes"), "the emulator did not inherit our environment");
	qm_launch_free(l);
	unsetenv("QM_TEST_INHERITED");
}

Test(launch, a_qemu_that_serves_disks_keeps_the_memory_it_frees)
{
	cr_assert_eq(unsetenv("GLIBC_TUNABLES"), 0);
	expect_tunables(true, QM_LAUNCH_NBD_TUNABLES);
}

Test(launch, a_qemu_that_serves_no_disk_gets_our_environment_as_it_is)
{
	cr_assert_eq(unsetenv("GLIBC_TUNABLES"), 0);
	expect_tunables(false, NULL);
}

Test(launch, glibc_tunables_of_the_user_are_left_as_they_are)
{
	cr_assert_eq(setenv("GLIBC_TUNABLES", "glibc.malloc.check=0", 1), 0);
	expect_tunables(true, "glibc.malloc.check=0");
	unsetenv("GLIBC_TUNABLES");
}
