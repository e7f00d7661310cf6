/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * qmigrate replay: a QMP transcript (--qmp-log, engine/qmp-log.c) served
 * back as the two QEMUs that were recorded, so that a job can run against
 * their replies without them.
 *
 * replay-script.c reads the transcript into a script: for each side its
 * greeting and its commands in order, each with its recorded reply and the
 * events (of either side) recorded after it was sent and before the next
 * command; a QEMU's hang-up ({"closed": ...}) is kept as such an event.
 * replay-server.c serves the script on two UNIX sockets.
 */
#ifndef QM_ENGINE_REPLAY_H
#define QM_ENGINE_REPLAY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "qmigrate.h"
#include "util/macros.h"

/* A transcript line past this is refused: qmp-log.c cuts messages at 1 MiB. */
#define QM_REPLAY_MAX_LINE ((size_t)4 << 20)
/* ...and a transcript of more lines. */
#define QM_REPLAY_MAX_LINES 1000000

enum { QM_REPLAY_SOURCE, QM_REPLAY_DEST, QM_REPLAY_SIDES };

/*
 * Events are [side, event] pairs, the event a QEMU's message or its
 * hang-up, {"closed": {...}}: those recorded after the command was sent and
 * before the next command, split by whether its reply had come.
 */
struct qm_replay_cmd {
	const char *name; /* the command's name, in @msg */
	json_t *msg;	  /* the command as sent (its secrets masked) */
	json_t *reply;	  /* the reply without its "id", or NULL: none came */
	json_t *pre;	  /* events before its reply */
	json_t *events;	  /* events after its reply */
	size_t line;	  /* where it was sent, for messages */
};

struct qm_replay_side {
	json_t *greeting; /* NULL: the transcript has nothing of this side */
	json_t *events;	  /* [[side, event], ...] before its first command */
	struct qm_replay_cmd *cmds;
	size_t n_cmds;
	json_t *by_name; /* name -> [index in cmds, ...], in order */
	bool hung_up;	 /* this QEMU hung up by itself (never sent quit) */
};

struct qm_replay_script {
	struct qm_replay_side side[QM_REPLAY_SIDES];
	size_t lines;
};

extern const char *const qm_replay_side_names[QM_REPLAY_SIDES];

/*
 * Reads the transcript @path into a new script (*@out, for
 * qm_replay_script_free).  A malformed transcript is a "Usage" error that
 * names the line.
 */
int qm_replay_script_read(const char *path, struct qm_replay_script **out,
			  struct qm_error *err) _must_check_;
/* The same, from the text @text of @len bytes; @name is said in errors. */
int qm_replay_script_parse(const char *name, const char *text, size_t len,
			   struct qm_replay_script **out,
			   struct qm_error *err) _must_check_;
void qm_replay_script_free(struct qm_replay_script *s);

struct qm_replay;
struct ev_loop;

/*
 * Serves @script (which must outlive the server) on @loop: a new 0700
 * directory under @runtime_dir (NULL: $XDG_RUNTIME_DIR, else /tmp) holds the
 * sockets source.sock and destination.sock (0600).  Each command is answered
 * with the recorded reply of the same name on that side, the N-th one with
 * the N-th (past the last, the last again); the events recorded after it
 * follow its first answer.  A command the transcript does not have gets a
 * CommandNotFound error and counts as a divergence; fds passed with a command
 * are closed.  After "quit", a command that was never answered, or where
 * the transcript says QEMU hung up, the connection closes, as QEMU's did.
 */
int qm_replay_new(struct qm_ctx *ctx, struct ev_loop *loop,
		  const struct qm_replay_script *script, const char *runtime_dir,
		  struct qm_replay **out, struct qm_error *err) _must_check_;
/* The socket of side @side (QM_REPLAY_SOURCE or QM_REPLAY_DEST), borrowed. */
const char *qm_replay_socket(const struct qm_replay *r, int side);
/*
 * The divergences so far: commands without a recorded reply of their name,
 * "side command" each, one a line (borrowed; "" when there were none), and
 * how many.
 */
const char *qm_replay_divergence(const struct qm_replay *r, size_t *count);
/* How many fds came with commands (each closed at once). */
size_t qm_replay_fds_received(const struct qm_replay *r);
/* Closes every connection, removes the sockets and the directory, frees. */
void qm_replay_free(struct qm_replay *r);

#endif
