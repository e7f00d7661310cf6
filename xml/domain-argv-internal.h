/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the files that build a command line: the growing argv, option
 * strings with escaped values, refusals that name the element, and the
 * parts of the builder.
 */
#ifndef QM_XML_DOMAIN_ARGV_INTERNAL_H
#define QM_XML_DOMAIN_ARGV_INTERNAL_H

#include <stdio.h>

#include <libxml/tree.h>

#include "xml/domain-argv.h"
#include "xml/domain-internal.h"

struct qm_argv_build {
	char **v;
	size_t n, cap;
	const struct qm_domain *d;
	const struct qm_domain_argv_opts *opts;
	struct qm_error *err;
	int r;	  /* the first failure; once set, adding does nothing */
	bool q35; /* the root bus is pcie.0, not pci.0 */
};

/* Appends a copy of @s. */
void qm_ab_add(struct qm_argv_build *b, const char *s);
/* Appends a formatted argument; never pass a value that needs escaping. */
void qm_ab_addf(struct qm_argv_build *b, const char *fmt, ...) _printf_(2, 3);

/*
 * An option string ("driver=file,filename=...") is written into a memory
 * stream: qm_ab_open starts one (NULL once the build failed), qm_ab_esc
 * writes a value with each ',' doubled, qm_ab_close appends the string as
 * one argument.
 */
FILE *qm_ab_open(struct qm_argv_build *b, char **buf, size_t *size);
void qm_ab_esc(FILE *f, const char *value);
void qm_ab_close(struct qm_argv_build *b, FILE *f, char **buf);
/* The common case: one argument @prefix, @value with each ',' doubled, @suffix. */
void qm_ab_add_esc(struct qm_argv_build *b, const char *prefix, const char *value,
		   const char *suffix);

/* Fails the build with class DomainUnsupported, naming @n by its path and line. */
int qm_ab_refuse(struct qm_argv_build *b, const xmlNode *n, const char *fmt, ...)
	_printf_(3, 4);

/* ",bus=pci.0,addr=0x4.0x0" for a PCI <address>; refuses any other kind. */
int qm_ab_pci_addr(struct qm_argv_build *b, FILE *f, const struct qm_domain_address *a,
		   const xmlNode *dev);
/* The boot index of a device: <boot order=N>, else its place in <os><boot dev=...>. */
int qm_ab_bootindex(struct qm_argv_build *b, const xmlNode *dev, const char *os_dev,
		    bool first, unsigned *out);

/* The parts, in command-line order. */
void qm_ab_check(struct qm_argv_build *b);
void qm_ab_controllers(struct qm_argv_build *b);
void qm_ab_disks(struct qm_argv_build *b);
void qm_ab_nets(struct qm_argv_build *b);
void qm_ab_chardevs(struct qm_argv_build *b);
void qm_ab_video(struct qm_argv_build *b);
void qm_ab_graphics(struct qm_argv_build *b);

#endif
