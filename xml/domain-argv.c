/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The command line of a domain: the machine, its CPUs and memory, QMP, and
 * the order of the parts; the devices are built by domain-argv-*.c.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "xml/domain-argv-internal.h"
#include "xml/read.h"

#define ARGV_MAX 4096 /* arguments; far above what the description's bounds allow */

static void fail_nomem(struct qm_argv_build *b)
{
	b->r = qm_error_set(b->err, -ENOMEM, "DomainArgv", "out of memory");
}

static void push(struct qm_argv_build *b, char *s)
{
	if (!s) {
		fail_nomem(b);
		return;
	}
	if (b->n + 1 >= b->cap) {
		size_t cap = b->cap ? b->cap * 2 : 64;
		char **v = cap <= ARGV_MAX ? realloc(b->v, cap * sizeof(*v)) : NULL;

		if (!v) {
			free(s);
			fail_nomem(b);
			return;
		}
		b->v = v;
		b->cap = cap;
	}
	b->v[b->n++] = s;
	b->v[b->n] = NULL;
}

void qm_ab_add(struct qm_argv_build *b, const char *s)
{
	if (b->r == 0)
		push(b, strdup(s));
}

void qm_ab_addf(struct qm_argv_build *b, const char *fmt, ...)
{
	va_list ap;
	char *s;
	int n;

	if (b->r < 0)
		return;
	va_start(ap, fmt);
	n = vasprintf(&s, fmt, ap);
	va_end(ap);
	push(b, n < 0 ? NULL : s);
}

FILE *qm_ab_open(struct qm_argv_build *b, char **buf, size_t *size)
{
	FILE *f;

	*buf = NULL;
	if (b->r < 0)
		return NULL;
	f = open_memstream(buf, size);
	if (!f)
		fail_nomem(b);
	return f;
}

void qm_ab_esc(FILE *f, const char *value)
{
	for (const char *p = value; *p; p++) {
		if (*p == ',')
			fputc(',', f);
		fputc(*p, f);
	}
}

/* @buf is only valid once the stream is closed, hence its address. */
void qm_ab_close(struct qm_argv_build *b, FILE *f, char **buf)
{
	if (!f)
		return;
	if (fclose(f) != 0 || b->r < 0) {
		free(*buf);
		if (b->r == 0)
			fail_nomem(b);
		return;
	}
	push(b, *buf);
}

void qm_ab_add_esc(struct qm_argv_build *b, const char *prefix, const char *value,
		   const char *suffix)
{
	char *buf;
	size_t size;
	FILE *f = qm_ab_open(b, &buf, &size);

	if (f) {
		fputs(prefix, f);
		qm_ab_esc(f, value);
		fputs(suffix, f);
	}
	qm_ab_close(b, f, &buf);
}

int qm_ab_refuse(struct qm_argv_build *b, const xmlNode *n, const char *fmt, ...)
{
	_cleanup_xmlfree_ xmlChar *path = xmlGetNodePath(n);
	char text[sizeof(b->err->text)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	if (b->r == 0)
		b->r = qm_error_set(b->err, -EOPNOTSUPP, "DomainUnsupported",
				    "domain XML %s (line %ld): %s",
				    path ? (const char *)path : (const char *)n->name,
				    xmlGetLineNo(n), text);
	return b->r;
}

int qm_ab_pci_addr(struct qm_argv_build *b, FILE *f, const struct qm_domain_address *a,
		   const xmlNode *dev)
{
	switch (a->type) {
	case QM_DOMAIN_ADDR_NONE:
		return 0;
	case QM_DOMAIN_ADDR_PCI:
		break;
	default:
		return qm_ab_refuse(b, dev, "this device takes only a PCI <address>");
	}
	/* Other buses need bridges or root ports, which this builder does not create. */
	if (a->domain != 0 || a->bus != 0)
		return qm_ab_refuse(b, dev,
				    "PCI address %04x:%02x: only domain 0, bus 0 (the "
				    "root bus) is supported; bridges and root ports are not",
				    a->domain, a->bus);
	fprintf(f, ",bus=%s,addr=0x%x.0x%x", b->q35 ? "pcie.0" : "pci.0", a->slot,
		a->function);
	return 0;
}

/* The root element's child @name of ours, or NULL. */
static xmlNode *root_child(const struct qm_domain *d, const char *name)
{
	for (xmlNode *n = xmlDocGetRootElement(d->doc)->children; n; n = n->next)
		if (qm_dom_is(n, name))
			return n;
	return NULL;
}

static bool has_device_boot(const struct qm_domain *d)
{
	xmlNode *devices = root_child(d, "devices");

	if (!devices)
		return false;
	for (xmlNode *dev = devices->children; dev; dev = dev->next)
		if (dev->type == XML_ELEMENT_NODE && qm_dom_count(dev, "boot"))
			return true;
	return false;
}

int qm_ab_bootindex(struct qm_argv_build *b, const xmlNode *dev, const char *os_dev,
		    bool first, unsigned *out)
{
	xmlNode *os = root_child(b->d, "os");
	unsigned index = 0;
	uint64_t order;
	xmlNode *boot;
	int r;

	*out = 0;
	if (qm_dom_child((xmlNode *)dev, "boot", &boot, b->err) < 0)
		return b->r = -EINVAL;
	if (boot) {
		r = qm_dom_number(boot, "order", 0xffff, false, &order, b->err);
		if (r < 0)
			return b->r = r;
		if (r == 0 || order == 0)
			return qm_ab_refuse(b, boot, "needs order= a number from 1");
		if (os && qm_dom_count(os, "boot"))
			return qm_ab_refuse(b, boot,
					    "per-device boot order and <os><boot> "
					    "cannot be mixed");
		*out = (unsigned)order;
		return 0;
	}
	/* <os><boot dev=...>: the first device of each kind, in the order listed. */
	if (!first || !os || has_device_boot(b->d))
		return 0;
	for (xmlNode *n = os->children; n; n = n->next) {
		_cleanup_xmlfree_ xmlChar *kind = NULL;

		if (!qm_dom_is(n, "boot"))
			continue;
		index++;
		kind = xmlGetNoNsProp(n, BAD_CAST "dev");
		if (kind && xmlStrEqual(kind, BAD_CAST os_dev)) {
			*out = index;
			return 0;
		}
	}
	return 0;
}

/* libvirt's reading: without <features><acpi/> the guest has no ACPI. */
static bool has_acpi(const struct qm_domain *d)
{
	xmlNode *features = root_child(d, "features");

	return features && qm_dom_count(features, "acpi") > 0;
}

static void machine(struct qm_argv_build *b)
{
	const struct qm_domain *d = b->d;
	const char *accel = d->accel == QM_DOMAIN_ACCEL_KVM ? "kvm" : "tcg";
	/* Machine none has no firmware, and no acpi property to turn off. */
	bool none = d->machine && strcmp(d->machine, "none") == 0;
	const char *acpi = has_acpi(d) || none ? "" : ",acpi=off";

	if (d->arch && strcmp(d->arch, "x86_64") != 0 && strcmp(d->arch, "i686") != 0) {
		qm_ab_refuse(b, root_child(d, "os"),
			     "arch='%s': only x86 command lines are built", d->arch);
		return;
	}
	qm_ab_add(b, "-machine");
	if (d->machine)
		qm_ab_addf(b, "%s,accel=%s%s", d->machine, accel, acpi);
	else
		qm_ab_addf(b, "accel=%s%s", accel, acpi);
}

static void cpu(struct qm_argv_build *b)
{
	const struct qm_domain *d = b->d;
	xmlNode *n = root_child(d, "cpu");

	switch (d->cpu_mode) {
	case QM_DOMAIN_CPU_NONE:
		return;
	case QM_DOMAIN_CPU_CUSTOM:
		if (!d->cpu_model) {
			qm_ab_refuse(b, n, "mode='custom' needs a <model>");
			return;
		}
		qm_ab_add(b, "-cpu");
		qm_ab_add(b, d->cpu_model);
		return;
	case QM_DOMAIN_CPU_HOST_MODEL:
		/* libvirt expands host-model into a named model with features; we cannot. */
		qm_ab_refuse(b, n, "mode='host-model' is not supported: use "
				   "host-passthrough or a named model");
		return;
	case QM_DOMAIN_CPU_HOST_PASSTHROUGH:
		if (d->accel != QM_DOMAIN_ACCEL_KVM) {
			qm_ab_refuse(b, n, "mode='host-passthrough' needs type='kvm'");
			return;
		}
		qm_ab_add(b, "-cpu");
		qm_ab_add(b, "host");
		return;
	case QM_DOMAIN_CPU_MAXIMUM:
		qm_ab_add(b, "-cpu");
		qm_ab_add(b, "max");
		return;
	}
}

static void memory_and_cpus(struct qm_argv_build *b)
{
	const struct qm_domain *d = b->d;

	qm_ab_add(b, "-m");
	if (d->memory_kib % 1024 == 0)
		qm_ab_addf(b, "%" PRIu64 "M", d->memory_kib / 1024);
	else
		qm_ab_addf(b, "%" PRIu64 "k", d->memory_kib);
	qm_ab_add(b, "-smp");
	if (d->vcpus_current < d->vcpus)
		qm_ab_addf(b, "%u,maxcpus=%u", d->vcpus_current, d->vcpus);
	else
		qm_ab_addf(b, "%u", d->vcpus);
}

static void identity(struct qm_argv_build *b)
{
	qm_ab_add(b, "-name");
	qm_ab_add_esc(b, "guest=", b->d->name, "");
	qm_ab_add(b, "-uuid");
	qm_ab_add(b, b->d->uuid);
}

static void qmp(struct qm_argv_build *b)
{
	qm_ab_add(b, "-qmp");
	qm_ab_add_esc(b, "unix:", b->opts->qmp_path, ",server=on,wait=off");
}

/*
 * A lease held through an fd set must stay held as long as QEMU runs, with
 * or without a monitor client: the pinned monitor keeps QEMU from closing
 * the set's fds (see qm_domain_argv_opts.fds).  It has no input, so nothing
 * can be sent to it.
 */
static void fdsets(struct qm_argv_build *b)
{
	char prefix[64];

	if ((b->opts->n_fds == 0 && !b->opts->fdset_pin) || b->r < 0)
		return;
	for (size_t i = 0; i < b->opts->n_fds; i++) {
		const struct qm_domain_argv_fd *f = &b->opts->fds[i];

		if (f->fd < 3 || f->set < 0) {
			b->r = qm_error_set(b->err, -EINVAL, "Usage",
					    "-add-fd fd=%d,set=%d: not a descriptor past "
					    "stdio in a set 0 or above",
					    f->fd, f->set);
			return;
		}
		qm_ab_add(b, "-add-fd");
		snprintf(prefix, sizeof(prefix), "fd=%d,set=%d%s", f->fd, f->set,
			 f->opaque ? ",opaque=" : "");
		qm_ab_add_esc(b, prefix, f->opaque ? f->opaque : "", "");
	}
	qm_ab_add(b, "-chardev");
	qm_ab_add(b, "file,id=qmigrate-fdset-pin,path=/dev/null");
	qm_ab_add(b, "-mon");
	qm_ab_add(b, "chardev=qmigrate-fdset-pin,mode=control");
}

static void run_state(struct qm_argv_build *b)
{
	if (b->opts->paused || b->opts->incoming)
		qm_ab_add(b, "-S");
	if (b->opts->incoming) {
		qm_ab_add(b, "-incoming");
		qm_ab_add(b, "defer");
	}
}

int qm_domain_argv(const struct qm_domain *d, const struct qm_domain_argv_opts *opts,
		   char ***out, struct qm_error *err)
{
	struct qm_argv_build b = { .d = d, .opts = opts, .err = err };

	*out = NULL;
	if (!opts->qmp_path || !opts->qmp_path[0])
		return qm_error_set(err, -EINVAL, "Usage", "no QMP socket path");
	b.q35 = d->machine && strstr(d->machine, "q35");

	qm_ab_check(&b);
	qm_ab_add(&b, d->emulator ? d->emulator : QM_DOMAIN_DEFAULT_EMULATOR);
	/* No host configuration file may change what the guest sees. */
	qm_ab_add(&b, "-no-user-config");
	qm_ab_add(&b, "-nodefaults");
	identity(&b);
	machine(&b);
	cpu(&b);
	memory_and_cpus(&b);
	if (d->n_graphics == 0) {
		qm_ab_add(&b, "-display");
		qm_ab_add(&b, "none");
	}
	qmp(&b);
	fdsets(&b);
	qm_ab_controllers(&b);
	qm_ab_disks(&b);
	qm_ab_nets(&b);
	qm_ab_chardevs(&b);
	qm_ab_video(&b);
	qm_ab_graphics(&b);
	run_state(&b);
	for (size_t i = 0; i < d->n_qemu_args; i++)
		qm_ab_add(&b, d->qemu_args[i]);
	if (b.r < 0) {
		qm_argv_free(b.v);
		return b.r;
	}
	if (!b.v) /* cannot happen: the emulator is always there */
		return qm_error_set(err, -EINVAL, "DomainArgv", "empty command line");
	*out = b.v;
	return 0;
}

size_t qm_argv_len(const char *const *argv)
{
	size_t n = 0;

	while (argv && argv[n])
		n++;
	return n;
}

char **qm_argv_dup(const char *const *argv, size_t room)
{
	size_t n = qm_argv_len(argv);
	char **v = calloc(n + room + 1, sizeof(*v));

	for (size_t i = 0; v && i < n; i++) {
		v[i] = strdup(argv[i]);
		if (!v[i]) {
			qm_argv_free(v);
			return NULL;
		}
	}
	return v;
}

void qm_argv_free(char **argv)
{
	if (!argv)
		return;
	for (char **a = argv; *a; a++)
		free(*a);
	free(argv);
}

bool qm_domain_has_password(const struct qm_domain *d)
{
	for (size_t i = 0; i < d->n_graphics; i++)
		if (d->graphics[i].passwd)
			return true;
	return false;
}
