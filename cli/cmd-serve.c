/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmigrate serve --stdio: the destination agent, started by the source over ssh or exec:. */
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/agent.h"
#include "engine/stream.h"

static const char usage[] =
	"Usage: qmigrate serve --stdio [OPTIONS]\n"
	"\n"
	"The destination agent of a migration between hosts. `qmigrate migrate\n"
	"--dest URI` starts it on the destination host (over ssh, or through the\n"
	"exec: program) and speaks the peer protocol (docs/peer-protocol.md) on\n"
	"its stdin and stdout; it is not meant to be run by hand. Only protocol\n"
	"goes to stdout; logs go to stderr.\n"
	"\n"
	"The agent launches the destination QEMU from the description it is sent,\n"
	"or attaches to the QMP socket it is told, and runs prepare and finish\n"
	"there. If the source goes away before finish, it stops what it prepared.\n"
	"Once finish resumed the VM, the QEMU keeps running after the agent exits.\n"
	"\n"
	"Options:\n"
	"  --stdio               speak the protocol on stdin and stdout (required)\n"
	"  --stream PATH         instead, carry one tunnelled migration stream between\n"
	"                        stdin/stdout and the UNIX socket PATH (the source\n"
	"                        starts one per stream)\n"
	"  --stream-index N      that stream's place in the source QEMU's order: it\n"
	"                        connects once stream N-1 has (default 0)\n"
	"  --runtime-dir DIR     where the destination's private directories go\n"
	"                        (default: $XDG_RUNTIME_DIR, else /tmp)\n"
	"  --host-uuid UUID      this host's uuid (default: from /etc/machine-id)\n"
	"  --migrate-address A   direct transport: where the destination QEMU listens\n"
	"                        unless the source says (default: the address the ssh\n"
	"                        connection reached, else 127.0.0.1)\n"
	"  -v, --verbose         log more (twice: debug)\n"
	"  -h, --help            show this help\n"
	"\n"
	"Exit status: 0 when a migration completed here, 1 otherwise; 2 usage error.\n";

enum {
	OPT_STDIO = 256,
	OPT_STREAM,
	OPT_STREAM_INDEX,
	OPT_RUNTIME_DIR,
	OPT_HOST_UUID,
	OPT_MIGRATE_ADDRESS,
};

static int run(struct qm_ctx *ctx, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "stdio", no_argument, NULL, OPT_STDIO },
		{ "stream", required_argument, NULL, OPT_STREAM },
		{ "stream-index", required_argument, NULL, OPT_STREAM_INDEX },
		{ "runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR },
		{ "host-uuid", required_argument, NULL, OPT_HOST_UUID },
		{ "migrate-address", required_argument, NULL, OPT_MIGRATE_ADDRESS },
		{ "verbose", no_argument, NULL, 'v' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct qm_agent_opts o = { .rfd = STDIN_FILENO, .wfd = STDOUT_FILENO };
	struct qm_error err = { 0 };
	const char *stream = NULL;
	unsigned long index = 0;
	bool stdio = false;
	int c, verbose = 0;
	char *end;

	while ((c = getopt_long(argc, argv, "vh", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_STDIO:
			stdio = true;
			break;
		case OPT_STREAM:
			stream = optarg;
			break;
		case OPT_STREAM_INDEX:
			index = strtoul(optarg, &end, 10);
			if (*end || end == optarg || index >= QM_STREAM_MAX)
				return cli_usage_error(&cmd_serve, "invalid --stream-index '%s' (0..63)",
						       optarg);
			break;
		case OPT_RUNTIME_DIR:
			o.runtime_dir = optarg;
			break;
		case OPT_HOST_UUID:
			o.host_uuid = optarg;
			break;
		case OPT_MIGRATE_ADDRESS:
			o.migrate_address = optarg;
			break;
		case 'v':
			verbose++;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error(&cmd_serve, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(&cmd_serve, "unexpected argument '%s'", argv[optind]);
	if (!stdio)
		return cli_usage_error(&cmd_serve, "--stdio is required: the agent speaks the "
						   "peer protocol on stdin and stdout");
	if (verbose)
		qm_ctx_set_log_priority(ctx, verbose > 1 ? 7 : 6);
	/* A source that went away must be an EPIPE, not the end of this process. */
	signal(SIGPIPE, SIG_IGN);
	if (stream) {
		if (qm_stream_sink(ctx, stream, (unsigned)index, STDIN_FILENO, STDOUT_FILENO,
				   &err) < 0) {
			cli_error("stream to %s: %s", stream, err.text);
			return EXIT_FAILED;
		}
		return EXIT_OK;
	}
	if (qm_agent_serve(ctx, &o, &err) < 0) {
		cli_error("serve: %s (%s)", err.text, err.error_class);
		return EXIT_FAILED;
	}
	return EXIT_OK;
}

const struct subcommand cmd_serve = {
	.name = "serve",
	.run = run,
	.summary = "the destination agent of a migration between hosts",
	.usage = usage,
};
