/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A domain description as a QEMU command line.  tests/data/domain/argv/
 * NAME.xml gives the golden NAME.argv, one argument per line
 * (QMIGRATE_REGENERATE_GOLDEN=1 rewrites them); tests/data/domain/argv-refused/
 * NAME.xml with NAME.error (line 1: the class; line 2: a piece of the text)
 * must be refused.  Every password in those inputs contains "s3cret", which
 * must never be in an argument.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/unit/testdata.h"
#include "xml/domain-argv.h"

#define MARK "s3cret"
#define QMP "/run/qmigrate-test/qmp.sock"

static const struct qm_domain_argv_opts golden_opts = { .qmp_path = QMP };

static struct qm_domain *parse_path(const char *path)
{
	struct qm_error err = { 0 };
	struct qm_domain *d;

	cr_assert_eq(qm_domain_parse_file(path, &d, &err), 0, "%s: %s: %s", path,
		     err.error_class, err.text);
	return d;
}

static void expect_no_secret(const char *name, char **argv)
{
	for (char **a = argv; *a; a++)
		cr_expect_null(strstr(*a, MARK), "%s: a password in argument '%s'", name, *a);
}

/* One argument per line; an argument holding a newline would be ambiguous. */
static char *joined(char **argv)
{
	char *buf = NULL;
	size_t size;
	FILE *f = open_memstream(&buf, &size);

	cr_assert(f);
	for (char **a = argv; *a; a++) {
		cr_expect_null(strchr(*a, '\n'), "argument with a newline: %s", *a);
		fprintf(f, "%s\n", *a);
	}
	cr_assert_eq(fclose(f), 0);
	return buf;
}

static void run_golden(const char *dir, const char *name)
{
	_cleanup_free_ char *path = NULL, *rel = NULL, *text = NULL;
	_cleanup_domain_ struct qm_domain *d = NULL;
	_cleanup_argv_ char **argv = NULL;
	struct qm_error err = { 0 };
	size_t len = strlen(name) - strlen(".xml");

	cr_assert(asprintf(&path, "%s/%s", dir, name) >= 0);
	cr_assert(asprintf(&rel, "domain/argv/%.*s.argv", (int)len, name) >= 0);
	d = parse_path(path);
	cr_assert_eq(qm_domain_argv(d, &golden_opts, &argv, &err), 0, "%s: %s: %s", name,
		     err.error_class, err.text);
	expect_no_secret(name, argv);
	text = joined(argv);
	td_golden(rel, text);
}

Test(domain_argv, builds_every_golden_command_line)
{
	td_each("domain/argv", ".xml", 10, run_golden);
}

static void run_refused(const char *dir, const char *name)
{
	_cleanup_domain_ struct qm_domain *d = NULL;
	struct qm_error err = { 0 };
	char **argv = (char **)&err; /* a sentinel: must come back NULL */
	struct td_hostile h;
	int r;

	td_read_hostile(dir, name, &h);
	d = td_domain(h.xml);
	free(h.xml);
	r = qm_domain_argv(d, &golden_opts, &argv, &err);
	cr_expect_lt(r, 0, "%s: built, but should fail with %s", name, h.cls);
	cr_expect_null(argv, "%s: a refusal must leave *out NULL", name);
	cr_expect_eq(r, err.code, "%s: returned %d, error says %d", name, r, err.code);
	cr_expect_str_eq(err.error_class, h.cls, "%s: class %s (%s), expected %s", name,
			 err.error_class, err.text, h.cls);
	cr_expect(strstr(err.text, h.text), "%s: error '%s' lacks '%s'", name, err.text,
		  h.text);
	cr_expect_null(strstr(err.text, MARK), "%s: the error shows a secret", name);
}

Test(domain_argv, refuses_what_it_cannot_express)
{
	td_each("domain/argv-refused", ".xml", 10, run_refused);
}

#define HEAD                                                                             \
	"<domain type='qemu'><name>vm1</name>"                                           \
	"<uuid>c7a5fdbd-edaf-9455-926a-d65c16db1809</uuid>"                              \
	"<memory unit='MiB'>64</memory><os><type>hvm</type></os>"

static char **build(const char *xml, const struct qm_domain_argv_opts *opts)
{
	_cleanup_domain_ struct qm_domain *d = td_domain(xml);
	struct qm_error err = { 0 };
	char **argv;

	cr_assert_eq(qm_domain_argv(d, opts, &argv, &err), 0, "%s: %s", err.error_class,
		     err.text);
	return argv;
}

static size_t find(char **argv, const char *arg)
{
	for (size_t i = 0; argv[i]; i++)
		if (strcmp(argv[i], arg) == 0)
			return i;
	return (size_t)-1;
}

Test(domain_argv, incoming_adds_paused_and_defer_before_the_passthrough)
{
	struct qm_domain_argv_opts opts = { .qmp_path = QMP, .incoming = true };
	_cleanup_argv_ char **argv = build(
		HEAD "<qemu:commandline xmlns:qemu='http://libvirt.org/schemas/domain/qemu/1.0'>"
		     "<qemu:arg value='-no-reboot'/></qemu:commandline></domain>",
		&opts);
	size_t s = find(argv, "-S"), inc = find(argv, "-incoming"), pass = find(argv, "-no-reboot");

	cr_assert_neq(s, (size_t)-1);
	cr_assert_neq(inc, (size_t)-1);
	cr_expect_str_eq(argv[inc + 1], "defer");
	cr_expect_null(argv[pass + 1], "the passthrough comes last");
	cr_expect_lt(inc, pass);
}

Test(domain_argv, paused_adds_only_S)
{
	struct qm_domain_argv_opts opts = { .qmp_path = QMP, .paused = true };
	_cleanup_argv_ char **argv = build(HEAD "</domain>", &opts);

	cr_expect_neq(find(argv, "-S"), (size_t)-1);
	cr_expect_eq(find(argv, "-incoming"), (size_t)-1);
}

Test(domain_argv, running_has_neither)
{
	_cleanup_argv_ char **argv = build(HEAD "</domain>", &golden_opts);

	cr_expect_eq(find(argv, "-S"), (size_t)-1);
	cr_expect_str_eq(argv[0], QM_DOMAIN_DEFAULT_EMULATOR);
}

Test(domain_argv, a_comma_in_the_qmp_path_is_doubled)
{
	struct qm_domain_argv_opts opts = { .qmp_path = "/run/a,server=off/qmp.sock" };
	_cleanup_argv_ char **argv = build(HEAD "</domain>", &opts);
	size_t i = find(argv, "-qmp");

	cr_assert_neq(i, (size_t)-1);
	cr_expect_str_eq(argv[i + 1], "unix:/run/a,,server=off/qmp.sock,server=on,wait=off");
}

Test(domain_argv, fds_are_named_with_add_fd_and_a_monitor_pins_their_sets)
{
	static const struct qm_domain_argv_fd fds[] = {
		{ .fd = 3, .set = 1000, .opaque = "qmigrate-lease:/srv/a,b" },
		{ .fd = 4, .set = 1001 },
	};
	struct qm_domain_argv_opts opts = { .qmp_path = QMP, .fds = fds, .n_fds = 2 };
	_cleanup_argv_ char **argv = build(HEAD "</domain>", &opts);
	_cleanup_argv_ char **plain = build(HEAD "</domain>", &golden_opts);
	size_t i = find(argv, "-add-fd"), mon = find(argv, "-mon");

	cr_assert_neq(i, (size_t)-1);
	cr_expect_str_eq(argv[i + 1], "fd=3,set=1000,opaque=qmigrate-lease:/srv/a,,b");
	cr_expect_str_eq(argv[i + 2], "-add-fd");
	cr_expect_str_eq(argv[i + 3], "fd=4,set=1001");
	cr_expect_str_eq(argv[i + 4], "-chardev");
	cr_expect_str_eq(argv[i + 5], "file,id=qmigrate-fdset-pin,path=/dev/null");
	cr_assert_eq(mon, i + 6);
	cr_expect_str_eq(argv[mon + 1], "chardev=qmigrate-fdset-pin,mode=control");
	/* Without fds, neither. */
	cr_expect_eq(find(plain, "-add-fd"), (size_t)-1);
	cr_expect_eq(find(plain, "-mon"), (size_t)-1);
}

/* A migration's destination gets its leases later, with add-fd: the pin comes first. */
Test(domain_argv, fdset_pin_adds_the_monitor_without_fds)
{
	struct qm_domain_argv_opts opts = { .qmp_path = QMP, .fdset_pin = true };
	_cleanup_argv_ char **argv = build(HEAD "</domain>", &opts);
	size_t mon = find(argv, "-mon");

	cr_expect_eq(find(argv, "-add-fd"), (size_t)-1);
	cr_assert_neq(mon, (size_t)-1);
	cr_expect_str_eq(argv[mon - 2], "-chardev");
	cr_expect_str_eq(argv[mon - 1], "file,id=qmigrate-fdset-pin,path=/dev/null");
	cr_expect_str_eq(argv[mon + 1], "chardev=qmigrate-fdset-pin,mode=control");
}

Test(domain_argv, an_fd_among_stdio_is_a_usage_error)
{
	static const struct qm_domain_argv_fd fds[] = { { .fd = 2, .set = 1 } };
	_cleanup_domain_ struct qm_domain *d = td_domain(HEAD "</domain>");
	struct qm_domain_argv_opts opts = { .qmp_path = QMP, .fds = fds, .n_fds = 1 };
	struct qm_error err = { 0 };
	char **argv;

	cr_expect_eq(qm_domain_argv(d, &opts, &argv, &err), -EINVAL);
	cr_expect_null(argv);
	cr_expect_str_eq(err.error_class, "Usage");
	cr_expect(strstr(err.text, "fd=2,set=1"), "%s", err.text);
}

Test(domain_argv, no_qmp_path_is_a_usage_error)
{
	_cleanup_domain_ struct qm_domain *d = td_domain(HEAD "</domain>");
	struct qm_domain_argv_opts opts = { 0 };
	struct qm_error err = { 0 };
	char **argv;

	cr_expect_eq(qm_domain_argv(d, &opts, &argv, &err), -EINVAL);
	cr_expect_null(argv);
	cr_expect_str_eq(err.error_class, "Usage");
}

Test(domain_argv, has_password_sees_vnc_and_spice)
{
	_cleanup_domain_ struct qm_domain *none = td_domain(HEAD "</domain>");
	_cleanup_domain_ struct qm_domain *vnc = td_domain(
		HEAD "<devices><graphics type='vnc' passwd='s3cret'/></devices></domain>");

	cr_expect_not(qm_domain_has_password(none));
	cr_expect(qm_domain_has_password(vnc));
}

/* The migratable form lost its passwords; the caller still wants the displays locked. */
Test(domain_argv, locked_displays_start_locked_without_a_password)
{
	const char *xml = HEAD "<devices><graphics type='vnc' autoport='yes'/>"
			       "<graphics type='spice' port='5930'/></devices></domain>";
	struct qm_domain_argv_opts opts = { .qmp_path = QMP };
	_cleanup_argv_ char **open = build(xml, &opts);
	_cleanup_argv_ char **locked = NULL;
	size_t vnc, spice;

	vnc = find(open, "-vnc");
	spice = find(open, "-spice");
	cr_assert_neq(vnc, (size_t)-1);
	cr_assert_neq(spice, (size_t)-1);
	cr_expect_null(strstr(open[vnc + 1], "password=on"), "%s", open[vnc + 1]);
	cr_expect(strstr(open[spice + 1], "disable-ticketing=on"), "%s", open[spice + 1]);

	opts.locked[QM_DOMAIN_GRAPHICS_VNC] = opts.locked[QM_DOMAIN_GRAPHICS_SPICE] = true;
	locked = build(xml, &opts);
	cr_expect(strstr(locked[vnc + 1], ",password=on"), "%s", locked[vnc + 1]);
	cr_expect_null(strstr(locked[spice + 1], "disable-ticketing"), "%s", locked[spice + 1]);
}

Test(domain_argv, spice_over_tls_names_its_x509_dir)
{
	static const struct {
		const char *ports, *spice;
	} cases[] = {
		{ "port='5930' tlsPort='5931'",
		  "port=5930,tls-port=5931,x509-dir=/etc/pki/a,,b,addr=127.0.0.1,"
		  "disable-ticketing=on" },
		/* TLS alone: no plain port. */
		{ "port='-1' tlsPort='5931'",
		  "tls-port=5931,x509-dir=/etc/pki/a,,b,addr=127.0.0.1,disable-ticketing=on" },
	};
	struct qm_domain_argv_opts opts = { .qmp_path = QMP, .spice_x509_dir = "/etc/pki/a,b" };

	for (size_t c = 0; c < sizeof(cases) / sizeof(cases[0]); c++) {
		_cleanup_free_ char *xml = NULL;
		_cleanup_argv_ char **argv = NULL;
		size_t i;

		cr_assert_geq(asprintf(&xml, HEAD "<devices><graphics type='spice' %s/></devices>"
						  "</domain>",
				       cases[c].ports),
			      0);
		argv = build(xml, &opts);
		i = find(argv, "-spice");
		cr_assert_neq(i, (size_t)-1);
		cr_expect_str_eq(argv[i + 1], cases[c].spice);
	}
}

/* ---- qm_argv_dup / qm_argv_len ------------------------------------------- */

TestSuite(argv_dup, .timeout = 10);

Test(argv_dup, null_gives_an_empty_array)
{
	_cleanup_argv_ char **v = qm_argv_dup(NULL, 0);

	cr_assert_eq(qm_argv_len(NULL), 0);
	cr_assert_not_null(v);
	cr_assert_null(v[0]);
}

Test(argv_dup, empty_gives_an_empty_array_of_its_own)
{
	const char *const empty[] = { NULL };
	_cleanup_argv_ char **v = qm_argv_dup(empty, 0);

	cr_assert_eq(qm_argv_len(empty), 0);
	cr_assert_not_null(v);
	cr_assert_neq((void *)v, (void *)empty);
	cr_assert_null(v[0]);
}

Test(argv_dup, copies_every_word_and_the_terminator)
{
	const char *const words[] = { "ssh", "-T", "", "host name", NULL };
	_cleanup_argv_ char **v = qm_argv_dup(words, 0);

	cr_assert_eq(qm_argv_len(words), 4);
	cr_assert_not_null(v);
	cr_assert_eq(qm_argv_len((const char *const *)v), 4);
	for (size_t i = 0; i < 4; i++) {
		cr_assert_str_eq(v[i], words[i]);
		cr_assert_neq((void *)v[i], (void *)words[i], "word %zu is not a copy",
			      i);
	}
	cr_assert_null(v[4]);
}

Test(argv_dup, room_leaves_null_slots_after_the_words)
{
	const char *const words[] = { "a", "b", NULL };
	/* qm_argv_free frees what the caller put in the room, up to the first NULL. */
	_cleanup_argv_ char **v = qm_argv_dup(words, 2);

	cr_assert_not_null(v);
	cr_assert_str_eq(v[1], "b");
	cr_assert_null(v[2]);
	cr_assert_null(v[3]);
	cr_assert_null(v[4]);
	cr_assert_not_null(v[2] = strdup("c"));
	cr_assert_eq(qm_argv_len((const char *const *)v), 3);
}
