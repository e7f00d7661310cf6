/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lease files and their OFD locks, in one process: two open descriptions of
 * a file conflict even here, which is what the tests lean on (a POSIX lock
 * would not).  A dup'd descriptor stands for QEMU's copy.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "engine/lease.h"

#define VM "c7a5fdbd-edaf-9455-926a-d65c16db1809"
#define VM2 "0a1b2c3d-4e5f-4a6b-8c7d-9e0f1a2b3c4d"
#define HOST_A "3d1219c7-c4c5-404a-aa1f-6d2a48adfda4"
#define HOST_B "9f8e7d6c-5b4a-4392-8171-605f4e3d2c1b"

static char dir[64];

static void setup(void)
{
	snprintf(dir, sizeof(dir), "/tmp/qm-lease-XXXXXX");
	cr_assert(mkdtemp(dir));
}

/* The directory is flat: files, a FIFO, symlinks. */
static void teardown(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	cr_assert(d);
	while ((e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			cr_expect_eq(unlinkat(dirfd(d), e->d_name, 0), 0, "%s",
				     e->d_name);
	closedir(d);
	cr_expect_eq(rmdir(dir), 0);
}

TestSuite(lease, .init = setup, .fini = teardown, .timeout = 10);

static const char *in_dir(const char *name)
{
	static char paths[4][160];
	static unsigned next;
	char *p = paths[next++ % 4];

	snprintf(p, sizeof(paths[0]), "%s/%s", dir, name);
	return p;
}

static void write_file(const char *path, const char *text, size_t len, mode_t mode)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);

	cr_assert_geq(fd, 0, "%s: %s", path, strerror(errno));
	cr_assert_eq(write(fd, text, len), (ssize_t)len);
	cr_assert_eq(fchmod(fd, mode), 0);
	close(fd);
}

static struct qm_lease open_ok(const char *path)
{
	struct qm_error err = { 0 };
	struct qm_lease l;

	cr_assert_eq(qm_lease_open(path, &l, &err), 0, "%s: %s: %s", path,
		     err.error_class, err.text);
	return l;
}

static void acquire_ok(struct qm_lease *l, const char *vm, const char *host, uint64_t gen)
{
	struct qm_error err = { 0 };

	cr_assert_eq(qm_lease_acquire(l, vm, host, gen, &err), 0, "%s: %s",
		     err.error_class, err.text);
	cr_assert(l->held);
}

static void release_ok(struct qm_lease *l)
{
	struct qm_error err = { 0 };

	cr_assert_eq(qm_lease_release(l, &err), 0, "%s", err.text);
	cr_assert_not(l->held);
}

/* Expects @r to be a refusal of class @cls whose text holds @text. */
static void expect_refused(int r, const struct qm_error *err, const char *cls,
			   const char *text)
{
	cr_expect_lt(r, 0, "expected %s, got success", cls);
	cr_expect_eq(r, err->code);
	cr_expect_str_eq(err->error_class, cls, "%s: %s", err->error_class, err->text);
	cr_expect(strstr(err->text, text), "'%s' lacks '%s'", err->text, text);
}

static void expect_open_refused(const char *path, const char *cls, const char *text)
{
	struct qm_error err = { 0 };
	struct qm_lease l;

	expect_refused(qm_lease_open(path, &l, &err), &err, cls, text);
	cr_expect_eq(l.fd, -1, "a refused lease is left closed");
}

static void expect_acquire_refused(struct qm_lease *l, const char *vm, uint64_t gen,
				   const char *cls, const char *text)
{
	struct qm_error err = { 0 };

	expect_refused(qm_lease_acquire(l, vm, HOST_B, gen, &err), &err, cls, text);
	cr_expect_not(l->held);
}

static char *slurp(const char *path)
{
	static char buf[2048];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	cr_assert_geq(fd, 0);
	n = read(fd, buf, sizeof(buf) - 1);
	close(fd);
	cr_assert_geq(n, 0);
	buf[n] = '\0';
	return buf;
}

Test(lease, a_new_lease_is_a_0600_file_at_generation_0)
{
	const char *path = in_dir("vm.lease");
	mode_t old = umask(0); /* 0600 comes from the open, not from the umask */
	struct qm_lease l = open_ok(path);
	struct stat st;

	umask(old);
	cr_assert_eq(stat(path, &st), 0);
	cr_expect(S_ISREG(st.st_mode));
	cr_expect_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);
	cr_expect_eq(st.st_size, 0);
	cr_expect_eq(l.state.generation, 0);
	cr_expect_str_eq(l.state.owner, "");
	cr_expect_not(l.held);
	cr_expect(fcntl(l.fd, F_GETFD) & FD_CLOEXEC, "the descriptor is close-on-exec");
	qm_lease_close(&l);
	cr_expect_eq(l.fd, -1);
}

Test(lease, acquiring_writes_owner_vm_and_generation)
{
	const char *path = in_dir("vm.lease");
	struct qm_lease l = open_ok(path);

	acquire_ok(&l, VM, HOST_A, QM_LEASE_ANY_GEN);
	cr_expect_str_eq(slurp(path),
			 "owner-host-uuid=" HOST_A "\nvm-uuid=" VM "\ngeneration=1\n");
	cr_expect_eq(l.state.generation, 1);
	cr_expect_str_eq(l.state.owner, HOST_A);
	cr_expect_str_eq(l.state.vm_uuid, VM);
	qm_lease_close(&l);
}

Test(lease, refuses_bad_paths)
{
	char longpath[QM_LEASE_PATH_MAX + 1];

	expect_open_refused("relative/vm.lease", "LeaseFile", "is not absolute");
	expect_open_refused("/tmp/vm\n.lease", "LeaseFile", "control characters");
	memset(longpath, 'x', sizeof(longpath) - 1);
	longpath[0] = '/';
	longpath[sizeof(longpath) - 1] = '\0';
	expect_open_refused(longpath, "LeaseFile", "longer than 255 bytes");
}

Test(lease, refuses_a_symlink_and_creates_nothing_through_it)
{
	const char *target = in_dir("target"), *link = in_dir("link");
	const char *dangling = in_dir("dangling"), *nowhere = in_dir("nowhere");

	write_file(target, "", 0, 0600);
	cr_assert_eq(symlink(target, link), 0);
	expect_open_refused(link, "LeaseFile", "is a symbolic link");
	cr_assert_eq(symlink(nowhere, dangling), 0);
	expect_open_refused(dangling, "LeaseFile", "is a symbolic link");
	cr_expect_eq(access(nowhere, F_OK), -1, "a file was created through the link");
}

Test(lease, refuses_what_is_not_a_regular_file)
{
	const char *fifo = in_dir("fifo");

	cr_assert_eq(mkfifo(fifo, 0600), 0);
	expect_open_refused(fifo, "LeaseFile", "is not a regular file");
	expect_open_refused(dir, "LeaseFile", "cannot open it");
}

Test(lease, refuses_a_file_others_may_write)
{
	const char *path = in_dir("shared");
	struct qm_lease l;

	write_file(path, "", 0, 0620);
	expect_open_refused(path, "LeaseFile", "may be written by others (mode 0620)");
	write_file(path, "", 0, 0602);
	expect_open_refused(path, "LeaseFile", "mode 0602");
	write_file(path, "", 0, 0644); /* readable is fine */
	l = open_ok(path);
	qm_lease_close(&l);
}

Test(lease, refuses_a_file_of_another_user)
{
	const char *path = in_dir("theirs");
	struct qm_error err = { 0 };
	struct stat st;

	write_file(path, "", 0, 0600);
	cr_assert_eq(stat(path, &st), 0);
	/* Whoever runs the test: the same checks, for a user who is not the owner. */
	expect_refused(qm_lease_check_stat(path, &st, st.st_uid + 1, &err), &err,
		       "LeaseFile", "belongs to uid");
	qm_error_clear(&err);
	cr_expect_eq(qm_lease_check_stat(path, &st, st.st_uid, &err), 0, "%s", err.text);
	/* And through open, where the test may give the file away. */
	if (geteuid() == 0) {
		cr_assert_eq(chown(path, 65534, 65534), 0);
		expect_open_refused(path, "LeaseFile", "belongs to uid 65534");
	}
}

Test(lease, refuses_a_file_larger_than_a_lease)
{
	const char *path = in_dir("big");
	char big[QM_LEASE_FILE_MAX + 1];

	memset(big, '\n', sizeof(big));
	write_file(path, big, sizeof(big), 0600);
	expect_open_refused(path, "LeaseInvalid", "more than 1024 bytes");
	/* Exactly the limit is read, and refused for what it says. */
	write_file(path, big, QM_LEASE_FILE_MAX, 0600);
	expect_open_refused(path, "LeaseInvalid", "line 1: no '='");
}

Test(lease, refuses_a_file_that_is_not_a_lease)
{
	const char *path = in_dir("garbage");

	write_file(path, "#!/bin/sh\n", 10, 0600);
	expect_open_refused(path, "LeaseInvalid", "is not a qmigrate lease");
}

static void expect_text_refused(const char *text, const char *piece)
{
	struct qm_lease_state st;
	struct qm_error err = { 0 };

	memset(&st, 0xa5, sizeof(st));
	expect_refused(qm_lease_text_parse(text, strlen(text), "/l", &st, &err), &err,
		       "LeaseInvalid", piece);
	cr_expect_eq(st.generation, 0, "%s: a refused text leaves no state", text);
	cr_expect_str_eq(st.owner, "");
}

#define OWNER "owner-host-uuid=" HOST_A "\n"
#define VMLINE "vm-uuid=" VM "\n"

Test(lease, text_is_read_strictly)
{
	expect_text_refused(OWNER VMLINE "generation=1", "line 3: no newline at its end");
	expect_text_refused(OWNER VMLINE "generation=1\n\n", "line 4: no '='");
	expect_text_refused(OWNER VMLINE "generation=1\nextra=1\n",
			    "unknown key 'extra'");
	expect_text_refused(OWNER OWNER VMLINE "generation=1\n",
			    "line 2: a key given twice");
	expect_text_refused(OWNER VMLINE, "no generation");
	expect_text_refused(VMLINE "generation=1\n", "no owner-host-uuid");
	expect_text_refused(OWNER "generation=1\n", "no vm-uuid");
	expect_text_refused("owner-host-uuid=3d1219c7\n" VMLINE "generation=1\n",
			    "owner-host-uuid '3d1219c7' is not a uuid");
	expect_text_refused(OWNER "vm-uuid=" VM "\r\ngeneration=1\n", "is not a uuid");
	expect_text_refused(OWNER "vm-uuid =" VM "\ngeneration=1\n",
			    "unknown key 'vm-uuid '");
	expect_text_refused(OWNER VMLINE "generation=0\n", "'0' is not a number");
	expect_text_refused(OWNER VMLINE "generation=-1\n", "'-1' is not a number");
	expect_text_refused(OWNER VMLINE "generation=+1\n", "'+1' is not a number");
	expect_text_refused(OWNER VMLINE "generation= 1\n", "' 1' is not a number");
	expect_text_refused(OWNER VMLINE "generation=0x10\n", "'0x10' is not a number");
	expect_text_refused(OWNER VMLINE "generation=\n", "'' is not a number");
	expect_text_refused(OWNER VMLINE "generation=18446744073709551616\n",
			    "'18446744073709551616' is not a number");
	{
		static const char nul[] = OWNER VMLINE "generation=1\0\n";
		struct qm_lease_state st;
		struct qm_error err = { 0 };

		expect_refused(qm_lease_text_parse(nul, sizeof(nul) - 1, "/l", &st, &err),
			       &err, "LeaseInvalid", "line 3: a NUL byte");
	}
}

Test(lease, text_in_any_order_and_case_reads_back_canonical)
{
	static const char text[] = "generation=18446744073709551615\n"
				   "vm-uuid=C7A5FDBD-EDAF-9455-926A-D65C16DB1809\n" OWNER;
	struct qm_lease_state st;
	struct qm_error err = { 0 };
	char out[QM_LEASE_FILE_MAX];

	cr_assert_eq(qm_lease_text_parse(text, strlen(text), "/l", &st, &err), 0, "%s",
		     err.text);
	cr_expect_eq(st.generation, UINT64_MAX);
	cr_expect_str_eq(st.vm_uuid, VM);
	cr_expect_str_eq(st.owner, HOST_A);
	cr_assert_gt(qm_lease_text_format(&st, out, sizeof(out)), 0);
	cr_expect_str_eq(out, OWNER VMLINE "generation=18446744073709551615\n");
	cr_expect_eq(qm_lease_text_format(&st, out, 20), -ENOSPC);
	cr_expect_eq(qm_lease_text_parse("", 0, "/l", &st, &err), 0);
	cr_expect_eq(st.generation, 0);
}

Test(lease, a_second_description_is_refused_while_one_holds_it)
{
	const char *path = in_dir("vm.lease");
	struct qm_lease a = open_ok(path), b = open_ok(path);
	struct qm_error err = { 0 };
	char text[512];

	acquire_ok(&a, VM, HOST_A, QM_LEASE_ANY_GEN);
	expect_refused(qm_lease_acquire(&b, VM, HOST_B, QM_LEASE_ANY_GEN, &err), &err,
		       "LeaseHeld", "is held by host " HOST_A);
	cr_expect_eq(err.code, -EBUSY);
	snprintf(text, sizeof(text), "the lease %s is held", path);
	cr_expect(strstr(err.text, text), "%s", err.text);
	cr_expect(strstr(err.text, "stop it there first"), "%s", err.text);
	cr_expect_not(b.held);

	/* The same host: said so. */
	qm_error_clear(&err);
	expect_refused(qm_lease_acquire(&b, VM, HOST_A, QM_LEASE_ANY_GEN, &err), &err,
		       "LeaseHeld", "is held on this host");

	/* Released, the other description takes it, at the next generation. */
	release_ok(&a);
	cr_expect_eq(a.state.generation, 1, "the state stays readable after a release");
	acquire_ok(&b, VM, HOST_B, QM_LEASE_ANY_GEN);
	cr_expect_eq(b.state.generation, 2);
	cr_expect_str_eq(b.state.owner, HOST_B);
	qm_error_clear(&err);
	expect_refused(qm_lease_acquire(&a, VM, HOST_A, QM_LEASE_ANY_GEN, &err), &err,
		       "LeaseHeld", "is held by host " HOST_B);
	qm_lease_close(&a);
	qm_lease_close(&b);
}

Test(lease, acquiring_a_lease_held_already_or_not_open_is_a_state_error)
{
	struct qm_lease l = open_ok(in_dir("vm.lease")), none;
	struct qm_error err = { 0 };

	acquire_ok(&l, VM, HOST_A, QM_LEASE_ANY_GEN);
	expect_refused(qm_lease_acquire(&l, VM, HOST_A, QM_LEASE_ANY_GEN, &err), &err,
		       "LeaseState", "held already");
	qm_lease_close(&l);
	qm_lease_init(&none);
	qm_error_clear(&err);
	expect_refused(qm_lease_acquire(&none, VM, HOST_A, QM_LEASE_ANY_GEN, &err), &err,
		       "LeaseState", "not open");
	qm_error_clear(&err);
	expect_refused(qm_lease_retake(&none, &err), &err, "LeaseState", "never taken");
	cr_expect_eq(qm_lease_release(&none, &err), 0,
		     "releasing what is not held is a no-op");
	qm_lease_close(&none);
}

Test(lease, a_lease_of_another_vm_is_refused_and_left_unlocked)
{
	const char *path = in_dir("vm.lease");
	struct qm_lease a = open_ok(path), b = open_ok(path);

	acquire_ok(&a, VM, HOST_A, QM_LEASE_ANY_GEN);
	release_ok(&a);
	expect_acquire_refused(&b, VM2, QM_LEASE_ANY_GEN, "LeaseVm",
			       "belongs to VM " VM ", not to VM " VM2);
	cr_expect(strstr(slurp(path), "generation=1\n"), "the file was written");
	/* The refusal kept no lock: the first description takes it again. */
	acquire_ok(&a, VM, HOST_A, 1);
	cr_expect_eq(a.state.generation, 2);
	qm_lease_close(&a);
	qm_lease_close(&b);
}

Test(lease, the_generation_grows_and_is_checked)
{
	const char *path = in_dir("vm.lease");
	struct qm_lease a = open_ok(path), b = open_ok(path);

	acquire_ok(&a, VM, HOST_A, 0); /* a new file is at 0 */
	cr_expect_eq(a.state.generation, 1);
	release_ok(&a);
	expect_acquire_refused(&b, VM, 5, "LeaseGeneration",
			       "is at generation 1, not 5: host " HOST_A
			       " took it since");
	cr_expect(strstr(slurp(path), "generation=1\n"));
	acquire_ok(&b, VM, HOST_B, 1);
	cr_expect_eq(b.state.generation, 2);
	cr_expect(strstr(slurp(path), "owner-host-uuid=" HOST_B "\n"));
	cr_expect(strstr(slurp(path), "generation=2\n"));
	qm_lease_close(&a);
	qm_lease_close(&b);
}

Test(lease, the_last_generation_is_not_wrapped)
{
	const char *path = in_dir("vm.lease");
	static const char text[] = OWNER VMLINE "generation=18446744073709551615\n";
	struct qm_lease l;

	write_file(path, text, strlen(text), 0600);
	l = open_ok(path);
	expect_acquire_refused(&l, VM, QM_LEASE_ANY_GEN, "LeaseInvalid",
			       "last generation");
	qm_lease_close(&l);
}

Test(lease, retake_after_a_failed_handover_uses_the_same_description)
{
	const char *path = in_dir("vm.lease");
	struct qm_lease a = open_ok(path), b = open_ok(path);
	struct qm_error err = { 0 };
	int fd = a.fd;

	acquire_ok(&a, VM, HOST_A, QM_LEASE_ANY_GEN);
	release_ok(&a);
	/* The destination was refused (say): nobody took it, the source takes it back. */
	cr_assert_eq(qm_lease_retake(&a, &err), 0, "%s: %s", err.error_class, err.text);
	cr_expect(a.held);
	cr_expect_eq(a.fd, fd);
	cr_expect_eq(a.state.generation, 2);
	cr_expect_str_eq(a.state.owner, HOST_A);
	cr_expect_eq(qm_lease_retake(&a, &err), 0, "retaking a held lease is a no-op");
	expect_acquire_refused(&b, VM, QM_LEASE_ANY_GEN, "LeaseHeld", "held");

	/* Released again, and this time the other side took it: no retake. */
	release_ok(&a);
	acquire_ok(&b, VM, HOST_B, 2);
	qm_error_clear(&err);
	expect_refused(qm_lease_retake(&a, &err), &err, "LeaseHeld", HOST_B);
	release_ok(&b);
	qm_error_clear(&err);
	expect_refused(qm_lease_retake(&a, &err), &err, "LeaseGeneration",
		       "at generation 3, not 2: host " HOST_B);
	cr_expect_not(a.held);
	qm_lease_close(&a);
	qm_lease_close(&b);
}

/* A dup stands for QEMU's copy: the same description, the same lock. */
Test(lease, a_copy_of_the_descriptor_shares_the_lock)
{
	const char *path = in_dir("vm.lease");
	struct qm_lease a = open_ok(path), b = open_ok(path);
	struct qm_error err = { 0 };
	int qemu;

	acquire_ok(&a, VM, HOST_A, QM_LEASE_ANY_GEN);
	qemu = dup(a.fd); /* what QEMU holds after -add-fd or add-fd */
	cr_assert_geq(qemu, 0);
	/* perform's release unlocks QEMU's copy too... */
	release_ok(&a);
	acquire_ok(&b, VM, HOST_B, 1);
	release_ok(&b);
	cr_assert_eq(qm_lease_acquire(&a, VM, HOST_A, 2, &err), 0, "%s", err.text);
	/* ...and the copy keeps the lock once ours is closed, until QEMU is gone. */
	qm_lease_close(&a);
	expect_acquire_refused(&b, VM, QM_LEASE_ANY_GEN, "LeaseHeld",
			       "held by host " HOST_A);
	close(qemu);
	acquire_ok(&b, VM, HOST_B, 3);
	qm_lease_close(&b);
}

Test(lease, adopting_a_descriptor_of_another_file_is_refused)
{
	const char *path = in_dir("vm.lease"), *other = in_dir("other");
	struct qm_lease l = open_ok(path), m;
	struct qm_error err = { 0 };
	int fd;

	qm_lease_close(&l);
	write_file(other, "", 0, 0600);
	fd = open(other, O_RDWR | O_CLOEXEC);
	cr_assert_geq(fd, 0);
	expect_refused(qm_lease_adopt_fd(fd, path, &m, &err), &err, "LeaseFile",
		       "is not the lease");
	cr_expect_eq(fcntl(fd, F_GETFD), -1, "the descriptor given is closed on failure");
	cr_expect_eq(m.fd, -1);

	fd = open(path, O_RDONLY | O_CLOEXEC);
	qm_error_clear(&err);
	expect_refused(qm_lease_adopt_fd(fd, path, &m, &err), &err, "LeaseFile",
		       "not open for reading and writing");
}

Test(lease, an_adopted_descriptor_acts_on_the_lock_it_shares)
{
	const char *path = in_dir("vm.lease");
	struct qm_lease a = open_ok(path), b = open_ok(path), got, fresh;
	struct qm_error err = { 0 };

	acquire_ok(&a, VM, HOST_A, QM_LEASE_ANY_GEN);
	/* pidfd_getfd gives a new descriptor of QEMU's description: a dup does too. */
	cr_assert_eq(qm_lease_adopt_fd(dup(a.fd), path, &got, &err), 0, "%s", err.text);
	cr_expect(got.held, "the description holds the lock");
	cr_expect_eq(got.state.generation, 1);
	cr_expect_str_eq(got.state.owner, HOST_A);
	qm_lease_close(&a);
	expect_acquire_refused(&b, VM, QM_LEASE_ANY_GEN, "LeaseHeld", "held");

	/* Released and retaken through the adopted copy: the source's rollback. */
	release_ok(&got);
	cr_assert_eq(qm_lease_retake(&got, &err), 0, "%s: %s", err.error_class, err.text);
	cr_expect_eq(got.state.generation, 2);
	release_ok(&got);

	/* A description that holds nothing is adopted as not held... */
	cr_assert_eq(
		qm_lease_adopt_fd(open(path, O_RDWR | O_CLOEXEC), path, &fresh, &err), 0,
		"%s", err.text);
	cr_expect_not(fresh.held);
	qm_lease_close(&fresh);
	/* ...and so is one while another description holds the lock. */
	acquire_ok(&b, VM, HOST_B, 2);
	cr_assert_eq(
		qm_lease_adopt_fd(open(path, O_RDWR | O_CLOEXEC), path, &fresh, &err), 0,
		"%s", err.text);
	cr_expect_not(fresh.held, "another description's lock is not ours");
	cr_expect_eq(fresh.state.generation, 3);
	release_ok(&b);
	expect_refused(qm_lease_retake(&got, &err), &err, "LeaseGeneration",
		       "at generation 3, not 2");
	qm_lease_close(&fresh);
	qm_lease_close(&got);
	qm_lease_close(&b);
}

Test(lease, a_set_is_taken_all_or_none)
{
	struct qm_lease ls[2] = { open_ok(in_dir("disk0")), open_ok(in_dir("disk1")) };
	struct qm_lease other = open_ok(in_dir("disk1")),
			probe = open_ok(in_dir("disk0"));
	struct qm_error err = { 0 };

	acquire_ok(&other, VM, HOST_B, QM_LEASE_ANY_GEN);
	expect_refused(qm_leases_acquire(ls, 2, VM, HOST_A, NULL, &err), &err,
		       "LeaseHeld", "disk1 is held by host " HOST_B);
	cr_expect_not(ls[0].held, "the first was given back");
	acquire_ok(&probe, VM, HOST_B, 1);
	release_ok(&probe);
	release_ok(&other);
	qm_error_clear(&err);
	cr_assert_eq(qm_leases_acquire(ls, 2, VM, HOST_A, (uint64_t[]){ 2, 1 }, &err), 0,
		     "%s", err.text);
	cr_expect_eq(qm_leases_release(ls, 2, &err), 0);
	cr_expect_eq(qm_leases_retake(ls, 2, &err), 0, "%s", err.text);
	cr_expect(ls[0].held && ls[1].held);
	qm_leases_close(ls, 2);
	qm_lease_close(&other);
	qm_lease_close(&probe);
}

Test(lease, a_set_goes_into_a_cookie_and_comes_back_out)
{
	struct qm_lease ls[2] = { open_ok(in_dir("disk0")), open_ok(in_dir("disk1")) };
	struct qm_lease back[QM_LEASE_MAX];
	struct qm_cookie_lockstate cs;
	struct qm_error err = { 0 };
	uint64_t expect[QM_LEASE_MAX];
	size_t n;

	expect_refused(qm_leases_to_cookie(ls, 2, &cs, &err), &err, "CookieInvalid",
		       "disk0 was never taken");
	qm_error_clear(&err);
	cr_assert_eq(qm_leases_acquire(ls, 2, VM, HOST_A, NULL, &err), 0, "%s", err.text);
	cr_assert_eq(qm_leases_to_cookie(ls, 2, &cs, &err), 0, "%s", err.text);
	cr_expect_str_eq(cs.driver, "fcntl");
	cr_expect_eq(cs.n_leases, 2);
	cr_expect_str_eq(cs.leases[1].path, ls[1].path);
	cr_expect_eq(cs.leases[0].generation, 1);
	cr_expect_eq(qm_leases_release(ls, 2, &err), 0);

	cr_assert_eq(qm_leases_open_cookie(&cs, back, &n, expect, &err), 0, "%s",
		     err.text);
	cr_expect_eq(n, 2);
	cr_expect_eq(expect[0], 1);
	cr_assert_eq(qm_leases_acquire(back, n, VM, HOST_B, expect, &err), 0, "%s",
		     err.text);
	qm_leases_close(back, n);

	snprintf(cs.driver, sizeof(cs.driver), "sanlock");
	expect_refused(qm_leases_open_cookie(&cs, back, &n, expect, &err), &err,
		       "LeaseDriver", "'sanlock'");
	cr_expect_eq(n, 0);
	qm_leases_close(ls, 2);
}
