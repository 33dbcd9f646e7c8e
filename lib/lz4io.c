/* SPDX-License-Identifier: MIT */
/*
 * lz4 frame streaming to and from file descriptors (the LZ4F_* API).
 *
 * Writer: the tar stream is staged into 4 MB buffers (one lz4 block each)
 * which are compressed and written in large writes.  Reader: large reads,
 * LZ4F_decompress into a block-sized buffer handed to the caller.  Both can
 * run the compression side in a second thread, handing whole buffers over
 * through a small queue, so tar work and lz4 work use both cores.
 */
#include <errno.h>
#include <pthread.h>
#include <sched.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <lz4frame.h>

#include "archive-int.h"

#define WRITE_MIN (1u << 20)	/* write to the fd in pieces at least this big */
#define QUEUE_LEN 3		/* buffers in flight between the two threads */

/* ---- a queue of whole buffers between two threads ------------------------ */

struct chunk {
	char *data;
	size_t len;
	int kind;		/* writer: CHUNK_DATA/FLUSH/END; reader: unused */
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

/* ---- writer --------------------------------------------------------------- */

enum { CHUNK_DATA, CHUNK_FLUSH, CHUNK_END };

struct b10t_lz4w {
	int fd;
	uint64_t cap;
	_Atomic uint64_t produced;	/* compressed bytes made (written or buffered) */
	LZ4F_cctx *cctx;
	LZ4F_preferences_t prefs;
	char *stage;		/* producer side: the block being filled */
	size_t stage_len;
	char *out;		/* consumer side: compressed, not yet written */
	size_t out_len, out_cap;
	bool threaded, thread_started, q_ready;
	pthread_t thread;
	struct queue q;
	_Atomic int err;	/* sticky -errno, set by whichever side failed */
	char msg[256];		/* written before err */
};

static int w_fail(struct b10t_lz4w *w, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
static int w_fail(struct b10t_lz4w *w, int errnum, const char *fmt, ...)
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

/* write(2) all of buf, through short writes and EINTR. */
static int write_all(int fd, const char *buf, size_t len)
{
	while (len) {
		ssize_t n = write(fd, buf, len);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			return -EIO;
		buf += n;
		len -= (size_t)n;
	}
	return 0;
}

static int w_drain(struct b10t_lz4w *w)
{
	int r;

	if (!w->out_len)
		return 0;
	r = write_all(w->fd, w->out, w->out_len);
	if (r < 0)
		return w_fail(w, -r, "writing the archive: %s", strerror(-r));
	w->out_len = 0;
	return 0;
}

static int w_account(struct b10t_lz4w *w, size_t n)
{
	w->out_len += n;
	w->produced += n;
	if (w->cap && w->produced > w->cap)
		return w_fail(w, EFBIG,
			      "the archive is larger than the cap of %llu MB (%llu bytes)",
			      (unsigned long long)(w->cap >> 20),
			      (unsigned long long)w->cap);
	if (w->out_len >= WRITE_MIN)
		return w_drain(w);
	return 0;
}

/* Consumer side: compress one staged piece (and flush or end the frame). */
static int w_consume(struct b10t_lz4w *w, const char *data, size_t len, int kind)
{
	size_t n;
	int r;

	if (len) {
		if (w->out_cap - w->out_len < LZ4F_compressBound(len, &w->prefs) &&
		    (r = w_drain(w)) < 0)
			return r;
		n = LZ4F_compressUpdate(w->cctx, w->out + w->out_len,
					w->out_cap - w->out_len, data, len, NULL);
		if (LZ4F_isError(n))
			return w_fail(w, EIO, "lz4 compression failed: %s",
				      LZ4F_getErrorName(n));
		if ((r = w_account(w, n)) < 0)
			return r;
	}
	if (kind == CHUNK_DATA)
		return 0;
	if (w->out_cap - w->out_len < LZ4F_compressBound(0, &w->prefs) &&
	    (r = w_drain(w)) < 0)
		return r;
	if (kind == CHUNK_FLUSH)
		n = LZ4F_flush(w->cctx, w->out + w->out_len, w->out_cap - w->out_len, NULL);
	else
		n = LZ4F_compressEnd(w->cctx, w->out + w->out_len,
				     w->out_cap - w->out_len, NULL);
	if (LZ4F_isError(n))
		return w_fail(w, EIO, "lz4 compression failed: %s", LZ4F_getErrorName(n));
	if ((r = w_account(w, n)) < 0)
		return r;
	return kind == CHUNK_END ? w_drain(w) : 0;
}

static void *w_thread(void *arg)
{
	struct b10t_lz4w *w = arg;
	struct chunk c;

	while (queue_get_full(&w->q, &c)) {
		int kind = c.kind;
		int r = w_consume(w, c.data, c.len, kind);

		queue_put_free(&w->q, c.data);
		if (r < 0 || kind == CHUNK_END) {
			if (r < 0)
				queue_stop(&w->q);
			break;
		}
	}
	return NULL;
}

/* Producer side: hand the staged buffer over and get an empty one. */
static int w_submit(struct b10t_lz4w *w, int kind)
{
	int r;

	if (!w->threaded) {
		r = w_consume(w, w->stage, w->stage_len, kind);
		w->stage_len = 0;
		return r;
	}
	queue_put_full(&w->q, (struct chunk){ w->stage, w->stage_len, kind });
	w->stage = NULL;
	w->stage_len = 0;
	if (kind == CHUNK_END)
		return 0;
	w->stage = queue_get_free(&w->q);
	if (!w->stage)
		return w->err ? w->err : w_fail(w, EIO, "lz4 writer stopped");
	return 0;
}

int b10t_lz4w_new(struct b10t_lz4w **wp, int fd, uint64_t cap, bool threaded)
{
	struct b10t_lz4w *w = calloc(1, sizeof(*w));
	size_t n;

	*wp = NULL;
	if (!w)
		return -ENOMEM;
	w->fd = fd;
	w->cap = cap;
	w->threaded = threaded;
	w->prefs.frameInfo.blockSizeID = LZ4F_max4MB;
	w->prefs.frameInfo.blockMode = LZ4F_blockLinked;
	w->prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	w->prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	w->prefs.compressionLevel = 1;
	w->out_cap = LZ4F_compressBound(B10T_LZ4_BLOCK, &w->prefs) + WRITE_MIN +
		     LZ4F_HEADER_SIZE_MAX;
	w->out = malloc(w->out_cap);
	if (!w->out || LZ4F_isError(LZ4F_createCompressionContext(&w->cctx, LZ4F_VERSION)))
		goto nomem;
	if (threaded) {
		if (queue_init(&w->q, B10T_LZ4_BLOCK) < 0)
			goto nomem;
		w->q_ready = true;
		w->stage = queue_get_free(&w->q);
	} else {
		w->stage = malloc(B10T_LZ4_BLOCK);
		if (!w->stage)
			goto nomem;
	}
	n = LZ4F_compressBegin(w->cctx, w->out, w->out_cap, &w->prefs);
	if (LZ4F_isError(n)) {
		b10t_lz4w_free(w);
		return -EIO;
	}
	w->out_len = n;
	w->produced = n;
	if (threaded) {
		if (pthread_create(&w->thread, NULL, w_thread, w)) {
			b10t_lz4w_free(w);
			return -EAGAIN;
		}
		w->thread_started = true;
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
	while (len) {
		size_t n = B10T_LZ4_BLOCK - w->stage_len;

		if (n > len)
			n = len;
		memcpy(w->stage + w->stage_len, p, n);
		w->stage_len += n;
		p += n;
		len -= n;
		if (w->stage_len == B10T_LZ4_BLOCK && (r = w_submit(w, CHUNK_DATA)) < 0)
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
	if (w->thread_started) {
		pthread_join(w->thread, NULL);
		w->thread_started = false;
	}
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
	if (w->thread_started) {
		queue_stop(&w->q);
		pthread_join(w->thread, NULL);
	}
	if (w->q_ready)
		queue_destroy(&w->q, w->stage, NULL);
	else
		free(w->stage);
	LZ4F_freeCompressionContext(w->cctx);
	free(w->out);
	free(w);
}

/* ---- reader --------------------------------------------------------------- */

struct b10t_lz4r {
	int fd;
	size_t read_size;
	LZ4F_dctx *dctx;
	char *in;		/* compressed input */
	size_t in_len, in_pos;
	uint64_t bytes_in;
	char *out;		/* decompressed, returned to the caller */
	bool frame_done, at_eof;
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

/* Refill the compressed input; 0 at end of file. */
static ssize_t r_fill(struct b10t_lz4r *r)
{
	ssize_t n;

	do
		n = read(r->fd, r->in, r->read_size);
	while (n < 0 && errno == EINTR);
	if (n < 0)
		return r_fail(r, errno, "reading the archive: %s", strerror(errno));
	r->in_len = (size_t)n;
	r->in_pos = 0;
	r->bytes_in += (uint64_t)n;
	return n;
}

/* Decompress the next piece into `dst` (B10T_LZ4_BLOCK bytes); 0 at end. */
static ssize_t r_decode(struct b10t_lz4r *r, char *dst)
{
	for (;;) {
		size_t src_len, dst_len = B10T_LZ4_BLOCK, hint;
		ssize_t n;

		if (r->in_pos == r->in_len) {
			n = r_fill(r);
			if (n < 0)
				return n;
			if (n == 0) {
				if (r->frame_done)
					return 0;
				if (r->bytes_in == 0)
					return r_fail(r, EBADMSG, "corrupt archive: empty file");
				return r_fail(r, EBADMSG,
					      "corrupt archive: truncated (ends inside the lz4 frame)");
			}
		}
		if (r->frame_done)
			return r_fail(r, EBADMSG,
				      "corrupt archive: unexpected data after the end of the lz4 frame");
		src_len = r->in_len - r->in_pos;
		hint = LZ4F_decompress(r->dctx, dst, &dst_len, r->in + r->in_pos,
				       &src_len, NULL);
		r->in_pos += src_len;
		if (LZ4F_isError(hint)) {
			const char *e = LZ4F_getErrorName(hint);

			if (!strncmp(e, "ERROR_", 6))
				e += 6;
			return r_fail(r, EBADMSG, "corrupt archive: lz4: %s", e);
		}
		if (hint == 0)
			r->frame_done = true;
		if (dst_len)
			return (ssize_t)dst_len;
	}
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
			queue_put_full(&r->q, (struct chunk){ NULL, 0, 0 });
			break;
		}
		queue_put_full(&r->q, (struct chunk){ b, (size_t)n, 0 });
	}
	return NULL;
}

int b10t_lz4r_new(struct b10t_lz4r **rp, int fd, size_t read_size, bool threaded)
{
	struct b10t_lz4r *r = calloc(1, sizeof(*r));

	*rp = NULL;
	if (!r)
		return -ENOMEM;
	r->fd = fd;
	r->read_size = read_size;
	r->threaded = threaded;
	r->in = malloc(read_size);
	if (!r->in || LZ4F_isError(LZ4F_createDecompressionContext(&r->dctx, LZ4F_VERSION)))
		goto nomem;
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
	LZ4F_freeDecompressionContext(r->dctx);
	free(r->in);
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

/* ---- path rules shared by pack and unpack --------------------------------- */

bool b10t_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

bool b10t_link_target_ok(const char *link, const char *target)
{
	int depth = 0, ups = 0;
	bool down = false;
	const char *p;

	if (!*target || *target == '/' || b10t_has_control(target))
		return false;
	for (p = link; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			depth++;
	for (p = target; *p; ) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (down || ++ups > depth)
				return false;
		} else if (n && !(n == 1 && p[0] == '.')) {
			down = true;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}
