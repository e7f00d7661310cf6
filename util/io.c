/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"
#include "util/io.h"

int qm_read_upto(int fd, char *buf, size_t size, size_t *got)
{
	ssize_t n;

	*got = 0;
	while (*got < size) {
		n = read(fd, buf + *got, size - *got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			break;
		*got += (size_t)n;
	}
	return 0;
}

int qm_write_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = write(fd, buf, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

int qm_private_dir_new(char *buf, size_t size, const char *parent, const char *prefix,
		       struct qm_error *err)
{
	int n, e;

	if (!parent || !*parent)
		parent = secure_getenv("XDG_RUNTIME_DIR");
	if (!parent || !*parent)
		parent = "/tmp";
	n = snprintf(buf, size, "%s/%s-XXXXXX", parent, prefix);
	if (n < 0 || (size_t)n >= size) {
		buf[0] = '\0';
		return qm_error_set(err, -ENAMETOOLONG, "GenericError",
				    "runtime directory %s is too long a path for UNIX sockets: "
				    "use a shorter --runtime-dir or XDG_RUNTIME_DIR",
				    parent);
	}
	if (mkdtemp(buf))
		return 0;
	e = errno;
	buf[0] = '\0';
	return qm_error_set(err, -e, "GenericError",
			    "cannot create a runtime directory in %s: %s", parent, strerror(e));
}
