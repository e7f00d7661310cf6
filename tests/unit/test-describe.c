/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A running QEMU as a description, without QEMU.  tests/data/domain/describe/
 * NAME.argv (a command line, one argument per line) and NAME.facts (QEMU's
 * replies, recorded by the record script there) give the golden NAME.xml
 * (QMIGRATE_REGENERATE_GOLDEN=1 rewrites them); tests/data/domain/
 * describe-refused/NAME.argv, with NAME.facts or default.facts, must be
 * refused as NAME.error says (line 1: the class; line 2: a piece of the
 * text).  The command lines of tests/data/domain/argv/ are described back.
 */
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include <criterion/criterion.h>
#include <jansson.h>

#include "engine/describe.h"
#include "tests/unit/testdata.h"
#include "xml/describe-internal.h"
#include "xml/domain-argv.h"
#include "xml/text.h"

#define QMP "/run/qmigrate-test/qmp.sock"

/* One argument per line, as the golden files hold them. */
static char **read_argv(const char *path)
{
	_cleanup_free_ char *text = NULL;
	size_t len, n = 0;
	char **argv, *line, *save = NULL;

	text = td_read(path, &len);
	cr_assert(text, "%s: %s", path, strerror(errno));
	argv = calloc(len + 2, sizeof(*argv));
	cr_assert(argv);
	for (line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		cr_assert(argv[n++] = strdup(line));
	return argv;
}

static json_t *read_facts(const char *path)
{
	json_error_t jerr;
	json_t *facts = json_load_file(path, 0, &jerr);

	cr_assert(facts, "%s: %s", path, jerr.text);
	return facts;
}

/* Describes @argv with @facts; 0 and *@out, or the error in @err. */
static int describe(char **argv, json_t *facts, struct qm_domain **out,
		    struct qm_error *err)
{
	struct qm_describe_facts f;
	int r;

	r = qm_describe_facts_read(facts, &f, err);
	if (r == 0)
		r = qm_domain_describe(argv, &f, out, err);
	else
		*out = NULL; /* the describer's own promise is checked when it runs */
	qm_describe_facts_release(&f);
	return r;
}

static char *path_with(const char *dir, const char *name, const char *ext)
{
	char *p;
	size_t len = strlen(name) - strlen(".argv");

	cr_assert(asprintf(&p, "%s/%.*s%s", dir, (int)len, name, ext) >= 0);
	return p;
}

static void run_golden(const char *dir, const char *name)
{
	_cleanup_free_ char *argv_path = path_with(dir, name, ".argv");
	_cleanup_free_ char *facts_path = path_with(dir, name, ".facts");
	_cleanup_free_ char *rel = path_with("domain/describe", name, ".xml");
	_cleanup_free_ char *xml = NULL;
	_cleanup_domain_ struct qm_domain *d = NULL;
	_cleanup_argv_ char **argv = read_argv(argv_path);
	json_t *facts = read_facts(facts_path);
	struct qm_error err = { 0 };
	_cleanup_argv_ char **built = NULL;
	struct qm_domain_argv_opts opts = { .qmp_path = QMP, .incoming = true };

	cr_assert_eq(describe(argv, facts, &d, &err), 0, "%s: %s: %s", name,
		     err.error_class, err.text);
	cr_assert_eq(qm_domain_format(d, &xml, &err), 0, "%s: %s", name, err.text);
	td_golden(rel, xml);
	/* What is described can be launched: the builder takes all of it. */
	cr_expect_eq(qm_domain_argv(d, &opts, &built, &err), 0, "%s: %s: %s", name,
		     err.error_class, err.text);
	json_decref(facts);
}

Test(describe, builds_every_golden_description)
{
	td_each("domain/describe", ".argv", 6, run_golden);
}

static void run_refused(const char *dir, const char *name)
{
	_cleanup_free_ char *argv_path = path_with(dir, name, ".argv");
	_cleanup_free_ char *facts_path = path_with(dir, name, ".facts");
	_cleanup_free_ char *error_path = path_with(dir, name, ".error");
	_cleanup_free_ char *default_facts = NULL, *expected = NULL;
	_cleanup_argv_ char **argv = read_argv(argv_path);
	struct qm_domain *d =
		(struct qm_domain *)&argv; /* a sentinel: must come back NULL */
	char cls[64], text[256];
	struct qm_error err = { 0 };
	json_t *facts;
	size_t len;
	int r;

	cr_assert(asprintf(&default_facts, "%s/default.facts", dir) >= 0);
	facts = read_facts(access(facts_path, R_OK) == 0 ? facts_path : default_facts);
	expected = td_read(error_path, &len);
	cr_assert(expected, "%s: %s", error_path, strerror(errno));
	cr_assert(sscanf(expected, "%63[^\n]\n%255[^\n]", cls, text) == 2,
		  "%s: want the class on line 1 and a piece of the text on line 2",
		  error_path);
	r = describe(argv, facts, &d, &err);
	cr_expect_lt(r, 0, "%s: described, but should fail with %s", name, cls);
	cr_expect_null(d, "%s: a refusal must leave *out NULL", name);
	cr_expect_eq(r, err.code, "%s: returned %d, error says %d", name, r, err.code);
	cr_expect_str_eq(err.error_class, cls, "%s: class %s (%s), expected %s", name,
			 err.error_class, err.text, cls);
	cr_expect(strstr(err.text, text), "%s: error '%s' lacks '%s'", name, err.text,
		  text);
	cr_expect_null(strstr(err.text, "s3cret"), "%s: the error shows a secret", name);
	json_decref(facts);
}

Test(describe, refuses_what_it_must_not_guess)
{
	td_each("domain/describe-refused", ".argv", 20, run_refused);
}

/* ---- describe(launch(d)) ------------------------------------------------------ */

/*
 * The goldens of tests/data/domain/argv/ that cannot come back, and why; a
 * golden missing here must come back.
 */
static const struct {
	const char *name, *why;
} not_back[] = {
	{ "chardevs.xml", "-chardev socket,id=charconsole1: a device uses it" },
	{ "example-root-bus.xml", "-netdev tap names a host resource" },
	{ "graphics.xml", "-vnc: the display has a password" },
	{ "nics.xml", "-netdev tap names a host resource" },
};

static const char *option_value(char **argv, const char *opt)
{
	for (size_t i = 0; argv[i]; i++)
		if (strcmp(argv[i], opt) == 0 && argv[i + 1])
			return argv[i + 1];
	return NULL;
}

/* QEMU's facts about a QEMU started with @argv, the command line of @d. */
static json_t *facts_of(const struct qm_domain *d, char **argv)
{
	const char *machine = d->machine ? d->machine : "pc-i440fx-7.2";
	json_t *f = json_object(), *cpus = json_array(), *chardevs = json_array();
	json_t *peripheral = json_array(), *anon = json_array(), *block = json_array();
	json_t *vnc = json_pack("{s:b}", "enabled", false);
	json_t *spice = json_pack("{s:b}", "enabled", false);
	char type[64];

	for (unsigned i = 0; i < d->vcpus_current; i++)
		json_array_append_new(cpus, json_object());
	for (size_t i = 1; argv[i]; i++) {
		struct qm_kvlist kv;
		const char *id;

		if (strcmp(argv[i - 1], "-chardev") && strcmp(argv[i - 1], "-device") &&
		    strcmp(argv[i - 1], "-blockdev"))
			continue;
		cr_assert_eq(qm_kv_parse(argv[i], "x", &kv), 0);
		id = qm_kv_get(&kv, "id");
		if (!strcmp(argv[i - 1], "-chardev"))
			json_array_append_new(chardevs, json_pack("{s:s}", "label", id));
		else if (!strcmp(argv[i - 1], "-device") && id)
			json_array_append_new(
				peripheral,
				json_pack("{s:s, s:s}", "name", id, "type", "child<x>"));
		else if (!strcmp(argv[i - 1], "-device"))
			json_array_append_new(anon,
					      json_pack("{s:s, s:s}", "name", "device[0]",
							"type", "child<x>"));
		else if (qm_kv_get(&kv, "filename"))
			json_array_append_new(block,
					      json_pack("{s:s, s:{s:s}}", "device", "",
							"inserted", "file",
							qm_kv_get(&kv, "filename")));
		qm_kv_free(&kv);
	}
	for (size_t i = 0; i < d->n_graphics; i++) {
		const struct qm_domain_graphics *g = &d->graphics[i];
		const char *listen = g->listen ? g->listen : "127.0.0.1";

		if (g->type == QM_DOMAIN_GRAPHICS_VNC) {
			json_decref(vnc);
			vnc = json_pack("{s:b, s:s, s:s, s:s}", "enabled", true, "host",
					listen, "service", "5900", "auth",
					g->passwd ? "vnc" : "none");
		} else {
			json_decref(spice);
			spice = json_pack("{s:b, s:s, s:i, s:s}", "enabled", true, "host",
					  listen, "port", g->port, "auth",
					  g->passwd ? "spice" : "none");
		}
	}
	snprintf(type, sizeof(type), "%s-machine", machine);
	json_object_set_new(f, "pid", json_integer(4242));
	json_object_set_new(
		f, "emulator",
		json_string(d->emulator ? d->emulator : "/usr/bin/qemu-system-x86_64"));
	json_object_set_new(f, "query-name", json_pack("{s:s}", "name", d->name));
	json_object_set_new(f, "query-uuid", json_pack("{s:s}", "UUID", d->uuid));
	json_object_set_new(f, "query-target", json_pack("{s:s}", "arch", "x86_64"));
	json_object_set_new(f, "query-kvm",
			    json_pack("{s:b, s:b}", "enabled",
				      d->accel == QM_DOMAIN_ACCEL_KVM, "present", true));
	json_object_set_new(f, "query-cpus-fast", cpus);
	json_object_set_new(f, "query-memory-size-summary",
			    json_pack("{s:I, s:I}", "base-memory",
				      (json_int_t)d->memory_kib * 1024, "plugged-memory",
				      (json_int_t)0));
	json_object_set_new(f, "query-block", block);
	json_object_set_new(f, "query-vnc", vnc);
	json_object_set_new(f, "query-spice", spice);
	json_object_set_new(f, "query-chardev", chardevs);
	json_object_set_new(f, "query-machines", json_pack("[{s:s}]", "name", machine));
	json_object_set_new(f, "machine-type", json_string(type));
	json_object_set_new(f, "machine-acpi",
			    json_string(strstr(option_value(argv, "-machine"), "acpi=off")
						? "off"
						: "auto"));
	json_object_set_new(f, "peripheral", peripheral);
	json_object_set_new(f, "peripheral-anon", anon);
	return f;
}

/* A command line as (option, value) pairs, by the describer's own table. */
struct pair {
	const char *opt, *value;
};

static size_t pairs(char **argv, struct pair *out)
{
	size_t n = 0;

	for (size_t i = 1; argv[i]; i++) {
		const struct qm_dopt *o = qm_dopt_find(argv[i] + 1);

		cr_assert(o, "unknown option %s", argv[i]);
		out[n].opt = argv[i];
		out[n++].value = o->arg ? argv[++i] : "";
	}
	return n;
}

static bool same(const struct pair *a, const struct pair *b)
{
	return !strcmp(a->opt, b->opt) && !strcmp(a->value, b->value);
}

/* Devices keep their order, which decides PCI slots; ISA serial ports have fixed ones. */
static bool ordered(const struct pair *p)
{
	return !strcmp(p->opt, "-device") && strncmp(p->value, "isa-serial,", 11) != 0;
}

static void expect_same_machine(const char *name, char **was, char **now,
				const char *machine)
{
	struct pair a[512], b[512];
	size_t na = pairs(was, a), nb = pairs(now, b), ia = 0, ib = 0;
	char fixed[256];

	/* A description without a machine type gets the one QEMU runs. */
	for (size_t i = 0; machine && i < na; i++) {
		if (strcmp(a[i].opt, "-machine") == 0) {
			snprintf(fixed, sizeof(fixed), "%s,%s", machine, a[i].value);
			a[i].value = fixed;
		}
	}
	cr_expect_eq(na, nb, "%s: %zu options became %zu", name, na, nb);
	for (size_t i = 0; i < na; i++) {
		bool found = false;

		for (size_t j = 0; j < nb && !found; j++)
			found = same(&a[i], &b[j]);
		cr_expect(found, "%s: %s %s is gone", name, a[i].opt, a[i].value);
	}
	while (ia < na && ib < nb) {
		if (!ordered(&a[ia])) {
			ia++;
		} else if (!ordered(&b[ib])) {
			ib++;
		} else {
			cr_expect(same(&a[ia], &b[ib]), "%s: device %s where %s was",
				  name, b[ib].value, a[ia].value);
			ia++, ib++;
		}
	}
}

static void run_back(const char *dir, const char *name)
{
	_cleanup_free_ char *path = NULL, *xml_again = NULL, *xml = NULL;
	_cleanup_domain_ struct qm_domain *d = NULL, *back = NULL, *again = NULL;
	_cleanup_argv_ char **argv = NULL, **argv_back = NULL;
	const struct qm_domain_argv_opts opts = { .qmp_path = QMP };
	const char *why = NULL;
	struct qm_error err = { 0 };
	json_t *facts;
	int r;

	for (size_t i = 0; i < ARRAY_SIZE(not_back); i++)
		if (strcmp(not_back[i].name, name) == 0)
			why = not_back[i].why;
	cr_assert(asprintf(&path, "%s/%s", dir, name) >= 0);
	cr_assert_eq(qm_domain_parse_file(path, &d, &err), 0, "%s: %s", name, err.text);
	cr_assert_eq(qm_domain_argv(d, &opts, &argv, &err), 0, "%s: %s", name, err.text);
	facts = facts_of(d, argv);
	r = describe(argv, facts, &back, &err);
	json_decref(facts);
	if (why) {
		cr_expect_lt(r, 0, "%s: described, but should be refused: %s", name, why);
		cr_expect(strstr(err.text, why), "%s: '%s' lacks '%s'", name, err.text,
			  why);
		return;
	}
	cr_assert_eq(r, 0, "%s: %s: %s", name, err.error_class, err.text);
	cr_assert_eq(qm_domain_argv(back, &opts, &argv_back, &err), 0, "%s: %s", name,
		     err.text);
	expect_same_machine(name, argv, argv_back, d->machine ? NULL : back->machine);
	/* And once more: a description of a described QEMU is the same description. */
	facts = facts_of(back, argv_back);
	cr_assert_eq(describe(argv_back, facts, &again, &err), 0, "%s: %s", name,
		     err.text);
	json_decref(facts);
	cr_assert_eq(qm_domain_format(back, &xml, &err), 0);
	cr_assert_eq(qm_domain_format(again, &xml_again, &err), 0);
	cr_expect_str_eq(xml_again, xml, "%s: described twice, it changed", name);
}

Test(describe, describes_every_launched_golden_back_to_the_same_machine)
{
	td_each("domain/argv", ".xml", 10, run_back);
}

/* ---- the documentation lists the table ----------------------------------------- */

Test(describe, docs_describe_md_lists_every_option_of_the_table)
{
	_cleanup_free_ char *path = td_path("../../docs/describe.md"), *doc = NULL;
	size_t len;

	doc = td_read(path, &len);
	cr_assert(doc, "%s: %s", path, strerror(errno));
	for (size_t i = 0; i < qm_n_dopts; i++) {
		char needle[64];

		snprintf(needle, sizeof(needle), "| `-%s` |", qm_dopts[i].name);
		cr_expect(strstr(doc, needle), "docs/describe.md has no row for -%s",
			  qm_dopts[i].name);
	}
}

/* ---- QEMU's option strings -------------------------------------------------------- */

static char *joined_kv(const char *s, const char *implied)
{
	struct qm_kvlist kv;
	char *out = NULL;
	size_t size;
	FILE *f = open_memstream(&out, &size);

	cr_assert(f);
	cr_assert_eq(qm_kv_parse(s, implied, &kv), 0, "%s", s);
	for (size_t i = 0; i < kv.n; i++)
		fprintf(f, "[%s|%s]", kv.v[i].key, kv.v[i].value);
	fclose(f);
	qm_kv_free(&kv);
	return out;
}

Test(describe, reads_option_strings_as_qemu_does)
{
	static const struct {
		const char *in, *implied, *out;
	} cases[] = {
		{ "pc,accel=kvm", "type", "[type|pc][accel|kvm]" },
		{ "file=/a,,b,if=ide", NULL, "[file|/a,b][if|ide]" },
		{ "/a,,b,server,nowait", "path", "[path|/a,b][server|on][wait|off]" },
		{ "accel=kvm", "type", "[accel|kvm]" },
		{ "x=,y=1", NULL, "[x|][y|1]" },
		{ "a=1,a=2", NULL, "[a|1][a|2]" },
		{ "", "type", "" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		_cleanup_free_ char *got = joined_kv(cases[i].in, cases[i].implied);

		cr_expect_str_eq(got ? got : "", cases[i].out, "%s", cases[i].in);
	}
}

Test(describe, the_last_of_a_repeated_key_wins_and_a_join_escapes_commas)
{
	struct qm_kvlist kv;
	_cleanup_free_ char *joined = NULL;

	cr_assert_eq(qm_kv_parse("pty,id=a,,b,logfile=/x,a=1,a=2", "backend", &kv), 0);
	cr_expect_str_eq(qm_kv_get(&kv, "a"), "2");
	joined = qm_kv_join(&kv, (const char *const[]){ "logfile", NULL }, "backend");
	cr_expect_str_eq(joined, "pty,id=a,,b,a=1,a=2");
	qm_kv_free(&kv);
	cr_expect_eq(qm_kv_parse("=x", NULL, &kv), -EINVAL);
}

/* ---- every option of the simple classes does what its class says --------------------
 */

static json_t *default_facts(void)
{
	_cleanup_free_ char *path = td_path("domain/describe-refused/default.facts");

	return read_facts(path);
}

Test(describe, every_refused_option_is_refused_naming_it_and_what_it_names)
{
	json_t *facts = default_facts();

	for (size_t i = 0; i < qm_n_dopts; i++) {
		const struct qm_dopt *o = &qm_dopts[i];
		char opt[64], want[128];
		char *argv[] = { "qemu-system-x86_64", "-nodefaults", opt, "x", NULL };
		struct qm_domain *d = NULL;
		struct qm_error err = { 0 };

		if (o->cls != QM_DOPT_REFUSED)
			continue;
		snprintf(opt, sizeof(opt), "-%s", o->name);
		if (!o->arg)
			argv[3] = NULL;
		snprintf(want, sizeof(want), "-%s names a host resource (%s)", o->name,
			 o->why);
		cr_expect_lt(describe(argv, facts, &d, &err), 0, "%s was described", opt);
		cr_expect_str_eq(err.error_class, "DescribeRefused", "%s", opt);
		cr_expect(strstr(err.text, want), "%s: '%s' lacks '%s'", opt, err.text,
			  want);
		qm_domain_free(d);
	}
	json_decref(facts);
}

Test(describe, every_kept_option_stays_verbatim_and_every_dropped_one_goes)
{
	json_t *facts = default_facts();

	for (size_t i = 0; i < qm_n_dopts; i++) {
		const struct qm_dopt *o = &qm_dopts[i];
		char opt[64];
		char *argv[] = { "qemu-system-x86_64", "-nodefaults", opt, "on", NULL };
		_cleanup_domain_ struct qm_domain *d = NULL;
		struct qm_error err = { 0 };
		bool kept;

		if ((o->cls != QM_DOPT_KEPT && o->cls != QM_DOPT_DROPPED) || o->fn)
			continue;
		snprintf(opt, sizeof(opt), "-%s", o->name);
		if (!o->arg)
			argv[3] = NULL;
		cr_assert_eq(describe(argv, facts, &d, &err), 0, "%s: %s", opt, err.text);
		kept = d->n_qemu_args >= 1 && strcmp(d->qemu_args[0], opt) == 0 &&
		       (!o->arg ||
			(d->n_qemu_args == 2 && !strcmp(d->qemu_args[1], "on")));
		cr_expect_eq(kept, o->cls == QM_DOPT_KEPT, "%s: %s", opt,
			     o->cls == QM_DOPT_KEPT ? "not kept" : "not dropped");
		cr_expect(o->cls == QM_DOPT_KEPT || d->n_qemu_args == 0,
			  "%s: not dropped", opt);
	}
	json_decref(facts);
}

Test(describe, a_double_dash_option_is_the_single_dash_one)
{
	json_t *facts = default_facts();
	char *argv[] = { "qemu-system-x86_64", "--nodefaults", "--no-reboot", NULL };
	_cleanup_domain_ struct qm_domain *d = NULL;
	struct qm_error err = { 0 };

	cr_assert_eq(describe(argv, facts, &d, &err), 0, "%s", err.text);
	cr_assert_eq(d->n_qemu_args, 1);
	cr_expect_str_eq(d->qemu_args[0], "-no-reboot");
	json_decref(facts);
}

/* What the describer lets into its XML: only what is read back the same. */
Test(xml_text, carries_utf8_of_xml_characters_only)
{
	static const char *const ok[] = {
		"", "plain", "tab\tnew\nline\rreturn", "\xc3\xb9", "\xe2\x82\xac", "\xef\xbf\xbd",
		"\xf0\x9f\x98\x80", "\x7f",
	};
	static const char *const bad[] = {
		"\x01", "a\x1b[0m", "\xf9",	 "x\xc3", "\xe2\x82", "\xc0\xaf", /* overlong '/' */
		"\xe0\x80\xaf",	    "\xed\xa0\x80", /* a surrogate */
		"\xef\xbf\xbe",	    "\xef\xbf\xbf", "\xf4\x90\x80\x80",		    /* past U+10FFFF */
		"\xf8\x88\x80\x80\x80", "\x80",
	};

	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
		cr_expect(qm_text_xml_ok(ok[i]), "refused ok[%zu]", i);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		cr_expect_not(qm_text_xml_ok(bad[i]), "accepted bad[%zu]", i);
}
