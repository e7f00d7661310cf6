/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination's character devices.  What QEMU opens to write (a file)
 * or to listen on (a unix socket in bind mode) moves into the destination's
 * directory under a name of its own, and a tcp socket in bind mode listens
 * on the destination's address with a port QEMU picks: the source QEMU may
 * run on the same host and still hold the old ones.  What QEMU connects to,
 * and a pty, which QEMU allocates afresh, stay.
 */
#include <stdio.h>
#include <string.h>

#include "xml/domain-rewrite-internal.h"

/* QEMU binds a free port and query-chardev tells which (checked on QEMU 7.2). */
#define ANY_PORT "0"

/*
 * The name of @c among its kind: serialN or consoleN, N its index.  A
 * serial console is the same port as its <serial> (libvirt writes both,
 * with one source) and takes its name, so the two stay one endpoint.
 */
static void chr_name(const struct qm_domain *d, const struct qm_domain_chr *c,
		     bool console, size_t i, char *buf, size_t size)
{
	int serial = console ? qm_dom_console_serial(d, c) : -1;

	if (serial >= 0)
		snprintf(buf, size, "serial%d", serial);
	else
		snprintf(buf, size, "%s%zu", console ? "console" : "serial", i);
}

static int set_source(const struct qm_domain_chr *c, const char *attr, const char *value,
		      struct qm_error *err)
{
	xmlNode *source;
	int r;

	/* The reader made sure a file, unix or tcp device has exactly one. */
	r = qm_dom_child(c->node, "source", &source, err);
	if (r == 0 && !source)
		r = qm_rw_fail(err, "a character device has no <source>");
	if (r == 0)
		r = qm_rw_set(source, attr, value, err);
	return r;
}

static int move_path(const struct qm_domain_chr *c, const char *dir, const char *name,
		     struct qm_error *err)
{
	bool sock = c->type == QM_DOMAIN_CHR_UNIX;
	size_t dlen = strlen(dir);
	char path[QM_DOMAIN_MAX_PATH + 1];
	int len;

	/* "/run/x/" and "/run/x" give the same path. */
	len = snprintf(path, sizeof(path), "%s%s%s.%s", dir,
		       dlen && dir[dlen - 1] == '/' ? "" : "/", name,
		       sock ? "sock" : "log");
	if (len < 0 || (size_t)len >= sizeof(path))
		return qm_rw_fail(err, "the character device directory is too long");
	if (sock && len > QM_DOMAIN_MAX_SOCKET_PATH)
		return qm_rw_fail(
			err,
			"the socket %s would be %d bytes, more than the %d a unix "
			"socket takes: choose a shorter directory",
			path, len, QM_DOMAIN_MAX_SOCKET_PATH);
	return set_source(c, "path", path, err);
}

static int rewrite_chr(const struct qm_domain *d, const struct qm_domain_chr *c,
		       bool console, size_t i, const struct qm_domain_rewrite *o,
		       struct qm_error *err)
{
	bool bind = c->mode == QM_DOMAIN_CHR_BIND;
	char name[32];
	int r;

	chr_name(d, c, console, i, name, sizeof(name));
	switch (c->type) {
	case QM_DOMAIN_CHR_FILE:
		return o->chr_dir ? move_path(c, o->chr_dir, name, err) : 0;
	case QM_DOMAIN_CHR_UNIX:
		return o->chr_dir && bind ? move_path(c, o->chr_dir, name, err) : 0;
	case QM_DOMAIN_CHR_TCP:
		if ((!o->chr_listen && !o->chr_free_ports) || !bind)
			return 0;
		r = o->chr_listen ? set_source(c, "host", o->chr_listen, err) : 0;
		return r < 0 ? r : set_source(c, "service", ANY_PORT, err);
	case QM_DOMAIN_CHR_PTY:
		break;
	}
	return 0;
}

int qm_rw_chrs(struct qm_domain *d, const struct qm_domain_rewrite *o,
	       struct qm_error *err)
{
	int r;

	if (!o->chr_dir && !o->chr_listen && !o->chr_free_ports)
		return 0;
	for (size_t i = 0; i < d->n_serials; i++) {
		r = rewrite_chr(d, &d->serials[i], false, i, o, err);
		if (r < 0)
			return r;
	}
	for (size_t i = 0; i < d->n_consoles; i++) {
		r = rewrite_chr(d, &d->consoles[i], true, i, o, err);
		if (r < 0)
			return r;
	}
	return 0;
}
