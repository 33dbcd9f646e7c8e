/* SPDX-License-Identifier: MIT */
/*
 * b10t_pack: a directory tree as pax tar in an lz4 frame or zstd frames.
 *
 * The walk is our own (openat, no symlink ever followed, names sorted per
 * directory so the same tree gives the same archive).  libarchive writes the
 * tar headers into our callback, which stages the stream for the lz4 writer
 * (lz4w.c) or the zstd writer (zstdw.c); with two cores the compression
 * runs in its own threads.
 *
 * Only what unpack accepts goes in (b10t_member_refusal, rules.c, is the
 * one list): an entry it refuses is left out with one warning and counted
 * in stats->skipped, and the rest is packed, so one odd file cannot poison
 * the key for every load.  Set-id and sticky bits are cleared rather than
 * refused, owners are not recorded, a file with several hard links goes in
 * as separate regular files (never a tar hardlink, which unpack refuses),
 * mtimes are kept to the second (sub-second times would cost a pax header
 * per member).  The directory lim->exclude_dev/ino (the store, when it lies
 * inside the tree) is left out with a warning.
 *
 * The tree may be written while we read it (a server still warming up).
 * Entries that vanish between readdir and open are skipped quietly (torch
 * renames its temp files into place).  No file goes in torn: we fstat the
 * open file before and after reading it (size, mtime and ctime to the ns,
 * inode) and it goes in only when nothing changed and exactly st_size bytes
 * were read.  The kernel stamps the times when a write starts, before it
 * copies the data, and only as finely as its clock tick; so a file whose
 * ctime is less than SETTLE_NS (50 ms) old is first left to settle (we
 * sleep until it is that old, and look again): then a write in progress
 * during our read must have stamped a new ctime, which the second fstat
 * sees.  A file changed in the last WARM_NS (2 s) is also read a second
 * time, once any write still copying its data is done (wait_writes), and
 * compared with the first (in memory, or by XXH3 for a streamed one): a
 * write that lasts longer than SETTLE_NS still shows.  These costs
 * fall only on files changed lately, not on a cache at rest.
 *
 * A file of up to SMALL_MAX (16 MiB) is read whole into memory before its
 * header is written, so when it changed it is simply read again, up to
 * READ_TRIES times, then left out with a warning.  A larger file is
 * streamed: the tar header carries the size before the data and cannot be
 * taken back, so a change seen after it is an error and nothing is
 * published (the next save tries again).  Torch writes its files to a temp
 * name and renames them into place, which never changes the inode we hold
 * open, so a file that really changes under us is rare.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <xxhash.h>

#include "archive-int.h"
#include "internal.h"

#define READ_SIZE (1u << 20)
/* Files read whole before their header: re-readable when they change. */
#define SMALL_MAX (16u << 20)
#define READ_TRIES 4
/* A file changed more recently than this may have a write in progress. */
#define SETTLE_NS (50 * 1000000LL)
/* A file changed more recently than this is read twice and compared. */
#define WARM_NS (2 * 1000000000LL)

struct pack {
	struct b10t_ctx *ctx;
	struct archive *a;
	struct archive_entry *e;
	struct b10t_lz4w *w;			/* the output: one of these two */
	struct b10t_zstdw *z;
	const struct b10t_limits *lim;
	struct b10t_pack_stats st;
	uint64_t members, declared;		/* for load's caps, manifest included */
	struct b10t_progress_gate gate;
	char *buf;				/* READ_SIZE, for streamed files */
	char *whole;				/* a small file read whole */
	size_t whole_cap;
	XXH3_state_t *h1, *h2;			/* a large file's two reads */
	/* The member path being written; room for B10T_MAX_PATH, '/' and NUL. */
	char path[B10T_MAX_PATH + 2];
	char link[PATH_MAX + 1];		/* a symlink's target */
	const char *src;
	bool failed;				/* tar_out drops what comes after */
	/* The entry list, as packed: it follows the lz4 frame (entries.c). */
	struct b10t_manifest list;
	const struct b10t_delta *only;		/* pack only these (b10t_pack_delta) */
};

/* One more entry of the list; the hash was taken while the file was read. */
static int record(struct pack *p, char type, mode_t mode, uint64_t size, uint64_t hash,
		  int64_t mtime, const char *target, const char *content)
{
	struct b10t_entry e = { .path = p->path, .type = type, .mode = mode & 0777,
				.size = size, .hash = hash, .mtime = mtime > 0 ? (uint64_t)mtime : 0,
				.target = (char *)target, .content = (char *)content };

	if (b10t_manifest_add_entry(&p->list, &e) < 0)
		return b10t_set_error(p->ctx, ENOMEM, "packing %s: out of memory", p->src);
	return 0;
}

void b10t_limits_default(struct b10t_limits *lim)
{
	lim->max_entries = 1000000;
	lim->max_bytes = 64ULL << 30;
	lim->max_archive_bytes = 0;
	lim->exclude_dev = lim->exclude_ino = 0;
	lim->overlay = false;
	lim->format = B10T_FMT_LZ4;
	lim->zstd_level = 0;
}

/* ---- the output: the lz4 or the zstd writer -------------------------------- */

static int out_write(struct pack *p, const void *buf, size_t len)
{
	return p->z ? b10t_zstdw_write(p->z, buf, len) : b10t_lz4w_write(p->w, buf, len);
}

/* End the block (lz4) or the frame (zstd) here. */
static int out_flush(struct pack *p)
{
	return p->z ? b10t_zstdw_flush(p->z) : b10t_lz4w_flush(p->w);
}

static int out_finish(struct pack *p)
{
	return p->z ? b10t_zstdw_finish(p->z) : b10t_lz4w_finish(p->w);
}

static uint64_t out_bytes(const struct pack *p)
{
	return p->z ? b10t_zstdw_bytes(p->z) : p->w ? b10t_lz4w_bytes(p->w) : 0;
}

static const char *out_error(const struct pack *p)
{
	return p->z ? b10t_zstdw_error(p->z) : b10t_lz4w_error(p->w);
}

static int out_new(struct pack *p, int fd)
{
	const struct b10t_limits *lim = p->lim;

	if (lim->format == B10T_FMT_ZSTD)
		return b10t_zstdw_new(&p->z, fd, lim->max_archive_bytes,
				      lim->zstd_level ? lim->zstd_level : B10T_ZSTD_LEVEL_DEFAULT,
				      b10t_cpu_count());
	if (lim->format != B10T_FMT_LZ4)
		return -EINVAL;		/* gz is read, never written */
	return b10t_lz4w_new(&p->w, fd, lim->max_archive_bytes, b10t_use_threads());
}

static la_ssize_t tar_out(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct pack *p = arg;

	if (p->failed)
		return (la_ssize_t)len;	/* closing after an error: nothing goes out */
	if (out_write(p, buf, len) < 0) {
		archive_set_error(a, EIO, "%s", out_error(p));
		return -1;
	}
	return (la_ssize_t)len;
}

static void progress(struct pack *p, bool done)
{
	b10t_progress_step(p->ctx, &p->gate, &p->st, done);
}

/* The error of a failed libarchive call: the writer's own, if it failed. */
static int tar_error(struct pack *p, const char *what)
{
	int r = out_write(p, NULL, 0);

	if (r < 0)
		return b10t_set_error(p->ctx, -r, "%s", out_error(p));
	return b10t_set_error(p->ctx, EIO, "packing %s: %s: %s", p->src, what,
			      archive_error_string(p->a));
}

/*
 * Leave p->path out, with one warning saying why ("it " + why).  A long
 * path is shown by its end, from a component boundary: the end names it.
 */
static void skip(struct pack *p, const char *why)
{
	const char *s = p->path, *cut = "";
	size_t len = strlen(s);
	char shown[B10T_ESCAPE_SIZE(300)];

	if (len > 300) {
		const char *slash = strchr(s + len - 300, '/');

		s = slash ? slash + 1 : s + len - 300;
		cut = ".../";
	}
	b10t_warn(p->ctx, "skipping %s/%s%s: it %s", p->src, cut,
		  b10t_escape(shown, sizeof(shown), s, 300), why);
	p->st.skipped++;
}

static int put_header(struct pack *p, mode_t type, mode_t perm, int64_t mtime,
		      int64_t size, const char *link)
{
	struct archive_entry *e = p->e;
	int r;

	/*
	 * Load applies the same caps (its default limits): an archive past
	 * them would be refused by every load, so it is not made at all.
	 * Leaving the rest out would publish a cache that is silently partial.
	 * The manifest counts as a member, as unpack counts it.
	 */
	if (p->members++ >= p->lim->max_entries)
		return b10t_set_error(p->ctx, E2BIG,
			"packing %s: more than %llu entries, which load refuses (at %s)",
			p->src, (unsigned long long)p->lim->max_entries, p->path);
	if (size > 0 && (p->declared += (uint64_t)size) > p->lim->max_bytes)
		return b10t_set_error(p->ctx, E2BIG,
			"packing %s: more than %llu bytes of files, which load refuses (at %s)",
			p->src, (unsigned long long)p->lim->max_bytes, p->path);

	archive_entry_clear(e);
	archive_entry_set_pathname(e, p->path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm & 0777);	/* no set-id, no sticky bit */
	archive_entry_set_mtime(e, mtime, 0);
	archive_entry_set_uid(e, 0);
	archive_entry_set_gid(e, 0);
	archive_entry_set_size(e, size);
	if (link)
		archive_entry_set_symlink(e, link);
	/*
	 * ARCHIVE_WARN: a name that is not valid in the locale's charset
	 * ("dé" under LANG=C) could not be made UTF-8; libarchive then stores
	 * its bytes as they are (pax hdrcharset=BINARY), which is what we want.
	 */
	r = archive_write_header(p->a, e);
	if (r != ARCHIVE_OK && r != ARCHIVE_WARN)
		return tar_error(p, p->path);
	return 0;
}

/* Whether the open file is as it was: nothing written, truncated or replaced. */
static bool unchanged(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino &&
	       a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec &&
	       a->st_mtim.tv_nsec == b->st_mtim.tv_nsec &&
	       a->st_ctim.tv_sec == b->st_ctim.tv_sec &&
	       a->st_ctim.tv_nsec == b->st_ctim.tv_nsec;
}

/*
 * Nanoseconds until the file's ctime is SETTLE_NS old, 0 once it is (or
 * when it lies in the future: clock skew, nothing to reason on).  The
 * kernel stamps mtime and ctime when a write starts, before it copies the
 * data, so a file changed less than SETTLE_NS ago may have a write still
 * in progress that no later fstat would show.
 */
static int64_t age_ns(const struct stat *st)
{
	struct timespec now;

	clock_gettime(CLOCK_REALTIME, &now);
	return ((int64_t)now.tv_sec - (int64_t)st->st_ctim.tv_sec) * 1000000000 +
	       (now.tv_nsec - st->st_ctim.tv_nsec);
}

static int64_t settle_ns(const struct stat *st)
{
	int64_t age = age_ns(st);

	return age < 0 || age >= SETTLE_NS ? 0 : SETTLE_NS - age;
}

/* Changed in the last WARM_NS (or in the future): worth a second read. */
static bool warm(const struct stat *st)
{
	int64_t age = age_ns(st);

	return age < WARM_NS;
}

/*
 * Wait for a write() to the file that is still copying its data.  A
 * buffered write holds the inode's lock from before it stamps the times
 * until its last byte is in, and ext4, xfs and tmpfs take that lock (shared)
 * for SEEK_DATA: so once this returns, a write that was in progress during
 * our read is whole, and the second read sees it.  Without the wait, a
 * writer preempted mid-copy (seen at load 20 on 2 cores: t-save-race, one
 * torn file in 5 runs) leaves the same torn bytes for both reads, and its
 * ctime, stamped before our first fstat, has not moved.  Measured on this
 * kernel (6.18): lseek during a 1 GiB pwrite returned when it ended
 * (2.94 s on ext4, 0.52 s on tmpfs).  Elsewhere it is a cheap no-op.
 */
static void wait_writes(int fd)
{
	(void)lseek(fd, 0, SEEK_DATA);
}

/* Sleep ns nanoseconds, then look at the open file again. */
static int wait_settle(int fd, int64_t ns, struct stat *st)
{
	struct timespec ts = { (time_t)(ns / 1000000000), (long)(ns % 1000000000) };

	while (nanosleep(&ts, &ts) < 0 && errno == EINTR)
		;
	return fstat(fd, st) < 0 ? -errno : 0;
}

ssize_t b10t_read_at(int fd, char *buf, size_t want, uint64_t off)
{
	size_t got = 0;

	while (got < want) {
		ssize_t n = pread(fd, buf + got, want - got, (off_t)(off + got));

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	return (ssize_t)got;
}

static int read_error(struct pack *p, int err)
{
	return b10t_sys_error(p->ctx, err, "reading %s/%s", p->src, p->path);
}

/* 1 when the file still holds buf[0..size), 0 when not, or -errno. */
static int same_content(struct pack *p, int fd, const char *buf, uint64_t size)
{
	uint64_t off = 0;

	while (off <= size) {
		/* One byte past the end too: it must not have grown. */
		size_t want = size + 1 - off < READ_SIZE ? (size_t)(size + 1 - off) : READ_SIZE;
		ssize_t n = b10t_read_at(fd, p->buf, want, off);

		if (n < 0)
			return (int)n;
		if (off + (uint64_t)n > size)
			return 0;
		if ((size_t)n < want && off + (uint64_t)n < size)
			return 0;
		if (memcmp(p->buf, buf + off, (size_t)n))
			return 0;
		if ((size_t)n < want)
			return 1;
		off += (uint64_t)n;
	}
	return 0;
}

int b10t_hash_fd(struct b10t_ctx *ctx, int fd, uint64_t size, XXH3_state_t *st,
		 char *buf, size_t len, uint64_t *h)
{
	uint64_t off = 0;

	XXH3_64bits_reset(st);
	while (off < size) {
		size_t want = size - off < len ? (size_t)(size - off) : len;
		ssize_t n = b10t_read_at(fd, buf, want, off);
		int r;

		if (n < 0)
			return (int)n;
		if (n == 0)
			return 0;
		XXH3_64bits_update(st, buf, (size_t)n);
		off += (uint64_t)n;
		if (ctx && !(off & ((64u << 20) - 1)) && (r = b10t_check_cancel(ctx)) < 0)
			return r;
	}
	*h = XXH3_64bits_digest(st);
	return 1;
}

/*
 * A file of at most SMALL_MAX bytes: read whole (one byte more, to see it
 * grow), checked unchanged, then written; read again when it changed.
 */
static int put_small(struct pack *p, int fd, struct stat *before)
{
	for (int try = 0; try < READ_TRIES; try++) {
		int64_t ns = settle_ns(before);
		struct stat after;
		size_t size;
		ssize_t n;
		int r;

		if (ns) {	/* changed just now: a write may be in progress */
			if ((r = wait_settle(fd, ns, before)) < 0)
				return read_error(p, -r);
			continue;
		}
		if (before->st_size > SMALL_MAX)
			break;
		size = (size_t)before->st_size;
		if (size + 1 > p->whole_cap) {
			char *b = realloc(p->whole, size + 1);

			if (!b)
				return b10t_set_error(p->ctx, ENOMEM, "reading %s/%s: out of memory",
						      p->src, p->path);
			p->whole = b;
			p->whole_cap = size + 1;
		}
		n = b10t_read_at(fd, p->whole, size + 1, 0);
		if (n < 0)
			return read_error(p, (int)-n);
		if (fstat(fd, &after) < 0)
			return read_error(p, errno);
		/* Changed lately: a long write may still be going, read it again. */
		if ((size_t)n == size && unchanged(before, &after) && warm(&after)) {
			wait_writes(fd);
			r = same_content(p, fd, p->whole, size);
			if (r < 0)
				return read_error(p, -r);
			if (fstat(fd, &after) < 0)
				return read_error(p, errno);
			if (!r)
				after.st_size = -1;	/* not the same: read it again */
		}
		if ((size_t)n == size && unchanged(before, &after)) {
			r = put_header(p, AE_IFREG, after.st_mode, after.st_mtim.tv_sec,
				       (int64_t)size, NULL);
			if (r)
				return r;
			if (size && archive_write_data(p->a, p->whole, size) != (la_ssize_t)size)
				return tar_error(p, p->path);
			p->st.bytes += size;
			p->st.files++;
			/* An index file merged by meaning is listed with its content. */
			p->whole[size] = '\0';
			return record(p, 'f', after.st_mode, size, XXH3_64bits(p->whole, size),
				      after.st_mtim.tv_sec, NULL,
				      b10t_index_kind(p->path) && size <= B10T_INLINE_MAX &&
				      strlen(p->whole) == size ? p->whole : NULL);
		}
		*before = after;
	}
	skip(p, "kept changing while it was read");
	return 0;
}

/* A larger file, streamed: its header is out first, so a change is an error. */
static int put_large(struct pack *p, int fd, struct stat *before)
{
	uint64_t size, off = 0;
	struct stat after;
	int64_t ns;
	char one;
	ssize_t n;
	int r;

	for (int try = 0; (ns = settle_ns(before)); try++) {
		if (try == READ_TRIES) {
			skip(p, "kept changing while it was read");
			return 0;
		}
		if ((r = wait_settle(fd, ns, before)) < 0)
			return read_error(p, -r);
	}
	size = (uint64_t)before->st_size;
	r = put_header(p, AE_IFREG, before->st_mode, before->st_mtim.tv_sec,
		       (int64_t)size, NULL);
	if (r)
		return r;
	XXH3_64bits_reset(p->h1);
	while (off < size) {
		size_t want = size - off < READ_SIZE ? (size_t)(size - off) : READ_SIZE;

		n = b10t_read_at(fd, p->buf, want, off);
		if (n < 0)
			return read_error(p, (int)-n);
		if (n == 0)
			break;	/* shrank: torn */
		XXH3_64bits_update(p->h1, p->buf, (size_t)n);
		if (archive_write_data(p->a, p->buf, (size_t)n) != n)
			return tar_error(p, p->path);
		off += (uint64_t)n;
		p->st.bytes += (uint64_t)n;
		if ((r = b10t_check_cancel(p->ctx)) < 0)
			return r;
	}
	n = b10t_read_at(fd, &one, 1, size);
	if (n < 0)
		return read_error(p, (int)-n);
	if (fstat(fd, &after) < 0)
		return read_error(p, errno);
	/* Changed lately: a long write may still be going, read it again. */
	if (off == size && !n && unchanged(before, &after) && warm(&after)) {
		uint64_t h = 0;

		wait_writes(fd);

		r = b10t_hash_fd(NULL, fd, size, p->h2, p->buf, READ_SIZE, &h);
		if (r < 0)
			return read_error(p, -r);
		if (fstat(fd, &after) < 0)
			return read_error(p, errno);
		if (!r || h != XXH3_64bits_digest(p->h1))
			after.st_size = -1;
	}
	if (off != size || n || !unchanged(before, &after))
		return b10t_set_error(p->ctx, EAGAIN,
			"packing %s: %s changed while it was read, after its header was written "
			"(a file over %u MiB is streamed, not re-read): nothing published, save again once it is quiet",
			p->src, p->path, SMALL_MAX >> 20);
	p->st.files++;
	return record(p, 'f', before->st_mode, size, XXH3_64bits_digest(p->h1),
		      before->st_mtim.tv_sec, NULL, NULL);
}

/* A merged index file of the delta: its merged content, not the local file. */
static int put_content(struct pack *p, const struct b10t_entry *e)
{
	time_t now = time(NULL);
	int r = put_header(p, AE_IFREG, e->mode ? e->mode : 0644, now, (int64_t)e->size, NULL);

	if (r)
		return r;
	if (e->size && archive_write_data(p->a, e->content, e->size) != (la_ssize_t)e->size)
		return tar_error(p, p->path);
	p->st.bytes += e->size;
	p->st.files++;
	return record(p, 'f', e->mode ? e->mode : 0644, e->size, e->hash, now, NULL, e->content);
}

static int put_file(struct pack *p, int dirfd, const char *name)
{
	struct stat st;
	int fd, r;

	/* O_NONBLOCK: a FIFO swapped in since readdir must not hang us. */
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;	/* removed since readdir: not ours to keep */
		if (errno == ELOOP || errno == ENXIO) {
			/* Replaced by a symlink or a socket since readdir. */
			skip(p, "changed type while it was packed");
			return 0;
		}
		return b10t_sys_error(p->ctx, errno, "opening %s/%s", p->src,
				      p->path);
	}
	if (fstat(fd, &st) < 0)
		r = read_error(p, errno);
	else if (!S_ISREG(st.st_mode))
		skip(p, "changed type while it was packed"), r = 0;
	else if (st.st_size <= SMALL_MAX)
		r = put_small(p, fd, &st);
	else
		r = put_large(p, fd, &st);
	close(fd);
	return r;
}

/* A symlink, its target read into p->link; 1 when it vanished or changed type. */
static int read_link(struct pack *p, int dirfd, const char *name)
{
	/* One byte more than unpack takes, to see a target too long. */
	ssize_t n = readlinkat(dirfd, name, p->link, sizeof(p->link) - 1);

	if (n < 0) {
		if (errno == ENOENT || errno == EINVAL)
			return 1;	/* removed, or no longer a symlink */
		return b10t_sys_error(p->ctx, errno, "reading the link %s/%s",
				      p->src, p->path);
	}
	p->link[n] = '\0';
	return 0;
}

static int put_dir(struct pack *p, int dirfd, size_t len, size_t depth);

/*
 * The directory entry `name` of dirfd, at depth+1 components, its path
 * already in p->path.  What unpack would refuse is skipped with a warning.
 */
static int put_entry(struct pack *p, int dirfd, const char *name, size_t len, size_t depth)
{
	size_t nlen = strlen(name);
	const struct b10t_entry *sel = NULL;
	const char *why;
	struct stat st;
	int fd, r;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;
		return b10t_sys_error(p->ctx, errno, "reading %s/%s", p->src,
				      p->path);
	}
	if (p->only) {
		/* A delta: its entries, and the dirs above them (no header). */
		sel = b10t_entry_set_get(&p->only->set, p->path);
		if (!sel && !(S_ISDIR(st.st_mode) && b10t_entry_set_get(&p->only->dirs, p->path)))
			return 0;
		if (sel && sel->content && S_ISREG(st.st_mode))
			return put_content(p, sel);
	}
	if (S_ISLNK(st.st_mode) && (r = read_link(p, dirfd, name)) != 0)
		return r < 0 ? r : 0;
	/* Set-id bits are cleared (put_header), not a reason to leave it out. */
	why = b10t_member_refusal(p->path, depth + 1, st.st_mode & ~(mode_t)(S_ISUID | S_ISGID),
				  S_ISLNK(st.st_mode) ? p->link : NULL);
	if (why) {
		skip(p, why);
		return 0;
	}
	if (S_ISREG(st.st_mode)) {
		return put_file(p, dirfd, name);
	} else if (S_ISLNK(st.st_mode)) {
		p->st.files++;
		r = put_header(p, AE_IFLNK, 0777, st.st_mtim.tv_sec, 0, p->link);
		return r ? r : record(p, 'l', 0, 0, 0, 0, p->link, NULL);
	}
	/* A directory. */
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		if (errno == ENOTDIR || errno == ELOOP) {
			skip(p, "changed type while it was packed");
			return 0;
		}
		return b10t_sys_error(p->ctx, errno, "opening %s/%s", p->src,
				      p->path);
	}
	if (fstat(fd, &st) < 0) {
		r = read_error(p, errno);
		close(fd);
		return r;
	}
	if (p->lim->exclude_ino && (uint64_t)st.st_dev == p->lim->exclude_dev &&
	    (uint64_t)st.st_ino == p->lim->exclude_ino) {
		close(fd);
		skip(p, "is the store (B10FS_CACHE_DIR), which must not lie inside the cache dir");
		return 0;
	}
	if (!p->only || sel) {
		r = put_header(p, AE_IFDIR, st.st_mode, st.st_mtim.tv_sec, 0, NULL);
		if (!r)
			r = record(p, 'd', st.st_mode, 0, 0, 0, NULL, NULL);
		if (r) {
			close(fd);
			return r;
		}
		p->st.dirs++;
	}
	/* Fits: b10t_member_refusal took len + nlen <= B10T_MAX_PATH. */
	p->path[len + nlen] = '/';
	p->path[len + nlen + 1] = '\0';
	return put_dir(p, fd, len + nlen + 1, depth + 1);
}

/*
 * Pack the directory open at `dirfd` (closed here), of `depth` components;
 * p->path[0..len) is its path.  The recursion stops at B10T_MAX_DEPTH:
 * deeper entries are refused by b10t_member_refusal.
 */
static int put_dir(struct pack *p, int dirfd, size_t len, size_t depth)
{
	char **names;
	size_t n, i;
	int r;

	/* b10t_dir_names consumes the fd; keep our own for the openat calls. */
	r = b10t_dir_names(dup(dirfd), &names, &n);
	if (r < 0) {
		close(dirfd);
		return b10t_sys_error(p->ctx, -r, "reading %s/%s", p->src,
				      len ? p->path : "");
	}
	for (i = 0; i < n && !r; i++) {
		const char *name = names[i];
		size_t nlen = strlen(name);

		if (!depth && b10t_local_reserved(name))
			continue;	/* a load's own staging and marker: quietly */
		if (len + nlen > B10T_MAX_PATH) {
			/* Show what fits of it; the rest cannot be a member. */
			snprintf(p->path + len, sizeof(p->path) - len, "%s", name);
			skip(p, B10T_WHY_PATH_TOO_LONG);
		} else {
			memcpy(p->path + len, name, nlen + 1);
			r = put_entry(p, dirfd, name, len, depth);
		}
		p->path[len] = '\0';
		progress(p, false);
		if (!r)
			r = b10t_check_cancel(p->ctx);
	}
	p->path[len] = '\0';
	b10t_free_names(names, n);
	close(dirfd);
	return r;
}

static int put_manifest(struct pack *p, const char *json)
{
	size_t n = strlen(json);
	int r;

	snprintf(p->path, sizeof(p->path), "%s", B10T_MANIFEST_MEMBER);
	r = put_header(p, AE_IFREG, 0644, time(NULL), (int64_t)n, NULL);
	if (r)
		return r;
	if (n && archive_write_data(p->a, json, n) != (la_ssize_t)n)
		return tar_error(p, B10T_MANIFEST_MEMBER);
	/*
	 * End the lz4 block (the zstd frame) here, so that the manifest sits
	 * alone in a small first block (frame): b10t_read_manifest() then
	 * reads a few KiB, not 4 MB.
	 */
	if (archive_write_finish_entry(p->a) != ARCHIVE_OK)
		return tar_error(p, B10T_MANIFEST_MEMBER);
	if ((r = out_flush(p)) < 0)
		return b10t_set_error(p->ctx, -r, "%s", out_error(p));
	p->path[0] = '\0';
	return 0;
}

/* The entry list after the lz4 frame (entries.c), in one write. */
static int put_list(struct pack *p, int out_fd)
{
	char *buf;
	size_t len, off = 0;
	int r = b10t_list_frame(&p->list, &buf, &len);

	if (r < 0)
		return b10t_set_error(p->ctx, -r, "packing %s: the entry list: %s", p->src,
				      strerror(-r));
	if (p->lim->max_archive_bytes && out_bytes(p) + len > p->lim->max_archive_bytes)
		r = b10t_set_error(p->ctx, EFBIG, "packing %s: the archive would pass %llu bytes",
				   p->src, (unsigned long long)p->lim->max_archive_bytes);
	while (!r && off < len) {
		ssize_t n = write(out_fd, buf + off, len - off);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			r = b10t_set_error(p->ctx, errno, "writing the archive: %s", strerror(errno));
		else
			off += (size_t)n;
	}
	p->st.archive_bytes = out_bytes(p) + (r ? 0 : len);
	free(buf);
	return r;
}

static int pack(struct b10t_ctx *ctx, const char *src, int out_fd,
		const char *manifest_json, const struct b10t_limits *lim,
		struct b10t_pack_stats *stats, const struct b10t_delta *only,
		struct b10t_manifest *list_out)
{
	struct pack p = { .ctx = ctx, .src = src, .only = only };
	struct b10t_limits def;
	struct stat st;
	int fd, r;

	if (!lim) {
		b10t_limits_default(&def);
		lim = &def;
	}
	p.lim = lim;
	fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return b10t_sys_error(ctx, errno, "opening %s", src);
	if (lim->exclude_ino && fstat(fd, &st) == 0 && (uint64_t)st.st_dev == lim->exclude_dev &&
	    (uint64_t)st.st_ino == lim->exclude_ino) {
		close(fd);
		return b10t_set_error(ctx, EINVAL, "packing %s: it is the store itself (B10FS_CACHE_DIR)",
				      src);
	}
	p.buf = malloc(READ_SIZE);
	p.h1 = XXH3_createState();
	p.h2 = XXH3_createState();
	p.a = archive_write_new();
	p.e = archive_entry_new();
	r = out_new(&p, out_fd);
	if (r < 0 || !p.buf || !p.a || !p.e || !p.h1 || !p.h2) {
		r = b10t_sys_error(ctx, r < 0 ? -r : ENOMEM, "packing %s", src);
		close(fd);
		goto out;
	}
	/* Block size 0: every write goes straight to us, no padding. */
	if (archive_write_set_format_pax_restricted(p.a) != ARCHIVE_OK ||
	    archive_write_add_filter_none(p.a) != ARCHIVE_OK ||
	    archive_write_set_bytes_per_block(p.a, 0) != ARCHIVE_OK ||
	    archive_write_open(p.a, &p, NULL, tar_out, NULL) != ARCHIVE_OK) {
		r = b10t_set_error(ctx, EIO, "packing %s: %s", src, archive_error_string(p.a));
		close(fd);
		goto out;
	}
	/* The list carries the manifest's fields too: one record, two places. */
	if (b10t_manifest_parse(ctx, manifest_json ? manifest_json : "{}",
				strlen(manifest_json ? manifest_json : "{}"), &p.list) < 0)
		memset(&p.list, 0, sizeof(p.list));
	p.list.has_entries = true;
	r = put_manifest(&p, manifest_json ? manifest_json : "{}");
	if (r) {
		close(fd);
		goto out;
	}
	r = put_dir(&p, fd, 0, 0);
	if (r)
		goto out;
	if (archive_write_close(p.a) != ARCHIVE_OK) {
		r = tar_error(&p, "end of archive");
		goto out;
	}
	r = out_finish(&p);
	if (r < 0) {
		r = b10t_set_error(ctx, -r, "%s", out_error(&p));
		goto out;
	}
	if ((r = put_list(&p, out_fd)) < 0)
		goto out;
	progress(&p, true);
out:
	if (stats) {
		if (r)
			p.st.archive_bytes = out_bytes(&p);
		*stats = p.st;
	}
	if (!r && list_out)
		*list_out = p.list;
	else
		b10t_manifest_free(&p.list);
	archive_entry_free(p.e);
	if (p.a) {
		/*
		 * After a failure libarchive's free skips closing its filters
		 * when the archive is in its FATAL state, and leaks the client
		 * stage's buffers (libarchive 3.6, a failed header write): close
		 * it ourselves, with tar_out dropping the trailer.
		 */
		if (r) {
			p.failed = true;
			archive_write_close(p.a);
		}
		archive_write_free(p.a);	/* after close: does not write again */
	}
	b10t_lz4w_free(p.w);
	b10t_zstdw_free(p.z);
	free(p.buf);
	free(p.whole);
	XXH3_freeState(p.h1);
	XXH3_freeState(p.h2);
	return r;
}

int b10t_pack(struct b10t_ctx *ctx, const char *src, int out_fd,
	      const char *manifest_json, const struct b10t_limits *lim,
	      struct b10t_pack_stats *stats)
{
	return pack(ctx, src, out_fd, manifest_json, lim, stats, NULL, NULL);
}

int b10t_pack_delta(struct b10t_ctx *ctx, const char *src, int out_fd,
		    const char *manifest_json, const struct b10t_limits *lim,
		    struct b10t_pack_stats *stats, const struct b10t_delta *only,
		    struct b10t_manifest *list)
{
	return pack(ctx, src, out_fd, manifest_json, lim, stats, only, list);
}
