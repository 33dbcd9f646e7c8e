/* SPDX-License-Identifier: MIT */
/* TEMPORARY: placeholders so the tree links while the pieces land.
 * Each owner deletes its functions from here when its file lands. */
#include <errno.h>
#include "b10t.h"

int b10t_envkey_compute(struct b10t_ctx *ctx, const struct b10t_config *cfg, struct b10t_envkey *key)
{ return b10t_set_error(ctx, ENOSYS, "envkey: not implemented yet"); }
/* saveload: weak until lib/pack.c and lib/unpack.c land (their strong
 * definitions win); saveload removes these then. */
__attribute__((weak)) void b10t_limits_default(struct b10t_limits *lim)
{ lim->max_entries = 1000000; lim->max_bytes = 64ULL << 30; lim->max_archive_bytes = 0; }
__attribute__((weak)) int b10t_pack(struct b10t_ctx *ctx, const char *src, int out_fd, const char *manifest_json, const struct b10t_limits *lim, struct b10t_pack_stats *stats)
{ return b10t_set_error(ctx, ENOSYS, "pack: not implemented yet"); }
__attribute__((weak)) int b10t_unpack(struct b10t_ctx *ctx, int in_fd, enum b10t_format fmt, const char *dst, const struct b10t_limits *lim, struct b10t_pack_stats *stats, char **manifest)
{ return b10t_set_error(ctx, ENOSYS, "unpack: not implemented yet"); }
