/* SPDX-License-Identifier: MIT */
/*
 * The zstd writer: the tar stream as zstd frames on libzstd's streaming
 * API, with content checksums (XXH64, low 32 bits, checked by every zstd
 * decoder) and compression in libzstd's own worker threads
 * (ZSTD_c_nbWorkers: one per CPU of our affinity mask, at most 8).
 *
 * b10t_zstdw_flush() ends the current frame: pack calls it after the
 * manifest, so the manifest member is alone in a small first frame and
 * `list --manifest` decodes a few KiB, not the archive.  The data follow in
 * a second frame.  Output is written in pieces of 1 MiB or more (one write
 * per 1 MiB on a network store, not one per 128 KiB zstd block).
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "archive-int.h"

#define WRITE_MIN (1u << 20)		/* write to the fd in pieces at least this big */
#define OUT_SIZE (WRITE_MIN + (256u << 10))	/* room for one more zstd block */
#define MAX_WORKERS 8

struct b10t_zstdw {
	int fd;
	uint64_t cap;
	uint64_t produced;		/* bytes written to fd */
	double beat;			/* b10t_heartbeat's last flush */
	ZSTD_CCtx *cctx;
	char *out;
	size_t out_len;
	bool ended;
	int err;			/* sticky -errno */
	char msg[256];
};

static int w_fail(struct b10t_zstdw *w, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int w_fail(struct b10t_zstdw *w, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (w->err)
		return w->err;
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	w->err = -errnum;
	return w->err;
}

/* Write out what is buffered, through short writes and EINTR. */
static int w_drain(struct b10t_zstdw *w)
{
	const char *p = w->out;
	size_t len = w->out_len;

	if (w->cap && w->produced + len > w->cap)
		return w_fail(w, EFBIG, "the archive is larger than the cap of %llu MB (%llu bytes)",
			      (unsigned long long)(w->cap >> 20), (unsigned long long)w->cap);
	while (len) {
		ssize_t n = write(w->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return w_fail(w, errno, "writing the archive: %s", strerror(errno));
		if (n == 0)
			return w_fail(w, EIO, "writing the archive: %s", strerror(EIO));
		p += n;
		len -= (size_t)n;
		b10t_heartbeat(w->fd, &w->beat);
		w->produced += (uint64_t)n;
	}
	w->out_len = 0;
	return 0;
}

/*
 * Feed `len` bytes (maybe 0) to libzstd with directive `op` until it has
 * taken all of them and, for a flush or end, put out everything.
 */
static int w_feed(struct b10t_zstdw *w, const void *buf, size_t len, ZSTD_EndDirective op)
{
	ZSTD_inBuffer in = { buf, len, 0 };

	for (;;) {
		ZSTD_outBuffer out = { w->out, OUT_SIZE, w->out_len };
		size_t left = ZSTD_compressStream2(w->cctx, &out, &in, op);

		if (ZSTD_isError(left))
			return w_fail(w, EIO, "zstd: %s", ZSTD_getErrorName(left));
		w->out_len = out.pos;
		if (w->out_len >= WRITE_MIN || (op == ZSTD_e_end && !left && w->out_len)) {
			int r = w_drain(w);

			if (r < 0)
				return r;
		}
		/* e_continue: done once the input is taken; e_end: once left is 0. */
		if (op == ZSTD_e_continue ? in.pos == in.size : left == 0)
			return 0;
	}
}

int b10t_zstdw_new(struct b10t_zstdw **wp, int fd, uint64_t cap, int level, int workers)
{
	struct b10t_zstdw *w = calloc(1, sizeof(*w));
	size_t e;

	*wp = NULL;
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->cap = cap;
	w->cctx = ZSTD_createCCtx();
	w->out = malloc(OUT_SIZE);
	if (!w->cctx || !w->out) {
		b10t_zstdw_free(w);
		return -ENOMEM;
	}
	if (workers > MAX_WORKERS)
		workers = MAX_WORKERS;
	e = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_compressionLevel, level);
	if (!ZSTD_isError(e))
		e = ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_checksumFlag, 1);
	/* An error here (a libzstd built without threads) leaves it at 0:
	 * compression in this thread, same bytes out. */
	if (!ZSTD_isError(e) && workers > 1)
		ZSTD_CCtx_setParameter(w->cctx, ZSTD_c_nbWorkers, workers);
	if (ZSTD_isError(e)) {
		b10t_zstdw_free(w);
		return -EINVAL;
	}
	*wp = w;
	return 0;
}

int b10t_zstdw_write(struct b10t_zstdw *w, const void *buf, size_t len)
{
	if (w->err)
		return w->err;
	if (w->ended)
		return -EINVAL;
	if (!len)
		return 0;
	return w_feed(w, buf, len, ZSTD_e_continue);
}

int b10t_zstdw_flush(struct b10t_zstdw *w)
{
	if (w->err)
		return w->err;
	/* The end of a frame: the next write starts a new one. */
	return w_feed(w, NULL, 0, ZSTD_e_end);
}

int b10t_zstdw_finish(struct b10t_zstdw *w)
{
	int r;

	if (w->err)
		return w->err;
	r = w_feed(w, NULL, 0, ZSTD_e_end);
	if (!r && w->out_len)
		r = w_drain(w);
	w->ended = true;
	return r;
}

uint64_t b10t_zstdw_bytes(const struct b10t_zstdw *w)
{
	return w->produced;
}

const char *b10t_zstdw_error(const struct b10t_zstdw *w)
{
	return w->msg[0] ? w->msg : "zstd writer failed";
}

void b10t_zstdw_free(struct b10t_zstdw *w)
{
	if (!w)
		return;
	ZSTD_freeCCtx(w->cctx);	/* joins its workers */
	free(w->out);
	free(w);
}
