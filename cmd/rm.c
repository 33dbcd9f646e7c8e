/* SPDX-License-Identifier: MIT */
/*
 * b10t rm [KEY]: remove a key's published cache from the store on purpose,
 * for the user who knows it is bad; the next save publishes afresh.  KEY
 * (a key, or an archive's name as b10t list shows it) defaults to this
 * environment's.  Safe against loads running meanwhile (lib/layers.c).
 */
#include <inttypes.h>
#include <string.h>

#include "cmd.h"

int cmd_rm(struct cmd *c)
{
	struct b10t_gc_result res;
	struct b10t_archive_info info;
	const char *k;
	char b[32];
	int r, code;

	if (c->argc) {
		if (!(k = b10t_key_arg(c->argv[0], &info)))
			return cmd_usage_error(c, "'%s' is not a key", esc(c->argv[0]));
	} else {
		if (b10t_store_check(&c->ctx, &c->cfg) < 0)
			return cmd_fail(c, NULL);
		if ((code = cmd_envkey(c, &c->key)) != 0)
			return code;
		k = c->key.key;
	}
	r = b10t_rm_key(&c->ctx, &c->cfg, k, &res);
	if (r < 0) {
		b10t_gc_result_free(&res);
		return cmd_fail(c, NULL);
	}
	if (c->json) {
		cJSON *o = b10t_json_rm(k, &res);

		cmd_print_json(c, o);
	} else if (res.status == B10T_SUCCESS) {
		for (size_t n = 0; c->verbose && n < res.n_items; n++)
			printf("removed %s\n", esc(res.items[n].filename));
		if (!c->quiet)
			printf("rm: SUCCESS: key %s: %zu files removed, %s\n", esc(k), res.n_items,
			       human_bytes(res.freed_bytes, b, sizeof(b)));
	} else if (!c->quiet) {
		printf("rm: %s: key %s has nothing in the store\n", b10t_status_name(res.status),
		       esc(k));
	}
	code = cmd_exit_code(res.status);
	b10t_gc_result_free(&res);
	return code;
}
