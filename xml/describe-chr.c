/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Character devices.  A monitor's (-qmp, -monitor, -mon and the -chardev
 * they name) goes: the launcher brings its own QMP socket.  An ISA serial
 * port's becomes a <serial>, so that the destination can be given its own
 * file, socket or port.  Another device's stays verbatim when it names
 * nothing on the host (null, a ring buffer, a pty QEMU makes anew), and is
 * refused otherwise.  A chardev nothing uses is nothing the guest sees.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml/describe-internal.h"

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Back-ends that name nothing on the host: kept for a device other than a serial port. */
static const char *const harmless_backends[] = { "null",    "ringbuf",	"memory",  "pty",
						 "msmouse", "wctablet", "testdev", NULL };

static void mark(struct qm_describe *ds, const char *id, enum qm_dchr_use use)
{
	struct qm_dentry *c = qm_ds_chardev(ds, id);

	if (!c)
		return; /* QEMU would not have started: nothing to describe */
	/* A second user: a monitor and a port on one mux=on chardev, or two devices. */
	if (c->use != QM_DCHR_NONE)
		c->shared = true;
	c->use = use;
}

/* The chardev a "chardev:ID" value names, or NULL. */
static const char *chardev_ref(const char *value)
{
	return value && strncmp(value, "chardev:", 8) == 0 ? value + 8 : NULL;
}

static void mark_kv(struct qm_describe *ds, struct qm_dentry *e, const char *implied)
{
	struct qm_kvlist kv;
	const char *id, *driver;

	if (qm_kv_parse(e->value, implied, &kv) < 0)
		return; /* refused when the option itself is read */
	id = qm_kv_get(&kv, "chardev");
	driver = qm_kv_get(&kv, "driver");
	if (id && strcmp(e->o->name, "mon") == 0)
		mark(ds, id, QM_DCHR_MONITOR);
	else if (id && driver && strcmp(driver, "isa-serial") == 0)
		mark(ds, id, QM_DCHR_SERIAL);
	else if (id)
		mark(ds, id, QM_DCHR_DEVICE);
	qm_kv_free(&kv);
}

void qm_ds_chardev_uses(struct qm_describe *ds)
{
	for (size_t i = 0; i < ds->n_e && ds->r == 0; i++) {
		struct qm_dentry *e = &ds->e[i];
		const char *name = e->o->name, *ref = chardev_ref(e->value);

		if (!strcmp(name, "qmp") || !strcmp(name, "qmp-pretty") ||
		    !strcmp(name, "monitor")) {
			if (ref)
				mark(ds, ref, QM_DCHR_MONITOR);
		} else if (!strcmp(name, "serial")) {
			if (ref)
				mark(ds, ref, QM_DCHR_SERIAL);
		} else if (!strcmp(name, "mon")) {
			mark_kv(ds, e, "chardev");
		} else if (!strcmp(name, "device")) {
			mark_kv(ds, e, "driver");
		} else if (!strcmp(name, "object")) {
			mark_kv(ds, e, "qom-type");
		}
	}
}

/* A chardev label the command line makes ("serial0", "compat_monitor1"). */
static void label(struct qm_describe *ds, const char *prefix, size_t n)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%s%zu", prefix, n);
	qm_ds_push(ds, &ds->chardevs, &ds->n_chardevs, QM_DESCRIBE_MAX_ARGS, buf);
}

/* -qmp, -qmp-pretty, -monitor: the launcher brings its own. */
void qm_ds_monitor(struct qm_describe *ds, struct qm_dentry *e)
{
	/* QEMU skips "-monitor none" (and anything starting so) without counting it. */
	if (strcmp(e->o->name, "monitor") == 0 && strncmp(e->value, "none", 4) == 0)
		return;
	if (!chardev_ref(e->value))
		label(ds, "compat_monitor", ds->n_monitors);
	ds->n_monitors++;
}

void qm_ds_parallel(struct qm_describe *ds, struct qm_dentry *e)
{
	if (strcmp(e->value, "none") != 0)
		qm_ds_refuse(ds,
			     "-parallel %s: a parallel port on a host character device",
			     e->value);
}

static void refuse_shared(struct qm_describe *ds, const char *id)
{
	qm_ds_refuse(
		ds,
		"-chardev id=%s: shared by a monitor and the guest, or by two devices",
		id);
}

/* The chardev a serial port is on: refused when missing or shared. */
static struct qm_dentry *serial_chardev(struct qm_describe *ds, const char *id)
{
	struct qm_dentry *c = id ? qm_ds_chardev(ds, id) : NULL;

	if (!c)
		qm_ds_refuse(ds,
			     "a serial port on no -chardev: nothing qmigrate can move");
	else if (c->shared)
		refuse_shared(ds, c->id);
	return c && !c->shared ? c : NULL;
}

/* ISA serial ports: only the PC machines have them. */
static bool has_isa_serial(const char *machine)
{
	return machine && (!strncmp(machine, "pc-i440fx-", 10) ||
			   !strncmp(machine, "pc-q35-", 7) || !strcmp(machine, "isapc"));
}

/* "server=on,wait=off" and friends, for a socket a serial port is on. */
static bool socket_opts(struct qm_describe *ds, const char *opt,
			const struct qm_kvlist *kv, const char *const *known,
			struct qm_dserial *s)
{
	const struct qm_kv *p = qm_kv_unknown(kv, known);

	if (p) {
		qm_ds_refuse(
			ds,
			"-%s ... %s=: qmigrate moves a serial port's socket with server, "
			"wait and telnet only",
			opt, p->key);
		return false;
	}
	s->bind = qm_kv_on(kv, "server");
	s->telnet = qm_kv_on(kv, "telnet");
	return true;
}

static void serial_clear(struct qm_dserial *s)
{
	free(s->path);
	free(s->host);
	free(s->service);
}

static bool dup_str(struct qm_describe *ds, char **out, const char *s)
{
	*out = strdup(s);
	if (!*out)
		qm_ds_nomem(ds);
	return *out != NULL;
}

/* A tcp endpoint: an empty host means every address, as QEMU reads it. */
static bool tcp_endpoint(struct qm_describe *ds, struct qm_dserial *s, const char *host,
			 const char *port)
{
	size_t n = port ? strspn(port, "0123456789") : 0;

	/* Port 0 (QEMU picks one) and service names: nothing a <serial> can hold. */
	if (!port || n == 0 || n > 5 || port[n] || atoi(port) == 0 ||
	    atoi(port) > 65535) {
		qm_ds_refuse(ds,
			     "-serial or -chardev port=%.16s: a serial port's TCP port "
			     "must be a number from 1 to 65535",
			     port ? port : "");
		return false;
	}
	s->type = QM_DOMAIN_CHR_TCP;
	return dup_str(ds, &s->host, host && *host ? host : "0.0.0.0") &&
	       dup_str(ds, &s->service, port ? port : "");
}

/* -chardev BACKEND,... as the endpoint of a serial port. */
static bool chardev_endpoint(struct qm_describe *ds, const struct qm_kvlist *kv,
			     struct qm_dserial *s)
{
	const char *backend = qm_kv_get(kv, "backend");
	const char *path = qm_kv_get(kv, "path");

	if (backend && strcmp(backend, "pty") == 0 &&
	    !qm_kv_unknown(kv, LIST("backend", "id"))) {
		s->type = QM_DOMAIN_CHR_PTY;
		return true;
	}
	if (backend && strcmp(backend, "file") == 0 &&
	    !qm_kv_unknown(kv, LIST("backend", "id", "path"))) {
		s->type = QM_DOMAIN_CHR_FILE;
		return path && qm_ds_absolute(ds, "chardev", "path", path) &&
		       dup_str(ds, &s->path, path);
	}
	if (backend && strcmp(backend, "socket") == 0 && path) {
		s->type = QM_DOMAIN_CHR_UNIX;
		return socket_opts(ds, "chardev", kv,
				   LIST("backend", "id", "path", "server", "wait"), s) &&
		       qm_ds_absolute(ds, "chardev", "path", path) &&
		       dup_str(ds, &s->path, path);
	}
	if (backend && strcmp(backend, "socket") == 0)
		return socket_opts(ds, "chardev", kv,
				   LIST("backend", "id", "host", "port", "server", "wait",
					"telnet"),
				   s) &&
		       tcp_endpoint(ds, s, qm_kv_get(kv, "host"), qm_kv_get(kv, "port"));
	qm_ds_refuse(
		ds,
		"-chardev %s,id=%s: a serial port on it cannot be given its own "
		"endpoint: "
		"qmigrate moves a file, a unix or tcp socket or a pty, with no other "
		"option",
		backend ? backend : "", qm_kv_get(kv, "id"));
	return false;
}

void qm_ds_isa_serial(struct qm_describe *ds, struct qm_dentry *e, struct qm_kvlist *kv)
{
	const char *id = qm_kv_get(kv, "chardev"), *index = qm_kv_get(kv, "index");
	const struct qm_kv *p =
		qm_kv_unknown(kv, LIST("driver", "chardev", "id", "index"));
	struct qm_dserial s = { .index = ds->serial_index };
	struct qm_dentry *c;
	struct qm_kvlist ckv;

	/* QEMU counts every ISA serial port it realizes, numbered or not. */
	ds->serial_index++;
	if (p) {
		qm_ds_refuse(ds,
			     "-device isa-serial,%s=: qmigrate describes an ISA serial "
			     "port by its index and chardev only",
			     p->key);
		return;
	}
	c = serial_chardev(ds, id);
	if (!c)
		return;
	if (index && (strlen(index) != 1 || index[0] < '0' || index[0] > '3')) {
		qm_ds_fail(ds, -EINVAL, "DescribeInvalid",
			   "-device isa-serial,index=%.8s is not an ISA serial port (0 "
			   "to 3)",
			   index);
		return;
	}
	if (index)
		s.index = (unsigned)(index[0] - '0');
	if (!qm_ds_parse(ds, c, "backend", &ckv))
		return;
	if (chardev_endpoint(ds, &ckv, &s))
		qm_ds_serial(ds, &s);
	else
		serial_clear(&s);
	qm_kv_free(&ckv);
}

/* -serial file:PATH, unix:PATH,..., tcp:HOST:PORT,..., telnet:HOST:PORT,... or pty. */
static bool serial_endpoint(struct qm_describe *ds, const char *v, struct qm_dserial *s)
{
	struct qm_kvlist kv = { 0 };
	const char *p;
	bool ok = false;

	if (strcmp(v, "pty") == 0) {
		s->type = QM_DOMAIN_CHR_PTY;
		return true;
	}
	/* QEMU takes all of "file:..." as the path, commas included. */
	if (strncmp(v, "file:", 5) == 0) {
		s->type = QM_DOMAIN_CHR_FILE;
		return qm_ds_absolute(ds, "serial", "file:", v + 5) &&
		       dup_str(ds, &s->path, v + 5);
	}
	if (strncmp(v, "unix:", 5) == 0) {
		if (qm_kv_parse(v + 5, "path", &kv) < 0) {
			qm_ds_nomem(ds);
			return false;
		}
		s->type = QM_DOMAIN_CHR_UNIX;
		p = qm_kv_get(&kv, "path");
		ok = socket_opts(ds, "serial unix:", &kv, LIST("path", "server", "wait"),
				 s) &&
		     p && qm_ds_absolute(ds, "serial", "unix:", p) &&
		     dup_str(ds, &s->path, p);
		qm_kv_free(&kv);
		return ok;
	}
	if (strncmp(v, "tcp:", 4) == 0 || strncmp(v, "telnet:", 7) == 0) {
		const char *rest = strchr(v, ':') + 1, *colon = strchr(rest, ':');
		_cleanup_free_ char *host =
			colon ? strndup(rest, (size_t)(colon - rest)) : NULL;
		size_t plen = colon ? strcspn(colon + 1, ",") : 0;
		_cleanup_free_ char *port = colon ? strndup(colon + 1, plen) : NULL;

		if (!colon || !host || !port ||
		    qm_kv_parse(colon + 1 + plen, NULL, &kv) < 0) {
			qm_ds_fail(ds, -EINVAL, "DescribeInvalid",
				   "-serial %.8s...: not HOST:PORT", v);
			return false;
		}
		ok = socket_opts(ds, "serial tcp:", &kv, LIST("server", "wait", "telnet"),
				 s) &&
		     tcp_endpoint(ds, s, host, port);
		s->telnet |= strncmp(v, "telnet:", 7) == 0;
		qm_kv_free(&kv);
		return ok;
	}
	p = strchr(v, ':');
	qm_ds_refuse(ds,
		     "-serial %.*s: qmigrate gives a serial port its own endpoint on a "
		     "file, a unix or tcp socket or a pty only",
		     p ? (int)(p - v) : 16, v);
	return false;
}

void qm_ds_serial_opt(struct qm_describe *ds, struct qm_dentry *e)
{
	const char *ref = chardev_ref(e->value);
	struct qm_dserial s = { 0 };

	if (strcmp(e->value, "none") == 0)
		return; /* no port, and QEMU counts none */
	if (!ref)
		label(ds, "serial", ds->n_legacy_serials);
	s.index = (unsigned)ds->n_legacy_serials++;
	ds->serial_index++;
	/* Machine none has no ISA serial port: only the chardev, on the host side. */
	if (ds->f->machine && strcmp(ds->f->machine, "none") == 0)
		return;
	if (!has_isa_serial(ds->f->machine)) {
		qm_ds_refuse(
			ds,
			"-serial: qmigrate does not know the serial ports of machine "
			"'%s'",
			ds->f->machine ? ds->f->machine : "");
		return;
	}
	if (ref) {
		struct qm_dentry *c = serial_chardev(ds, ref);
		struct qm_kvlist kv;

		if (!c || !qm_ds_parse(ds, c, "backend", &kv))
			return;
		if (chardev_endpoint(ds, &kv, &s))
			qm_ds_serial(ds, &s);
		else
			serial_clear(&s);
		qm_kv_free(&kv);
		return;
	}
	if (serial_endpoint(ds, e->value, &s))
		qm_ds_serial(ds, &s);
	else
		serial_clear(&s);
}

/* -chardev: decided by what uses it (qm_ds_chardev_uses). */
void qm_ds_chardev_opt(struct qm_describe *ds, struct qm_dentry *e)
{
	static const char *const logs[] = { "logfile", "logappend", NULL };
	struct qm_kvlist kv;
	const char *backend;
	char *kept;

	if (!e->id) {
		qm_ds_fail(ds, -EINVAL, "DescribeInvalid", "-chardev without an id");
		return;
	}
	qm_ds_push(ds, &ds->chardevs, &ds->n_chardevs, QM_DESCRIBE_MAX_ARGS, e->id);
	if (e->shared) {
		refuse_shared(ds, e->id);
		return;
	}
	if (e->use == QM_DCHR_NONE || e->use == QM_DCHR_MONITOR ||
	    e->use == QM_DCHR_SERIAL)
		return; /* nothing the guest sees, the launcher's, or a <serial> now */
	if (!qm_ds_parse(ds, e, "backend", &kv))
		return;
	backend = qm_kv_get(&kv, "backend");
	if (!backend || !qm_kv_listed(harmless_backends, backend)) {
		qm_ds_refuse(
			ds,
			"-chardev %s,id=%s: a device uses it, and it names a host "
			"resource (a file, a socket, a terminal or a device) qmigrate "
			"cannot choose for another QEMU",
			backend ? backend : "", e->id);
	} else {
		/* A log of the device's output is this host's: the launcher keeps one. */
		kept = qm_kv_join(&kv, logs, "backend");
		if (!kept)
			qm_ds_nomem(ds);
		else
			qm_ds_keep(ds, "chardev", kept);
		free(kept);
	}
	qm_kv_free(&kv);
}
