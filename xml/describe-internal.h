/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the files that describe a running QEMU: QEMU's option strings,
 * the table of options, the state of one description and its refusals.
 */
#ifndef QM_XML_DESCRIBE_INTERNAL_H
#define QM_XML_DESCRIBE_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "xml/domain-describe.h"

/* ---- QEMU's "key=value,key=value" strings, with ",," for a comma ---------- */

struct qm_kv {
	char *key;   /* NULL for an implied key's value given first without "key=" */
	char *value; /* unescaped; NULL for a bare flag ("server", "nowait") */
};

struct qm_kvlist {
	struct qm_kv *v;
	size_t n;
};

/*
 * Splits @s into *@out (qm_kv_free it).  An element without '=' is the
 * implied key's value when it comes first and @implied is set (the key is
 * then @implied), else a flag.  -ENOMEM, or -EINVAL for an empty key.
 */
int qm_kv_parse(const char *s, const char *implied, struct qm_kvlist *out) _must_check_;
void qm_kv_free(struct qm_kvlist *l);
/* The value of the last @key (QEMU's rule: the last one wins), or NULL. */
const char *qm_kv_get(const struct qm_kvlist *l, const char *key);
/* True when the flag or key=on|yes|true is set, false for off|no|false or absent. */
bool qm_kv_on(const struct qm_kvlist *l, const char *key);
/* True when @s is in @list (NULL-terminated; a NULL @list holds nothing). */
bool qm_kv_listed(const char *const *list, const char *s);
/* The first element whose key is in @keys, or NULL. */
const struct qm_kv *qm_kv_find(const struct qm_kvlist *l, const char *const *keys);
/* The element whose key is not in @known (NULL-terminated), or NULL. */
const struct qm_kv *qm_kv_unknown(const struct qm_kvlist *l, const char *const *known);
/*
 * "k=v,k=v" of every element but those in @skip, commas doubled, the first
 * one bare when its key is @implied; NULL when out of memory.
 */
char *qm_kv_join(const struct qm_kvlist *l, const char *const *skip, const char *implied);

/* ---- the table of options -------------------------------------------------- */

/* What becomes of an option; docs/describe.md says it for each one. */
enum qm_dopt_class {
	QM_DOPT_TYPED,	 /* an element of the description */
	QM_DOPT_KEPT,	 /* verbatim in <qemu:commandline> */
	QM_DOPT_MOVED,	 /* typed, so that the destination gets its own endpoint */
	QM_DOPT_DROPPED, /* the launcher supplies its own, or it is the host's only */
	QM_DOPT_CHECKED, /* decided by its type and sub-options */
	QM_DOPT_REFUSED, /* names a host resource qmigrate cannot choose */
};

struct qm_describe;
struct qm_dentry;

struct qm_dopt {
	const char *name; /* without the dash */
	bool arg;	  /* takes the next argument */
	enum qm_dopt_class cls;
	/* Decides; NULL: the class does (kept verbatim, dropped or refused). */
	void (*fn)(struct qm_describe *ds, struct qm_dentry *e);
	const char *why; /* refused: the host resource it names */
};

extern const struct qm_dopt qm_dopts[];
extern const size_t qm_n_dopts;
const struct qm_dopt *qm_dopt_find(const char *name);

/* ---- one description ------------------------------------------------------- */

struct qm_dentry {
	const struct qm_dopt *o;
	const char *value; /* borrowed from argv; NULL without an argument */
	/* A -chardev: its id, what uses it, and whether two things do. */
	char *id;
	int use; /* enum qm_dchr_use */
	bool shared;
};

/* A serial port for <serial>: the ISA port @index on a typed endpoint. */
struct qm_dserial {
	enum qm_domain_chr_type type;
	char *path, *host, *service;
	bool bind, telnet;
	unsigned index;
};

/* What a -chardev is for, found before anything is decided. */
enum qm_dchr_use {
	QM_DCHR_NONE,	 /* nothing uses it */
	QM_DCHR_MONITOR, /* a monitor's: goes with it */
	QM_DCHR_SERIAL,	 /* an ISA serial port's: becomes a <serial> */
	QM_DCHR_DEVICE,	 /* another device's: stays, if it names nothing on the host */
};

struct qm_describe {
	const struct qm_describe_facts *f;
	struct qm_error *err;
	int r; /* the first failure; once set, nothing more is done */

	struct qm_dentry *e;
	size_t n_e;

	/* Collected for the elements. */
	bool nodefaults, has_cpu, has_memory_devices;
	bool smp_topology; /* -smp has sockets, cores, ...: kept verbatim beside <vcpu> */
	unsigned smp_cpus, smp_max;
	char *cpu_model;
	int cpu_mode; /* enum qm_domain_cpu_mode */
	struct qm_dserial serials[QM_DOMAIN_MAX_SERIALS];
	size_t n_serials;
	unsigned serial_index;	 /* the next ISA port an automatic one takes */
	size_t n_legacy_serials; /* -serial options that made a port, for their labels */
	size_t n_monitors;	 /* -qmp and -monitor, for their labels */
	bool vnc, spice;
	char *vnc_listen, *spice_listen;

	/* The passthrough, in command-line order. */
	char **pass;
	size_t n_pass;

	/* What the command line names, to check the facts against. */
	char **paths; /* every image file it names, unescaped */
	size_t n_paths;
	char **chardevs; /* every chardev label it makes */
	size_t n_chardevs;
	char **ids; /* every -device id= */
	size_t n_ids;
	size_t n_anonymous; /* -device without an id */
};

/* Fails with class DescribeRefused: the message, then "; describe the VM with --domain
 * FILE". */
void qm_ds_refuse(struct qm_describe *ds, const char *fmt, ...) _printf_(2, 3);
/* Fails with class @cls and the message as it is. */
void qm_ds_fail(struct qm_describe *ds, int code, const char *cls, const char *fmt, ...)
	_printf_(4, 5);
void qm_ds_nomem(struct qm_describe *ds);
/* Appends a copy of @s to the list (*@v, *@n), bounded by @max; false when it failed. */
bool qm_ds_push(struct qm_describe *ds, char ***v, size_t *n, size_t max, const char *s);
/* Appends "-NAME" and @value (when not NULL) to the passthrough. */
void qm_ds_keep(struct qm_describe *ds, const char *name, const char *value);
/* Parses @e's value into @kv, failing the description (naming the option) when it cannot.
 */
bool qm_ds_parse(struct qm_describe *ds, const struct qm_dentry *e, const char *implied,
		 struct qm_kvlist *kv);
/* True when @path is absolute; else refuses, naming -@opt and @what. */
bool qm_ds_absolute(struct qm_describe *ds, const char *opt, const char *what,
		    const char *path);
/* Records an image path the facts must find; false when it failed. */
bool qm_ds_path(struct qm_describe *ds, const char *path);
/* The chardev labeled @id, among the -chardev entries; NULL when none. */
struct qm_dentry *qm_ds_chardev(struct qm_describe *ds, const char *id);
/* Adds a serial port; false when it failed. */
bool qm_ds_serial(struct qm_describe *ds, struct qm_dserial *s);

/* The options that decide for themselves, by file. */
/* describe-machine.c */
void qm_ds_machine(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_accel(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_cpu(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_memory(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_smp(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_nodefaults(struct qm_describe *ds, struct qm_dentry *e);
/* describe-chr.c */
void qm_ds_serial_opt(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_chardev_opt(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_monitor(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_parallel(struct qm_describe *ds, struct qm_dentry *e);
/* -device isa-serial: a <serial> on its chardev's endpoint. */
void qm_ds_isa_serial(struct qm_describe *ds, struct qm_dentry *e, struct qm_kvlist *kv);
/* Before anything is decided: which chardev serves what. */
void qm_ds_chardev_uses(struct qm_describe *ds);
/* describe-dev.c */
void qm_ds_device(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_drive(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_blockdev(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_image(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_netdev(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_object(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_file_keys(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_file_arg(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_usbdevice(struct qm_describe *ds, struct qm_dentry *e);
/* describe-display.c */
void qm_ds_vnc(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_spice(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_display(struct qm_describe *ds, struct qm_dentry *e);
void qm_ds_audiodev(struct qm_describe *ds, struct qm_dentry *e);
/* describe-check.c: the facts against the command line */
void qm_ds_check_facts(struct qm_describe *ds);
/* describe-xml.c: the description itself */
int qm_ds_build(struct qm_describe *ds, struct qm_domain **out);

#endif
