/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the files that read a domain description: finding elements,
 * reading bounded values with errors that name the element, and the parsers
 * of each part of the tree.
 */
#ifndef QM_XML_DOMAIN_INTERNAL_H
#define QM_XML_DOMAIN_INTERNAL_H

#include <libxml/tree.h>

#include "xml/domain.h"
#include "xml/read.h"

/* libvirt's namespace for QEMU command-line passthrough. */
#define QM_DOMAIN_QEMU_NS "http://libvirt.org/schemas/domain/qemu/1.0"

/* What a text value may hold; the reader already made sure it is UTF-8. */
enum qm_dom_rule {
	QM_DOM_PLAIN,	/* no control characters */
	QM_DOM_NOSPACE, /* ... and no spaces: host names and addresses */
	QM_DOM_PATH,	/* ... and absolute */
	QM_DOM_TOKEN,	/* A-Z a-z 0-9 . _ - : machine types, models, device names */
	QM_DOM_SERIAL,	/* A-Z a-z 0-9 _ . + - and space: libvirt's rule for a disk serial
			 */
	QM_DOM_NAME, /* no control characters and no '/': libvirt names files after it */
};

/* How a text value is read: its rule, its bound, whether it must be there. */
struct qm_dom_text {
	enum qm_dom_rule rule;
	size_t max; /* bytes */
	bool required;
	bool secret; /* never shown in a message */
};

/*
 * Fails with class DomainInvalid and -EINVAL, the message naming @n by its
 * path and line: "domain XML /domain/devices/disk[2]/driver (line 9): ...".
 */
int qm_dom_invalid(const xmlNode *n, struct qm_error *err, const char *fmt, ...)
	_printf_(3, 4);

/* True when @n is an element of ours (no namespace) named @name. */
bool qm_dom_is(const xmlNode *n, const char *name);
/* True when @n is the element @name of libvirt's QEMU namespace. */
bool qm_dom_is_qemu(const xmlNode *n, const char *name);
/* How many children of @parent are elements of ours named @name. */
size_t qm_dom_count(const xmlNode *parent, const char *name);

/* The only child of @parent named @name in *@out, NULL when none; a second is refused. */
int qm_dom_child(xmlNode *parent, const char *name, xmlNode **out,
		 struct qm_error *err) _must_check_;

/*
 * The attribute @attr of @n (no namespace), or with @attr NULL the text of
 * @n, into a new string in *@out: NULL when absent (a required one is
 * refused), checked against @how.  An empty value is refused.
 */
int qm_dom_string(xmlNode *n, const char *attr, const struct qm_dom_text *how, char **out,
		  struct qm_error *err) _must_check_;

/*
 * The attribute @attr of @n as one of @names (indexed by value) into *@out;
 * @dflt when absent, or refused when @dflt is -1.
 */
int qm_dom_enum(xmlNode *n, const char *attr, const char *const *names, size_t n_names,
		int dflt, int *out, struct qm_error *err) _must_check_;

/*
 * The attribute @attr of @n (with @attr NULL, its text) as an integer in
 * 0..@max into *@out: decimal digits, or "0x" and hex digits when @hex.
 * Returns 1 when read, 0 when absent (*@out untouched), or a negative errno.
 */
int qm_dom_number(xmlNode *n, const char *attr, uint64_t max, bool hex, uint64_t *out,
		  struct qm_error *err) _must_check_;

/*
 * A new description in *@out (qm_domain_free it) whose tree is @doc, taken
 * in every case, and whose view is read from it under the same rules as
 * qm_domain_parse.  A step that edits a description reads its view again
 * this way.  *@out is NULL on failure.
 */
int qm_dom_from_doc(xmlDocPtr doc, struct qm_domain **out,
		    struct qm_error *err) _must_check_;

/* The parts of the tree, each into its own piece of the view. */
int qm_dom_parse_devices(xmlNode *devices, struct qm_domain *d,
			 struct qm_error *err) _must_check_;
int qm_dom_parse_address(xmlNode *dev, struct qm_domain_address *a,
			 struct qm_error *err) _must_check_;
int qm_dom_parse_disk(xmlNode *n, struct qm_domain_disk *disk,
		      struct qm_error *err) _must_check_;
int qm_dom_parse_net(xmlNode *n, struct qm_domain_net *net,
		     struct qm_error *err) _must_check_;
int qm_dom_parse_graphics(xmlNode *n, struct qm_domain_graphics *g,
			  struct qm_error *err) _must_check_;
int qm_dom_parse_chr(xmlNode *n, struct qm_domain_chr *chr,
		     struct qm_error *err) _must_check_;
int qm_dom_parse_lease(xmlNode *n, struct qm_domain_lease *lease,
		       struct qm_error *err) _must_check_;

/* True when a character device's <target type> is a serial port's (absent, too). */
bool qm_dom_chr_serial_target(const char *type);
/*
 * libvirt writes a serial console twice, as <serial> and as <console> with
 * the same source: the index of the <serial> whose port the <console> @c
 * of @d stands for, or -1 when @c is no serial console or no <serial> has
 * its port.
 */
int qm_dom_console_serial(const struct qm_domain *d, const struct qm_domain_chr *c);

/*
 * Secrets: every attribute named passwd and every element carrying
 * secret="yes".  qm_dom_check_secrets refuses a secret attribute that says
 * neither yes nor no (a misspelt mark must not leak what it meant to hide)
 * and a secret root, and returns how many elements are marked secret;
 * qm_dom_strip_secrets removes every secret from the tree.
 */
int qm_dom_check_secrets(xmlNode *root, struct qm_error *err) _must_check_;
void qm_dom_strip_secrets(xmlNode *root);

#endif
