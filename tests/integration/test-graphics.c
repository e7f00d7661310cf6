/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * SPICE clients follow the VM (docs/graphics.md), with real QEMU and the
 * test guest: both QEMUs of the pair have a SPICE display on a port of
 * their own, and qmigrate runs with the QMP trace.  The trace shows
 * client_migrate_info going to the source with the destination's host and
 * port, and QEMU accepting it; the migration completes and the guest's
 * memory is checked on the destination.  A pair without SPICE sends no
 * client_migrate_info.  No SPICE client connects: QEMU 7.2 then says
 * SPICE_MIGRATE_COMPLETED at switch-over, and confirm does not wait.
 * Through the agent the pair has SPICE over TLS too, its certificates made
 * by openssl at run time: client_migrate_info also carries the TLS port and
 * the destination's certificate subject, which the agent read from the
 * x509-dir on the destination QEMU's command line.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <spawn.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "tests/helpers/guest.h"
#include "tests/helpers/launch-dest.h"
#include "tests/helpers/pair.h"
#include "tests/helpers/qemu.h"

TestSuite(graphics, .init = ld_setup, .fini = ld_teardown, .timeout = 300);

#define START_ATTEMPTS 5

/* A TCP port on 127.0.0.1 that the kernel says is free now (another may take it: retry). */
static int free_port(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
	socklen_t len = sizeof(sa);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);

	cr_assert_geq(fd, 0);
	cr_assert_eq(bind(fd, (struct sockaddr *)&sa, sizeof(sa)), 0, "%s", strerror(errno));
	cr_assert_eq(getsockname(fd, (struct sockaddr *)&sa, &len), 0);
	close(fd);
	return ntohs(sa.sin_port);
}

/* With SPICE over TLS: its x509 dir (ld_dir/x509) and TLS port, else "" and -1. */
static char x509_dir[128];
static int tls_port = -1;

/*
 * Starts @vm, with a SPICE display on a free port when @spice (in *@port),
 * and a TLS port too with x509_dir: a QEMU that cannot bind them exits
 * before its QMP socket exists, and is started again on others.
 */
static void start_one(struct tq_qemu *vm, bool dst, bool spice, int *port)
{
	char spice_arg[384];
	const char *const extra[] = { "-spice", spice_arg, NULL };
	struct tq_qemu_opts opts = {
		.machine = "pc",
		.mem_mib = pair.mib,
		.boot_image = tg_guest_image(),
		.dirty_rate = pair.dirty_rate,
		.paused = dst,
		.incoming_defer = dst,
		.extra_args = spice ? extra : NULL,
	};
	int r = -ECHILD;

	for (int i = 0; i < START_ATTEMPTS && r == -ECHILD; i++) {
		*port = spice ? free_port() : -1;
		snprintf(spice_arg, sizeof(spice_arg), "port=%d,addr=127.0.0.1,disable-ticketing=on",
			 *port);
		if (x509_dir[0]) {
			tls_port = free_port();
			snprintf(spice_arg + strlen(spice_arg), sizeof(spice_arg) - strlen(spice_arg),
				 ",tls-port=%d,x509-dir=%s", tls_port, x509_dir);
		}
		r = tq_qemu_start(vm, &opts);
	}
	cr_assert_eq(r, 0, "cannot start QEMU%s", spice ? " with SPICE" : "");
}

static int src_port, dst_port;

static void start_spice_pair(bool spice)
{
	start_one(&pair.src, false, spice, &src_port);
	start_one(&pair.dst, true, spice, &dst_port);
	cr_assert_geq(tg_guest_wait_passes(&pair.src, 1, 180), 1);
}

/* The QMP message traced on @line in direction @dir (">>>" or "<<<"), or NULL. */
static json_t *traced(const char *line, const char *dir)
{
	char mark[16];
	const char *at;

	snprintf(mark, sizeof(mark), "QMP %s ", dir);
	at = strstr(line, mark);
	return at ? json_loads(at + strlen(mark), 0, NULL) : NULL;
}

/*
 * The client_migrate_info commands in @trace (at most one expected), and the
 * reply to the first: the first message back with its id.  While perform
 * sets the source up, the destination is idle, so that reply is the
 * source's although both connections number their commands alike.
 */
static int find_relocation(char *trace, json_t **cmd, json_t **reply)
{
	char *save = NULL;
	json_int_t id = -1;
	int n = 0;

	*cmd = *reply = NULL;
	for (char *line = strtok_r(trace, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
		json_t *out = traced(line, ">>>"), *in = traced(line, "<<<");
		const char *execute = json_string_value(json_object_get(out, "execute"));

		if (execute && strcmp(execute, "client_migrate_info") == 0) {
			if (n++ == 0) {
				*cmd = json_incref(out);
				id = json_integer_value(json_object_get(out, "id"));
			}
		} else if (*cmd && !*reply && json_is_integer(json_object_get(in, "id")) &&
			   json_integer_value(json_object_get(in, "id")) == id) {
			*reply = json_incref(in);
		}
		json_decref(out);
		json_decref(in);
	}
	return n;
}

/* Migrates the pair with the QMP trace, @via_agent through `qmigrate serve` over exec:. */
static char *migrate_traced(bool via_agent)
{
	char agent[512];
	const char *args[16] = { "migrate", "--json", "--src-qmp", pair.src.qmp_path,
				 "--dst-qmp", pair.dst.qmp_path, "--runtime-dir", ld_dir };
	int n = 8, code;
	json_t *result;
	size_t len;

	if (via_agent) {
		/* The agent is on this same host: --allow-same-host. */
		snprintf(agent, sizeof(agent), "exec:%s serve --stdio --runtime-dir %s",
			 getenv("QMIGRATE"), ld_dir);
		args[n++] = "--dest";
		args[n++] = agent;
		args[n++] = "--allow-same-host";
	}
	args[n] = NULL;
	code = run_qmigrate(args, "migrate.out", "migrate.err", true);
	result = last_event("migrate.out", "result");
	cr_assert_eq(code, 0, "exit %d: %s", code, json_dumps(result, 0));
	cr_assert_str_eq(field(result, "status"), "completed");
	cr_assert_str_eq(field(result, "vm"), "destination");
	json_decref(result);
	return slurp_in("migrate.err", &len);
}

extern char **environ;

/* Runs @argv (no shell), its output thrown away; it must succeed. */
static void run_prog(char *const argv[])
{
	posix_spawn_file_actions_t fa;
	int status;
	pid_t pid;

	cr_assert_eq(posix_spawn_file_actions_init(&fa), 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	cr_assert_eq(posix_spawnp(&pid, argv[0], &fa, NULL, argv, environ), 0,
		     "cannot run %s", argv[0]);
	posix_spawn_file_actions_destroy(&fa);
	cr_assert_eq(waitpid(pid, &status, 0), pid);
	cr_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0, "%s %s failed", argv[0],
		  argv[1]);
}

/* The server certificate's subject: a comma in L= shows the escape. */
#define SERVER_SUBJECT "/C=XX/L=Test, City/O=qmigrate/CN=127.0.0.1"
/* As a SPICE client is given it (openssl x509 -nameopt sep_comma_plus,esc_2253 says so too). */
#define SERVER_SUBJECT_TEXT "C=XX,L=Test\\, City,O=qmigrate,CN=127.0.0.1"

/* A CA and a server certificate signed by it in a new 0700 ld_dir/x509 (EC keys: fast). */
static void make_x509_dir(void)
{
	char ca_key[192], ca[192], key[192], csr[192], cert[192];

	snprintf(x509_dir, sizeof(x509_dir), "%s/x509", ld_dir);
	cr_assert_eq(mkdir(x509_dir, 0700), 0, "%s", strerror(errno));
	snprintf(ca_key, sizeof(ca_key), "%s/ca-key.pem", x509_dir);
	snprintf(ca, sizeof(ca), "%s/ca-cert.pem", x509_dir);
	snprintf(key, sizeof(key), "%s/server-key.pem", x509_dir);
	snprintf(csr, sizeof(csr), "%s/server.csr", x509_dir);
	snprintf(cert, sizeof(cert), "%s/server-cert.pem", x509_dir);
	run_prog((char *const[]){ "openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt",
				  "ec_paramgen_curve:P-256", "-nodes", "-keyout", ca_key, "-out",
				  ca, "-days", "2", "-subj", "/CN=qmigrate test CA", NULL });
	run_prog((char *const[]){ "openssl", "req", "-newkey", "ec", "-pkeyopt",
				  "ec_paramgen_curve:P-256", "-nodes", "-keyout", key, "-out", csr,
				  "-subj", SERVER_SUBJECT, NULL });
	run_prog((char *const[]){ "openssl", "x509", "-req", "-in", csr, "-CA", ca, "-CAkey",
				  ca_key, "-set_serial", "2", "-days", "2", "-out", cert, NULL });
}

/*
 * Migrates a SPICE pair, @via_agent through the agent with SPICE over TLS
 * too: there prepare, and so the reading of the certificate, runs where the
 * destination QEMU runs, as between hosts (local mode runs the same code in
 * this process).
 */
static void relocates_clients_to_the_destination(bool via_agent)
{
	json_t *cmd, *reply, *args;
	char *trace, *copy;

	if (via_agent)
		make_x509_dir();
	start_spice_pair(true);
	trace = migrate_traced(via_agent);
	copy = strdup(trace);
	cr_assert_eq(find_relocation(copy, &cmd, &reply), 1, "client_migrate_info not sent once");
	free(copy);
	args = json_object_get(cmd, "arguments");
	cr_assert_str_eq(json_string_value(json_object_get(args, "protocol")), "spice");
	cr_assert_str_eq(json_string_value(json_object_get(args, "hostname")), "127.0.0.1");
	cr_assert_eq(json_integer_value(json_object_get(args, "port")), dst_port,
		     "client_migrate_info names port %lld, the destination's SPICE is on %d",
		     (long long)json_integer_value(json_object_get(args, "port")), dst_port);
	if (via_agent) {
		cr_assert_eq(json_integer_value(json_object_get(args, "tls-port")), tls_port,
			     "client_migrate_info names tls-port %lld, the destination's is %d",
			     (long long)json_integer_value(json_object_get(args, "tls-port")),
			     tls_port);
		cr_assert_str_eq(json_string_value(json_object_get(args, "cert-subject")),
				 SERVER_SUBJECT_TEXT, "%s", json_dumps(args, 0));
	} else {
		cr_assert_null(json_object_get(args, "tls-port"));
		cr_assert_null(json_object_get(args, "cert-subject"));
	}
	cr_assert(reply, "no reply to client_migrate_info in the trace");
	cr_assert(json_is_object(json_object_get(reply, "return")), "QEMU answered %s",
		  json_dumps(reply, 0));
	/* No client: QEMU said the clients moved at once, and confirm did not wait for them. */
	cr_assert(strstr(trace, "\"event\": \"SPICE_MIGRATE_COMPLETED\""), "no event in the trace");
	cr_assert_null(strstr(trace, "SPICE clients did not reach"), "confirm waited in vain");
	json_decref(cmd);
	json_decref(reply);
	free(trace);
	assert_on_destination("running");
}

Test(graphics, spice_clients_are_sent_to_the_destinations_port)
{
	relocates_clients_to_the_destination(false);
}

Test(graphics, spice_over_tls_clients_are_sent_with_the_certificate_subject_through_the_agent)
{
	relocates_clients_to_the_destination(true);
}

Test(graphics, a_pair_without_spice_sends_no_client_migrate_info)
{
	json_t *cmd, *reply;
	char *trace;

	start_spice_pair(false);
	trace = migrate_traced(false);
	/* The trace is there: the destination was asked for its displays. */
	cr_assert(strstr(trace, "\"execute\":\"query-spice\""), "no query-spice in the trace");
	cr_assert_null(strstr(trace, "<graphics"), "a graphics section in a cookie");
	cr_assert_eq(find_relocation(trace, &cmd, &reply), 0);
	free(trace);
	assert_on_destination("running");
}
