/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A running QEMU as a description: reads its command line option by option
 * against the table (describe-table.c), checks QEMU's facts against it
 * (describe-check.c) and writes the description (describe-xml.c).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "xml/describe-internal.h"

#define TAIL "; describe the VM with --domain FILE"

static void vfail(struct qm_describe *ds, int code, const char *cls, const char *tail,
		  const char *fmt, va_list ap) _printf_(5, 0);

static void vfail(struct qm_describe *ds, int code, const char *cls, const char *tail,
		  const char *fmt, va_list ap)
{
	char text[sizeof(ds->err->text)];

	if (ds->r < 0)
		return;
	vsnprintf(text, sizeof(text), fmt, ap);
	ds->r = qm_error_set(ds->err, code, cls, "%s%s", text, tail);
}

void qm_ds_fail(struct qm_describe *ds, int code, const char *cls, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(ds, code, cls, "", fmt, ap);
	va_end(ap);
}

void qm_ds_refuse(struct qm_describe *ds, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vfail(ds, -EOPNOTSUPP, "DescribeRefused", TAIL, fmt, ap);
	va_end(ap);
}

void qm_ds_nomem(struct qm_describe *ds)
{
	qm_ds_fail(ds, -ENOMEM, "Describe", "out of memory");
}

bool qm_ds_push(struct qm_describe *ds, char ***v, size_t *n, size_t max, const char *s)
{
	char **grown;

	if (ds->r < 0)
		return false;
	if (*n >= max) {
		qm_ds_fail(ds, -E2BIG, "DescribeRefused",
			   "the command line has more than %zu of something qmigrate "
			   "counts" TAIL,
			   max);
		return false;
	}
	grown = realloc(*v, (*n + 2) * sizeof(**v));
	if (!grown) {
		qm_ds_nomem(ds);
		return false;
	}
	*v = grown;
	(*v)[*n] = strdup(s);
	if (!(*v)[*n]) {
		qm_ds_nomem(ds);
		return false;
	}
	(*v)[++*n] = NULL;
	return true;
}

void qm_ds_keep(struct qm_describe *ds, const char *name, const char *value)
{
	char opt[64];

	if (ds->n_pass + 2 > QM_DOMAIN_MAX_QEMU_ARGS) {
		qm_ds_refuse(ds,
			     "more than %d arguments would stay verbatim, more than a "
			     "description's <qemu:commandline> holds",
			     QM_DOMAIN_MAX_QEMU_ARGS);
		return;
	}
	snprintf(opt, sizeof(opt), "-%s", name);
	if (qm_ds_push(ds, &ds->pass, &ds->n_pass, QM_DOMAIN_MAX_QEMU_ARGS, opt) && value)
		qm_ds_push(ds, &ds->pass, &ds->n_pass, QM_DOMAIN_MAX_QEMU_ARGS, value);
}

bool qm_ds_parse(struct qm_describe *ds, const struct qm_dentry *e, const char *implied,
		 struct qm_kvlist *kv)
{
	int r;

	*kv = (struct qm_kvlist){ 0 };
	if (ds->r < 0)
		return false;
	r = qm_kv_parse(e->value, implied, kv);
	if (r == -ENOMEM)
		qm_ds_nomem(ds);
	else if (r < 0)
		qm_ds_fail(ds, r, "DescribeInvalid", "-%s: an empty option name",
			   e->o->name);
	return r == 0;
}

bool qm_ds_absolute(struct qm_describe *ds, const char *opt, const char *what,
		    const char *path)
{
	if (path[0] == '/')
		return true;
	qm_ds_refuse(
		ds,
		"-%s %s: '%.64s' is relative to the source QEMU's working directory, "
		"which another QEMU does not share: give an absolute path",
		opt, what, path);
	return false;
}

bool qm_ds_path(struct qm_describe *ds, const char *path)
{
	return qm_ds_push(ds, &ds->paths, &ds->n_paths, QM_DESCRIBE_MAX_ARGS, path);
}

struct qm_dentry *qm_ds_chardev(struct qm_describe *ds, const char *id)
{
	for (size_t i = 0; i < ds->n_e; i++)
		if (ds->e[i].id && strcmp(ds->e[i].id, id) == 0)
			return &ds->e[i];
	return NULL;
}

static bool serial_fits(struct qm_describe *ds, const struct qm_dserial *s)
{
	for (size_t i = 0; i < ds->n_serials; i++) {
		if (ds->serials[i].index == s->index) {
			qm_ds_fail(ds, -EINVAL, "DescribeInvalid",
				   "two serial ports on ISA port %u", s->index);
			return false;
		}
	}
	if (s->index > 3 || ds->n_serials >= QM_DOMAIN_MAX_SERIALS) {
		qm_ds_fail(ds, -EINVAL, "DescribeInvalid",
			   "ISA serial port %u: the PC has four, 0 to 3", s->index);
		return false;
	}
	return true;
}

bool qm_ds_serial(struct qm_describe *ds, struct qm_dserial *s)
{
	if (serial_fits(ds, s)) {
		ds->serials[ds->n_serials++] = *s;
		return true;
	}
	free(s->path);
	free(s->host);
	free(s->service);
	return false;
}

/* The table's entry for one argument; "--opt" is "-opt", a bare word an -hda. */
static const struct qm_dopt *option(struct qm_describe *ds, const char *arg)
{
	const char *name = arg + 1;
	const struct qm_dopt *o;

	if (arg[0] != '-')
		return qm_dopt_find("hda");
	if (name[0] == '-')
		name++;
	o = qm_dopt_find(name);
	if (!o)
		qm_ds_fail(ds, -EOPNOTSUPP, "DescribeUnknown",
			   "qmigrate does not know whether -%.64s names a host "
			   "resource" TAIL,
			   name);
	return o;
}

static void read_entries(struct qm_describe *ds, char *const *argv)
{
	size_t argc = 0;

	while (argv[argc])
		argc++;
	if (argc == 0 || argc > QM_DESCRIBE_MAX_ARGS) {
		qm_ds_fail(ds, -E2BIG, "DescribeInvalid",
			   "the command line has %zu arguments: not 1 to %d", argc,
			   QM_DESCRIBE_MAX_ARGS);
		return;
	}
	ds->e = calloc(argc, sizeof(*ds->e));
	if (!ds->e) {
		qm_ds_nomem(ds);
		return;
	}
	for (size_t i = 1; i < argc && ds->r == 0; i++) {
		struct qm_dentry *e = &ds->e[ds->n_e];

		e->o = option(ds, argv[i]);
		if (!e->o)
			return;
		if (argv[i][0] != '-')
			e->value = argv[i];
		else if (e->o->arg && i + 1 < argc)
			e->value = argv[++i];
		else if (e->o->arg)
			qm_ds_fail(ds, -EINVAL, "DescribeInvalid",
				   "%.64s lacks its argument", argv[i]);
		ds->n_e++;
	}
}

/* Every -chardev's id, before anything looks one up. */
static void chardev_ids(struct qm_describe *ds)
{
	for (size_t i = 0; i < ds->n_e && ds->r == 0; i++) {
		struct qm_dentry *e = &ds->e[i];
		struct qm_kvlist kv;
		const char *id;

		if (strcmp(e->o->name, "chardev") != 0 ||
		    !qm_ds_parse(ds, e, "backend", &kv))
			continue;
		id = qm_kv_get(&kv, "id");
		if (id && !(e->id = strdup(id)))
			qm_ds_nomem(ds);
		qm_kv_free(&kv);
	}
}

static void decide(struct qm_describe *ds, struct qm_dentry *e)
{
	if (e->o->fn) {
		e->o->fn(ds, e);
		return;
	}
	switch (e->o->cls) {
	case QM_DOPT_KEPT:
		qm_ds_keep(ds, e->o->name, e->value);
		return;
	case QM_DOPT_REFUSED:
		qm_ds_refuse(ds,
			     "-%s names a host resource (%s), which qmigrate cannot "
			     "choose for another QEMU",
			     e->o->name, e->o->why);
		return;
	default: /* typed from the facts, or dropped */
		return;
	}
}

static void free_list(char **v, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(v[i]);
	free(v);
}

static void release(struct qm_describe *ds)
{
	for (size_t i = 0; i < ds->n_e; i++)
		free(ds->e[i].id);
	free(ds->e);
	for (size_t i = 0; i < ds->n_serials; i++) {
		free(ds->serials[i].path);
		free(ds->serials[i].host);
		free(ds->serials[i].service);
	}
	free(ds->cpu_model);
	free(ds->vnc_listen);
	free(ds->spice_listen);
	free_list(ds->pass, ds->n_pass);
	free_list(ds->paths, ds->n_paths);
	free_list(ds->chardevs, ds->n_chardevs);
	free_list(ds->ids, ds->n_ids);
}

int qm_domain_describe(char *const *argv, const struct qm_describe_facts *facts,
		       struct qm_domain **out, struct qm_error *err)
{
	struct qm_describe ds = { .f = facts, .err = err };

	*out = NULL;
	if (!facts->uuid || !facts->arch || !facts->machine || !facts->emulator)
		return qm_error_set(
			err, -EINVAL, "DescribeInvalid",
			"QEMU's facts lack its uuid, arch, machine type or emulator");
	read_entries(&ds, argv);
	chardev_ids(&ds);
	qm_ds_chardev_uses(&ds);
	/*
	 * The machine makes the ports of -serial before any -device: they come
	 * first, so that ISA serial ports keep QEMU's numbering and order.
	 */
	for (size_t i = 0; i < ds.n_e && ds.r == 0; i++)
		if (ds.e[i].o->fn == qm_ds_serial_opt)
			decide(&ds, &ds.e[i]);
	for (size_t i = 0; i < ds.n_e && ds.r == 0; i++)
		if (ds.e[i].o->fn != qm_ds_serial_opt)
			decide(&ds, &ds.e[i]);
	if (ds.r == 0 && !ds.nodefaults)
		qm_ds_refuse(&ds,
			     "QEMU runs without -nodefaults: it added default devices (a "
			     "display adapter, a network card, drives, ports) that its "
			     "command line does not show, and qmigrate does not guess "
			     "them");
	if (ds.r == 0)
		qm_ds_check_facts(&ds);
	if (ds.r == 0)
		ds.r = qm_ds_build(&ds, out);
	release(&ds);
	return ds.r;
}
