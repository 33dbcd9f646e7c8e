/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of rules.c: b10t_member_refusal, the one list of what a member
 * may be (pack leaves out what it refuses, unpack rejects it), with the
 * reasons worded as unpack's messages; and pack refusing
 * to make an archive past load's caps on entries and bytes.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <string.h>
#include <sys/stat.h>

#include "archive-int.h"
#include "internal.h"
#include "../tap.h"

#define REG (S_IFREG | 0644)
#define DIR (S_IFDIR | 0755)
#define LNK (S_IFLNK | 0777)

/* The reason for the member, "" when it is accepted. */
static const char *why(const char *path, size_t depth, mode_t mode, const char *link)
{
	const char *r = b10t_member_refusal(path, depth, mode, link);

	return r ? r : "";
}

/* A path of `comps` components "d/d/.../d" (last one `last`). */
static char *deep(char *buf, size_t comps, const char *last)
{
	size_t o = 0;

	for (size_t i = 1; i < comps; i++)
		o += (size_t)sprintf(buf + o, "d/");
	sprintf(buf + o, "%s", last);
	return buf;
}

static void test_names(void)
{
	static char b[3 * PATH_MAX];
	char name[NAME_MAX + 2];

	is_str(why("a", 0, REG, NULL), "", "a plain file");
	is_str(why("a/b/c", 3, DIR, NULL), "", "a dir inside dirs");
	is_str(why("a/.b10t", 0, DIR, NULL), "", ".b10t below the top is an ordinary name");
	is_str(why(".b10tx", 0, REG, NULL), "", ".b10tx is not the reserved dir");
	is_str(why("dé", 0, REG, NULL), "", "a UTF-8 name");
	is_str(why("", 0, REG, NULL), "has an empty name", "empty name");
	is_str(why("a\nb", 0, REG, NULL), "has a control character in its name", "newline");
	is_str(why("d/\001", 0, REG, NULL), "has a control character in its name", "\\x01 in the last component");
	is_str(why("\177", 0, REG, NULL), "has a control character in its name", "DEL");
	is_str(why("/etc/x", 0, REG, NULL), "has an absolute path", "absolute");
	is_str(why("a/../b", 0, REG, NULL), "escapes the cache dir", "dot-dot");
	memset(name, 'n', NAME_MAX);
	name[NAME_MAX] = '\0';
	is_str(why(name, 0, REG, NULL), "", "a component of NAME_MAX bytes");
	name[NAME_MAX] = 'n';
	name[NAME_MAX + 1] = '\0';
	is_str(why(name, 0, REG, NULL), "has a name longer than 255 bytes", "a component over NAME_MAX");

	/* B10T_MAX_PATH bytes: "d/" * k + a tail. */
	memset(b, 0, sizeof(b));
	for (size_t o = 0; o + 2 < B10T_MAX_PATH - 100; o += 200) {
		memset(b + o, 'p', 199);
		b[o + 199] = '/';
	}
	size_t l = strlen(b);
	memset(b + l, 't', B10T_MAX_PATH - l);
	is_int(strlen(b), B10T_MAX_PATH, "(a path of B10T_MAX_PATH bytes)");
	is_str(why(b, 0, REG, NULL), "", "a path of B10T_MAX_PATH bytes");
	b[B10T_MAX_PATH] = 't';
	is_str(why(b, 0, REG, NULL), "has a path longer than 4095 bytes", "a path one byte longer");

	is_str(why(deep(b, B10T_MAX_DEPTH, "f"), 0, REG, NULL), "", "B10T_MAX_DEPTH components");
	is_str(why(deep(b, B10T_MAX_DEPTH + 1, "f"), 0, REG, NULL), "is nested too deep (more than 256 levels)",
	       "one component more, counted here");
	is_str(why("f", B10T_MAX_DEPTH + 1, REG, NULL), "is nested too deep (more than 256 levels)",
	       "one component more, as the caller counted");
	is_str(why(deep(b, B10T_MAX_DEPTH, "f"), B10T_MAX_DEPTH, DIR, NULL), "",
	       "a dir at B10T_MAX_DEPTH, as the caller counted");

	is_str(why(".b10t", 0, DIR, NULL), "is in b10t's reserved .b10t dir", "the reserved dir");
	is_str(why(".b10t/manifest.json", 0, REG, NULL), "is in b10t's reserved .b10t dir",
	       "inside the reserved dir");
}

static void test_types(void)
{
	is_str(why("a", 0, S_IFIFO | 0644, NULL), "is a FIFO", "FIFO");
	is_str(why("a", 0, S_IFSOCK | 0755, NULL), "is a socket", "socket");
	is_str(why("a", 0, S_IFCHR | 0644, NULL), "is a character device", "char device");
	is_str(why("a", 0, S_IFBLK | 0644, NULL), "is a block device", "block device");
	is_str(why("a", 0, 0644, NULL), "is not a file, directory or symlink", "no type");
	is_str(why("b", 0, REG, "a"), "is a hardlink", "a tar hardlink");
	is_str(why("a", 0, S_IFREG | 04755, NULL), "has the setuid or setgid bit", "setuid");
	is_str(why("a", 0, S_IFDIR | 02755, NULL), "has the setuid or setgid bit", "setgid dir");
	is_str(why("a", 0, S_IFREG | 01755, NULL), "", "the sticky bit is no reason");
	is_str(why("a", 0, S_IFREG | 0777, NULL), "", "mode 0777 is no reason (umask applies)");
}

static void test_links(void)
{
	static char t[PATH_MAX + 2];

	is_str(why("l", 0, LNK, "a/b"), "", "link down");
	is_str(why("d/l", 0, LNK, "../x"), "", "link up one level from a subdir");
	is_str(why("l", 0, LNK, "../x"), "is a symlink pointing outside the cache dir",
	       "link up from the top");
	is_str(why("d/l", 0, LNK, "../../x"), "is a symlink pointing outside the cache dir",
	       "link up two levels from a subdir");
	is_str(why("d/l", 0, LNK, "a/../../x"), "is a symlink pointing outside the cache dir",
	       "dot-dot after a component");
	is_str(why("l", 0, LNK, "/etc/passwd"), "is a symlink pointing outside the cache dir",
	       "absolute target");
	is_str(why("l", 0, LNK, ""), "is a symlink with an empty target", "empty target");
	is_str(why("l", 0, LNK, NULL), "is a symlink with an empty target", "no target");
	is_str(why("l", 0, LNK, "a\nb"), "is a symlink with a control character in its target",
	       "control character in the target");
	memset(t, 'x', B10T_MAX_PATH);
	t[B10T_MAX_PATH] = '\0';
	is_str(why("l", 0, LNK, t), "", "a target of B10T_MAX_PATH bytes");
	t[B10T_MAX_PATH] = 'x';
	t[B10T_MAX_PATH + 1] = '\0';
	is_str(why("l", 0, LNK, t), "is a symlink with a target longer than 4095 bytes", "a target too long");
	is_str(why("a\nl", 0, LNK, "x"), "has a control character in its name",
	       "the name is checked before the target");
}

static int pack_with(const char *src, const char *out, uint64_t entries, uint64_t bytes)
{
	struct b10t_ctx ctx;
	struct b10t_limits lim;
	int fd = open(out, O_WRONLY | O_CREAT | O_TRUNC, 0644), r;

	b10t_ctx_init(&ctx);
	b10t_limits_default(&lim);
	lim.max_entries = entries;
	lim.max_bytes = bytes;
	r = b10t_pack(&ctx, src, fd, "{}", &lim, NULL);
	close(fd);
	if (r < 0)
		printf("# %s\n", b10t_ctx_error(&ctx));
	return r;
}

/* Load refuses more than its caps: pack does not make such an archive. */
static void test_caps(void)
{
	char top[PATH_MAX], src[PATH_MAX + 8], out[PATH_MAX + 16];

	tap_tmpdir(top, sizeof(top), "rules");
	snprintf(src, sizeof(src), "%s/src", top);
	snprintf(out, sizeof(out), "%s/a.tar.lz4", top);
	mkdir(src, 0755);
	for (int i = 0; i < 3; i++) {
		char f[PATH_MAX + 16];
		int fd;

		snprintf(f, sizeof(f), "%s/f%d", src, i);
		fd = open(f, O_WRONLY | O_CREAT, 0644);
		if (fd < 0 || write(fd, "0123456789", 10) != 10)
			printf("Bail out! cannot write %s\n", f), exit(1);
		close(fd);
	}
	/* 4 members: the manifest ("{}", 2 bytes) and 3 files of 10 bytes. */
	is_int(pack_with(src, out, 4, 32), 0, "pack at exactly load's caps");
	is_int(pack_with(src, out, 3, 32), -E2BIG, "one entry over load's entry cap: refused");
	is_int(pack_with(src, out, 4, 31), -E2BIG, "one byte over load's byte cap: refused");
	tap_rmdir(top);
}

int main(void)
{
	test_names();
	test_caps();
	test_types();
	test_links();
	return tap_done();
}
