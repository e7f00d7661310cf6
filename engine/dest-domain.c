/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination's description: which options ask for one, and which
 * description the destination is launched from.  The ABI check of a
 * destination's own description against the VM's, and the rewrite of what
 * names a host resource, belong in qm_job_dest_domain().
 */
#include <errno.h>
#include <string.h>

#include "engine/job.h"
#include "util/error.h"
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
	if (opts->launch_dest && !opts->domain_xml)
		return qm_error_set(err, -EINVAL, "Usage",
				    "launching the destination needs the VM's description: "
				    "give --domain FILE (domain_xml)");
	if (opts->dst_domain_xml && !opts->domain_xml)
		return qm_error_set(err, -EINVAL, "Usage",
				    "a destination's description is checked against the VM's: "
				    "give --domain FILE (domain_xml) too");
	if (opts->graphics_passwd_file && !opts->launch_dest)
		return qm_error_set(err, -EINVAL, "Usage",
				    "the graphics password file is for a destination qmigrate "
				    "launches: give --launch-dest (launch_dest) too");
	r = opts->domain_xml ? check_parses(opts->domain_xml, "the VM's description", err) : 0;
	if (r == 0 && opts->dst_domain_xml)
		r = check_parses(opts->dst_domain_xml, "the destination's description", err);
	return r;
}

/*
 * The hook for what is to come: the ABI check of dst_domain_xml against
 * domain_xml (refusing what the guest would see change), then the
 * destination rewrite (listen addresses, serial endpoints, disk paths).
 * Today the destination's own description is taken as it is, or the VM's.
 */
int qm_job_dest_domain(struct qm_job *job, struct qm_domain **out)
{
	const char *xml = job->dst_domain_xml ? job->dst_domain_xml : job->domain_xml;
	struct qm_error err = { 0 };
	int r;

	*out = NULL;
	if (!xml)
		return qm_job_failf(job, -EINVAL, "Usage", "no description to launch from");
	r = qm_domain_parse(xml, strlen(xml), out, &err);
	if (r < 0)
		qm_job_fail(job, &err);
	return r;
}
