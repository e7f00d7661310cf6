/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A domain description from a file: a regular one, read no further than its bound. */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"
#include "util/io.h"
#include "xml/domain.h"

static int file_error(struct qm_error *err, int code, const char *path, const char *what)
{
	return qm_error_set(err, code, "DomainFile", "cannot %s domain XML file %s: %s",
			    what, path, strerror(-code));
}

int qm_domain_parse_file(const char *path, struct qm_domain **out, struct qm_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len;
	int r;

	*out = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer before fstat refuses it.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0)
		return file_error(err, -errno, path, "open");
	if (fstat(fd, &st) < 0)
		return file_error(err, -errno, path, "read");
	if (!S_ISREG(st.st_mode))
		return qm_error_set(err, -EINVAL, "DomainFile",
				    "domain XML file %s is not a regular file", path);
	/* One byte past the bound tells an oversized file from one that just fits. */
	buf = malloc(QM_DOMAIN_MAX + 1);
	if (!buf)
		return qm_error_set(err, -ENOMEM, "DomainFile", "out of memory");
	r = qm_read_upto(fd, buf, QM_DOMAIN_MAX + 1, &len);
	if (r < 0)
		return file_error(err, r, path, "read");
	if (len > QM_DOMAIN_MAX)
		return qm_error_set(
			err, -E2BIG, "DomainTooLarge",
			"domain XML file %s is more than the %d bytes accepted", path,
			QM_DOMAIN_MAX);
	return qm_domain_parse(buf, len, out, err);
}
