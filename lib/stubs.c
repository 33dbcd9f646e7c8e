/* SPDX-License-Identifier: MIT */
/* TEMPORARY: placeholders so the tree links while the pieces land.
 * Each owner deletes its functions from here when its file lands. */
#include <errno.h>
#include "b10t.h"

int b10t_envkey_compute(struct b10t_ctx *ctx, const struct b10t_config *cfg, struct b10t_envkey *key)
{ return b10t_set_error(ctx, ENOSYS, "envkey: not implemented yet"); }
int b10t_save(struct b10t_ctx *ctx, const struct b10t_config *cfg, const struct b10t_envkey *key, struct b10t_result *res)
{ return b10t_set_error(ctx, ENOSYS, "save: not implemented yet"); }
int b10t_load(struct b10t_ctx *ctx, const struct b10t_config *cfg, const struct b10t_envkey *key, struct b10t_result *res)
{ return b10t_set_error(ctx, ENOSYS, "load: not implemented yet"); }
