/* SPDX-License-Identifier: MIT */
/*
 * The delta of an update: the entries of the local cache dir that the
 * published set lacks (see "The delta" in docs/store-protocol.md).
 *
 * The walk is pack's in miniature: openat, no symlink followed, the same
 * refusals (b10t_member_refusal) and reserved names, the store's own dir
 * left out, so the delta never names what pack would leave out.  A file
 * costs a read only when the published set holds the same path with the
 * same size but another mtime (or a recent one): then its XXH3 decides.  Files are not checked for tearing
 * here: a torn read only makes a file look new, and pack, which reads it
 * again with all its checks, is what publishes it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <xxhash.h>

#include "archive-int.h"
#include "internal.h"

#define READ_SIZE (1u << 20)

struct walk {
	struct b10t_ctx *ctx;
	const char *src;
	const struct b10t_entry_set *pub;
	const struct b10t_limits *lim;
	struct b10t_delta *d;
	XXH3_state_t *h;
	char *buf;
	char path[B10T_MAX_PATH + 2];
	char link[PATH_MAX + 1];
};

static int oom(struct walk *w)
{
	return b10t_set_error(w->ctx, ENOMEM, "comparing %s with the store: out of memory", w->src);
}

static int io_error(struct walk *w, int e)
{
	return b10t_set_error(w->ctx, e, "reading %s/%s: %s", w->src, w->path, strerror(e));
}

static int add(struct walk *w, const struct b10t_entry *e)
{
	if (b10t_manifest_add_entry(&w->d->m, e) < 0)
		return oom(w);
	w->d->bytes += e->size;
	return 0;
}

/* The whole file (at most B10T_INLINE_MAX bytes) as a string; NULL: has a NUL or too big. */
static int read_text(struct walk *w, int fd, uint64_t size, char **out)
{
	char *s;
	ssize_t n;

	*out = NULL;
	if (size > B10T_INLINE_MAX)
		return 0;
	if (!(s = malloc(size + 1)))
		return oom(w);
	if ((n = b10t_read_at(fd, s, (size_t)size, 0)) != (ssize_t)size) {
		free(s);
		return n < 0 ? io_error(w, (int)-n) : 0;	/* shrank: pack decides */
	}
	s[size] = '\0';
	if (strlen(s) != size) {
		free(s);
		return 0;
	}
	*out = s;
	return 0;
}

/* 1 and *h when the file's `size` bytes were read, 0 when it shrank, or -errno. */
static int hash_fd(struct walk *w, int fd, uint64_t size, uint64_t *h)
{
	int r = b10t_hash_fd(w->ctx, fd, size, w->h, w->buf, READ_SIZE, h);

	return r < 0 && r != -EINTR ? io_error(w, -r) : r;	/* -EINTR: cancelled */
}

/*
 * Written in the last 2 s (or in the future): a write may be going on, or
 * one may follow within the same second (git's "racy" entries).  Only the
 * mtime: a tool that sets it back (unpack, cp -p) wrote the bytes of the
 * same source.
 */
static bool recent(const struct stat *st)
{
	return st->st_mtim.tv_sec >= time(NULL) - 2;
}

static int file(struct walk *w, int dirfd, const char *name, const struct b10t_entry *pub,
		const struct stat *lst)
{
	struct b10t_entry e = { .path = w->path, .type = 'f' };
	enum b10t_index_kind kind = b10t_index_kind(w->path);
	struct stat st;
	char *text = NULL, *merged = NULL;
	int fd, r = 0;

	if (pub && pub->type == 'f' && b10t_write_once(w->path))
		return 0;
	/*
	 * Same size and mtime (seconds) as published, and not written in the
	 * last 2 s: the same file, as git's index and rsync judge it, with no
	 * open.  A local file that came from the store has the member's mtime
	 * (unpack sets it); a file compiled here has its own, and is read.
	 * Index files are always read: their content is merged, not compared.
	 */
	if (!kind && pub && pub->type == 'f' && pub->size == (uint64_t)lst->st_size &&
	    (uint64_t)lst->st_mtim.tv_sec == pub->mtime && !recent(lst))
		return 0;
	fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ELOOP || errno == ENXIO ? 0 : io_error(w, errno);
	if (fstat(fd, &st) < 0) {
		r = io_error(w, errno);
		goto out;
	}
	if (!S_ISREG(st.st_mode))
		goto out;	/* changed type since the walk's lstat: pack decides */
	e.mode = st.st_mode & 0777;
	e.size = (uint64_t)st.st_size;
	if (kind && pub && pub->type == 'f' && pub->content) {
		if ((r = read_text(w, fd, e.size, &text)) < 0)
			goto out;
		if (text) {
			r = b10t_index_merge(kind, pub->content, text, &merged);
			if (r == -ENOMEM) {
				r = oom(w);
				goto out;
			}
			if (r == 0)
				goto out;	/* every key is published */
			if (r == 1) {
				e.content = merged;
				e.size = strlen(merged);
				e.hash = XXH3_64bits(merged, e.size);
				r = add(w, &e);
				goto out;
			}
			r = 0;	/* does not parse: compared as any file */
		}
	}
	if (pub && pub->type == 'f' && pub->size == e.size) {
		if ((r = hash_fd(w, fd, e.size, &e.hash)) < 0)
			goto out;
		if (r == 1 && e.hash == pub->hash) {
			r = 0;
			goto out;
		}
	}
	r = add(w, &e);
out:
	free(text);
	free(merged);
	close(fd);
	return r;
}

static int dir(struct walk *w, int dirfd, size_t len, size_t depth);

static int entry(struct walk *w, int dirfd, const char *name, size_t len, size_t depth)
{
	const struct b10t_entry *pub = b10t_entry_set_get(w->pub, w->path);
	size_t nlen = strlen(name);
	struct stat st;
	ssize_t n;
	int fd, r;

	if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : io_error(w, errno);
	if (S_ISLNK(st.st_mode)) {
		n = readlinkat(dirfd, name, w->link, sizeof(w->link) - 1);
		if (n < 0)
			return errno == ENOENT || errno == EINVAL ? 0 : io_error(w, errno);
		w->link[n] = '\0';
	}
	if (b10t_member_refusal(w->path, depth + 1, st.st_mode & ~(mode_t)(S_ISUID | S_ISGID),
				S_ISLNK(st.st_mode) ? w->link : NULL))
		return 0;	/* pack leaves it out (and says so) */
	if (S_ISREG(st.st_mode))
		return file(w, dirfd, name, pub, &st);
	if (S_ISLNK(st.st_mode)) {
		if (pub && pub->type == 'l' && !strcmp(pub->target, w->link))
			return 0;
		return add(w, &(struct b10t_entry){ .path = w->path, .type = 'l', .target = w->link });
	}
	fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0)
		return errno == ENOENT || errno == ENOTDIR || errno == ELOOP ? 0 : io_error(w, errno);
	if (fstat(fd, &st) < 0) {
		r = io_error(w, errno);
		close(fd);
		return r;
	}
	if (w->lim && w->lim->exclude_ino && (uint64_t)st.st_dev == w->lim->exclude_dev &&
	    (uint64_t)st.st_ino == w->lim->exclude_ino) {
		close(fd);
		return 0;	/* the store itself */
	}
	if ((!pub || pub->type != 'd') &&
	    (r = add(w, &(struct b10t_entry){ .path = w->path, .type = 'd',
					      .mode = st.st_mode & 0777 })) < 0) {
		close(fd);
		return r;
	}
	w->path[len + nlen] = '/';
	w->path[len + nlen + 1] = '\0';
	return dir(w, fd, len + nlen + 1, depth + 1);
}

/* The directory open at dirfd (closed here), its path w->path[0..len). */
static int dir(struct walk *w, int dirfd, size_t len, size_t depth)
{
	DIR *d = fdopendir(dirfd);
	struct dirent *de;
	int r = 0, err = 0;

	if (!d) {
		r = io_error(w, errno);
		close(dirfd);
		return r;
	}
	while (!r && (de = b10t_readdir(d, &err))) {
		size_t nlen = strlen(de->d_name);

		if (!depth && b10t_local_reserved(de->d_name))
			continue;
		if (len + nlen > B10T_MAX_PATH)
			continue;	/* pack leaves it out */
		memcpy(w->path + len, de->d_name, nlen + 1);
		r = entry(w, dirfd, de->d_name, len, depth);
		w->path[len] = '\0';
		if (!r)
			r = b10t_check_cancel(w->ctx);
	}
	if (!r && err)
		r = io_error(w, err);
	closedir(d);
	return r;
}

/* The dirs above the delta's entries, and both indexes by path. */
static int index_delta(struct b10t_delta *d)
{
	for (size_t i = 0; i < d->m.n_entries; i++) {
		char *p = strdup(d->m.entries[i].path), *s;

		if (!p)
			return -ENOMEM;
		for (s = strchr(p, '/'); s; s = strchr(s + 1, '/')) {
			*s = '\0';
			if (b10t_manifest_add_entry(&d->above, &(struct b10t_entry){ .path = p,
							 .type = 'd' }) < 0) {
				free(p);
				return -ENOMEM;
			}
			*s = '/';
		}
		free(p);
	}
	if (b10t_entry_set_init(&d->set, d->m.n_entries) < 0 ||
	    b10t_entry_set_init(&d->dirs, d->above.n_entries) < 0)
		return -ENOMEM;
	for (size_t i = 0; i < d->m.n_entries; i++)
		if (b10t_entry_set_put(&d->set, &d->m.entries[i], NULL) < 0)
			return -ENOMEM;
	for (size_t i = 0; i < d->above.n_entries; i++)
		if (b10t_entry_set_put(&d->dirs, &d->above.entries[i], NULL) < 0)
			return -ENOMEM;
	return 0;
}

int b10t_delta_compute(struct b10t_ctx *ctx, const char *src,
		       const struct b10t_entry_set *published,
		       const struct b10t_limits *lim, struct b10t_delta *d)
{
	struct walk w = { .ctx = ctx, .src = src, .pub = published, .lim = lim, .d = d };
	int fd, r;

	memset(d, 0, sizeof(*d));
	d->m.has_entries = true;
	fd = open(src, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return b10t_set_error(ctx, errno, "opening %s: %s", src, strerror(errno));
	w.h = XXH3_createState();
	w.buf = malloc(READ_SIZE);
	if (!w.h || !w.buf) {
		close(fd);
		r = oom(&w);
	} else {
		r = dir(&w, fd, 0, 0);
	}
	if (!r && index_delta(d) < 0)
		r = oom(&w);
	XXH3_freeState(w.h);
	free(w.buf);
	if (r)
		b10t_delta_free(d);
	return r;
}

void b10t_delta_free(struct b10t_delta *d)
{
	b10t_entry_set_free(&d->set);
	b10t_entry_set_free(&d->dirs);
	b10t_manifest_free(&d->m);
	b10t_manifest_free(&d->above);
	d->bytes = 0;
}
