/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A storage migration as its user sees it (cli/progress.c): the bar and the
 * JSON line give the mirrors' bytes done, remaining and rate beside the
 * memory's figures, and the summary counts the disks and their bytes.  The
 * emitters' output is captured from the stream they write to.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/progress.h"
#include "util/macros.h"

#define MIB_BYTES (1024ULL * 1024)
/* 4 MiB/s in QEMU's unit, 10^6 bits/s */
#define FOUR_MIB_PER_S (4.0 * MIB_BYTES * 8 / 1e6)

struct capture {
	FILE *f;
	FILE *stream;
	int saved;
};

static void capture_start(struct capture *c, FILE *stream)
{
	c->stream = stream;
	c->f = tmpfile();
	cr_assert(c->f);
	fflush(stream);
	c->saved = dup(fileno(stream));
	cr_assert_geq(c->saved, 0);
	cr_assert_geq(dup2(fileno(c->f), fileno(stream)), 0);
}

/* What was written since capture_start, in a new string. */
static char *capture_end(struct capture *c)
{
	char *text = calloc(1, 4096);
	size_t n;

	fflush(c->stream);
	cr_assert_geq(dup2(c->saved, fileno(c->stream)), 0);
	close(c->saved);
	cr_assert(text);
	rewind(c->f);
	n = fread(text, 1, 4095, c->f);
	text[n] = '\0';
	fclose(c->f);
	return text;
}

/* A sample of a migration whose disks are a quarter copied at 4 MiB/s. */
static struct qm_progress mirroring(void)
{
	struct qm_progress p = { .status = "mirror",
				 .percent = 10,
				 .transferred_bytes = 2 * MIB_BYTES,
				 .remaining_bytes = 30 * MIB_BYTES,
				 .total_bytes = 32 * MIB_BYTES,
				 .expected_downtime_ms = -1,
				 .storage_transferred = 16 * MIB_BYTES,
				 .storage_remaining = 48 * MIB_BYTES,
				 .storage_total = 64 * MIB_BYTES,
				 .storage_mbps = FOUR_MIB_PER_S };

	return p;
}

Test(progress_disks, the_bar_shows_the_disks_done_of_their_total_and_their_rate)
{
	struct progress_view v = { .bar = true };
	struct qm_progress p = mirroring(), memory_only = mirroring();
	struct capture c;
	_cleanup_free_ char *with = NULL, *without = NULL;

	capture_start(&c, stderr);
	progress_sample(&v, &p);
	with = capture_end(&c);
	cr_expect(strstr(with, "disks 16.0/64.0 MiB 4.0 MiB/s"), "the bar: %s", with);
	cr_expect(strstr(with, "remaining 30.0 MiB"), "the memory's figures: %s", with);

	memory_only.storage_transferred = memory_only.storage_remaining = 0;
	memory_only.storage_total = 0;
	memory_only.storage_mbps = 0;
	capture_start(&c, stderr);
	progress_sample(&v, &memory_only);
	without = capture_end(&c);
	cr_expect(strstr(without, "remaining 30.0 MiB"), "the bar: %s", without);
	cr_expect_null(strstr(without, "disks"), "no disks move, yet the bar: %s", without);
}

Test(progress_disks, the_json_line_carries_the_disks_figures_beside_the_memorys)
{
	struct progress_view v = { .json = true };
	struct qm_progress p = mirroring();
	struct capture c;
	_cleanup_free_ char *text = NULL;
	json_error_t jerr;
	json_t *line;

	capture_start(&c, stdout);
	progress_sample(&v, &p);
	text = capture_end(&c);
	line = json_loads(text, 0, &jerr);
	cr_assert(line, "%s: %s", jerr.text, text);
	cr_expect_str_eq(json_string_value(json_object_get(line, "status")), "mirror");
	cr_expect_eq(json_integer_value(json_object_get(line, "remaining_bytes")),
		     30 * MIB_BYTES);
	cr_expect_eq(json_integer_value(json_object_get(line, "storage_transferred_bytes")),
		     16 * MIB_BYTES);
	cr_expect_eq(json_integer_value(json_object_get(line, "storage_remaining_bytes")),
		     48 * MIB_BYTES);
	cr_expect_eq(json_integer_value(json_object_get(line, "storage_total_bytes")),
		     64 * MIB_BYTES);
	cr_expect_float_eq(json_number_value(json_object_get(line, "storage_mbps")),
			   FOUR_MIB_PER_S, 1e-9);
	json_decref(line);
}

Test(progress_disks, the_summary_counts_the_disks_and_their_bytes)
{
	struct progress_view human = { 0 }, json = { .json = true };
	struct qm_result r = { .status = QM_JOB_COMPLETED,
			       .vm = QM_VM_DESTINATION,
			       .changed = true,
			       .total_ms = -1,
			       .dst_pid = -1,
			       .storage_disks = 2,
			       .storage_bytes = 48 * MIB_BYTES };
	struct capture c;
	_cleanup_free_ char *text = NULL, *line_text = NULL;
	json_error_t jerr;
	json_t *line;

	for (int i = 0; i < QM_PHASE_DONE; i++)
		r.phase_ms[i] = -1;
	capture_start(&c, stderr);
	progress_result(&human, &r);
	text = capture_end(&c);
	cr_expect(strstr(text, "disks: 2 copied, 48.0 MiB mirrored"), "the summary: %s", text);

	capture_start(&c, stdout);
	progress_result(&json, &r);
	line_text = capture_end(&c);
	line = json_loads(line_text, 0, &jerr);
	cr_assert(line, "%s: %s", jerr.text, line_text);
	cr_expect_eq(json_integer_value(json_object_get(line, "storage_disks")), 2);
	cr_expect_eq(json_integer_value(json_object_get(line, "storage_bytes")), 48 * MIB_BYTES);
	json_decref(line);
}
