/* SPDX-License-Identifier: MIT */
/* Small parsers and filesystem helpers shared by the verbs. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <stdarg.h>
#include <stdio.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

/*
 * Decimal digits, then at most one letter from `units`, then nothing: no
 * blank, sign or trailing text (strtoull alone would take " +5" and stop
 * quietly at "5 junk").
 */
static int parse_scaled(const char *s, const char *units, const uint64_t *mult,
			uint64_t *out)
{
	char *end;
	unsigned long long v;
	const char *u;
	size_t digits;

	if (!s || !(digits = strspn(s, "0123456789")))
		return -EINVAL;
	errno = 0;
	v = strtoull(s, &end, 10);
	if (errno || end != s + digits)
		return -EINVAL;
	if (*end == '\0') {
		*out = v;
		return 0;
	}
	if (end[1] != '\0' || !(u = strchr(units, *end)))
		return -EINVAL;
	if (v > UINT64_MAX / mult[u - units])
		return -EINVAL;
	*out = v * mult[u - units];
	return 0;
}

int b10t_parse_duration(const char *s, uint64_t *seconds)
{
	static const uint64_t mult[] = { 1, 60, 3600, 86400 };

	return parse_scaled(s, "smhd", mult, seconds);
}

int b10t_parse_size(const char *s, uint64_t *bytes)
{
	static const uint64_t mult[] = {
		1, 1ULL << 10, 1ULL << 20, 1ULL << 30, 1ULL << 40,
		1ULL << 10, 1ULL << 20, 1ULL << 30, 1ULL << 40,
	};

	return parse_scaled(s, "BKMGTkmgt", mult, bytes);
}

int b10t_tree_size(struct b10t_ctx *ctx, const char *path, uint64_t *bytes,
		   uint64_t *files)
{
	int fd, r;

	*bytes = *files = 0;
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return b10t_set_error(ctx, errno, "reading %s: %s", path, strerror(errno));
	}
	/* What pack takes: entries of up to B10T_MAX_DEPTH components, so the
	 * manifest's counts agree with the archive.  Iterative (rmtree.c): a
	 * deeper tree costs no stack and no fd per level. */
	r = b10t_count_tree(fd, B10T_MAX_DEPTH, bytes, files);
	if (r < 0)
		return b10t_set_error(ctx, -r, "reading %s: %s", path, strerror(-r));
	return 0;
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
	int found = 0;

	*marker = false;
	if (!d) {
		if (errno == ENOENT)
			return 0;
		return b10t_set_error(ctx, errno, "reading the cache dir %s: %s", path,
				      strerror(errno));
	}
	while ((de = readdir(d))) {
		struct stat st;

		if (!strcmp(de->d_name, ".") || !strcmp(de->d_name, ".."))
			continue;
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

int b10t_result_finish(struct b10t_result *res, enum b10t_status status, const char *fmt, ...)
{
	va_list ap;

	res->status = status;
	va_start(ap, fmt);
	vsnprintf(res->reason, sizeof(res->reason), fmt, ap);
	va_end(ap);
	return 0;
}
