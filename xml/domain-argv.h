/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A domain description as the QEMU command line that starts it; private to
 * qmigrate.  docs/domain.md ("The command line") says what each part
 * becomes.
 *
 * Every element of the result is one argument for execv(): no shell and no
 * quoting.  A value that lands inside QEMU's comma-separated option syntax
 * (a path, a name, an address) has each ',' doubled, QEMU's own escape, so
 * that no value can add an option.  The <qemu:arg> passthrough comes last
 * and verbatim: it is the description's own command line.
 *
 * No password is ever in the result (CVE-2015-3252: a command line is
 * readable by every user of the host).  A display with a password starts
 * locked and the caller sets the password over QMP with set_password.
 */
#ifndef QM_XML_DOMAIN_ARGV_H
#define QM_XML_DOMAIN_ARGV_H

#include <stdbool.h>
#include <stddef.h>

#include "qmigrate.h"
#include "util/macros.h"
#include "xml/domain.h"

#define QM_DOMAIN_DEFAULT_EMULATOR "qemu-system-x86_64"
/* A disk's format node is named this and its target (fmt-vda); its file node file-vda. */
#define QM_FORMAT_NODE_PREFIX "fmt-"

/* A descriptor QEMU inherits and keeps in an fd set (-add-fd). */
struct qm_domain_argv_fd {
	int fd;		    /* its number in QEMU */
	int set;	    /* the fd set, 0..INT_MAX */
	const char *opaque; /* what query-fdsets shows for it; NULL: nothing */
};

struct qm_domain_argv_opts {
	/*
	 * The QMP socket QEMU creates (server, no wait); required.  Usually
	 * inside a private 0700 runtime directory (engine/launch.h makes one).
	 */
	const char *qmp_path;
	bool paused;   /* -S: the CPUs wait for "cont" */
	bool incoming; /* -S -incoming defer: a migration destination */
	/*
	 * Displays, by enum qm_domain_graphics_type, that start locked though
	 * the description holds no password: the migratable form lost its
	 * passwords, and the caller sets them with set_password from its own.
	 */
	bool locked[2];
	/*
	 * Descriptors to name with -add-fd (the caller's child inherits them).
	 * With any of them, a monitor that never disconnects is added too (a
	 * QMP monitor writing to /dev/null, id "qmigrate-fdset-pin"): QEMU
	 * before 9.1 closes the fds of a set no device opened as soon as the
	 * last monitor disconnects while the VM runs.
	 */
	const struct qm_domain_argv_fd *fds;
	size_t n_fds;
	/* That monitor even with no fds: QMP add-fd hands some later (a migration). */
	bool fdset_pin;
	/*
	 * SPICE's TLS directory (x509-dir: server-cert.pem, server-key.pem,
	 * ca-cert.pem), for a display with a tlsPort; NULL refuses a tlsPort.
	 * A directory, never a key's password: QEMU reads the files itself.
	 */
	const char *spice_x509_dir;
};

/*
 * Builds the command line of @d into a new NULL-terminated array in *@out
 * (qm_argv_free it); argv[0] is the emulator, <emulator> or
 * QM_DOMAIN_DEFAULT_EMULATOR.  Fails with class DomainUnsupported, naming
 * the element by its path and line, when the description holds anything
 * this builder cannot express (nothing is silently dropped); Usage when
 * @opts lacks the QMP path; DomainArgv when out of memory.  *@out is NULL
 * on failure.
 */
int qm_domain_argv(const struct qm_domain *d, const struct qm_domain_argv_opts *opts,
		   char ***out, struct qm_error *err) _must_check_;

/*
 * NULL-terminated string arrays, as qm_domain_argv and execv() use them.
 * qm_argv_len: the strings in @argv, 0 for NULL.  qm_argv_dup: a new copy of
 * @argv and of each string (NULL: an empty array), followed by @room NULL
 * slots for the caller to fill, then the terminator; qm_argv_free it.  NULL
 * when out of memory.  qm_argv_free frees up to the first NULL; NULL is fine.
 */
size_t qm_argv_len(const char *const *argv);
char **qm_argv_dup(const char *const *argv, size_t room);
void qm_argv_free(char **argv);

static inline void qm_argv_freep(char ***argv)
{
	qm_argv_free(*argv);
}
#define _cleanup_argv_ _cleanup_(qm_argv_freep)

/* True when some display of @d has a password that must be set over QMP. */
bool qm_domain_has_password(const struct qm_domain *d);

#endif
