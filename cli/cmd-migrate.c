/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmigrate migrate: move a running VM between two local QEMUs. */
#include <errno.h>
#include <ev.h>
#include <getopt.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#include "cli/progress.h"
#include "engine/lease.h"
#include "engine/ssh-argv.h"
#include "xml/domain.h"

enum {
	OPT_SRC = 256,
	OPT_DST,
	OPT_TRANSPORT,
	OPT_BANDWIDTH,
	OPT_DOWNTIME,
	OPT_KEEP_SOURCE,
	OPT_JSON,
	OPT_PAUSED,
	OPT_STEPS,
	OPT_STEP_DELAY,
	OPT_DOUBLE,
	OPT_TIMEOUT,
	OPT_TIMEOUT_PER_GIB,
	OPT_STALL,
	OPT_PAUSE_AFTER,
	OPT_POSTCOPY,
	OPT_POSTCOPY_PASSES,
	OPT_AUTO_CONVERGE,
	OPT_THROTTLE_INITIAL,
	OPT_THROTTLE_INCREMENT,
	OPT_XBZRLE,
	OPT_XBZRLE_CACHE,
	OPT_MULTIFD,
	OPT_TUNNEL_COPY,
	OPT_CONTROL,
	OPT_WAIT,
	OPT_LAUNCH_DEST,
	OPT_DOMAIN,
	OPT_DEST_DOMAIN,
	OPT_PASSWD_FILE,
	OPT_RUNTIME_DIR,
	OPT_DISK_MAP,
	OPT_LEASE,
	OPT_GRAPHICS_LISTEN,
	OPT_SPICE_X509_DIR,
	OPT_DEST,
	OPT_SSH_OPTION,
	OPT_REMOTE_QMIGRATE,
	OPT_MIGRATE_ADDRESS,
	OPT_HOST_UUID,
	OPT_ALLOW_SAME_HOST,
	OPT_COPY_STORAGE,
	OPT_COPY_STORAGE_DISK,
	OPT_QMP_LOG,
};

struct run {
	struct progress_view view;
	struct qm_result result;
	bool done;
	int signals;
};

static void on_phase(struct qm_job *job, enum qm_phase phase, void *ud)
{
	struct run *run = ud;

	progress_phase(&run->view, phase, ev_time() - run->view.t0);
}

static void on_progress(struct qm_job *job, const struct qm_progress *p, void *ud)
{
	progress_sample(&((struct run *)ud)->view, p);
}

static void on_policy(struct qm_job *job, const struct qm_policy_decision *d, void *ud)
{
	progress_policy(&((struct run *)ud)->view, d);
}

static void on_done(struct qm_job *job, const struct qm_result *r, void *ud)
{
	struct run *run = ud;

	run->result = *r;
	run->done = true;
}

static void on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
	struct qm_job *job = w->data;

	if (qm_job_cancel(job) == -EBUSY)
		cli_error("too late to cancel: the migration is finishing");
	else
		cli_error("cancelling: the VM stays on the source");
}

static int parse_seconds(const char *s, bool zero_ok, double *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v > 0 || (zero_ok && v == 0)) || v > 1e9)
		return -1;
	*out = v;
	return 0;
}

static int parse_int(const char *s, int min, int max, int *out)
{
	char *end;
	long v = strtol(s, &end, 10);

	if (end == s || *end || v < min || v > max)
		return -1;
	*out = (int)v;
	return 0;
}

static int parse_u64(const char *s, unsigned long long max, unsigned long long *out)
{
	char *end;
	double v = strtod(s, &end);

	if (end == s || *end || !(v >= 0) || v > (double)max)
		return -1;
	*out = (unsigned long long)v;
	return 0;
}

/* A description's text may hold passwords. */
static void wipe_freep(char **p)
{
	if (*p)
		explicit_bzero(*p, strlen(*p));
	free(*p);
}

/* The description in @path as the full XML text the job takes. */
static int read_domain(const char *path, char **out)
{
	_cleanup_domain_ struct qm_domain *d = NULL;
	struct qm_error err = { 0 };

	if (qm_domain_parse_file(path, &d, &err) < 0 || qm_domain_format(d, out, &err) < 0) {
		cli_error("%s", err.text);
		return -1;
	}
	return 0;
}

int cli_migrate(struct qm_ctx *ctx, int argc, char *argv[], const struct cli_migrate_hook *hook)
{
	const struct subcommand *self = hook ? hook->cmd : &cmd_migrate;
	static const struct option longopts[] = {
		{ "src-qmp", required_argument, NULL, OPT_SRC },
		{ "dst-qmp", required_argument, NULL, OPT_DST },
		{ "transport", required_argument, NULL, OPT_TRANSPORT },
		{ "bandwidth", required_argument, NULL, OPT_BANDWIDTH },
		{ "max-downtime", required_argument, NULL, OPT_DOWNTIME },
		{ "keep-source", no_argument, NULL, OPT_KEEP_SOURCE },
		{ "json", no_argument, NULL, OPT_JSON },
		{ "paused", no_argument, NULL, OPT_PAUSED },
		{ "downtime-steps", required_argument, NULL, OPT_STEPS },
		{ "downtime-delay", required_argument, NULL, OPT_STEP_DELAY },
		{ "downtime-double", required_argument, NULL, OPT_DOUBLE },
		{ "timeout", required_argument, NULL, OPT_TIMEOUT },
		{ "timeout-per-gib", no_argument, NULL, OPT_TIMEOUT_PER_GIB },
		{ "stall-timeout", required_argument, NULL, OPT_STALL },
		{ "pause-after", required_argument, NULL, OPT_PAUSE_AFTER },
		{ "postcopy", no_argument, NULL, OPT_POSTCOPY },
		{ "postcopy-after-passes", required_argument, NULL, OPT_POSTCOPY_PASSES },
		{ "auto-converge", no_argument, NULL, OPT_AUTO_CONVERGE },
		{ "throttle-initial", required_argument, NULL, OPT_THROTTLE_INITIAL },
		{ "throttle-increment", required_argument, NULL, OPT_THROTTLE_INCREMENT },
		{ "xbzrle", no_argument, NULL, OPT_XBZRLE },
		{ "xbzrle-cache", required_argument, NULL, OPT_XBZRLE_CACHE },
		{ "multifd", required_argument, NULL, OPT_MULTIFD },
		{ "tunnel-copy", required_argument, NULL, OPT_TUNNEL_COPY },
		{ "control", required_argument, NULL, OPT_CONTROL },
		{ "wait", required_argument, NULL, OPT_WAIT },
		{ "launch-dest", no_argument, NULL, OPT_LAUNCH_DEST },
		{ "domain", required_argument, NULL, OPT_DOMAIN },
		{ "dest-domain", required_argument, NULL, OPT_DEST_DOMAIN },
		{ "graphics-passwd-file", required_argument, NULL, OPT_PASSWD_FILE },
		{ "runtime-dir", required_argument, NULL, OPT_RUNTIME_DIR },
		{ "disk-map", required_argument, NULL, OPT_DISK_MAP },
		{ "lease", required_argument, NULL, OPT_LEASE },
		{ "graphics-listen", required_argument, NULL, OPT_GRAPHICS_LISTEN },
		{ "spice-x509-dir", required_argument, NULL, OPT_SPICE_X509_DIR },
		{ "dest", required_argument, NULL, OPT_DEST },
		{ "ssh-option", required_argument, NULL, OPT_SSH_OPTION },
		{ "remote-qmigrate", required_argument, NULL, OPT_REMOTE_QMIGRATE },
		{ "migrate-address", required_argument, NULL, OPT_MIGRATE_ADDRESS },
		{ "host-uuid", required_argument, NULL, OPT_HOST_UUID },
		{ "allow-same-host", no_argument, NULL, OPT_ALLOW_SAME_HOST },
		{ "copy-storage", required_argument, NULL, OPT_COPY_STORAGE },
		{ "copy-storage-disk", required_argument, NULL, OPT_COPY_STORAGE_DISK },
		{ "qmp-log", required_argument, NULL, OPT_QMP_LOG },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	struct qm_job_options opts = { .transport = QM_TRANSPORT_UNIX };
	struct qm_job_callbacks cbs = {
		.phase = on_phase,
		.progress = on_progress,
		.done = on_done,
		.policy = on_policy,
	};
	struct qm_policy_settings *pol = &opts.policy;
	int channels;
	struct run state = { 0 };
	struct qm_error err = { 0 };
	unsigned long long mib;
	struct ev_loop *loop;
	ev_signal sigint, sigterm;
	struct qm_job *job;
	const char *control = NULL;
	const char *domain_file = NULL, *dest_domain_file = NULL;
	_cleanup_(wipe_freep) char *domain_xml = NULL, *dest_domain_xml = NULL;
	const char *disk_map[QM_DOMAIN_MAX_DISKS + 1] = { NULL };
	size_t n_disk_map = 0;
	const char *leases[QM_LEASE_MAX + 1] = { NULL };
	size_t n_leases = 0;
	const char *copy_disks[QM_DOMAIN_MAX_DISKS + 1] = { NULL };
	size_t n_copy_disks = 0;
	const char *ssh_options[QM_SSH_OPTIONS_MAX + 1] = { NULL };
	size_t n_ssh_options = 0;
	bool transport_given = false;
	int c;

	while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
		switch (c) {
		case OPT_SRC:
			opts.src_qmp = optarg;
			break;
		case OPT_DST:
			opts.dst_qmp = optarg;
			break;
		case OPT_DEST:
			opts.dest_uri = optarg;
			break;
		case OPT_SSH_OPTION:
			if (n_ssh_options == QM_SSH_OPTIONS_MAX)
				return cli_usage_error(self, "more than %d --ssh-option",
						       QM_SSH_OPTIONS_MAX);
			ssh_options[n_ssh_options++] = optarg;
			opts.ssh_options = ssh_options;
			break;
		case OPT_REMOTE_QMIGRATE:
			opts.remote_qmigrate = optarg;
			break;
		case OPT_MIGRATE_ADDRESS:
			opts.migrate_address = optarg;
			break;
		case OPT_HOST_UUID:
			opts.host_uuid = optarg;
			break;
		case OPT_ALLOW_SAME_HOST:
			opts.allow_same_host = true;
			break;
		case OPT_TRANSPORT:
			transport_given = true;
			if (strcmp(optarg, "unix") == 0)
				opts.transport = QM_TRANSPORT_UNIX;
			else if (strcmp(optarg, "tcp") == 0)
				opts.transport = QM_TRANSPORT_TCP;
			else if (strcmp(optarg, "tunnel") == 0)
				opts.transport = QM_TRANSPORT_TUNNEL;
			else
				return cli_usage_error(self,
						       "unknown transport '%s' (unix, tcp or tunnel)",
						       optarg);
			break;
		case OPT_BANDWIDTH:
			if (parse_u64(optarg, 1ULL << 40, &mib) < 0 || mib == 0)
				return cli_usage_error(self, "invalid bandwidth '%s' (MiB/s)", optarg);
			opts.bandwidth = mib * 1024 * 1024;
			break;
		case OPT_DOWNTIME:
			if (parse_u64(optarg, 2000000, &opts.max_downtime_ms) < 0 ||
			    opts.max_downtime_ms == 0)
				return cli_usage_error(self,
						       "invalid max downtime '%s' (1..2000000 ms)", optarg);
			break;
		case OPT_KEEP_SOURCE:
			opts.keep_source = true;
			break;
		case OPT_JSON:
			state.view.json = true;
			break;
		case OPT_PAUSED:
			opts.paused = true;
			break;
		case OPT_STEPS:
			if (parse_int(optarg, 1, 1000, &pol->downtime_steps) < 0)
				return cli_usage_error(self, "invalid --downtime-steps '%s' (1..1000)", optarg);
			break;
		case OPT_STEP_DELAY:
			if (parse_seconds(optarg, false, &pol->step_delay) < 0)
				return cli_usage_error(self, "invalid --downtime-delay '%s' (seconds)", optarg);
			break;
		case OPT_DOUBLE:
			if (parse_int(optarg, 1, 1000, &pol->downtime_double) < 0)
				return cli_usage_error(self, "invalid --downtime-double '%s' (samples)", optarg);
			break;
		case OPT_TIMEOUT:
			if (parse_seconds(optarg, true, &pol->timeout) < 0)
				return cli_usage_error(self, "invalid --timeout '%s' (seconds)", optarg);
			/* The library's 0 is the default; the user's 0 is none. */
			if (pol->timeout == 0)
				pol->timeout = QM_POLICY_NO_TIMEOUT;
			break;
		case OPT_TIMEOUT_PER_GIB:
			pol->timeout_per_gib = true;
			break;
		case OPT_STALL:
			if (parse_seconds(optarg, false, &pol->stall_timeout) < 0)
				return cli_usage_error(self, "invalid --stall-timeout '%s' (seconds)", optarg);
			break;
		case OPT_PAUSE_AFTER:
			if (parse_seconds(optarg, false, &pol->pause_after) < 0)
				return cli_usage_error(self, "invalid --pause-after '%s' (seconds)", optarg);
			break;
		case OPT_POSTCOPY:
			pol->postcopy = true;
			break;
		case OPT_POSTCOPY_PASSES:
			if (parse_int(optarg, 1, 1000000, &pol->postcopy_after_passes) < 0)
				return cli_usage_error(self, "invalid --postcopy-after-passes '%s'", optarg);
			break;
		case OPT_AUTO_CONVERGE:
			opts.auto_converge = true;
			break;
		case OPT_THROTTLE_INITIAL:
			if (parse_int(optarg, 1, 99, &opts.throttle_initial) < 0)
				return cli_usage_error(self, "invalid --throttle-initial '%s' (1..99)", optarg);
			break;
		case OPT_THROTTLE_INCREMENT:
			if (parse_int(optarg, 1, 99, &opts.throttle_increment) < 0)
				return cli_usage_error(self, "invalid --throttle-increment '%s' (1..99)", optarg);
			break;
		case OPT_XBZRLE:
			opts.xbzrle = true;
			break;
		case OPT_XBZRLE_CACHE:
			if (parse_u64(optarg, 1 << 20, &mib) < 0 || mib == 0)
				return cli_usage_error(self, "invalid --xbzrle-cache '%s' (MiB)", optarg);
			opts.xbzrle_cache = mib * 1024 * 1024;
			break;
		case OPT_TUNNEL_COPY:
			if (strcmp(optarg, "auto") == 0)
				opts.tunnel_copy = QM_TUNNEL_COPY_AUTO;
			else if (strcmp(optarg, "splice") == 0)
				opts.tunnel_copy = QM_TUNNEL_COPY_SPLICE;
			else if (strcmp(optarg, "readwrite") == 0)
				opts.tunnel_copy = QM_TUNNEL_COPY_READWRITE;
			else
				return cli_usage_error(self,
						       "unknown --tunnel-copy '%s' (auto, splice or readwrite)",
						       optarg);
			break;
		case OPT_MULTIFD:
			if (parse_int(optarg, 1, 255, &channels) < 0)
				return cli_usage_error(self, "invalid --multifd '%s' (1..255 streams)", optarg);
			opts.multifd_channels = (unsigned)channels;
			break;
		case OPT_CONTROL:
			control = optarg;
			break;
		case OPT_QMP_LOG:
			opts.qmp_log = optarg;
			break;
		case OPT_WAIT:
			if (parse_seconds(optarg, false, &opts.wait_for_qmp) < 0)
				return cli_usage_error(self, "invalid --wait '%s' (seconds)", optarg);
			break;
		case OPT_LAUNCH_DEST:
			opts.launch_dest = true;
			break;
		case OPT_DOMAIN:
			domain_file = optarg;
			break;
		case OPT_DEST_DOMAIN:
			dest_domain_file = optarg;
			break;
		case OPT_PASSWD_FILE:
			opts.graphics_passwd_file = optarg;
			break;
		case OPT_RUNTIME_DIR:
			opts.runtime_dir = optarg;
			break;
		case OPT_DISK_MAP:
			if (n_disk_map == QM_DOMAIN_MAX_DISKS)
				return cli_usage_error(self, "more than %d --disk-map",
						       QM_DOMAIN_MAX_DISKS);
			disk_map[n_disk_map++] = optarg;
			opts.disk_map = disk_map;
			break;
		case OPT_GRAPHICS_LISTEN:
			opts.graphics_listen = optarg;
			break;
		case OPT_SPICE_X509_DIR:
			opts.spice_x509_dir = optarg;
			break;
		case OPT_LEASE:
			if (n_leases == QM_LEASE_MAX)
				return cli_usage_error(self, "more than %d --lease",
						       QM_LEASE_MAX);
			leases[n_leases++] = optarg;
			opts.leases = leases;
			break;
		case OPT_COPY_STORAGE:
			if (strcmp(optarg, "all") == 0)
				opts.copy_storage = QM_COPY_STORAGE_ALL;
			else if (strcmp(optarg, "inc") == 0)
				opts.copy_storage = QM_COPY_STORAGE_INC;
			else
				return cli_usage_error(self,
						       "--copy-storage takes all or inc, not '%s'",
						       optarg);
			break;
		case OPT_COPY_STORAGE_DISK:
			if (n_copy_disks == QM_DOMAIN_MAX_DISKS)
				return cli_usage_error(self,
						       "more than %d --copy-storage-disk",
						       QM_DOMAIN_MAX_DISKS);
			copy_disks[n_copy_disks++] = optarg;
			opts.copy_storage_disks = copy_disks;
			break;
		case 'h':
			fputs(cli_migrate_usage, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error(self, "unknown option");
		}
	}
	if (optind != argc)
		return cli_usage_error(self, "unexpected argument '%s'", argv[optind]);
	if (hook && (opts.src_qmp || opts.dst_qmp || opts.launch_dest || opts.dest_uri))
		return cli_usage_error(self, "--src-qmp, --dst-qmp, --launch-dest and --dest "
				       "are not for %s: it serves both QEMUs itself", self->name);
	/* A UNIX socket does not reach another host: direct tcp is the default there. */
	if (opts.dest_uri && !transport_given)
		opts.transport = QM_TRANSPORT_TCP;
	/* There, without a QMP socket to attach to, the agent launches the destination. */
	if (opts.dest_uri && !opts.dst_qmp)
		opts.launch_dest = true;
	if (opts.launch_dest && opts.dst_qmp)
		return cli_usage_error(self,
				       "--launch-dest starts the destination QEMU, --dst-qmp names "
				       "one already running: give one of them");
	/* Names that stand in for the sockets until the hook's are there. */
	if (hook)
		opts.src_qmp = opts.dst_qmp = "-";
	if (!opts.src_qmp || (!opts.dst_qmp && !opts.launch_dest))
		return cli_usage_error(self,
				       "--src-qmp is required, and --dst-qmp or --launch-dest");
	if ((domain_file || dest_domain_file) && !opts.launch_dest)
		return cli_usage_error(self, "--domain and --dest-domain are for "
				       "--launch-dest: a destination qmigrate starts");
	if (opts.graphics_passwd_file && !opts.launch_dest)
		return cli_usage_error(self, "--graphics-passwd-file needs --launch-dest");
	if ((opts.disk_map || opts.graphics_listen) && !opts.launch_dest)
		return cli_usage_error(self,
				       "--disk-map and --graphics-listen need --launch-dest");
	if ((opts.throttle_initial || opts.throttle_increment) && !opts.auto_converge)
		return cli_usage_error(self, "--throttle-* need --auto-converge");
	if (opts.xbzrle_cache && !opts.xbzrle)
		return cli_usage_error(self, "--xbzrle-cache needs --xbzrle");
	state.view.bar = !state.view.json && isatty(STDERR_FILENO);
	if ((domain_file && read_domain(domain_file, &domain_xml) < 0) ||
	    (dest_domain_file && read_domain(dest_domain_file, &dest_domain_xml) < 0))
		return EXIT_FAILED;
	opts.domain_xml = domain_xml;
	opts.dst_domain_xml = dest_domain_xml;

	loop = ev_loop_new(EVFLAG_AUTO);
	if (!loop) {
		cli_error("cannot create an event loop");
		return EXIT_FAILED;
	}
	/* An agent or a stream that went away must be an EPIPE, not our end. */
	signal(SIGPIPE, SIG_IGN);
	if (hook && hook->start(hook->data, loop, opts.runtime_dir, &opts.src_qmp,
				&opts.dst_qmp) < 0) {
		ev_loop_destroy(loop);
		return EXIT_FAILED;
	}
	state.view.t0 = ev_time();
	job = qm_job_new(ctx, loop, &opts, &cbs, &state, &err);
	if (!job || (control && qm_job_listen_control(job, control, &err) < 0) ||
	    qm_job_start(job, &err) < 0) {
		qm_job_unref(job);
		if (hook)
			hook->stop(hook->data);
		ev_loop_destroy(loop);
		/* The library's usage errors (the same socket twice) are the user's. */
		if (strcmp(err.error_class, "Usage") == 0)
			return cli_usage_error(self, "%s", err.text);
		cli_error("%s", err.text);
		return EXIT_FAILED;
	}
	ev_signal_init(&sigint, on_signal, SIGINT);
	ev_signal_init(&sigterm, on_signal, SIGTERM);
	sigint.data = sigterm.data = job;
	ev_signal_start(loop, &sigint);
	ev_signal_start(loop, &sigterm);
	while (!state.done)
		ev_run(loop, EVRUN_ONCE);
	ev_signal_stop(loop, &sigint);
	ev_signal_stop(loop, &sigterm);
	qm_job_unref(job);
	if (hook)
		hook->stop(hook->data);
	ev_loop_destroy(loop);
	progress_result(&state.view, &state.result);
	return progress_exit_code(&state.result);
}

static int run(struct qm_ctx *ctx, int argc, char *argv[])
{
	return cli_migrate(ctx, argc, argv, NULL);
}

const struct subcommand cmd_migrate = {
	.name = "migrate",
	.run = run,
	.summary = "migrate a VM between two QEMUs, on this host or to another",
	.usage = cli_migrate_usage,
};
