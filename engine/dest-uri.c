/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* --dest URI: ssh://[user@]host[:port] and exec:PROGRAM ARGS, checked strictly. */
#include <arpa/inet.h>
#include <errno.h>
#include <stdbool.h>
#include <string.h>

#include "engine/dest-uri.h"
#include "util/error.h"
#include "xml/domain-argv.h"

#define SSH_PREFIX "ssh://"
#define EXEC_PREFIX "exec:"
#define FORMS "write ssh://[user@]host[:port] or exec:PROGRAM ARGS"

static bool is_alnum(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
}

static bool is_digit(char c)
{
	return c >= '0' && c <= '9';
}

static bool is_ctl(unsigned char c)
{
	return c < 0x20 || c == 0x7f;
}

static int usage(struct qm_error *err, const char *what, const char *fix)
{
	return qm_error_set(err, -EINVAL, "Usage", "--dest: %s; %s", what, fix);
}

/* POSIX's portable user name: [A-Za-z0-9._-], not starting with '-'. */
static int parse_user(const char *s, size_t len, struct qm_dest_uri *out,
		      struct qm_error *err)
{
	if (len == 0)
		return usage(err, "the user before '@' is empty",
			     "write ssh://user@host, or leave out the '@'");
	if (len > QM_DEST_USER_MAX)
		return qm_error_set(err, -E2BIG, "Usage",
				    "--dest: the user name is longer than %d bytes",
				    QM_DEST_USER_MAX);
	if (s[0] == '-')
		return usage(err, "the user name starts with '-'",
			     "a user name is letters, digits, '.', '_' and '-', not first");
	for (size_t i = 0; i < len; i++)
		if (!is_alnum(s[i]) && s[i] != '.' && s[i] != '_' && s[i] != '-')
			return usage(err, "the user name holds a character other than "
					  "letters, digits, '.', '_' and '-'",
				     "write a portable user name");
	memcpy(out->user, s, len);
	out->user[len] = '\0';
	return 0;
}

/*
 * RFC 1123 labels.  A name whose last label is all digits is refused: it is
 * no DNS name (RFC 3696, 2) but a resolver may read it as an IPv4 address
 * in another notation ("127.1", "0x7f.1"), which must be a dotted quad.
 */
static int check_name(const char *s, size_t len, struct qm_error *err)
{
	size_t start = 0;
	bool digits = true;

	if (len > 0 && s[len - 1] == '.')
		len--; /* an absolute name: the root label is empty */
	if (len == 0)
		return usage(err, "the host is empty", "write ssh://host");
	if (len > QM_DEST_HOST_MAX)
		return qm_error_set(err, -E2BIG, "Usage",
				    "--dest: the host name is longer than %d bytes",
				    QM_DEST_HOST_MAX);
	for (size_t i = 0; i <= len; i++) {
		if (i == len || s[i] == '.') {
			if (i == start)
				return usage(err, "the host name has an empty label",
					     "write labels separated by single dots");
			if (i - start > QM_DEST_LABEL_MAX)
				return qm_error_set(err, -E2BIG, "Usage",
						    "--dest: a label of the host name is "
						    "longer than %d bytes",
						    QM_DEST_LABEL_MAX);
			if (s[i - 1] == '-')
				return usage(err, "a label of the host name ends with '-'",
					     "labels start and end with a letter or digit");
			if (i < len) {
				start = i + 1;
				digits = true;
			}
			continue;
		}
		if ((unsigned char)s[i] >= 0x80)
			return usage(err, "the host name is not ASCII",
				     "write an internationalised name in its 'xn--' form");
		if (!is_alnum(s[i]) && s[i] != '-')
			return usage(err, "the host name holds a character other than "
					  "letters, digits, '-' and '.'",
				     "write an RFC 1123 host name or an IP address");
		if (s[i] == '-' && i == start)
			return usage(err, "a label of the host name starts with '-'",
				     "labels start and end with a letter or digit");
		digits = digits && is_digit(s[i]);
	}
	if (digits)
		return usage(err, "the host is neither a name nor a dotted-quad IPv4 address",
			     "write an IPv4 address as four decimals, e.g. 192.0.2.1");
	return 0;
}

static int parse_host(const char *s, size_t len, struct qm_dest_uri *out,
		      struct qm_error *err)
{
	char buf[QM_DEST_HOST_MAX + 2];
	unsigned char addr[16];
	int r;

	if (len > 0 && s[0] == '-')
		return usage(err, "the host starts with '-', which ssh would read as an option",
			     "write a host name or an IP address");
	if (len >= sizeof(buf))
		return check_name(s, len, err);
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET, buf, addr) != 1) {
		r = check_name(s, len, err);
		if (r < 0)
			return r;
	}
	memcpy(out->host, buf, len + 1);
	return 0;
}

/* [IPv6], given from just after '[' to the ']' at @end. */
static int parse_ipv6(const char *s, size_t len, struct qm_dest_uri *out,
		      struct qm_error *err)
{
	unsigned char addr[16];
	char buf[64];

	if (len >= sizeof(buf))
		return usage(err, "the bracketed IPv6 address is too long",
			     "write ssh://[2001:db8::1]");
	memcpy(buf, s, len);
	buf[len] = '\0';
	if (inet_pton(AF_INET6, buf, addr) != 1)
		return usage(err, "the text in brackets is not an IPv6 address",
			     "write ssh://[2001:db8::1]; no zone index");
	memcpy(out->host, buf, len + 1);
	return 0;
}

/* Decimal 1-65535, without a sign or a leading zero (":08" could mean octal). */
static int parse_port(const char *s, struct qm_dest_uri *out, struct qm_error *err)
{
	unsigned long v = 0;
	size_t i;

	if (!*s)
		return usage(err, "the port after ':' is empty",
			     "write ssh://host:22, or leave out the ':'");
	for (i = 0; is_digit(s[i]) && i < 6; i++)
		v = v * 10 + (unsigned long)(s[i] - '0');
	if (s[i])
		return usage(err, "the port is not a decimal number",
			     "write a port as digits only, 1 to 65535");
	if (s[0] == '0' || v > 65535)
		return usage(err, "the port is out of range or has a leading zero",
			     "write a port from 1 to 65535 without a leading zero");
	out->port = (unsigned)v;
	return 0;
}

static int parse_ssh(const char *s, struct qm_dest_uri *out, struct qm_error *err)
{
	const char *at, *host, *colon;
	size_t n = strcspn(s, "/?#%");
	int r;

	if (s[n] == '/')
		return usage(err, "ssh:// takes no path", "write ssh://[user@]host[:port]");
	if (s[n])
		return usage(err, "ssh:// takes no query, fragment or percent-escape",
			     "write ssh://[user@]host[:port] in plain characters");
	for (const char *p = s; *p; p++)
		if (is_ctl((unsigned char)*p) || *p == ' ')
			return usage(err, "the URI holds a space or a control character",
				     "write ssh://[user@]host[:port]");
	out->kind = QM_DEST_SSH;
	at = strchr(s, '@');
	host = s;
	if (at) {
		if (strchr(at + 1, '@'))
			return usage(err, "the URI holds more than one '@'",
				     "write ssh://user@host");
		r = parse_user(s, (size_t)(at - s), out, err);
		if (r < 0)
			return r;
		host = at + 1;
	}
	if (host[0] == '[') {
		const char *end = strchr(host, ']');

		if (!end)
			return usage(err, "'[' has no matching ']'", "write ssh://[2001:db8::1]");
		r = parse_ipv6(host + 1, (size_t)(end - host - 1), out, err);
		if (r < 0)
			return r;
		colon = end + 1;
		if (*colon && *colon != ':')
			return usage(err, "text follows the ']' of the IPv6 address",
				     "write ssh://[2001:db8::1]:22");
	} else {
		colon = host + strcspn(host, ":");
		if (*colon && strchr(colon + 1, ':'))
			return usage(err, "the host holds more than one ':'",
				     "write an IPv6 address in brackets: ssh://[::1]:22");
		r = parse_host(host, (size_t)(colon - host), out, err);
		if (r < 0)
			return r;
	}
	return *colon ? parse_port(colon + 1, out, err) : 0;
}

/* Splits on ASCII spaces and tabs: no quotes, no escapes, no shell, no globs. */
static int parse_exec(const char *s, struct qm_dest_uri *out, struct qm_error *err)
{
	const char *words[QM_DEST_EXEC_ARGS_MAX];
	size_t lens[QM_DEST_EXEC_ARGS_MAX], n = 0;

	for (const char *p = s; *p; p++)
		if (is_ctl((unsigned char)*p) && *p != '\t')
			return usage(err, "exec: holds a control character",
				     "separate words with spaces or tabs only");
	for (const char *p = s;;) {
		size_t len;

		p += strspn(p, " \t");
		if (!*p)
			break;
		len = strcspn(p, " \t");
		if (n == QM_DEST_EXEC_ARGS_MAX)
			return qm_error_set(err, -E2BIG, "Usage",
					    "--dest: exec: has more than %d words",
					    QM_DEST_EXEC_ARGS_MAX);
		if (len > QM_DEST_EXEC_ARG_MAX)
			return qm_error_set(err, -E2BIG, "Usage",
					    "--dest: a word of exec: is longer than %d bytes",
					    QM_DEST_EXEC_ARG_MAX);
		words[n] = p;
		lens[n++] = len;
		p += len;
	}
	if (n == 0)
		return usage(err, "exec: names no program", "write exec:PROGRAM ARGS");
	out->exec_argv = calloc(n + 1, sizeof(*out->exec_argv));
	if (!out->exec_argv)
		return qm_error_set(err, -ENOMEM, "Usage", "out of memory");
	for (size_t i = 0; i < n; i++) {
		out->exec_argv[i] = strndup(words[i], lens[i]);
		if (!out->exec_argv[i]) {
			qm_dest_uri_release(out);
			return qm_error_set(err, -ENOMEM, "Usage", "out of memory");
		}
	}
	out->kind = QM_DEST_EXEC;
	return 0;
}

int qm_dest_uri_parse(const char *uri, struct qm_dest_uri *out, struct qm_error *err)
{
	int r;

	memset(out, 0, sizeof(*out));
	if (!uri || !*uri)
		return usage(err, "no URI", FORMS);
	if (strnlen(uri, QM_DEST_URI_MAX + 1) > QM_DEST_URI_MAX)
		return qm_error_set(err, -E2BIG, "Usage", "--dest: the URI is longer than %d bytes",
				    QM_DEST_URI_MAX);
	if (strncmp(uri, SSH_PREFIX, strlen(SSH_PREFIX)) == 0)
		r = parse_ssh(uri + strlen(SSH_PREFIX), out, err);
	else if (strncmp(uri, EXEC_PREFIX, strlen(EXEC_PREFIX)) == 0)
		r = parse_exec(uri + strlen(EXEC_PREFIX), out, err);
	else
		r = usage(err, "unknown URI form", FORMS);
	if (r < 0)
		qm_dest_uri_release(out);
	return r;
}

void qm_dest_uri_release(struct qm_dest_uri *u)
{
	if (!u)
		return;
	qm_argv_free(u->exec_argv);
	memset(u, 0, sizeof(*u));
}
