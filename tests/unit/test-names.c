/* SPDX-License-Identifier: MIT */
/* Unit tests of lib/names.c: every name of the store and the local side,
 * built and parsed from its one table. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "../../lib/internal.h"
#include "../tap.h"

#define K "436c59e667a63097"

static enum b10t_name_kind store(const char *name, struct b10t_name *n)
{
	memset(n, 0, sizeof(*n));
	return b10t_name_parse(B10T_SIDE_STORE, name, n);
}

/* Each store name's kind, and the table's order where two rows match. */
static void test_kinds(void)
{
	static const struct { const char *name; enum b10t_name_kind kind; const char *why; } cases[] = {
		{ "cache_" K ".latest.tar.lz4", B10T_NAME_LATEST, "legacy lz4" },
		{ "cache_" K ".latest.tar.gz", B10T_NAME_LATEST, "the reference's gz" },
		{ "cache_" K ".latest.tar.zst", B10T_NAME_NONE, "no legacy zstd was ever written" },
		{ "cache_" K ".g1", B10T_NAME_CLAIM, "a claim" },
		{ "cache_" K ".g12", B10T_NAME_CLAIM, "a two-digit claim" },
		{ "cache_" K ".g0", B10T_NAME_NONE, "generation 0 is no claim" },
		{ "cache_" K ".g01", B10T_NAME_NONE, "a leading zero is no claim" },
		{ "cache_" K ".g", B10T_NAME_NONE, "no number" },
		{ "cache_" K ".g99999999999999999999999", B10T_NAME_NONE, "past 64 bits" },
		{ "cache_" K ".g1.host-12-00ff.tar.lz4", B10T_NAME_GEN, "a generation archive" },
		{ "cache_" K ".g1.host-12-00ff.tar.zst", B10T_NAME_GEN, "a zstd generation archive" },
		{ "cache_" K ".g1.Host.tar.lz4", B10T_NAME_NONE, "upper case is no <uniq>" },
		{ "cache_" K ".g1..tar.lz4", B10T_NAME_NONE, "an empty <uniq>" },
		{ "cache_" K ".b3", B10T_NAME_BASE_CLAIM, "a base claim" },
		{ "cache_" K ".b3.h-1-ab.tar.gz", B10T_NAME_BASE, "a base archive" },
		{ "cache_" K ".used", B10T_NAME_MARKER, "a use marker" },
		{ "cache_a.b.used", B10T_NAME_NONE, "a dot in the key: no marker" },
		{ "cache_" K ".incomplete.h.1.ff.tar.lz4", B10T_NAME_UPLOAD, "our upload" },
		{ "cache_" K ".incomplete.tar.gz", B10T_NAME_UPLOAD, "the reference's upload" },
		{ "cache_" K ".incomplete", B10T_NAME_UPLOAD, "a bare upload" },
		{ "cache_.incomplete.x", B10T_NAME_UPLOAD, "an upload without a key is still debris" },
		{ "cache_a.latest.tar.lz4.incomplete", B10T_NAME_UPLOAD, "any cache_*.incomplete*" },
		{ "cache_" K ".incomplete.h.1.ff.claim", B10T_NAME_CLAIM_TEMP, "a claim temp" },
		{ "cache_" K ".corrupt.1.ff.tar.lz4", B10T_NAME_CORRUPT, "a moved-aside archive" },
		{ "cache_ab.corrupt.1\nforged.tar.lz4", B10T_NAME_CORRUPT, "corrupt, whatever follows" },
		{ "cache_" K ".incomplete.x.lock", B10T_NAME_UPLOAD, "an upload before a lock" },
		{ "cache_" K ".latest.tar.lz4.lock", B10T_NAME_LOCK, "a lock before an archive" },
		{ "x.lock", B10T_NAME_LOCK, "a lock" },
		{ ".lock", B10T_NAME_NONE, "hidden: never ours" },
		{ ".nfs000123", B10T_NAME_NFS, "an NFS silly-rename" },
		{ ".b10t-doctor.h.1.ff", B10T_NAME_DOCTOR, "a probe dir" },
		{ ".b10t-stats", B10T_NAME_STATS_DIR, "the stats dir" },
		{ ".b10t-statsx", B10T_NAME_NONE, "not the stats dir" },
		{ ".cache_" K ".g1", B10T_NAME_NONE, "hidden" },
		{ "xcache_" K ".latest.tar.lz4", B10T_NAME_NONE, "wrong prefix" },
		{ "cache_" K ".latest.tar.lz4x", B10T_NAME_NONE, "trailing bytes" },
		{ "cache_" K ".g1.x-1.tar.lz4.tmp", B10T_NAME_NONE, "trailing bytes after an archive" },
	};
	struct b10t_name n;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		is_int(store(cases[i].name, &n), cases[i].kind, cases[i].why);
	store("cache_" K ".g42.host-12-00ff.tar.zst", &n);
	ok(!strcmp(n.key, K) && n.gen == 42 && n.format == B10T_FMT_ZSTD &&
	   !strcmp(n.uniq, "host-12-00ff") && n.key_off == 6 && n.key_len == 16,
	   "a generation archive's parts");
}

static void test_build(void)
{
	char buf[NAME_MAX + 1], tag[NAME_MAX + 1], other[NAME_MAX + 1];
	struct b10t_name n = { .kind = B10T_NAME_GEN, .key = K, .gen = 7, .format = B10T_FMT_LZ4 }, p;

	is_int(b10t_writer_tag(tag, sizeof(tag), B10T_TAG_HOST, '-'), 0, "a '-' writer tag builds");
	ok(strchr(tag, '.') == NULL, "it has no dot: %s", tag);
	snprintf(n.uniq, sizeof(n.uniq), "%s", tag);
	is_int(b10t_name_build(buf, sizeof(buf), &n), 0, "a generation archive name builds");
	is_int(store(buf, &p), B10T_NAME_GEN, "and parses back");
	ok(p.gen == 7 && !strcmp(p.uniq, tag) && p.format == B10T_FMT_LZ4, "with its parts");
	b10t_writer_tag(other, sizeof(other), B10T_TAG_HOST, '-');
	ok(strcmp(tag, other), "two writer tags differ");
	is_int(b10t_name_for_key(buf, sizeof(buf), B10T_NAME_CLAIM, K, 3, 0), 0, "a claim builds");
	is_str(buf, "cache_" K ".g3", "the claim's name");
	is_int(b10t_name_for_key(buf, sizeof(buf), B10T_NAME_CLAIM, K, 0, 0), -EINVAL,
	       "generation 0 has no claim");
	is_int(b10t_name_for_key(buf, sizeof(buf), B10T_NAME_MARKER, "a.b", 0, 0), -EINVAL,
	       "a bad key builds nothing");
	is_int(b10t_name_for_key(buf, sizeof(buf), B10T_NAME_LATEST, K, 0, B10T_FMT_GZ), 0,
	       "a legacy name builds");
	is_str(buf, "cache_" K ".latest.tar.gz", "the legacy gz name");
	is_int(b10t_name_for_key(buf, 10, B10T_NAME_MARKER, K, 0, 0), -ENAMETOOLONG,
	       "a small buffer is refused");
	n.kind = B10T_NAME_UPLOAD;
	is_int(b10t_name_build(buf, sizeof(buf), &n), -EINVAL, "an upload needs its tag");
	is_int(b10t_incomplete_name(buf, sizeof(buf), K), 0, "an upload name builds");
	is_int(store(buf, &p), B10T_NAME_UPLOAD, "and parses as an upload");
	ok(b10t_parse_incomplete_name(buf, NULL, 0), "b10t_parse_incomplete_name agrees");
	n.kind = B10T_NAME_CLAIM_TEMP;
	b10t_writer_tag(tag, sizeof(tag), B10T_TAG_HOST, '.');
	n.tag = tag;
	is_int(b10t_name_build(buf, sizeof(buf), &n), 0, "a claim temp builds");
	is_int(store(buf, &p), B10T_NAME_CLAIM_TEMP, "and parses as one");
	ok(!b10t_parse_incomplete_name(buf, NULL, 0), "a claim temp is no upload in flight");
	is_str(b10t_format_name(B10T_FMT_ZSTD), "zstd", "zstd's name");
	is_str(b10t_format_ext(B10T_FMT_ZSTD), ".tar.zst", "zstd's extension");
}

/* The local side: staging, clear, the marker, with and without a base. */
static void test_local(void)
{
	char buf[NAME_MAX + 1], pid[32];
	struct b10t_name n = { .base = "inductor" };

	snprintf(pid, sizeof(pid), ".%ld.", (long)getpid());
	is_int(b10t_local_name(buf, sizeof(buf), B10T_NAME_STAGING, "inductor"), 0,
	       "a sibling staging name builds");
	ok(!strncmp(buf, ".inductor.b10t-staging.ns", 25) && strstr(buf, pid), "its form: %s", buf);
	is_int(b10t_name_parse(B10T_SIDE_LOCAL, buf, &n), B10T_NAME_STAGING, "it parses back");
	ok(!strncmp(buf + n.rest_off, "ns", 2), "its tag part starts at rest_off");
	n.base = "other";
	is_int(b10t_name_parse(B10T_SIDE_LOCAL, buf, &n), B10T_NAME_NONE,
	       "another cache dir's sibling is not ours");
	is_int(b10t_local_name(buf, sizeof(buf), B10T_NAME_INSIDE, NULL), 0, "an inside name builds");
	ok(b10t_local_reserved(buf), "it is reserved");
	ok(b10t_local_reserved(B10T_INSTALL_MARKER), "the marker is reserved");
	ok(!b10t_local_reserved(".b10t-stagingx"), "a look-alike is not");
	is_int(b10t_local_name(buf, sizeof(buf), B10T_NAME_CLEAR, "inductor"), 0, "a clear name builds");
	n.base = "inductor";
	is_int(b10t_name_parse(B10T_SIDE_LOCAL, buf, &n), B10T_NAME_CLEAR, "it parses back");
	n.base = "b10t-staging";
	is_int(b10t_name_parse(B10T_SIDE_LOCAL, ".b10t-staging.b10t-staging.1.ff", &n),
	       B10T_NAME_STAGING, "a cache dir named b10t-staging has siblings, not inside names");
	is_int(b10t_name_parse(B10T_SIDE_STORE, ".b10t-staging.x", NULL), B10T_NAME_NONE,
	       "a local name is nothing in the store");
}

/* The names inside the stats dir: built and parsed on their own side. */
static void test_stats(void)
{
	struct b10t_name n = { .kind = B10T_NAME_STATS_LOG };
	char buf[NAME_MAX + 1];

	strcpy(n.uniq, "web-3");
	is_int(b10t_name_build(buf, sizeof(buf), &n), 0, "stats: a host file builds");
	is_str(buf, "web-3.log", "stats: <host>.log");
	is_int(b10t_name_parse(B10T_SIDE_STATS, "web-3.log", NULL), B10T_NAME_STATS_LOG,
	       "stats: it parses back");
	is_int(b10t_name_parse(B10T_SIDE_STATS, "Web.log", NULL), B10T_NAME_NONE,
	       "stats: a host in upper case is no host file");
	is_int(b10t_name_parse(B10T_SIDE_STATS, "a.b.log", NULL), B10T_NAME_NONE,
	       "stats: a dot in the host is no host file");
	is_int(b10t_name_parse(B10T_SIDE_STATS, "zero", NULL), B10T_NAME_STATS_ZERO,
	       "stats: the zero marker");
	is_int(b10t_name_parse(B10T_SIDE_STATS, ".tmp.h.1.ff", NULL), B10T_NAME_STATS_TEMP,
	       "stats: a temp");
	is_int(b10t_name_parse(B10T_SIDE_STORE, "web-3.log", NULL), B10T_NAME_NONE,
	       "stats: a host file is no store name");
	n = (struct b10t_name){ .kind = B10T_NAME_STATS_DIR };
	is_int(b10t_name_build(buf, sizeof(buf), &n), 0, "stats: the dir builds");
	is_str(buf, B10T_STATS_DIR, "stats: .b10t-stats");
}

/* The record: one writer, one reader, and what the reader refuses. */
static void test_record(void)
{
	struct b10t_stats_record r = { .time_ms = 1796233096836, .bytes = 939, .duration_us = 6728 },
		back;
	char line[512];
	int len;

	strcpy(r.host, "vm");
	strcpy(r.verb, "load");
	strcpy(r.outcome, "error");
	strcpy(r.kind, "EBADMSG");
	strcpy(r.key, K);
	len = b10t_stats_format(line, sizeof(line), &r);
	is_str(line, "b10t1 1796233096836 vm load error EBADMSG 939 6728 " K "\n", "record: its line");
	ok(len > 0 && line[len - 1] == '\n', "record: the length ends at its newline");
	is_int(b10t_stats_parse(line, (size_t)len - 1, &back), 0, "record: it parses back");
	ok(back.time_ms == r.time_ms && !strcmp(back.host, r.host) && !strcmp(back.verb, r.verb) &&
	   !strcmp(back.outcome, r.outcome) && !strcmp(back.kind, r.kind) && !strcmp(back.key, r.key) &&
	   back.bytes == r.bytes && back.duration_us == r.duration_us, "record: the same fields");
	strcpy(r.kind, "");
	strcpy(r.outcome, "hit");
	len = b10t_stats_format(line, sizeof(line), &r);
	ok(strstr(line, " hit - 939 ") != NULL, "record: no kind is '-'");
	is_int(b10t_stats_parse(line, (size_t)len - 1, &back), 0, "record: '-' parses");
	is_str(back.kind, "", "record: '-' is no kind");
	strcpy(r.key, "a.b");
	is_int(b10t_stats_format(line, sizeof(line), &r), -EINVAL, "record: a key with a dot is refused");
	strcpy(r.key, K);
	strcpy(r.verb, "list");
	is_int(b10t_stats_format(line, sizeof(line), &r), -EINVAL, "record: only load, save, update");
	{
		static const char *const bad[] = {
			"", "b10t1", "b10t2 1 vm load hit - 1 1 " K,
			"b10t1 1 vm load hit - 1 1 " K " extra",
			"b10t1 1 vm load hit - 1 1 " K " ",
			"b10t1 -1 vm load hit - 1 1 " K, "b10t1 1 VM load hit - 1 1 " K,
			"b10t1 1 vm load won - 1 1 " K, "b10t1 1 vm load hit - x 1 " K,
			"b10t1 1 vm load hit a.b 1 1 " K, "b10t1 1 vm load hit - 1 1 ",
			"b10t1  1 vm load hit - 1 1 " K, "b10t1 99999999999999999999 vm load hit - 1 1 " K,
		};

		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
			is_int(b10t_stats_parse(bad[i], strlen(bad[i]), &back), -EINVAL,
			       "record: refused: not exactly nine fields of their form");
	}
	{
		char kb[16];

		is_str(b10t_stats_error_kind(ENOSPC, kb, sizeof(kb)), "ENOSPC", "kind: ENOSPC");
		is_str(b10t_stats_error_kind(4095, kb, sizeof(kb)), "E4095", "kind: an unnamed errno");
	}
}

int main(void)
{
	test_kinds();
	test_build();
	test_local();
	test_stats();
	test_record();
	return tap_done();
}
