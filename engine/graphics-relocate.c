/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Graphics clients follow the VM (docs/graphics.md).  Prepare reads where
 * the destination's display listens and puts it in its cookie; perform
 * hands it to the source QEMU with client_migrate_info, so that connected
 * SPICE clients connect to the destination while the migration runs; confirm
 * lets them finish moving (SPICE_MIGRATE_COMPLETED) before the source quits.
 */
#include <arpa/inet.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/batch.h"
#include "engine/job.h"
#include "util/log.h"

#define SPICE_DONE_EVENT "SPICE_MIGRATE_COMPLETED"

/* ---- prepare: the destination's display --------------------------------------- */

/* An address that means "every address of this host": no client can connect to it. */
static bool is_wildcard(const char *host)
{
	unsigned char a[16] = { 0 }, zero[16] = { 0 };

	if (!host || !*host || strcmp(host, "*") == 0 || strcmp(host, "[::]") == 0)
		return true;
	if (inet_pton(AF_INET, host, a) == 1)
		return memcmp(a, zero, 4) == 0;
	if (inet_pton(AF_INET6, host, a) == 1)
		return memcmp(a, zero, 16) == 0;
	return false;
}

const char *qm_graphics_reached(const struct qm_job *job)
{
	/* --migrate-address 0.0.0.0 listens everywhere: the host's name is what reaches it. */
	if (!is_wildcard(job->listen_address))
		return job->listen_address;
	return job->hostname[0] ? job->hostname : "127.0.0.1";
}

static int json_port(json_t *v)
{
	long port = -1;
	char *end;

	if (json_is_integer(v))
		port = (long)json_integer_value(v);
	else if (json_is_string(v)) {
		port = strtol(json_string_value(v), &end, 10);
		if (*end || end == json_string_value(v))
			port = -1;
	}
	return port > 0 && port <= 65535 ? (int)port : -1;
}

static void set_listen(struct qm_cookie_graphics *g, const char *host, const char *reached)
{
	snprintf(g->listen, sizeof(g->listen), "%s", is_wildcard(host) ? reached : host);
}

/*
 * The cookie holds one display.  SPICE comes first: its clients are the
 * ones QEMU can send elsewhere (client_migrate_info knows no VNC), so it
 * is what relocation needs; a VNC display is recorded only when there is
 * no SPICE one.  Neither QMP reply tells the TLS certificate's subject:
 * qm_graphics_cert (graphics-cert.c) reads it from the certificate file.
 */
void qm_graphics_from_qemu(json_t *spice, json_t *vnc, const char *reached,
			   struct qm_cookie_graphics *g)
{
	const char *host, *family;
	int port, tls_port;

	memset(g, 0, sizeof(*g));
	g->port = g->tls_port = -1;
	if (json_is_true(json_object_get(spice, "enabled"))) {
		host = json_string_value(json_object_get(spice, "host"));
		port = json_port(json_object_get(spice, "port"));
		tls_port = json_port(json_object_get(spice, "tls-port"));
		/* A unix socket (its path as the host) is no place for a remote client. */
		if ((port >= 0 || tls_port >= 0) && !(host && host[0] == '/')) {
			snprintf(g->type, sizeof(g->type), "spice");
			g->port = port;
			g->tls_port = tls_port;
			set_listen(g, host, reached);
			return;
		}
	}
	if (!json_is_true(json_object_get(vnc, "enabled")))
		return;
	/* A VNC server on a unix socket has family "unix": no port to give. */
	family = json_string_value(json_object_get(vnc, "family"));
	port = json_port(json_object_get(vnc, "service"));
	if (port < 0 || !family || (strcmp(family, "ipv4") != 0 && strcmp(family, "ipv6") != 0))
		return;
	snprintf(g->type, sizeof(g->type), "vnc");
	g->port = port;
	set_listen(g, json_string_value(json_object_get(vnc, "host")), reached);
}

/* ---- perform: the source QEMU tells its SPICE clients ----------------------------- */

json_t *qm_graphics_relocation_args(const struct qm_cookie *c)
{
	const struct qm_cookie_graphics *g = &c->graphics;
	json_t *args;

	if (!(c->features & QM_COOKIE_GRAPHICS) || strcmp(g->type, "spice") != 0)
		return NULL;
	args = json_pack("{s:s, s:s}", "protocol", "spice", "hostname", g->listen);
	if (args && g->port >= 0)
		json_object_set_new(args, "port", json_integer(g->port));
	if (args && g->tls_port >= 0)
		json_object_set_new(args, "tls-port", json_integer(g->tls_port));
	if (args && g->tls_subject[0])
		json_object_set_new(args, "cert-subject", json_string(g->tls_subject));
	return args;
}

static void await_end(struct qm_job *job)
{
	void (*next)(struct qm_job *job) = job->spice_next;

	ev_timer_stop(job->loop, &job->spice_timer);
	job->spice_next = NULL;
	if (next)
		next(job);
}

/*
 * QEMU 7.2 sends it at switch-over when no client is connected, and once the
 * clients moved (or SPICE's own 10 s passed) when some are: often before
 * confirm, which must not miss it.
 */
static void spice_done_event(struct qm_qmp *q, const char *name, json_t *data, double ts,
			     void *ud)
{
	struct qm_job *job = ud;

	job->spice_migrated = true;
	if (ev_is_active(&job->spice_timer))
		await_end(job);
}

void qm_graphics_relocation_sent(struct qm_job *job, bool accepted)
{
	if (!job->spice_sent)
		return;
	if (!accepted) {
		/* The migration goes on: the clients only lose their display. */
		qm_warn(job->ctx, "the source QEMU refused client_migrate_info: "
				  "SPICE clients will not follow the VM");
		return;
	}
	job->spice_relocating = true;
	if (qm_qmp_subscribe(job->src, SPICE_DONE_EVENT, spice_done_event, job) < 0)
		qm_warn(job->ctx, "cannot watch for %s; confirm asks query-spice instead",
			SPICE_DONE_EVENT);
}

/* ---- confirm: the clients moved before the source goes ------------------------------ */

static void spice_timer_cb(struct ev_loop *loop, ev_timer *w, int revents)
{
	struct qm_job *job = w->data;

	qm_warn(job->ctx, "SPICE clients did not reach the destination within %g s; "
			  "stopping the source QEMU anyway (the VM runs on the destination)",
		job->opts.spice_timeout);
	await_end(job);
}

static void spice_queried(void *opaque, json_t **res, const struct qm_error *err)
{
	struct qm_job *job = opaque;
	json_t *info = res ? res[0] : NULL;
	json_t *channels = json_object_get(info, "channels");

	/*
	 * No answer, clients that moved already, or none connected (a SPICE
	 * server that sends the event only after a client moved): nothing to
	 * wait for.
	 */
	if (job->spice_migrated || !info || json_is_true(json_object_get(info, "migrated")) ||
	    json_array_size(channels) == 0) {
		await_end(job);
		return;
	}
	qm_info(job->ctx, "waiting up to %g s for %zu SPICE channel(s) to reach the destination",
		job->opts.spice_timeout, json_array_size(channels));
	ev_timer_init(&job->spice_timer, spice_timer_cb, job->opts.spice_timeout, 0.);
	job->spice_timer.data = job;
	ev_timer_start(job->loop, &job->spice_timer);
}

void qm_graphics_await(struct qm_job *job, void (*next)(struct qm_job *job))
{
	struct qm_batch_cmd cmds[] = { { .name = "query-spice", .optional = true } };
	struct qm_error err = { 0 };

	if (!job->spice_relocating || job->spice_migrated) {
		next(job);
		return;
	}
	job->spice_next = next;
	if (qm_batch_run(job->src, cmds, 1, spice_queried, job, &err) < 0)
		await_end(job);
}

void qm_graphics_stop(struct qm_job *job)
{
	ev_timer_stop(job->loop, &job->spice_timer);
	job->spice_next = NULL;
	if (job->src)
		qm_qmp_unsubscribe(job->src, spice_done_event, job);
}
