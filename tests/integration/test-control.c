/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Job control end to end: `qmigrate job` talks to a real `qmigrate migrate
 * --control` moving the test guest between two real QEMUs.  The stream is
 * capped so that the commands certainly arrive mid-migration.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "tests/helpers/pair.h"
#include "tests/helpers/proc.h"

TestSuite(control, .timeout = 300, .fini = stop_pair);

static const char *field(json_t *obj, const char *key)
{
	const char *s = json_string_value(json_object_get(obj, key));

	cr_assert(s, "no \"%s\" in the reply", key);
	return s;
}

/* Runs `qmigrate job @path @verb`: its exit code, and its stdout's JSON in *@reply. */
static int job(const char *path, const char *verb, json_t **reply)
{
	const char *const argv[] = { getenv("QMIGRATE"), "job", path, verb, NULL };
	struct tp_proc p;
	char line[8192];
	int code;

	*reply = NULL;
	cr_assert_eq(tp_spawn(&p, argv), 0);
	if (tp_read_line(&p, line, sizeof(line), 30) == 1) {
		json_error_t jerr;

		*reply = json_loads(line, 0, &jerr);
		cr_assert(*reply, "qmigrate job %s printed no JSON: %s", verb, line);
	}
	code = tp_wait(&p, 30);
	tp_cleanup(&p);
	return code;
}

/* qmigrate migrate with a control socket at @path, capped so that it runs a while. */
static void spawn_migrate(struct tp_proc *p, const char *path)
{
	const char *const argv[] = {
		getenv("QMIGRATE"), "migrate", "--json", "--bandwidth", "16", "--control", path,
		"--src-qmp", pair.src.qmp_path, "--dst-qmp", pair.dst.qmp_path, NULL,
	};

	cr_assert(argv[0], "QMIGRATE is not set");
	cr_assert_eq(tp_spawn(p, argv), 0);
}

Test(control, query_then_cancel_through_the_control_socket_keeps_vm_on_source)
{
	char dir[] = "/tmp/qm-control-XXXXXX", path[64];
	json_t *reply, *result = NULL;
	struct tp_proc p;
	char line[8192];
	bool acted = false;
	int code;

	cr_assert(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/ctl.sock", dir);
	start_pair(256);
	spawn_migrate(&p, path);
	while (tp_read_line(&p, line, sizeof(line), 240) == 1) {
		json_error_t jerr;
		json_t *obj = json_loads(line, 0, &jerr);

		cr_assert(obj, "not JSON: %s", line);
		if (!acted && strcmp(field(obj, "event"), "progress") == 0) {
			acted = true;
			code = job(path, "query", &reply);
			cr_assert_eq(code, 0, "query exited %d", code);
			cr_assert(json_is_true(json_object_get(reply, "ok")));
			cr_assert_str_eq(field(reply, "phase"), "perform");
			cr_assert_str_eq(field(reply, "status"), "running");
			cr_assert(json_is_object(json_object_get(reply, "progress")));
			json_decref(reply);
			code = job(path, "cancel", &reply);
			cr_assert_eq(code, 0, "cancel exited %d", code);
			cr_assert(json_is_true(json_object_get(reply, "ok")));
			json_decref(reply);
		}
		json_decref(result);
		result = obj;
	}
	code = tp_wait(&p, 60);
	tp_cleanup(&p);
	cr_assert(acted, "the migration ended before any progress was reported");
	cr_assert_eq(code, 1, "qmigrate migrate exited %d", code);
	cr_assert_str_eq(field(result, "event"), "result");
	cr_assert_str_eq(field(result, "status"), "cancelled");
	cr_assert_str_eq(field(result, "vm"), "source");
	json_decref(result);
	cr_assert_eq(access(path, F_OK), -1, "the control socket outlived the job");
	rmdir(dir);
	assert_back_on_source();
}
