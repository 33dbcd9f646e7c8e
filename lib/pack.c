/* SPDX-License-Identifier: MIT */
/*
 * b10t_pack: a directory tree as pax tar in an lz4 frame.
 *
 * The walk is our own (openat, no symlink ever followed, names sorted per
 * directory so the same tree gives the same archive).  libarchive writes the
 * tar headers into our callback, which stages the stream for the lz4 writer
 * (lz4io.c); with two cores the compression runs in its own thread.
 * Only what unpack accepts goes in: directories, regular files, relative
 * symlinks that stay inside the tree.  Owners are not recorded, set-id and
 * sticky bits are cleared, mtimes are kept to the second (sub-second times
 * would cost a pax header per member).
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

#include "archive-int.h"
#include "internal.h"

#define READ_SIZE (1u << 20)
#define MAX_DEPTH 512

struct pack {
	struct b10t_ctx *ctx;
	struct archive *a;
	struct archive_entry *e;
	struct b10t_lz4w *w;
	struct b10t_pack_stats st;
	struct b10t_progress_gate gate;
	char *buf;
	char path[PATH_MAX];			/* member path being written */
	const char *src;
};

void b10t_limits_default(struct b10t_limits *lim)
{
	lim->max_entries = 1000000;
	lim->max_bytes = 64ULL << 30;
	lim->max_archive_bytes = 0;
}

static la_ssize_t tar_out(struct archive *a, void *arg, const void *buf, size_t len)
{
	struct pack *p = arg;

	if (b10t_lz4w_write(p->w, buf, len) < 0) {
		archive_set_error(a, EIO, "%s", b10t_lz4w_error(p->w));
		return -1;
	}
	return (la_ssize_t)len;
}

static void progress(struct pack *p, bool done)
{
	b10t_progress_step(p->ctx, &p->gate, &p->st, done);
}

/* The error of a failed libarchive call: the lz4 writer's own, if it failed. */
static int tar_error(struct pack *p, const char *what)
{
	int r = b10t_lz4w_write(p->w, NULL, 0);

	if (r < 0)
		return b10t_set_error(p->ctx, -r, "%s", b10t_lz4w_error(p->w));
	return b10t_set_error(p->ctx, EIO, "packing %s: %s: %s", p->src, what,
			      archive_error_string(p->a));
}

static int put_header(struct pack *p, mode_t type, mode_t perm, int64_t mtime,
		      int64_t size, const char *link)
{
	struct archive_entry *e = p->e;
	int r;

	archive_entry_clear(e);
	archive_entry_set_pathname(e, p->path);
	archive_entry_set_filetype(e, type);
	archive_entry_set_perm(e, perm & 0777);
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

/* The data of an open regular file, exactly `size` bytes of it. */
static int put_data(struct pack *p, int fd, uint64_t size)
{
	uint64_t left = size;

	while (left) {
		size_t want = left < READ_SIZE ? (size_t)left : READ_SIZE;
		ssize_t n = read(fd, p->buf, want);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			return b10t_set_error(p->ctx, errno, "reading %s/%s: %s",
					      p->src, p->path, strerror(errno));
		}
		if (n == 0) {
			/* Shrunk while we read it: pad, the header is out. */
			b10t_warn(p->ctx, "%s/%s shrank while being packed", p->src, p->path);
			memset(p->buf, 0, want);
			n = (ssize_t)want;
		}
		if (archive_write_data(p->a, p->buf, (size_t)n) != n)
			return tar_error(p, p->path);
		left -= (uint64_t)n;
		p->st.bytes += (uint64_t)n;
	}
	return 0;
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
		return b10t_set_error(p->ctx, errno, "opening %s/%s: %s", p->src,
				      p->path, strerror(errno));
	}
	if (fstat(fd, &st) < 0) {
		r = b10t_set_error(p->ctx, errno, "reading %s/%s: %s", p->src,
				   p->path, strerror(errno));
	} else if (!S_ISREG(st.st_mode)) {
		b10t_warn(p->ctx, "skipping %s/%s: not a regular file any more",
			  p->src, p->path);
		r = 0;
	} else {
		r = put_header(p, AE_IFREG, st.st_mode, st.st_mtim.tv_sec, st.st_size, NULL);
		if (!r)
			r = put_data(p, fd, (uint64_t)st.st_size);
		if (!r)
			p->st.files++;
	}
	close(fd);
	return r;
}

static int put_symlink(struct pack *p, int dirfd, const char *name, const struct stat *st)
{
	char target[PATH_MAX];
	ssize_t n = readlinkat(dirfd, name, target, sizeof(target) - 1);

	if (n < 0) {
		if (errno == ENOENT)
			return 0;
		return b10t_set_error(p->ctx, errno, "reading the link %s/%s: %s",
				      p->src, p->path, strerror(errno));
	}
	target[n] = '\0';
	if (!b10t_link_target_ok(p->path, target)) {
		b10t_warn(p->ctx, "skipping symlink %s/%s -> %s: it points outside the cache dir",
			  p->src, p->path, target);
		return 0;
	}
	p->st.files++;
	return put_header(p, AE_IFLNK, 0777, st->st_mtim.tv_sec, 0, target);
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted names of a directory; *names is malloc'ed, each name too. */
static int read_names(int fd, char ***names, size_t *n)
{
	DIR *d = fdopendir(fd);
	struct dirent *de;
	size_t cap = 0;
	int r = 0;

	*names = NULL;
	*n = 0;
	if (!d) {
		r = -errno;
		close(fd);
		return r;
	}
	while ((errno = 0, de = readdir(d))) {
		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
		if (*n == cap) {
			char **nn = realloc(*names, (cap = cap ? 2 * cap : 64) * sizeof(char *));

			if (!nn) {
				r = -ENOMEM;
				break;
			}
			*names = nn;
		}
		if (!((*names)[*n] = strdup(de->d_name))) {
			r = -ENOMEM;
			break;
		}
		(*n)++;
	}
	if (!de && errno)
		r = -errno;
	closedir(d);
	if (!r && *n > 1)
		qsort(*names, *n, sizeof(char *), cmp_names);
	return r;
}

static void free_names(char **names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		free(names[i]);
	free(names);
}

/* Pack the directory open at `dirfd` (closed here); p->path[0..len) is its path. */
static int put_dir(struct pack *p, int dirfd, size_t len, int depth)
{
	char **names;
	size_t n, i;
	int r;

	if (depth > MAX_DEPTH) {
		close(dirfd);
		return b10t_set_error(p->ctx, ELOOP, "packing %s: directories nested too deep at %s",
				      p->src, p->path);
	}
	/* read_names consumes the fd; keep our own for the openat calls. */
	r = read_names(dup(dirfd), &names, &n);
	if (r < 0) {
		close(dirfd);
		return b10t_set_error(p->ctx, -r, "reading %s/%s: %s", p->src,
				      len ? p->path : "", strerror(-r));
	}
	for (i = 0; i < n && !r; i++) {
		const char *name = names[i];
		size_t nlen = strlen(name);
		struct stat st;

		if (!depth && (!strcmp(name, B10T_RESERVED_DIR) || b10t_local_reserved(name)))
			continue;	/* ours: the manifest; a load's staging and marker */
		if (len + nlen + 2 > sizeof(p->path)) {
			r = b10t_set_error(p->ctx, ENAMETOOLONG, "packing %s: path too long: %s/%s",
					   p->src, p->path, name);
			break;
		}
		memcpy(p->path + len, name, nlen + 1);
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;
			r = b10t_set_error(p->ctx, errno, "reading %s/%s: %s", p->src,
					   p->path, strerror(errno));
			break;
		}
		if (S_ISREG(st.st_mode)) {
			r = put_file(p, dirfd, name);
		} else if (S_ISLNK(st.st_mode)) {
			r = put_symlink(p, dirfd, name, &st);
		} else if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

			if (fd < 0) {
				if (errno == ENOENT)
					continue;
				r = b10t_set_error(p->ctx, errno, "opening %s/%s: %s", p->src,
						   p->path, strerror(errno));
				break;
			}
			r = put_header(p, AE_IFDIR, st.st_mode, st.st_mtim.tv_sec, 0, NULL);
			if (r) {
				close(fd);
				break;
			}
			p->st.files++;
			p->path[len + nlen] = '/';
			p->path[len + nlen + 1] = '\0';
			r = put_dir(p, fd, len + nlen + 1, depth + 1);
		} else {
			b10t_warn(p->ctx, "skipping %s/%s: not a file, directory or symlink",
				  p->src, p->path);
		}
		progress(p, false);
		if (!r)
			r = b10t_check_cancel(p->ctx);
	}
	p->path[len] = '\0';
	free_names(names, n);
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
	 * End the lz4 block here, so that the manifest sits alone in a small
	 * first block: b10t_read_manifest() then reads a few KiB, not 4 MB.
	 */
	if (archive_write_finish_entry(p->a) != ARCHIVE_OK)
		return tar_error(p, B10T_MANIFEST_MEMBER);
	if ((r = b10t_lz4w_flush(p->w)) < 0)
		return b10t_set_error(p->ctx, -r, "%s", b10t_lz4w_error(p->w));
	p->path[0] = '\0';
	return 0;
}

int b10t_pack(struct b10t_ctx *ctx, const char *src, int out_fd,
	      const char *manifest_json, const struct b10t_limits *lim,
	      struct b10t_pack_stats *stats)
{
	struct pack p = { .ctx = ctx, .src = src };
	struct b10t_limits def;
	int fd, r;

	if (!lim) {
		b10t_limits_default(&def);
		lim = &def;
	}
	fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return b10t_set_error(ctx, errno, "opening %s: %s", src, strerror(errno));
	p.buf = malloc(READ_SIZE);
	p.a = archive_write_new();
	p.e = archive_entry_new();
	r = b10t_lz4w_new(&p.w, out_fd, lim->max_archive_bytes, b10t_use_threads());
	if (r < 0 || !p.buf || !p.a || !p.e) {
		r = b10t_set_error(ctx, r < 0 ? -r : ENOMEM, "packing %s: %s", src,
				   strerror(r < 0 ? -r : ENOMEM));
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
	r = b10t_lz4w_finish(p.w);
	if (r < 0) {
		r = b10t_set_error(ctx, -r, "%s", b10t_lz4w_error(p.w));
		goto out;
	}
	p.st.archive_bytes = b10t_lz4w_bytes(p.w);
	progress(&p, true);
out:
	if (stats) {
		p.st.archive_bytes = p.w ? b10t_lz4w_bytes(p.w) : 0;
		*stats = p.st;
	}
	archive_entry_free(p.e);
	if (p.a)
		archive_write_free(p.a);	/* after close: does not write again */
	b10t_lz4w_free(p.w);
	free(p.buf);
	return r;
}
