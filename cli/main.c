/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <syslog.h>

#include "cli/cli.h"
#include "util/macros.h"

static const struct subcommand *const subcommands[] = {
	&cmd_migrate,
	&cmd_job,
	&cmd_launch,
	&cmd_describe,
	&cmd_serve,
	&cmd_replay,
	&cmd_qmp,
};

static const char *const prio_names[] = {
	[LOG_EMERG] = "emerg", [LOG_ALERT] = "alert", [LOG_CRIT] = "crit",
	[LOG_ERR] = "error",   [LOG_WARNING] = "warning", [LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",   [LOG_DEBUG] = "debug",
};

static _printf_(6, 0) void log_stderr(void *userdata, int priority, const char *file, int line,
		       const char *fn, const char *format, va_list args)
{
	const char *name = priority >= 0 && priority <= LOG_DEBUG ? prio_names[priority] : "log";

	if (priority >= LOG_DEBUG)
		fprintf(stderr, "qmigrate: %s: %s:%d %s: ", name, file, line, fn);
	else
		fprintf(stderr, "qmigrate: %s: ", name);
	vfprintf(stderr, format, args);
	fputc('\n', stderr);
}

void cli_error(const char *fmt, ...)
{
	va_list ap;

	fputs("qmigrate: ", stderr);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fputc('\n', stderr);
}

int cli_usage_error(const struct subcommand *cmd, const char *fmt, ...)
{
	va_list ap;

	fprintf(stderr, "qmigrate %s: ", cmd->name);
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\nTry 'qmigrate help %s'.\n", cmd->name);
	return EXIT_USAGE;
}

static void print_help(FILE *out)
{
	fputs("Usage: qmigrate [--version] [--help] COMMAND [ARGS...]\n"
	      "\n"
	      "Live migration of QEMU virtual machines without libvirt.\n"
	      "\n"
	      "Commands:\n",
	      out);
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		fprintf(out, "  %-10s %s\n", subcommands[i]->name, subcommands[i]->summary);
	fputs("  help       show the help of a command\n"
	      "\n"
	      "Environment:\n"
	      "  QMIGRATE_LOG=debug      log what the library does, on stderr\n"
	      "  QMIGRATE_QMP_TRACE=1    log every raw QMP message, on stderr\n"
	      "\n"
	      "Exit codes: 0 success, 1 failure, 2 usage error, 3 state uncertain.\n",
	      out);
}

static const struct subcommand *find(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(subcommands); i++)
		if (strcmp(subcommands[i]->name, name) == 0)
			return subcommands[i];
	return NULL;
}

static int help(int argc, char *argv[])
{
	const struct subcommand *cmd;

	if (argc < 2) {
		print_help(stdout);
		return EXIT_OK;
	}
	cmd = find(argv[1]);
	if (!cmd) {
		cli_error("unknown command '%s'; 'qmigrate --help' lists them", argv[1]);
		return EXIT_USAGE;
	}
	fputs(cmd->usage, stdout);
	return EXIT_OK;
}

int main(int argc, char *argv[])
{
	const struct subcommand *cmd;
	struct qm_ctx *ctx;
	int r;

	if (argc < 2) {
		print_help(stderr);
		return EXIT_USAGE;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		print_help(stdout);
		return EXIT_OK;
	}
	if (strcmp(argv[1], "--version") == 0 || strcmp(argv[1], "-V") == 0) {
		printf("qmigrate %s\n", qm_version());
		return EXIT_OK;
	}
	if (strcmp(argv[1], "help") == 0)
		return help(argc - 1, argv + 1);
	cmd = find(argv[1]);
	if (!cmd) {
		cli_error("unknown command '%s'; 'qmigrate --help' lists them", argv[1]);
		return EXIT_USAGE;
	}
	ctx = qm_ctx_new();
	if (!ctx) {
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	qm_ctx_set_log_fn(ctx, log_stderr, NULL);
	/* A user sees the warnings (what went wrong but not fatally) unless told otherwise. */
	if (!secure_getenv("QMIGRATE_LOG") && qm_ctx_get_log_priority(ctx) < LOG_WARNING)
		qm_ctx_set_log_priority(ctx, LOG_WARNING);
	r = cmd->run(ctx, argc - 1, argv + 1);
	qm_ctx_unref(ctx);
	return r;
}
