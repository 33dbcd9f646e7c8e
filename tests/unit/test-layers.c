/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of what layers are made of: the entry list (written while
 * packing, read from the file's end, checked by unpack), its hostile
 * forms, the delta of a cache dir against a published set, the pack of a
 * delta, and the merge of vLLM's index file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <xxhash.h>

#include "archive-int.h"
#include "b10t-int.h"
#include "../tap.h"
#include "fixture.h"

static struct b10t_ctx ctx;

static void put(const char *p, const char *data)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0644);

	if (fd < 0 || write(fd, data, strlen(data)) != (ssize_t)strlen(data)) {
		printf("Bail out! cannot write %s\n", p);
		exit(1);
	}
	close(fd);
}

static int pack_to(const char *src, const char *out, struct b10t_pack_stats *st)
{
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), r;

	r = b10t_pack(&ctx, src, fd, "{\"key\":\"k1\"}", NULL, st);
	close(fd);
	return r;
}

static int unpack_from(const char *in, const char *dst, struct b10t_pack_stats *st)
{
	int fd = open(in, O_RDONLY), r;

	sh("rm -rf '%s' && mkdir '%s'", dst, dst);
	r = b10t_unpack(&ctx, fd, B10T_FMT_LZ4, dst, NULL, st, NULL);
	close(fd);
	return r;
}

static int read_list(const char *in, struct b10t_manifest *m)
{
	int fd = open(in, O_RDONLY), r;

	r = b10t_read_list_fd(&ctx, fd, m);
	close(fd);
	return r;
}

static const struct b10t_entry *find(const struct b10t_manifest *m, const char *p)
{
	for (size_t i = 0; i < m->n_entries; i++)
		if (!strcmp(m->entries[i].path, p))
			return &m->entries[i];
	return NULL;
}

static void make_tree(void)
{
	sh("rm -rf '%s' && mkdir -p '%s/a/b' '%s/c'", path("src"), path("src"), path("src"));
	put(path("src/a/b/one"), "one");
	put(path("src/a/two"), "two two");
	put(path("src/c/vllm_compile_cache.py"), "{(None, 0, 'inductor'): ('h0', 'p0')}");
	sh("ln -s ../a/two '%s/c/link'", path("src"));
	/* Old files, as a cache loaded from the store has: not "recent". */
	sh("find '%s' -exec touch -h -d @1700000000 {} +", path("src"));
}

/* Replace the archive's entry list by the one of m. */
static void swap_list(const char *file, const struct b10t_manifest *m)
{
	struct b10t_manifest old;
	char *buf;
	size_t len;
	struct stat st;
	int fd;

	read_list(file, &old);
	stat(file, &st);
	b10t_list_frame(&old, &buf, &len);
	truncate(file, st.st_size - (off_t)len);
	free(buf);
	b10t_list_frame(m, &buf, &len);
	fd = open(file, O_WRONLY | O_APPEND);
	if (write(fd, buf, len) != (ssize_t)len)
		printf("# short write\n");
	close(fd);
	free(buf);
	b10t_manifest_free(&old);
}

static void test_list(void)
{
	struct b10t_pack_stats st;
	struct b10t_manifest m;
	const struct b10t_entry *e;

	make_tree();
	is_int(pack_to(path("src"), path("a.tar.lz4"), &st), 0, "pack");
	is_int(read_list(path("a.tar.lz4"), &m), 0, "the entry list is read from the file's end");
	is_int((int)m.n_entries, 7, "it lists every member (3 dirs, 3 files, a link)");
	is_str(m.key, "k1", "with the manifest's fields");
	e = find(&m, "a/b/one");
	ok(e && e->type == 'f' && e->size == 3 && e->hash == XXH3_64bits("one", 3),
	   "a file: its size and XXH3");
	e = find(&m, "c/link");
	ok(e && e->type == 'l' && !strcmp(e->target, "../a/two"), "a link: its target");
	e = find(&m, "a/b");
	ok(e && e->type == 'd' && e->mode == 0755, "a dir: its mode");
	e = find(&m, "c/vllm_compile_cache.py");
	ok(e && e->content && !strncmp(e->content, "{(None", 6), "the index file is listed with its content");
	e = find(&m, "a/two");
	ok(e && !e->content, "other files are not");
	ok(!find(&m, ".b10t/manifest.json"), "the manifest member is not an entry");
	is_int(unpack_from(path("a.tar.lz4"), path("dst"), &st), 0,
	       "unpack checks the list and loads");
	sh("lz4 -dc '%s' | tar -tf - >/dev/null", path("a.tar.lz4"));
	ok(1, "the lz4 CLI skips the list frame");

	/* A list that lies: each is the archive's fault. */
	struct { const char *what; void (*edit)(struct b10t_manifest *); } *c, cases[] = {
		{ "a wrong hash", NULL }, { "a wrong size", NULL }, { "a missing member", NULL },
		{ "an unlisted member", NULL }, { "a wrong type", NULL }, { "a wrong target", NULL },
	};
	for (int i = 0; i < 6; i++) {
		struct b10t_manifest bad;
		struct b10t_entry *x;

		c = &cases[i];
		read_list(path("a.tar.lz4"), &bad);
		x = (struct b10t_entry *)find(&bad, i == 5 ? "c/link" : "a/two");
		if (i == 0)
			x->hash ^= 1;
		else if (i == 1)
			x->size++;
		else if (i == 2)
			snprintf(x->path, strlen(x->path) + 1, "a/twx");
		else if (i == 3)
			bad.n_entries--;	/* the last one goes unlisted */
		else if (i == 4)
			x->type = 'd';
		else {
			free(x->target);
			x->target = strdup("../a/b");
		}
		sh("cp '%s' '%s'", path("a.tar.lz4"), path("bad.tar.lz4"));
		swap_list(path("bad.tar.lz4"), &bad);
		if (i == 3)
			bad.n_entries++;	/* so that free frees it */
		memset(&st, 0, sizeof(st));
		is_int(unpack_from(path("bad.tar.lz4"), path("dst"), &st), -EBADMSG, c->what);
		ok(st.archive_fault, "%s: the archive's fault (%s)", c->what, b10t_ctx_error(&ctx));
		b10t_manifest_free(&bad);
	}

	/* Bytes after the list, a second list, a cut list: corrupt. */
	sh("cp '%s' '%s' && printf x >> '%s'", path("a.tar.lz4"), path("bad.tar.lz4"),
	   path("bad.tar.lz4"));
	memset(&st, 0, sizeof(st));
	is_int(unpack_from(path("bad.tar.lz4"), path("dst"), &st), -EBADMSG,
	       "a byte after the list");
	ok(strstr(b10t_ctx_error(&ctx), "unexpected data"), "is unexpected data (%s)",
	   b10t_ctx_error(&ctx));
	sh("cp '%s' '%s' && tail -c 100 '%s' > '%s' && head -c -1 '%s' > '%s'", path("a.tar.lz4"),
	   path("x"), path("a.tar.lz4"), path("y"), path("x"), path("bad.tar.lz4"));
	is_int(unpack_from(path("bad.tar.lz4"), path("dst"), &st), -EBADMSG, "a cut list");
	b10t_manifest_free(&m);
}

/* The same list after a zstd archive's frames: a zstd skippable frame. */
static void test_list_zstd(void)
{
	struct b10t_limits lim;
	struct b10t_pack_stats st;
	struct b10t_manifest m, bad;
	struct b10t_entry *x;
	int fd, r;

	make_tree();
	b10t_limits_default(&lim);
	lim.format = B10T_FMT_ZSTD;
	fd = open(path("z.tar.zst"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	is_int(b10t_pack(&ctx, path("src"), fd, "{\"key\":\"k1\"}", &lim, &st), 0, "zstd: pack");
	close(fd);
	is_int(read_list(path("z.tar.zst"), &m), 0, "zstd: the entry list is read from the end");
	is_int((int)m.n_entries, 7, "zstd: it lists every member");
	sh("rm -rf '%s' && mkdir '%s'", path("dst"), path("dst"));
	fd = open(path("z.tar.zst"), O_RDONLY);
	r = b10t_unpack(&ctx, fd, B10T_FMT_ZSTD, path("dst"), NULL, &st, NULL);
	close(fd);
	is_int(r, 0, "zstd: unpack reads past the list frame and checks it");
	if (system("command -v zstd >/dev/null 2>&1") == 0) {
		sh("zstd -dcq '%s' | tar -tf - >/dev/null", path("z.tar.zst"));
		ok(1, "zstd: the zstd CLI skips the list frame");
	}

	read_list(path("z.tar.zst"), &bad);
	x = (struct b10t_entry *)find(&bad, "a/two");
	x->hash ^= 1;
	sh("cp '%s' '%s'", path("z.tar.zst"), path("bad.tar.zst"));
	swap_list(path("bad.tar.zst"), &bad);
	b10t_manifest_free(&bad);
	struct { const char *what, *want; } cases[] = {
		{ "zstd: a list that lies about a hash", "" },
		{ "zstd: a byte after the list", "unexpected data" },
		{ "zstd: a cut list", "" },
	};
	for (int i = 0; i < 3; i++) {
		if (i)
			sh("cp '%s' '%s'", path("z.tar.zst"), path("bad.tar.zst"));
		if (i == 1)
			sh("printf x >> '%s'", path("bad.tar.zst"));
		else if (i == 2)
			sh("truncate -s -1 '%s'", path("bad.tar.zst"));
		sh("rm -rf '%s' && mkdir '%s'", path("dst"), path("dst"));
		memset(&st, 0, sizeof(st));
		fd = open(path("bad.tar.zst"), O_RDONLY);
		r = b10t_unpack(&ctx, fd, B10T_FMT_ZSTD, path("dst"), NULL, &st, NULL);
		close(fd);
		is_int(r, -EBADMSG, cases[i].what);
		ok(st.archive_fault && strstr(b10t_ctx_error(&ctx), cases[i].want),
		   "%s: the archive's fault (%s)", cases[i].what, b10t_ctx_error(&ctx));
	}
	b10t_manifest_free(&m);
}

static int parse_list(const char *json, struct b10t_manifest *m)
{
	int r = b10t_manifest_parse_list(&ctx, json, strlen(json), m);

	if (!r)
		b10t_manifest_free(m);
	return r;
}

static void test_hostile_lists(void)
{
	static const char *bad[] = {
		"{\"entries\":{}}",
		"{\"entries\":[[\"a\"]]}",
		"{\"entries\":[[\"a\",\"f\",420,1e300,\"0000000000000000\",0]]}",
		"{\"entries\":[[\"a\",\"f\",420,-1,\"0000000000000000\",0]]}",
		"{\"entries\":[[\"a\",\"f\",420,1.5,\"0000000000000000\",0]]}",
		"{\"entries\":[[\"a\",\"f\",420,9007199254740992,\"0000000000000000\",0]]}",
		"{\"entries\":[[\"a\",\"f\",4096,1,\"0000000000000000\",0]]}",
		"{\"entries\":[[\"a\",\"f\",420,1,\"000000000000000\",0]]}",
		"{\"entries\":[[\"a\",\"f\",420,1,\"000000000000000G\",0]]}",
		"{\"entries\":[[\"a\",\"f\",420,1,\"0000000000000000\",0,\"xy\"]]}",
		"{\"entries\":[[\"a\",\"d\",493],[\"a\",\"d\",493]]}",
		"{\"entries\":[[\"a\\nb\",\"d\",493]]}",
		"{\"entries\":[[\"\",\"d\",493]]}",
		"{\"entries\":[[\"a\",\"x\",493]]}",
		"{\"entries\":[[\"a\",\"l\",5]]}",
		"{\"entries\":[[\"a\",\"d\",493,7]]}",
		"{\"entries\":[[\"a\",\"f\",420,1,\"0000000000000000\"]]}",
		"{\"entries\":[[\"a\",\"f\",420,1,\"0000000000000000\",-5]]}",
	};
	struct b10t_manifest m;
	char json[256];

	for (size_t i = 0; i < sizeof(bad) / sizeof(*bad); i++)
		is_int(parse_list(bad[i], &m), -EBADMSG, bad[i]);
	snprintf(json, sizeof(json),
		 "{\"entries\":[[\"a\",\"f\",420,2,\"%016llx\",7,\"xy\"],[\"b\",\"l\",\"a\"]]}",
		 (unsigned long long)XXH3_64bits("xy", 2));
	is_int(parse_list(json, &m), 0, "a good list with a content parses");
	is_int(parse_list("{\"entries\":[[\"a\",\"d\",493]]}", &m), 0, "a dir");
	is_int(b10t_manifest_parse(&ctx, bad[0], strlen(bad[0]), &m), 0,
	       "the first member's reader ignores entries");
}

static void test_delta(void)
{
	struct b10t_manifest pub, layer;
	struct b10t_entry_set set;
	struct b10t_delta d;
	struct b10t_pack_stats st;
	const struct b10t_entry *e;
	int fd;

	make_tree();
	pack_to(path("src"), path("base.tar.lz4"), &st);
	read_list(path("base.tar.lz4"), &pub);
	b10t_entry_set_init(&set, pub.n_entries);
	for (size_t i = 0; i < pub.n_entries; i++)
		b10t_entry_set_put(&set, &pub.entries[i], NULL);

	is_int(b10t_delta_compute(&ctx, path("src"), &set, NULL, &d), 0, "delta of the same tree");
	is_int((int)d.m.n_entries, 0, "nothing new");
	b10t_delta_free(&d);

	sh("mkdir -p '%s/a/new' && mkdir -p '%s/locks' && ln -s one '%s/a/b/l2'", path("src"),
	   path("src"), path("src"));
	put(path("src/a/new/three"), "three");
	put(path("src/a/two"), "TWO two");	/* same size, other bytes */
	put(path("src/c/vllm_compile_cache.py"),
	    "{(None, 0, 'inductor'): ('h0', 'p0'), (8, 0, 'inductor'): ('h8', 'p8')}");
	is_int(b10t_delta_compute(&ctx, path("src"), &set, NULL, &d), 0, "delta of a grown tree");
	is_int((int)d.m.n_entries, 6, "new dir, new file, changed file, new link, merged index, locks dir");
	ok(b10t_entry_set_get(&d.set, "a/new") && b10t_entry_set_get(&d.set, "a/new/three") &&
	   b10t_entry_set_get(&d.set, "a/two") && b10t_entry_set_get(&d.set, "a/b/l2"),
	   "each is in the delta");
	ok(!b10t_entry_set_get(&d.set, "a/b/one") && !b10t_entry_set_get(&d.set, "a/b"),
	   "unchanged entries are not");
	e = b10t_entry_set_get(&d.set, "c/vllm_compile_cache.py");
	ok(e && e->content && strstr(e->content, "('h0', 'p0')") && strstr(e->content, "(8, 0,"),
	   "the index file is the union of both");
	ok(b10t_entry_set_get(&d.dirs, "a") && b10t_entry_set_get(&d.dirs, "a/b"),
	   "the dirs above are known");

	fd = open(path("layer.tar.lz4"), O_WRONLY | O_CREAT | O_TRUNC, 0644);
	is_int(b10t_pack_delta(&ctx, path("src"), fd, "{}", NULL, &st, &d, &layer), 0,
	       "pack of the delta");
	close(fd);
	is_int((int)layer.n_entries, 6, "it lists the delta's entries only");
	e = find(&layer, "c/vllm_compile_cache.py");
	ok(e && e->content && strstr(e->content, "(8, 0,"), "the merged index goes in as merged");
	ok(!find(&layer, "a") && !find(&layer, "a/b/one"), "no header for dirs above, no old file");
	is_int(unpack_from(path("layer.tar.lz4"), path("ldst"), &st), 0, "the layer loads (verified)");
	sh("test -f '%s/a/new/three' && test ! -e '%s/a/b/one' && grep -q h8 '%s/c/vllm_compile_cache.py'"
	   " && grep -q h0 '%s/c/vllm_compile_cache.py'", path("ldst"), path("ldst"), path("ldst"),
	   path("ldst"));
	ok(1, "with only the new entries, and the index holding both writers' keys");
	b10t_delta_free(&d);

	/* Applying the layer's list over the base's: nothing is new any more. */
	for (size_t i = 0; i < layer.n_entries; i++)
		b10t_entry_set_put(&set, &layer.entries[i], NULL);
	is_int(b10t_delta_compute(&ctx, path("src"), &set, NULL, &d), 0, "delta after the layer");
	is_int((int)d.m.n_entries, 0, "nothing new (the index is published with every key)");
	b10t_delta_free(&d);

	/* The quick check: published size and mtime, not recent: not read. */
	put(path("src/a/b/one"), "ONE");
	sh("touch -d @1700000000 '%s'", path("src/a/b/one"));
	is_int(b10t_delta_compute(&ctx, path("src"), &set, NULL, &d), 0, "delta, same size and mtime");
	is_int((int)d.m.n_entries, 0, "a file with the published size and mtime counts as the same");
	b10t_delta_free(&d);
	sh("touch -d @1700000001 '%s'", path("src/a/b/one"));
	is_int(b10t_delta_compute(&ctx, path("src"), &set, NULL, &d), 0, "delta, another mtime");
	ok(d.m.n_entries == 1 && b10t_entry_set_get(&d.set, "a/b/one"),
	   "another mtime: read, hashed, new");
	b10t_delta_free(&d);
	put(path("src/a/b/one"), "one");
	sh("touch -d @1700000005 '%s'", path("src/a/b/one"));
	is_int(b10t_delta_compute(&ctx, path("src"), &set, NULL, &d), 0, "delta, same bytes");
	is_int((int)d.m.n_entries, 0, "another mtime, the same bytes: not new");
	b10t_delta_free(&d);

	/* Autotune results: whichever copy is published stays. */
	sh("mkdir -p '%s/x'", path("src"));
	put(path("src/x/k.best_config"), "{\"XBLOCK\": 8}");
	pack_to(path("src"), path("b2.tar.lz4"), &st);
	b10t_manifest_free(&layer);
	read_list(path("b2.tar.lz4"), &layer);
	b10t_entry_set_free(&set);
	b10t_entry_set_init(&set, layer.n_entries);
	for (size_t i = 0; i < layer.n_entries; i++)
		b10t_entry_set_put(&set, &layer.entries[i], NULL);
	put(path("src/x/k.best_config"), "{\"XBLOCK\": 16, \"time_taken_ms\": 3}");
	is_int(b10t_delta_compute(&ctx, path("src"), &set, NULL, &d), 0, "delta of a retuned kernel");
	is_int((int)d.m.n_entries, 0, "a published .best_config is not sent again");
	b10t_delta_free(&d);

	b10t_entry_set_free(&set);
	b10t_manifest_free(&pub);
	b10t_manifest_free(&layer);
}

static void test_merge(void)
{
	char *m = NULL;

	is_int(b10t_index_merge(B10T_INDEX_PYDICT, "{(1, 0, 'a'): 'x'}", "{(1,0,'a'): 'y'}", &m),
	       0, "the same key (other spacing, other value): nothing new");
	ok(!m, "and nothing made");
	is_int(b10t_index_merge(B10T_INDEX_PYDICT,
				"{   (1, 0, 'a'): ('x', '/p/1'),\n    (None, 0, 'a'): 'n'}",
				"{(2, 0, 'a'): ('z', 'q,:{'), (1, 0, 'a'): 'y', (2, 0, 'a'): 'dup'}", &m),
	       1, "a new key");
	is_str(m, "{(1, 0, 'a'): ('x', '/p/1'),\n (None, 0, 'a'): 'n',\n (2, 0, 'a'): ('z', 'q,:{')}",
	       "published items first (their values), then the new one, once");
	free(m);
	is_int(b10t_index_merge(B10T_INDEX_PYDICT, "{}", "{'a': 1,}", &m), 1, "into an empty dict");
	is_str(m, "{'a': 1}", "trailing comma dropped");
	free(m);
	is_int(b10t_index_merge(B10T_INDEX_PYDICT, "{'a': 1}", "{'a': 1} x", &m), -EINVAL,
	       "text after the dict");
	is_int(b10t_index_merge(B10T_INDEX_PYDICT, "[1]", "{}", &m), -EINVAL, "not a dict");
	is_int(b10t_index_merge(B10T_INDEX_PYDICT, "{'a': (1}", "{}", &m), -EINVAL, "unbalanced");
	is_int(b10t_index_merge(B10T_INDEX_PYDICT, "{'a: 1}", "{}", &m), -EINVAL, "open string");
	is_int(b10t_index_merge(B10T_INDEX_PYDICT, "{1}", "{}", &m), -EINVAL, "an item without a key");
	ok(b10t_index_kind("torch_compile_cache/ab/rank_0_0/backbone/vllm_compile_cache.py") ==
	   B10T_INDEX_PYDICT && b10t_index_kind("x/vllm_compile_cache.pyc") == B10T_INDEX_NONE,
	   "the index file is known by its name");
	ok(b10t_write_once("ab/k.best_config") && b10t_write_once("locks/x.lock") &&
	   !b10t_write_once("ab/k.py"), "write-once names");
}

int main(void)
{
	b10t_ctx_init(&ctx);
	ctx.log_level = B10T_LOG_ERROR;
	tap_tmpdir(top, sizeof(top), "layers");
	test_list();
	test_list_zstd();
	test_hostile_lists();
	test_delta();
	test_merge();
	tap_rmdir(top);
	return tap_done();
}
