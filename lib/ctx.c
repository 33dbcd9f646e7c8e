/* SPDX-License-Identifier: MIT */
/* The context: the last error, the log callback, phase timings. */
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

void b10t_ctx_init(struct b10t_ctx *ctx)
{
	memset(ctx, 0, sizeof(*ctx));
	ctx->log_level = B10T_LOG_WARN;
}

const char *b10t_ctx_error(const struct b10t_ctx *ctx)
{
	return ctx->err[0] ? ctx->err : "unknown error";
}

int b10t_set_error(struct b10t_ctx *ctx, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (errnum <= 0)
		errnum = EIO;
	va_start(ap, fmt);
	vsnprintf(ctx->err, sizeof(ctx->err), fmt, ap);
	va_end(ap);
	ctx->err_code = -errnum;
	return -errnum;
}

int b10t_sys_error(struct b10t_ctx *ctx, int errnum, const char *fmt, ...)
{
	char what[sizeof(ctx->err)];
	va_list ap;

	if (errnum <= 0)
		errnum = EIO;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	return b10t_set_error(ctx, errnum, "%s: %s", what, strerror(errnum));
}

/* The message in the ctx with fmt's text before it ("what: inner") or after
 * it ("inner" "; more"); the inner one is copied first, as the new one is
 * written over it. */
static int join_error(struct b10t_ctx *ctx, int errnum, bool before, const char *fmt,
		      va_list ap)
{
	char add[sizeof(ctx->err)], inner[sizeof(ctx->err)];

	snprintf(inner, sizeof(inner), "%s", b10t_ctx_error(ctx));
	vsnprintf(add, sizeof(add), fmt, ap);
	if (before)
		return b10t_set_error(ctx, errnum, "%s: %s", add, inner);
	return b10t_set_error(ctx, errnum, "%s%s", inner, add);
}

int b10t_wrap_error(struct b10t_ctx *ctx, int errnum, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = join_error(ctx, errnum, true, fmt, ap);
	va_end(ap);
	return r;
}

int b10t_append_error(struct b10t_ctx *ctx, int errnum, const char *fmt, ...)
{
	va_list ap;
	int r;

	va_start(ap, fmt);
	r = join_error(ctx, errnum, false, fmt, ap);
	va_end(ap);
	return r;
}

void b10t_clear_error(struct b10t_ctx *ctx)
{
	ctx->err[0] = '\0';
	ctx->err_code = 0;
}

void b10t_log(struct b10t_ctx *ctx, enum b10t_log_level level, const char *fmt, ...)
{
	char msg[1024];
	va_list ap;

	if (!ctx->log || level > ctx->log_level)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	ctx->log(ctx->log_arg, level, msg);
}

double b10t_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/*
 * A writer's heartbeat: fdatasync the upload at most once a second while
 * it grows.  Another client's gc tells a live upload by the size and mtime
 * the server has (lib/gc.c, check_live); a client that buffers writes
 * (JuiceFS) shows the server neither until it flushes, so without this an
 * upload in flight looks dead for as long as its writes are held back.
 */
void b10t_heartbeat(int fd, double *last)
{
	double t = b10t_now();

	if (*last == 0)
		*last = t;
	else if (t - *last >= 1.0) {
		fdatasync(fd);	/* a failing flush shows at the writer's own fsync */
		*last = t;
	}
}

const char *b10t_status_name(enum b10t_status status)
{
	switch (status) {
	case B10T_SUCCESS:
		return "SUCCESS";
	case B10T_DOES_NOT_EXIST:
		return "DOES_NOT_EXIST";
	case B10T_SKIPPED:
		return "SKIPPED";
	case B10T_ERROR:
		break;
	}
	return "ERROR";
}
