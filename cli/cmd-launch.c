/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmigrate launch FILE: start QEMU from a domain description. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli/cli.h"
#include "engine/graphics-passwd.h"
#include "engine/launch.h"
#include "engine/lease.h"
#include "util/error.h"
#include "util/host.h"
#include "util/uuid.h"
#include "xml/domain-argv.h"

static const char usage[] =
	"Usage: qmigrate launch [OPTIONS] FILE\n"
	"\n"
	"Starts QEMU from the domain description FILE (docs/domain.md) and prints\n"
	"its QMP socket and its pid. QEMU runs in a new private directory (0700)\n"
	"that holds the QMP socket and qemu.log, QEMU's output.\n"
	"\n"
	"By default QEMU is left running in a session of its own and qmigrate\n"
	"exits: QEMU is yours to stop (by its pid, or with 'quit' over QMP), and\n"
	"the directory is yours to remove after it stopped. With --foreground,\n"
	"qmigrate stays until QEMU exits; Ctrl-C or SIGTERM stop QEMU; the\n"
	"directory is removed either way.\n"
	"\n"
	"No password ever goes on QEMU's command line, where every user of the\n"
	"host can read it: a display with a password starts locked, and qmigrate\n"
	"sets the password over QMP with set_password before it prints anything.\n"
	"\n"
	"With --lease, or a <lease><target path=.../></lease> in FILE's <devices>\n"
	"(both count; a path named both ways is one lease), the VM runs only where\n"
	"its leases are held. A lease is a file (created 0600 when missing) locked\n"
	"with an OFD fcntl lock; it records the holder's host uuid, the VM's uuid\n"
	"and a generation that grows by one each time the lease is taken. qmigrate\n"
	"takes every lease before it starts QEMU and hands the locked file to QEMU\n"
	"(-add-fd, fd set 1000 and up): the lease stays held exactly as long as\n"
	"QEMU runs, after qmigrate exited too.\n"
	"A second launch while it is held fails with LeaseHeld and names the host\n"
	"that holds it; once that QEMU is gone, the lease is free again.\n"
	"\n"
	"Options:\n"
	"  -p, --paused           start with the CPUs stopped (QMP 'cont' starts them)\n"
	"  -i, --incoming         start as a migration destination (-S -incoming defer)\n"
	"  -f, --foreground       stay until QEMU exits; stop it on Ctrl-C\n"
	"  -j, --json             print one JSON object {\"qmp\", \"pid\", \"dir\", \"log\"}\n"
	"  -r, --runtime-dir DIR  make the directory in DIR (default: $XDG_RUNTIME_DIR,\n"
	"                         else /tmp)\n"
	"  -t, --timeout SEC      wait at most SEC seconds for the QMP socket (default 20)\n"
	"  -l, --lease PATH       hold the lease file PATH, an absolute path of at most\n"
	"                         255 bytes, while QEMU runs (repeatable; at most 8\n"
	"                         with the description's)\n"
	"      --host-uuid UUID   this host's uuid in the leases (default: from\n"
	"                         /etc/machine-id, else the SMBIOS product uuid)\n"
	"      --spice-x509-dir DIR\n"
	"                         SPICE's TLS directory (server-cert.pem,\n"
	"                         server-key.pem, ca-cert.pem), for a SPICE display\n"
	"                         with a tlsPort (refused without it). A key with a\n"
	"                         password is not supported: none goes on a command\n"
	"                         line\n"
	"  -h, --help             show this help\n"
	"\n"
	"Example:\n"
	"  qmigrate launch vm1.xml\n"
	"  qmigrate launch --lease /srv/leases/vm1.lease vm1.xml\n"
	"  qmigrate launch vm1.xml    # its <devices> hold <lease><target path=.../>\n"
	"  qmigrate qmp /run/user/1000/qmigrate-vm-Ab12Cd/qmp.sock query-status\n";

enum { OPT_HOST_UUID = 256, OPT_SPICE_X509_DIR };

struct launch_args {
	struct qm_launch_opts opts;
	bool json, foreground;
	const char *file;
	const char *host_uuid;
	const char *leases[QM_LEASE_MAX + 1]; /* --lease, NULL-terminated */
	size_t n_leases;
};

/* Ours, closed on the way out; the locks stay with QEMU's copies. */
static void leases_closep(struct qm_lease (*ls)[QM_LEASE_MAX])
{
	qm_leases_close(*ls, QM_LEASE_MAX);
}

static volatile sig_atomic_t stop_signal;

static void on_signal(int sig)
{
	stop_signal = sig;
}

static int parse_args(int argc, char *argv[], struct launch_args *a)
{
	static const struct option longopts[] = {
		{ "paused", no_argument, NULL, 'p' },
		{ "incoming", no_argument, NULL, 'i' },
		{ "foreground", no_argument, NULL, 'f' },
		{ "json", no_argument, NULL, 'j' },
		{ "runtime-dir", required_argument, NULL, 'r' },
		{ "timeout", required_argument, NULL, 't' },
		{ "lease", required_argument, NULL, 'l' },
		{ "host-uuid", required_argument, NULL, OPT_HOST_UUID },
		{ "spice-x509-dir", required_argument, NULL, OPT_SPICE_X509_DIR },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	char *end;
	int c;

	while ((c = getopt_long(argc, argv, "pifjr:t:l:h", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			a->opts.paused = true;
			break;
		case 'i':
			a->opts.incoming = true;
			break;
		case 'f':
			a->foreground = true;
			break;
		case 'j':
			a->json = true;
			break;
		case 'r':
			a->opts.runtime_parent = optarg;
			break;
		case 't':
			a->opts.timeout = strtod(optarg, &end);
			if (*end || a->opts.timeout <= 0)
				return cli_usage_error(&cmd_launch, "invalid timeout '%s'",
						       optarg);
			break;
		case 'l':
			if (a->n_leases == QM_LEASE_MAX)
				return cli_usage_error(&cmd_launch, "more than %d leases",
						       QM_LEASE_MAX);
			a->leases[a->n_leases++] = optarg;
			break;
		case OPT_HOST_UUID:
			a->host_uuid = optarg;
			break;
		case OPT_SPICE_X509_DIR:
			a->opts.spice_x509_dir = optarg;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error(&cmd_launch, "unknown option");
		}
	}
	if (argc - optind != 1)
		return cli_usage_error(&cmd_launch, "expected one FILE");
	a->file = argv[optind];
	a->opts.detach = !a->foreground;
	return -1;
}

static int print_started(const struct qm_launch *l, bool json)
{
	if (json) {
		json_t *o = json_pack("{s:s, s:I, s:s, s:s}", "qmp", qm_launch_qmp_path(l),
				      "pid", (json_int_t)qm_launch_pid(l), "dir",
				      qm_launch_dir(l), "log", qm_launch_log_path(l));
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

		json_decref(o);
		if (!text)
			return -ENOMEM;
		puts(text);
		free(text);
	} else {
		printf("qmp: %s\npid: %d\ndir: %s\nlog: %s\n", qm_launch_qmp_path(l),
		       (int)qm_launch_pid(l), qm_launch_dir(l), qm_launch_log_path(l));
	}
	return fflush(stdout) == 0 ? 0 : -EIO;
}

/* --foreground: wait for QEMU; a signal stops it (free does, on the way out). */
static int foreground(struct qm_launch *l)
{
	struct sigaction sa = { .sa_handler = on_signal }; /* no SA_RESTART: wait returns */
	int status, r;

	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	while ((r = qm_launch_wait(l, &status)) == -EINTR && !stop_signal)
		;
	if (stop_signal) {
		cli_error("stopping QEMU (pid %d) on signal %d", (int)qm_launch_pid(l),
			  (int)stop_signal);
		return EXIT_FAILED;
	}
	if (r < 0) {
		cli_error("waiting for QEMU: %s", strerror(-r));
		return EXIT_FAILED;
	}
	if (WIFEXITED(status) && WEXITSTATUS(status) == 0)
		return EXIT_OK;
	cli_error("QEMU ended with %s %d; its log was %s", WIFEXITED(status) ? "status" : "signal",
		  WIFEXITED(status) ? WEXITSTATUS(status) : WTERMSIG(status),
		  qm_launch_log_path(l));
	return EXIT_FAILED;
}

/*
 * Opens and takes every lease for the VM @d.  QEMU gets a copy of each
 * descriptor; ours close when this process ends, and the lock stays with
 * QEMU's.  When QEMU does not start, ours are the last and the leases drop.
 */
static int take_leases(const struct launch_args *a, const struct qm_domain *d,
		       const char *const *paths, size_t n, struct qm_lease *ls,
		       struct qm_error *err)
{
	char host[37];
	int r;

	for (size_t i = 0; i < n; i++) {
		r = qm_lease_open(paths[i], &ls[i], err);
		if (r < 0)
			return r;
	}
	if (a->host_uuid) {
		if (!qm_uuid_normalise(a->host_uuid, host))
			return qm_error_set(err, -EINVAL, "Usage",
					    "--host-uuid '%s' is not a uuid in "
					    "8-4-4-4-12 form",
					    a->host_uuid);
	} else {
		r = qm_host_uuid(NULL, host, err);
		if (r < 0)
			return r;
	}
	return qm_leases_acquire(ls, n, d->uuid, host, NULL, err);
}

static int start(const struct launch_args *a, struct qm_lease *ls, struct qm_domain **d,
		 struct qm_launch **l, struct qm_error *err)
{
	struct qm_launch_opts opts = a->opts;
	const char *paths[QM_LEASE_MAX];
	size_t n = 0;
	int r;

	r = qm_domain_parse_file(a->file, d, err);
	/* --lease, then the description's leases not among them. */
	if (r == 0)
		r = qm_lease_paths_merge(a->leases, *d, paths, &n, err);
	if (r == 0 && a->host_uuid && n == 0)
		r = qm_error_set(err, -EINVAL, "Usage",
				 "--host-uuid is for leases, and neither --lease nor the "
				 "description names one");
	if (r == 0)
		r = take_leases(a, *d, paths, n, ls, err);
	if (r < 0)
		return r;
	opts.leases = ls;
	opts.n_leases = n;
	return qm_launch_new(*d, &opts, l, err);
}

static int run(struct qm_ctx *ctx, int argc, char *argv[])
{
	struct launch_args a = { 0 };
	_cleanup_domain_ struct qm_domain *d = NULL;
	_cleanup_(leases_closep) struct qm_lease leases[QM_LEASE_MAX];
	struct qm_error err = { 0 };
	struct qm_launch *l;
	int r;

	for (size_t i = 0; i < QM_LEASE_MAX; i++)
		qm_lease_init(&leases[i]);
	r = parse_args(argc, argv, &a);
	if (r >= 0)
		return r;
	if (start(&a, leases, &d, &l, &err) < 0) {
		fprintf(stderr, "qmigrate launch: %s: %s\n", err.error_class, err.text);
		return strcmp(err.error_class, "Usage") == 0 ? EXIT_USAGE : EXIT_FAILED;
	}
	if (qm_domain_has_password(d) && qm_passwd_set_sync(ctx, qm_launch_qmp_path(l), d, &err) < 0) {
		fprintf(stderr, "qmigrate launch: %s: cannot set the display's password: %s\n",
			err.error_class, err.text);
		qm_launch_free(l);
		return EXIT_FAILED;
	}
	if (print_started(l, a.json) < 0) {
		cli_error("cannot write to stdout; stopping QEMU");
		qm_launch_free(l);
		return EXIT_FAILED;
	}
	if (!a.foreground) {
		qm_launch_release(l);
		return EXIT_OK;
	}
	r = foreground(l);
	qm_launch_free(l);
	return r;
}

const struct subcommand cmd_launch = {
	.name = "launch",
	.run = run,
	.summary = "start QEMU from a domain description",
	.usage = usage,
};
