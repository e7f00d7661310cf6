/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The destination rewrite.  tests/data/domain/rewrite/NAME.in.xml rewritten
 * as NAME.opts says gives the golden NAME.out.xml, the full format byte for
 * byte (QMIGRATE_REGENERATE_GOLDEN=1 rewrites them); the result reads back
 * to the same view and the same bytes, builds a command line when the input
 * did, and its migratable form holds no password.
 * tests/data/domain/rewrite-refused/NAME.in.xml with NAME.opts and NAME.error
 * (line 1: the class; line 2: a piece of the text) must be refused and leave
 * the description as it was.  Every password in those inputs contains
 * "s3cret", which no message may show.
 *
 * NAME.opts holds one option a line ('#' starts a comment):
 *   graphics-listen ADDR | chr-dir DIR | chr-listen HOST | chr-free-ports |
 *   disk-map SRC=DST | vnc-cut | vnc-free-ports
 * A disk-map line goes through qm_disk_map_parse, as --disk-map does.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>

#include "tests/unit/testdata.h"
#include "xml/domain-argv.h"
#include "xml/domain-rewrite.h"

#define MARK "s3cret"
#define QMP "/run/qmigrate-test/qmp.sock"
#define UUID "c7a5fdbd-edaf-9455-926a-d65c16db1809"

/* The options of one case, and the strings they point into. */
struct opts_file {
	struct qm_domain_rewrite o;
	struct qm_disk_map_entry map[QM_DOMAIN_MAX_DISKS + 1];
	char *text;
};

static void opts_clear(struct opts_file *f)
{
	for (size_t i = 0; i < f->o.n_disk_map; i++)
		qm_disk_map_entry_clear(&f->map[i]);
	free(f->text);
}

static void opts_line(struct opts_file *f, const char *path, char *line)
{
	char *value = strchr(line, ' ');
	struct qm_error err = { 0 };

	if (value)
		*value++ = '\0';
	if (strcmp(line, "vnc-cut") == 0 && !value) {
		f->o.vnc_cut = true;
		return;
	}
	if (strcmp(line, "vnc-free-ports") == 0 && !value) {
		f->o.vnc_free_ports = true;
		return;
	}
	if (strcmp(line, "chr-free-ports") == 0 && !value) {
		f->o.chr_free_ports = true;
		return;
	}
	cr_assert(value, "%s: '%s' needs a value", path, line);
	if (strcmp(line, "graphics-listen") == 0)
		f->o.graphics_listen = value;
	else if (strcmp(line, "chr-dir") == 0)
		f->o.chr_dir = value;
	else if (strcmp(line, "chr-listen") == 0)
		f->o.chr_listen = value;
	else if (strcmp(line, "disk-map") == 0) {
		cr_assert_lt(f->o.n_disk_map, ARRAY_SIZE(f->map));
		cr_assert_eq(qm_disk_map_parse(value, &f->map[f->o.n_disk_map], &err), 0,
			     "%s: %s", path, err.text);
		f->o.n_disk_map++;
	} else
		cr_assert_fail("%s: unknown option '%s'", path, line);
}

static void opts_read(const char *path, struct opts_file *f)
{
	size_t len;
	char *save = NULL;

	memset(f, 0, sizeof(*f));
	f->o.disk_map = f->map;
	f->text = td_read(path, &len);
	cr_assert(f->text, "%s: %s", path, strerror(errno));
	for (char *line = strtok_r(f->text, "\n", &save); line;
	     line = strtok_r(NULL, "\n", &save))
		if (line[0] != '#')
			opts_line(f, path, line);
}

static char *format(const struct qm_domain *d)
{
	struct qm_error err = { 0 };
	char *xml;

	cr_assert_eq(qm_domain_format(d, &xml, &err), 0, "%s", err.text);
	return xml;
}

static bool builds_argv(const struct qm_domain *d)
{
	static const struct qm_domain_argv_opts argv_opts = { .qmp_path = QMP,
							      .incoming = true };
	_cleanup_argv_ char **argv = NULL;
	struct qm_error err = { 0 };

	return qm_domain_argv(d, &argv_opts, &argv, &err) == 0;
}

/* "NAME.in.xml" as DIR/NAME@ext. */
static char *case_file(const char *dir, const char *name, const char *ext)
{
	char *path;

	cr_assert(asprintf(&path, "%s/%.*s%s", dir,
			   (int)(strlen(name) - strlen(".in.xml")), name, ext) >= 0);
	return path;
}

static void expect_same_str(const char *what, const char *a, const char *b)
{
	if (!a || !b)
		cr_expect(a == b, "%s: %s vs %s", what, a ? a : "(none)",
			  b ? b : "(none)");
	else
		cr_expect_str_eq(a, b, "%s", what);
}

static void expect_same_chrs(const struct qm_domain_chr *a, const struct qm_domain_chr *b,
			     size_t n)
{
	for (size_t i = 0; i < n; i++) {
		cr_expect_eq(a[i].type, b[i].type);
		cr_expect_eq(a[i].mode, b[i].mode);
		cr_expect_eq(a[i].telnet, b[i].telnet);
		cr_expect_eq(a[i].target_port, b[i].target_port);
		expect_same_str("chr path", a[i].path, b[i].path);
		expect_same_str("chr host", a[i].host, b[i].host);
		expect_same_str("chr service", a[i].service, b[i].service);
		expect_same_str("chr target type", a[i].target_type, b[i].target_type);
	}
}

/* The view the rewrite left and the one read from its output agree. */
static void expect_same_view(const struct qm_domain *a, const struct qm_domain *b)
{
	cr_assert_eq(a->n_disks, b->n_disks);
	cr_assert_eq(a->n_graphics, b->n_graphics);
	cr_assert_eq(a->n_serials, b->n_serials);
	cr_assert_eq(a->n_consoles, b->n_consoles);
	cr_expect_eq(a->n_nets, b->n_nets);
	cr_expect_str_eq(a->name, b->name);
	cr_expect_str_eq(a->uuid, b->uuid);
	cr_expect_eq(a->memory_kib, b->memory_kib);
	for (size_t i = 0; i < a->n_disks; i++) {
		expect_same_str("disk file", a->disks[i].file, b->disks[i].file);
		cr_expect_str_eq(a->disks[i].dev, b->disks[i].dev);
		cr_expect_eq(a->disks[i].format, b->disks[i].format);
		cr_expect_eq(a->disks[i].readonly, b->disks[i].readonly);
	}
	for (size_t i = 0; i < a->n_graphics; i++) {
		cr_expect_eq(a->graphics[i].type, b->graphics[i].type);
		cr_expect_eq(a->graphics[i].port, b->graphics[i].port);
		cr_expect_eq(a->graphics[i].autoport, b->graphics[i].autoport);
		expect_same_str("listen", a->graphics[i].listen, b->graphics[i].listen);
		/* Compared, never shown. */
		cr_expect(!a->graphics[i].passwd == !b->graphics[i].passwd &&
				  (!a->graphics[i].passwd ||
				   !strcmp(a->graphics[i].passwd, b->graphics[i].passwd)),
			  "the view and the tree disagree on a password");
	}
	expect_same_chrs(a->serials, b->serials, a->n_serials);
	expect_same_chrs(a->consoles, b->consoles, a->n_consoles);
}

static void expect_no_password_leaves(const struct qm_domain *d, const char *name)
{
	_cleanup_free_ char *mig = NULL;
	struct qm_error err = { 0 };

	cr_assert_eq(qm_domain_migratable_format(d, &mig, &err), 0, "%s", err.text);
	cr_expect_null(strstr(mig, MARK), "%s: a password in the migratable form", name);
	cr_expect_null(strstr(mig, " passwd="), "%s: passwd in the migratable form",
		       name);
}

static void run_golden(const char *dir, const char *name)
{
	_cleanup_free_ char *in = case_file(dir, name, ".in.xml");
	_cleanup_free_ char *opts_path = case_file(dir, name, ".opts");
	_cleanup_free_ char *out_path = case_file(dir, name, ".out.xml");
	_cleanup_free_ char *xml = NULL, *out = NULL, *again = NULL;
	_cleanup_domain_ struct qm_domain *d = NULL, *back = NULL;
	const char *rel = strstr(out_path, "domain/rewrite/");
	struct qm_error err = { 0 };
	struct opts_file f;
	bool argv_before;
	size_t len;
	int r;

	xml = td_read(in, &len);
	cr_assert(xml, "%s: %s", in, strerror(errno));
	d = td_domain(xml);
	argv_before = builds_argv(d);
	opts_read(opts_path, &f);
	r = qm_domain_rewrite(d, &f.o, &err);
	opts_clear(&f);
	cr_assert_geq(r, 0, "%s: %s: %s", name, err.error_class, err.text);
	out = format(d);
	td_golden(rel, out);

	back = td_domain(out);
	again = format(back);
	cr_expect_str_eq(again, out, "%s: the output does not read back the same", name);
	expect_same_view(d, back);
	if (argv_before)
		cr_expect(builds_argv(d),
			  "%s: the input built a command line, the output "
			  "does not",
			  name);
	expect_no_password_leaves(d, name);
}

Test(domain_rewrite, rewrites_every_golden_description)
{
	td_each("domain/rewrite", ".in.xml", 12, run_golden);
}

static void run_refused(const char *dir, const char *name)
{
	_cleanup_free_ char *in = case_file(dir, name, ".in.xml");
	_cleanup_free_ char *opts_path = case_file(dir, name, ".opts");
	_cleanup_free_ char *err_path = case_file(dir, name, ".error");
	_cleanup_free_ char *xml = NULL, *expected = NULL, *before = NULL, *after = NULL;
	_cleanup_domain_ struct qm_domain *d = NULL;
	void *doc;
	struct qm_error err = { 0 };
	char cls[64], text[256];
	struct opts_file f;
	size_t len;
	int r;

	xml = td_read(in, &len);
	expected = td_read(err_path, &len);
	cr_assert(xml && expected, "%s: %s", name, strerror(errno));
	cr_assert(sscanf(expected, "%63[^\n]\n%255[^\n]", cls, text) == 2, "%s",
		  err_path);
	d = td_domain(xml);
	before = format(d);
	doc = d->doc;
	opts_read(opts_path, &f);
	r = qm_domain_rewrite(d, &f.o, &err);
	opts_clear(&f);
	cr_expect_lt(r, 0, "%s: rewritten, but should fail with %s", name, cls);
	cr_expect_eq(r, err.code, "%s: returned %d, error says %d", name, r, err.code);
	cr_expect_str_eq(err.error_class, cls, "%s: class %s (%s), expected %s", name,
			 err.error_class, err.text, cls);
	cr_expect(strstr(err.text, text), "%s: error '%s' lacks '%s'", name, err.text,
		  text);
	cr_expect_null(strstr(err.text, MARK), "%s: the error shows a secret", name);
	after = format(d);
	cr_expect_str_eq(after, before, "%s: a refused rewrite changed the description",
			 name);
	cr_expect_eq(d->doc, doc, "%s: the tree was replaced", name);
}

Test(domain_rewrite, refuses_what_it_cannot_do_and_changes_nothing)
{
	td_each("domain/rewrite-refused", ".in.xml", 8, run_refused);
}

/* ---- the --disk-map parser ---- */

static void expect_usage(const char *arg, const char *piece)
{
	struct qm_disk_map_entry e = { (char *)"sentinel", (char *)"sentinel" };
	struct qm_error err = { 0 };

	cr_expect_eq(qm_disk_map_parse(arg, &e, &err), -EINVAL, "'%.40s' was taken", arg);
	cr_expect_str_eq(err.error_class, "Usage", "%.40s", arg);
	cr_expect(strstr(err.text, piece), "'%.40s': '%s' lacks '%s'", arg, err.text,
		  piece);
	cr_expect(!e.src && !e.dst, "a refused map must leave the entry empty");
}

Test(disk_map, takes_two_absolute_paths)
{
	struct qm_disk_map_entry e;
	struct qm_error err = { 0 };

	cr_assert_eq(qm_disk_map_parse("/src/a.qcow2=/dst/b.qcow2", &e, &err), 0, "%s",
		     err.text);
	cr_expect_str_eq(e.src, "/src/a.qcow2");
	cr_expect_str_eq(e.dst, "/dst/b.qcow2");
	qm_disk_map_entry_clear(&e);
	cr_expect(!e.src && !e.dst);
}

Test(disk_map, the_first_equals_sign_splits)
{
	struct qm_disk_map_entry e;
	struct qm_error err = { 0 };

	cr_assert_eq(qm_disk_map_parse("/a=/b=c", &e, &err), 0, "%s", err.text);
	cr_expect_str_eq(e.src, "/a");
	cr_expect_str_eq(e.dst, "/b=c");
	qm_disk_map_entry_clear(&e);
}

Test(disk_map, refuses_a_missing_equals_sign)
{
	expect_usage("/src/a.qcow2", "SRC=DST");
	expect_usage("", "SRC=DST");
}

Test(disk_map, refuses_an_empty_side)
{
	expect_usage("=/dst/b", "--disk-map SRC is empty");
	expect_usage("/src/a=", "--disk-map DST is empty");
	expect_usage("=", "SRC is empty");
}

Test(disk_map, refuses_relative_paths)
{
	expect_usage("a.qcow2=/dst/b.qcow2", "SRC 'a.qcow2' is not an absolute path");
	expect_usage("/src/a.qcow2=b.qcow2", "DST 'b.qcow2' is not an absolute path");
	expect_usage("./a=/b", "not an absolute path");
}

Test(disk_map, refuses_the_same_path_on_both_sides)
{
	expect_usage("/img/a.qcow2=/img/a.qcow2", "the same path");
}

Test(disk_map, refuses_control_characters)
{
	expect_usage("/img/a\tb=/img/c", "control characters");
	expect_usage("/img/a=/img/c\n", "control characters");
}

Test(disk_map, takes_a_path_of_the_maximum_length_and_refuses_one_byte_more)
{
	_cleanup_free_ char *ok = td_padded("/", "=/dst", QM_DOMAIN_MAX_PATH + 5);
	_cleanup_free_ char *src_long = td_padded("/", "=/dst", QM_DOMAIN_MAX_PATH + 6);
	_cleanup_free_ char *dst_long = td_padded("/src=/", "", QM_DOMAIN_MAX_PATH + 6);
	_cleanup_free_ char *huge = td_padded("/", "", 3 * QM_DOMAIN_MAX_PATH);
	struct qm_disk_map_entry e;
	struct qm_error err = { 0 };

	cr_assert_eq(qm_disk_map_parse(ok, &e, &err), 0, "%s", err.text);
	cr_expect_eq(strlen(e.src), QM_DOMAIN_MAX_PATH);
	qm_disk_map_entry_clear(&e);
	expect_usage(src_long, "SRC is longer than 4095 bytes");
	expect_usage(dst_long, "DST is longer than 4095 bytes");
	expect_usage(huge, "longer than two paths");
	expect_usage(NULL, "SRC=DST");
}

/* ---- the rewrite itself ---- */

#define HEAD                                                                             \
	"<domain type='qemu'><name>vm1</name><uuid>" UUID "</uuid>"                      \
	"<memory unit='MiB'>64</memory><os><type>hvm</type></os><devices>"
#define TAIL "</devices></domain>"

/* An 11-character VNC password and a SPICE one. */
#define TWO_DISPLAYS                                                                     \
	HEAD "<graphics type='vnc' autoport='yes' passwd='s3cret-vnc1'/>"                \
	     "<graphics type='spice' port='5930' passwd='s3cret-spic'/>" TAIL

Test(domain_rewrite, cuts_an_11_character_vnc_password_to_8_and_not_spice)
{
	_cleanup_domain_ struct qm_domain *d = td_domain(TWO_DISPLAYS);
	struct qm_domain_rewrite o = { .vnc_cut = true };
	struct qm_error err = { 0 };

	cr_assert_eq(strlen(d->graphics[0].passwd), 11);
	cr_expect_eq(qm_domain_rewrite(d, &o, &err), 1, "%s", err.text);
	cr_expect_str_eq(d->graphics[0].passwd, "s3cret-v");
	cr_expect_str_eq(d->graphics[1].passwd, "s3cret-spic");
}

Test(domain_rewrite, leaves_vnc_passwords_whole_without_the_flag)
{
	_cleanup_domain_ struct qm_domain *d = td_domain(TWO_DISPLAYS);
	struct qm_domain_rewrite o = { .graphics_listen = "0.0.0.0" };
	struct qm_error err = { 0 };

	cr_expect_eq(qm_domain_rewrite(d, &o, &err), 0, "%s", err.text);
	cr_expect_str_eq(d->graphics[0].passwd, "s3cret-vnc1");
	cr_expect_str_eq(d->graphics[0].listen, "0.0.0.0");
	cr_expect_str_eq(d->graphics[1].listen, "0.0.0.0");
}

Test(domain_rewrite, counts_every_vnc_password_it_cuts_once)
{
	_cleanup_domain_ struct qm_domain *d = td_domain(
		HEAD "<graphics type='vnc' autoport='yes' passwd='s3cret-12'/>" TAIL);
	struct qm_domain_rewrite o = { .vnc_cut = true };
	struct qm_error err = { 0 };

	cr_expect_eq(qm_domain_rewrite(d, &o, &err), 1, "%s", err.text);
	cr_expect_str_eq(d->graphics[0].passwd, "s3cret-1");
	/* Cut already: a second rewrite has nothing to cut. */
	cr_expect_eq(qm_domain_rewrite(d, &o, &err), 0, "%s", err.text);
}

Test(domain_rewrite, cuts_in_characters_not_bytes)
{
	/* Eight two-byte characters and a ninth: 18 bytes, cut to 16. */
	_cleanup_domain_ struct qm_domain *d =
		td_domain(HEAD "<graphics type='vnc' autoport='yes' "
			       "passwd='"
			       "\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3\xa9\xc3"
			       "\xa9\xc3\xa9x'/>" TAIL);
	struct qm_domain_rewrite o = { .vnc_cut = true };
	struct qm_error err = { 0 };

	cr_expect_eq(qm_domain_rewrite(d, &o, &err), 1, "%s", err.text);
	cr_expect_eq(strlen(d->graphics[0].passwd), 16);
}

Test(domain_rewrite, the_migratable_form_of_the_result_holds_no_password)
{
	_cleanup_domain_ struct qm_domain *d = td_domain(TWO_DISPLAYS);
	struct qm_domain_rewrite o = { .vnc_cut = true, .graphics_listen = "::" };
	_cleanup_free_ char *mig = NULL;
	struct qm_error err = { 0 };

	cr_assert_eq(qm_domain_rewrite(d, &o, &err), 1, "%s", err.text);
	cr_assert_eq(qm_domain_migratable_format(d, &mig, &err), 0, "%s", err.text);
	cr_expect_null(strstr(mig, MARK), "%s", mig);
	cr_expect_null(strstr(mig, " passwd="), "%s", mig);
	cr_expect(strstr(mig, "listen=\"::\""), "%s", mig);
}

Test(domain_rewrite, no_option_changes_nothing)
{
	_cleanup_free_ char *path = td_path("domain/example.xml");
	_cleanup_free_ char *before = NULL, *after = NULL;
	_cleanup_domain_ struct qm_domain *d = NULL;
	struct qm_domain_rewrite o = { 0 };
	struct qm_error err = { 0 };

	cr_assert_eq(qm_domain_parse_file(path, &d, &err), 0, "%s", err.text);
	before = format(d);
	cr_expect_eq(qm_domain_rewrite(d, &o, &err), 0, "%s", err.text);
	after = format(d);
	cr_expect_str_eq(after, before);
}

Test(domain_rewrite, a_listening_tcp_device_gets_port_0_and_qemu_picks_one)
{
	static const struct qm_domain_argv_opts argv_opts = { .qmp_path = QMP };
	_cleanup_domain_ struct qm_domain *d = td_domain(
		HEAD
		"<serial type='tcp'><source mode='bind' host='127.0.0.1' service='4555'/>"
		"<target port='0'/></serial>" TAIL);
	struct qm_domain_rewrite o = { .chr_listen = "192.0.2.1" };
	_cleanup_argv_ char **argv = NULL;
	struct qm_error err = { 0 };
	bool found = false;

	cr_assert_eq(qm_domain_rewrite(d, &o, &err), 0, "%s", err.text);
	cr_expect_str_eq(d->serials[0].host, "192.0.2.1");
	cr_expect_str_eq(d->serials[0].service, "0");
	cr_assert_eq(qm_domain_argv(d, &argv_opts, &argv, &err), 0, "%s", err.text);
	for (char **a = argv; *a; a++)
		found |= strcmp(*a, "socket,id=charserial0,host=192.0.2.1,port=0,"
				    "server=on,wait=off") == 0;
	cr_expect(found, "no -chardev with port=0 and server=on");
}

Test(domain_rewrite, a_failed_rewrite_keeps_the_view_and_the_tree)
{
	_cleanup_domain_ struct qm_domain *d = td_domain(
		HEAD
		"<disk><source file='/img/a'/><target dev='vda'/></disk>"
		"<graphics type='vnc' autoport='yes' passwd='s3cret-long-one'/>" TAIL);
	struct qm_disk_map_entry map[] = { { (char *)"/img/b", (char *)"/dst/b" } };
	struct qm_domain_rewrite o = { .graphics_listen = "0.0.0.0",
				       .vnc_cut = true,
				       .disk_map = map,
				       .n_disk_map = 1 };
	struct qm_error err = { 0 };

	cr_expect_eq(qm_domain_rewrite(d, &o, &err), -EINVAL);
	cr_expect_str_eq(err.error_class, "DomainRewrite");
	cr_expect(strstr(err.text, "'/img/b'"), "%s", err.text);
	cr_expect_null(d->graphics[0].listen);
	cr_expect_str_eq(d->graphics[0].passwd, "s3cret-long-one");
	cr_expect_str_eq(d->disks[0].file, "/img/a");
}

Test(domain_rewrite, refuses_a_map_with_entries_but_no_array_and_too_many_entries)
{
	_cleanup_domain_ struct qm_domain *d = td_domain(
		HEAD "<disk><source file='/img/a'/><target dev='vda'/></disk>" TAIL);
	struct qm_disk_map_entry map[QM_DOMAIN_MAX_DISKS + 1];
	struct qm_domain_rewrite o = { .n_disk_map = 1 };
	struct qm_error err = { 0 };

	cr_expect_eq(qm_domain_rewrite(d, &o, &err), -EINVAL);
	cr_expect(strstr(err.text, "no array"), "%s", err.text);
	for (size_t i = 0; i < ARRAY_SIZE(map); i++)
		map[i] = (struct qm_disk_map_entry){ (char *)"/img/a", (char *)"/img/b" };
	o.disk_map = map;
	o.n_disk_map = ARRAY_SIZE(map);
	qm_error_clear(&err);
	cr_expect_eq(qm_domain_rewrite(d, &o, &err), -EINVAL);
	cr_expect(strstr(err.text, "at most 64"), "%s", err.text);
}

Test(domain_rewrite, a_map_of_one_source_moves_every_disk_on_it)
{
	_cleanup_domain_ struct qm_domain *d = td_domain(
		HEAD
		"<disk device='cdrom'><source file='/iso/seed.iso'/><target dev='hdc'/>"
		"</disk><disk device='cdrom'><source file='/iso/seed.iso'/>"
		"<target dev='hdd'/></disk>" TAIL);
	struct qm_disk_map_entry map[] = { { (char *)"/iso/seed.iso",
					     (char *)"/d/s.iso" } };
	struct qm_domain_rewrite o = { .disk_map = map, .n_disk_map = 1 };
	struct qm_error err = { 0 };

	cr_assert_eq(qm_domain_rewrite(d, &o, &err), 0, "%s", err.text);
	cr_expect_str_eq(d->disks[0].file, "/d/s.iso");
	cr_expect_str_eq(d->disks[1].file, "/d/s.iso");
}
