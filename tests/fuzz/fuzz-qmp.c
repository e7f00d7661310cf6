/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * libFuzzer harness for what qmigrate reads from QEMU: the input is the byte
 * stream a QMP server sends.  Twice over:
 *
 * - through the framer (qmp/frame.c) under a small bound, whole and in
 *   chunks whose sizes come from the input's hash (a tenth of them single
 *   bytes): both give the same messages and the same end, each message an
 *   object no larger than the bound;
 * - through a real client (qmp/client.c) on one end of a socketpair, in
 *   chunks as above, with commands queued and events subscribed: the
 *   greeting, the capabilities handshake, replies, errors and events.
 *   Every command's callback runs exactly once, with a value or an error
 *   that has a class and a message, and the close callback once.
 *
 * Commands queued before the greeting take ids 1 to 3, qmp_capabilities 4;
 * each reply queues the next command, up to MAX_COMMANDS (the seeds in
 * tests/data/qmp/stream answer them by these ids).
 */
#include <errno.h>
#include <ev.h>
#include <jansson.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "qmigrate.h"
#include "qmp/frame.h"
#include "tests/fuzz/fuzz.h"

#define FRAME_MAX 1024	/* the framer's bound when fuzzed alone */
#define CLIENT_MAX 2048 /* the client's max_message */
#define MAX_COMMANDS 8	/* commands one input may get replies to */
#define MAX_SPINS 64	/* loop iterations to deliver what is due */

/* ---- chunk sizes ---------------------------------------------------------- */

/*
 * Sizes from 1 to 2^k bytes, k below @bits, drawn from the input's own hash:
 * small ones for the framer alone, larger ones for the client, where every
 * chunk costs a write and a turn of the loop.
 */
struct chunker {
	uint64_t state;
	unsigned bits;
};

static void chunker_init(struct chunker *c, const uint8_t *data, size_t size,
			 unsigned bits)
{
	uint64_t h = 14695981039346656037ULL; /* FNV-1a */

	for (size_t i = 0; i < size; i++)
		h = (h ^ data[i]) * 1099511628211ULL;
	c->state = h | 1;
	c->bits = bits;
}

static size_t chunker_next(struct chunker *c, size_t left)
{
	size_t n;

	c->state ^= c->state << 13; /* xorshift64 */
	c->state ^= c->state >> 7;
	c->state ^= c->state << 17;
	n = 1 + (size_t)((c->state >> 8) % (1u << (c->state % c->bits)));
	return n < left ? n : left;
}

/* ---- the framer alone ----------------------------------------------------- */

/* What a stream framed to: the messages' count and hash, and how it ended. */
struct framed {
	size_t count;
	uint64_t hash;
	int end; /* 0: more bytes wanted; or qm_frame_next's error */
};

static void add_message(struct framed *out, const char *msg, size_t len)
{
	fuzz_assert(len >= 2 && len <= FRAME_MAX, "message of %zu bytes", len);
	fuzz_assert(msg[0] == '{' && (msg[len - 1] == '}' || msg[len - 1] == ']'),
		    "message %.*s", (int)len, msg);
	out->hash = (out->hash ^ len) * 1099511628211ULL;
	for (size_t i = 0; i < len; i++)
		out->hash = (out->hash ^ (uint8_t)msg[i]) * 1099511628211ULL;
	out->count++;
}

/* Frames @data in chunks of @step bytes, or of the chunker's sizes when @step is 0. */
static void frame(const uint8_t *data, size_t size, size_t step, struct framed *out)
{
	struct qm_frame f;
	struct chunker ch;
	size_t off = 0;

	chunker_init(&ch, data, size, 10);
	memset(out, 0, sizeof(*out));
	qm_frame_init(&f, FRAME_MAX);
	while (off < size && out->end == 0) {
		size_t n = step ? (step < size - off ? step : size - off)
				: chunker_next(&ch, size - off);
		char *space = qm_frame_space(&f, n);
		const char *msg;
		size_t len;
		int r;

		fuzz_assert(space, "out of memory for %zu bytes", n);
		memcpy(space, data + off, n);
		qm_frame_commit(&f, n);
		off += n;
		while ((r = qm_frame_next(&f, &msg, &len)) == 1)
			add_message(out, msg, len);
		fuzz_assert(r == 0 || r == -EPROTO || r == -EMSGSIZE, "%d", r);
		out->end = r;
		/* One message and a little: the buffer never holds much more. */
		fuzz_assert(f.cap <= 4096 || f.cap < 2 * (FRAME_MAX + n),
			    "%zu bytes held for messages of %d", f.cap, FRAME_MAX);
	}
	qm_frame_release(&f);
}

static void fuzz_frame(const uint8_t *data, size_t size)
{
	struct framed whole, chunks;

	frame(data, size, size ? size : 1, &whole);
	frame(data, size, 0, &chunks);
	fuzz_assert(whole.count == chunks.count && whole.hash == chunks.hash &&
			    whole.end == chunks.end,
		    "in chunks: %zu messages, end %d; whole: %zu, %d", chunks.count,
		    chunks.end, whole.count, whole.end);
}

/* ---- the client ----------------------------------------------------------- */

static const char *const commands[] = { "query-status", "stop", "query-version" };

struct session {
	struct qm_qmp *qmp;
	unsigned queued, answered, events, closed;
};

static void check_error(const struct qm_error *err)
{
	fuzz_assert(err->code < 0 && err->error_class[0] && err->text[0], "%d %s: %s",
		    err->code, err->error_class, err->text);
}

static void reply_cb(struct qm_qmp *qmp, json_t *ret, const struct qm_error *err,
		     void *userdata);

static void queue(struct session *s)
{
	const char *name = commands[s->queued % (sizeof(commands) / sizeof(commands[0]))];
	int r = qm_qmp_command(s->qmp, name, NULL, -1, 0, reply_cb, s);

	/* Refused only once the connection has closed: then the callback never runs. */
	fuzz_assert(r == 0 || r == -ENOTCONN, "%d", r);
	if (r == 0)
		s->queued++;
}

static void reply_cb(struct qm_qmp *qmp, json_t *ret, const struct qm_error *err,
		     void *userdata)
{
	struct session *s = userdata;

	fuzz_assert(!ret != !err, "a reply with %s",
		    ret ? "a value and an error" : "nothing");
	if (err)
		check_error(err);
	else
		free(json_dumps(ret, JSON_ENCODE_ANY));
	s->answered++;
	fuzz_assert(s->answered <= s->queued, "%u replies to %u commands", s->answered,
		    s->queued);
	if (!err && s->queued < MAX_COMMANDS)
		queue(s);
}

static void event_cb(struct qm_qmp *qmp, const char *name, json_t *data, double timestamp,
		     void *userdata)
{
	struct session *s = userdata;

	fuzz_assert(name, "an event without a name");
	if (data)
		free(json_dumps(data, JSON_ENCODE_ANY));
	s->events++;
}

static void close_cb(struct qm_qmp *qmp, const struct qm_error *err, void *userdata)
{
	struct session *s = userdata;

	check_error(err);
	fuzz_assert(s->answered == s->queued, "closed with %u of %u commands answered",
		    s->answered, s->queued);
	s->closed++;
}

/* Runs what is due on @loop and reads what the client wrote (and drops it). */
static void spin(struct ev_loop *loop, int fd)
{
	char sink[4096];

	ev_run(loop, EVRUN_NOWAIT);
	while (read(fd, sink, sizeof(sink)) > 0)
		;
}

static struct ev_loop *the_loop(void)
{
	static struct ev_loop *loop;

	/* One loop for every input: each leaves no watcher behind. */
	if (!loop)
		loop = ev_loop_new(EVFLAG_AUTO);
	fuzz_assert(loop, "no event loop");
	return loop;
}

static void fuzz_client(const uint8_t *data, size_t size)
{
	const struct qm_qmp_options opts = { .max_message = CLIENT_MAX };
	struct ev_loop *loop = the_loop();
	struct session s = { 0 };
	struct qm_error err = { 0 };
	struct qm_ctx *ctx = qm_ctx_new();
	struct chunker ch;
	size_t off = 0;
	int sv[2];

	fuzz_assert(ctx, "no context");
	fuzz_assert(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0,
			       sv) == 0,
		    "socketpair: %s", strerror(errno));
	s.qmp = qm_qmp_new(ctx, loop, &opts);
	fuzz_assert(s.qmp, "no client");
	qm_ctx_unref(ctx);
	qm_qmp_set_close_fn(s.qmp, close_cb, &s);
	fuzz_assert(qm_qmp_subscribe(s.qmp, NULL, event_cb, &s) == 0, "subscribe");
	fuzz_assert(qm_qmp_subscribe(s.qmp, "STOP", event_cb, &s) == 0, "subscribe");
	fuzz_assert(qm_qmp_adopt_fd(s.qmp, sv[0], &err) == 0, "%s", err.text);
	for (unsigned i = 0; i < 3; i++)
		queue(&s);

	chunker_init(&ch, data, size, 16);
	while (off < size && !s.closed) {
		size_t n = chunker_next(&ch, size - off);
		ssize_t w = send(sv[1], data + off, n, MSG_NOSIGNAL);

		/* The client closes its end at once on a protocol error: it reads no
		 * more. */
		if (w < 0 && errno == EPIPE)
			break;
		fuzz_assert(w == (ssize_t)n, "wrote %zd of %zu: %s", w, n,
			    strerror(errno));
		off += n;
		spin(loop, sv[1]);
	}
	/* Then QEMU goes: every command still waiting fails, and the close callback runs.
	 */
	shutdown(sv[1], SHUT_WR);
	for (int i = 0; i < MAX_SPINS && !s.closed; i++)
		spin(loop, sv[1]);
	fuzz_assert(s.closed == 1, "closed %u times", s.closed);
	fuzz_assert(s.answered == s.queued, "%u of %u commands answered", s.answered,
		    s.queued);
	qm_qmp_unref(s.qmp);
	close(sv[1]);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	fuzz_frame(data, size);
	fuzz_client(data, size);
	return 0;
}
