/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Shared by the parts of the ABI check: the list of differences it
 * collects, and the three comparisons that fill it (the machine and the
 * passthrough, the typed devices, the whole tree).
 */
#ifndef QM_XML_DOMAIN_ABI_INTERNAL_H
#define QM_XML_DOMAIN_ABI_INTERNAL_H

#include <libxml/tree.h>

#include "xml/domain-abi.h"

#define QM_ABI_KEPT 8	 /* differences whose text is kept for the message */
#define QM_ABI_ITEM 200	 /* bytes of one difference's text */
#define QM_ABI_VALUE 48	 /* bytes of one value shown, quotes and "..." included */
#define QM_ABI_PATH 2048 /* bytes of an element's path: deep enough for any sane tree */
#define QM_ABI_NAME 100	 /* bytes of an element's or attribute's name in a message */
#define QM_ABI_SHOWN 100 /* bytes of a path in a message: its end, when longer */

/* The device lists of the typed view, as bits of qm_abi.unpaired. */
enum qm_abi_list {
	QM_ABI_DISKS = 1u << 0,
	QM_ABI_NETS = 1u << 1,
	QM_ABI_GRAPHICS = 1u << 2,
	QM_ABI_SERIALS = 1u << 3,
	QM_ABI_CONSOLES = 1u << 4,
};

struct qm_abi {
	char kept[QM_ABI_KEPT][QM_ABI_ITEM];
	size_t n; /* differences found, kept or not */
	bool nomem;
	/*
	 * Lists whose devices the typed view could not pair (another count or
	 * order): it said so once, and the tree walk leaves them alone rather
	 * than compare devices that are not the same device.
	 */
	unsigned unpaired;
};

/* How the tree walk treats an element, by its path from <domain>. */
enum qm_abi_how {
	QM_ABI_COMPARE, /* attributes, text and children, but for the rule's lists */
	QM_ABI_HOST, /* the host's business, with all it holds: may differ, or be absent
		      */
	QM_ABI_VIEW, /* the typed view compares all of it */
};

struct qm_abi_rule {
	/* From <domain>, names without indices; "" is <domain>, "*" any one name. */
	const char *path;
	enum qm_abi_how how;
	/*
	 * Its presence alone says nothing the view has not compared (absent,
	 * it has defaults): on one side only, its parts are compared with
	 * nothing, one by one.  Without it, an element on one side only is a
	 * difference in itself.
	 */
	bool parts;
	bool view_text; /* its text is the view's */
	unsigned list;	/* a list of the view (enum qm_abi_list): paired as it did */
	const char *const *view; /* attributes the view compares */
	const char *const *host; /* attributes that may differ */
};

/* An element with no rule: compared as it is written. */
extern const struct qm_abi_rule qm_abi_plain;

/* The rule for the element at @path ("devices/disk/target"), else &qm_abi_plain. */
const struct qm_abi_rule *qm_abi_find_rule(const char *path);

/* Records one difference: "PATH: what on the source, what on the destination". */
void qm_abi_diff(struct qm_abi *abi, const char *fmt, ...) _printf_(2, 3);

/*
 * @s for a message, in @buf of at least QM_ABI_VALUE bytes: in double
 * quotes, control characters as '?', cut at a character boundary with
 * "..." when long; "none" when @s is NULL.  Returns @buf.
 */
const char *qm_abi_quote(const char *s, char *buf);

/* "prefix:name" in @buf of QM_ABI_NAME bytes, cut between characters when long. */
void qm_abi_name(char *buf, const xmlNs *ns, const xmlChar *name);

/* @path, or when it is long ".../" and its end, in @buf of QM_ABI_SHOWN bytes. */
const char *qm_abi_path(const char *path, char *buf);

/* @n (may be NULL) is marked secret="yes"; or, for the second, an element holding it. */
bool qm_abi_marked_secret(const xmlNode *n);
bool qm_abi_secret(const xmlNode *n);

/*
 * "PATH: WHAT A on the source, B on the destination" when @a and @b (NULL:
 * absent) differ; @what may be NULL.  With @secret the values are not shown.
 */
void qm_abi_strings(struct qm_abi *abi, const char *path, const char *what, const char *a,
		    const char *b, bool secret);

/*
 * "devices/disk[2] (vdb)" in @buf of QM_ABI_PATH bytes: the device @n by
 * its place among its kind (@index from 0), and by its name if it has one.
 */
void qm_abi_device_path(char *buf, const xmlNode *n, size_t index);

/* The typed view: the devices the view reads, pairwise. */
void qm_abi_devices(struct qm_abi *abi, const struct qm_domain *src,
		    const struct qm_domain *dst);

/*
 * The whole tree, but for what the typed view compares and what is
 * host-side (the rules in domain-abi-tree.c).
 */
void qm_abi_tree(struct qm_abi *abi, const struct qm_domain *src,
		 const struct qm_domain *dst);

/*
 * Two elements the typed view has already compared in part, named @path:
 * their attributes but @skip (NULL-terminated), their text and children.
 */
void qm_abi_element(struct qm_abi *abi, const char *path, xmlNode *src, xmlNode *dst,
		    const char *const *skip);

#endif
