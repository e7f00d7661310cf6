/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The agent's command line: OpenSSH's argv for ssh://, the words of exec:. */
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine/ssh-argv.h"
#include "util/error.h"
#include "xml/domain-argv.h"

/* ssh, its fixed options, the -p/-l pairs, the options, "--", four words, NULL. */
#define WORDS_MAX (4 + 4 + 2 * QM_SSH_OPTIONS_MAX + 5 + 1)

/*
 * ssh_config keywords that --ssh-option may not set.  The option strings may
 * come from a harness or a configuration file less trusted than the user
 * running qmigrate, and qmigrate promises argv only, no shell: each of these
 * would run a command or load code on this host, change what runs on the
 * other, or break the binary channel to the agent.  Keywords are
 * case-insensitive, as ssh reads them.
 */
static const struct {
	const char *key;
	const char *why;
} refused[] = {
	{ "BatchMode", "qmigrate sets BatchMode=yes: a prompt would wait forever" },
	{ "ForkAfterAuthentication", "ssh would leave the agent's channel (ssh -f)" },
	{ "Host", "it starts a block of ssh_config, which -o cannot hold" },
	{ "Include", "it reads another file, which may set any option" },
	{ "KnownHostsCommand", "it runs a command on this host through a shell" },
	{ "LocalCommand", "it runs a command on this host through a shell" },
	{ "Match", "its 'exec' criterion runs a command on this host through a shell" },
	{ "PKCS11Provider", "it loads a library into ssh on this host" },
	{ "PermitLocalCommand", "it enables LocalCommand, which runs a local command" },
	{ "ProxyCommand", "it runs a command on this host through a shell" },
	{ "RemoteCommand", "it replaces the agent that runs on the other host" },
	{ "RequestTTY", "a terminal would mangle the agent's binary protocol" },
	{ "SecurityKeyProvider", "it loads a library into ssh on this host" },
	{ "SessionType", "it replaces the agent's session with a subsystem or none" },
	{ "StdinNull", "it cuts the channel to the agent (ssh -n)" },
};

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool has_ctl(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

int qm_ssh_option_check(const char *opt, struct qm_error *err)
{
	const char *eq = strchr(opt, '=');
	size_t klen = eq ? (size_t)(eq - opt) : 0;

	if (strnlen(opt, QM_SSH_OPTION_MAX + 1) > QM_SSH_OPTION_MAX)
		return qm_error_set(err, -E2BIG, "Usage",
				    "--ssh-option: longer than %d bytes", QM_SSH_OPTION_MAX);
	if (has_ctl(opt))
		return qm_error_set(err, -EINVAL, "Usage",
				    "--ssh-option: holds a control character; write Key=Value "
				    "on one line");
	if (!eq || klen == 0 || !eq[1])
		return qm_error_set(err, -EINVAL, "Usage",
				    "--ssh-option '%s': write Key=Value, e.g. "
				    "ConnectTimeout=10", opt);
	for (size_t i = 0; i < klen; i++)
		if (!is_alnum(opt[i]))
			return qm_error_set(err, -EINVAL, "Usage",
					    "--ssh-option '%s': the key before '=' is an "
					    "ssh_config keyword, letters and digits only", opt);
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++)
		if (strlen(refused[i].key) == klen &&
		    strncasecmp(refused[i].key, opt, klen) == 0)
			return qm_error_set(err, -EINVAL, "Usage",
					    "--ssh-option %s is refused: %s", refused[i].key,
					    refused[i].why);
	return 0;
}

/*
 * The agent's path as the first word of the remote command line, which a
 * shell on the other host reads: an absolute path or a bare name of
 * letters, digits and "._+-/", not starting with '-'.  No '=' (the shell
 * would take NAME=VALUE for an assignment), no '~', '$', quote or space.
 */
static int check_remote(const char *s, struct qm_error *err)
{
	size_t len = strnlen(s, QM_SSH_PATH_MAX + 1);

	if (len == 0 || len > QM_SSH_PATH_MAX)
		return qm_error_set(err, -EINVAL, "Usage",
				    "--remote-qmigrate: empty or longer than %d bytes",
				    QM_SSH_PATH_MAX);
	if (s[0] == '-' || (s[0] != '/' && strchr(s, '/')))
		return qm_error_set(err, -EINVAL, "Usage",
				    "--remote-qmigrate '%s': write an absolute path or a "
				    "bare name found in the remote PATH", s);
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && !strchr("._+-/", s[i]))
			return qm_error_set(err, -EINVAL, "Usage",
					    "--remote-qmigrate '%s': the remote shell reads it; "
					    "use letters, digits and ._+-/ only", s);
	return 0;
}

static int check_local(const char *s, struct qm_error *err)
{
	size_t len = strnlen(s, QM_SSH_PATH_MAX + 1);

	if (len == 0 || len > QM_SSH_PATH_MAX || has_ctl(s))
		return qm_error_set(err, -EINVAL, "Usage",
				    "the ssh client's path is empty, longer than %d bytes "
				    "or holds a control character", QM_SSH_PATH_MAX);
	return 0;
}

/* Copies the borrowed NULL-terminated @words into a new argv. */
static int dup_words(const char *const *words, char ***argv, struct qm_error *err)
{
	*argv = qm_argv_dup(words, 0);
	if (!*argv)
		return qm_error_set(err, -ENOMEM, "Usage", "out of memory");
	return 0;
}

int qm_ssh_argv(const struct qm_dest_uri *u, const struct qm_ssh_opts *o, char ***argv,
		struct qm_error *err)
{
	static const struct qm_ssh_opts defaults;
	const char *w[WORDS_MAX];
	char port[12];
	size_t n = 0;
	int r;

	*argv = NULL;
	if (!o)
		o = &defaults;
	if (u->kind != QM_DEST_SSH || !u->host[0])
		return qm_error_set(err, -EINVAL, "Usage", "not an ssh:// destination");
	if (o->n_options > QM_SSH_OPTIONS_MAX)
		return qm_error_set(err, -E2BIG, "Usage", "more than %d --ssh-option",
				    QM_SSH_OPTIONS_MAX);
	w[n++] = o->ssh_path ? o->ssh_path : QM_SSH_DEFAULT;
	r = check_local(w[0], err);
	if (r < 0)
		return r;
	/* The agent speaks binary frames on stdin/stdout: no terminal. */
	w[n++] = "-T";
	w[n++] = "-o";
	w[n++] = "BatchMode=yes";
	if (u->port) {
		snprintf(port, sizeof(port), "%u", u->port);
		w[n++] = "-p";
		w[n++] = port;
	}
	if (u->user[0]) {
		w[n++] = "-l";
		w[n++] = u->user;
	}
	for (size_t i = 0; i < o->n_options; i++) {
		r = qm_ssh_option_check(o->options[i], err);
		if (r < 0)
			return r;
		w[n++] = "-o";
		w[n++] = o->options[i];
	}
	/*
	 * "--" ends ssh's options.  Without it ssh would also read options
	 * after the host (it restarts getopt there), so "--stdio" and the
	 * host itself could become options.
	 */
	w[n++] = "--";
	w[n++] = u->host;
	w[n++] = o->remote_qmigrate ? o->remote_qmigrate : QM_SSH_DEFAULT_REMOTE;
	r = check_remote(w[n - 1], err);
	if (r < 0)
		return r;
	w[n++] = "serve";
	w[n++] = "--stdio";
	w[n] = NULL;
	return dup_words(w, argv, err);
}

int qm_exec_argv(const struct qm_dest_uri *u, char ***argv, struct qm_error *err)
{
	*argv = NULL;
	if (u->kind != QM_DEST_EXEC || !u->exec_argv || !u->exec_argv[0])
		return qm_error_set(err, -EINVAL, "Usage", "not an exec: destination");
	return dup_words((const char *const *)u->exec_argv, argv, err);
}

int qm_dest_argv(const struct qm_dest_uri *u, const struct qm_ssh_opts *o, char ***argv,
		 struct qm_error *err)
{
	if (u->kind == QM_DEST_EXEC)
		return qm_exec_argv(u, argv, err);
	return qm_ssh_argv(u, o, argv, err);
}

/*
 * A stream's socket path on the other host.  The remote shell reads it, like
 * the agent's path: absolute, letters, digits and ._+-/ only.  The agent
 * names it (RUNDIR/migrate.sock), so anything else is a broken agent.
 */
static int check_stream_path(const char *s, struct qm_error *err)
{
	size_t len = strlen(s);

	if (s[0] != '/' || len > QM_STREAM_PATH_MAX)
		return qm_error_set(err, -EINVAL, "PeerProtocol",
				    "the agent's stream socket '%.120s' is not an absolute path "
				    "of at most %d bytes", s, QM_STREAM_PATH_MAX);
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && !strchr("._+-/", s[i]))
			return qm_error_set(err, -EINVAL, "PeerProtocol",
					    "the agent's stream socket '%.120s' holds a character "
					    "the remote shell would read", s);
	return 0;
}

int qm_dest_stream_argv(const struct qm_dest_uri *u, const struct qm_ssh_opts *o,
			const char *stream, char ***argv, struct qm_error *err)
{
	char **v = NULL, **grown;
	size_t n;
	int r;

	*argv = NULL;
	if (stream) {
		r = check_stream_path(stream, err);
		if (r < 0)
			return r;
	}
	r = qm_dest_argv(u, o, &v, err);
	if (r < 0 || !stream) {
		*argv = v;
		return r;
	}
	n = qm_argv_len((const char *const *)v);
	grown = realloc(v, (n + 3) * sizeof(*v));
	if (!grown) {
		qm_argv_free(v);
		return qm_error_set(err, -ENOMEM, "Usage", "out of memory");
	}
	v = grown;
	v[n] = strdup("--stream");
	v[n + 1] = v[n] ? strdup(stream) : NULL;
	v[n + 2] = NULL;
	if (!v[n + 1]) {
		qm_argv_free(v);
		return qm_error_set(err, -ENOMEM, "Usage", "out of memory");
	}
	*argv = v;
	return 0;
}
