/* SPDX-License-Identifier: MIT */
/* b10t gc: remove stale debris from the store and, if asked, evict archives. */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

enum { OPT_STALE = 0x300, OPT_MAX_SIZE, OPT_MAX_AGE, OPT_KEEP, OPT_ALL, OPT_DRY_RUN,
       OPT_COMPACT };

const struct verb_option gc_options[] = {
	{ { "stale", required_argument, NULL, OPT_STALE }, "DURATION",
	  "uploads older than this are debris (default: --incomplete-timeout)" },
	{ { "max-size", required_argument, NULL, OPT_MAX_SIZE }, "SIZE",
	  "evict least recently used archives down to SIZE (20GB, 1.5G, 500M)" },
	{ { "max-age", required_argument, NULL, OPT_MAX_AGE }, "DURATION",
	  "evict archives not used for DURATION (30s, 1.5m, 2h, 7d)" },
	{ { "keep", required_argument, NULL, OPT_KEEP }, "KEY",
	  "never evict the archive of KEY (repeatable)" },
	{ { "all", no_argument, NULL, OPT_ALL }, NULL,
	  "this environment's archive may be evicted too" },
	{ { "dry-run", no_argument, NULL, OPT_DRY_RUN }, NULL,
	  "list what would be removed, remove nothing" },
	{ { "compact", no_argument, NULL, OPT_COMPACT }, NULL,
	  "first compact this environment's layers into one base" },
	{ { 0 }, NULL, NULL },
};

/*
 * The options as given; cmd_gc() lays them over the defaults that the
 * settings (parsed in any order with them) make.
 */
static struct gc_args {
	struct b10t_gc_opts o;
	bool stale_set, compact;
	char **keep;
} gc_args;

int gc_opt(struct cmd *c, int val, const char *arg)
{
	struct gc_args *a = &gc_args;
	struct b10t_archive_info info;
	char **keep;
	size_t len;

	switch (val) {
	/* The settings' parsers: one syntax, range and message for every size and duration. */
	case OPT_STALE:
		if (b10t_value_duration(&c->ctx, "--stale", arg, 0, UINT64_MAX, 1000, &a->o.stale_s) < 0)
			return cmd_usage_error(c, "%s", esc_msg(b10t_ctx_error(&c->ctx))), -1;
		a->stale_set = true;
		return 0;
	case OPT_MAX_AGE:
		if (b10t_value_duration(&c->ctx, "--max-age", arg, 0, UINT64_MAX, 1000, &a->o.max_age_s) < 0)
			return cmd_usage_error(c, "%s", esc_msg(b10t_ctx_error(&c->ctx))), -1;
		a->o.max_age_set = true;
		return 0;
	case OPT_MAX_SIZE:
		if (b10t_value_size(&c->ctx, "--max-size", arg, 1, 0, UINT64_MAX, &a->o.max_size) < 0)
			return cmd_usage_error(c, "%s", esc_msg(b10t_ctx_error(&c->ctx))), -1;
		a->o.max_size_set = true;
		return 0;
	case OPT_KEEP:
		/* a key, or an archive's file name as `b10t list` shows it */
		if (b10t_parse_archive_name(arg, &info))
			arg = info.key;
		len = strlen(arg);
		if (!b10t_valid_key(arg, len))
			return cmd_usage_error(c, "--keep '%s': not a key", esc(arg)), -1;
		keep = realloc(a->keep, (a->o.n_keep + 1) * sizeof(*keep));
		if (!keep || !(keep[a->o.n_keep] = strndup(arg, len))) {
			a->keep = keep ? keep : a->keep;
			return cmd_usage_error(c, "out of memory"), -1;
		}
		a->keep = keep;
		a->o.n_keep++;
		return 0;
	case OPT_ALL:
		a->o.all = true;
		return 0;
	case OPT_DRY_RUN:
		a->o.dry_run = true;
		return 0;
	case OPT_COMPACT:
		a->compact = true;
		return 0;
	}
	return -1;
}

static void gc_args_free(struct gc_args *a)
{
	for (size_t i = 0; i < a->o.n_keep; i++)
		free(a->keep[i]);
	free(a->keep);
	a->keep = NULL;
}

/* As docker's prune: each file, then the bytes freed and the store's size. */
static void gc_text(const struct b10t_gc_opts *opts, const struct b10t_gc_result *res)
{
	const char *verb = res->dry_run ? "would remove" : "removed";
	char b[32], b2[32], b3[32];

	for (size_t i = 0; i < res->n_items; i++)
		printf("%s %s (%s, %s)\n", verb, esc(res->items[i].filename),
		       esc(res->items[i].reason),
		       human_bytes(res->items[i].bytes, b, sizeof(b)));
	printf("%s %zu %s, %s freed; store %s -> %s; %" PRIu64 " %s kept\n", verb, res->n_items,
	       plural(res->n_items, "file", "files"), human_bytes(res->freed_bytes, b, sizeof(b)),
	       human_bytes(res->store_bytes_before, b2, sizeof(b2)),
	       human_bytes(res->store_bytes_after, b3, sizeof(b3)), res->kept,
	       plural(res->kept, "archive", "archives"));
	if (res->max_size_missed) {
		printf("--max-size %s not reached: %s of archives stay",
		       human_bytes(opts->max_size, b, sizeof(b)),
		       human_bytes(res->over_bytes, b2, sizeof(b2)));
		if (res->protected_keys)
			printf("; %" PRIu64 " %s protected (this environment's or --keep), %s",
			       res->protected_keys, plural(res->protected_keys, "key", "keys"),
			       human_bytes(res->protected_bytes, b, sizeof(b)));
		if (res->young_keys)
			printf("; %" PRIu64 " %s published less than --stale %" PRIu64 " s ago, %s",
			       res->young_keys, plural(res->young_keys, "key", "keys"), opts->stale_s,
			       human_bytes(res->young_bytes, b, sizeof(b)));
		putchar('\n');
	}
}

/* A --keep that names no archive is likely a typo: say so, on stderr. */
static void keep_warnings(struct cmd *c, const struct b10t_gc_result *res)
{
	if (c->quiet)
		return;
	for (size_t i = 0; i < res->n_keep_missing; i++)
		fprintf(stderr, "b10t gc: warning: --keep %s: no archive of that key in the store\n",
			esc(res->keep_missing[i]));
}

static void compact_text(const struct b10t_result *r)
{
	char b[32];

	if (r->status == B10T_SUCCESS)
		printf("compacted into %s (%s), the base of generations up to %" PRIu64 "\n",
		       esc(strrchr(r->archive, '/') ? strrchr(r->archive, '/') + 1 : r->archive),
		       human_bytes(r->archive_bytes, b, sizeof(b)), r->generation);
	else
		printf("compaction: %s: %s\n", b10t_status_name(r->status), esc_msg(r->reason));
}

int cmd_gc(struct cmd *c)
{
	struct gc_args a = gc_args;
	struct b10t_gc_result res;
	struct b10t_result cres = { 0 };
	struct b10t_envkey *key = &c->key;
	bool compacted = false;
	int r, code;

	/* The defaults from the settings, then what the options set. */
	b10t_gc_opts_init(&a.o, &c->cfg);
	if (a.stale_set)
		a.o.stale_s = gc_args.o.stale_s;
	if ((a.o.max_age_set = gc_args.o.max_age_set))
		a.o.max_age_s = gc_args.o.max_age_s;
	if ((a.o.max_size_set = gc_args.o.max_size_set))
		a.o.max_size = gc_args.o.max_size;
	a.o.all = gc_args.o.all;
	a.o.dry_run = gc_args.o.dry_run;
	a.o.n_keep = gc_args.o.n_keep;
	a.o.keep = (const char *const *)a.keep;

	/* The key costs a GPU probe: only when eviction or compaction need it. */
	if (((a.o.max_size_set || a.o.max_age_set) && !a.o.all) || a.compact) {
		if (b10t_store_check(&c->ctx, &c->cfg) < 0) {
			gc_args_free(&a);
			return cmd_fail(c, NULL);
		}
		if ((code = cmd_envkey(c, key)) != 0) {
			gc_args_free(&a);
			return code;
		}
		if (!a.o.all)
			a.o.current_key = key->key;
	}
	if (a.compact && !a.o.dry_run) {
		if (b10t_compact(&c->ctx, &c->cfg, key, &cres) < 0) {
			gc_args_free(&a);
			return cmd_fail(c, NULL);
		}
		compacted = true;
	}

	r = b10t_gc(&c->ctx, &c->cfg, &a.o, &res);
	gc_args_free(&a);
	if (r < 0) {
		cJSON *o = NULL;

		if (c->json) {	/* what was removed before the error; cmd_fail adds status */
			o = b10t_json_gc(&a.o, &res, false);
		}
		code = cmd_fail(c, o);
		if (!c->json && !c->quiet && res.n_items)
			gc_text(&a.o, &res);
		b10t_gc_result_free(&res);
		return code;
	}
	keep_warnings(c, &res);
	if (c->json) {
		cJSON *o = b10t_json_gc(&a.o, &res, true);

		if (compacted)
			cJSON_AddItemToObject(o, "compaction", b10t_json_compaction(&cres));
		cmd_print_json(c, o);
	} else {
		if (compacted && !c->quiet)
			compact_text(&cres);
		if (!c->quiet)
			gc_text(&a.o, &res);
	}
	b10t_gc_result_free(&res);
	return cmd_exit_code(res.status);
}
