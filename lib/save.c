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

#include "archive-int.h"
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
	/* update: pack only these; a lost claim is not an answer but a retry */
	const struct b10t_delta *delta;
	bool retry;
	bool base;			/* compaction: a base b<G>, not a layer g<N> */
	const char *src;		/* the dir packed: cfg->cache_dir, or compaction's */
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
	r = j->delta ? b10t_pack_delta(ctx, j->src, fd, manifest, &lim, &st, j->delta, NULL)
		     : b10t_pack(ctx, j->src, fd, manifest, &lim, &st);
	if (total.progress) {
		ctx->progress = total.progress;
		ctx->progress_arg = total.arg;
	}
	if (r < 0) {
		close(fd);
		if (r == -EFBIG)
			return b10t_wrap_error(ctx, EFBIG,
				"packing %s: the archive would exceed MAX_CACHE_SIZE_MB (%llu bytes)",
				j->src, (unsigned long long)j->cfg->max_cache_bytes);
		return b10t_wrap_error(ctx, -r, "packing %s into %s/%s",
				       j->src, j->cfg->store_dir, j->tmp);
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
	struct b10t_name n = { .kind = j->base ? B10T_NAME_BASE : B10T_NAME_GEN, .gen = j->gen,
			       .format = j->codec };
	char tag[NAME_MAX + 1];
	int r;

	snprintf(n.key, sizeof(n.key), "%s", j->key->key);
	if ((r = b10t_writer_tag(n.uniq, sizeof(n.uniq), B10T_TAG_HOST, '-')) < 0 ||
	    (r = b10t_name_build(j->archive, sizeof(j->archive), &n)) < 0 ||
	    (r = b10t_name_for_key(j->claim, sizeof(j->claim),
				   j->base ? B10T_NAME_BASE_CLAIM : B10T_NAME_CLAIM, j->key->key,
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
		if (j->retry)
			return 1;
		return b10t_result_finish(j->res, B10T_SKIPPED, "already_published",
					  "%s was published by another save meanwhile", j->claim);
	}
	fsync(j->dirfd);	/* the claim is published; durability is best effort */
	return check_committed(j);
}

/* More than MAX_CONCURRENT_SAVES young uploads: SKIPPED (res set), else 0. */
static int check_in_flight(struct save_job *j)
{
	struct b10t_ctx *ctx = j->ctx;
	const struct b10t_config *cfg = j->cfg;
	unsigned in_flight;
	double t0;
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
	if (in_flight >= cfg->max_concurrent_saves)
		return b10t_result_finish(j->res, B10T_SKIPPED, "too_many_saves",
				 "%u uploads already in flight in the store (MAX_CONCURRENT_SAVES=%llu)",
				 in_flight, (unsigned long long)cfg->max_concurrent_saves);
	return 0;
}

/*
 * Pack j->src (or only j->delta of it) and publish it as generation j->gen
 * (a base with j->base): 0 published (res SUCCESS), 1 the claim was lost
 * in retry mode (nothing of ours left), SKIPPED in res when lost
 * otherwise, or -errno.  manifest_dir is the cache dir the manifest names.
 */
static int publish_generation(struct save_job *j, const char *manifest_dir)
{
	struct b10t_ctx *ctx = j->ctx;
	const struct b10t_config *cfg = j->cfg;
	uint64_t tree_bytes, tree_files, tree_dirs = 0;
	char *manifest;
	double t0 = b10t_now();
	int r;

	if (j->delta) {
		tree_bytes = j->delta->bytes;
		tree_files = j->delta->m.n_entries;
		for (size_t i = 0; i < j->delta->m.n_entries; i++)
			tree_dirs += j->delta->m.entries[i].type == 'd';
		tree_files -= tree_dirs;
	} else {
		r = b10t_tree_size(ctx, j->src, &tree_bytes, &tree_files, &tree_dirs);
		if (r < 0)
			return r;
	}
	b10t_debug(ctx, "scan: %llu entries, %llu bytes in %.3f s",
		   (unsigned long long)tree_files, (unsigned long long)tree_bytes,
		   b10t_now() - t0);
	r = check_space(ctx, cfg, j->dirfd, j->codec, tree_bytes);
	if (r < 0)
		return r;
	if ((r = name_generation(j)) < 0)
		return r;

	manifest = manifest_json(j->key, tree_files, tree_dirs, tree_bytes, manifest_dir);
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
	if ((r = rename_archive(j)) < 0 || (r = publish_claim(j)) != 0 ||
	    j->res->status == B10T_SKIPPED)
		return r;
	if (snprintf(j->res->archive, sizeof(j->res->archive), "%s/%s", cfg->store_dir,
		     j->archive) >= (int)sizeof(j->res->archive))
		j->res->archive[0] = '\0';
	b10t_debug(ctx, "publish: %s (claim %s) in %.3f s", j->archive, j->claim,
		   b10t_now() - t0);
	j->archive[0] = '\0';	/* committed: it stays */
	j->res->generation = j->gen;
	j->res->status = B10T_SUCCESS;
	return 0;
}

static int save_in_store(struct save_job *j)
{
	int r = check_in_flight(j);

	if (r < 0 || j->res->status == B10T_SKIPPED)
		return r;
	return publish_generation(j, j->cfg->cache_dir);
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

/*
 * The start that save, update and compaction share: the result begun, the
 * store checked and opened, the codec chosen.  0 or -errno; whatever it
 * did, save_job_close() undoes.
 */
static int save_job_open(struct save_job *j)
{
	const struct b10t_config *cfg = j->cfg;
	int r;

	b10t_result_begin(j->res, j->key);
	if ((r = b10t_store_check(j->ctx, cfg)) < 0)
		return r;
	j->dirfd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (j->dirfd < 0)
		return b10t_sys_error(j->ctx, errno, "opening the store %s", cfg->store_dir);
	j->codec = b10t_save_codec(cfg);
	b10t_debug(j->ctx, "codec: %s%s", b10t_format_name(j->codec),
		   cfg->codec == B10T_CODEC_AUTO ? " (auto, by the store's filesystem)" : "");
	return 0;
}

/* An empty or missing cache dir has nothing to publish: SKIPPED (res set), else 0. */
static int check_cache_dir(struct save_job *j)
{
	int r = b10t_cache_dir_has_entries(j->ctx, j->src);

	if (r <= 0)
		return r < 0 ? r : b10t_result_finish(j->res, B10T_SKIPPED, "cache_dir_empty",
						      "the local cache dir %s is empty or missing",
						      j->src);
	return 0;
}

/* The end they share: what is not ours to keep removed, the store closed,
 * the time taken; r passes through, and makes the result an ERROR if < 0. */
static int save_job_close(struct save_job *j, double start, int r)
{
	save_cleanup(j);
	if (j->dirfd >= 0)
		close(j->dirfd);
	j->dirfd = -1;
	j->res->elapsed_s = b10t_now() - start;
	if (r < 0)
		j->res->status = B10T_ERROR;
	return r;
}

int b10t_save(struct b10t_ctx *ctx, const struct b10t_config *cfg,
	      const struct b10t_envkey *key, struct b10t_result *res)
{
	struct save_job j = { .ctx = ctx, .cfg = cfg, .key = key, .res = res, .dirfd = -1,
			      .src = cfg->cache_dir };
	struct b10t_set set = { 0 };
	double start = b10t_now();
	int r;

	if ((r = save_job_open(&j)) < 0)
		goto out;

	/* Cheap checks first, so a fleet does not all pack: the local one,
	 * then one listing of the store. */
	if ((r = check_cache_dir(&j)) < 0 || res->status == B10T_SKIPPED)
		goto out;

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
out:
	b10t_set_free(&set);
	return save_job_close(&j, start, r);
}

/* ---- update: a layer of what the store lacks ------------------------------- */

/*
 * The entry lists of a set's archives, read once each (an update that
 * loses a claim reads only the new ones).  An archive without a list (the
 * legacy base, older b10t) or with a bad one lists nothing: its entries
 * count as unpublished, and go out again once in this layer.
 */
struct lists {
	struct list_of {
		char name[NAME_MAX + 1];
		struct b10t_manifest m;
	} *v;
	size_t n;
};

static void lists_free(struct lists *l)
{
	for (size_t i = 0; i < l->n; i++)
		b10t_manifest_free(&l->v[i].m);
	free(l->v);
	l->v = NULL;
	l->n = 0;
}

static const struct b10t_manifest *list_get(struct save_job *j, struct lists *l,
					    const char *name)
{
	char path[PATH_MAX];
	struct list_of *it;
	struct stat st;
	int fd, r;

	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i].name, name))
			return &l->v[i].m;
	if (B10T_PUSH(l->v, l->n) < 0)
		return NULL;
	it = &l->v[l->n++];
	memset(it, 0, sizeof(*it));
	snprintf(it->name, sizeof(it->name), "%s", name);
	if (snprintf(path, sizeof(path), "%s/%s", j->cfg->store_dir, name) >= (int)sizeof(path))
		return &it->m;
	fd = b10t_open_archive(j->ctx, path, true, &st);
	if (fd < 0) {
		b10t_warn(j->ctx, "reading the entry list of %s: %s", name, b10t_ctx_error(j->ctx));
		b10t_clear_error(j->ctx);
		return &it->m;
	}
	r = b10t_read_list_fd(j->ctx, fd, &it->m);
	close(fd);
	if (r == -ENOENT)
		b10t_debug(j->ctx, "%s has no entry list: its entries count as unpublished", name);
	else if (r < 0)
		b10t_warn(j->ctx, "%s: %s: its entries count as unpublished", name,
			  b10t_ctx_error(j->ctx));
	if (r < 0) {
		b10t_clear_error(j->ctx);
		memset(&it->m, 0, sizeof(it->m));
	}
	return &it->m;
}

/* The effective entry of each path in the set: the newest archive's. */
static int effective(struct save_job *j, const struct b10t_set *set, struct lists *l,
		     struct b10t_entry_set *eff, uint64_t *layer_bytes, size_t *layers)
{
	size_t total = 0;

	*layer_bytes = 0;
	*layers = 0;
	for (size_t i = 0; i < set->n; i++) {
		const struct b10t_manifest *m = list_get(j, l, set->v[i].name);

		if (!m)
			return b10t_set_error(j->ctx, ENOMEM, "reading the entry lists: out of memory");
		total += m->n_entries;
	}
	if (b10t_entry_set_init(eff, total) < 0)
		return b10t_set_error(j->ctx, ENOMEM, "reading the entry lists: out of memory");
	for (size_t i = 0; i < set->n; i++) {
		const struct b10t_manifest *m = list_get(j, l, set->v[i].name);
		struct stat st;

		if (!set->v[i].base) {
			(*layers)++;
			if (b10t_fstatat_fresh(j->dirfd, set->v[i].name, &st, AT_SYMLINK_NOFOLLOW) == 0)
				*layer_bytes += (uint64_t)st.st_size;
		}
		for (size_t k = 0; k < m->n_entries; k++)
			if (b10t_entry_set_put(eff, &m->entries[k], NULL) < 0)
				return b10t_set_error(j->ctx, ENOMEM,
						      "reading the entry lists: out of memory");
	}
	return 0;
}

/* Whether the key's layers call for a compaction (B10T_COMPACT_*). */
static bool wants_compaction(const struct b10t_config *cfg, size_t layers, uint64_t bytes)
{
	return layers > cfg->compact_layers || bytes > cfg->compact_bytes;
}

static uint64_t base_of(const struct b10t_set *set);

/* 1 when a base claim covers generation j->gen (made by a compaction whose
 * listing did not see it), 0 when not, or -errno. */
static int covered(struct save_job *j)
{
	struct b10t_set set = { 0 };
	int r = b10t_store_select(j->ctx, j->cfg, j->dirfd, j->key->key, false, &set);

	if (r == 0)
		r = base_of(&set) >= j->gen;
	b10t_set_free(&set);
	return r;
}

/*
 * The rounds an update may lose before it gives up: each lost round means
 * another writer published meanwhile, so 64 in a row is a store that never
 * settles, not bad luck.
 */
#define UPDATE_ROUNDS 64

int b10t_update(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		const struct b10t_envkey *key, struct b10t_result *res)
{
	struct save_job j = { .ctx = ctx, .cfg = cfg, .key = key, .res = res, .dirfd = -1,
			      .src = cfg->cache_dir, .retry = true };
	struct b10t_limits lim;
	struct lists lists = { 0 };
	double start = b10t_now();
	size_t layers = 0;
	uint64_t layer_bytes = 0;
	struct stat sst;
	int r, round;

	if ((r = save_job_open(&j)) < 0 ||
	    (r = check_cache_dir(&j)) < 0 || res->status == B10T_SKIPPED)
		goto out;
	if ((r = check_in_flight(&j)) < 0 || res->status == B10T_SKIPPED)
		goto out;
	b10t_limits_default(&lim);
	if (fstat(j.dirfd, &sst) == 0) {
		lim.exclude_dev = (uint64_t)sst.st_dev;
		lim.exclude_ino = (uint64_t)sst.st_ino;
	}
	for (round = 0; round < UPDATE_ROUNDS; round++) {
		struct b10t_set set = { 0 };
		struct b10t_entry_set eff = { 0 };
		struct b10t_delta d;

		if ((r = b10t_store_select(ctx, cfg, j.dirfd, key->key, false, &set)) < 0)
			goto out;
		j.gen = set.top + 1;
		if (!set.published) {
			/* Nothing yet: the first save, the whole tree. */
			b10t_set_free(&set);
			j.delta = NULL;
			r = publish_generation(&j, cfg->cache_dir);
			if (r == 1)
				continue;	/* another first save won: now a layer */
			goto out;
		}
		r = effective(&j, &set, &lists, &eff, &layer_bytes, &layers);
		b10t_set_free(&set);
		if (r == 0)
			r = b10t_delta_compute(ctx, cfg->cache_dir, &eff, &lim, &d);
		b10t_entry_set_free(&eff);
		if (r < 0)
			goto out;
		b10t_debug(ctx, "delta against generation %llu: %zu entries, %llu bytes",
			   (unsigned long long)(j.gen - 1), d.m.n_entries,
			   (unsigned long long)d.bytes);
		if (!d.m.n_entries) {
			b10t_delta_free(&d);
			r = b10t_result_finish(res, B10T_SKIPPED, "nothing_new",
					       "nothing new: the store has every entry of %s",
					       cfg->cache_dir);
			goto out;
		}
		j.delta = &d;
		r = publish_generation(&j, cfg->cache_dir);
		j.delta = NULL;
		b10t_delta_free(&d);
		save_cleanup(&j);
		if (r == 0 && res->status == B10T_SUCCESS && (r = covered(&j)) == 1) {
			/* A base of a listing that missed our claim covers it: the
			 * layer is in no set.  Publish what it held once more. */
			b10t_debug(ctx, "update: generation %llu is below a base made meanwhile; again",
				   (unsigned long long)j.gen);
			res->status = B10T_ERROR;
			continue;
		}
		if (r != 1)
			break;
		b10t_debug(ctx, "update: generation %llu was taken meanwhile; again",
			   (unsigned long long)j.gen);
	}
	if (round == UPDATE_ROUNDS) {
		r = b10t_set_error(ctx, EAGAIN,
				   "the store kept changing: %d generations in a row were taken by other writers",
				   UPDATE_ROUNDS);
		goto out;
	}
	if (r == 0 && res->status == B10T_SUCCESS &&
	    wants_compaction(cfg, layers + 1, layer_bytes + res->archive_bytes)) {
		struct b10t_result cres;

		/* Best effort: the layer is published whatever happens here. */
		if (b10t_compact(ctx, cfg, key, &cres) < 0) {
			b10t_warn(ctx, "compacting key %s after the update: %s", key->key,
				  b10t_ctx_error(ctx));
			b10t_clear_error(ctx);
		} else if (cres.status == B10T_SUCCESS) {
			b10t_log(ctx, B10T_LOG_INFO, "compacted key %s: base of generation %llu",
				  key->key, (unsigned long long)cres.generation);
		}
	}
out:
	lists_free(&lists);
	r = save_job_close(&j, start, r);
	return r < 0 ? r : 0;
}

/* ---- compaction: a base b<G> of the whole set ------------------------------ */

/*
 * A private dir for the set to be loaded into: a staging dir next to the
 * cache dir, named as a load's (B10T_NAME_STAGING, with our writer tag), so
 * that what a killed compaction leaves there is local debris that the next
 * load or gc removes once our pid is gone (lib/local.c).  Where the cache
 * dir's parent cannot take it: under LOCAL_WORK_DIR, else $TMPDIR or /tmp.
 */
static int compact_dir(struct b10t_ctx *ctx, const struct b10t_config *cfg, char *dir,
		       size_t size)
{
	const char *tmp = getenv("TMPDIR");
	const char *bases[] = { cfg->work_dir, tmp && tmp[0] == '/' ? tmp : "/tmp", "/tmp" };
	char parent[PATH_MAX], name[NAME_MAX + 1];
	const char *base;

	if (b10t_path_split(cfg->cache_dir, parent, sizeof(parent), &base) == 0 &&
	    b10t_local_name(name, sizeof(name), B10T_NAME_STAGING, base) == 0 &&
	    snprintf(dir, size, "%s/%s", strcmp(parent, "/") ? parent : "", name) < (int)size &&
	    mkdir(dir, 0700) == 0)
		return 0;
	for (size_t i = 0; i < sizeof(bases) / sizeof(*bases); i++) {
		if (snprintf(dir, size, "%s/.b10t-compact.XXXXXX", bases[i]) >= (int)size)
			continue;
		if (mkdtemp(dir))
			return 0;
	}
	return b10t_set_error(ctx, errno, "making a dir to compact in (next to %s, in %s, then /tmp): %s",
			      cfg->cache_dir, cfg->work_dir, strerror(errno));
}

/*
 * The load of a compaction extracts into its own dir, never the cache dir
 * the archives were saved from: load's warning about that is expected
 * there, and says nothing to the user.  It goes out as a debug line; every
 * other message passes as it is.
 */
struct compact_log {
	void (*log)(void *arg, enum b10t_log_level level, const char *msg);
	void *arg;
	enum b10t_log_level level;	/* the caller's */
};

static void compact_log(void *arg, enum b10t_log_level level, const char *msg)
{
	const struct compact_log *l = arg;
	static const char moved[] = "the archive was saved from ";

	if (level == B10T_LOG_WARN && !strncmp(msg, moved, sizeof(moved) - 1))
		level = B10T_LOG_DEBUG;
	if (level <= l->level)
		l->log(l->arg, level, msg);
}

/* The highest G of a base claim the set has (0: none). */
static uint64_t base_of(const struct b10t_set *set)
{
	return set->n && set->v[0].base && set->v[0].claim[0] ? set->v[0].gen : 0;
}

/* Whether two listings hold the same archives up to generation g. */
static bool same_upto(const struct b10t_set *a, const struct b10t_set *b, uint64_t g)
{
	size_t i = 0, k = 0;

	for (;;) {
		while (i < a->n && a->v[i].gen > g)
			i++;
		while (k < b->n && b->v[k].gen > g)
			k++;
		if (i == a->n || k == b->n)
			return i == a->n && k == b->n;
		if (strcmp(a->v[i].name, b->v[k].name))
			return false;
		i++, k++;
	}
}

int b10t_compact(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		 const struct b10t_envkey *key, struct b10t_result *res)
{
	struct save_job j = { .ctx = ctx, .cfg = cfg, .key = key, .res = res, .dirfd = -1,
			      .base = true };
	struct b10t_config lcfg = *cfg;
	struct b10t_result lres;
	struct b10t_set set = { 0 }, before = { 0 };
	char dir[PATH_MAX] = "";
	double start = b10t_now();
	uint64_t top;
	int r;

	if ((r = save_job_open(&j)) < 0)
		goto out;
	if ((r = b10t_store_select(ctx, cfg, j.dirfd, key->key, false, &set)) < 0)
		goto out;
	if (set.n < 2) {
		r = b10t_result_finish(res, B10T_SKIPPED, "nothing_to_compact",
				       "key %s has %s: nothing to compact",
				       key->key, set.n ? "one archive" : "no archive");
		goto out;
	}
	/* G: the newest layer listed; layers published later stay above it. */
	top = set.v[set.n - 1].gen;
	before = set;
	memset(&set, 0, sizeof(set));
	if ((r = compact_dir(ctx, cfg, dir, sizeof(dir))) < 0)
		goto out;
	if (snprintf(lcfg.cache_dir, sizeof(lcfg.cache_dir), "%s/cache", dir) >=
	    (int)sizeof(lcfg.cache_dir)) {
		r = b10t_set_error(ctx, ENAMETOOLONG, "%s/cache: path too long", dir);
		goto out;
	}
	/* The load's every check (entry lists, hashes, stale views) applies. */
	if (ctx->log) {
		struct compact_log l = { ctx->log, ctx->log_arg, ctx->log_level };

		ctx->log = compact_log;
		ctx->log_arg = &l;
		r = b10t_load(ctx, &lcfg, key, &lres);
		ctx->log = l.log;
		ctx->log_arg = l.arg;
	} else {
		r = b10t_load(ctx, &lcfg, key, &lres);
	}
	if (r < 0)
		goto out;
	if (lres.status != B10T_SUCCESS) {
		r = b10t_result_finish(res, B10T_SKIPPED, "compact_load_skipped",
				       "loading key %s to compact it: %s",
				       key->key, lres.reason);
		goto out;
	}
	b10t_set_free(&set);
	if ((r = b10t_store_select(ctx, cfg, j.dirfd, key->key, false, &set)) < 0)
		goto out;
	if (base_of(&set) >= top) {
		r = b10t_result_finish(res, B10T_SKIPPED, "compacted_meanwhile",
				       "another compaction made a base of generation %llu meanwhile",
				       (unsigned long long)base_of(&set));
		goto out;
	}
	/*
	 * The base covers every generation up to G: the set up to G must be
	 * the one listed before the load (a client whose listing missed a
	 * layer would otherwise bury it under the base).
	 */
	if (!same_upto(&before, &set, top)) {
		r = b10t_result_finish(res, B10T_SKIPPED, "set_changed",
				       "the set of key %s changed while it was compacted: try again",
				       key->key);
		goto out;
	}
	j.gen = top;
	j.src = lcfg.cache_dir;
	r = publish_generation(&j, lres.saved_cache_dir[0] ? lres.saved_cache_dir : cfg->cache_dir);
out:
	b10t_set_free(&set);
	b10t_set_free(&before);
	if (dir[0])
		b10t_rm_path_keep(dir, cfg);	/* ours alone: nothing to keep but the store */
	r = save_job_close(&j, start, r);
	return r < 0 ? r : 0;
}
