/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for the tests: a store seen through a network client's
 * stale caches, made deterministic on a local filesystem.
 *
 * B10T_SHIM_MATCH=S1,S2   the paths it acts on (those containing one of them)
 * B10T_SHIM_SHORT=N       a stale view, as sshfs gives for a file replaced
 *                         by another one: an fd of a matching path has
 *                         size N by fstat, and reads and preads end there
 *                         when the file is longer (a larger file replaced
 *                         a smaller one).  Only the first open is stale,
 *                         unless
 * B10T_SHIM_SECS=S        every open within S seconds of the first is.
 * B10T_SHIM_NETFS=1       fstatfs/statfs report a FUSE filesystem.
 * B10T_SHIM_ESTALE=1      the first open, stat, lstat, fstatat and opendir
 *                         of each matching path fail with ESTALE, as after
 *                         an NFS server dropped a file handle.
 * B10T_SHIM_ESTALE_READ=1 the first read of the first open of a matching
 *                         path fails with ESTALE.
 * B10T_SHIM_ESTALE_READDIR=N  the Nth readdir of the process (1: the
 *                         first) fails with ESTALE.
 * B10T_SHIM_ATTRS=S      an attribute cache, as sshfs keeps one (20 s): a
 *                         stat, lstat, fstatat or fstat of a matching path's
 *                         file answers what the first of them answered, for
 *                         S seconds, however the file is opened, until this
 *                         process chmods it (chmod, fchmodat, fchmod), as
 *                         sshfs drops what it cached on a change it makes.
 * B10T_SHIM_HIDE=N1,N2    a negative lookup cache (NFS keeps one up to a
 *                         minute): the entries named N1, N2 (whole names)
 *                         are not there for open, stat, lstat, fstatat and
 *                         readdir, while the server, which renameat2 and
 *                         link reach, still has them.
 */
/* Both the plain and the *64 names are defined here (b10t calls the *64
 * ones on 32-bit builds): keep the headers from renaming one to the other. */
#undef _FILE_OFFSET_BITS
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <time.h>
#include <unistd.h>

#define MAX_FDS 64
#define MAX_PATHS 64
#define FUSE_MAGIC 0x65735546

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static int stale_fd[MAX_FDS];
static int nstale;
static double first_open = -1;
/* ESTALE given once per (kind, path) */
static char *seen[MAX_PATHS];
static int nseen;
/* B10T_SHIM_ATTRS: the cached attributes, by file */
static struct { struct stat st; double at; } attrs[MAX_PATHS];
static int nattrs;

static double now(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Whether path contains one of the comma-separated B10T_SHIM_MATCH. */
static bool matches(const char *path)
{
	const char *m = getenv("B10T_SHIM_MATCH");
	char buf[1024], *save = NULL;

	if (!path || !m || !*m || strlen(m) >= sizeof(buf))
		return false;
	strcpy(buf, m);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (strstr(path, t))
			return true;
	return false;
}

/* Whether the last component of path is one of B10T_SHIM_HIDE's names. */
static bool hidden(const char *path)
{
	const char *m = getenv("B10T_SHIM_HIDE"), *base;
	char buf[4096], *save = NULL;

	if (!path || !m || !*m || strlen(m) >= sizeof(buf))
		return false;
	base = strrchr(path, '/');
	base = base ? base + 1 : path;
	strcpy(buf, m);
	for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save))
		if (!strcmp(base, t))
			return true;
	return false;
}

static bool hide(const char *path)
{
	if (!hidden(path))
		return false;
	errno = ENOENT;
	return true;
}

static long long short_size(void)
{
	const char *s = getenv("B10T_SHIM_SHORT");

	return s ? atoll(s) : -1;
}

/* Whether this call on path fails with ESTALE: the first of its kind. */
static bool estale_once(const char *kind, const char *path)
{
	char key[4200];
	bool fail = true;

	if (!getenv("B10T_SHIM_ESTALE") || !matches(path))
		return false;
	snprintf(key, sizeof(key), "%s:%s", kind, path);
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nseen; i++)
		if (!strcmp(seen[i], key))
			fail = false;
	if (fail && nseen < MAX_PATHS)
		seen[nseen++] = strdup(key);
	pthread_mutex_unlock(&lock);
	if (fail)
		errno = ESTALE;
	return fail;
}

static bool is_stale(int fd)
{
	bool r = false;

	pthread_mutex_lock(&lock);
	for (int i = 0; i < nstale; i++)
		if (stale_fd[i] == fd)
			r = true;
	pthread_mutex_unlock(&lock);
	return r;
}

static void opened(const char *path, int fd)
{
	const char *secs = getenv("B10T_SHIM_SECS");
	bool stale;

	if (fd < 0 || (short_size() < 0 && !getenv("B10T_SHIM_ESTALE_READ")) || !matches(path))
		return;
	pthread_mutex_lock(&lock);
	if (first_open < 0) {
		first_open = now();
		stale = true;
	} else {
		stale = secs && now() - first_open < atof(secs);
	}
	if (stale && nstale < MAX_FDS)
		stale_fd[nstale++] = fd;
	pthread_mutex_unlock(&lock);
}

#define REAL(ret, name, ...) \
	static ret (*real)(__VA_ARGS__); \
	if (!real) \
		real = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)
#define REAL2(ret, name, ...) \
	static ret (*real2)(__VA_ARGS__); \
	if (!real2) \
		real2 = (ret (*)(__VA_ARGS__))dlsym(RTLD_NEXT, name)

/* B10T_SHIM_ATTRS: *st (just read) becomes what the cache holds for its
 * file: the first answer, S seconds long.  match: whether the path (when
 * known) matches; a file already cached is answered from it anyway. */
static void cached_attrs(struct stat *st, bool match)
{
	const char *s = getenv("B10T_SHIM_ATTRS");
	int i;

	if (!s)
		return;
	pthread_mutex_lock(&lock);
	for (i = 0; i < nattrs; i++)
		if (attrs[i].st.st_dev == st->st_dev && attrs[i].st.st_ino == st->st_ino)
			break;
	if (i < nattrs && now() - attrs[i].at < atof(s))
		*st = attrs[i].st;
	else if (i < nattrs)
		attrs[i].st = *st, attrs[i].at = now();
	else if (match && nattrs < MAX_PATHS)
		attrs[nattrs].st = *st, attrs[nattrs++].at = now();
	pthread_mutex_unlock(&lock);
}

/* A chmod through this process: the file's cached attributes go. */
static void drop_attrs(dev_t dev, ino_t ino)
{
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nattrs; i++)
		if (attrs[i].st.st_dev == dev && attrs[i].st.st_ino == ino)
			attrs[i] = attrs[--nattrs];
	pthread_mutex_unlock(&lock);
}

int fchmod(int fd, mode_t mode)
{
	REAL(int, "fchmod", int, mode_t);
	REAL2(int, "fstat", int, struct stat *);
	struct stat st;
	int r = real(fd, mode);

	if (r == 0 && real2(fd, &st) == 0)
		drop_attrs(st.st_dev, st.st_ino);
	return r;
}

int fchmodat(int dfd, const char *path, mode_t mode, int flags)
{
	REAL(int, "fchmodat", int, const char *, mode_t, int);
	REAL2(int, "fstatat", int, const char *, struct stat *, int);
	struct stat st;
	int r = real(dfd, path, mode, flags);

	if (r == 0 && real2(dfd, path, &st, flags & AT_SYMLINK_NOFOLLOW) == 0)
		drop_attrs(st.st_dev, st.st_ino);
	return r;
}

int chmod(const char *path, mode_t mode)
{
	return fchmodat(AT_FDCWD, path, mode, 0);
}

static int do_open(const char *name, int dfd, const char *path, int flags, mode_t mode)
{
	int fd;

	if (estale_once("open", path) || hide(path))
		return -1;
	if (dfd == AT_FDCWD && !strcmp(name, "open")) {
		REAL(int, "open", const char *, int, ...);
		fd = real(path, flags, mode);
	} else if (dfd == AT_FDCWD) {
		REAL(int, "open64", const char *, int, ...);
		fd = real(path, flags, mode);
	} else if (!strcmp(name, "openat")) {
		REAL(int, "openat", int, const char *, int, ...);
		fd = real(dfd, path, flags, mode);
	} else {
		REAL(int, "openat64", int, const char *, int, ...);
		fd = real(dfd, path, flags, mode);
	}
	opened(path, fd);
	return fd;
}

#define MODE_ARG \
	mode_t mode = 0; \
	if (flags & (O_CREAT | O_TMPFILE)) { \
		va_list ap; \
		va_start(ap, flags); \
		mode = va_arg(ap, mode_t); \
		va_end(ap); \
	}

int open(const char *path, int flags, ...)
{
	MODE_ARG
	return do_open("open", AT_FDCWD, path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	MODE_ARG
	return do_open("open64", AT_FDCWD, path, flags, mode);
}

int openat(int dfd, const char *path, int flags, ...)
{
	MODE_ARG
	return do_open("openat", dfd, path, flags, mode);
}

int openat64(int dfd, const char *path, int flags, ...)
{
	MODE_ARG
	return do_open("openat64", dfd, path, flags, mode);
}

int close(int fd)
{
	REAL(int, "close", int);
	pthread_mutex_lock(&lock);
	for (int i = 0; i < nstale; i++)
		if (stale_fd[i] == fd)
			stale_fd[i] = stale_fd[--nstale];
	pthread_mutex_unlock(&lock);
	return real(fd);
}

static void shrink(int fd, struct stat *st)
{
	long long n = short_size();

	if (is_stale(fd) && n >= 0)
		st->st_size = n;
}

int fstat(int fd, struct stat *st)
{
	REAL(int, "fstat", int, struct stat *);
	int r = real(fd, st);

	if (r == 0) {
		shrink(fd, st);
		cached_attrs(st, false);
	}
	return r;
}

int fstat64(int fd, struct stat64 *st)
{
	return fstat(fd, (struct stat *)st);
}

/* The bytes left before the stale end at offset off (-1: not stale). */
static long long left(int fd, off_t off)
{
	long long n = short_size();

	if (!is_stale(fd) || n < 0)
		return -1;
	return off >= n ? 0 : n - off;
}

static bool estale_read_once(int fd)
{
	static bool done;
	bool fail = false;

	if (!getenv("B10T_SHIM_ESTALE_READ") || !is_stale(fd))
		return false;
	pthread_mutex_lock(&lock);
	if (!done)
		fail = done = true;
	pthread_mutex_unlock(&lock);
	if (fail)
		errno = ESTALE;
	return fail;
}

ssize_t read(int fd, void *buf, size_t len)
{
	REAL(ssize_t, "read", int, void *, size_t);
	long long l;

	if (estale_read_once(fd))
		return -1;
	l = left(fd, lseek(fd, 0, SEEK_CUR));

	if (l >= 0 && (long long)len > l)
		len = (size_t)l;
	return len ? real(fd, buf, len) : 0;
}

ssize_t pread(int fd, void *buf, size_t len, off_t off)
{
	REAL(ssize_t, "pread", int, void *, size_t, off_t);
	long long l = left(fd, off);

	if (l >= 0 && (long long)len > l)
		len = (size_t)l;
	return len ? real(fd, buf, len, off) : 0;
}

ssize_t pread64(int fd, void *buf, size_t len, off64_t off)
{
	return pread(fd, buf, len, off);
}

int stat(const char *path, struct stat *st)
{
	REAL(int, "stat", const char *, struct stat *);
	int r = estale_once("stat", path) || hide(path) ? -1 : real(path, st);

	if (r == 0)
		cached_attrs(st, matches(path));
	return r;
}

int stat64(const char *path, struct stat64 *st)
{
	return stat(path, (struct stat *)st);
}

int lstat(const char *path, struct stat *st)
{
	REAL(int, "lstat", const char *, struct stat *);
	int r = estale_once("lstat", path) || hide(path) ? -1 : real(path, st);

	if (r == 0)
		cached_attrs(st, matches(path));
	return r;
}

int lstat64(const char *path, struct stat64 *st)
{
	return lstat(path, (struct stat *)st);
}

int fstatat(int dfd, const char *path, struct stat *st, int flags)
{
	REAL(int, "fstatat", int, const char *, struct stat *, int);
	int r = estale_once("fstatat", path) || hide(path) ? -1 : real(dfd, path, st, flags);

	if (r == 0)
		cached_attrs(st, matches(path));
	return r;
}

int fstatat64(int dfd, const char *path, struct stat64 *st, int flags)
{
	return fstatat(dfd, path, (struct stat *)st, flags);
}

DIR *opendir(const char *path)
{
	REAL(DIR *, "opendir", const char *);
	return estale_once("opendir", path) ? NULL : real(path);
}

static bool estale_readdir_once(void)
{
	const char *v = getenv("B10T_SHIM_ESTALE_READDIR");
	static unsigned long calls;
	unsigned long n;
	bool fail;

	if (!v || !(n = strtoul(v, NULL, 10)))
		return false;
	pthread_mutex_lock(&lock);
	fail = ++calls == n;
	pthread_mutex_unlock(&lock);
	if (fail)
		errno = ESTALE;
	return fail;
}

struct dirent *readdir(DIR *d)
{
	REAL(struct dirent *, "readdir", DIR *);
	struct dirent *de;

	if (estale_readdir_once())
		return NULL;
	while ((de = real(d)) && hidden(de->d_name))
		;
	return de;
}

struct dirent64 *readdir64(DIR *d)
{
	REAL(struct dirent64 *, "readdir64", DIR *);
	struct dirent64 *de;

	if (estale_readdir_once())
		return NULL;
	while ((de = real(d)) && hidden(de->d_name))
		;
	return de;
}

static void netfs(struct statfs *sf)
{
	if (getenv("B10T_SHIM_NETFS"))
		sf->f_type = FUSE_MAGIC;
}

int fstatfs(int fd, struct statfs *sf)
{
	REAL(int, "fstatfs", int, struct statfs *);
	int r = real(fd, sf);

	if (r == 0)
		netfs(sf);
	return r;
}

int fstatfs64(int fd, struct statfs64 *sf)
{
	return fstatfs(fd, (struct statfs *)sf);
}
