/* SPDX-License-Identifier: MIT */
/*
 * The lz4 frame reader: our own decoder of the documented frame format
 * rather than LZ4F_decompress().
 *
 * Why by hand, measured when it replaced LZ4F (commit 600cfa9): it reads
 * exactly one block at a time with one read(2) into a buffer of the block's
 * size, so no block that straddles a read buffer is copied (LZ4F copied
 * those into its own buffer), and it checks block and content checksums
 * with libxxhash's XXH32, 6.2 GB/s here, twice the speed of LZ4F's own.
 * b10t load of the medium bench tree went from 813 to 631 ms CPU, 0.51 to
 * 0.39 s wall (perf stat -r 9).  Decoding is LZ4_decompress_safe
 * (_usingDict for linked blocks).
 *
 * The checks are LZ4F's: header checksum, block and content checksums,
 * truncation, and nothing after the end mark.  Frames of the lz4 CLI
 * (content size, 64 KiB..4 MiB blocks, linked or not, with or without
 * checksums, stored blocks) load.  With `threaded`, decoding runs in a
 * second thread that hands whole buffers over through a b10t_bufq.
 */
#include <errno.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4.h>
#include <xxhash.h>

#include "archive-int.h"

struct b10t_lz4r {
	int fd;
	uint64_t bytes_in;
	/* The frame, as its header describes it. */
	bool header_done, linked, block_sum, content_sum;
	size_t block_max;
	XXH32_state_t *content;	/* running checksum of the decompressed data */
	char *in;		/* one compressed block and its checksum */
	char *dict;		/* linked blocks: the last B10T_LZ4_DICT bytes decoded */
	size_t dict_len;
	char *out;		/* unthreaded: decompressed, returned to the caller */
	bool frame_done, at_eof;
	char *list;		/* the entry-list frame after the lz4 frame, or NULL */
	size_t list_len;
	bool read_eof;		/* a read(2) of the frame's bytes said end of file */
	bool threaded, thread_started;
	pthread_t thread;
	struct b10t_bufq q;
	char *held;		/* threaded: the buffer the caller holds */
	bool q_ready;
	_Atomic int err;
	char msg[256];
};

static int r_fail(struct b10t_lz4r *r, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int r_fail(struct b10t_lz4r *r, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (r->err)
		return r->err;
	va_start(ap, fmt);
	vsnprintf(r->msg, sizeof(r->msg), fmt, ap);
	va_end(ap);
	r->err = -errnum;
	return r->err;
}

/*
 * Read exactly `len` bytes: 0, or -EBADMSG when the file ends first (an
 * archive cut short), or the read's -errno.  Reads are exactly what the
 * frame needs next, a whole block at a time, so nothing is copied twice.
 */
static int r_read(struct b10t_lz4r *r, void *buf, size_t len)
{
	char *p = buf;

	while (len) {
		ssize_t n = read(r->fd, p, len);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return r_fail(r, errno, "reading the archive: %s", strerror(errno));
		if (n == 0) {
			r->read_eof = true;
			if (r->bytes_in == 0)
				return r_fail(r, EBADMSG, "corrupt archive: empty file");
			return r_fail(r, EBADMSG,
				      "corrupt archive: truncated (ends inside the lz4 frame)");
		}
		r->bytes_in += (uint64_t)n;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

static uint32_t le32(const void *p)
{
	const unsigned char *b = p;

	return b[0] | (uint32_t)b[1] << 8 | (uint32_t)b[2] << 16 | (uint32_t)b[3] << 24;
}

/* The frame header (lz4 frame format 1.6.x). */
static int r_header(struct b10t_lz4r *r)
{
	unsigned char h[4 + 2 + 8 + 4 + 1];
	size_t len = 6;
	unsigned flg, bd;
	int e;

	if ((e = r_read(r, h, 6)) < 0)
		return e;
	if (le32(h) != B10T_LZ4_MAGIC)
		return r_fail(r, EBADMSG, "corrupt archive: not an lz4 frame");
	flg = h[4];
	bd = h[5];
	if ((flg >> 6) != 1 || (flg & 0x02) || (bd & 0x8f) || ((bd >> 4) & 7) < 4)
		return r_fail(r, EBADMSG, "corrupt archive: bad lz4 frame header");
	if (flg & 0x01)
		return r_fail(r, EBADMSG, "corrupt archive: lz4 frame needs a dictionary");
	len += (flg & 0x08 ? 8 : 0) + 1;	/* content size, header checksum */
	if ((e = r_read(r, h + 6, len - 6)) < 0)
		return e;
	if (((XXH32(h + 4, len - 5, 0) >> 8) & 0xff) != h[len - 1])
		return r_fail(r, EBADMSG, "corrupt archive: lz4 frame header checksum");
	r->linked = !(flg & 0x20);
	r->block_sum = flg & 0x10;
	r->content_sum = flg & 0x04;
	r->block_max = (size_t)1 << (8 + 2 * ((bd >> 4) & 7));	/* 64 KiB .. 4 MiB */
	r->in = malloc(r->block_max + 4);
	r->dict = r->linked ? malloc(B10T_LZ4_DICT) : NULL;
	r->content = r->content_sum ? XXH32_createState() : NULL;
	if (!r->in || (r->linked && !r->dict) || (r->content_sum && !r->content))
		return r_fail(r, ENOMEM, "reading the archive: out of memory");
	if (r->content)
		XXH32_reset(r->content, 0);
	r->header_done = true;
	return 0;
}

/* Keep the last B10T_LZ4_DICT bytes decoded, for the next linked block. */
static void r_keep_dict(struct b10t_lz4r *r, const char *out, size_t n)
{
	if (n >= B10T_LZ4_DICT) {
		memcpy(r->dict, out + n - B10T_LZ4_DICT, B10T_LZ4_DICT);
		r->dict_len = B10T_LZ4_DICT;
		return;
	}
	if (r->dict_len + n > B10T_LZ4_DICT) {
		size_t drop = r->dict_len + n - B10T_LZ4_DICT;

		memmove(r->dict, r->dict + drop, r->dict_len - drop);
		r->dict_len -= drop;
	}
	memcpy(r->dict + r->dict_len, out, n);
	r->dict_len += n;
}

/* The end mark is read: check the content checksum and that nothing follows. */
static int r_end(struct b10t_lz4r *r)
{
	unsigned char sum[4], extra;
	ssize_t n;
	int e;

	if (r->content_sum) {
		if ((e = r_read(r, sum, 4)) < 0)
			return e;
		if (le32(sum) != XXH32_digest(r->content))
			return r_fail(r, EBADMSG, "corrupt archive: lz4: contentChecksum_invalid");
	}
	for (int frames = 0;; frames++) {
		unsigned char head[8];
		uint32_t size;

		do
			n = read(r->fd, &extra, 1);
		while (n < 0 && errno == EINTR);
		if (n < 0)
			return r_fail(r, errno, "reading the archive: %s", strerror(errno));
		if (n == 0)
			break;
		/* Counted: a load tells a stale view from a short file by it. */
		r->bytes_in++;
		/*
		 * Only one entry-list frame may follow (entries.c checks its
		 * content): anything else after the frame is still garbage.
		 */
		head[0] = extra;
		if (frames || (e = r_read(r, head + 1, 7)) < 0 || le32(head) != B10T_LIST_MAGIC ||
		    (size = le32(head + 4)) > B10T_LIST_FRAME_MAX - 8)
			return r_fail(r, EBADMSG,
				      "corrupt archive: unexpected data after the end of the lz4 frame");
		free(r->list);
		if (!(r->list = malloc((size_t)size + 8)))
			return r_fail(r, ENOMEM, "reading the archive: out of memory");
		memcpy(r->list, head, 8);
		if ((e = r_read(r, r->list + 8, size)) < 0)
			return e;
		r->list_len = (size_t)size + 8;
	}
	r->frame_done = true;
	return 0;
}

const char *b10t_lz4r_list(const struct b10t_lz4r *r, size_t *len)
{
	*len = r->list_len;
	return r->list;
}

/*
 * Decompress the next block into `dst` (B10T_LZ4_BLOCK bytes, the largest
 * block the format has); 0 at the end of the frame.  Every block's
 * checksum is checked before it is decoded, the content checksum at the end.
 */
static ssize_t r_decode(struct b10t_lz4r *r, char *dst)
{
	int n = 0, e;

	if (r->err)
		return r->err;
	if (!r->header_done && (e = r_header(r)) < 0)
		return e;
	while (n == 0 && !r->frame_done) {	/* empty blocks are legal: skip them */
		unsigned char szb[4];
		uint32_t sz;
		size_t csize;

		if ((e = r_read(r, szb, 4)) < 0)
			return e;
		sz = le32(szb);
		if (sz == 0)
			return (e = r_end(r)) < 0 ? e : 0;
		csize = sz & 0x7fffffffu;
		if (csize > r->block_max)
			return r_fail(r, EBADMSG, "corrupt archive: lz4: maxBlockSize_invalid");
		if ((e = r_read(r, r->in, csize + (r->block_sum ? 4 : 0))) < 0)
			return e;
		if (r->block_sum && le32(r->in + csize) != XXH32(r->in, csize, 0))
			return r_fail(r, EBADMSG, "corrupt archive: lz4: blockChecksum_invalid");
		if (sz & 0x80000000u) {		/* stored uncompressed */
			memcpy(dst, r->in, csize);
			n = (int)csize;
		} else if (r->linked && r->dict_len) {
			n = LZ4_decompress_safe_usingDict(r->in, dst, (int)csize,
							  (int)r->block_max, r->dict,
							  (int)r->dict_len);
		} else {
			n = LZ4_decompress_safe(r->in, dst, (int)csize, (int)r->block_max);
		}
		if (n < 0)
			return r_fail(r, EBADMSG, "corrupt archive: lz4: bad compressed block");
		if (r->linked)
			r_keep_dict(r, dst, (size_t)n);
		if (r->content)
			XXH32_update(r->content, dst, (size_t)n);
	}
	return n;
}

static void *r_thread(void *arg)
{
	struct b10t_lz4r *r = arg;

	for (;;) {
		char *b = b10t_bufq_get_free(&r->q);
		ssize_t n;

		if (!b)
			break;
		n = r_decode(r, b);
		if (n <= 0) {
			/* Wake the consumer: at the end, or with r->err set. */
			b10t_bufq_put_free(&r->q, b);
			b10t_bufq_put_full(&r->q, (struct b10t_chunk){ NULL, 0 });
			break;
		}
		b10t_bufq_put_full(&r->q, (struct b10t_chunk){ b, (size_t)n });
	}
	return NULL;
}

int b10t_lz4r_new(struct b10t_lz4r **rp, int fd, bool threaded)
{
	struct b10t_lz4r *r = calloc(1, sizeof(*r));

	*rp = NULL;
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->threaded = threaded;
	if (threaded) {
		if (b10t_bufq_init(&r->q, B10T_LZ4_BLOCK) < 0)
			goto nomem;
		r->q_ready = true;
		if (pthread_create(&r->thread, NULL, r_thread, r)) {
			b10t_lz4r_free(r);
			return -EAGAIN;
		}
		r->thread_started = true;
	} else {
		r->out = malloc(B10T_LZ4_BLOCK);
		if (!r->out)
			goto nomem;
	}
	*rp = r;
	return 0;
nomem:
	b10t_lz4r_free(r);
	return -ENOMEM;
}

ssize_t b10t_lz4r_read(struct b10t_lz4r *r, const void **buf)
{
	struct b10t_chunk c;

	if (!r->threaded) {
		if (r->err)
			return r->err;
		ssize_t n = r_decode(r, r->out);

		*buf = r->out;
		return n;
	}
	if (r->at_eof)
		return r->err;
	if (r->held) {
		b10t_bufq_put_free(&r->q, r->held);
		r->held = NULL;
	}
	if (!b10t_bufq_get_full(&r->q, &c) || !c.data) {
		/* The decoder thread is done: joined, its r->err is visible. */
		pthread_join(r->thread, NULL);
		r->thread_started = false;
		r->at_eof = true;
		return r->err;
	}
	r->held = c.data;
	*buf = c.data;
	return (ssize_t)c.len;
}

int b10t_lz4r_failed(const struct b10t_lz4r *r)
{
	return r->err;
}

uint64_t b10t_lz4r_bytes_in(const struct b10t_lz4r *r)
{
	return r->bytes_in;
}

bool b10t_lz4r_short(const struct b10t_lz4r *r)
{
	return r->read_eof;
}

const char *b10t_lz4r_error(const struct b10t_lz4r *r)
{
	return r->msg[0] ? r->msg : "lz4 reader failed";
}

void b10t_lz4r_free(struct b10t_lz4r *r)
{
	if (!r)
		return;
	if (r->thread_started) {
		b10t_bufq_stop(&r->q);
		pthread_join(r->thread, NULL);
	}
	if (r->q_ready)
		b10t_bufq_destroy(&r->q, r->held, NULL);
	else
		free(r->held);
	XXH32_freeState(r->content);
	free(r->in);
	free(r->dict);
	free(r->out);
	free(r->list);
	free(r);
}
