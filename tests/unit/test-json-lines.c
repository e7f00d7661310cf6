/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * docs/json-lines.md against what `qmigrate migrate --json` writes: the
 * command's own emitters (cli/progress.c) are driven through every branch
 * that adds a member (a policy with a value, a failed result with a
 * launched destination), their lines are captured, and the members each
 * event emits must be exactly the members the document's table for that
 * event lists.  A nested object's members count as "outer.inner".
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/progress.h"
#include "tests/unit/testdata.h"
#include "util/macros.h"

#define MAX_NAMES 64

struct names {
	char *event[8];
	char *name[8][MAX_NAMES];
	size_t n_events, n[8];
};

static size_t event_slot(struct names *s, const char *event)
{
	for (size_t i = 0; i < s->n_events; i++)
		if (strcmp(s->event[i], event) == 0)
			return i;
	cr_assert_lt(s->n_events, 8, "too many events");
	cr_assert(s->event[s->n_events] = strdup(event));
	return s->n_events++;
}

static void add_name(struct names *s, const char *event, const char *name)
{
	size_t e = event_slot(s, event);

	for (size_t i = 0; i < s->n[e]; i++)
		if (strcmp(s->name[e][i], name) == 0)
			return;
	cr_assert_lt(s->n[e], MAX_NAMES);
	cr_assert(s->name[e][s->n[e]++] = strdup(name));
}

static bool has_name(const struct names *s, const char *event, const char *name)
{
	for (size_t e = 0; e < s->n_events; e++)
		if (strcmp(s->event[e], event) == 0)
			for (size_t i = 0; i < s->n[e]; i++)
				if (strcmp(s->name[e][i], name) == 0)
					return true;
	return false;
}

static void free_names(struct names *s)
{
	for (size_t e = 0; e < s->n_events; e++) {
		for (size_t i = 0; i < s->n[e]; i++)
			free(s->name[e][i]);
		free(s->event[e]);
	}
}

/* The document: "## `event`" starts an event's table, "| `member` |" is a row. */
static void read_document(struct names *doc)
{
	_cleanup_free_ char *path = td_path("../../docs/json-lines.md");
	char line[1024], event[64] = "", name[128];
	FILE *f = fopen(path, "r");

	cr_assert(f, "cannot open %s", path);
	while (fgets(line, sizeof(line), f)) {
		if (sscanf(line, "## `%63[^`]`", event) == 1)
			continue;
		if (event[0] && sscanf(line, "| `%127[^`]` |", name) == 1)
			add_name(doc, event, name);
	}
	fclose(f);
	cr_assert_geq(doc->n_events, 4, "the document has %zu event tables",
		      doc->n_events);
}

static void add_members(struct names *out, const char *event, const char *prefix,
			json_t *obj)
{
	const char *key;
	json_t *value;
	char name[256];

	json_object_foreach(obj, key, value) {
		snprintf(name, sizeof(name), "%s%s%s", prefix, *prefix ? "." : "", key);
		add_name(out, event, name);
		if (json_is_object(value))
			add_members(out, event, name, value);
	}
}

/* Every line the emitters wrote into @f, by event. */
static void read_lines(FILE *f, struct names *out, size_t *n_lines)
{
	char line[8192];

	rewind(f);
	while (fgets(line, sizeof(line), f)) {
		json_error_t jerr;
		json_t *obj = json_loads(line, 0, &jerr);
		const char *event = json_string_value(json_object_get(obj, "event"));

		cr_assert(obj, "not JSON: %s (%s)", line, jerr.text);
		cr_assert(event, "no event member: %s", line);
		add_members(out, event, "", obj);
		json_decref(obj);
		(*n_lines)++;
	}
}

static void emit_everything(void)
{
	struct progress_view v = { .json = true };
	struct qm_progress p = {
		.phase = QM_PHASE_PERFORM,
		.status = "active",
		.elapsed = 1.5,
		.transferred_bytes = 1 << 20,
		.remaining_bytes = 2 << 20,
		.total_bytes = 64 << 20,
		.mbps = 800.,
		.passes = 2,
		.expected_downtime_ms = 30,
		.percent = 42.,
		.tunnel_bytes = 4096,
	};
	struct qm_policy_decision with_value = { "ladder", "set-downtime", 300,
						 "step 2" };
	struct qm_policy_decision without = { "timeout", "cancel", -1, "took too long" };
	struct qm_result done = { .status = QM_JOB_COMPLETED,
				  .vm = QM_VM_DESTINATION,
				  .changed = true,
				  .dst_pid = -1 };
	struct qm_result failed = { .status = QM_JOB_FAILED,
				    .vm = QM_VM_SOURCE,
				    .changed = true,
				    .dst_pid = 4242 };

	for (int i = 0; i < QM_PHASE_DONE; i++)
		done.phase_ms[i] = failed.phase_ms[i] =
			i == QM_PHASE_CONFIRM ? -1 : 10 * i;
	failed.storage_disks = 2;
	failed.storage_bytes = 48 << 20;
	snprintf(failed.dst_qmp, sizeof(failed.dst_qmp), "/run/qmigrate-vm-x/qmp.sock");
	snprintf(failed.error.error_class, sizeof(failed.error.error_class),
		 "MigrationFailed");
	snprintf(failed.error.text, sizeof(failed.error.text), "QEMU said no");

	progress_phase(&v, QM_PHASE_BEGIN, 0.001);
	progress_sample(&v, &p);
	progress_policy(&v, &with_value);
	progress_policy(&v, &without);
	progress_phase(&v, QM_PHASE_DONE, 2.);
	progress_result(&v, &done);
	progress_result(&v, &failed);
}

Test(json_lines, every_emitted_member_is_documented_and_every_documented_one_emitted)
{
	struct names doc = { 0 }, emitted = { 0 };
	FILE *f = tmpfile();
	int saved = dup(STDOUT_FILENO);
	size_t n_lines = 0;

	cr_assert(f && saved >= 0);
	fflush(stdout);
	cr_assert_geq(dup2(fileno(f), STDOUT_FILENO), 0);
	emit_everything();
	fflush(stdout);
	cr_assert_geq(dup2(saved, STDOUT_FILENO), 0);
	close(saved);
	read_lines(f, &emitted, &n_lines);
	fclose(f);
	cr_assert_eq(n_lines, 7, "the emitters wrote %zu lines", n_lines);
	read_document(&doc);

	for (size_t e = 0; e < emitted.n_events; e++)
		for (size_t i = 0; i < emitted.n[e]; i++)
			cr_expect(has_name(&doc, emitted.event[e], emitted.name[e][i]),
				  "`%s` of event %s is emitted but not in "
				  "docs/json-lines.md",
				  emitted.name[e][i], emitted.event[e]);
	for (size_t e = 0; e < doc.n_events; e++)
		for (size_t i = 0; i < doc.n[e]; i++)
			cr_expect(has_name(&emitted, doc.event[e], doc.name[e][i]),
				  "docs/json-lines.md lists `%s` of event %s, which is "
				  "never "
				  "emitted",
				  doc.name[e][i], doc.event[e]);
	free_names(&doc);
	free_names(&emitted);
}
