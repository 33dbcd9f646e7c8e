/* SPDX-License-Identifier: MIT */
/*
 * Internals of the archive layer (pack.c, unpack.c, lz4w.c, lz4r.c,
 * zstdw.c, zstdr.c, gzio.c, bufq.c, progress.c, rules.c): the lz4 and
 * zstd writers and readers, the gzip reader, the buffer queue the readers' threads share, and the
 * path rules that pack and unpack share so that pack never writes a member
 * that unpack would refuse.
 */
#ifndef B10T_ARCHIVE_INT_H
#define B10T_ARCHIVE_INT_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "b10t-int.h"

/* Not part of the API: never exported from libb10t.so. */
#pragma GCC visibility push(hidden)

/* The name of the manifest member, always first in archives we write. */
#define B10T_MANIFEST_MEMBER ".b10t/manifest.json"
#define B10T_RESERVED_DIR ".b10t"
#define B10T_MANIFEST_MAX (1u << 20)

/* lz4 frames: 4 MB blocks, linked, block and content checksums. */
#define B10T_LZ4_BLOCK (4u << 20)
#define B10T_LZ4_DICT (64u << 10)	/* what a linked block may refer back to */
#define B10T_LZ4_MAGIC 0x184D2204u

/*
 * bufq.c: whole buffers handed from a decoder thread to its consumer, in
 * order, B10T_BUFQ_LEN of them allocated once.  Either side may stop the
 * queue; the other then gets NULL / false.  A full chunk with data NULL is
 * the decoder's "no more" (at the end or after a failure).
 */
#define B10T_BUFQ_LEN 3
struct b10t_chunk {
	char *data;
	size_t len;
};
struct b10t_bufq {
	pthread_mutex_t lock;
	pthread_cond_t cond;
	struct b10t_chunk full[B10T_BUFQ_LEN + 1];	/* produced, not yet consumed */
	size_t nfull, head;
	char *free[B10T_BUFQ_LEN + 1];			/* empty buffers */
	size_t nfree;
	bool stop;					/* either side gave up */
};
int b10t_bufq_init(struct b10t_bufq *q, size_t bufsize);
/* Frees every buffer, those in the queue and the one or two held outside. */
void b10t_bufq_destroy(struct b10t_bufq *q, char *extra1, char *extra2);
/* An empty buffer; NULL once stopped. */
char *b10t_bufq_get_free(struct b10t_bufq *q);
void b10t_bufq_put_free(struct b10t_bufq *q, char *b);
void b10t_bufq_put_full(struct b10t_bufq *q, struct b10t_chunk c);
/* The next produced buffer; false once stopped (the rest dropped unread). */
bool b10t_bufq_get_full(struct b10t_bufq *q, struct b10t_chunk *c);
void b10t_bufq_stop(struct b10t_bufq *q);

/*
 * The frame writer: takes the tar stream in any pieces, compresses whole
 * 4 MB blocks and writes them to `fd` in writes of 1 MiB or more.  With
 * `threaded`, compression and writing run in a second thread.  Errors are
 * sticky: once one call fails every later call returns the same -errno,
 * and b10t_lz4w_error() says why.  `cap` (0 = none) stops with -EFBIG as
 * soon as the compressed output passes it.
 */
struct b10t_lz4w;
int b10t_lz4w_new(struct b10t_lz4w **w, int fd, uint64_t cap, bool threaded);
int b10t_lz4w_write(struct b10t_lz4w *w, const void *buf, size_t len);
/* End the current lz4 block now (so a reader can decode what came before). */
int b10t_lz4w_flush(struct b10t_lz4w *w);
/* End the frame and write everything out. */
int b10t_lz4w_finish(struct b10t_lz4w *w);
uint64_t b10t_lz4w_bytes(const struct b10t_lz4w *w);
const char *b10t_lz4w_error(const struct b10t_lz4w *w);
void b10t_lz4w_free(struct b10t_lz4w *w);

/*
 * The frame reader: b10t_lz4r_read() returns the next piece of
 * decompressed data (valid until the next call), 0 once the frame has
 * ended with a good checksum and nothing follows it, or a negative errno:
 * -EBADMSG for anything wrong with the data (truncated, checksum, garbage,
 * empty, trailing bytes), the read's errno for I/O failures.  One
 * entry-list frame (B10T_LIST_MAGIC, at most B10T_LIST_FRAME_MAX bytes) may
 * follow the frame: kept whole for b10t_lz4r_list, not checked here.  It reads
 * only what the frame needs, a block at a time; `threaded` decompresses in
 * a second thread.
 */
struct b10t_lz4r;
int b10t_lz4r_new(struct b10t_lz4r **r, int fd, bool threaded);
ssize_t b10t_lz4r_read(struct b10t_lz4r *r, const void **buf);
/* The reader's -errno once it has failed (its message: b10t_lz4r_error), else 0. */
int b10t_lz4r_failed(const struct b10t_lz4r *r);
uint64_t b10t_lz4r_bytes_in(const struct b10t_lz4r *r);
/* Whether the reader failed because read(2) ended the file inside the frame. */
bool b10t_lz4r_short(const struct b10t_lz4r *r);
const char *b10t_lz4r_error(const struct b10t_lz4r *r);
/* The entry-list frame read after the lz4 frame (whole), or NULL: none. */
const char *b10t_lz4r_list(const struct b10t_lz4r *r, size_t *len);
void b10t_lz4r_free(struct b10t_lz4r *r);

/*
 * The zstd writer (zstdw.c), the lz4 writer's twin: frames with content
 * checksums, compressed at `level` by `workers` libzstd threads (0 or 1:
 * in this thread).  b10t_zstdw_flush() ends the current frame, so what
 * came before it decodes from the file's start alone.  Errors sticky;
 * `cap` as for lz4.
 */
struct b10t_zstdw;
int b10t_zstdw_new(struct b10t_zstdw **w, int fd, uint64_t cap, int level, int workers);
int b10t_zstdw_write(struct b10t_zstdw *w, const void *buf, size_t len);
int b10t_zstdw_flush(struct b10t_zstdw *w);
int b10t_zstdw_finish(struct b10t_zstdw *w);
uint64_t b10t_zstdw_bytes(const struct b10t_zstdw *w);
const char *b10t_zstdw_error(const struct b10t_zstdw *w);
void b10t_zstdw_free(struct b10t_zstdw *w);

/*
 * The zstd reader (zstdr.c), the lz4 reader's twin: pieces of at most
 * `io_size` bytes, 0 once the last frame ended with a good checksum and
 * nothing else follows, or -errno (-EBADMSG for damage).  Frames with a
 * window over 1 << B10T_ZSTD_WINDOW_LOG, or without a content checksum,
 * are refused.
 */
#define B10T_ZSTD_WINDOW_LOG 24
struct b10t_zstdr;
int b10t_zstdr_new(struct b10t_zstdr **z, int fd, size_t io_size, bool threaded);
ssize_t b10t_zstdr_read(struct b10t_zstdr *z, const void **buf);
int b10t_zstdr_failed(const struct b10t_zstdr *z);
uint64_t b10t_zstdr_bytes_in(const struct b10t_zstdr *z);
bool b10t_zstdr_short(const struct b10t_zstdr *z);
const char *b10t_zstdr_error(const struct b10t_zstdr *z);
const char *b10t_zstdr_list(const struct b10t_zstdr *z, size_t *len);
void b10t_zstdr_free(struct b10t_zstdr *z);

/*
 * The gzip reader (the reference's .tar.gz), the lz4 reader's twin: the
 * next piece of decompressed data (at most `out_size` bytes, valid until
 * the next call), 0 once the stream ended after a member whose CRC32 and
 * ISIZE matched and nothing but further members came before the end of
 * the file, or -errno: -EBADMSG for any damage (bad header, bad deflate
 * data, CRC32 or ISIZE mismatch, truncated, empty, data after the last
 * member), the read's errno for I/O failures.
 */
struct b10t_gzr;
int b10t_gzr_new(struct b10t_gzr **g, int fd, size_t out_size);
ssize_t b10t_gzr_read(struct b10t_gzr *g, const void **buf);
int b10t_gzr_failed(const struct b10t_gzr *g);
uint64_t b10t_gzr_bytes_in(const struct b10t_gzr *g);
/* Whether it failed at the end of the file (a truncated stream). */
bool b10t_gzr_short(const struct b10t_gzr *g);
const char *b10t_gzr_error(const struct b10t_gzr *g);
void b10t_gzr_free(struct b10t_gzr *g);

/*
 * progress.c: progress of pack and unpack: the context's callback (if any) every 64
 * entries or 4 MiB, and once with done.
 */
struct b10t_progress_gate {
	uint64_t files, bytes;		/* at the last call */
	uint64_t total_bytes;		/* expected total (a manifest's), 0 when unknown */
};
void b10t_progress_step(struct b10t_ctx *ctx, struct b10t_progress_gate *g,
			const struct b10t_pack_stats *st, bool done);

/* Whether a second thread can help: more than one CPU is ours. */
bool b10t_use_threads(void);
/* The CPUs we may run on (affinity mask, cgroup cpusets), at least 1. */
int b10t_cpu_count(void);

/* ---- entries.c: entry sets and the entry-list frame -------------------- */

/* The entry list's JSON and frame caps (see "Entry lists"). */
#define B10T_LIST_JSON_MAX (256u << 20)
#define B10T_LIST_FRAME_MAX (64u << 20)
#define B10T_LIST_MAGIC 0x184D2A5Bu	/* an lz4 skippable frame */

/*
 * Entries by path: an open-addressing table of borrowed pointers.  put
 * replaces an entry of the same path (a later layer wins), the one it
 * replaced into *old (NULL: none); 0 or -ENOMEM.
 */
struct b10t_entry_set {
	size_t n, cap;
	const struct b10t_entry **slot;
};
int b10t_entry_set_init(struct b10t_entry_set *s, size_t expect);
int b10t_entry_set_put(struct b10t_entry_set *s, const struct b10t_entry *e,
		       const struct b10t_entry **old);
const struct b10t_entry *b10t_entry_set_get(const struct b10t_entry_set *s,
					    const char *path);
void b10t_entry_set_free(struct b10t_entry_set *s);

/*
 * The entry-list frame that follows an archive's lz4 frame: m's JSON (with
 * its entries), lz4-compressed, framed as store-protocol.md says.  *buf is
 * malloc'ed.  0 or -ENOMEM / -EFBIG.
 */
int b10t_list_frame(const struct b10t_manifest *m, char **buf, size_t *len);
/*
 * Decode a whole frame (as b10t_list_frame wrote it) into m
 * (b10t_manifest_parse_list).  -EBADMSG with the reason for a bad one.
 */
int b10t_list_unframe(struct b10t_ctx *ctx, const char *buf, size_t len,
		      struct b10t_manifest *m);
/*
 * Read the entry list of the archive open at fd from the file's end (two
 * preads, nothing else of the archive).  -ENOENT when it has none (an
 * older archive), -EBADMSG for a bad one.
 */
int b10t_read_list_fd(struct b10t_ctx *ctx, int fd, struct b10t_manifest *m);

/* ---- pack.c: the reads that pack and the delta share ----------------------- */

/* Up to `want` bytes at `off` into buf, stopping only at EOF: the count or -errno. */
ssize_t b10t_read_at(int fd, char *buf, size_t want, uint64_t off);
struct XXH3_state_s;
/*
 * The XXH3 of fd's first `size` bytes, read into buf in blocks of `len`
 * with state st: 1 and *h, 0 when the file is shorter, or the read's
 * -errno (no message).  With a ctx, its cancel flag is looked at every
 * 64 MiB: b10t_check_cancel's -EINTR and message (a read never gives
 * -EINTR: it is retried).
 */
int b10t_hash_fd(struct b10t_ctx *ctx, int fd, uint64_t size, struct XXH3_state_s *st,
		 char *buf, size_t len, uint64_t *h);

/* ---- delta.c: what the store lacks --------------------------------------- */

/*
 * The entries of a cache dir that the published set lacks (see "The
 * delta"): `m` lists them (a merged index file with its merged content),
 * `above` the directories above them that are not new themselves; `set`
 * and `dirs` index the two by path once b10t_delta_compute returns.
 */
struct b10t_delta {
	struct b10t_manifest m, above;
	struct b10t_entry_set set, dirs;
	uint64_t bytes;			/* of the new files */
};
/*
 * Walk `src` with pack's rules (lim: the excluded store dir) and compare
 * each entry with `published` (the effective entry per path of the set:
 * b10t_entry_set_put of every archive's list, oldest first).  0 or
 * -errno with the ctx's message; d->m.n_entries == 0: nothing new.
 */
int b10t_delta_compute(struct b10t_ctx *ctx, const char *src,
		       const struct b10t_entry_set *published,
		       const struct b10t_limits *lim, struct b10t_delta *d);
void b10t_delta_free(struct b10t_delta *d);
/*
 * b10t_pack of only the delta's entries: directories above them are
 * walked without a header (unpack makes them), a merged index file goes in
 * with the delta's content.  *list (may be NULL) gets the entry list as
 * packed (b10t_manifest_free).
 */
int b10t_pack_delta(struct b10t_ctx *ctx, const char *src, int out_fd,
		    const char *manifest_json, const struct b10t_limits *lim,
		    struct b10t_pack_stats *stats, const struct b10t_delta *only,
		    struct b10t_manifest *list);

/* ---- merge.c: index files merged by meaning ------------------------------- */

enum b10t_index_kind {
	B10T_INDEX_NONE = 0,
	B10T_INDEX_PYDICT,		/* vLLM's vllm_compile_cache.py: a dict literal */
};
/* What kind of index file the member path is (by its name). */
enum b10t_index_kind b10t_index_kind(const char *path);
/*
 * Whether a published copy of the path is as good as any other: a name
 * whose content is one valid answer among several (Inductor's autotune
 * results, `*.best_config`; lock files): the delta never sends it again.
 */
bool b10t_write_once(const char *path);
/*
 * The union of two index files of `kind`: the published one's items in
 * order (its value wins for a key both have), then the local one's new
 * keys.  1 with *merged (malloc'ed) when local adds a key, 0 when it adds
 * none (*merged NULL), -EINVAL when either does not parse, -ENOMEM.
 */
int b10t_index_merge(enum b10t_index_kind kind, const char *published, const char *local,
		     char **merged);

/* ---- rules.c: what a member may be ------------------------------------ */

/*
 * Why unpack refuses a member, or NULL when it may be extracted; pack
 * leaves out (with a warning) every entry this refuses.  `path` is the
 * normalised member path (relative, no "." or empty components, no
 * trailing slash); `depth` its number of components as the caller counted
 * them (0: counted here); `mode` its type and permission bits; link_target
 * the symlink's target for S_IFLNK, and for a regular file a tar hardlink's
 * target (refused), else NULL.  The reason ends "member 'NAME' ...":
 * "has a control character in its name", "is a FIFO", ...
 *
 * The rules: a regular file, directory or symlink; no control character;
 * no ".." component; components of at most NAME_MAX bytes, at most
 * B10T_MAX_DEPTH of them and B10T_MAX_PATH bytes in all; nothing in the
 * reserved .b10t dir at the top; no set-id bit; no hardlink; a symlink
 * target of at most B10T_MAX_PATH bytes that b10t_link_target_ok accepts.
 */
const char *b10t_member_refusal(const char *path, size_t depth, mode_t mode,
				const char *link_target);
/*
 * The name rules alone, for a raw member name ("./a//b" is fine: "." and
 * empty components are not counted): what b10t_member_refusal checks
 * first.  `depth` as there.
 */
const char *b10t_name_refusal(const char *path, size_t depth);
/* Its reason for a path over B10T_MAX_PATH bytes, for pack's own check of a
 * name too long to join to its dir's path. */
#define B10T_WHY_PATH_TOO_LONG "has a path longer than 4095 bytes"

/*
 * Whether a symlink at member path `link` (normalised, no leading "./")
 * with target `target` stays inside the tree.  The target must be
 * relative, free of control characters, and made of leading ".." only
 * (no ".." after a normal component, as "a/../.." would be resolved by
 * the kernel through whatever "a" is, possibly another symlink), with no
 * more leading ".." than the link's depth.
 */
bool b10t_link_target_ok(const char *link, const char *target);
/* Whether `s` holds a byte below 0x20 or 0x7f. */
bool b10t_has_control(const char *s);

#pragma GCC visibility pop

#endif
