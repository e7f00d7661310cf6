/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * What the ABI check lets differ, and what the typed view compares in its
 * own terms (a memory size in any unit, a uuid in either case): one line
 * per element, by its path from <domain>.  Everything else in a
 * description is compared as it is written.  docs/domain.md ("The ABI
 * check") says why each entry is here.
 */
#include <string.h>

#include "xml/domain-abi-internal.h"

/* clang-format off */
#define L(...) ((const char *const[]){ __VA_ARGS__, NULL })
#define CHR_HOST_PARTS(kind)                                                             \
	{ .path = "devices/" kind "/source", .how = QM_ABI_HOST },                       \
	{ .path = "devices/" kind "/protocol", .how = QM_ABI_HOST },                     \
	{ .path = "devices/" kind "/log", .how = QM_ABI_HOST },                          \
	{ .path = "devices/" kind "/target", .parts = true, .view = L("port", "type") }

static const struct qm_abi_rule rules[] = {
	/* id is the host's running number for the domain. */
	{ .path = "", .view = L("type"), .host = L("id") },
	{ .path = "name", .parts = true, .view_text = true },
	{ .path = "uuid", .parts = true, .view_text = true },
	/* Words for people and programs on the host; the guest never sees them. */
	{ .path = "title", .how = QM_ABI_HOST },
	{ .path = "description", .how = QM_ABI_HOST },
	{ .path = "metadata", .how = QM_ABI_HOST },
	/* dumpCore: whether the host's core dumps hold guest memory. */
	{ .path = "memory", .parts = true, .view_text = true, .view = L("unit"),
	  .host = L("dumpCore") },
	/* The balloon's target: run-time state, which migrates with the balloon. */
	{ .path = "currentMemory", .how = QM_ABI_HOST },
	/* placement and cpuset pin vCPUs to host CPUs. */
	{ .path = "vcpu", .parts = true, .view_text = true, .view = L("current"),
	  .host = L("placement", "cpuset") },
	/* Host resources: cgroups, pinning, limits, security labels. */
	{ .path = "resource", .how = QM_ABI_HOST },
	{ .path = "cputune", .how = QM_ABI_HOST },
	{ .path = "memtune", .how = QM_ABI_HOST },
	{ .path = "blkiotune", .how = QM_ABI_HOST },
	{ .path = "numatune", .how = QM_ABI_HOST },
	{ .path = "seclabel", .how = QM_ABI_HOST },
	/* What the host does once the guest has powered off, rebooted or crashed. */
	{ .path = "on_poweroff", .how = QM_ABI_HOST },
	{ .path = "on_reboot", .how = QM_ABI_HOST },
	{ .path = "on_crash", .how = QM_ABI_HOST },
	{ .path = "os/type", .parts = true, .view_text = true, .view = L("arch", "machine") },
	/* check: how libvirt checks the host's CPU against the model. */
	{ .path = "cpu", .parts = true, .view = L("mode"), .host = L("check") },
	{ .path = "cpu/model", .parts = true, .view_text = true },
	{ .path = "devices", .parts = true },
	{ .path = "devices/emulator", .how = QM_ABI_HOST },
	/*
	 * The name libvirt gives a device on QEMU's command line: never seen
	 * by the guest, and not used on qmigrate's.
	 */
	{ .path = "devices/*/alias", .how = QM_ABI_HOST },

	/* snapshot: libvirt's policy for the host's snapshots. */
	{ .path = "devices/disk", .list = QM_ABI_DISKS, .view = L("device"),
	  .host = L("type", "snapshot") },
	/* The image's container and how the host reads and caches it. */
	{ .path = "devices/disk/driver", .parts = true,
	  .host = L("name", "type", "cache", "io") },
	{ .path = "devices/disk/source", .how = QM_ABI_HOST },
	{ .path = "devices/disk/backingStore", .how = QM_ABI_HOST },
	{ .path = "devices/disk/target", .parts = true, .view = L("dev", "bus") },
	{ .path = "devices/disk/readonly", .how = QM_ABI_VIEW },
	{ .path = "devices/disk/serial", .parts = true, .view_text = true },
	{ .path = "devices/disk/address", .how = QM_ABI_VIEW },

	/* user or ethernet, the tap's name, a host network: the host's end. */
	{ .path = "devices/interface", .list = QM_ABI_NETS, .host = L("type") },
	{ .path = "devices/interface/target", .how = QM_ABI_HOST },
	{ .path = "devices/interface/source", .how = QM_ABI_HOST },
	{ .path = "devices/interface/mac", .parts = true, .view = L("address") },
	{ .path = "devices/interface/model", .parts = true, .view = L("type") },
	{ .path = "devices/interface/address", .how = QM_ABI_VIEW },

	/* Where and how clients reach the display: the host's server. */
	{ .path = "devices/graphics", .list = QM_ABI_GRAPHICS, .view = L("type"),
	  .host = L("listen", "port", "autoport", "tlsPort", "websocket", "passwd",
		    "passwdValidTo", "connected", "sharePolicy") },
	{ .path = "devices/graphics/listen", .how = QM_ABI_HOST },

	/* The chr type (pty, file, unix, tcp), its source and its log: the host's end. */
	{ .path = "devices/serial", .list = QM_ABI_SERIALS, .host = L("type") },
	CHR_HOST_PARTS("serial"),
	{ .path = "devices/console", .list = QM_ABI_CONSOLES, .host = L("type", "tty") },
	CHR_HOST_PARTS("console"),

	/* A lock lease: the host's file, never seen by the guest (docs/leases.md). */
	{ .path = "devices/lease", .how = QM_ABI_HOST },

	{ .path = "qemu:commandline", .parts = true },
	{ .path = "qemu:commandline/qemu:arg", .parts = true, .view = L("value") },
};
/* clang-format on */

const struct qm_abi_rule qm_abi_plain = { .path = NULL };

/* @path against @pattern, where a segment "*" stands for any one name. */
static bool matches(const char *pattern, const char *path)
{
	while (*pattern && *path) {
		size_t p = strcspn(pattern, "/"), n = strcspn(path, "/");

		if (!(p == 1 && *pattern == '*') && (p != n || strncmp(pattern, path, n)))
			return false;
		pattern += p + (pattern[p] == '/');
		path += n + (path[n] == '/');
	}
	return !*pattern && !*path;
}

const struct qm_abi_rule *qm_abi_find_rule(const char *path)
{
	for (size_t i = 0; i < ARRAY_SIZE(rules); i++)
		if (matches(rules[i].path, path))
			return &rules[i];
	return &qm_abi_plain;
}
