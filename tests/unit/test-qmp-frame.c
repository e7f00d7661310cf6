/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* The QMP stream framer alone: bytes in, whole top-level objects out. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "qmp/frame.h"

static struct qm_frame frame;

static void setup(void)
{
	qm_frame_init(&frame, 1 << 20);
}

static void teardown(void)
{
	qm_frame_release(&frame);
}

TestSuite(qmp_frame, .init = setup, .fini = teardown, .timeout = 30);

static void feed(const char *bytes, size_t len)
{
	char *space = qm_frame_space(&frame, len);

	cr_assert(space);
	memcpy(space, bytes, len);
	qm_frame_commit(&frame, len);
}

static void feed_str(const char *s)
{
	feed(s, strlen(s));
}

/* The next message must be exactly @want. */
static void expect_message(const char *want)
{
	const char *msg = NULL;
	size_t len = 0;
	int r = qm_frame_next(&frame, &msg, &len);

	cr_assert_eq(r, 1, "wanted the message %s, got %d", want, r);
	cr_assert_eq(len, strlen(want), "wanted %s, got %.*s", want, (int)len, msg);
	cr_assert(memcmp(msg, want, len) == 0, "wanted %s, got %.*s", want, (int)len,
		  msg);
}

static void expect_result(int want)
{
	const char *msg;
	size_t len;

	cr_assert_eq(qm_frame_next(&frame, &msg, &len), want);
}

Test(qmp_frame, partial_message_waits_for_the_rest)
{
	feed_str("{\"return\": {\"stat");
	expect_result(0);
	feed_str("us\": \"running\"}");
	expect_result(0);
	feed_str("}");
	expect_message("{\"return\": {\"status\": \"running\"}}");
	expect_result(0);
}

Test(qmp_frame, several_messages_in_one_buffer_come_out_in_order)
{
	feed_str("{\"a\": 1}{\"b\": 2} {\"c\": 3}");
	expect_message("{\"a\": 1}");
	expect_message("{\"b\": 2}");
	expect_message("{\"c\": 3}");
	expect_result(0);
}

Test(qmp_frame, crlf_and_blank_lines_between_messages_are_skipped)
{
	feed_str("\r\n{\"a\": 1}\r\n\r\n \t{\"b\": 2}\r\n");
	expect_message("{\"a\": 1}");
	expect_message("{\"b\": 2}");
	expect_result(0);
}

Test(qmp_frame, braces_and_escaped_quotes_in_strings_do_not_end_a_message)
{
	const char *tricky =
		"{\"desc\": \"a } b { c \\\" } ] [ \\\\\", \"x\": \"\\\\\\\"}\"}";

	feed_str(tricky);
	feed_str("{\"next\": true}");
	expect_message(tricky);
	expect_message("{\"next\": true}");
}

Test(qmp_frame, a_backslash_at_the_end_of_a_string_does_not_escape_the_quote)
{
	feed_str("{\"path\": \"C:\\\\\"}{\"b\": 2}");
	expect_message("{\"path\": \"C:\\\\\"}");
	expect_message("{\"b\": 2}");
}

Test(qmp_frame, nested_arrays_and_objects_are_one_message)
{
	const char *nested =
		"{\"return\": [[1, [2, {\"a\": [3, {}]}]], [], {\"b\": [[[]]]}]}";

	feed_str(nested);
	expect_message(nested);
	expect_result(0);
}

Test(qmp_frame, a_message_of_exactly_the_cap_is_accepted)
{
	char msg[64];

	qm_frame_release(&frame);
	qm_frame_init(&frame, 32);
	snprintf(msg, sizeof(msg), "{\"x\": \"%0*d\"}", 32 - 9, 0);
	cr_assert_eq(strlen(msg), 32);
	feed_str(msg);
	expect_message(msg);
}

Test(qmp_frame, a_message_one_byte_over_the_cap_is_emsgsize)
{
	char msg[64];

	qm_frame_release(&frame);
	qm_frame_init(&frame, 32);
	snprintf(msg, sizeof(msg), "{\"x\": \"%0*d\"}", 33 - 9, 0);
	cr_assert_eq(strlen(msg), 33);
	feed_str(msg);
	expect_result(-EMSGSIZE);
}

Test(qmp_frame, an_unfinished_message_over_the_cap_is_emsgsize_before_it_ends)
{
	qm_frame_release(&frame);
	qm_frame_init(&frame, 1024);
	feed_str("{\"data\": \"");
	for (int i = 0; i < 100; i++)
		feed_str("0123456789");
	expect_result(0);
	for (int i = 0; i < 10; i++)
		feed_str("0123456789");
	expect_result(-EMSGSIZE);
}

Test(qmp_frame, the_cap_counts_one_message_not_the_whole_stream)
{
	qm_frame_release(&frame);
	qm_frame_init(&frame, 16);
	for (int i = 0; i < 1000; i++) {
		feed_str("{\"a\": 1}\r\n");
		expect_message("{\"a\": 1}");
	}
	expect_result(0);
}

Test(qmp_frame, garbage_that_is_not_an_object_is_eproto)
{
	feed_str("hello");
	expect_result(-EPROTO);
}

Test(qmp_frame, a_top_level_array_string_or_number_is_eproto)
{
	static const char *const inputs[] = { "[1, 2]", "\"str\"", "42", "}" };

	for (size_t i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		qm_frame_release(&frame);
		qm_frame_init(&frame, 1024);
		feed_str(inputs[i]);
		expect_result(-EPROTO);
	}
}

Test(qmp_frame, garbage_after_a_good_message_is_eproto_after_it)
{
	feed_str("{\"a\": 1}\r\nxyz");
	expect_message("{\"a\": 1}");
	expect_result(-EPROTO);
}

static void feed_bytewise(const char *s, size_t len, size_t *messages)
{
	for (size_t i = 0; i < len; i++) {
		const char *msg;
		size_t n;
		int r;

		feed(s + i, 1);
		r = qm_frame_next(&frame, &msg, &n);
		cr_assert_geq(r, 0);
		*messages += (size_t)r;
	}
}

/* Quadratic rescanning or copying would not finish within the suite timeout. */
Test(qmp_frame, many_megabytes_byte_by_byte_stay_linear)
{
	static const char small[] = "{\"event\": \"STOP\", \"data\": {\"x\": \"}\"}}\r\n";
	size_t big_len = 4 << 20, small_len = sizeof(small) - 1, messages = 0, count = 0;
	char *big = malloc(big_len);

	qm_frame_release(&frame);
	qm_frame_init(&frame, 8 << 20);
	cr_assert(big);
	/* One 4 MiB message, then 4 MiB of small ones. */
	memcpy(big, "{\"d\": \"", 7);
	memset(big + 7, 'x', big_len - 9);
	memcpy(big + big_len - 2, "\"}", 2);
	feed_bytewise(big, big_len, &messages);
	cr_assert_eq(messages, 1);
	free(big);
	for (size_t sent = 0; sent < big_len; sent += small_len, count++)
		feed_bytewise(small, small_len, &messages);
	cr_assert_eq(messages, 1 + count);
}

Test(qmp_frame, consumed_messages_do_not_grow_the_buffer)
{
	static const char small[] = "{\"return\": {}, \"id\": 12345}\r\n";
	size_t messages = 0;

	for (int i = 0; i < 100000; i++)
		feed_bytewise(small, sizeof(small) - 1, &messages);
	cr_assert_eq(messages, 100000);
	cr_assert_leq(frame.cap, 8192, "the buffer grew to %zu bytes", frame.cap);
}
