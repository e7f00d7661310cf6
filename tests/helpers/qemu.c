/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/guest/guest-layout.h"
#include "tests/helpers/qemu.h"

#define MAX_ARGS 64

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

/* $top_srcdir/scripts/accel: the environment's (make check sets it), or the build's. */
static const char *accel_script(void)
{
	static char path[4096];
	const char *top = getenv("top_srcdir");

	snprintf(path, sizeof(path), "%s/scripts/accel", top && *top ? top : ABS_TOP_SRCDIR);
	return path;
}

/*
 * Runs scripts/accel, the project's one KVM probe (shared with the demo and
 * the benchmarks), and reads the word it prints.  Returns 0, or -1 with its
 * message on stderr.
 */
static int run_accel_script(char *out, size_t size)
{
	const char *argv[] = { accel_script(), NULL };
	int fds[2], status;
	ssize_t n, len = 0;
	pid_t pid;

	if (pipe2(fds, O_CLOEXEC) < 0)
		return -1;
	pid = fork();
	if (pid < 0) {
		close(fds[0]);
		close(fds[1]);
		return -1;
	}
	if (pid == 0) {
		dup2(fds[1], STDOUT_FILENO);
		execv(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	close(fds[1]);
	while (len < (ssize_t)size - 1 && (n = read(fds[0], out + len, size - 1 - len)) > 0)
		len += n;
	close(fds[0]);
	out[len] = '\0';
	out[strcspn(out, "\n")] = '\0';
	if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) || WEXITSTATUS(status))
		return -1;
	return strcmp(out, "kvm") == 0 || strcmp(out, "tcg") == 0 ? 0 : -1;
}

const char *tq_accel(void)
{
	static char accel[16];
	static bool done;

	if (!done) {
		done = true;
		if (run_accel_script(accel, sizeof(accel)) < 0) {
			fprintf(stderr, "%s failed: no accelerator for QEMU\n", accel_script());
			accel[0] = '\0';
		} else {
			const char *forced = getenv("QMIGRATE_TEST_ACCEL");

			fprintf(stderr, "tests: QEMU runs with accel=%s%s%s\n", accel,
				forced && *forced ? ", forced by QMIGRATE_TEST_ACCEL=" : "",
				forced && *forced ? forced : "");
		}
	}
	return accel[0] ? accel : NULL;
}

bool tq_kvm_usable(void)
{
	const char *accel = tq_accel();

	return accel && strcmp(accel, "kvm") == 0;
}

static const char *qemu_binary(void)
{
	const char *q = getenv("QEMU");

	return q && *q ? q : "qemu-system-x86_64";
}

int tq_qemu_start(struct tq_qemu *vm, const struct tq_qemu_opts *opts)
{
	char qmp_arg[256], qmp2_arg[256], serial_arg[256], drive_arg[512];
	char mem_arg[32], machine_arg[64], fw_cfg_arg[96], mode_arg[96];
	const char *argv[MAX_ARGS];
	pid_t parent = getpid();
	const char *accel = opts->accel ? opts->accel : tq_accel();
	const char *sock;
	int argc = 0;
	double deadline;
	struct stat st;

	memset(vm, 0, sizeof(*vm));
	vm->pid = -1;
	if (!accel)
		return -ENODEV;
	snprintf(vm->dir, sizeof(vm->dir), "%s/qmigrate-test-XXXXXX",
		 getenv("TMPDIR") ? getenv("TMPDIR") : "/tmp");
	if (!mkdtemp(vm->dir)) {
		fprintf(stderr, "mkdtemp: %s\n", strerror(errno));
		return -errno;
	}
	snprintf(vm->qmp_path, sizeof(vm->qmp_path), "%s/qmp.sock", vm->dir);
	snprintf(vm->serial_path, sizeof(vm->serial_path), "%s/serial.log", vm->dir);
	snprintf(qmp_arg, sizeof(qmp_arg), "unix:%s,server=on,wait=off", vm->qmp_path);
	snprintf(serial_arg, sizeof(serial_arg), "file:%s", vm->serial_path);
	snprintf(vm->qmp2_path, sizeof(vm->qmp2_path), "%s/qmp2.sock", vm->dir);
	snprintf(qmp2_arg, sizeof(qmp2_arg), "unix:%s,server=on,wait=off", vm->qmp2_path);
	snprintf(machine_arg, sizeof(machine_arg), "%s,accel=%s",
		 opts->machine ? opts->machine : "none", accel);

	argv[argc++] = qemu_binary();
	argv[argc++] = "-nodefaults";
	argv[argc++] = "-display";
	argv[argc++] = "none";
	argv[argc++] = "-machine";
	argv[argc++] = machine_arg;
	argv[argc++] = "-qmp";
	argv[argc++] = qmp_arg;
	if (opts->second_qmp) {
		argv[argc++] = "-qmp";
		argv[argc++] = qmp2_arg;
	}
	argv[argc++] = "-serial";
	argv[argc++] = serial_arg;
	if (opts->mem_mib) {
		snprintf(mem_arg, sizeof(mem_arg), "%u", opts->mem_mib);
		argv[argc++] = "-m";
		argv[argc++] = mem_arg;
	}
	if (opts->boot_image) {
		snprintf(drive_arg, sizeof(drive_arg),
			 "file=%s,format=raw,if=ide,snapshot=on", opts->boot_image);
		argv[argc++] = "-drive";
		argv[argc++] = drive_arg;
	}
	if (opts->dirty_rate) {
		snprintf(fw_cfg_arg, sizeof(fw_cfg_arg), "name=%s,string=%u",
			 QMG_FWCFG_DIRTY_RATE, opts->dirty_rate);
		argv[argc++] = "-fw_cfg";
		argv[argc++] = fw_cfg_arg;
	}
	if (opts->guest_mode) {
		snprintf(mode_arg, sizeof(mode_arg), "name=%s,string=%u", QMG_FWCFG_MODE,
			 opts->guest_mode);
		argv[argc++] = "-fw_cfg";
		argv[argc++] = mode_arg;
	}
	if (opts->paused)
		argv[argc++] = "-S";
	if (opts->incoming_defer) {
		argv[argc++] = "-incoming";
		argv[argc++] = "defer";
	}
	for (const char *const *a = opts->extra_args; a && *a && argc < MAX_ARGS - 1; a++)
		argv[argc++] = *a;
	argv[argc] = NULL;

	vm->pid = fork();
	if (vm->pid < 0) {
		int r = -errno;

		tq_qemu_stop(vm);
		return r;
	}
	if (vm->pid == 0) {
		/* If the test process dies, QEMU goes with it. */
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent) /* it died before prctl */
			_exit(127);
		execvp(argv[0], (char *const *)argv);
		fprintf(stderr, "exec %s: %s\n", argv[0], strerror(errno));
		_exit(127);
	}
	deadline = now() + 20;
	/* QEMU creates the sockets in order: the last one says all are there. */
	sock = opts->second_qmp ? vm->qmp2_path : vm->qmp_path;
	while (stat(sock, &st) < 0) {
		if (!tq_qemu_alive(vm)) {
			fprintf(stderr, "QEMU exited before creating %s (status %d)\n", sock,
				vm->exit_status);
			tq_qemu_stop(vm);
			return -ECHILD;
		}
		if (now() > deadline) {
			fprintf(stderr, "QEMU did not create %s within 20 s\n", sock);
			tq_qemu_stop(vm);
			return -ETIMEDOUT;
		}
		pause_ms(10);
	}
	return 0;
}

int tq_qemu_wait_exit(struct tq_qemu *vm, double timeout)
{
	double deadline = now() + timeout;

	while (tq_qemu_alive(vm)) {
		if (now() > deadline)
			return -ETIMEDOUT;
		pause_ms(10);
	}
	return 0;
}

bool tq_qemu_alive(struct tq_qemu *vm)
{
	int status;
	pid_t r;

	if (vm->pid <= 0)
		return false;
	r = waitpid(vm->pid, &status, WNOHANG);
	if (r == 0)
		return true;
	if (r == vm->pid)
		vm->exit_status = status;
	vm->pid = -1;
	return false;
}

int tq_qemu_kill(struct tq_qemu *vm, int sig)
{
	if (vm->pid <= 0)
		return -ESRCH;
	return kill(vm->pid, sig) < 0 ? -errno : 0;
}

int tq_qemu_freeze(struct tq_qemu *vm, double timeout)
{
	double deadline = now() + timeout;
	int status, r = tq_qemu_kill(vm, SIGSTOP);
	pid_t w;

	if (r < 0)
		return r;
	/* The group stop is reported to the parent once the last thread stopped. */
	while ((w = waitpid(vm->pid, &status, WNOHANG | WUNTRACED)) == 0) {
		if (now() > deadline)
			return -ETIMEDOUT;
		pause_ms(1);
	}
	if (w < 0)
		return -errno;
	if (WIFSTOPPED(status))
		return 0;
	vm->exit_status = status;
	vm->pid = -1;
	return -ECHILD;
}

int tq_qemu_thaw(struct tq_qemu *vm)
{
	return tq_qemu_kill(vm, SIGCONT);
}

/* Empties and removes the private directory: QEMU may have left anything in it. */
static void remove_dir(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *e;

	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	}
	if (d)
		closedir(d);
	rmdir(dir);
}

void tq_qemu_stop(struct tq_qemu *vm)
{
	if (tq_qemu_alive(vm)) {
		tq_qemu_kill(vm, SIGTERM);
		tq_qemu_thaw(vm); /* a frozen QEMU only acts on SIGTERM once continued */
		if (tq_qemu_wait_exit(vm, 5) < 0) {
			tq_qemu_kill(vm, SIGKILL);
			tq_qemu_wait_exit(vm, 5);
		}
	}
	if (vm->dir[0]) {
		remove_dir(vm->dir);
		vm->dir[0] = '\0';
	}
}
