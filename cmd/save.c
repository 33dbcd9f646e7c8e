/* SPDX-License-Identifier: MIT */
/*
 * b10t save: pack the local cache dir and publish it to the store.
 *
 * SKIPPED when this key's .tar.lz4 is already published (checked before
 * packing), when the cache dir is empty or missing, or when
 * MAX_CONCURRENT_SAVES uploads younger than CLEANUP_INCOMPLETE_TIMEOUT_SECONDS
 * are in the store.  When only the reference's .tar.gz exists for the key,
 * the .tar.lz4 is published next to it (load prefers it).
 */
#include "cmd.h"

const struct verb_option save_options[] = { { { 0 }, NULL, NULL } };

int cmd_save(struct cmd *c, int argc, char **argv)
{
	struct b10t_envkey key;
	struct b10t_result res;
	int i = cmd_parse(c, verb_find("save"), argc, argv, NULL, NULL);
	int r;

	if (i < 0)
		return i == -2 ? 0 : EXIT_USAGE;
	if (i < argc)
		return cmd_usage_error(c, "unexpected argument '%s'", argv[i]);
	if ((r = cmd_envkey(c, &key)) != 0)
		return r;
	cmd_progress_setup(c, "save");
	r = b10t_save(&c->ctx, &c->cfg, &key, &res);
	cmd_progress_end(c);
	return cmd_result(c, &res, r, "to");
}
