/* SPDX-License-Identifier: MIT */
/* b10t clear: remove the local cache dir. */
#include <inttypes.h>

#include "cmd.h"

static cJSON *clear_json(const struct cmd *c, const struct b10t_result *res)
{
	cJSON *o = cJSON_CreateObject();

	cJSON_AddStringToObject(o, "status", b10t_status_name(res->status));
	cJSON_AddStringToObject(o, "cache_dir", c->cfg.cache_dir);
	json_add_u64(o, "files", res->files);
	json_add_u64(o, "dirs", res->dirs);
	json_add_u64(o, "bytes", res->bytes);
	if (res->reason[0])	/* what was special about it, in words */
		cJSON_AddStringToObject(o, "message", res->reason);
	return o;
}

int cmd_clear(struct cmd *c)
{
	struct b10t_result res;
	char size[32];

	if (b10t_clear(&c->ctx, &c->cfg, &res) < 0)
		return cmd_fail(c, clear_json(c, &res));

	if (c->json) {
		if (cmd_print_json(c, clear_json(c, &res)) < 0)
			return 1;
	} else if (c->quiet) {
		/* -q: errors only */
	} else if (res.reason[0] && !res.files && !res.dirs) {
		printf("%s: %s\n", c->cfg.cache_dir, esc_msg(res.reason));
	} else {
		printf("removed %s: %s, %s%s%s\n", c->cfg.cache_dir,
		       cmd_counts(res.files, res.dirs), human_bytes(res.bytes, size, sizeof(size)),
		       res.reason[0] ? "; " : "", res.reason);
	}
	return cmd_exit_code(res.status);
}
