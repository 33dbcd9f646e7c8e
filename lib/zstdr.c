/* SPDX-License-Identifier: MIT */
/*
 * The zstd reader, the lz4 reader's twin, on libzstd's streaming decoder.
 *
 * The same checks as the lz4 reader: every frame must start with the zstd
 * magic and carry a content checksum (the frame header has no checksum of
 * its own, so a flipped flag bit would otherwise turn the check off), which
 * libzstd verifies at the frame's end; the file must not end inside a
 * frame (truncated); after the last frame nothing may follow but another
 * such frame, or one entry-list frame (entries.c; it is a zstd skippable
 * frame, as it is an lz4 one) at the very end: other skippable frames and
 * any other bytes are refused; an empty file is corrupt.  b10t writes two frames, the manifest's and the data's
 * (zstdw.c); any number are read.
 *
 * Memory is bounded: frames whose window passes 1 << B10T_ZSTD_WINDOW_LOG
 * are refused (libzstd then needs no more than that window and its
 * buffers; b10t's levels 1-19 use at most 8 MiB), input is read
 * `in_size` bytes at a time, output handed over in buffers of that size.
 * With `threaded`, decoding runs in a second thread (a b10t_bufq), so
 * extraction and decoding overlap as with lz4.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <zstd.h>

#include "archive-int.h"

#define ZSTD_MAGIC 0xFD2FB528u
#define FHD_CHECKSUM 0x04	/* Frame_Header_Descriptor: Content_Checksum_flag */

struct b10t_zstdr {
	int fd;
	ZSTD_DCtx *d;
	char *in;
	size_t in_size, in_pos, in_len;
	uint64_t bytes_in;
	uint64_t frames;	/* ended well */
	bool in_frame;		/* a frame's header was taken, its end not yet */
	bool eof;		/* read(2) said end of file */
	bool ended_short;	/* ... inside a frame */
	bool done;		/* the stream ended well */
	char *list;		/* the entry-list frame after the last frame, or NULL */
	size_t list_len;
	size_t out_size;
	char *out;		/* unthreaded: decoded, returned to the caller */
	bool threaded, thread_started, q_ready, at_eof;
	pthread_t thread;
	struct b10t_bufq q;
	char *held;		/* threaded: the buffer the caller holds */
	_Atomic int err;
	char msg[256];
};

static int z_fail(struct b10t_zstdr *z, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int z_fail(struct b10t_zstdr *z, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (z->err)
		return z->err;
	va_start(ap, fmt);
	vsnprintf(z->msg, sizeof(z->msg), fmt, ap);
	va_end(ap);
	z->err = -errnum;
	return z->err;
}

/*
 * Have at least `want` unread bytes buffered, or all that is left of the
 * file: 0, or the read's -errno (the store's failure, not the archive's).
 */
static int z_fill(struct b10t_zstdr *z, size_t want)
{
	if (z->in_len - z->in_pos >= want || z->eof)
		return 0;
	memmove(z->in, z->in + z->in_pos, z->in_len - z->in_pos);
	z->in_len -= z->in_pos;
	z->in_pos = 0;
	while (z->in_len < want && !z->eof) {
		ssize_t n = read(z->fd, z->in + z->in_len, z->in_size - z->in_len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return z_fail(z, errno, "reading the archive: %s", strerror(errno));
		if (n == 0)
			z->eof = true;
		z->bytes_in += (uint64_t)n;
		z->in_len += (size_t)n;
	}
	return 0;
}

static uint32_t le32(const void *p)
{
	const unsigned char *b = p;

	return b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The entry-list frame, taken whole; entries.c checks what it says. */
static int z_take_list(struct b10t_zstdr *z)
{
	size_t len, have = 0;
	int e;

	if ((e = z_fill(z, 8)) < 0)
		return e;
	if (z->in_len - z->in_pos < 8 ||
	    (len = (size_t)le32(z->in + z->in_pos + 4)) > B10T_LIST_FRAME_MAX - 8)
		return z_fail(z, EBADMSG,
			      "corrupt archive: unexpected data after the end of the zstd frame");
	len += 8;
	if (!(z->list = malloc(len)))
		return z_fail(z, ENOMEM, "reading the archive: out of memory");
	while (have < len) {
		size_t n;

		if ((e = z_fill(z, 1)) < 0)
			return e;
		if (z->in_pos == z->in_len) {
			z->ended_short = true;
			return z_fail(z, EBADMSG,
				      "corrupt archive: truncated (ends inside the entry list)");
		}
		n = z->in_len - z->in_pos;
		if (n > len - have)
			n = len - have;
		memcpy(z->list + have, z->in + z->in_pos, n);
		z->in_pos += n;
		have += n;
	}
	z->list_len = len;
	return 0;
}

const char *b10t_zstdr_list(const struct b10t_zstdr *z, size_t *len)
{
	*len = z->list_len;
	return z->list;
}

/* At a frame boundary: the end of the stream, or the next frame's start. */
static int z_frame_start(struct b10t_zstdr *z)
{
	const unsigned char *h;
	size_t avail;
	int e;

	if ((e = z_fill(z, 5)) < 0)
		return e;
	avail = z->in_len - z->in_pos;
	h = (const unsigned char *)z->in + z->in_pos;
	if (avail == 0) {
		if (z->bytes_in == 0)
			return z_fail(z, EBADMSG, "corrupt archive: empty file");
		z->done = true;
		return 0;
	}
	if (avail >= 4 && (z->list || (z->frames && le32(h) == B10T_LIST_MAGIC))) {
		if (z->list)	/* the list frame must be the last thing */
			return z_fail(z, EBADMSG,
				      "corrupt archive: unexpected data after the end of the zstd frame");
		return z_take_list(z);
	}
	if (avail < 4 || le32(h) != ZSTD_MAGIC) {
		unsigned char m[4] = { 0x28, 0xb5, 0x2f, 0xfd };

		if (avail < 4 && !memcmp(h, m, avail)) {
			z->ended_short = true;
			return z_fail(z, EBADMSG,
				      "corrupt archive: truncated (ends inside the zstd frame)");
		}
		if (!z->frames)
			return z_fail(z, EBADMSG, "corrupt archive: not a zstd frame");
		return z_fail(z, EBADMSG,
			      "corrupt archive: unexpected data after the end of the zstd frame");
	}
	if (avail < 5) {
		z->ended_short = true;
		return z_fail(z, EBADMSG, "corrupt archive: truncated (ends inside the zstd frame)");
	}
	if (!(h[4] & FHD_CHECKSUM))
		return z_fail(z, EBADMSG, "corrupt archive: zstd frame without a content checksum");
	z->in_frame = true;
	return 0;
}

/* Decode up to `cap` bytes into dst; 0 at the end of the stream. */
static ssize_t z_decode(struct b10t_zstdr *z, char *dst, size_t cap)
{
	ZSTD_outBuffer out = { dst, cap, 0 };
	int e;

	if (z->err)
		return z->err;
	while (out.pos < out.size && !z->done) {
		ZSTD_inBuffer in;
		size_t ret;

		if (!z->in_frame) {
			if ((e = z_frame_start(z)) < 0)
				return e;
			continue;
		}
		if ((e = z_fill(z, 1)) < 0)
			return e;
		if (z->in_pos == z->in_len) {	/* end of file inside the frame */
			z->ended_short = true;
			return z_fail(z, EBADMSG,
				      "corrupt archive: truncated (ends inside the zstd frame)");
		}
		in = (ZSTD_inBuffer){ z->in, z->in_len, z->in_pos };
		ret = ZSTD_decompressStream(z->d, &out, &in);
		z->in_pos = in.pos;
		if (ZSTD_isError(ret))
			return z_fail(z, EBADMSG, "corrupt archive: zstd: %s", ZSTD_getErrorName(ret));
		if (ret == 0) {		/* the frame ended, its checksum matched */
			z->in_frame = false;
			z->frames++;
		}
	}
	return (ssize_t)out.pos;
}

static void *z_thread(void *arg)
{
	struct b10t_zstdr *z = arg;

	for (;;) {
		char *b = b10t_bufq_get_free(&z->q);
		ssize_t n;

		if (!b)
			break;
		n = z_decode(z, b, z->out_size);
		if (n <= 0) {
			/* Wake the consumer: at the end, or with z->err set. */
			b10t_bufq_put_free(&z->q, b);
			b10t_bufq_put_full(&z->q, (struct b10t_chunk){ NULL, 0 });
			break;
		}
		b10t_bufq_put_full(&z->q, (struct b10t_chunk){ b, (size_t)n });
	}
	return NULL;
}

int b10t_zstdr_new(struct b10t_zstdr **zp, int fd, size_t io_size, bool threaded)
{
	struct b10t_zstdr *z = calloc(1, sizeof(*z));

	*zp = NULL;
	if (!z)
		return -ENOMEM;
	z->fd = fd;
	z->in_size = io_size < 64 ? 64 : io_size;
	z->out_size = z->in_size;
	z->threaded = threaded;
	z->d = ZSTD_createDCtx();
	z->in = malloc(z->in_size);
	if (!z->d || !z->in)
		goto nomem;
	if (ZSTD_isError(ZSTD_DCtx_setParameter(z->d, ZSTD_d_windowLogMax,
						B10T_ZSTD_WINDOW_LOG))) {
		b10t_zstdr_free(z);
		return -EINVAL;
	}
	if (threaded) {
		if (b10t_bufq_init(&z->q, z->out_size) < 0)
			goto nomem;
		z->q_ready = true;
		if (pthread_create(&z->thread, NULL, z_thread, z)) {
			b10t_zstdr_free(z);
			return -EAGAIN;
		}
		z->thread_started = true;
	} else if (!(z->out = malloc(z->out_size))) {
		goto nomem;
	}
	*zp = z;
	return 0;
nomem:
	b10t_zstdr_free(z);
	return -ENOMEM;
}

ssize_t b10t_zstdr_read(struct b10t_zstdr *z, const void **buf)
{
	struct b10t_chunk c;

	if (!z->threaded) {
		ssize_t n = z_decode(z, z->out, z->out_size);

		*buf = z->out;
		return n;
	}
	if (z->at_eof)
		return z->err;
	if (z->held) {
		b10t_bufq_put_free(&z->q, z->held);
		z->held = NULL;
	}
	if (!b10t_bufq_get_full(&z->q, &c) || !c.data) {
		/* The decoder thread is done: joined, its z->err is visible. */
		pthread_join(z->thread, NULL);
		z->thread_started = false;
		z->at_eof = true;
		return z->err;
	}
	z->held = c.data;
	*buf = c.data;
	return (ssize_t)c.len;
}

int b10t_zstdr_failed(const struct b10t_zstdr *z)
{
	return z->err;
}

uint64_t b10t_zstdr_bytes_in(const struct b10t_zstdr *z)
{
	return z->bytes_in;
}

bool b10t_zstdr_short(const struct b10t_zstdr *z)
{
	return z->ended_short;
}

const char *b10t_zstdr_error(const struct b10t_zstdr *z)
{
	return z->msg[0] ? z->msg : "zstd reader failed";
}

void b10t_zstdr_free(struct b10t_zstdr *z)
{
	if (!z)
		return;
	if (z->thread_started) {
		b10t_bufq_stop(&z->q);
		pthread_join(z->thread, NULL);
	}
	if (z->q_ready)
		b10t_bufq_destroy(&z->q, z->held, NULL);
	else
		free(z->held);
	ZSTD_freeDCtx(z->d);
	free(z->in);
	free(z->out);
	free(z->list);
	free(z);
}
