/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The disk map: --disk-map SRC=DST as the command line gives it, and the
 * rule that gives every disk whose <source file> is SRC the file DST.
 * Paths are compared byte for byte, as written: nothing is normalised, so
 * "/a//b" is not "/a/b", and a symbolic link is not followed.  A careful
 * user who mistypes a source learns it: a source that no disk has is an
 * error, not a no-op.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "util/error.h"
#include "xml/domain-rewrite-internal.h"
#include "xml/text.h"

#define USAGE "Usage"
#define REWRITE "DomainRewrite"

static const struct qm_rw_value src_usage = { "--disk-map SRC", USAGE, QM_DOMAIN_MAX_PATH,
					      false, true };
static const struct qm_rw_value dst_usage = { "--disk-map DST", USAGE, QM_DOMAIN_MAX_PATH,
					      false, true };
static const struct qm_rw_value src_rewrite = { "a disk map source", REWRITE,
						QM_DOMAIN_MAX_PATH, false, true };
static const struct qm_rw_value dst_rewrite = { "a disk map destination", REWRITE,
						QM_DOMAIN_MAX_PATH, false, true };

static int check_entry(const struct qm_disk_map_entry *e, const struct qm_rw_value *src,
		       const struct qm_rw_value *dst, struct qm_error *err)
{
	char shown[160];
	int r;

	r = qm_rw_check(src, e->src, err);
	if (r == 0)
		r = qm_rw_check(dst, e->dst, err);
	if (r < 0)
		return r;
	if (strcmp(e->src, e->dst) == 0)
		return qm_error_set(
			err, -EINVAL, src->cls,
			"%s and its destination are the same path '%s': a disk "
			"that stays where it is needs no map",
			src->what, qm_text_printable(e->src, shown, sizeof(shown)));
	return 0;
}

void qm_disk_map_entry_clear(struct qm_disk_map_entry *e)
{
	free(e->src);
	free(e->dst);
	e->src = e->dst = NULL;
}

int qm_disk_map_parse(const char *arg, struct qm_disk_map_entry *out,
		      struct qm_error *err)
{
	/* Two paths and the '=': anything longer cannot be right. */
	size_t len = arg ? strnlen(arg, 2 * QM_DOMAIN_MAX_PATH + 2) : 0;
	const char *eq = arg ? memchr(arg, '=', len) : NULL;
	int r;

	memset(out, 0, sizeof(*out));
	if (len > 2 * QM_DOMAIN_MAX_PATH + 1)
		return qm_error_set(err, -EINVAL, USAGE,
				    "--disk-map is longer than two paths of %d bytes",
				    QM_DOMAIN_MAX_PATH);
	if (!eq)
		return qm_error_set(
			err, -EINVAL, USAGE,
			"--disk-map takes SRC=DST, two absolute paths: the disk "
			"at SRC on this host uses DST on the destination");
	/* The first '=' splits: a source cannot hold one, a destination can. */
	out->src = strndup(arg, (size_t)(eq - arg));
	out->dst = strdup(eq + 1);
	if (!out->src || !out->dst)
		r = qm_error_set(err, -ENOMEM, USAGE, "out of memory");
	else
		r = check_entry(out, &src_usage, &dst_usage, err);
	if (r < 0)
		qm_disk_map_entry_clear(out);
	return r;
}

/* The entry of @o that maps @file, or NULL. */
static const struct qm_disk_map_entry *entry_of(const struct qm_domain_rewrite *o,
						const char *file)
{
	for (size_t i = 0; file && i < o->n_disk_map; i++)
		if (strcmp(o->disk_map[i].src, file) == 0)
			return &o->disk_map[i];
	return NULL;
}

static int check_map(const struct qm_domain *d, const struct qm_domain_rewrite *o,
		     struct qm_error *err)
{
	char shown[160];
	int r;

	if (o->n_disk_map > QM_DOMAIN_MAX_DISKS)
		return qm_rw_fail(err, "the disk map has %zu entries, at most %d",
				  o->n_disk_map, QM_DOMAIN_MAX_DISKS);
	if (!o->disk_map)
		return qm_rw_fail(err, "the disk map has %zu entries and no array",
				  o->n_disk_map);
	for (size_t i = 0; i < o->n_disk_map; i++) {
		const struct qm_disk_map_entry *e = &o->disk_map[i];
		bool found = false;

		r = check_entry(e, &src_rewrite, &dst_rewrite, err);
		if (r < 0)
			return r;
		qm_text_printable(e->src, shown, sizeof(shown));
		if (entry_of(o, e->src) != e)
			return qm_rw_fail(err, "the disk map names '%s' twice", shown);
		for (size_t k = 0; k < d->n_disks && !found; k++)
			found = d->disks[k].file && strcmp(d->disks[k].file, e->src) == 0;
		if (!found)
			return qm_rw_fail(
				err,
				"the disk map names '%s', which is the <source "
				"file> of no disk (paths are compared exactly as "
				"written)",
				shown);
	}
	return 0;
}

/* Where disk @k will be: its entry's destination, else where it is. */
static const char *final_file(const struct qm_domain *d,
			      const struct qm_domain_rewrite *o, size_t k)
{
	const struct qm_disk_map_entry *e = entry_of(o, d->disks[k].file);

	return e ? e->dst : d->disks[k].file;
}

/*
 * Two disks on one file would be written by two drives.  The map may not
 * make it so; disks that shared a file before (a cdrom image, say) still
 * may, since they were mapped together.
 */
static int check_collisions(const struct qm_domain *d, const struct qm_domain_rewrite *o,
			    struct qm_error *err)
{
	char shown[160];

	for (size_t k = 0; k < d->n_disks; k++) {
		const char *to = final_file(d, o, k);

		for (size_t j = 0; to && j < k; j++) {
			const char *other = final_file(d, o, j);

			if (!other || strcmp(to, other) != 0 ||
			    strcmp(d->disks[k].file, d->disks[j].file) == 0)
				continue;
			return qm_rw_fail(
				err,
				"with the disk map, disks %s and %s would both use "
				"'%s'",
				d->disks[j].dev, d->disks[k].dev,
				qm_text_printable(to, shown, sizeof(shown)));
		}
	}
	return 0;
}

int qm_rw_disks(struct qm_domain *d, const struct qm_domain_rewrite *o,
		struct qm_error *err)
{
	xmlNode *source;
	int r;

	if (o->n_disk_map == 0)
		return 0;
	r = check_map(d, o, err);
	if (r == 0)
		r = check_collisions(d, o, err);
	for (size_t k = 0; r == 0 && k < d->n_disks; k++) {
		const struct qm_disk_map_entry *e = entry_of(o, d->disks[k].file);

		if (!e)
			continue;
		/* A disk with a file has its one <source>: the reader read it there. */
		r = qm_dom_child(d->disks[k].node, "source", &source, err);
		if (r == 0)
			r = qm_rw_set(source, "file", e->dst, err);
	}
	return r;
}
