/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * --dest URIs and the agent's command line: good and bad URIs from a table,
 * the exact ssh argv for several option sets, every refused ssh option with
 * its message, and what follows "--" never being read as an option.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "engine/dest-uri.h"
#include "engine/ssh-argv.h"
#include "xml/domain-argv.h"

TestSuite(dest_uri, .timeout = 60);

#define L63 "abcdefghij0123456789abcdefghij0123456789abcdefghij0123456789abc"
#define L64 L63 "d"

struct good {
	const char *uri;
	const char *user, *host;
	unsigned port;
};

static const struct good goods[] = {
	{ "ssh://host", "", "host", 0 },
	{ "ssh://h", "", "h", 0 },
	{ "ssh://host.example.org", "", "host.example.org", 0 },
	{ "ssh://host.example.org.", "", "host.example.org.", 0 },
	{ "ssh://Host-1.Example.ORG", "", "Host-1.Example.ORG", 0 },
	{ "ssh://1host.example", "", "1host.example", 0 },
	{ "ssh://root@host", "root", "host", 0 },
	{ "ssh://a.b_c-d@host", "a.b_c-d", "host", 0 },
	{ "ssh://_svc@host", "_svc", "host", 0 },
	{ "ssh://u0123456789012345678901234567@h", "u0123456789012345678901234567", "h", 0 },
	{ "ssh://host:22", "", "host", 22 },
	{ "ssh://host:1", "", "host", 1 },
	{ "ssh://host:65535", "", "host", 65535 },
	{ "ssh://me@host:2222", "me", "host", 2222 },
	{ "ssh://192.0.2.1", "", "192.0.2.1", 0 },
	{ "ssh://192.0.2.1:22", "", "192.0.2.1", 22 },
	{ "ssh://[::1]", "", "::1", 0 },
	{ "ssh://[2001:db8::1]:2222", "", "2001:db8::1", 2222 },
	{ "ssh://me@[::ffff:192.0.2.1]", "me", "::ffff:192.0.2.1", 0 },
	{ "ssh://" L63 ".example", "", L63 ".example", 0 },
};

struct bad {
	const char *uri;
	int code;
	const char *text; /* a part of the message */
};

static const struct bad bads[] = {
	{ "", -EINVAL, "no URI" },
	{ "host", -EINVAL, "unknown URI form; write ssh://" },
	{ "SSH://host", -EINVAL, "unknown URI form" },
	{ "tcp://host:4444", -EINVAL, "unknown URI form" },
	{ "ssh:host", -EINVAL, "unknown URI form" },
	{ "ssh://", -EINVAL, "the host is empty" },
	{ "ssh://me@", -EINVAL, "the host is empty" },
	{ "ssh://.", -EINVAL, "the host is empty" },
	{ "ssh://:22", -EINVAL, "the host is empty" },
	{ "ssh://@host", -EINVAL, "the user before '@' is empty" },
	{ "ssh://a@b@host", -EINVAL, "more than one '@'" },
	{ "ssh://-oProxyCommand=x", -EINVAL, "starts with '-', which ssh would read" },
	{ "ssh://me@-oProxyCommand=x", -EINVAL, "starts with '-'" },
	{ "ssh://-host", -EINVAL, "starts with '-'" },
	{ "ssh://-l@host", -EINVAL, "the user name starts with '-'" },
	{ "ssh://host/path", -EINVAL, "takes no path" },
	{ "ssh://host/", -EINVAL, "takes no path" },
	{ "ssh://host?x=1", -EINVAL, "no query" },
	{ "ssh://host#frag", -EINVAL, "fragment" },
	{ "ssh://ho%73t", -EINVAL, "percent-escape" },
	{ "ssh://host:0", -EINVAL, "out of range" },
	{ "ssh://host:65536", -EINVAL, "out of range" },
	{ "ssh://host:99999999999999999999", -EINVAL, "not a decimal number" },
	{ "ssh://host:08", -EINVAL, "leading zero" },
	{ "ssh://host:", -EINVAL, "port after ':' is empty" },
	{ "ssh://host:+22", -EINVAL, "not a decimal" },
	{ "ssh://host:0x16", -EINVAL, "not a decimal" },
	{ "ssh://host:22:33", -EINVAL, "more than one ':'" },
	{ "ssh://::1", -EINVAL, "IPv6 address in brackets" },
	{ "ssh://[::1", -EINVAL, "no matching ']'" },
	{ "ssh://[::1]x", -EINVAL, "text follows the ']'" },
	{ "ssh://[host]", -EINVAL, "not an IPv6 address" },
	{ "ssh://[192.0.2.1]", -EINVAL, "not an IPv6 address" },
	{ "ssh://[fe80::1%25eth0]", -EINVAL, "percent-escape" },
	{ "ssh://[]", -EINVAL, "not an IPv6 address" },
	{ "ssh://host..example", -EINVAL, "empty label" },
	{ "ssh://.host", -EINVAL, "empty label" },
	{ "ssh://host.example..", -EINVAL, "empty label" },
	{ "ssh://host-.example", -EINVAL, "ends with '-'" },
	{ "ssh://a.-b", -EINVAL, "a label of the host name starts with '-'" },
	{ "ssh://ho_st", -EINVAL, "other than letters, digits, '-' and '.'" },
	{ "ssh://" L64 ".example", -E2BIG, "label of the host name is longer than 63" },
	{ "ssh://h\xc3\xb6st.example", -EINVAL, "'xn--' form" },
	{ "ssh://m\xc3\xa9@host", -EINVAL, "the user name holds" },
	{ "ssh://u01234567890123456789012345678901@h", -E2BIG, "longer than 32" },
	{ "ssh://us er@host", -EINVAL, "space or a control character" },
	{ "ssh://host name", -EINVAL, "space" },
	{ "ssh://host\n", -EINVAL, "control character" },
	{ "ssh://host\t", -EINVAL, "control character" },
	{ "ssh://127.1", -EINVAL, "dotted-quad" },
	{ "ssh://999.0.0.1", -EINVAL, "dotted-quad" },
	{ "ssh://0x7f.0.0.1", -EINVAL, "dotted-quad" },
	{ "ssh://12345", -EINVAL, "dotted-quad" },
	{ "ssh://010.0.0.1", -EINVAL, "dotted-quad" },
	{ "exec:", -EINVAL, "exec: names no program" },
	{ "exec:   \t  ", -EINVAL, "names no program" },
	{ "exec:prog\narg", -EINVAL, "control character" },
	{ "exec:prog \x7f", -EINVAL, "control character" },
	{ "exec:prog\r", -EINVAL, "control character" },
};

Test(dest_uri, good_uris_parse_to_their_parts)
{
	for (size_t i = 0; i < ARRAY_SIZE(goods); i++) {
		struct qm_dest_uri u;
		struct qm_error err = { 0 };

		cr_assert_eq(qm_dest_uri_parse(goods[i].uri, &u, &err), 0, "%s: %s",
			     goods[i].uri, err.text);
		cr_expect_eq(u.kind, QM_DEST_SSH, "%s", goods[i].uri);
		cr_expect_str_eq(u.user, goods[i].user, "%s", goods[i].uri);
		cr_expect_str_eq(u.host, goods[i].host, "%s", goods[i].uri);
		cr_expect_eq(u.port, goods[i].port, "%s", goods[i].uri);
		qm_dest_uri_release(&u);
	}
}

static void expect_refused(const char *uri, int code, const char *text)
{
	struct qm_dest_uri u;
	struct qm_error err = { 0 };
	int r = qm_dest_uri_parse(uri, &u, &err);

	cr_expect_eq(r, code, "%s: %d, want %d (%s)", uri, r, code, err.text);
	cr_expect_eq(err.code, r, "%s", uri);
	cr_expect_str_eq(err.error_class, "Usage", "%s", uri);
	cr_expect(strstr(err.text, text), "%s: '%s' lacks '%s'", uri, err.text, text);
	cr_expect_eq(strncmp(err.text, "--dest: ", 8), 0, "%s: %s", uri, err.text);
	cr_expect_null(u.exec_argv, "%s", uri);
}

Test(dest_uri, bad_uris_are_refused_with_what_to_write)
{
	for (size_t i = 0; i < ARRAY_SIZE(bads); i++)
		expect_refused(bads[i].uri, bads[i].code, bads[i].text);
	cr_expect_geq(ARRAY_SIZE(goods) + ARRAY_SIZE(bads), 40);
}

/* A name of @len bytes: labels of 63 separated by dots, the last one shorter. */
static char *name_of(size_t len)
{
	char *s = malloc(len + 1);

	cr_assert(s);
	for (size_t i = 0; i < len; i++)
		s[i] = (i + 1) % 64 == 0 ? '.' : 'a';
	s[len] = '\0';
	cr_assert_neq(s[len - 1], '.');
	return s;
}

Test(dest_uri, host_name_bound_is_253_bytes_without_the_trailing_dot)
{
	_cleanup_free_ char *n253 = name_of(253), *n254 = name_of(254);
	_cleanup_free_ char *ok = NULL, *okdot = NULL, *over = NULL;
	struct qm_dest_uri u;
	struct qm_error err = { 0 };

	cr_assert(asprintf(&ok, "ssh://%s", n253) > 0);
	cr_assert(asprintf(&okdot, "ssh://%s.:22", n253) > 0);
	cr_assert(asprintf(&over, "ssh://%s", n254) > 0);
	cr_assert_eq(qm_dest_uri_parse(ok, &u, &err), 0, "%s", err.text);
	cr_expect_str_eq(u.host, n253);
	qm_dest_uri_release(&u);
	cr_assert_eq(qm_dest_uri_parse(okdot, &u, &err), 0, "%s", err.text);
	cr_expect_eq(strlen(u.host), 254);
	cr_expect_eq(u.port, 22);
	qm_dest_uri_release(&u);
	expect_refused(over, -E2BIG, "longer than 253");
}

Test(dest_uri, an_overlong_uri_is_refused)
{
	_cleanup_free_ char *s = malloc(QM_DEST_URI_MAX + 2);

	cr_assert(s);
	memcpy(s, "exec:", 5);
	memset(s + 5, 'a', QM_DEST_URI_MAX - 4);
	s[QM_DEST_URI_MAX + 1] = '\0';
	expect_refused(s, -E2BIG, "longer than 16384");
}

static size_t count(char **v)
{
	size_t n = 0;

	while (v && v[n])
		n++;
	return n;
}

static void expect_argv(char **got, const char *const *want)
{
	size_t n = 0;

	while (want[n])
		n++;
	cr_assert_eq(count(got), n, "argv has %zu words, want %zu", count(got), n);
	for (size_t i = 0; i < n; i++)
		cr_expect_str_eq(got[i], want[i], "word %zu", i);
}

Test(dest_uri, exec_splits_on_spaces_and_tabs_only)
{
	static const char *const want[] = {
		"/usr/bin/env", "QM=1", "'quoted", "arg'", "*", "$HOME", "a\\", "b", "tab", NULL
	};
	struct qm_dest_uri u;
	struct qm_error err = { 0 };
	_cleanup_argv_ char **argv = NULL;

	cr_assert_eq(qm_dest_uri_parse("exec:  /usr/bin/env   QM=1\t'quoted arg' *  $HOME "
				       "a\\ b\t\ttab  ",
				       &u, &err),
		     0, "%s", err.text);
	cr_assert_eq(u.kind, QM_DEST_EXEC);
	expect_argv(u.exec_argv, want);
	cr_assert_eq(qm_exec_argv(&u, &argv, &err), 0, "%s", err.text);
	expect_argv(argv, want);
	cr_expect_neq(argv[0], u.exec_argv[0], "the argv is a copy");
	qm_dest_uri_release(&u);
	cr_expect_null(u.exec_argv);
}

Test(dest_uri, exec_bounds_words_and_their_length)
{
	_cleanup_free_ char *many = NULL, *longw = NULL;
	size_t n = 5 + 2 * (QM_DEST_EXEC_ARGS_MAX + 1);
	struct qm_dest_uri u;
	struct qm_error err = { 0 };

	many = malloc(n + 1);
	cr_assert(many);
	memcpy(many, "exec:", 5);
	for (size_t i = 5; i < n; i += 2)
		memcpy(many + i, "a ", 2);
	many[n] = '\0';
	expect_refused(many, -E2BIG, "more than 64 words");
	many[n - 2] = '\0'; /* one word fewer: exactly the bound */
	cr_assert_eq(qm_dest_uri_parse(many, &u, &err), 0, "%s", err.text);
	cr_expect_eq(count(u.exec_argv), QM_DEST_EXEC_ARGS_MAX);
	qm_dest_uri_release(&u);

	longw = malloc(5 + QM_DEST_EXEC_ARG_MAX + 2);
	cr_assert(longw);
	memcpy(longw, "exec:", 5);
	memset(longw + 5, 'x', QM_DEST_EXEC_ARG_MAX + 1);
	longw[5 + QM_DEST_EXEC_ARG_MAX + 1] = '\0';
	expect_refused(longw, -E2BIG, "longer than 4096");
	longw[5 + QM_DEST_EXEC_ARG_MAX] = '\0';
	cr_assert_eq(qm_dest_uri_parse(longw, &u, &err), 0, "%s", err.text);
	qm_dest_uri_release(&u);
}

static char **ssh_argv(const char *uri, const struct qm_ssh_opts *o)
{
	struct qm_dest_uri u;
	struct qm_error err = { 0 };
	char **argv = NULL;

	cr_assert_eq(qm_dest_uri_parse(uri, &u, &err), 0, "%s: %s", uri, err.text);
	cr_assert_eq(qm_dest_argv(&u, o, &argv, &err), 0, "%s: %s", uri, err.text);
	qm_dest_uri_release(&u);
	return argv;
}

Test(dest_uri, ssh_argv_defaults)
{
	static const char *const want[] = { "ssh", "-T", "-o", "BatchMode=yes", "--",
					    "host.example", "qmigrate", "serve", "--stdio",
					    NULL };
	_cleanup_argv_ char **a = ssh_argv("ssh://host.example", NULL);
	_cleanup_argv_ char **b = NULL;
	struct qm_ssh_opts empty = { 0 };

	expect_argv(a, want);
	b = ssh_argv("ssh://host.example", &empty);
	expect_argv(b, want);
}

Test(dest_uri, ssh_argv_with_user_port_and_options)
{
	static const char *const opts[] = { "ConnectTimeout=10", "ControlPath=/run/qm/%C",
					    "StrictHostKeyChecking=yes" };
	static const char *const want[] = {
		"/usr/local/bin/ssh", "-T", "-o", "BatchMode=yes", "-p", "2222", "-l",
		"migrate", "-o", "ConnectTimeout=10", "-o", "ControlPath=/run/qm/%C", "-o",
		"StrictHostKeyChecking=yes", "--", "2001:db8::7", "/opt/qm/bin/qmigrate",
		"serve", "--stdio", NULL
	};
	struct qm_ssh_opts o = { .ssh_path = "/usr/local/bin/ssh",
				 .remote_qmigrate = "/opt/qm/bin/qmigrate",
				 .options = opts,
				 .n_options = ARRAY_SIZE(opts) };
	_cleanup_argv_ char **a = ssh_argv("ssh://migrate@[2001:db8::7]:2222", &o);

	expect_argv(a, want);
}

Test(dest_uri, ssh_argv_with_port_only_and_ipv4)
{
	static const char *const want[] = { "ssh",	   "-T",       "-o",	  "BatchMode=yes",
					    "-p",	   "65535",    "--",	  "192.0.2.9",
					    "qmigrate-2", "serve", "--stdio", NULL };
	struct qm_ssh_opts o = { .remote_qmigrate = "qmigrate-2" };
	_cleanup_argv_ char **a = ssh_argv("ssh://192.0.2.9:65535", &o);

	expect_argv(a, want);
}

Test(dest_uri, exec_argv_through_dest_argv_ignores_ssh_options)
{
	static const char *const want[] = { "build/qmigrate", "serve", "--stdio", NULL };
	static const char *const opts[] = { "ProxyCommand=x" };
	struct qm_ssh_opts o = { .options = opts, .n_options = 1 };
	_cleanup_argv_ char **a = ssh_argv("exec:build/qmigrate serve --stdio", &o);

	expect_argv(a, want);
}

static const char *const refused[] = {
	"BatchMode",	   "ForkAfterAuthentication", "Host",	     "Include",
	"KnownHostsCommand", "LocalCommand",	       "Match",	     "PKCS11Provider",
	"PermitLocalCommand", "ProxyCommand",	       "RemoteCommand", "RequestTTY",
	"SecurityKeyProvider", "SessionType",	       "StdinNull",
};

static int build_with_option(const char *opt, struct qm_error *err, char ***argv)
{
	struct qm_dest_uri u;
	struct qm_ssh_opts o = { .options = &opt, .n_options = 1 };
	int r;

	qm_error_clear(err);
	cr_assert_eq(qm_dest_uri_parse("ssh://host", &u, err), 0);
	r = qm_ssh_argv(&u, &o, argv, err);
	qm_dest_uri_release(&u);
	return r;
}

Test(dest_uri, every_refused_ssh_option_is_named_with_its_reason)
{
	for (size_t i = 0; i < ARRAY_SIZE(refused); i++) {
		_cleanup_free_ char *opt = NULL, *lower = NULL, *want = NULL;
		struct qm_error err;
		char **argv = (char **)1;

		cr_assert(asprintf(&opt, "%s=value x", refused[i]) > 0);
		cr_expect_eq(build_with_option(opt, &err, &argv), -EINVAL, "%s", opt);
		cr_expect_null(argv, "%s", opt);
		cr_assert(asprintf(&want, "--ssh-option %s is refused: ", refused[i]) > 0);
		cr_expect_eq(strncmp(err.text, want, strlen(want)), 0, "%s: %s", opt, err.text);
		cr_expect_gt(strlen(err.text), strlen(want) + 10, "%s: no reason", opt);
		cr_expect_str_eq(err.error_class, "Usage");
		/* ssh reads keywords in any case. */
		lower = strdup(opt);
		for (char *p = lower; *p != '='; p++)
			*p = (char)(*p | 0x20);
		cr_expect_eq(build_with_option(lower, &err, &argv), -EINVAL, "%s", lower);
		cr_expect(strstr(err.text, "is refused"), "%s: %s", lower, err.text);
	}
}

Test(dest_uri, malformed_ssh_options_are_refused)
{
	static const struct {
		const char *opt;
		const char *text;
	} cases[] = {
		{ "ConnectTimeout 10", "write Key=Value" },
		{ "ConnectTimeout", "write Key=Value" },
		{ "ConnectTimeout=", "write Key=Value" },
		{ "=10", "write Key=Value" },
		{ " ProxyCommand=x", "letters and digits only" },
		{ "Proxy-Command=x", "letters and digits only" },
		{ "-oProxyCommand=x", "letters and digits only" },
		{ "User=a\nProxyCommand x", "control character" },
		{ "User=a\tb", "control character" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		struct qm_error err;
		char **argv;

		cr_expect_eq(build_with_option(cases[i].opt, &err, &argv), -EINVAL, "%s",
			     cases[i].opt);
		cr_expect(strstr(err.text, cases[i].text), "%s: %s", cases[i].opt, err.text);
		cr_expect_str_eq(err.error_class, "Usage");
	}
}

Test(dest_uri, ssh_option_bounds)
{
	_cleanup_free_ char *big = malloc(QM_SSH_OPTION_MAX + 2);
	const char *many[QM_SSH_OPTIONS_MAX + 1];
	struct qm_dest_uri u;
	struct qm_ssh_opts o = { .options = many, .n_options = QM_SSH_OPTIONS_MAX + 1 };
	struct qm_error err = { 0 };
	char **argv;

	cr_assert(big);
	memcpy(big, "User=", 5);
	memset(big + 5, 'u', QM_SSH_OPTION_MAX - 4);
	big[QM_SSH_OPTION_MAX + 1] = '\0';
	cr_expect_eq(qm_ssh_option_check(big, &err), -E2BIG);
	big[QM_SSH_OPTION_MAX] = '\0';
	cr_expect_eq(qm_ssh_option_check(big, &err), 0);

	for (size_t i = 0; i < ARRAY_SIZE(many); i++)
		many[i] = "ConnectTimeout=5";
	qm_error_clear(&err);
	cr_assert_eq(qm_dest_uri_parse("ssh://host", &u, &err), 0);
	cr_expect_eq(qm_ssh_argv(&u, &o, &argv, &err), -E2BIG);
	cr_expect(strstr(err.text, "more than 32 --ssh-option"), "%s", err.text);
	o.n_options--;
	cr_expect_eq(qm_ssh_argv(&u, &o, &argv, &err), 0);
	cr_expect_eq(count(argv), 9 + 2 * QM_SSH_OPTIONS_MAX);
	qm_argv_free(argv);
	qm_dest_uri_release(&u);
}

Test(dest_uri, remote_qmigrate_must_be_one_plain_word)
{
	static const char *const bad[] = {
		"",	     "-x",	      "bin/qmigrate", "~/bin/qmigrate", "qm igrate",
		"qm;reboot", "$(reboot)",   "`reboot`",     "QM=1",	        "a'b",
		"a\"b",	     "qm\nigrate", "/opt/q m",	    "/opt/*",	        "qm|x",
	};
	static const char *const good[] = { "qmigrate", "/opt/qm-1.0/bin/qmigrate", "qm_2+x" };
	struct qm_dest_uri u;
	struct qm_error err = { 0 };
	char **argv;

	cr_assert_eq(qm_dest_uri_parse("ssh://host", &u, &err), 0);
	for (size_t i = 0; i < ARRAY_SIZE(bad); i++) {
		struct qm_ssh_opts o = { .remote_qmigrate = bad[i] };

		qm_error_clear(&err);
		cr_expect_eq(qm_ssh_argv(&u, &o, &argv, &err), -EINVAL, "'%s'", bad[i]);
		cr_expect_null(argv);
		cr_expect(strstr(err.text, "--remote-qmigrate"), "%s", err.text);
	}
	for (size_t i = 0; i < ARRAY_SIZE(good); i++) {
		struct qm_ssh_opts o = { .remote_qmigrate = good[i] };

		cr_expect_eq(qm_ssh_argv(&u, &o, &argv, &err), 0, "'%s': %s", good[i], err.text);
		qm_argv_free(argv);
	}
	qm_dest_uri_release(&u);
}

Test(dest_uri, argv_of_the_wrong_form_is_refused)
{
	struct qm_dest_uri s, e;
	struct qm_error err = { 0 };
	struct qm_ssh_opts o = { .ssh_path = "" };
	char **argv;

	cr_assert_eq(qm_dest_uri_parse("ssh://host", &s, &err), 0);
	cr_assert_eq(qm_dest_uri_parse("exec:true", &e, &err), 0);
	cr_expect_eq(qm_exec_argv(&s, &argv, &err), -EINVAL);
	cr_expect_null(argv);
	qm_error_clear(&err);
	cr_expect_eq(qm_ssh_argv(&e, NULL, &argv, &err), -EINVAL);
	cr_expect_null(argv);
	cr_expect_eq(qm_ssh_argv(&s, &o, &argv, &err), -EINVAL);
	qm_dest_uri_release(&s);
	qm_dest_uri_release(&e);
}

/*
 * What ssh reads after "--" is the host and the remote command.  For every
 * accepted URI of the table, and the hostile ones that are near misses, the
 * host and the agent's path never start with '-'; "--stdio" is the agent's
 * own option, the last word, which ssh never parses after "--".
 */
Test(dest_uri, nothing_after_the_double_dash_is_an_ssh_option)
{
	for (size_t i = 0; i < ARRAY_SIZE(goods); i++) {
		_cleanup_argv_ char **a = ssh_argv(goods[i].uri, NULL);
		size_t n = count(a), dd = 0;

		for (size_t k = 0; k < n; k++)
			if (strcmp(a[k], "--") == 0 && !dd)
				dd = k;
		cr_assert_gt(dd, 0, "%s: no --", goods[i].uri);
		cr_assert_eq(n, dd + 5, "%s", goods[i].uri);
		for (size_t k = dd + 1; k < n - 1; k++)
			cr_expect_neq(a[k][0], '-', "%s: word %zu '%s'", goods[i].uri, k, a[k]);
		cr_expect_str_eq(a[n - 1], "--stdio");
		for (size_t k = 0; k < dd; k++)
			cr_expect_str_neq(a[k], "--", "%s: a second --", goods[i].uri);
	}
}
