/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Graphics clients follow the VM (docs/graphics.md): prepare's cookie takes
 * the destination's display from query-spice and query-vnc, perform sends
 * client_migrate_info with it, and confirm lets connected SPICE clients move
 * before it quits the source, for a bounded time.  The waits are made
 * certain by the scripts, not by timing: a wait that must end on the event
 * has an endless bound (the suite's timeout fails it), and a wait that must
 * time out leaves a warning.
 */
#include <criterion/criterion.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "engine/job.h"
#include "tests/helpers/engine-harness.h"
#include "xml/cookie.h"

TestSuite(engine_graphics, .timeout = 20);

/* A bound no test reaches: a wait that should end on the event never ends otherwise. */
#define ENDLESS 1e6

/* query-spice as QEMU 7.2 answers it, with @rest (host, ports, channels, migrated). */
#define SPICE(rest)                                                                        \
	"{\"enabled\": true, \"auth\": \"none\", \"compiled-version\": \"0.15.1\","         \
	" \"mouse-mode\": \"server\", " rest "}"
/* A SPICE display on every address, with a TLS port too. */
#define SPICE_WILDCARD_TLS                                                                 \
	SPICE("\"host\": \"0.0.0.0\", \"port\": 5930, \"tls-port\": 5931, \"channels\": [],"  \
	      " \"migrated\": false")
/* One client's main channel, connected to the source. */
#define ONE_CHANNEL                                                                        \
	"[{\"port\": \"53894\", \"family\": \"ipv4\", \"channel-type\": 1,"                 \
	" \"connection-id\": 1, \"host\": \"127.0.0.1\", \"channel-id\": 0, \"tls\": false}]"

/* Prepare on a destination whose displays answer @spice and @vnc (slots 12, 13). */
#define DST_WITH_DISPLAY(spice, vnc)                                                       \
	DST_QUERIES, DST_ANSWERS(STATUS("inmigrate"), "{}", NIL_UUID),                      \
		FQ_REPLY_FILE(5, "query-target.json"), FQ_REPLY_FILE(6, "query-kvm.json"), \
		FQ_REPLY_FILE(7, "qom-get-machine-type.json"),                            \
		FQ_REPLY_FILE(8, "query-machines.json"), spice, vnc, DST_INCOMING,        \
		DST_RESUMES, FQ_END

/* Perform on the source with client_migrate_info(@want), answered @reply, then migrate. */
#define SRC_RELOCATES(want, reply)                                                         \
	SRC_BEGIN, FQ_EXPECT("migrate-set-capabilities", 0),                               \
		{ .op = FQ_OP_EXPECT,                                                      \
		  .name = "migrate-set-parameters",                                        \
		  .slot = 1,                                                               \
		  .args = "{\"max-bandwidth\": 9223372036853727232}" },                     \
		{ .op = FQ_OP_EXPECT, .name = "client_migrate_info", .slot = 2, .args = (want) }, \
		R(0, "{}"), R(1, "{}"), FQ_REPLY_TEXT(2, reply), FQ_EXPECT("migrate", 3),  \
		R(3, "{}")
/* tests/data/x509/dir/server-cert.pem: openssl req -x509 -subj /C=XX/L=city/O=org/CN=name */
#define SUBJECT "C=XX,L=city,O=org,CN=name"
#define TO_LOCALHOST_5930                                                                  \
	"{\"protocol\": \"spice\", \"hostname\": \"127.0.0.1\", \"port\": 5930,"            \
	" \"tls-port\": 5931, \"cert-subject\": \"" SUBJECT "\"}"
/* The same without a certificate subject. */
#define TO_LOCALHOST_5930_BARE                                                             \
	"{\"protocol\": \"spice\", \"hostname\": \"127.0.0.1\", \"port\": 5930,"            \
	" \"tls-port\": 5931}"
/* run.spice_x509_dir for a destination whose certificate is found on its command line. */
#define FROM_CMDLINE ""
#define ACCEPTED "{\"return\": {}}"
/* The migration completes; QEMU says so (slot 4). */
#define COMPLETES                                                                          \
	EVENT("MIGRATION", "{\"status\": \"completed\"}"), FQ_EXPECT("query-migrate", 4),  \
		R(4, COMPLETED)
#define SPICE_DONE                                                                         \
	FQ_SEND_TEXT("{\"timestamp\": {\"seconds\": 1, \"microseconds\": 3},"              \
		     " \"event\": \"SPICE_MIGRATE_COMPLETED\"}")

/* After the migration completed, confirm asks the source query-spice: @channels, not moved. */
#define CONFIRM_ASKS(channels)                                                             \
	SRC_RELOCATES(TO_LOCALHOST_5930, ACCEPTED), COMPLETES, FQ_EXPECT("query-spice", 5),  \
		R(5, SPICE("\"host\": \"127.0.0.1\", \"port\": 5931, \"channels\": " channels \
			   ", \"migrated\": false"))

/* Prepare's cookie, as perform is about to read it. */
static struct qm_cookie prepared;

static void keep_prepare_cookie(struct run *run, struct qm_job *job, enum qm_phase phase)
{
	struct qm_error err = { 0 };

	if (phase != QM_PHASE_PERFORM)
		return;
	cr_assert(job->cookie);
	cr_assert_eq(qm_cookie_parse(job->cookie, strlen(job->cookie), NULL, &prepared, &err),
		     0, "%s", err.text);
}

/* Migrates from @src into @dst: it completes. */
static void migrates(struct run *run, const struct fq_step *src, const struct fq_step *dst)
{
	migrate_with(run, src, dst, false);
	cr_assert_eq(run->result.status, QM_JOB_COMPLETED, "%s", run->result.error.text);
	cr_assert_eq(run->result.vm, QM_VM_DESTINATION);
}

/* tests/data/x509/@name, in a new string. */
static char *x509_data(const char *name)
{
	const char *top = getenv("top_srcdir");
	char *path;

	cr_assert_geq(asprintf(&path, "%s/tests/data/x509/%s", top ? top : ABS_TOP_SRCDIR, name),
		      0);
	return path;
}

/*
 * Migrates from @src into a destination with SPICE on every address and a
 * TLS port, whose certificate is tests/data/x509/dir's unless
 * run->spice_x509_dir says another directory, or FROM_CMDLINE.
 */
static void into_spice_wildcard(struct run *run, const struct fq_step *src)
{
	static const struct fq_step dst[] = {
		DST_WITH_DISPLAY(R(12, SPICE_WILDCARD_TLS), FQ_REPLY_FILE(13, "query-vnc-off.json")),
	};
	_cleanup_free_ char *dir = x509_data("dir");

	if (!run->spice_x509_dir)
		run->spice_x509_dir = dir;
	else if (!run->spice_x509_dir[0])
		run->spice_x509_dir = NULL;
	migrates(run, src, dst);
	run->spice_x509_dir = NULL;
}

/* ---- prepare and perform ------------------------------------------------------------ */

Test(engine_graphics, prepare_gives_the_spice_display_and_perform_sends_clients_there)
{
	static const struct fq_step src[] = {
		SRC_RELOCATES(TO_LOCALHOST_5930, ACCEPTED),
		/* QEMU 7.2 with no client connected: the event comes at switch-over. */
		SPICE_DONE,
		COMPLETES,
		QUIT_AND_GO(5),
		FQ_END,
	};
	struct run run = { .on_phase = keep_prepare_cookie, .spice_timeout = ENDLESS };

	into_spice_wildcard(&run, src);
	cr_assert(prepared.features & QM_COOKIE_GRAPHICS);
	cr_assert_str_eq(prepared.graphics.type, "spice");
	/* 0.0.0.0 is no address to connect to: the one the source reached is. */
	cr_assert_str_eq(prepared.graphics.listen, "127.0.0.1");
	cr_assert_eq(prepared.graphics.port, 5930);
	cr_assert_eq(prepared.graphics.tls_port, 5931);
	/* QMP does not tell it: read from the certificate in the destination's x509 dir. */
	cr_assert_str_eq(prepared.graphics.tls_subject, SUBJECT);
	cr_assert_str_empty(run.warnings);
}

/* Into a destination whose certificate subject cannot be had: client_migrate_info goes without. */
static void without_subject(struct run *run)
{
	static const struct fq_step src[] = {
		SRC_RELOCATES(TO_LOCALHOST_5930_BARE, ACCEPTED), SPICE_DONE, COMPLETES,
		QUIT_AND_GO(5), FQ_END,
	};

	run->on_phase = keep_prepare_cookie;
	run->spice_timeout = ENDLESS;
	into_spice_wildcard(run, src);
	cr_assert_str_empty(prepared.graphics.tls_subject);
	cr_assert(strstr(run->warnings, "SPICE clients get no certificate subject"), "%s",
		  run->warnings);
}

Test(engine_graphics, a_certificate_that_cannot_be_read_gives_no_subject_and_a_warning)
{
	_cleanup_free_ char *dir = x509_data("hostile"); /* no server-cert.pem there */
	struct run run = { .spice_x509_dir = dir };

	without_subject(&run);
	cr_assert(strstr(run.warnings, "server-cert.pem"), "%s", run.warnings);
}

Test(engine_graphics, without_a_tls_port_on_the_qemu_command_line_there_is_no_subject)
{
	/* The QEMU at the other end is this test: no -spice on its command line. */
	struct run run = { .spice_x509_dir = FROM_CMDLINE };

	without_subject(&run);
	cr_assert(strstr(run.warnings, "no -spice with tls-port"), "%s", run.warnings);
}

Test(engine_graphics, the_certificate_file_is_found_on_the_command_line_as_qemu_finds_it)
{
	static const struct {
		const char *spice[2];
		int r;
		const char *path;
	} cases[] = {
		{ { "port=5900,tls-port=5901,x509-dir=/etc/pki/spice" }, 1,
		  "/etc/pki/spice/server-cert.pem" },
		/* x509-cert-file wins over x509-dir, wherever it is. */
		{ { "x509-cert-file=/c.pem,tls-port=5901,x509-dir=/d" }, 1, "/c.pem" },
		/* ",," is a comma in a value. */
		{ { "tls-port=5901,x509-dir=/a,,b,addr=::" }, 1, "/a,b/server-cert.pem" },
		/* QEMU's own default: its working directory. */
		{ { "tls-port=5901" }, 1, "./server-cert.pem" },
		/* The options merge; the later wins. */
		{ { "tls-port=5901,x509-dir=/old", "x509-dir=/new" }, 1, "/new/server-cert.pem" },
		/* No TLS port: no certificate. */
		{ { "port=5900,x509-dir=/d" }, 0, NULL },
		/* A key that only ends like one is another key. */
		{ { "tls-port=5901,my-x509-dir=/x" }, 1, "./server-cert.pem" },
	};

	for (size_t i = 0; i < ARRAY_SIZE(cases); i++) {
		char *argv[8] = { "qemu-system-x86_64", "-m", "64" };
		char out[256] = "";
		size_t n = 3;

		for (size_t j = 0; j < 2 && cases[i].spice[j]; j++) {
			argv[n++] = "-spice";
			argv[n++] = (char *)cases[i].spice[j];
		}
		cr_expect_eq(qm_spice_cert_path(argv, out, sizeof(out)), cases[i].r, "case %zu", i);
		if (cases[i].path)
			cr_expect_str_eq(out, cases[i].path, "case %zu", i);
	}
}

Test(engine_graphics, a_recorded_wildcard_spice_display_is_relocated_to_its_port)
{
	static const struct fq_step src[] = {
		SRC_RELOCATES("{\"protocol\": \"spice\", \"hostname\": \"127.0.0.1\","
			      " \"port\": 36583}",
			      ACCEPTED),
		SPICE_DONE,
		COMPLETES,
		QUIT_AND_GO(5),
		FQ_END,
	};
	static const struct fq_step dst[] = {
		DST_WITH_DISPLAY(FQ_REPLY_FILE(12, "query-spice-wildcard.json"),
				 FQ_REPLY_FILE(13, "query-vnc-wildcard.json")),
	};
	struct run run = { .on_phase = keep_prepare_cookie, .spice_timeout = ENDLESS };

	migrates(&run, src, dst);
	/* SPICE wins over VNC: only its clients can be sent elsewhere. */
	cr_assert_str_eq(prepared.graphics.type, "spice");
	cr_assert_eq(prepared.graphics.tls_port, -1);
}

/* Into @dst, whose display the cookie has no section for: no client_migrate_info either. */
static void without_graphics(const struct fq_step *dst)
{
	static const struct fq_step src[] = { SRC_BEGIN, SRC_MIGRATE, SRC_COMPLETES, FQ_END };
	struct run run = { .on_phase = keep_prepare_cookie };

	migrates(&run, src, dst);
	cr_assert_not(prepared.features & QM_COOKIE_GRAPHICS, "a graphics section: %s",
		      prepared.graphics.type);
}

Test(engine_graphics, without_a_display_the_cookie_has_no_graphics_and_nothing_is_relocated)
{
	static const struct fq_step dst[] = { DST_PREPARE, DST_RESUMES, FQ_END };

	without_graphics(dst);
}

Test(engine_graphics, a_qemu_without_the_display_queries_is_no_error)
{
	static const struct fq_step dst[] = {
		DST_WITH_DISPLAY(FQ_REPLY_TEXT(12, "{\"error\": {\"class\": \"CommandNotFound\","
						   " \"desc\": \"The command query-spice has not"
						   " been found\"}}"),
				 FQ_REPLY_TEXT(13, "{\"error\": {\"class\": \"CommandNotFound\","
						   " \"desc\": \"The command query-vnc has not"
						   " been found\"}}")),
	};

	without_graphics(dst);
}

Test(engine_graphics, a_vnc_display_alone_is_in_the_cookie_but_no_client_is_relocated)
{
	static const struct fq_step src[] = { SRC_BEGIN, SRC_MIGRATE, SRC_COMPLETES, FQ_END };
	static const struct fq_step dst[] = {
		DST_WITH_DISPLAY(FQ_REPLY_FILE(12, "query-spice-off.json"),
				 FQ_REPLY_FILE(13, "query-vnc-wildcard.json")),
	};
	struct run run = { .on_phase = keep_prepare_cookie };

	migrates(&run, src, dst);
	cr_assert_str_eq(prepared.graphics.type, "vnc");
	cr_assert_str_eq(prepared.graphics.listen, "127.0.0.1");
	cr_assert_eq(prepared.graphics.port, 5900);
}

Test(engine_graphics, a_refused_client_migrate_info_does_not_stop_the_migration)
{
	static const struct fq_step src[] = {
		SRC_RELOCATES(TO_LOCALHOST_5930,
			      "{\"error\": {\"class\": \"GenericError\","
			      " \"desc\": \"SPICE is not in use\"}}"),
		COMPLETES,
		/* Nothing to wait for in confirm: no query-spice. */
		QUIT_AND_GO(5),
		FQ_END,
	};
	struct run run = { .spice_timeout = ENDLESS };

	into_spice_wildcard(&run, src);
	cr_assert(strstr(run.warnings, "refused client_migrate_info"), "%s", run.warnings);
}

/* ---- confirm ------------------------------------------------------------------------- */

/* Confirm is waiting for the clients. */
static bool spice_waiting(struct qm_job *job)
{
	return ev_is_active(&job->spice_timer);
}

Test(engine_graphics, confirm_waits_for_connected_clients_and_quits_once_they_moved)
{
	static const struct fq_step src[] = {
		CONFIRM_ASKS(ONE_CHANNEL),
		/* A quit now, before the event, fails the test as unexpected. */
		FQ_WAIT,
		SPICE_DONE,
		QUIT_AND_GO(6),
		FQ_END,
	};
	struct run run = { .spice_timeout = ENDLESS, .resume_src_when = spice_waiting };

	into_spice_wildcard(&run, src);
	cr_assert_str_empty(run.warnings);
}

Test(engine_graphics, confirm_quits_the_source_with_a_warning_when_clients_do_not_move_in_time)
{
	static const struct fq_step src[] = {
		CONFIRM_ASKS(ONE_CHANNEL),
		QUIT_AND_GO(6),
		FQ_END,
	};
	struct run run = { .spice_timeout = 0.01 };

	into_spice_wildcard(&run, src);
	cr_assert(strstr(run.warnings, "SPICE clients did not reach the destination within"),
		  "%s", run.warnings);
}

Test(engine_graphics, confirm_does_not_wait_when_no_client_is_connected)
{
	static const struct fq_step src[] = {
		/* A SPICE server that sends the event only once clients moved. */
		CONFIRM_ASKS("[]"),
		QUIT_AND_GO(6),
		FQ_END,
	};
	struct run run = { .spice_timeout = ENDLESS };

	into_spice_wildcard(&run, src);
	cr_assert_str_empty(run.warnings);
}

/* ---- the destination's display, read from QMP ------------------------------------------ */

static struct qm_cookie_graphics from(const char *spice, const char *vnc)
{
	struct qm_cookie_graphics g;
	json_t *s = spice ? json_loads(spice, 0, NULL) : NULL;
	json_t *v = vnc ? json_loads(vnc, 0, NULL) : NULL;

	cr_assert(!spice || s, "%s", spice);
	cr_assert(!vnc || v, "%s", vnc);
	qm_graphics_from_qemu(s, v, "hostb.example", &g);
	json_decref(s);
	json_decref(v);
	return g;
}

Test(engine_graphics, every_wildcard_becomes_the_address_the_source_reached)
{
	static const char *const wild[] = { "0.0.0.0", "::", "[::]", "*", "", "0:0::0" };
	char spice[256];

	for (size_t i = 0; i < ARRAY_SIZE(wild); i++) {
		snprintf(spice, sizeof(spice), SPICE("\"host\": \"%s\", \"port\": 5930"), wild[i]);
		cr_assert_str_eq(from(spice, NULL).listen, "hostb.example", "%s", wild[i]);
	}
	cr_assert_str_eq(from(SPICE("\"host\": \"192.0.2.7\", \"port\": 5930"), NULL).listen,
			 "192.0.2.7");
	cr_assert_str_eq(from(SPICE("\"host\": \"::1\", \"port\": 5930"), NULL).listen, "::1");
}

Test(engine_graphics, a_display_no_remote_client_can_reach_is_left_out)
{
	/* SPICE on a unix socket, with no port; VNC on a unix socket. */
	cr_assert_str_empty(from(SPICE("\"host\": \"/run/vm1/spice.sock\""), NULL).type);
	cr_assert_str_empty(
		from(NULL, "{\"enabled\": true, \"family\": \"unix\", \"service\": \"0\","
			   " \"host\": \"/run/vm1/vnc.sock\"}")
			.type);
	cr_assert_str_empty(from("{\"enabled\": false, \"migrated\": false}",
				 "{\"enabled\": false}")
				    .type);
	cr_assert_str_empty(from(NULL, NULL).type);
}

Test(engine_graphics, a_vnc_display_is_kept_only_when_there_is_no_spice_one)
{
	static const char vnc[] = "{\"enabled\": true, \"family\": \"ipv6\", \"service\": \"5901\","
				  " \"host\": \"2001:db8::1\"}";
	struct qm_cookie_graphics g = from(NULL, vnc);

	cr_assert_str_eq(g.type, "vnc");
	cr_assert_str_eq(g.listen, "2001:db8::1");
	cr_assert_eq(g.port, 5901);
	cr_assert_eq(g.tls_port, -1);
	g = from(SPICE("\"host\": \"10.0.0.2\", \"tls-port\": 5931"), vnc);
	cr_assert_str_eq(g.type, "spice");
	cr_assert_eq(g.port, -1);
	cr_assert_eq(g.tls_port, 5931);
}
