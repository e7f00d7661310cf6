/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The machine: its type, accelerator, CPU, memory and vCPUs.  The typed
 * values come from QEMU's answers (a "pc" on the command line is the
 * versioned type it resolved to); what the elements cannot say, such as a
 * CPU topology or machine properties, is kept verbatim next to them: QEMU
 * merges a second -machine, -m or -smp into the first.
 */
#include <ctype.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "xml/describe-internal.h"

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Machine properties the guest sees, kept as they are. */
/* clang-format off */
static const char *const machine_kept[] = {
	"usb", "vmport", "smm", "hpet", "graphics", "i8042", "pic", "pit", "sata",
	"smbus", "max-ram-below-4g", "max-fw-size", "smbios-entry-point-type",
	"suppress-vmdesc", "dump-guest-core", "mem-merge", "bus-lock-ratelimit",
	"default-bus-bypass-iommu", "x-oem-id", "x-oem-table-id", "memory-backend",
	"kernel-irqchip", "phandle-start", "dt-compatible", "append", NULL,
};
/* clang-format on */
/* Files the guest boots from: a path every host must have, like a disk's. */
static const char *const machine_files[] = { "kernel", "initrd", "dtb", "firmware",
					     NULL };
/* Typed: the type and accelerator from QEMU's answers, ACPI as <features>. */
static const char *const machine_typed[] = { "type", "accel", "acpi", NULL };

void qm_ds_machine(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;
	bool extra = false;

	if (!qm_ds_parse(ds, e, "type", &kv))
		return;
	for (size_t i = 0; i < kv.n && ds->r == 0; i++) {
		const struct qm_kv *p = &kv.v[i];

		if (qm_kv_listed(machine_typed, p->key))
			continue;
		extra = true;
		if (qm_kv_listed(machine_files, p->key))
			qm_ds_absolute(ds, "machine", p->key, p->value);
		else if (!qm_kv_listed(machine_kept, p->key))
			qm_ds_refuse(ds,
				     "-%s %s=: qmigrate does not know whether it names a "
				     "host resource",
				     e->o->name, p->key);
	}
	if (ds->r == 0 && extra) {
		char *rest = qm_kv_join(&kv, machine_typed, NULL);

		if (!rest)
			qm_ds_nomem(ds);
		else
			qm_ds_keep(ds, "machine", rest);
		free(rest);
	}
	qm_kv_free(&kv);
}

/* -accel kvm -accel tcg: a list to try; QEMU says which one runs (query-kvm). */
void qm_ds_accel(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;
	const struct qm_kv *p;

	if (!e->value || !qm_ds_parse(ds, e, "accel", &kv))
		return;
	p = qm_kv_unknown(&kv, LIST("accel"));
	if (p)
		qm_ds_refuse(ds,
			     "-accel %s=: qmigrate types the accelerator only, not its "
			     "properties",
			     p->key);
	qm_kv_free(&kv);
}

/* A model name the description can hold: a token, as <cpu><model> takes. */
static bool is_token(const char *s)
{
	if (!*s)
		return false;
	for (; *s; s++)
		if (!isalnum((unsigned char)*s) && !strchr("._-", *s))
			return false;
	return true;
}

void qm_ds_cpu(struct qm_describe *ds, struct qm_dentry *e)
{
	ds->has_cpu = true;
	/* Features (+x,-y,x=on) are not typed: the model and them stay as they are. */
	if (!is_token(e->value)) {
		ds->cpu_mode = QM_DOMAIN_CPU_NONE;
		free(ds->cpu_model);
		ds->cpu_model = NULL;
		qm_ds_keep(ds, e->o->name, e->value);
		return;
	}
	free(ds->cpu_model);
	ds->cpu_model = NULL;
	if (strcmp(e->value, "host") == 0) {
		ds->cpu_mode = QM_DOMAIN_CPU_HOST_PASSTHROUGH;
	} else if (strcmp(e->value, "max") == 0) {
		ds->cpu_mode = QM_DOMAIN_CPU_MAXIMUM;
	} else {
		ds->cpu_mode = QM_DOMAIN_CPU_CUSTOM;
		ds->cpu_model = strdup(e->value);
		if (!ds->cpu_model)
			qm_ds_nomem(ds);
	}
}

/* -m SIZE is typed (query-memory-size-summary); slots and maxmem stay as they are. */
void qm_ds_memory(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;
	const struct qm_kv *p;

	if (!qm_ds_parse(ds, e, "size", &kv))
		return;
	p = qm_kv_unknown(&kv, LIST("size", "slots", "maxmem"));
	if (p)
		qm_ds_refuse(ds, "-m %s=: not a memory option qmigrate knows", p->key);
	else if (qm_kv_unknown(&kv, LIST("size")))
		qm_ds_keep(ds, "m", e->value);
	qm_kv_free(&kv);
}

static bool parse_count(const char *s, unsigned *out)
{
	unsigned long v = 0;

	if (!*s)
		return false;
	for (; *s; s++) {
		if (*s < '0' || *s > '9')
			return false;
		v = v * 10 + (unsigned long)(*s - '0');
		if (v > QM_DOMAIN_MAX_VCPUS)
			return false;
	}
	*out = (unsigned)v;
	return true;
}

static void smp_kv(struct qm_describe *ds, struct qm_dentry *e,
		   const struct qm_kvlist *kv)
{
	static const char *const counts[] = { "cpus", "maxcpus", NULL };
	/* clang-format off */
	static const char *const topology[] = {
		"cpus", "maxcpus", "sockets", "dies", "clusters", "cores", "threads",
		"books", "drawers", NULL,
	};
	/* clang-format on */
	const struct qm_kv *p = qm_kv_unknown(kv, topology);
	const char *cpus = qm_kv_get(kv, "cpus"), *max = qm_kv_get(kv, "maxcpus");

	if (p) {
		qm_ds_refuse(ds, "-smp %s=: not a CPU option qmigrate knows", p->key);
		return;
	}
	if ((cpus && !parse_count(cpus, &ds->smp_cpus)) ||
	    (max && !parse_count(max, &ds->smp_max))) {
		qm_ds_fail(ds, -EINVAL, "DescribeInvalid",
			   "-smp cpus= or maxcpus= is not a count of 1 to %d",
			   QM_DOMAIN_MAX_VCPUS);
		return;
	}
	if (qm_kv_unknown(kv, counts)) {
		ds->smp_topology = true;
		qm_ds_keep(ds, "smp", e->value);
	}
}

/*
 * -smp N[,maxcpus=M]: typed; a topology (sockets, cores, ...) stays as it
 * is beside it.  The counts are checked against QEMU's later.
 */
void qm_ds_smp(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;

	if (!qm_ds_parse(ds, e, "cpus", &kv))
		return;
	smp_kv(ds, e, &kv);
	qm_kv_free(&kv);
}

void qm_ds_nodefaults(struct qm_describe *ds, struct qm_dentry *e)
{
	ds->nodefaults = true;
}
