/* SPDX-License-Identifier: MIT */
/*
 * Local staging: the install marker of an in-place load, and the debris
 * rules for what a killed process leaves behind.
 *
 * Names (lib/names.c's table; docs/store-protocol.md, "Local staging"): a
 * load's staging next to the cache dir (B10T_NAME_STAGING) or inside it
 * (B10T_NAME_INSIDE: a mount point, an unwritable parent), a cache dir
 * that clear renamed aside (B10T_NAME_CLEAR), all ending in the writer's
 * tag "ns<pid namespace inode>-<first 8 hex digits of the boot id>.<pid>.<rnd>":
 * a pid means something only in its own pid namespace and boot.  Names of
 * older versions have no namespace part ("<pid>.<rnd>"); the install
 * marker B10T_INSTALL_MARKER is a symlink to the staging dir whose entries
 * are being moved into place.
 *
 * Debris rules: a tagged name of our namespace and boot is debris once its
 * pid is gone (kill(pid, 0) answers ESRCH), or after a day (pid reuse).  A
 * tagged name of another namespace or boot cannot be asked about its pid:
 * it is debris once its mtime is an hour old; a live load touches its
 * staging dir every few seconds, so only a dead one gets there.  Untagged
 * names keep the old rule (pid gone, or a day).
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

#define DEBRIS_MAX_AGE (24 * 3600)

static bool digits(const char **p, unsigned long long *v)
{
	char *end;

	if (!isdigit((unsigned char)**p))
		return false;
	errno = 0;
	*v = strtoull(*p, &end, 10);
	if (errno)
		return false;
	*p = end;
	return true;
}

/*
 * Whether `rest` (a local name's tag part, names.c's rest_off) with
 * stat `st` is debris now.  -1 when the name is not of our making.
 */
static int stale(const char *rest, const struct stat *st, time_t now)
{
	const char *p = rest, *tag = b10t_origin_tag();
	unsigned long long ns, pid;
	bool ours = true;

	if (!strncmp(p, "ns", 2)) {
		const char *t = p;

		p += 2;
		if (!digits(&p, &ns) || *p++ != '-')
			return -1;
		for (int i = 0; i < 8; i++, p++)
			if (!isxdigit((unsigned char)*p))
				return -1;
		if (*p != '.')
			return -1;
		ours = tag[0] && (size_t)(p - t) == strlen(tag) && !strncmp(t, tag, strlen(tag));
		p++;
	}
	if (!digits(&p, &pid) || *p != '.' || pid == 0)
		return -1;
	if (!ours)	/* another pid namespace or boot: its pid tells us nothing */
		return now - st->st_mtime >= B10T_FOREIGN_MAX_AGE;
	if (pid == (unsigned long long)getpid())
		return 0;
	if (kill((pid_t)pid, 0) < 0 && errno == ESRCH)
		return 1;
	return now - st->st_mtime >= DEBRIS_MAX_AGE;	/* the pid may have been reused */
}

/* The reason when `name` is debris of the cache dir named `base`, else NULL. */
static const char *debris_kind(const char *name, const char *base, const struct stat *st,
			       time_t now)
{
	struct b10t_name n = { .base = base };

	switch (b10t_name_parse(B10T_SIDE_LOCAL, name, &n)) {
	case B10T_NAME_STAGING:
		return stale(name + n.rest_off, st, now) == 1 ? "stale-staging" : NULL;
	case B10T_NAME_CLEAR:
		return stale(name + n.rest_off, st, now) == 1 ? "stale-clear" : NULL;
	default:
		return NULL;
	}
}

/* The staging dir the marker in dirfd names, into name[size]; false when none. */
static bool read_marker(int dirfd, char *name, size_t size)
{
	ssize_t n = readlinkat(dirfd, B10T_INSTALL_MARKER, name, size - 1);

	if (n <= 0)
		return false;
	name[n] = '\0';
	return b10t_name_parse(B10T_SIDE_LOCAL, name, NULL) == B10T_NAME_INSIDE &&
	       !strchr(name, '/');
}

/* Debris inside the cache dir: in-place staging of dead loads. */
static int inside_debris(struct b10t_ctx *ctx, const struct b10t_config *cfg, bool dry_run,
			 const char *base,
			 void (*found)(void *arg, const char *name, const char *reason,
				       uint64_t bytes),
			 void *arg)
{
	char keep[NAME_MAX + 1] = "", shown[2 * NAME_MAX + 2];
	time_t now = time(NULL);
	struct b10t_rm fresh;	/* the keep set, made once for all entries */
	struct dirent *de;
	int fd, count = 0, err;
	DIR *d;

	fd = open(cfg->cache_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	/* The staging of an interrupted install is the cache's other half:
	 * the next load finishes it, gc never takes it. */
	if (!read_marker(fd, keep, sizeof(keep)))
		keep[0] = '\0';
	b10t_rm_init(&fresh, cfg);	/* the store is never debris, whatever its name */
	while ((de = b10t_readdir(d, &err))) {
		struct b10t_rm rm = fresh;
		struct b10t_name n = { 0 };
		struct stat st;

		if (b10t_name_parse(B10T_SIDE_LOCAL, de->d_name, &n) != B10T_NAME_INSIDE ||
		    !strcmp(de->d_name, keep))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (stale(de->d_name + n.rest_off, &st, now) != 1)
			continue;
		snprintf(shown, sizeof(shown), "%s/%s", base, de->d_name);
		if (!dry_run && b10t_rm_tree_at(fd, de->d_name, &rm) < 0) {
			b10t_warn(ctx, "removing %s/%s: %s", cfg->cache_dir, de->d_name,
				  strerror(rm.err ? rm.err : errno));
			continue;
		}
		b10t_debug(ctx, "%s %s/%s (stale-staging)", dry_run ? "would remove" : "removed",
			   cfg->cache_dir, de->d_name);
		if (found)
			found(arg, shown, "stale-staging", rm.bytes);
		count++;
	}
	/* Housekeeping: a failed read ends the pass with a warning, not an error. */
	if (err)
		b10t_warn(ctx, "reading %s: %s", cfg->cache_dir, strerror(err));
	closedir(d);
	return count;
}

int b10t_local_debris(struct b10t_ctx *ctx, const struct b10t_config *cfg, bool dry_run,
		      void (*found)(void *arg, const char *name, const char *reason,
				    uint64_t bytes),
		      void *arg)
{
	char parent[PATH_MAX];
	const char *base;
	struct b10t_rm fresh;	/* the keep set, made once for all entries */
	struct dirent *de;
	time_t now = time(NULL);
	int fd, count = 0, err;
	DIR *d;

	if (b10t_path_split(cfg->cache_dir, parent, sizeof(parent), &base) < 0)
		return 0;

	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd >= 0 && (d = fdopendir(fd))) {
		/* The store and our parent are never debris, whatever their name. */
		b10t_rm_init(&fresh, cfg);
		while ((de = b10t_readdir(d, &err))) {
			const char *reason;
			struct b10t_rm rm = fresh;
			struct stat st;

			if (de->d_name[0] != '.' || strstr(de->d_name, ".b10t-") == NULL)
				continue;
			if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
			    !S_ISDIR(st.st_mode))
				continue;
			if (!(reason = debris_kind(de->d_name, base, &st, now)))
				continue;	/* not ours, or its process may still be working */
			if (!dry_run && b10t_rm_tree_at(fd, de->d_name, &rm) < 0) {
				b10t_warn(ctx, "removing %s/%s: %s", parent, de->d_name,
					  strerror(rm.err ? rm.err : errno));
				continue;
			}
			b10t_debug(ctx, "%s %s/%s (%s)", dry_run ? "would remove" : "removed",
				   parent, de->d_name, reason);
			if (found)
				found(arg, de->d_name, reason, rm.bytes);
			count++;
		}
		if (err)
			b10t_warn(ctx, "reading %s: %s", parent, strerror(err));
		closedir(d);
	} else if (fd >= 0) {
		close(fd);
	}
	return count + inside_debris(ctx, cfg, dry_run, base, found, arg);
}

/* ---- the in-place install ------------------------------------------- */

/* rename without replacing; the fallback has a tiny window, said below. */
static int move_noreplace(int sfd, const char *name, int tfd)
{
	struct stat st;

	if (renameat2(sfd, name, tfd, name, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS && errno != EOPNOTSUPP)
		return -errno;
	/* No RENAME_NOREPLACE here (NFS, some FUSE): check, then rename.  Only
	 * another writer of the same name in the same microsecond can lose. */
	if (fstatat(tfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0)
		return -EEXIST;
	if (errno != ENOENT)
		return -errno;
	return renameat(sfd, name, tfd, name) == 0 ? 0 : -errno;
}

int b10t_local_finish(struct b10t_ctx *ctx, const struct b10t_config *cfg, int tfd,
		      const char *dir, const char *sname, uint64_t *moved, uint64_t *kept)
{
	struct b10t_rm rm;
	char **names;
	size_t n;
	int sfd, r = 0;

	*moved = *kept = 0;
	sfd = openat(tfd, sname, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (sfd < 0)	/* gone, or not a dir of ours (a symlink): nothing to finish */
		return errno == ENOENT || errno == ELOOP || errno == ENOTDIR ? -ENOENT :
		       b10t_sys_error(ctx, errno, "installing into %s: opening %s", dir,
				      sname);
	r = b10t_dir_names(dup(sfd), &names, &n);
	if (r < 0) {
		close(sfd);
		return b10t_sys_error(ctx, -r, "installing into %s: reading %s", dir, sname);
	}
	for (size_t i = 0; i < n; i++) {
		int m = r ? 0 : move_noreplace(sfd, names[i], tfd);

		if (m == 0 && !r)
			(*moved)++;
		else if (m == -ENOENT)
			;	/* another load finishing the same install moved it */
		else if (m == -EEXIST || m == -ENOTEMPTY || m == -EISDIR || m == -ENOTDIR)
			(*kept)++;	/* someone else's is there: it stays */
		else if (m < 0)
			r = b10t_set_error(ctx, -m, "installing into %s: moving %s/%s: %s "
					   "(the next load finishes the install)", dir, sname,
					   names[i], strerror(-m));
		free(names[i]);
	}
	free(names);
	close(sfd);
	if (r < 0)
		return r;
	/* The marker first: a kill after it leaves only an empty staging dir,
	 * which is plain debris, never a cache that looks complete but is not. */
	if (unlinkat(tfd, B10T_INSTALL_MARKER, 0) < 0 && errno != ENOENT)
		return b10t_sys_error(ctx, errno, "installing into %s: removing %s", dir,
				      B10T_INSTALL_MARKER);
	b10t_rm_init(&rm, cfg);
	b10t_rm_tree_at(tfd, sname, &rm);
	return 0;
}

/* Remove what an install whose staging is gone left: all but others' staging. */
static int clean_install(struct b10t_ctx *ctx, const struct b10t_config *cfg, int tfd,
			 const char *dir)
{
	struct b10t_rm fresh;	/* the keep set, made once for all names */
	char **names;
	size_t n;
	int r = b10t_dir_names(dup(tfd), &names, &n);

	if (r < 0)
		return b10t_sys_error(ctx, -r, "reading %s", dir);
	b10t_rm_init(&fresh, cfg);	/* the store, should it sit in here, stays */
	for (size_t i = 0; i < n; i++) {
		struct b10t_rm rm = fresh;
		struct stat st;

		/* Other loads' staging dirs stay (the debris rules decide on
		 * them), and the marker goes last. */
		if (b10t_local_reserved(names[i]) &&
		    (!strcmp(names[i], B10T_INSTALL_MARKER) ||
		     (fstatat(tfd, names[i], &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISDIR(st.st_mode)))) {
			free(names[i]);
			continue;
		}
		if (!r && b10t_rm_tree_at(tfd, names[i], &rm) < 0)
			r = b10t_sys_error(ctx, rm.err ? rm.err : errno,
					   "cleaning the interrupted install in %s: %s", dir,
					   rm.err ? rm.what : names[i]);
		free(names[i]);
	}
	free(names);
	if (r < 0)
		return r;
	if (unlinkat(tfd, B10T_INSTALL_MARKER, 0) < 0 && errno != ENOENT)
		return b10t_sys_error(ctx, errno, "removing %s/%s", dir, B10T_INSTALL_MARKER);
	return 0;
}

int b10t_local_recover(struct b10t_ctx *ctx, const struct b10t_config *cfg, const char *dir,
		       char *note, size_t size)
{
	char sname[NAME_MAX + 1];
	uint64_t moved, kept;
	int tfd, r;

	note[0] = '\0';
	tfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (tfd < 0)
		return 0;	/* missing or not a dir: nothing was installed here */
	if (!read_marker(tfd, sname, sizeof(sname))) {
		/* None, or one b10t did not make (not a symlink to a staging
		 * dir): left alone, and it counts as an entry. */
		close(tfd);
		return 0;
	}
	/* The marker is made only once the staging was verified whole:
	 * finishing the move gives exactly the archive. */
	r = b10t_local_finish(ctx, cfg, tfd, dir, sname, &moved, &kept);
	if (r == 0) {
		snprintf(note, size, "finished an interrupted install into %s (%llu entries moved)",
			 dir, (unsigned long long)moved);
		close(tfd);
		return 1;
	}
	if (r != -ENOENT) {
		close(tfd);
		return r;
	}
	/* Its staging is gone (removed by hand?) but the marker stays: what
	 * was moved may be part of a cache only.  Unless another load just
	 * finished it (the marker is gone too), remove it. */
	if (!read_marker(tfd, sname, sizeof(sname))) {
		close(tfd);
		return 0;
	}
	r = clean_install(ctx, cfg, tfd, dir);
	close(tfd);
	if (r < 0)
		return r;
	snprintf(note, size, "cleaned an interrupted install out of %s (its staging dir was gone)",
		 dir);
	return 2;
}
