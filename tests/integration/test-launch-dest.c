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
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/helpers/launch-dest.h"
#include "tests/helpers/pair.h"
#include "tests/helpers/qemu.h"

TestSuite(launch_dest, .init = ld_setup, .fini = ld_teardown, .timeout = 300);

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
	DIR *d = opendir(ld_dir);
	struct dirent *e;
	char path[512];

	cr_assert(d);
	while ((e = readdir(d))) {
		if (strncmp(e->d_name, "qmigrate-vm-", 12) != 0)
			continue;
		snprintf(path, sizeof(path), "%s/%s", ld_dir, e->d_name);
		if (strcmp(path, pair.src.dir) != 0)
			snprintf(launched_dir, sizeof(launched_dir), "%s", path);
	}
	closedir(d);
	cr_assert(launched_dir[0], "no directory of a launched destination in %s", ld_dir);
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
		.runtime_dir = ld_dir,
		.bandwidth = 8 * MIB,
	};
	run_job(&opts, &r);
	free(xml);

	cr_assert_eq(r.result.status, QM_JOB_CANCELLED, "%s", r.result.error.text);
	cr_assert_eq(r.result.vm, QM_VM_SOURCE);
	cr_assert_eq(r.result.dst_pid, -1);
	/* The job reaped its child (not even a zombie is left); its directory is gone. */
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

/* qmigrate @args completes; the destination it launched becomes pair.dst. */
static void migrate_and_adopt(const char *const args[], const char *out, const char *err,
			      bool trace)
{
	json_t *result;
	int rc = run_qmigrate(args, out, err, trace);

	if (rc != 0) {
		char path[128];
		size_t len;
		char *text;

		path_in(path, sizeof(path), err);
		text = slurp(path, &len);
		cr_assert_fail("qmigrate %s exited %d: %s", args[0], rc, text);
	}
	result = last_event(out, "result");
	cr_assert_str_eq(field(result, "status"), "completed");
	adopt(&pair.dst, (long)json_integer_value(json_object_get(result, "dst_pid")),
	      field(result, "dst_qmp"), "dst");
	json_decref(result);
}

/* ---- a password on VNC ------------------------------------------------------------ */

Test(launch_dest, a_vnc_password_is_nowhere_qmigrate_writes)
{
	char src_xml[128], dst_xml[128], auth[32];
	const char *args[16] = { "migrate", "--json", "--src-qmp", NULL, "--domain", src_xml,
				 "--dest-domain", dst_xml, "--launch-dest", "--runtime-dir",
				 ld_dir, NULL };
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
	migrate_and_adopt(args, "migrate.out", "migrate.err", true);
	cr_assert(tq_qemu_alive(&pair.dst));

	/* Nothing qmigrate wrote holds it: output, logs, traces, QEMU's files, argvs. */
	expect_no_password_in_file("launch.out");
	expect_no_password_in_file("launch.err");
	expect_no_password_in_file("migrate.out");
	expect_no_password_in_file("migrate.err");
	{
		DIR *d = opendir(ld_dir);
		struct dirent *e;
		char sub[512];

		cr_assert(d);
		while ((e = readdir(d)))
			if (strncmp(e->d_name, "qmigrate-", 9) == 0) {
				snprintf(sub, sizeof(sub), "%s/%s", ld_dir, e->d_name);
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

/* ---- the QMP transcript through the agent: the destination's side, masked ---------- */

/* The transcript's lines, each a JSON object; *@n of them (at most @max). */
static void read_transcript(const char *name, json_t **lines, size_t max, size_t *n)
{
	size_t len;
	char *text = slurp_in(name, &len), *save = NULL;

	*n = 0;
	for (char *l = strtok_r(text, "\n", &save); l; l = strtok_r(NULL, "\n", &save)) {
		json_t *j = json_loads(l, 0, NULL);

		cr_assert(json_is_object(j), "%s: not a JSON object: %.200s", name, l);
		cr_assert_lt(*n, max, "%s: over %zu lines", name, max);
		lines[(*n)++] = j;
	}
	free(text);
}

/* The first line of @side and @dir whose msg has @key (and "execute": @execute). */
static json_t *find_line(json_t **lines, size_t n, const char *side, const char *dir,
			 const char *key, const char *execute, json_int_t id)
{
	for (size_t i = 0; i < n; i++) {
		json_t *msg = json_object_get(lines[i], "msg");
		const char *ex = json_string_value(json_object_get(msg, "execute"));

		if (strcmp(field(lines[i], "side"), side) != 0 ||
		    strcmp(field(lines[i], "dir"), dir) != 0 || !json_object_get(msg, key) ||
		    (execute && (!ex || strcmp(ex, execute) != 0)) ||
		    (id >= 0 && json_integer_value(json_object_get(msg, "id")) != id))
			continue;
		return lines[i];
	}
	return NULL;
}

/*
 * --dest exec: runs the agent here: the destination's QMP is the agent's, and
 * the agent forwards it.  Its set_password carries the VNC password, masked
 * by the agent's QMP client before anything crosses.
 */
Test(launch_dest, through_the_agent_the_qmp_log_holds_the_destination_side_masked)
{
	char src_xml[128], agent_rt[128], log[128], uri[512];
	const char *args[] = { "migrate", "--json", "--src-qmp", NULL, "--domain", src_xml,
			       "--launch-dest", "--dest", uri, "--allow-same-host",
			       "--transport", "tcp", "--qmp-log", log, NULL };
	json_t *lines[4096], *incoming, *ret, *pw;
	json_int_t id;
	char *err_text;
	struct stat st;
	size_t n;

	start_source(true);
	args[3] = pair.src.qmp_path;
	path_in(src_xml, sizeof(src_xml), "src.xml");
	path_in(log, sizeof(log), "qmp.log");
	/* Not the source's runtime directory: its VM directory is there already. */
	path_in(agent_rt, sizeof(agent_rt), "agent");
	cr_assert_eq(mkdir(agent_rt, 0700), 0);
	snprintf(uri, sizeof(uri), "exec:%s serve --stdio --runtime-dir %s",
		 getenv("QMIGRATE"), agent_rt);
	migrate_and_adopt(args, "migrate.out", "migrate.err", false);
	cr_assert_eq(stat(log, &st), 0);
	cr_assert_eq(st.st_mode & 07777, 0600, "mode %o", st.st_mode & 07777);

	read_transcript("qmp.log", lines, sizeof(lines) / sizeof(lines[0]), &n);
	/* Both sides; the destination's from its greeting to its incoming migration. */
	cr_assert(find_line(lines, n, "source", "send", "execute", "migrate", -1));
	cr_assert(find_line(lines, n, "destination", "recv", "QMP", NULL, -1),
		  "no greeting from the destination");
	incoming = find_line(lines, n, "destination", "send", "execute", "migrate-incoming",
			     -1);
	cr_assert(incoming, "no migrate-incoming sent to the destination");
	id = json_integer_value(json_object_get(json_object_get(incoming, "msg"), "id"));
	ret = find_line(lines, n, "destination", "recv", "return", NULL, id);
	cr_assert(ret, "no return of migrate-incoming from the destination");
	/* The agent set the password there, and the transcript shows it masked. */
	pw = find_line(lines, n, "destination", "send", "execute", "set_password", -1);
	cr_assert(pw, "no set_password to the destination");
	cr_assert_str_eq(field(json_object_get(json_object_get(pw, "msg"), "arguments"),
			       "password"),
			 "***");
	for (size_t i = 0; i < n; i++)
		json_decref(lines[i]);
	expect_no_password_in_file("qmp.log");
	expect_no_password_in_file("migrate.err");
	err_text = slurp_in("migrate.err", &n);
	cr_assert_null(strstr(err_text, "the source's side only"), "%s", err_text);
	free(err_text);
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
	DIR *d = opendir(ld_dir);
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
				  "--dest-domain", dst_xml, "--launch-dest", "--runtime-dir",
				  ld_dir, NULL };
	const char *mapped[] = { "migrate", "--json", "--src-qmp", NULL, "--domain", src_xml,
				 "--dest-domain", dst_xml, "--launch-dest", "--runtime-dir",
				 ld_dir, "--disk-map", map, "--graphics-listen", "127.0.0.2", NULL };
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
	migrate_and_adopt(mapped, "mapped.out", "mapped.err", false);
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
