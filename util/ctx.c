/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <libxml/parser.h>

#include "config.h"
#include "util/log.h"

struct qm_ctx {
	int refcount;
	int log_priority;
	bool trace_qmp;
	qm_log_fn log_fn;
	void *log_data;
};

static const struct {
	const char *name;
	int priority;
} priorities[] = {
	{ "err", LOG_ERR },     { "error", LOG_ERR }, { "warning", LOG_WARNING },
	{ "warn", LOG_WARNING }, { "info", LOG_INFO }, { "debug", LOG_DEBUG },
};

static int priority_from_env(const char *value, int fallback)
{
	char *end;
	long n;

	if (!value || !*value)
		return fallback;
	n = strtol(value, &end, 10);
	if (*end == '\0' && n >= 0 && n <= LOG_DEBUG)
		return (int)n;
	for (size_t i = 0; i < ARRAY_SIZE(priorities); i++)
		if (strcasecmp(value, priorities[i].name) == 0)
			return priorities[i].priority;
	return fallback;
}

_public_ struct qm_ctx *qm_ctx_new(void)
{
	struct qm_ctx *ctx = calloc(1, sizeof(*ctx));
	const char *trace;

	if (!ctx)
		return NULL;
	/* libxml2 wants this once, before any thread parses; it is idempotent. */
	xmlInitParser();
	ctx->refcount = 1;
	ctx->log_priority = priority_from_env(secure_getenv("QMIGRATE_LOG"), LOG_ERR);
	trace = secure_getenv("QMIGRATE_QMP_TRACE");
	ctx->trace_qmp = trace && *trace && strcmp(trace, "0") != 0;
	if (ctx->trace_qmp && ctx->log_priority < LOG_DEBUG)
		ctx->log_priority = LOG_DEBUG;
	return ctx;
}

_public_ struct qm_ctx *qm_ctx_ref(struct qm_ctx *ctx)
{
	if (ctx)
		ctx->refcount++;
	return ctx;
}

_public_ struct qm_ctx *qm_ctx_unref(struct qm_ctx *ctx)
{
	if (!ctx || --ctx->refcount > 0)
		return ctx;
	free(ctx);
	return NULL;
}

_public_ void qm_ctx_set_log_fn(struct qm_ctx *ctx, qm_log_fn fn, void *userdata)
{
	ctx->log_fn = fn;
	ctx->log_data = userdata;
}

_public_ void qm_ctx_set_log_priority(struct qm_ctx *ctx, int priority)
{
	ctx->log_priority = priority;
}

_public_ int qm_ctx_get_log_priority(const struct qm_ctx *ctx)
{
	return ctx->log_priority;
}

_public_ const char *qm_version(void)
{
	return PACKAGE_VERSION;
}

bool qm_log_enabled(const struct qm_ctx *ctx, int priority)
{
	return ctx && ctx->log_fn && priority <= ctx->log_priority;
}

bool qm_ctx_trace_qmp(const struct qm_ctx *ctx)
{
	return ctx && ctx->trace_qmp && ctx->log_fn;
}

void qm_log(const struct qm_ctx *ctx, int priority, const char *file, int line,
	    const char *fn, const char *format, ...)
{
	va_list ap;

	if (!qm_log_enabled(ctx, priority))
		return;
	va_start(ap, format);
	ctx->log_fn(ctx->log_data, priority, file, line, fn, format, ap);
	va_end(ap);
}
