/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "util/error.h"
#include "util/host.h"
#include "util/uuid.h"

#define MACHINE_ID_PATH "/etc/machine-id"
#define PRODUCT_UUID_PATH "/sys/class/dmi/id/product_uuid"

bool qm_hostname_is_valid(const char *s)
{
	size_t n = strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			     "0123456789-._");

	return n > 0 && n <= 255 && s[n] == '\0';
}

bool qm_addr_text_ok(const char *s)
{
	return s[strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
			   "0123456789.:-_")] == '\0';
}

/*
 * Reads a small one-line file into @buf without its trailing white space.
 * Returns 0, or a negative errno (-EFBIG when it does not fit).
 */
static int read_line_file(const char *path, char *buf, size_t size)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
	ssize_t n;

	if (fd < 0)
		return -errno;
	do
		n = read(fd, buf, size);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return -errno;
	if ((size_t)n == size)
		return -EFBIG;
	while (n > 0 && strchr(" \t\r\n", buf[n - 1]))
		n--;
	buf[n] = '\0';
	return 0;
}

/* Describes why @path gave no uuid into @why. */
static void describe(char *why, size_t size, const char *path, int r)
{
	if (r == -EFBIG || r == -EBADMSG)
		snprintf(why, size, "%s: not a uuid", path);
	else
		snprintf(why, size, "%s: %s", path, strerror(-r));
}

int qm_host_uuid(const struct qm_host_sources *src, char host_uuid[37],
		 struct qm_error *err)
{
	const char *mid = src && src->machine_id ? src->machine_id : MACHINE_ID_PATH;
	const char *pid =
	    src && src->product_uuid ? src->product_uuid : PRODUCT_UUID_PATH;
	char buf[64], why_mid[192], why_pid[192];
	int r;

	/* A fresh image may say "uninitialized": that is no id, so fall back. */
	r = read_line_file(mid, buf, sizeof(buf));
	if (r == 0 && qm_uuid_from_hex32(buf, host_uuid))
		return 0;
	describe(why_mid, sizeof(why_mid), mid, r ? r : -EBADMSG);

	r = read_line_file(pid, buf, sizeof(buf));
	if (r == 0 && qm_uuid_normalise(buf, host_uuid))
		return 0;
	describe(why_pid, sizeof(why_pid), pid, r ? r : -EBADMSG);

	return qm_error_set(err, r ? r : -EBADMSG, "HostIdentity",
			    "cannot determine this host's uuid (%s; %s): "
			    "run systemd-machine-id-setup to create /etc/machine-id",
			    why_mid, why_pid);
}

int qm_host_identity(const char *uuid, char hostname[256], char host_uuid[37],
		     struct qm_error *err)
{
	if (gethostname(hostname, 256) < 0)
		return qm_error_set(err, -errno, "HostIdentity", "gethostname: %s",
				    strerror(errno));
	/* POSIX leaves a truncated name unterminated. */
	hostname[255] = '\0';
	if (!qm_hostname_is_valid(hostname))
		return qm_error_set(err, -EINVAL, "HostIdentity",
				    "this host's name '%s' is not a valid host name "
				    "(letters, digits, '-', '.', '_')",
				    hostname);
	if (!uuid)
		return qm_host_uuid(NULL, host_uuid, err);
	if (!qm_uuid_normalise(uuid, host_uuid))
		return qm_error_set(err, -EINVAL, "Usage",
				    "the host uuid '%.40s' is not a uuid "
				    "(8-4-4-4-12 hexadecimal digits)",
				    uuid);
	return 0;
}
