/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination's QMP in the source's transcript (the agent's feature
 * qmp-log), between hosts through tests/helpers/fake-agent (remote-run.h).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <syslog.h>
#include <time.h>
#include <unistd.h>

#include "tests/unit/remote-run.h"

TestSuite(remote, .init = remote_setup, .fini = remote_teardown, .timeout = 30);

static const struct fq_step completes_src[] = { SRC_BEGIN_WITH_CAPS(CAPS_ALL),
						SRC_MIGRATE_TO_AGENT, SRC_COMPLETES, FQ_END };

/* The transcript's destination lines, checked as JSON lines in time order; how many. */
static int destination_lines(const char *path, double not_after, json_t *dst[8])
{
	char line[8192];
	double last = 0;
	int n = 0;
	FILE *f = fopen(path, "r");

	cr_assert(f, "%s: %s", path, strerror(errno));
	while (fgets(line, sizeof(line), f)) {
		json_t *j = json_loads(line, 0, NULL);
		double ts = json_real_value(json_object_get(j, "ts"));

		cr_assert(j, "not JSON: %s", line);
		cr_assert_geq(ts, last, "time went back: %s", line);
		cr_assert_leq(ts, not_after, "a line from the future: %s", line);
		last = ts;
		if (strcmp(json_string_value(json_object_get(j, "side")), "destination") != 0 ||
		    n == 8) {
			json_decref(j);
			continue;
		}
		dst[n++] = j;
	}
	fclose(f);
	return n;
}

Test(remote, the_agent_forwards_the_destinations_qmp_into_the_sources_transcript)
{
	struct rrun run = { .agent = "--forward-qmp" };
	char path[128];
	json_t *dst[8], *msg;
	int n;

	work_path(path, sizeof(path), "qmp.log");
	run.opts.qmp_log = path;
	run_remote(&run, completes_src);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	/* Asked for, in prepare's settings. */
	cr_assert(strstr(run.record, " qmp-log=1\n"), "%s", run.record);
	n = destination_lines(path, (double)time(NULL) + 1, dst);
	cr_assert_eq(n, 3, "%d destination lines", n);
	/* In order, both ways, the agent's clock bounded by the source's. */
	cr_assert_str_eq(json_string_value(json_object_get(dst[0], "dir")), "send");
	msg = json_object_get(dst[0], "msg");
	cr_assert_str_eq(json_string_value(json_object_get(msg, "execute")), "migrate-incoming");
	cr_assert_str_eq(json_string_value(json_object_get(dst[1], "dir")), "recv");
	msg = json_object_get(dst[1], "msg");
	cr_assert(json_is_object(json_object_get(msg, "return")));
	cr_assert_eq(json_integer_value(json_object_get(msg, "id")), 1);
	cr_assert(json_is_string(json_object_get(dst[2], "msg")));
	cr_assert_eq(json_integer_value(json_object_get(dst[2], "bytes")), 2000000);
	cr_assert_null(json_object_get(dst[1], "dropped"), "the line format is unchanged");
	for (int i = 0; i < n; i++)
		json_decref(dst[i]);
	cr_assert(strstr(run.warnings, "the agent dropped 3 of the destination's QMP messages"),
		  "%s", run.warnings);
}

/* An agent that cannot forward still migrates: a warning says the log is half. */
Test(remote, an_agent_without_qmp_log_migrates_and_the_source_warns)
{
	struct rrun run = { .agent = "--lack qmp-log --forward-qmp" };
	char path[128];
	json_t *dst[8];

	work_path(path, sizeof(path), "qmp.log");
	run.opts.qmp_log = path;
	run_remote(&run, completes_src);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert(strstr(run.record, " qmp-log=0\n"), "%s", run.record);
	cr_assert(strstr(run.warnings, "does not forward the destination's QMP messages: the "
				       "QMP log holds the source's side only"),
		  "%s", run.warnings);
	cr_assert_eq(destination_lines(path, (double)time(NULL) + 1, dst), 0);
}

/* No transcript, no forwarding asked: the agent that could sends nothing. */
Test(remote, without_a_qmp_log_the_agent_is_not_asked_to_forward)
{
	struct rrun run = { .agent = "--forward-qmp" };

	run_remote(&run, completes_src);
	cr_assert_eq(run.result.status, QM_JOB_COMPLETED, "%s", run.result.error.text);
	cr_assert(strstr(run.record, " qmp-log=0\n"), "%s", run.record);
	cr_assert_null(strstr(run.warnings, "QMP"), "%s", run.warnings);
}
