/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * util/net.c: the TCP listener a QEMU accepts NBD connections on hands
 * TCP_NODELAY to each of them, so that a handshake does not wait on Nagle.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <unistd.h>

#include <criterion/criterion.h>

#include "util/net.h"

TestSuite(net, .timeout = 20);

Test(net, a_connection_accepted_on_the_listener_has_tcp_nodelay)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	int port = 0, fd, c, a, on = 0;
	socklen_t len = sizeof(on);

	fd = qm_tcp_listen("127.0.0.1", &port);
	cr_assert_geq(fd, 0, "%s", strerror(-fd));
	cr_assert_gt(port, 0);
	cr_assert(fcntl(fd, F_GETFD) & FD_CLOEXEC);
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	c = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	cr_assert_eq(connect(c, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s",
		     strerror(errno));
	a = accept(fd, NULL, NULL);
	cr_assert_geq(a, 0, "%s", strerror(errno));
	cr_assert_eq(getsockopt(a, IPPROTO_TCP, TCP_NODELAY, &on, &len), 0);
	cr_assert_neq(on, 0, "the accepted connection waits on Nagle");
	close(a);
	close(c);
	close(fd);
}

Test(net, only_an_ip_literal_is_listened_on)
{
	int port = 0;

	cr_assert_eq(qm_tcp_listen("localhost", &port), -EINVAL);
	cr_assert_eq(qm_tcp_listen("", &port), -EINVAL);
	cr_assert_eq(qm_tcp_listen("127.0.0.1:80", &port), -EINVAL);
	cr_assert_eq(port, 0);
}

Test(net, an_address_not_on_this_host_is_an_errno)
{
	int port = 0;

	/* TEST-NET-1 (RFC 5737) is nobody's address here. */
	cr_assert_eq(qm_tcp_listen("192.0.2.1", &port), -EADDRNOTAVAIL);
}
