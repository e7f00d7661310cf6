/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination rewrite: the options checked, the rules applied to a
 * working copy of the description, the view read again from the edited
 * tree, and only then the caller's description replaced.  The graphics
 * rules live here; the disk map and the character devices have files of
 * their own.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include <libxml/xmlstring.h>

#include "util/error.h"
#include "xml/domain-rewrite-internal.h"
#include "xml/text.h"

#define REWRITE "DomainRewrite"
/* What VNC authentication uses of a password: its first 8 bytes, a DES key. */
#define VNC_PASSWD_CHARS 8
/* The longest name a directory is given: "console7.sock". */
#define CHR_NAME_MAX 16

int qm_rw_fail(struct qm_error *err, const char *fmt, ...)
{
	char text[sizeof(err->text)];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(text, sizeof(text), fmt, ap);
	va_end(ap);
	return qm_error_set(err, -EINVAL, REWRITE, "%s", text);
}

int qm_rw_set(xmlNode *n, const char *attr, const char *value, struct qm_error *err)
{
	/* As text: libxml2 escapes it when writing, nothing in it is markup. */
	if (!xmlSetNsProp(n, NULL, BAD_CAST attr, BAD_CAST value))
		return qm_error_set(err, -ENOMEM, REWRITE, "out of memory");
	return 0;
}

int qm_rw_check(const struct qm_rw_value *how, const char *s, struct qm_error *err)
{
	size_t len = s ? strnlen(s, how->max + 1) : 0;
	char shown[160];

	if (len == 0)
		return qm_error_set(err, -EINVAL, how->cls, "%s is empty", how->what);
	if (len > how->max)
		return qm_error_set(err, -EINVAL, how->cls, "%s is longer than %zu bytes",
				    how->what, how->max);
	qm_text_printable(s, shown, sizeof(shown));
	if (!xmlCheckUTF8(BAD_CAST s))
		return qm_error_set(err, -EINVAL, how->cls, "%s '%s' is not UTF-8",
				    how->what, shown);
	if (qm_text_has_control(s, how->nospace))
		return qm_error_set(err, -EINVAL, how->cls, "%s '%s' holds %s", how->what,
				    shown,
				    how->nospace ? "spaces or control characters"
						 : "control characters");
	if (how->path && s[0] != '/')
		return qm_error_set(err, -EINVAL, how->cls,
				    "%s '%s' is not an absolute path", how->what, shown);
	return 0;
}

static const struct qm_rw_value graphics_listen_value = { "the graphics listen address",
							  REWRITE, QM_DOMAIN_MAX_STRING,
							  true, false };
static const struct qm_rw_value chr_listen_value = {
	"the character device listen address", REWRITE, QM_DOMAIN_MAX_STRING, true, false
};
/* Room for the name the directory is given. */
static const struct qm_rw_value chr_dir_value = { "the character device directory",
						  REWRITE,
						  QM_DOMAIN_MAX_PATH - CHR_NAME_MAX - 1,
						  false, true };

static int check_options(const struct qm_domain_rewrite *o, struct qm_error *err)
{
	int r = 0;

	if (o->graphics_listen)
		r = qm_rw_check(&graphics_listen_value, o->graphics_listen, err);
	if (r == 0 && o->chr_listen)
		r = qm_rw_check(&chr_listen_value, o->chr_listen, err);
	if (r == 0 && o->chr_dir)
		r = qm_rw_check(&chr_dir_value, o->chr_dir, err);
	return r;
}

/*
 * Every place a <graphics> holds its address: listen= and <listen
 * type="address">, which the reader requires to agree.  With neither, the
 * listen= attribute is added.
 */
static int rewrite_listen(xmlNode *g, const char *addr, struct qm_error *err)
{
	bool set = false;
	int r = 0;

	if (xmlHasNsProp(g, BAD_CAST "listen", NULL)) {
		r = qm_rw_set(g, "listen", addr, err);
		set = true;
	}
	for (xmlNode *c = g->children; c && r == 0; c = c->next) {
		if (!qm_dom_is(c, "listen"))
			continue;
		r = qm_rw_set(c, "address", addr, err);
		set = true;
	}
	if (r == 0 && !set)
		r = qm_rw_set(g, "listen", addr, err);
	return r;
}

/* The byte length of the first @chars characters of UTF-8 @s, or of all of it. */
static size_t utf8_prefix(const char *s, size_t chars)
{
	size_t i = 0;

	/* A character starts at every byte that is not a continuation, 10xxxxxx. */
	for (size_t seen = 0; s[i]; i++) {
		if (((unsigned char)s[i] & 0xc0) == 0x80)
			continue;
		if (seen++ == chars)
			break;
	}
	return i;
}

/*
 * Cut in characters, as nova and CloudStack cut: a VNC client keys on the
 * first 8 bytes of what the user types, and so does QEMU of what it is
 * set, so a cut that kept fewer bytes, to end on a character, would lock
 * the user out.  Returns 1 when @g's password was cut.
 */
static int cut_vnc_passwd(const struct qm_domain_graphics *g, struct qm_error *err)
{
	char cut[QM_DOMAIN_MAX_STRING + 1];
	size_t len;
	int r;

	if (g->type != QM_DOMAIN_GRAPHICS_VNC || !g->passwd)
		return 0;
	len = utf8_prefix(g->passwd, VNC_PASSWD_CHARS);
	if (g->passwd[len] == '\0')
		return 0;
	memcpy(cut, g->passwd, len);
	cut[len] = '\0';
	r = qm_rw_set(g->node, "passwd", cut, err);
	return r < 0 ? r : 1;
}

/*
 * A VNC display on a fixed port takes a free one (autoport): the source's
 * QEMU holds that port while the destination starts on the same host.
 * SPICE keeps its port: QEMU cannot pick one for it.
 */
static int vnc_free_port(const struct qm_domain_graphics *g, struct qm_error *err)
{
	int r;

	if (g->type != QM_DOMAIN_GRAPHICS_VNC || g->autoport)
		return 0;
	r = qm_rw_set(g->node, "autoport", "yes", err);
	return r < 0 ? r : qm_rw_set(g->node, "port", "-1", err);
}

/* Returns how many VNC passwords were cut. */
static int rewrite_graphics(struct qm_domain *d, const struct qm_domain_rewrite *o,
			    struct qm_error *err)
{
	int r, cut = 0;

	for (size_t i = 0; i < d->n_graphics; i++) {
		if (o->graphics_listen) {
			r = rewrite_listen(d->graphics[i].node, o->graphics_listen, err);
			if (r < 0)
				return r;
		}
		if (o->vnc_free_ports) {
			r = vnc_free_port(&d->graphics[i], err);
			if (r < 0)
				return r;
		}
		if (o->vnc_cut) {
			r = cut_vnc_passwd(&d->graphics[i], err);
			if (r < 0)
				return r;
			cut += r;
		}
	}
	return cut;
}

/* A description of its own, read from a copy of @d's tree: the rules edit it. */
static int working_copy(const struct qm_domain *d, struct qm_domain **out,
			struct qm_error *err)
{
	xmlDocPtr copy = xmlCopyDoc(d->doc, 1);

	*out = NULL;
	if (!copy)
		return qm_error_set(err, -ENOMEM, REWRITE, "out of memory");
	return qm_dom_from_doc(copy, out, err);
}

/* The edited tree of @work read again, as every description is read. */
static int read_again(struct qm_domain *work, struct qm_domain **out,
		      struct qm_error *err)
{
	struct qm_error inner = { 0 };
	int r;

	r = qm_dom_from_doc(steal_pointer(&work->doc), out, &inner);
	if (r < 0)
		return qm_error_set(err, r, REWRITE,
				    "the rewritten description would be refused: %s",
				    inner.text);
	return 0;
}

int qm_domain_rewrite(struct qm_domain *d, const struct qm_domain_rewrite *o,
		      struct qm_error *err)
{
	_cleanup_domain_ struct qm_domain *work = NULL, *done = NULL;
	struct qm_domain old;
	int r, cut;

	r = check_options(o, err);
	if (r == 0)
		r = working_copy(d, &work, err);
	if (r == 0)
		r = qm_rw_disks(work, o, err);
	if (r == 0)
		r = qm_rw_chrs(work, o, err);
	if (r < 0)
		return r;
	cut = rewrite_graphics(work, o, err);
	if (cut < 0)
		return cut;
	r = read_again(work, &done, err);
	if (r < 0)
		return r;
	/* @d takes the new tree and view; the old ones go with @done. */
	old = *d;
	*d = *done;
	*done = old;
	return cut;
}
