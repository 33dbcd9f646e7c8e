/* SPDX-License-Identifier: MIT */
/*
 * b10t load: extract this environment's archive into the local cache dir.
 *
 * SKIPPED when the cache dir is not empty; DOES_NOT_EXIST when the store has
 * no archive for the key (.tar.lz4, else the reference's .tar.gz).  The
 * archive is extracted into a staging dir next to the cache dir and moved
 * into place only when complete: a failed load leaves the cache dir as it
 * was.  A corrupt or hostile archive is renamed aside in the store
 * (a corrupt name, lib/names.c) so the next save can publish a good one.
 * Otherwise load writes nothing to the store except, best effort, the
 * archive's access time (its last use, which gc eviction reads).
 *
 * The verb table gives it the key (c->key) and no operands; a signal stops
 * the extraction cleanly (staging removed) and exits 128 + N.
 */
#include "cmd.h"

int cmd_load(struct cmd *c)
{
	struct b10t_result res;
	int r;

	cmd_stop_signals(c);
	cmd_progress_setup(c, "load");
	r = b10t_load(&c->ctx, &c->cfg, &c->key, &res);
	cmd_progress_end(c);
	return cmd_stopped(cmd_result(c, &res, r, "from"));
}
