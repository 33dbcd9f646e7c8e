/* SPDX-License-Identifier: MIT */
/* Helpers shared inside libb10t; not part of the installed API. */
#ifndef B10T_INTERNAL_H
#define B10T_INTERNAL_H

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>

#include "b10t.h"

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

/* What a tree removal did, and the first thing that failed. */
struct b10t_rm {
	uint64_t files;			/* entries removed */
	uint64_t bytes;			/* bytes of regular files removed */
	int err;			/* first errno, 0 when none */
	char what[NAME_MAX + 1];	/* the entry it happened to */
};

/*
 * Delete everything inside the directory dirfd (closed here), through
 * directory fds: never follows a symlink, never enters another mount.
 */
void b10t_rm_contents(int dirfd, struct b10t_rm *rm);
/* Remove parent_fd/name, a tree or a single entry; absent is fine. */
int b10t_rm_tree_at(int parent_fd, const char *name, struct b10t_rm *rm);
/* The same for an absolute path. */
int b10t_rm_path(const char *path);

/*
 * Debris a killed load or clear leaves next to the cache dir: the
 * `.<name>.b10t-staging.<pid>.*` and `.<name>.b10t-clear.<pid>.*` dirs whose
 * process is gone (or that are older than a day, in case the pid was
 * reused).  Calls found() for each (removed unless dry_run); returns the
 * count, never an error: it is housekeeping.
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

/* 64 random bits for unique names (getrandom, else pid/time/counter). */
uint64_t b10t_random64(void);
/* 1 when the cache dir `path` has an entry, 0 when empty or missing, else
 * -errno with the message set. */
int b10t_cache_dir_has_entries(struct b10t_ctx *ctx, const char *path);
/* Start a load/save result: zeroed, ERROR until decided, the key filled in. */
void b10t_result_begin(struct b10t_result *res, const struct b10t_envkey *key);
/* End a verb as SKIPPED or DOES_NOT_EXIST with a reason; returns 0. */
int b10t_result_finish(struct b10t_result *res, enum b10t_status status, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));

#pragma GCC visibility pop

#endif
