/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of tree removal (lib/rmtree.c) and tree_size: any depth with a
 * bounded number of fds, wide dirs, read-only dirs, symlinks out of the
 * tree, mounts inside it, and the keep set that protects the store.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <grp.h>
#include <unistd.h>

#include "internal.h"
#include "../tap.h"

static struct b10t_ctx ctx;
static char root[PATH_MAX / 2];
static int rootfd;

static void die(const char *what)
{
	printf("Bail out! %s: %s\n", what, strerror(errno));
	exit(1);
}

static void mkfile(int dirfd, const char *name, size_t bytes)
{
	static const char buf[4096];
	int fd = openat(dirfd, name, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);

	if (fd < 0)
		die(name);
	for (size_t n; bytes; bytes -= n) {
		n = bytes < sizeof(buf) ? bytes : sizeof(buf);
		if (write(fd, buf, n) != (ssize_t)n)
			die(name);
	}
	close(fd);
}

/* mkdirat + openat, the fd of the new dir. */
static int mkdir_in(int dirfd, const char *name)
{
	int fd;

	if (mkdirat(dirfd, name, 0755) < 0 && errno != EEXIST)
		die(name);
	if ((fd = openat(dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		die(name);
	return fd;
}

/*
 * A chain of `levels` dirs named "d" below dirfd/name, a 10-byte file every
 * `every` levels; the fd of the deepest dir when keep_bottom, else -1.
 */
static int chain(int dirfd, const char *name, int levels, int every, bool keep_bottom)
{
	int fd = mkdir_in(dirfd, name);

	for (int i = 1; i < levels; i++) {
		int next = mkdir_in(fd, "d");

		if (every && i % every == 0)
			mkfile(fd, "f", 10);
		close(fd);
		fd = next;
	}
	if (keep_bottom)
		return fd;
	close(fd);
	return -1;
}

static bool exists(const char *name)
{
	struct stat st;

	return fstatat(rootfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
}

static int open_fds(void)
{
	char path[64];
	int n = 0;

	for (int fd = 0; fd < 1024; fd++) {
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
		if (access(path, F_OK) == 0)
			n++;
	}
	return n;
}

static void test_deep(void)
{
	const int levels = 5000;
	struct rlimit old, low;
	struct b10t_rm rm = { 0 };
	uint64_t bytes, files, dirs;
	char path[PATH_MAX];
	double t0;
	int fds, r;

	chain(rootfd, "deep", levels, 100, false);
	snprintf(path, sizeof(path), "%s/deep", root);
	/* tree_size: counted, not refused, at any depth. */
	r = b10t_tree_size(&ctx, path, &bytes, &files, &dirs);
	is_int(r, 0, "tree_size of a 5,000-level tree succeeds");
	/* What pack takes: 256 components, so 256 dirs and 2 of the files. */
	is_int(files + dirs, B10T_MAX_DEPTH + 2, "tree_size counts the entries of up to 256 components");
	is_int(files, 2, "of them 2 files");
	is_int(bytes, 20, "tree_size counts those files' bytes");

	/* At most 64 fds: the walk must not hold one per level. */
	getrlimit(RLIMIT_NOFILE, &old);
	low = old;
	low.rlim_cur = 64;
	setrlimit(RLIMIT_NOFILE, &low);
	fds = open_fds();
	t0 = (double)clock() / CLOCKS_PER_SEC;
	r = b10t_rm_tree_at(rootfd, "deep", &rm);
	printf("# removed %d levels in %.3f s CPU\n", levels,
	       (double)clock() / CLOCKS_PER_SEC - t0);
	setrlimit(RLIMIT_NOFILE, &old);
	is_int(r, 0, "a 5,000-level tree is removed, with at most 64 fds");
	is_int(rm.err, 0, "no error recorded");
	ok(!exists("deep"), "nothing of it is left");
	is_int(rm.files + rm.dirs, levels + 49, "every dir and file counted");
	is_int(rm.files, 49, "the files apart from the dirs");
	is_int(rm.bytes, 490, "bytes of the files counted");
	is_int(open_fds(), fds, "no fd leaked");
}

static void test_wide(void)
{
	struct b10t_rm rm = { 0 };
	char name[32];
	int fd = mkdir_in(rootfd, "wide");

	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "file%04d", i);
		mkfile(fd, name, 1);
	}
	for (int i = 0; i < 200; i++) {
		int sub;

		snprintf(name, sizeof(name), "dir%03d", i);
		sub = mkdir_in(fd, name);
		for (int j = 0; j < 10; j++) {
			snprintf(name, sizeof(name), "f%d", j);
			mkfile(sub, name, 2);
		}
		close(sub);
	}
	close(fd);
	is_int(b10t_rm_tree_at(rootfd, "wide", &rm), 0, "a wide tree is removed");
	ok(!exists("wide"), "nothing of it is left");
	is_int(rm.files + rm.dirs, 1 + 3000 + 200 + 2000, "every entry counted");
	is_int(rm.bytes, 3000 + 4000, "bytes counted");
}

static void test_readonly(void)
{
	struct b10t_rm rm = { 0 };
	int fd = mkdir_in(rootfd, "ro"), sub = mkdir_in(fd, "sub"), bottom;

	mkfile(sub, "f", 3);
	fchmod(sub, 0555);
	close(sub);
	/* And a read-only dir deep down, past the levels that keep their fd. */
	bottom = chain(fd, "chain", 100, 0, true);
	mkfile(bottom, "g", 4);
	fchmod(bottom, 0555);
	close(bottom);
	close(fd);
	fchmodat(rootfd, "ro", 0555, 0);
	is_int(b10t_rm_tree_at(rootfd, "ro", &rm), 0, "read-only dirs are made writable and removed");
	ok(!exists("ro"), "nothing of it is left");
	is_int(rm.bytes, 7, "their files counted");
}

static void test_symlinks(void)
{
	struct b10t_rm rm = { 0 };
	int out = mkdir_in(rootfd, "outside"), fd, deep;
	struct stat st;

	mkfile(out, "precious", 8);
	fd = mkdir_in(rootfd, "links");
	if (symlinkat("../outside", fd, "to-dir") < 0 ||
	    symlinkat("../outside/precious", fd, "to-file") < 0)
		die("symlink");
	deep = chain(fd, "chain", 60, 0, true);
	if (symlinkat(root, deep, "to-root") < 0)
		die("symlink");
	close(deep);
	close(fd);
	is_int(b10t_rm_tree_at(rootfd, "links", &rm), 0, "a tree with symlinks out is removed");
	ok(!exists("links"), "the links are gone");
	ok(fstatat(out, "precious", &st, 0) == 0 && st.st_size == 8,
	   "the links' target is untouched");
	ok(exists("outside"), "the dir linked to is untouched");
	close(out);
}

/* The store inside the tree: emptied around, left whole, the top stays. */
static void test_keep(void)
{
	struct b10t_config cfg;
	struct b10t_rm rm;
	struct stat st;
	char store[PATH_MAX], link[PATH_MAX];
	int fd, deep, s;

	fd = mkdir_in(rootfd, "tree");
	mkfile(fd, "junk", 5);
	deep = chain(fd, "chain", 50, 0, true);
	s = mkdir_in(deep, "store");
	mkfile(s, "cache_abc.tar.lz4", 100);
	mkfile(deep, "beside", 1);
	close(s);
	close(deep);
	close(fd);
	snprintf(store, sizeof(store), "%s/tree/chain", root);
	for (int i = 1; i < 50; i++)
		strcat(store, "/d");
	strcat(store, "/store");
	/* Given through a symlink, as B10FS_CACHE_DIR may be. */
	snprintf(link, sizeof(link), "%s/store-link", root);
	if (symlink(store, link) < 0)
		die("symlink");

	memset(&cfg, 0, sizeof(cfg));
	snprintf(cfg.store_dir, sizeof(cfg.store_dir), "%s", link);
	snprintf(cfg.cache_dir, sizeof(cfg.cache_dir), "%s/tree", root);
	b10t_rm_init(&rm, &cfg);
	is_int(rm.n_keep, 3, "init keeps the store, the symlink naming it, the cache dir's parent");
	is_int(b10t_rm_tree_at(rootfd, "tree", &rm), -EBUSY, "a tree holding the store: EBUSY");
	is_str(rm.what, "tree", "naming the tree that stays");
	is_int(rm.kept, 1, "the store is reported kept");
	ok(rm.kept_inside, "and the tree is said to hold it");
	ok(stat(store, &st) == 0 && S_ISDIR(st.st_mode), "the store dir stays");
	snprintf(link, sizeof(link), "%s/cache_abc.tar.lz4", store);
	ok(stat(link, &st) == 0 && st.st_size == 100, "the store's archive stays whole");
	ok(exists("tree") && !exists("tree/junk"), "the rest of the tree is removed, the top stays");
	snprintf(link, sizeof(link), "%s/../beside", store);
	ok(access(link, F_OK) < 0, "even next to the store, deep down");

	/* The store itself as the tree to remove: refused. */
	b10t_rm_init(&rm, &cfg);
	fd = open(store, O_RDONLY | O_DIRECTORY);
	b10t_rm_contents(fd, &rm);
	is_int(rm.err, EBUSY, "emptying the store itself is refused");
	snprintf(link, sizeof(link), "%s/cache_abc.tar.lz4", store);
	ok(access(link, F_OK) == 0, "and its archive is still there");
	snprintf(cfg.store_dir, sizeof(cfg.store_dir), "%s/tree", root);
	b10t_rm_init(&rm, &cfg);
	is_int(b10t_rm_tree_at(rootfd, "tree", &rm), -EBUSY, "removing the store by its name is refused");
	ok(exists("tree"), "and it stays");
	rm = (struct b10t_rm){ 0 };
	is_int(b10t_rm_tree_at(rootfd, "tree", &rm), 0, "without a keep set it goes");
	ok(!exists("tree"), "(cleanup)");
	unlinkat(rootfd, "store-link", 0);
}

static void test_mount(void)
{
	struct b10t_rm rm = { 0 };
	char mnt[PATH_MAX], f[PATH_MAX + 8];
	int fd, deep, m;

	fd = mkdir_in(rootfd, "m");
	mkfile(fd, "x", 1);
	deep = chain(fd, "chain", 40, 0, true);
	m = mkdir_in(deep, "mnt");
	close(m);
	close(deep);
	close(fd);
	snprintf(mnt, sizeof(mnt), "%s/m/chain", root);
	for (int i = 1; i < 40; i++)
		strcat(mnt, "/d");
	strcat(mnt, "/mnt");
	if (geteuid() != 0 || mount("b10t-test", mnt, "tmpfs", 0, NULL) < 0) {
		printf("ok %d # SKIP a mount inside: needs root and tmpfs\n", ++tap_n);
		rm = (struct b10t_rm){ 0 };
		b10t_rm_tree_at(rootfd, "m", &rm);
		return;
	}
	snprintf(f, sizeof(f), "%s/keep", mnt);
	fd = open(f, O_WRONLY | O_CREAT, 0644);
	close(fd);
	is_int(b10t_rm_tree_at(rootfd, "m", &rm), -EBUSY, "a mount inside: EBUSY");
	is_str(rm.what, "mnt", "the mount is named");
	ok(access(f, F_OK) == 0, "the mount's files survive");
	ok(!exists("m/x"), "the rest is removed");
	umount(mnt);
	rm = (struct b10t_rm){ 0 };
	is_int(b10t_rm_tree_at(rootfd, "m", &rm), 0, "removable once unmounted");
}

/*
 * The tree moved under the walk: a process renames a dir at level 35 out
 * of the tree (into "elsewhere") while the walk is busy deeper down.  The
 * way back up through ".." then leads into "elsewhere", which the walk
 * must notice (dev/ino) and stop at, not unlink entries there.
 */
static void test_moved(void)
{
	struct b10t_rm rm = { 0 };
	int l34, l35, l50, out, pipefd[2], status;
	char name[32], buf[4096];
	struct stat st;
	pid_t pid;

	out = mkdir_in(rootfd, "elsewhere");
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "z%02d", i);
		close(mkdir_in(out, name));
	}
	mkfile(out, "precious", 8);
	l34 = chain(rootfd, "mv", 35, 0, true);		/* mv = level 0 */
	for (int i = 0; i < 20; i++) {
		snprintf(name, sizeof(name), "z%02d", i);
		close(mkdir_in(l34, name));
	}
	l35 = mkdir_in(l34, "d");
	l50 = chain(l35, "d", 15, 0, true);
	for (int i = 0; i < 3000; i++) {
		snprintf(name, sizeof(name), "f%04d", i);
		mkfile(l50, name, 0);
	}
	if (pipe(pipefd) < 0)
		die("pipe");
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		char p[64];
		int in = inotify_init1(IN_CLOEXEC);

		snprintf(p, sizeof(p), "/proc/self/fd/%d", l50);
		if (in < 0 || inotify_add_watch(in, p, IN_DELETE) < 0)
			_exit(2);
		if (write(pipefd[1], "r", 1) != 1)
			_exit(2);
		if (read(in, buf, sizeof(buf)) <= 0)	/* the walk is down there */
			_exit(2);
		_exit(renameat(l34, "d", out, "moved") < 0 ? 3 : 0);
	}
	close(pipefd[1]);
	if (read(pipefd[0], buf, 1) != 1)
		die("pipe");
	close(pipefd[0]);
	close(l50);
	close(l35);
	close(l34);
	b10t_rm_tree_at(rootfd, "mv", &rm);
	waitpid(pid, &status, 0);
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		printf("ok %d # SKIP moved tree: the rename did not happen (%d)\n", ++tap_n, status);
	} else if (fstatat(out, "moved", &st, AT_SYMLINK_NOFOLLOW) < 0) {
		printf("ok %d # SKIP moved tree: the walk finished before the rename\n", ++tap_n);
	} else {
		int left = 0;

		is_int(rm.err, ESTALE, "a tree moved during the walk: it stops with ESTALE");
		for (int i = 0; i < 20; i++) {
			snprintf(name, sizeof(name), "z%02d", i);
			left += fstatat(out, name, &st, AT_SYMLINK_NOFOLLOW) == 0;
		}
		is_int(left, 20, "nothing is removed from the dir it was moved into");
		ok(fstatat(out, "precious", &st, 0) == 0, "the files there stay");
		printf("# %s\n", rm.what);
	}
	close(out);
	rm = (struct b10t_rm){ 0 };
	b10t_rm_tree_at(rootfd, "mv", &rm);
	rm = (struct b10t_rm){ 0 };
	b10t_rm_tree_at(rootfd, "elsewhere", &rm);
}

/*
 * As a user (nobody when run as root), where permissions hold: dirs of mode
 * 0000 and 0500 in the tree, as an archive or a user may leave them, are
 * still removed.  In a child, which reports by its exit status.
 */
static void test_unreadable_as_user(void)
{
	char dir[PATH_MAX];
	int status;
	pid_t pid;

	snprintf(dir, sizeof(dir), "%s/user", root);
	if ((pid = fork()) < 0)
		die("fork");
	if (pid == 0) {
		struct b10t_rm rm = { 0 };
		int top, fd, sub;

		if (mkdir(dir, 0755) < 0)
			_exit(10);
		if (geteuid() == 0 && (chmod(root, 0711) < 0 || chown(dir, 65534, 65534) < 0 ||
				       setgroups(0, NULL) < 0 || setgid(65534) < 0 ||
				       setuid(65534) < 0))
			_exit(10);
		if ((top = open(dir, O_RDONLY | O_DIRECTORY)) < 0)
			_exit(10);
		fd = mkdir_in(top, "t");
		sub = mkdir_in(fd, "closed");
		mkfile(sub, "f", 1);
		fchmod(sub, 0);
		close(sub);
		sub = mkdir_in(fd, "readonly");
		mkfile(sub, "g", 1);
		fchmod(sub, 0500);
		close(sub);
		close(fd);
		if (b10t_rm_tree_at(top, "t", &rm) < 0)
			_exit(11);
		_exit(faccessat(top, "t", F_OK, AT_SYMLINK_NOFOLLOW) == 0 ? 12 : 0);
	}
	waitpid(pid, &status, 0);
	if (WIFEXITED(status) && WEXITSTATUS(status) == 10) {
		printf("ok %d # SKIP unreadable dirs as a user: cannot make the dir or become nobody\n",
		       ++tap_n);
		return;
	}
	is_int(WIFEXITED(status) ? WEXITSTATUS(status) : 100 + WTERMSIG(status), 0,
	       "as a user: 0000 and 0500 dirs are opened up and removed");
}

int main(void)
{
	tap_tmpdir(root, sizeof(root), "rmtree");
	if ((rootfd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		die(root);
	test_deep();
	test_wide();
	test_readonly();
	test_symlinks();
	test_keep();
	test_mount();
	test_moved();
	test_unreadable_as_user();
	close(rootfd);
	tap_rmdir(root);
	return tap_done();
}
