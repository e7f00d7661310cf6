/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The leases of one VM: all or none, and their state in a cookie. */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/lease.h"
#include "util/error.h"

#define LEASE_DRIVER "fcntl"

/* A description's lease fits where a --lease does. */
_Static_assert(QM_DOMAIN_MAX_LEASES == QM_LEASE_MAX, "a description's leases, at most");
_Static_assert(QM_DOMAIN_MAX_LEASE_PATH + 1 == QM_LEASE_PATH_MAX,
	       "a lease path, its NUL");

/*
 * Gives back what a call took (those not in @was_held), so that a refusal
 * leaves the leases as they were.  One the kernel will not unlock stays
 * held: the caller reports the refusal, the first error.
 */
static void undo(struct qm_lease *ls, size_t n, const bool *was_held)
{
	struct qm_error ignored = { 0 };

	while (n-- > 0)
		if ((!was_held || !was_held[n]) && qm_lease_release(&ls[n], &ignored) < 0)
			qm_error_clear(&ignored);
}

int qm_leases_acquire(struct qm_lease *ls, size_t n, const char *vm_uuid,
		      const char *host_uuid, const uint64_t *expect, struct qm_error *err)
{
	int r;

	for (size_t i = 0; i < n; i++) {
		r = qm_lease_acquire(&ls[i], vm_uuid, host_uuid,
				     expect ? expect[i] : QM_LEASE_ANY_GEN, err);
		if (r < 0) {
			undo(ls, i, NULL);
			return r;
		}
	}
	return 0;
}

int qm_leases_release(struct qm_lease *ls, size_t n, struct qm_error *err)
{
	int first = 0, r;

	for (size_t i = 0; i < n; i++) {
		r = qm_lease_release(&ls[i], err);
		if (r < 0 && first == 0)
			first = r;
	}
	return first;
}

int qm_leases_retake(struct qm_lease *ls, size_t n, struct qm_error *err)
{
	bool was[QM_LEASE_MAX] = { false };
	int r;

	if (n > QM_LEASE_MAX)
		return qm_error_set(err, -E2BIG, "LeaseState", "%zu leases, at most %d",
				    n, QM_LEASE_MAX);
	for (size_t i = 0; i < n; i++) {
		was[i] = ls[i].held;
		r = qm_lease_retake(&ls[i], err);
		if (r < 0) {
			undo(ls, i, was);
			return r;
		}
	}
	return 0;
}

void qm_leases_close(struct qm_lease *ls, size_t n)
{
	for (size_t i = 0; i < n; i++)
		qm_lease_close(&ls[i]);
}

int qm_leases_to_cookie(const struct qm_lease *ls, size_t n,
			struct qm_cookie_lockstate *out, struct qm_error *err)
{
	memset(out, 0, sizeof(*out));
	if (n > QM_COOKIE_MAX_LEASES)
		return qm_error_set(err, -E2BIG, "CookieInvalid",
				    "%zu leases, more than the %d a cookie carries", n,
				    QM_COOKIE_MAX_LEASES);
	snprintf(out->driver, sizeof(out->driver), "%s", LEASE_DRIVER);
	for (size_t i = 0; i < n; i++) {
		if (ls[i].state.generation == 0) {
			memset(out, 0, sizeof(*out));
			return qm_error_set(err, -EINVAL, "CookieInvalid",
					    "the lease %s was never taken", ls[i].path);
		}
		snprintf(out->leases[i].path, sizeof(out->leases[i].path), "%s",
			 ls[i].path);
		out->leases[i].generation = ls[i].state.generation;
	}
	out->n_leases = (unsigned)n;
	return 0;
}

int qm_leases_open_cookie(const struct qm_cookie_lockstate *cs, struct qm_lease *ls,
			  size_t *n, uint64_t *expect, struct qm_error *err)
{
	int r;

	*n = 0;
	if (strcmp(cs->driver, LEASE_DRIVER) != 0)
		return qm_error_set(err, -EPROTONOSUPPORT, "LeaseDriver",
				    "the peer's leases use the lock driver '%s', this "
				    "qmigrate knows only '%s'",
				    cs->driver, LEASE_DRIVER);
	if (cs->n_leases > QM_LEASE_MAX)
		return qm_error_set(err, -E2BIG, "CookieInvalid",
				    "the cookie carries %u leases, more than %d",
				    cs->n_leases, QM_LEASE_MAX);
	for (unsigned i = 0; i < cs->n_leases; i++) {
		r = qm_lease_open(cs->leases[i].path, &ls[i], err);
		if (r < 0) {
			qm_leases_close(ls, i);
			return r;
		}
		expect[i] = cs->leases[i].generation;
	}
	*n = cs->n_leases;
	return 0;
}

static bool among(const char *const *paths, size_t n, const char *path)
{
	for (size_t i = 0; i < n; i++)
		if (strcmp(paths[i], path) == 0)
			return true;
	return false;
}

static int add(const char **out, size_t *n, const char *path, struct qm_error *err)
{
	if (*n == QM_LEASE_MAX)
		return qm_error_set(err, -E2BIG, "Usage",
				    "more than %d leases (--lease and the description's "
				    "<lease> elements together)",
				    QM_LEASE_MAX);
	out[(*n)++] = path;
	return 0;
}

int qm_lease_paths_merge(const char *const *given, const struct qm_domain *d,
			 const char **out, size_t *n, struct qm_error *err)
{
	int r = 0;

	*n = 0;
	for (size_t i = 0; given && given[i] && r == 0; i++) {
		/* Opened twice, a lease would be held against itself. */
		if (among(out, *n, given[i]))
			return qm_error_set(err, -EINVAL, "Usage",
					    "the lease %s is named twice", given[i]);
		r = add(out, n, given[i], err);
	}
	for (size_t i = 0; d && i < d->n_leases && r == 0; i++)
		if (!among(out, *n, d->leases[i].path))
			r = add(out, n, d->leases[i].path, err);
	return r;
}
