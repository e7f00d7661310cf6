/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/guest/guest-layout.h"
#include "tests/guest/memcheck.h"
#include "tests/helpers/guest.h"

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

static void pause_ms(int ms)
{
	struct timespec ts = { .tv_sec = ms / 1000, .tv_nsec = (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

const char *tg_guest_image(void)
{
	static char path[512];
	const char *top = getenv("top_builddir");

	snprintf(path, sizeof(path), "%s/tests/guest/guest.img",
		 top && *top ? top : ABS_TOP_BUILDDIR);
	return path;
}

long tg_guest_passes(const struct tq_qemu *vm)
{
	bool banner = false;
	long passes = 0;
	char buf[4096];
	ssize_t n;
	int fd;

	fd = open(vm->serial_path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT ? -EAGAIN : -errno;
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		for (ssize_t i = 0; i < n; i++) {
			if (!banner)
				banner = buf[i] == '\n';
			else if (buf[i] == '.')
				passes++;
			else
				passes = -EPROTO;
			if (passes < 0)
				break;
		}
		if (passes < 0)
			break;
	}
	if (n < 0)
		passes = -errno;
	close(fd);
	return banner || passes < 0 ? passes : -EAGAIN;
}

bool tg_guest_lost_write(const struct tq_qemu *vm, char *line, size_t size)
{
	FILE *f = fopen(vm->serial_path, "r");
	bool found = false;

	if (!f)
		return false;
	while (!found && fgets(line, size, f))
		found = strncmp(line, "qm-guest: lost write", 20) == 0;
	fclose(f);
	return found;
}

long tg_guest_wait_passes(struct tq_qemu *vm, long n, double timeout)
{
	double deadline = now() + timeout;
	long p;

	for (;;) {
		p = tg_guest_passes(vm);
		if (p >= n || (p < 0 && p != -EAGAIN))
			break;
		if (!tq_qemu_alive(vm)) {
			fprintf(stderr, "QEMU exited while the guest ran (status %d)\n",
				vm->exit_status);
			return -ECHILD;
		}
		if (now() > deadline) {
			fprintf(stderr,
				"the guest did not complete %ld passes in %.0f s (%ld)\n",
				n, timeout, p);
			return -ETIMEDOUT;
		}
		pause_ms(20);
	}
	if (p == -EPROTO)
		fprintf(stderr, "the guest printed something unexpected on %s\n",
			vm->serial_path);
	return p;
}

static int pmemsave(struct qm_qmp *qmp, uint64_t start, uint64_t size, const char *path)
{
	struct qm_error err = { 0 };
	json_t *ret;

	ret = qm_qmp_command_sync(qmp, "pmemsave",
				  json_pack("{s:I, s:I, s:s}", "val", (json_int_t)start,
					    "size", (json_int_t)size, "filename", path),
				  -1, &err);
	if (!ret) {
		fprintf(stderr, "pmemsave 0x%llx+0x%llx: %s: %s\n",
			(unsigned long long)start, (unsigned long long)size,
			err.error_class, err.text);
		return err.code ? err.code : -EIO;
	}
	json_decref(ret);
	return 0;
}

static int append_file(const char *dst, const char *src)
{
	static char buf[1 << 20];
	int in, out, r = 0;
	ssize_t n;

	in = open(src, O_RDONLY | O_CLOEXEC);
	if (in < 0)
		return -errno;
	out = open(dst, O_WRONLY | O_APPEND | O_CLOEXEC);
	if (out < 0) {
		r = -errno;
		close(in);
		return r;
	}
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		if (write(out, buf, n) != n) {
			r = -EIO;
			break;
		}
	}
	if (n < 0)
		r = -errno;
	close(in);
	if (close(out) < 0 && !r)
		r = -errno;
	return r;
}

int tg_guest_dump(struct qm_qmp *qmp, unsigned ram_mib, const char *path)
{
	uint64_t start[2], size[2], ram = (uint64_t)ram_mib << 20;
	uint8_t page[QMG_PAGE_SIZE];
	char high[512];
	int fd, n, r;

	r = pmemsave(qmp, QMG_LAYOUT_ADDR, QMG_PAGE_SIZE, path);
	if (r < 0)
		return r;
	fd = open(path, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -errno;
	n = read(fd, page, sizeof(page)) == (ssize_t)sizeof(page) ? 0 : -EIO;
	close(fd);
	if (!n)
		n = qm_memcheck_dump_ranges(page, ram, start, size);
	if (n < 0) {
		fprintf(stderr, "no valid layout page at 0x%x for %u MiB of RAM\n",
			QMG_LAYOUT_ADDR, ram_mib);
		return n;
	}
	r = pmemsave(qmp, start[0], size[0], path);
	if (r < 0 || n == 1)
		return r;
	snprintf(high, sizeof(high), "%s.high", path);
	r = pmemsave(qmp, start[1], size[1], high);
	if (!r)
		r = append_file(path, high);
	unlink(high);
	return r;
}
