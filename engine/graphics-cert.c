/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The subject of the destination's SPICE TLS certificate, for prepare's
 * cookie (docs/graphics.md): QMP does not tell it, so it is read from the
 * certificate file QEMU serves.  Which file: the one in
 * qm_job_options.spice_x509_dir when the caller says (a destination
 * qmigrate launches got that directory on its command line), else the one
 * the destination QEMU's own command line names, read from /proc as QEMU
 * does: x509-cert-file=, else x509-dir=/server-cert.pem, else
 * ./server-cert.pem, relative to QEMU's working directory.  This runs where
 * the destination QEMU runs (the agent, between hosts).  Anything unsure
 * leaves the subject empty with a warning: a client given a wrong subject
 * refuses the destination, one given none checks the host name instead.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>

#include "engine/job.h"
#include "engine/proc.h"
#include "qmp/internal.h"
#include "util/error.h"
#include "util/log.h"
#include "util/x509-file.h"
#include "xml/domain-argv.h"

#define SERVER_CERT "server-cert.pem" /* QEMU's name for it inside x509-dir */

/*
 * The last value of @key in the QemuOpts text @s ("k=v,k2=v2", where ",,"
 * is a comma inside a value) into @out.  Returns 1, 0 when @key is not
 * there, -E2BIG when its value does not fit.
 */
static int opt_value(const char *s, const char *key, char *out, size_t size)
{
	size_t klen = strlen(key);
	int found = 0;

	while (*s) {
		bool match = strncmp(s, key, klen) == 0 && s[klen] == '=';
		size_t n = 0;

		s += match ? klen + 1 : 0;
		for (; *s && !(s[0] == ',' && s[1] != ','); s++) {
			if (s[0] == ',')
				s++; /* ",," */
			if (!match)
				continue;
			if (n + 1 >= size)
				return -E2BIG;
			out[n++] = *s;
		}
		if (match) {
			out[n] = '\0';
			found = 1;
		}
		s += *s == ',';
	}
	return found;
}

/*
 * The certificate file the SPICE options in @argv name, into @out, as QEMU
 * finds it (later -spice options win, as QEMU merges them).  Returns 1, 0
 * when no -spice option has a tls-port, or -E2BIG.
 */
int qm_spice_cert_path(char *const *argv, char *out, size_t size)
{
	char dir[PATH_MAX] = ".", file[PATH_MAX] = "", port[16];
	bool tls = false;
	int r = 0;

	for (size_t i = 1; argv[i] && argv[i + 1]; i++) {
		if (strcmp(argv[i], "-spice") != 0 && strcmp(argv[i], "--spice") != 0)
			continue;
		i++;
		if (opt_value(argv[i], "tls-port", port, sizeof(port)) > 0)
			tls = true;
		r = opt_value(argv[i], "x509-dir", dir, sizeof(dir));
		if (r >= 0)
			r = opt_value(argv[i], "x509-cert-file", file, sizeof(file));
		if (r < 0)
			return r;
	}
	if (!tls)
		return 0;
	if ((size_t)(file[0] ? snprintf(out, size, "%s", file)
			     : snprintf(out, size, "%s/%s", dir, SERVER_CERT)) >= size)
		return -E2BIG;
	return 1;
}

/*
 * The certificate of the QEMU at the other end of @job->dst, from its
 * command line, into @out; why not into @err.
 */
static int peer_cert_path(struct qm_job *job, char *out, size_t size,
			  struct qm_error *err)
{
	char proc[64], rel[PATH_MAX];
	_cleanup_argv_ char **argv = NULL;
	pid_t pid = qm_qmp_peer_pid(job->dst);
	int r;

	if (pid <= 0)
		return qm_error_set(err, -ESRCH, "X509Subject",
				    "cannot tell which process the destination QEMU is");
	snprintf(proc, sizeof(proc), "/proc/%d/cmdline", (int)pid);
	r = qm_proc_read_argv(proc, &argv, err);
	if (r < 0)
		return r;
	r = qm_spice_cert_path(argv, rel, sizeof(rel));
	if (r <= 0)
		return qm_error_set(err, r < 0 ? r : -ENOENT, "X509Subject",
				    "the destination QEMU's command line names no SPICE "
				    "certificate%s",
				    r < 0 ? " that fits" : " (no -spice with tls-port)");
	/* A relative path is QEMU's: from its working directory, not ours. */
	if (rel[0] == '/')
		r = snprintf(out, size, "%s", rel);
	else
		r = snprintf(out, size, "/proc/%d/cwd/%s", (int)pid, rel);
	if ((size_t)r >= size)
		return qm_error_set(err, -E2BIG, "X509Subject",
				    "the certificate's path is too long");
	return 0;
}

void qm_graphics_cert(struct qm_job *job, struct qm_cookie_graphics *g)
{
	char path[PATH_MAX + 64];
	struct qm_error err = { 0 };
	int r;

	g->tls_subject[0] = '\0';
	if (strcmp(g->type, "spice") != 0 || g->tls_port < 0)
		return;
	if (!job->opts.spice_x509_dir)
		r = peer_cert_path(job, path, sizeof(path), &err);
	else if ((size_t)snprintf(path, sizeof(path), "%s/%s", job->opts.spice_x509_dir,
				  SERVER_CERT) >= sizeof(path))
		r = qm_error_set(&err, -E2BIG, "X509Subject",
				 "the x509 directory is too long");
	else
		r = 0;
	if (r == 0)
		r = qm_x509_subject_file(path, g->tls_subject, sizeof(g->tls_subject),
					 &err);
	if (r < 0) {
		qm_warn(job->ctx,
			"SPICE clients get no certificate subject for the destination "
			"(they check its host name instead): %s",
			err.text);
		return;
	}
	qm_info(job->ctx, "the destination's SPICE certificate subject: %s",
		g->tls_subject);
}
