/* SPDX-License-Identifier: MIT */
/*
 * LD_PRELOAD shim for the tests: hold a save at a point the test chooses,
 * so that a signal is known to land while the save runs.
 *
 * B10T_GATE_MATCH=S   the first openat()/open() with O_CREAT of a path that
 *                     contains S (e.g. ".incomplete.": save's upload) is
 *                     made, then held:
 * B10T_GATE_NOTE=F    a FIFO: the shim writes "held PATH\n" into it (the
 *                     test's read of it is the handshake: the save has
 *                     started and its upload exists), then
 * B10T_GATE_WAIT=F    a FIFO: the shim opens it to read and reads to its
 *                     end, so the save goes on once the test has opened it
 *                     to write and closed it.
 * Only the first match is held.  Signals that arrive meanwhile find the
 * open restarted (SA_RESTART), as any slow open would be.
 */
#undef _FILE_OFFSET_BITS
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static int held;

static void hold(const char *path, int flags)
{
	const char *match = getenv("B10T_GATE_MATCH"), *note = getenv("B10T_GATE_NOTE");
	const char *wait = getenv("B10T_GATE_WAIT");
	char buf[256];
	int fd, saved = errno;

	if (held || !(flags & O_CREAT) || !match || !*match || !strstr(path, match) ||
	    !note || !wait)
		return;
	held = 1;
	if ((fd = open(note, O_WRONLY | O_CLOEXEC)) >= 0) {
		dprintf(fd, "held %s\n", path);
		close(fd);
	}
	if ((fd = open(wait, O_RDONLY | O_CLOEXEC)) >= 0) {
		while (read(fd, buf, sizeof(buf)) > 0 || errno == EINTR)
			;
		close(fd);
	}
	errno = saved;
}

static mode_t mode_of(int flags, va_list ap)
{
	return flags & (O_CREAT | O_TMPFILE) ? va_arg(ap, mode_t) : 0;
}

typedef int (*openat_fn)(int, const char *, int, ...);
typedef int (*open_fn)(const char *, int, ...);

static int do_openat(const char *name, int dirfd, const char *path, int flags, mode_t mode)
{
	openat_fn real = (openat_fn)dlsym(RTLD_NEXT, name);
	int fd = real(dirfd, path, flags, mode);

	if (fd >= 0)
		hold(path, flags);
	return fd;
}

static int do_open(const char *name, const char *path, int flags, mode_t mode)
{
	open_fn real = (open_fn)dlsym(RTLD_NEXT, name);
	int fd = real(path, flags, mode);

	if (fd >= 0)
		hold(path, flags);
	return fd;
}

int openat(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_of(flags, ap);
	va_end(ap);
	return do_openat("openat", dirfd, path, flags, mode);
}

int openat64(int dirfd, const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_of(flags, ap);
	va_end(ap);
	return do_openat("openat64", dirfd, path, flags, mode);
}

int open(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_of(flags, ap);
	va_end(ap);
	return do_open("open", path, flags, mode);
}

int open64(const char *path, int flags, ...)
{
	va_list ap;
	mode_t mode;

	va_start(ap, flags);
	mode = mode_of(flags, ap);
	va_end(ap);
	return do_open("open64", path, flags, mode);
}
