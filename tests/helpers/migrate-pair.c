/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <criterion/criterion.h>
#include <ev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qmigrate.h"
#include "tests/guest/memcheck.h"
#include "tests/helpers/guest.h"
#include "tests/helpers/migrate-pair.h"

struct pair pair;

void start_pair(unsigned mib)
{
	struct tq_qemu_opts src = {
		.machine = "pc",
		.mem_mib = mib,
		.boot_image = tg_guest_image(),
	};
	struct tq_qemu_opts dst = src;

	dst.paused = true;
	dst.incoming_defer = true;
	pair.mib = mib;
	cr_assert_eq(tq_qemu_start(&pair.src, &src), 0);
	cr_assert_eq(tq_qemu_start(&pair.dst, &dst), 0);
	/* Until the first full pass, pages hold BIOS leftovers. */
	cr_assert_geq(tg_guest_wait_passes(&pair.src, 2, 180), 2);
}

void stop_pair(void)
{
	tq_qemu_stop(&pair.src);
	tq_qemu_stop(&pair.dst);
}

json_t *qmp_once(struct tq_qemu *vm, const char *cmd, json_t *args)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_qmp *q = qm_qmp_new(ctx, loop, NULL);
	struct qm_error err = { 0 };
	json_t *ret = NULL;

	if (qm_qmp_connect(q, vm->qmp_path, &err) == 0)
		ret = qm_qmp_command_sync(q, cmd, args, -1, &err);
	else
		json_decref(args);
	cr_assert(ret, "%s on %s: %s", cmd, vm->qmp_path, err.text);
	qm_qmp_unref(q);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	return ret;
}

char *vm_status(struct tq_qemu *vm)
{
	json_t *ret = qmp_once(vm, "query-status", NULL);
	char *s = strdup(json_string_value(json_object_get(ret, "status")));

	json_decref(ret);
	return s;
}

void check_memory(struct tq_qemu *vm)
{
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_ctx *ctx = qm_ctx_new();
	struct qm_qmp *q = qm_qmp_new(ctx, loop, NULL);
	struct qm_memcheck_result res;
	struct qm_error err = { 0 };
	char path[256];
	json_t *ret;

	snprintf(path, sizeof(path), "%s/mem.dump", vm->dir);
	cr_assert_eq(qm_qmp_connect(q, vm->qmp_path, &err), 0, "%s", err.text);
	ret = qm_qmp_command_sync(q, "stop", NULL, -1, &err);
	cr_assert(ret, "stop: %s", err.text);
	json_decref(ret);
	cr_assert_eq(tg_guest_dump(q, pair.mib, path), 0);
	qm_qmp_unref(q);
	qm_ctx_unref(ctx);
	ev_loop_destroy(loop);
	cr_assert_eq(qm_memcheck_file(path, 0, &res), 0, "%s", res.message);
	cr_assert(res.ok, "memory check on %s: %s", vm->dir, res.message);
	cr_assert_gt(res.pages, 0);
	unlink(path);
}

/* Bytes of serial output: the guest prints one character per pass. */
static long serial_bytes(struct tq_qemu *vm)
{
	struct stat st;

	return stat(vm->serial_path, &st) == 0 ? (long)st.st_size : 0;
}

void assert_guest_runs(struct tq_qemu *vm)
{
	long before = serial_bytes(vm);

	for (int i = 0; i < 6000 && serial_bytes(vm) < before + 2; i++)
		usleep(10000);
	cr_assert_geq(serial_bytes(vm), before + 2, "the guest makes no progress on %s",
		      vm->dir);
}
