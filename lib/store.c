/* SPDX-License-Identifier: MIT */
/*
 * Read-only views of the store: listing and lookup of published archives
 * and use markers (their names: lib/names.c).  Nothing here writes to the store but
 * b10t_store_mark_used (one utimensat of a load's marker): list and find are
 * what `info` and `list` run against a directory hundreds of replicas share.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * ESTALE: an NFS client used a file handle the server no longer knows (the
 * name was replaced or removed under a cached lookup).  A second lookup by
 * name asks the server afresh and usually works, so every stat and open of
 * the store is tried once more on it; a second ESTALE is an error.
 */
int b10t_lstat_fresh(const char *path, struct stat *st)
{
	int r = lstat(path, st);

	if (r < 0 && errno == ESTALE)
		r = lstat(path, st);
	return r;
}

int b10t_fstatat_fresh(int dfd, const char *name, struct stat *st, int flags)
{
	int r = fstatat(dfd, name, st, flags);

	if (r < 0 && errno == ESTALE)
		r = fstatat(dfd, name, st, flags);
	return r;
}

static DIR *opendir_fresh(const char *path)
{
	DIR *d = opendir(path);

	if (!d && errno == ESTALE)
		d = opendir(path);
	return d;
}

int64_t b10t_last_used(const struct stat *archive, const struct stat *marker)
{
	int64_t t = (int64_t)archive->st_mtim.tv_sec;

	/* atime: where the filesystem keeps it (relatime moves it on a read
	 * after the publish, older b10t versions set it); mtime: the publish. */
	if ((int64_t)archive->st_atim.tv_sec > t)
		t = (int64_t)archive->st_atim.tv_sec;
	if (marker && (int64_t)marker->st_mtim.tv_sec > t)
		t = (int64_t)marker->st_mtim.tv_sec;
	return t;
}

int b10t_store_mark_used(struct b10t_ctx *ctx, const struct b10t_config *cfg, const char *key)
{
	char name[NAME_MAX + 1], path[PATH_MAX + NAME_MAX + 2];
	int r, fd, tries = 0;

	if ((r = b10t_use_marker_name(name, sizeof(name), key)) < 0)
		return r;
	snprintf(path, sizeof(path), "%s/%s", cfg->store_dir, name);
	/*
	 * Both times to now (times NULL): write permission is enough, where
	 * setting one time alone needs the file's owner.  Never followed: a
	 * symlink planted at the name gets nothing touched but itself.
	 */
	while (utimensat(AT_FDCWD, path, NULL, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ESTALE && tries++ == 0)
			continue;	/* NFS: the handle went stale under us, once */
		if (errno != ENOENT) {
			r = -errno;
			b10t_debug(ctx, "last use: cannot touch %s: %s", path, strerror(-r));
			return r;
		}
		/* The first use since the publish: creating sets the mtime.  No
		 * O_EXCL: two loads creating it at once are both right. */
		fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC, 0666);
		if (fd < 0) {
			r = -errno;
			b10t_debug(ctx, "last use: cannot create %s: %s", path, strerror(-r));
			return r;
		}
		close(fd);
		return 0;
	}
	return 0;
}

/* Size and times of an archive; last_used without its marker (see list). */
static void fill_stat(struct b10t_archive_info *info, const struct stat *st)
{
	info->bytes = (uint64_t)st->st_size;
	info->mtime = (int64_t)st->st_mtim.tv_sec;
	info->last_used = b10t_last_used(st, NULL);
}

/* A use marker seen by list: its key and mtime, joined with the archives. */
struct marker {
	char key[NAME_MAX + 1];
	int64_t mtime;
};

static int by_marker_key(const void *a, const void *b)
{
	return strcmp(((const struct marker *)a)->key, ((const struct marker *)b)->key);
}

static int key_vs_marker(const void *key, const void *m)
{
	return strcmp(key, ((const struct marker *)m)->key);
}

/* An entry and its mtime to the nanosecond, so "newest first" is exact. */
struct entry {
	struct b10t_archive_info info;
	int64_t mtime_ns;
};

static int newest_first(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->mtime_ns != y->mtime_ns)
		return x->mtime_ns > y->mtime_ns ? -1 : 1;
	return strcmp(x->info.filename, y->info.filename);
}

int b10t_store_list(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		    struct b10t_archive_info **out, size_t *n)
{
	struct entry *v = NULL;
	struct marker *m = NULL, mk;
	size_t len = 0, cap = 0, nm = 0, mcap = 0;
	int dfd, err;
	struct dirent *de;
	bool again = true;
	DIR *d;
	int r = 0;

	*out = NULL;
	*n = 0;
	d = opendir_fresh(cfg->store_dir);
	if (!d)
		return b10t_sys_error(ctx, errno, "listing the store %s",
				      cfg->store_dir);
	for (;;) {
		struct stat st;

		if (!(de = b10t_readdir(d, &err))) {
			/* The dir's handle went stale under the listing: list
			 * it once more from a fresh open. */
			if (err == ESTALE && again) {
				DIR *d2 = opendir_fresh(cfg->store_dir);

				if (d2) {
					closedir(d);
					d = d2;
					len = nm = 0;
					again = false;
					continue;
				}
			}
			if (err)
				r = b10t_sys_error(ctx, err, "listing the store %s",
						   cfg->store_dir);
			break;
		}
		/* Cheap test first: most debris fails on the first bytes. */
		if (de->d_name[0] != 'c' || (de->d_type != DT_REG &&
		    de->d_type != DT_UNKNOWN && de->d_type != DT_LNK))
			continue;
		if (B10T_GROW(v, cap, len + 1, 64) < 0) {
			r = b10t_set_error(ctx, ENOMEM, "listing the store: out of memory");
			break;
		}
		if (!b10t_parse_archive_name(de->d_name, &v[len].info)) {
			if (b10t_parse_use_marker(de->d_name, mk.key, sizeof(mk.key)) &&
			    b10t_fstatat_fresh(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    S_ISREG(st.st_mode)) {
				if (B10T_GROW(m, mcap, nm + 1, 16) < 0) {
					r = b10t_set_error(ctx, ENOMEM,
							   "listing the store: out of memory");
					break;
				}
				mk.mtime = (int64_t)st.st_mtim.tv_sec;
				m[nm++] = mk;
			}
			continue;
		}
		/* Gone since readdir (evicted, moved aside), or not a regular file
		 * (a symlink, which load refuses): not listed. */
		if (b10t_fstatat_fresh(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		fill_stat(&v[len].info, &st);
		v[len].mtime_ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		len++;
	}
	/* The markers the listing missed are looked up below, in the same dir. */
	dfd = r == 0 ? dup(dirfd(d)) : -1;
	closedir(d);
	if (r == 0 && dfd < 0)
		r = b10t_sys_error(ctx, errno, "listing the store %s", cfg->store_dir);
	if (r < 0) {
		free(v);
		free(m);
		return r;
	}
	/*
	 * Each archive's last use counts its key's marker (a load's use).  One
	 * the listing did not show is looked up by name: a client's cached
	 * directory listing (sshfs keeps one 20 s) misses a marker another
	 * client's load just made, a lookup does not.
	 */
	if (nm)
		qsort(m, nm, sizeof(*m), by_marker_key);
	for (size_t i = 0; r == 0 && i < len; i++) {
		struct marker *hit = nm ? bsearch(v[i].info.key, m, nm, sizeof(*m),
						  key_vs_marker) : NULL;
		char name[NAME_MAX + 1];
		struct stat st;
		int64_t used = INT64_MIN;

		if (hit)
			used = hit->mtime;
		else if (b10t_use_marker_name(name, sizeof(name), v[i].info.key) == 0 &&
			 fstatat(dfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode))
			used = (int64_t)st.st_mtim.tv_sec;
		if (used > v[i].info.last_used)
			v[i].info.last_used = used;
	}
	free(m);
	close(dfd);
	if (len)
		qsort(v, len, sizeof(*v), newest_first);
	/* Compact in place: info is the first member of entry. */
	for (size_t i = 0; i < len; i++)
		memmove((struct b10t_archive_info *)v + i, &v[i].info, sizeof(v[i].info));
	*out = (struct b10t_archive_info *)v;
	*n = len;
	if (!len) {
		free(v);
		*out = NULL;
	}
	return 0;
}

/* What a non-regular entry at an archive's name is, for messages. */
static const char *file_kind(mode_t mode)
{
	return S_ISDIR(mode) ? "a directory" : S_ISFIFO(mode) ? "a FIFO" :
	       S_ISLNK(mode) ? "a symlink" : S_ISSOCK(mode) ? "a socket" :
	       S_ISCHR(mode) || S_ISBLK(mode) ? "a device" : "not a regular file";
}

int b10t_store_find(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		    const char *key, struct b10t_archive_info *info)
{
	static const enum b10t_format order[] = { B10T_FMT_LZ4, B10T_FMT_ZSTD, B10T_FMT_GZ };
	char path[PATH_MAX + NAME_MAX + 2], name[NAME_MAX + 1];
	struct stat st;

	if (!b10t_valid_key(key, strlen(key)))
		return b10t_set_error(ctx, EINVAL, "invalid environment key '%s'", key);
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		b10t_archive_name(name, sizeof(name), key, order[i]);
		snprintf(path, sizeof(path), "%s/%s", cfg->store_dir, name);
		/* Which name exists, no more: a reader decides on fstat of the
		 * fd it opened (b10t_open_archive), never on this. */
		if (b10t_lstat_fresh(path, &st) < 0) {
			if (errno == ENOENT)
				continue;
			return b10t_sys_error(ctx, errno, "looking up %s", path);
		}
		if (!S_ISREG(st.st_mode))
			return b10t_set_error(ctx, S_ISLNK(st.st_mode) ? ELOOP :
					      S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
					      "%s is %s, not an archive: refusing it", path,
					      file_kind(st.st_mode));
		b10t_parse_archive_name(name, info);
		fill_stat(info, &st);
		return 0;
	}
	b10t_set_error(ctx, ENOENT, "no archive for key %s in %s", key, cfg->store_dir);
	return -ENOENT;
}

bool b10t_store_key_has_archive(int dirfd, const char *key, size_t key_len)
{
	static const enum b10t_format order[] = { B10T_FMT_LZ4, B10T_FMT_ZSTD, B10T_FMT_GZ };
	char k[NAME_MAX + 1], name[NAME_MAX + 1];
	struct stat st;

	if (key_len >= sizeof(k))
		return false;
	memcpy(k, key, key_len);
	k[key_len] = '\0';
	for (size_t i = 0; i < sizeof(order) / sizeof(order[0]); i++) {
		b10t_archive_name(name, sizeof(name), k, order[i]);
		/* Unsure (an error other than ENOENT) counts as there: keep. */
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
			return true;
	}
	return false;
}


/* One open and fstat of the archive: the fd, or -errno (message in ctx). */
static int open_once(struct b10t_ctx *ctx, const char *path, bool noatime, struct stat *st)
{
	int fd, flags;

	/* O_NONBLOCK: a FIFO swapped in at the name opens at once instead of
	 * waiting for a writer forever; O_NOFOLLOW: a symlink in a shared
	 * store is no archive of ours. */
	flags = O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC;
	fd = open(path, flags | (noatime ? O_NOATIME : 0));
	if (fd < 0 && noatime && errno == EPERM)	/* O_NOATIME needs the file's owner */
		fd = open(path, flags);
	if (fd < 0) {
		if (errno == ELOOP)
			return b10t_set_error(ctx, ELOOP, "%s is a symlink, not an archive: "
					      "refusing to follow it", path);
		if (errno == ENXIO)	/* a socket */
			return b10t_set_error(ctx, EINVAL, "%s is not a regular file: refusing it",
					      path);
		return b10t_sys_error(ctx, errno, "opening %s", path);
	}
	if (fstat(fd, st) < 0) {
		int e = errno;

		close(fd);
		return b10t_sys_error(ctx, e, "opening %s", path);
	}
	if (!S_ISREG(st->st_mode)) {
		close(fd);
		return b10t_set_error(ctx, S_ISDIR(st->st_mode) ? EISDIR : EINVAL,
				      "%s is %s, not an archive: refusing it", path,
				      file_kind(st->st_mode));
	}
	/* Back to blocking reads: O_NONBLOCK only guarded the open. */
	if ((flags = fcntl(fd, F_GETFL)) < 0 || fcntl(fd, F_SETFL, flags & ~O_NONBLOCK) < 0) {
		int e = errno;

		close(fd);
		return b10t_sys_error(ctx, e, "opening %s", path);
	}
	return fd;
}

int b10t_open_archive(struct b10t_ctx *ctx, const char *path, bool noatime, struct stat *st)
{
	int fd = open_once(ctx, path, noatime, st);

	/* A stale NFS handle, at the open or the fstat: once more by name. */
	if (fd == -ESTALE) {
		b10t_clear_error(ctx);
		fd = open_once(ctx, path, noatime, st);
	}
	return fd;
}
