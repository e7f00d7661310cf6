/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's facts against its command line.  What changed at run time (a CPU,
 * a DIMM, a device, a chardev plugged in, a medium changed) is what the
 * guest sees and the command line does not show: refused, not guessed.
 */
#include <errno.h>
#include <string.h>

#include "xml/describe-internal.h"

#define TAIL "; describe the VM with --domain FILE"

/* The first of @want that @have lacks, or NULL. */
static const char *missing(const char *const *want, size_t n, const char *const *have,
			   size_t m)
{
	for (size_t i = 0; i < n; i++) {
		bool found = false;

		for (size_t j = 0; j < m && !found; j++)
			found = have[j] && strcmp(have[j], want[i]) == 0;
		if (!found)
			return want[i];
	}
	return NULL;
}

/* The lists the command line makes, as missing() takes them. */
static const char *const *c(char **list)
{
	return (const char *const *)list;
}

static void check_cpus(struct qm_describe *ds)
{
	const struct qm_describe_facts *f = ds->f;
	unsigned started = ds->smp_cpus ? ds->smp_cpus : 1;

	/* Machine none makes no CPU unless -cpu asks for one. */
	if (f->vcpus == 0 && strcmp(f->machine, "none") == 0 && !ds->has_cpu)
		return;
	/* -smp with a topology and no count: QEMU counted the CPUs itself. */
	if (ds->smp_cpus == 0 && ds->smp_topology)
		started = f->vcpus;
	if (f->vcpus != started)
		qm_ds_fail(
			ds, -EINVAL, "DescribeFacts",
			"QEMU runs %u vCPUs, its command line started %u: CPUs were "
			"plugged or unplugged at run time, which the command line does "
			"not show" TAIL,
			f->vcpus, started);
	else if (ds->smp_max && ds->smp_max < started)
		qm_ds_fail(ds, -EINVAL, "DescribeInvalid", "-smp maxcpus=%u is below %u",
			   ds->smp_max, started);
}

static void check_memory(struct qm_describe *ds)
{
	const struct qm_describe_facts *f = ds->f;

	if (f->plugged_memory && !ds->has_memory_devices)
		qm_ds_fail(
			ds, -EINVAL, "DescribeFacts",
			"QEMU has %llu bytes of plugged memory and no memory device on "
			"its command line: memory was plugged at run time" TAIL,
			(unsigned long long)f->plugged_memory);
	else if (f->memory == 0 && strcmp(f->machine, "none") != 0)
		qm_ds_fail(ds, -EINVAL, "DescribeInvalid",
			   "QEMU says machine %s has no memory", f->machine);
}

static void check_devices(struct qm_describe *ds)
{
	const struct qm_describe_facts *f = ds->f;
	const char *added =
		missing(f->peripherals, f->n_peripherals, c(ds->ids), ds->n_ids);
	const char *gone =
		missing(c(ds->ids), ds->n_ids, f->peripherals, f->n_peripherals);

	if (added)
		qm_ds_fail(
			ds, -EINVAL, "DescribeFacts",
			"device '%.64s' is not on QEMU's command line: it was added at "
			"run time (device_add)" TAIL,
			added);
	else if (gone)
		qm_ds_fail(ds, -EINVAL, "DescribeFacts",
			   "device '%.64s' of QEMU's command line is gone: it was "
			   "removed at "
			   "run time (device_del)" TAIL,
			   gone);
	else if (f->n_anonymous != ds->n_anonymous)
		qm_ds_fail(ds, -EINVAL, "DescribeFacts",
			   "QEMU has %zu devices without an id, its command line %zu: "
			   "devices were added or removed at run time" TAIL,
			   f->n_anonymous, ds->n_anonymous);
}

static void check_chardevs(struct qm_describe *ds)
{
	const struct qm_describe_facts *f = ds->f;
	const char *added =
		missing(f->chardevs, f->n_chardevs, c(ds->chardevs), ds->n_chardevs);

	if (added)
		qm_ds_fail(ds, -EINVAL, "DescribeFacts",
			   "chardev '%.64s' is not on QEMU's command line: it was added "
			   "at run time (chardev-add)" TAIL,
			   added);
}

/* A medium is on the command line when one file of its chain is. */
static void check_media(struct qm_describe *ds)
{
	const struct qm_describe_facts *f = ds->f;

	for (size_t i = 0; i < f->n_media && ds->r == 0; i++) {
		const struct qm_describe_medium *m = &f->media[i];
		bool found = false;

		for (size_t j = 0; j < m->n_files && !found; j++)
			found = !missing(&m->files[j], 1, c(ds->paths), ds->n_paths);
		if (!found)
			qm_ds_fail(
				ds, -EINVAL, "DescribeFacts",
				"block device '%.64s' holds %.200s, which QEMU's command "
				"line does not name: a medium was changed or a disk "
				"added "
				"at run time" TAIL,
				m->device ? m->device : "",
				m->n_files ? m->files[m->n_files - 1] : "a medium");
	}
}

void qm_ds_check_facts(struct qm_describe *ds)
{
	check_cpus(ds);
	if (ds->r == 0)
		check_memory(ds);
	if (ds->r == 0)
		check_devices(ds);
	if (ds->r == 0)
		check_chardevs(ds);
	if (ds->r == 0)
		check_media(ds);
}
