/* SPDX-License-Identifier: MIT */
/*
 * lz4 frame streaming to and from file descriptors.
 *
 * Writer: the tar stream is cut into 4 MB blocks that worker threads
 * compress in parallel (each block carries the 64 KiB before it, so the
 * blocks stay linked) and write in order, in large writes.  Reader: reads
 * whole blocks, checks their checksums and decodes them (libxxhash's XXH32
 * is twice as fast as LZ4F's, and a block read whole is never copied) in a
 * second thread, handing whole buffers to the caller through a small queue.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include <lz4.h>
#include <xxhash.h>

#include "archive-int.h"

#define WRITE_MIN (1u << 20)	/* write to the fd in pieces at least this big */
#define QUEUE_LEN 3		/* reader: buffers in flight between the two threads */

/* ---- a queue of whole buffers between two threads (the reader) ------------------------ */

struct chunk {
	char *data;
	size_t len;
};

struct queue {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct chunk full[QUEUE_LEN + 1];	/* produced, not yet consumed */
	size_t nfull, head;
	char *free[QUEUE_LEN + 1];		/* empty buffers */
	size_t nfree;
	bool stop;				/* either side gave up */
};

static int queue_init(struct queue *q, size_t bufsize)
{
	memset(q, 0, sizeof(*q));
	for (size_t i = 0; i < QUEUE_LEN; i++) {
		q->free[i] = malloc(bufsize);
		if (!q->free[i]) {
			while (i--)
				free(q->free[i]);
			return -ENOMEM;
		}
	}
	q->nfree = QUEUE_LEN;
	pthread_mutex_init(&q->lock, NULL);
	pthread_cond_init(&q->cond, NULL);
	return 0;
}

static void queue_destroy(struct queue *q, char *extra1, char *extra2)
{
	/* Every buffer is either free, full, or held by one of the sides. */
	for (size_t i = 0; i < q->nfree; i++)
		free(q->free[i]);
	for (size_t i = 0; i < q->nfull; i++)
		free(q->full[(q->head + i) % (QUEUE_LEN + 1)].data);
	free(extra1);
	free(extra2);
	pthread_mutex_destroy(&q->lock);
	pthread_cond_destroy(&q->cond);
}

/* Take an empty buffer; NULL when the other side stopped. */
static char *queue_get_free(struct queue *q)
{
	char *b = NULL;

	pthread_mutex_lock(&q->lock);
	while (!q->nfree && !q->stop)
		pthread_cond_wait(&q->cond, &q->lock);
	if (!q->stop)
		b = q->free[--q->nfree];
	pthread_mutex_unlock(&q->lock);
	return b;
}

static void queue_put_free(struct queue *q, char *b)
{
	pthread_mutex_lock(&q->lock);
	q->free[q->nfree++] = b;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

static void queue_put_full(struct queue *q, struct chunk c)
{
	pthread_mutex_lock(&q->lock);
	q->full[(q->head + q->nfull) % (QUEUE_LEN + 1)] = c;
	q->nfull++;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* Next produced buffer; false when the other side stopped. */
static bool queue_get_full(struct queue *q, struct chunk *c)
{
	bool got = false;

	pthread_mutex_lock(&q->lock);
	while (!q->nfull && !q->stop)
		pthread_cond_wait(&q->cond, &q->lock);
	if (q->nfull && !q->stop) {	/* stopped: drop the rest, unread */
		*c = q->full[q->head];
		q->head = (q->head + 1) % (QUEUE_LEN + 1);
		q->nfull--;
		got = true;
	}
	pthread_mutex_unlock(&q->lock);
	return got;
}

static void queue_stop(struct queue *q)
{
	pthread_mutex_lock(&q->lock);
	q->stop = true;
	pthread_cond_broadcast(&q->cond);
	pthread_mutex_unlock(&q->lock);
}

/* ---- writer: one lz4 frame, its blocks compressed in parallel ------------- */

/*
 * LZ4F compresses one block after the other.  A linked block only needs
 * the 64 KiB of input before it as its dictionary, so each job carries a
 * copy of that tail in front of its 4 MB of input and any thread can
 * compress it (LZ4 block API, acceleration 1 as `lz4 -1`).  Workers write
 * finished jobs in order, several per writev() so every write is 1 MiB or
 * more.  The frame around the blocks (header, block sizes, checksums, end
 * mark) is the documented lz4 frame format, written here; the content
 * checksum is summed by the producer as it hands blocks over.
 */

#define DICT_SIZE (64u << 10)
#define NJOBS 4			/* blocks in flight: filling, compressing x2, writing */
#define NWORKERS 2
#define FRAME_MAGIC 0x184D2204u
#define FLG_LINKED_CHECKSUMS 0x54	/* version 01, linked, block + content checksums */
#define BD_4MB 0x70
#define OUT_SIZE (16 + 4 + LZ4_COMPRESSBOUND(B10T_LZ4_BLOCK) + 4 + 8)

enum { CHUNK_DATA, CHUNK_FLUSH, CHUNK_END };
enum { J_FREE, J_FILLING, J_QUEUED, J_BUSY, J_DONE, J_WRITING };

struct job {
	char *in;		/* [DICT_SIZE: dictionary tail][block data] */
	size_t dict, len;	/* dictionary bytes before in + DICT_SIZE; data bytes */
	char *out;		/* the frame bytes of this block */
	size_t out_len;
	uint64_t seq;
	int kind, state;
	uint32_t content_sum;	/* CHUNK_END: the frame's content checksum */
};

struct b10t_lz4w {
	int fd;
	uint64_t cap;
	_Atomic uint64_t produced;	/* bytes written to fd */
	struct job jobs[NJOBS];
	struct job *cur;		/* producer: the job being filled */
	uint64_t next_write;		/* seq of the next job to write */
	uint64_t end_seq;
	bool writing, stop, ended;
	XXH32_state_t *content;
	LZ4_stream_t *streams[NWORKERS];
	pthread_mutex_t lock;
	pthread_cond_t cond;
	pthread_t threads[NWORKERS];
	int nthreads;
	bool threaded;
	_Atomic int err;		/* sticky -errno, set by whichever side failed */
	char msg[256];			/* written before err */
};

/* Record the first failure and wake everyone; call with w->lock held. */
static int w_fail_locked(struct b10t_lz4w *w, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int w_fail_locked(struct b10t_lz4w *w, int errnum, const char *fmt, ...)
{
	va_list ap;

	if (w->err)
		return w->err;
	va_start(ap, fmt);
	vsnprintf(w->msg, sizeof(w->msg), fmt, ap);
	va_end(ap);
	w->err = -errnum;
	pthread_cond_broadcast(&w->cond);
	return w->err;
}

static void put_le32(char *p, uint32_t v)
{
	p[0] = (char)v;
	p[1] = (char)(v >> 8);
	p[2] = (char)(v >> 16);
	p[3] = (char)(v >> 24);
}

/* Compress one job into its frame bytes (no lock needed: the job is ours). */
static void w_compress(struct job *j, LZ4_stream_t *stream)
{
	char *o = j->out, *src = j->in + DICT_SIZE;
	size_t n = 0;

	if (j->seq == 0) {	/* the frame header goes before the first block */
		unsigned char desc[2] = { FLG_LINKED_CHECKSUMS, BD_4MB };

		put_le32(o, FRAME_MAGIC);
		o[4] = (char)desc[0];
		o[5] = (char)desc[1];
		o[6] = (char)((XXH32(desc, 2, 0) >> 8) & 0xff);
		n = 7;
	}
	if (j->len) {
		int c;
		uint32_t size;

		/* The tail of the previous block sits right before src: prefix mode. */
		LZ4_loadDict(stream, src - j->dict, (int)j->dict);
		c = LZ4_compress_fast_continue(stream, src, o + n + 4, (int)j->len,
					       LZ4_COMPRESSBOUND(B10T_LZ4_BLOCK), 1);
		if (c <= 0 || (size_t)c >= j->len) {	/* incompressible: stored */
			memcpy(o + n + 4, src, j->len);
			c = (int)j->len;
			size = (uint32_t)j->len | 0x80000000u;
		} else {
			size = (uint32_t)c;
		}
		put_le32(o + n, size);
		n += 4 + (size_t)c;
		put_le32(o + n, XXH32(o + n - (size_t)c, (size_t)c, 0));
		n += 4;
	}
	if (j->kind == CHUNK_END) {
		put_le32(o + n, 0);
		put_le32(o + n + 4, j->content_sum);
		n += 8;
	}
	j->out_len = n;
}

/* writev(2) all of iov, through short writes and EINTR. */
static int writev_all(int fd, struct iovec *iov, int n)
{
	while (n) {
		ssize_t r = writev(fd, iov, n);

		if (r < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (r == 0)
			return -EIO;
		while (n && (size_t)r >= iov->iov_len) {
			r -= (ssize_t)iov->iov_len;
			iov++;
			n--;
		}
		if (n) {
			iov->iov_base = (char *)iov->iov_base + r;
			iov->iov_len -= (size_t)r;
		}
	}
	return 0;
}

/*
 * Write the finished jobs that are next in order, once they make 1 MiB,
 * end the frame, or fill every slot.  Called with the lock held; drops it
 * while writing.  One writer at a time.
 */
static void w_write_ready(struct b10t_lz4w *w)
{
	while (!w->writing && !w->err) {
		struct iovec iov[NJOBS];
		size_t total = 0;
		bool end = false;
		int k = 0, r;

		for (uint64_t s = w->next_write; k < NJOBS; s++, k++) {
			struct job *j = &w->jobs[s % NJOBS];

			if (j->state != J_DONE || j->seq != s)
				break;
			iov[k] = (struct iovec){ j->out, j->out_len };
			total += j->out_len;
			if (j->kind == CHUNK_END) {
				end = true;
				k++;
				break;
			}
		}
		if (!k || (total < WRITE_MIN && !end && k < NJOBS))
			return;
		if (w->cap && w->produced + total > w->cap) {
			w_fail_locked(w, EFBIG,
				      "the archive is larger than the cap of %llu MB (%llu bytes)",
				      (unsigned long long)(w->cap >> 20),
				      (unsigned long long)w->cap);
			return;
		}
		for (int i = 0; i < k; i++)
			w->jobs[(w->next_write + (uint64_t)i) % NJOBS].state = J_WRITING;
		w->writing = true;
		pthread_mutex_unlock(&w->lock);
		r = writev_all(w->fd, iov, k);
		pthread_mutex_lock(&w->lock);
		w->writing = false;
		if (r < 0) {
			w_fail_locked(w, -r, "writing the archive: %s", strerror(-r));
			return;
		}
		w->produced += total;
		for (int i = 0; i < k; i++)
			w->jobs[(w->next_write + (uint64_t)i) % NJOBS].state = J_FREE;
		w->next_write += (uint64_t)k;
		pthread_cond_broadcast(&w->cond);
	}
}

/* Compress job j with `stream`, then write what is ready. Lock held. */
static void w_run(struct b10t_lz4w *w, struct job *j, LZ4_stream_t *stream)
{
	j->state = J_BUSY;
	pthread_mutex_unlock(&w->lock);
	w_compress(j, stream);
	pthread_mutex_lock(&w->lock);
	j->state = J_DONE;
	w_write_ready(w);
	pthread_cond_broadcast(&w->cond);
}

static void *w_thread(void *arg)
{
	struct b10t_lz4w *w = ((void **)arg)[0];
	LZ4_stream_t *stream = ((void **)arg)[1];

	free(arg);
	pthread_mutex_lock(&w->lock);
	for (;;) {
		struct job *j = NULL;

		for (int i = 0; i < NJOBS; i++)
			if (w->jobs[i].state == J_QUEUED && (!j || w->jobs[i].seq < j->seq))
				j = &w->jobs[i];
		if (w->stop || w->err)
			break;
		if (!j) {
			pthread_cond_wait(&w->cond, &w->lock);
			continue;
		}
		w_run(w, j, stream);
	}
	pthread_mutex_unlock(&w->lock);
	return NULL;
}

/* Producer: hand the job being filled over; take the next slot. */
static int w_submit(struct b10t_lz4w *w, int kind)
{
	struct job *j = w->cur, *next;
	size_t d;

	XXH32_update(w->content, j->in + DICT_SIZE, j->len);
	if (kind == CHUNK_END)
		j->content_sum = XXH32_digest(w->content);
	pthread_mutex_lock(&w->lock);
	j->kind = kind;
	j->state = J_QUEUED;
	if (w->threaded)
		pthread_cond_broadcast(&w->cond);
	else
		w_run(w, j, w->streams[0]);
	if (kind == CHUNK_END) {
		w->end_seq = j->seq;
		pthread_mutex_unlock(&w->lock);
		return w->err;
	}
	next = &w->jobs[(j->seq + 1) % NJOBS];
	while (next->state != J_FREE && !w->err) {
		if (!w->threaded) {	/* cannot happen: the slots are written by now */
			w_fail_locked(w, EIO, "lz4 writer: no free block");
			break;
		}
		pthread_cond_wait(&w->cond, &w->lock);
	}
	if (!w->err)
		next->state = J_FILLING;	/* ours now: nobody else reads it */
	pthread_mutex_unlock(&w->lock);
	if (w->err)
		return w->err;
	/* The last 64 KiB of [dict][data] of this job: the next one's dictionary. */
	d = j->dict + j->len < DICT_SIZE ? j->dict + j->len : DICT_SIZE;
	memcpy(next->in + DICT_SIZE - d, j->in + DICT_SIZE + j->len - d, d);
	next->dict = d;
	next->len = 0;
	next->seq = j->seq + 1;
	w->cur = next;
	return 0;
}

int b10t_lz4w_new(struct b10t_lz4w **wp, int fd, uint64_t cap, bool threaded)
{
	struct b10t_lz4w *w = calloc(1, sizeof(*w));
	int nstreams = threaded ? NWORKERS : 1;

	*wp = NULL;
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->cap = cap;
	w->threaded = threaded;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	w->content = XXH32_createState();
	if (!w->content)
		goto nomem;
	XXH32_reset(w->content, 0);
	for (int i = 0; i < NJOBS; i++) {
		w->jobs[i].in = malloc(DICT_SIZE + B10T_LZ4_BLOCK);
		w->jobs[i].out = malloc(OUT_SIZE);
		if (!w->jobs[i].in || !w->jobs[i].out)
			goto nomem;
	}
	for (int i = 0; i < nstreams; i++)
		if (!(w->streams[i] = LZ4_createStream()))
			goto nomem;
	w->cur = &w->jobs[0];
	w->cur->state = J_FILLING;
	for (int i = 0; threaded && i < NWORKERS; i++) {
		void **arg = malloc(2 * sizeof(void *));

		if (!arg)
			goto nomem;
		arg[0] = w;
		arg[1] = w->streams[i];
		if (pthread_create(&w->threads[i], NULL, w_thread, arg)) {
			free(arg);
			b10t_lz4w_free(w);
			return -EAGAIN;
		}
		w->nthreads++;
	}
	*wp = w;
	return 0;
nomem:
	b10t_lz4w_free(w);
	return -ENOMEM;
}

int b10t_lz4w_write(struct b10t_lz4w *w, const void *buf, size_t len)
{
	const char *p = buf;
	int r;

	if (w->err)
		return w->err;
	if (w->ended)
		return -EINVAL;
	while (len) {
		struct job *j = w->cur;
		size_t n = B10T_LZ4_BLOCK - j->len;

		if (n > len)
			n = len;
		memcpy(j->in + DICT_SIZE + j->len, p, n);
		j->len += n;
		p += n;
		len -= n;
		if (j->len == B10T_LZ4_BLOCK && (r = w_submit(w, CHUNK_DATA)) < 0)
			return r;
	}
	return 0;
}

int b10t_lz4w_flush(struct b10t_lz4w *w)
{
	if (w->err)
		return w->err;
	return w_submit(w, CHUNK_FLUSH);
}

int b10t_lz4w_finish(struct b10t_lz4w *w)
{
	int r;

	if (w->err)
		return w->err;
	r = w_submit(w, CHUNK_END);
	w->ended = true;
	pthread_mutex_lock(&w->lock);
	while (!w->err && w->next_write <= w->end_seq)
		pthread_cond_wait(&w->cond, &w->lock);
	pthread_mutex_unlock(&w->lock);
	return r < 0 ? r : w->err;
}

uint64_t b10t_lz4w_bytes(const struct b10t_lz4w *w)
{
	return w->produced;
}

const char *b10t_lz4w_error(const struct b10t_lz4w *w)
{
	return w->msg[0] ? w->msg : "lz4 writer failed";
}

void b10t_lz4w_free(struct b10t_lz4w *w)
{
	if (!w)
		return;
	pthread_mutex_lock(&w->lock);
	w->stop = true;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (int i = 0; i < w->nthreads; i++)
		pthread_join(w->threads[i], NULL);
	for (int i = 0; i < NJOBS; i++) {
		free(w->jobs[i].in);
		free(w->jobs[i].out);
	}
	for (int i = 0; i < NWORKERS; i++)
		LZ4_freeStream(w->streams[i]);
	XXH32_freeState(w->content);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w);
}

/* ---- reader --------------------------------------------------------------- */

struct b10t_lz4r {
	int fd;
	uint64_t bytes_in;
	/* The frame, as its header describes it. */
	bool header_done, linked, block_sum, content_sum;
	size_t block_max;
	XXH32_state_t *content;	/* running checksum of the decompressed data */
	char *in;		/* one compressed block and its checksum */
	char *dict;		/* linked blocks: the last DICT_SIZE bytes decoded */
	size_t dict_len;
	char *out;		/* unthreaded: decompressed, returned to the caller */
	bool frame_done, at_eof;
	bool read_eof;		/* a read(2) of the frame's bytes said end of file */
	bool threaded, thread_started;
	pthread_t thread;
	struct queue q;
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
	if (le32(h) != FRAME_MAGIC)
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
	r->dict = r->linked ? malloc(DICT_SIZE) : NULL;
	r->content = r->content_sum ? XXH32_createState() : NULL;
	if (!r->in || (r->linked && !r->dict) || (r->content_sum && !r->content))
		return r_fail(r, ENOMEM, "reading the archive: out of memory");
	if (r->content)
		XXH32_reset(r->content, 0);
	r->header_done = true;
	return 0;
}

/* Keep the last DICT_SIZE bytes decoded, for the next linked block. */
static void r_keep_dict(struct b10t_lz4r *r, const char *out, size_t n)
{
	if (n >= DICT_SIZE) {
		memcpy(r->dict, out + n - DICT_SIZE, DICT_SIZE);
		r->dict_len = DICT_SIZE;
		return;
	}
	if (r->dict_len + n > DICT_SIZE) {
		size_t drop = r->dict_len + n - DICT_SIZE;

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
	do
		n = read(r->fd, &extra, 1);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return r_fail(r, errno, "reading the archive: %s", strerror(errno));
	if (n > 0)
		return r_fail(r, EBADMSG,
			      "corrupt archive: unexpected data after the end of the lz4 frame");
	r->frame_done = true;
	return 0;
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
		char *b = queue_get_free(&r->q);
		ssize_t n;

		if (!b)
			break;
		n = r_decode(r, b);
		if (n <= 0) {
			/* Wake the consumer: at the end, or with r->err set. */
			queue_put_free(&r->q, b);
			queue_put_full(&r->q, (struct chunk){ NULL, 0 });
			break;
		}
		queue_put_full(&r->q, (struct chunk){ b, (size_t)n });
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
		if (queue_init(&r->q, B10T_LZ4_BLOCK) < 0)
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
	struct chunk c;

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
		queue_put_free(&r->q, r->held);
		r->held = NULL;
	}
	if (!queue_get_full(&r->q, &c) || !c.data) {
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
		queue_stop(&r->q);
		pthread_join(r->thread, NULL);
	}
	if (r->q_ready)
		queue_destroy(&r->q, r->held, NULL);
	else
		free(r->held);
	XXH32_freeState(r->content);
	free(r->in);
	free(r->dict);
	free(r->out);
	free(r);
}

bool b10t_use_threads(void)
{
	cpu_set_t set;

	/* The CPUs we may run on (taskset, cgroup cpusets), not the machine's. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0)
		return CPU_COUNT(&set) > 1;
	return sysconf(_SC_NPROCESSORS_ONLN) > 1;
}

/* ---- progress, shared by pack and unpack ---------------------------------- */

void b10t_progress_step(struct b10t_ctx *ctx, struct b10t_progress_gate *g,
			const struct b10t_pack_stats *st, bool done)
{
	struct b10t_progress pr = { .files = st->files, .bytes = st->bytes, .done = done };

	if (!ctx->progress)
		return;
	if (!done && st->files - g->files < 64 && st->bytes - g->bytes < (4u << 20))
		return;
	g->files = st->files;
	g->bytes = st->bytes;
	ctx->progress(ctx->progress_arg, &pr);
}
