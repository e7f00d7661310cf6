/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The peer channel over a socketpair, both ends on one loop: messages both
 * ways, a peer sending garbage or an oversized header, a peer closing
 * mid-frame or cleanly, a large frame through a small socket buffer, and
 * callbacks that drop the channel.  The loop runs until the test's state
 * says done; a guard timer bounds every run.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "engine/peer-chan.h"
#include "engine/peer-frame.h"
#include "tests/unit/peer-data.h"

struct side {
	struct qm_peer_chan *chan;
	struct qm_peer_msg got[8]; /* the first ones */
	int n_got;
	int n_all; /* every message, kept or not */
	enum qm_peer_type last_type;
	int n_closed;
	struct qm_error close_err;
	bool unref_on_message, unref_on_close, reply;
};

static struct ev_loop *loop;

static void setup(void)
{
	loop = ev_loop_new(EVFLAG_AUTO);
	cr_assert(loop);
}

static void teardown(void)
{
	ev_loop_destroy(loop);
}

TestSuite(peer_chan, .init = setup, .fini = teardown, .timeout = 30);

static void on_message(struct qm_peer_chan *c, struct qm_peer_msg *m, void *userdata)
{
	struct side *s = userdata;

	s->n_all++;
	s->last_type = m->type;
	if (s->n_got == 8)
		return;
	s->got[s->n_got] = *m;
	/* Taken: the channel must not free them. */
	m->cookie = m->domain = NULL;
	m->settings.disk_map = NULL;
	m->settings.n_disk_map = 0;
	m->qmp_log.msg = NULL;
	s->n_got++;
	if (s->reply && m->type == QM_PEER_PREPARE) {
		struct qm_peer_msg r;
		struct qm_error err = { 0 };

		pd_sample(QM_PEER_PREPARE_REPLY, &r);
		cr_assert_eq(qm_peer_chan_send(c, &r, &err), 0, "%s", err.text);
		qm_peer_msg_release(&r);
	}
	if (s->unref_on_message)
		s->chan = qm_peer_chan_unref(c);
}

static void on_closed(struct qm_peer_chan *c, const struct qm_error *err, void *userdata)
{
	struct side *s = userdata;

	s->n_closed++;
	if (s->unref_on_close)
		s->chan = qm_peer_chan_unref(c);
	/* After the unref, as the engine reads it: @err lives for the whole call. */
	s->close_err = *err;
}

static const struct qm_peer_chan_ops ops = { on_message, on_closed };

static void open_side(struct side *s, int fd, const char *label)
{
	struct qm_error err = { 0 };

	s->chan = qm_peer_chan_new(loop, fd, fd, label, &ops, s, &err);
	cr_assert(s->chan, "%s", err.text);
}

static void release_side(struct side *s)
{
	for (int i = 0; i < s->n_got; i++)
		qm_peer_msg_release(&s->got[i]);
	qm_peer_chan_unref(s->chan);
}

static void guard_cb(struct ev_loop *l, ev_timer *w, int revents)
{
	cr_assert_fail("the loop ran 10 s without reaching the state the test waits for");
}

/* Runs the loop until @done(@a) holds, for at most 10 s. */
static void run_until(bool (*done)(const struct side *), const struct side *a)
{
	ev_timer guard;

	ev_timer_init(&guard, guard_cb, 10., 0.);
	ev_timer_start(loop, &guard);
	while (!done(a))
		ev_run(loop, EVRUN_ONCE);
	ev_timer_stop(loop, &guard);
}

static bool got_two(const struct side *s)
{
	return s->n_got >= 2 || s->n_closed;
}

static bool got_one(const struct side *s)
{
	return s->n_got >= 1 || s->n_closed;
}

static bool closed(const struct side *s)
{
	return s->n_closed > 0;
}

static void send_sample(struct side *s, enum qm_peer_type type)
{
	struct qm_peer_msg m;
	struct qm_error err = { 0 };

	pd_sample(type, &m);
	cr_assert_eq(qm_peer_chan_send(s->chan, &m, &err), 0, "%s", err.text);
	qm_peer_msg_release(&m);
}

static void expect_sample(const struct qm_peer_msg *got, enum qm_peer_type type)
{
	struct qm_peer_msg want;

	pd_sample(type, &want);
	pd_assert_same(&want, got);
	qm_peer_msg_release(&want);
}

Test(peer_chan, messages_flow_both_ways)
{
	struct side a = { 0 }, b = { .reply = true };
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	open_side(&a, sv[0], "peer a");
	open_side(&b, sv[1], "peer b");
	send_sample(&a, QM_PEER_HELLO);
	send_sample(&a, QM_PEER_PREPARE);
	run_until(got_two, &b);
	cr_assert_eq(b.n_got, 2);
	expect_sample(&b.got[0], QM_PEER_HELLO);
	expect_sample(&b.got[1], QM_PEER_PREPARE);
	run_until(got_one, &a);
	cr_assert_eq(a.n_got, 1);
	expect_sample(&a.got[0], QM_PEER_PREPARE_REPLY);
	cr_assert_eq(a.n_closed + b.n_closed, 0);
	release_side(&a);
	release_side(&b);
}

/*
 * A prepare's description may hold passwords: once the message is
 * delivered, the receiver's read buffer no longer holds its bytes, while a
 * frame that is still arriving stays intact.
 */
Test(peer_chan, a_delivered_frame_is_wiped_from_the_read_buffer)
{
	static const char secret[] = "passwd=\"s3cret-Vx9q\"";
	struct side a = { 0 }, b = { 0 };
	struct qm_peer_msg m;
	struct qm_error err = { 0 };
	const char *buf;
	size_t cap;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	open_side(&a, sv[0], "peer a");
	open_side(&b, sv[1], "peer b");
	pd_sample(QM_PEER_PREPARE, &m);
	free(m.domain);
	cr_assert(m.domain = strdup("<domain type=\"kvm\"><name>vm1</name><devices>"
				    "<graphics type=\"vnc\" passwd=\"s3cret-Vx9q\"/>"
				    "</devices></domain>"));
	cr_assert_eq(qm_peer_chan_send(a.chan, &m, &err), 0, "%s", err.text);
	qm_peer_msg_release(&m);
	run_until(got_one, &b);
	cr_assert_eq(b.n_got, 1);
	cr_assert(strstr(b.got[0].domain, secret), "%s", b.got[0].domain);
	buf = qm_peer_chan_read_buffer(b.chan, &cap);
	cr_assert(buf && cap > 0);
	cr_assert_null(memmem(buf, cap, "s3cret-Vx9q", 11),
		       "the read buffer still holds the delivered frame's password");
	release_side(&a);
	release_side(&b);
}

/* A raw peer: writes @bytes into its end, then closes it when @hang_up. */
static void raw_peer_case(const void *bytes, size_t len, bool hang_up, const char *cls,
			  const char *piece)
{
	struct side a = { 0 };
	struct qm_error err = { 0 };
	struct qm_peer_msg m;
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	open_side(&a, sv[0], "peer ssh://b");
	cr_assert_eq(write(sv[1], bytes, len), (ssize_t)len);
	if (hang_up)
		close(sv[1]);
	run_until(closed, &a);
	cr_assert_eq(a.n_closed, 1);
	cr_assert_eq(a.n_got, 0);
	cr_assert_str_eq(a.close_err.error_class, cls);
	cr_assert(strstr(a.close_err.text, "peer ssh://b: "), "%s", a.close_err.text);
	cr_assert(strstr(a.close_err.text, piece), "'%s' lacks '%s'", a.close_err.text, piece);
	cr_assert(qm_peer_chan_is_closed(a.chan));
	/* Closed stays closed: sending fails, and .closed does not come again. */
	pd_sample(QM_PEER_FINISH, &m);
	cr_assert_eq(qm_peer_chan_send(a.chan, &m, &err), -EPIPE);
	qm_peer_msg_release(&m);
	ev_run(loop, EVRUN_NOWAIT);
	cr_assert_eq(a.n_closed, 1);
	release_side(&a);
	if (!hang_up)
		close(sv[1]);
}

Test(peer_chan, garbage_from_the_peer_closes_the_channel)
{
	raw_peer_case("Welcome to host b!\n", 19, false, "PeerProtocol",
		      "does not start with the magic \"QMPP\"");
}

Test(peer_chan, oversized_header_closes_the_channel)
{
	uint8_t hdr[QM_PEER_HEADER_SIZE];

	qm_peer_frame_header(hdr, (size_t)QM_PEER_BODY_MAX + 1);
	raw_peer_case(hdr, sizeof(hdr), false, "PeerProtocol", "over the bound");
}

Test(peer_chan, undecodable_body_closes_the_channel)
{
	raw_peer_case("QMPP\0\1\0\0\0\0\0\2[]", 14, false, "PeerProtocol",
		      "not an object");
}

Test(peer_chan, peer_closing_mid_frame_closes_the_channel)
{
	struct qm_peer_msg m;
	_cleanup_free_ char *frame = NULL;
	size_t len;

	pd_sample(QM_PEER_FINISH, &m);
	frame = pd_encode(&m, &len);
	qm_peer_msg_release(&m);
	raw_peer_case(frame, 20, true, "PeerProtocol",
		      "closed the channel in the middle of a frame, after 20 bytes");
}

Test(peer_chan, peer_closing_between_frames_says_so)
{
	raw_peer_case("", 0, true, "PeerClosed", "the peer closed the channel (did the agent");
}

/* A frame far larger than the socket buffer is queued, then written as the peer reads. */
Test(peer_chan, large_frame_waits_for_the_peer_to_read)
{
	struct side a = { 0 }, b = { 0 };
	struct qm_peer_msg m = { .type = QM_PEER_PREPARE, .settings.launch = true };
	struct qm_error err = { 0 };
	int sv[2], small = 4096;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	open_side(&a, sv[0], "peer a");
	open_side(&b, sv[1], "peer b");
	m.cookie = strdup("<cookie/>");
	cr_assert(m.domain = malloc(QM_DOMAIN_MAX + 1));
	for (size_t i = 0; i < QM_DOMAIN_MAX; i++)
		m.domain[i] = "<domain>\"\n"[i % 10];
	m.domain[QM_DOMAIN_MAX] = '\0';
	cr_assert_eq(qm_peer_chan_send(a.chan, &m, &err), 0, "%s", err.text);
	cr_assert_gt(qm_peer_chan_queued(a.chan), 0, "the send did not stop at a full buffer");
	/* A second frame queues behind it and comes out after it. */
	send_sample(&a, QM_PEER_FINISH);
	run_until(got_two, &b);
	cr_assert_eq(b.n_got, 2);
	pd_assert_same(&m, &b.got[0]);
	expect_sample(&b.got[1], QM_PEER_FINISH);
	cr_assert_eq(qm_peer_chan_queued(a.chan), 0);
	qm_peer_msg_release(&m);
	release_side(&a);
	release_side(&b);
}

static bool got_finish_reply(const struct side *s)
{
	return s->last_type == QM_PEER_FINISH_REPLY || s->n_closed;
}

/*
 * The QMP transcript's messages stop queuing past a bound while the peer does
 * not read; the answers the migration needs still queue behind them.
 */
Test(peer_chan, a_bounded_send_is_refused_past_its_bound_and_an_answer_is_not)
{
	struct side a = { 0 }, b = { 0 };
	struct qm_peer_msg m;
	struct qm_error err = { 0 };
	int sv[2], small = 4096, sent = 0, r;

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	cr_assert_eq(setsockopt(sv[0], SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)), 0);
	cr_assert_eq(setsockopt(sv[1], SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
	open_side(&a, sv[0], "peer a");
	pd_sample(QM_PEER_QMP_LOG, &m);
	/* The loop does not run: nothing reads b's end, and each frame stays queued. */
	while ((r = qm_peer_chan_send_bounded(a.chan, &m, 16384, &err)) == 0)
		cr_assert_lt(++sent, 10000, "never refused");
	cr_assert_eq(r, -EAGAIN, "%s", err.text);
	cr_assert_str_eq(err.error_class, "PeerBusy");
	cr_assert_gt(qm_peer_chan_queued(a.chan), 16384);
	cr_assert_lt(qm_peer_chan_queued(a.chan), 16384 + 4096, "queued past the bound");
	cr_assert_gt(sent, 7);
	qm_peer_msg_release(&m);
	/* An answer is never left out; the peer gets the messages in order, whole. */
	send_sample(&a, QM_PEER_FINISH_REPLY);
	open_side(&b, sv[1], "peer b");
	run_until(got_finish_reply, &b);
	cr_assert_eq(b.n_closed, 0, "%s", b.close_err.text);
	cr_assert_eq(b.n_all, sent + 1);
	for (int i = 0; i < b.n_got; i++)
		expect_sample(&b.got[i], QM_PEER_QMP_LOG);
	release_side(&a);
	release_side(&b);
}

/* Two frames in one read: the first callback drops the channel, the second never comes. */
Test(peer_chan, unref_inside_the_message_callback)
{
	struct side a = { .unref_on_message = true };
	struct qm_peer_msg m;
	size_t lens[PD_N_TYPES], len;
	_cleanup_free_ char *stream = pd_stream(&len, lens);
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	open_side(&a, sv[0], "peer a");
	cr_assert_eq(write(sv[1], stream, len), (ssize_t)len);
	run_until(got_one, &a);
	cr_assert_eq(a.n_got, 1);
	cr_assert_null(a.chan);
	ev_run(loop, EVRUN_NOWAIT);
	cr_assert_eq(a.n_got, 1);
	cr_assert_eq(a.n_closed, 0, "dropped, so not told of the close");
	pd_sample(QM_PEER_HELLO, &m);
	pd_assert_same(&m, &a.got[0]);
	qm_peer_msg_release(&m);
	release_side(&a);
	close(sv[1]);
}

Test(peer_chan, unref_inside_the_close_callback)
{
	struct side a = { .unref_on_close = true };
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	open_side(&a, sv[0], "peer a");
	close(sv[1]);
	run_until(closed, &a);
	cr_assert_eq(a.n_closed, 1);
	cr_assert_null(a.chan);
	cr_assert_str_eq(a.close_err.error_class, "PeerClosed");
	cr_assert(strstr(a.close_err.text, "peer a: the peer closed the channel"), "%s",
		  a.close_err.text);
	ev_run(loop, EVRUN_NOWAIT);
	cr_assert_eq(a.n_closed, 1);
}

/* The write side over a socket whose reader is gone: an error, not SIGPIPE. */
Test(peer_chan, write_to_a_closed_peer_is_reported)
{
	struct side a = { 0 };
	int sv[2];

	cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv), 0);
	shutdown(sv[1], SHUT_RD);
	open_side(&a, sv[0], "peer a");
	send_sample(&a, QM_PEER_HELLO);
	run_until(closed, &a);
	cr_assert_eq(a.n_closed, 1);
	cr_assert_str_eq(a.close_err.error_class, "PeerClosed");
	cr_assert(strstr(a.close_err.text, "peer a: the peer closed the channel"), "%s",
		  a.close_err.text);
	release_side(&a);
	close(sv[1]);
}

/*
 * The same over a pipe, as to an agent's stdin, in a process that does not
 * ignore SIGPIPE: the library's write must not end it, and leaves no
 * SIGPIPE pending behind.
 */
Test(peer_chan, write_to_a_pipe_whose_reader_is_gone_is_reported_without_sigpipe)
{
	struct side a = { 0 };
	struct qm_error err = { 0 };
	sigset_t pending;
	int in[2], out[2];

	cr_assert_eq(signal(SIGPIPE, SIG_DFL), SIG_DFL);
	cr_assert_eq(pipe2(in, O_CLOEXEC), 0);
	cr_assert_eq(pipe2(out, O_CLOEXEC), 0);
	close(out[0]);
	a.chan = qm_peer_chan_new(loop, in[0], out[1], "agent", &ops, &a, &err);
	cr_assert(a.chan, "%s", err.text);
	send_sample(&a, QM_PEER_HELLO);
	run_until(closed, &a);
	cr_assert_str_eq(a.close_err.error_class, "PeerClosed");
	cr_assert(strstr(a.close_err.text, "agent: the peer closed the channel"), "%s",
		  a.close_err.text);
	cr_assert_eq(sigpending(&pending), 0);
	cr_assert_not(sigismember(&pending, SIGPIPE));
	release_side(&a);
	close(in[1]);
}
