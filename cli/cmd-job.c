/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* qmigrate job PATH VERB [VALUE]: one command to a running `migrate --control PATH`. */
#include <errno.h>
#include <getopt.h>
#include <jansson.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "cli/cli.h"
#include "util/macros.h"

static const char usage[] =
	"Usage: qmigrate job [OPTIONS] PATH VERB [VALUE]\n"
	"\n"
	"Sends one command to the migration that listens on the control socket\n"
	"PATH (qmigrate migrate --control PATH) and prints the reply as JSON.\n"
	"\n"
	"Verbs:\n"
	"  query               the phase, the job's status and the latest progress\n"
	"                      sample (bytes, 10^6 bits/s, ms, percent)\n"
	"  cancel              stop and roll back: the VM stays on the source\n"
	"  force-complete      switch to post-copy if enabled, else pause the source\n"
	"                      so that the migration converges\n"
	"  set-downtime MS     set the longest switch-over pause, in milliseconds\n"
	"  set-bandwidth MIB   cap the stream at MIB MiB/s\n"
	"The commands only work while the migration runs (phase perform).\n"
	"\n"
	"Options:\n"
	"  -t, --timeout SEC   wait at most SEC seconds for the reply (default: 10)\n"
	"  -p, --pretty        indent the output (the default on a terminal)\n"
	"  -c, --compact       print the output on one line\n"
	"  -h, --help          show this help\n"
	"\n"
	"Exit codes: 0 the job did it; 1 it refused (the reason is on stderr) or the\n"
	"socket could not be reached; 2 usage error.\n"
	"\n"
	"Example:\n"
	"  qmigrate migrate --src-qmp src.sock --dst-qmp dst.sock --control ctl.sock &\n"
	"  qmigrate job ctl.sock set-downtime 500\n";

/* The server checks the range; here only the shape of the command line. */
static const struct verb {
	const char *name;
	const char *value; /* what VALUE is, or NULL when the verb takes none */
} verbs[] = {
	{ "query", NULL },
	{ "cancel", NULL },
	{ "force-complete", NULL },
	{ "set-downtime", "MS" },
	{ "set-bandwidth", "MIB (MiB/s)" },
};

static const struct verb *find_verb(const char *name)
{
	for (size_t i = 0; i < ARRAY_SIZE(verbs); i++)
		if (strcmp(verbs[i].name, name) == 0)
			return &verbs[i];
	return NULL;
}

static int connect_to(const char *path)
{
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd;

	if (strlen(path) >= sizeof(sa.sun_path))
		return -ENAMETOOLONG;
	memcpy(sa.sun_path, path, strlen(path));
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		return -errno;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0) {
		int r = -errno;

		close(fd);
		return r;
	}
	return fd;
}

static int send_all(int fd, const char *buf, size_t len)
{
	while (len > 0) {
		ssize_t n = send(fd, buf, len, MSG_NOSIGNAL);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads one line into @buf (newline dropped), waiting at most @timeout seconds in all. */
static int read_line(int fd, char *buf, size_t size, double timeout)
{
	double deadline = now() + timeout;
	size_t len = 0;

	for (;;) {
		struct pollfd pfd = { .fd = fd, .events = POLLIN };
		double left = deadline - now();
		char *nl;
		ssize_t n;

		if (left <= 0)
			return -ETIMEDOUT;
		if (poll(&pfd, 1, (int)(left * 1000) + 1) < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (!pfd.revents)
			continue;
		n = read(fd, buf + len, size - 1 - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -errno;
		if (n == 0)
			return -ECONNRESET; /* closed before a whole reply */
		len += (size_t)n;
		buf[len] = '\0';
		nl = strchr(buf, '\n');
		if (nl) {
			*nl = '\0';
			return 0;
		}
		if (len == size - 1)
			return -EMSGSIZE;
	}
}

/* Sends @request on the socket at @path; the reply's JSON, or NULL after a message. */
static json_t *exchange(const char *path, const char *request, double timeout)
{
	static char line[65536];
	json_error_t jerr;
	json_t *reply;
	int fd, r;

	fd = connect_to(path);
	if (fd < 0) {
		cli_error("cannot connect to %s: %s", path, strerror(-fd));
		return NULL;
	}
	r = send_all(fd, request, strlen(request));
	if (r == 0)
		r = read_line(fd, line, sizeof(line), timeout);
	close(fd);
	if (r < 0) {
		cli_error("no reply from %s: %s", path, strerror(-r));
		return NULL;
	}
	reply = json_loads(line, 0, &jerr);
	if (!json_is_object(reply) || !json_is_boolean(json_object_get(reply, "ok"))) {
		cli_error("%s sent something that is not a reply: %s", path, line);
		json_decref(reply);
		return NULL;
	}
	return reply;
}

static int build_request(const struct verb *verb, const char *value, char **out)
{
	json_auto_t *req = json_pack("{s:s}", "verb", verb->name);
	_cleanup_free_ char *text = NULL;
	char *end;
	long long v;

	if (!req)
		return -ENOMEM;
	if (verb->value) {
		errno = 0;
		v = strtoll(value, &end, 10);
		if (end == value || *end || errno || v < 0)
			return -EINVAL;
		json_object_set_new(req, "value", json_integer(v));
	}
	text = json_dumps(req, JSON_COMPACT | JSON_PRESERVE_ORDER);
	/* One request per line: the newline ends it. */
	if (!text || asprintf(out, "%s\n", text) < 0)
		return -ENOMEM;
	return 0;
}

static int run(struct qm_ctx *ctx, int argc, char *argv[])
{
	static const struct option longopts[] = {
		{ "timeout", required_argument, NULL, 't' },
		{ "pretty", no_argument, NULL, 'p' },
		{ "compact", no_argument, NULL, 'c' },
		{ "help", no_argument, NULL, 'h' },
		{},
	};
	int pretty = isatty(STDOUT_FILENO), c, r;
	double timeout = 10;
	const struct verb *verb;
	_cleanup_free_ char *request = NULL, *text = NULL;
	json_auto_t *reply = NULL;
	char *end;

	while ((c = getopt_long(argc, argv, "t:pch", longopts, NULL)) != -1) {
		switch (c) {
		case 't':
			timeout = strtod(optarg, &end);
			if (*end || !(timeout > 0))
				return cli_usage_error(&cmd_job, "invalid timeout '%s'",
						       optarg);
			break;
		case 'p':
			pretty = 1;
			break;
		case 'c':
			pretty = 0;
			break;
		case 'h':
			fputs(usage, stdout);
			return EXIT_OK;
		default:
			return cli_usage_error(&cmd_job, "unknown option");
		}
	}
	if (argc - optind < 2)
		return cli_usage_error(&cmd_job, "expected PATH VERB [VALUE]");
	verb = find_verb(argv[optind + 1]);
	if (!verb)
		return cli_usage_error(&cmd_job, "unknown verb '%s'", argv[optind + 1]);
	if (verb->value && argc - optind != 3)
		return cli_usage_error(&cmd_job, "%s needs a VALUE: %s", verb->name,
				       verb->value);
	if (!verb->value && argc - optind != 2)
		return cli_usage_error(&cmd_job, "%s takes no VALUE", verb->name);
	r = build_request(verb, verb->value ? argv[optind + 2] : NULL, &request);
	if (r == -EINVAL)
		return cli_usage_error(&cmd_job, "invalid value '%s' (a whole number)",
				       argv[optind + 2]);
	if (r < 0) {
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	reply = exchange(argv[optind], request, timeout);
	if (!reply)
		return EXIT_FAILED;
	if (!json_is_true(json_object_get(reply, "ok"))) {
		const char *msg = json_string_value(json_object_get(reply, "error"));

		cli_error("%s: %s", verb->name, msg ? msg : "refused, no reason given");
		return EXIT_FAILED;
	}
	text = json_dumps(reply,
			  JSON_PRESERVE_ORDER | (pretty ? JSON_INDENT(2) : JSON_COMPACT));
	if (!text) {
		cli_error("out of memory");
		return EXIT_FAILED;
	}
	puts(text);
	return fflush(stdout) == 0 ? EXIT_OK : EXIT_FAILED;
}

const struct subcommand cmd_job = {
	.name = "job",
	.run = run,
	.summary = "query or steer a running migration through its control socket",
	.usage = usage,
};
