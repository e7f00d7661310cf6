/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* Display passwords: read from a file, and set over QMP with set_password. */
#include <errno.h>
#include <ev.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "engine/graphics-passwd.h"
#include "util/error.h"

void qm_passwd_free(char *passwd)
{
	if (!passwd)
		return;
	explicit_bzero(passwd, strlen(passwd));
	free(passwd);
}

static int file_error(struct qm_error *err, int code, const char *path, const char *why)
{
	return qm_error_set(err, code, "PasswdFile", "graphics password file %s: %s", path, why);
}

int qm_passwd_read_file(const char *path, char **out, struct qm_error *err)
{
	_cleanup_close_ int fd = -1;
	char buf[QM_PASSWD_MAX + 3]; /* the password, "\r\n", and one byte too many */
	size_t len = 0;
	struct stat st;
	ssize_t n;
	int r = 0;

	*out = NULL;
	/* O_NONBLOCK: a FIFO must not hang the open before fstat refuses it. */
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (fd < 0 || fstat(fd, &st) < 0)
		return file_error(err, -errno, path, strerror(errno));
	if (!S_ISREG(st.st_mode))
		return file_error(err, -EINVAL, path, "not a regular file");
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			r = file_error(err, -errno, path, strerror(errno));
			goto wipe;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	if (len > 0 && buf[len - 1] == '\r')
		len--;
	if (len == 0)
		r = file_error(err, -EINVAL, path, "empty: it must hold the password");
	else if (len > QM_PASSWD_MAX)
		r = file_error(err, -E2BIG, path, "longer than 255 bytes");
	else if (memchr(buf, '\0', len) || memchr(buf, '\n', len) || memchr(buf, '\r', len))
		r = file_error(err, -EINVAL, path,
			       "holds a NUL byte or a line break inside the password: "
			       "give the password alone, on one line");
	else if (!(*out = strndup(buf, len)))
		r = file_error(err, -ENOMEM, path, "out of memory");
wipe:
	explicit_bzero(buf, sizeof(buf));
	return r;
}

const char *qm_passwd_for(const struct qm_domain_graphics *g, const char *override)
{
	return override ? override : g->passwd;
}

json_t *qm_passwd_args(const struct qm_domain_graphics *g, const char *passwd)
{
	return json_pack("{s:s, s:s}", "protocol", qm_domain_graphics_type_names[g->type],
			 "password", passwd);
}

int qm_passwd_set_sync(struct qm_ctx *ctx, const char *qmp_path, const struct qm_domain *d,
		       struct qm_error *err)
{
	struct qm_qmp_options opts = { .label = "the launched QEMU" };
	struct ev_loop *loop = ev_loop_new(EVFLAG_AUTO);
	struct qm_qmp *q = loop ? qm_qmp_new(ctx, loop, &opts) : NULL;
	int r = 0;

	if (!q) {
		r = qm_error_set(err, -ENOMEM, "GenericError", "out of memory");
		goto out;
	}
	r = qm_qmp_connect(q, qmp_path, err);
	for (size_t i = 0; r == 0 && i < d->n_graphics; i++) {
		const struct qm_domain_graphics *g = &d->graphics[i];
		json_t *ret;

		if (!g->passwd)
			continue;
		ret = qm_qmp_command_sync(q, "set_password", qm_passwd_args(g, g->passwd), -1,
					  err);
		if (!ret)
			r = err && err->code ? err->code : -EIO;
		json_decref(ret);
	}
out:
	qm_qmp_unref(q);
	if (loop)
		ev_loop_destroy(loop);
	return r;
}
