/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A domain description: the subset of libvirt's domain XML that qmigrate
 * understands; docs/domain.md lists it element by element.  Private to
 * qmigrate for now.
 *
 * The parsed libxml2 tree is the source of truth and struct qm_domain a
 * typed, read-only view of the parts qmigrate knows.  Formatting writes the
 * tree, so an element or attribute qmigrate does not know survives a round
 * trip by construction: there is no per-field writer that could forget one.
 * A later step that changes a description edits the tree (each device's view
 * points at its element) and reads the view from it again.
 *
 * Secrets are every attribute named passwd (libvirt's graphics password) and
 * every element that carries secret="yes", with all it holds.  The full
 * format keeps them; the migratable format, the one that leaves this host,
 * never holds one.
 *
 * Input is untrusted: at most QM_DOMAIN_MAX bytes, no DTD or entity, nothing
 * fetched (xml/read.h); every list and string the view holds is bounded.
 */
#ifndef QM_XML_DOMAIN_H
#define QM_XML_DOMAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "qmigrate.h"
#include "util/macros.h"

#define QM_DOMAIN_MAX (256 * 1024) /* bytes of XML, read or written */
#define QM_DOMAIN_MAX_DISKS 64
#define QM_DOMAIN_MAX_NETS 32
#define QM_DOMAIN_MAX_GRAPHICS 4
#define QM_DOMAIN_MAX_SERIALS 8
#define QM_DOMAIN_MAX_CONSOLES 8
#define QM_DOMAIN_MAX_LEASES 8	     /* engine/lease.h's QM_LEASE_MAX */
#define QM_DOMAIN_MAX_LEASE_PATH 255 /* bytes: QM_LEASE_PATH_MAX less its NUL */
#define QM_DOMAIN_MAX_QEMU_ARGS 256
#define QM_DOMAIN_MAX_VCPUS 4096
#define QM_DOMAIN_MAX_NAME                                                               \
	255			/* bytes, like a file name: libvirt names files after it \
				 */
#define QM_DOMAIN_MAX_PATH 4095 /* bytes, PATH_MAX less its NUL */
#define QM_DOMAIN_MAX_STRING 255 /* bytes of any other text the view holds */

/* <domain type=...>: "kvm", or "qemu" for TCG. */
enum qm_domain_accel {
	QM_DOMAIN_ACCEL_KVM,
	QM_DOMAIN_ACCEL_TCG,
};

/* <cpu mode=...>; NONE when there is no <cpu> (QEMU's default model). */
enum qm_domain_cpu_mode {
	QM_DOMAIN_CPU_NONE,
	QM_DOMAIN_CPU_CUSTOM, /* "custom", the default: <model> names it */
	QM_DOMAIN_CPU_HOST_MODEL,
	QM_DOMAIN_CPU_HOST_PASSTHROUGH,
	QM_DOMAIN_CPU_MAXIMUM,
};

enum qm_domain_disk_device {
	QM_DOMAIN_DISK_DISK,
	QM_DOMAIN_DISK_CDROM,
};

enum qm_domain_disk_format {
	QM_DOMAIN_FORMAT_RAW,
	QM_DOMAIN_FORMAT_QCOW2,
};

enum qm_domain_disk_bus {
	QM_DOMAIN_BUS_VIRTIO,
	QM_DOMAIN_BUS_IDE,
	QM_DOMAIN_BUS_SCSI,
};

enum qm_domain_disk_cache {
	QM_DOMAIN_CACHE_DEFAULT,
	QM_DOMAIN_CACHE_NONE,
	QM_DOMAIN_CACHE_WRITETHROUGH,
	QM_DOMAIN_CACHE_WRITEBACK,
	QM_DOMAIN_CACHE_DIRECTSYNC,
	QM_DOMAIN_CACHE_UNSAFE,
};

enum qm_domain_net_type {
	QM_DOMAIN_NET_USER,
	QM_DOMAIN_NET_ETHERNET, /* a tap device */
};

enum qm_domain_graphics_type {
	QM_DOMAIN_GRAPHICS_VNC,
	QM_DOMAIN_GRAPHICS_SPICE,
};

enum qm_domain_chr_type {
	QM_DOMAIN_CHR_PTY,
	QM_DOMAIN_CHR_FILE,
	QM_DOMAIN_CHR_UNIX,
	QM_DOMAIN_CHR_TCP,
};

/* <source mode=...> of a unix or tcp character device; libvirt's default is connect. */
enum qm_domain_chr_mode {
	QM_DOMAIN_CHR_CONNECT,
	QM_DOMAIN_CHR_BIND,
};

enum qm_domain_addr_type {
	QM_DOMAIN_ADDR_NONE, /* no <address>: QEMU places the device */
	QM_DOMAIN_ADDR_PCI,
	QM_DOMAIN_ADDR_DRIVE,
	QM_DOMAIN_ADDR_OTHER, /* another type: kept in the tree, not read */
};

/* Names of the enums above, as the XML spells them, indexed by value. */
extern const char *const qm_domain_accel_names[2];
extern const char *const qm_domain_cpu_mode_names[5]; /* [NONE] is "" */
extern const char *const qm_domain_disk_device_names[2];
extern const char *const qm_domain_disk_format_names[2];
extern const char *const qm_domain_disk_bus_names[3];
extern const char *const qm_domain_disk_cache_names[6];
extern const char *const qm_domain_net_type_names[2];
extern const char *const qm_domain_graphics_type_names[2];
extern const char *const qm_domain_chr_type_names[4];
extern const char *const qm_domain_chr_mode_names[2];

/* <address type=...>: where the guest sees a device, which the ABI check compares. */
struct qm_domain_address {
	enum qm_domain_addr_type type;
	unsigned domain, bus, slot, function; /* pci: 0..0xffff, 0..0xff, 0..0x1f, 0..7 */
	unsigned controller, target, unit;    /* drive, with bus */
};

/* Every struct below points at its element in the tree: later steps edit it there. */
struct _xmlNode;
struct _xmlDoc;

struct qm_domain_disk {
	enum qm_domain_disk_device device;
	char *file; /* <source file>; NULL: an empty cdrom drive */
	/* <driver type>; raw when absent: a format is never probed */
	enum qm_domain_disk_format format;
	enum qm_domain_disk_cache cache; /* <driver cache> */
	enum qm_domain_disk_bus bus;	 /* <target bus>, else from the dev prefix */
	char *dev;			 /* <target dev>: "vda", "hdc", "sda" */
	bool readonly;			 /* <readonly/>; always true for a cdrom */
	char *serial;			 /* <serial>; NULL when absent */
	struct qm_domain_address address;
	struct _xmlNode *node;
};

struct qm_domain_net {
	enum qm_domain_net_type type;
	char *tap;    /* <target dev>: the tap device; type ethernet only */
	char mac[18]; /* <mac address>, lower case; "" when absent (QEMU picks) */
	char *model;  /* <model type>: "virtio", "e1000"; NULL: the machine's default */
	struct qm_domain_address address;
	struct _xmlNode *node;
};

struct qm_domain_graphics {
	enum qm_domain_graphics_type type;
	/* listen= or <listen type="address" address=>; NULL: QEMU's default */
	char *listen;
	bool autoport;
	int port;     /* -1 with autoport; VNC: 5900 and up */
	int tls_port; /* spice only; -1 when none */
	char *passwd; /* a secret: never in the migratable format; NULL when none */
	struct _xmlNode *node;
};

/* A <serial> or a <console>. */
struct qm_domain_chr {
	enum qm_domain_chr_type type;
	char *path;		      /* <source path>: file and unix */
	enum qm_domain_chr_mode mode; /* <source mode>: unix and tcp */
	char *host;		      /* <source host>: tcp */
	char *service;		      /* <source service>: tcp, a port number */
	bool telnet;		      /* <protocol type="telnet">: tcp */
	int target_port;	      /* <target port>; -1 when absent */
	char *target_type; /* <target type>: "serial", "virtio"; NULL when absent */
	struct _xmlNode *node;
};

/*
 * A <lease>: a lock lease the VM holds while it runs (docs/leases.md).  The
 * guest never sees it, and it is not on QEMU's command line: the lease
 * reaches QEMU as a descriptor.
 */
struct qm_domain_lease {
	char *path; /* <target path>: the lease file, absolute */
	struct _xmlNode *node;
};

/* The typed view; every field is read-only for callers. */
struct qm_domain {
	enum qm_domain_accel accel;
	char *name;
	char uuid[37];		/* canonical lower-case 8-4-4-4-12 */
	uint64_t memory_kib;	/* <memory> in KiB, rounded up as libvirt does */
	unsigned vcpus;		/* <vcpu>, 1 when absent */
	unsigned vcpus_current; /* <vcpu current>, else vcpus */
	char *arch;		/* <os><type arch>; NULL: the emulator's own */
	char *machine;		/* <os><type machine>; NULL: the emulator's default */
	char *emulator;		/* <devices><emulator>; NULL when absent */
	enum qm_domain_cpu_mode cpu_mode;
	char *cpu_model; /* <cpu><model>; NULL when absent */

	struct qm_domain_disk *disks;
	size_t n_disks;
	struct qm_domain_net *nets;
	size_t n_nets;
	struct qm_domain_graphics *graphics;
	size_t n_graphics;
	struct qm_domain_chr *serials;
	size_t n_serials;
	struct qm_domain_chr *consoles;
	size_t n_consoles;
	struct qm_domain_lease *leases; /* paths unique among them */
	size_t n_leases;
	char **qemu_args; /* <qemu:commandline><qemu:arg value>, in order */
	size_t n_qemu_args;

	struct _xmlDoc *doc; /* the source of truth */
};

/*
 * Parses @len bytes of untrusted @xml into a new description in *@out
 * (qm_domain_free it).  Error classes: DomainTooLarge (more than
 * QM_DOMAIN_MAX bytes), DomainUnsafe (a DTD or entity), DomainMalformed
 * (not well-formed, not UTF-8), DomainInvalid (a known element or attribute
 * that is missing, repeated, too long, too many or wrong, or a secret mark
 * that is neither yes nor no or would leave the migratable form unreadable:
 * the message names the element by its path and line, e.g.
 * "domain XML /domain/devices/disk[2]/driver (line 14): ...").  A password
 * is never shown in a message.  *@out is NULL on failure.
 */
int qm_domain_parse(const char *xml, size_t len, struct qm_domain **out,
		    struct qm_error *err) _must_check_;

/*
 * The same from the regular file @path, read no further than one byte past
 * QM_DOMAIN_MAX.  Also fails with class DomainFile (cannot open or read it,
 * or not a regular file: a FIFO or a device could block or never end).
 */
int qm_domain_parse_file(const char *path, struct qm_domain **out,
			 struct qm_error *err) _must_check_;

/*
 * Writes the whole description, secrets included, into a new string in
 * *@out (free() it).  Deterministic: two spaces of indentation, no XML
 * declaration, everything else as it was read; formatting what this
 * returns gives it back byte for byte.  Fails with class DomainTooLarge
 * when it would not be read back (more than QM_DOMAIN_MAX bytes), or
 * DomainFormat when out of memory.
 */
int qm_domain_format(const struct qm_domain *d, char **out,
		     struct qm_error *err) _must_check_;

/*
 * The same without a secret: no passwd attribute and no element marked
 * secret="yes".  This is the form that may leave the host (the migration
 * cookie); a password is set on the destination from its own secrets.
 */
int qm_domain_migratable_format(const struct qm_domain *d, char **out,
				struct qm_error *err) _must_check_;

void qm_domain_free(struct qm_domain *d);

static inline void qm_domain_freep(struct qm_domain **d)
{
	qm_domain_free(*d);
}
#define _cleanup_domain_ _cleanup_(qm_domain_freep)

#endif
