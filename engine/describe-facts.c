/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * QEMU's replies as the facts a description is built from.  The replies
 * come by command name (engine/describe.c asks; the unit tests read them
 * from tests/data/domain/describe/NAME.facts): "query-name", "query-uuid",
 * "query-target", "query-kvm", "query-cpus-fast",
 * "query-memory-size-summary", "query-block", "query-vnc", "query-spice",
 * "query-chardev", "query-machines", "machine-type" and "machine-acpi"
 * (qom-get of /machine), "peripheral" and "peripheral-anon" (qom-list), and
 * "pid" and "emulator" from /proc.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/describe.h"
#include "util/error.h"

#define MAX_ITEMS 4096 /* of any list: a bound on what is allocated */
#define MACHINE_SUFFIX "-machine"

static int invalid(struct qm_error *err, const char *what)
{
	return qm_error_set(err, -EINVAL, "DescribeInvalid", "QEMU's facts: %s", what);
}

static const char *str(json_t *o, const char *key)
{
	return json_string_value(json_object_get(o, key));
}

/* "pc-i440fx-7.2-machine" is the type of machine "pc-i440fx-7.2", one QEMU must list. */
static int machine(json_t *r, struct qm_describe_facts *f, struct qm_error *err)
{
	const char *type = json_string_value(json_object_get(r, "machine-type"));
	size_t n = type ? strlen(type) : 0, s = strlen(MACHINE_SUFFIX);
	json_t *machines = json_object_get(r, "query-machines"), *m;
	char *name;
	size_t i;

	if (n <= s || strcmp(type + n - s, MACHINE_SUFFIX) != 0)
		return invalid(err, "machine-type is not a machine's QOM type");
	name = strndup(type, n - s);
	if (!name)
		return qm_error_set(err, -ENOMEM, "DescribeInvalid", "out of memory");
	f->machine = name;
	json_array_foreach(machines, i, m)
		if (json_is_string(json_object_get(m, "name")) &&
		    strcmp(str(m, "name"), name) == 0)
			return 0;
	return qm_error_set(
		err, -EINVAL, "DescribeInvalid",
		"QEMU runs machine type '%.64s', which query-machines does not list",
		name);
}

static void display(json_t *o, struct qm_describe_display *d, const char *port_key)
{
	json_t *port = json_object_get(o, port_key),
	       *tls = json_object_get(o, "tls-port");
	const char *auth = str(o, "auth");

	d->port = d->tls_port = -1;
	d->enabled = json_is_true(json_object_get(o, "enabled"));
	if (!d->enabled)
		return;
	d->host = str(o, "host");
	if (json_is_integer(port))
		d->port = (int)json_integer_value(port);
	else if (json_is_string(
			 port)) /* query-vnc gives its port as a "service" string */
		d->port = atoi(json_string_value(port));
	if (json_is_integer(tls))
		d->tls_port = (int)json_integer_value(tls);
	d->password = auth && strcmp(auth, "none") != 0;
}

/* Every name of a block device's chain, from its image down to the last backing file. */
static int medium(json_t *dev, struct qm_describe_medium *m)
{
	json_t *inserted = json_object_get(dev, "inserted"), *img;
	const char *device = str(dev, "device");
	size_t depth = 0;

	m->device = device && *device ? device : str(dev, "qdev");
	for (img = json_object_get(inserted, "image"); img && depth < MAX_ITEMS;
	     img = json_object_get(img, "backing-image"))
		depth++;
	m->files = calloc(depth + 2, sizeof(*m->files));
	if (!m->files)
		return -ENOMEM;
	if (str(inserted, "file"))
		m->files[m->n_files++] = str(inserted, "file");
	if (str(inserted, "backing_file"))
		m->files[m->n_files++] = str(inserted, "backing_file");
	img = json_object_get(inserted, "image");
	for (size_t i = 0; i < depth; i++, img = json_object_get(img, "backing-image"))
		if (str(img, "filename"))
			m->files[m->n_files++] = str(img, "filename");
	return 0;
}

static int media(json_t *r, struct qm_describe_facts *f, struct qm_error *err)
{
	json_t *block = json_object_get(r, "query-block"), *dev;
	struct qm_describe_medium *m;
	size_t i;

	if (!json_is_array(block) || json_array_size(block) > MAX_ITEMS)
		return invalid(err, "query-block is not a list");
	m = calloc(json_array_size(block) + 1, sizeof(*m));
	if (!m)
		return qm_error_set(err, -ENOMEM, "DescribeInvalid", "out of memory");
	f->media = m;
	json_array_foreach(block, i, dev) {
		if (!json_object_get(dev, "inserted"))
			continue;
		if (medium(dev, &m[f->n_media++]) < 0)
			return qm_error_set(err, -ENOMEM, "DescribeInvalid",
					    "out of memory");
	}
	return 0;
}

/* The "key" of every element of the list @name, or of its children (qom-list). */
static int names(json_t *r, const char *name, const char *key, bool children,
		 const char ***out, size_t *n, struct qm_error *err)
{
	json_t *list = json_object_get(r, name), *e;
	size_t i;

	*n = 0;
	if (!json_is_array(list) || json_array_size(list) > MAX_ITEMS)
		return qm_error_set(err, -EINVAL, "DescribeInvalid",
				    "QEMU's facts: %s is not a list", name);
	*out = calloc(json_array_size(list) + 1, sizeof(**out));
	if (!*out)
		return qm_error_set(err, -ENOMEM, "DescribeInvalid", "out of memory");
	json_array_foreach(list, i, e) {
		const char *type = str(e, "type");

		if (children && (!type || strncmp(type, "child<", 6) != 0))
			continue;
		if (str(e, key))
			(*out)[(*n)++] = str(e, key);
	}
	return 0;
}

static int numbers(json_t *r, struct qm_describe_facts *f, struct qm_error *err)
{
	json_t *pid = json_object_get(r, "pid"),
	       *mem = json_object_get(r, "query-memory-size-summary");
	json_t *base = json_object_get(mem, "base-memory"),
	       *cpus = json_object_get(r, "query-cpus-fast");
	json_t *kvm = json_object_get(json_object_get(r, "query-kvm"), "enabled");
	const char *acpi = json_string_value(json_object_get(r, "machine-acpi"));

	if (!json_is_integer(pid) || !json_is_integer(base) ||
	    json_integer_value(base) < 0 || !json_is_array(cpus) || !json_is_boolean(kvm))
		return invalid(
			err, "pid, base-memory, query-cpus-fast or query-kvm is missing");
	f->pid = (pid_t)json_integer_value(pid);
	f->memory = (uint64_t)json_integer_value(base);
	if (json_integer_value(json_object_get(mem, "plugged-memory")) > 0)
		f->plugged_memory = (uint64_t)json_integer_value(
			json_object_get(mem, "plugged-memory"));
	f->vcpus = (unsigned)json_array_size(cpus);
	f->kvm = json_is_true(kvm);
	f->acpi = !acpi ? -1 : strcmp(acpi, "off") != 0;
	return 0;
}

int qm_describe_facts_read(json_t *r, struct qm_describe_facts *f, struct qm_error *err)
{
	const char **anonymous = NULL;
	int ret;

	memset(f, 0, sizeof(*f));
	f->acpi = -1;
	f->vnc.port = f->spice.port = f->vnc.tls_port = f->spice.tls_port = -1;
	if (!json_is_object(r))
		return invalid(err, "not a JSON object");
	f->emulator = str(r, "emulator");
	f->name = str(json_object_get(r, "query-name"), "name");
	f->uuid = str(json_object_get(r, "query-uuid"), "UUID");
	f->arch = str(json_object_get(r, "query-target"), "arch");
	if (!f->emulator || !f->uuid || !f->arch)
		return invalid(err, "emulator, query-uuid or query-target is missing");
	display(json_object_get(r, "query-vnc"), &f->vnc, "service");
	display(json_object_get(r, "query-spice"), &f->spice, "port");
	ret = numbers(r, f, err);
	if (ret == 0)
		ret = machine(r, f, err);
	if (ret == 0)
		ret = media(r, f, err);
	if (ret == 0)
		ret = names(r, "query-chardev", "label", false, &f->chardevs,
			    &f->n_chardevs, err);
	if (ret == 0)
		ret = names(r, "peripheral", "name", true, &f->peripherals,
			    &f->n_peripherals, err);
	if (ret == 0)
		ret = names(r, "peripheral-anon", "name", true, &anonymous,
			    &f->n_anonymous, err);
	free(anonymous);
	return ret;
}

void qm_describe_facts_release(struct qm_describe_facts *f)
{
	/* Allocated by qm_describe_facts_read, const for the describer only. */
	free((char *)f->machine);
	for (size_t i = 0; f->media && i < f->n_media; i++)
		free(f->media[i].files);
	free((void *)f->media);
	free(f->chardevs);
	free(f->peripherals);
	memset(f, 0, sizeof(*f));
}
