/* SPDX-License-Identifier: MIT */
/*
 * b10t save: pack the local cache dir and publish it to the store.
 *
 * SKIPPED when this key's .tar.lz4 is already published (checked before
 * packing), when the cache dir is empty or missing, or when
 * MAX_CONCURRENT_SAVES uploads younger than CLEANUP_INCOMPLETE_TIMEOUT_SECONDS
 * are in the store.  When only the reference's .tar.gz exists for the key,
 * the .tar.lz4 is published next to it (load prefers it).
 *
 * The verb table gives it the key (c->key) and no operands; a signal stops
 * the upload cleanly (its temp file removed) and exits 128 + N.
 */
#include "cmd.h"

int cmd_save(struct cmd *c)
{
	struct b10t_result res;
	int r;

	cmd_stop_signals(c);
	cmd_progress_setup(c, "save");
	r = b10t_save(&c->ctx, &c->cfg, &c->key, &res);
	cmd_progress_end(c);
	return cmd_stopped(cmd_result(c, &res, r, "to"));
}
