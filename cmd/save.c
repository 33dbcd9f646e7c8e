/* SPDX-License-Identifier: MIT */
/*
 * b10t save: pack the local cache dir and publish it to the store.
 * b10t update, or save --update: publish a layer of what the store lacks.
 * save --replace: remove the key's published set first (as b10t rm), then
 * save afresh.
 *
 * save is SKIPPED when this key already has a published set (checked
 * before packing), when the cache dir is empty or missing, or when
 * MAX_CONCURRENT_SAVES uploads younger than CLEANUP_INCOMPLETE_TIMEOUT_SECONDS
 * are in the store.  update is SKIPPED "nothing new" when the store has
 * every entry of the cache dir (docs/store-protocol.md, "Update").
 *
 * The verb table gives it the key (c->key) and no operands; a signal stops
 * the upload cleanly (its temp file removed) and exits 128 + N.
 */
#include "cmd.h"

enum { OPT_UPDATE = 0x500, OPT_REPLACE };

const struct verb_option save_options[] = {
	{ { "update", no_argument, NULL, OPT_UPDATE }, NULL,
	  "publish a layer of what the store lacks (as b10t update)" },
	{ { "replace", no_argument, NULL, OPT_REPLACE }, NULL,
	  "remove the key's published cache first (as b10t rm), then save" },
	{ { 0 }, NULL, NULL },
};

static bool save_update, save_replace;

int save_opt(struct cmd *c, int val, const char *arg)
{
	(void)arg;
	if (val == OPT_UPDATE)
		save_update = true;
	else if (val == OPT_REPLACE)
		save_replace = true;
	else
		return -1;
	if (save_update && save_replace)
		return cmd_usage_error(c, "--update and --replace exclude each other"), -1;
	return 0;
}

static int transfer(struct cmd *c, int (*fn)(struct b10t_ctx *ctx, const struct b10t_config *cfg,
					     const struct b10t_envkey *key,
					     struct b10t_result *res))
{
	struct b10t_result res;
	int r;

	cmd_stop_signals(c);
	cmd_progress_setup(c, c->verb);
	r = fn(&c->ctx, &c->cfg, &c->key, &res);
	cmd_progress_end(c);
	return cmd_stopped(cmd_result(c, &res, r, "to"));
}

int cmd_save(struct cmd *c)
{
	if (save_replace) {
		struct b10t_gc_result rm;
		int r = b10t_rm_key(&c->ctx, &c->cfg, c->key.key, &rm);

		if (r < 0) {
			b10t_gc_result_free(&rm);
			return cmd_fail(c, NULL);
		}
		if (c->verbose)
			for (size_t i = 0; i < rm.n_items; i++)
				fprintf(stderr, "b10t save: removed %s\n", esc(rm.items[i].filename));
		b10t_gc_result_free(&rm);
	}
	return transfer(c, save_update ? b10t_update : b10t_save);
}

int cmd_update(struct cmd *c)
{
	return transfer(c, b10t_update);
}
