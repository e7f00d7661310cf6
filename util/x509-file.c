/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* A certificate file's subject (util/x509-file.h). */
#include <errno.h>
#include <fcntl.h>
#include <string.h>
#include <sys/stat.h>

#include "util/error.h"
#include "util/io.h"
#include "util/pem.h"
#include "util/x509-file.h"
#include "util/x509-name.h"

int qm_x509_subject_file(const char *path, char *out, size_t size, struct qm_error *err)
{
	_cleanup_close_ int fd = -1;
	_cleanup_free_ char *text = NULL;
	_cleanup_free_ uint8_t *der = NULL;
	size_t got, der_len;
	struct stat st;
	int r;

	if (size)
		out[0] = '\0';
	/* O_NONBLOCK: a FIFO put where the certificate should be does not block the loop.
	 */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		return qm_error_set(err, -errno, "X509Subject", "%s: %s", path,
				    strerror(errno));
	if (!S_ISREG(st.st_mode))
		return qm_error_set(err, -EINVAL, "X509Subject", "%s: not a regular file",
				    path);
	/* One byte more than the bound tells a file that is too large. */
	text = malloc(QM_X509_FILE_MAX + 1);
	if (!text)
		return qm_error_set(err, -ENOMEM, "X509Subject", "out of memory");
	r = qm_read_upto(fd, text, QM_X509_FILE_MAX + 1, &got);
	if (r < 0)
		return qm_error_set(err, r, "X509Subject", "%s: %s", path, strerror(-r));
	if (got > QM_X509_FILE_MAX)
		return qm_error_set(err, -EFBIG, "X509Subject",
				    "%s: larger than %d bytes", path, QM_X509_FILE_MAX);
	r = qm_pem_certificate(text, got, &der, &der_len, err);
	if (r < 0)
		return r;
	return qm_x509_subject(der, der_len, out, size, err);
}
