/* SPDX-License-Identifier: MIT */
/* Small parsers and filesystem helpers shared by the verbs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

struct unit {
	const char *suffix;	/* matched without regard to case */
	uint64_t mult;
};

/*
 * The one parser behind sizes and durations: decimal digits, an optional
 * fraction (".5"), then one of `units` or nothing (then `plain` is the
 * unit), and nothing after: no blank, sign or trailing text (strtoull
 * alone would take " +5" and stop quietly at "5 junk").  Integer arithmetic
 * throughout, so "1.5G" is exactly 1610612736 and 2^64 is an error, not a
 * wrap; a fraction finer than the unit is rounded down.
 */
static int parse_scaled(const char *s, const struct unit *units, uint64_t plain, uint64_t *out)
{
	size_t digits, fdigits = 0;
	uint64_t whole = 0, frac = 0, scale = 1, mult = plain;
	const char *p;

	if (!s || !(digits = strspn(s, "0123456789")))
		return -EINVAL;
	for (p = s; p < s + digits; p++) {
		if (whole > (UINT64_MAX - (uint64_t)(*p - '0')) / 10)
			return -ERANGE;
		whole = whole * 10 + (uint64_t)(*p - '0');
	}
	if (*p == '.') {
		if (!(fdigits = strspn(++p, "0123456789")))
			return -EINVAL;
		for (size_t k = 0; k < fdigits; k++, p++)
			if (k < 18) {	/* more digits than that cannot change the result */
				frac = frac * 10 + (uint64_t)(*p - '0');
				scale *= 10;
			}
	}
	if (*p) {
		size_t k;

		for (k = 0; units[k].suffix && strcasecmp(p, units[k].suffix); k++)
			;
		if (!units[k].suffix)
			return -EINVAL;
		mult = units[k].mult;
	}
	if (whole > UINT64_MAX / mult)
		return -ERANGE;
	whole *= mult;
	if (frac) {	/* frac / scale * mult, exact in 128 bits */
		uint64_t add = (uint64_t)((unsigned __int128)frac * mult / scale);

		if (whole > UINT64_MAX - add)
			return -ERANGE;
		whole += add;
	}
	*out = whole;
	return 0;
}

#define KIB 1024ULL
static const struct unit size_units[] = {
	{ "B", 1 },
	{ "K", KIB }, { "KiB", KIB }, { "Ki", KIB }, { "KB", 1000ULL },
	{ "M", KIB * KIB }, { "MiB", KIB * KIB }, { "Mi", KIB * KIB }, { "MB", 1000000ULL },
	{ "G", KIB * KIB * KIB }, { "GiB", KIB * KIB * KIB }, { "Gi", KIB * KIB * KIB },
	{ "GB", 1000000000ULL },
	{ "T", KIB * KIB * KIB * KIB }, { "TiB", KIB * KIB * KIB * KIB },
	{ "Ti", KIB * KIB * KIB * KIB }, { "TB", 1000000000000ULL },
	{ "P", KIB * KIB * KIB * KIB * KIB }, { "PiB", KIB * KIB * KIB * KIB * KIB },
	{ "Pi", KIB * KIB * KIB * KIB * KIB }, { "PB", 1000000000000000ULL },
	{ NULL, 0 },
};

static const struct unit duration_units[] = {	/* in milliseconds */
	{ "s", 1000 }, { "m", 60 * 1000 }, { "h", 3600 * 1000 }, { "d", 86400 * 1000 },
	{ NULL, 0 },
};

int b10t_parse_size_in(const char *s, uint64_t plain, uint64_t *bytes)
{
	return parse_scaled(s, size_units, plain, bytes);
}

int b10t_parse_size(const char *s, uint64_t *bytes)
{
	return parse_scaled(s, size_units, 1, bytes);
}

int b10t_parse_duration_ms(const char *s, uint64_t *ms)
{
	return parse_scaled(s, duration_units, 1000, ms);
}

int b10t_parse_duration(const char *s, uint64_t *seconds)
{
	uint64_t ms;
	int r = b10t_parse_duration_ms(s, &ms);

	if (r < 0)
		return r;
	if (ms % 1000)
		return -EDOM;	/* "1.5s": not a whole number of seconds */
	*seconds = ms / 1000;
	return 0;
}

int b10t_tree_size(struct b10t_ctx *ctx, const char *path, uint64_t *bytes,
		   uint64_t *files, uint64_t *dirs)
{
	uint64_t d;
	int fd, r;

	*bytes = *files = 0;
	if (!dirs)
		dirs = &d;
	*dirs = 0;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return b10t_sys_error(ctx, errno, "reading %s", path);
	}
	/* What pack takes: entries of up to B10T_MAX_DEPTH components, so the
	 * manifest's counts agree with the archive.  Iterative (rmtree.c): a
	 * deeper tree costs no stack and no fd per level. */
	r = b10t_count_tree(fd, B10T_MAX_DEPTH, bytes, files, dirs);
	if (r < 0)
		return b10t_sys_error(ctx, -r, "reading %s", path);
	return 0;
}

int b10t_path_split(const char *path, char *parent, size_t psize, const char **base)
{
	const char *slash = strrchr(path, '/');
	size_t n;

	if (!slash || !slash[1])
		return -EINVAL;
	n = slash == path ? 1 : (size_t)(slash - path);
	if (n >= psize)
		return -ENAMETOOLONG;
	memcpy(parent, path, n);
	parent[n] = '\0';
	*base = slash + 1;
	return 0;
}

struct dirent *b10t_readdir(DIR *d, int *err)
{
	struct dirent *de;

	for (;;) {
		errno = 0;
		if (!(de = readdir(d))) {
			*err = errno;
			return NULL;
		}
		if (strcmp(de->d_name, ".") && strcmp(de->d_name, ".."))
			break;
	}
	*err = 0;
	return de;
}

DIR *b10t_opendir_at(int dirfd)
{
	int fd = openat(dirfd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	DIR *d;

	if (fd < 0)
		return NULL;
	if (!(d = fdopendir(fd))) {
		int e = errno;

		close(fd);
		errno = e;
	}
	return d;
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

int b10t_dir_names(int fd, char ***names, size_t *n)
{
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	char **v = NULL;
	size_t len = 0, cap = 0;
	struct dirent *de;
	int err = fd >= 0 ? 0 : EBADF;

	*names = NULL;
	*n = 0;
	if (!d) {
		err = err ? err : errno;
		if (fd >= 0)
			close(fd);
		return -err;
	}
	while ((de = b10t_readdir(d, &err))) {
		if (B10T_GROW(v, cap, len + 1, 32) < 0 || !(v[len] = strdup(de->d_name))) {
			err = ENOMEM;
			break;
		}
		len++;
	}
	closedir(d);
	if (err) {
		b10t_free_names(v, len);
		return -err;
	}
	if (len > 1)
		qsort(v, len, sizeof(*v), cmp_names);
	*names = v;
	*n = len;
	return 0;
}

void b10t_free_names(char **names, size_t n)
{
	while (n)
		free(names[--n]);
	free(names);
}

int b10t_grow(void *arrp, size_t *cap, size_t need, size_t size, size_t first)
{
	size_t c = *cap;
	void *arr, *p;

	if (need <= c)
		return 0;
	if (!c)
		c = first ? first : 1;
	while (c < need) {
		if (c > SIZE_MAX / 2)
			return -ENOMEM;
		c *= 2;
	}
	if (!size || c > SIZE_MAX / size)
		return -ENOMEM;
	/* arrp points at a pointer of the caller's type: read and write it
	 * as bytes, which every object pointer on this platform shares. */
	memcpy(&arr, arrp, sizeof(arr));
	if (!(p = realloc(arr, c * size)))
		return -ENOMEM;
	memcpy(arrp, &p, sizeof(p));
	*cap = c;
	return 0;
}

int b10t_grow_one(void *arrp, size_t n, size_t size)
{
	size_t cap = n;	/* the implied capacity where it is full: 0 or a power of two */

	if (n & (n - 1))
		return 0;
	return b10t_grow(arrp, &cap, n + 1, size, 1);
}

mode_t b10t_umask(void)
{
	char line[128];
	FILE *f = fopen("/proc/self/status", "re");
	mode_t mask;

	/* Linux 4.7 and later show it as "Umask:\t0022". */
	if (f) {
		unsigned m;
		bool got = false;

		while (!got && fgets(line, sizeof(line), f))
			got = sscanf(line, "Umask: %o", &m) == 1 && m <= 0777;
		fclose(f);
		if (got)
			return (mode_t)m;
	}
	mask = umask(022);
	umask(mask);
	return mask;
}

bool b10t_same_inode_at(int dirfd, const char *name, const struct stat *want)
{
	struct stat st;

	return fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
	       st.st_ino == want->st_ino && st.st_dev == want->st_dev;
}

uint64_t b10t_random64(void)
{
	static unsigned counter;
	struct timespec ts;
	uint64_t x;

	if (getrandom(&x, sizeof(x), GRND_NONBLOCK) == (ssize_t)sizeof(x))
		return x;
	/* No entropy yet (early boot): unique enough with pid, time and a counter. */
	clock_gettime(CLOCK_REALTIME, &ts);
	x = (uint64_t)ts.tv_nsec ^ ((uint64_t)ts.tv_sec << 30) ^ ((uint64_t)getpid() << 16) ^
	    ++counter;
	for (int i = 0; i < 4; i++)
		x ^= x << 13, x ^= x >> 7, x ^= x << 17;
	return x;
}

/* 1 entries, 0 none, -errno; *marker: the install marker is there. */
static int cache_dir_scan(struct b10t_ctx *ctx, const char *path, bool *marker)
{
	DIR *d = opendir(path);
	struct dirent *de;
	int found = 0, err;

	*marker = false;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return b10t_sys_error(ctx, errno, "reading the cache dir %s", path);
	}
	while ((de = b10t_readdir(d, &err))) {
		struct stat st;

		/* b10t's own in-place staging (a load at work, or a dead one's
		 * debris) is no cache; its install marker means "partial". */
		if (b10t_local_reserved(de->d_name) &&
		    fstatat(dirfd(d), de->d_name, &st, AT_SYMLINK_NOFOLLOW) == 0) {
			if (!strcmp(de->d_name, B10T_INSTALL_MARKER) ? S_ISLNK(st.st_mode)
								     : S_ISDIR(st.st_mode)) {
				*marker |= S_ISLNK(st.st_mode);
				continue;
			}
		}
		found = 1;
	}
	closedir(d);
	if (err)
		return b10t_sys_error(ctx, err, "reading the cache dir %s", path);
	return found;
}

int b10t_cache_dir_has_entries(struct b10t_ctx *ctx, const char *path)
{
	bool marker;
	int r = cache_dir_scan(ctx, path, &marker);

	if (r >= 0 && marker)
		return b10t_set_error(ctx, EBUSY, "the cache dir %s holds an unfinished install "
				      "(%s): the next b10t load finishes it", path,
				      B10T_INSTALL_MARKER);
	return r;
}

void b10t_result_begin(struct b10t_result *res, const struct b10t_envkey *key)
{
	memset(res, 0, sizeof(*res));
	res->status = B10T_ERROR;
	snprintf(res->environment_key, sizeof(res->environment_key), "%s", key->key);
}

int b10t_result_finish(struct b10t_result *res, enum b10t_status status, const char *why,
		       const char *fmt, ...)
{
	va_list ap;

	res->status = status;
	res->why = why;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	return 0;
}

bool b10t_local_fs(int fd, const char *path)
{
	static const unsigned long local[] = {
		0xEF53,		/* ext2/3/4 */
		0x58465342,	/* xfs */
		0x9123683E,	/* btrfs */
		0x01021994,	/* tmpfs */
		0x858458F6,	/* ramfs */
		0x794C7630,	/* overlayfs */
		0xF2F52010,	/* f2fs */
		0x2FC12FC1,	/* zfs */
	};
	struct statfs sf;
	int r, own = -1;

	/* By an fd either way: one call for tests' fstatfs shim to answer. */
	if (fd < 0 && (fd = own = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return false;
	r = fstatfs(fd, &sf);
	if (own >= 0)
		close(own);
	if (r < 0)
		return false;
	for (size_t i = 0; i < sizeof(local) / sizeof(local[0]); i++)
		if ((unsigned long)sf.f_type == local[i])
			return true;
	return false;
}
