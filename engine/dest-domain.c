/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination's description: which options ask for one, and which
 * description the destination is launched from: the destination's own once
 * the ABI check found nothing the guest would see change, else the VM's
 * (given, or described from the source's command line in begin); then
 * rewritten for the destination (xml/domain-rewrite.h).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "engine/describe.h"
#include "engine/job.h"
#include "util/log.h"
#include "util/error.h"
#include "xml/domain-abi.h"
#include "xml/domain-rewrite.h"
#include "xml/domain.h"

/* Parses @xml only to refuse a bad description before the job touches anything. */
static int check_parses(const char *xml, const char *whose, struct qm_error *err)
{
	struct qm_error perr = { 0 };
	struct qm_domain *d;

	if (qm_domain_parse(xml, strlen(xml), &d, &perr) < 0)
		return qm_error_set(err, perr.code, perr.error_class, "%s: %s", whose, perr.text);
	qm_domain_free(d);
	return 0;
}

int qm_job_dest_options_check(const struct qm_job_options *opts, struct qm_error *err)
{
	int r;

	if (opts->launch_dest && opts->dst_qmp)
		return qm_error_set(err, -EINVAL, "Usage",
				    "launch_dest starts the destination QEMU itself: give no "
				    "destination QMP socket with it (--launch-dest or --dst-qmp, "
				    "not both)");
	if (!opts->launch_dest && !opts->dst_qmp)
		return qm_error_set(err, -EINVAL, "Usage",
				    "the destination's QMP socket is needed (--dst-qmp), or "
				    "launch_dest to start the destination (--launch-dest)");
	if (!opts->launch_dest && (opts->domain_xml || opts->dst_domain_xml))
		return qm_error_set(err, -EINVAL, "Usage",
				    "a description is for a destination qmigrate launches: "
				    "give --launch-dest (launch_dest) with --domain or --dest-domain");
	if (!opts->launch_dest &&
	    (opts->graphics_passwd_file || opts->graphics_listen || opts->disk_map))
		return qm_error_set(err, -EINVAL, "Usage",
				    "the graphics password file, the graphics listen address and "
				    "the disk map are for a destination qmigrate launches: give "
				    "--launch-dest (launch_dest) too");
	r = opts->domain_xml ? check_parses(opts->domain_xml, "the VM's description", err) : 0;
	if (r == 0 && opts->dst_domain_xml)
		r = check_parses(opts->dst_domain_xml, "the destination's description", err);
	return r;
}

int qm_job_dest_options_copy(struct qm_job *job, const struct qm_job_options *opts,
			     struct qm_error *err)
{
	size_t n = 0;
	int r;

	if (opts->graphics_listen) {
		job->graphics_listen = strdup(opts->graphics_listen);
		if (!job->graphics_listen)
			return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	}
	if (opts->spice_x509_dir) {
		job->spice_x509_dir = strdup(opts->spice_x509_dir);
		if (!job->spice_x509_dir)
			return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	}
	while (opts->disk_map && opts->disk_map[n])
		n++;
	if (n > QM_DOMAIN_MAX_DISKS)
		return qm_error_set(err, -E2BIG, "Usage", "more than %d --disk-map entries",
				    QM_DOMAIN_MAX_DISKS);
	if (!n)
		return 0;
	job->disk_map = calloc(n, sizeof(*job->disk_map));
	if (!job->disk_map)
		return qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
	for (; job->n_disk_map < n; job->n_disk_map++) {
		r = qm_disk_map_parse(opts->disk_map[job->n_disk_map],
				      &job->disk_map[job->n_disk_map], err);
		if (r < 0)
			return r;
	}
	return 0;
}

void qm_job_dest_options_free(struct qm_job *job)
{
	for (size_t i = 0; i < job->n_disk_map; i++)
		qm_disk_map_entry_clear(&job->disk_map[i]);
	free(job->disk_map);
	free(job->graphics_listen);
	free(job->spice_x509_dir);
	free(job->described_xml);
}

static int parse(struct qm_job *job, const char *xml, struct qm_domain **out)
{
	struct qm_error err = { 0 };
	int r = qm_domain_parse(xml, strlen(xml), out, &err);

	if (r < 0)
		qm_job_fail(job, &err);
	return r;
}

int qm_job_dest_domain(struct qm_job *job, struct qm_domain **out)
{
	const char *vm_xml = job->domain_xml ? job->domain_xml : job->described_xml;
	_cleanup_domain_ struct qm_domain *vm = NULL, *d = NULL;
	struct qm_domain_rewrite rw = {
		.graphics_listen = job->graphics_listen,
		.disk_map = job->disk_map,
		.n_disk_map = job->n_disk_map,
		/* Another QEMU on this host must not take the source's ports. */
		.chr_free_ports = true,
		.vnc_free_ports = true,
		.vnc_cut = true,
	};
	struct qm_error err = { 0 };
	int r;

	*out = NULL;
	if (!vm_xml)
		return qm_job_failf(job, -EINVAL, "Usage", "no description to launch from");
	if (parse(job, vm_xml, &vm) < 0)
		return -EINVAL;
	if (job->dst_domain_xml) {
		if (parse(job, job->dst_domain_xml, &d) < 0)
			return -EINVAL;
		r = qm_domain_abi_check(vm, d, &err);
		if (r < 0)
			return qm_job_refuse(job, &err);
	} else {
		d = steal_pointer(&vm);
	}
	r = qm_domain_rewrite(d, &rw, &err);
	if (r < 0)
		return qm_job_refuse(job, &err);
	if (r > 0)
		qm_warn(job->ctx, "%d VNC password%s cut to 8 characters, all that VNC "
			"authentication compares", r, r == 1 ? " was" : "s were");
	*out = steal_pointer(&d);
	return 0;
}

static void described(void *userdata, struct qm_domain *d, json_t *facts,
		      const struct qm_error *err)
{
	struct qm_job *job = userdata;
	void (*next)(struct qm_job *job) = job->describe_next;
	struct qm_error ferr = { 0 };

	job->describe_next = NULL;
	if (err) {
		qm_job_refuse(job, err);
	} else if (qm_domain_format(d, &job->described_xml, &ferr) < 0) {
		qm_job_fail(job, &ferr);
	} else {
		qm_info(job->ctx, "described the source from its command line: %s", d->name);
		qm_dbg(job->ctx, "the source's description:\n%s", job->described_xml);
	}
	qm_domain_free(d);
	next(job);
	qm_job_unref(job);
}

void qm_job_describe_source(struct qm_job *job, void (*next)(struct qm_job *job))
{
	struct qm_error err = { 0 };

	job->describe_next = next;
	/* The description comes from the loop: the job stays until it has come. */
	qm_job_ref(job);
	if (qm_describe_start(job->src, NULL, described, job, &err) < 0) {
		job->describe_next = NULL;
		qm_job_refuse(job, &err);
		next(job);
		qm_job_unref(job);
	}
}
