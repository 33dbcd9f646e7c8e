/* SPDX-License-Identifier: MIT */
/* The shared idioms of lib/ (lib/util.c, lib/ctx.c): one rule each. */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"
#include "../tap.h"

static char tmp[PATH_MAX / 2];

static void test_errors(void)
{
	struct b10t_ctx ctx;

	b10t_ctx_init(&ctx);
	is_int(b10t_sys_error(&ctx, ENOENT, "opening %s", "/x"), -ENOENT, "sys_error returns -errnum");
	is_str(b10t_ctx_error(&ctx), "opening /x: No such file or directory",
	       "sys_error: the message, then strerror");
	is_int(b10t_wrap_error(&ctx, EIO, "loading %s", "k"), -EIO, "wrap_error returns -errnum");
	is_str(b10t_ctx_error(&ctx), "loading k: opening /x: No such file or directory",
	       "wrap_error: what was being done, before the inner message");
	is_int(ctx.err_code, -EIO, "wrap_error sets the code it was given");
	is_int(b10t_append_error(&ctx, EBADMSG, "; moved aside as %s", "y"), -EBADMSG,
	       "append_error returns -errnum");
	is_str(b10t_ctx_error(&ctx), "loading k: opening /x: No such file or directory; moved aside as y",
	       "append_error: what came of it, after the message");
	b10t_clear_error(&ctx);
	b10t_wrap_error(&ctx, EIO, "loading");
	is_str(b10t_ctx_error(&ctx), "loading: unknown error", "wrap_error of no message");
}

static void test_path_split(void)
{
	static const struct { const char *path, *parent, *base; int r; } cases[] = {
		{ "/a/b/c", "/a/b", "c", 0 },
		{ "/a", "/", "a", 0 },
		{ "/", NULL, NULL, -EINVAL },
		{ "/a/", NULL, NULL, -EINVAL },
		{ "a", NULL, NULL, -EINVAL },
	};
	char parent[64], small[3];
	const char *base;

	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = b10t_path_split(cases[i].path, parent, sizeof(parent), &base);
		char name[80];

		snprintf(name, sizeof(name), "path_split '%s': %d", cases[i].path, cases[i].r);
		is_int(r, cases[i].r, name);
		if (!cases[i].r && !r) {
			snprintf(name, sizeof(name), "path_split '%s': parent and base", cases[i].path);
			ok(!strcmp(parent, cases[i].parent) && !strcmp(base, cases[i].base), "%s", name);
		}
	}
	is_int(b10t_path_split("/abc/d", small, sizeof(small), &base), -ENAMETOOLONG,
	       "path_split: a parent that does not fit is ENAMETOOLONG");
}

static void test_readdir(void)
{
	char path[PATH_MAX], **names;
	struct dirent *de;
	size_t n, seen = 0;
	int err = -1, fd;
	DIR *d;

	snprintf(path, sizeof(path), "%s/d", tmp);
	mkdir(path, 0755);
	for (const char *const *p = (const char *const[]){ "b", "a", "c", NULL }; *p; p++) {
		char f[PATH_MAX + 4];

		snprintf(f, sizeof(f), "%s/%s", path, *p);
		close(open(f, O_CREAT | O_WRONLY, 0644));
	}
	d = opendir(path);
	while ((de = b10t_readdir(d, &err)))
		seen += strcmp(de->d_name, ".") && strcmp(de->d_name, "..");
	is_int(seen, 3, "readdir: every entry, never . or ..");
	is_int(err, 0, "readdir: the end of the directory is err 0");
	closedir(d);

	/* A read that fails (its fd closed under it: EBADF) is not the end. */
	d = opendir(path);
	close(dirfd(d));
	err = 0;
	de = b10t_readdir(d, &err);
	ok(!de && err == EBADF, "readdir: a failed read is NULL with err EBADF (got %d)", err);
	closedir(d);

	fd = open(path, O_RDONLY | O_DIRECTORY);
	d = b10t_opendir_at(fd);
	seen = 0;
	while (d && b10t_readdir(d, &err))
		seen++;
	is_int(seen, 3, "opendir_at reads the dir from its start");
	if (d)
		closedir(d);
	ok(fcntl(fd, F_GETFD) >= 0, "opendir_at leaves the fd open");

	is_int(b10t_dir_names(fd, &names, &n), 0, "dir_names: 0");
	ok(n == 3 && !strcmp(names[0], "a") && !strcmp(names[1], "b") && !strcmp(names[2], "c"),
	   "dir_names: the names, sorted");
	b10t_free_names(names, n);
	ok(fcntl(fd, F_GETFD) < 0, "dir_names closes the fd");
	is_int(b10t_dir_names(-1, &names, &n), -EBADF, "dir_names of no fd: -EBADF");
	ok(!names && !n, "dir_names on failure leaves nothing allocated");
}

static void test_grow(void)
{
	int *v = NULL;
	size_t cap = 0;
	char *big = NULL;
	size_t bcap = 0;

	is_int(B10T_GROW(v, cap, 1, 8), 0, "grow from nothing");
	is_int(cap, 8, "grow starts at `first`");
	is_int(B10T_GROW(v, cap, 8, 8), 0, "grow within the capacity");
	is_int(cap, 8, "... keeps it");
	is_int(B10T_GROW(v, cap, 9, 8), 0, "grow past it");
	is_int(cap, 16, "... doubles");
	is_int(B10T_GROW(v, cap, 100, 8), 0, "grow far past it");
	is_int(cap, 128, "... doubles until it fits");
	v[99] = 1;
	is_int(B10T_GROW(v, cap, SIZE_MAX / 2, 8), -ENOMEM, "grow whose bytes overflow: -ENOMEM");
	is_int(cap, 128, "... the capacity is as it was");
	ok(v[99] == 1, "... and so is the array");
	is_int(B10T_GROW(big, bcap, SIZE_MAX, 1), -ENOMEM, "grow whose count overflows: -ENOMEM");
	ok(big == NULL && bcap == 0, "... nothing allocated");
	free(v);
}

static void test_push(void)
{
	size_t *v = NULL, n = 0;
	char *big = (char *)1;	/* never dereferenced: the overflow comes first */
	bool kept = true;

	for (n = 0; n < 1000; n++) {
		if (B10T_PUSH(v, n) < 0)
			break;
		v[n] = n;	/* under ASan: each index written is inside the allocation */
	}
	is_int(n, 1000, "push 1,000 elements one by one");
	for (size_t i = 0; i < n; i++)
		kept = kept && v[i] == i;
	ok(kept, "... every element kept through the reallocs");
	is_int(B10T_PUSH(v, 1000), 0, "push at a count that is not a power of two: room already");
	is_int(B10T_PUSH(big, (SIZE_MAX / 2) + 1), -ENOMEM, "push whose count overflows: -ENOMEM");
	ok(big == (char *)1, "... the array is as it was");
	is_int(B10T_PUSH(v, (size_t)1 << 62), -ENOMEM, "push whose bytes overflow: -ENOMEM");
	ok(v[999] == 999, "... and so is its content");
	free(v);
}

static void test_umask(void)
{
	mode_t old = umask(027);

	is_int(b10t_umask(), 027, "umask read: 027");
	is_int(umask(027), 027, "... and left as it was");
	umask(0);
	is_int(b10t_umask(), 0, "umask read: 0");
	umask(old);
}

int main(void)
{
	tap_tmpdir(tmp, sizeof(tmp), "util");
	test_errors();
	test_path_split();
	test_readdir();
	test_grow();
	test_push();
	test_umask();
	tap_rmdir(tmp);
	return tap_done();
}
