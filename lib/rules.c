/* SPDX-License-Identifier: MIT */
/*
 * What an archive member may be: the one list of rules that unpack
 * enforces on what it reads and that pack applies to what it writes, so
 * that save never publishes an archive that every load would refuse (one
 * bad file in a cache dir would otherwise poison the key for the fleet).
 *
 * The reasons are worded as the end of "member 'NAME' ...", unpack's
 * message for a refused member; pack says "skipping NAME: it ...".
 */
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "archive-int.h"
#include "internal.h"

bool b10t_has_control(const char *s)
{
	for (; *s; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return true;
	return false;
}

bool b10t_link_target_ok(const char *link, const char *target)
{
	int depth = 0, ups = 0;
	bool down = false;
	const char *p;

	if (!*target || *target == '/' || b10t_has_control(target))
		return false;
	for (p = link; *p; p++)
		if (*p == '/' && p[1] && p[1] != '/')
			depth++;
	for (p = target; *p; ) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.') {
			if (down || ++ups > depth)
				return false;
		} else if (n && !(n == 1 && p[0] == '.')) {
			down = true;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	return true;
}

static const char *type_refusal(mode_t mode)
{
	switch (mode & S_IFMT) {
	case S_IFREG:
	case S_IFDIR:
	case S_IFLNK:
		return NULL;
	case S_IFCHR:
		return "is a character device";
	case S_IFBLK:
		return "is a block device";
	case S_IFIFO:
		return "is a FIFO";
	case S_IFSOCK:
		return "is a socket";
	}
	return "is not a file, directory or symlink";
}

/* The limits appear in the reasons as numbers: keep the texts in step. */
_Static_assert(NAME_MAX == 255 && B10T_MAX_PATH == 4095 && B10T_MAX_DEPTH == 256,
	       "the reasons below spell out the limits");

const char *b10t_name_refusal(const char *path, size_t depth)
{
	size_t len = 0, comps = 0;
	const char *p;

	if (!path || !*path)
		return "has an empty name";
	if (b10t_has_control(path))
		return "has a control character in its name";
	if (*path == '/')
		return "has an absolute path";
	for (p = path; *p; ) {
		size_t n = strcspn(p, "/");

		if (n == 2 && p[0] == '.' && p[1] == '.')
			return "escapes the cache dir";
		if (n > NAME_MAX)
			return "has a name longer than 255 bytes";
		if (n && !(n == 1 && p[0] == '.')) {	/* "." and "//" normalise away */
			if (++comps > B10T_MAX_DEPTH)
				return "is nested too deep (more than 256 levels)";
			len += n + (len ? 1 : 0);
			if (len > B10T_MAX_PATH)
				return B10T_WHY_PATH_TOO_LONG;
		}
		p += n;
		while (*p == '/')
			p++;
	}
	if (depth > B10T_MAX_DEPTH)
		return "is nested too deep (more than 256 levels)";
	return NULL;
}

const char *b10t_member_refusal(const char *path, size_t depth, mode_t mode,
				const char *link_target)
{
	const char *why = b10t_name_refusal(path, depth);

	if (why)
		return why;
	if (!strcmp(path, B10T_RESERVED_DIR) ||
	    !strncmp(path, B10T_RESERVED_DIR "/", sizeof(B10T_RESERVED_DIR)))
		return "is in b10t's reserved " B10T_RESERVED_DIR " dir";
	if (S_ISREG(mode) && link_target)
		return "is a hardlink";
	if ((why = type_refusal(mode)))
		return why;
	if (mode & (S_ISUID | S_ISGID))
		return "has the setuid or setgid bit";
	if (S_ISLNK(mode)) {
		if (!link_target || !*link_target)
			return "is a symlink with an empty target";
		if (strlen(link_target) > B10T_MAX_PATH)
			return "is a symlink with a target longer than 4095 bytes";
		if (b10t_has_control(link_target))
			return "is a symlink with a control character in its target";
		if (!b10t_link_target_ok(path, link_target))
			return "is a symlink pointing outside the cache dir";
	}
	return NULL;
}
