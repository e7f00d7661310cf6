/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Every QEMU option a described VM may have, and what becomes of it: the
 * rewrite list of docs/describe.md, which lists the same options (a test
 * checks that it does).  An option missing here is refused by name: this
 * code does not know whether it names a host resource, and does not guess.
 */
#include <string.h>

#include "xml/describe-internal.h"

/* clang-format off */
#define TYPED(n, a, f) { n, a, QM_DOPT_TYPED, f, NULL }
#define KEPT(n, a) { n, a, QM_DOPT_KEPT, NULL, NULL }
#define MOVED(n, a, f) { n, a, QM_DOPT_MOVED, f, NULL }
#define DROPPED(n, a) { n, a, QM_DOPT_DROPPED, NULL, NULL }
#define DROPPED_FN(n, a, f) { n, a, QM_DOPT_DROPPED, f, NULL }
#define CHECKED(n, a, f) { n, a, QM_DOPT_CHECKED, f, NULL }
#define REFUSED(n, a, why) { n, a, QM_DOPT_REFUSED, NULL, why }
/* clang-format on */

/* clang-format off */
const struct qm_dopt qm_dopts[] = {
	/* The machine, typed from QEMU's own answers. */
	TYPED("name", true, NULL),
	TYPED("uuid", true, NULL),
	TYPED("machine", true, qm_ds_machine),
	TYPED("M", true, qm_ds_machine),
	TYPED("accel", true, qm_ds_accel),
	TYPED("enable-kvm", false, qm_ds_accel),
	TYPED("cpu", true, qm_ds_cpu),
	TYPED("m", true, qm_ds_memory),
	TYPED("smp", true, qm_ds_smp),
	TYPED("no-acpi", false, NULL),
	TYPED("nodefaults", false, qm_ds_nodefaults),
	TYPED("no-user-config", false, NULL),

	/* Endpoints the destination gets its own of. */
	MOVED("serial", true, qm_ds_serial_opt),
	MOVED("vnc", true, qm_ds_vnc),
	MOVED("spice", true, qm_ds_spice),
	CHECKED("chardev", true, qm_ds_chardev_opt),

	/* The launcher's own: monitors, run state, process and logs. */
	DROPPED_FN("qmp", true, qm_ds_monitor),
	DROPPED_FN("qmp-pretty", true, qm_ds_monitor),
	DROPPED_FN("monitor", true, qm_ds_monitor),
	DROPPED("mon", true), /* with its chardev: qm_ds_chardev_uses */
	DROPPED("S", false),
	DROPPED("incoming", true),
	DROPPED("preconfig", false),
	DROPPED("loadvm", true),
	DROPPED("pidfile", true),
	DROPPED("daemonize", false),
	DROPPED("D", true),
	DROPPED("d", true),
	DROPPED("dfilter", true),
	DROPPED("trace", true),
	DROPPED("msg", true),
	DROPPED("echr", true),
	DROPPED("dump-vmstate", true),
	DROPPED("enable-sync-profile", false),
	DROPPED("async-teardown", false),
	/* A local window is this host's, not the guest's. */
	DROPPED_FN("display", true, qm_ds_display),
	DROPPED("nographic", false),
	DROPPED("full-screen", false),
	DROPPED("portrait", false),
	DROPPED("rotate", true),

	/* The guest's hardware and firmware, checked for host resources. */
	CHECKED("device", true, qm_ds_device),
	CHECKED("drive", true, qm_ds_drive),
	CHECKED("blockdev", true, qm_ds_blockdev),
	CHECKED("netdev", true, qm_ds_netdev),
	CHECKED("nic", true, qm_ds_netdev),
	CHECKED("object", true, qm_ds_object),
	CHECKED("audiodev", true, qm_ds_audiodev),
	CHECKED("audio", true, qm_ds_audiodev),
	CHECKED("parallel", true, qm_ds_parallel),
	CHECKED("hda", true, qm_ds_image),
	CHECKED("hdb", true, qm_ds_image),
	CHECKED("hdc", true, qm_ds_image),
	CHECKED("hdd", true, qm_ds_image),
	CHECKED("cdrom", true, qm_ds_image),
	CHECKED("fda", true, qm_ds_image),
	CHECKED("fdb", true, qm_ds_image),
	CHECKED("pflash", true, qm_ds_image),
	CHECKED("mtdblock", true, qm_ds_image),
	CHECKED("sd", true, qm_ds_image),
	CHECKED("kernel", true, qm_ds_file_arg),
	CHECKED("initrd", true, qm_ds_file_arg),
	CHECKED("dtb", true, qm_ds_file_arg),
	CHECKED("bios", true, qm_ds_file_arg),
	CHECKED("option-rom", true, qm_ds_file_arg),
	CHECKED("L", true, qm_ds_file_arg),
	CHECKED("fw_cfg", true, qm_ds_file_keys),
	CHECKED("boot", true, qm_ds_file_keys),
	CHECKED("smbios", true, qm_ds_file_keys),
	CHECKED("acpitable", true, qm_ds_file_keys),
	CHECKED("icount", true, qm_ds_file_keys),
	CHECKED("usbdevice", true, qm_ds_usbdevice),
	KEPT("append", true),
	KEPT("global", true),
	KEPT("numa", true),
	KEPT("rtc", true),
	KEPT("vga", true),
	KEPT("usb", false),
	KEPT("k", true),
	KEPT("action", true),
	KEPT("watchdog-action", true),
	KEPT("no-reboot", false),
	KEPT("no-shutdown", false),
	KEPT("no-hpet", false),
	KEPT("no-fd-bootchk", false),
	KEPT("win2k-hack", false),
	KEPT("snapshot", false),
	KEPT("mem-prealloc", false),
	KEPT("overcommit", true),
	KEPT("sandbox", true),
	KEPT("compat", true),
	KEPT("seed", true),
	KEPT("singlestep", false),
	KEPT("only-migratable", false),

	/* Host resources qmigrate cannot choose for another QEMU. */
	REFUSED("net", true, "a legacy network hub and its host back-end"),
	REFUSED("add-fd", true, "a file descriptor of the source's process"),
	REFUSED("mem-path", true, "a host file or hugetlbfs mount backing guest memory"),
	REFUSED("fsdev", true, "a host directory shared with the guest"),
	REFUSED("virtfs", true, "a host directory shared with the guest"),
	REFUSED("tpmdev", true, "a host TPM or its emulator's socket"),
	REFUSED("debugcon", true, "a host character device"),
	REFUSED("gdb", true, "a host port or device for the debugger"),
	REFUSED("s", false, "the host port 1234 for the debugger"),
	REFUSED("iscsi", true, "iSCSI initiator credentials"),
	REFUSED("runas", true, "a host user"),
	REFUSED("chroot", true, "a host directory"),
	REFUSED("plugin", true, "a host library loaded into QEMU"),
	REFUSED("readconfig", true, "a host configuration file, which may hold anything"),
	REFUSED("set", true, "a change to any option, host resources included"),
	REFUSED("xen-domid", true, "a Xen domain"),
	REFUSED("xen-attach", false, "a Xen domain"),
	REFUSED("xen-domid-restrict", false, "a Xen domain"),
};
/* clang-format on */

const size_t qm_n_dopts = ARRAY_SIZE(qm_dopts);

const struct qm_dopt *qm_dopt_find(const char *name)
{
	for (size_t i = 0; i < qm_n_dopts; i++)
		if (strcmp(qm_dopts[i].name, name) == 0)
			return &qm_dopts[i];
	return NULL;
}
