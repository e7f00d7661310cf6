/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Another process's UNIX socket connections (and other files), seen from
 * outside: found through /proc and copied into the test with pidfd_getfd(2), so that a test
 * can act on a connection exactly as its owner could (shut it down).
 */
#ifndef QM_TESTS_SOCKFD_H
#define QM_TESTS_SOCKFD_H

#include <stddef.h>
#include <sys/types.h>

/*
 * The descriptor numbers, lowest first, by which process @pid holds an
 * accepted connection on the listening UNIX socket whose path ends with
 * @suffix (an accepted socket carries its listener's path; a connecting one
 * has none).  Fills at most @max; returns how many were found, or -errno.
 */
int ts_accepted_fds(pid_t pid, const char *suffix, int *fds, size_t max);
/*
 * The descriptor numbers, lowest first, by which process @pid holds the file
 * whose /proc/PID/fd link reads @name ("pipe:[1234]").  Fills at most @max;
 * returns how many were found, or -errno.
 */
int ts_fds_naming(pid_t pid, const char *name, int *fds, size_t max);
/* A copy of process @pid's descriptor @fd in this process, or -errno. */
int ts_copy_fd(pid_t pid, int fd);
/*
 * The SO_SNDBUF a socket of this process reads back after util/net.c's
 * qm_socket_sndbuf() asked for @want bytes (Linux reports twice what it
 * grants to data), or -errno.
 */
int ts_sndbuf_granted(int want);

#endif
