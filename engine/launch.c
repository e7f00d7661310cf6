/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Starting QEMU in a private runtime directory and owning the process. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "engine/child.h"
#include "engine/launch.h"
#include "util/error.h"
#include "xml/domain-argv.h"
#include "xml/domain-rewrite.h"

#define STOP_GRACE 5.0 /* seconds between SIGTERM and SIGKILL */
#define LOG_TAIL 400   /* bytes of QEMU's log quoted in an error */
#define POLL_MS 10

struct qm_launch {
	struct qm_child child;
	char dir[108];
	char qmp_path[128];
	char log_path[128];
};

static void pause_ms(int ms)
{
	struct timespec ts = { .tv_sec = 0, .tv_nsec = ms * 1000000L };

	nanosleep(&ts, NULL);
}

/* mkdtemp makes it 0700; checked anyway, since the QMP socket's safety rests on it. */
static int make_dir(struct qm_launch *l, const struct qm_launch_opts *opts,
		    struct qm_error *err)
{
	const char *parent = opts->runtime_parent;
	struct stat st;
	int n;

	if (!parent)
		parent = secure_getenv("XDG_RUNTIME_DIR");
	if (!parent || !*parent)
		parent = "/tmp";
	/* The socket path must fit sun_path (108 bytes) with "/qmp.sock". */
	n = snprintf(l->dir, sizeof(l->dir) - 10, "%s/qmigrate-vm-XXXXXX", parent);
	if (n < 0 || (size_t)n >= sizeof(l->dir) - 10) {
		l->dir[0] = '\0';
		return qm_error_set(err, -ENAMETOOLONG, "LaunchDir",
				    "%s is too long a path for a QMP socket", parent);
	}
	if (!mkdtemp(l->dir)) {
		int r = -errno;

		l->dir[0] = '\0';
		return qm_error_set(err, r, "LaunchDir", "cannot create a directory in %s: %s",
				    parent, strerror(-r));
	}
	if (lstat(l->dir, &st) < 0 || !S_ISDIR(st.st_mode) || (st.st_mode & 07777) != 0700 ||
	    st.st_uid != geteuid())
		return qm_error_set(err, -EPERM, "LaunchDir",
				    "%s is not a 0700 directory of this user", l->dir);
	snprintf(l->qmp_path, sizeof(l->qmp_path), "%s/qmp.sock", l->dir);
	snprintf(l->log_path, sizeof(l->log_path), "%s/qemu.log", l->dir);
	return 0;
}

void qm_launch_log_tail(const struct qm_launch *l, char *out, size_t size)
{
	char buf[LOG_TAIL + 1];
	ssize_t n = -1;
	int fd = open(l->log_path, O_RDONLY | O_CLOEXEC);

	out[0] = '\0';
	if (fd >= 0) {
		off_t end = lseek(fd, 0, SEEK_END);

		if (end >= 0 && lseek(fd, end > LOG_TAIL ? end - LOG_TAIL : 0, SEEK_SET) >= 0)
			n = read(fd, buf, LOG_TAIL);
		close(fd);
	}
	if (n <= 0)
		return;
	while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
		n--;
	buf[n] = '\0';
	for (char *p = buf; *p; p++)
		if (*p == '\n' || (unsigned char)*p < ' ')
			*p = *p == '\n' ? '|' : '?';
	snprintf(out, size, ": %s", buf);
}

/* QEMU was reaped: how it ended (as much as we know when someone else reaped it). */
static int exited_error(const struct qm_launch *l, const char *when, struct qm_error *err)
{
	char tail[LOG_TAIL + 8], how[64];

	qm_launch_log_tail(l, tail, sizeof(tail));
	qm_child_describe(&l->child, how, sizeof(how));
	return qm_error_set(err, -ECHILD, "LaunchExited", "QEMU %s %s%s", how, when, tail);
}

int qm_launch_wait_socket(struct qm_launch *l, double timeout, struct qm_error *err)
{
	double deadline;
	char tail[LOG_TAIL + 8];
	struct stat st;

	if (timeout <= 0)
		timeout = QM_LAUNCH_TIMEOUT;
	deadline = qm_monotonic() + timeout;
	while (stat(l->qmp_path, &st) < 0 || !S_ISSOCK(st.st_mode)) {
		if (qm_child_reap(&l->child))
			return exited_error(l, "before creating its QMP socket", err);
		if (qm_monotonic() > deadline) {
			qm_launch_log_tail(l, tail, sizeof(tail));
			return qm_error_set(err, -ETIMEDOUT, "LaunchTimeout",
					    "QEMU did not create its QMP socket within "
					    "%.0f s%s",
					    timeout, tail);
		}
		pause_ms(POLL_MS);
	}
	return 0;
}

extern char **environ;

/*
 * This process's environment with GLIBC_TUNABLES=QM_LAUNCH_NBD_TUNABLES
 * added, in *@out (the array is ours to free, its strings are not); *@out
 * NULL when the environment sets GLIBC_TUNABLES already: the user's choice.
 */
static int env_with_tunables(char ***out)
{
	static char tunables[] = "GLIBC_TUNABLES=" QM_LAUNCH_NBD_TUNABLES;
	size_t n = 0;
	char **env;

	*out = NULL;
	if (getenv("GLIBC_TUNABLES"))
		return 0;
	while (environ && environ[n])
		n++;
	env = calloc(n + 2, sizeof(*env));
	if (!env)
		return -ENOMEM;
	if (n)
		memcpy(env, environ, n * sizeof(*env));
	env[n] = tunables;
	*out = env;
	return 0;
}

static int spawn(struct qm_launch *l, char **argv, const struct qm_launch_opts *opts,
		 struct qm_error *err)
{
	_cleanup_free_ char **env = NULL;
	_cleanup_close_ int log_fd = -1, null_fd = -1;
	struct qm_child_opts o = { .detach = opts->detach, .n_keep = opts->n_leases };
	int keep[QM_LEASE_MAX];

	log_fd = open(l->log_path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
	null_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (log_fd < 0 || null_fd < 0)
		return qm_error_set(err, -errno, "LaunchDir", "cannot open %s: %s",
				    log_fd < 0 ? l->log_path : "/dev/null", strerror(errno));
	for (size_t i = 0; i < opts->n_leases; i++)
		keep[i] = opts->leases[i].fd;
	o.keep = keep;
	o.stdio[0] = null_fd;
	o.stdio[1] = o.stdio[2] = log_fd;
	/*
	 * QEMU binds its socket with the umask's mode (0777 masked), and files
	 * it makes (a serial log) likewise: 0600 for both, whatever the
	 * caller's umask.  No one else could pass the 0700 directory anyway.
	 */
	o.private_umask = true;
	if (opts->serves_disks && env_with_tunables(&env) < 0)
		return qm_error_set(err, -ENOMEM, "Launch", "out of memory");
	o.envp = env;
	return qm_child_spawn(&l->child, argv, &o, "Launch", err);
}

/* A copy of @d whose character devices' files and sockets are in @dir. */
static int chr_into(const struct qm_domain *d, const char *dir, struct qm_domain **out,
		    struct qm_error *err)
{
	const struct qm_domain_rewrite rw = { .chr_dir = dir };
	_cleanup_free_ char *xml = NULL;
	int r;

	r = qm_domain_format(d, &xml, err);
	if (r == 0)
		r = qm_domain_parse(xml, strlen(xml), out, err);
	if (r == 0)
		r = qm_domain_rewrite(*out, &rw, err);
	return r < 0 ? r : 0;
}

/* Lease i is QEMU's fd 3 + i: qm_child_opts.keep puts it there. */
static int lease_fds(const struct qm_launch_opts *opts, struct qm_domain_argv_fd *fds,
		     char (*opaque)[sizeof(QM_LEASE_OPAQUE) + QM_LEASE_PATH_MAX],
		     struct qm_error *err)
{
	if (opts->n_leases > QM_LEASE_MAX)
		return qm_error_set(err, -E2BIG, "Usage", "%zu leases, at most %d",
				    opts->n_leases, QM_LEASE_MAX);
	for (size_t i = 0; i < opts->n_leases; i++) {
		if (opts->leases[i].fd < 0)
			return qm_error_set(err, -EBADF, "Usage", "lease %zu is not open",
					    i);
		snprintf(opaque[i], sizeof(opaque[i]), "%s%s", QM_LEASE_OPAQUE,
			 opts->leases[i].path);
		fds[i] = (struct qm_domain_argv_fd){ .fd = 3 + (int)i,
						     .set = QM_LEASE_FDSET + (int)i,
						     .opaque = opaque[i] };
	}
	return 0;
}

int qm_launch_start(const struct qm_domain *d, const struct qm_launch_opts *opts,
		    struct qm_launch **out, struct qm_error *err)
{
	struct qm_domain_argv_fd fds[QM_LEASE_MAX];
	char opaque[QM_LEASE_MAX][sizeof(QM_LEASE_OPAQUE) + QM_LEASE_PATH_MAX];
	_cleanup_domain_ struct qm_domain *moved = NULL;
	_cleanup_launch_ struct qm_launch *l = calloc(1, sizeof(*l));
	_cleanup_argv_ char **argv = NULL;
	struct qm_domain_argv_opts aopts = { .paused = opts->paused,
					     .incoming = opts->incoming,
					     .fdset_pin = opts->fdset_pin,
					     .spice_x509_dir = opts->spice_x509_dir };
	int r;

	*out = NULL;
	if (!l)
		return qm_error_set(err, -ENOMEM, "Launch", "out of memory");
	qm_child_init(&l->child);
	r = lease_fds(opts, fds, opaque, err);
	if (r < 0)
		return r;
	aopts.fds = fds;
	aopts.n_fds = opts->n_leases;
	r = make_dir(l, opts, err);
	if (r < 0)
		return r;
	aopts.qmp_path = l->qmp_path;
	memcpy(aopts.locked, opts->locked, sizeof(aopts.locked));
	if (opts->chr_into_dir) {
		r = chr_into(d, l->dir, &moved, err);
		if (r < 0)
			return r;
		d = moved;
	}
	r = qm_domain_argv(d, &aopts, &argv, err);
	if (r < 0)
		return r;
	r = spawn(l, argv, opts, err);
	if (r < 0)
		return r;
	*out = steal_pointer(&l);
	return 0;
}

int qm_launch_new(const struct qm_domain *d, const struct qm_launch_opts *opts,
		  struct qm_launch **out, struct qm_error *err)
{
	_cleanup_launch_ struct qm_launch *l = NULL;
	int r;

	*out = NULL;
	r = qm_launch_start(d, opts, &l, err);
	if (r < 0)
		return r;
	r = qm_launch_wait_socket(l, opts->timeout, err);
	if (r < 0)
		return r;
	*out = steal_pointer(&l);
	return 0;
}

int qm_launch_pidfd(const struct qm_launch *l)
{
	return l->child.pid > 0 ? l->child.pidfd : -1;
}

int qm_launch_reap(struct qm_launch *l, const char *when, struct qm_error *err)
{
	if (l->child.pid <= 0)
		return 0;
	if (!qm_child_reap(&l->child))
		return -EAGAIN;
	exited_error(l, when, err);
	return 0;
}

int qm_launch_signal(struct qm_launch *l, int sig)
{
	return qm_child_signal(&l->child, sig);
}

pid_t qm_launch_pid(const struct qm_launch *l)
{
	return l->child.pid;
}

const char *qm_launch_qmp_path(const struct qm_launch *l)
{
	return l->qmp_path;
}

const char *qm_launch_dir(const struct qm_launch *l)
{
	return l->dir;
}

const char *qm_launch_log_path(const struct qm_launch *l)
{
	return l->log_path;
}

int qm_launch_wait(struct qm_launch *l, int *status)
{
	if (l->child.pid <= 0)
		return -ECHILD;
	if (waitpid(l->child.pid, status, 0) < 0)
		return -errno;
	l->child.pid = -1;
	l->child.status = *status;
	return 0;
}

/*
 * The runtime directory and what QEMU made in it: its QMP socket, its log,
 * the character devices' files and sockets (chr_into_dir).  It is ours,
 * 0700, and flat: only its entries are removed, nothing below them.
 */
static void remove_dir(const char *path)
{
	DIR *d = opendir(path);
	struct dirent *e;

	while (d && (e = readdir(d)))
		if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
			unlinkat(dirfd(d), e->d_name, 0);
	if (d)
		closedir(d);
	rmdir(path);
}

void qm_launch_free(struct qm_launch *l)
{
	if (!l)
		return;
	qm_child_stop(&l->child, STOP_GRACE);
	if (l->dir[0])
		remove_dir(l->dir);
	qm_child_release(&l->child);
	free(l);
}

void qm_launch_release(struct qm_launch *l)
{
	if (!l)
		return;
	qm_child_release(&l->child);
	free(l);
}
