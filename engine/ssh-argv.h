/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The command line that starts the destination agent: the OpenSSH client's
 * argv for ssh://, the program's own for exec:.  Private to qmigrate;
 * docs/peer-protocol.md ("Reaching the agent") shows the result.
 *
 * Every element is one argument for execvp(): no local shell.  The remote
 * sshd does join the words after the host with spaces and hand them to the
 * user's shell there, so those words are fixed ("serve", "--stdio") or
 * checked to be one word that a shell leaves alone (the agent's path).
 */
#ifndef QM_ENGINE_SSH_ARGV_H
#define QM_ENGINE_SSH_ARGV_H

#include <stddef.h>

#include "engine/dest-uri.h"
#include "qmigrate.h"
#include "util/macros.h"

#define QM_SSH_DEFAULT "ssh"
#define QM_SSH_DEFAULT_REMOTE "qmigrate"
#define QM_SSH_OPTIONS_MAX 32	  /* --ssh-option values */
#define QM_SSH_OPTION_MAX 1024	  /* bytes of one of them */
#define QM_SSH_PATH_MAX 4096	  /* bytes of ssh_path and remote_qmigrate */

struct qm_ssh_opts {
	const char *ssh_path;	     /* the local client; NULL: "ssh", found in PATH */
	const char *remote_qmigrate; /* the agent on the other host; NULL: "qmigrate" */
	const char *const *options;  /* --ssh-option values, each "Key=Value"; borrowed */
	size_t n_options;
};

/*
 * Checks one --ssh-option value: "Key=Value", Key letters and digits,
 * Value non-empty, no control character, at most QM_SSH_OPTION_MAX bytes,
 * and not an option that runs a command or changes what runs or how the
 * channel behaves (the refused list is in ssh-argv.c).  Returns 0 or
 * -EINVAL / -E2BIG with @err filled, class Usage.
 */
int qm_ssh_option_check(const char *opt, struct qm_error *err) _must_check_;

/*
 * Builds, in a new NULL-terminated *@argv (qm_argv_free it,
 * xml/domain-argv.h):
 *
 *   SSH -T -o BatchMode=yes [-p PORT] [-l USER] [-o OPTION]... --
 *       HOST REMOTE_QMIGRATE serve --stdio
 *
 * @u must be an ssh:// destination; @o may be NULL for the defaults.
 * Returns 0, or a negative errno with @err filled (class Usage for a
 * refused option or path), and *@argv NULL.
 */
int qm_ssh_argv(const struct qm_dest_uri *u, const struct qm_ssh_opts *o, char ***argv,
		struct qm_error *err) _must_check_;

/* exec:'s words as a new argv (qm_argv_free it); @u must be exec:. */
int qm_exec_argv(const struct qm_dest_uri *u, char ***argv,
		 struct qm_error *err) _must_check_;

/* The argv for @u, whichever its form: qm_ssh_argv() or qm_exec_argv(). */
int qm_dest_argv(const struct qm_dest_uri *u, const struct qm_ssh_opts *o, char ***argv,
		 struct qm_error *err) _must_check_;

/*
 * The argv for @u with "--stream STREAM" appended: the command that carries
 * one tunnelled stream to the UNIX socket STREAM on the other host
 * (`qmigrate serve --stdio --stream PATH`; exec: runs its words with the
 * two appended).  With @stream NULL, qm_dest_argv().  The path must be
 * absolute, at most QM_STREAM_PATH_MAX bytes of letters, digits and ._+-/
 * (class PeerProtocol otherwise: the agent named it).
 */
#define QM_STREAM_PATH_MAX 107
int qm_dest_stream_argv(const struct qm_dest_uri *u, const struct qm_ssh_opts *o,
			const char *stream, char ***argv, struct qm_error *err) _must_check_;

#endif
