/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Back-ends: networks, objects and audio.  QEMU's user-mode network lives
 * inside QEMU and is the same on any host, unless it forwards a host port
 * or serves a host directory; every other network back-end is a host
 * device or socket.  Objects are taken by type, from a list: an unknown
 * one is refused by name.
 */
#include <errno.h>
#include <string.h>

#include "xml/describe-internal.h"

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

static void netdev_kv(struct qm_describe *ds, const struct qm_dentry *e,
		      const struct qm_kvlist *kv)
{
	static const char *const user_host_keys[] = { "hostfwd",   "guestfwd", "smb",
						      "smbserver", "tftp",     NULL };
	const char *type = qm_kv_get(kv, "type");
	const struct qm_kv *p;

	if (!type) {
		qm_ds_fail(ds, -EINVAL, "DescribeInvalid", "-%s without a type",
			   e->o->name);
		return;
	}
	if (strcmp(e->o->name, "nic") == 0 && strcmp(type, "none") == 0)
		return; /* no network card at all: nothing to keep */
	if (strcmp(type, "user") == 0 && (p = qm_kv_find(kv, user_host_keys)))
		qm_ds_refuse(ds,
			     "-%s user,%s= names a host resource (a host port or "
			     "directory)",
			     e->o->name, p->key);
	else if (strcmp(type, "user") == 0 || strcmp(type, "hubport") == 0)
		qm_ds_keep(ds, e->o->name, e->value);
	else
		qm_ds_refuse(ds,
			     "-%s %s names a host resource (a tap, a bridge, a socket, "
			     "vhost, ...), which qmigrate cannot choose for another QEMU",
			     e->o->name, type);
}

/* -netdev and -nic: user (without host ports or directories) and hubport. */
void qm_ds_netdev(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;

	if (e->value[0] == '{') {
		qm_ds_refuse(ds, "-%s {...}: qmigrate reads the key=value form only",
			     e->o->name);
		return;
	}
	if (!qm_ds_parse(ds, e, "type", &kv))
		return;
	netdev_kv(ds, e, &kv);
	qm_kv_free(&kv);
}

/*
 * Objects by type: what keys of theirs name a host resource (refused) or a
 * file (kept when absolute).  A type not listed is refused.
 */
static const struct {
	const char *type;
	const char *const *refused;
	const char *const *files;
} objects[] = {
	{ "memory-backend-ram", LIST("host-nodes", "policy"), NULL },
	{ "memory-backend-memfd", LIST("host-nodes", "policy"), NULL },
	{ "iothread", NULL, NULL },
	{ "main-loop", NULL, NULL },
	{ "throttle-group", NULL, NULL },
	{ "rng-builtin", NULL, NULL },
	{ "rng-random", NULL, NULL }, /* filename: checked below */
	{ "cryptodev-backend-builtin", NULL, NULL },
	{ "authz-simple", NULL, NULL },
	{ "can-bus", NULL, NULL },
	{ "filter-buffer", NULL, NULL },
	{ "secret", LIST("data"), LIST("file") },
};

static void object_key(struct qm_describe *ds, const char *type, size_t t,
		       const struct qm_kv *p)
{
	if (qm_kv_listed(objects[t].refused, p->key) && strcmp(p->key, "data") == 0)
		qm_ds_refuse(ds,
			     "-object %s,data=: a secret on the command line, which the "
			     "description would carry; give it in a file (file=)",
			     type);
	else if (qm_kv_listed(objects[t].refused, p->key))
		qm_ds_refuse(
			ds,
			"-object %s,%s=: binds guest memory to this host's NUMA nodes",
			type, p->key);
	else if (qm_kv_listed(objects[t].files, p->key))
		qm_ds_absolute(ds, "object", p->key, p->value);
	else if (strcmp(type, "rng-random") == 0 && strcmp(p->key, "filename") == 0 &&
		 !qm_kv_listed(LIST("/dev/urandom", "/dev/random"), p->value))
		qm_ds_refuse(ds, "-object rng-random,filename=: a host device other than "
				 "/dev/urandom or /dev/random");
}

void qm_ds_object(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;
	const char *type;
	size_t t;

	if (e->value[0] == '{') {
		qm_ds_refuse(ds, "-object {...}: qmigrate reads the key=value form only");
		return;
	}
	if (!qm_ds_parse(ds, e, "qom-type", &kv))
		return;
	type = qm_kv_get(&kv, "qom-type");
	for (t = 0; type && t < ARRAY_SIZE(objects); t++)
		if (strcmp(objects[t].type, type) == 0)
			break;
	if (!type) {
		qm_ds_fail(ds, -EINVAL, "DescribeInvalid", "-object without a type");
	} else if (strcmp(type, "memory-backend-file") == 0) {
		qm_ds_refuse(ds,
			     "-object memory-backend-file: guest memory in a host file "
			     "(mem-path)");
	} else if (t == ARRAY_SIZE(objects)) {
		qm_ds_fail(ds, -EOPNOTSUPP, "DescribeUnknown",
			   "qmigrate does not know whether -object %.64s names a host "
			   "resource; describe the VM with --domain FILE",
			   type);
	} else {
		for (size_t i = 0; i < kv.n && ds->r == 0; i++)
			object_key(ds, type, t, &kv.v[i]);
		if (ds->r == 0)
			qm_ds_keep(ds, "object", e->value);
	}
	qm_kv_free(&kv);
}

/* -audiodev and -audio: only the driver that plays nothing names no host device. */
void qm_ds_audiodev(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;
	const char *driver;

	if (!qm_ds_parse(ds, e, "driver", &kv))
		return;
	driver = qm_kv_get(&kv, "driver");
	if (driver && strcmp(driver, "none") == 0)
		qm_ds_keep(ds, e->o->name, e->value);
	else
		qm_ds_refuse(ds, "-%s %s: the host's sound", e->o->name,
			     driver ? driver : "");
	qm_kv_free(&kv);
}
