/* SPDX-License-Identifier: MIT */
/*
 * b10t load: extract this environment's archive into the local cache dir.
 *
 * SKIPPED when the cache dir is not empty; DOES_NOT_EXIST when the store has
 * no archive for the key (.tar.lz4, else the reference's .tar.gz).  The
 * archive is extracted into a staging dir next to the cache dir and moved
 * into place only when complete: a failed load leaves the cache dir as it
 * was.  A corrupt or hostile archive is renamed aside in the store
 * (cache_<key>.corrupt.*) so the next save can publish a good one.
 * Otherwise load writes nothing to the store except, best effort, the
 * archive's access time (its last use, which gc eviction reads).
 */
#include "cmd.h"

const struct verb_option load_options[] = { { { 0 }, NULL, NULL } };

int cmd_load(struct cmd *c, int argc, char **argv)
{
	struct b10t_envkey key;
	struct b10t_result res;
	int i = cmd_parse(c, verb_find("load"), argc, argv, NULL, NULL);
	int r;

	if (i < 0)
		return i == -2 ? 0 : EXIT_USAGE;
	if (i < argc)
		return cmd_usage_error(c, "unexpected argument '%s'", argv[i]);
	if ((r = cmd_envkey(c, &key)) != 0)
		return r;
	cmd_progress_setup(c, "load");
	r = b10t_load(&c->ctx, &c->cfg, &key, &res);
	cmd_progress_end(c);
	return cmd_result(c, &res, r, "from");
}
