/* SPDX-License-Identifier: MIT */
/* TODO(owner): b10t save -- placeholder until the verb lands. */
#include <errno.h>

#include "cmd.h"

const struct verb_option save_options[] = { { { 0 }, NULL, NULL } };

int cmd_save(struct cmd *c, int argc, char **argv)
{
	int i = cmd_parse(c, verb_find("save"), argc, argv, NULL, NULL);

	if (i < 0)
		return i == -2 ? 0 : EXIT_USAGE;
	b10t_set_error(&c->ctx, ENOSYS, "not implemented yet");
	return cmd_fail(c, NULL);
}
