/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* /proc/PID/cmdline and /proc/PID/exe, read with bounds. */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/proc.h"
#include "util/error.h"
#include "util/io.h"
#include "xml/domain-argv.h"
#include "xml/domain-describe.h"

#define DELETED " (deleted)"

static int split(const char *path, const char *buf, size_t len, char ***out,
		 struct qm_error *err)
{
	size_t argc = 0, i = 0;
	char **argv;

	for (size_t p = 0; p < len; p++)
		argc += buf[p] == '\0';
	if (len && buf[len - 1] != '\0')
		argc++; /* the last argument lost its NUL: a rewritten command line */
	if (argc > QM_DESCRIBE_MAX_ARGS)
		return qm_error_set(err, -E2BIG, "DescribeArgv",
				    "%s holds more than %d arguments", path,
				    QM_DESCRIBE_MAX_ARGS);
	argv = calloc(argc + 1, sizeof(*argv));
	if (!argv)
		return qm_error_set(err, -ENOMEM, "DescribeArgv", "out of memory");
	for (size_t p = 0; p < len; i++) {
		size_t n = strnlen(buf + p, len - p);

		argv[i] = strndup(buf + p, n);
		if (!argv[i]) {
			qm_argv_free(argv);
			return qm_error_set(err, -ENOMEM, "DescribeArgv",
					    "out of memory");
		}
		p += n + 1;
	}
	*out = argv;
	return 0;
}

int qm_proc_read_argv(const char *path, char ***out, struct qm_error *err)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	_cleanup_free_ char *buf = NULL;
	struct stat st;
	size_t len;
	int r;

	*out = NULL;
	if (fd < 0)
		return qm_error_set(err, -errno, "DescribeArgv", "cannot open %s: %s",
				    path, strerror(errno));
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return qm_error_set(err, -EINVAL, "DescribeArgv",
				    "%s is not a regular file", path);
	buf = malloc(QM_PROC_CMDLINE_MAX + 1);
	if (!buf)
		return qm_error_set(err, -ENOMEM, "DescribeArgv", "out of memory");
	/* One byte past the bound tells a longer command line from one that fits. */
	r = qm_read_upto(fd, buf, QM_PROC_CMDLINE_MAX + 1, &len);
	if (r < 0)
		return qm_error_set(err, r, "DescribeArgv", "cannot read %s: %s", path,
				    strerror(-r));
	if (len == 0)
		return qm_error_set(
			err, -ESRCH, "DescribeArgv",
			"%s is empty: the process has exited, or is a kernel thread",
			path);
	if (len > QM_PROC_CMDLINE_MAX)
		return qm_error_set(err, -E2BIG, "DescribeArgv",
				    "%s is longer than %d bytes", path,
				    QM_PROC_CMDLINE_MAX);
	return split(path, buf, len, out, err);
}

int qm_proc_read_exe(const char *path, char **out, struct qm_error *err)
{
	char buf[PATH_MAX + sizeof(DELETED)];
	ssize_t n = readlink(path, buf, sizeof(buf));
	size_t d = strlen(DELETED);

	*out = NULL;
	if (n < 0)
		return qm_error_set(err, -errno, "DescribeArgv", "cannot read %s: %s",
				    path, strerror(errno));
	if ((size_t)n >= sizeof(buf))
		return qm_error_set(err, -ENAMETOOLONG, "DescribeArgv",
				    "%s links to a path longer than %d bytes", path,
				    PATH_MAX);
	buf[n] = '\0';
	if ((size_t)n > d && strcmp(buf + n - d, DELETED) == 0)
		buf[n - d] = '\0';
	if (buf[0] != '/')
		return qm_error_set(err, -EINVAL, "DescribeArgv",
				    "%s does not link to an absolute path", path);
	*out = strdup(buf);
	return *out ? 0 : qm_error_set(err, -ENOMEM, "DescribeArgv", "out of memory");
}
