/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A running QEMU as a domain description, built from its own command line
 * and what it says over QMP; private to qmigrate.  docs/describe.md lists
 * every option it knows and what becomes of it.
 *
 * The description is one that xml/domain-argv.h turns back into a command
 * line giving the guest the same machine: what the guest sees is kept,
 * typed where the builder reproduces it exactly and verbatim in
 * <qemu:commandline> otherwise; what names a host resource is dropped (the
 * launcher brings its own QMP socket, run state and logs), typed so that a
 * later step can move it (serial endpoints, displays), or refused.  So is
 * every option this code does not know: it never guesses.
 *
 * Pure: no I/O.  The caller reads the argv (engine/proc.h) and asks QEMU
 * for the facts (engine/describe.h).
 */
#ifndef QM_XML_DOMAIN_DESCRIBE_H
#define QM_XML_DOMAIN_DESCRIBE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "qmigrate.h"
#include "util/macros.h"
#include "xml/domain.h"

#define QM_DESCRIBE_MAX_ARGS 4096 /* arguments of the source's command line */

/* A display as QEMU reports it (query-vnc, query-spice). */
struct qm_describe_display {
	bool enabled;
	const char *host; /* the address it listens on; NULL when not listening */
	int port;	  /* -1 when none */
	int tls_port;	  /* SPICE; -1 when none */
	bool password;	  /* auth is not "none": a password QEMU does not tell */
};

/* A block device with a medium (query-block): every file name of its chain. */
struct qm_describe_medium {
	const char *device; /* "ide0-hd0", or the qdev path */
	const char **files;
	size_t n_files;
};

/*
 * What QEMU says about itself.  Strings are borrowed; engine/describe.h
 * fills this from QMP replies.
 */
struct qm_describe_facts {
	pid_t pid;	      /* names a VM without -name: "qemu-PID" */
	const char *emulator; /* /proc/PID/exe */
	const char *name;     /* query-name; NULL: no -name */
	const char *uuid;     /* query-uuid */
	const char *arch;     /* query-target */
	const char *machine;  /* the versioned type, "pc-i440fx-7.2", never an alias */
	int acpi;	 /* the machine's acpi property: 1 on or auto, 0 off, -1 none */
	bool kvm;	 /* query-kvm: enabled */
	unsigned vcpus;	 /* query-cpus-fast: how many */
	uint64_t memory; /* query-memory-size-summary: base-memory, bytes */
	uint64_t plugged_memory; /* ... plugged-memory, bytes */
	struct qm_describe_display vnc, spice;
	const char **chardevs; /* query-chardev: the labels */
	size_t n_chardevs;
	const struct qm_describe_medium *media;
	size_t n_media;
	const char **peripherals; /* /machine/peripheral: ids of devices that have one */
	size_t n_peripherals;
	size_t n_anonymous; /* /machine/peripheral-anon: devices without an id */
};

/*
 * Describes the QEMU started with @argv (NULL-terminated; argv[0] is how
 * it was called, facts->emulator what runs) into a new description in
 * *@out (qm_domain_free it).  Error classes: DescribeRefused (an option
 * names a host resource qmigrate cannot choose for another QEMU, or holds
 * what the description cannot carry: the message names the option, never
 * a whole value), DescribeUnknown (an option this code does not know),
 * DescribeFacts (QEMU's facts contradict its command line: something
 * changed at run time), DescribeInvalid (facts that are missing or
 * malformed), Describe (out of memory).  *@out is NULL on failure.
 */
int qm_domain_describe(char *const *argv, const struct qm_describe_facts *facts,
		       struct qm_domain **out, struct qm_error *err) _must_check_;

#endif
