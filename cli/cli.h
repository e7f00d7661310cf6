/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_CLI_H
#define QM_CLI_H

#include "qmigrate.h"

/* Exit codes a script can trust. */
enum {
	EXIT_OK = 0,
	EXIT_FAILED = 1,
	EXIT_USAGE = 2,
	EXIT_UNCERTAIN = 3,
};

struct subcommand {
	const char *name;
	int (*run)(struct qm_ctx *ctx, int argc, char *argv[]);
	const char *summary;
	const char *usage; /* the full help text, shown by `qmigrate help NAME` */
};

extern const struct subcommand cmd_describe;
extern const struct subcommand cmd_job;
extern const struct subcommand cmd_launch;
extern const struct subcommand cmd_migrate;
extern const struct subcommand cmd_qmp;
extern const struct subcommand cmd_replay;
extern const struct subcommand cmd_serve;
/* migrate-usage.c: migrate's help text, cmd_migrate.usage */
extern const char cli_migrate_usage[];

struct ev_loop;

/* What `qmigrate replay` changes in `qmigrate migrate`. */
struct cli_migrate_hook {
	const struct subcommand *cmd; /* named in usage errors */
	/*
	 * After the options, before the job: serves both QMP sockets on @loop,
	 * under @runtime_dir (--runtime-dir, or NULL), and names them.  Returns
	 * 0, or -1 once it has said why.
	 */
	int (*start)(void *data, struct ev_loop *loop, const char *runtime_dir,
		     const char **src_qmp, const char **dst_qmp);
	/* After the job, before its result: stops serving. */
	void (*stop)(void *data);
	void *data;
};

/* `qmigrate migrate` with @argv; @hook (or NULL) serves the QEMUs instead. */
int cli_migrate(struct qm_ctx *ctx, int argc, char *argv[], const struct cli_migrate_hook *hook);

/* Prints "qmigrate: " and the message to stderr. */
void cli_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints a usage error and the hint to run `qmigrate help NAME`; returns EXIT_USAGE. */
int cli_usage_error(const struct subcommand *cmd, const char *fmt, ...)
	__attribute__((format(printf, 2, 3)));

#endif
