/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * A scripted stand-in for `qmigrate serve --stdio` in the engine's tests,
 * which a job starts through --dest exec:.  It speaks the peer protocol on
 * stdin and stdout with the library's own frames and messages, and does what
 * its arguments say:
 *
 *   --pid-file FILE       writes its pid there first (required)
 *   --record FILE         appends a line there for each message it received,
 *                         "eof" at the end of stdin, "bad CLASS" for a frame
 *                         it refused (required)
 *   --lack NAME           its hello leaves the feature NAME out
 *   --need NAME           its hello lists NAME and needs it
 *   --banner TEXT         writes TEXT and a newline instead of its hello
 *   --hello-on-signal     reads the source's hello, waits for SIGUSR1 before
 *                         sending its own, and records "input before hello"
 *                         when more than the source's hello had come by then
 *   --exit-at POINT       exits there: "start" (before its hello), "hello"
 *                         (after it), "prepare", "finish" or "cleanup" (once
 *                         that request came, unanswered)
 *   --silent              answers no request
 *   --prepare-error CLASS answers prepare with an error of CLASS, saying
 *   --message TEXT        TEXT ('+' stands for a space: exec: splits on spaces),
 *   --refused, --changed  with these flags
 *   --migrate-uri URI     where prepare-reply's cookie sends the stream
 *   --qmp PATH, --pid N   the destination QEMU prepare-reply names
 *   --forward-qmp         when prepare asks for qmp-log, sends three qmp-log
 *                         messages before its reply: migrate-incoming sent
 *                         (stamped 1000 s ahead), its return (stamped 1970,
 *                         after 3 dropped), an event too big (a string of
 *                         its start, 2000000 bytes)
 *
 * Otherwise it answers prepare with prepare-reply, finish with finish-reply
 * and cleanup with cleanup-reply, and exits 0 at the end of stdin.  Its
 * cookies name the host "fake-agent" with uuid FAKE_AGENT_HOST_UUID.  It
 * gives up after 30 s (SIGALRM), whatever happens.
 */
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "engine/peer-frame.h"
#include "engine/peer-msg.h"
#include "tests/helpers/fake-agent.h"
#include "xml/cookie.h"

static struct {
	const char *record, *banner, *exit_at, *error_class, *migrate_uri, *qmp;
	char message[512];
	bool silent, refused, changed, hello_on_signal, forward_qmp;
	long pid;
	struct qm_peer_hello hello;
} cfg = { .migrate_uri = "tcp:127.0.0.1:4444" };

static char inbuf[QM_PEER_FRAME_MAX];
static size_t inlen;

static void die(const char *what)
{
	fprintf(stderr, "fake-agent: %s\n", what);
	exit(2);
}

static void write_all(int fd, const char *p, size_t len)
{
	while (len) {
		ssize_t n = write(fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			die("write failed");
		p += n;
		len -= (size_t)n;
	}
}

/* One line to the record file, opened for each so that nothing waits in a buffer. */
__attribute__((format(printf, 1, 2))) static void record(const char *fmt, ...)
{
	char line[8192];
	va_list ap;
	int fd, n;

	va_start(ap, fmt);
	n = vsnprintf(line, sizeof(line) - 1, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof(line) - 1)
		die("record line too long");
	line[n++] = '\n';
	fd = open(cfg.record, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0600);
	if (fd < 0)
		die("cannot open the record file");
	write_all(fd, line, (size_t)n);
	close(fd);
}

static void send_msg(const struct qm_peer_msg *m)
{
	struct qm_error err = { 0 };
	char *frame;
	size_t len;

	if (qm_peer_msg_encode(m, &frame, &len, &err) < 0)
		die(err.text);
	write_all(STDOUT_FILENO, frame, len);
	free(frame);
}

/* The next message into @m: 1, 0 at the end of stdin, -1 for a frame refused. */
static int next_msg(struct qm_peer_msg *m)
{
	struct qm_error err = { 0 };
	struct qm_peer_frame f;
	ssize_t n;
	int r;

	for (;;) {
		r = qm_peer_frame_parse(inbuf, inlen, &f, &err);
		if (r > 0) {
			r = qm_peer_msg_decode(f.body, f.body_len, m, &err);
			memmove(inbuf, inbuf + f.consumed, inlen - f.consumed);
			inlen -= f.consumed;
			if (r == 0)
				return 1;
		}
		if (r < 0) {
			record("bad %s: %s", err.error_class, err.text);
			return -1;
		}
		n = read(STDIN_FILENO, inbuf + inlen, sizeof(inbuf) - inlen);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return 0;
		inlen += (size_t)n;
	}
}

static void join_features(const struct qm_peer_hello *h, bool needed, char *out,
			  size_t size)
{
	size_t off = 0;

	out[0] = '\0';
	for (size_t i = 0; i < h->n_features; i++)
		if (!needed || h->features[i].needed)
			off += (size_t)snprintf(out + off, off < size ? size - off : 0,
						"%s%s", off ? "," : "",
						h->features[i].name);
	if (!out[0])
		snprintf(out, size, "-");
}

static const char *transport_name(enum qm_transport t)
{
	return t == QM_TRANSPORT_TUNNEL ? "tunnel"
	       : t == QM_TRANSPORT_TCP	? "tcp"
					: "unix";
}

/* What the test compares: every field of the request, the cookie's VM. */
static void record_msg(const struct qm_peer_msg *m, const struct qm_cookie *c)
{
	const struct qm_peer_settings *s = &m->settings;
	char needs[1024], map[8192];
	size_t off = 0;

	switch (m->type) {
	case QM_PEER_HELLO:
		join_features(&m->hello, true, needs, sizeof(needs));
		record("hello protocol=%d needs=%s", m->hello.protocol, needs);
		return;
	case QM_PEER_PREPARE:
		map[0] = '\0';
		for (size_t i = 0; i < s->n_disk_map; i++)
			off += (size_t)snprintf(map + off,
						off < sizeof(map) ? sizeof(map) - off : 0,
						"%s%s", i ? "," : "", s->disk_map[i]);
		record("prepare vm=%s transport=%s multifd=%u postcopy=%d paused=%d "
		       "launch=%d "
		       "allow-same-host=%d qmp=%s migrate-address=%s graphics-listen=%s "
		       "disk-map=%s domain=%zu qmp-log=%d",
		       c->name, transport_name(s->transport), s->multifd, s->postcopy,
		       s->paused, s->launch, s->allow_same_host, s->qmp,
		       s->migrate_address, s->graphics_listen, map,
		       m->domain ? strlen(m->domain) : 0, s->qmp_log);
		return;
	case QM_PEER_CLEANUP:
		record("cleanup postcopy=%d", m->postcopy);
		return;
	case QM_PEER_ERROR:
		record("error %s", m->error_class);
		return;
	default:
		record("%s vm=%s", qm_peer_type_name(m->type), c->name);
		return;
	}
}

/* A cookie for @c's VM from this host, with the stream's destination when @migrate. */
static char *reply_cookie(const struct qm_cookie *c, bool migrate)
{
	struct qm_cookie out = { .features = migrate ? QM_COOKIE_MIGRATE : 0 };
	struct qm_error err = { 0 };
	char *xml;

	snprintf(out.name, sizeof(out.name), "%s", c->name);
	snprintf(out.uuid, sizeof(out.uuid), "%s", c->uuid);
	snprintf(out.hostname, sizeof(out.hostname), "fake-agent");
	snprintf(out.host_uuid, sizeof(out.host_uuid), "%s", FAKE_AGENT_HOST_UUID);
	if (migrate)
		snprintf(out.migrate_uri, sizeof(out.migrate_uri), "%s", cfg.migrate_uri);
	if (qm_cookie_format(&out, &xml, &err) < 0)
		die(err.text);
	return xml;
}

/* What a real agent would forward of the destination's QMP during prepare. */
static void forward_qmp(void)
{
	struct qm_peer_msg f = { .type = QM_PEER_QMP_LOG };
	double now = (double)time(NULL);

	f.qmp_log = (struct qm_peer_qmp_log){ .ts = now + 1000, .sent = true, .bytes = -1 };
	f.qmp_log.msg = json_pack("{s:s, s:{s:s}, s:i}", "execute", "migrate-incoming",
				  "arguments", "uri", cfg.migrate_uri, "id", 1);
	send_msg(&f);
	json_decref(f.qmp_log.msg);
	f.qmp_log = (struct qm_peer_qmp_log){ .ts = 1.0, .bytes = -1, .dropped = 3 };
	f.qmp_log.msg = json_pack("{s:{}, s:i}", "return", "id", 1);
	send_msg(&f);
	json_decref(f.qmp_log.msg);
	f.qmp_log = (struct qm_peer_qmp_log){ .ts = now, .bytes = 2000000 };
	f.qmp_log.msg = json_string("{\"event\": \"MIGRATION\", \"data\": {\"st");
	send_msg(&f);
	json_decref(f.qmp_log.msg);
}

static void answer(const struct qm_peer_msg *m, const struct qm_cookie *c)
{
	struct qm_peer_msg r = { 0 };

	if (cfg.silent)
		return;
	switch (m->type) {
	case QM_PEER_PREPARE:
		if (cfg.error_class) {
			r.type = QM_PEER_ERROR;
			snprintf(r.error_class, sizeof(r.error_class), "%s",
				 cfg.error_class);
			snprintf(r.message, sizeof(r.message), "%s", cfg.message);
			r.refused = cfg.refused;
			r.changed = cfg.changed;
			send_msg(&r);
			return;
		}
		if (cfg.forward_qmp && m->settings.qmp_log)
			forward_qmp();
		r.type = QM_PEER_PREPARE_REPLY;
		snprintf(r.qmp, sizeof(r.qmp), "%s", cfg.qmp ? cfg.qmp : "");
		r.pid = cfg.pid;
		break;
	case QM_PEER_FINISH:
		r.type = QM_PEER_FINISH_REPLY;
		break;
	case QM_PEER_CLEANUP:
		r.type = QM_PEER_CLEANUP_REPLY;
		break;
	default:
		return;
	}
	r.cookie = reply_cookie(c, r.type == QM_PEER_PREPARE_REPLY);
	send_msg(&r);
	free(r.cookie);
}

static void parse_args(int argc, char **argv, const char **pid_file)
{
	static const struct option longopts[] = {
		{ "pid-file", required_argument, NULL, 'p' },
		{ "record", required_argument, NULL, 'r' },
		{ "lack", required_argument, NULL, 'l' },
		{ "need", required_argument, NULL, 'n' },
		{ "banner", required_argument, NULL, 'b' },
		{ "exit-at", required_argument, NULL, 'x' },
		{ "silent", no_argument, NULL, 's' },
		{ "hello-on-signal", no_argument, NULL, 'H' },
		{ "prepare-error", required_argument, NULL, 'e' },
		{ "message", required_argument, NULL, 'm' },
		{ "refused", no_argument, NULL, 'R' },
		{ "changed", no_argument, NULL, 'C' },
		{ "migrate-uri", required_argument, NULL, 'u' },
		{ "qmp", required_argument, NULL, 'q' },
		{ "pid", required_argument, NULL, 'P' },
		{ "forward-qmp", no_argument, NULL, 'F' },
		{},
	};
	struct qm_peer_hello *h = &cfg.hello;
	int c;

	qm_peer_hello_init(h);
	while ((c = getopt_long(argc, argv, "", longopts, NULL)) != -1) {
		switch (c) {
		case 'p':
			*pid_file = optarg;
			break;
		case 'r':
			cfg.record = optarg;
			break;
		case 'b':
			cfg.banner = optarg;
			break;
		case 'x':
			cfg.exit_at = optarg;
			break;
		case 's':
			cfg.silent = true;
			break;
		case 'H':
			cfg.hello_on_signal = true;
			break;
		case 'e':
			cfg.error_class = optarg;
			break;
		case 'R':
			cfg.refused = true;
			break;
		case 'C':
			cfg.changed = true;
			break;
		case 'u':
			cfg.migrate_uri = optarg;
			break;
		case 'q':
			cfg.qmp = optarg;
			break;
		case 'P':
			cfg.pid = atol(optarg);
			break;
		case 'F':
			cfg.forward_qmp = true;
			break;
		case 'm':
			snprintf(cfg.message, sizeof(cfg.message), "%s", optarg);
			for (char *p = cfg.message; *p; p++)
				if (*p == '+')
					*p = ' ';
			break;
		case 'l':
			for (size_t i = 0; i < h->n_features; i++)
				if (strcmp(h->features[i].name, optarg) == 0)
					h->features[i] = h->features[--h->n_features];
			break;
		case 'n':
			if (h->n_features == QM_PEER_MAX_FEATURES)
				die("too many features");
			snprintf(h->features[h->n_features].name, QM_PEER_NAME_MAX, "%s",
				 optarg);
			h->features[h->n_features++].needed = true;
			break;
		default:
			die("unknown option");
		}
	}
	if (!*pid_file || !cfg.record)
		die("--pid-file and --record are required");
}

/* The source's hello, then the test's signal; anything else by then came too early. */
static void hello_on_signal(const sigset_t *usr1)
{
	struct pollfd in = { .fd = STDIN_FILENO, .events = POLLIN };
	struct qm_peer_msg m = { 0 };
	struct qm_cookie none = { 0 };

	if (next_msg(&m) > 0)
		record_msg(&m, &none);
	qm_peer_msg_release(&m);
	while (sigwaitinfo(usr1, NULL) < 0)
		if (errno != EINTR)
			die("sigwaitinfo failed");
	if (inlen || poll(&in, 1, 0) > 0)
		record("input before hello");
}

/* Written whole, then renamed: the test never reads half a pid. */
static void write_pid(const char *path)
{
	char tmp[4096], pid[32];
	int fd, n;

	snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
	if (fd < 0)
		die("cannot write the pid file");
	n = snprintf(pid, sizeof(pid), "%ld\n", (long)getpid());
	write_all(fd, pid, (size_t)n);
	close(fd);
	if (rename(tmp, path) < 0)
		die("cannot rename the pid file");
}

static bool exits_at(const char *point)
{
	return cfg.exit_at && strcmp(cfg.exit_at, point) == 0;
}

int main(int argc, char **argv)
{
	struct qm_peer_msg hello = { .type = QM_PEER_HELLO }, m = { 0 };
	const char *pid_file = NULL;
	sigset_t usr1;
	int r;

	alarm(30);
	parse_args(argc, argv, &pid_file);
	/* Blocked before the pid is known: a signal the test sends waits for sigwaitinfo.
	 */
	sigemptyset(&usr1);
	sigaddset(&usr1, SIGUSR1);
	sigprocmask(SIG_BLOCK, &usr1, NULL);
	write_pid(pid_file);
	if (exits_at("start"))
		return 0;
	if (cfg.hello_on_signal)
		hello_on_signal(&usr1);
	if (cfg.banner) {
		write_all(STDOUT_FILENO, cfg.banner, strlen(cfg.banner));
		write_all(STDOUT_FILENO, "\n", 1);
	} else {
		hello.hello = cfg.hello;
		send_msg(&hello);
	}
	if (exits_at("hello"))
		return 0;
	while ((r = next_msg(&m)) > 0) {
		struct qm_cookie c = { 0 };
		struct qm_cookie_check any = { 0 };
		struct qm_error err = { 0 };
		bool last = exits_at(qm_peer_type_name(m.type));

		if (m.cookie &&
		    qm_cookie_parse(m.cookie, strlen(m.cookie), &any, &c, &err) < 0)
			record("bad cookie: %s", err.text);
		record_msg(&m, &c);
		if (!last)
			answer(&m, &c);
		qm_peer_msg_release(&m);
		if (last)
			return 0;
	}
	if (r == 0)
		record("eof");
	return 0;
}
