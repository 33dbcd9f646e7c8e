/* SPDX-License-Identifier: MIT */
/*
 * What compaction leaves behind, and removing a key on purpose
 * (docs/store-protocol.md, "Compaction", "Replacing a key on purpose").
 *
 * Covered generations: once a key's base claim b<G> is older than the
 * grace period (B10T_COMPACT_GRACE), its claims g<N> with N <= G and older
 * bases b<G'> with G' < G are no part of any set a load could still be
 * reading, so gc removes those claims, each one before its archive.  A
 * base whose archive is gone, or a malformed one, covers nothing.
 *
 * b10t rm KEY removes the key's claims (highest first, so a concurrent
 * listing never sees a gap below a claim it reads), then its archives:
 * legacy ones and every generation archive, claimed or not.  A load that opened an archive
 * reads on (the inode outlives the name); one that finds a claimed archive
 * gone lists again and finds nothing.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"
#include "names.h"

struct claim {
	struct b10t_name n;
	char name[NAME_MAX + 1];
	char archive[NAME_MAX + 1];	/* "" when malformed or gone */
	int64_t mtime;
};

struct claims {
	struct claim *v;
	size_t n, cap;
};

static int claims_add(struct claims *c, const struct claim *x)
{
	if (B10T_GROW(c->v, c->cap, c->n + 1, 64) < 0)
		return -ENOMEM;
	c->v[c->n++] = *x;
	return 0;
}

/*
 * The claims of the store (of `key` when not NULL), and with key the
 * legacy archives too (as claims of generation 0 without an archive).
 */
static int list_claims(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
		       const char *key, struct claims *out, struct claims *legacy)
{
	struct dirent *de;
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	int r = 0, err = 0;

	if (!d) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return b10t_sys_error(ctx, -r, "reading the store %s", cfg->store_dir);
	}
	while (!r && (de = b10t_readdir(d, &err))) {
		struct claim c = { 0 };
		enum b10t_name_kind k = b10t_name_parse(B10T_SIDE_STORE, de->d_name, &c.n);
		struct b10t_name an;
		struct stat st;
		char why[96];

		if (key && strcmp(c.n.key, key))
			continue;
		snprintf(c.name, sizeof(c.name), "%s", de->d_name);
		/* rm: legacy archives, and generation archives no claim may name
		 * (an update's, killed or about to claim: gone with the key). */
		if ((k == B10T_NAME_LATEST || k == B10T_NAME_GEN || k == B10T_NAME_BASE) && legacy) {
			r = claims_add(legacy, &c);
			continue;
		}
		if (k != B10T_NAME_CLAIM && k != B10T_NAME_BASE_CLAIM)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0)
			continue;	/* removed since the listing */
		c.mtime = st.st_mtime;
		if (b10t_read_claim(dirfd, de->d_name, &c.n, &an, why, sizeof(why)) == 0 &&
		    b10t_name_build(c.archive, sizeof(c.archive), &an) == 0 &&
		    fstatat(dirfd, c.archive, &st, AT_SYMLINK_NOFOLLOW) < 0)
			c.archive[0] = '\0';	/* names an archive that is gone */
		r = claims_add(out, &c);
	}
	closedir(d);
	/* A listing cut short would let rm leave claims, or gc miss a base. */
	if (!r && err)
		r = -err;
	if (r < 0)
		return b10t_sys_error(ctx, -r, "reading the store %s", cfg->store_dir);
	return 0;
}

/* Highest generation first; bases before layers of the same number. */
static int by_gen_desc(const void *a, const void *b)
{
	const struct claim *x = a, *y = b;

	if (x->n.gen != y->n.gen)
		return x->n.gen > y->n.gen ? -1 : 1;
	return (y->n.kind == B10T_NAME_BASE_CLAIM) - (x->n.kind == B10T_NAME_BASE_CLAIM);
}

int b10t_gc_covered(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
		    bool dry_run, void (*removed)(void *arg, const char *name, uint64_t bytes),
		    void *arg)
{
	struct claims c = { 0 };
	int64_t now = time(NULL);
	int r;

	if ((r = list_claims(ctx, cfg, dirfd, NULL, &c, NULL)) < 0)
		return r;
	if (c.n > 1)	/* qsort(NULL, 0) is undefined: no claims, no array */
		qsort(c.v, c.n, sizeof(*c.v), by_gen_desc);
	for (size_t i = 0; i < c.n; i++) {
		const struct claim *b = &c.v[i];

		/* The newest good base of its key, past the grace period. */
		if (b->n.kind != B10T_NAME_BASE_CLAIM || !b->archive[0] ||
		    now - b->mtime < (int64_t)cfg->compact_grace_s)
			continue;
		bool newest = true;
		for (size_t k = 0; k < i; k++)
			if (c.v[k].n.kind == B10T_NAME_BASE_CLAIM && c.v[k].archive[0] &&
			    !strcmp(c.v[k].n.key, b->n.key) &&
			    now - c.v[k].mtime >= (int64_t)cfg->compact_grace_s)
				newest = false;
		if (!newest)
			continue;
		for (size_t k = i + 1; k < c.n; k++) {
			const struct claim *x = &c.v[k];
			struct stat st;

			if (strcmp(x->n.key, b->n.key) || x->n.gen > b->n.gen)
				continue;
			if (x->n.kind == B10T_NAME_BASE_CLAIM && x->n.gen == b->n.gen)
				continue;	/* a second base of G: not older */
			if (fstatat(dirfd, x->name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (!dry_run && unlinkat(dirfd, x->name, 0) < 0) {
				if (errno == ENOENT)
					continue;	/* another gc was first */
				r = b10t_set_error(ctx, errno, "removing %s/%s: %s", cfg->store_dir,
						   x->name, strerror(errno));
				break;
			}
			b10t_debug(ctx, "gc: %s is covered by %s", x->name, b->name);
			if (removed)
				removed(arg, x->name, (uint64_t)st.st_size);
			/* Its archive: no set names it any more. */
			if (x->archive[0] && fstatat(dirfd, x->archive, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			    (dry_run || unlinkat(dirfd, x->archive, 0) == 0) && removed)
				removed(arg, x->archive, (uint64_t)st.st_size);
		}
		if (r < 0)
			break;
	}
	free(c.v);
	return r;
}

int b10t_rm_key(struct b10t_ctx *ctx, const struct b10t_config *cfg, const char *key,
		struct b10t_gc_result *res)
{
	struct claims c = { 0 }, legacy = { 0 };
	int dirfd, r, first = 0;

	memset(res, 0, sizeof(*res));
	res->status = B10T_ERROR;
	if (!b10t_valid_key(key, strlen(key)))
		return b10t_set_error(ctx, EINVAL, "'%s' is not a key", key);
	if ((r = b10t_store_check(ctx, cfg)) < 0)
		return r;
	dirfd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return b10t_sys_error(ctx, errno, "opening the store %s", cfg->store_dir);
	if ((r = list_claims(ctx, cfg, dirfd, key, &c, &legacy)) < 0)
		goto out;
	if (c.n > 1)
		qsort(c.v, c.n, sizeof(*c.v), by_gen_desc);
	/* Claims first (the commit points), highest first; then the archives. */
	for (size_t pass = 0; pass < 2; pass++) {
		const struct claims *from = pass == 1 ? &legacy : &c;

		for (size_t i = 0; i < from->n; i++) {
			const char *name = from->v[i].name;
			struct b10t_gc_item *items;
			struct stat st;

			if (!name[0] || fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) < 0)
				continue;
			if (unlinkat(dirfd, name, 0) < 0) {
				if (errno != ENOENT && !first)
					first = b10t_set_error(ctx, errno, "removing %s/%s: %s",
							       cfg->store_dir, name, strerror(errno));
				continue;
			}
			if (B10T_PUSH(res->items, res->n_items) < 0)
				continue;
			items = res->items;
			snprintf(items[res->n_items].filename, sizeof(items->filename), "%s", name);
			items[res->n_items].reason = pass == 0 ? "claim" : "archive";
			items[res->n_items].bytes = (uint64_t)st.st_size;
			res->n_items++;
			res->freed_bytes += (uint64_t)st.st_size;
		}
	}
	fsync(dirfd);
	r = first;
	if (!r)
		res->status = res->n_items ? B10T_SUCCESS : B10T_DOES_NOT_EXIST;
out:
	free(c.v);
	free(legacy.v);
	close(dirfd);
	return r;
}
