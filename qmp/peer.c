/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Who is at the other end of a QMP connection: the process that listens on
 * the UNIX socket, as a pidfd.  A pidfd names that process and no other, even
 * after its pid is reused; and the connection being still open when the pidfd
 * is taken shows that the pid was not reused already.
 */
#include <errno.h>
#include <poll.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmp/client-private.h"
#include "qmp/internal.h"

int qm_qmp_peer(const struct qm_qmp *qmp, pid_t *pid, uid_t *uid)
{
	struct ucred cred;
	socklen_t len = sizeof(cred);
	struct pollfd pfd = { .fd = qmp->fd, .events = POLLRDHUP };
	int pidfd;

	*pid = 0;
	*uid = (uid_t)-1;
	if (qmp->fd < 0 || qmp->state == QMP_CLOSED)
		return -ENOTCONN;
	if (getsockopt(qmp->fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) < 0)
		return -errno;
	*uid = cred.uid;
	/* 0: the peer's pid has no number in our PID namespace. */
	if (cred.pid <= 0)
		return -ESRCH;
	*pid = cred.pid;
	pidfd = pidfd_open(cred.pid, 0);
	if (pidfd < 0)
		return -errno;
	/* A peer that went before we held it may have left its pid to another. */
	if (poll(&pfd, 1, 0) < 0 || (pfd.revents & (POLLRDHUP | POLLHUP | POLLERR))) {
		close(pidfd);
		return -ESRCH;
	}
	return pidfd;
}

pid_t qm_qmp_peer_pid(const struct qm_qmp *qmp)
{
	pid_t pid;
	uid_t uid;
	int pidfd = qm_qmp_peer(qmp, &pid, &uid);

	if (pidfd < 0)
		return pidfd;
	close(pidfd);
	return pid;
}

int qm_qmp_peer_pidfd(const struct qm_qmp *qmp)
{
	pid_t pid;
	uid_t uid;

	return qm_qmp_peer(qmp, &pid, &uid);
}
