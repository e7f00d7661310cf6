/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <criterion/criterion.h>

#include "tests/unit/testdata.h"
#include "util/macros.h"
#include "xml/domain.h"

char *td_path(const char *rel)
{
	const char *top = getenv("top_srcdir");
	char *path;

	if (!top || !*top)
		top = ABS_TOP_SRCDIR;
	cr_assert(asprintf(&path, "%s/tests/data/%s", top, rel) >= 0);
	return path;
}

char *td_read(const char *path, size_t *len)
{
	_cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
	struct stat st;
	char *buf;
	ssize_t n;

	if (fd < 0 || fstat(fd, &st) < 0)
		return NULL;
	buf = malloc((size_t)st.st_size + 1);
	if (!buf)
		return NULL;
	n = read(fd, buf, (size_t)st.st_size);
	if (n != st.st_size) {
		free(buf);
		errno = EIO;
		return NULL;
	}
	buf[n] = '\0';
	*len = (size_t)n;
	return buf;
}

static const char *list_suffix;

static int has_suffix(const struct dirent *d)
{
	size_t n = strlen(d->d_name), m = strlen(list_suffix);

	return d->d_name[0] != '.' && n > m &&
	       strcmp(d->d_name + n - m, list_suffix) == 0;
}

char **td_list(const char *dir, const char *suffix)
{
	struct dirent **ents;
	char **names;
	int n;

	list_suffix = suffix;
	n = scandir(dir, &ents, has_suffix, alphasort);
	cr_assert(n >= 0, "cannot list %s: %s", dir, strerror(errno));
	names = calloc((size_t)n + 1, sizeof(*names));
	cr_assert(names);
	for (int i = 0; i < n; i++) {
		names[i] = strdup(ents[i]->d_name);
		free(ents[i]);
	}
	free(ents);
	return names;
}

void td_free_list(char **names)
{
	for (char **p = names; p && *p; p++)
		free(*p);
	free(names);
}

char *td_sibling(const char *dir, const char *name, const char *ext)
{
	char *path;

	cr_assert(asprintf(&path, "%s/%.*s%s", dir, (int)(strlen(name) - 4), name, ext) >=
		  0);
	return path;
}

void td_each(const char *rel, const char *suffix, size_t min,
	     void (*fn)(const char *dir, const char *name))
{
	_cleanup_free_ char *dir = td_path(rel);
	char **names = td_list(dir, suffix);
	size_t n = 0;

	for (char **p = names; *p; p++, n++)
		fn(dir, *p);
	cr_expect_geq(n, min, "only %zu inputs in %s", n, dir);
	td_free_list(names);
}

void td_read_hostile(const char *dir, const char *name, struct td_hostile *h)
{
	_cleanup_free_ char *xml_path = td_sibling(dir, name, ".xml");
	_cleanup_free_ char *err_path = td_sibling(dir, name, ".error");
	_cleanup_free_ char *expected = NULL;
	size_t elen;

	memset(h, 0, sizeof(*h));
	h->xml = td_read(xml_path, &h->len);
	expected = td_read(err_path, &elen);
	cr_assert(h->xml, "%s: %s", xml_path, strerror(errno));
	cr_assert(expected, "%s: %s", err_path, strerror(errno));
	cr_assert(sscanf(expected, "%63[^\n]\n%255[^\n]", h->cls, h->text) == 2,
		  "%s: want the class on line 1 and a piece of the text on line 2",
		  err_path);
}

char *td_padded(const char *head, const char *tail, size_t size)
{
	size_t hl = strlen(head), tl = strlen(tail);
	char *xml = malloc(size + 1);

	cr_assert(xml && size > hl + tl);
	memset(xml, 'x', size);
	memcpy(xml, head, hl);
	memcpy(xml + size - tl, tail, tl);
	xml[size] = '\0';
	return xml;
}

int td_listen_loopback(int *port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET };
	socklen_t salen = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);

	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	cr_assert(fd >= 0);
	cr_assert(bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0);
	cr_assert(listen(fd, 8) == 0);
	cr_assert(getsockname(fd, (struct sockaddr *)&sa, &salen) == 0);
	*port = ntohs(sa.sin_port);
	return fd;
}

void td_expect_no_connection(int fd)
{
	cr_expect_lt(accept(fd, NULL, NULL), 0, "the reader connected to the listener");
	cr_expect_eq(errno, EAGAIN);
}

struct qm_domain *td_domain(const char *xml)
{
	struct qm_error err = { 0 };
	struct qm_domain *d;

	cr_assert_eq(qm_domain_parse(xml, strlen(xml), &d, &err), 0, "%s: %s\n%s",
		     err.error_class, err.text, xml);
	return d;
}

bool td_regenerate(void)
{
	const char *v = getenv("QMIGRATE_REGENERATE_GOLDEN");

	return v && strcmp(v, "1") == 0;
}

void td_golden(const char *rel, const char *actual)
{
	_cleanup_free_ char *path = td_path(rel);
	_cleanup_free_ char *expected = NULL;
	size_t len;
	FILE *f;

	if (td_regenerate()) {
		f = fopen(path, "w");
		cr_assert(f, "cannot write %s: %s", path, strerror(errno));
		cr_assert(fputs(actual, f) >= 0 && fclose(f) == 0, "cannot write %s",
			  path);
		return;
	}
	expected = td_read(path, &len);
	cr_assert(expected, "cannot read %s: %s (QMIGRATE_REGENERATE_GOLDEN=1 writes it)",
		  path, strerror(errno));
	if (strcmp(actual, expected) != 0)
		cr_expect_fail("%s differs from the golden file "
			       "(QMIGRATE_REGENERATE_GOLDEN=1 rewrites "
			       "it)\n--- expected\n%s--- actual\n%s",
			       rel, expected, actual);
}
