/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The QMP client against the scripted fake server: the handshake, replies,
 * events, framing on the wire (fds, the blocking call, the peer and the
 * transcript: test-qmp-client-calls.c).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "qmp/internal.h"
#include "tests/helpers/qmp-harness.h"

TestSuite(qmp_client, .init = harness_setup, .fini = harness_teardown, .timeout = 10);

/* ---- handshake, ids, replies -------------------------------------------------- */

Test(qmp_client, commands_before_capabilities_are_queued_not_lost)
{
	static const struct fq_step script[] = {
		FQ_SEND_FILE("greeting.json"),
		FQ_EXPECT("qmp_capabilities", 0),
		FQ_WAIT,
		FQ_REPLY_FILE(0, "capabilities.json"),
		FQ_EXPECT("query-status", 1),
		FQ_REPLY_FILE(1, "query-status.json"),
		FQ_END,
	};
	struct reply st = { .label = "status" };
	json_t *version;

	serve(script, NULL);
	command("query-status", NULL, &st);
	cr_assert_null(qm_qmp_greeting(qmp));
	/* The fake fails the test if query-status shows up while it waits. */
	spin_until(fq_waiting(fake));
	spin_a_little();
	cr_assert_not(qm_qmp_is_ready(qmp));
	cr_assert_eq(st.calls, 0);
	version = recorded("greeting.json", "QMP");
	cr_assert(json_equal(qm_qmp_greeting(qmp), version));
	json_decref(version);

	fq_resume(fake);
	spin_until(st.calls);
	expect_recorded_return(&st, "query-status.json");
	cr_assert(qm_qmp_is_ready(qmp));
	fq_free(fake);
}

Test(qmp_client, every_command_gets_a_unique_id_and_replies_match_by_id)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-version", 1),
		FQ_EXPECT("stop", 2),
		FQ_REPLY_FILE(2, "stop.json"),
		FQ_REPLY_FILE(0, "query-status.json"),
		FQ_REPLY_FILE(1, "query-version.json"),
		FQ_END,
	};
	struct reply st = { .label = "status" }, ver = { .label = "version" },
		     stop = { .label = "stop" };
	json_int_t ids[4];

	serve(script, NULL);
	command("query-status", NULL, &st);
	command("query-version", NULL, &ver);
	command("stop", NULL, &stop);
	spin_until(st.calls && ver.calls && stop.calls);
	cr_assert_str_eq(trail, "stop status version ");
	expect_recorded_return(&st, "query-status.json");
	expect_recorded_return(&ver, "query-version.json");
	expect_recorded_return(&stop, "stop.json");
	ids[0] = json_integer_value(fq_slot_id(fake, FQ_CAPS_SLOT));
	for (int i = 0; i < 3; i++)
		ids[i + 1] = json_integer_value(fq_slot_id(fake, i));
	for (int i = 0; i < 4; i++)
		for (int j = i + 1; j < 4; j++)
			cr_assert_neq(ids[i], ids[j]);
	fq_free(fake);
}

Test(qmp_client, reply_with_unknown_id_is_ignored)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_SEND_TEXT(
			"{\"return\": {\"status\": \"paused\"}, \"id\": 424242}\r\n"),
		FQ_SEND_TEXT(
			"{\"return\": {\"status\": \"paused\"}, \"id\": \"424242\"}\r\n"),
		FQ_SEND_TEXT("{\"return\": {\"status\": \"paused\"}}\r\n"),
		FQ_REPLY_FILE(0, "query-status.json"),
		FQ_EXPECT("query-version", 1),
		FQ_REPLY_FILE(1, "query-version.json"),
		FQ_END,
	};
	struct reply st = { .label = "status" }, ver = { .label = "version" };

	serve(script, NULL);
	command("query-status", NULL, &st);
	spin_until(st.calls);
	expect_recorded_return(&st, "query-status.json");
	cr_assert(qm_qmp_is_ready(qmp));
	command("query-version", NULL, &ver);
	spin_until(ver.calls);
	expect_recorded_return(&ver, "query-version.json");
	fq_free(fake);
}

Test(qmp_client, error_replies_keep_qmp_class_and_desc_verbatim)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("no-such-command", 0),
		FQ_REPLY_FILE(0, "error-command-not-found.json"),
		FQ_END,
	};
	struct reply r = { .label = "bad" };
	json_t *error = recorded("error-command-not-found.json", "error");

	serve(script, NULL);
	command("no-such-command", NULL, &r);
	spin_until(r.calls);
	expect_error(&r, -EIO, json_string_value(json_object_get(error, "class")));
	cr_assert_str_eq(r.err.text, json_string_value(json_object_get(error, "desc")));
	cr_assert(qm_qmp_is_ready(qmp), "an error reply does not close the connection");
	json_decref(error);
	fq_free(fake);
}

Test(qmp_client, a_command_timeout_fails_that_command_alone)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-version", 1),
		FQ_EXPECT("stop", 2),
		FQ_REPLY_FILE(1, "query-version.json"),
		FQ_REPLY_FILE(2, "stop.json"),
		FQ_WAIT,
		FQ_REPLY_FILE(0, "query-status.json"), /* too late: ignored */
		FQ_EXPECT("query-status", 3),
		FQ_REPLY_FILE(3, "query-status.json"),
		FQ_END,
	};
	struct reply slow = { .label = "slow" }, ver = { .label = "version" },
		     stop = { .label = "stop" };
	struct reply again = { .label = "again" };

	serve(script, NULL);
	command_timeout("query-status", NULL, 0.05, &slow);
	command("query-version", NULL, &ver);
	command_timeout("stop", NULL, -1, &stop);
	spin_until(slow.calls && ver.calls && stop.calls && fq_waiting(fake));
	expect_error(&slow, -ETIMEDOUT, "CommandTimeout");
	expect_recorded_return(&ver, "query-version.json");
	expect_recorded_return(&stop, "stop.json");

	fq_resume(fake);
	command("query-status", NULL, &again);
	spin_until(again.calls);
	expect_recorded_return(&again, "query-status.json");
	cr_assert_eq(slow.calls, 1);
	fq_free(fake);
}

/* As for the connect (test-qmp-client-lifetime): a stale loop clock does not shorten it. */
Test(qmp_client, a_command_sent_after_the_loop_sat_idle_waits_its_whole_timeout)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0), /* never answered */
		FQ_END,
	};
	struct reply slow = { .label = "slow" };
	ev_tstamp start;

	serve(script, NULL);
	spin_until(qm_qmp_is_ready(qmp));
	ev_now_update(loop);
	usleep(400000); /* makes the clock stale; nothing waits on it */
	start = ev_time();
	command_timeout("query-status", NULL, 0.25, &slow);
	spin_until(slow.calls);
	cr_assert_geq(ev_time() - start, 0.245, "timed out after %f s", ev_time() - start);
	expect_error(&slow, -ETIMEDOUT, "CommandTimeout");
	fq_free(fake);
}

/* ---- events ---------------------------------------------------------------------- */

Test(qmp_client, events_interleaved_with_replies_keep_the_stream_order)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_EXPECT("query-version", 1),
		FQ_SEND_FILE("event-stop.json"),
		FQ_REPLY_FILE(0, "query-status.json"),
		FQ_SEND_FILE("event-migration.json"),
		FQ_REPLY_FILE(1, "query-version.json"),
		FQ_SEND_FILE("event-stop.json"),
		FQ_END,
	};
	struct reply st = { .label = "status" }, ver = { .label = "version" };
	struct sub all = { 0 };

	serve(script, NULL);
	subscribe(NULL, on_event, &all);
	command("query-status", NULL, &st);
	command("query-version", NULL, &ver);
	spin_until(all.calls == 3);
	cr_assert_str_eq(trail, "STOP status MIGRATION version STOP ");
	fq_free(fake);
}

static bool ready_at_event;

static void note_readiness(struct qm_qmp *q, const char *name, json_t *data, double ts,
			   void *ud)
{
	ready_at_event = qm_qmp_is_ready(q);
	on_event(q, name, data, ts, ud);
}

Test(qmp_client, an_event_before_the_capabilities_reply_is_dispatched)
{
	static const struct fq_step script[] = {
		FQ_SEND_FILE("greeting.json"),
		FQ_EXPECT("qmp_capabilities", 0),
		FQ_SEND_FILE("event-stop.json"),
		FQ_REPLY_FILE(0, "capabilities.json"),
		FQ_EXPECT("query-status", 1),
		FQ_REPLY_FILE(1, "query-status.json"),
		FQ_END,
	};
	struct reply st = { .label = "status" };
	struct sub stop = { 0 };

	serve(script, NULL);
	subscribe("STOP", note_readiness, &stop);
	command("query-status", NULL, &st);
	spin_until(st.calls);
	cr_assert_str_eq(trail, "STOP status ");
	cr_assert_not(ready_at_event);
	expect_recorded_return(&st, "query-status.json");
	fq_free(fake);
}

#define EARLY_EVENT FQ_SEND_TEXT("{\"event\": \"RESUME\", \"timestamp\": {}}\r\n")

/* QEMU 7.2 was seen sending RESUME ahead of the greeting to a client that came as it started. */
Test(qmp_client, an_event_before_the_greeting_is_dropped_and_the_handshake_goes_on)
{
	static const struct fq_step script[] = {
		EARLY_EVENT,
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 1),
		FQ_REPLY_FILE(1, "query-status.json"),
		FQ_SEND_FILE("event-stop.json"),
		FQ_END,
	};
	struct reply st = { .label = "status" };
	struct sub all = { 0 };

	serve(script, NULL);
	subscribe(NULL, on_event, &all);
	command("query-status", NULL, &st);
	spin_until(all.calls);
	/* Nobody had negotiated for it: RESUME reaches no subscriber. */
	cr_assert_str_eq(trail, "status STOP ");
	expect_recorded_return(&st, "query-status.json");
	cr_assert(qm_qmp_greeting(qmp));
	fq_free(fake);
}

Test(qmp_client, events_without_end_instead_of_a_greeting_are_not_a_qmp_socket)
{
	static const struct fq_step script[] = {
		EARLY_EVENT, EARLY_EVENT, EARLY_EVENT, EARLY_EVENT, EARLY_EVENT, EARLY_EVENT,
		EARLY_EVENT, EARLY_EVENT, EARLY_EVENT, EARLY_EVENT, EARLY_EVENT, EARLY_EVENT,
		EARLY_EVENT, EARLY_EVENT, EARLY_EVENT, EARLY_EVENT, EARLY_EVENT, FQ_END,
	};
	struct reply st = { .label = "status" };

	serve(script, NULL);
	command("query-status", NULL, &st);
	spin_until(st.calls);
	expect_error(&st, -EPROTO, "ProtocolError");
	cr_assert(strstr(st.err.text, "not a QMP greeting"), "%s", st.err.text);
	cr_assert_null(qm_qmp_greeting(qmp));
	fq_free(fake);
}

Test(qmp_client, events_go_to_subscribers_by_name_and_to_null_name_subscribers)
{
	static const struct fq_step script[] = {
		FQ_HANDSHAKE,
		FQ_SEND_FILE("event-stop.json"),
		FQ_SEND_FILE("event-migration.json"),
		FQ_END,
	};
	struct sub stop = { 0 }, migration = { 0 }, resume = { 0 }, all = { 0 };
	json_t *ts = recorded("event-stop.json", "timestamp");
	json_t *data = recorded("event-migration.json", "data");
	char *want_data = json_dumps(data, JSON_COMPACT | JSON_SORT_KEYS);

	serve(script, NULL);
	subscribe("STOP", on_event, &stop);
	subscribe("MIGRATION", on_event, &migration);
	subscribe("RESUME", on_event, &resume);
	subscribe(NULL, on_event, &all);
	spin_until(all.calls == 2);
	cr_assert_eq(stop.calls, 1);
	cr_assert_str_eq(stop.name, "STOP");
	cr_assert_str_eq(stop.data, "null");
	cr_assert_float_eq(
		stop.timestamp,
		json_integer_value(json_object_get(ts, "seconds")) +
			json_integer_value(json_object_get(ts, "microseconds")) / 1e6,
		1e-6);
	cr_assert_eq(migration.calls, 1);
	cr_assert_str_eq(migration.name, "MIGRATION");
	cr_assert_str_eq(migration.data, want_data);
	cr_assert_eq(resume.calls, 0);
	cr_assert_str_eq(all.name, "MIGRATION");
	cr_assert_str_eq(all.data, want_data);
	free(want_data);
	json_decref(data);
	json_decref(ts);
	fq_free(fake);
}

Test(qmp_client, subscribing_without_a_callback_is_einval)
{
	qmp = new_client(NULL);
	cr_assert_eq(qm_qmp_subscribe(qmp, "STOP", NULL, NULL), -EINVAL);
}

static struct sub first, second, third;

static void unsubscribe_second(struct qm_qmp *q, const char *name, json_t *data,
			       double ts, void *ud)
{
	on_event(q, name, data, ts, ud);
	qm_qmp_unsubscribe(q, on_event, &second);
}

static void unsubscribe_all(struct qm_qmp *q, const char *name, json_t *data, double ts,
			    void *ud)
{
	on_event(q, name, data, ts, ud);
	qm_qmp_unsubscribe(q, unsubscribe_all, ud);
	qm_qmp_unsubscribe(q, on_event, &second);
	qm_qmp_unsubscribe(q, on_event, &third);
}

static void subscribe_third(struct qm_qmp *q, const char *name, json_t *data, double ts,
			    void *ud)
{
	on_event(q, name, data, ts, ud);
	if (first.calls == 1)
		cr_assert_eq(qm_qmp_subscribe(q, NULL, on_event, &third), 0);
}

static const struct fq_step two_events[] = {
	FQ_HANDSHAKE,
	FQ_SEND_FILE("event-stop.json"),
	FQ_SEND_FILE("event-migration.json"),
	FQ_END,
};

Test(qmp_client, unsubscribing_another_subscriber_inside_an_event_callback_is_safe)
{
	serve(two_events, NULL);
	subscribe(NULL, unsubscribe_second, &first);
	subscribe(NULL, on_event, &second);
	subscribe(NULL, on_event, &third);
	spin_until(first.calls == 2 && third.calls == 2);
	cr_assert_eq(second.calls, 0);
	fq_free(fake);
}

Test(qmp_client, unsubscribing_everyone_inside_an_event_callback_is_safe)
{
	serve(two_events, NULL);
	subscribe(NULL, unsubscribe_all, &first);
	subscribe(NULL, on_event, &second);
	subscribe(NULL, on_event, &third);
	spin_until(fq_finished(fake));
	spin_a_little();
	cr_assert_eq(first.calls, 1);
	cr_assert_eq(second.calls, 0);
	cr_assert_eq(third.calls, 0);
	fq_free(fake);
}

Test(qmp_client, a_subscriber_added_inside_an_event_callback_starts_with_the_next_event)
{
	serve(two_events, NULL);
	subscribe(NULL, subscribe_third, &first);
	subscribe(NULL, on_event, &second);
	spin_until(first.calls == 2);
	cr_assert_eq(second.calls, 2);
	cr_assert_eq(third.calls, 1);
	cr_assert_str_eq(third.name, "MIGRATION");
	fq_free(fake);
}

/* ---- framing on the wire ----------------------------------------------------------- */

Test(qmp_client, byte_at_a_time_delivery_of_greeting_replies_and_events)
{
	static const struct fq_step script[] = {
		{ .op = FQ_OP_SEND, .file = "greeting.json", .slow = true },
		FQ_EXPECT("qmp_capabilities", 0),
		{ .op = FQ_OP_REPLY,
		  .slot = 0,
		  .file = "capabilities.json",
		  .slow = true },
		FQ_EXPECT("query-version", 1),
		{ .op = FQ_OP_SEND, .file = "event-migration.json", .slow = true },
		{ .op = FQ_OP_REPLY,
		  .slot = 1,
		  .file = "query-version.json",
		  .slow = true },
		FQ_END,
	};
	struct reply ver = { .label = "version" };
	struct sub all = { 0 };

	serve(script, NULL);
	subscribe(NULL, on_event, &all);
	command("query-version", NULL, &ver);
	spin_until(ver.calls && fq_finished(fake));
	cr_assert_str_eq(trail, "MIGRATION version ");
	cr_assert_str_eq(all.data, "{\"status\":\"setup\"}");
	expect_recorded_return(&ver, "query-version.json");
	fq_free(fake);
}

Test(qmp_client, several_messages_in_one_write_are_all_handled)
{
	/* Output steps in a row leave the fake in a single write. */
	static const struct fq_step script[] = {
		FQ_SEND_TEXT("{\"QMP\": {\"version\": {}, \"capabilities\": []}}\r\n"
			     "{\"event\": \"STOP\", \"timestamp\": {\"seconds\": 1, "
			     "\"microseconds\": 2}}\r\n"),
		FQ_EXPECT("qmp_capabilities", 0),
		FQ_REPLY_FILE(0, "capabilities.json"),
		FQ_EXPECT("query-status", 1),
		FQ_EXPECT("query-version", 2),
		FQ_SEND_FILE("event-stop.json"),
		FQ_REPLY_FILE(2, "query-version.json"),
		FQ_SEND_FILE("event-migration.json"),
		FQ_REPLY_FILE(1, "query-status.json"),
		FQ_END,
	};
	struct reply st = { .label = "status" }, ver = { .label = "version" };
	struct sub all = { 0 };

	serve(script, NULL);
	subscribe(NULL, on_event, &all);
	command("query-status", NULL, &st);
	command("query-version", NULL, &ver);
	spin_until(st.calls);
	cr_assert_str_eq(trail, "STOP STOP version MIGRATION status ");
	expect_recorded_return(&st, "query-status.json");
	expect_recorded_return(&ver, "query-version.json");
	fq_free(fake);
}

Test(qmp_client, crlf_and_blank_lines_between_messages_are_skipped)
{
	static const struct fq_step script[] = {
		FQ_SEND_TEXT("\r\n\r\n"),
		FQ_HANDSHAKE,
		FQ_EXPECT("query-status", 0),
		FQ_SEND_TEXT("\r\n \t\n"),
		FQ_SEND_TEXT("{\"event\": \"RESUME\", \"timestamp\": {\"seconds\": 3, "
			     "\"microseconds\": 0}}\n\r\n"),
		FQ_REPLY_FILE(0, "query-status.json"),
		FQ_END,
	};
	struct reply st = { .label = "status" };
	struct sub all = { 0 };

	serve(script, NULL);
	subscribe(NULL, on_event, &all);
	command("query-status", NULL, &st);
	spin_until(st.calls);
	cr_assert_str_eq(trail, "RESUME status ");
	cr_assert_float_eq(all.timestamp, 3.0, 1e-9);
	expect_recorded_return(&st, "query-status.json");
	fq_free(fake);
}
