/* SPDX-License-Identifier: MIT */
/* b10t: the verb table and dispatch. */
#include <errno.h>
#include <libgen.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

static int cmd_help_verb(struct cmd *c);

/*
 * Sorted by name; --help, --list-cmds, the man pages' settings and the
 * completions follow it.  Each verb: what it needs (enum verb_flags: the
 * settings it reads, the key), its operands (.args, .min_args, .max_args;
 * none when unset), its own options, and a hook run before the settings'
 * check (struct verb in cmd.h).
 */
const struct verb verbs[] = {
	{ .name = "clear", .run = cmd_clear, .summary = "remove the local cache dir",
	  .flags = VERB_CACHE | VERB_STORE },
	{ .name = "doctor", .run = cmd_doctor, .summary = "probe what the store's filesystem can do",
	  .flags = VERB_CACHE | VERB_STORE | VERB_ENABLED | VERB_CODEC },
	{ .name = "envkey", .run = cmd_envkey_verb, .summary = "print this environment's key",
	  .flags = VERB_KEY },
	{ .name = "gc", .run = cmd_gc, .summary = "remove stale debris and evict old archives",
	  .flags = VERB_STORE | VERB_ENABLED | VERB_DEBRIS | VERB_SCHEME, .options = gc_options, .on_opt = gc_opt },
	{ .name = "help", .run = cmd_help_verb, .args = "[VERB]",
	  .summary = "show help for b10t or a verb", .max_args = 1 },
	{ .name = "info", .run = cmd_info, .summary = "status of this environment's caches",
	  .flags = VERB_KEY | VERB_CACHE | VERB_STORE | VERB_ENABLED },
	{ .name = "list", .run = cmd_list, .summary = "list the archives in the store",
	  .flags = VERB_KEY | VERB_STORE | VERB_ENABLED, .options = list_options, .on_opt = list_opt },
	{ .name = "load", .run = cmd_load,
	  .summary = "extract this environment's archive into the cache dir",
	  .flags = VERB_KEY | VERB_CACHE | VERB_STORE | VERB_ENABLED | VERB_DEBRIS | VERB_STATS },
	{ .name = "rm", .run = cmd_rm, .args = "[KEY]",
	  .summary = "remove a key's published cache from the store", .max_args = 1,
	  .flags = VERB_STORE | VERB_ENABLED | VERB_SCHEME },
	{ .name = "save", .run = cmd_save, .summary = "publish the cache dir to the store",
	  .flags = VERB_KEY | VERB_CACHE | VERB_STORE | VERB_ENABLED | VERB_DEBRIS | VERB_PUBLISH |
		   VERB_CODEC | VERB_STATS, .options = save_options, .on_opt = save_opt },
	{ .name = "stats", .run = cmd_stats,
	  .summary = "sum the store's records of loads and saves, per key",
	  .flags = VERB_STORE | VERB_ENABLED, .options = stats_options,
	  .on_opt = stats_opt },
	{ .name = "update", .run = cmd_update, .summary = "publish a layer of what the store lacks",
	  .flags = VERB_KEY | VERB_CACHE | VERB_STORE | VERB_ENABLED | VERB_DEBRIS | VERB_PUBLISH |
		   VERB_CODEC | VERB_STATS },
	{ .name = "vllm", .run = cmd_vllm,
	  .summary = "beside vllm serve: load, or save once vLLM is ready",
	  .flags = VERB_SCHEME | VERB_CACHE | VERB_STORE | VERB_ENABLED | VERB_DEBRIS |
		   VERB_PUBLISH | VERB_CODEC | VERB_VLLM | VERB_FOLLOW | VERB_STATS,
	  .options = vllm_options, .on_opt = vllm_opt, .prepare = vllm_prepare,
	  .cache_dir_help = vllm_cache_dir_help },
	{ .name = "watch", .run = cmd_watch, .args = "[-- COMMAND [ARG...]]",
	  .summary = "publish what the cache dir gains while a server runs", .max_args = 0x7fffffff,
	  .flags = VERB_KEY | VERB_CACHE | VERB_STORE | VERB_ENABLED | VERB_DEBRIS | VERB_PUBLISH |
		   VERB_CODEC | VERB_FOLLOW | VERB_COMMAND | VERB_STATS,
	  .options = watch_options, .on_opt = watch_opt },
	{ .name = "why", .run = cmd_why, .args = "[KEY]",
	  .summary = "explain a miss: the archive's environment against this machine",
	  .max_args = 1, .flags = VERB_KEY | VERB_CACHE | VERB_STORE | VERB_ENABLED },
};
const size_t verbs_count = sizeof(verbs) / sizeof(verbs[0]);

const struct verb *verb_find(const char *name)
{
	for (size_t i = 0; i < verbs_count; i++)
		if (!strcmp(verbs[i].name, name))
			return &verbs[i];
	return NULL;
}

/* Levenshtein distance of two short strings (each under 64 bytes). */
static size_t edit_distance(const char *a, const char *b)
{
	size_t la = strlen(a), lb = strlen(b), row[64], prev, tmp;

	for (size_t j = 0; j <= lb; j++)
		row[j] = j;
	for (size_t i = 1; i <= la; i++) {
		prev = row[0];
		row[0] = i;
		for (size_t j = 1; j <= lb; j++) {
			size_t best = prev + (a[i - 1] != b[j - 1]);	/* substitute */

			if (row[j] + 1 < best)
				best = row[j] + 1;			/* delete */
			if (row[j - 1] + 1 < best)
				best = row[j - 1] + 1;			/* insert */
			tmp = row[j];
			row[j] = best;
			prev = tmp;
		}
	}
	return row[lb];
}

/*
 * "unknown verb 'lod'; did you mean 'load'?": the verbs nearest by edit
 * distance, when it is small against the name (at most 2, and under half
 * its length), so "x" or "frobnicate" get no guess, as git's typo help.
 */
static int unknown_verb(struct cmd *c, const char *name)
{
	char hint[256] = "";
	size_t best = (size_t)-1, len = strlen(name), limit = len / 2 < 2 ? len / 2 : 2, n = 0;

	if (len < 64) {
		for (size_t i = 0; i < verbs_count; i++) {
			size_t d = edit_distance(name, verbs[i].name);

			if (d < best)
				best = d;
		}
		for (size_t i = 0; best <= limit && i < verbs_count; i++)
			if (edit_distance(name, verbs[i].name) == best)
				snprintf(hint + strlen(hint), sizeof(hint) - strlen(hint), "%s'%s'",
					 n++ ? " or " : "; did you mean ", verbs[i].name);
	}
	return cmd_usage_error(c, "unknown verb '%s'%s%s", esc(name), hint, n ? "?" : "");
}

static void main_help(FILE *out);

/* b10t help [VERB]: what b10t VERB --help prints; help itself included. */
static int cmd_help_verb(struct cmd *c)
{
	const struct verb *v;

	if (!c->argc) {
		main_help(stdout);
		return 0;
	}
	if (!(v = verb_find(c->argv[0])))
		return unknown_verb(c, c->argv[0]);
	cmd_help(v, stdout);
	return 0;
}

enum { OPT_VERSION = 0x100, OPT_LIST_CMDS, OPT_DUMP_SETTINGS };

static const struct verb_option main_options[] = {
	{ { "version", no_argument, NULL, OPT_VERSION }, NULL,
	  "print the version and exit (with -v: the libraries)" },
	{ { "list-cmds", no_argument, NULL, OPT_LIST_CMDS }, NULL, "print the verbs, one a line" },
	{ { "dump-settings", no_argument, NULL, OPT_DUMP_SETTINGS }, NULL,
	  "print the settings and verbs as JSON (the docs are made from it)" },
	{ { 0 }, NULL, NULL },
};

static bool main_done, main_version;

static int main_opt(struct cmd *c, int val, const char *arg)
{
	switch (val) {
	case OPT_VERSION:
		main_version = main_done = true;	/* printed once -v, before or after, is known */
		return 0;
	case OPT_LIST_CMDS:
		for (size_t i = 0; i < verbs_count; i++)
			printf("%s\n", verbs[i].name);
		main_done = true;
		return 0;
	case OPT_DUMP_SETTINGS:
		cmd_dump_settings(stdout);
		main_done = true;
		return 0;
	}
	return -1;
}

static const struct verb vmain = {
	.name = "b10t", .args = "VERB [OPTIONS]", .summary = "", .options = main_options,
	.on_opt = main_opt,
};

static void main_help(FILE *out)
{
	size_t w = 0;

	fprintf(out, "Usage: b10t [OPTIONS] VERB [OPTIONS]\n\n"
		     "Share torch.compile caches between replicas through a shared directory.\n\n"
		     "Verbs:\n");
	for (size_t i = 0; i < verbs_count; i++)
		if (strlen(verbs[i].name) > w)
			w = strlen(verbs[i].name);
	for (size_t i = 0; i < verbs_count; i++)
		fprintf(out, "  %-*s  %s\n", (int)w, verbs[i].name, verbs[i].summary);
	cmd_help(&vmain, out);
	fprintf(out, "Run 'b10t help VERB' for a verb's options.\n");
}

static int finish(int code)
{
	/* Report a failed stdout (closed pipe, full disk) instead of exiting 0. */
	if (fflush(stdout) != 0 || ferror(stdout)) {
		if (errno != EPIPE)
			fprintf(stderr, "b10t: error: writing the result: %s\n", strerror(errno));
		return code ? code : 1;
	}
	return code;
}

int main(int argc, char **argv)
{
	struct cmd c = { .verb = "b10t" };
	const struct verb *v = NULL;
	const char *log = getenv("B10T_LOG");
	char *base = basename(argv[0]);
	int i;

	b10t_ctx_init(&c.ctx);
	if (log && (!strcmp(log, "debug") || !strcmp(log, "trace")))
		c.verbose = 1;
	/* Never fails on a bad variable: verb_run() checks those the verb reads. */
	b10t_config_init(&c.ctx, &c.cfg);

	/* argv[0] dispatch: a link named "b10t-VERB" or "VERB" runs the verb. */
	if (!strncmp(base, "b10t-", 5))
		v = verb_find(base + 5);
	else if (!strcmp(base, "b10-compile-cache"))	/* b10-transfer's sidecar */
		v = verb_find("vllm");
	else if (strcmp(base, "b10t"))
		v = verb_find(base);
	if (v)
		return finish(verb_run(&c, v, argc, argv));

	i = cmd_parse(&c, &vmain, argc, argv);
	if (i == -1)
		return finish(EXIT_USAGE);
	if (i == -2) {
		main_help(stdout);
		return finish(0);
	}
	if (main_version)
		cmd_version(&c);
	if (main_done)
		return finish(0);
	if (i >= argc)
		return finish(cmd_usage_error(&c, "no verb given"));
	if (!(v = verb_find(argv[i]))) {
		/* "b10t frob --json": the verb's --json asks for an object too. */
		for (int k = i + 1; k < argc && strcmp(argv[k], "--"); k++) {
			c.json |= !strcmp(argv[k], "--json") || !strncmp(argv[k], "--json=", 7);
			c.json_short |= !strcmp(argv[k], "--json=short");
		}
		return finish(unknown_verb(&c, argv[i]));
	}
	return finish(verb_run(&c, v, argc - i, argv + i));
}
