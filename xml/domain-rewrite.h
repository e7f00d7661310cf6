/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination rewrite: the description a destination QEMU starts from
 * is the source's, adjusted for the destination host, as nova and
 * CloudStack adjust it before they migrate.  docs/domain.md ("Rewritten
 * for the destination") lists every rule.  Private to qmigrate.
 *
 * Only what names a resource of the host changes: the guest sees the same
 * machine.  The rewrite edits the tree and reads the view from it again;
 * everything else in the tree, known or not, stays as it was.
 */
#ifndef QM_XML_DOMAIN_REWRITE_H
#define QM_XML_DOMAIN_REWRITE_H

#include <stdbool.h>
#include <stddef.h>

#include "qmigrate.h"
#include "util/macros.h"
#include "xml/domain.h"

/* The longest path a unix socket takes: sun_path less its NUL. */
#define QM_DOMAIN_MAX_SOCKET_PATH 107

/* One --disk-map SRC=DST: the disk whose <source file> is @src uses @dst. */
struct qm_disk_map_entry {
	char *src, *dst; /* absolute, 1..QM_DOMAIN_MAX_PATH bytes, different */
};

struct qm_domain_rewrite {
	/* Every <graphics> listens here (--graphics-listen); NULL: as it was. */
	const char *graphics_listen;
	/*
	 * A directory of the destination, usually its 0700 runtime directory:
	 * every file character device and every unix one that listens
	 * (mode="bind") moves into it as serialN.log, serialN.sock,
	 * consoleN.log or consoleN.sock (N its index among the <serial> or
	 * <console> elements; a serial console takes its serial's name).  Two
	 * QEMUs on one host must never share a log file or a listening socket.
	 * NULL: as they were.
	 */
	const char *chr_dir;
	/*
	 * Every tcp character device that listens binds this host and port 0
	 * (QEMU picks a free port; query-chardev tells which).  NULL: as they
	 * were.
	 */
	const char *chr_listen;
	/*
	 * Every tcp character device that listens keeps its host (or takes
	 * chr_listen) and binds port 0: another QEMU on the same host cannot
	 * take the source's port.
	 */
	bool chr_free_ports;
	/*
	 * The disk map (--disk-map, repeatable): at most QM_DOMAIN_MAX_DISKS
	 * entries, each source a disk's <source file> exactly as written
	 * (nothing is normalised), each a different one; every disk whose
	 * source is an entry's @src gets its @dst.
	 */
	const struct qm_disk_map_entry *disk_map;
	size_t n_disk_map;
	/*
	 * Cut every VNC password to its first 8 characters, all that VNC
	 * authentication uses (nova and CloudStack cut them too).  SPICE
	 * passwords are kept whole.
	 */
	bool vnc_cut;
	/*
	 * Every VNC display on a fixed port takes a free one (autoport="yes"):
	 * the source holds its port while a destination starts on the same
	 * host.  SPICE keeps its port (QEMU cannot pick one for SPICE).
	 */
	bool vnc_free_ports;
};

/*
 * Parses @arg, "SRC=DST", into @out (qm_disk_map_entry_clear it): both
 * sides absolute paths of 1..QM_DOMAIN_MAX_PATH bytes without control
 * characters, and different.  The first '=' splits them.  Fails with class
 * Usage and a message that says what to write; @out is empty then.
 */
int qm_disk_map_parse(const char *arg, struct qm_disk_map_entry *out,
		      struct qm_error *err) _must_check_;

void qm_disk_map_entry_clear(struct qm_disk_map_entry *e);

/*
 * Rewrites @d for the destination as @opts says, in the tree and then in
 * the view, which agree afterwards; the view's lists are new then, so a
 * pointer into the old ones must not be kept.  All or nothing: on failure
 * @d is as it was.  Returns how many VNC passwords were cut (so that the caller can
 * warn; no password is ever in a message), or a negative errno with class
 * DomainRewrite: an option that is not a valid value, a disk-map source
 * that no disk has, two entries with one source, two disks that would use
 * one file, a socket path longer than a unix socket takes.
 */
int qm_domain_rewrite(struct qm_domain *d, const struct qm_domain_rewrite *opts,
		      struct qm_error *err) _must_check_;

#endif
