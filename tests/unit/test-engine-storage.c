/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Storage migration (docs/storage.md) against scripted fake QMP servers,
 * the destination launched through the fake emulator: the command sequence
 * of a copy, and the rollback when a mirror fails or the destination goes
 * during the mirror.  The image prepare creates is a real file in work/.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/storage.h"
#include "tests/helpers/launch-run.h"
#include "util/macros.h"

TestSuite(engine_storage, .init = dl_setup, .fini = dl_teardown, .timeout = 30);

#define CAPACITY "16777216"
#define NIL_UUID_REPLY "{\"UUID\": \"00000000-0000-0000-0000-000000000000\"}"
/* The source's disks: a cdrom (read-only: not copied) and vdb, a raw disk of 16 MiB. */
#define BLOCKS                                                                           \
	"[{\"device\": \"\", \"qdev\": \"/machine/peripheral-anon/device[0]\","          \
	" \"inserted\": {\"node-name\": \"fmt-hdc\", \"ro\": true,"                      \
	" \"image\": {\"virtual-size\": 1048576}}},"                                     \
	" {\"device\": \"\", \"qdev\": "                                                 \
	"\"/machine/peripheral-anon/device[1]/virtio-backend\","                         \
	" \"inserted\": {\"node-name\": \"fmt-vdb\", \"ro\": false,"                     \
	" \"image\": {\"virtual-size\": " CAPACITY "}}}]"
/* vdb as a qcow2 overlay on a raw backing file (--copy-storage inc). */
#define BACKED_BLOCKS                                                                    \
	"[{\"device\": \"\", \"qdev\": \"vdb\", \"inserted\": {\"node-name\": "          \
	"\"fmt-vdb\", \"ro\": false, \"image\": {\"virtual-size\": " CAPACITY ","         \
	" \"full-backing-filename\": \"/srv/shared/base.raw\","                          \
	" \"backing-filename-format\": \"raw\"}}}]"
/* vdb of 1 EiB: more than any test machine has free. */
#define HUGE_BLOCKS                                                                      \
	"[{\"device\": \"\", \"qdev\": \"vdb\", \"inserted\": {\"node-name\": "          \
	"\"fmt-vdb\","                                                                   \
	" \"ro\": false, \"image\": {\"virtual-size\": 1152921504606846976}}}]"
#define JOB_EVENT(name, extra)                                                           \
	EVENT(name,                                                                      \
	      "{\"device\": \"qmigrate-vdb\", \"type\": \"mirror\", \"len\": " CAPACITY  \
	      ", \"offset\": " CAPACITY ", \"speed\": 0" extra "}")

/* Begin on the source, then the disks it has. */
#define SRC_BEGIN_DISKS                                                                  \
	SRC_BEGIN_WITH_CAPS(                                                             \
		"[{\"state\": false, \"capability\": \"events\"},"                       \
		" {\"state\": false, \"capability\": \"pause-before-switchover\"}]"),    \
		FQ_EXPECT("query-block", 8), R(8, BLOCKS)
/*
 * Perform up to the mirror's start: pause-before-switchover, the NBD node
 * (the steps given), the mirror.
 */
#define SRC_MIRROR_WITH(...)                                                             \
	{ .op = FQ_OP_EXPECT,                                                            \
	  .name = "migrate-set-capabilities",                                            \
	  .slot = 0,                                                                     \
	  .args = "{\"capabilities\": [{\"capability\": \"events\", \"state\": true},"   \
		  " {\"capability\": \"pause-before-switchover\", \"state\": true}]}" }, \
		FQ_EXPECT("migrate-set-parameters", 1), R(0, "{}"), R(1, "{}"),          \
		__VA_ARGS__,                                                             \
		{ .op = FQ_OP_EXPECT,                                                    \
		  .name = "blockdev-mirror",                                             \
		  .slot = 3,                                                             \
		  .args = "{\"job-id\": \"qmigrate-vdb\", \"device\": \"fmt-vdb\","      \
			  " \"target\": \"qmigrate-nbd-vdb\", \"sync\": \"full\","        \
			  " \"buf-size\": 33554432}" },                                       \
		R(2, "{}"), R(3, "{}")
/*
 * The engine connected to the NBD server's UNIX socket, with a send buffer
 * of 4 MiB, and hands the connection over for the NBD node (getfd), which
 * is made of it.
 */
#define SRC_MIRROR                                                                       \
	SRC_MIRROR_WITH({ .op = FQ_OP_EXPECT,                                            \
			  .name = "getfd",                                               \
			  .slot = 10,                                                    \
			  .args = "{\"fdname\": \"qmigrate-nbd-vdb\"}",                  \
			  .fd = true,                                                    \
			  .fd_type = S_IFSOCK,                                           \
			  .fd_sndbuf = 4 << 20 },                                        \
			R(10, "{}"),                                                     \
			{ .op = FQ_OP_EXPECT,                                            \
			  .name = "blockdev-add",                                        \
			  .slot = 2,                                                     \
			  .args = "{\"driver\": \"nbd\", \"node-name\": "                \
				  "\"qmigrate-nbd-vdb\", \"server\": {\"type\": \"fd\", "  \
				  "\"str\": \"qmigrate-nbd-vdb\"}, \"export\": \"vdb\"}" })
/* Nobody serves at the socket (DST_SERVES_NOBODY): QEMU is left to connect itself. */
#define SRC_MIRROR_ITSELF SRC_MIRROR_WITH(FQ_EXPECT("blockdev-add", 2))
#define DROP_NODE(s)                                                                     \
	{ .op = FQ_OP_EXPECT,                                                            \
	  .name = "blockdev-del",                                                        \
	  .slot = (s),                                                                   \
	  .args = "{\"node-name\": \"qmigrate-nbd-vdb\"}" },                             \
		R(s, "{}")

/*
 * Prepare on the launched destination, up to the exports; the NBD server's
 * listening socket comes with getfd.  DST_SERVES keeps it open, as QEMU does;
 * DST_SERVES_NOBODY closes it at once, so that nobody serves at the socket.
 */
#define DST_SERVES                                                                       \
	DST_SERVES_WITH({ .op = FQ_OP_EXPECT,                                            \
			  .name = "getfd",                                               \
			  .slot = 11,                                                    \
			  .fd = true,                                                    \
			  .fd_type = S_IFSOCK,                                           \
			  .fd_keep = true })
#define DST_SERVES_NOBODY                                                                \
	DST_SERVES_WITH({ .op = FQ_OP_EXPECT,                                            \
			  .name = "getfd",                                               \
			  .slot = 11,                                                    \
			  .fd = true,                                                    \
			  .fd_type = S_IFSOCK })
#define DST_SERVES_WITH(...)                                                                            \
	FQ_HANDSHAKE, FQ_EXPECT("query-status", 9), R(9, STATUS("inmigrate")),           \
		DST_QUERY_STEPS, DST_ANSWERS(STATUS("inmigrate"), "{}", NIL_UUID_REPLY), \
		DST_FACTS, DST_INCOMING, __VA_ARGS__,                                    \
		{ .op = FQ_OP_EXPECT,                                                    \
		  .name = "nbd-server-start",                                            \
		  .slot = 12,                                                            \
		  .args = "{\"addr\": {\"type\": \"fd\", \"data\": {\"str\": "           \
			  "\"qmigrate-nbd\"}}}" },                                       \
		{ .op = FQ_OP_EXPECT,                                                    \
		  .name = "block-export-add",                                            \
		  .slot = 14,                                                            \
		  .args = "{\"type\": \"nbd\", \"id\": \"qmigrate-vdb\", "               \
			  "\"node-name\": \"fmt-vdb\","                                  \
			  " \"writable\": true, \"name\": \"vdb\"}" },                   \
		R(11, "{}"), R(12, "{}"), R(14, "{}")

static char src_image[128], dst_image[128];

/* A description with the cdrom and vdb, mapped to work/dst.raw; options to copy it. */
static char *storage_domain(struct lrun *run)
{
	static const char *map[2];
	static char entry[300];
	char devices[1024];

	work_path(src_image, sizeof(src_image), "src.raw");
	work_path(dst_image, sizeof(dst_image), "dst.raw");
	snprintf(devices, sizeof(devices),
		 "<disk type='file' device='cdrom'><source file='%s'/>"
		 "<target dev='hdc' bus='ide'/><readonly/></disk>"
		 "<disk type='file' device='disk'><driver name='qemu' type='raw'/>"
		 "<source file='%s'/><target dev='vdb' bus='virtio'/></disk>",
		 src_image, src_image);
	snprintf(entry, sizeof(entry), "%s=%s", src_image, dst_image);
	map[0] = entry;
	run->opts.disk_map = map;
	run->opts.copy_storage = QM_COPY_STORAGE_ALL;
	return relayed_domain(devices);
}

/*
 * After a failure: the VM is the source's, the image prepare created is
 * gone, and so is the destination.
 */
static void assert_left_on_source(const struct lrun *run)
{
	cr_expect_eq(run->result.vm, QM_VM_SOURCE);
	cr_expect_eq(access(dst_image, F_OK), -1, "the image prepare created is left");
	assert_gone(launched_pid());
}

Test(engine_storage,
     copies_the_disk_then_migrates_and_completes_the_mirror_at_switch_over)
{
	static const struct fq_step src[] = {
		SRC_BEGIN_DISKS,
		SRC_MIRROR,
		JOB_EVENT("BLOCK_JOB_READY", ""),
		/* every mirror is ready: only now the memory moves */
		FQ_EXPECT("migrate", 4),
		R(4, "{}"),
		EVENT("MIGRATION", "{\"status\": \"pre-switchover\"}"),
		FQ_EXPECT("query-migrate", 5),
		R(5, "{\"status\": \"pre-switchover\"}"),
		/* the ready mirror completes without a pivot */
		{ .op = FQ_OP_EXPECT,
		  .name = "block-job-cancel",
		  .slot = 6,
		  .args = "{\"device\": \"qmigrate-vdb\"}" },
		R(6, "{}"),
		JOB_EVENT("BLOCK_JOB_COMPLETED", ""),
		DROP_NODE(7),
		{ .op = FQ_OP_EXPECT,
		  .name = "migrate-continue",
		  .slot = 8,
		  .args = "{\"state\": \"pre-switchover\"}" },
		R(8, "{}"),
		SRC_COMPLETES,
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_SERVES,
		FQ_EXPECT("query-status", 5),
		FQ_EXPECT("query-migrate", 6),
		R(5, STATUS("paused")),
		R(6, "{\"status\": \"completed\"}"),
		/* nobody writes the disk over NBD once the VM runs here */
		FQ_EXPECT("nbd-server-stop", 7),
		R(7, "{}"),
		FQ_EXPECT("cont", 8),
		FQ_EXPECT("query-status", 9),
		R(8, "{}"),
		R(9, RUNNING),
		FQ_END,
	};
	struct lrun run = { 0 };
	_cleanup_free_ char *xml = storage_domain(&run);
	struct stat st;

	run_launch(&run, xml, src, dst);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_expect_eq(run.result.vm, QM_VM_DESTINATION);
	/* The mirror's figures showed once at least, before the memory moved. */
	cr_expect_geq(run.n_mirror, 1);
	cr_expect_eq(run.mirror.storage_total, 16777216);
	cr_expect_eq(run.mirror.storage_transferred, 16777216);
	cr_expect_eq(run.mirror.storage_remaining, 0);
	cr_expect_eq(run.result.storage_disks, 1);
	cr_expect_eq(run.result.storage_bytes, 16777216);
	/* The destination's image stays: the VM's disk there. */
	cr_assert_eq(stat(dst_image, &st), 0, "%s: %s", dst_image, strerror(errno));
	cr_expect_eq(st.st_size, 16777216);
	cr_expect_eq(st.st_mode & 07777, 0600);
	stop_handed_over(&run.result);
	unlink(dst_image);
}

/* Nobody serves at the NBD socket here, so that QEMU connects itself, as it would then. */
Test(engine_storage, a_failed_mirror_fails_the_job_before_migrate_and_removes_the_image)
{
	static const struct fq_step src[] = {
		SRC_BEGIN_DISKS,
		SRC_MIRROR_ITSELF,
		JOB_EVENT("BLOCK_JOB_COMPLETED", ", \"error\": \"Input/output error\""),
		/* no migrate: confirm drops the NBD node and finds the VM running */
		DROP_NODE(4),
		FQ_EXPECT("query-status", 5),
		R(5, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_SERVES_NOBODY,
		QUIT_AND_GO(15),
		FQ_END,
	};
	struct lrun run = { 0 };
	_cleanup_free_ char *xml = storage_domain(&run);

	run_launch(&run, xml, src, dst);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect_str_eq(run.result.error.error_class, "StorageFailed");
	cr_expect(strstr(run.result.error.text, "disk vdb"), "%s", run.result.error.text);
	cr_expect(strstr(run.result.error.text, "Input/output error"), "%s",
		  run.result.error.text);
	assert_left_on_source(&run);
}

/*
 * The NBD node is refused after its connection was handed over: the
 * connection is closed in the source QEMU (closefd), as the node is not there
 * to drop.
 */
Test(engine_storage, a_refused_nbd_node_has_its_connection_closed_in_the_source)
{
	static const struct fq_step src[] = {
		SRC_BEGIN_DISKS,
		{ .op = FQ_OP_EXPECT, .name = "migrate-set-capabilities", .slot = 0 },
		FQ_EXPECT("migrate-set-parameters", 1),
		R(0, "{}"),
		R(1, "{}"),
		{ .op = FQ_OP_EXPECT, .name = "getfd", .slot = 10, .fd = true },
		FQ_EXPECT("blockdev-add", 2),
		FQ_EXPECT("blockdev-mirror", 3),
		R(10, "{}"),
		FQ_REPLY_TEXT(2, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"refused\"}}"),
		FQ_REPLY_TEXT(3, "{\"error\": {\"class\": \"GenericError\", \"desc\": \"no node\"}}"),
		{ .op = FQ_OP_EXPECT,
		  .name = "closefd",
		  .slot = 4,
		  .args = "{\"fdname\": \"qmigrate-nbd-vdb\"}" },
		R(4, "{}"),
		FQ_EXPECT("query-status", 5),
		R(5, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_SERVES,
		QUIT_AND_GO(15),
		FQ_END,
	};
	struct lrun run = { 0 };
	_cleanup_free_ char *xml = storage_domain(&run);

	run_launch(&run, xml, src, dst);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect(strstr(run.result.error.text, "refused"), "%s", run.result.error.text);
	assert_left_on_source(&run);
}

Test(engine_storage,
     the_destination_gone_during_the_mirror_cancels_it_and_removes_the_image)
{
	static const struct fq_step src[] = {
		SRC_BEGIN_DISKS,
		SRC_MIRROR,
		FQ_WAIT, /* the mirror runs: now the destination goes */
		{ .op = FQ_OP_EXPECT,
		  .name = "block-job-cancel",
		  .slot = 4,
		  .args = "{\"device\": \"qmigrate-vdb\", \"force\": true}" },
		R(4, "{}"),
		JOB_EVENT("BLOCK_JOB_CANCELLED", ""),
		DROP_NODE(5),
		FQ_EXPECT("query-status", 6),
		R(6, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_SERVES,
		FQ_WAIT,
		FQ_HANGUP,
		FQ_END,
	};
	struct lrun run = { .on_wait = ACT_RESUME_BOTH };
	_cleanup_free_ char *xml = storage_domain(&run);

	run_launch(&run, xml, src, dst);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	/* Its going is the cause: the mirror's end after it is only its effect. */
	cr_expect(strstr(run.result.error.text, "destination QEMU"), "%s",
		  run.result.error.text);
	assert_left_on_source(&run);
}

Test(engine_storage, a_cancel_during_the_mirror_cancels_it_and_removes_the_image)
{
	static const struct fq_step src[] = {
		SRC_BEGIN_DISKS,
		SRC_MIRROR,
		FQ_WAIT, /* the mirror runs: now the user cancels */
		{ .op = FQ_OP_EXPECT,
		  .name = "block-job-cancel",
		  .slot = 4,
		  .args = "{\"device\": \"qmigrate-vdb\", \"force\": true}" },
		R(4, "{}"),
		JOB_EVENT("BLOCK_JOB_CANCELLED", ""),
		DROP_NODE(5),
		FQ_EXPECT("query-status", 6),
		R(6, RUNNING),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_SERVES,
		FQ_WAIT,
		QUIT_AND_GO(15),
		FQ_END,
	};
	struct lrun run = { .on_wait = ACT_CANCEL_BOTH };
	_cleanup_free_ char *xml = storage_domain(&run);

	run_launch(&run, xml, src, dst);
	cr_assert_eq(run.result.status, QM_JOB_CANCELLED, "%s", run.result.error.text);
	assert_left_on_source(&run);
}

Test(engine_storage, an_existing_image_is_refused_and_left_alone)
{
	static const struct fq_step src[] = { SRC_BEGIN_DISKS,
					      FQ_EXPECT("query-status", 5), R(5, RUNNING),
					      FQ_END };
	struct lrun run = { 0 };
	_cleanup_free_ char *xml = storage_domain(&run);
	char buf[16] = "";
	FILE *f;

	f = fopen(dst_image, "w");
	cr_assert(f);
	fputs("theirs", f);
	fclose(f);
	run_launch(&run, xml, src, NULL);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect_str_eq(run.result.error.error_class, "StorageExists");
	cr_expect_not(run.result.changed);
	f = fopen(dst_image, "r");
	cr_assert(f);
	cr_expect(fgets(buf, sizeof(buf), f));
	fclose(f);
	cr_expect_str_eq(buf, "theirs");
	unlink(dst_image);
}

Test(engine_storage, a_raw_disk_larger_than_the_free_space_is_refused_in_prepare)
{
	static const struct fq_step src[] = {
		SRC_BEGIN_WITH_CAPS("[{\"state\": false, \"capability\": \"events\"},"
				    " {\"state\": false, \"capability\": "
				    "\"pause-before-switchover\"}]"),
		FQ_EXPECT("query-block", 8),
		R(8, HUGE_BLOCKS),
		FQ_EXPECT("query-status", 5),
		R(5, RUNNING),
		FQ_END,
	};
	struct lrun run = { 0 };
	_cleanup_free_ char *xml = storage_domain(&run);

	run_launch(&run, xml, src, NULL);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect_str_eq(run.result.error.error_class, "StorageNoSpace");
	cr_expect(strstr(run.result.error.text, "free") &&
			  strstr(run.result.error.text, dst_image),
		  "%s", run.result.error.text);
	cr_expect_not(run.result.changed);
	cr_expect_eq(access(dst_image, F_OK), -1, "an image was created");
}

static void expect_usage(struct qm_job_options *o, const char *piece)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_error err = { 0 };

	o->src_qmp = "/nonexistent/src";
	cr_expect_null(qm_job_new(ctx, loop, o, NULL, NULL, &err));
	cr_expect_str_eq(err.error_class, "Usage");
	cr_expect(strstr(err.text, piece), "'%s' is not in: %s", piece, err.text);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
}

Test(engine_storage, what_this_step_does_not_do_is_a_usage_error)
{
	static const char *const bad_name[] = { "../vda", NULL };
	static const char *const twice[] = { "vda", "vda", NULL };
	struct qm_job_options o = { .dst_qmp = "/nonexistent/dst",
				     .copy_storage = QM_COPY_STORAGE_ALL };
	expect_usage(&o, "--launch-dest");
	o = (struct qm_job_options){ .launch_dest = true,
				     .copy_storage = QM_COPY_STORAGE_ALL,
				     .policy.postcopy = true };
	expect_usage(&o, "--postcopy");
	o = (struct qm_job_options){ .launch_dest = true,
				     .copy_storage_disks = bad_name };
	expect_usage(&o, "<target dev>");
	o = (struct qm_job_options){ .launch_dest = true, .copy_storage_disks = twice };
	expect_usage(&o, "twice");
}

/*
 * --copy-storage inc of storage_domain's VM, the source answering @src:
 * refused (StorageUnsupported) with both pieces in the text, nothing changed,
 * no image made.
 */
static void expect_inc_refused(const struct fq_step *src, const char *piece1,
			       const char *piece2)
{
	struct lrun run = { 0 };
	_cleanup_free_ char *xml = storage_domain(&run);

	run.opts.copy_storage = QM_COPY_STORAGE_INC;
	run_launch(&run, xml, src, NULL);
	cr_assert_eq(run.result.status, QM_JOB_FAILED);
	cr_expect_str_eq(run.result.error.error_class, "StorageUnsupported");
	cr_expect(strstr(run.result.error.text, piece1) && strstr(run.result.error.text, piece2),
		  "%s", run.result.error.text);
	cr_expect_not(run.result.changed);
	cr_expect_eq(access(dst_image, F_OK), -1, "an image was created");
}

/* --copy-storage inc moves a top layer: a disk without a backing file has none. */
Test(engine_storage, inc_refuses_a_disk_without_a_backing_file_in_begin)
{
	static const struct fq_step src[] = { SRC_BEGIN_DISKS,
					      FQ_EXPECT("query-status", 5), R(5, RUNNING),
					      FQ_END };

	expect_inc_refused(src, "vdb has no backing file", "--copy-storage all");
}

/*
 * The backing file travels in begin's cookie to prepare, which needs a qcow2
 * image to put the overlay in: the description's raw vdb is refused there,
 * before any image is made.
 */
Test(engine_storage, inc_needs_a_qcow2_image_on_the_destination)
{
	static const struct fq_step src[] = {
		SRC_BEGIN_WITH_CAPS("[{\"state\": false, \"capability\": \"events\"},"
				    " {\"state\": false, \"capability\": "
				    "\"pause-before-switchover\"}]"),
		FQ_EXPECT("query-block", 8),
		R(8, BACKED_BLOCKS),
		FQ_EXPECT("query-status", 5),
		R(5, RUNNING),
		FQ_END,
	};

	expect_inc_refused(src, "/srv/shared/base.raw", "qcow2");
}

/*
 * Each mirror's buffer: 32 MiB (2 MiB requests) for up to four disks that
 * copy at once; more share 128 MiB, in whole MiB, but never under QEMU's
 * default of 16 MiB.
 */
Test(engine_storage, the_mirrors_buffers_are_32_mib_each_then_share_128_mib)
{
	static const struct {
		unsigned disks;
		int mib;
	} cases[] = { { 0, 32 }, { 1, 32 }, { 4, 32 }, { 5, 25 }, { 6, 21 },
		      { 8, 16 }, { 9, 16 }, { 16, 16 } };

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++)
		cr_expect_eq(qm_storage_mirror_buf(cases[i].disks), cases[i].mib << 20,
			     "%u disk(s): %d bytes, not %d MiB", cases[i].disks,
			     qm_storage_mirror_buf(cases[i].disks), cases[i].mib);
}
