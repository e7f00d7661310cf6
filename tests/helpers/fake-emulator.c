/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in for QEMU in the launch tests: it finds "-qmp unix:PATH,..." in
 * its arguments, creates that socket (with the umask it was given, as QEMU
 * does), and waits to be killed.  Bounded: it gives up after 60 s.
 *
 * Two arguments of its own, passed as a description's <qemu:arg>:
 *   -write-pid FILE   writes its pid there first;
 *   -write-argv FILE  writes its arguments there, each ended by a NUL, as
 *                     /proc/PID/cmdline has them (which is empty once it quit);
 *   -qmp-relay PATH   relays its first QMP client to the (fake) QMP server
 *                     listening at PATH, as if it were QEMU's monitor: when
 *                     that server hangs up (QEMU quit) it exits 0; when the
 *                     client hangs up it keeps running, as QEMU does.
 */
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#define LIFETIME_MS 60000

static const char *arg_after(int argc, char *argv[], const char *name)
{
	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], name) == 0)
			return argv[i + 1];
	return NULL;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
	if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		perror("fake-emulator: relay");
		return -1;
	}
	return fd;
}

/*
 * Copies what is readable on @from to @to, with the fds that came along (as
 * getfd sends them), passed on with the bytes they came with; false at EOF or
 * on an error.
 */
static int copy(int from, int to)
{
	char buf[65536];
	union {
		struct cmsghdr align;
		char buf[CMSG_SPACE(8 * sizeof(int))];
	} control;
	struct iovec iov = { .iov_base = buf, .iov_len = sizeof(buf) };
	struct msghdr mh = { .msg_iov = &iov,
			     .msg_iovlen = 1,
			     .msg_control = control.buf,
			     .msg_controllen = sizeof(control.buf) };
	struct cmsghdr *cm;
	int fds[8], nfds = 0, ok = 1;
	ssize_t n = recvmsg(from, &mh, MSG_CMSG_CLOEXEC);

	if (n <= 0)
		return 0;
	for (cm = CMSG_FIRSTHDR(&mh); cm; cm = CMSG_NXTHDR(&mh, cm))
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_RIGHTS)
			for (size_t i = 0;
			     i < (cm->cmsg_len - CMSG_LEN(0)) / sizeof(int) && nfds < 8;
			     i++)
				memcpy(&fds[nfds++], CMSG_DATA(cm) + i * sizeof(int),
				       sizeof(int));
	for (ssize_t off = 0; off < n;) {
		struct iovec out = { .iov_base = buf + off,
				     .iov_len = (size_t)(n - off) };
		struct msghdr om = { .msg_iov = &out, .msg_iovlen = 1 };
		ssize_t w;

		if (nfds && off == 0) {
			om.msg_control = control.buf;
			om.msg_controllen = CMSG_SPACE(nfds * sizeof(int));
			cm = CMSG_FIRSTHDR(&om);
			cm->cmsg_level = SOL_SOCKET;
			cm->cmsg_type = SCM_RIGHTS;
			cm->cmsg_len = CMSG_LEN(nfds * sizeof(int));
			memcpy(CMSG_DATA(cm), fds, nfds * sizeof(int));
		}
		w = sendmsg(to, &om, MSG_NOSIGNAL);
		if (w <= 0) {
			ok = 0;
			break;
		}
		off += w;
	}
	for (int i = 0; i < nfds; i++)
		close(fds[i]);
	return ok;
}

static int relay(int listen_fd, const char *server)
{
	struct pollfd p[2];
	int client = accept(listen_fd, NULL, NULL);
	int upstream = client >= 0 ? connect_to(server) : -1;

	if (upstream < 0)
		return 1;
	fprintf(stderr, "fake-emulator: relaying QMP to %s\n", server);
	p[0] = (struct pollfd){ .fd = client, .events = POLLIN };
	p[1] = (struct pollfd){ .fd = upstream, .events = POLLIN };
	while (poll(p, 2, LIFETIME_MS) > 0) {
		if (p[1].revents && !copy(upstream, client)) {
			fprintf(stderr, "fake-emulator: the monitor hung up: quitting\n");
			return 0;
		}
		if (p[0].revents && !copy(client, upstream)) {
			/* The client went; QEMU stays. */
			close(client);
			close(upstream);
			sleep(LIFETIME_MS / 1000);
			return 0;
		}
	}
	return 0;
}

int main(int argc, char *argv[])
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *qmp = NULL, *pidfile = arg_after(argc, argv, "-write-pid");
	const char *server = arg_after(argc, argv, "-qmp-relay");
	const char *argvfile = arg_after(argc, argv, "-write-argv");
	int fd;

	if (pidfile) {
		FILE *f = fopen(pidfile, "w");

		if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0) {
			perror("fake-emulator: -write-pid");
			return 2;
		}
	}
	if (argvfile) {
		FILE *f = fopen(argvfile, "w");
		int ok = f != NULL;

		for (int i = 0; ok && i < argc; i++)
			ok = fwrite(argv[i], 1, strlen(argv[i]) + 1, f) == strlen(argv[i]) + 1;
		if (f && fclose(f) != 0)
			ok = 0;
		if (!ok) {
			perror("fake-emulator: -write-argv");
			return 2;
		}
	}
	qmp = arg_after(argc, argv, "-qmp");
	if (!qmp || strncmp(qmp, "unix:", 5) != 0) {
		fprintf(stderr, "fake-emulator: no -qmp unix: argument\n");
		return 2;
	}
	qmp += 5;
	/* The path ends at the first single comma (the builder doubles commas in it). */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.*s", (int)strcspn(qmp, ","), qmp);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 ||
	    listen(fd, 1) < 0) {
		perror("fake-emulator");
		return 1;
	}
	fprintf(stderr, "fake-emulator: listening\n");
	if (server)
		return relay(fd, server);
	sleep(LIFETIME_MS / 1000);
	return 0;
}
