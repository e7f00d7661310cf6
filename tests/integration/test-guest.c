/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The test guest in a real QEMU: it boots, makes passes, and a dump of its
 * stopped RAM passes the checker; the same dump with one page damaged fails.
 * A 1 GiB guest has every page checked after its migration
 * (test-migrate.c's unix_1gib_completes_with_memory_intact).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/guest/guest-layout.h"
#include "tests/guest/memcheck.h"
#include "tests/helpers/guest.h"
#include "tests/helpers/qemu.h"

#define MIB (UINT64_C(1) << 20)
#define GIB4 (UINT64_C(1) << 32)

struct vm {
	struct tq_qemu qemu;
	struct ev_loop *loop;
	struct qm_ctx *ctx;
	struct qm_qmp *qmp;
	unsigned mib;
	char dump[256];
};

/*
 * The test's VM, stopped by the suite's fini even when an assertion failed
 * (each test runs in its own process; the VM is static because a failed
 * assertion unwinds the test's stack before fini runs).
 */
static struct vm the_vm, *running;

static void qmp(struct vm *vm, const char *command)
{
	struct qm_error err = { 0 };
	json_t *ret = qm_qmp_command_sync(vm->qmp, command, NULL, -1, &err);

	cr_assert(ret, "%s: %s: %s", command, err.error_class, err.text);
	json_decref(ret);
}

static void boot_opts(struct vm *vm, const char *machine, unsigned mib, const char *accel,
		      unsigned dirty_rate, unsigned mode)
{
	struct tq_qemu_opts opts = {
	    .machine = machine,
	    .mem_mib = mib,
	    .boot_image = tg_guest_image(),
	    .accel = accel,
	    .dirty_rate = dirty_rate,
	    .guest_mode = mode,
	};
	struct qm_error err = { 0 };

	cr_assert_eq(access(opts.boot_image, R_OK), 0, "%s: %s (run make first)",
		     opts.boot_image, strerror(errno));
	memset(vm, 0, sizeof(*vm));
	vm->mib = mib;
	cr_assert_eq(tq_qemu_start(&vm->qemu, &opts), 0);
	running = vm;
	snprintf(vm->dump, sizeof(vm->dump), "%s/mem.dump", vm->qemu.dir);
	vm->loop = ev_loop_new(EVFLAG_AUTO);
	vm->ctx = qm_ctx_new();
	cr_assert(vm->loop && vm->ctx);
	vm->qmp = qm_qmp_new(vm->ctx, vm->loop, NULL);
	cr_assert(vm->qmp);
	cr_assert_eq(qm_qmp_connect(vm->qmp, vm->qemu.qmp_path, &err), 0, "%s", err.text);
	/* Handshake now: the connect timeout runs on the loop, idle while we wait. */
	qmp(vm, "query-status");
}

static void boot(struct vm *vm, const char *machine, unsigned mib, const char *accel)
{
	boot_opts(vm, machine, mib, accel, 0, 0);
}

static void shutdown_vm(void)
{
	struct vm *vm = running;

	if (!vm)
		return;
	running = NULL;
	qm_qmp_unref(vm->qmp);
	qm_ctx_unref(vm->ctx);
	if (vm->loop)
		ev_loop_destroy(vm->loop);
	/* removes the private directory, dumps included */
	tq_qemu_stop(&vm->qemu);
}

/* Runs qm-memcheck on the dump; returns its exit status. */
static int run_cli(struct vm *vm)
{
	char cli[512], mib[32];
	const char *top = getenv("top_builddir");
	int status;
	pid_t pid;

	snprintf(cli, sizeof(cli), "%s/tests/guest/qm-memcheck",
		 top && *top ? top : ABS_TOP_BUILDDIR);
	snprintf(mib, sizeof(mib), "%u", vm->mib);
	pid = fork();
	cr_assert(pid >= 0);
	if (pid == 0) {
		execl(cli, cli, "--ram-mib", mib, vm->dump, (char *)NULL);
		_exit(127);
	}
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status));
	return WEXITSTATUS(status);
}

static uint8_t read_byte(int fd, uint64_t off)
{
	uint8_t b;

	cr_assert_eq(pread(fd, &b, 1, off), 1);
	return b;
}

static void write_byte(int fd, uint64_t off, uint8_t b)
{
	cr_assert_eq(pwrite(fd, &b, 1, off), 1);
}

/*
 * Damages the dump at @gpa (any patterned page, before or after the pass in
 * progress) twice, one way at a time: a page three passes stale, then a
 * zeroed page.  The checker must name the page both times.
 */
static void damage_is_caught(struct vm *vm, uint64_t gpa, uint64_t ram_top)
{
	struct qm_memcheck_result res;
	uint64_t ram = vm->mib * MIB;
	/* RAM from 4 GiB on follows RAM below 4 GiB in the dump */
	uint64_t off = (gpa < GIB4 ? gpa : ram - (ram_top - gpa)) + QMG_BYTE_OFFSET;
	int fd = open(vm->dump, O_RDWR | O_CLOEXEC);
	uint8_t good;

	cr_assert(fd >= 0);
	good = read_byte(fd, off);
	write_byte(fd, off, good - 3);
	cr_assert_eq(qm_memcheck_file(vm->dump, vm->mib * MIB, &res), 0, "%s",
		     res.message);
	cr_assert_not(res.ok, "a stale page went unnoticed: %s", res.message);
	cr_assert_eq(res.bad_addr, gpa, "%s", res.message);
	cr_assert_eq(res.expected, good);
	cr_assert_eq(res.found, (uint8_t)(good - 3));
	cr_assert_eq(res.bad_pages, 1);
	cr_assert_eq(run_cli(vm), 1);

	if (good) {
		write_byte(fd, off, 0);
		cr_assert_eq(qm_memcheck_file(vm->dump, vm->mib * MIB, &res), 0);
		cr_assert_not(res.ok, "a zero page went unnoticed: %s", res.message);
		cr_assert_eq(res.bad_addr, gpa);
		cr_assert_eq(res.found, 0);
	}
	write_byte(fd, off, good);
	close(fd);
}

static void guest_keeps_every_page(const char *machine, unsigned mib, const char *accel)
{
	struct qm_memcheck_result res;
	struct vm *vm = &the_vm;
	long first, later, stopped;

	boot(vm, machine, mib, accel);
	/* Until the first pass ends, pages hold what the BIOS left. */
	first = tg_guest_wait_passes(&vm->qemu, 1, 90);
	cr_assert_geq(first, 1, "no first pass (%ld)", first);
	later = tg_guest_wait_passes(&vm->qemu, first + 3, 60);
	cr_assert_geq(later, first + 3, "the guest stopped making passes (%ld)", later);

	qmp(vm, "stop");
	stopped = tg_guest_passes(&vm->qemu);
	cr_assert_geq(stopped, later);
	cr_assert_eq(tg_guest_dump(vm->qmp, mib, vm->dump), 0);
	cr_assert_eq(tg_guest_passes(&vm->qemu), stopped, "passes while stopped");

	cr_assert_eq(qm_memcheck_file(vm->dump, mib * MIB, &res), 0, "%s", res.message);
	cr_assert(res.ok, "%s", res.message);
	cr_log_info("%s %u MiB: %s", machine, mib, res.message);
	/* The guest patterns all RAM but the first MiB and a few at the end. */
	cr_assert_geq(res.pages, (mib - 4) * MIB / QMG_PAGE_SIZE, "only %llu pages",
		      (unsigned long long)res.pages);
	/* It counts a pass in its layout page, then prints the '.'. */
	cr_assert(res.passes == (uint64_t)stopped || res.passes == (uint64_t)stopped + 1,
		  "layout page says %llu passes, serial %ld",
		  (unsigned long long)res.passes, stopped);
	cr_assert_eq(run_cli(vm), 0);

	damage_is_caught(vm, (mib / 2) * MIB + 5 * QMG_PAGE_SIZE, res.ram_top);
	if (res.ram_top > GIB4)
		damage_is_caught(vm, GIB4 + 16 * MIB + 5 * QMG_PAGE_SIZE, res.ram_top);

	qmp(vm, "cont");
	later = tg_guest_wait_passes(&vm->qemu, stopped + 2, 60);
	cr_assert_geq(later, stopped + 2, "no passes after cont (%ld)", later);
	shutdown_vm();
}

TestSuite(guest, .timeout = 240, .fini = shutdown_vm);

Test(guest, pc_256mib_keeps_every_page)
{
	guest_keeps_every_page("pc", 256, NULL);
}

Test(guest, q35_256mib_keeps_every_page)
{
	guest_keeps_every_page("q35", 256, NULL);
}

Test(guest, pc_256mib_under_tcg_keeps_every_page)
{
	guest_keeps_every_page("pc", 256, "tcg");
}

/* The first line of the serial output, the banner. */
static void read_banner(struct vm *vm, char *banner, size_t size)
{
	FILE *f = fopen(vm->qemu.serial_path, "r");

	cr_assert(f && fgets(banner, size, f));
	fclose(f);
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * The dirty-rate cap is an upper bound whatever the load: the guest's clock
 * (the PIT) never runs ahead of the host's, so over t seconds of wall time
 * it completes at most t * rate / size passes, plus the one in progress.
 * How fast it goes below the cap depends on the machine, and is not tested.
 */
Test(guest, the_dirty_rate_cap_bounds_the_passes)
{
	const unsigned mib = 128, rate = 64;
	struct qm_memcheck_result res;
	struct vm *vm = &the_vm;
	char banner[512] = "";
	long first, later;
	double t0, bound;

	boot_opts(vm, "pc", mib, NULL, rate, 0);
	first = tg_guest_wait_passes(&vm->qemu, 1, 90); /* pass 1 is never paced */
	cr_assert_geq(first, 1, "no first pass (%ld)", first);
	t0 = now();
	later = tg_guest_wait_passes(&vm->qemu, first + 2, 90);
	cr_assert_geq(later, first + 2, "the paced guest stopped making passes (%ld)", later);
	later = tg_guest_passes(&vm->qemu);
	bound = (now() - t0) * rate / (mib - 4) + 1;
	cr_assert_leq(later - first, bound, "%ld passes of %u MiB in %.1f s: faster than %u MiB/s",
		      later - first, mib, now() - t0, rate);

	read_banner(vm, banner, sizeof(banner));
	cr_assert(strstr(banner, " dirty-rate=64MiB/s\n"), "banner: %s", banner);

	qmp(vm, "stop");
	cr_assert_eq(tg_guest_dump(vm->qmp, mib, vm->dump), 0);
	cr_assert_eq(qm_memcheck_file(vm->dump, mib * MIB, &res), 0, "%s", res.message);
	cr_assert(res.ok, "%s", res.message);
	shutdown_vm();
}

static const struct {
	uint64_t addr;
	const char *region;
} mode_regions[] = {
	{ QMG_HOT_ADDR + 5 * QMG_PAGE_SIZE, "hot" },
	{ QMG_STOSQ_ADDR + 0x1008, "stosq" },
	{ QMG_STOSB_ADDR + 0x2001, "stosb" },
	{ QMG_MOVSQ_ADDR + 0x3010, "movsq" },
	{ QMG_MOVSB_ADDR + 0x3003, "movsb" },
	{ QMG_MOVDQA_ADDR + 0x2020, "movdqa" },
	{ QMG_MOVUPS_ADDR + 0xff0, "movups" }, /* the store across a page boundary */
	{ QMG_MOVNTDQ_ADDR + 0x1008, "movntdq" },
};

/*
 * All modes on: the banner says so, a dump of the stopped guest passes with
 * its 8 regions checked, and one byte changed in any region is named.
 */
static void guest_in_all_modes(const char *machine, unsigned mib, const char *accel)
{
	struct qm_memcheck_result res;
	struct vm *vm = &the_vm;
	char banner[512];
	long first, later;

	boot_opts(vm, machine, mib, accel, 0, QMG_MODE_ALL);
	first = tg_guest_wait_passes(&vm->qemu, 1, 90);
	cr_assert_geq(first, 1, "no first pass (%ld)", first);
	later = tg_guest_wait_passes(&vm->qemu, first + 2, 90);
	cr_assert_geq(later, first + 2, "the guest stopped making passes (%ld)", later);
	read_banner(vm, banner, sizeof(banner));
	cr_assert(strstr(banner, " ranges= 0x0000000000400000-") &&
			  strstr(banner, " mode=hot+string+sse\n"),
		  "banner: %s", banner);

	qmp(vm, "stop");
	cr_assert_eq(tg_guest_dump(vm->qmp, mib, vm->dump), 0);
	cr_assert_eq(qm_memcheck_file(vm->dump, mib * MIB, &res), 0, "%s", res.message);
	cr_assert(res.ok, "%s", res.message);
	cr_log_info("%s %u MiB, all modes: %s", machine, mib, res.message);
	cr_assert_eq(res.mode, QMG_MODE_ALL);
	cr_assert_eq(res.regions, 8);
	cr_assert_eq(run_cli(vm), 0);

	for (unsigned i = 0; i < sizeof(mode_regions) / sizeof(mode_regions[0]); i++) {
		int fd = open(vm->dump, O_RDWR | O_CLOEXEC);
		uint8_t good;

		cr_assert(fd >= 0);
		good = read_byte(fd, mode_regions[i].addr);
		write_byte(fd, mode_regions[i].addr, good ^ 0x80);
		cr_assert_eq(qm_memcheck_file(vm->dump, mib * MIB, &res), 0, "%s",
			     res.message);
		cr_assert_not(res.ok, "%s: a changed byte went unnoticed: %s",
			      mode_regions[i].region, res.message);
		cr_assert_str_eq(res.region, mode_regions[i].region, "%s", res.message);
		cr_assert_eq(res.bad_addr & ~(uint64_t)7, mode_regions[i].addr & ~(uint64_t)7,
			     "%s", res.message);
		cr_assert_eq(run_cli(vm), 1);
		write_byte(fd, mode_regions[i].addr, good);
		close(fd);
	}

	qmp(vm, "cont");
	later = tg_guest_wait_passes(&vm->qemu, later + 1, 90);
	cr_assert_gt(later, 0, "no passes after cont (%ld)", later);
	shutdown_vm();
}

Test(guest, pc_64mib_in_all_modes_keeps_every_write)
{
	guest_in_all_modes("pc", 64, NULL);
}

Test(guest, q35_64mib_in_all_modes_under_tcg_keeps_every_write)
{
	guest_in_all_modes("q35", 64, "tcg");
}

/*
 * RAM split around the PCI hole (pc: 3 GiB below 4 GiB, 2 GiB above) and a
 * two-range dump.  It needs 5 GiB of memory and 5 GiB of disk, so it runs
 * only when asked: QMIGRATE_BIG_TESTS=1 make check.
 */
Test(guest, pc_5gib_above_4gib_keeps_every_page)
{
	const char *big = getenv("QMIGRATE_BIG_TESTS");

	if (!big || strcmp(big, "1"))
		cr_skip_test("set QMIGRATE_BIG_TESTS=1 to boot a 5 GiB guest");
	guest_keeps_every_page("pc", 5120, NULL);
}
