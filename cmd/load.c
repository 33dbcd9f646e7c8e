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
 */
#include "cmd.h"

const struct verb_option load_options[] = { { { 0 }, NULL, NULL } };

int cmd_load(struct cmd *c, int argc, char **argv)
{
	return cmd_transfer(c, argc, argv, b10t_load, "from");
}
