/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmigrate starts the destination itself (--launch-dest), with real QEMU and
 * the test guest.  The VM comes from a description: the guest's boot disk
 * (a copy in the test's directory, IDE, raw), a data disk (virtio, raw,
 * filled with a known pattern) and a NIC (user, virtio, a fixed MAC); the
 * source is started with `qmigrate launch`.  The test process is a child
 * subreaper, so every QEMU that qmigrate starts and leaves becomes its
 * child: each is tracked by pid, waited for with a bound and killed by pid.
 */
#include <criterion/criterion.h>
#include <dirent.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/helpers/guest.h"
#include "tests/helpers/pair.h"
#include "tests/helpers/qemu.h"

#define GUEST_MIB 64
#define DATA_BYTES (4u << 20)
#define MAC "52:54:00:5a:17:e3"
#define PASSWORD "Vn8pQ2xZ" /* VNC keeps 8 characters */
#define CLI_TIMEOUT 240.0

static char dir[64]; /* this test's own directory: images, descriptions, runtime dirs */

static void setup(void)
{
	/* Orphans (a QEMU qmigrate started and left) become ours: waited for and killed by pid. */
	cr_assert_eq(prctl(PR_SET_CHILD_SUBREAPER, 1), 0);
	snprintf(dir, sizeof(dir), "/tmp/qm-ldi-XXXXXX");
	cr_assert(mkdtemp(dir));
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

static void teardown(void)
{
	tq_qemu_stop(&pair.src);
	tq_qemu_stop(&pair.dst);
	remove_tree(dir);
}

TestSuite(launch_dest, .init = setup, .fini = teardown, .timeout = 300);

/* ---- the VM ---------------------------------------------------------------------- */

static void path_in(char *buf, size_t size, const char *name)
{
	snprintf(buf, size, "%s/%s", dir, name);
}

static unsigned char pattern(size_t i)
{
	return (unsigned char)((i / 512) * 31 + i % 251);
}

static void make_disks(void)
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
static void assert_data_intact(void)
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
static void write_domain(const char *side, bool vnc)
{
	char path[128];
	FILE *f;

	path_in(path, sizeof(path), side);
	strcat(path, ".xml");
	f = fopen(path, "w");
	cr_assert(f);
	fprintf(f,
		"<domain type='%s' xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>\n"
		"  <name>launch-dest</name>\n"
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
		tq_kvm_usable() ? "kvm" : "qemu", GUEST_MIB, dir, dir, dir, side,
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
static int run_qmigrate(const char *const args[], const char *out, const char *err,
			bool env_trace)
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
static char *slurp(const char *path, size_t *len)
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

static char *slurp_in(const char *name, size_t *len)
{
	char path[128];

	path_in(path, sizeof(path), name);
	return slurp(path, len);
}

/* The last line of @name that is a JSON object with "event": @event. */
static json_t *last_event(const char *name, const char *event)
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

static const char *field(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	cr_assert(s, "no %s", key);
	return s;
}

/* Fills @vm with a QEMU qmigrate launched: @qmp is in its private directory. */
static void adopt(struct tq_qemu *vm, long pid, const char *qmp, const char *side)
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
		snprintf(vm->serial_path, sizeof(vm->serial_path), "%s/%s-serial.log", dir, side);
}

/*
 * `qmigrate launch` starts the source from src.xml and leaves it running;
 * @trace: with the debug log and the QMP trace on.
 */
static void launch_source(bool trace)
{
	const char *const args[] = { "launch", "--json", "--runtime-dir", dir, NULL };
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

static void start_source(bool vnc)
{
	make_disks();
	write_domain("src", vnc);
	write_domain("dst", vnc);
	launch_source(vnc);
}

/* ---- checks on a QEMU ------------------------------------------------------------- */

/* query-block names @image, attached to the virtio device of the description. */
static void assert_data_disk_attached(struct tq_qemu *vm, const char *image)
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

static void assert_mac(struct tq_qemu *vm)
{
	json_t *filters = qmp_once(vm, "query-rx-filter", NULL);
	const char *mac = json_string_value(json_object_get(json_array_get(filters, 0), "main-mac"));

	cr_assert(mac, "query-rx-filter names no NIC");
	cr_assert_str_eq(mac, MAC);
	json_decref(filters);
}

static bool cmdline_has(pid_t pid, const char *what)
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
static void stop_by_pid(struct tq_qemu *vm)
{
	cr_assert_eq(tq_qemu_kill(vm, SIGTERM), 0);
	cr_assert_eq(tq_qemu_wait_exit(vm, 20), 0, "QEMU %d survived SIGTERM", (int)vm->pid);
}

/* ---- the tests ------------------------------------------------------------------- */

/* ---- a cancel during perform, through the API ------------------------------------- */

/* The destination the job launched, found while perform runs. */
static pid_t launched_pid;
static char launched_dir[512];

/* The pid of the QEMU that listens on @path (SO_PEERCRED works before it accepts). */
static pid_t listener_pid(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	struct ucred cred;
	socklen_t len = sizeof(cred);
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_lt(strlen(path), sizeof(sa.sun_path));
	memcpy(sa.sun_path, path, strlen(path) + 1);
	cr_assert(fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0, "%s: %s",
		  path, strerror(errno));
	cr_assert_eq(getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len), 0);
	close(fd);
	return cred.pid;
}

/*
 * On the first progress sample, mid-migration for certain (the stream is
 * capped far below the guest's size): find the launched destination, the
 * qmigrate-vm-* directory that is not the source's, then cancel.
 */
static void find_dst_and_cancel(struct qm_job *job)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	char path[512];

	cr_assert(d);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "qmigrate-vm-", 12) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", dir, e->d_name);
		if (strcmp(path, pair.src.dir) != 0)
			snprintf(launched_dir, sizeof(launched_dir), "%s", path);
	}
	closedir(d);
	cr_assert(launched_dir[0], "no directory of a launched destination in %s", dir);
	cr_assert_lt(snprintf(path, sizeof(path), "%s/qmp.sock", launched_dir),
		     (int)sizeof(path));
	launched_pid = listener_pid(path);
	cr_assert(cmdline_has(launched_pid, "-incoming"));
	cr_assert_eq(qm_job_cancel(job), 0);
}

Test(launch_dest, a_cancel_during_perform_leaves_no_destination_behind)
{
	struct run r = { .first_progress = find_dst_and_cancel };
	char *xml, *status;
	size_t len;
	struct stat st;

	start_source(false);
	xml = slurp_in("src.xml", &len);
	struct qm_job_options opts = {
		.launch_dest = true,
		.domain_xml = xml,
		.runtime_dir = dir,
		.bandwidth = 8 * MIB,
	};
	run_job(&opts, &r);
	free(xml);

	cr_assert_eq(r.result.status, QM_JOB_CANCELLED, "%s", r.result.error.text);
	cr_assert_eq(r.result.vm, QM_VM_SOURCE);
	cr_assert_eq(r.result.dst_pid, -1);
	/* The job reaped its child: not even a zombie is left; and its directory is gone. */
	cr_assert_eq(kill(launched_pid, 0), -1, "the launched destination %d remains",
		     (int)launched_pid);
	cr_assert_eq(errno, ESRCH);
	cr_assert_eq(stat(launched_dir, &st), -1, "%s remains", launched_dir);
	status = vm_status(&pair.src);
	cr_assert_str_eq(status, "running");
	free(status);
	assert_guest_runs(&pair.src);
	check_memory(&pair.src);
}

/* ---- a password on VNC ------------------------------------------------------------ */

static void expect_no_password(const char *what, const char *text, size_t len)
{
	cr_expect_null(memmem(text, len, PASSWORD, strlen(PASSWORD)), "the password is in %s",
		       what);
}

/* Every file under the private directories qmigrate made in the test's directory. */
static void expect_no_password_under(const char *path, int *files)
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

static void expect_no_password_in_file(const char *name)
{
	size_t len;
	char *text = slurp_in(name, &len);

	expect_no_password(name, text, len);
	free(text);
}

static void expect_no_password_in_cmdline(struct tq_qemu *vm)
{
	char path[64], *text;
	size_t len;

	snprintf(path, sizeof(path), "/proc/%d/cmdline", (int)vm->pid);
	text = slurp(path, &len);
	expect_no_password(path, text, len);
	cr_expect(memmem(text, len, "password=on", 11), "%s: the display is not locked", path);
	free(text);
}

static const char *vnc_auth(struct tq_qemu *vm, char *buf, size_t size)
{
	json_t *vnc = qmp_once(vm, "query-vnc", NULL);
	const char *auth = json_string_value(json_object_get(vnc, "auth"));

	snprintf(buf, size, "%s", auth ? auth : "(none)");
	json_decref(vnc);
	return buf;
}

Test(launch_dest, a_vnc_password_is_nowhere_qmigrate_writes)
{
	char src_xml[128], dst_xml[128], auth[32];
	const char *args[16] = { "migrate", "--json", "--src-qmp", NULL, "--domain", src_xml,
				 "--dest-domain", dst_xml, "--launch-dest", "--runtime-dir", dir,
				 NULL };
	json_t *result;
	char *err_text;
	size_t len;
	int files = 0;

	start_source(true);
	/* qmigrate launch set the source's password too, the same way. */
	err_text = slurp_in("launch.err", &len);
	cr_expect(strstr(err_text, "\"execute\":\"set_password\""), "launch sent no set_password");
	cr_expect(strstr(err_text, "\"password\":\"***\""), "launch's trace does not mask it");
	free(err_text);
	cr_assert_str_eq(vnc_auth(&pair.src, auth, sizeof(auth)), "vnc");
	args[3] = pair.src.qmp_path;
	path_in(src_xml, sizeof(src_xml), "src.xml");
	path_in(dst_xml, sizeof(dst_xml), "dst.xml");
	expect_no_password_in_cmdline(&pair.src);
	cr_assert_eq(run_qmigrate(args, "migrate.out", "migrate.err", true), 0);
	result = last_event("migrate.out", "result");
	cr_assert_str_eq(field(result, "status"), "completed");
	adopt(&pair.dst, (long)json_integer_value(json_object_get(result, "dst_pid")),
	      field(result, "dst_qmp"), "dst");
	json_decref(result);
	cr_assert(tq_qemu_alive(&pair.dst));

	/* Nothing qmigrate wrote holds it: output, logs, traces, QEMU's files, argvs. */
	expect_no_password_in_file("launch.out");
	expect_no_password_in_file("launch.err");
	expect_no_password_in_file("migrate.out");
	expect_no_password_in_file("migrate.err");
	{
		DIR *d = opendir(dir);
		struct dirent *e;
		char sub[512];

		cr_assert(d);
		while ((e = readdir(d)))
			if (strncmp(e->d_name, "qmigrate-", 9) == 0) {
				snprintf(sub, sizeof(sub), "%s/%s", dir, e->d_name);
				expect_no_password_under(sub, &files);
			}
		closedir(d);
	}
	/* The qemu.log of both QEMUs, at least. */
	cr_expect_geq(files, 2, "%d files in the runtime directories", files);
	expect_no_password_in_cmdline(&pair.dst);
	/* It was set all the same, and the trace shows that, masked. */
	err_text = slurp_in("migrate.err", &len);
	cr_expect(strstr(err_text, "\"execute\":\"set_password\""), "no set_password in the trace");
	cr_expect(strstr(err_text, "\"password\":\"***\""), "the trace does not mask it");
	free(err_text);
	cr_assert_str_eq(vnc_auth(&pair.dst, auth, sizeof(auth)), "vnc");
	cr_assert_eq(tq_qemu_wait_exit(&pair.src, 20), 0, "the source QEMU is still there");
	stop_by_pid(&pair.dst);
}

/* ---- the destination's own description, the disk map, the listen address ---------- */

/* A copy of src.xml as dst.xml, with @from replaced by @to. */
static void write_dst_from_src(const char *from, const char *to)
{
	char path[128], *text, *at;
	size_t len;
	FILE *f;

	path_in(path, sizeof(path), "src.xml");
	text = slurp(path, &len);
	at = strstr(text, from);
	cr_assert(at, "'%s' is not in src.xml", from);
	path_in(path, sizeof(path), "dst.xml");
	f = fopen(path, "w");
	cr_assert(f);
	fprintf(f, "%.*s%s%s", (int)(at - text), text, to, at + strlen(from));
	cr_assert_eq(fclose(f), 0);
	free(text);
}

/* The runtime directories qmigrate made under the test's directory. */
static int runtime_dirs(void)
{
	DIR *d = opendir(dir);
	struct dirent *e;
	int n = 0;

	cr_assert(d);
	while ((e = readdir(d)))
		n += strncmp(e->d_name, "qmigrate-", 9) == 0;
	closedir(d);
	return n;
}

Test(launch_dest, a_vm_with_a_disk_and_a_nic_moves_to_its_own_description_and_disk_map)
{
	char src_xml[128], dst_xml[128], map[300], copy[128], data[128];
	const char *refused[] = { "migrate", "--json", "--src-qmp", NULL, "--domain", src_xml,
				  "--dest-domain", dst_xml, "--launch-dest", "--runtime-dir", dir,
				  NULL };
	const char *mapped[] = { "migrate", "--json", "--src-qmp", NULL, "--domain", src_xml,
				 "--dest-domain", dst_xml, "--launch-dest", "--runtime-dir", dir,
				 "--disk-map", map, "--graphics-listen", "127.0.0.2", NULL };
	json_t *result, *vnc;
	char *err_text, *status;
	int dirs;

	start_source(true);
	refused[3] = mapped[3] = pair.src.qmp_path;
	path_in(src_xml, sizeof(src_xml), "src.xml");
	path_in(dst_xml, sizeof(dst_xml), "dst.xml");
	dirs = runtime_dirs();

	/* Half the memory: the ABI check refuses it, before anything starts. */
	write_dst_from_src("<memory unit='MiB'>64<", "<memory unit='MiB'>32<");
	cr_assert_eq(run_qmigrate(refused, "refused.out", "refused.err", false), 1);
	result = last_event("refused.out", "result");
	cr_expect_str_eq(field(result, "vm"), "source");
	cr_expect(json_is_false(json_object_get(result, "changed")), "the refusal changed something");
	err_text = json_dumps(json_object_get(result, "error"), 0);
	cr_assert(err_text, "the result has no error");
	cr_expect(strstr(err_text, "\"class\": \"DomainAbi\""), "%s", err_text);
	cr_expect(strstr(err_text, "memory: 65536 KiB on the source, 32768 KiB on the destination"),
		  "the message does not name the difference: %s", err_text);
	free(err_text);
	json_decref(result);
	cr_expect_eq(runtime_dirs(), dirs, "a destination was launched, or its directory left");
	status = vm_status(&pair.src);
	cr_assert_str_eq(status, "running");
	free(status);

	/* The data disk opens a copy of it on the destination; VNC listens elsewhere. */
	path_in(data, sizeof(data), "data.img");
	path_in(copy, sizeof(copy), "data-dst.img");
	{
		size_t n;
		char *bytes = slurp(data, &n);
		FILE *f = fopen(copy, "wb");

		cr_assert(f);
		cr_assert_eq(fwrite(bytes, 1, n, f), n);
		cr_assert_eq(fclose(f), 0);
		free(bytes);
	}
	snprintf(map, sizeof(map), "%s=%s", data, copy);
	/* A description of the destination's own: only its serial log differs. */
	write_domain("dst", true);
	cr_assert_eq(run_qmigrate(mapped, "mapped.out", "mapped.err", false), 0);
	result = last_event("mapped.out", "result");
	cr_assert_str_eq(field(result, "status"), "completed");
	adopt(&pair.dst, (long)json_integer_value(json_object_get(result, "dst_pid")),
	      field(result, "dst_qmp"), "dst");
	json_decref(result);
	cr_assert_eq(tq_qemu_wait_exit(&pair.src, 20), 0, "the source QEMU is still there");
	/* The source QEMU quit; the destination is a live QEMU that qmigrate started. */
	cr_assert(tq_qemu_alive(&pair.dst), "dst_pid %d is not running", (int)pair.dst.pid);
	cr_assert(cmdline_has(pair.dst.pid, "-incoming"), "dst_pid is not a launched destination");
	status = vm_status(&pair.dst);
	cr_assert_str_eq(status, "running");
	free(status);
	assert_data_disk_attached(&pair.dst, "data-dst.img");
	assert_mac(&pair.dst);
	vnc = qmp_once(&pair.dst, "query-vnc", NULL);
	cr_expect_str_eq(json_string_value(json_object_get(vnc, "host")), "127.0.0.2");
	json_decref(vnc);
	/* Its serial file is its own, in its runtime directory. */
	cr_expect_eq(access(pair.dst.serial_path, F_OK), 0, "no %s", pair.dst.serial_path);
	assert_guest_runs(&pair.dst);
	check_memory(&pair.dst);
	stop_by_pid(&pair.dst);
	assert_data_intact();
}
