/* SPDX-License-Identifier: MIT */
/*
 * Publish without replacing: the one operation every commit point of the
 * store goes through (save's claim, doctor's probe of the filesystem).
 *
 * renameat2(RENAME_NOREPLACE) first; on any failure but EEXIST, link(),
 * which never replaces either: which errno a filesystem without the flag
 * answers varies (EINVAL on NFS, CephFS, GlusterFS, Lustre; others on
 * FUSE), and link() is harmless to try.  On NFS a reply can be lost and the
 * call retried: the retry answers EEXIST (or another error) although the
 * first one made the name, so every failure first checks whether the final
 * name is our inode now; after link()'s EEXIST, st_nlink 2 on the temp
 * says the same.  Where both fail, doctor's probe (lib/doctor.c) tells a
 * filesystem that cannot publish from an I/O error: never a plain rename,
 * which replaces.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

int b10t_publish_noreplace(int dirfd, const char *tmp, const char *final,
			   const struct stat *tst, unsigned ops, bool *renamed, int errs[2])
{
	struct stat st;

	*renamed = false;
	errs[0] = errs[1] = 0;
	if (ops & B10T_PUB_RENAME) {
		if (renameat2(dirfd, tmp, dirfd, final, RENAME_NOREPLACE) == 0) {
			*renamed = true;
			return 0;
		}
		errs[0] = errno;
		if (b10t_same_inode_at(dirfd, final, tst)) {
			*renamed = true;	/* a retried rename: the first one made it */
			return 0;
		}
		if (errs[0] == EEXIST)
			return 1;
	}
	if (!(ops & B10T_PUB_LINK))
		return -1;
	if (linkat(dirfd, tmp, dirfd, final, 0) == 0)
		return 0;
	errs[1] = errno;
	if (errs[1] == EEXIST) {
		/* Our link made the name when tmp counts two links and final is
		 * tmp's inode; otherwise another writer published first. */
		if (fstatat(dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_nlink == 2 &&
		    b10t_same_inode_at(dirfd, final, tst))
			return 0;
		return 1;
	}
	if (b10t_same_inode_at(dirfd, final, tst))
		return 0;	/* the link was made, its reply lost */
	/* sshfs answers EPERM where the name exists (SFTP's hardlink gives a
	 * bare failure): a name there now, not our inode, is another
	 * writer's, and this publish lost the race (16 updaters on sshfs). */
	if (fstatat(dirfd, final, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return 1;
	return -1;
}

int b10t_publish_failed(struct b10t_ctx *ctx, int dirfd, const char *store,
			const char *final, const int errs[2])
{
	struct b10t_publish_probe *p = malloc(sizeof(*p));
	int r;

	if (!p)
		return b10t_set_error(ctx, errs[1] ? errs[1] : errs[0], "publishing %s/%s: %s",
				      store, final, strerror(errs[1] ? errs[1] : errs[0]));
	b10t_probe_publish(dirfd, store, p);
	if (p->ran && p->path == B10T_PUBLISH_NONE)
		r = b10t_set_error(ctx, EOPNOTSUPP,
			"publishing %s/%s: this filesystem cannot publish without replacing (no RENAME_NOREPLACE: %s; no link(): %s): save refuses rather than replace an archive others may read; use a store with hard links or RENAME_NOREPLACE (NFS, JuiceFS, GlusterFS, sshfs, local): see b10t doctor",
			store, final, strerror(errs[0]), strerror(errs[1]));
	else if (p->ran)
		r = b10t_set_error(ctx, errs[1], "publishing %s/%s: renameat2: %s; link(): %s (the store's filesystem can publish: an error of this publish, not a missing feature)",
				   store, final, strerror(errs[0]), strerror(errs[1]));
	else
		r = b10t_set_error(ctx, errs[1], "publishing %s/%s: renameat2: %s; link(): %s (and the store cannot be probed: %s)",
				   store, final, strerror(errs[0]), strerror(errs[1]), p->setup_error);
	free(p);
	return r;
}
