/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The pieces of the --launch-dest tests with real QEMU: the test's own
 * directory (the process is a child subreaper, so every QEMU qmigrate starts
 * and leaves becomes its child), the disks and the descriptions of the VM,
 * running the qmigrate binary bounded and reading what it wrote, adopting a
 * QEMU it launched, and the checks on such a QEMU.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "tests/helpers/guest.h"
#include "tests/helpers/launch-dest.h"
#include "tests/helpers/pair.h"
#include "tests/helpers/qemu.h"

#define GUEST_MIB 64
#define DATA_BYTES (4u << 20)
#define MAC "52:54:00:5a:17:e3"
#define PASSWORD "Vn8pQ2xZ" /* VNC keeps 8 characters */
#define CLI_TIMEOUT 240.0

char ld_dir[64];

void ld_setup(void)
{
	/* The QEMUs qmigrate leaves become our children: waited for and killed by pid. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	snprintf(ld_dir, sizeof(ld_dir), "/tmp/qm-ldi-XXXXXX");
	cr_assert(mkdtemp(ld_dir));
	pair.mib = GUEST_MIB;
	pair.dirty_rate = GENTLE;
}

/* Removes @path and everything under it (test files and what QEMU left). */
static void remove_tree(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[512];

	while (d && (e = readdir(d))) {
		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		if (e->d_type == DT_DIR)
			remove_tree(sub);
		else
			unlink(sub);
	}
	if (d)
		closedir(d);
	rmdir(path);
}

void ld_teardown(void)
{
	tq_qemu_stop(&pair.src);
	tq_qemu_stop(&pair.dst);
	remove_tree(ld_dir);
}

/* ---- the VM ---------------------------------------------------------------------- */

void path_in(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", ld_dir, name);
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)((i / 512) * 31 + i % 251);
}

void make_disks(void)
{
	char path[128];
	unsigned char *buf = malloc(DATA_BYTES);
	FILE *f;

	cr_assert(buf);
	/* The boot disk is written by nobody, but it is the test's own copy. */
	path_in(path, sizeof(path), "boot.img");
	{
		FILE *in = fopen(tg_guest_image(), "rb");
		size_t n;

		cr_assert(in, "no guest image at %s", tg_guest_image());
		f = fopen(path, "wb");
		cr_assert(f);
		while ((n = fread(buf, 1, DATA_BYTES, in)) > 0)
			cr_assert_eq(fwrite(buf, 1, n, f), n);
		fclose(in);
		cr_assert_eq(fclose(f), 0);
	}
	for (size_t i = 0; i < DATA_BYTES; i++)
		buf[i] = pattern(i);
	path_in(path, sizeof(path), "data.img");
	f = fopen(path, "wb");
	cr_assert(f);
	cr_assert_eq(fwrite(buf, 1, DATA_BYTES, f), DATA_BYTES);
	cr_assert_eq(fclose(f), 0);
	free(buf);
}

/* The data disk holds the pattern, byte for byte. */
void assert_data_intact(void)
{
	char path[128];
	unsigned char *buf = malloc(DATA_BYTES + 1);
	FILE *f;

	path_in(path, sizeof(path), "data.img");
	f = fopen(path, "rb");
	cr_assert(f && buf);
	cr_assert_eq(fread(buf, 1, DATA_BYTES + 1, f), DATA_BYTES, "the data disk changed size");
	fclose(f);
	for (size_t i = 0; i < DATA_BYTES; i++)
		cr_assert_eq(buf[i], pattern(i), "the data disk changed at byte %zu", i);
	free(buf);
}

/* The description of the VM as seen by @side ("src", "dst"): only the serial log differs. */
void write_domain(const char *side, bool vnc)
{
	char path[128];
	FILE *f;

	path_in(path, sizeof(path), side);
	strcat(path, ".xml");
	f = fopen(path, "w");
	cr_assert(f);
	fprintf(f,
		"<domain type='%s' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
		/* Of this test's own: tests run side by side, and an agent refuses a
		 * VM whose name a QEMU on its host has already (VmExists). */
		"  <name>launch-dest-%d</name>\n"
		"  <uuid>8a1f0c2e-5b3d-4e6f-9a7b-1c2d3e4f5a6b</uuid>\n"
		"  <memory unit='MiB'>%u</memory>\n"
		"  <os><type arch='x86_64' machine='pc'>hvm</type><boot dev='hd'/></os>\n"
		"  <devices>\n"
		"    <disk type='file' device='disk'><driver name='qemu' type='raw'/>"
		"<source file='%s/boot.img'/><target dev='hda' bus='ide'/></disk>\n"
		"    <disk type='file' device='disk'><driver name='qemu' type='raw'/>"
		"<source file='%s/data.img'/><target dev='vdb' bus='virtio'/></disk>\n"
		"    <interface type='user'><mac address='" MAC "'/><model type='virtio'/>"
		"</interface>\n"
		"    <serial type='file'><source path='%s/%s-serial.log'/><target port='0'/>"
		"</serial>\n"
		"%s"
		"  </devices>\n"
		"  <qemu:commandline><qemu:arg value='-fw_cfg'/>"
		"<qemu:arg value='name=opt/org.qmigrate/dirty-rate,string=%u'/></qemu:commandline>\n"
		"</domain>\n",
		tq_kvm_usable() ? "kvm" : "qemu", (int)getpid(), GUEST_MIB, ld_dir, ld_dir, ld_dir, side,
		vnc ? "    <graphics type='vnc' port='-1' autoport='yes' listen='127.0.0.1' "
		      "passwd='" PASSWORD "'/>\n"
		    : "",
		GENTLE);
	cr_assert_eq(fclose(f), 0);
}

/* ---- running qmigrate -------------------------------------------------------------- */

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/*
 * Runs qmigrate with @args (argv only), stdout and stderr into the files
 * @out and @err in the test's directory, @env_trace adding the debug log and
 * the QMP trace.  Bounded; returns the exit code.
 */
int run_qmigrate(const char *const args[], const char *out, const char *err, bool env_trace)
{
	const char *argv[32] = { getenv("QMIGRATE") };
	char out_path[128], err_path[128];
	double deadline = now() + CLI_TIMEOUT;
	int status, argc = 1;
	pid_t pid, r;

	cr_assert(argv[0], "QMIGRATE is not set");
	for (; *args; args++)
		argv[argc++] = *args;
	argv[argc] = NULL;
	path_in(out_path, sizeof(out_path), out);
	path_in(err_path, sizeof(err_path), err);
	pid = fork();
	cr_assert_geq(pid, 0);
	if (pid == 0) {
		int o = open(out_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
		int e = open(err_path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

		if (o < 0 || e < 0 || dup2(o, 1) < 0 || dup2(e, 2) < 0)
			_exit(127);
		if (env_trace) {
			setenv("QMIGRATE_LOG", "debug", 1);
			setenv("QMIGRATE_QMP_TRACE", "1", 1);
		}
		execv(argv[0], (char *const *)argv);
		_exit(127);
	}
	while ((r = waitpid(pid, &status, WNOHANG)) == 0) {
		if (now() > deadline) {
			kill(pid, SIGKILL);
			waitpid(pid, &status, 0);
			cr_assert_fail("qmigrate %s did not end within %.0f s", args[0], CLI_TIMEOUT);
		}
		usleep(10000);
	}
	cr_assert_eq(r, pid);
	return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

/* The whole file @name in the test's directory, to free(); its length in *@len. */
char *slurp(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *buf = NULL;
	size_t size = 0;

	cr_assert(f, "%s: %s", path, strerror(errno));
	*len = 0;
	for (;;) {
		buf = realloc(buf, size + 65536 + 1);
		cr_assert(buf);
		size_t n = fread(buf + *len, 1, 65536, f);

		*len += n;
		size = *len;
		if (n == 0)
			break;
	}
	fclose(f);
	buf[*len] = '\0';
	return buf;
}

char *slurp_in(const char *name, size_t *len)
{
	char path[128];

	path_in(path, sizeof(path), name);
	return slurp(path, len);
}

/* The last line of @name that is a JSON object with "event": @event. */
json_t *last_event(const char *name, const char *event)
{
	size_t len;
	char *text = slurp_in(name, &len), *save = NULL;
	json_t *found = NULL;

	for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *obj = json_loads(line, 0, NULL);
		const char *e = json_string_value(json_object_get(obj, "event"));

		if (e && strcmp(e, event) == 0) {
			json_decref(found);
			found = obj;
		} else {
			json_decref(obj);
		}
	}
	free(text);
	cr_assert(found, "no \"%s\" line in %s", event, name);
	return found;
}

const char *field(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	cr_assert(s, "no %s", key);
	return s;
}

/* Fills @vm with a QEMU qmigrate launched: @qmp is in its private directory. */
void adopt(struct tq_qemu *vm, long pid, const char *qmp, const char *side)
{
	char *slash;

	memset(vm, 0, sizeof(*vm));
	vm->pid = (pid_t)pid;
	snprintf(vm->qmp_path, sizeof(vm->qmp_path), "%s", qmp);
	snprintf(vm->dir, sizeof(vm->dir), "%s", qmp);
	slash = strrchr(vm->dir, '/');
	cr_assert(slash);
	*slash = '\0';
	/* A launched destination writes its serial port in its own directory. */
	if (strcmp(side, "dst") == 0)
		snprintf(vm->serial_path, sizeof(vm->serial_path), "%s/serial0.log", vm->dir);
	else
		snprintf(vm->serial_path, sizeof(vm->serial_path), "%s/%s-serial.log", ld_dir, side);
}

/*
 * `qmigrate launch` starts the source from src.xml and leaves it running;
 * @trace: with the debug log and the QMP trace on.
 */
static void launch_source(bool trace)
{
	const char *const args[] = { "launch", "--json", "--runtime-dir", ld_dir, NULL };
	const char *argv[8];
	char xml[128];
	json_t *out;
	int i = 0;

	path_in(xml, sizeof(xml), "src.xml");
	for (; args[i]; i++)
		argv[i] = args[i];
	argv[i++] = xml;
	argv[i] = NULL;
	cr_assert_eq(run_qmigrate(argv, "launch.out", "launch.err", trace), 0);
	{
		size_t len;
		char *text = slurp_in("launch.out", &len);

		out = json_loads(text, 0, NULL);
		free(text);
	}
	cr_assert(out, "qmigrate launch printed no JSON");
	adopt(&pair.src, (long)json_integer_value(json_object_get(out, "pid")),
	      field(out, "qmp"), "src");
	json_decref(out);
	cr_assert(tq_qemu_alive(&pair.src), "the source is not our child, or not running");
	/* Until the first full pass pages hold BIOS leftovers (pass 1 is never paced). */
	cr_assert_geq(tg_guest_wait_passes(&pair.src, 1, 180), 1);
}

void start_source(bool vnc)
{
	make_disks();
	write_domain("src", vnc);
	write_domain("dst", vnc);
	launch_source(vnc);
}

/* ---- checks on a QEMU ------------------------------------------------------------- */

/* query-block names @image, attached to the virtio device of the description. */
void assert_data_disk_attached(struct tq_qemu *vm, const char *image)
{
	json_t *blocks = qmp_once(vm, "query-block", NULL), *b;
	char want[128];
	bool found = false;
	size_t i;

	path_in(want, sizeof(want), image);
	json_array_foreach(blocks, i, b) {
		const char *qdev = json_string_value(json_object_get(b, "qdev"));
		json_t *inserted = json_object_get(b, "inserted");
		const char *file = json_string_value(json_object_get(inserted, "file"));

		if (qdev && strstr(qdev, "disk-vdb") && file && strcmp(file, want) == 0)
			found = true;
	}
	json_decref(blocks);
	cr_assert(found, "query-block on the destination does not name %s on disk-vdb", want);
}

void assert_mac(struct tq_qemu *vm)
{
	json_t *filters = qmp_once(vm, "query-rx-filter", NULL);
	const char *mac = json_string_value(json_object_get(json_array_get(filters, 0), "main-mac"));

	cr_assert(mac, "query-rx-filter names no NIC");
	cr_assert_str_eq(mac, MAC);
	json_decref(filters);
}

bool cmdline_has(pid_t pid, const char *what)
{
	char path[64], *text;
	size_t len;
	bool has;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)pid);
	text = slurp(path, &len);
	cr_assert_gt(len, 0);
	has = memmem(text, len, what, strlen(what)) != NULL;
	free(text);
	return has;
}

/* Stops the destination by its pid, as a harness would, within a bound. */
void stop_by_pid(struct tq_qemu *vm)
{
	cr_assert_eq(tq_qemu_kill(vm, SIGTERM), 0);
	cr_assert_eq(tq_qemu_wait_exit(vm, 20), 0, "QEMU %d survived SIGTERM", (int)vm->pid);
}

/* ---- where a password could be ------------------------------------------------- */

static void expect_no_password(const char *what, const char *text, size_t len)
{
	cr_expect_null(memmem(text, len, PASSWORD, strlen(PASSWORD)), "the password is in %s",
		       what);
}

/* Every file under the private directories qmigrate made in the test's directory. */
void expect_no_password_under(const char *path, int *files)
{
	DIR *d = opendir(path);
	struct dirent *e;
	char sub[512];

	cr_assert(d, "%s: %s", path, strerror(errno));
	while ((e = readdir(d))) {
		struct stat st;
		char *text;
		size_t len;

		if (strcmp(e->d_name, ".") == 0 || strcmp(e->d_name, "..") == 0)
			continue;
		snprintf(sub, sizeof(sub), "%s/%s", path, e->d_name);
		cr_assert_eq(lstat(sub, &st), 0);
		if (S_ISDIR(st.st_mode)) {
			expect_no_password_under(sub, files);
		} else if (S_ISREG(st.st_mode)) {
			text = slurp(sub, &len);
			expect_no_password(sub, text, len);
			free(text);
			(*files)++;
		}
	}
	closedir(d);
}

void expect_no_password_in_file(const char *name)
{
	size_t len;
	char *text = slurp_in(name, &len);

	expect_no_password(name, text, len);
	free(text);
}

void expect_no_password_in_cmdline(struct tq_qemu *vm)
{
	char path[64], *text;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)vm->pid);
	text = slurp(path, &len);
	expect_no_password(path, text, len);
	cr_expect(memmem(text, len, "password=on", 11), "%s: the display is not locked", path);
	free(text);
}

const char *vnc_auth(struct tq_qemu *vm, char *buf, size_t size)
{
	json_t *vnc = qmp_once(vm, "query-vnc", NULL);
	const char *auth = json_string_value(json_object_get(vnc, "auth"));

	snprintf(buf, size, "%s", auth ? auth : "(none)");
	json_decref(vnc);
	return buf;
}
