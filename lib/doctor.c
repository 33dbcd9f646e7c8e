/* SPDX-License-Identifier: MIT */
/*
 * doctor: what the store's filesystem can do, probed for real.
 *
 * Save needs one operation that publishes a flushed file under a name
 * without ever replacing that name: renameat2(RENAME_NOREPLACE), or link().
 * Network filesystems differ (NFS, GlusterFS, Lustre answer EINVAL to the
 * flag; rclone, gcsfuse and s3fs have no hard links either, and rclone
 * answers link() with EIO), and the errno a filesystem picks says little.
 * So the answer comes from trying: in a private probe dir of the store,
 * B10T_NAME_DOCTOR (lib/names.c), which is removed afterwards.  A probe
 * killed midway leaves it: gc removes it once it is as old as a dead
 * upload (b10t_probe_dir_remove: the probe's own files, then the dir).
 * list leaves hidden names alone.
 *
 * Used by `b10t doctor`, and by save after both publish operations failed,
 * to tell "this filesystem cannot publish" from an I/O error.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

const char *b10t_publish_path_name(enum b10t_publish_path p)
{
	switch (p) {
	case B10T_PUBLISH_RENAMEAT2:
		return "renameat2";
	case B10T_PUBLISH_LINK:
		return "link";
	default:
		return "none";
	}
}

static void cap_set(struct b10t_cap *c, bool ok, int err, const char *fmt, ...)
	__attribute__((format(printf, 4, 5)));
static void cap_set(struct b10t_cap *c, bool ok, int err, const char *fmt, ...)
{
	va_list ap;

	c->tried = true;
	c->ok = ok;
	c->err = err;
	c->why[0] = '\0';
	if (fmt) {
		va_start(ap, fmt);
		vsnprintf(c->why, sizeof(c->why), fmt, ap);
		va_end(ap);
	}
}

/* The probe's files, removed at the end whatever happened. */
static const char *const probe_names[] = { "a", "b", "c", "l", "e" };

int b10t_probe_dir_remove(int dirfd, const char *name)
{
	int dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);

	if (dfd < 0)
		return -errno;
	for (size_t i = 0; i < sizeof(probe_names) / sizeof(probe_names[0]); i++)
		unlinkat(dfd, probe_names[i], 0);
	close(dfd);
	return unlinkat(dirfd, name, AT_REMOVEDIR) < 0 ? -errno : 0;
}

static int make_file(int dfd, const char *name, struct stat *st)
{
	int fd = openat(dfd, name, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd < 0)
		return -errno;
	if (write(fd, "b10t doctor\n", 12) != 12 || (st && fstat(fd, st) < 0)) {
		int e = errno ? errno : EIO;

		close(fd);
		return -e;
	}
	if (close(fd) < 0)
		return -errno;
	return 0;
}

/* Both probes go through save's own publish (b10t_publish_noreplace), one
 * operation at a time. */
static void probe_rename(int dfd, struct b10t_publish_probe *p)
{
	struct b10t_cap *c = &p->rename_noreplace;
	struct stat a;
	int errs[2], r;
	bool renamed;

	/* a -> c (a fresh name), then c -> b (an existing one: must refuse). */
	if (make_file(dfd, "b", NULL) < 0 || fstatat(dfd, "a", &a, AT_SYMLINK_NOFOLLOW) < 0) {
		cap_set(c, false, errno, "cannot set up the probe: %s", strerror(errno));
		return;
	}
	r = b10t_publish_noreplace(dfd, "a", "c", &a, B10T_PUB_RENAME, &renamed, errs);
	if (r != 0 || !renamed) {
		cap_set(c, false, errs[0], "renameat2(RENAME_NOREPLACE): %s",
			strerror(errs[0] ? errs[0] : EEXIST));
		if (!renamed)
			unlinkat(dfd, "c", 0);
		return;
	}
	r = b10t_publish_noreplace(dfd, "c", "b", &a, B10T_PUB_RENAME, &renamed, errs);
	if (r == 0) {
		cap_set(c, false, 0, "renameat2(RENAME_NOREPLACE) replaced an existing name (the flag is ignored)");
		renameat(dfd, "b", dfd, "a");
		make_file(dfd, "b", NULL);
		return;
	}
	if (r < 0) {
		cap_set(c, false, errs[0], "renameat2(RENAME_NOREPLACE) onto an existing name: %s",
			strerror(errs[0]));
		renameat(dfd, "c", dfd, "a");
		return;
	}
	renameat(dfd, "c", dfd, "a");	/* back, for the link probe */
	cap_set(c, true, 0, NULL);
}

static void probe_link(int dfd, struct b10t_publish_probe *p)
{
	struct stat a, st;
	int errs[2], r;
	bool renamed;

	if (fstatat(dfd, "a", &a, 0) < 0) {
		cap_set(&p->link, false, errno, "the probe file is gone: %s", strerror(errno));
		return;
	}
	if (b10t_publish_noreplace(dfd, "a", "l", &a, B10T_PUB_LINK, &renamed, errs) != 0) {
		cap_set(&p->link, false, errs[1], "link(): %s", strerror(errs[1] ? errs[1] : EEXIST));
		return;
	}
	/*
	 * st_nlink 2 and one inode for both names tell a retried link() that
	 * answered EEXIST it was ours.  Not needed to publish: sshfs links
	 * (the sftp hardlink extension) but numbers inodes per name and
	 * reports st_nlink 1; there save just cannot recognize a lost reply.
	 */
	if (fstatat(dfd, "a", &st, 0) == 0) {
		p->link_nlink = (unsigned long)st.st_nlink;
		if (!b10t_same_inode_at(dfd, "l", &a))
			cap_set(&p->nlink, false, 0, "st_nlink is %lu after link(), and the new name shows another inode number",
				(unsigned long)st.st_nlink);
		else if (st.st_nlink == 2)
			cap_set(&p->nlink, true, 0, NULL);
		else
			cap_set(&p->nlink, false, 0, "st_nlink is %lu after link(), not 2",
				(unsigned long)st.st_nlink);
	} else {
		cap_set(&p->nlink, false, errno, "stat after link(): %s", strerror(errno));
	}
	make_file(dfd, "b", NULL);	/* made by probe_rename, unless it failed */
	r = b10t_publish_noreplace(dfd, "a", "b", &a, B10T_PUB_LINK, &renamed, errs);
	if (r == 0) {
		cap_set(&p->link, false, 0, "link() replaced an existing name");
		return;
	}
	if (r < 0) {
		cap_set(&p->link, false, errs[1], "link() onto an existing name: %s",
			strerror(errs[1]));
		return;
	}
	cap_set(&p->link, true, 0, NULL);
}

static void probe_excl_fsync(int dfd, struct b10t_publish_probe *p)
{
	int fd = openat(dfd, "a", O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);

	if (fd >= 0) {
		close(fd);
		cap_set(&p->excl, false, 0, "O_CREAT|O_EXCL opened an existing file");
	} else if (errno == EEXIST) {
		cap_set(&p->excl, true, 0, NULL);
	} else {
		cap_set(&p->excl, false, errno, "O_CREAT|O_EXCL on an existing file: %s",
			strerror(errno));
	}

	fd = openat(dfd, "a", O_WRONLY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		cap_set(&p->fsync, false, errno, "fsync of a file: %s", strerror(errno));
	else if (fsync(dfd) < 0 && errno != EINVAL)	/* save tolerates EINVAL too */
		cap_set(&p->fsync, false, errno, "fsync of the dir: %s", strerror(errno));
	else
		cap_set(&p->fsync, true, 0, NULL);
	if (fd >= 0)
		close(fd);
}

/* Is an atime update as load makes it (futimens UTIME_NOW) kept? */
static void probe_atime(int dfd, struct b10t_publish_probe *p)
{
	time_t now = time(NULL), old = now - 2 * 86400;
	struct timespec ts[2] = { { old, 0 }, { old, 0 } };
	struct stat st;
	int fd;

	if (make_file(dfd, "e", NULL) < 0 || (fd = openat(dfd, "e", O_RDONLY | O_CLOEXEC)) < 0) {
		cap_set(&p->atime, false, errno, "cannot set up the probe: %s", strerror(errno));
		return;
	}
	if (futimens(fd, ts) < 0) {
		cap_set(&p->atime, false, errno, "setting the times: %s", strerror(errno));
		close(fd);
		return;
	}
	if (futimens(fd, (const struct timespec[2]){ { 0, UTIME_NOW }, { 0, UTIME_OMIT } }) < 0) {
		cap_set(&p->atime, false, errno, "updating the atime: %s", strerror(errno));
		close(fd);
		return;
	}
	close(fd);
	/* A fresh lookup, as another process would see it. */
	if (fstatat(dfd, "e", &st, 0) < 0) {
		cap_set(&p->atime, false, errno, "stat: %s", strerror(errno));
		return;
	}
	p->atime_moves_mtime = st.st_mtime != old;
	if (st.st_atime >= now - 3600)
		cap_set(&p->atime, true, 0, NULL);
	else
		cap_set(&p->atime, false, 0, "the atime update was not kept (atime is %lld s old)",
			(long long)(now - st.st_atime));
}

void b10t_probe_publish(int dirfd, const char *store, struct b10t_publish_probe *p)
{
	char name[NAME_MAX + 1], tag[NAME_MAX + 1];
	struct b10t_name pn = { .kind = B10T_NAME_DOCTOR, .tag = tag };
	int dfd, r;

	memset(p, 0, sizeof(*p));
	if (b10t_writer_tag(tag, sizeof(tag), B10T_TAG_HOST, '.') < 0 ||
	    b10t_name_build(name, sizeof(name), &pn) < 0) {
		snprintf(p->setup_error, sizeof(p->setup_error), "naming the probe dir: %s",
			 strerror(ENAMETOOLONG));
		return;
	}
	if (mkdirat(dirfd, name, 0700) < 0) {
		snprintf(p->setup_error, sizeof(p->setup_error), "making the probe dir %s/%s: %s",
			 store, name, strerror(errno));
		return;
	}
	dfd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd < 0) {
		snprintf(p->setup_error, sizeof(p->setup_error), "opening the probe dir %s/%s: %s",
			 store, name, strerror(errno));
		unlinkat(dirfd, name, AT_REMOVEDIR);
		return;
	}
	r = make_file(dfd, "a", NULL);
	if (r < 0) {
		snprintf(p->setup_error, sizeof(p->setup_error), "writing a file in %s/%s: %s",
			 store, name, strerror(-r));
	} else {
		p->ran = true;
		probe_excl_fsync(dfd, p);
		probe_rename(dfd, p);
		probe_link(dfd, p);
		probe_atime(dfd, p);
	}
	close(dfd);
	if ((r = b10t_probe_dir_remove(dirfd, name)) < 0 && p->ran)
		snprintf(p->setup_error, sizeof(p->setup_error), "removing the probe dir %s/%s: %s",
			 store, name, strerror(-r));

	if (p->rename_noreplace.ok)
		p->path = B10T_PUBLISH_RENAMEAT2;
	else if (p->link.ok)
		p->path = B10T_PUBLISH_LINK;
	else
		p->path = B10T_PUBLISH_NONE;
}

/* statfs magic numbers (linux/magic.h and the filesystems' own headers). */
static const struct { uint64_t magic; const char *name; } fs_magics[] = {
	{ 0xEF53, "ext4" },		/* ext2/3/4 share it */
	{ 0x58465342, "xfs" },
	{ 0x9123683E, "btrfs" },
	{ 0x01021994, "tmpfs" },
	{ 0x858458f6, "ramfs" },
	{ 0x794c7630, "overlay" },
	{ 0x6969, "nfs" },
	{ 0x65735546, "fuse" },
	{ 0x2fc12fc1, "zfs" },
	{ 0xFF534D42, "cifs" },
	{ 0xFE534D42, "smb2" },
	{ 0x00c36400, "ceph" },
	{ 0x0BD00BD0, "lustre" },
	{ 0x01021997, "9p" },
	{ 0x73717368, "squashfs" },
	{ 0x5346414F, "afs" },
	{ 0x47504653, "gpfs" },
	{ 0x9fa0, "proc" },
	{ 0x62656572, "sysfs" },
	{ 0x4d44, "vfat" },
	{ 0x5346544e, "ntfs" },
	{ 0xF2F52010, "f2fs" },
};

/* mountinfo escapes ' ', '\t', '\n' and '\\' as \ooo. */
static void unescape(char *s)
{
	char *o = s;

	for (; *s; s++) {
		if (s[0] == '\\' && s[1] >= '0' && s[1] <= '7' && s[2] >= '0' && s[2] <= '7' &&
		    s[3] >= '0' && s[3] <= '7') {
			*o++ = (char)((s[1] - '0') * 64 + (s[2] - '0') * 8 + (s[3] - '0'));
			s += 3;
		} else {
			*o++ = *s;
		}
	}
	*o = '\0';
}

/* The mount holding `real` (a resolved path on device dev): the longest
 * mount point that is a prefix of it, on that device. */
static void find_mount(const char *real, dev_t dev, struct b10t_fs_info *fs)
{
	FILE *f = fopen("/proc/self/mountinfo", "re");
	char *line = NULL;
	size_t cap = 0, best = 0;

	if (!f)
		return;
	while (getline(&line, &cap, f) > 0) {
		char mp[4096], type[64], src[256], *sep;
		unsigned maj, min;
		size_t n;

		if (sscanf(line, "%*u %*u %u:%u %*s %4095s", &maj, &min, mp) != 3)
			continue;
		sep = strstr(line, " - ");
		if (!sep || sscanf(sep, " - %63s %255s", type, src) != 2)
			continue;
		unescape(mp);
		n = strlen(mp);
		if (makedev(maj, min) != dev)
			continue;
		if (strcmp(mp, "/") && (strncmp(real, mp, n) || (real[n] && real[n] != '/')))
			continue;
		if (n < best)
			continue;
		best = n;
		snprintf(fs->mount, sizeof(fs->mount), "%s", mp);
		snprintf(fs->fstype, sizeof(fs->fstype), "%s", type);
		unescape(src);
		snprintf(fs->source, sizeof(fs->source), "%s", src);
	}
	free(line);
	fclose(f);
}

void b10t_fs_info(const char *path, struct b10t_fs_info *fs)
{
	char real[PATH_MAX], parent[PATH_MAX + 4];
	struct statvfs vfs;
	struct statfs sfs;
	struct stat st, pst;

	memset(fs, 0, sizeof(*fs));
	if (stat(path, &st) < 0 || statfs(path, &sfs) < 0) {
		fs->err = errno;
		snprintf(fs->error, sizeof(fs->error), "%s: %s", path, strerror(errno));
		return;
	}
	fs->exists = true;
	fs->f_type = (uint64_t)(unsigned long)sfs.f_type;
	snprintf(fs->statfs_type, sizeof(fs->statfs_type), "0x%llx", (unsigned long long)fs->f_type);
	for (size_t i = 0; i < sizeof(fs_magics) / sizeof(fs_magics[0]); i++)
		if (fs_magics[i].magic == fs->f_type)
			snprintf(fs->statfs_type, sizeof(fs->statfs_type), "%s", fs_magics[i].name);
	if (statvfs(path, &vfs) == 0) {
		fs->has_space = true;
		fs->bytes_free = (uint64_t)vfs.f_bavail * vfs.f_frsize;
		fs->bytes_total = (uint64_t)vfs.f_blocks * vfs.f_frsize;
		fs->inodes_free = (uint64_t)vfs.f_favail;
		fs->inodes_total = (uint64_t)vfs.f_files;
	}
	if (!realpath(path, real))
		snprintf(real, sizeof(real), "%s", path);
	snprintf(parent, sizeof(parent), "%s/..", real);
	/* A mount root: another device than its parent, or a bind mount of
	 * the same one (then mountinfo names it). */
	fs->mount_point = !strcmp(real, "/") ||
			  (stat(parent, &pst) == 0 && pst.st_dev != st.st_dev);
	find_mount(real, st.st_dev, fs);
	if (fs->mount[0] && !strcmp(fs->mount, real))
		fs->mount_point = true;
}

void b10t_doctor(const struct b10t_config *cfg, struct b10t_doctor *d)
{
	int dirfd;

	memset(d, 0, sizeof(*d));
	d->store_enabled = cfg->fs_enabled != 0;
	b10t_fs_info(cfg->store_dir, &d->store);
	b10t_fs_info(cfg->cache_dir, &d->cache);
	if (!d->store.exists) {
		snprintf(d->verdict, sizeof(d->verdict), "the store %s cannot be used: %s",
			 cfg->store_dir, strerror(d->store.err));
		return;
	}
	dirfd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0) {
		snprintf(d->verdict, sizeof(d->verdict), "opening the store %s: %s",
			 cfg->store_dir, strerror(errno));
		return;
	}
	b10t_probe_publish(dirfd, cfg->store_dir, &d->probe);
	close(dirfd);
	d->store_writable = d->probe.ran;
	if (!d->probe.ran) {
		snprintf(d->verdict, sizeof(d->verdict), "the store is not writable: %s",
			 d->probe.setup_error);
	} else if (d->probe.path == B10T_PUBLISH_NONE) {
		snprintf(d->verdict, sizeof(d->verdict),
			 "this filesystem cannot publish safely: %s; %s",
			 d->probe.rename_noreplace.why, d->probe.link.why);
	} else if (!d->probe.excl.ok) {
		snprintf(d->verdict, sizeof(d->verdict),
			 "this filesystem cannot name uploads safely: %s", d->probe.excl.why);
	} else if (d->probe.rename_noreplace.tried && !d->probe.rename_noreplace.ok &&
		   d->probe.rename_noreplace.err == 0) {
		/* save tries renameat2 first: a flag that is ignored replaces. */
		snprintf(d->verdict, sizeof(d->verdict),
			 "this filesystem cannot publish safely: %s", d->probe.rename_noreplace.why);
	} else if (!d->store_enabled) {
		snprintf(d->verdict, sizeof(d->verdict),
			 "the store can be published to (with %s), but BASETEN_FS_ENABLED is off",
			 b10t_publish_path_name(d->probe.path));
	} else {
		d->can_publish = true;
		snprintf(d->verdict, sizeof(d->verdict), "save publishes with %s",
			 b10t_publish_path_name(d->probe.path));
	}
}
