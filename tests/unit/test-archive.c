/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the archive layer: pack/unpack round trip, the manifest,
 * caps, hostile members (each archive built here with libarchive's writer,
 * then lz4-framed by our own writer), corrupt input, the reference's
 * .tar.gz, and b10t_read_manifest.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <sys/sysmacros.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <archive.h>
#include <archive_entry.h>

#include "archive-int.h"
#include "b10t-int.h"
#include "../tap.h"
#include "fixture.h"

static struct b10t_ctx ctx;
static int warnings;

static void on_log(void *arg, enum b10t_log_level level, const char *msg)
{
	if (level == B10T_LOG_WARN)
		warnings++;
}

static int progress_calls, progress_done;
static void on_progress(void *arg, const struct b10t_progress *p)
{
	progress_calls++;
	progress_done += p->done;
}

static void put(const char *p, const void *data, size_t len, mode_t mode, time_t mtime)
{
	int fd = open(p, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	struct timespec ts[2] = { { mtime, 0 }, { mtime, 0 } };

	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		printf("Bail out! cannot write %s\n", p);
		exit(1);
	}
	fchmod(fd, mode);
	futimens(fd, ts);
	close(fd);
}

static int count_entries(const char *dir)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	int n = 0;

	if (!d)
		return -1;
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			n++;
	closedir(d);
	return n;
}

/* Compare two trees: types, modes, sizes, bytes, link targets, mtimes (s). */
static int same_tree(const char *a, const char *b, char *why, size_t size)
{
	static const char list[] =
		"find . -printf '%y|%p|%m|%T@|%s|%l\\n' | awk -F'|' -v OFS='|' "
		"'$2 != \".\" { sub(/\\.[0-9]*$/, \"\", $4); if ($1 == \"d\") $5 = \"\"; print }' | sort";
	char cmd[4 * PATH_MAX];
	FILE *f;
	int r;

	snprintf(cmd, sizeof(cmd), "cd '%s' && %s > '%s.list'", a, list, a);
	sh("%s", cmd);
	snprintf(cmd, sizeof(cmd), "cd '%s' && %s > '%s.list'", b, list, b);
	sh("%s", cmd);
	snprintf(cmd, sizeof(cmd), "diff '%s.list' '%s.list' 2>&1 | head -5; diff -r '%s' '%s' 2>&1 | head -5",
		 a, b, a, b);
	f = popen(cmd, "r");
	why[0] = '\0';
	if (!f)
		return 0;
	why[fread(why, 1, size - 1, f)] = '\0';
	r = pclose(f) == 0 && !why[0];
	return r;
}

static size_t fill_random(char *buf, size_t n, unsigned seed)
{
	for (size_t i = 0; i < n; i++) {
		seed = seed * 1103515245u + 12345u;
		buf[i] = (char)(seed >> 16);
	}
	return n;
}

static void make_tree(const char *src_arg)
{
	char src[PATH_MAX];	/* path() reuses its buffers */
	static char big[3 << 20];
	const char *text = "torch compiled kernel cache entry\n";

	snprintf(src, sizeof(src), "%s", src_arg);
	sh("mkdir -p '%s/a/b/c' '%s/empty-dir' '%s/ro-dir/inner' '%s/.b10t'", src, src, src, src);
	put(path("src/a/b/c/kernel.py"), text, strlen(text), 0644, 1700000000);
	put(path("src/a/run.sh"), "#!/bin/sh\n", 10, 0755, 1700000100);
	if (link(path("src/a/run.sh"), path("src/a/run-hardlink.sh")))	/* stored twice */
		exit(1);
	put(path("src/a/empty"), "", 0, 0600, 1700000200);
	put(path("src/readonly"), "ro\n", 3, 0444, 1700000300);
	put(path("src/ro-dir/inner/f"), "x", 1, 0644, 1700000400);
	/* Not ASCII: must survive whatever the locale (tests run in "C"). */
	put(path("src/ro-dir/inner/d\xc3\xa9j\xc3\xa0-vu \xe2\x9c\x93.py"), "u", 1, 0644, 1700000450);
	for (size_t i = 0; i < sizeof(big); i += 4096) {	/* half random, half text */
		if ((i / 4096) % 2)
			fill_random(big + i, 4096, (unsigned)i);
		else
			for (size_t j = 0; j < 4096; j++)
				big[i + j] = text[j % strlen(text)];
	}
	put(path("src/a/b/big.bin"), big, sizeof(big), 0644, 1700000500);
	put(path("src/.b10t/reserved"), "no", 2, 0644, 1700000600);
	if (symlink("b/c/kernel.py", path("src/a/link-down")) ||
	    symlink("../../run.sh", path("src/a/b/c/link-up")) ||
	    symlink("empty-dir", path("src/link-dir")))
		exit(1);
	chmod(path("src/ro-dir"), 0555);
	sh("touch -h -d @1700001000 '%s/a/b/c' '%s/empty-dir'", src, src);
}

/* Things pack must leave out (and warn about). */
static void add_unpackable(const char *src_arg)
{
	char src[PATH_MAX];

	snprintf(src, sizeof(src), "%s", src_arg);
	struct sockaddr_un sa = { .sun_family = AF_UNIX };
	int fd = socket(AF_UNIX, SOCK_STREAM, 0);

	sh("mkfifo '%s/fifo'", src);
	/* A socket cannot be put in a tar at all (libarchive refuses it). */
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%.100s/sock", src);
	if (fd < 0 || bind(fd, (struct sockaddr *)&sa, sizeof(sa)) < 0)
		printf("# cannot make a socket in %s\n", src);
	close(fd);
	if (symlink("/etc/passwd", path("src/abs-link")) ||
	    symlink("../../outside", path("src/a/escape-link")))
		exit(1);
	/* Adding them moved the dirs' mtimes: put back the ones `expect` has. */
	sh("touch -r '%s/../expect' '%s' && touch -r '%s/../expect/a' '%s/a'", src, src, src, src);
}

static int pack_to(const char *src, const char *out, const char *manifest,
		   const struct b10t_limits *lim, struct b10t_pack_stats *st)
{
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), r;

	r = b10t_pack(&ctx, src, fd, manifest, lim, st);
	close(fd);
	return r;
}

static int unpack_from(const char *archive, enum b10t_format fmt, const char *dst,
		       const struct b10t_limits *lim, char **manifest)
{
	int fd = open(archive, O_RDONLY), r;

	r = b10t_unpack(&ctx, fd, fmt, dst, lim, NULL, manifest);
	close(fd);
	return r;
}

static void test_round_trip(void)
{
	struct b10t_pack_stats st = { 0 }, ust = { 0 };
	struct b10t_limits lim;
	char why[4096], *m = NULL;
	int fd;

	b10t_limits_default(&lim);
	make_tree(path("src"));
	sh("cp -a '%s' '%s'", path("src"), path("expect"));
	sh("rm -rf '%s/.b10t'", path("expect"));
	add_unpackable(path("src"));

	warnings = progress_calls = progress_done = 0;
	is_int(pack_to(path("src"), path("a.tar.lz4"), "{\"key\":\"k1\"}", &lim, &st), 0,
	       "pack succeeds");
	is_int(warnings, 5, "pack warns about the FIFO, the socket, the two outside symlinks, .b10t");
	is_int(st.skipped, 5, "... and counts them as skipped");
	is_int(progress_done, 1, "pack reports progress done once");
	is_int(st.files, 11, "pack counts files: 8 files, 3 symlinks");
	is_int(st.dirs, 6, "and the 6 dirs apart");
	is_int(st.bytes, (3 << 20) + 34 + 10 + 10 + 3 + 1 + 1, "pack counts file bytes");
	struct stat sb;
	stat(path("a.tar.lz4"), &sb);
	is_int(st.archive_bytes, sb.st_size, "archive_bytes is the file size");

	mkdir(path("dst"), 0700);
	progress_done = 0;
	fd = open(path("a.tar.lz4"), O_RDONLY);
	is_int(b10t_unpack(&ctx, fd, B10T_FMT_LZ4, path("dst"), &lim, &ust, &m), 0,
	       "unpack succeeds");
	close(fd);
	is_str(m, "{\"key\":\"k1\"}", "unpack returns the manifest");
	free(m);
	is_int(progress_done, 1, "unpack reports progress done once");
	is_int(ust.files, st.files, "unpack counts the same files");
	is_int(ust.dirs, st.dirs, "and dirs");
	is_int(ust.bytes, st.bytes, "unpack counts the same bytes");
	ok(access(path("dst/.b10t"), F_OK) < 0, "the manifest is not extracted");
	ok(same_tree(path("expect"), path("dst"), why, sizeof(why)),
	   "tree is identical: bytes, modes, link targets, mtimes");
	if (why[0])
		printf("# %s\n", why);

	/* The tar inside: manifest first; and no bigger than `lz4 -1`. */
	sh("lz4 -dc '%s' > '%s'", path("a.tar.lz4"), path("a.tar"));
	sh("tar -tf '%s' 2>/dev/null | head -1 > '%s'", path("a.tar"), path("first"));
	FILE *f = fopen(path("first"), "r");
	char line[256] = "";
	if (f) {
		if (!fgets(line, sizeof(line), f))
			line[0] = '\0';
		fclose(f);
	}
	is_str(line, ".b10t/manifest.json\n", "the manifest is the first member (lz4 CLI reads us)");
	/*
	 * Block checksums (asked for) cost 4 bytes a block and the manifest's
	 * own block up to about a hundred more (its header and a block that
	 * cannot match the tar after it), which `lz4 -1` does not pay; linked
	 * blocks win that back on real trees.  Allow that overhead here.
	 */
	sh("lz4 -1 -c '%s' > '%s'", path("a.tar"), path("ref.lz4"));
	struct stat ref;
	stat(path("ref.lz4"), &ref);
	/* The entry list after the frame is its own cost, checked below. */
	long long list_len = 0;
	int lfd = open(path("a.tar.lz4"), O_RDONLY);
	unsigned char tail[16];
	if (lfd >= 0 && pread(lfd, tail, 16, sb.st_size - 16) == 16 && !memcmp(tail + 8, "B10TEND1", 8))
		for (int i = 7; i >= 0; i--)
			list_len = list_len << 8 | tail[i];
	if (lfd >= 0)
		close(lfd);
	ok(list_len > 0 && list_len < sb.st_size / 4, "the entry list follows the frame (%lld bytes)",
	   list_len);
	ok(sb.st_size - list_len <= ref.st_size + 96 + 4 * (ref.st_size / (4 << 20) + 2),
	   "archive (%lld) is no larger than lz4 -1 (%lld) but for block checksums",
	   (long long)(sb.st_size - list_len), (long long)ref.st_size);

	m = NULL;
	is_int(b10t_read_manifest(&ctx, path("a.tar.lz4"), B10T_FMT_LZ4, &m), 0,
	       "read_manifest finds the manifest");
	is_str(m, "{\"key\":\"k1\"}", "read_manifest returns it");
	free(m);
	sh("chmod -R u+w '%s' '%s' '%s'", path("dst"), path("src"), path("expect"));
}

static void test_caps_and_write_errors(void)
{
	struct b10t_limits lim;
	struct b10t_pack_stats st;
	int fd;

	b10t_limits_default(&lim);
	lim.max_archive_bytes = 1 << 20;
	is_int(pack_to(path("src"), path("capped.tar.lz4"), "{}", &lim, &st), -EFBIG,
	       "pack stops at max_archive_bytes");
	ok(strstr(ctx.err, "1 MB"), "message names the cap: %s", ctx.err);

	b10t_limits_default(&lim);
	fd = open("/dev/full", O_WRONLY);
	if (fd >= 0) {
		is_int(b10t_pack(&ctx, path("src"), fd, "{}", &lim, &st), -ENOSPC,
		       "pack to a full disk fails with ENOSPC");
		ok(strstr(ctx.err, "No space left on device"), "message says so: %s", ctx.err);
		close(fd);
	}
}

/* ---- hostile archives ------------------------------------------------------ */

struct member {
	const char *name;
	mode_t type;		/* AE_IF*; 0 = regular */
	mode_t perm;		/* 0 = 0644 */
	const char *data;	/* file contents */
	const char *link;	/* symlink target */
	const char *hardlink;
	int64_t size;		/* declared size when data is NULL */
};

/* A tar in memory from `m`, lz4-framed by our writer into the file `out`. */
static int make_archive(const char *out, const struct member *m, size_t n)
{
	static char tar[16 << 20];
	size_t used = 0;
	struct archive *a = archive_write_new();
	struct archive_entry *e = archive_entry_new();
	struct b10t_lz4w *w;
	int fd, r = 0;

	archive_write_set_format_pax_restricted(a);
	archive_write_open_memory(a, tar, sizeof(tar), &used);
	for (size_t i = 0; i < n; i++) {
		archive_entry_clear(e);
		archive_entry_copy_pathname(e, m[i].name);
		archive_entry_set_filetype(e, m[i].type ? m[i].type : AE_IFREG);
		archive_entry_set_perm(e, m[i].perm ? m[i].perm : 0644);
		archive_entry_set_mtime(e, 1700000000, 0);
		if (m[i].link)
			archive_entry_copy_symlink(e, m[i].link);
		if (m[i].hardlink)
			archive_entry_copy_hardlink(e, m[i].hardlink);
		if (m[i].type == AE_IFCHR || m[i].type == AE_IFBLK)
			archive_entry_set_rdev(e, makedev(1, 3));
		archive_entry_set_size(e, m[i].data ? (int64_t)strlen(m[i].data) : m[i].size);
		if (archive_write_header(a, e) < ARCHIVE_WARN) {
			printf("# libarchive cannot write '%s': %s\n", m[i].name,
			       archive_error_string(a));
			r = -1;
			continue;
		}
		if (m[i].data)
			archive_write_data(a, m[i].data, strlen(m[i].data));
		else
			for (int64_t k = 0; k < m[i].size; k += 512)
				archive_write_data(a, tar + sizeof(tar) - 512,
						   m[i].size - k < 512 ? (size_t)(m[i].size - k) : 512);
	}
	archive_write_close(a);
	archive_write_free(a);
	archive_entry_free(e);
	fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644);
	if (b10t_lz4w_new(&w, fd, 0, false) || b10t_lz4w_write(w, tar, used) ||
	    b10t_lz4w_finish(w))
		r = -1;
	b10t_lz4w_free(w);
	close(fd);
	return r;
}

/* The tables below leave trailing fields out on purpose: they read better. */
#pragma GCC diagnostic ignored "-Wmissing-field-initializers"

struct hostile {
	const char *what;
	struct member m[6];
	int want;
	const char *named;	/* must appear in the message */
	uint64_t max_entries, max_bytes;
};

static const struct hostile hostile[] = {
	{ "dot-dot", { { "../x", .data = "x" } }, -EPERM, "'../x'" },
	{ "dot-dot into the sentinel", { { "../sentinel/x", .data = "x" } }, -EPERM,
	  "'../sentinel/x'" },
	{ "absolute path", { { "/etc/x", .data = "x" } }, -EPERM, "'/etc/x'" },
	{ "dot-dot after a dir", { { "a/", AE_IFDIR, 0755 }, { "a/../../x", .data = "x" } },
	  -EPERM, "'a/../../x'" },
	{ "hardlink", { { "a", .data = "x" }, { "b", .hardlink = "a" } }, -EPERM, "'b'" },
	{ "hardlink out", { { "h", .hardlink = "/etc/passwd" } }, -EPERM, "'h'" },
	{ "char device", { { "dev", AE_IFCHR } }, -EPERM, "'dev'" },
	{ "block device", { { "blk", AE_IFBLK } }, -EPERM, "'blk'" },
	{ "fifo", { { "fifo", AE_IFIFO } }, -EPERM, "'fifo'" },
	{ "setuid", { { "suid", 0, 04755, "x" } }, -EPERM, "'suid'" },
	{ "setgid", { { "sgid", 0, 02755, "x" } }, -EPERM, "'sgid'" },
	{ "setgid dir", { { "sgdir", AE_IFDIR, 02755 } }, -EPERM, "'sgdir/'" },
	{ "symlink to /etc", { { "l", AE_IFLNK, 0777, .link = "/etc" } }, -EPERM, "'l'" },
	{ "symlink up and out", { { "d/", AE_IFDIR, 0755 },
				  { "d/l", AE_IFLNK, 0777, .link = "../.." } }, -EPERM, "'d/l'" },
	{ "symlink via a dir and up", { { "d/", AE_IFDIR, 0755 },
				  { "l", AE_IFLNK, 0777, .link = "d/../.." } }, -EPERM, "'l'" },
	{ "file through a symlinked dir", { { "d/", AE_IFDIR, 0755 },
					    { "link", AE_IFLNK, 0777, .link = "d" },
					    { "link/f", .data = "x" } }, -EPERM, "'link/f'" },
	{ "duplicate file", { { "a", .data = "x" }, { "a", .data = "y" } }, -EPERM, "'a'" },
	{ "duplicate dir", { { "d/", AE_IFDIR, 0755 }, { "./d", AE_IFDIR, 0755 } }, -EPERM,
	  "'./d/'" },
	{ "duplicate of a dir made for an earlier member",
	  { { "d/f", .data = "x" }, { "d/", AE_IFDIR, 0755 }, { "d/", AE_IFDIR, 0755 } },
	  -EPERM, "'d/'" },
	{ "file over a dir", { { "d/", AE_IFDIR, 0755 }, { "d", .data = "x" } }, -EPERM, "'d'" },
	{ "newline in name", { { "a\nb", .data = "x" } }, -EPERM, "'a\\nb'" },
	{ "control in link", { { "l", AE_IFLNK, 0777, .link = "a\001b" } }, -EPERM, "'l'" },
	{ "too many entries", { { "a", .data = "" }, { "b", .data = "" }, { "c", .data = "" },
				{ "d", .data = "" } }, -EFBIG, "3 entries", 3 },
	{ "too many bytes", { { "a", .data = "12345" }, { "b", .size = 2000 } }, -EFBIG,
	  "1000 bytes", 0, 1000 },
};

static void test_hostile(void)
{
	for (size_t i = 0; i < sizeof(hostile) / sizeof(hostile[0]); i++) {
		const struct hostile *h = &hostile[i];
		struct b10t_limits lim;
		size_t n = 0;
		int r;

		while (n < 6 && h->m[n].name)
			n++;
		sh("rm -rf '%s'; mkdir -p '%s/dst' '%s/sentinel'", path("box"), path("box"),
		   path("box"));
		if (make_archive(path("hostile.tar.lz4"), h->m, n) < 0) {
			ok(0, "%s: archive built", h->what);
			continue;
		}
		b10t_limits_default(&lim);
		if (h->max_entries)
			lim.max_entries = h->max_entries;
		if (h->max_bytes)
			lim.max_bytes = h->max_bytes;
		{
			struct b10t_pack_stats hs = { 0 };
			int fd = open(path("hostile.tar.lz4"), O_RDONLY);

			r = b10t_unpack(&ctx, fd, B10T_FMT_LZ4, path("box/dst"), &lim, &hs, NULL);
			close(fd);
			ok(hs.archive_fault, "%s: the archive's fault (archive_fault)", h->what);
		}
		is_int(r, h->want, h->what);
		if (!ok(strstr(ctx.err, h->named), "%s: message names the member", h->what))
			printf("#   message: %s\n", ctx.err);
		ok(count_entries(path("box")) == 2 && count_entries(path("box/sentinel")) == 0,
		   "%s: nothing created outside dst", h->what);
	}
	ok(access("/etc/x", F_OK) < 0, "no /etc/x");
	/* Members that are fine: the root, "./" prefixes, a file before its dir. */
	{
		const struct member m[] = {
			{ "./", AE_IFDIR, 0755 }, { "./a/b/f", .data = "hi" },
			{ "./a/", AE_IFDIR, 0700 }, { "l", AE_IFLNK, 0777, .link = "a/b/f" },
			{ "a/up", AE_IFLNK, 0777, .link = "../l" },
		};
		sh("rm -rf '%s'; mkdir -p '%s/dst'", path("box"), path("box"));
		make_archive(path("ok.tar.lz4"), m, 5);
		is_int(unpack_from(path("ok.tar.lz4"), B10T_FMT_LZ4, path("box/dst"), NULL, NULL), 0,
		       "root member, ./ prefix, file before its dir, inner links: accepted");
		struct stat st;
		ok(!stat(path("box/dst/a"), &st) && (st.st_mode & 0777) == 0700,
		   "a dir listed after its child gets its own mode");
		ok(!stat(path("box/dst/a/b"), &st) && (st.st_mode & 0777) == 0755,
		   "a dir never listed is made 0755");
		char t[64] = "";
		ok(readlink(path("box/dst/a/up"), t, sizeof(t)) == 4 && !memcmp(t, "../l", 4),
		   "relative link kept");
	}
}

/* is_int with a printf-style name. */
#define is_intf(got, want, ...) do { \
	long long g_ = (got), w_ = (want); \
	if (!ok(g_ == w_, __VA_ARGS__)) \
		printf("#   got %lld, want %lld\n", g_, w_); \
} while (0)

/* Unpack `archive` into a fresh box/dst; stats into *st. */
static int unpack_box(const char *archive, const struct b10t_limits *lim,
		      struct b10t_pack_stats *st)
{
	int fd, r;

	sh("rm -rf '%s'; mkdir -p '%s/dst'", path("box"), path("box"));
	memset(st, 0, sizeof(*st));
	fd = open(archive, O_RDONLY);
	r = b10t_unpack(&ctx, fd, B10T_FMT_LZ4, path("box/dst"), lim, st, NULL);
	close(fd);
	return r;
}

static mode_t mode_of(const char *p)
{
	struct stat st;

	return lstat(p, &st) < 0 ? (mode_t)-1 : st.st_mode & 07777;
}

/* Modes: the member's, less the umask; executable bits kept. */
static void test_modes(void)
{
	static const struct member m[] = {
		{ "f666", 0, 0666, "x" }, { "x777", 0, 0777, "x" }, { "ro", 0, 0444, "x" },
		{ "d777/", AE_IFDIR, 0777 }, { "d777/f", 0, 0666, "x" },
		{ "imp/f", 0, 0644, "x" }, { "late/g", 0, 0644, "x" },
		{ "late/", AE_IFDIR, 0775 },
	};
	static const struct { mode_t mask; mode_t want[6]; } c[] = {
		{ 022, { 0644, 0755, 0444, 0755, 0755, 0755 } },
		{ 077, { 0600, 0700, 0400, 0700, 0700, 0700 } },
		{ 002, { 0664, 0775, 0444, 0775, 0755, 0775 } },
	};
	struct b10t_pack_stats st;
	mode_t old;

	make_archive(path("modes.tar.lz4"), m, sizeof(m) / sizeof(m[0]));
	for (size_t i = 0; i < sizeof(c) / sizeof(c[0]); i++) {
		const mode_t *w = c[i].want;

		old = umask(c[i].mask);
		is_intf(unpack_box(path("modes.tar.lz4"), NULL, &st), 0, "umask %03o: unpack",
		       c[i].mask);
		umask(old);
		is_intf(mode_of(path("box/dst/f666")), w[0], "umask %03o: a 0666 file", c[i].mask);
		is_intf(mode_of(path("box/dst/x777")), w[1], "umask %03o: a 0777 file keeps x",
		       c[i].mask);
		is_intf(mode_of(path("box/dst/ro")), w[2], "umask %03o: a 0444 file", c[i].mask);
		is_intf(mode_of(path("box/dst/d777")), w[3], "umask %03o: a 0777 dir", c[i].mask);
		is_intf(mode_of(path("box/dst/imp")), w[4], "umask %03o: a dir never listed",
		       c[i].mask);
		is_intf(mode_of(path("box/dst/late")), w[5], "umask %03o: a 0775 dir listed late",
		       c[i].mask);
	}
}

/*
 * Dirs that shut their owner out (no u+r or no u+x), listed after their
 * subdirs: as a non-root owner the modes must still all be applied.
 */
static void test_closed_dirs(void)
{
	static const struct member m[] = {
		{ "a/b/", AE_IFDIR, 0555 }, { "a/b/f", 0, 0644, "x" }, { "a/", AE_IFDIR, 0200 },
		{ "x/y/z/", AE_IFDIR, 0400 }, { "x/y/", AE_IFDIR, 0300 }, { "x/", AE_IFDIR, 0100 },
	};
	char dst[] = "/tmp/b10t-closed.XXXXXX";
	int fd, status = -1;
	pid_t pid;

	if (geteuid() != 0) {
		ok(1, "# SKIP closed dirs: needs root to run the unpack as another user");
		return;
	}
	make_archive(path("closed.tar.lz4"), m, sizeof(m) / sizeof(m[0]));
	if (!mkdtemp(dst) || chown(dst, 65534, 65534) < 0) {
		ok(0, "closed dirs: a destination for uid 65534");
		return;
	}
	fd = open(path("closed.tar.lz4"), O_RDONLY);
	pid = fork();
	if (pid == 0) {
		mode_t old = umask(022);

		(void)old;
		if (setgroups(0, NULL) < 0 || setresgid(65534, 65534, 65534) < 0 ||
		    setresuid(65534, 65534, 65534) < 0)
			_exit(99);
		_exit(b10t_unpack(&ctx, fd, B10T_FMT_LZ4, dst, NULL, NULL, NULL) == 0 ? 0 : 1);
	}
	waitpid(pid, &status, 0);
	close(fd);
	if (!ok(WIFEXITED(status) && WEXITSTATUS(status) == 0,
		"closed dirs listed after their subdirs: extracted as uid 65534 (status %d)", status))
		return;
	char p[PATH_MAX];
	snprintf(p, sizeof(p), "%s/a", dst);
	is_intf(mode_of(p), 0200, "closed dirs: a is 0200");
	snprintf(p, sizeof(p), "%s/a/b", dst);
	is_intf(mode_of(p), 0555, "closed dirs: a/b is 0555");
	snprintf(p, sizeof(p), "%s/x/y/z", dst);
	is_intf(mode_of(p), 0400, "closed dirs: x/y/z is 0400");
	snprintf(p, sizeof(p), "%s/x/y", dst);
	is_intf(mode_of(p), 0300, "closed dirs: x/y is 0300");
	snprintf(p, sizeof(p), "%s/x", dst);
	is_intf(mode_of(p), 0100, "closed dirs: x is 0100");
	sh("rm -rf '%s'", dst);
}

/* Sparse members in every tar dialect, and data past the declared size. */
static void test_sparse(void)
{
	const char *gen = getenv("SRCDIR");
	char list[512] = "", *save = NULL;
	struct b10t_limits lim;
	struct b10t_pack_stats st;
	FILE *f;

	if (!gen) {
		ok(0, "SRCDIR is set (the hostile tar generator)");
		return;
	}
	b10t_limits_default(&lim);
	lim.max_bytes = 1 << 20;
	sh("python3 '%s/hostile-tar.py' --list > '%s'", gen, path("cases"));
	f = fopen(path("cases"), "r");
	if (f) {
		list[fread(list, 1, sizeof(list) - 1, f)] = '\0';
		fclose(f);
	}
	int ncases = 0;

	for (char *c = strtok_r(list, "\n", &save); c; c = strtok_r(NULL, "\n", &save)) {
		struct stat sf;
		int r;

		ncases++;

		sh("python3 '%s/hostile-tar.py' %s '%s' && lz4 -q -f '%s' '%s'", gen, c,
		   path("sparse.tar"), path("sparse.tar"), path("sparse.tar.lz4"));
		r = unpack_box(path("sparse.tar.lz4"), &lim, &st);
		is_intf(r, -EPERM, "%s: refused", c);
		ok(strstr(ctx.err, "member 'f' ") != NULL, "%s: message names the member: %s", c,
		   ctx.err);
		ok(st.archive_fault, "%s: the archive's fault", c);
		ok(lstat(path("box/dst/f"), &sf) < 0 ||
		   (sf.st_size <= (1 << 20) && sf.st_blocks * 512 <= (2 << 20)),
		   "%s: nothing past the 1 MiB cap on disk", c);
		ok(st.bytes <= (1 << 20), "%s: bytes written (%llu) within the cap", c,
		   (unsigned long long)st.bytes);
	}
	ok(ncases >= 6, "the generator made its 6 sparse and overlong cases (%d)", ncases);
}

/* A member path of `depth` components of `len` bytes each, then "/f". */
static char *deep_name(int depth, int len)
{
	static char name[64 << 10];
	size_t o = 0;

	for (int i = 0; i < depth; i++) {
		memset(name + o, 'a', (size_t)len);
		o += (size_t)len;
		name[o++] = '/';
	}
	name[o++] = 'f';
	name[o] = '\0';
	return name;
}

/* One limit of depth, path length and name length; long link targets. */
static void test_limits(void)
{
	struct b10t_pack_stats st;
	struct member m[2] = { { NULL, 0, 0, "x" } };
	char target[8192];
	int r;

	m[0].name = deep_name(255, 1);	/* 256 components with the file */
	make_archive(path("deep.tar.lz4"), m, 1);
	is_intf(unpack_box(path("deep.tar.lz4"), NULL, &st), 0, "256 levels: extracted");
	ok(access(path("box/dst/%s", deep_name(255, 1)), F_OK) == 0, "256 levels: the file is there");
	sh("chmod -R u+w '%s'", path("box"));

	m[0].name = deep_name(256, 1);
	make_archive(path("deep.tar.lz4"), m, 1);
	is_intf(unpack_box(path("deep.tar.lz4"), NULL, &st), -EPERM, "257 levels: refused");
	ok(strstr(ctx.err, "is nested too deep (more than 256 levels)") != NULL,
	   "257 levels: message says why: %.80s", ctx.err);
	ok(st.archive_fault, "257 levels: the archive's fault");
	is_intf(count_entries(path("box/dst")), 0, "257 levels: nothing made");

	m[0].name = deep_name(2000, 1);
	make_archive(path("deep.tar.lz4"), m, 1);
	is_intf(unpack_box(path("deep.tar.lz4"), NULL, &st), -EPERM, "2000 levels: refused");

	m[0].name = deep_name(20, 250);	/* 5021 bytes */
	make_archive(path("long.tar.lz4"), m, 1);
	is_intf(unpack_box(path("long.tar.lz4"), NULL, &st), -EPERM, "a 5021-byte path: refused");
	ok(strstr(ctx.err, "has a path longer than 4095 bytes") != NULL,
	   "a 5021-byte path: message says why: %.60s...", ctx.err);
	ok(st.archive_fault, "a 5021-byte path: the archive's fault");

	m[0].name = deep_name(1, 256);
	make_archive(path("long.tar.lz4"), m, 1);
	is_intf(unpack_box(path("long.tar.lz4"), NULL, &st), -EPERM, "a 256-byte name: refused");
	ok(strstr(ctx.err, "has a name longer than 255 bytes") != NULL,
	   "a 256-byte name: message says why");

	/* 18 components of 250 bytes: past PATH_MAX, ENAMETOOLONG from symlinkat. */
	snprintf(target, sizeof(target), "%s", deep_name(17, 250));
	const struct member l[] = { { "l", AE_IFLNK, 0777, .link = target } };
	make_archive(path("link.tar.lz4"), l, 1);
	r = unpack_box(path("link.tar.lz4"), NULL, &st);
	is_intf(r, -EPERM, "a %zu-byte link target: refused", strlen(target));
	ok(strstr(ctx.err, "member 'l' is a symlink with a target longer than 4095 bytes") != NULL,
	   "a long link target: message names the member: %s", ctx.err);
	ok(st.archive_fault, "a long link target: the archive's fault");
}

/*
 * The cost of a member does not grow with its depth: a tree 200 deep in
 * the order tar writes it opens about one dir per member; members jumping
 * in turn between two deep branches hit the walk budget.
 */
static void test_walk(void)
{
	static struct member m[1200];
	static char names[1200][1024];
	struct b10t_pack_stats st;
	char prefix[600];
	size_t n = 0;

	snprintf(prefix, sizeof(prefix), "%s", deep_name(198, 1));
	prefix[strlen(prefix) - 1] = '\0';	/* "a/a/.../a/" */
	for (int i = 0; i < 500; i++) {
		snprintf(names[n], sizeof(names[n]), "%sx%d/", prefix, i);
		m[n] = (struct member){ names[n], AE_IFDIR, 0755 };
		n++;
		snprintf(names[n], sizeof(names[n]), "%sx%d/f", prefix, i);
		m[n] = (struct member){ names[n], 0, 0644, "x" };
		n++;
	}
	make_archive(path("walk.tar.lz4"), m, n);
	is_intf(unpack_box(path("walk.tar.lz4"), NULL, &st), 0,
	       "1000 members 200 deep, in tar order: extracted");
	is_intf(st.files + st.dirs, 1000, "... all of them");
	ok(access(path("box/dst/%sx499/f", prefix), F_OK) == 0, "... the last file is there");

	n = 0;
	for (int i = 0; i < 1200; i++) {
		snprintf(names[n], sizeof(names[n]), "%c%s%d", i % 2 ? 'b' : 'c', prefix + 1, i);
		m[n] = (struct member){ names[n], 0, 0644, "x" };
		n++;
	}
	make_archive(path("walk.tar.lz4"), m, n);
	is_intf(unpack_box(path("walk.tar.lz4"), NULL, &st), -EFBIG,
	       "members jumping between two branches 200 deep: refused");
	ok(strstr(ctx.err, "jumps between deep directories") != NULL, "... message says why: %s",
	   ctx.err);
	ok(st.archive_fault, "... the archive's fault");
}

/* A local failure is not the archive's: a signal (the cancel flag). */
static void test_local_fault(void)
{
	static const struct member m[] = { { "a", 0, 0644, "x" }, { "b", 0, 0644, "y" } };
	volatile sig_atomic_t cancel = 1;
	struct b10t_pack_stats st;

	make_archive(path("local.tar.lz4"), m, 2);
	ctx.cancel = &cancel;
	is_intf(unpack_box(path("local.tar.lz4"), NULL, &st), -EINTR, "cancelled: -EINTR");
	ctx.cancel = NULL;
	ok(!st.archive_fault, "cancelled: not the archive's fault");
	sh("rm -rf '%s'; mkdir -p '%s'", path("box"), path("box"));
	{
		int fd = open(path("local.tar.lz4"), O_RDONLY), r;

		r = b10t_unpack(&ctx, fd, B10T_FMT_LZ4, path("box/missing"), NULL, &st, NULL);
		close(fd);
		is_intf(r, -ENOENT, "a missing destination: -ENOENT");
		ok(!st.archive_fault, "a missing destination: not the archive's fault");
	}
}

/* ---- corrupt input -------------------------------------------------------- */

static void corrupt_case(const char *what, const char *file)
{
	int r;

	sh("rm -rf '%s'; mkdir -p '%s'", path("cdst"), path("cdst"));
	r = unpack_from(file, B10T_FMT_LZ4, path("cdst"), NULL, NULL);
	is_int(r, -EBADMSG, what);
	if (!ok(!strncmp(ctx.err, "corrupt archive", 15), "%s: message says corrupt", what))
		printf("#   message: %s\n", ctx.err);
}

static void test_corrupt(void)
{
	struct stat st;
	char buf[4096];
	off_t size;
	int fd;

	stat(path("a.tar.lz4"), &st);
	size = st.st_size;
	const off_t cuts[] = { 4, 100, size / 3, size / 2, size - 5, size - 1 };
	for (size_t i = 0; i < sizeof(cuts) / sizeof(cuts[0]); i++) {
		char what[64];

		sh("head -c %lld '%s' > '%s'", (long long)cuts[i], path("a.tar.lz4"), path("cut"));
		snprintf(what, sizeof(what), "truncated at %lld of %lld", (long long)cuts[i],
			 (long long)size);
		corrupt_case(what, path("cut"));
	}
	sh("cp '%s' '%s'", path("a.tar.lz4"), path("flip"));
	fd = open(path("flip"), O_RDWR);
	pread(fd, buf, 1, size / 2);
	buf[0] ^= 0x10;
	pwrite(fd, buf, 1, size / 2);
	close(fd);
	corrupt_case("a flipped byte in the middle", path("flip"));
	sh("cat '%s' '%s' > '%s'", path("a.tar.lz4"), path("a.tar.lz4"), path("twice"));
	corrupt_case("trailing data after the frame", path("twice"));
	put(path("garbage"), buf, fill_random(buf, sizeof(buf), 7), 0644, 0);
	corrupt_case("garbage", path("garbage"));
	put(path("empty"), "", 0, 0644, 0);
	corrupt_case("empty file", path("empty"));
	sh("lz4 -q -c '%s' > '%s'", path("garbage"), path("notar.lz4"));
	corrupt_case("a good lz4 frame without a tar in it", path("notar.lz4"));
}

/* ---- the reference's .tar.gz ------------------------------------------------- */

static void test_gz(void)
{
	char why[4096], *m = (char *)1;

	/* GNU tar writes hardlinks, which we refuse: break ours first. */
	sh("cd '%s/a' && cp -p run.sh t && mv t run-hardlink.sh", path("expect"));
	sh("tar -czf '%s' -C '%s' .", path("ref.tar.gz"), path("expect"));
	sh("mkdir -p '%s'", path("gzdst"));
	is_int(unpack_from(path("ref.tar.gz"), B10T_FMT_GZ, path("gzdst"), NULL, &m), 0,
	       "a tar -czf archive extracts");
	ok(m == NULL, "it has no manifest");
	ok(same_tree(path("expect"), path("gzdst"), why, sizeof(why)), "gz tree is identical");
	if (why[0])
		printf("# %s\n", why);
	sh("ln '%s/a/run.sh' '%s/hard' && tar -czf '%s' -C '%s' . && mkdir '%s'", path("expect"),
	   path("expect"), path("hard.tar.gz"), path("expect"), path("gzhard"));
	is_int(unpack_from(path("hard.tar.gz"), B10T_FMT_GZ, path("gzhard"), NULL, NULL), -EPERM,
	       "a tar -czf archive with a hardlink is refused");
	ok(strstr(ctx.err, "is a hardlink"), "message says so: %s", ctx.err);
	is_int(b10t_read_manifest(&ctx, path("ref.tar.gz"), B10T_FMT_GZ, &m), -ENOENT,
	       "read_manifest on a reference gz: -ENOENT");
	sh("head -c 3000 '%s' > '%s'; mkdir -p '%s'", path("ref.tar.gz"), path("cut.tar.gz"),
	   path("gzcut"));
	is_int(unpack_from(path("cut.tar.gz"), B10T_FMT_GZ, path("gzcut"), NULL, NULL), -EBADMSG,
	       "a truncated gz is corrupt");
	sh("chmod -R u+w '%s' '%s' '%s'", path("gzdst"), path("gzcut"), path("gzhard"));
}

/* ---- the store failing under a read: not the archive's fault --------------- */

static void test_read_errors(void)
{
	static const struct { const char *file; int err; const char *what; } src[] = {
		/* /proc/self/mem at offset 0: read(2) says EIO, as a failing disk would */
		{ "/proc/self/mem", EIO, "EIO" },
		{ NULL, EISDIR, "EISDIR" },	/* a directory fd */
	};

	for (size_t i = 0; i < sizeof(src) / sizeof(src[0]); i++) {
		for (int gz = 0; gz < 2; gz++) {
			enum b10t_format fmt = gz ? B10T_FMT_GZ : B10T_FMT_LZ4;
			struct b10t_pack_stats st;
			int fd = open(src[i].file ? src[i].file : top, O_RDONLY | O_CLOEXEC);
			int r;

			sh("rm -rf '%s'; mkdir -p '%s'", path("edst"), path("edst"));
			memset(&st, 0xff, sizeof(st));
			r = b10t_unpack(&ctx, fd, fmt, path("edst"), NULL, &st, NULL);
			ok(r == -src[i].err, "%s: a read failing with %s is that errno (%d)",
			   gz ? "gz" : "lz4", src[i].what, r);
			ok(!st.archive_fault, "%s: ... and not the archive's fault (%s)",
			   gz ? "gz" : "lz4", ctx.err);
			close(fd);
		}
	}
	/* Damage, by contrast, is the archive's. */
	{
		struct b10t_pack_stats st;
		int fd, r;

		sh("cp '%s' '%s' && printf x >> '%s' && mkdir -p '%s'", path("ref.tar.gz"),
		   path("junk.tar.gz"), path("junk.tar.gz"), path("jdst"));
		fd = open(path("junk.tar.gz"), O_RDONLY | O_CLOEXEC);
		r = b10t_unpack(&ctx, fd, B10T_FMT_GZ, path("jdst"), NULL, &st, NULL);
		close(fd);
		is_int(r, -EBADMSG, "gz with a byte after the last member: -EBADMSG");
		ok(st.archive_fault, "... the archive's fault: %s", ctx.err);
		sh("chmod -R u+w '%s'", path("jdst"));
	}
}

/*
 * zstd (B10T_FMT_ZSTD): the round trip, the manifest alone in the first
 * frame, the cap, and the tar's end record, which a stream of several
 * frames (or gzip members) cut at a boundary otherwise lacks unnoticed.
 */
static void test_zstd(void)
{
	struct b10t_pack_stats st = { 0 }, ust = { 0 };
	struct b10t_limits lim;
	char why[4096], *m = NULL;
	struct stat sb;
	int fd;

	b10t_limits_default(&lim);
	lim.format = B10T_FMT_ZSTD;
	is_int(pack_to(path("src"), path("z.tar.zst"), "{\"key\":\"kz\"}", &lim, &st), 0,
	       "zstd: pack succeeds");
	stat(path("z.tar.zst"), &sb);
	is_int(st.archive_bytes, sb.st_size, "zstd: archive_bytes is the file size");
	{
		char cmd[PATH_MAX + 32];

		snprintf(cmd, sizeof(cmd), "zstd -q -t '%s'", path("z.tar.zst"));
		is_int(system(cmd), 0, "zstd: the zstd CLI accepts it");
	}
	sh("rm -rf '%s' && mkdir '%s'", path("zdst"), path("zdst"));
	fd = open(path("z.tar.zst"), O_RDONLY);
	is_int(b10t_unpack(&ctx, fd, B10T_FMT_ZSTD, path("zdst"), NULL, &ust, &m), 0,
	       "zstd: unpack succeeds");
	close(fd);
	is_str(m, "{\"key\":\"kz\"}", "zstd: unpack returns the manifest");
	free(m);
	is_int(ust.files, st.files, "zstd: the same entries");
	is_int(ust.archive_bytes, sb.st_size, "zstd: it read the whole file");
	/* The codec changes nothing: the same tree as through lz4 now. */
	b10t_limits_default(&lim);
	sh("rm -rf '%s' && mkdir '%s'", path("ldst"), path("ldst"));
	pack_to(path("src"), path("l.tar.lz4"), "{}", &lim, NULL);
	unpack_from(path("l.tar.lz4"), B10T_FMT_LZ4, path("ldst"), NULL, NULL);
	lim.format = B10T_FMT_ZSTD;
	ok(same_tree(path("ldst"), path("zdst"), why, sizeof(why)),
	   "zstd: tree is identical to lz4's: bytes, modes, link targets, mtimes");
	if (why[0])
		printf("# %s\n", why);
	m = NULL;
	is_int(b10t_read_manifest(&ctx, path("z.tar.zst"), B10T_FMT_ZSTD, &m), 0,
	       "zstd: read_manifest finds the manifest");
	is_str(m, "{\"key\":\"kz\"}", "zstd: read_manifest returns it");
	free(m);

	/* The first frame alone is a whole zstd stream of the manifest. */
	sh("python3 '%s/cli/zstdframes.py' '%s' --first '%s'", getenv("SRCDIR"),
	   path("z.tar.zst"), path("z1.tar.zst"));
	m = NULL;
	is_int(b10t_read_manifest(&ctx, path("z1.tar.zst"), B10T_FMT_ZSTD, &m), 0,
	       "zstd: the first frame alone holds the manifest");
	free(m);
	sh("rm -rf '%s' && mkdir '%s'", path("zdst"), path("zdst"));
	fd = open(path("z1.tar.zst"), O_RDONLY);
	memset(&ust, 0, sizeof(ust));
	is_int(b10t_unpack(&ctx, fd, B10T_FMT_ZSTD, path("zdst"), NULL, &ust, NULL), -EBADMSG,
	       "zstd: the first frame alone does not unpack as a (cut) tree");
	close(fd);
	ok(strstr(ctx.err, "end-of-archive record"), "... no end record: %s", ctx.err);
	ok(ust.archive_fault, "... the archive's fault");

	/* The same class through gzip: a tar cut after a member, in a whole stream. */
	sh("cd '%s' && printf x > one && tar -cf one.tar one && head -c 1024 one.tar | "
	   "gzip -c > cut.tar.gz", top);
	sh("rm -rf '%s' && mkdir '%s'", path("zdst"), path("zdst"));
	is_int(unpack_from(path("cut.tar.gz"), B10T_FMT_GZ, path("zdst"), NULL, NULL), -EBADMSG,
	       "gz: a tar without its end record is corrupt");
	sh("cd '%s' && head -c 1024 one.tar | lz4 -q -c > cut.tar.lz4", top);
	sh("rm -rf '%s' && mkdir '%s'", path("zdst"), path("zdst"));
	is_int(unpack_from(path("cut.tar.lz4"), B10T_FMT_LZ4, path("zdst"), NULL, NULL), -EBADMSG,
	       "lz4: a tar without its end record is corrupt");
	sh("cd '%s' && head -c 1536 one.tar | lz4 -q -c > end.tar.lz4", top);
	sh("rm -rf '%s' && mkdir '%s'", path("zdst"), path("zdst"));
	is_int(unpack_from(path("end.tar.lz4"), B10T_FMT_LZ4, path("zdst"), NULL, NULL), 0,
	       "lz4: one end block is enough (libarchive's own rule)");

	lim.max_archive_bytes = 1 << 20;
	is_int(pack_to(path("src"), path("zcap.tar.zst"), "{}", &lim, &st), -EFBIG,
	       "zstd: pack stops at max_archive_bytes");
	lim.max_archive_bytes = 0;
	lim.zstd_level = 19;
	is_int(pack_to(path("src"), path("z19.tar.zst"), "{}", &lim, &st), 0, "zstd: level 19 packs");
	sh("chmod -R u+w '%s' '%s'", path("zdst"), path("ldst"));
}

int main(void)
{
	b10t_ctx_init(&ctx);
	ctx.log = on_log;
	ctx.progress = on_progress;
	tap_tmpdir(top, sizeof(top), "archive");
	test_round_trip();
	test_caps_and_write_errors();
	test_hostile();
	test_modes();
	test_closed_dirs();
	test_sparse();
	test_limits();
	test_walk();
	test_local_fault();
	test_corrupt();
	test_gz();
	test_zstd();
	test_read_errors();
	tap_rmdir(top);
	return tap_done();
}
