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

/* A key's set as listed, and its newest mtime to the ns, so "newest first"
 * is exact. */
struct entry {
	struct b10t_archive_info info;
	int64_t mtime_ns;
	struct b10t_set set;
};

static int newest_first(const void *a, const void *b)
{
	const struct entry *x = a, *y = b;

	if (x->mtime_ns != y->mtime_ns)
		return x->mtime_ns > y->mtime_ns ? -1 : 1;
	return strcmp(x->info.filename, y->info.filename);
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct b10t_name *)a)->key, ((const struct b10t_name *)b)->key);
}

/* Stat the set's archives into e->info; false when none is there. */
static bool fill_entry(int dfd, struct entry *e)
{
	struct b10t_archive_info *in = &e->info;
	size_t kept = 0;

	memset(in, 0, sizeof(*in));
	snprintf(in->key, sizeof(in->key), "%s", e->set.key);
	e->mtime_ns = INT64_MIN;
	for (size_t i = 0; i < e->set.n; i++) {
		struct stat st;
		int64_t ns;

		/* Gone since readdir (evicted, moved aside), or not a regular
		 * file (a symlink, which load refuses): not listed. */
		if (b10t_fstatat_fresh(dfd, e->set.v[i].name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode))
			continue;
		if (!kept) {
			snprintf(in->filename, sizeof(in->filename), "%s", e->set.v[i].name);
			in->format = e->set.v[i].format;
		}
		e->set.v[kept++] = e->set.v[i];
		in->generation = e->set.v[i].gen;
		if (e->set.v[i].base) {
			in->base_generation = e->set.v[i].gen;
		} else {
			in->n_layers++;
			in->layer_bytes += (uint64_t)st.st_size;
		}
		in->bytes += (uint64_t)st.st_size;
		if ((int64_t)st.st_mtim.tv_sec > in->mtime)
			in->mtime = (int64_t)st.st_mtim.tv_sec;
		if (b10t_last_used(&st, NULL) > in->last_used)
			in->last_used = b10t_last_used(&st, NULL);
		ns = (int64_t)st.st_mtim.tv_sec * 1000000000 + st.st_mtim.tv_nsec;
		if (ns > e->mtime_ns)
			e->mtime_ns = ns;
	}
	e->set.n = kept;
	in->n_archives = kept;
	return kept > 0;
}

int b10t_store_list(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		    struct b10t_archive_info **out, size_t *n)
{
	struct b10t_name *c = NULL, nm;
	struct entry *v = NULL;
	struct marker *m = NULL;
	size_t nc = 0, ccap = 0, len = 0, cap = 0, nm_ = 0, mcap = 0, pool = 0;
	struct dirent *de;
	bool again = true;
	char *blob, *p;
	DIR *d;
	int dfd = -1, r = 0, err;

	*out = NULL;
	*n = 0;
	d = opendir_fresh(cfg->store_dir);
	if (!d)
		return b10t_sys_error(ctx, errno, "listing the store %s",
				      cfg->store_dir);
	for (;;) {
		struct stat st;
		enum b10t_name_kind k;

		if (!(de = b10t_readdir(d, &err))) {
			/* The dir's handle went stale under the listing: list
			 * it once more from a fresh open. */
			if (err == ESTALE && again) {
				DIR *d2 = opendir_fresh(cfg->store_dir);

				if (d2) {
					closedir(d);
					d = d2;
					nc = nm_ = 0;
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
		if (de->d_name[0] != 'c')
			continue;
		memset(&nm, 0, sizeof(nm));
		k = b10t_name_parse(B10T_SIDE_STORE, de->d_name, &nm);
		if (k == B10T_NAME_MARKER) {
			if (b10t_fstatat_fresh(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISREG(st.st_mode))
				continue;
			if (B10T_GROW(m, mcap, nm_ + 1, 16) < 0) {
				r = b10t_set_error(ctx, ENOMEM, "listing the store: out of memory");
				break;
			}
			memcpy(m[nm_].key, nm.key, nm.key_len + 1);
			m[nm_++].mtime = (int64_t)st.st_mtim.tv_sec;
			continue;
		}
		if (k != B10T_NAME_LATEST && k != B10T_NAME_CLAIM && k != B10T_NAME_BASE_CLAIM)
			continue;
		if (B10T_GROW(c, ccap, nc + 1, 64) < 0) {
			r = b10t_set_error(ctx, ENOMEM, "listing the store: out of memory");
			break;
		}
		c[nc++] = nm;
	}
	/* The markers the listing missed are looked up below, in the same dir. */
	dfd = r == 0 ? dup(dirfd(d)) : -1;
	closedir(d);
	if (r == 0 && dfd < 0)
		r = b10t_set_error(ctx, errno, "listing the store %s: %s", cfg->store_dir,
				   strerror(errno));
	/* One set per key: its names are neighbours once sorted by key. */
	if (r == 0 && nc)
		qsort(c, nc, sizeof(*c), by_key);
	for (size_t i = 0, j; r == 0 && i < nc; i = j) {
		for (j = i + 1; j < nc && !strcmp(c[j].key, c[i].key); j++)
			;
		if (B10T_GROW(v, cap, len + 1, 64) < 0) {
			r = b10t_set_error(ctx, ENOMEM, "listing the store: out of memory");
			break;
		}
		r = b10t_set_choose(ctx, dfd, c[i].key, c + i, j - i, false, &v[len].set);
		if (r < 0)
			break;
		if (fill_entry(dfd, &v[len]))
			len++;
		else
			b10t_set_free(&v[len].set);
	}
	free(c);
	/*
	 * Each key's last use counts its marker (a load's use).  One the
	 * listing did not show is looked up by name: a client's cached
	 * directory listing (sshfs keeps one 20 s) misses a marker another
	 * client's load just made, a lookup does not.
	 */
	if (r == 0 && nm_)
		qsort(m, nm_, sizeof(*m), by_marker_key);
	for (size_t i = 0; r == 0 && i < len; i++) {
		struct marker *hit = nm_ ? bsearch(v[i].info.key, m, nm_, sizeof(*m),
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
	if (dfd >= 0)
		close(dfd);
	if (r == 0 && len)
		qsort(v, len, sizeof(*v), newest_first);
	/* One allocation: the infos, then the name pointers, then the names. */
	for (size_t i = 0; r == 0 && i < len; i++)
		for (size_t k = 0; k < v[i].set.n; k++)
			pool += sizeof(char *) + strlen(v[i].set.v[k].name) + 1;
	blob = r == 0 && len ? malloc(len * sizeof(struct b10t_archive_info) + pool) : NULL;
	if (r == 0 && len && !blob)
		r = b10t_set_error(ctx, ENOMEM, "listing the store: out of memory");
	if (blob) {
		struct b10t_archive_info *infos = (struct b10t_archive_info *)blob;
		const char **ptrs = (const char **)(infos + len);
		size_t np = 0;

		for (size_t i = 0; i < len; i++)
			np += v[i].set.n;
		p = (char *)(ptrs + np);
		for (size_t i = 0; i < len; i++) {
			infos[i] = v[i].info;
			infos[i].archives = ptrs;
			for (size_t k = 0; k < v[i].set.n; k++) {
				size_t l = strlen(v[i].set.v[k].name) + 1;

				memcpy(p, v[i].set.v[k].name, l);
				*ptrs++ = p;
				p += l;
			}
		}
		*out = infos;
		*n = len;
	}
	for (size_t i = 0; i < len; i++)
		b10t_set_free(&v[i].set);
	free(v);
	return r;
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
	char path[PATH_MAX + NAME_MAX + 2];
	struct b10t_set set;
	struct stat st;
	int dfd, r;
	bool found = false;

	if (!b10t_valid_key(key, strlen(key)))
		return b10t_set_error(ctx, EINVAL, "invalid environment key '%s'", key);
	dfd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0 && errno == ESTALE)
		dfd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0)
		return b10t_set_error(ctx, errno, "opening the store %s: %s", cfg->store_dir,
				      strerror(errno));
	r = b10t_store_select(ctx, cfg, dfd, key, false, &set);
	close(dfd);
	if (r < 0)
		return r;
	memset(info, 0, sizeof(*info));
	for (size_t i = 0; i < set.n; i++) {
		snprintf(path, sizeof(path), "%s/%s", cfg->store_dir, set.v[i].name);
		/* Which names exist, no more: a reader decides on fstat of the
		 * fd it opened (b10t_open_archive), never on this. */
		if (b10t_lstat_fresh(path, &st) < 0) {
			if (errno == ENOENT)
				continue;	/* a stale claim: load says more */
			r = b10t_set_error(ctx, errno, "looking up %s: %s", path, strerror(errno));
			break;
		}
		if (!S_ISREG(st.st_mode)) {
			r = b10t_set_error(ctx, S_ISLNK(st.st_mode) ? ELOOP :
					   S_ISDIR(st.st_mode) ? EISDIR : EINVAL,
					   "%s is %s, not an archive: refusing it", path,
					   file_kind(st.st_mode));
			break;
		}
		if (!found) {
			snprintf(info->filename, sizeof(info->filename), "%s", set.v[i].name);
			snprintf(info->key, sizeof(info->key), "%s", key);
			info->format = set.v[i].format;
		}
		found = true;
		info->n_archives++;
		info->generation = set.v[i].gen;
		if (set.v[i].base) {
			info->base_generation = set.v[i].gen;
		} else {
			info->n_layers++;
			info->layer_bytes += (uint64_t)st.st_size;
		}
		info->bytes += (uint64_t)st.st_size;
		if ((int64_t)st.st_mtim.tv_sec > info->mtime)
			info->mtime = (int64_t)st.st_mtim.tv_sec;
		if (b10t_last_used(&st, NULL) > info->last_used)
			info->last_used = b10t_last_used(&st, NULL);
	}
	b10t_set_free(&set);
	if (r < 0)
		return r;
	if (!found) {
		b10t_set_error(ctx, ENOENT, "no archive for key %s in %s", key, cfg->store_dir);
		return -ENOENT;
	}
	return 0;
}

bool b10t_store_key_has_archive(int dirfd, const char *key, size_t key_len)
{
	struct b10t_ctx quiet = { 0 };
	struct b10t_config cfg = { .store_dir = "." };
	char k[NAME_MAX + 1];
	struct b10t_set set;
	bool has;

	if (key_len >= sizeof(k))
		return false;
	memcpy(k, key, key_len);
	k[key_len] = '\0';
	/* Unsure (an error) counts as there: keep. */
	if (b10t_store_select(&quiet, &cfg, dirfd, k, false, &set) < 0)
		return true;
	has = set.published || set.ignored;
	b10t_set_free(&set);
	return has;
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

/* ---- the published set of a key (docs/store-protocol.md) ------------------ */

/* The archive a claim names, into an (its parts) and archive[size]: 0, 1
 * when the claim is malformed (why says how: never followed), -ENOENT when
 * it is gone, another -errno on a read error. */
int b10t_read_claim(int dirfd, const char *claim, const struct b10t_name *cn,
		    struct b10t_name *an, char *why, size_t wsize)
{
	char buf[NAME_MAX + 2];
	enum b10t_name_kind want = cn->kind == B10T_NAME_BASE_CLAIM ? B10T_NAME_BASE : B10T_NAME_GEN;
	struct stat st;
	ssize_t n;
	int fd, flags = O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC;

	fd = openat(dirfd, claim, flags);
	if (fd < 0 && errno == ESTALE)
		fd = openat(dirfd, claim, flags);
	if (fd < 0) {
		if (errno == ELOOP || errno == ENXIO) {	/* a symlink, a socket */
			snprintf(why, wsize, "%s", errno == ELOOP ? "it is a symlink" :
				 "it is not a regular file");
			return 1;
		}
		return -errno;
	}
	if (fstat(fd, &st) < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	if (!S_ISREG(st.st_mode) || st.st_size > NAME_MAX + 1) {
		close(fd);
		snprintf(why, wsize, "%s", S_ISREG(st.st_mode) ? "it is longer than a name" :
			 S_ISDIR(st.st_mode) ? "it is a directory" : "it is not a regular file");
		return 1;
	}
	n = pread(fd, buf, sizeof(buf) - 1, 0);
	if (n < 0) {
		int e = errno;

		close(fd);
		return -e;
	}
	close(fd);
	buf[n] = '\0';
	if (n < 2 || buf[n - 1] != '\n' || memchr(buf, '\n', (size_t)n - 1) ||
	    memchr(buf, '\0', (size_t)n)) {
		snprintf(why, wsize, "its content is not one line naming an archive");
		return 1;
	}
	buf[n - 1] = '\0';
	memset(an, 0, sizeof(*an));
	if (b10t_name_parse(B10T_SIDE_STORE, buf, an) != want || strcmp(an->key, cn->key) ||
	    an->gen != cn->gen) {
		snprintf(why, wsize, "it names no archive of its own key and generation");
		return 1;
	}
	return 0;
}

void b10t_set_free(struct b10t_set *set)
{
	free(set->v);
	set->v = NULL;
	set->n = 0;
}

static int set_add(struct b10t_set *set, const char *archive, const char *claim, uint64_t gen,
		   bool base, enum b10t_format fmt)
{
	struct b10t_set_item *it;

	if (B10T_PUSH(set->v, set->n) < 0)
		return -ENOMEM;
	it = &set->v[set->n++];
	memset(it, 0, sizeof(*it));
	snprintf(it->name, sizeof(it->name), "%s", archive);
	snprintf(it->claim, sizeof(it->claim), "%s", claim);
	it->gen = gen;
	it->base = base;
	it->format = fmt;
	return 0;
}

static int by_gen(const void *a, const void *b)
{
	const struct b10t_set_item *x = a, *y = b;

	if (x->base != y->base)
		return x->base ? -1 : 1;	/* the base first */
	return x->gen < y->gen ? -1 : x->gen > y->gen;
}

int b10t_set_choose(struct b10t_ctx *ctx, int dirfd, const char *key,
		    const struct b10t_name *cands, size_t n, bool warn, struct b10t_set *set)
{
	const struct b10t_name *legacy = NULL;
	struct b10t_set valid = { 0 };
	uint64_t g = 0;
	bool have_base = false;
	int r = 0;

	memset(set, 0, sizeof(*set));
	snprintf(set->key, sizeof(set->key), "%s", key);
	for (size_t i = 0; i < n; i++) {
		const struct b10t_name *c = &cands[i];
		char claim[NAME_MAX + 1], archive[NAME_MAX + 1], why[96];
		struct b10t_name an;

		if (c->kind == B10T_NAME_LATEST) {
			/* lz4 before the reference's gz, as ever */
			if (!legacy || (legacy->format != B10T_FMT_LZ4 && c->format == B10T_FMT_LZ4))
				legacy = c;
			continue;
		}
		if (c->kind != B10T_NAME_CLAIM && c->kind != B10T_NAME_BASE_CLAIM)
			continue;
		if (c->gen > set->top)
			set->top = c->gen;
		b10t_name_build(claim, sizeof(claim), c);
		r = b10t_read_claim(dirfd, claim, c, &an, why, sizeof(why));
		if (r == -ENOENT) {
			r = 0;
			continue;	/* removed since the listing */
		}
		if (r < 0) {
			b10t_set_error(ctx, -r, "reading the claim %s: %s", claim, strerror(-r));
			break;
		}
		if (r == 1) {
			r = 0;
			set->ignored++;
			if (warn)
				b10t_warn(ctx, "ignoring the claim %s: %s", claim, why);
			else
				b10t_debug(ctx, "ignoring the claim %s: %s", claim, why);
			continue;
		}
		b10t_name_build(archive, sizeof(archive), &an);
		if ((r = set_add(&valid, archive, claim, c->gen, c->kind == B10T_NAME_BASE_CLAIM,
				 an.format)) < 0) {
			b10t_set_error(ctx, ENOMEM, "reading the store: out of memory");
			break;
		}
		if (c->kind == B10T_NAME_BASE_CLAIM && (!have_base || c->gen > g))
			g = c->gen, have_base = true;
	}
	if (r < 0) {
		b10t_set_free(&valid);
		return r;
	}
	/* base = the highest b<G>, else the legacy .latest (G = 0); layers:
	 * every g<N> with N > G, in order. */
	if (!have_base && legacy) {
		char name[NAME_MAX + 1];

		b10t_name_build(name, sizeof(name), legacy);
		r = set_add(set, name, "", 0, true, legacy->format);
	}
	for (size_t i = 0; r == 0 && i < valid.n; i++) {
		const struct b10t_set_item *it = &valid.v[i];

		if ((it->base && it->gen == g) || (!it->base && it->gen > g))
			r = set_add(set, it->name, it->claim, it->gen, it->base, it->format);
	}
	set->published = valid.n > 0 || legacy;
	b10t_set_free(&valid);
	if (r < 0) {
		b10t_set_free(set);
		return b10t_set_error(ctx, ENOMEM, "reading the store: out of memory");
	}
	if (set->n > 1)
		qsort(set->v, set->n, sizeof(*set->v), by_gen);
	return 0;
}

/* Which names a listing shows for key, parsed, into *out (free()). */
static int key_names(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
		     const char *key, struct b10t_name **out, size_t *n)
{
	char prefix[NAME_MAX + 1];
	struct b10t_name *v = NULL, nm;
	size_t len = 0, cap = 0, plen;
	bool again = true;
	struct dirent *de;
	DIR *d;
	int fd, r = 0;

	*out = NULL;
	*n = 0;
	if ((r = b10t_name_key_prefix(prefix, sizeof(prefix), key)) < 0)
		return b10t_set_error(ctx, -r, "invalid environment key '%s'", key);
	plen = strlen(prefix);
	fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return b10t_set_error(ctx, -r, "listing the store %s: %s", cfg->store_dir,
				      strerror(-r));
	}
	for (;;) {
		int err;

		if (!(de = b10t_readdir(d, &err))) {
			if (err == ESTALE && again) {
				/* The dir's handle went stale: once more, afresh. */
				int fd2 = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
				DIR *d2 = fd2 >= 0 ? fdopendir(fd2) : NULL;

				if (d2) {
					closedir(d);
					d = d2;
					len = 0;
					again = false;
					continue;
				}
				if (fd2 >= 0)
					close(fd2);
			}
			if (err)
				r = b10t_sys_error(ctx, err, "listing the store %s", cfg->store_dir);
			break;
		}
		if (strncmp(de->d_name, prefix, plen))
			continue;
		memset(&nm, 0, sizeof(nm));
		switch (b10t_name_parse(B10T_SIDE_STORE, de->d_name, &nm)) {
		case B10T_NAME_LATEST:
		case B10T_NAME_CLAIM:
		case B10T_NAME_BASE_CLAIM:
			break;
		default:
			continue;
		}
		if (B10T_GROW(v, cap, len + 1, 8) < 0) {
			r = b10t_set_error(ctx, ENOMEM, "listing the store: out of memory");
			break;
		}
		v[len++] = nm;
	}
	closedir(d);
	if (r < 0) {
		free(v);
		return r;
	}
	/*
	 * Nothing listed: look the first names up by name too.  A client's
	 * cached directory listing (sshfs keeps one 20 s) misses what another
	 * client just published, a lookup does not.
	 */
	if (!len) {
		static const struct { enum b10t_name_kind kind; uint64_t gen; enum b10t_format fmt; }
		look[] = { { B10T_NAME_CLAIM, 1, B10T_FMT_LZ4 },
			   { B10T_NAME_LATEST, 0, B10T_FMT_LZ4 },
			   { B10T_NAME_LATEST, 0, B10T_FMT_GZ } };

		for (size_t i = 0; i < sizeof(look) / sizeof(look[0]); i++) {
			char name[NAME_MAX + 1];
			struct stat st;

			if (b10t_name_for_key(name, sizeof(name), look[i].kind, key, look[i].gen,
					      look[i].fmt) < 0 ||
			    b10t_fstatat_fresh(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (B10T_GROW(v, cap, len + 1, 8) < 0) {
				free(v);
				return b10t_set_error(ctx, ENOMEM, "listing the store: out of memory");
			}
			memset(&v[len], 0, sizeof(v[len]));
			b10t_name_parse(B10T_SIDE_STORE, name, &v[len++]);
		}
	}
	*out = v;
	*n = len;
	return 0;
}

int b10t_store_select(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
		      const char *key, bool warn, struct b10t_set *set)
{
	struct b10t_name *v;
	size_t n;
	int r;

	memset(set, 0, sizeof(*set));
	if (!b10t_valid_key(key, strlen(key)))
		return b10t_set_error(ctx, EINVAL, "invalid environment key '%s'", key);
	if ((r = key_names(ctx, cfg, dirfd, key, &v, &n)) < 0)
		return r;
	r = b10t_set_choose(ctx, dirfd, key, v, n, warn, set);
	free(v);
	return r;
}
