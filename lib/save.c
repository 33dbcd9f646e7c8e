/* SPDX-License-Identifier: MIT */
/*
 * save: pack the local cache dir and publish it to the store, lock-free.
 *
 * The archive is streamed straight into an upload of the store (a fresh
 * B10T_NAME_UPLOAD name, O_EXCL), flushed to stable storage, renamed to its
 * own generation name cache_<key>.g<N>.<uniq>.<ext>, which no other writer
 * ever uses, and then committed by its claim cache_<key>.g<N>, a one-line
 * file naming it, published with an operation that cannot replace
 * (lib/publish.c).  Whoever loses the claim answers SKIPPED and removes its
 * archive and claim temp; a reader sees no claim, or one naming a whole
 * archive.  Names: lib/names.c; the protocol: docs/store-protocol.md.
 *
 * The codec (B10T_CODEC, b10t_save_codec) gives the archive's extension:
 * .tar.lz4 or .tar.zst.  Readers choose among a key's names whatever the
 * codec, so a key published in one is SKIPPED by a save in the other.
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

static char *manifest_json(const struct b10t_envkey *key, uint64_t files, uint64_t dirs,
			   uint64_t bytes, const char *cache_dir)
{
	struct b10t_manifest m;

	b10t_manifest_init(&m, key, files, bytes, cache_dir);
	m.has_dirs = true;
	m.dirs = dirs;
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

struct save_job {
	struct b10t_ctx *ctx;
	const struct b10t_config *cfg;
	const struct b10t_envkey *key;
	struct b10t_result *res;
	int dirfd;
	enum b10t_format codec;		/* B10T_CODEC, auto resolved */
	char tmp[NAME_MAX + 1];		/* the upload */
	char archive[NAME_MAX + 1];	/* its generation name */
	char claim[NAME_MAX + 1];	/* the claim to publish */
	char ctmp[NAME_MAX + 1];	/* the claim's temp */
	uint64_t gen;
	struct stat tst;		/* the upload's fstat, to recognize it */
	struct stat cst;		/* the claim temp's */
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
	lim.max_archive_bytes = j->cfg->max_cache_bytes;
	lim.format = j->codec;
	lim.zstd_level = (int)j->cfg->zstd_level;
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
				"packing %s: the archive would exceed MAX_CACHE_SIZE_MB (%llu bytes)",
				j->cfg->cache_dir, (unsigned long long)j->cfg->max_cache_bytes);
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
	j->res->dirs = st.dirs;
	j->res->bytes = st.bytes;
	j->res->archive_bytes = st.archive_bytes;
	j->res->skipped = st.skipped;
	return 0;
}

/* Write the claim's temp: one line naming the archive, flushed; its fstat
 * into *cst. */
static int write_claim_temp(struct save_job *j, struct stat *cst)
{
	size_t len = strlen(j->archive);
	char line[NAME_MAX + 2];
	int fd, r = 0;

	memcpy(line, j->archive, len);
	line[len++] = '\n';
	fd = openat(j->dirfd, j->ctmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0)
		return b10t_set_error(j->ctx, errno, "creating %s/%s: %s", j->cfg->store_dir,
				      j->ctmp, strerror(errno));
	if (write(fd, line, len) != (ssize_t)len || fsync(fd) < 0 || fstat(fd, cst) < 0)
		r = b10t_set_error(j->ctx, errno ? errno : EIO, "writing %s/%s: %s",
				   j->cfg->store_dir, j->ctmp, strerror(errno ? errno : EIO));
	if (close(fd) < 0 && !r)
		r = b10t_set_error(j->ctx, errno, "closing %s/%s: %s", j->cfg->store_dir,
				   j->ctmp, strerror(errno));
	return r;
}

/*
 * The flushed upload becomes the generation's archive: a rename onto a
 * name no other writer uses, so it never replaces anything.  On NFS a
 * retried rename answers ENOENT although the first one moved it: the
 * archive is our inode then.
 */
static int rename_archive(struct save_job *j)
{
	if (renameat(j->dirfd, j->tmp, j->dirfd, j->archive) < 0 &&
	    !b10t_same_inode_at(j->dirfd, j->archive, &j->tst))
		return b10t_set_error(j->ctx, errno, "renaming %s/%s to %s: %s", j->cfg->store_dir,
				      j->tmp, j->archive, strerror(errno));
	j->tmp[0] = '\0';
	/* The archive's name reaches the disk before its claim can. */
	if (fsync(j->dirfd) < 0 && errno != EINVAL)
		return b10t_set_error(j->ctx, errno, "flushing the store %s: %s",
				      j->cfg->store_dir, strerror(errno));
	return 0;
}

/* Name the generation's archive, its claim and the claim's temp. */
static int name_generation(struct save_job *j)
{
	struct b10t_name n = { .kind = B10T_NAME_GEN, .gen = j->gen, .format = j->codec };
	char tag[NAME_MAX + 1];
	int r;

	snprintf(n.key, sizeof(n.key), "%s", j->key->key);
	if ((r = b10t_writer_tag(n.uniq, sizeof(n.uniq), B10T_TAG_HOST, '-')) < 0 ||
	    (r = b10t_name_build(j->archive, sizeof(j->archive), &n)) < 0 ||
	    (r = b10t_name_for_key(j->claim, sizeof(j->claim), B10T_NAME_CLAIM, j->key->key,
				   j->gen, B10T_FMT_LZ4)) < 0)
		return b10t_set_error(j->ctx, -r, "naming generation %llu of key %s: %s",
				      (unsigned long long)j->gen, j->key->key, strerror(-r));
	n.kind = B10T_NAME_CLAIM_TEMP;
	n.tag = tag;
	if ((r = b10t_writer_tag(tag, sizeof(tag), B10T_TAG_HOST, '.')) < 0 ||
	    (r = b10t_name_build(j->ctmp, sizeof(j->ctmp), &n)) < 0)
		return b10t_set_error(j->ctx, -r, "naming the claim of key %s: %s", j->key->key,
				      strerror(-r));
	return 0;
}

/*
 * The claim is published: its archive must still be there.  A gc that took
 * it for an unclaimed upload in the instant before the claim (a pack whose
 * flush outlasted the stale window) leaves a claim naming nothing: take the
 * claim back, if it is still ours, and fail rather than answer SUCCESS.
 */
static int check_committed(struct save_job *j)
{
	struct stat st;
	int r;

	if (fstatat(j->dirfd, j->archive, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT)
		return 0;
	if (b10t_same_inode_at(j->dirfd, j->claim, &j->cst))
		unlinkat(j->dirfd, j->claim, 0);
	r = b10t_set_error(j->ctx, ENOENT, "publishing %s/%s: the archive %s was removed "
			   "before its claim was published (a gc meanwhile?); nothing published",
			   j->cfg->store_dir, j->claim, j->archive);
	j->archive[0] = '\0';
	return r;
}

/* Commit: publish the claim; the archive is ours alone until then. */
static int publish_claim(struct save_job *j)
{
	struct b10t_ctx *ctx = j->ctx;
	bool renamed;
	int r, errs[2];

	if ((r = write_claim_temp(j, &j->cst)) < 0)
		return r;
	r = b10t_publish_noreplace(j->dirfd, j->ctmp, j->claim, &j->cst,
				   B10T_PUB_RENAME | B10T_PUB_LINK, &renamed, errs);
	if (r < 0)
		return b10t_publish_failed(ctx, j->dirfd, j->cfg->store_dir, j->claim, errs);
	if (!renamed)
		unlinkat(j->dirfd, j->ctmp, 0);	/* lost, or published by link() */
	j->ctmp[0] = '\0';
	if (r == 1) {
		/* Another save holds the claim: our archive is no one's. */
		b10t_debug(ctx, "publish: lost the claim %s to another save", j->claim);
		unlinkat(j->dirfd, j->archive, 0);
		j->archive[0] = '\0';
		return b10t_result_finish(j->res, B10T_SKIPPED, "already_published",
					  "%s was published by another save meanwhile", j->claim);
	}
	fsync(j->dirfd);	/* the claim is published; durability is best effort */
	return check_committed(j);
}

static int save_in_store(struct save_job *j)
{
	struct b10t_ctx *ctx = j->ctx;
	const struct b10t_config *cfg = j->cfg;
	uint64_t tree_bytes, tree_files, tree_dirs;
	unsigned in_flight;
	char *manifest;
	double t0 = b10t_now();
	int r;

	/* Dead uploads of crashed savers would count as in flight: clear a
	 * few first (bounded, never fails). */
	b10t_gc_cooperative(ctx, cfg);
	t0 = b10t_now();
	r = count_in_flight(ctx, cfg, j->dirfd, &in_flight);
	if (r < 0)
		return r;
	b10t_debug(ctx, "store scan: %u uploads in flight (max %llu) in %.3f s",
		   in_flight, (unsigned long long)cfg->max_concurrent_saves, b10t_now() - t0);
	if (in_flight >= cfg->max_concurrent_saves) {
		return b10t_result_finish(j->res, B10T_SKIPPED, "too_many_saves",
				 "%u uploads already in flight in the store (MAX_CONCURRENT_SAVES=%llu)",
				 in_flight, (unsigned long long)cfg->max_concurrent_saves);
	}

	t0 = b10t_now();
	r = b10t_tree_size(ctx, cfg->cache_dir, &tree_bytes, &tree_files, &tree_dirs);
	if (r < 0)
		return r;
	b10t_debug(ctx, "scan: %llu entries, %llu bytes in %.3f s",
		   (unsigned long long)tree_files, (unsigned long long)tree_bytes,
		   b10t_now() - t0);
	r = check_space(ctx, cfg, j->dirfd, j->codec, tree_bytes);
	if (r < 0)
		return r;
	if ((r = name_generation(j)) < 0)
		return r;

	manifest = manifest_json(j->key, tree_files, tree_dirs, tree_bytes, cfg->cache_dir);
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
	if (r < 0)
		return r;

	t0 = b10t_now();
	if ((r = rename_archive(j)) < 0 || (r = publish_claim(j)) < 0 ||
	    j->res->status == B10T_SKIPPED)
		return r;
	if (snprintf(j->res->archive, sizeof(j->res->archive), "%s/%s", cfg->store_dir,
		     j->archive) >= (int)sizeof(j->res->archive))
		j->res->archive[0] = '\0';
	b10t_debug(ctx, "publish: %s (claim %s) in %.3f s", j->archive, j->claim,
		   b10t_now() - t0);
	j->archive[0] = '\0';	/* committed: it stays */
	j->res->status = B10T_SUCCESS;
	return 0;
}

/* Whatever of ours is not committed goes: upload, unclaimed archive, claim temp. */
static void save_cleanup(struct save_job *j)
{
	if (j->tmp[0])
		unlinkat(j->dirfd, j->tmp, 0);
	if (j->archive[0])
		unlinkat(j->dirfd, j->archive, 0);
	if (j->ctmp[0])
		unlinkat(j->dirfd, j->ctmp, 0);
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
	struct b10t_set set = { 0 };
	double start = b10t_now();
	int r;

	b10t_result_begin(res, key);
	r = b10t_store_check(ctx, cfg);
	if (r < 0)
		goto out;
	j.dirfd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j.dirfd < 0) {
		r = b10t_sys_error(ctx, errno, "opening the store %s", cfg->store_dir);
		goto out;
	}
	j.codec = b10t_save_codec(cfg);
	b10t_debug(ctx, "codec: %s%s", b10t_format_name(j.codec),
		   cfg->codec == B10T_CODEC_AUTO ? " (auto, by the store's filesystem)" : "");

	/* Cheap checks first, so a fleet does not all pack: the local one,
	 * then one listing of the store. */
	r = b10t_cache_dir_has_entries(ctx, cfg->cache_dir);
	if (r < 0)
		goto out;
	if (r == 0) {
		r = b10t_result_finish(res, B10T_SKIPPED, "cache_dir_empty", "the local cache dir %s is empty or missing", cfg->cache_dir);
		goto out;
	}

	/* Published: any well-formed claim or a legacy .latest, seen or not its archive (a
	 * client may not see it yet).  A save that does not see one still
	 * loses at the claim: the server refuses a second one. */
	r = b10t_store_select(ctx, cfg, j.dirfd, key->key, false, &set);
	if (r < 0)
		goto out;
	if (set.published) {
		const char *name = set.n ? set.v[set.n - 1].name : "a claim";

		if (set.n && snprintf(res->archive, sizeof(res->archive), "%s/%s",
				      cfg->store_dir, name) >= (int)sizeof(res->archive))
			res->archive[0] = '\0';
		r = b10t_result_finish(res, B10T_SKIPPED, "already_published",
				       "%s already exists in the store", name);
		goto out;
	}
	/* Malformed claims are ignored, never followed: the next number past
	 * every claim name seen, so none of them is in the way. */
	j.gen = set.top + 1;

	r = save_in_store(&j);
	save_cleanup(&j);
out:
	b10t_set_free(&set);
	if (j.dirfd >= 0)
		close(j.dirfd);
	res->elapsed_s = b10t_now() - start;
	if (r < 0)
		res->status = B10T_ERROR;
	return r;
}
