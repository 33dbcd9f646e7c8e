/* SPDX-License-Identifier: MIT */
/*
 * b10t_unpack: extract a hostile archive into an empty directory.
 *
 * libarchive parses tar (from our lz4 or zstd reader, or from our gzip
 * reader, which checks the .tar.gz trailer); we do the writing ourselves rather
 * than trust archive_write_disk: every member name is checked and
 * normalised, every parent directory is opened with O_NOFOLLOW from the
 * destination's fd (so no symlink inside the tree is ever traversed),
 * files are created with O_EXCL|O_NOFOLLOW.  Directory modes and mtimes
 * are applied at the end, children first, so a read-only directory in the
 * archive does not stop its own children from being written.
 *
 * The fds of the directories on the path of the last member are kept (a
 * stack, one per component): the next member reuses the components it
 * shares and opens only the new ones, so the cost of a member does not grow
 * with its depth.
 *
 * Every failure is either the archive's fault (u->fault: a hostile or
 * corrupt member, a cap, anything the local filesystem refuses to make of a
 * member) or the local side's (full disk, permissions, memory, a signal).
 * Only the first moves the archive aside (stats->archive_fault).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>
#include <xxhash.h>

#include "archive-int.h"
#include "internal.h"

#define READ_SIZE (1u << 20)
#define MANIFEST_READ_SIZE (16u << 10)
/* libarchive keeps at most a header's worth of earlier pieces unconsumed. */
#define TAIL_SIZE (64u << 10)
#define MAX_PADDING (1u << 20)

struct dir_fixup {
	char *path;
	mode_t mode;
	int64_t mtime;
	bool implicit;		/* made for a member; only the umask to apply */
	size_t depth;		/* components, for fix_dirs */
};

/*
 * The cost of walking between directories, in component opens: a bound for
 * an archive whose members jump between deep directories in turn (tar and
 * b10t write a directory's members together: about one open per directory).
 */
#define WALK_BUDGET(entries) ((1u << 16) + 64 * (uint64_t)(entries))

struct unpack {
	struct b10t_ctx *ctx;
	struct archive *a;
	struct b10t_lz4r *r;		/* the input: one of these three */
	struct b10t_zstdr *z;
	struct b10t_gzr *g;
	const char *last;		/* the last piece given to libarchive */
	size_t last_len;
	uint64_t given;			/* bytes given to libarchive */
	char *tail;			/* the stream's last TAIL_SIZE bytes before
					 * `last`, at offset % TAIL_SIZE */
	uint64_t tail_end;		/* the offset just past them */
	const struct b10t_limits *lim;
	const char *dst;
	int root;			/* dst */
	/* The directory last walked to: an fd per component (see walk_to). */
	int depth;
	int fds[B10T_MAX_DEPTH];
	size_t ends[B10T_MAX_DEPTH];	/* where component i ends in cur */
	char cur[PATH_MAX];
	uint64_t opens;			/* component opens, for WALK_BUDGET */
	bool fault;			/* the failure is the archive's */
	struct dir_fixup *dirs;
	size_t ndirs, cap_dirs;
	mode_t umask;
	uint64_t entries, declared;
	uint64_t data_end;		/* stream offset where the last member's data ends */
	struct b10t_pack_stats st;
	struct b10t_progress_gate gate;
	/* overlay: the inodes this archive made (open addressing, ino 0 free) */
	struct made { dev_t dev; ino_t ino; } *made;
	size_t n_made, cap_made;
	/*
	 * What was extracted (path, type, size, XXH3 of the bytes written,
	 * target), checked at the end against the archive's entry list.
	 */
	struct b10t_manifest got;
	XXH3_state_t *h;
	char name[PATH_MAX];		/* normalised member name */
	char shown[256];		/* the raw member name, quoted for messages */
};

/* ---- the input -------------------------------------------------------------- */

/* The reader's next piece, its failure, its message. */
static ssize_t in_read(struct unpack *u, const void **buf)
{
	return u->r ? b10t_lz4r_read(u->r, buf) : u->z ? b10t_zstdr_read(u->z, buf)
		    : b10t_gzr_read(u->g, buf);
}

static int in_failed(const struct unpack *u)
{
	return u->r ? b10t_lz4r_failed(u->r) : u->z ? b10t_zstdr_failed(u->z)
		    : u->g ? b10t_gzr_failed(u->g) : 0;
}

static const char *in_error(const struct unpack *u)
{
	return u->r ? b10t_lz4r_error(u->r) : u->z ? b10t_zstdr_error(u->z)
		    : b10t_gzr_error(u->g);
}

/*
 * The readers hand libarchive the decompressed tar through one callback.
 * What follows the end of the tar must be zero padding, and libarchive
 * stops in the middle of a piece: archive_filter_bytes(a, 0) says how far
 * it consumed, the rest of the bytes it was given (the end of the last
 * piece, maybe a little of the ones before, which it copied into its own
 * buffer) are checked from `last` and from a copy of the stream's tail.
 */
static la_ssize_t stream_in(struct archive *a, void *arg, const void **buf)
{
	struct unpack *u = arg;
	ssize_t n;

	if (u->tail && u->last_len) {
		/* The reader may reuse `last` now: keep its end. */
		size_t k = u->last_len < TAIL_SIZE ? u->last_len : TAIL_SIZE;
		const char *p = u->last + u->last_len - k;

		for (uint64_t o = u->given - k; k; ) {
			size_t at = (size_t)(o % TAIL_SIZE), len = TAIL_SIZE - at;

			len = len < k ? len : k;
			memcpy(u->tail + at, p, len);
			p += len;
			o += len;
			k -= len;
		}
		u->tail_end = u->given;
	}
	n = in_read(u, buf);
	if (n < 0) {
		archive_set_error(a, EIO, "%s", in_error(u));
		return -1;
	}
	if (n > 0) {
		/* At the end (0) the readers leave the last piece as it was. */
		u->last = *buf;
		u->last_len = (size_t)n;
		u->given += (uint64_t)n;
	}
	return n;
}

/* The byte at offset `o` of the stream given to libarchive; -1 when gone. */
static int given_byte(const struct unpack *u, uint64_t o)
{
	if (o >= u->given)
		return -1;
	if (o >= u->given - u->last_len)
		return (unsigned char)u->last[o - (u->given - u->last_len)];
	if (u->tail && o < u->tail_end && u->tail_end - o <= TAIL_SIZE)
		return (unsigned char)u->tail[o % TAIL_SIZE];
	return -1;
}

/* The error of a failed libarchive call on the input. */
static int input_error(struct unpack *u)
{
	int n = in_failed(u);

	/* The reader's own failure: -EBADMSG for damage, a read's errno for
	 * a failing store, which is no fault of the archive. */
	if (n < 0)
		return b10t_set_error(u->ctx, -n, "%s", in_error(u));
	return b10t_set_error(u->ctx, EBADMSG, "corrupt archive: %s",
			      archive_error_string(u->a) ? archive_error_string(u->a)
							 : "unreadable tar");
}

/* ---- names ---------------------------------------------------------------- */

/* The member name for messages: control characters shown as \n, \x01. */
static void show_name(char *out, size_t size, const char *s)
{
	size_t o = 0;

	for (; *s && o + 5 < size; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '\n')
			o += (size_t)snprintf(out + o, size - o, "\\n");
		else if (c < 0x20 || c == 0x7f)
			o += (size_t)snprintf(out + o, size - o, "\\x%02x", c);
		else
			out[o++] = (char)c;
	}
	out[o] = '\0';
}

/* A hostile member: EPERM, the archive's fault. */
static int reject(struct unpack *u, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int reject(struct unpack *u, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	u->fault = true;
	return b10t_set_error(u->ctx, EPERM, "member '%s' %s", u->shown, why);
}

/*
 * Whether errno `e` from making a member is the local side's doing: a full
 * disk, the cache dir's permissions, a read-only or failing filesystem, no
 * memory or fds, a signal.  Any other error comes from what the member asks
 * for (a name or link target the filesystem refuses, too many links, a file
 * too big for it, a loop), so it is the archive's fault.
 */
static bool local_errno(int e)
{
	switch (e) {
	case ENOSPC:
	case EDQUOT:
	case EACCES:
	case EPERM:
	case EROFS:
	case EIO:
	case ENOMEM:
	case EMFILE:
	case ENFILE:
	case EINTR:
	case EAGAIN:
	case EBUSY:
	case ESTALE:
	case ETIMEDOUT:
	case ENOTCONN:
	case ENOLCK:
		return true;
	}
	return false;
}

/* A syscall on member path `path` (`len` bytes) failed with e. */
static int fs_error(struct unpack *u, int e, const char *what, const char *path, int len)
{
	if (local_errno(e))
		return b10t_sys_error(u->ctx, e, "%s %s/%.*s", what, u->dst, len, path);
	u->fault = true;
	return b10t_sys_error(u->ctx, e, "member '%s': %s %s/%.*s", u->shown, what, u->dst,
			      len, path);
}

/*
 * Check and normalise a member name into u->name: no "." or empty
 * components, no trailing slash; within B10T_MAX_DEPTH components,
 * B10T_MAX_PATH bytes and NAME_MAX a component, the limits that save, gc
 * and clear keep too.  1 for the root itself ("." or "./").
 */
static int normalise(struct unpack *u, const char *raw)
{
	const char *p = raw, *why = b10t_name_refusal(raw, 0);
	size_t o = 0;

	if (why)
		return reject(u, "%s", why);
	/* Within B10T_MAX_PATH now, so it fits u->name. */
	while (*p) {
		size_t n = strcspn(p, "/");

		if (n && !(n == 1 && p[0] == '.')) {
			if (o)
				u->name[o++] = '/';
			memcpy(u->name + o, p, n);
			o += n;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	u->name[o] = '\0';
	return o ? 0 : 1;
}

/* ---- directories ----------------------------------------------------------- */

/*
 * Directories made for members listed before their own directory get mode
 * IMPLICIT_MODE at once; the ones the archive lists are made 0700 and get
 * their own mode only at the end.  So while we extract, a directory with
 * IMPLICIT_MODE is one the archive has not listed yet: its later entry is
 * no duplicate.  (A list of such dirs searched per entry would let an
 * archive make us quadratic.)
 */
#define IMPLICIT_MODE 0755
#define EXPLICIT_MODE 0700

/* Claim the implicit directory `base` in pfd for its own entry. */
static bool claim_implicit(int pfd, const char *base)
{
	struct stat st;

	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode) ||
	    (st.st_mode & 07777) != IMPLICIT_MODE)
		return false;
	return fchmodat(pfd, base, EXPLICIT_MODE, 0) == 0;
}

/* Note the directory path[0..len) for fix_dirs. */
static int remember_dir(struct unpack *u, const char *path, size_t len, mode_t mode,
			int64_t mtime, bool implicit)
{
	struct dir_fixup *d;

	if (B10T_GROW(u->dirs, u->cap_dirs, u->ndirs + 1, 64) < 0)
		return b10t_set_error(u->ctx, ENOMEM, "extracting: out of memory");
	d = &u->dirs[u->ndirs];
	if (!(d->path = strndup(path, len)))
		return b10t_set_error(u->ctx, ENOMEM, "extracting: out of memory");
	d->mode = mode;
	d->mtime = mtime;
	d->implicit = implicit;
	u->ndirs++;
	return 0;
}

static int made_add(struct unpack *u, const struct stat *st);

static int top_fd(const struct unpack *u)
{
	return u->depth ? u->fds[u->depth - 1] : u->root;
}

/* Close the stack down to its first `keep` components. */
static void pop_to(struct unpack *u, int keep)
{
	while (u->depth > keep)
		close(u->fds[--u->depth]);
}

/*
 * The fd of the directory `path` (normalised, `len` bytes, "" = dst),
 * walked from where the last call left the stack: the components shared
 * with the last path are reused, only the new ones opened, each with
 * O_NOFOLLOW from its parent's fd.  With `create`, missing components are
 * made (for archives that list a file before its directory).  The fd
 * belongs to the stack.  -EPERM (message set) when a component is a
 * symlink or a file.
 */
static int walk_to(struct unpack *u, const char *path, size_t len, bool create)
{
	size_t m = 0, cur = u->depth ? u->ends[u->depth - 1] : 0, p;
	char comp[NAME_MAX + 1];
	int keep = 0;

	while (m < len && m < cur && path[m] == u->cur[m])
		m++;
	while (keep < u->depth && u->ends[keep] <= m &&
	       (u->ends[keep] == len || path[u->ends[keep]] == '/'))
		keep++;
	pop_to(u, keep);
	for (p = keep ? u->ends[keep - 1] + 1 : 0; p < len;) {
		const char *slash = memchr(path + p, '/', len - p);
		size_t n = slash ? (size_t)(slash - path - p) : len - p;
		int fd = top_fd(u), next;

		if (n > NAME_MAX || u->depth == B10T_MAX_DEPTH)	/* normalise kept them */
			return reject(u, "is nested too deep (more than %d levels)", B10T_MAX_DEPTH);
		if (++u->opens > WALK_BUDGET(u->entries)) {
			u->fault = true;
			return b10t_set_error(u->ctx, EFBIG,
					      "the archive jumps between deep directories: more than "
					      "%llu directory opens for %llu members (at member '%s')",
					      (unsigned long long)WALK_BUDGET(u->entries),
					      (unsigned long long)u->entries, u->shown);
		}
		memcpy(comp, path + p, n);
		comp[n] = '\0';
		next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (next < 0 && errno == ENOENT && create) {
			/* The umask must not blur the mark: fchmodat. */
			if (mkdirat(fd, comp, IMPLICIT_MODE) < 0 ||
			    fchmodat(fd, comp, IMPLICIT_MODE, 0) < 0)
				return fs_error(u, errno, "creating", path, (int)(p + n));
			/* Its mark stays 0755 to the end; the umask comes off then. */
			if ((u->umask & IMPLICIT_MODE) &&
			    remember_dir(u, path, p + n, IMPLICIT_MODE, 0, true) < 0)
				return -ENOMEM;
			next = openat(fd, comp, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
			if (next >= 0 && u->lim->overlay) {
				struct stat st;

				if (fstat(next, &st) < 0 || made_add(u, &st) < 0) {
					close(next);
					return fs_error(u, errno ? errno : ENOMEM, "creating", path,
							(int)(p + n));
				}
			}
		}
		if (next < 0) {
			int e = errno;
			struct stat st;

			if ((e == ENOTDIR || e == ELOOP) &&
			    !fstatat(fd, comp, &st, AT_SYMLINK_NOFOLLOW)) {
				if (S_ISLNK(st.st_mode))
					return reject(u, "goes through a symlink");
				return reject(u, "goes through something that is not a directory");
			}
			return fs_error(u, e, "opening", path, (int)(p + n));
		}
		if (p)
			u->cur[p - 1] = '/';
		memcpy(u->cur + p, comp, n);
		u->ends[u->depth] = p + n;
		u->fds[u->depth++] = next;
		p += n + 1;
	}
	return top_fd(u);
}

/* The fd of the parent of u->name, and its last component in *base. */
static int parent_fd(struct unpack *u, const char **base)
{
	char *slash = strrchr(u->name, '/');

	*base = slash ? slash + 1 : u->name;
	return walk_to(u, u->name, slash ? (size_t)(slash - u->name) : 0, true);
}

/* ---- overlay: a later archive of a key's set over the earlier ones ----------- */

static size_t made_slot(const struct unpack *u, dev_t dev, ino_t ino)
{
	uint64_t h = ((uint64_t)ino * 0x9E3779B97F4A7C15ULL) ^ (uint64_t)dev;
	size_t i = (size_t)(h >> 17) & (u->cap_made - 1);

	while (u->made[i].ino && (u->made[i].ino != ino || u->made[i].dev != dev))
		i = (i + 1) & (u->cap_made - 1);
	return i;
}

/* Remember that this archive made st's inode (overlay only). */
static int made_add(struct unpack *u, const struct stat *st)
{
	size_t i;

	if (!u->lim->overlay || !st->st_ino)
		return 0;
	if (2 * (u->n_made + 1) > u->cap_made) {
		struct unpack old = *u;
		size_t cap = u->cap_made ? 2 * u->cap_made : 1024;

		if (!(u->made = calloc(cap, sizeof(*u->made)))) {
			u->made = old.made;
			return b10t_set_error(u->ctx, ENOMEM, "extracting: out of memory");
		}
		u->cap_made = cap;
		for (size_t k = 0; k < old.cap_made; k++)
			if (old.made[k].ino)
				u->made[made_slot(u, old.made[k].dev, old.made[k].ino)] = old.made[k];
		free(old.made);
	}
	i = made_slot(u, st->st_dev, st->st_ino);
	if (!u->made[i].ino) {
		u->made[i].dev = st->st_dev;
		u->made[i].ino = st->st_ino;
		u->n_made++;
	}
	return 0;
}

static bool made_has(const struct unpack *u, const struct stat *st)
{
	return u->cap_made && u->made[made_slot(u, st->st_dev, st->st_ino)].ino;
}

static int made_add_at(struct unpack *u, int pfd, const char *base)
{
	struct stat st;

	if (!u->lim->overlay)
		return 0;
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fs_error(u, errno, "checking", u->name, (int)strlen(u->name));
	return made_add(u, &st);
}

/*
 * The member's name is taken.  Without overlay, or by an entry this archive
 * made: a duplicate.  Else it is an earlier archive's: its file or symlink
 * goes so the member replaces it (0), its directory is joined by a
 * directory member (1); a directory against a file either way is the
 * archive's fault.
 */
static int make_room(struct unpack *u, int pfd, const char *base, bool dir)
{
	struct stat st;

	if (!u->lim->overlay)
		return reject(u, "is a duplicate");
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return fs_error(u, errno, "checking", u->name, (int)strlen(u->name));
	if (made_has(u, &st))
		return reject(u, "is a duplicate");
	if (S_ISDIR(st.st_mode))
		return dir ? 1 : reject(u, "is not a directory, where an earlier archive of "
					"the set has one");
	if (dir)
		return reject(u, "is a directory, where an earlier archive of the set has a file");
	if (!S_ISREG(st.st_mode) && !S_ISLNK(st.st_mode))
		return reject(u, "is a duplicate");
	if (unlinkat(pfd, base, 0) < 0)
		return fs_error(u, errno, "replacing", u->name, (int)strlen(u->name));
	return 0;
}

/* ---- members ---------------------------------------------------------------- */

static int member_error(struct unpack *u, int e, const char *what)
{
	return fs_error(u, e, what, u->name, (int)strlen(u->name));
}

/* Remember an extracted member for check_list. */
static int got(struct unpack *u, const struct b10t_entry *e)
{
	if (b10t_manifest_add_entry(&u->got, e) < 0)
		return b10t_set_error(u->ctx, ENOMEM, "extracting '%s': out of memory", u->shown);
	return 0;
}

static int extract_dir(struct unpack *u, int pfd, const char *base, struct archive_entry *e)
{
	int r;

	if (mkdirat(pfd, base, EXPLICIT_MODE) < 0) {
		if (errno != EEXIST)
			return member_error(u, errno, "creating");
		if (!claim_implicit(pfd, base)) {
			/* An earlier archive's dir: writable to us until the end. */
			if ((r = make_room(u, pfd, base, true)) < 0)
				return r;
			if (fchmodat(pfd, base, EXPLICIT_MODE, 0) < 0)
				return member_error(u, errno, "setting the mode of");
		}
	}
	if ((r = made_add_at(u, pfd, base)) < 0)
		return r;
	r = got(u, &(struct b10t_entry){ .path = u->name, .type = 'd',
				   .mode = archive_entry_perm(e) & 0777 });
	return r ? r : remember_dir(u, u->name, strlen(u->name), archive_entry_perm(e) & 0777,
				    archive_entry_mtime(e), false);
}

static int write_all_at(int fd, const char *buf, size_t len, off_t off)
{
	while (len) {
		ssize_t n = pwrite(fd, buf, len, off);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return -errno;
		}
		buf += n;
		len -= (size_t)n;
		off += n;
	}
	return 0;
}

static int over_cap(struct unpack *u)
{
	u->fault = true;
	return b10t_set_error(u->ctx, EFBIG,
			      "the archive holds more than the cap of %llu bytes (at member '%s')",
			      (unsigned long long)u->lim->max_bytes, u->shown);
}

/*
 * A regular file: its data must be one run from offset 0 to its declared
 * size (no sparse map, no holes, nothing past the end), so the bytes
 * written, the file's apparent size and the declared size are one number,
 * the one the cap counts.  The mode is the member's less the umask: a
 * 0666 member is no world-writable file.
 */
static int extract_file(struct unpack *u, int pfd, const char *base, struct archive_entry *e)
{
	mode_t mode = archive_entry_perm(e) & 0777;
	int64_t size = archive_entry_size(e);
	struct timespec ts[2];
	int fd, r = 0;
	off_t end = 0;

	if (size < 0)
		return reject(u, "has a negative size");
	if (archive_entry_sparse_count(e) > 0)
		return reject(u, "is a sparse file");
	u->declared += (uint64_t)size;
	if (u->declared > u->lim->max_bytes)
		return over_cap(u);
	fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	if (fd < 0 && errno == EEXIST) {
		if ((r = make_room(u, pfd, base, false)) < 0)
			return r;
		fd = openat(pfd, base, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, mode);
	}
	if (fd < 0) {
		if (errno == EEXIST)
			return reject(u, "is a duplicate");
		return member_error(u, errno, "creating");
	}
	if (u->lim->overlay) {
		struct stat st;

		if (fstat(fd, &st) < 0 || made_add(u, &st) < 0) {
			r = errno ? member_error(u, errno, "creating") : -ENOMEM;
			close(fd);
			return r;
		}
	}
	XXH3_64bits_reset(u->h);
	for (;;) {
		const void *buf;
		size_t len;
		la_int64_t off;
		int ar = archive_read_data_block(u->a, &buf, &len, &off);

		if (ar == ARCHIVE_EOF)
			break;
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			r = input_error(u);
			goto out;
		}
		if (off != end) {	/* a hole: sparse data under another name */
			r = reject(u, "is a sparse file");
			goto out;
		}
		if ((uint64_t)len > (uint64_t)size - (uint64_t)end) {
			r = reject(u, "has more data than its declared size");
			goto out;
		}
		if (u->st.bytes + len > u->lim->max_bytes) {
			r = over_cap(u);
			goto out;
		}
		if ((r = write_all_at(fd, buf, len, off)) < 0) {
			r = member_error(u, -r, "writing");
			goto out;
		}
		XXH3_64bits_update(u->h, buf, len);
		end = off + (off_t)len;
		u->st.bytes += len;
	}
	if (end != size) {
		r = reject(u, "has less data than its declared size");
		goto out;
	}
	ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	if (futimens(fd, ts) < 0)
		r = member_error(u, errno, "setting the time of");
	if (!r)
		r = got(u, &(struct b10t_entry){ .path = u->name, .type = 'f', .mode = mode,
			.size = (uint64_t)size, .hash = XXH3_64bits_digest(u->h) });
out:
	if (close(fd) < 0 && !r)
		r = member_error(u, errno, "writing");
	return r;
}

static int extract_symlink(struct unpack *u, int pfd, const char *base, struct archive_entry *e)
{
	const char *target = archive_entry_symlink(e);
	struct timespec ts[2];

	int r, made;

	/* extract_one checked the target (b10t_member_refusal). */
	made = symlinkat(target, pfd, base);
	if (made < 0 && errno == EEXIST) {
		if ((r = make_room(u, pfd, base, false)) < 0)
			return r;
		made = symlinkat(target, pfd, base);
	}
	if (made < 0) {
		if (errno == EEXIST)
			return reject(u, "is a duplicate");
		return member_error(u, errno, "creating the symlink");
	}
	if ((r = made_add_at(u, pfd, base)) < 0)
		return r;
	ts[0].tv_sec = ts[1].tv_sec = archive_entry_mtime(e);
	ts[0].tv_nsec = ts[1].tv_nsec = 0;
	utimensat(pfd, base, ts, AT_SYMLINK_NOFOLLOW);	/* cosmetic */
	return got(u, &(struct b10t_entry){ .path = u->name, .type = 'l', .target = (char *)target });
}

/* The first member, when it is our manifest: into *manifest. */
static int read_manifest_data(struct unpack *u, struct archive_entry *e, char **manifest)
{
	int64_t size = archive_entry_size(e);
	char *m;
	la_ssize_t n;

	if (size < 0 || size > B10T_MANIFEST_MAX)
		return b10t_set_error(u->ctx, EBADMSG, "corrupt archive: manifest of %lld bytes",
				      (long long)size);
	m = malloc((size_t)size + 1);
	if (!m)
		return b10t_set_error(u->ctx, ENOMEM, "reading the manifest: out of memory");
	n = archive_read_data(u->a, m, (size_t)size);
	if (n != size) {
		free(m);
		return n < 0 ? input_error(u)
			     : b10t_set_error(u->ctx, EBADMSG, "corrupt archive: short manifest");
	}
	m[size] = '\0';
	/* Its byte count is the progress bar's total (load checks the rest). */
	if (u->ctx->progress) {
		struct b10t_manifest mf = { 0 };
		struct b10t_ctx quiet;

		b10t_ctx_init(&quiet);
		quiet.log_level = B10T_LOG_ERROR;
		if (b10t_manifest_parse(&quiet, m, (size_t)size, &mf) == 0 && mf.has_bytes)
			u->gate.total_bytes = mf.bytes;
		b10t_manifest_free(&mf);
	}
	if (manifest)
		*manifest = m;
	else
		free(m);
	return 0;
}

static int extract_one(struct unpack *u, struct archive_entry *e, bool first, char **manifest)
{
	const char *raw = archive_entry_pathname(e), *why, *base, *link;
	mode_t mode;
	int r, pfd;

	show_name(u->shown, sizeof(u->shown), raw ? raw : "");
	if (++u->entries > u->lim->max_entries)
		return u->fault = true, b10t_set_error(u->ctx, EFBIG,
				      "the archive has more than the cap of %llu entries (at member '%s')",
				      (unsigned long long)u->lim->max_entries, u->shown);
	r = normalise(u, raw);
	if (r)
		return r < 0 ? r : 0;	/* the root itself: nothing to make */
	if (!strcmp(u->name, B10T_RESERVED_DIR) ||
	    !strncmp(u->name, B10T_RESERVED_DIR "/", sizeof(B10T_RESERVED_DIR))) {
		if (first && !strcmp(u->name, B10T_MANIFEST_MEMBER) &&
		    archive_entry_filetype(e) == AE_IFREG && !archive_entry_hardlink(e))
			return read_manifest_data(u, e, manifest);
		return 0;	/* reserved: never extracted */
	}
	/* The rules save packs by too (rules.c): type, set-id bits, link target. */
	link = archive_entry_hardlink(e);
	mode = archive_entry_mode(e);
	if (link)
		mode = S_IFREG | (mode & 07777);
	else if (archive_entry_filetype(e) == AE_IFLNK)
		link = archive_entry_symlink(e);
	if ((why = b10t_member_refusal(u->name, 0, mode, link)))
		return reject(u, "%s", why);
	pfd = parent_fd(u, &base);
	if (pfd < 0)
		return pfd;
	switch (archive_entry_filetype(e)) {
	case AE_IFDIR:
		r = extract_dir(u, pfd, base, e);
		break;
	case AE_IFLNK:
		r = extract_symlink(u, pfd, base, e);
		break;
	default:
		r = extract_file(u, pfd, base, e);
		break;
	}
	if (!r && archive_entry_filetype(e) == AE_IFDIR)
		u->st.dirs++;
	else if (!r)
		u->st.files++;
	return r;
}

/* Apply the mode (less the umask) and time of d to its directory. */
static int fix_dir(struct unpack *u, const struct dir_fixup *d)
{
	struct timespec ts[2] = { { d->mtime, 0 }, { d->mtime, 0 } };
	struct stat st;
	int fd, r;

	show_name(u->shown, sizeof(u->shown), d->path);	/* for messages */
	fd = walk_to(u, d->path, strlen(d->path), false);
	if (fd < 0)
		return fd;
	/* An implicit dir keeps the mode its own entry gave it, if any. */
	if (d->implicit)
		r = fstat(fd, &st) < 0 || ((st.st_mode & 07777) == IMPLICIT_MODE &&
					  fchmod(fd, IMPLICIT_MODE & ~u->umask) < 0);
	else
		r = fchmod(fd, d->mode & ~u->umask) < 0 || futimens(fd, ts) < 0;
	if (r)
		return fs_error(u, errno, "setting the mode of", d->path, (int)strlen(d->path));
	return 0;
}

static mode_t final_mode(const struct unpack *u, const struct dir_fixup *d)
{
	return (d->implicit ? IMPLICIT_MODE : d->mode) & ~u->umask;
}

/* Whether the owner can still walk through a directory of mode m. */
#define WALKABLE(m) (((m) & 0500) == 0500)

/*
 * Directory modes and times, at the end.  Latest first: for an archive
 * that lists a directory before its members (tar's order and ours) that
 * is children before parents, and the walk reuses the stack, so each
 * directory is opened about once.  A mode that shuts the owner out (no r
 * or x for u) could block the walk to a directory listed earlier below it
 * (when not root): those come last, deepest first, so the walk to each
 * passes only through directories still open to us.
 */
static int fix_dirs(struct unpack *u)
{
	size_t count[B10T_MAX_DEPTH + 2] = { 0 }, nlate = 0, *late = NULL;
	int r = 0;

	for (size_t i = u->ndirs; i-- > 0;) {
		const struct dir_fixup *d = &u->dirs[i];

		if (!WALKABLE(final_mode(u, d)))
			nlate++;
		else if ((r = fix_dir(u, d)) < 0)
			return r;
	}
	if (!nlate)
		return 0;
	late = calloc(nlate, sizeof(*late));
	if (!late)
		return b10t_set_error(u->ctx, ENOMEM, "extracting: out of memory");
	/* A counting sort by depth, deepest first, latest first within one. */
	for (size_t i = 0; i < u->ndirs; i++) {
		if (!WALKABLE(final_mode(u, &u->dirs[i]))) {
			const char *p = u->dirs[i].path;
			size_t depth = 1;

			while ((p = strchr(p, '/')))
				p++, depth++;
			u->dirs[i].depth = depth > B10T_MAX_DEPTH ? B10T_MAX_DEPTH : depth;
			count[B10T_MAX_DEPTH - u->dirs[i].depth + 1]++;
		}
	}
	for (size_t k = 1; k < B10T_MAX_DEPTH + 2; k++)
		count[k] += count[k - 1];
	for (size_t i = u->ndirs; i-- > 0;)
		if (!WALKABLE(final_mode(u, &u->dirs[i])))
			late[count[B10T_MAX_DEPTH - u->dirs[i].depth]++] = i;
	for (size_t k = 0; k < nlate && !r; k++)
		r = fix_dir(u, &u->dirs[late[k]]);
	free(late);
	return r;
}

static void progress(struct unpack *u, bool done)
{
	b10t_progress_step(u->ctx, &u->gate, &u->st, done);
}

static int after_end(struct unpack *u)
{
	return b10t_set_error(u->ctx, EBADMSG, "corrupt archive: data after the end of the tar");
}

static int too_much_padding(struct unpack *u)
{
	return b10t_set_error(u->ctx, EBADMSG,
			      "corrupt archive: more than %u bytes of padding after the end of the tar",
			      MAX_PADDING);
}

/*
 * After the tar's end: every byte libarchive was given but did not consume,
 * and the rest of the stream, must be zero; the stream must end well (the
 * lz4 end mark and checksum, the last zstd frame's checksum, the last gzip
 * trailer).  Zero padding is what
 * tar writers add to fill their records (10240 bytes by default); more
 * than MAX_PADDING of it is no tar writer's.
 */
static int list_mismatch(struct unpack *u, const char *path, const char *why)
{
	char shown[B10T_ESCAPE_SIZE(200)];

	u->fault = true;
	return b10t_set_error(u->ctx, EBADMSG,
			      "corrupt archive: member '%s' %s its entry list",
			      b10t_escape(shown, sizeof(shown), path, 200), why);
}

/*
 * The archive's entry list, when it has one, must say exactly what was
 * extracted: the same paths and types, each file's size and XXH3, each
 * link's target.  A list that disagrees is the archive's fault, as a bad
 * checksum is: a loader never installs what the list does not vouch for,
 * and an updater never computes a delta from a list that lies.
 */
static int check_list(struct unpack *u)
{
	struct b10t_manifest list;
	struct b10t_entry_set set;
	const char *frame;
	size_t len;
	int r;

	frame = u->r ? b10t_lz4r_list(u->r, &len) : u->z ? b10t_zstdr_list(u->z, &len) : NULL;
	if (!frame)
		return 0;	/* an archive of older b10t, or the reference's */
	if ((r = b10t_list_unframe(u->ctx, frame, len, &list)) < 0) {
		u->fault = true;
		return r == -ENOMEM ? r : -EBADMSG;
	}
	if ((r = b10t_entry_set_init(&set, u->got.n_entries)) < 0) {
		b10t_manifest_free(&list);
		return b10t_set_error(u->ctx, ENOMEM, "checking the entry list: out of memory");
	}
	for (size_t i = 0; i < u->got.n_entries && !r; i++)
		r = b10t_entry_set_put(&set, &u->got.entries[i], NULL);
	if (r)
		r = b10t_set_error(u->ctx, ENOMEM, "checking the entry list: out of memory");
	for (size_t i = 0; i < list.n_entries && !r; i++) {
		const struct b10t_entry *want = &list.entries[i];
		const struct b10t_entry *have = b10t_entry_set_get(&set, want->path);

		if (!have)
			r = list_mismatch(u, want->path, "is missing, yet listed in");
		else if (have->type != want->type)
			r = list_mismatch(u, want->path, "has another type than");
		else if (want->type == 'f' && (have->size != want->size || have->hash != want->hash))
			r = list_mismatch(u, want->path, "has other bytes than");
		else if (want->type == 'l' && strcmp(have->target, want->target))
			r = list_mismatch(u, want->path, "has another target than");
	}
	if (!r && list.n_entries != u->got.n_entries) {
		/* Each listed path was found, so some member is not listed. */
		struct b10t_entry_set ls;

		if (b10t_entry_set_init(&ls, list.n_entries) < 0)
			r = -ENOMEM;
		for (size_t j = 0; j < list.n_entries && !r; j++)
			r = b10t_entry_set_put(&ls, &list.entries[j], NULL);
		if (r)
			r = b10t_set_error(u->ctx, ENOMEM, "checking the entry list: out of memory");
		for (size_t i = 0; i < u->got.n_entries && !r; i++)
			if (!b10t_entry_set_get(&ls, u->got.entries[i].path))
				r = list_mismatch(u, u->got.entries[i].path, "is not in");
		b10t_entry_set_free(&ls);
	}
	b10t_entry_set_free(&set);
	b10t_manifest_free(&list);
	return r;
}

static int drain(struct unpack *u)
{
	la_int64_t used = archive_filter_bytes(u->a, 0);
	uint64_t zeros = 0;
	const void *b;
	ssize_t n;

	if (used < 0 || (uint64_t)used > u->given)
		return b10t_set_error(u->ctx, EBADMSG,
				      "corrupt archive: cannot tell where the tar ends");
	for (uint64_t o = (uint64_t)used; o < u->given; o++) {
		int c = given_byte(u, o);

		if (c < 0)	/* libarchive kept more than our copy: no tar does */
			return b10t_set_error(u->ctx, EBADMSG,
					      "corrupt archive: cannot check what follows the end of the tar");
		if (c)
			return after_end(u);
	}
	zeros = u->given - (uint64_t)used;
	if (zeros > MAX_PADDING)
		return too_much_padding(u);
	while ((n = in_read(u, &b)) > 0) {
		const char *p = b;

		for (ssize_t i = 0; i < n; i++)
			if (p[i])
				return after_end(u);
		zeros += (uint64_t)n;
		if (zeros > MAX_PADDING)
			return too_much_padding(u);
	}
	if (n < 0)
		return b10t_set_error(u->ctx, (int)-n, "%s", in_error(u));
	return 0;
}

/*
 * Where the member just read ends in the stream: its header is consumed,
 * its data (padded to 512-byte records) follow.
 */
static void note_data_end(struct unpack *u, struct archive_entry *e)
{
	la_int64_t at = archive_filter_bytes(u->a, 0);
	la_int64_t size = archive_entry_size_is_set(e) ? archive_entry_size(e) : 0;

	if (at >= 0 && size >= 0)
		u->data_end = (uint64_t)at + (((uint64_t)size + 511) & ~(uint64_t)511);
}

/*
 * libarchive answers EOF both at the tar's end-of-archive record and when
 * the stream just stops after a member.  A stream of several frames or
 * members (zstd, gzip) that lost its later ones at a frame boundary ends
 * well as a stream and would load as a tree cut short: the end record
 * (one 512-byte block of zeros, which libarchive consumed) must be there.
 */
static int check_tar_end(struct unpack *u)
{
	la_int64_t used = archive_filter_bytes(u->a, 0);

	if (used < 0 || (uint64_t)used < u->data_end + 512) {
		u->fault = true;
		return b10t_set_error(u->ctx, EBADMSG,
				      "corrupt archive: the tar ends without its end-of-archive record");
	}
	return 0;
}

/*
 * Open libarchive on in_fd for `fmt`, the tar reader only, fed by our own
 * lz4, zstd or gzip reader; `check_end` keeps what drain() needs.
 */
static int open_input(struct unpack *u, int in_fd, enum b10t_format fmt, size_t read_size,
		      bool threaded, bool check_end)
{
	int r;

	u->a = archive_read_new();
	if (!u->a)
		return b10t_set_error(u->ctx, ENOMEM, "reading the archive: out of memory");
	if (archive_read_support_format_tar(u->a) != ARCHIVE_OK)
		return b10t_set_error(u->ctx, ENOTSUP, "libarchive cannot read tar: %s",
				      archive_error_string(u->a));
	if (check_end && !(u->tail = malloc(TAIL_SIZE)))
		return b10t_set_error(u->ctx, ENOMEM, "reading the archive: out of memory");
	if (fmt == B10T_FMT_GZ)
		r = b10t_gzr_new(&u->g, in_fd, read_size);
	else if (fmt == B10T_FMT_ZSTD)
		r = b10t_zstdr_new(&u->z, in_fd, read_size, threaded);
	else
		r = b10t_lz4r_new(&u->r, in_fd, threaded);
	if (r < 0)
		return b10t_sys_error(u->ctx, -r, "reading the archive");
	if (archive_read_open(u->a, u, NULL, stream_in, NULL) != ARCHIVE_OK)
		return input_error(u);
	return 0;
}

static void close_input(struct unpack *u)
{
	if (u->a)
		archive_read_free(u->a);
	b10t_lz4r_free(u->r);
	b10t_zstdr_free(u->z);
	b10t_gzr_free(u->g);
	free(u->tail);
}

int b10t_unpack(struct b10t_ctx *ctx, int in_fd, enum b10t_format fmt,
		const char *dst, const struct b10t_limits *lim,
		struct b10t_pack_stats *stats, char **manifest)
{
	struct unpack u = { .ctx = ctx, .dst = dst, .lim = lim };
	struct b10t_limits def;
	struct archive_entry *e;
	bool first = true;
	int r;

	if (manifest)
		*manifest = NULL;
	if (!lim) {
		b10t_limits_default(&def);
		u.lim = &def;
	}
	u.umask = b10t_umask();
	u.root = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (u.root < 0)
		return b10t_sys_error(ctx, errno, "opening %s", dst);
	r = open_input(&u, in_fd, fmt, READ_SIZE, b10t_use_threads(), true);
	if (!r && !(u.h = XXH3_createState()))
		r = b10t_set_error(ctx, ENOMEM, "extracting: out of memory");
	while (!r) {
		int ar = archive_read_next_header(u.a, &e);

		if (ar == ARCHIVE_EOF) {
			r = check_tar_end(&u);
			break;
		}
		if (ar != ARCHIVE_OK && ar != ARCHIVE_WARN) {
			r = input_error(&u);
			break;
		}
		note_data_end(&u, e);
		r = extract_one(&u, e, first, manifest);
		first = false;
		progress(&u, false);
		if (!r)
			r = b10t_check_cancel(ctx);
	}
	if (!r)
		r = drain(&u);
	if (!r)
		r = check_list(&u);
	if (!r)
		r = fix_dirs(&u);
	if (!r)
		progress(&u, true);
	if (r && manifest) {
		free(*manifest);
		*manifest = NULL;
	}
	/* EBADMSG: the input layer found the archive corrupt. */
	if (r < 0 && (u.fault || r == -EBADMSG))
		u.st.archive_fault = true;
	u.st.archive_bytes = u.r ? b10t_lz4r_bytes_in(u.r) : u.z ? b10t_zstdr_bytes_in(u.z)
			   : u.g ? b10t_gzr_bytes_in(u.g) : 0;
	u.st.archive_short = r < 0 && (u.r ? b10t_lz4r_short(u.r) : u.z ? b10t_zstdr_short(u.z)
				       : u.g ? b10t_gzr_short(u.g) : false);
	if (stats)
		*stats = u.st;
	close_input(&u);
	pop_to(&u, 0);
	close(u.root);
	for (size_t i = 0; i < u.ndirs; i++)
		free(u.dirs[i].path);
	free(u.dirs);
	free(u.made);
	b10t_manifest_free(&u.got);
	XXH3_freeState(u.h);
	return r;
}

int b10t_read_manifest(struct b10t_ctx *ctx, const char *path, enum b10t_format fmt,
		       char **manifest)
{
	struct unpack u = { .ctx = ctx, .dst = path };
	struct archive_entry *e;
	struct stat st;
	int fd, r;

	*manifest = NULL;
	/* Reading it is no use of the archive: keep its atime (gc's last use).
	 * A FIFO or a symlink at the name is refused, never waited on. */
	fd = b10t_open_archive(ctx, path, true, &st);
	if (fd < 0)
		return fd;
	r = open_input(&u, fd, fmt, MANIFEST_READ_SIZE, false, false);
	if (!r) {
		int ar = archive_read_next_header(u.a, &e);
		const char *raw = ar == ARCHIVE_OK || ar == ARCHIVE_WARN
				  ? archive_entry_pathname(e) : NULL;

		if (ar == ARCHIVE_EOF)
			r = b10t_set_error(ctx, ENOENT, "%s has no manifest", path);
		else if (!raw && ar != ARCHIVE_OK && ar != ARCHIVE_WARN)
			r = input_error(&u);
		else if (!raw || normalise(&u, raw) != 0 ||
			 strcmp(u.name, B10T_MANIFEST_MEMBER) ||
			 archive_entry_filetype(e) != AE_IFREG)
			r = b10t_set_error(ctx, ENOENT, "%s has no manifest", path);
		else
			r = read_manifest_data(&u, e, manifest);
	}
	close_input(&u);
	close(fd);
	return r;
}
