/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmigrate describe --qmp PATH: a running QEMU as a domain description. */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/describe.h"

static const char usage[] =
	"Usage: qmigrate describe [OPTIONS] --qmp PATH\n\nPrints the domain description "
	"(docs/domain.md) of the QEMU listening on\nthe QMP socket PATH, built from its "
	"own command line (read from /proc)\nand what it says over QMP: the description "
	"qmigrate would start a\ndestination from. QEMU is only asked questions; nothing "
	"changes.\n\nWhat the guest sees is kept; what names a host resource is dropped "
	"(QMP\nand monitor sockets, -incoming, -S, the pidfile, logs), typed so that "
	"the\ndestination gets its own (serial ports' files, sockets and ports; VNC "
	"and\nSPICE ports), or refused: then describe exits 1 and names the "
	"option.\ndocs/describe.md lists every option. QEMU must run with -nodefaults, "
	"as\nthe same user as qmigrate, in the same PID namespace.\n\nOptions:\n  -q, "
	"--qmp PATH      the QMP socket of the QEMU to describe (required)\n  -t, "
	"--timeout SEC   give up after SEC seconds (default: 30 for QMP, 5 to\n          "
	"            "
	"wait for the socket)\n  -f, --facts         print what QEMU said (JSON) instead "
	"of the description\n  -h, --help          show this help\n\nExample:\n  "
	"qmigrate "
	"describe --qmp /run/vm1/qmp.sock >vm1.xml\n  qmigrate launch --incoming "
	"vm1.xml\n";

struct describe_args {
	const char *qmp;
	bool facts;
	struct qm_qmp_options opts;
};

static int parse_args(int argc, char *argv[], struct describe_args *a)
{
	static const struct option longopts[] = {
		{ "qmp", required_argument, NULL, 'q' },
		{ "timeout", required_argument, NULL, 't' },
		{ "facts", no_argument, NULL, 'f' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "q:t:fh", longopts, NULL)) != -1) {
		switch (c) {
		case 'q':
			a->qmp = optarg;
			break;
		case 't':
			a->opts.command_timeout = a->opts.connect_timeout =
				strtod(optarg, &end);
			if (*end || a->opts.command_timeout <= 0)
				return cli_usage_error(&cmd_describe,
						       "invalid timeout '%s'", optarg);
			break;
		case 'f':
			a->facts = true;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error(&cmd_describe, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(&cmd_describe, "unexpected argument '%s'",
				       argv[optind]);
	if (!a->qmp)
		return cli_usage_error(&cmd_describe, "--qmp PATH is required");
	return -1;
}

static int print(struct qm_domain *d, json_t *facts, bool want_facts)
{
	struct qm_error err = { 0 };
	char *text;

	if (want_facts) {
		text = json_dumps(facts, JSON_INDENT(2) | JSON_SORT_KEYS);
		if (!text) {
			cli_error("out of memory");
			return EXIT_FAILED;
		}
	} else if (qm_domain_format(d, &text, &err) < 0) {
		fprintf(stderr, "qmigrate describe: %s: %s\n", err.error_class, err.text);
		return EXIT_FAILED;
	}
	fputs(text, stdout);
	if (want_facts)
		fputc('\n', stdout);
	free(text);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

static int run(struct qm_ctx *ctx, int argc, char *argv[])
{
	struct describe_args a = {
		.opts = { .connect_timeout = 5, .command_timeout = 30, .label = "QEMU" }
	};
	struct qm_domain *d = NULL;
	struct qm_error err = { 0 };
	json_t *facts = NULL;
	struct ev_loop *loop;
	struct qm_qmp *qmp;
	int r;

	r = parse_args(argc, argv, &a);
	if (r >= 0)
		return r;
	loop = ev_loop_new(EVFLAG_AUTO);
	qmp = loop ? qm_qmp_new(ctx, loop, &a.opts) : NULL;
	if (!qmp) {
		if (loop)
			ev_loop_destroy(loop);
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	r = qm_qmp_connect(qmp, a.qmp, &err);
	if (r == 0)
		r = qm_describe_sync(qmp, NULL, &d, &facts, &err);
	qm_qmp_unref(qmp);
	ev_loop_destroy(loop);
	/* The facts help to see why a description was refused: printed either way. */
	if (a.facts && facts)
		r = print(NULL, facts, true) == EXIT_OK ? r : -EIO;
	else if (r == 0)
		r = print(d, NULL, false) == EXIT_OK ? 0 : -EIO;
	if (r < 0 && qm_error_is_set(&err))
		fprintf(stderr, "qmigrate describe: %s: %s\n", err.error_class, err.text);
	json_decref(facts);
	qm_domain_free(d);
	return r < 0 ? EXIT_FAILED : EXIT_OK;
}

const struct subcommand cmd_describe = {
	.name = "describe",
	.run = run,
	.summary = "print the domain description of a running QEMU",
	.usage = usage,
};
