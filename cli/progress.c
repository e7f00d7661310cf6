/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* What the user sees of a migration: the bar, the JSON lines, the summary. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "cli/progress.h"

#define MIB (1024.0 * 1024.0)
#define BAR_WIDTH 24

static void emit_json(json_t *obj)
{
	char *text = obj ? json_dumps(obj, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;

	if (text) {
		puts(text);
		fflush(stdout);
	}
	free(text);
	json_decref(obj);
}

static void clear_bar(struct progress_view *v)
{
	if (v->bar_drawn) {
		fputs("\r\033[K", stderr);
		v->bar_drawn = false;
	}
}

void progress_phase(struct progress_view *v, enum qm_phase phase, double elapsed)
{
	if (v->json)
		emit_json(json_pack("{s:s, s:s, s:I}", "event", "phase", "phase",
				    qm_phase_name(phase), "elapsed_ms",
				    (json_int_t)(elapsed * 1000)));
}

void progress_policy(struct progress_view *v, const struct qm_policy_decision *d)
{
	json_t *obj;

	if (!v->json) {
		/* A line of its own; the next sample draws the bar again below it. */
		clear_bar(v);
		if (strcmp(d->action, "advise") == 0)
			fprintf(stderr, "advice: %s\n", d->reason);
		else
			fprintf(stderr, "%s: %s (%s)\n", d->policy, d->action, d->reason);
		return;
	}
	obj = json_pack("{s:s, s:s, s:s, s:s}", "event", "policy", "policy", d->policy, "action",
			d->action, "reason", d->reason);
	if (obj && d->value >= 0)
		json_object_set_new(obj, "value", json_integer(d->value));
	emit_json(obj);
}

static void format_eta(char *buf, size_t len, const struct qm_progress *p)
{
	/* QEMU's mbps is 10^6 bits/s; remaining is bytes. */
	double bytes_per_s = p->mbps * 1e6 / 8;
	long s;

	if (bytes_per_s <= 0) {
		snprintf(buf, len, "--:--");
		return;
	}
	s = (long)(p->remaining_bytes / bytes_per_s + 0.5);
	snprintf(buf, len, "%ld:%02ld", s / 60, s % 60);
}

void progress_sample(struct progress_view *v, const struct qm_progress *p)
{
	char bar[BAR_WIDTH + 1], eta[32], downtime[32], tunnel[48] = "", disks[96] = "";
	int filled = (int)(p->percent / 100 * BAR_WIDTH);

	if (v->json) {
		emit_json(json_pack("{s:s, s:s, s:I, s:f, s:I, s:I, s:I, s:f, s:I, s:I, s:I,"
				    " s:I, s:I, s:I, s:f}",
				    "event", "progress", "status", p->status, "elapsed_ms",
				    (json_int_t)(p->elapsed * 1000), "percent", p->percent,
				    "transferred_bytes", (json_int_t)p->transferred_bytes,
				    "remaining_bytes", (json_int_t)p->remaining_bytes,
				    "total_bytes", (json_int_t)p->total_bytes, "mbps", p->mbps,
				    "passes", (json_int_t)p->passes, "expected_downtime_ms",
				    (json_int_t)p->expected_downtime_ms, "tunnel_bytes",
				    (json_int_t)p->tunnel_bytes, "storage_transferred_bytes",
				    (json_int_t)p->storage_transferred, "storage_remaining_bytes",
				    (json_int_t)p->storage_remaining, "storage_total_bytes",
				    (json_int_t)p->storage_total, "storage_mbps", p->storage_mbps));
		return;
	}
	if (!v->bar)
		return;
	for (int i = 0; i < BAR_WIDTH; i++)
		bar[i] = i < filled ? '#' : '.';
	bar[BAR_WIDTH] = '\0';
	format_eta(eta, sizeof(eta), p);
	if (p->expected_downtime_ms >= 0)
		snprintf(downtime, sizeof(downtime), "%lld ms", p->expected_downtime_ms);
	else
		snprintf(downtime, sizeof(downtime), "?");
	if (p->tunnel_bytes)
		snprintf(tunnel, sizeof(tunnel), "  tunnel %.1f MiB", p->tunnel_bytes / MIB);
	if (p->storage_total)
		snprintf(disks, sizeof(disks), "  disks %.1f/%.1f MiB %.1f MiB/s",
			 p->storage_transferred / MIB, p->storage_total / MIB,
			 p->storage_mbps * 1e6 / 8 / MIB);
	fprintf(stderr,
		"\r\033[K[%s] %5.1f%%  %7.1f MiB/s  pass %llu  remaining %.1f MiB  downtime ~%s  ETA %s%s%s",
		bar, p->percent, p->mbps * 1e6 / 8 / MIB, p->passes, p->remaining_bytes / MIB,
		downtime, eta, tunnel, disks);
	fflush(stderr);
	v->bar_drawn = true;
}

static const char *vm_sentence(const struct qm_result *r)
{
	if (!r->changed)
		return "nothing was changed: the VM and both QEMUs are as they were";
	switch (r->vm) {
	case QM_VM_DESTINATION:
		return "the VM is on the destination";
	case QM_VM_SOURCE:
		return "the VM runs on the source";
	case QM_VM_SOURCE_PAUSED:
		return r->was_running
			       ? "the VM is PAUSED on the source, its state intact: resume it with 'qmigrate qmp SRC-QMP cont'"
			       : "the VM is paused on the source, as it was before";
	case QM_VM_UNKNOWN:
		break;
	}
	return "the VM's state is UNCERTAIN: check both QEMUs (qmigrate qmp SOCKET query-status) before doing anything else";
}

static void result_json(const struct qm_result *r)
{
	json_t *phases = json_object(), *obj;

	for (int i = 0; i < QM_PHASE_DONE; i++) {
		char key[32];

		snprintf(key, sizeof(key), "%s_ms", qm_phase_name(i));
		json_object_set_new(phases, key,
				    r->phase_ms[i] >= 0 ? json_integer(r->phase_ms[i])
							: json_null());
	}
	obj = json_pack("{s:s, s:s, s:s, s:b, s:I, s:I, s:I, s:I, s:I, s:f, s:I, s:o}",
			"event", "result", "status", qm_job_status_name(r->status), "vm",
			qm_vm_location_name(r->vm), "changed", (int)r->changed,
			"wall_ms", (json_int_t)r->wall_ms,
			"total_ms", (json_int_t)r->total_ms,
			"downtime_ms", (json_int_t)r->downtime_ms,
			"setup_ms", (json_int_t)r->setup_ms,
			"transferred_bytes", (json_int_t)r->transferred_bytes,
			"throughput_mbps", r->throughput_mbps, "passes", (json_int_t)r->passes,
			"phases", phases);
	/* A destination qmigrate launched and left running: the harness's from now on. */
	if (obj && r->dst_qmp[0])
		json_object_set_new(obj, "dst_qmp", json_string(r->dst_qmp));
	if (obj && r->storage_disks) {
		json_object_set_new(obj, "storage_disks", json_integer(r->storage_disks));
		json_object_set_new(obj, "storage_bytes", json_integer((json_int_t)r->storage_bytes));
	}
	if (obj && r->dst_pid > 0) {
		json_object_set_new(obj, "dst_pid", json_integer(r->dst_pid));
	}
	if (obj && r->status != QM_JOB_COMPLETED)
		json_object_set_new(obj, "error",
				    json_pack("{s:s, s:s}", "class", r->error.error_class,
					      "message", r->error.text));
	emit_json(obj);
}

void progress_result(struct progress_view *v, const struct qm_result *r)
{
	clear_bar(v);
	if (v->json) {
		result_json(r);
		return;
	}
	if (r->status == QM_JOB_COMPLETED)
		fprintf(stderr, "migration completed: %s\n", vm_sentence(r));
	else
		fprintf(stderr, "migration %s: %s\n  %s\n", qm_job_status_name(r->status),
			r->error.text, vm_sentence(r));
	if (r->total_ms >= 0)
		fprintf(stderr,
			"  QEMU total %lld ms, downtime %lld ms, setup %lld ms; engine wall %lld ms\n"
			"  transferred %.1f MiB in %llu passes, %.1f Mb/s\n",
			r->total_ms, r->downtime_ms, r->setup_ms, r->wall_ms,
			r->transferred_bytes / MIB, r->passes, r->throughput_mbps);
	if (r->storage_disks)
		fprintf(stderr, "  disks: %u copied, %.1f MiB mirrored\n", r->storage_disks,
			r->storage_bytes / MIB);
	if (r->dst_pid > 0)
		fprintf(stderr, "  the destination QEMU runs as pid %ld, QMP socket %s\n", r->dst_pid,
			r->dst_qmp);
	fputs("  phases:", stderr);
	for (int i = 0; i < QM_PHASE_DONE; i++)
		if (r->phase_ms[i] >= 0)
			fprintf(stderr, " %s %lld ms", qm_phase_name(i), r->phase_ms[i]);
	fputc('\n', stderr);
}

int progress_exit_code(const struct qm_result *r)
{
	if (r->status == QM_JOB_COMPLETED)
		return EXIT_OK;
	/* It failed before it changed anything: there is nothing to check. */
	if (!r->changed)
		return EXIT_FAILED;
	if (r->vm == QM_VM_SOURCE || (r->vm == QM_VM_SOURCE_PAUSED && !r->was_running))
		return EXIT_FAILED;
	return EXIT_UNCERTAIN;
}
