/* SPDX-License-Identifier: MIT */
/* Unit tests of the store's names, listing and lookup, and of b10t_clear. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include <signal.h>

#include "../../lib/internal.h"
#include "../tap.h"

static struct b10t_ctx ctx;
static char tmp[PATH_MAX / 2];

/* Create dir/name holding `bytes` bytes with the given mtime. */
static void mkfile(const char *dir, const char *name, size_t bytes, time_t mtime)
{
	char path[PATH_MAX * 2];
	struct timeval tv[2] = { { mtime, 0 }, { mtime, 0 } };
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	for (size_t i = 0; i < bytes; i++)
		fputc('x', f);
	fclose(f);
	utimes(path, tv);
}

static bool exists(const char *path)
{
	struct stat st;

	return lstat(path, &st) == 0;
}

static void test_names(void)
{
	struct b10t_archive_info a;
	char buf[NAME_MAX + 1], key[NAME_MAX + 1];

	b10t_archive_name(buf, sizeof(buf), "436c59e667a63097", B10T_FMT_LZ4);
	is_str(buf, "cache_436c59e667a63097.latest.tar.lz4", "lz4 archive name");
	b10t_archive_name(buf, sizeof(buf), "436c59e667a63097", B10T_FMT_GZ);
	is_str(buf, "cache_436c59e667a63097.latest.tar.gz", "gz archive name");

	ok(b10t_parse_archive_name("cache_436c59e667a63097.latest.tar.lz4", &a), "lz4 name parses");
	is_str(a.key, "436c59e667a63097", "its key");
	is_int(a.format, B10T_FMT_LZ4, "its format");
	ok(b10t_parse_archive_name("cache_5fa34e7ede0685bf.latest.tar.gz", &a), "gz name parses");
	is_int(a.format, B10T_FMT_GZ, "gz format");
	ok(b10t_parse_archive_name("cache_Other-scheme_1.latest.tar.lz4", &a),
	   "a key of another scheme parses");
	is_str(a.key, "Other-scheme_1", "its key");
	ok(!b10t_parse_archive_name("cache_.latest.tar.lz4", &a), "empty key refused");
	ok(!b10t_parse_archive_name("cache_a.b.latest.tar.lz4", &a), "dot in key refused");
	ok(b10t_parse_archive_name("cache_abc.g3.host-1-ab.tar.zst", &a), "zst generation name parses");
	is_int(a.format, B10T_FMT_ZSTD, "zst format");
	is_str(b10t_format_name(a.format), "zstd", "its format name");
	is_int(a.generation, 3, "its generation");
	ok(!b10t_parse_archive_name("cache_abc.latest.tar.zst", &a),
	   "no legacy .latest.tar.zst (zstd was only ever written as generations)");
	ok(!b10t_parse_archive_name("cache_abc.latest.tar.xz", &a), "unknown extension refused");
	ok(!b10t_parse_archive_name("cache_abc.latest.tar.zstd", &a), "near miss .zstd refused");
	ok(!b10t_parse_archive_name("cache_abc.incomplete.h.1.ff.tar.lz4", &a), "upload is not published");
	ok(!b10t_parse_archive_name("xcache_abc.latest.tar.lz4", &a), "wrong prefix refused");
	ok(!b10t_parse_archive_name("cache_abc.latest.tar.lz4.corrupt.1", &a), "moved-aside corrupt refused");
	ok(!b10t_parse_archive_name("cache_ab c.latest.tar.gz", &a), "space in key refused");

	is_int(b10t_incomplete_name(buf, sizeof(buf), "436c59e667a63097"), 0, "upload name builds");
	ok(!strncmp(buf, "cache_436c59e667a63097.incomplete.", 34), "upload name prefix: %s", buf);
	ok(strlen(buf) > 9 && !strcmp(buf + strlen(buf) - 8, ".tar.lz4"), "upload name ends .tar.lz4");
	{
		char other[NAME_MAX + 1];
		char pid[32];

		b10t_incomplete_name(other, sizeof(other), "436c59e667a63097");
		ok(strcmp(buf, other), "two upload names differ");
		snprintf(pid, sizeof(pid), ".%ld.", (long)getpid());
		ok(strstr(buf, pid) != NULL, "upload name holds the pid");
		/* cache_ key .incomplete . host . pid . random .tar.lz4: 7 dots */
		int dots = 0;
		for (const char *p = buf; *p; p++)
			dots += *p == '.';
		is_int(dots, 6, "host adds no dots of its own");
	}
	ok(!b10t_parse_archive_name(buf, NULL), "upload name is not a published name");
	is_int(b10t_upload_name(buf, sizeof(buf), "436c59e667a63097", B10T_FMT_ZSTD), 0,
	       "a zstd upload name builds");
	ok(!strcmp(buf + strlen(buf) - 8, ".tar.zst"), "... and ends .tar.zst: %s", buf);
	ok(b10t_parse_incomplete_name(buf, key, sizeof(key)), "... and parses as an upload");
	ok(b10t_parse_incomplete_name(buf, key, sizeof(key)), "upload name parses as upload");
	is_str(key, "436c59e667a63097", "upload key");
	ok(b10t_parse_incomplete_name("cache_5fa34e7ede0685bf.incomplete.tar.gz", key, sizeof(key)),
	   "the reference's upload name parses");
	is_str(key, "5fa34e7ede0685bf", "its key");
	ok(b10t_parse_incomplete_name("cache_abc.incomplete", NULL, 0), "bare .incomplete parses");
	ok(!b10t_parse_incomplete_name("cache_abc.incompletely.tar.lz4", NULL, 0), ".incompletely refused");
	ok(!b10t_parse_incomplete_name("cache_abc.latest.tar.lz4", NULL, 0), "published is not an upload");
	ok(!b10t_parse_incomplete_name("cache_.incomplete.x", NULL, 0), "empty key upload refused");
	is_int(b10t_incomplete_name(buf, sizeof(buf), "../x"), -EINVAL, "bad key refused");
	is_int(b10t_incomplete_name(buf, 20, "436c59e667a63097"), -ENAMETOOLONG, "small buffer refused");
}

static void test_list(void)
{
	struct b10t_config cfg;
	struct b10t_archive_info *v, a;
	char path[PATH_MAX * 2];
	size_t n;
	time_t now = time(NULL);

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.store_dir, sizeof(cfg.store_dir), "%s/store", tmp);
	is_int(b10t_store_list(&ctx, &cfg, &v, &n), -ENOENT, "listing a missing store fails");
	mkdir(cfg.store_dir, 0755);
	is_int(b10t_store_list(&ctx, &cfg, &v, &n), 0, "empty store lists");
	is_int(n, 0, "with no archives");

	mkfile(cfg.store_dir, "cache_aaaaaaaaaaaaaaaa.latest.tar.lz4", 10, now - 300);
	mkfile(cfg.store_dir, "cache_bbbbbbbbbbbbbbbb.latest.tar.gz", 20, now - 100);
	mkfile(cfg.store_dir, "cache_cccccccccccccccc.latest.tar.lz4", 30, now - 200);
	mkfile(cfg.store_dir, "cache_aaaaaaaaaaaaaaaa.latest.tar.gz", 40, now - 400);
	mkfile(cfg.store_dir, "cache_dddddddddddddddd.incomplete.h.1.ab.tar.lz4", 5, now);
	mkfile(cfg.store_dir, "cache_eeee.latest.tar.lz4.corrupt.1", 5, now);
	mkfile(cfg.store_dir, "README", 5, now);
	snprintf(path, sizeof(path), "%s/cache_ffffffffffffffff.latest.tar.lz4", cfg.store_dir);
	mkdir(path, 0755);	/* a directory with an archive's name is no archive */

	is_int(b10t_store_list(&ctx, &cfg, &v, &n), 0, "store lists");
	/* One entry per key: a key with both legacy formats is its lz4, as
	 * load reads it. */
	is_int(n, 3, "only the three keys with a published set");
	if (n == 3) {
		is_str(v[0].filename, "cache_bbbbbbbbbbbbbbbb.latest.tar.gz", "newest first");
		is_str(v[1].filename, "cache_cccccccccccccccc.latest.tar.lz4", "then the next");
		is_str(v[2].filename, "cache_aaaaaaaaaaaaaaaa.latest.tar.lz4", "the lz4 of a key with both");
		is_int(v[0].bytes, 20, "exact size");
		is_int(v[0].mtime, now - 100, "mtime");
		is_int(v[0].format, B10T_FMT_GZ, "format");
		is_str(v[1].key, "cccccccccccccccc", "key");
		is_int(v[2].n_archives, 1, "one archive in a legacy set");
		is_str(v[2].archives[0], "cache_aaaaaaaaaaaaaaaa.latest.tar.lz4", "its name");
		ok(v[2].last_used >= v[2].mtime, "last_used is at least mtime");
	}
	free(v);

	is_int(b10t_store_find(&ctx, &cfg, "aaaaaaaaaaaaaaaa", &a), 0, "find with both formats");
	is_int(a.format, B10T_FMT_LZ4, "lz4 wins over gz");
	is_int(a.bytes, 10, "its size");
	is_int(b10t_store_find(&ctx, &cfg, "bbbbbbbbbbbbbbbb", &a), 0, "find a gz only");
	is_int(a.format, B10T_FMT_GZ, "the gz");
	is_str(a.filename, "cache_bbbbbbbbbbbbbbbb.latest.tar.gz", "its filename");
	is_int(b10t_store_find(&ctx, &cfg, "dddddddddddddddd", &a), -ENOENT, "an upload is not found");
	/* Which name exists, whatever it is: a directory (or FIFO, symlink) at
	 * an archive's name is refused with its kind named, never opened. */
	is_int(b10t_store_find(&ctx, &cfg, "ffffffffffffffff", &a), -EISDIR,
	       "a directory at the name is refused");
	ok(strstr(b10t_ctx_error(&ctx), "is a directory") != NULL, "... saying it is a directory");
	snprintf(path, sizeof(path), "%s/cache_9999999999999999.latest.tar.lz4", cfg.store_dir);
	mkfifo(path, 0644);
	is_int(b10t_store_find(&ctx, &cfg, "9999999999999999", &a), -EINVAL, "a FIFO is refused");
	ok(strstr(b10t_ctx_error(&ctx), "a FIFO") != NULL, "... saying it is a FIFO");
	{
		char *m = (char *)1;

		is_int(b10t_read_manifest(&ctx, path, B10T_FMT_LZ4, &m), -EINVAL,
		       "read_manifest on a FIFO: refused at once, no hang");
		ok(m == NULL, "... no manifest");
		snprintf(path, sizeof(path), "%s/cache_ffffffffffffffff.latest.tar.lz4", cfg.store_dir);
		is_int(b10t_read_manifest(&ctx, path, B10T_FMT_LZ4, &m), -EISDIR,
		       "read_manifest on a directory: refused");
		snprintf(path, sizeof(path), "%s/cache_8888888888888888.latest.tar.lz4", cfg.store_dir);
		if (symlink("cache_aaaaaaaaaaaaaaaa.latest.tar.lz4", path) == 0) {
			is_int(b10t_store_find(&ctx, &cfg, "8888888888888888", &a), -ELOOP,
			       "a symlink at the name is refused");
			is_int(b10t_read_manifest(&ctx, path, B10T_FMT_LZ4, &m), -ELOOP,
			       "read_manifest does not follow a symlink");
			ok(strstr(b10t_ctx_error(&ctx), "symlink") != NULL, "... saying so");
		}
	}
	is_int(b10t_store_find(&ctx, &cfg, "../etc/passwd", &a), -EINVAL, "a bad key is refused");
}

/* Entries of dir whose name starts with `prefix`. */
static int count_prefixed(const char *dir, const char *prefix)
{
	struct dirent *de;
	DIR *d = opendir(dir);
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		n += !strncmp(de->d_name, prefix, strlen(prefix));
	closedir(d);
	return n;
}

static void test_clear(void)
{
	struct b10t_config cfg;
	struct b10t_result res;
	char p[PATH_MAX * 2], outside[PATH_MAX];

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.cache_dir, sizeof(cfg.cache_dir), "%s/cache", tmp);
	snprintf(outside, sizeof(outside), "%s/outside", tmp);
	mkdir(outside, 0755);
	mkfile(outside, "keep", 7, time(NULL));

	mkdir(cfg.cache_dir, 0755);
	snprintf(p, sizeof(p), "%s/sub", cfg.cache_dir);
	mkdir(p, 0755);
	mkfile(p, "a", 100, time(NULL));
	mkfile(cfg.cache_dir, "b", 23, time(NULL));
	snprintf(p, sizeof(p), "%s/link-out", cfg.cache_dir);
	symlink(outside, p);
	snprintf(p, sizeof(p), "%s/sub/file-link", cfg.cache_dir);
	snprintf(outside + strlen(outside), sizeof(outside) - strlen(outside), "/keep");
	symlink(outside, p);

	is_int(b10t_clear(&ctx, &cfg, &res), 0, "clear succeeds");
	is_int(res.status, B10T_SUCCESS, "SUCCESS");
	ok(!exists(cfg.cache_dir), "the cache dir is gone");
	is_int(res.bytes, 123, "bytes removed: regular files only");
	is_int(res.files + res.dirs, 5, "entries removed");
	ok(res.dirs > 0 && res.files > 0, "files and dirs counted apart");
	ok(exists(outside), "the target of a symlink inside survives");
	is_int(count_prefixed(tmp, ".cache"), 0, "no renamed-aside dir left behind");

	is_int(b10t_clear(&ctx, &cfg, &res), 0, "clearing an absent dir succeeds");
	is_int(res.status, B10T_SUCCESS, "SUCCESS when already absent");
	is_int(res.files, 0, "nothing removed");

	/* The cache dir itself a symlink: the link goes, its target stays. */
	snprintf(p, sizeof(p), "%s/outside", tmp);
	symlink(p, cfg.cache_dir);
	is_int(b10t_clear(&ctx, &cfg, &res), 0, "clearing a symlinked cache dir succeeds");
	ok(!exists(cfg.cache_dir), "the link is gone");
	ok(exists(outside), "the target's contents survive");

	/* Not a directory: refused, left alone. */
	mkfile(tmp, "cache", 3, time(NULL));
	ok(b10t_clear(&ctx, &cfg, &res) == -ENOTDIR, "a file as cache dir is refused");
	ok(exists(cfg.cache_dir), "and left alone");
	unlink(cfg.cache_dir);

	strcpy(cfg.cache_dir, "/usr");
	is_int(b10t_clear(&ctx, &cfg, &res), -EPERM, "/usr refused");
	is_int(res.status, B10T_ERROR, "ERROR");
	ok(exists("/usr/bin"), "/usr untouched");
	strcpy(cfg.cache_dir, "/");
	is_int(b10t_clear(&ctx, &cfg, &res), -EPERM, "/ refused");
	setenv("HOME", tmp, 1);
	snprintf(cfg.cache_dir, sizeof(cfg.cache_dir), "%s", tmp);
	is_int(b10t_clear(&ctx, &cfg, &res), -EPERM, "$HOME refused");
	ok(exists(outside), "nothing in $HOME touched");
}

/* last_used: the key's use marker counts (load sets its mtime), the
 * archive's mtime (created) never moves with it; markers are no archives. */
static void test_last_used(void)
{
	struct b10t_config cfg;
	struct b10t_archive_info *v;
	size_t n;
	time_t now = time(NULL);

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.store_dir, sizeof(cfg.store_dir), "%s/used", tmp);
	mkdir(cfg.store_dir, 0755);
	mkfile(cfg.store_dir, "cache_aaaa.latest.tar.lz4", 10, now - 3000);
	mkfile(cfg.store_dir, "cache_aaaa.used", 0, now - 60);
	mkfile(cfg.store_dir, "cache_bbbb.latest.tar.gz", 10, now - 2000);
	mkfile(cfg.store_dir, "cache_bbbb.used", 0, now - 5000);	/* older than the publish */
	mkfile(cfg.store_dir, "cache_cccc.latest.tar.lz4", 10, now - 1000);
	mkfile(cfg.store_dir, "cache_orphan.used", 0, now);
	mkfile(cfg.store_dir, "cache_a.b.used", 0, now);
	is_int(b10t_store_list(&ctx, &cfg, &v, &n), 0, "a store with markers lists");
	is_int(n, 3, "markers are not archives");
	if (n == 3) {
		is_str(v[2].filename, "cache_aaaa.latest.tar.lz4", "order is by created (mtime)");
		ok(v[2].mtime == now - 3000, "created stays the archive's mtime");
		ok(v[2].last_used == now - 60, "last_used is the marker's mtime");
		ok(v[1].last_used == now - 2000, "a marker older than the publish: the mtime");
		ok(v[0].last_used == now - 1000, "no marker: the mtime");
	}
	free(v);
}

/* Write dir/name holding `text` exactly. */
static void mktext(const char *dir, const char *name, const char *text)
{
	char path[PATH_MAX * 2];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	f = fopen(path, "w");
	if (!f) {
		perror(path);
		exit(2);
	}
	fputs(text, f);
	fclose(f);
}

/* The published set of a key: claims, bases, layers, malformed claims. */
static void test_sets(void)
{
	struct b10t_config cfg;
	struct b10t_archive_info *v;
	struct b10t_set set;
	char path[PATH_MAX * 2];
	const char *k = "1111111111111111";
	size_t n;
	int dfd;

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.store_dir, sizeof(cfg.store_dir), "%s/sets", tmp);
	mkdir(cfg.store_dir, 0755);
	dfd = open(cfg.store_dir, O_RDONLY | O_DIRECTORY);
	is_int(b10t_store_select(&ctx, &cfg, dfd, k, false, &set), 0, "an empty key selects");
	ok(!set.n && !set.published && set.top == 0, "nothing published");
	b10t_set_free(&set);

	mkfile(cfg.store_dir, "cache_1111111111111111.g1.h-1-aa.tar.lz4", 10, time(NULL));
	mktext(cfg.store_dir, "cache_1111111111111111.g1", "cache_1111111111111111.g1.h-1-aa.tar.lz4\n");
	mkfile(cfg.store_dir, "cache_1111111111111111.g2.h-2-bb.tar.zst", 20, time(NULL));
	mktext(cfg.store_dir, "cache_1111111111111111.g2", "cache_1111111111111111.g2.h-2-bb.tar.zst\n");
	mkfile(cfg.store_dir, "cache_1111111111111111.g3.h-3-cc.tar.lz4", 30, time(NULL));
	is_int(b10t_store_select(&ctx, &cfg, dfd, k, false, &set), 0, "a key with two claims selects");
	is_int(set.n, 2, "two generations; the unclaimed archive is none");
	if (set.n == 2) {
		is_str(set.v[0].name, "cache_1111111111111111.g1.h-1-aa.tar.lz4", "g1 first");
		is_str(set.v[1].name, "cache_1111111111111111.g2.h-2-bb.tar.zst", "then g2");
		is_int(set.v[1].format, B10T_FMT_ZSTD, "its format from its name");
		is_str(set.v[1].claim, "cache_1111111111111111.g2", "its claim");
	}
	ok(set.published && set.top == 2, "published, top 2");
	b10t_set_free(&set);

	/* Malformed claims: ignored, never followed, counted in top. */
	mktext(cfg.store_dir, "cache_1111111111111111.g3", "cache_1111111111111111.g3.h-3-cc.tar.lz4");
	mktext(cfg.store_dir, "cache_1111111111111111.g4", "cache_2222222222222222.g4.h-3-cc.tar.lz4\n");
	mktext(cfg.store_dir, "cache_1111111111111111.g5", "../../etc/passwd\n");
	snprintf(path, sizeof(path), "%s/cache_1111111111111111.g6", cfg.store_dir);
	symlink("cache_1111111111111111.g1", path);
	snprintf(path, sizeof(path), "%s/cache_1111111111111111.g7", cfg.store_dir);
	mkdir(path, 0755);
	snprintf(path, sizeof(path), "%s/cache_1111111111111111.g8", cfg.store_dir);
	mkfifo(path, 0644);
	mktext(cfg.store_dir, "cache_1111111111111111.g9", "cache_1111111111111111.g1.h-1-aa.tar.lz4\n");
	is_int(b10t_store_select(&ctx, &cfg, dfd, k, false, &set), 0, "malformed claims select");
	is_int(set.n, 2, "none of them is followed");
	is_int(set.ignored, 7, "all seven are counted as ignored");
	is_int(set.top, 9, "and the next save takes g10");
	b10t_set_free(&set);

	/* A base b2 covers g1 and g2; a layer above it. */
	mkfile(cfg.store_dir, "cache_1111111111111111.b2.h-4-dd.tar.lz4", 40, time(NULL));
	mktext(cfg.store_dir, "cache_1111111111111111.b2", "cache_1111111111111111.b2.h-4-dd.tar.lz4\n");
	mkfile(cfg.store_dir, "cache_1111111111111111.g10.h-5-ee.tar.lz4", 50, time(NULL));
	mktext(cfg.store_dir, "cache_1111111111111111.g10", "cache_1111111111111111.g10.h-5-ee.tar.lz4\n");
	mkfile(cfg.store_dir, "cache_1111111111111111.latest.tar.lz4", 60, time(NULL));
	is_int(b10t_store_select(&ctx, &cfg, dfd, k, false, &set), 0, "a base selects");
	is_int(set.n, 2, "the base and the one layer above it");
	if (set.n == 2) {
		is_str(set.v[0].name, "cache_1111111111111111.b2.h-4-dd.tar.lz4", "the base first (not the legacy)");
		is_str(set.v[1].name, "cache_1111111111111111.g10.h-5-ee.tar.lz4", "g10 after it");
	}
	b10t_set_free(&set);

	is_int(b10t_store_list(&ctx, &cfg, &v, &n), 0, "the store lists");
	is_int(n, 1, "one key");
	if (n == 1) {
		is_int(v[0].n_archives, 2, "with its two archives");
		is_int(v[0].bytes, 90, "their bytes together");
		is_int(v[0].generation, 10, "its highest generation");
		is_str(v[0].archives[1], "cache_1111111111111111.g10.h-5-ee.tar.lz4", "named in load order");
	}
	free(v);
	close(dfd);
}

int main(void)
{
	b10t_ctx_init(&ctx);
	tap_tmpdir(tmp, sizeof(tmp), "store");
	test_names();
	test_list();
	test_sets();
	test_last_used();
	test_clear();
	tap_rmdir(tmp);
	return tap_done();
}
