/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the cooperative cleanup load and save run first: it removes
 * only stale uploads and locks, stays within its budget on big stores, and
 * never fails.  Prints its cost on a store of 5,000 files as TAP comments.
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

#include "b10t-int.h"
#include "../tap.h"

static struct b10t_ctx ctx;
static char root[PATH_MAX / 2];

/* An empty file `name` in dir, modified `age` seconds ago. */
static void mk(const char *dir, const char *name, long age)
{
	char path[PATH_MAX + NAME_MAX];
	struct timespec t[2];
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		perror(path);
		exit(1);
	}
	clock_gettime(CLOCK_REALTIME, &t[0]);
	t[0].tv_sec -= age;
	t[1] = t[0];
	futimens(fd, t);
	close(fd);
}

/*
 * Many names for files of one age: hard links to one template, since
 * creating inodes costs a millisecond each on some CI disks and links do not.
 */
static void mk_many(const char *dir, const char *fmt, int n, long age)
{
	char tpl[PATH_MAX + NAME_MAX], name[NAME_MAX], path[PATH_MAX + NAME_MAX];
	static int id;

	snprintf(name, sizeof(name), "tpl%d", id++);
	mk(root, name, age);
	snprintf(tpl, sizeof(tpl), "%s/%s", root, name);
	for (int i = 0; i < n; i++) {
		snprintf(name, sizeof(name), fmt, i, i);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (link(tpl, path) < 0) {
			perror(path);
			exit(1);
		}
	}
}

static int count_prefix(const char *dir, const char *prefix, const char *infix)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	while (d && (de = readdir(d)))
		if (!strncmp(de->d_name, prefix, strlen(prefix)) &&
		    (!infix || strstr(de->d_name, infix)))
			n++;
	if (d)
		closedir(d);
	return n;
}

static void new_store(char *dir, size_t size, const char *name, struct b10t_config *cfg)
{
	char cmd[PATH_MAX + 16];

	if (snprintf(dir, size, "%s/%s", root, name) >= (int)size ||
	    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir) >= (int)sizeof(cmd) ||
	    system(cmd) != 0 || mkdir(dir, 0755) < 0) {
		perror(dir);
		exit(1);
	}
	b10t_config_init(&ctx, cfg);
	strcpy(cfg->store_dir, dir);
	cfg->fs_enabled = -1;
	cfg->lock_timeout_s = 30;
	cfg->incomplete_timeout_s = 60;
}

/* A small store: exactly the stale uploads and locks go, nothing else. */
static void test_small(void)
{
	struct b10t_config cfg;
	char dir[PATH_MAX];

	new_store(dir, sizeof(dir), "small", &cfg);
	mk_many(dir, "cache_%016x.latest.tar.lz4", 5, 7200);
	mk_many(dir, "cache_%016x.incomplete.h.%d.tar.lz4", 5, 7200);	/* stale */
	mk(dir, "cache_k.incomplete.tar.gz", 7200);			/* the reference's */
	mk_many(dir, "cache_%016x.incomplete.young.%d.tar.lz4", 5, 5);	/* live writers */
	mk_many(dir, "cache_%016x.corrupt.h.%d.tar.lz4", 5, 7200);	/* gc's, not ours */
	mk_many(dir, "cache_%016x.lock", 5, 45);	/* past the 30 s lock timeout */
	mk_many(dir, "old%d.lock", 5, 10);		/* young */
	mk(dir, ".nfs000123.lock", 7200);
	mk(dir, "cache_x.txt", 7200);

	/* A pass has a 5 ms budget, which a busy machine can spend before the
	 * end of the dir (each later load or save goes on): count over passes. */
	int total = 0;
	for (int pass = 0; pass < 200 && total < 11; pass++)
		total += b10t_gc_cooperative(&ctx, &cfg);
	is_int(total, 11, "removes the 11 stale uploads and locks");
	is_int(count_prefix(dir, "cache_", ".incomplete.h."), 0, "no stale upload is left");
	is_int(count_prefix(dir, "cache_k", NULL), 0, "the reference's stale upload is gone");
	is_int(count_prefix(dir, "cache_", ".lock"), 0, "no stale lock is left");
	is_int(count_prefix(dir, "cache_", ".incomplete.young."), 5, "young uploads stay");
	is_int(count_prefix(dir, "old", ".lock"), 5, "young locks stay");
	is_int(count_prefix(dir, "cache_", ".corrupt."), 5, "corrupt archives are left to gc");
	is_int(count_prefix(dir, "cache_", ".latest.tar.lz4"), 5, "published archives stay");
	is_int(count_prefix(dir, ".nfs", NULL), 1, "NFS silly-renames stay");
	is_int(count_prefix(dir, "cache_x.txt", NULL), 1, "unknown files stay");
	is_int(b10t_gc_cooperative(&ctx, &cfg), 0, "a second run finds nothing");
}

/*
 * 5,000 entries, 150 of them stale: measure.  Within its budget a run may
 * not reach every entry (a loaded machine, a slow NFS server); what it
 * reports must be exactly what it removed, and gc removes the rest.
 */
static void test_5000(void)
{
	struct b10t_config cfg;
	struct b10t_gc_opts opts;
	struct b10t_gc_result res;
	char dir[PATH_MAX];
	double t0, first_ms, clean_ms = 1e9;
	int removed, left;

	new_store(dir, sizeof(dir), "s5000", &cfg);
	mk_many(dir, "cache_%016x.latest.tar.lz4", 4600, 7200);
	mk_many(dir, "cache_%016x.incomplete.h.%d.tar.lz4", 100, 7200);	/* stale */
	mk_many(dir, "cache_%016x.incomplete.young.%d.tar.lz4", 100, 5);	/* live writers */
	mk_many(dir, "cache_%016x.corrupt.h.%d.tar.lz4", 100, 7200);	/* gc's, not ours */
	mk_many(dir, "cache_%016x.lock", 50, 45);	/* past the 30 s lock timeout */
	mk_many(dir, "old%d.lock", 50, 10);		/* young */

	t0 = b10t_now();
	removed = b10t_gc_cooperative(&ctx, &cfg);
	first_ms = (b10t_now() - t0) * 1e3;
	left = count_prefix(dir, "cache_", ".incomplete.h.") + count_prefix(dir, "cache_", ".lock");
	is_int(150 - left, removed, "the count returned is what was removed");
	is_int(count_prefix(dir, "cache_", ".incomplete.young."), 100, "young uploads stay");
	is_int(count_prefix(dir, "old", ".lock"), 50, "young locks stay");
	is_int(count_prefix(dir, "cache_", ".latest.tar.lz4"), 4600, "published archives stay");

	b10t_gc_opts_init(&opts, &cfg);
	is_int(b10t_gc(&ctx, &cfg, &opts, &res), 0, "gc sweeps what the budget left");
	is_int(res.n_items, left, "gc removes exactly the rest");
	b10t_gc_result_free(&res);
	is_int(count_prefix(dir, "cache_", ".corrupt."), 100, "corrupt archives younger than a day stay");

	for (int i = 0; i < 5; i++) {
		t0 = b10t_now();
		b10t_gc_cooperative(&ctx, &cfg);
		if ((b10t_now() - t0) * 1e3 < clean_ms)
			clean_ms = (b10t_now() - t0) * 1e3;
	}
	printf("# cooperative cleanup, store of 5,000 files: %.2f ms removing %d stale files,"
	       " %.2f ms with nothing to remove (best of 5)\n", first_ms, removed, clean_ms);
}

/* More debris than one run may take: each run stops at its budget. */
static void test_bounded(void)
{
	struct b10t_config cfg;
	char dir[PATH_MAX];
	double t0, ms;
	int removed, total, calls = 0;

	new_store(dir, sizeof(dir), "s4000", &cfg);
	mk_many(dir, "cache_%d.incomplete.x.%d.tar.lz4", 4000, 7200);
	t0 = b10t_now();
	removed = b10t_gc_cooperative(&ctx, &cfg);
	ms = (b10t_now() - t0) * 1e3;
	/* 4,000 removals take tens of ms anywhere: the 5 ms budget must cut in */
	ok(removed > 0 && removed < 4000, "one run removes some but stops at its budget (%d in %.2f ms)",
	   removed, ms);
	total = removed;
	while (removed > 0 && ++calls < 100)
		total += (removed = b10t_gc_cooperative(&ctx, &cfg));
	ok(total > 0 && total <= 4000, "repeated runs make progress (%d removed in %d runs)",
	   total, calls + 1);
}

static void test_never_fails(void)
{
	struct b10t_config cfg;
	char dir[PATH_MAX];

	new_store(dir, sizeof(dir), "sdis", &cfg);
	mk(dir, "cache_x.incomplete.tar.gz", 7200);
	cfg.fs_enabled = 0;
	is_int(b10t_gc_cooperative(&ctx, &cfg), 0, "store disabled: nothing, no failure");
	is_int(count_prefix(dir, "cache_x", NULL), 1, "store disabled: the file stays");
	if (snprintf(cfg.store_dir, sizeof(cfg.store_dir), "%s/missing", root) >=
	    (int)sizeof(cfg.store_dir))
		return;
	cfg.fs_enabled = 1;
	is_int(b10t_gc_cooperative(&ctx, &cfg), 0, "store missing: 0, no failure");
	ok(!ctx.err_code, "store missing: no error set for the caller");
}

/* A zero timeout still keeps an upload written in the last 10 s (the floor). */
static void test_floor(void)
{
	struct b10t_config cfg;
	char dir[PATH_MAX];

	new_store(dir, sizeof(dir), "floor", &cfg);
	cfg.incomplete_timeout_s = 0;
	mk(dir, "cache_k.incomplete.h.1.a.tar.lz4", 2);
	mk(dir, "cache_k.incomplete.h.2.b.tar.lz4", 30);
	is_int(b10t_gc_cooperative(&ctx, &cfg), 1, "timeout 0: only the 30 s old upload goes");
	is_int(count_prefix(dir, "cache_k.incomplete.h.1.", NULL), 1,
	       "an upload written 2 s ago stays");
}

/* gc's use markers: the marker of a present archive stays, an orphan goes. */
static void test_markers(void)
{
	struct b10t_config cfg;
	struct b10t_gc_opts o;
	struct b10t_gc_result res;
	char dir[PATH_MAX];

	new_store(dir, sizeof(dir), "markers", &cfg);
	mk(dir, "cache_aaaa.latest.tar.lz4", 7200);
	mk(dir, "cache_aaaa.used", 7200);
	mk(dir, "cache_gone.used", 7200);
	mk(dir, "cache_young.used", 5);
	b10t_gc_opts_init(&o, &cfg);
	is_int(b10t_gc(&ctx, &cfg, &o, &res), 0, "gc with markers succeeds");
	is_int(res.n_items, 1, "one thing removed");
	if (res.n_items == 1) {
		is_str(res.items[0].filename, "cache_gone.used", "the marker of a gone archive");
		is_str(res.items[0].reason, "marker", "reason marker");
	}
	is_int(res.kept, 1, "markers are not counted as archives");
	is_int(count_prefix(dir, "cache_aaaa.used", NULL), 1, "a present archive's marker stays");
	is_int(count_prefix(dir, "cache_young.used", NULL), 1, "a young orphan stays");
	b10t_gc_result_free(&res);
}

int main(void)
{
	b10t_ctx_init(&ctx);
	tap_tmpdir(root, sizeof(root), "gc");
	test_small();
	test_5000();
	test_bounded();
	test_never_fails();
	test_floor();
	test_markers();
	tap_rmdir(root);
	return tap_done();
}
