/* SPDX-License-Identifier: LGPL-2.1-or-later */
#ifndef QM_UTIL_LOG_H
#define QM_UTIL_LOG_H

#include <syslog.h>

#include "qmigrate.h"
#include "util/macros.h"

void qm_log(const struct qm_ctx *ctx, int priority, const char *file, int line,
	    const char *fn, const char *format, ...) _printf_(6, 7);
/* True when messages of @priority would reach the log function. */
bool qm_log_enabled(const struct qm_ctx *ctx, int priority);
/* True when raw QMP traffic should be logged (QMIGRATE_QMP_TRACE). */
bool qm_ctx_trace_qmp(const struct qm_ctx *ctx);

#define qm_log_cond(ctx, prio, ...)                                                        \
	do {                                                                               \
		if (qm_log_enabled(ctx, prio))                                             \
			qm_log(ctx, prio, __FILE__, __LINE__, __func__, __VA_ARGS__);     \
	} while (0)

#define qm_dbg(ctx, ...) qm_log_cond(ctx, LOG_DEBUG, __VA_ARGS__)
#define qm_info(ctx, ...) qm_log_cond(ctx, LOG_INFO, __VA_ARGS__)
#define qm_warn(ctx, ...) qm_log_cond(ctx, LOG_WARNING, __VA_ARGS__)
#define qm_err(ctx, ...) qm_log_cond(ctx, LOG_ERR, __VA_ARGS__)

#endif
