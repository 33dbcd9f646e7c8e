/* SPDX-License-Identifier: MIT */
/*
 * load: extract this key's archive from the store into the local cache dir.
 *
 * The archive is streamed from the store (no local copy) into a fresh
 * staging dir next to the cache dir (same filesystem), which is renamed
 * into place only once the whole archive has been read and verified.  A
 * failure of any kind leaves the cache dir as it was and no staging debris.
 *
 * The store is not written on success except for a best-effort last-used
 * time (the archive's atime, for gc eviction) and, before looking, the
 * cooperative cleanup of stale uploads and locks (b10t_gc_cooperative).  An archive that is corrupt,
 * hostile or over a cap is renamed aside as cache_<key>.corrupt.<unique>.<ext>
 * so the next save can publish a good one.
 */
#include <errno.h>
#include <fcntl.h>
#include <libgen.h>
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
	struct b10t_archive_info info;
	char path[PATH_MAX];		/* the archive */
	char target[PATH_MAX];		/* the cache dir, symlinks resolved */
	char staging[PATH_MAX];
	int fd;
};

/*
 * Rename the archive aside so the next save can publish a good one, but
 * only if its name still points at the file we read: another load may have
 * moved it and a save published a new one meanwhile.
 */
static void move_aside(struct load_job *j)
{
	struct b10t_ctx *ctx = j->ctx;
	char aside[PATH_MAX], msg[sizeof(ctx->err)];
	const char *ext = j->info.format == B10T_FMT_GZ ? "tar.gz" : "tar.lz4";
	struct stat a, b;
	int n;

	if (fstat(j->fd, &a) < 0 || stat(j->path, &b) < 0 ||
	    a.st_dev != b.st_dev || a.st_ino != b.st_ino) {
		b10t_debug(ctx, "%s changed meanwhile: not moving it aside", j->path);
		return;
	}
	n = snprintf(aside, sizeof(aside), "%s/cache_%s.corrupt.%ld.%016llx.%s",
		     j->cfg->store_dir, j->info.key, (long)getpid(), (unsigned long long)b10t_random64(), ext);
	if (n >= (int)sizeof(aside))
		return;
	memcpy(msg, ctx->err, sizeof(msg));
	if (renameat2(AT_FDCWD, j->path, AT_FDCWD, aside, RENAME_NOREPLACE) < 0 &&
	    ((errno != EINVAL && errno != ENOSYS && errno != EPERM && errno != EOPNOTSUPP) ||
	     rename(j->path, aside) < 0)) {
		b10t_set_error(ctx, -ctx->err_code, "%s (moving it aside failed: %s)",
			       msg, strerror(errno));
		return;
	}
	b10t_set_error(ctx, -ctx->err_code, "%s; moved aside as %s", msg, aside);
}

/* Make the staging dir next to the target: .<name>.b10t-staging.<pid>.<rnd> */
static int make_staging(struct load_job *j)
{
	char tmp[PATH_MAX], parent[PATH_MAX], name[NAME_MAX + 1];
	int r;

	snprintf(tmp, sizeof(tmp), "%s", j->target);
	snprintf(parent, sizeof(parent), "%s", dirname(tmp));
	snprintf(tmp, sizeof(tmp), "%s", j->target);
	snprintf(name, sizeof(name), "%s", basename(tmp));
	r = make_dirs(parent);
	if (r < 0)
		return b10t_set_error(j->ctx, -r, "creating %s: %s", parent, strerror(-r));
	if (snprintf(j->staging, sizeof(j->staging), "%s/.%.200s.b10t-staging.%ld.%016llx",
		     strcmp(parent, "/") ? parent : "", name, (long)getpid(),
		     (unsigned long long)b10t_random64()) >= (int)sizeof(j->staging))
		return b10t_set_error(j->ctx, ENAMETOOLONG, "%s: path too long", j->target);
	if (mkdir(j->staging, 0700) < 0) {
		r = b10t_set_error(j->ctx, errno, "creating the staging dir %s: %s",
				   j->staging, strerror(errno));
		j->staging[0] = '\0';	/* not ours: never remove it */
		return r;
	}
	return 0;
}

/* Move the staging dir into place.  0, 1 when the cache dir filled
 * meanwhile (SKIPPED), -errno. */
static int install(struct load_job *j)
{
	struct stat st;
	mode_t mask = umask(0), mode;

	umask(mask);
	mode = 0777 & ~mask;
	/* Keep the mode of an existing empty cache dir; else what mkdir gives. */
	if (stat(j->target, &st) == 0 && S_ISDIR(st.st_mode))
		mode = st.st_mode & 07777;
	chmod(j->staging, mode);
	/* rename() replaces an empty directory atomically and refuses a
	 * non-empty one, which is exactly the rule. */
	if (rename(j->staging, j->target) == 0)
		return 0;
	if (errno == ENOTEMPTY || errno == EEXIST)
		return 1;
	return b10t_set_error(j->ctx, errno, "moving %s into place as %s: %s",
			      j->staging, j->target, strerror(errno));
}

static int load_archive(struct load_job *j)
{
	struct b10t_ctx *ctx = j->ctx;
	struct b10t_limits lim;
	struct b10t_pack_stats st = { 0 };
	char *manifest = NULL;
	double t0 = b10t_now();
	int r;

	j->fd = open(j->path, O_RDONLY | O_CLOEXEC);
	if (j->fd < 0) {
		if (errno == ENOENT) {	/* moved aside or evicted meanwhile */
			return b10t_result_finish(j->res, B10T_DOES_NOT_EXIST,
					 "%s disappeared from the store", j->info.filename);
		}
		return b10t_set_error(ctx, errno, "opening %s: %s", j->path, strerror(errno));
	}
	r = make_staging(j);
	if (r < 0)
		return r;
	b10t_limits_default(&lim);
	r = b10t_unpack(ctx, j->fd, j->info.format, j->staging, &lim, &st, &manifest);
	/* The manifest must be valid and made for this name (none is fine:
	 * the reference's .tar.gz); else the archive is at fault. */
	if (r == 0 && manifest && (r = b10t_manifest_verify(ctx, manifest, j->info.key,
							   j->cfg->key_scheme)) < 0)
		st.archive_fault = true;
	free(manifest);
	if (r < 0) {
		char msg[sizeof(ctx->err)];

		memcpy(msg, ctx->err, sizeof(msg));
		b10t_set_error(ctx, -r, "extracting %s: %s", j->info.filename, msg);
		if (st.archive_fault)
			move_aside(j);
		return r;
	}
	b10t_debug(ctx, "unpack: %llu entries, %llu bytes in %.3f s",
		   (unsigned long long)st.files, (unsigned long long)st.bytes,
		   b10t_now() - t0);
	j->res->files = st.files;
	j->res->bytes = st.bytes;

	t0 = b10t_now();
	r = install(j);
	if (r < 0)
		return r;
	if (r == 1) {
		return b10t_result_finish(j->res, B10T_SKIPPED,
				 "the local cache dir %s filled up meanwhile", j->cfg->cache_dir);
	}
	j->staging[0] = '\0';	/* it is the cache dir now */
	b10t_debug(ctx, "install: %s in %.3f s", j->target, b10t_now() - t0);
	/* Last used, for gc eviction; a read-only store is fine. */
	futimens(j->fd, (const struct timespec[2]){ { 0, UTIME_NOW }, { 0, UTIME_OMIT } });
	j->res->status = B10T_SUCCESS;
	return 0;
}

/* The cache dir with symlinks resolved, so staging is on its filesystem. */
static int resolve_target(struct load_job *j)
{
	const char *cache = j->cfg->cache_dir;
	struct stat st;

	if (lstat(cache, &st) < 0) {
		if (errno != ENOENT)
			return b10t_set_error(j->ctx, errno, "cache dir %s: %s", cache,
					      strerror(errno));
		snprintf(j->target, sizeof(j->target), "%s", cache);
		return 0;
	}
	if (S_ISLNK(st.st_mode)) {
		if (!realpath(cache, j->target))
			return b10t_set_error(j->ctx, errno, "cache dir %s: %s", cache,
					      strerror(errno));
		if (b10t_check_cache_dir(j->ctx, j->target) < 0)
			return j->ctx->err_code;
		if (stat(j->target, &st) < 0)
			return b10t_set_error(j->ctx, errno, "cache dir %s: %s", cache,
					      strerror(errno));
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
	struct load_job j = { .ctx = ctx, .cfg = cfg, .res = res, .fd = -1 };
	double start = b10t_now();
	int r;

	b10t_result_begin(res, key);
	r = b10t_store_check(ctx, cfg);
	if (r < 0)
		goto out;

	/* Cheap first: a warm cache dir needs nothing from the store. */
	r = b10t_cache_dir_has_entries(ctx, cfg->cache_dir);
	if (r < 0)
		goto out;
	if (r == 1) {
		r = b10t_result_finish(res, B10T_SKIPPED, "the local cache dir %s is not empty",
			      cfg->cache_dir);
		goto out;
	}

	/* Housekeeping as the reference does: stale uploads and locks in the
	 * store (bounded to a few ms), dead loads' staging dirs next to ours. */
	b10t_gc_cooperative(ctx, cfg);
	b10t_local_debris(ctx, cfg, false, NULL, NULL);

	r = b10t_store_find(ctx, cfg, key->key, &j.info);
	if (r == -ENOENT) {
		b10t_clear_error(ctx);
		r = b10t_result_finish(res, B10T_DOES_NOT_EXIST, "no archive for key %s in the store %s",
			      key->key, cfg->store_dir);
		goto out;
	}
	if (r < 0)
		goto out;
	if (snprintf(j.path, sizeof(j.path), "%s/%s", cfg->store_dir,
		     j.info.filename) >= (int)sizeof(j.path)) {
		r = b10t_set_error(ctx, ENAMETOOLONG, "store %s: path too long", cfg->store_dir);
		goto out;
	}
	memcpy(res->archive, j.path, sizeof(res->archive));
	res->archive_bytes = j.info.bytes;
	b10t_debug(ctx, "found %s (%llu bytes) in %.3f s", j.info.filename,
		   (unsigned long long)j.info.bytes, b10t_now() - start);

	r = resolve_target(&j);
	if (r == 0)
		r = load_archive(&j);
	if (j.staging[0])
		b10t_rm_path(j.staging);
	if (j.fd >= 0)
		close(j.fd);
out:
	res->elapsed_s = b10t_now() - start;
	if (r < 0)
		res->status = B10T_ERROR;
	return r;
}
