/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Devices, disks and the files the guest boots from.  A device is the
 * guest's hardware and stays as it is; what it uses on the host is decided
 * where that is defined (-chardev, -netdev, -drive, -object), except for
 * the devices that take a host device themselves, which are refused.  An
 * image is a path on storage both hosts share, kept as it is (a later disk
 * map may change it); a network block device is a host resource.
 */
#include <errno.h>
#include <string.h>

#include "xml/describe-internal.h"

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

/* Devices that take a host device or a host-side back-end of their own. */
static const char *const host_device_prefixes[] = {
	"vfio-", "vhost-", "ivshmem", "usb-host", "u2f-passthru", "xen-", NULL,
};
/* Properties that hand a device a host descriptor or name a host device. */
static const char *const host_device_keys[] = {
	"fd",	    "vhostfd",	"vhostfds",   "host",	  "hostbus",
	"hostaddr", "hostport", "hostdevice", "sysfsdev", NULL,
};
/* Devices whose memory is counted as plugged (query-memory-size-summary). */
static const char *const memory_devices[] = {
	"pc-dimm", "nvdimm", "virtio-mem-pci", "virtio-pmem-pci", NULL,
};
/* Image formats and filters over a local file or a shared block device. */
static const char *const block_drivers[] = {
	"file",	   "host_device", "host_cdrom",	  "raw",	 "qcow2",
	"qcow",	   "qed",	  "vmdk",	  "vdi",	 "vhdx",
	"vpc",	   "parallels",	  "bochs",	  "cloop",	 "dmg",
	"luks",	   "throttle",	  "copy-on-read", "preallocate", "compress",
	"null-co", "null-aio",	  NULL,
};

static bool prefixed(const char *const *list, const char *s)
{
	for (; *list; list++)
		if (strncmp(*list, s, strlen(*list)) == 0)
			return true;
	return false;
}

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0 &&
	       (n == m || s[n - m - 1] == '.');
}

static bool refuse_json(struct qm_describe *ds, const struct qm_dentry *e)
{
	if (e->value[0] != '{')
		return false;
	qm_ds_refuse(ds, "-%s {...}: qmigrate reads the key=value form only", e->o->name);
	return true;
}

void qm_ds_device(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;
	const struct qm_kv *p;
	const char *driver, *id;

	if (refuse_json(ds, e) || !qm_ds_parse(ds, e, "driver", &kv))
		return;
	driver = qm_kv_get(&kv, "driver");
	id = qm_kv_get(&kv, "id");
	if (id)
		qm_ds_push(ds, &ds->ids, &ds->n_ids, QM_DESCRIBE_MAX_ARGS, id);
	else
		ds->n_anonymous++;
	if (driver && qm_kv_listed(memory_devices, driver))
		ds->has_memory_devices = true;
	if (!driver)
		qm_ds_fail(ds, -EINVAL, "DescribeInvalid", "-device without a driver");
	else if (prefixed(host_device_prefixes, driver))
		qm_ds_refuse(ds,
			     "-device %s: a device on a host device or a host back-end",
			     driver);
	else if ((p = qm_kv_find(&kv, host_device_keys)))
		qm_ds_refuse(ds, "-device %s,%s=: a host descriptor or device", driver,
			     p->key);
	else if (strcmp(driver, "isa-serial") == 0)
		qm_ds_isa_serial(ds, e, &kv);
	else
		qm_ds_keep(ds, "device", e->value);
	qm_kv_free(&kv);
}

/*
 * A file= of -drive (or the argument of -hda, -cdrom, ...): a path, or a
 * "protocol:..." when a ':' comes before any '/', as QEMU reads it.
 */
static bool image_file(struct qm_describe *ds, const char *opt, const char *file)
{
	size_t n = strcspn(file, ":/");

	if (!*file)
		return true; /* an empty drive */
	if (file[n] == ':' && strncmp(file, "file:", 5) != 0) {
		qm_ds_refuse(
			ds,
			"-%s file=%.*s:...: a network or special block device, not a "
			"file on shared storage",
			opt, (int)(n < 16 ? n : 16), file);
		return false;
	}
	if (strncmp(file, "file:", 5) == 0)
		file += 5;
	return qm_ds_absolute(ds, opt, "file=", file) && qm_ds_path(ds, file);
}

/* The keys of -drive and -blockdev that name a driver or a file, at any depth. */
static bool block_keys(struct qm_describe *ds, const char *opt,
		       const struct qm_kvlist *kv)
{
	for (size_t i = 0; i < kv->n && ds->r == 0; i++) {
		const struct qm_kv *p = &kv->v[i];

		if (ends_with(p->key, "driver") && !qm_kv_listed(block_drivers, p->value))
			qm_ds_refuse(ds,
				     "-%s %s=%s: a block driver that is not a file on "
				     "shared storage (a network or host device, or a "
				     "driver qmigrate does not know)",
				     opt, p->key, p->value);
		else if (ends_with(p->key, "filename") &&
			 qm_ds_absolute(ds, opt, p->key, p->value))
			qm_ds_path(ds, p->value);
	}
	return ds->r == 0;
}

/* -drive: kept as it is; if=none without a device is a node the guest never sees. */
void qm_ds_drive(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;
	const char *file;

	if (!qm_ds_parse(ds, e, NULL, &kv))
		return;
	file = qm_kv_get(&kv, "file");
	if (block_keys(ds, "drive", &kv) && (!file || image_file(ds, "drive", file)))
		qm_ds_keep(ds, "drive", e->value);
	qm_kv_free(&kv);
}

void qm_ds_blockdev(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;

	if (refuse_json(ds, e) || !qm_ds_parse(ds, e, "driver", &kv))
		return;
	if (block_keys(ds, "blockdev", &kv))
		qm_ds_keep(ds, "blockdev", e->value);
	qm_kv_free(&kv);
}

/* -hda, -cdrom, -pflash, ...: an image, as -drive file= takes it. */
void qm_ds_image(struct qm_describe *ds, struct qm_dentry *e)
{
	if (image_file(ds, e->o->name, e->value))
		qm_ds_keep(ds, e->o->name, e->value);
}

/*
 * -kernel, -initrd, -dtb, -L: a path both hosts have.  -bios and
 * -option-rom may also name a file of QEMU's own data directory.
 */
void qm_ds_file_arg(struct qm_describe *ds, struct qm_dentry *e)
{
	bool data_name =
		(!strcmp(e->o->name, "bios") || !strcmp(e->o->name, "option-rom")) &&
		!strchr(e->value, '/');

	if (data_name || qm_ds_absolute(ds, e->o->name, "its file", e->value))
		qm_ds_keep(ds, e->o->name, e->value);
}

/* Options kept as they are once the files they name are absolute paths. */
static const struct {
	const char *opt, *implied;
	const char *const *paths;   /* keys holding a path */
	const char *const *lists;   /* keys holding paths separated by ':' */
	const char *const *refused; /* keys naming what another host cannot have */
} file_keys[] = {
	{ "fw_cfg", "name", LIST("file"), NULL, NULL },
	{ "boot", "order", LIST("splash"), NULL, NULL },
	{ "smbios", "type", LIST("file", "path"), NULL, NULL },
	{ "acpitable", NULL, NULL, LIST("file", "data"), NULL },
	{ "icount", "shift", NULL, NULL, LIST("rr", "rrfile", "rrsnapshot") },
};

static void path_list(struct qm_describe *ds, const char *opt, const char *key,
		      const char *value)
{
	for (const char *p = value; ds->r == 0;) {
		size_t n = strcspn(p, ":");
		_cleanup_free_ char *one = strndup(p, n);

		if (!one) {
			qm_ds_nomem(ds);
			return;
		}
		qm_ds_absolute(ds, opt, key, one);
		if (!p[n])
			return;
		p += n + 1;
	}
}

void qm_ds_file_keys(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;
	size_t t = 0;

	while (t < ARRAY_SIZE(file_keys) && strcmp(file_keys[t].opt, e->o->name) != 0)
		t++;
	if (t == ARRAY_SIZE(file_keys)) { /* a table entry without its row here */
		qm_ds_fail(ds, -EINVAL, "Describe", "-%s has no rule", e->o->name);
		return;
	}
	if (!qm_ds_parse(ds, e, file_keys[t].implied, &kv))
		return;
	for (size_t i = 0; i < kv.n && ds->r == 0; i++) {
		const struct qm_kv *p = &kv.v[i];

		if (qm_kv_listed(file_keys[t].refused, p->key))
			qm_ds_refuse(ds, "-%s %s=: record and replay files of this host",
				     e->o->name, p->key);
		else if (qm_kv_listed(file_keys[t].paths, p->key))
			qm_ds_absolute(ds, e->o->name, p->key, p->value);
		else if (qm_kv_listed(file_keys[t].lists, p->key))
			path_list(ds, e->o->name, p->key, p->value);
	}
	if (ds->r == 0)
		qm_ds_keep(ds, e->o->name, e->value);
	qm_kv_free(&kv);
}

/* -usbdevice: the emulated input devices; braille needs the host's brlapi. */
void qm_ds_usbdevice(struct qm_describe *ds, struct qm_dentry *e)
{
	if (qm_kv_listed(LIST("mouse", "tablet", "keyboard", "wacom-tablet"), e->value))
		qm_ds_keep(ds, "usbdevice", e->value);
	else
		qm_ds_refuse(ds, "-usbdevice %.32s: not an emulated input device",
			     e->value);
}
