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
	return cmd_transfer(c, argc, argv, b10t_save, "to");
}
