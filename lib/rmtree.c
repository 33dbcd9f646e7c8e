/* SPDX-License-Identifier: MIT */
/*
 * Removing trees safely: through directory fds with unlinkat, never
 * following a symlink, never going above the starting dir, never entering
 * another mount, so nothing outside the tree is touched whatever it holds.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#define MAX_DEPTH 512

#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

static void rm_fail(struct b10t_rm *rm, int err, const char *name)
{
	if (rm->err)
		return;
	rm->err = err;
	snprintf(rm->what, sizeof(rm->what), "%s", name);
}

/*
 * Whether dirfd/name (st: its stat, which already sees through a mount) is
 * the root of another mount: another device, or (a bind mount of the same
 * filesystem) statx's mount-root attribute where the kernel has it (5.8+).
 */
static bool is_mount_root(int dirfd, const char *name, dev_t parent_dev,
			  const struct stat *st)
{
	struct statx sx;

	if (st->st_dev != parent_dev)
		return true;
	if (statx(dirfd, name, AT_SYMLINK_NOFOLLOW | AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) < 0)
		return false;
	return (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	       (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT);
}

static void rm_contents(int dirfd, struct b10t_rm *rm, int depth)
{
	struct dirent *de;
	struct stat self;
	DIR *d;

	if (depth > MAX_DEPTH) {
		close(dirfd);
		rm_fail(rm, ELOOP, "(too deep)");
		return;
	}
	if (fstat(dirfd, &self) < 0 || !(d = fdopendir(dirfd))) {
		rm_fail(rm, errno, ".");
		close(dirfd);
		return;
	}
	/* A read-only dir (an extracted 0555 one) would refuse the unlinks. */
	if ((self.st_mode & 0700) != 0700)
		fchmod(dirfd, self.st_mode | 0700);
	while ((de = readdir(d))) {
		const char *name = de->d_name;
		struct stat st;

		if (!strcmp(name, ".") || !strcmp(name, ".."))
			continue;
		if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno != ENOENT)
				rm_fail(rm, errno, name);
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW |
					O_CLOEXEC);
			if (fd < 0) {
				rm_fail(rm, errno, name);
				continue;
			}
			/* Another mount inside: leave it and its contents alone. */
			if (is_mount_root(dirfd, name, self.st_dev, &st)) {
				close(fd);
				rm_fail(rm, EBUSY, name);
				continue;
			}
			rm_contents(fd, rm, depth + 1);
			if (unlinkat(dirfd, name, AT_REMOVEDIR) < 0) {
				if (errno != ENOENT)
					rm_fail(rm, errno, name);
				continue;
			}
		} else {
			if (unlinkat(dirfd, name, 0) < 0) {
				if (errno != ENOENT)
					rm_fail(rm, errno, name);
				continue;
			}
			if (S_ISREG(st.st_mode))
				rm->bytes += (uint64_t)st.st_size;
		}
		rm->files++;
	}
	closedir(d);
}

void b10t_rm_contents(int dirfd, struct b10t_rm *rm)
{
	rm_contents(dirfd, rm, 0);
}

int b10t_rm_tree_at(int parent_fd, const char *name, struct b10t_rm *rm)
{
	struct stat st;
	int fd;

	if (fstatat(parent_fd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
		return errno == ENOENT ? 0 : -errno;
	if (S_ISDIR(st.st_mode)) {
		fd = openat(parent_fd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
		if (fd < 0)
			return errno == ENOENT ? 0 : -errno;
		rm_contents(fd, rm, 0);
		if (rm->err)
			return -rm->err;
		if (unlinkat(parent_fd, name, AT_REMOVEDIR) < 0 && errno != ENOENT)
			return -errno;
	} else if (unlinkat(parent_fd, name, 0) < 0 && errno != ENOENT) {
		return -errno;
	} else if (S_ISREG(st.st_mode)) {
		rm->bytes += (uint64_t)st.st_size;
	}
	rm->files++;
	return 0;
}

int b10t_rm_path(const char *path)
{
	struct b10t_rm rm = { 0 };
	const char *slash = strrchr(path, '/');
	char parent[PATH_MAX];
	int pfd, r;

	if (!slash || !slash[1] || slash - path >= (long)sizeof(parent))
		return -EINVAL;
	snprintf(parent, sizeof(parent), "%.*s", slash == path ? 1 : (int)(slash - path), path);
	pfd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (pfd < 0)
		return errno == ENOENT ? 0 : -errno;
	r = b10t_rm_tree_at(pfd, slash + 1, &rm);
	close(pfd);
	return r;
}
