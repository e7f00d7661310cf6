/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmigrate replay: a migration against the QEMUs of a QMP transcript (--qmp-log). */
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli/cli.h"
#include "engine/replay.h"

static const char usage[] =
	"Usage: qmigrate replay FILE [MIGRATE OPTIONS]\n"
	"\n"
	"Runs a migration against the source's and the destination's recorded\n"
	"replies in FILE, a transcript that 'qmigrate migrate --qmp-log FILE'\n"
	"wrote, so that a failure can be reproduced without the QEMUs it happened\n"
	"on. qmigrate serves both QEMUs itself, on two UNIX sockets (0600) in a new\n"
	"0700 directory under --runtime-dir that is removed afterwards: it sends\n"
	"each QEMU's greeting, answers each command with the recorded reply of the\n"
	"same name, in order (past the last, the last again), and sends the events\n"
	"recorded after it. Descriptors passed with a command are closed. Passwords\n"
	"and secrets stay as masked as the transcript has them.\n"
	"\n"
	"MIGRATE OPTIONS are those of 'qmigrate migrate' (give the ones the\n"
	"recorded migration had), except --src-qmp, --dst-qmp, --launch-dest and\n"
	"--dest: the migration is a local one between the two replayed QEMUs.\n"
	"It prints what 'qmigrate migrate' prints (--json: its JSON lines) and\n"
	"exits as it does: a transcript replays to the result it recorded.\n"
	"A command the transcript never answered gets QEMU's CommandNotFound\n"
	"error, and a warning on stderr names it (the replay diverged from the\n"
	"recording: other options, or another qmigrate).\n"
	"\n"
	"Options:\n"
	"  -h, --help            show this help\n"
	"\n"
	"A transcript is at most 1000000 lines of at most 4 MiB each; a line that is\n"
	"not a transcript's is refused, by its number.\n"
	"\n"
	"Exit codes: those of 'qmigrate migrate'; 2 also for a malformed\n"
	"transcript.\n";

struct replay {
	struct qm_ctx *ctx;
	struct qm_replay_script *script;
	struct qm_replay *server;
};

static int start(void *data, struct ev_loop *loop, const char *runtime_dir,
		 const char **src_qmp, const char **dst_qmp)
{
	struct replay *rp = data;
	struct qm_error err = { 0 };

	if (qm_replay_new(rp->ctx, loop, rp->script, runtime_dir, &rp->server, &err) <
	    0) {
		cli_error("%s", err.text);
		return -1;
	}
	*src_qmp = qm_replay_socket(rp->server, QM_REPLAY_SOURCE);
	*dst_qmp = qm_replay_socket(rp->server, QM_REPLAY_DEST);
	return 0;
}

static void stop(void *data)
{
	struct replay *rp = data;
	size_t n;

	qm_replay_divergence(rp->server, &n);
	if (n)
		cli_error(
			"the replay diverged from the transcript: %zu command%s it never "
			"answered (the warnings above name them)",
			n, n == 1 ? "" : "s");
	qm_replay_free(rp->server);
	rp->server = NULL;
}

static int run(struct qm_ctx *ctx, int argc, char *argv[])
{
	struct replay rp = { .ctx = ctx };
	struct cli_migrate_hook hook = {
		.cmd = &cmd_replay, .start = start, .stop = stop, .data = &rp
	};
	static const struct option longopts[] = {
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct qm_error err = { 0 };
	int c, r;

	/* "+": its own options stop at FILE; migrate's come after it. */
	while ((c = getopt_long(argc, argv, "+h", longopts, NULL)) != -1) {
		if (c != 'h')
			return cli_usage_error(&cmd_replay, "unknown option before FILE");
		fputs(usage, stdout);
		return EXIT_OK;
	}
	if (optind >= argc)
		return cli_usage_error(&cmd_replay, "the transcript FILE is required");
	argc -= optind;
	argv += optind;
	/* migrate's parser starts afresh, FILE where it expects the program's name. */
	optind = 0;
	if (qm_replay_script_read(argv[0], &rp.script, &err) < 0) {
		cli_error("%s", err.text);
		return strcmp(err.error_class, "Usage") == 0 ? EXIT_USAGE : EXIT_FAILED;
	}
	r = cli_migrate(ctx, argc, argv, &hook);
	qm_replay_script_free(rp.script);
	return r;
}

const struct subcommand cmd_replay = {
	.name = "replay",
	.run = run,
	.summary = "run a migration against the QEMUs of a QMP transcript",
	.usage = usage,
};
