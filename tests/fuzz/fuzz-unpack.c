/* SPDX-License-Identifier: MIT */
/*
 * libFuzzer target over the archive reader and extractor, b10t_unpack().
 *
 * The first input byte picks the path, the rest is the archive:
 *   0  the bytes as stored: an lz4 frame holding a tar (B10T_FMT_LZ4);
 *   1  a raw tar, which we wrap in a valid lz4 frame first, so mutations
 *      reach the tar parser and the safety checks instead of all dying at
 *      the lz4 checksums;
 *   2  the bytes as a .tar.gz, the reference's format (B10T_FMT_GZ): when
 *      b10t_unpack succeeds, zlib must find the same bytes an intact gzip
 *      stream (every member's CRC32 and ISIZE right, nothing after them);
 *   3  a raw tar, which we wrap in a valid gzip stream first (as 1 does
 *      with lz4), so the tar parser is reached through the gzip reader;
 *   4  the bytes as a .tar.zst (B10T_FMT_ZSTD): when b10t_unpack succeeds,
 *      libzstd must find them whole frames with checksums, nothing after;
 *   5  a raw tar, which we wrap in one zstd frame with a checksum first.
 * The archive is read from a memfd; it is extracted into a fresh dir that
 * is removed after each run.  Besides the sanitizers, each run checks the
 * promises of "Safety of archives": nothing is created outside the dir,
 * and the dir holds only regular files (one link each, no setuid/setgid),
 * directories and symlinks that resolve inside it.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <linux/openat2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <lz4frame.h>
#include <zlib.h>
#include <zstd.h>

#include "b10t-int.h"

int LLVMFuzzerInitialize(int *argc, char ***argv);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char base[PATH_MAX];	/* holds only dst/ between runs */
static char dst[PATH_MAX];
static size_t dst_len;

#define die(...) do { fprintf(stderr, "fuzz-unpack: " __VA_ARGS__); \
		      fputc('\n', stderr); abort(); } while (0)

static int rm_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_DP || flag == FTW_D)
		rmdir(path);
	else
		unlink(path);
	return 0;
}

/* Make every dir writable first: an archive may hold a dir of mode 0. */
static int open_up(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	if (flag == FTW_D)
		chmod(path, 0700);
	return 0;
}

static void remove_tree(const char *path)
{
	nftw(path, open_up, 16, FTW_PHYS);
	nftw(path, rm_one, 16, FTW_PHYS | FTW_DEPTH);
}

static void cleanup(void)
{
	remove_tree(base);
}

int LLVMFuzzerInitialize(int *argc, char ***argv)
{
	const char *tmp = getenv("TMPDIR");

	umask(022);	/* check_one holds the modes to it */
	snprintf(base, sizeof(base), "%s/b10t-fuzz.XXXXXX", tmp && *tmp ? tmp : "/tmp");
	if (!mkdtemp(base))
		die("mkdtemp %s: %s", base, strerror(errno));
	dst_len = (size_t)snprintf(dst, sizeof(dst), "%s/dst", base);
	atexit(cleanup);
	return 0;
}

/* Does `rel` (a path in dst) resolve inside dst?  The kernel decides. */
static void check_beneath(int dirfd, const char *rel)
{
	struct open_how how = { .flags = O_PATH | O_CLOEXEC, .resolve = RESOLVE_BENEATH };
	long fd = syscall(SYS_openat2, dirfd, rel, &how, sizeof(how));

	if (fd >= 0)
		close((int)fd);
	else if (errno == EXDEV)
		die("symlink %s resolves outside the extraction dir", rel);
	/* ENOENT (dangling inside), ELOOP, ENOSYS: not an escape we can see */
}

static int dirfd_g = -1;
static uint64_t apparent_g;	/* the sum of the extracted files' sizes */

static int check_one(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	const char *rel = path + dst_len + 1;

	if (ftw->level == 0)
		return 0;
	if (ftw->level > 256)
		die("%.80s... is %d levels deep, past B10T_MAX_DEPTH", rel, ftw->level);
	/* The harness runs with umask 022: nothing group- or world-writable. */
	if (!S_ISLNK(st->st_mode) && (st->st_mode & 022))
		die("%s is more permissive than the umask (mode %o)", rel, st->st_mode);
	if (S_ISREG(st->st_mode))
		apparent_g += (uint64_t)st->st_size;
	if (S_ISLNK(st->st_mode)) {
		check_beneath(dirfd_g, rel);
	} else if (S_ISREG(st->st_mode)) {
		if (st->st_mode & (S_ISUID | S_ISGID))
			die("%s is setuid/setgid (mode %o)", rel, st->st_mode);
		if (st->st_nlink != 1)
			die("%s has %lu links: a hardlink was extracted", rel,
			    (unsigned long)st->st_nlink);
	} else if (!S_ISDIR(st->st_mode)) {
		die("%s is not a file, dir or symlink (mode %o)", rel, st->st_mode);
	}
	return 0;
}

static void check_results(void)
{
	struct dirent *de;
	DIR *d = opendir(base);

	if (!d)
		die("opendir %s: %s", base, strerror(errno));
	while ((de = readdir(d)))
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, "..") &&
		    strcmp(de->d_name, "dst"))
			die("'%s' was created next to the extraction dir", de->d_name);
	closedir(d);
	dirfd_g = open(dst, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd_g < 0)
		die("the extraction dir is gone: %s", strerror(errno));
	apparent_g = 0;
	nftw(dst, check_one, 16, FTW_PHYS);
	close(dirfd_g);
}

/* Wrap a raw tar in a valid lz4 frame with checksums, as b10t writes them. */
static void *lz4_wrap(const uint8_t *data, size_t size, size_t *out_size)
{
	LZ4F_preferences_t prefs;
	size_t cap, n;
	void *out;

	memset(&prefs, 0, sizeof(prefs));
	prefs.frameInfo.blockSizeID = LZ4F_max4MB;
	prefs.frameInfo.contentChecksumFlag = LZ4F_contentChecksumEnabled;
	prefs.frameInfo.blockChecksumFlag = LZ4F_blockChecksumEnabled;
	cap = LZ4F_compressFrameBound(size, &prefs);
	if (!(out = malloc(cap)))
		die("out of memory");
	n = LZ4F_compressFrame(out, cap, data, size, &prefs);
	if (LZ4F_isError(n))
		die("LZ4F_compressFrame: %s", LZ4F_getErrorName(n));
	*out_size = n;
	return out;
}

/* Wrap a raw tar in one zstd frame with a content checksum, as zstdw.c does. */
static void *zstd_wrap(const uint8_t *data, size_t size, size_t *out_size)
{
	ZSTD_CCtx *c = ZSTD_createCCtx();
	size_t cap = ZSTD_compressBound(size), n;
	void *out = malloc(cap);

	if (!c || !out)
		die("out of memory");
	ZSTD_CCtx_setParameter(c, ZSTD_c_compressionLevel, 1);
	ZSTD_CCtx_setParameter(c, ZSTD_c_checksumFlag, 1);
	n = ZSTD_compress2(c, out, cap, data, size);
	if (ZSTD_isError(n))
		die("ZSTD_compress2: %s", ZSTD_getErrorName(n));
	ZSTD_freeCCtx(c);
	*out_size = n;
	return out;
}

/* Whether `data` is whole zstd frames, each with a checksum, and nothing else. */
static bool zstd_intact(const uint8_t *data, size_t size)
{
	size_t off = 0;

	if (!size)
		return false;
	while (off < size) {
		size_t n = ZSTD_findFrameCompressedSize(data + off, size - off);

		if (ZSTD_isError(n) || size - off < 5 || !(data[off + 4] & 0x04))
			return false;
		if (ZSTD_getFrameContentSize(data + off, size - off) == ZSTD_CONTENTSIZE_ERROR)
			return false;
		off += n;
	}
	return true;
}

/* Wrap a raw tar in one gzip member, as tarfile "w:gz" writes them. */
static void *gz_wrap(const uint8_t *data, size_t size, size_t *out_size)
{
	z_stream z;
	size_t cap;
	void *out;

	memset(&z, 0, sizeof(z));
	if (deflateInit2(&z, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK)
		die("deflateInit2 failed");
	cap = deflateBound(&z, (uLong)size);
	if (!(out = malloc(cap)))
		die("out of memory");
	z.next_in = (unsigned char *)data;
	z.avail_in = (uInt)size;
	z.next_out = out;
	z.avail_out = (uInt)cap;
	if (deflate(&z, Z_FINISH) != Z_STREAM_END)
		die("deflate did not finish");
	*out_size = cap - z.avail_out;
	deflateEnd(&z);
	return out;
}

static int memfd_of(const void *buf, size_t size)
{
	int fd = memfd_create("fuzz-archive", MFD_CLOEXEC);
	const char *p = buf;

	if (fd < 0)
		die("memfd_create: %s", strerror(errno));
	while (size) {
		ssize_t w = write(fd, p, size);

		if (w <= 0)
			die("write to memfd: %s", strerror(errno));
		p += w;
		size -= (size_t)w;
	}
	if (lseek(fd, 0, SEEK_SET) < 0)
		die("lseek: %s", strerror(errno));
	return fd;
}

/* Whether buf is whole gzip members and nothing else (zlib checks each trailer). */
static bool gzip_intact(const uint8_t *buf, size_t size)
{
	static unsigned char out[1 << 16];
	z_stream z;
	bool good = size > 0;

	memset(&z, 0, sizeof(z));
	if (inflateInit2(&z, 16 + MAX_WBITS) != Z_OK)
		die("inflateInit2 failed");
	z.next_in = (unsigned char *)buf;
	z.avail_in = (uInt)size;
	while (good && z.avail_in) {
		int zr;

		z.next_out = out;
		z.avail_out = sizeof(out);
		zr = inflate(&z, Z_NO_FLUSH);
		if (zr == Z_STREAM_END)
			good = inflateReset(&z) == Z_OK && (!z.avail_in || z.next_in[0] == 0x1f);
		else if (zr != Z_OK)
			good = false;
		else if (!z.avail_in)
			good = false;	/* ends inside a member */
	}
	inflateEnd(&z);
	return good;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct b10t_ctx ctx;
	struct b10t_limits lim;
	struct b10t_pack_stats st;
	enum b10t_format fmt = B10T_FMT_LZ4;
	char *manifest = NULL, proc[64];
	void *wrapped = NULL;
	const void *arch;
	size_t arch_size;
	int fd, r;

	if (size < 1)
		return 0;
	arch = data + 1;
	arch_size = size - 1;
	switch (data[0] % 6) {
	case 1:
		arch = wrapped = lz4_wrap(data + 1, size - 1, &arch_size);
		break;
	case 3:
		arch = wrapped = gz_wrap(data + 1, size - 1, &arch_size);
		fmt = B10T_FMT_GZ;
		break;
	case 2:
		fmt = B10T_FMT_GZ;
		break;
	case 4:
		fmt = B10T_FMT_ZSTD;
		break;
	case 5:
		arch = wrapped = zstd_wrap(data + 1, size - 1, &arch_size);
		fmt = B10T_FMT_ZSTD;
		break;
	}
	fd = memfd_of(arch, arch_size);

	b10t_ctx_init(&ctx);
	b10t_limits_default(&lim);
	/* Small caps keep each run fast; the caps themselves are checked too. */
	lim.max_entries = 2000;
	lim.max_bytes = 8u << 20;
	memset(&st, 0, sizeof(st));
	if (mkdir(dst, 0700) < 0)
		die("mkdir %s: %s", dst, strerror(errno));
	r = b10t_unpack(&ctx, fd, fmt, dst, &lim, &st, &manifest);
	if (r > 0 || (r < 0 && !ctx.err[0]))
		die("b10t_unpack returned %d with message '%s'", r, ctx.err);
	if (r == 0 && st.bytes > lim.max_bytes)
		die("extracted %llu bytes past the cap %llu",
		    (unsigned long long)st.bytes, (unsigned long long)lim.max_bytes);
	if (r == 0 && fmt == B10T_FMT_GZ && !gzip_intact(arch, arch_size))
		die("a damaged gzip stream was extracted as a success");
	if (r == 0 && fmt == B10T_FMT_ZSTD && !zstd_intact(arch, arch_size))
		die("a damaged zstd stream was extracted as a success");
	/* Here every failure is the archive's, but for the local side's own. */
	if (r < 0 && !st.archive_fault && r != -ENOSPC && r != -ENOMEM && r != -EMFILE &&
	    r != -ENFILE && r != -EIO && r != -EINTR)
		die("failed with %d (%s) without archive_fault: the archive would stay "
		    "published", r, ctx.err);
	free(manifest);
	manifest = NULL;
	check_results();
	/* Failed or not, what is on disk is within the cap, holes included. */
	if (apparent_g > lim.max_bytes)
		die("files of %llu bytes (apparent size) past the cap %llu",
		    (unsigned long long)apparent_g, (unsigned long long)lim.max_bytes);
	remove_tree(dst);

	/* The manifest reader sees the same hostile bytes. */
	snprintf(proc, sizeof(proc), "/proc/self/fd/%d", fd);
	b10t_ctx_init(&ctx);
	r = b10t_read_manifest(&ctx, proc, fmt, &manifest);
	if (r == 0 && !manifest)
		die("b10t_read_manifest succeeded without a manifest");
	free(manifest);
	free(wrapped);
	close(fd);
	return 0;
}
