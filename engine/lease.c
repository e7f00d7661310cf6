/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* One lease file: opening it safely, its OFD lock, its generation. */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/lease.h"
#include "util/error.h"
#include "util/uuid.h"
#include "xml/text.h"

void qm_lease_init(struct qm_lease *l)
{
	memset(l, 0, sizeof(*l));
	l->fd = -1;
}

static int file_error(const char *path, int r, const char *what, struct qm_error *err)
{
	return qm_error_set(err, r, "LeaseFile", "lease %s: %s: %s", path, what,
			    strerror(-r));
}

int qm_lease_check_path(const char *path, const char *kind, struct qm_error *err)
{
	char shown[64];

	if (strnlen(path, QM_LEASE_PATH_MAX) == QM_LEASE_PATH_MAX)
		return qm_error_set(err, -ENAMETOOLONG, kind,
				    "the lease path %.48s... is longer than %d bytes",
				    path, QM_LEASE_PATH_MAX - 1);
	if (qm_text_has_control(path, false))
		return qm_error_set(err, -EINVAL, kind,
				    "the lease path '%s' holds control characters",
				    qm_text_printable(path, shown, sizeof(shown)));
	if (path[0] != '/')
		return qm_error_set(
			err, -EINVAL, kind,
			"the lease path '%s' is not absolute: give the absolute "
			"path, the same on every host the VM may run on",
			path);
	return 0;
}

int qm_lease_check_stat(const char *path, const struct stat *st, uid_t uid,
			struct qm_error *err)
{
	if (!S_ISREG(st->st_mode))
		return qm_error_set(
			err, -EINVAL, "LeaseFile",
			"the lease %s is not a regular file: give the path of "
			"a file of its own",
			path);
	if (st->st_uid != uid)
		return qm_error_set(err, -EPERM, "LeaseFile",
				    "the lease %s belongs to uid %u, not to this user "
				    "(uid %u): a lease must be the VM owner's own file",
				    path, (unsigned)st->st_uid, (unsigned)uid);
	if (st->st_mode & 022)
		return qm_error_set(err, -EPERM, "LeaseFile",
				    "the lease %s may be written by others (mode %04o): "
				    "chmod 0600 it",
				    path, (unsigned)(st->st_mode & 07777));
	return 0;
}

/* O_NONBLOCK: opening a FIFO or a device must not hang before fstat refuses it. */
static int open_file(const char *path, int flags, struct qm_error *err)
{
	int fd = open(path, flags | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY | O_NONBLOCK, 0600);

	if (fd >= 0)
		return fd;
	if (errno == ELOOP)
		return qm_error_set(
			err, -ELOOP, "LeaseFile",
			"the lease %s is a symbolic link: give the path of the "
			"file itself",
			path);
	return file_error(path, -errno, "cannot open it", err);
}

static int read_state(const struct qm_lease *l, struct qm_lease_state *st,
		      struct qm_error *err)
{
	char buf[QM_LEASE_FILE_MAX + 1];
	size_t len = 0;
	ssize_t n;

	/* One byte more than allowed tells a file that is too large. */
	while (len < sizeof(buf)) {
		n = pread(l->fd, buf + len, sizeof(buf) - len, (off_t)len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return file_error(l->path, -errno, "cannot read it", err);
		if (n == 0)
			break;
		len += (size_t)n;
	}
	return qm_lease_text_parse(buf, len, l->path, st, err);
}

/* Shorter text first leaves no stale tail: ftruncate after pwrite, then to disk. */
static int write_state(const struct qm_lease *l, const struct qm_lease_state *st,
		       struct qm_error *err)
{
	char buf[QM_LEASE_FILE_MAX];
	int len = qm_lease_text_format(st, buf, sizeof(buf));
	size_t done = 0;
	ssize_t n;

	if (len < 0)
		return file_error(l->path, len, "cannot format its state", err);
	while (done < (size_t)len) {
		n = pwrite(l->fd, buf + done, (size_t)len - done, (off_t)done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return file_error(l->path, n < 0 ? -errno : -EIO,
					  "cannot write it", err);
		done += (size_t)n;
	}
	if (ftruncate(l->fd, len) < 0)
		return file_error(l->path, -errno, "cannot truncate it", err);
	if (fdatasync(l->fd) < 0)
		return file_error(l->path, -errno, "cannot sync it", err);
	return 0;
}

/* F_OFD_SETLK over the whole file: the lock of the open file description. */
static int set_lock(int fd, short type)
{
	struct flock fl = { .l_type = type, .l_whence = SEEK_SET };

	return fcntl(fd, F_OFD_SETLK, &fl) < 0 ? -errno : 0;
}

/* Whether another description than @fd's holds a lock on the file. */
static int locked_by_other(int fd, bool *locked)
{
	struct flock fl = { .l_type = F_WRLCK, .l_whence = SEEK_SET };

	if (fcntl(fd, F_OFD_GETLK, &fl) < 0)
		return -errno;
	*locked = fl.l_type != F_UNLCK;
	return 0;
}

int qm_lease_open(const char *path, struct qm_lease *l, struct qm_error *err)
{
	struct stat st;
	int r;

	qm_lease_init(l);
	r = qm_lease_check_path(path, "LeaseFile", err);
	if (r < 0)
		return r;
	r = open_file(path, O_RDWR | O_CREAT, err);
	if (r < 0)
		return r;
	snprintf(l->path, sizeof(l->path), "%s", path);
	l->fd = r;
	r = 0;
	if (fstat(l->fd, &st) < 0)
		r = file_error(path, -errno, "cannot stat it", err);
	if (r == 0)
		r = qm_lease_check_stat(path, &st, geteuid(), err);
	if (r == 0 && fcntl(l->fd, F_SETFL, 0) < 0) /* O_NONBLOCK off */
		r = file_error(path, -errno, "cannot set its flags", err);
	if (r == 0)
		r = read_state(l, &l->state, err);
	if (r < 0)
		qm_lease_close(l);
	return r;
}

/* The message names who holds it, as far as the file says. */
static int held_error(const struct qm_lease *l, const char *host_uuid,
		      struct qm_error *err)
{
	struct qm_lease_state st;
	struct qm_error ignored = { 0 };

	if (read_state(l, &st, &ignored) < 0 || !st.owner[0])
		return qm_error_set(
			err, -EBUSY, "LeaseHeld",
			"the lease %s is held by a process that has not "
			"written its owner yet: the VM is starting somewhere; "
			"stop it there first",
			l->path);
	if (strcmp(st.owner, host_uuid) == 0)
		return qm_error_set(
			err, -EBUSY, "LeaseHeld",
			"the lease %s is held on this host (host uuid %s) for "
			"VM %s: the VM runs here already; stop it first",
			l->path, st.owner, st.vm_uuid);
	return qm_error_set(err, -EBUSY, "LeaseHeld",
			    "the lease %s is held by host %s for VM %s: the VM runs "
			    "there; stop it there first",
			    l->path, st.owner, st.vm_uuid);
}

/* With the lock held: is the file what the caller may take? */
static int check_state(const struct qm_lease *l, const struct qm_lease_state *st,
		       const char *vm_uuid, uint64_t expect_gen, struct qm_error *err)
{
	if (st->vm_uuid[0] && strcmp(st->vm_uuid, vm_uuid) != 0)
		return qm_error_set(err, -EINVAL, "LeaseVm",
				    "the lease %s belongs to VM %s, not to VM %s: give "
				    "each VM lease files of its own",
				    l->path, st->vm_uuid, vm_uuid);
	if (expect_gen != QM_LEASE_ANY_GEN && st->generation != expect_gen)
		return qm_error_set(err, -ESTALE, "LeaseGeneration",
				    "the lease %s is at generation %" PRIu64
				    ", not %" PRIu64 ": host %s took it since; find out "
				    "where the VM runs before starting it here",
				    l->path, st->generation, expect_gen,
				    st->owner[0] ? st->owner : "(none)");
	if (st->generation == UINT64_MAX)
		return qm_error_set(err, -EOVERFLOW, "LeaseInvalid",
				    "the lease %s is at the last generation; stop the VM "
				    "everywhere and remove the file",
				    l->path);
	return 0;
}

int qm_lease_acquire(struct qm_lease *l, const char *vm_uuid, const char *host_uuid,
		     uint64_t expect_gen, struct qm_error *err)
{
	struct qm_lease_state st, next = { 0 };
	int r;

	if (l->fd < 0 || l->held)
		return qm_error_set(err, -EALREADY, "LeaseState", "the lease %s is %s",
				    l->fd < 0 ? "(none)" : l->path,
				    l->fd < 0 ? "not open" : "held already");
	if (!qm_uuid_normalise(vm_uuid, next.vm_uuid) ||
	    !qm_uuid_normalise(host_uuid, next.owner))
		return qm_error_set(err, -EINVAL, "LeaseState",
				    "the lease %s: VM %s or host %s is not a uuid",
				    l->path, vm_uuid, host_uuid);
	r = set_lock(l->fd, F_WRLCK);
	if (r == -EAGAIN || r == -EACCES)
		return held_error(l, next.owner, err);
	if (r < 0)
		return file_error(l->path, r, "cannot lock it", err);
	r = read_state(l, &st, err);
	if (r == 0)
		r = check_state(l, &st, next.vm_uuid, expect_gen, err);
	if (r == 0) {
		next.generation = st.generation + 1;
		r = write_state(l, &next, err);
	}
	if (r < 0) {
		set_lock(l->fd, F_UNLCK);
		return r;
	}
	l->held = true;
	l->state = next;
	return 0;
}

int qm_lease_release(struct qm_lease *l, struct qm_error *err)
{
	int r;

	if (!l->held)
		return 0;
	r = set_lock(l->fd, F_UNLCK);
	if (r < 0)
		return file_error(l->path, r, "cannot unlock it", err);
	l->held = false;
	return 0;
}

int qm_lease_retake(struct qm_lease *l, struct qm_error *err)
{
	struct qm_lease_state last = l->state;

	if (l->fd >= 0 && l->held)
		return 0;
	if (l->fd < 0 || last.generation == 0)
		return qm_error_set(err, -EINVAL, "LeaseState",
				    "the lease %s was never taken, so it cannot be "
				    "taken back",
				    l->fd < 0 ? "(none)" : l->path);
	return qm_lease_acquire(l, last.vm_uuid, last.owner, last.generation, err);
}

void qm_lease_close(struct qm_lease *l)
{
	if (l->fd >= 0)
		close(l->fd);
	qm_lease_init(l);
}

/* Whether @fd's description holds the lock: another description sees one, @fd does not.
 */
static int probe_held(int fd, int probe, bool *held)
{
	bool any = false, other = false;
	int r;

	/*
	 * A holder that unlocks between the two looks like @fd: a race only with
	 * a third party giving the lease up just then.
	 */
	r = locked_by_other(probe, &any);
	if (r == 0 && any)
		r = locked_by_other(fd, &other);
	if (r < 0)
		return r;
	*held = any && !other;
	return 0;
}

int qm_lease_adopt_fd(int fd, const char *path, struct qm_lease *l, struct qm_error *err)
{
	_cleanup_close_ int own = fd, probe = -1;
	struct stat st, named;
	int r, flags;

	qm_lease_init(l);
	r = qm_lease_check_path(path, "LeaseFile", err);
	if (r < 0)
		return r;
	if (fstat(own, &st) < 0)
		return file_error(path, -errno, "cannot stat the descriptor given", err);
	probe = open_file(path, O_RDONLY, err);
	if (probe < 0)
		return probe;
	if (fstat(probe, &named) < 0)
		return file_error(path, -errno, "cannot stat it", err);
	if (st.st_dev != named.st_dev || st.st_ino != named.st_ino)
		return qm_error_set(err, -EINVAL, "LeaseFile",
				    "descriptor %d is not the lease %s but another file",
				    fd, path);
	r = qm_lease_check_stat(path, &st, geteuid(), err);
	if (r < 0)
		return r;
	flags = fcntl(own, F_GETFL);
	if (flags < 0 || (flags & O_ACCMODE) != O_RDWR)
		return qm_error_set(
			err, -EBADF, "LeaseFile",
			"descriptor %d of the lease %s is not open for reading "
			"and writing",
			fd, path);
	r = probe_held(own, probe, &l->held);
	if (r < 0)
		return file_error(path, r, "cannot query its lock", err);
	snprintf(l->path, sizeof(l->path), "%s", path);
	l->fd = steal_fd(&own);
	r = read_state(l, &l->state, err);
	if (r < 0)
		qm_lease_close(l);
	return r;
}
