/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for the tests: the publish operations of filesystems
 * save must cope with.  NO_LINK_MODE says which:
 *
 *   (unset), eio  neither RENAME_NOREPLACE nor hard links, as an rclone
 *                 mount: renameat2() fails with EINVAL, link()/linkat()
 *                 with EIO (rclone's answer).  With NO_LINK_PREFIX set,
 *                 link() fails only for new names starting with it (say
 *                 "cache_"), so doctor's probe still links: a real I/O
 *                 error at publish time on a filesystem that can publish.
 *   lost          NFS with a lost reply: renameat2() fails with EINVAL;
 *                 link() makes the name, then answers EEXIST, as the
 *                 client's retry of a link whose first reply was lost.
 *   lost-rename   renameat2() renames, then answers EIO (its reply lost).
 *   sshfs         renameat2() fails with EINVAL; link() fails with EPERM
 *                 where the new name exists (SFTP's hardlink gives a bare
 *                 failure, which sshfs answers as EPERM), else links.
 *                 With NO_LINK_RACE set (say "cache_"), the first link()
 *                 onto a name starting with it finds that name published
 *                 just before by another writer: the shim writes it
 *                 first, a one-line claim naming NO_LINK_RACE_ARCHIVE.
 *   eperm         link() fails with EPERM for new names starting with
 *                 NO_LINK_PREFIX, none there: an error, not a lost race.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned int flags);
int link(const char *oldpath, const char *newpath);
int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags);

static const char *mode(void)
{
	const char *m = getenv("NO_LINK_MODE");

	return m && *m ? m : "eio";
}

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned int flags)
{
	if (!strcmp(mode(), "lost-rename")) {
		if (syscall(SYS_renameat2, olddirfd, oldpath, newdirfd, newpath, flags) < 0)
			return -1;
		errno = EIO;
		return -1;
	}
	errno = EINVAL;
	return -1;
}

static int fails(const char *newpath)
{
	const char *prefix = getenv("NO_LINK_PREFIX"), *base = strrchr(newpath, '/');

	base = base ? base + 1 : newpath;
	return !prefix || !*prefix || !strncmp(base, prefix, strlen(prefix));
}

/* sshfs: another writer publishes the name first, once per process. */
static void race(int dirfd, const char *newpath)
{
	const char *prefix = getenv("NO_LINK_RACE"), *base = strrchr(newpath, '/');
	const char *archive = getenv("NO_LINK_RACE_ARCHIVE");
	static int raced;
	char line[4096];
	int fd, n;

	base = base ? base + 1 : newpath;
	if (raced || !prefix || !*prefix || strncmp(base, prefix, strlen(prefix)))
		return;
	raced = 1;
	fd = (int)syscall(SYS_openat, dirfd, newpath, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return;
	n = snprintf(line, sizeof(line), "%s\n", archive && *archive ? archive : "racer");
	if (write(fd, line, (size_t)n) != n)
		_exit(99);
	close(fd);
}

int link(const char *oldpath, const char *newpath)
{
	return linkat(-100 /* AT_FDCWD */, oldpath, -100, newpath, 0);
}

int linkat(int olddirfd, const char *oldpath, int newdirfd, const char *newpath, int flags)
{
	if (!strcmp(mode(), "lost")) {
		if (syscall(SYS_linkat, olddirfd, oldpath, newdirfd, newpath, flags) < 0)
			return -1;
		errno = EEXIST;
		return -1;
	}
	if (!strcmp(mode(), "eio") && fails(newpath)) {
		errno = EIO;
		return -1;
	}
	if (!strcmp(mode(), "eperm") && fails(newpath)) {
		errno = EPERM;
		return -1;
	}
	if (!strcmp(mode(), "sshfs")) {
		struct stat st;

		race(newdirfd, newpath);
		if (fstatat(newdirfd, newpath, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			errno = EPERM;
			return -1;
		}
	}
	return (int)syscall(SYS_linkat, olddirfd, oldpath, newdirfd, newpath, flags);
}
