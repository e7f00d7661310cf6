/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_QMP_SOCKET_H
#define QM_QMP_SOCKET_H

#include <stddef.h>
#include <sys/uio.h>

#include "util/macros.h"

/*
 * Starts a non-blocking connect to the UNIX socket at @path.  Returns the fd
 * (connected, or with EINPROGRESS pending in *in_progress), or a negative
 * errno: -ENOENT and -ECONNREFUSED mean "not there yet".
 */
int qm_unix_connect(const char *path, int *in_progress) _must_check_;
/* Sends @iov; when @pass_fd >= 0 it rides along with the first byte (SCM_RIGHTS). */
ssize_t qm_send_iov(int fd, const struct iovec *iov, int iovcnt, int pass_fd) _must_check_;

#endif
