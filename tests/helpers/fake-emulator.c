/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A stand-in for QEMU in the launch tests: it finds "-qmp unix:PATH,..." in
 * its arguments, creates that socket (with the umask it was given, as QEMU
 * does), and waits to be killed.  Bounded: it gives up after 60 s.
 */
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int main(int argc, char *argv[])
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	const char *qmp = NULL;
	int fd;

	for (int i = 1; i + 1 < argc; i++)
		if (strcmp(argv[i], "-qmp") == 0 && strncmp(argv[i + 1], "unix:", 5) == 0)
			qmp = argv[i + 1] + 5;
	if (!qmp) {
		fprintf(stderr, "fake-emulator: no -qmp unix: argument\n");
		return 2;
	}
	/* The path ends at the first single comma (the builder doubles commas in it). */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.*s", (int)strcspn(qmp, ","), qmp);
	fd = socket(AF_UNIX, SOCK_STREAM, 0);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0 || listen(fd, 1) < 0) {
		perror("fake-emulator");
		return 1;
	}
	fprintf(stderr, "fake-emulator: listening\n");
	sleep(60);
	return 0;
}
