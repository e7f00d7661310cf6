/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for the describer: the input is a QEMU command line,
 * one argument per line (as tests/data/domain/describe/NAME.argv), described
 * with fixed facts of a running pc.  Besides not crashing: a refusal says
 * why and leaves nothing behind; a description is one the argv builder
 * launches (what is described can be started), and writable.
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "xml/domain-argv.h"
#include "xml/domain-describe.h"
#include "tests/fuzz/fuzz.h"

static const struct qm_describe_facts facts = {
	.pid = 4242,
	.emulator = "/usr/bin/qemu-system-x86_64",
	.uuid = "c7a5fdbd-edaf-9455-926a-d65c16db1809",
	.arch = "x86_64",
	.machine = "pc-i440fx-7.2",
	.acpi = 1,
	.kvm = true,
	.vcpus = 1,
	.memory = 64 << 20,
	.vnc = { .enabled = true, .host = "127.0.0.1", .port = 5900, .tls_port = -1 },
	.spice = { .enabled = true, .host = "127.0.0.1", .port = 5930, .tls_port = -1 },
};

/* The lines of @data as a NULL-terminated argv, at most QM_DESCRIBE_MAX_ARGS + 1. */
static char **split(const uint8_t *data, size_t size)
{
	char *text = malloc(size + 1),
	     **argv = calloc(QM_DESCRIBE_MAX_ARGS + 2, sizeof(*argv));
	size_t n = 0;

	if (!text || !argv) {
		free(text);
		free(argv);
		return NULL;
	}
	memcpy(text, data, size);
	text[size] = '\0';
	for (char *p = text, *nl; *p && n <= QM_DESCRIBE_MAX_ARGS; p = nl + 1) {
		nl = strchr(p, '\n');
		if (!nl)
			nl = p + strlen(p) - 1;
		else
			*nl = '\0';
		argv[n++] = strdup(p);
	}
	free(text);
	return argv;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct qm_domain_argv_opts opts = { .qmp_path = "/run/fuzz/qmp.sock" };
	_cleanup_argv_ char **argv = split(data, size), **built = NULL;
	struct qm_domain *d =
		(struct qm_domain *)&facts; /* must come back NULL on failure */
	_cleanup_free_ char *xml = NULL;
	struct qm_error err = { 0 };
	int r;

	if (!argv)
		return 0;
	r = qm_domain_describe(argv, &facts, &d, &err);
	if (r < 0) {
		fuzz_assert(r == err.code && err.error_class[0] && err.text[0] && !d,
			    "%d %s", r, err.text);
		return 0;
	}
	r = qm_domain_argv(d, &opts, &built, &err);
	fuzz_assert(r == 0, "described, but the builder refuses it: %s", err.text);
	r = qm_domain_format(d, &xml, &err);
	fuzz_assert(r == 0 || r == -E2BIG, "described, but not writable: %s", err.text);
	qm_domain_free(d);
	return 0;
}
