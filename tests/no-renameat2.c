/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for the tests: renameat2() fails with EINVAL, as on a
 * filesystem without RENAME_NOREPLACE (NFS, many FUSE), so save takes its
 * link() + unlink() path.
 */
#include <errno.h>
#include <stdio.h>

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned int flags);

int renameat2(int olddirfd, const char *oldpath, int newdirfd, const char *newpath,
	      unsigned int flags)
{
	(void)olddirfd, (void)oldpath, (void)newdirfd, (void)newpath, (void)flags;
	errno = EINVAL;
	return -1;
}
