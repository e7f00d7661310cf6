/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Displays.  A VNC or SPICE server is the host's end of the guest's screen:
 * typed as <graphics>, where it listens and its port, so that the
 * destination takes a port of its own (VNC: autoport).  A password is what
 * QEMU never tells, so a display with one is refused rather than started
 * open.  A local window (-display) is this host's only.
 */
#include <errno.h>
#include <string.h>

#include "xml/describe-internal.h"

#define LIST(...) ((const char *const[]){ __VA_ARGS__, NULL })

static bool set_listen(struct qm_describe *ds, char **out, const char *host)
{
	free(*out);
	*out = host && *host ? strdup(host) : NULL;
	if (host && *host && !*out) {
		qm_ds_nomem(ds);
		return false;
	}
	return true;
}

/* "HOST:DISPLAY", "[V6]:DISPLAY" or ":DISPLAY": the host part, NULL for every address. */
static char *vnc_host(const char *display)
{
	const char *colon = strrchr(display, ':');

	if (!colon || colon == display)
		return NULL;
	if (display[0] == '[' && colon[-1] == ']')
		return strndup(display + 1, (size_t)(colon - display - 2));
	return strndup(display, (size_t)(colon - display));
}

void qm_ds_vnc(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;
	const struct qm_kv *p;
	const char *display;
	_cleanup_free_ char *host = NULL;

	if (!qm_ds_parse(ds, e, "vnc", &kv))
		return;
	display = qm_kv_get(&kv, "vnc");
	p = qm_kv_unknown(&kv, LIST("vnc", "to", "password", "ipv4", "ipv6"));
	if (!display || strcmp(display, "none") == 0) {
		/* A server that listens nowhere until told: nothing to carry over. */
	} else if (p) {
		qm_ds_refuse(ds,
			     "-vnc ...,%s=: qmigrate carries a VNC display's address and "
			     "port only",
			     p->key);
	} else if (qm_kv_on(&kv, "password") || ds->f->vnc.password) {
		qm_ds_refuse(
			ds, "-vnc: the display has a password, which QEMU does not tell: "
			    "give it in the description's <graphics passwd=...>");
	} else if (strncmp(display, "unix:", 5) == 0 || strchr(display, ':') == NULL) {
		qm_ds_refuse(ds,
			     "-vnc %.5s...: qmigrate moves a VNC display on a TCP port "
			     "only",
			     display);
	} else {
		host = vnc_host(display);
		ds->vnc = set_listen(ds, &ds->vnc_listen, host ? host : ds->f->vnc.host);
	}
	qm_kv_free(&kv);
}

void qm_ds_spice(struct qm_describe *ds, struct qm_dentry *e)
{
	struct qm_kvlist kv;
	const struct qm_kv *p;

	if (!qm_ds_parse(ds, e, NULL, &kv))
		return;
	p = qm_kv_unknown(&kv, LIST("port", "addr", "disable-ticketing", "ipv4", "ipv6"));
	if (p)
		qm_ds_refuse(ds,
			     "-spice ...,%s=: qmigrate carries a SPICE display's address "
			     "and port only",
			     p->key);
	else if (!qm_kv_on(&kv, "disable-ticketing") || ds->f->spice.password)
		qm_ds_refuse(ds,
			     "-spice: the display has a password (ticketing), which QEMU "
			     "does not tell: give it in the description's <graphics "
			     "passwd=...>");
	else if (!qm_kv_get(&kv, "port") || ds->f->spice.port <= 0)
		qm_ds_refuse(ds, "-spice: a SPICE display without a TCP port");
	else
		ds->spice = set_listen(ds, &ds->spice_listen,
				       qm_kv_get(&kv, "addr") ? qm_kv_get(&kv, "addr")
							      : ds->f->spice.host);
	qm_kv_free(&kv);
}

/* -display TYPE: a window on this host, dropped; VNC given this way is refused. */
void qm_ds_display(struct qm_describe *ds, struct qm_dentry *e)
{
	if (strncmp(e->value, "vnc", 3) == 0 &&
	    (e->value[3] == '=' || e->value[3] == ','))
		qm_ds_refuse(ds, "-display vnc=...: give the VNC display with -vnc");
}
