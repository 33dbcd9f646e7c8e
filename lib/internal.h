/* SPDX-License-Identifier: MIT */
/* Helpers shared inside libb10t; not part of the installed API. */
#ifndef B10T_INTERNAL_H
#define B10T_INTERNAL_H

#include <dirent.h>
#include <errno.h>
#include <stdbool.h>
#include <limits.h>
#include <stdint.h>
#include <sys/types.h>

#include "b10t-int.h"
#include "names.h"

/* Not part of the API: never exported from libb10t.so. */
#pragma GCC visibility push(hidden)

/*
 * One limit on the trees b10t writes and reads, for pack, unpack, gc and
 * clear alike: a member path has at most B10T_MAX_DEPTH components and
 * B10T_MAX_PATH bytes (relative to the cache dir), each component at most
 * NAME_MAX.  Removal (rmtree.c) handles any depth, so a tree made by
 * someone else can still be removed.
 */
#define B10T_MAX_DEPTH 256
#define B10T_MAX_PATH (PATH_MAX - 1)

/* A dir by identity: what a symlink or a bind mount cannot disguise. */
struct b10t_rm_id {
	dev_t dev;
	ino_t ino;
};

#define B10T_RM_KEEP_MAX 16

/*
 * What a tree removal did, and the first thing that failed.  Start one with
 * b10t_rm_init(), which fills the keep set from the config: the store and
 * the cache dir's parent are then never entered nor removed, whatever path
 * or name leads to them (a symlink, a bind mount, a dir named like debris).
 */
struct b10t_rm {
	uint64_t files;			/* files and symlinks removed */
	uint64_t dirs;			/* directories removed */
	uint64_t bytes;			/* bytes of regular files removed */
	int err;			/* first errno, 0 when none */
	char what[NAME_MAX + 1];	/* the entry it happened to */
	uint64_t kept;			/* kept dirs met (left whole) */
	bool kept_inside;		/* the last tree walked holds one: it stays */
	size_t n_keep;
	struct b10t_rm_id keep[B10T_RM_KEEP_MAX];
};

/* Record the first failure of a removal (later ones are dropped). */
void b10t_rm_fail(struct b10t_rm *rm, int err, const char *name);
/* Zero rm and keep cfg's store and the cache dir's parent (cfg may be NULL). */
void b10t_rm_init(struct b10t_rm *rm, const struct b10t_config *cfg);
/* Add the dir at path (symlinks followed) to the keep set, if it exists,
 * and every symlink on the way to it (removing one would leave the path
 * dangling). */
void b10t_rm_keep(struct b10t_rm *rm, const char *path);
/*
 * Delete everything inside the directory dirfd (closed here), through
 * directory fds, at any depth: never follows a symlink, never enters
 * another mount or a kept dir.  Errors go to rm->err (the first one); it
 * goes on past them.
 */
void b10t_rm_contents(int dirfd, struct b10t_rm *rm);
/* Remove parent_fd/name, a tree or a single entry; absent is fine.  A kept
 * dir as name is -EBUSY; a tree holding one is emptied around it and stays
 * (-EBUSY too, rm->kept_inside set). */
int b10t_rm_tree_at(int parent_fd, const char *name, struct b10t_rm *rm);
/* The same for an absolute path, keeping cfg's store (b10t_rm_init). */
int b10t_rm_path_keep(const char *path, const struct b10t_config *cfg);
/* Count the entries and regular-file bytes below the dir fd (closed here),
 * of at most max_depth components (0: any), without following symlinks;
 * iterative, so any depth costs no stack and a bounded number of fds. */
int b10t_count_tree(int dirfd, size_t max_depth, uint64_t *bytes, uint64_t *files,
		    uint64_t *dirs);

/*
 * Local staging (lib/local.c, docs/store-protocol.md).  Load stages next to
 * the cache dir (B10T_NAME_STAGING), or inside it (B10T_NAME_INSIDE) when
 * the dir is a mount point or its parent is not writable; clear renames it
 * aside (B10T_NAME_CLEAR); the names are lib/names.c's, their tag
 * "ns<pid ns inode>-<boot id, 8 hex>.<pid>.<rnd>".  An in-place install
 * moves the staging's entries into the cache dir under the marker
 * B10T_INSTALL_MARKER, a symlink to the staging dir that exists only once
 * the staging was verified whole.
 */
/* A staging of another pid namespace or boot is debris when untouched this long. */
#define B10T_FOREIGN_MAX_AGE 3600
/* How often a live load touches its staging dir's mtime, seconds. */
#define B10T_STAGING_TOUCH_S 5

/* A fresh local name of `kind` (B10T_NAME_STAGING, _CLEAR: next to the
 * cache dir named `base`; B10T_NAME_INSIDE: base NULL).  -ENAMETOOLONG.
 * (lib/names.c) */
int b10t_local_name(char *buf, size_t size, enum b10t_name_kind kind, const char *base);
/* Whether a top-level cache dir entry has a name b10t keeps for itself (the
 * marker, in-place staging): never packed, never taken from an archive. */
bool b10t_local_reserved(const char *name);
/*
 * Move the entries of staging dir `sname` (inside the cache dir tfd, path
 * `dir` for messages) into the cache dir without replacing any, then remove
 * the marker and the staging dir.  Several processes may run it at once.
 * -ENOENT (no message) when the staging dir is gone.  *moved counts the
 * entries it moved, *kept those it left because the name was taken.
 */
int b10t_local_finish(struct b10t_ctx *ctx, const struct b10t_config *cfg, int tfd,
		      const char *dir, const char *sname, uint64_t *moved, uint64_t *kept);
/*
 * An interrupted install in the cache dir `dir` (its marker is there):
 * finish it, or clean it when its staging dir is gone.  0 nothing to do,
 * 1 finished, 2 cleaned (note says which, for the user), -errno.
 */
int b10t_local_recover(struct b10t_ctx *ctx, const struct b10t_config *cfg, const char *dir,
		       char *note, size_t size);

/*
 * Debris a killed load or clear leaves next to the cache dir, and in-place
 * staging of dead loads inside it (see lib/local.c for the rules).  Calls
 * found() for each (removed unless dry_run); returns the count, never an
 * error: it is housekeeping.
 */
int b10t_local_debris(struct b10t_ctx *ctx, const struct b10t_config *cfg, bool dry_run,
		      void (*found)(void *arg, const char *name, const char *reason,
				    uint64_t bytes),
		      void *arg);

/* Stop a long operation: the cancel flag is up (see struct b10t_ctx). */
static inline int b10t_check_cancel(struct b10t_ctx *ctx)
{
	if (ctx->cancel && *ctx->cancel)
		return b10t_set_error(ctx, EINTR, "interrupted by a signal");
	return 0;
}

struct stat;
/*
 * Open an archive of the store for reading and decide on the fd: O_NONBLOCK
 * (a FIFO cannot hang the open), O_NOFOLLOW (a symlink is refused, ELOOP),
 * then fstat into *st: anything but a regular file is refused (EISDIR,
 * EINVAL).  noatime: keep the atime (gc's last use) where allowed.
 * The fd, or -errno with the message set.  (lib/store.c)
 */
int b10t_open_archive(struct b10t_ctx *ctx, const char *path, bool noatime, struct stat *st);
/* lstat and fstatat of a name in the store, once more on ESTALE (a stale
 * NFS handle: the second lookup asks the server afresh). */
int b10t_lstat_fresh(const char *path, struct stat *st);
int b10t_fstatat_fresh(int dfd, const char *name, struct stat *st, int flags);

/*
 * The idioms every file needs, written once (lib/ctx.c, lib/util.c).
 *
 * Errors: b10t_sys_error() is b10t_set_error() with ": <strerror(errnum)>"
 * after the message; b10t_wrap_error() puts what was being done before the
 * message already in the ctx ("extracting X: <what failed inside>"), and
 * b10t_append_error() what came of it after.
 */
int b10t_sys_error(struct b10t_ctx *ctx, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
int b10t_wrap_error(struct b10t_ctx *ctx, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
/* The same after the message: "<what failed>; moved aside as X". */
int b10t_append_error(struct b10t_ctx *ctx, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

/* Split an absolute normalised path into its parent ("/" for a top-level
 * name) and last component, which points into path.  -EINVAL for no last
 * component ("/", "x", "/a/"), -ENAMETOOLONG when the parent does not fit. */
int b10t_path_split(const char *path, char *parent, size_t psize, const char **base);

/*
 * The one readdir rule: the next entry of d other than "." and "..", or
 * NULL at the end of the directory (*err = 0) or on a read error (*err =
 * the errno).  readdir() answers NULL for both, and only errno cleared
 * before the call tells them apart: a loop that skips that treats a failed
 * NFS read as "no more entries" (a half listing, a half removal).
 */
struct dirent *b10t_readdir(DIR *d, int *err);
/* The names in the directory fd (closed here) but "." and "..", sorted
 * bytewise (a stable order for archives and moves): *n of them in *names,
 * each malloc'ed; free with b10t_free_names.  0, or -errno with nothing
 * left allocated. */
int b10t_dir_names(int fd, char ***names, size_t *n);
void b10t_free_names(char **names, size_t n);
/* A DIR reading the directory dirfd from its start, on a fresh open file
 * description (a dup would share dirfd's read offset); dirfd stays open
 * and usable.  NULL with errno set. */
DIR *b10t_opendir_at(int dirfd);

/*
 * Room for `need` elements of `size` bytes in the array *arrp (a pointer
 * to the array's pointer, of any type) with *cap allocated: the capacity
 * doubles from `first`, every product checked for overflow.  0 or -ENOMEM;
 * on failure the array and *cap are as they were.  B10T_GROW checks the
 * element size against the array's type.
 */
int b10t_grow(void *arrp, size_t *cap, size_t need, size_t size, size_t first);
#define B10T_GROW(arr, cap, need, first) \
	b10t_grow(&(arr), &(cap), (need), sizeof(*(arr)), (first))

/*
 * Room for one more element at index n of the array *arrp that keeps only
 * its count n, no capacity: the capacity is implied, the smallest power of
 * two >= n, so it reallocs only when n is 0 or a power of two (to 1, or
 * 2n), every product checked.  Valid only for an array grown by nothing
 * else (a reset may free it, or set n = 0 and keep it).  0 or -ENOMEM; on
 * failure the array is as it was.  B10T_PUSH checks the element size.
 */
int b10t_grow_one(void *arrp, size_t n, size_t size);
#define B10T_PUSH(arr, n) b10t_grow_one(&(arr), (n), sizeof(*(arr)))

/* The process umask, read without changing it where /proc tells it (a
 * umask(0)-and-back would let another thread create a file mode 0666
 * meanwhile); else by that dance. */
mode_t b10t_umask(void);

/* 64 random bits for unique names (getrandom, else pid/time/counter). */
uint64_t b10t_random64(void);
struct stat;
/* Whether dirfd/name (not followed) is the inode of `want`. */
bool b10t_same_inode_at(int dirfd, const char *name, const struct stat *want);
/*
 * Whether fd (path when fd < 0) lies on a local disk or memory filesystem
 * (ext2/3/4, xfs, btrfs, tmpfs, ramfs, overlayfs, f2fs, zfs), whose fstat
 * is the truth and whose bytes cost no network.  Anything else (FUSE, NFS,
 * SMB, Ceph, Lustre, unknown) may serve cached attributes, so a load's
 * retry there waits first, and is bandwidth-bound, so save's B10T_CODEC
 * auto picks zstd there (docs/netfs.md has the measurement).
 */
bool b10t_local_fs(int fd, const char *path);
/* 1 when the cache dir `path` has an entry, 0 when empty or missing (b10t's
 * in-place staging dirs do not count), -EBUSY when it holds an install
 * marker (an install running or interrupted: its content may be partial),
 * else -errno with the message set. */
int b10t_cache_dir_has_entries(struct b10t_ctx *ctx, const char *path);
/* Start a load/save result: zeroed, ERROR until decided, the key filled in. */
void b10t_result_begin(struct b10t_result *res, const struct b10t_envkey *key);
/*
 * End a verb as SKIPPED or DOES_NOT_EXIST: `why` is the reason for programs
 * (struct b10t_result's list), fmt the one in words; returns 0.
 */
int b10t_result_finish(struct b10t_result *res, enum b10t_status status, const char *why,
		       const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Last use without atime (docs/store-protocol.md, "Last use").  A load
 * records its use of a key's archive as the mtime of the key's use marker
 * (B10T_NAME_MARKER), a small empty file of the store, never by touching
 * the archive: some network filesystems keep no atime (rclone), others
 * move the mtime with it (sshfs).  lib/store.c.
 */
/* The key's use marker name into buf; -ENAMETOOLONG, -EINVAL for a bad key.
 * (lib/names.c, as the parser) */
int b10t_use_marker_name(char *buf, size_t size, const char *key);
/* Whether name is a use marker; its key (NUL-terminated) into key. */
bool b10t_parse_use_marker(const char *name, char *key, size_t size);
/* An archive's last use, seconds: the latest of its mtime (publish), its
 * atime where the filesystem keeps one, and its marker's mtime (marker may
 * be NULL: none). */
int64_t b10t_last_used(const struct stat *archive, const struct stat *marker);
/* Record a use of key's archive: set the marker's times to now, creating
 * it when missing.  Best effort (a read-only store is fine): 0 or -errno,
 * never a message in ctx. */
int b10t_store_mark_used(struct b10t_ctx *ctx, const struct b10t_config *cfg, const char *key);
/* Whether the store (dirfd) holds a published name for the key (key_len
 * bytes at key), any format; true when unsure. */
bool b10t_store_key_has_archive(int dirfd, const char *key, size_t key_len);

/*
 * Publish the flushed file tmp (whose fstat is tst) of the dir dirfd as
 * final, never replacing final (lib/publish.c): renameat2(RENAME_NOREPLACE)
 * and/or link() as `ops` allows, with the NFS rules (a lost reply: final
 * is our inode; after link()'s EEXIST, tmp's st_nlink is 2).  0 published,
 * 1 final exists (lost), -1 neither operation worked (errs[0]: renameat2's
 * errno, errs[1]: link's).  *renamed tells whether tmp is gone.
 */
#define B10T_PUB_RENAME 1u
#define B10T_PUB_LINK 2u
int b10t_publish_noreplace(int dirfd, const char *tmp, const char *final,
			   const struct stat *tst, unsigned ops, bool *renamed, int errs[2]);
/* Both failed: doctor's probe tells "this filesystem cannot" from an I/O
 * error.  Sets the error, returns its -errno. */
int b10t_publish_failed(struct b10t_ctx *ctx, int dirfd, const char *store,
			const char *final, const int errs[2]);

/*
 * The published set of a key (docs/store-protocol.md, "The published set"):
 * its base (the highest b<G> claim's archive, else the legacy .latest)
 * and its layers (every g<N> claim's archive with N > G), in the order a
 * load applies them.  lib/store.c.
 */
struct b10t_set_item {
	char name[NAME_MAX + 1];	/* the archive */
	char claim[NAME_MAX + 1];	/* the claim naming it, "" for a legacy base */
	uint64_t gen;			/* N of g<N>, G of b<G>; 0 for a legacy base */
	bool base;
	enum b10t_format format;
};
struct b10t_set {
	char key[NAME_MAX + 1];
	struct b10t_set_item *v;	/* base first, then layers by N */
	size_t n;
	uint64_t top;			/* the highest claim number seen, well-formed or not */
	bool published;			/* a well-formed claim or a legacy base: save SKIPPED */
	unsigned ignored;		/* malformed claims (warned about, never followed) */
};
/* List the store (dirfd) once for key's names and choose its set.  warn:
 * malformed claims are warnings (else debug lines).  -errno with the
 * message set; an empty set is no error. */
int b10t_store_select(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
		      const char *key, bool warn, struct b10t_set *set);
/* The same from names already listed and parsed (list, gc). */
int b10t_set_choose(struct b10t_ctx *ctx, int dirfd, const char *key,
		    const struct b10t_name *cands, size_t n, bool warn, struct b10t_set *set);
void b10t_set_free(struct b10t_set *set);
/* Read the claim `claim` (parsed as cn) of dirfd: 0 with its archive's name
 * parsed into an; 1 when malformed (why: never followed); -ENOENT; -errno. */
int b10t_read_claim(int dirfd, const char *claim, const struct b10t_name *cn,
		    struct b10t_name *an, char *why, size_t wsize);

/*
 * gc's pass over what compaction covers (lib/layers.c): the claims of
 * generations a base older than B10T_COMPACT_GRACE covers, and their
 * archives, are removed (reported through `removed`).
 */
int b10t_gc_covered(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
		    bool dry_run, void (*removed)(void *arg, const char *name, uint64_t bytes),
		    void *arg);

/*
 * gc's part of the statistics (lib/stats.c): trims each host file past
 * B10T_STATS_FILE_MAX to its newest records and drops those before the
 * zero marker (temp + rename), removes a host file idle for
 * B10T_STATS_HOST_MAX_AGE_S and temps older than the incomplete timeout.
 * report(arg, ".b10t-stats/NAME", reason, bytes freed) for each.  Never
 * fails: what cannot be done is left for the next gc.
 */
void b10t_stats_gc(struct b10t_ctx *ctx, const struct b10t_config *cfg, bool dry_run,
		   int64_t now, void (*report)(void *, const char *, const char *, uint64_t),
		   void *arg);

/*
 * Load's check of an archive's recorded environment (lib/why.c): one
 * warning per difference with this machine (key: its facts), noted in res.
 */
void b10t_why_load(struct b10t_ctx *ctx, const struct b10t_envkey *key, const char *cache_dir,
		   const struct b10t_manifest *saved, struct b10t_result *res);

#pragma GCC visibility pop

#endif
