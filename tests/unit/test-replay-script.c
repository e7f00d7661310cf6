/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * The replay's transcript reader (engine/replay-script.c): commands with
 * their replies by id, events after the command last sent on either side,
 * and every malformed transcript refused by its line.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "engine/replay.h"

TestSuite(replay_script, .timeout = 20);

#define GREETING(side) "{\"side\":\"" side "\",\"dir\":\"recv\",\"msg\":{\"QMP\":{}}}\n"
#define SEND(side, id, name)                                                             \
	"{\"ts\":1.5,\"side\":\"" side                                                   \
	"\",\"dir\":\"send\",\"msg\":{\"execute\":\"" name "\",\"id\":" #id "}}\n"
#define REPLY(side, id, ret)                                                             \
	"{\"side\":\"" side "\",\"dir\":\"recv\",\"msg\":{\"return\":" ret               \
	",\"id\":" #id "}}\n"
#define EVENT(side, name)                                                                \
	"{\"side\":\"" side "\",\"dir\":\"recv\",\"msg\":{\"event\":\"" name "\"}}\n"

static struct qm_replay_script *parse(const char *text)
{
	struct qm_replay_script *s = NULL;
	struct qm_error err = { 0 };

	cr_assert_eq(qm_replay_script_parse("t", text, strlen(text), &s, &err), 0, "%s",
		     err.text);
	return s;
}

static void refused(const char *text, const char *want)
{
	struct qm_replay_script *s = NULL;
	struct qm_error err = { 0 };

	cr_assert_lt(qm_replay_script_parse("t", text, strlen(text), &s, &err), 0,
		     "accepted: %s", text);
	cr_assert_null(s);
	cr_assert_str_eq(err.error_class, "Usage");
	cr_assert(strstr(err.text, want), "'%s' does not say '%s'", err.text, want);
}

Test(replay_script, replies_match_commands_by_id_even_out_of_order)
{
	struct qm_replay_script *s = parse(
		GREETING("source") SEND("source", 1, "query-status")
			SEND("source", 2, "query-migrate")
				REPLY("source", 2, "{\"status\":\"active\"}")
					REPLY("source", 1, "{\"running\":true}") "\n");
	const struct qm_replay_side *src = &s->side[QM_REPLAY_SOURCE];

	cr_assert_not_null(src->greeting);
	cr_assert_eq(src->n_cmds, 2);
	cr_assert_str_eq(src->cmds[0].name, "query-status");
	cr_assert(json_is_true(json_object_get(
		json_object_get(src->cmds[0].reply, "return"), "running")));
	cr_assert_null(json_object_get(src->cmds[0].reply, "id"),
		       "the reply keeps its id");
	cr_assert_str_eq(
		json_string_value(json_object_get(
			json_object_get(src->cmds[1].reply, "return"), "status")),
		"active");
	cr_assert_eq(src->cmds[1].line, 3);
	cr_assert_null(s->side[QM_REPLAY_DEST].greeting);
	cr_assert_eq(s->lines, 6);
	qm_replay_script_free(s);
}

Test(replay_script, the_same_command_is_listed_in_order_of_sending)
{
	struct qm_replay_script *s =
		parse(GREETING("source") SEND("source", 1, "query-migrate")
			      REPLY("source", 1, "{\"n\":1}") SEND("source", 2, "stop")
				      REPLY("source", 2, "{}")
					      SEND("source", 3, "query-migrate")
						      REPLY("source", 3, "{\"n\":2}"));
	json_t *list = json_object_get(s->side[0].by_name, "query-migrate");

	cr_assert_eq(json_array_size(list), 2);
	cr_assert_eq(json_integer_value(json_array_get(list, 0)), 0);
	cr_assert_eq(json_integer_value(json_array_get(list, 1)), 2);
	qm_replay_script_free(s);
}

Test(replay_script, an_event_follows_the_last_command_sent_on_either_side)
{
	struct qm_replay_script *s = parse(
		GREETING("source") GREETING("destination") EVENT("destination", "EARLY")
			SEND("destination", 1, "migrate-incoming") REPLY(
				"destination", 1, "{}") SEND("source", 7, "query-migrate")
				EVENT("destination", "MIGRATION") REPLY("source", 7, "{}")
					EVENT("source", "STOP"));
	json_t *pre = s->side[QM_REPLAY_SOURCE].cmds[0].pre;
	json_t *events = s->side[QM_REPLAY_SOURCE].cmds[0].events;

	/* The destination's event came before the reply, the source's after. */
	cr_assert_eq(json_array_size(pre), 1);
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(pre, 0), 0)),
		     QM_REPLAY_DEST);
	cr_assert_str_eq(json_string_value(json_object_get(
				 json_array_get(json_array_get(pre, 0), 1), "event")),
			 "MIGRATION");
	cr_assert_eq(json_array_size(events), 1);
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(events, 0), 0)),
		     QM_REPLAY_SOURCE);
	cr_assert_eq(json_array_size(s->side[QM_REPLAY_DEST].cmds[0].events), 0);
	/* Before any command: after its side's greeting. */
	cr_assert_eq(json_array_size(s->side[QM_REPLAY_DEST].events), 1);
	qm_replay_script_free(s);
}

Test(replay_script, a_command_never_answered_has_no_reply)
{
	struct qm_replay_script *s = parse(GREETING("source") SEND("source", 1, "quit")
						   EVENT("source", "SHUTDOWN"));

	cr_assert_null(s->side[0].cmds[0].reply);
	qm_replay_script_free(s);
}

Test(replay_script, malformed_lines_are_refused_by_number)
{
	refused(GREETING("source") "{\"side\":\"source\",", "t:2: not a JSON object");
	refused(GREETING("source") "[1]\n", "t:2: not a JSON object");
	refused(GREETING("source") "{\"side\":\"left\",\"dir\":\"recv\",\"msg\":{}}",
		"t:2: \"side\" is neither");
	refused(GREETING("source") "{\"side\":\"source\",\"dir\":\"up\",\"msg\":{}}",
		"t:2: \"dir\" is neither");
	refused(GREETING("source") "{\"side\":\"source\",\"dir\":\"send\",\"msg\":3}",
		"t:2: \"msg\" is not a JSON object");
	refused(GREETING("source") "{\"side\":\"source\",\"dir\":\"send\",\"msg\":{"
				   "\"id\":1}}",
		"t:2: a command without \"execute\"");
	refused(GREETING("source") REPLY("source", 4, "{}"),
		"t:2: a reply to no command");
	refused(GREETING("source") SEND("source", 4, "stop")
			REPLY("destination", 4, "{}"),
		"t:3: a reply to no command");
	refused(GREETING("source") "{\"side\":\"source\",\"dir\":\"recv\",\"msg\":{\"x\":"
				   "1}}",
		"t:2: a message from QEMU that is no greeting");
	refused(GREETING("source") GREETING("source"), "t:2: a second greeting");
	refused(GREETING("source") "{\"side\":\"source\",\"dir\":\"recv\",\"msg\":\"{"
				   "\\\"ret\",\"bytes\":2000000}",
		"t:2: a message cut");
	refused(SEND("destination", 1, "stop"), "no greeting from the destination");
	refused("\n\n", "an empty transcript");
}

Test(replay_script, too_many_lines_or_too_long_a_line_is_refused)
{
	size_t n = QM_REPLAY_MAX_LINES + 1;
	char *text = malloc(QM_REPLAY_MAX_LINE + 2);

	cr_assert(text);
	memset(text, '\n', n);
	text[n] = '\0';
	refused(text, "t:1000001: more lines than");
	memset(text, ' ', QM_REPLAY_MAX_LINE + 1);
	text[QM_REPLAY_MAX_LINE + 1] = '\0';
	refused(text, "t:1: a line longer than");
	free(text);
}

Test(replay_script, a_file_is_read_and_a_missing_one_named)
{
	char path[] = "/tmp/qmigrate-replay-test-XXXXXX";
	static const char text[] = GREETING("source") SEND("source", 1, "stop");
	struct qm_replay_script *s = NULL;
	struct qm_error err = { 0 };
	int fd = mkstemp(path);

	cr_assert_geq(fd, 0);
	cr_assert_eq(write(fd, text, sizeof(text) - 1), (ssize_t)sizeof(text) - 1);
	close(fd);
	cr_assert_eq(qm_replay_script_read(path, &s, &err), 0, "%s", err.text);
	cr_assert_eq(s->side[0].n_cmds, 1);
	qm_replay_script_free(s);
	unlink(path);
	cr_assert_lt(qm_replay_script_read(path, &s, &err), 0);
	cr_assert(strstr(err.text, path) && strstr(err.text, "No such file"), "%s",
		  err.text);
}

Test(replay_script, a_qemu_hang_up_is_kept_and_qmigrate_own_close_is_not)
{
	struct qm_replay_script *s = parse(
		GREETING("source") GREETING("destination")
			SEND("source", 1,
			     "query-migrate") "{\"side\":\"destination\",\"dir\":"
					      "\"recv\",\"closed\":{\"class\":"
					      "\"ConnectionClosed\",\"desc\":\"QEMU "
					      "closed the connection\",\"errno\":104}}\n"
					      "{\"side\":\"source\",\"dir\":\"recv\","
					      "\"closed\":{\"class\":"
					      "\"ConnectionClosed\",\"desc\":\"closed by "
					      "caller\",\"errno\":125}}\n");
	/* Never answered: what followed it came before its reply. */
	json_t *events = s->side[QM_REPLAY_SOURCE].cmds[0].pre;

	cr_assert_eq(json_array_size(events), 1);
	cr_assert_eq(json_integer_value(json_array_get(json_array_get(events, 0), 0)),
		     QM_REPLAY_DEST);
	cr_assert(
		json_object_get(json_array_get(json_array_get(events, 0), 1), "closed"));
	/* The destination exited by itself; qmigrate closed the source's end. */
	cr_assert(s->side[QM_REPLAY_DEST].hung_up);
	cr_assert_not(s->side[QM_REPLAY_SOURCE].hung_up);
	qm_replay_script_free(s);
	/* A QEMU that hangs up after quit did not go by itself. */
	s = parse(GREETING("source") GREETING("destination") SEND(
		"source", 1, "quit") "{\"side\":\"source\",\"dir\":\"recv\",\"closed\":{}}\n");
	cr_assert_eq(json_array_size(s->side[QM_REPLAY_SOURCE].cmds[0].pre), 1);
	cr_assert_not(s->side[QM_REPLAY_SOURCE].hung_up);
	qm_replay_script_free(s);
	refused(GREETING("source") "{\"side\":\"source\",\"dir\":\"recv\",\"closed\":1}",
		"t:2: \"closed\" is not a JSON object");
}
