/* SPDX-License-Identifier: MIT */
/*
 * save: pack the local cache dir and publish it to the store, lock-free.
 *
 * The archive is streamed straight into a temp file of the store,
 * cache_<key>.incomplete.<host>.<pid>.<random>.tar.lz4 (O_EXCL; .tar.zst
 * with B10T_CODEC=zstd), flushed to stable storage, then published under
 * cache_<key>.latest.tar.lz4 (.tar.zst) with an
 * operation that cannot replace an existing file: renameat2(RENAME_NOREPLACE),
 * or link() + unlink() where the filesystem lacks it.  Whoever loses the
 * race answers SKIPPED and removes its temp file; a reader sees no archive
 * or a whole one.  Where both fail, doctor's probe (lib/doctor.c) tells a
 * filesystem that cannot publish from an I/O error; save never falls back
 * to a plain rename, which replaces.
 *
 * When only the reference's cache_<key>.latest.tar.gz exists for the key,
 * save publishes the .tar.lz4 (.tar.zst) next to it (load prefers ours; the
 * .tar.gz is never written or removed).  A key's .tar.lz4 or .tar.zst is
 * its archive: save answers SKIPPED for either, whatever B10T_CODEC says.
 *
 * The manifest (first member, .b10t/manifest.json) is written by
 * lib/manifest.c, which describes its fields.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#ifndef RENAME_NOREPLACE
#define RENAME_NOREPLACE (1 << 0)
#endif

/* Uploads in flight in the store: incomplete files younger than the timeout. */
static int count_in_flight(struct b10t_ctx *ctx, const struct b10t_config *cfg,
			   int dirfd, unsigned *count)
{
	int fd = dup(dirfd);
	time_t now = time(NULL);
	struct dirent *de;
	int err;
	DIR *d;

	*count = 0;
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return b10t_sys_error(ctx, errno, "reading the store %s",
				      cfg->store_dir);
	}
	while ((de = b10t_readdir(d, &err))) {
		struct stat st;

		/* Ours and the reference's uploads, whatever their key. */
		if (!b10t_parse_incomplete_name(de->d_name, NULL, 0))
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* published or removed meanwhile */
		if (now - st.st_mtime < (time_t)cfg->incomplete_timeout_s)
			(*count)++;
	}
	closedir(d);
	/* A count cut short would let more saves through than the limit. */
	if (err)
		return b10t_sys_error(ctx, err, "reading the store %s", cfg->store_dir);
	return 0;
}

static char *manifest_json(const struct b10t_envkey *key, uint64_t files, uint64_t bytes,
			   const char *cache_dir)
{
	struct b10t_manifest m;

	b10t_manifest_init(&m, key, files, bytes, cache_dir);
	return b10t_manifest_write(&m);
}

/*
 * Refuse early when the archive obviously cannot fit: lz4 does not compress
 * better than about 255:1, so an archive needs at least bytes/255 free;
 * zstd's best is a few bytes per 128 KiB block (about 32,768:1).  The real
 * guard is the write error while streaming.
 */
static int check_space(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		       int dirfd, enum b10t_format codec, uint64_t tree_bytes)
{
	struct statvfs vfs;
	uint64_t avail, need = tree_bytes / (codec == B10T_FMT_ZSTD ? 32768 : 255) + 4096;

	if (fstatvfs(dirfd, &vfs) < 0)
		return 0;	/* unknown: let the writes decide */
	avail = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	if (avail < need)
		return b10t_set_error(ctx, ENOSPC,
			"no space left in the store %s: %llu bytes free, the archive of %llu bytes of cache needs at least %llu",
			cfg->store_dir, (unsigned long long)avail,
			(unsigned long long)tree_bytes, (unsigned long long)need);
	return 0;
}

/*
 * Publish tmp (whose fstat is tst) as final without ever replacing final.
 * 0 when published, 1 when final already exists (lost the race), -1 when
 * neither operation worked (errs[0]: renameat2's errno, errs[1]: link's).
 * *renamed tells whether tmp is gone.
 *
 * renameat2(RENAME_NOREPLACE) first; on any failure but EEXIST, link(),
 * which never replaces either: which errno a filesystem without the flag
 * answers varies (EINVAL on NFS, CephFS, GlusterFS, Lustre; others on
 * FUSE), and link() is harmless to try.  On NFS a reply can be lost and the
 * call retried: the retry answers EEXIST (or another error) although the
 * first one made the name, so every failure first checks whether final is
 * our inode now; after link()'s EEXIST, st_nlink 2 on tmp says the same.
 */
static int publish(int dirfd, const char *tmp, const char *final, const struct stat *tst,
		   bool *renamed, int errs[2])
{
	struct stat st;

	*renamed = false;
	errs[0] = errs[1] = 0;
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
	if (linkat(dirfd, tmp, dirfd, final, 0) == 0)
		return 0;
	errs[1] = errno;
	if (errs[1] == EEXIST) {
		/* Our link made the name when tmp counts two links and final is
		 * tmp's inode; otherwise another save published first. */
		if (fstatat(dirfd, tmp, &st, AT_SYMLINK_NOFOLLOW) == 0 && st.st_nlink == 2 &&
		    b10t_same_inode_at(dirfd, final, tst))
			return 0;
		return 1;
	}
	if (b10t_same_inode_at(dirfd, final, tst))
		return 0;	/* the link was made, its reply lost */
	return -1;
}

/*
 * Both publish operations failed: a filesystem that has neither (rclone,
 * gcsfuse, s3fs answer EIO, EPERM, ENOSYS... to link()), or a real error?
 * Not decided from the errno values: the same probe as `b10t doctor` runs
 * in the store, and when it cannot publish there either, the filesystem
 * cannot.  Sets the error; returns its -errno.
 */
static int publish_failed(struct b10t_ctx *ctx, int dirfd, const char *store,
			  const char *final, const int errs[2])
{
	struct b10t_publish_probe *p = malloc(sizeof(*p));
	int r;

	if (!p)
		return b10t_sys_error(ctx, errs[1] ? errs[1] : errs[0], "publishing %s/%s",
				      store, final);
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

struct save_job {
	struct b10t_ctx *ctx;
	const struct b10t_config *cfg;
	const struct b10t_envkey *key;
	struct b10t_result *res;
	int dirfd;
	enum b10t_format codec;		/* B10T_CODEC, auto resolved */
	char tmp[NAME_MAX + 1];
	char final[NAME_MAX + 1];
	struct stat tst;		/* the upload's fstat, to recognize it */
};

/* The caller's progress callback, with the total measured before packing. */
struct progress_total {
	void (*progress)(void *arg, const struct b10t_progress *p);
	void *arg;
	uint64_t total;
};

static void progress_with_total(void *arg, const struct b10t_progress *p)
{
	struct progress_total *t = arg;
	struct b10t_progress q = *p;

	if (!q.total_bytes)
		q.total_bytes = t->total;
	t->progress(t->arg, &q);
}

/* Pack into the temp file and flush it; the caller removes it on failure. */
static int pack_to_temp(struct save_job *j, const char *manifest, uint64_t tree_bytes)
{
	struct progress_total total = { j->ctx->progress, j->ctx->progress_arg, tree_bytes };
	struct b10t_ctx *ctx = j->ctx;
	struct b10t_limits lim;
	struct b10t_pack_stats st = { 0 };
	struct stat sst;
	double t0 = b10t_now();
	int fd, r;

	fd = openat(j->dirfd, j->tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return b10t_sys_error(ctx, errno, "creating %s/%s",
				      j->cfg->store_dir, j->tmp);
	b10t_limits_default(&lim);
	lim.max_archive_bytes = j->cfg->max_cache_size_mb << 20;
	lim.format = j->codec;
	lim.zstd_level = j->cfg->zstd_level;
	/* A store inside the cache dir (a misconfiguration) stays out of it. */
	if (fstat(j->dirfd, &sst) == 0) {
		lim.exclude_dev = (uint64_t)sst.st_dev;
		lim.exclude_ino = (uint64_t)sst.st_ino;
	}
	if (ctx->progress) {
		ctx->progress = progress_with_total;
		ctx->progress_arg = &total;
	}
	r = b10t_pack(ctx, j->cfg->cache_dir, fd, manifest, &lim, &st);
	if (total.progress) {
		ctx->progress = total.progress;
		ctx->progress_arg = total.arg;
	}
	if (r < 0) {
		close(fd);
		if (r == -EFBIG)
			return b10t_wrap_error(ctx, EFBIG,
				"packing %s: the archive would exceed MAX_CACHE_SIZE_MB=%llu",
				j->cfg->cache_dir, (unsigned long long)j->cfg->max_cache_size_mb);
		return b10t_wrap_error(ctx, -r, "packing %s into %s/%s",
				       j->cfg->cache_dir, j->cfg->store_dir, j->tmp);
	}
	b10t_debug(ctx, "pack: %llu entries, %llu bytes -> %llu archive bytes in %.3f s, %llu left out",
		   (unsigned long long)st.files, (unsigned long long)st.bytes,
		   (unsigned long long)st.archive_bytes, b10t_now() - t0,
		   (unsigned long long)st.skipped);
	t0 = b10t_now();
	/* close() reports delayed write errors on NFS: check both. */
	if (fsync(fd) < 0 || fstat(fd, &j->tst) < 0) {
		r = b10t_sys_error(ctx, errno, "flushing %s/%s",
				   j->cfg->store_dir, j->tmp);
		close(fd);
		return r;
	}
	if (close(fd) < 0)
		return b10t_sys_error(ctx, errno, "closing %s/%s",
				      j->cfg->store_dir, j->tmp);
	if (fsync(j->dirfd) < 0 && errno != EINVAL)
		return b10t_sys_error(ctx, errno, "flushing the store %s",
				      j->cfg->store_dir);
	b10t_debug(ctx, "fsync: %.3f s", b10t_now() - t0);
	j->res->files = st.files;
	j->res->bytes = st.bytes;
	j->res->archive_bytes = st.archive_bytes;
	j->res->skipped = st.skipped;
	return 0;
}

static int save_in_store(struct save_job *j)
{
	struct b10t_ctx *ctx = j->ctx;
	const struct b10t_config *cfg = j->cfg;
	uint64_t tree_bytes, tree_files;
	unsigned in_flight;
	char *manifest;
	bool renamed;
	double t0 = b10t_now();
	int r, errs[2];

	/* Dead uploads of crashed savers would count as in flight: clear a
	 * few first (bounded, never fails). */
	b10t_gc_cooperative(ctx, cfg);
	t0 = b10t_now();
	r = count_in_flight(ctx, cfg, j->dirfd, &in_flight);
	if (r < 0)
		return r;
	b10t_debug(ctx, "store scan: %u uploads in flight (max %u) in %.3f s",
		   in_flight, cfg->max_concurrent_saves, b10t_now() - t0);
	if (in_flight >= cfg->max_concurrent_saves) {
		return b10t_result_finish(j->res, B10T_SKIPPED,
				 "%u uploads already in flight in the store (MAX_CONCURRENT_SAVES=%u)",
				 in_flight, cfg->max_concurrent_saves);
	}

	t0 = b10t_now();
	r = b10t_tree_size(ctx, cfg->cache_dir, &tree_bytes, &tree_files);
	if (r < 0)
		return r;
	b10t_debug(ctx, "scan: %llu entries, %llu bytes in %.3f s",
		   (unsigned long long)tree_files, (unsigned long long)tree_bytes,
		   b10t_now() - t0);
	r = check_space(ctx, cfg, j->dirfd, j->codec, tree_bytes);
	if (r < 0)
		return r;

	manifest = manifest_json(j->key, tree_files, tree_bytes, cfg->cache_dir);
	if (!manifest)
		return b10t_set_error(ctx, ENOMEM, "building the manifest: out of memory");
	r = b10t_upload_name(j->tmp, sizeof(j->tmp), j->key->key, j->codec);
	if (r < 0) {
		free(manifest);
		return b10t_sys_error(ctx, -r, "naming the upload for key %s",
				      j->key->key);
	}
	r = pack_to_temp(j, manifest, tree_bytes);
	free(manifest);
	if (r < 0) {
		unlinkat(j->dirfd, j->tmp, 0);
		return r;
	}

	t0 = b10t_now();
	r = publish(j->dirfd, j->tmp, j->final, &j->tst, &renamed, errs);
	if (r < 0) {
		r = publish_failed(ctx, j->dirfd, cfg->store_dir, j->final, errs);
		unlinkat(j->dirfd, j->tmp, 0);
		return r;
	}
	if (!renamed)
		unlinkat(j->dirfd, j->tmp, 0);	/* lost, or published by link() */
	if (r == 1) {
		b10t_debug(ctx, "publish: lost the race to another save");
		return b10t_result_finish(j->res, B10T_SKIPPED, "%s was published by another save meanwhile",
			       j->final);
	}
	fsync(j->dirfd);	/* the name is published; durability is best effort */
	b10t_debug(ctx, "publish: %s in %.3f s", j->final, b10t_now() - t0);
	j->res->status = B10T_SUCCESS;
	return 0;
}

enum b10t_format b10t_save_codec(const struct b10t_config *cfg)
{
	/* auto: lz4 on a local disk, zstd where the bytes cross a network
	 * (bench/codec.py, docs/netfs.md). */
	if (cfg->codec != B10T_CODEC_AUTO)
		return (enum b10t_format)cfg->codec;
	return b10t_local_fs(-1, cfg->store_dir) ? B10T_FMT_LZ4 : B10T_FMT_ZSTD;
}

int b10t_save(struct b10t_ctx *ctx, const struct b10t_config *cfg,
	      const struct b10t_envkey *key, struct b10t_result *res)
{
	struct save_job j = { .ctx = ctx, .cfg = cfg, .key = key, .res = res, .dirfd = -1 };
	struct b10t_archive_info info;
	double start = b10t_now();
	int r;

	b10t_result_begin(res, key);
	r = b10t_store_check(ctx, cfg);
	if (r < 0)
		goto out;
	j.codec = b10t_save_codec(cfg);
	b10t_debug(ctx, "codec: %s%s", b10t_format_name(j.codec),
		   cfg->codec == B10T_CODEC_AUTO ? " (auto, by the store's filesystem)" : "");
	b10t_archive_name(j.final, sizeof(j.final), key->key, j.codec);
	if (snprintf(res->archive, sizeof(res->archive), "%s/%s", cfg->store_dir,
		     j.final) >= (int)sizeof(res->archive)) {
		r = b10t_set_error(ctx, ENAMETOOLONG, "store %s: path too long", cfg->store_dir);
		goto out;
	}

	/* Cheap checks first, so a fleet does not all pack. */
	r = b10t_store_find(ctx, cfg, key->key, &info);
	/* One of ours, whichever codec made it, is the key's archive. */
	if (r == 0 && info.format != B10T_FMT_GZ) {
		r = b10t_result_finish(res, B10T_SKIPPED, "%s already exists in the store", info.filename);
		goto out;
	}
	if (r < 0 && r != -ENOENT)
		goto out;
	if (r == 0)
		b10t_debug(ctx, "only %s exists: publishing %s next to it",
			   info.filename, j.final);
	b10t_clear_error(ctx);

	r = b10t_cache_dir_has_entries(ctx, cfg->cache_dir);
	if (r < 0)
		goto out;
	if (r == 0) {
		r = b10t_result_finish(res, B10T_SKIPPED, "the local cache dir %s is empty or missing", cfg->cache_dir);
		goto out;
	}

	j.dirfd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j.dirfd < 0) {
		r = b10t_sys_error(ctx, errno, "opening the store %s",
				   cfg->store_dir);
		goto out;
	}
	r = save_in_store(&j);
	close(j.dirfd);
out:
	res->elapsed_s = b10t_now() - start;
	if (r < 0)
		res->status = B10T_ERROR;
	return r;
}
