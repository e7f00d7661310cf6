/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The enums of a domain description as its XML spells them: one table each, both ways. */
#include "xml/domain.h"

const char *const qm_domain_accel_names[2] = {
	[QM_DOMAIN_ACCEL_KVM] = "kvm",
	[QM_DOMAIN_ACCEL_TCG] = "qemu",
};

const char *const qm_domain_cpu_mode_names[5] = {
	[QM_DOMAIN_CPU_NONE] = "",
	[QM_DOMAIN_CPU_CUSTOM] = "custom",
	[QM_DOMAIN_CPU_HOST_MODEL] = "host-model",
	[QM_DOMAIN_CPU_HOST_PASSTHROUGH] = "host-passthrough",
	[QM_DOMAIN_CPU_MAXIMUM] = "maximum",
};

const char *const qm_domain_disk_device_names[2] = {
	[QM_DOMAIN_DISK_DISK] = "disk",
	[QM_DOMAIN_DISK_CDROM] = "cdrom",
};

const char *const qm_domain_disk_format_names[2] = {
	[QM_DOMAIN_FORMAT_RAW] = "raw",
	[QM_DOMAIN_FORMAT_QCOW2] = "qcow2",
};

const char *const qm_domain_disk_bus_names[3] = {
	[QM_DOMAIN_BUS_VIRTIO] = "virtio",
	[QM_DOMAIN_BUS_IDE] = "ide",
	[QM_DOMAIN_BUS_SCSI] = "scsi",
};

const char *const qm_domain_disk_cache_names[6] = {
	[QM_DOMAIN_CACHE_DEFAULT] = "default",
	[QM_DOMAIN_CACHE_NONE] = "none",
	[QM_DOMAIN_CACHE_WRITETHROUGH] = "writethrough",
	[QM_DOMAIN_CACHE_WRITEBACK] = "writeback",
	[QM_DOMAIN_CACHE_DIRECTSYNC] = "directsync",
	[QM_DOMAIN_CACHE_UNSAFE] = "unsafe",
};

const char *const qm_domain_net_type_names[2] = {
	[QM_DOMAIN_NET_USER] = "user",
	[QM_DOMAIN_NET_ETHERNET] = "ethernet",
};

const char *const qm_domain_graphics_type_names[2] = {
	[QM_DOMAIN_GRAPHICS_VNC] = "vnc",
	[QM_DOMAIN_GRAPHICS_SPICE] = "spice",
};

const char *const qm_domain_chr_type_names[4] = {
	[QM_DOMAIN_CHR_PTY] = "pty",
	[QM_DOMAIN_CHR_FILE] = "file",
	[QM_DOMAIN_CHR_UNIX] = "unix",
	[QM_DOMAIN_CHR_TCP] = "tcp",
};

const char *const qm_domain_chr_mode_names[2] = {
	[QM_DOMAIN_CHR_CONNECT] = "connect",
	[QM_DOMAIN_CHR_BIND] = "bind",
};
