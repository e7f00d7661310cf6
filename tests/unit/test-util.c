/* SPDX-License-Identifier: LGPL-2.1-or-later */
/* util/: the error object, the intrusive list, the context and its log. */
#include <criterion/criterion.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>

#include "util/error.h"
#include "util/list.h"
#include "util/log.h"

/* ---- qm_error --------------------------------------------------------------- */

TestSuite(error, .timeout = 10);

Test(error, the_first_error_wins)
{
	struct qm_error err = { 0 };

	cr_assert_not(qm_error_is_set(&err));
	cr_assert_eq(qm_error_set(&err, -ENOENT, "ConnectionFailed", "first %d", 1),
		     -ENOENT);
	cr_assert_eq(qm_error_set(&err, -EIO, "GenericError", "second"), -EIO);
	cr_assert(qm_error_is_set(&err));
	cr_assert_eq(err.code, -ENOENT);
	cr_assert_str_eq(err.error_class, "ConnectionFailed");
	cr_assert_str_eq(err.text, "first 1");
}

Test(error, a_non_negative_code_is_recorded_as_eio)
{
	struct qm_error err = { 0 };

	cr_assert_eq(qm_error_set(&err, 0, "GenericError", "zero"), -EIO);
	cr_assert_eq(err.code, -EIO);
	qm_error_clear(&err);
	cr_assert_eq(qm_error_set(&err, 5, NULL, "five"), -EIO);
	cr_assert_eq(err.code, -EIO);
}

Test(error, a_missing_class_becomes_generic_error)
{
	struct qm_error err = { 0 };

	qm_error_set(&err, -EINVAL, NULL, "no class");
	cr_assert_str_eq(err.error_class, "GenericError");
}

Test(error, a_null_error_object_is_allowed)
{
	cr_assert_eq(qm_error_set(NULL, -EPERM, "X", "nobody listens"), -EPERM);
	cr_assert_not(qm_error_is_set(NULL));
	qm_error_clear(NULL);
	cr_assert_eq(qm_error_copy(NULL, NULL), 0);
}

Test(error, long_texts_and_classes_are_truncated_and_terminated)
{
	struct qm_error err = { 0 };
	char cls[200], text[2000];

	memset(cls, 'C', sizeof(cls) - 1);
	cls[sizeof(cls) - 1] = '\0';
	memset(text, 't', sizeof(text) - 1);
	text[sizeof(text) - 1] = '\0';
	qm_error_set(&err, -E2BIG, cls, "%s", text);
	cr_assert_eq(strlen(err.error_class), sizeof(err.error_class) - 1);
	cr_assert_eq(strlen(err.text), sizeof(err.text) - 1);
}

Test(error, copy_keeps_code_class_and_text)
{
	struct qm_error src = { 0 }, dst = { 0 };

	qm_error_set(&src, -ECONNRESET, "ConnectionClosed", "QEMU went away");
	cr_assert_eq(qm_error_copy(&dst, &src), -ECONNRESET);
	cr_assert_eq(dst.code, -ECONNRESET);
	cr_assert_str_eq(dst.error_class, "ConnectionClosed");
	cr_assert_str_eq(dst.text, "QEMU went away");
}

Test(error, copy_into_a_set_error_keeps_the_first)
{
	struct qm_error src = { 0 }, dst = { 0 };

	qm_error_set(&dst, -ETIMEDOUT, "CommandTimeout", "first");
	qm_error_set(&src, -EIO, "DeviceNotFound", "second");
	qm_error_copy(&dst, &src);
	cr_assert_eq(dst.code, -ETIMEDOUT);
	cr_assert_str_eq(dst.error_class, "CommandTimeout");
	cr_assert_str_eq(dst.text, "first");
}

Test(error, copying_an_unset_error_changes_nothing)
{
	struct qm_error src = { 0 }, dst = { 0 };

	cr_assert_eq(qm_error_copy(&dst, &src), 0);
	cr_assert_not(qm_error_is_set(&dst));
	qm_error_set(&dst, -EINVAL, "Usage", "kept");
	cr_assert_eq(qm_error_copy(&dst, NULL), 0);
	cr_assert_str_eq(dst.text, "kept");
}

Test(error, clear_lets_the_next_error_in)
{
	struct qm_error err = { 0 };

	qm_error_set(&err, -EINVAL, "Usage", "old");
	qm_error_clear(&err);
	cr_assert_not(qm_error_is_set(&err));
	cr_assert_str_eq(err.text, "");
	qm_error_set(&err, -ENOMEM, "GenericError", "new");
	cr_assert_eq(err.code, -ENOMEM);
	cr_assert_str_eq(err.text, "new");
}

/* ---- qm_list ----------------------------------------------------------------- */

TestSuite(list, .timeout = 10);

struct item {
	struct qm_list link;
	int value;
};

/* The values on @h, in order, as "1 2 3". */
static const char *values(struct qm_list *h)
{
	static char buf[256];
	struct item *it;
	size_t len = 0;

	buf[0] = '\0';
	qm_list_for_each(it, h, link)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len, "%s%d",
					len ? " " : "", it->value);
	return buf;
}

Test(list, a_new_list_is_empty)
{
	struct qm_list h;

	qm_list_init(&h);
	cr_assert(qm_list_empty(&h));
	cr_assert_str_eq(values(&h), "");
}

Test(list, add_puts_at_the_head_and_add_tail_at_the_tail)
{
	struct item a = { .value = 1 }, b = { .value = 2 }, c = { .value = 3 };
	struct qm_list h;

	qm_list_init(&h);
	qm_list_add_tail(&h, &b.link);
	qm_list_add_tail(&h, &c.link);
	qm_list_add(&h, &a.link);
	cr_assert_not(qm_list_empty(&h));
	cr_assert_str_eq(values(&h), "1 2 3");
	cr_assert_eq(qm_list_first(&h, struct item, link), &a);
}

Test(list, del_unlinks_and_is_safe_to_repeat)
{
	struct item a = { .value = 1 }, b = { .value = 2 }, c = { .value = 3 };
	struct qm_list h;

	qm_list_init(&h);
	qm_list_add_tail(&h, &a.link);
	qm_list_add_tail(&h, &b.link);
	qm_list_add_tail(&h, &c.link);
	qm_list_del(&b.link);
	cr_assert_str_eq(values(&h), "1 3");
	qm_list_del(&b.link);
	cr_assert_str_eq(values(&h), "1 3");
	qm_list_del(&a.link);
	qm_list_del(&c.link);
	cr_assert(qm_list_empty(&h));
}

Test(list, del_of_a_node_never_linked_is_harmless)
{
	struct item zeroed = { .value = 7 };

	qm_list_del(&zeroed.link);
	cr_assert_null(zeroed.link.next);
}

Test(list, splice_tail_moves_every_node_in_order)
{
	struct item it[5] = { { .value = 1 },
			      { .value = 2 },
			      { .value = 3 },
			      { .value = 4 },
			      { .value = 5 } };
	struct qm_list to, from;

	qm_list_init(&to);
	qm_list_init(&from);
	qm_list_add_tail(&to, &it[0].link);
	qm_list_add_tail(&to, &it[1].link);
	qm_list_add_tail(&from, &it[2].link);
	qm_list_add_tail(&from, &it[3].link);
	qm_list_add_tail(&from, &it[4].link);
	qm_list_splice_tail(&to, &from);
	cr_assert_str_eq(values(&to), "1 2 3 4 5");
	cr_assert(qm_list_empty(&from));
	qm_list_del(&it[4].link);
	cr_assert_str_eq(values(&to), "1 2 3 4");
}

Test(list, splice_into_an_empty_list_and_from_an_empty_list)
{
	struct item a = { .value = 1 };
	struct qm_list to, from;

	qm_list_init(&to);
	qm_list_init(&from);
	qm_list_splice_tail(&to, &from);
	cr_assert(qm_list_empty(&to));
	qm_list_add_tail(&from, &a.link);
	qm_list_splice_tail(&to, &from);
	cr_assert_str_eq(values(&to), "1");
	cr_assert(qm_list_empty(&from));
}

Test(list, for_each_safe_allows_deleting_the_current_node)
{
	struct item it[4] = {
		{ .value = 1 }, { .value = 2 }, { .value = 3 }, { .value = 4 }
	};
	struct item *pos, *next;
	struct qm_list h;
	int visited = 0;

	qm_list_init(&h);
	for (int i = 0; i < 4; i++)
		qm_list_add_tail(&h, &it[i].link);
	qm_list_for_each_safe(pos, next, &h, link) {
		visited++;
		if (pos->value % 2 == 0)
			qm_list_del(&pos->link);
	}
	cr_assert_eq(visited, 4);
	cr_assert_str_eq(values(&h), "1 3");
}

/* ---- qm_ctx --------------------------------------------------------------------- */

static char logged[4096];
static int log_calls;

static _printf_(6, 0) void record_log(void *userdata, int priority, const char *file, int line,
		       const char *fn, const char *format, va_list args)
{
	size_t len = strlen(logged);

	log_calls++;
	len += (size_t)snprintf(logged + len, sizeof(logged) - len, "%d %s:%s ", priority,
				strrchr(file, '/') ? strrchr(file, '/') + 1 : file, fn);
	vsnprintf(logged + len, sizeof(logged) - len, format, args);
}

static void clean_env(void)
{
	unsetenv("QMIGRATE_LOG");
	unsetenv("QMIGRATE_QMP_TRACE");
}

TestSuite(ctx, .init = clean_env, .timeout = 10);

/* The priority a new context starts at with QMIGRATE_LOG=@value. */
static int priority_with(const char *value)
{
	struct qm_ctx *ctx;
	int priority;

	setenv("QMIGRATE_LOG", value, 1);
	ctx = qm_ctx_new();
	cr_assert(ctx);
	priority = qm_ctx_get_log_priority(ctx);
	qm_ctx_unref(ctx);
	return priority;
}

Test(ctx, log_priority_starts_at_err_without_qmigrate_log)
{
	struct qm_ctx *ctx = qm_ctx_new();

	cr_assert(ctx);
	cr_assert_eq(qm_ctx_get_log_priority(ctx), LOG_ERR);
	qm_ctx_unref(ctx);
}

Test(ctx, qmigrate_log_names_set_the_priority_in_any_case)
{
	cr_assert_eq(priority_with("debug"), LOG_DEBUG);
	cr_assert_eq(priority_with("DEBUG"), LOG_DEBUG);
	cr_assert_eq(priority_with("info"), LOG_INFO);
	cr_assert_eq(priority_with("warning"), LOG_WARNING);
	cr_assert_eq(priority_with("Warn"), LOG_WARNING);
	cr_assert_eq(priority_with("err"), LOG_ERR);
	cr_assert_eq(priority_with("error"), LOG_ERR);
}

Test(ctx, qmigrate_log_numbers_set_the_priority)
{
	cr_assert_eq(priority_with("7"), LOG_DEBUG);
	cr_assert_eq(priority_with("4"), LOG_WARNING);
	cr_assert_eq(priority_with("0"), 0);
}

Test(ctx, unknown_qmigrate_log_values_keep_err)
{
	cr_assert_eq(priority_with("loud"), LOG_ERR);
	cr_assert_eq(priority_with("8"), LOG_ERR);
	cr_assert_eq(priority_with("-1"), LOG_ERR);
	cr_assert_eq(priority_with("7x"), LOG_ERR);
	cr_assert_eq(priority_with(""), LOG_ERR);
}

Test(ctx, qmp_trace_raises_the_priority_to_debug)
{
	struct qm_ctx *ctx;

	setenv("QMIGRATE_QMP_TRACE", "1", 1);
	ctx = qm_ctx_new();
	cr_assert_eq(qm_ctx_get_log_priority(ctx), LOG_DEBUG);
	cr_assert_not(qm_ctx_trace_qmp(ctx), "no log function: nothing to trace to");
	qm_ctx_set_log_fn(ctx, record_log, NULL);
	cr_assert(qm_ctx_trace_qmp(ctx));
	qm_ctx_unref(ctx);
}

Test(ctx, qmp_trace_zero_or_empty_is_off)
{
	static const char *const off[] = { "0", "" };

	for (size_t i = 0; i < 2; i++) {
		struct qm_ctx *ctx;

		setenv("QMIGRATE_QMP_TRACE", off[i], 1);
		ctx = qm_ctx_new();
		qm_ctx_set_log_fn(ctx, record_log, NULL);
		cr_assert_not(qm_ctx_trace_qmp(ctx), "QMIGRATE_QMP_TRACE=\"%s\"", off[i]);
		cr_assert_eq(qm_ctx_get_log_priority(ctx), LOG_ERR);
		qm_ctx_unref(ctx);
	}
}

Test(ctx, messages_reach_the_log_function_up_to_the_priority)
{
	struct qm_ctx *ctx = qm_ctx_new();

	qm_ctx_set_log_fn(ctx, record_log, NULL);
	qm_ctx_set_log_priority(ctx, LOG_WARNING);
	qm_dbg(ctx, "hidden %d", 1);
	qm_info(ctx, "hidden %d", 2);
	cr_assert_eq(log_calls, 0);
	qm_warn(ctx, "shown %d", 3);
	cr_assert_eq(log_calls, 1);
	cr_assert(strncmp(logged, "4 test-util.c:", 14) == 0, "%s", logged);
	cr_assert(strstr(logged, " shown 3"), "%s", logged);
	qm_ctx_unref(ctx);
}

Test(ctx, without_a_log_function_nothing_is_logged)
{
	struct qm_ctx *ctx = qm_ctx_new();

	qm_ctx_set_log_priority(ctx, LOG_DEBUG);
	cr_assert_not(qm_log_enabled(ctx, LOG_ERR));
	qm_err(ctx, "nobody hears this");
	qm_ctx_set_log_fn(ctx, record_log, NULL);
	qm_ctx_set_log_fn(ctx, NULL, NULL);
	qm_err(ctx, "nor this");
	cr_assert_eq(log_calls, 0);
	qm_ctx_unref(ctx);
}

Test(ctx, references_keep_the_context_alive)
{
	struct qm_ctx *ctx = qm_ctx_new();

	cr_assert_eq(qm_ctx_ref(ctx), ctx);
	cr_assert_eq(qm_ctx_unref(ctx), ctx);
	cr_assert_null(qm_ctx_unref(ctx));
	cr_assert_null(qm_ctx_unref(NULL));
	cr_assert_null(qm_ctx_ref(NULL));
}

Test(ctx, version_is_the_package_version)
{
	cr_assert_str_eq(qm_version(), PACKAGE_VERSION);
}
