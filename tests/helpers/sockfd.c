/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "tests/helpers/sockfd.h"
#include "util/net.h"

#define MAX_INODES 256
#define MAX_FDS 64
#define SS_CONNECTED 3 /* /proc/net/unix's St column: the struct socket's state */
#define STREAM 1       /* its Type column: SOCK_STREAM */

static bool ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);

	return n >= m && strcmp(s + n - m, suffix) == 0;
}

/* Inodes of the connected stream sockets bound to a path ending in @suffix. */
static int connected_inodes(const char *suffix, unsigned long *inodes, size_t max)
{
	FILE *f = fopen("/proc/net/unix", "re");
	char line[512], path[256];
	unsigned type, state;
	unsigned long inode;
	size_t n = 0;

	if (!f)
		return -errno;
	/* Num RefCount Protocol Flags Type St Inode [Path] */
	while (n < max && fgets(line, sizeof(line), f))
		if (sscanf(line, "%*s %*x %*x %*x %x %x %lu %255s", &type, &state, &inode,
			   path) == 4 &&
		    type == STREAM && state == SS_CONNECTED && ends_with(path, suffix))
			inodes[n++] = inode;
	fclose(f);
	return (int)n;
}

static bool listed(unsigned long inode, const unsigned long *inodes, int n)
{
	for (int i = 0; i < n; i++)
		if (inodes[i] == inode)
			return true;
	return false;
}

static int by_number(const void *a, const void *b)
{
	return *(const int *)a - *(const int *)b;
}

/*
 * The descriptor numbers of process @pid, lowest first, whose /proc link
 * @match accepts; fills at most @max, returns how many, or -errno.
 */
static int fds_where(pid_t pid, bool (*match)(const char *link, const void *ud),
		     const void *ud, int *fds, size_t max)
{
	int found[MAX_FDS], n_found = 0;
	char dir[64], link[64];
	struct dirent *e;
	DIR *d;

	snprintf(dir, sizeof(dir), "/proc/%d/fd", (int)pid);
	d = opendir(dir);
	if (!d)
		return -errno;
	while ((e = readdir(d)) && n_found < MAX_FDS) {
		ssize_t len = readlinkat(dirfd(d), e->d_name, link, sizeof(link) - 1);

		if (len <= 0)
			continue; /* "." and "..", or a descriptor closed meanwhile */
		link[len] = '\0';
		if (match(link, ud) && atoi(e->d_name) != dirfd(d))
			found[n_found++] = atoi(e->d_name);
	}
	closedir(d);
	qsort(found, (size_t)n_found, sizeof(found[0]), by_number);
	for (int i = 0; i < n_found && (size_t)i < max; i++)
		fds[i] = found[i];
	return n_found < (int)max ? n_found : (int)max;
}

struct inode_set {
	const unsigned long *inodes;
	int n;
};

static bool is_listed_socket(const char *link, const void *ud)
{
	const struct inode_set *set = ud;
	unsigned long inode;

	return sscanf(link, "socket:[%lu]", &inode) == 1 && listed(inode, set->inodes, set->n);
}

int ts_accepted_fds(pid_t pid, const char *suffix, int *fds, size_t max)
{
	unsigned long inodes[MAX_INODES];
	struct inode_set set = { inodes, connected_inodes(suffix, inodes, MAX_INODES) };

	if (set.n < 0)
		return set.n;
	return fds_where(pid, is_listed_socket, &set, fds, max);
}

static bool is_named(const char *link, const void *ud)
{
	return strcmp(link, ud) == 0;
}

int ts_fds_naming(pid_t pid, const char *name, int *fds, size_t max)
{
	return fds_where(pid, is_named, name, fds, max);
}

int ts_copy_fd(pid_t pid, int fd)
{
	int pidfd = pidfd_open(pid, 0), copy, r;

	if (pidfd < 0)
		return -errno;
	copy = pidfd_getfd(pidfd, fd, 0);
	r = copy < 0 ? -errno : copy;
	close(pidfd);
	return r;
}

int ts_sndbuf_granted(int want)
{
	int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0), got = 0, err = 0;
	socklen_t len = sizeof(got);

	if (fd < 0)
		return -errno;
	qm_socket_sndbuf(fd, want);
	if (getsockopt(fd, SOL_SOCKET, SO_SNDBUF, &got, &len) < 0)
		err = -errno;
	close(fd);
	return err ? err : got;
}
