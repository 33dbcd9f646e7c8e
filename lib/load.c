/* SPDX-License-Identifier: MIT */
/*
 * load: extract this key's archive from the store into the local cache dir.
 *
 * The archive is opened without following a symlink or waiting on a FIFO
 * and judged by fstat of that fd, then streamed from the store (no local
 * copy) into a fresh staging dir next to the cache dir (same filesystem),
 * which is renamed into place only once the whole archive has been read and
 * verified.  Where that rename cannot work (the cache dir is a mount point,
 * its parent is not writable) the staging dir is made inside the empty
 * cache dir and its entries are moved into place under an install marker,
 * which the next load finishes should this one be killed (lib/local.c).  A
 * failure of any kind leaves the cache dir as it was and no staging debris.
 *
 * The store is not written on success except for a best-effort last-used
 * time (the key's use marker, for gc eviction) and, before looking, the
 * cooperative cleanup of stale uploads and locks (b10t_gc_cooperative).  An archive that is corrupt,
 * hostile or over a cap is renamed aside under a corrupt name
 * (B10T_NAME_CORRUPT) so the next save can publish a good one.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif
#ifndef STATX_ATTR_MOUNT_ROOT
#define STATX_ATTR_MOUNT_ROOT 0x00002000
#endif

/* mkdir -p for the parent of the cache dir. */
static int make_dirs(const char *path)
{
	char buf[PATH_MAX];
	struct stat st;

	if (stat(path, &st) == 0)
		return S_ISDIR(st.st_mode) ? 0 : -ENOTDIR;
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -ENAMETOOLONG;
	for (char *p = buf + 1; *p; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, 0755) < 0 && errno != EEXIST)
			return -errno;
		*p = '/';
	}
	if (mkdir(buf, 0755) < 0 && errno != EEXIST)
		return -errno;
	return 0;
}

struct load_job {
	struct b10t_ctx *ctx;
	const struct b10t_config *cfg;
	struct b10t_result *res;
	const char *key;
	const struct b10t_envkey *envkey;	/* this machine's, for b10t_why_load */
	int dirfd;			/* the store */
	struct b10t_set set;		/* the key's published set, this try */
	int *fds;			/* per archive of the set, -1: skipped */
	struct stat *seens;		/* their fstat at the open */
	bool relisted;			/* a claim's archive was missing: listed again */
	size_t cur;			/* the archive being read (or that failed) */
	/* The current archive (cur): */
	struct b10t_archive_info info;
	char path[PATH_MAX];		/* the archive */
	char target[PATH_MAX];		/* the cache dir, symlinks resolved */
	bool target_exists;
	char staging[PATH_MAX];		/* "" when none of ours is left to remove */
	bool in_place;			/* staging is inside the cache dir */
	const char *why_in_place;
	int fd;				/* the archive (fds[cur], not owned) */
	struct stat seen;		/* fstat of fd at the open: what was read */
	bool fault;			/* the extraction failed on the archive's content */
	bool ended_short;		/* ... because its file ended inside the data */
	uint64_t read_bytes;		/* the archive's bytes the reader got */
	int sfd;			/* the staging dir, for its mtime */
	double touched;
	void (*user_progress)(void *arg, const struct b10t_progress *p);
	void *user_arg;
};

/* The identity of an archive file: a different one is another file at the
 * name, or the same file rewritten. */
static bool same_file(const struct stat *a, const struct stat *b)
{
	return a->st_dev == b->st_dev && a->st_ino == b->st_ino && a->st_size == b->st_size &&
	       a->st_mtim.tv_sec == b->st_mtim.tv_sec && a->st_mtim.tv_nsec == b->st_mtim.tv_nsec;
}

/*
 * The current archive was moved aside: its claim goes too if it still names
 * it, so the next save can publish the generation again (under a new
 * archive name: a stale cached claim can only point at a name that is gone).
 */
static void unclaim(struct load_job *j)
{
	const struct b10t_set_item *it = &j->set.v[j->cur];
	struct b10t_name cn = { 0 }, an;
	char why[96], name[NAME_MAX + 1];

	if (!it->claim[0] || b10t_name_parse(B10T_SIDE_STORE, it->claim, &cn) == B10T_NAME_NONE)
		return;
	/* Not atomic with the unlink: a claim another load removed and a save
	 * made again in between would go too, which costs a layer (misses),
	 * never wrong bytes; its archive is then unclaimed debris. */
	if (b10t_read_claim(j->dirfd, it->claim, &cn, &an, why, sizeof(why)) != 0 ||
	    b10t_name_build(name, sizeof(name), &an) < 0 || strcmp(name, it->name))
		return;	/* gone, or naming another archive by now */
	if (unlinkat(j->dirfd, it->claim, 0) < 0 && errno != ENOENT)
		b10t_debug(j->ctx, "removing the claim %s: %s", it->claim, strerror(errno));
}

/*
 * Rename the archive aside so the next save can publish a good one, but
 * only if its name still points at the file we read: another load may have
 * moved it and a save published a new one meanwhile.  The same inode is not
 * enough: sshfs numbers inodes by path, so a new file at the name has the
 * old one's; size and mtime must match what was read too.
 */
static void move_aside(struct load_job *j)
{
	struct b10t_ctx *ctx = j->ctx;
	char aside[PATH_MAX], name[NAME_MAX + 1], tag[NAME_MAX + 1];
	struct b10t_name an = { .kind = B10T_NAME_CORRUPT, .format = j->info.format };
	struct stat a, b;
	int n;

	if (fstat(j->fd, &a) < 0 || b10t_lstat_fresh(j->path, &b) < 0 ||
	    !same_file(&a, &b) || !same_file(&j->seen, &b)) {
		b10t_debug(ctx, "%s changed meanwhile: not moving it aside", j->path);
		return;
	}
	snprintf(an.key, sizeof(an.key), "%s", j->info.key);
	an.tag = tag;
	if (b10t_writer_tag(tag, sizeof(tag), B10T_TAG_PID, '.') < 0 ||
	    b10t_name_build(name, sizeof(name), &an) < 0)
		return;
	n = snprintf(aside, sizeof(aside), "%s/%s", j->cfg->store_dir, name);
	if (n >= (int)sizeof(aside))
		return;
	if (renameat2(AT_FDCWD, j->path, AT_FDCWD, aside, RENAME_NOREPLACE) < 0 &&
	    ((errno != EINVAL && errno != ENOSYS && errno != EPERM && errno != EOPNOTSUPP) ||
	     rename(j->path, aside) < 0)) {
		b10t_append_error(ctx, -ctx->err_code, " (moving it aside failed: %s)",
				  strerror(errno));
		return;
	}
	unclaim(j);
	b10t_append_error(ctx, -ctx->err_code, "; moved aside as %s", aside);
}

/*
 * Whether the cache dir is the root of a mount (a Kubernetes emptyDir, a
 * tmpfs, a `docker -v` volume): rename() can never replace it (EBUSY), and
 * a sibling is on another filesystem.  statx knows (Linux 5.8+); else its
 * device differs from its parent's (a bind mount of the same filesystem
 * then shows up only as EBUSY at the rename, which is handled too).
 */
static bool is_mount_root(const char *path)
{
	char up[PATH_MAX + 4];
	struct statx sx;
	struct stat a, b;

	if (statx(AT_FDCWD, path, AT_NO_AUTOMOUNT, STATX_BASIC_STATS, &sx) == 0 &&
	    (sx.stx_attributes_mask & STATX_ATTR_MOUNT_ROOT) &&
	    (sx.stx_attributes & STATX_ATTR_MOUNT_ROOT))
		return true;
	snprintf(up, sizeof(up), "%s/..", path);
	return stat(path, &a) == 0 && stat(up, &b) == 0 && a.st_dev != b.st_dev;
}

static int open_staging(struct load_job *j)
{
	j->sfd = open(j->staging, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (j->sfd < 0)
		return b10t_sys_error(j->ctx, errno, "opening the staging dir %s",
				      j->staging);
	j->touched = b10t_now();
	return 0;
}

/* Stage inside the cache dir (B10T_NAME_INSIDE). */
static int make_staging_inside(struct load_job *j)
{
	char name[NAME_MAX + 1];

	if (b10t_local_name(name, sizeof(name), B10T_NAME_INSIDE, NULL) < 0 ||
	    snprintf(j->staging, sizeof(j->staging), "%s/%s", j->target, name) >=
	    (int)sizeof(j->staging)) {
		j->staging[0] = '\0';
		return b10t_set_error(j->ctx, ENAMETOOLONG, "%s: path too long", j->target);
	}
	if (mkdir(j->staging, 0700) < 0) {
		int r = b10t_sys_error(j->ctx, errno, "creating the staging dir %s",
				       j->staging);

		j->staging[0] = '\0';	/* not ours: never remove it */
		return r;
	}
	j->in_place = true;
	b10t_debug(j->ctx, "staging inside the cache dir (%s): %s", j->why_in_place, j->staging);
	return open_staging(j);
}

/*
 * Make the staging dir: next to the target (B10T_NAME_STAGING),
 * so one rename() puts it in place; inside the existing cache dir when that
 * cannot work (a mount point, a parent we may not write).
 */
static int make_staging(struct load_job *j)
{
	char tmp[PATH_MAX], parent[PATH_MAX], name[NAME_MAX + 1];
	int r;

	if (j->target_exists && is_mount_root(j->target)) {
		j->why_in_place = "it is a mount point";
		return make_staging_inside(j);
	}
	snprintf(tmp, sizeof(tmp), "%s", j->target);
	snprintf(parent, sizeof(parent), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", j->target);
	if (b10t_local_name(name, sizeof(name), B10T_NAME_STAGING, basename(tmp)) < 0 ||
	    snprintf(j->staging, sizeof(j->staging), "%s/%s", strcmp(parent, "/") ? parent : "",
		     name) >= (int)sizeof(j->staging)) {
		j->staging[0] = '\0';
		return b10t_set_error(j->ctx, ENAMETOOLONG, "%s: path too long", j->target);
	}
	r = make_dirs(parent);
	if (r == 0 && mkdir(j->staging, 0700) < 0)
		r = -errno;
	if (r == 0)
		return open_staging(j);
	j->staging[0] = '\0';	/* not ours: never remove it */
	if (j->target_exists && (r == -EACCES || r == -EPERM || r == -EROFS)) {
		j->why_in_place = "its parent is not writable";
		return make_staging_inside(j);
	}
	return b10t_sys_error(j->ctx, -r, "creating the staging dir in %s", parent);
}

/*
 * An archive member at the top with a name b10t keeps for itself (its
 * install marker, in-place staging) would pass for b10t's own state in the
 * cache dir: the archive is refused as hostile.  save never packs them.
 */
static int check_reserved(struct load_job *j)
{
	int fd = dup(j->sfd);
	struct dirent *de;
	DIR *d;
	int r = 0, err;

	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return b10t_sys_error(j->ctx, errno, "reading %s", j->staging);
	}
	while ((de = b10t_readdir(d, &err)))
		if (b10t_local_reserved(de->d_name)) {
			r = b10t_set_error(j->ctx, EPERM, "member '%s' has a name b10t reserves "
					   "for its own use", de->d_name);
			break;
		}
	/* A name it did not show may be the reserved one: not "none found". */
	if (!r && err)
		r = b10t_sys_error(j->ctx, err, "reading %s", j->staging);
	closedir(d);
	return r;
}

/* The user's progress, and our staging's mtime now and then: a load in
 * another pid namespace tells a live staging dir from a dead one by it. */
static void load_progress(void *arg, const struct b10t_progress *p)
{
	struct load_job *j = arg;
	double now = b10t_now();

	if (j->sfd >= 0 && now - j->touched >= B10T_STAGING_TOUCH_S) {
		futimens(j->sfd, NULL);
		j->touched = now;
	}
	if (j->user_progress)
		j->user_progress(j->user_arg, p);
}

/*
 * Another load is installing into the cache dir, or was killed doing so:
 * help it finish (the marker exists only once its staging is whole), so
 * the SKIPPED we answer next is for a complete cache.
 */
static int finish_other(struct load_job *j)
{
	char note[PATH_MAX + 128];
	int r = b10t_local_recover(j->ctx, j->cfg, j->target, note, sizeof(note));

	if (r > 0)
		b10t_warn(j->ctx, "%s", note);
	return r < 0 ? r : 0;
}

/* Move the in-place staging's entries into the cache dir under the marker.
 * 0, 1 when the cache dir filled meanwhile (SKIPPED), -errno. */
static int install_in_place(struct load_job *j)
{
	const char *sname = strrchr(j->staging, '/') + 1;
	uint64_t moved, kept;
	int tfd, r;

	tfd = open(j->target, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
	if (tfd < 0)
		return b10t_sys_error(j->ctx, errno, "opening the cache dir %s", j->target);
	r = b10t_cache_dir_has_entries(j->ctx, j->target);
	if (r == 0 && symlinkat(sname, tfd, B10T_INSTALL_MARKER) < 0)
		r = errno == EEXIST ? -EBUSY :
		    b10t_sys_error(j->ctx, errno, "creating %s/%s", j->target,
				   B10T_INSTALL_MARKER);
	if (r == -EBUSY) {	/* another load's install is under way */
		b10t_clear_error(j->ctx);
		r = finish_other(j);
		close(tfd);
		return r < 0 ? r : 1;
	}
	if (r != 0) {
		close(tfd);
		return r;	/* filled meanwhile (1), or an error */
	}
	/* From here the staging belongs to the marker: should we die, the
	 * next load finishes the move. */
	r = b10t_local_finish(j->ctx, j->cfg, tfd, j->target, sname, &moved, &kept);
	close(tfd);
	if (r == -ENOENT) {	/* our staging is gone: finished by another, or removed */
		char note[PATH_MAX + 128];

		j->staging[0] = '\0';
		r = b10t_local_recover(j->ctx, j->cfg, j->target, note, sizeof(note));
		/* No marker left and a cache there: a load that found our marker
		 * finished our install (finish_other) before we opened our
		 * staging.  Seen under ASan: 4 loads into a mount point gave one
		 * ERROR and three SKIPPED over a whole cache. */
		if (r == 0 && b10t_cache_dir_has_entries(j->ctx, j->target) == 1)
			return 0;
		return b10t_set_error(j->ctx, ENOENT, "installing into %s: the staging dir "
				      "disappeared%s%s", j->target, note[0] ? "; " : "", note);
	}
	j->staging[0] = '\0';
	if (r < 0)
		return r;
	b10t_debug(j->ctx, "moved %llu entries into %s", (unsigned long long)moved, j->target);
	/* Nothing of ours went in: another load installed the whole archive
	 * between our emptiness check and our marker. */
	return moved == 0 && kept > 0 ? 1 : 0;
}

/* Move the staging dir into place.  0, 1 when the cache dir filled
 * meanwhile (SKIPPED), 2 when it must be staged inside after all, -errno. */
static int install(struct load_job *j)
{
	char name[NAME_MAX + 1], inside[PATH_MAX];
	struct stat st;
	mode_t mask = b10t_umask(), mode;
	int r;

	if (j->in_place)
		return install_in_place(j);
	mode = 0777 & ~mask;
	/* Keep the mode of an existing empty cache dir; else what mkdir gives. */
	if (stat(j->target, &st) == 0 && S_ISDIR(st.st_mode))
		mode = st.st_mode & 07777;
	fchmod(j->sfd, mode);
	/* rename() replaces an empty directory atomically and refuses a
	 * non-empty one, which is exactly the rule. */
	if (rename(j->staging, j->target) == 0)
		return 0;
	r = errno;
	if (r == EBUSY || r == EXDEV) {	/* a mount point is_mount_root() missed */
		j->why_in_place = "it is a mount point";
		return 2;
	}
	if (r != ENOTEMPTY && r != EEXIST)
		return b10t_sys_error(j->ctx, r, "moving %s into place as %s",
				      j->staging, j->target);
	/* Not empty: really (SKIPPED), or only b10t's own in-place staging or
	 * marker.  Then join the in-place protocol: one rename takes our
	 * staging into the cache dir (same filesystem: rename() said so). */
	r = b10t_cache_dir_has_entries(j->ctx, j->target);
	if (r == -EBUSY) {
		b10t_clear_error(j->ctx);
		r = finish_other(j);
		return r < 0 ? r : 1;
	}
	if (r != 0)
		return r;
	if (b10t_local_name(name, sizeof(name), B10T_NAME_INSIDE, NULL) < 0 ||
	    snprintf(inside, sizeof(inside), "%s/%s", j->target, name) >= (int)sizeof(inside))
		return b10t_set_error(j->ctx, ENAMETOOLONG, "%s: path too long", j->target);
	if (rename(j->staging, inside) < 0)
		return b10t_sys_error(j->ctx, errno, "moving %s into %s", j->staging,
				      j->target);
	memcpy(j->staging, inside, sizeof(inside));
	j->in_place = true;
	return install_in_place(j);
}

/*
 * Parse the manifest and check it belongs to this name.  Compiled
 * artifacts embed the cache dir they were built in (g++'s build dir in
 * every .so, the dir in Inductor's FX graph entries), so extracting
 * elsewhere is worth a warning: torch 2.13 on CPU still hits every graph
 * (docs/real-torch.md), other versions or Triton may not.
 */
static int check_manifest(struct load_job *j, const char *json)
{
	struct b10t_manifest m;
	int r;

	if ((r = b10t_manifest_parse(j->ctx, json, strlen(json), &m)) < 0 ||
	    (r = b10t_manifest_check(j->ctx, &m, j->info.key, j->cfg->key_scheme)) < 0)
		return r;
	if (m.cache_dir[0] && strcmp(m.cache_dir, j->cfg->cache_dir)) {
		/* the same size: b10t-int.h */
		memcpy(j->res->saved_cache_dir, m.cache_dir, sizeof(m.cache_dir));
		b10t_warn(j->ctx, "the archive was saved from %s, loaded into %s: "
			  "artifacts that embed their path may miss",
			  m.cache_dir, j->cfg->cache_dir);
	}
	b10t_why_load(j->ctx, j->envkey, j->cfg->cache_dir, &m, j->res);
	return 0;
}

/* Make archive i of the set the current one (info, path, fd, seen). */
static void set_current(struct load_job *j, size_t i)
{
	const struct b10t_set_item *it = &j->set.v[i];

	j->cur = i;
	memset(&j->info, 0, sizeof(j->info));
	snprintf(j->info.filename, sizeof(j->info.filename), "%s", it->name);
	snprintf(j->info.key, sizeof(j->info.key), "%s", j->key);
	j->info.format = it->format;
	j->info.generation = it->gen;
	if (snprintf(j->path, sizeof(j->path), "%s/%s", j->cfg->store_dir, it->name) >=
	    (int)sizeof(j->path))
		j->path[0] = '\0';	/* open_set refuses such a store first */
	j->fd = j->fds ? j->fds[i] : -1;
	if (j->seens)
		j->seen = j->seens[i];
}

/* Extract one archive of the set into the staging dir and check it; over
 * the ones before it (overlay) unless it is the first. */
static int extract_one_archive(struct load_job *j, bool first)
{
	struct b10t_ctx *ctx = j->ctx;
	struct b10t_limits lim;
	struct b10t_pack_stats st = { 0 };
	char *manifest = NULL;
	double t0 = b10t_now();
	int r;

	b10t_limits_default(&lim);
	lim.overlay = !first;
	j->user_progress = ctx->progress;
	j->user_arg = ctx->progress_arg;
	ctx->progress = load_progress;
	ctx->progress_arg = j;
	r = b10t_unpack(ctx, j->fd, j->info.format, j->staging, &lim, &st, &manifest);
	/* The manifest must be valid and made for this name (none is fine:
	 * the reference's .tar.gz); else the archive is at fault. */
	if (r == 0 && manifest && (r = check_manifest(j, manifest)) < 0)
		st.archive_fault = true;
	free(manifest);
	ctx->progress = j->user_progress;
	ctx->progress_arg = j->user_arg;
	if (r == 0 && (r = check_reserved(j)) < 0)
		st.archive_fault = true;
	if (r < 0) {
		b10t_wrap_error(ctx, -r, "extracting %s", j->info.filename);
		/* Moved aside only once load_archive has ruled out a stale view. */
		j->fault = st.archive_fault;
		j->ended_short = st.archive_short;
		j->read_bytes = st.archive_bytes;
		return r;
	}
	b10t_debug(ctx, "unpack %s: %llu entries, %llu bytes in %.3f s", j->info.filename,
		   (unsigned long long)st.files, (unsigned long long)st.bytes,
		   b10t_now() - t0);
	j->res->files += st.files;
	j->res->dirs += st.dirs;
	j->res->bytes += st.bytes;
	return 0;
}

/* Extract the whole set, in order, into one fresh staging dir. */
static int extract(struct load_job *j, bool inside)
{
	bool first = true;
	int r;

	r = inside ? make_staging_inside(j) : make_staging(j);
	if (r < 0)
		return r;
	j->res->files = j->res->dirs = j->res->bytes = 0;
	for (size_t i = 0; i < j->set.n; i++) {
		if (j->fds[i] < 0)
			continue;	/* skipped: its archive is gone */
		set_current(j, i);
		if ((r = extract_one_archive(j, first)) < 0)
			return r;
		first = false;
	}
	return 0;
}

/* Close the set's archives and forget the set. */
static void close_set(struct load_job *j)
{
	for (size_t i = 0; j->fds && i < j->set.n; i++)
		if (j->fds[i] >= 0)
			close(j->fds[i]);
	free(j->fds);
	free(j->seens);
	j->fds = NULL;
	j->seens = NULL;
	j->fd = -1;
	b10t_set_free(&j->set);
}

/*
 * List the store for the key's set and open each archive.  A claim whose
 * archive is missing (moved aside, evicted, or not visible yet to this
 * client) lists the store once more; missing again, that generation is
 * skipped with a warning: entries are content-addressed, a missing layer
 * costs misses, never wrong bytes.  1: nothing to load (DOES_NOT_EXIST).
 */
static int open_set(struct load_job *j)
{
	struct b10t_ctx *ctx = j->ctx;
	size_t opened;
	int r;

again:
	close_set(j);
	if ((r = b10t_store_select(ctx, j->cfg, j->dirfd, j->key, true, &j->set)) < 0)
		return r;
	if (strlen(j->cfg->store_dir) + NAME_MAX + 2 > sizeof(j->path))
		return b10t_set_error(ctx, ENAMETOOLONG, "store %s: path too long", j->cfg->store_dir);
	if (!j->set.n) {
		b10t_result_finish(j->res, B10T_DOES_NOT_EXIST, "no_archive",
				   "no archive for key %s in the store %s",
				   j->key, j->cfg->store_dir);
		return 1;
	}
	j->fds = malloc(j->set.n * sizeof(*j->fds));
	j->seens = calloc(j->set.n, sizeof(*j->seens));
	if (!j->fds || !j->seens)
		return b10t_set_error(ctx, ENOMEM, "loading: out of memory");
	for (size_t i = 0; i < j->set.n; i++)
		j->fds[i] = -1;
	opened = 0;
	for (size_t i = 0; i < j->set.n; i++) {
		int fd;

		set_current(j, i);
		fd = b10t_open_archive(ctx, j->path, false, &j->seens[i]);
		if (fd == -ENOENT) {
			b10t_clear_error(ctx);
			if (!j->relisted) {
				j->relisted = true;
				b10t_warn(ctx, "%s is gone; the store changed while loading; retrying",
					  j->info.filename);
				goto again;
			}
			b10t_warn(ctx, "%s%s%s names an archive that is gone: loading without "
				  "generation %llu", j->set.v[i].claim[0] ? "the claim " : "",
				  j->set.v[i].claim[0] ? j->set.v[i].claim : j->info.filename,
				  j->set.v[i].claim[0] ? "" : " (listed)",
				  (unsigned long long)j->set.v[i].gen);
			continue;
		}
		if (fd < 0)
			return fd;
		j->fds[i] = fd;
		opened++;
	}
	if (!opened) {
		b10t_result_finish(j->res, B10T_DOES_NOT_EXIST, "no_archive",
				   "the archives of key %s disappeared "
				   "from the store", j->key);
		return 1;
	}
	/* The archive named in the result: the first one applied. */
	for (size_t i = 0; i < j->set.n; i++)
		if (j->fds[i] >= 0) {
			set_current(j, i);
			memcpy(j->res->archive, j->path, sizeof(j->res->archive));
			break;
		}
	j->res->archive_bytes = 0;
	for (size_t i = 0; i < j->set.n; i++)
		if (j->fds[i] >= 0)
			j->res->archive_bytes += (uint64_t)j->seens[i].st_size;
	return 0;
}

/* One try: list, open, extract, install. */
static int load_try(struct load_job *j)
{
	struct b10t_ctx *ctx = j->ctx;
	double t0;
	int r;

	j->fault = j->ended_short = false;
	j->read_bytes = 0;
	r = open_set(j);
	if (r != 0)
		return r < 0 ? r : 0;
	r = extract(j, false);
	if (r < 0)
		return r;

	t0 = b10t_now();
	r = install(j);
	if (r == 2) {
		/* The sibling staging is on the wrong filesystem: do it again
		 * inside the cache dir (rare: a bind mount on a kernel < 5.8). */
		b10t_debug(ctx, "%s cannot be replaced (%s): staging again inside it",
			   j->target, j->why_in_place);
		close(j->sfd);
		j->sfd = -1;
		b10t_rm_path_keep(j->staging, j->cfg);
		j->staging[0] = '\0';
		for (size_t i = 0; i < j->set.n; i++)
			if (j->fds[i] >= 0 && lseek(j->fds[i], 0, SEEK_SET) < 0)
				return b10t_sys_error(ctx, errno, "rereading %s",
						      j->set.v[i].name);
		r = extract(j, true);
		if (r < 0)
			return r;
		r = install(j);
	}
	if (r < 0)
		return r;
	if (r == 1) {
		return b10t_result_finish(j->res, B10T_SKIPPED, "cache_dir_not_empty",
				 "the local cache dir %s filled up meanwhile", j->cfg->cache_dir);
	}
	j->staging[0] = '\0';	/* it is the cache dir now */
	b10t_debug(ctx, "install: %s in %.3f s%s", j->target, b10t_now() - t0,
		   j->in_place ? " (in place)" : "");
	/* Last used, for gc eviction, on the key's marker: never the archive
	 * (sshfs moves its mtime with its atime); a read-only store is fine. */
	b10t_store_mark_used(ctx, j->cfg, j->key);
	j->res->status = B10T_SUCCESS;
	return 0;
}

/*
 * After a failure blamed on the archive's content: was it a stale view of
 * the store rather than a bad file?  A network client's caches can show the
 * new file at a name with the old one's size (sshfs keeps attributes 20 s),
 * so its reads end early and the archive looks truncated.  Stale when the
 * fd's fstat now differs from the one at the open, when the read ended
 * before the size the fd now reports or there are bytes past where it
 * ended, or when the name now opens another file (or none).  The reason
 * goes to why.  The error in the ctx is kept.
 */
static bool stale_view(struct load_job *j, char *why, size_t size)
{
	struct b10t_ctx *ctx = j->ctx;
	char msg[sizeof(ctx->err)];
	int code = ctx->err_code, fd;
	struct stat now, fresh;
	char c;

	if (fstat(j->fd, &now) < 0 || !same_file(&j->seen, &now)) {
		snprintf(why, size, "the archive's size or mtime changed while it was read");
		return true;
	}
	if (j->ended_short && j->read_bytes < (uint64_t)now.st_size) {
		snprintf(why, size, "the read ended at %llu of its %llu bytes",
			 (unsigned long long)j->read_bytes, (unsigned long long)now.st_size);
		return true;
	}
	if (j->ended_short && pread(j->fd, &c, 1, (off_t)j->read_bytes) == 1) {
		snprintf(why, size, "there is data past where the read ended (%llu bytes)",
			 (unsigned long long)j->read_bytes);
		return true;
	}
	memcpy(msg, ctx->err, sizeof(msg));
	fd = b10t_open_archive(ctx, j->path, true, &fresh);
	memcpy(ctx->err, msg, sizeof(msg));
	ctx->err_code = code;
	if (fd < 0) {
		snprintf(why, size, "the name no longer opens: %s", strerror(-fd));
		return true;
	}
	close(fd);
	if (!same_file(&j->seen, &fresh)) {
		snprintf(why, size, "the name holds another file now");
		return true;
	}
	return false;
}

/* Undo a failed try: no staging, no fd; the result's counts start over. */
static void end_try(struct load_job *j)
{
	if (j->sfd >= 0)
		close(j->sfd);
	j->sfd = -1;
	if (j->staging[0])
		b10t_rm_path_keep(j->staging, j->cfg);
	j->staging[0] = '\0';
	j->in_place = false;
	close_set(j);
	j->res->files = j->res->dirs = j->res->bytes = 0;
}

/*
 * Load, trying twice before an archive is moved aside.  A failure blamed on
 * the archive (or a stale NFS handle) is retried once from a fresh open into
 * a fresh staging dir; the archive is moved aside only when the second try
 * fails on its content too, neither try saw a stale view (stale_view), and
 * both read the same file (device, inode, size, mtime).  Anything else is an
 * ERROR that leaves the store alone: "the store changed while loading".
 */
static int load_archive(struct load_job *j)
{
	struct b10t_ctx *ctx = j->ctx;
	char why[160] = "", first_name[NAME_MAX + 1];
	struct stat first;
	bool stale, was_fault;
	int r;

	r = load_try(j);
	if (r >= 0 || (!j->fault && r != -ESTALE))
		return r;
	first = j->seen;
	memcpy(first_name, j->info.filename, sizeof(first_name));
	was_fault = j->fault;
	stale = !was_fault || stale_view(j, why, sizeof(why));
	if (!was_fault)
		snprintf(why, sizeof(why), "a stale file handle");
	if (stale)
		b10t_warn(ctx, "%s; the store changed while loading (%s); retrying", ctx->err, why);
	else
		b10t_debug(ctx, "%s; loading it once more before moving it aside", ctx->err);
	/* A client that may serve cached attributes gets a moment to let
	 * them expire (FUSE's default attribute timeout is 1 s). */
	if (j->fd >= 0 && !b10t_local_fs(j->fd, NULL))
		usleep(1100 * 1000);
	end_try(j);
	b10t_clear_error(ctx);

	r = load_try(j);
	if (r >= 0 || !j->fault)
		return r;
	if (!stale_view(j, why, sizeof(why))) {
		if (stale)
			snprintf(why, sizeof(why), "the first try saw a stale view");
		else if (!same_file(&first, &j->seen) || strcmp(first_name, j->info.filename))
			snprintf(why, sizeof(why), "the second try read another file");
		else
			why[0] = '\0';
	}
	if (why[0]) {
		b10t_append_error(ctx, -r, "; the store changed while loading (%s): "
				  "not moving it aside", why);
		return r;
	}
	/* Corrupt twice, the same file both times, no sign of a stale view. */
	move_aside(j);
	return r;
}

/* The cache dir with symlinks resolved, so staging is on its filesystem. */
static int resolve_target(struct load_job *j)
{
	const char *cache = j->cfg->cache_dir;
	struct stat st;

	if (lstat(cache, &st) < 0) {
		if (errno != ENOENT)
			return b10t_sys_error(j->ctx, errno, "cache dir %s", cache);
		snprintf(j->target, sizeof(j->target), "%s", cache);
		return 0;
	}
	j->target_exists = true;
	if (S_ISLNK(st.st_mode)) {
		if (!realpath(cache, j->target))
			return b10t_sys_error(j->ctx, errno, "cache dir %s", cache);
		if (b10t_check_cache_dir(j->ctx, j->target) < 0)
			return j->ctx->err_code;
		if (stat(j->target, &st) < 0)
			return b10t_sys_error(j->ctx, errno, "cache dir %s", cache);
	} else {
		snprintf(j->target, sizeof(j->target), "%s", cache);
	}
	if (!S_ISDIR(st.st_mode))
		return b10t_set_error(j->ctx, ENOTDIR, "cache dir %s: not a directory", cache);
	return 0;
}

int b10t_load(struct b10t_ctx *ctx, const struct b10t_config *cfg,
	      const struct b10t_envkey *key, struct b10t_result *res)
{
	struct load_job j = { .ctx = ctx, .cfg = cfg, .res = res, .fd = -1, .sfd = -1,
			      .dirfd = -1, .envkey = key };
	char note[PATH_MAX + 128] = "";
	double start = b10t_now();
	int r;

	b10t_result_begin(res, key);
	r = b10t_store_check(ctx, cfg);
	if (r < 0)
		goto out;

	r = resolve_target(&j);	/* a symlink to a system dir is refused first */
	if (r < 0)
		goto out;

	/* Cheap first: a warm cache dir needs nothing from the store.  A
	 * marker of an install that a killed load left half done makes it
	 * -EBUSY: finish it (or clean it) first, so a partial cache never
	 * passes for a warm one. */
	r = b10t_cache_dir_has_entries(ctx, cfg->cache_dir);
	if (r == -EBUSY) {
		b10t_clear_error(ctx);
		r = b10t_local_recover(ctx, cfg, j.target, note, sizeof(note));
		if (r > 0)
			b10t_warn(ctx, "%s", note);
		if (r >= 0)
			r = b10t_cache_dir_has_entries(ctx, cfg->cache_dir);
	}
	if (r < 0)
		goto out;
	if (r == 1) {
		r = b10t_result_finish(res, B10T_SKIPPED, "cache_dir_not_empty",
			      "the local cache dir %s is not empty%s%s%s",
			      cfg->cache_dir, note[0] ? " (" : "", note, note[0] ? ")" : "");
		goto out;
	}

	/* Housekeeping as the reference does: stale uploads and locks in the
	 * store (bounded to a few ms), dead loads' staging dirs next to ours. */
	b10t_gc_cooperative(ctx, cfg);
	b10t_local_debris(ctx, cfg, false, NULL, NULL);

	j.dirfd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j.dirfd < 0 && errno == ESTALE)
		j.dirfd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j.dirfd < 0) {
		r = b10t_set_error(ctx, errno, "opening the store %s: %s", cfg->store_dir,
				   strerror(errno));
		goto out;
	}
	j.key = key->key;
	r = load_archive(&j);
	if (j.sfd >= 0)
		close(j.sfd);
	if (j.staging[0])
		b10t_rm_path_keep(j.staging, cfg);
	close_set(&j);
	close(j.dirfd);
out:
	res->elapsed_s = b10t_now() - start;
	if (r < 0)
		res->status = B10T_ERROR;
	return r;
}
