/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmigrate qmp SOCKET COMMAND [ARGUMENTS-JSON]: one QMP command from the shell. */
#include <ev.h>
#include <getopt.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"

static const char usage[] =
	"Usage: qmigrate qmp [OPTIONS] SOCKET COMMAND [ARGUMENTS-JSON]\n"
	"\n"
	"Connects to the QMP UNIX socket SOCKET, negotiates capabilities, runs\n"
	"COMMAND with ARGUMENTS-JSON (a JSON object) and prints QMP's \"return\"\n"
	"value as JSON on stdout. On a QMP error it prints the error class and\n"
	"description on stderr and exits 1.\n"
	"\n"
	"Options:\n"
	"  -t, --timeout SEC   give up after SEC seconds (default: 30 for the command,\n"
	"                      5 to wait for a socket that is not there yet)\n"
	"  -p, --pretty        indent the output (the default on a terminal)\n"
	"  -c, --compact       print the output on one line\n"
	"  -h, --help          show this help\n"
	"\n"
	"Example:\n"
	"  qmigrate qmp /run/vm1/qmp.sock query-status\n"
	"  qmigrate qmp /run/vm1/qmp.sock migrate-set-parameters '{\"downtime-limit\": 300}'\n";

static int run(struct qm_ctx *ctx, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "compact", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct qm_qmp_options opts = { .connect_timeout = 5, .command_timeout = 30 };
	struct qm_error err = { 0 };
	json_t *args = NULL, *ret;
	struct qm_qmp *qmp;
	struct ev_loop *loop;
	int pretty = isatty(STDOUT_FILENO), c;
	char *end, *text;

	while ((c = getopt_long(argc, argv, "t:pch", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			opts.command_timeout = opts.connect_timeout = strtod(optarg, &end);
			if (*end || opts.command_timeout <= 0)
				return cli_usage_error(&cmd_qmp, "invalid timeout '%s'", optarg);
			break;
		case 'p':
			pretty = 1;
			break;
		case 'c':
			pretty = 0;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error(&cmd_qmp, "unknown option");
		}
	}
	if (argc - optind < 2 || argc - optind > 3)
		return cli_usage_error(&cmd_qmp, "expected SOCKET COMMAND [ARGUMENTS-JSON]");
	if (argc - optind == 3) {
		json_error_t jerr;

		args = json_loads(argv[optind + 2], JSON_DECODE_ANY, &jerr);
		if (!args)
			return cli_usage_error(&cmd_qmp, "ARGUMENTS-JSON is not JSON: %s",
					       jerr.text);
		if (!json_is_object(args)) {
			json_decref(args);
			return cli_usage_error(&cmd_qmp, "ARGUMENTS-JSON must be a JSON object");
		}
	}
	loop = ev_loop_new(EVFLAG_AUTO);
	qmp = loop ? qm_qmp_new(ctx, loop, &opts) : NULL;
	if (!qmp) {
		json_decref(args);
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	ret = NULL;
	if (qm_qmp_connect(qmp, argv[optind], &err) == 0)
		ret = qm_qmp_command_sync(qmp, argv[optind + 1], args, -1, &err);
	else
		json_decref(args);
	qm_qmp_unref(qmp);
	ev_loop_destroy(loop);
	if (!ret) {
		fprintf(stderr, "qmigrate qmp: %s: %s\n", err.error_class, err.text);
		return EXIT_FAILED;
	}
	text = json_dumps(ret, JSON_ENCODE_ANY | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
	json_decref(ret);
	if (!text) {
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	puts(text);
	free(text);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

const struct subcommand cmd_qmp = {
	.name = "qmp",
	.run = run,
	.summary = "run one QMP command and print its result",
	.usage = usage,
};
