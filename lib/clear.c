/* SPDX-License-Identifier: MIT */
/*
 * b10t clear: remove the local cache dir.
 *
 * The dir is first renamed to a unique sibling, so a compiler starting at
 * the same time sees either the whole cache or none, never half of one; the
 * sibling is then deleted through directory fds with unlinkat, never
 * following a symlink and never going above it, so nothing outside the
 * cache dir can be touched whatever the tree holds.  When the dir cannot be
 * renamed (a mount point, an unwritable parent) its contents are deleted in
 * place the same way and the empty dir stays.
 *
 * The store is never deleted, whatever the paths say: it is compared by
 * dev/ino, never by name, so a symlink or a bind mount cannot disguise it.
 * The cache dir being the store, or lying inside it, is refused before
 * anything is touched.  The store lying below the cache dir: the cache dir
 * cannot be renamed aside (that would move the store), so it is emptied in
 * place around the store, which the removal never enters (its keep set).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

static int finish_error(struct b10t_ctx *ctx, const struct b10t_rm *rm, const char *dir,
			const char *left)
{
	if (left)
		return b10t_set_error(ctx, rm->err, "removing %s: %s: %s (the rest is left in %s)",
				      dir, rm->what, strerror(rm->err), left);
	return b10t_sys_error(ctx, rm->err, "removing %s: %s", dir, rm->what);
}

/*
 * Whether the dir `target` is fd's dir or one above it, walking up through
 * "..": the real ancestry, whatever symlinks the paths took.  1 yes, 0 no.
 */
static int is_at_or_above(int fd, const struct stat *target)
{
	struct stat st, prev;
	int cur = dup(fd), r = 0;

	if (cur < 0 || fstat(cur, &st) < 0) {
		if (cur >= 0)
			close(cur);
		return 0;
	}
	/* PATH_MAX / 2 levels at most: a path of "a/" components. */
	for (int i = 0; i < PATH_MAX / 2; i++) {
		int up;

		if (st.st_dev == target->st_dev && st.st_ino == target->st_ino) {
			r = 1;
			break;
		}
		prev = st;
		/* O_PATH: a parent we may search but not read still counts. */
		up = openat(cur, "..", O_PATH | O_DIRECTORY | O_CLOEXEC);
		close(cur);
		cur = up;
		if (cur < 0 || fstat(cur, &st) < 0)
			break;
		if (st.st_dev == prev.st_dev && st.st_ino == prev.st_ino)
			break;	/* the root: its ".." is itself */
	}
	if (cur >= 0)
		close(cur);
	return r;
}

/*
 * Whether a symlink on the store's path lies in the cache dir (cst): the
 * store's data is elsewhere, but removing the link would leave the path
 * dangling, and renaming the cache dir aside would move the link.
 */
static bool link_below(const char *store, const struct stat *cst)
{
	char buf[PATH_MAX];
	size_t n = strlen(store);
	struct stat st;

	if (n >= sizeof(buf))
		return false;
	memcpy(buf, store, n + 1);
	for (size_t i = n; i > 0; i--) {
		int dfd, in;

		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (lstat(buf, &st) < 0 || !S_ISLNK(st.st_mode))
			continue;
		/* The dir holding the link: inside the cache dir? */
		*strrchr(buf, '/') = '\0';
		dfd = open(buf[0] ? buf : "/", O_PATH | O_DIRECTORY | O_CLOEXEC);
		in = dfd >= 0 && is_at_or_above(dfd, cst);
		if (dfd >= 0)
			close(dfd);
		if (in)
			return true;
		memcpy(buf, store, n + 1);
	}
	return false;
}

/*
 * Where the store is relative to the cache dir (open as cfd, stat cst):
 * -errno with the message set when clear must refuse, 1 when the store lies
 * below the cache dir, 0 when apart (or no store).
 */
static int store_place(struct b10t_ctx *ctx, const struct b10t_config *cfg, int cfd,
		       const struct stat *cst)
{
	struct stat sst;
	int sfd, below;

	if (!cfg->store_dir[0])
		return 0;
	sfd = open(cfg->store_dir, O_PATH | O_DIRECTORY | O_CLOEXEC);
	if (sfd < 0)
		return 0;	/* no store: nothing to protect */
	if (fstat(sfd, &sst) < 0) {
		close(sfd);
		return 0;
	}
	if (sst.st_dev == cst->st_dev && sst.st_ino == cst->st_ino) {
		close(sfd);
		return b10t_set_error(ctx, EPERM,
			"refusing to clear %s: it is the store (B10FS_CACHE_DIR %s); nothing removed",
			cfg->cache_dir, cfg->store_dir);
	}
	if (is_at_or_above(cfd, &sst)) {
		close(sfd);
		return b10t_set_error(ctx, EPERM,
			"refusing to clear %s: it lies inside the store (B10FS_CACHE_DIR %s); nothing removed",
			cfg->cache_dir, cfg->store_dir);
	}
	below = is_at_or_above(sfd, cst) || link_below(cfg->store_dir, cst);
	close(sfd);
	return below;
}

/* Delete what the cache dir (fd, closed here) holds, but the store. */
static int empty_in_place(struct b10t_ctx *ctx, const struct b10t_config *cfg, int fd,
			  struct b10t_rm *rm, struct b10t_result *res)
{
	b10t_rm_contents(fd, rm);
	res->files = rm->files;
	res->dirs = rm->dirs;
	res->bytes = rm->bytes;
	if (rm->err)
		return finish_error(ctx, rm, cfg->cache_dir, NULL);
	res->status = B10T_SUCCESS;
	if (rm->kept_inside)
		snprintf(res->reason, sizeof(res->reason),
			 "emptied in place, keeping the store %.200s inside it", cfg->store_dir);
	else
		snprintf(res->reason, sizeof(res->reason),
			 "emptied in place (cannot remove the dir itself)");
	return 0;
}

int b10t_clear(struct b10t_ctx *ctx, const struct b10t_config *cfg,
	       struct b10t_result *res)
{
	const char *dir = cfg->cache_dir, *base;
	char parent[PATH_MAX], aside[NAME_MAX + 1], aside_path[PATH_MAX + NAME_MAX + 2];
	struct b10t_rm rm;
	struct stat st;
	int pfd, fd, r;

	memset(res, 0, sizeof(*res));
	res->status = B10T_ERROR;
	if ((r = b10t_check_cache_dir(ctx, dir)) < 0)
		return r;
	if ((r = b10t_path_split(dir, parent, sizeof(parent), &base)) < 0)
		return b10t_set_error(ctx, -r, "removing %s: not a usable path", dir);

	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			goto absent;
		return b10t_sys_error(ctx, errno, "removing %s: opening %s", dir, parent);
	}
	if (fstatat(pfd, base, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		r = errno;
		close(pfd);
		if (r == ENOENT)
			goto absent;
		return b10t_sys_error(ctx, r, "removing %s", dir);
	}
	if (S_ISLNK(st.st_mode)) {
		/* The link is the cache dir's name; its target is not ours to delete. */
		if (unlinkat(pfd, base, 0) < 0 && errno != ENOENT) {
			r = errno;
			close(pfd);
			return b10t_sys_error(ctx, r, "removing the symlink %s", dir);
		}
		close(pfd);
		res->files = 1;
		res->status = B10T_SUCCESS;
		snprintf(res->reason, sizeof(res->reason), "removed the symlink only");
		return 0;
	}
	if (!S_ISDIR(st.st_mode)) {
		close(pfd);
		return b10t_set_error(ctx, ENOTDIR, "removing %s: not a directory; left as it is",
				      dir);
	}

	/* Where the store is, before anything is touched. */
	b10t_rm_init(&rm, cfg);
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (fd < 0 || fstat(fd, &st) < 0) {
		r = errno;
		if (fd >= 0)
			close(fd);
		close(pfd);
		if (r == ENOENT)
			goto absent;
		return b10t_sys_error(ctx, r, "removing %s", dir);
	}
	r = store_place(ctx, cfg, fd, &st);
	if (r < 0) {
		close(fd);
		close(pfd);
		return r;
	}
	if (r == 1) {
		/* Renaming it aside would move the store: empty it around the store. */
		close(pfd);
		return empty_in_place(ctx, cfg, fd, &rm, res);
	}
	close(fd);

	b10t_local_name(aside, sizeof(aside), B10T_NAME_CLEAR, base);	/* lib/names.c */
	snprintf(aside_path, sizeof(aside_path), "%s%s%s", parent,
		 strcmp(parent, "/") ? "/" : "", aside);

	if (renameat(pfd, base, pfd, aside) == 0) {
		b10t_debug(ctx, "moved %s aside to %s", dir, aside_path);
		fd = openat(pfd, aside, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0) {
			/* Swapped for something else between the stat and the rename. */
			b10t_rm_fail(&rm, errno, aside);
		} else {
			b10t_rm_contents(fd, &rm);
			if (!rm.err && rm.kept_inside) {
				/*
				 * The store by another path (a bind mount) was
				 * inside: it stayed, so the dir goes back to its
				 * name rather than hold the store under a name
				 * gc would take for debris.
				 */
				if (renameat(pfd, aside, pfd, base) < 0) {
					int e = errno;

					close(pfd);
					return b10t_sys_error(ctx, e, "removing %s: it holds the store, "
							      "and moving it back from %s failed",
							      dir, aside_path);
				}
				close(pfd);
				res->files = rm.files;
				res->dirs = rm.dirs;
				res->bytes = rm.bytes;
				res->status = B10T_SUCCESS;
				snprintf(res->reason, sizeof(res->reason),
					 "emptied, keeping the store %.200s inside it", cfg->store_dir);
				return 0;
			}
			if (!rm.err && unlinkat(pfd, aside, AT_REMOVEDIR) < 0)
				b10t_rm_fail(&rm, errno, aside);
		}
		close(pfd);
		res->files = rm.files;
		res->dirs = rm.dirs;
		res->bytes = rm.bytes;
		if (rm.err)
			return finish_error(ctx, &rm, dir, aside_path);
		res->status = B10T_SUCCESS;
		return 0;
	}
	r = errno;
	if (r == ENOENT) {	/* a concurrent clear won */
		close(pfd);
		goto absent;
	}
	if (r != EBUSY && r != EACCES && r != EPERM && r != EXDEV && r != EROFS) {
		close(pfd);
		return b10t_sys_error(ctx, r, "removing %s: renaming it aside", dir);
	}

	/* Cannot move it (a mount point, a read-only parent): empty it in place. */
	b10t_debug(ctx, "cannot rename %s (%s): emptying it in place", dir, strerror(r));
	fd = openat(pfd, base, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	close(pfd);
	if (fd < 0)
		return b10t_sys_error(ctx, errno, "removing %s", dir);
	return empty_in_place(ctx, cfg, fd, &rm, res);

absent:
	res->status = B10T_SUCCESS;
	snprintf(res->reason, sizeof(res->reason), "already absent");
	return 0;
}
