/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Lock leases: a VM runs only where its leases are held.  Private to qmigrate.
 *
 * A lease is a small regular file of this user (created 0600) held with an
 * OFD lock: fcntl F_OFD_SETLK, a write lock over the whole file.  The lock
 * belongs to the open file description, not to a process: every descriptor
 * of that description shares it (a dup, one QEMU inherited with -add-fd or
 * was given with add-fd, one taken back from QEMU with pidfd_getfd), and it
 * is held until one of them unlocks it or the last of them is closed.  So a
 * lease handed to QEMU stays held exactly as long as QEMU runs, even when
 * no qmigrate process is left; and qmigrate, keeping a descriptor of the
 * same description, can release it for a handover and take it again when
 * the handover fails.  Two descriptions conflict even inside one process,
 * which POSIX (per-process) locks would not.
 *
 * The file says who took it last, in at most QM_LEASE_FILE_MAX bytes:
 *
 *	owner-host-uuid=UUID
 *	vm-uuid=UUID
 *	generation=N
 *
 * An empty file (a new lease) is generation 0 with no owner.  Every
 * acquisition adds one to the generation and writes the file while it
 * holds the lock, so whoever released a lease at generation N sees that
 * someone took it meanwhile: it is no longer N.
 *
 * Error classes: LeaseFile (the path or the file cannot be used: relative,
 * too long, a symlink, not a regular file, not this user's, writable by
 * others, an I/O error), LeaseInvalid (the content is not a lease's),
 * LeaseHeld (another open description holds the lock), LeaseGeneration
 * (not the generation expected), LeaseVm (the file names another VM),
 * LeaseState (a call out of order, e.g. acquiring a lease not open),
 * LeaseDriver (a cookie's leases use another lock driver).
 */
#ifndef QM_ENGINE_LEASE_H
#define QM_ENGINE_LEASE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/stat.h>

#include "qmigrate.h"
#include "util/macros.h"
#include "xml/cookie.h"
#include "xml/domain.h"

#define QM_LEASE_MAX QM_COOKIE_MAX_LEASES /* leases of one VM */
#define QM_LEASE_PATH_MAX 256		  /* with the NUL: what a cookie carries */
#define QM_LEASE_FILE_MAX 1024		  /* bytes of a lease file */
#define QM_LEASE_ANY_GEN UINT64_MAX	  /* acquire: whatever the generation */
/* How a lease handed to QEMU is named in its fd sets (engine/launch.h). */
#define QM_LEASE_FDSET 1000		  /* the set of the first lease; then 1001... */
#define QM_LEASE_OPAQUE "qmigrate-lease:" /* then the path */

/* What a lease file says. */
struct qm_lease_state {
	uint64_t generation; /* 0: never taken */
	char owner[37];	     /* the host uuid of the last taker; "" when never taken */
	char vm_uuid[37];    /* the VM it was taken for; "" when never taken */
};

struct qm_lease {
	char path[QM_LEASE_PATH_MAX];
	int fd;	   /* -1 when not open */
	bool held; /* this description holds the lock */
	/* As last read or written; still readable after a release. */
	struct qm_lease_state state;
};

/* A lease not open: fd -1.  qm_lease_close() accepts it. */
void qm_lease_init(struct qm_lease *l);

/*
 * Opens the lease file @path, creating it 0600 when it is not there, and
 * reads its state; takes no lock.  @path must be absolute, shorter than
 * QM_LEASE_PATH_MAX and free of control characters; the file must be a
 * regular file (never through a symlink) of this user that neither group nor
 * others may write.  @l is initialised first; on failure it is left closed.
 * LeaseFile or LeaseInvalid.
 */
int qm_lease_open(const char *path, struct qm_lease *l,
		  struct qm_error *err) _must_check_;

/*
 * Takes the lock of an open lease for the VM @vm_uuid on the host
 * @host_uuid (both canonical uuids), checks the file and writes the next
 * generation with this host as the owner (pwrite, ftruncate, fdatasync).
 * @expect_gen is the generation the file must have (a handover: what the
 * releasing side said), or QM_LEASE_ANY_GEN.  Refused, with the lock not
 * kept: LeaseHeld (the message names the holder's host uuid as the file
 * says it), LeaseVm, LeaseGeneration, LeaseInvalid, LeaseFile; LeaseState
 * when @l is not open or already held.
 */
int qm_lease_acquire(struct qm_lease *l, const char *vm_uuid, const char *host_uuid,
		     uint64_t expect_gen, struct qm_error *err) _must_check_;

/*
 * Unlocks the description (QEMU's descriptors of it included) and keeps the
 * descriptor and the state, for qm_lease_retake() or a cookie.  0 when not
 * held.  LeaseFile when the kernel refuses.
 */
int qm_lease_release(struct qm_lease *l, struct qm_error *err) _must_check_;

/*
 * After a failed handover: takes the lock again on the same description,
 * for the VM and the host of the last acquisition, provided nobody took the
 * lease since (the file is still at l->state.generation); writes the next
 * generation, as every acquisition does.  LeaseGeneration when it moved,
 * and the errors of qm_lease_acquire(); LeaseState when @l was never
 * acquired or adopted.
 */
int qm_lease_retake(struct qm_lease *l, struct qm_error *err) _must_check_;

/*
 * Closes this descriptor.  The lock stays held as long as another
 * descriptor of the description is open (QEMU's); release it first to drop
 * it.  Accepts a lease never opened; leaves @l initialised.
 */
void qm_lease_close(struct qm_lease *l);

/*
 * Takes @fd, a descriptor of the lease @path obtained from QEMU (e.g. with
 * pidfd_getfd from its fdset), as @l's: the same description, so releasing
 * and retaking act on QEMU's lock.  @fd is owned by @l from now on (closed
 * on failure).  Checks that @fd is the file @path names (device and inode)
 * and passes qm_lease_open's checks; sets l->held to whether this
 * description holds the lock, changing nothing; reads the state.  LeaseFile
 * (another file, or not one qm_lease_open would accept) or LeaseInvalid.
 */
int qm_lease_adopt_fd(int fd, const char *path, struct qm_lease *l,
		      struct qm_error *err) _must_check_;

/*
 * A lease path a cookie can carry: absolute, shorter than QM_LEASE_PATH_MAX,
 * free of control characters.  @kind names the error (Usage for --lease).
 */
int qm_lease_check_path(const char *path, const char *kind, struct qm_error *err) _must_check_;
/*
 * The checks qm_lease_open makes on the file it opened, for the user @uid:
 * a regular file of @uid that neither group nor others may write.  LeaseFile.
 */
int qm_lease_check_stat(const char *path, const struct stat *st, uid_t uid,
			struct qm_error *err) _must_check_;

/* ---- the file's text (lease-text.c) ------------------------------------ */

/*
 * Reads @len bytes of a lease file into @st: empty is generation 0 with no
 * owner; otherwise exactly the three lines above, each key once, in any
 * order, uuids in 8-4-4-4-12 form (stored in lower case), the generation
 * 1..UINT64_MAX in decimal digits only.  @path only names the file in the
 * message.  LeaseInvalid.
 */
int qm_lease_text_parse(const char *buf, size_t len, const char *path,
			struct qm_lease_state *st, struct qm_error *err) _must_check_;
/* Writes @st as the file's text into @buf; returns its length, or -ENOSPC. */
int qm_lease_text_format(const struct qm_lease_state *st, char *buf, size_t size);

/* ---- the leases of one VM (lease-set.c) --------------------------------- */

/*
 * Acquires @ls[0..@n) in order, all or none: on the first refusal the ones
 * taken are released again (their generation stays moved) and its error is
 * returned.  @expect holds @n generations, or is NULL for QM_LEASE_ANY_GEN.
 */
int qm_leases_acquire(struct qm_lease *ls, size_t n, const char *vm_uuid,
		      const char *host_uuid, const uint64_t *expect,
		      struct qm_error *err) _must_check_;
/* Releases every one, even after a failure; returns the first error. */
int qm_leases_release(struct qm_lease *ls, size_t n, struct qm_error *err) _must_check_;
/* qm_lease_retake() for each, all or none, as qm_leases_acquire(). */
int qm_leases_retake(struct qm_lease *ls, size_t n, struct qm_error *err) _must_check_;
void qm_leases_close(struct qm_lease *ls, size_t n);

/*
 * The leases of a VM: the paths @given (NULL-terminated; NULL: none), then
 * those of its description @d (NULL: none) that are not among them, into
 * @out (room for QM_LEASE_MAX) and *@n; they point into @given and @d.  A
 * path both given and in the description is one lease.  Usage: a path
 * given twice, more than QM_LEASE_MAX in all.
 */
int qm_lease_paths_merge(const char *const *given, const struct qm_domain *d,
			 const char **out, size_t *n, struct qm_error *err) _must_check_;

/*
 * The lockstate a cookie carries for @ls (driver "fcntl", each path and
 * generation); CookieInvalid when @n > QM_COOKIE_MAX_LEASES or a lease was
 * never acquired (generation 0).
 */
int qm_leases_to_cookie(const struct qm_lease *ls, size_t n,
			struct qm_cookie_lockstate *out,
			struct qm_error *err) _must_check_;
/*
 * Opens the leases a cookie names, into @ls (room for QM_LEASE_MAX) and
 * *@n, with the generation each must have into @expect; all or none.
 * LeaseDriver when the driver is not "fcntl", and qm_lease_open's errors.
 */
int qm_leases_open_cookie(const struct qm_cookie_lockstate *cs, struct qm_lease *ls,
			  size_t *n, uint64_t *expect, struct qm_error *err) _must_check_;

#endif
