/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Sockets that qmigrate creates for a QEMU: TCP listeners it accepts on,
 * and connections it sends bulk data over.
 */
#ifndef QM_UTIL_NET_H
#define QM_UTIL_NET_H

#include "util/macros.h"

/*
 * A TCP socket listening on @address (an IPv4 or IPv6 literal), its port
 * chosen by the kernel (into *@port), close-on-exec.  TCP_NODELAY is set on
 * it, and Linux gives it to every connection it accepts: a QEMU serving NBD
 * on it answers the small messages of a handshake at once, where Nagle's
 * wait for a delayed ACK costs some 40 ms each (about 90 ms a connection).
 * Returns the fd, -EINVAL when @address is not an IP literal, or another
 * negative errno.
 */
int qm_tcp_listen(const char *address, int *port) _must_check_;

/*
 * Gives the socket @fd a send buffer of @bytes where the kernel allows it:
 * SO_SNDBUFFORCE (CAP_NET_ADMIN), else SO_SNDBUF (up to net.core.wmem_max).
 * The default, some 200 KiB, makes a writer of megabytes at a time wait for
 * its reader every few hundred KiB.  Best effort: a smaller buffer is
 * slower, not wrong.
 */
void qm_socket_sndbuf(int fd, int bytes);
/* The send buffer of a connection that carries a bulk stream: NBD, migration. */
#define QM_BULK_SNDBUF (4 << 20)

#endif
