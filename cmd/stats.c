/* SPDX-License-Identifier: MIT */
/*
 * b10t stats: what the fleet's loads and saves did, summed from the
 * records each one left in the store (lib/stats.c), for the whole store
 * and per key, as ccache -s and sccache --show-stats show theirs.
 * --since and --key narrow what is summed; --zero starts the count
 * afresh (records before it no longer count; gc drops them).
 */
#include <errno.h>
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cmd.h"

enum { OPT_SINCE = 0x600, OPT_KEY, OPT_ZERO };

const struct verb_option stats_options[] = {
	{ { "since", required_argument, NULL, OPT_SINCE }, "DURATION",
	  "only the records of the last DURATION (30s, 1.5m, 2h, 7d)" },
	{ { "key", required_argument, NULL, OPT_KEY }, "KEY", "only the records of KEY" },
	{ { "zero", no_argument, NULL, OPT_ZERO }, NULL,
	  "start counting afresh: earlier records no longer count" },
	{ { 0 }, NULL, NULL },
};

static struct {
	uint64_t since_ms;
	bool since_set, zero;
	char key[NAME_MAX + 1];
} args;

int stats_opt(struct cmd *c, int val, const char *arg)
{
	struct b10t_archive_info info;

	switch (val) {
	case OPT_SINCE:
		if (b10t_value_duration(&c->ctx, "--since", arg, 0, UINT64_MAX / 2, 1,
					&args.since_ms) < 0)
			return cmd_usage_error(c, "%s", esc_msg(b10t_ctx_error(&c->ctx))), -1;
		args.since_set = true;
		return 0;
	case OPT_KEY:
		/* a key, or an archive's file name as `b10t list` shows it */
		if (b10t_parse_archive_name(arg, &info))
			arg = info.key;
		if (!b10t_valid_key(arg, strlen(arg)))
			return cmd_usage_error(c, "--key '%s': not a key", esc(arg)), -1;
		snprintf(args.key, sizeof(args.key), "%s", arg);
		return 0;
	case OPT_ZERO:
		args.zero = true;
		return 0;
	}
	return -1;
}

/* A time in ms as JSON: Unix seconds, null when none. */
static void add_time(cJSON *o, const char *name, int64_t ms)
{
	if (ms > 0)
		json_add_u64(o, name, (uint64_t)(ms / 1000));
	else
		cJSON_AddNullToObject(o, name);
}

static cJSON *counts_json(const struct b10t_stats_count *c, size_t n)
{
	cJSON *o = cJSON_CreateObject();

	for (size_t i = 0; o && i < n; i++)
		json_add_u64(o, c[i].name, c[i].n);
	return o;
}

static cJSON *sum_json(const struct b10t_stats_sum *s, bool with_key)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	if (with_key)
		cJSON_AddStringToObject(o, "environment_key", s->key);
	json_add_u64(o, "loads", s->load_hits + s->load_misses + s->load_skipped + s->load_errors);
	json_add_u64(o, "load_hits", s->load_hits);
	json_add_u64(o, "load_misses", s->load_misses);
	json_add_u64(o, "load_skipped", s->load_skipped);
	json_add_u64(o, "load_errors", s->load_errors);
	json_add_u64(o, "saves", s->save_published + s->save_skipped + s->save_errors);
	json_add_u64(o, "save_published", s->save_published);
	json_add_u64(o, "save_skipped", s->save_skipped);
	json_add_u64(o, "save_errors", s->save_errors);
	json_add_u64(o, "errors", s->load_errors + s->save_errors);
	cJSON_AddItemToObject(o, "errors_by_kind", counts_json(s->errors, s->n_errors));
	cJSON_AddItemToObject(o, "skipped_by_reason", counts_json(s->skips, s->n_skips));
	json_add_u64(o, "bytes_served", s->bytes_served);
	json_add_u64(o, "bytes_saved", s->bytes_saved);
	if (s->has_median)
		cJSON_AddNumberToObject(o, "median_load_s",
					(double)(int64_t)(s->median_load_s * 1000 + 0.5) / 1000);
	else
		cJSON_AddNullToObject(o, "median_load_s");
	return o;
}

static int print_json(struct cmd *c, const struct b10t_stats_report *rep, int64_t since_ms)
{
	cJSON *o = cJSON_CreateObject(), *keys = cJSON_CreateArray();

	if (!o || !keys) {
		cJSON_Delete(o);
		cJSON_Delete(keys);
		b10t_set_error(&c->ctx, ENOMEM, "out of memory");
		return cmd_fail(c, NULL);
	}
	cJSON_AddStringToObject(o, "status", "SUCCESS");
	cJSON_AddStringToObject(o, "store", c->cfg.store_dir);
	add_time(o, "since", since_ms);
	add_time(o, "zeroed_time", rep->zeroed_ms);
	add_time(o, "first_time", rep->first_ms);
	add_time(o, "last_time", rep->last_ms);
	json_add_u64(o, "records", rep->records);
	json_add_u64(o, "bad_lines", rep->bad_lines);
	json_add_u64(o, "hosts", rep->hosts);
	json_add_u64(o, "stats_bytes", rep->file_bytes);
	cJSON_AddItemToObject(o, "total", sum_json(&rep->total, false));
	for (size_t i = 0; i < rep->n_keys; i++)
		cJSON_AddItemToArray(keys, sum_json(&rep->keys[i], true));
	cJSON_AddItemToObject(o, "keys", keys);
	return cmd_print_json(c, o) < 0 ? 1 : 0;
}

static const char *when(int64_t ms, char *buf, size_t size)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (!gmtime_r(&t, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, size, "?");
	return buf;
}

static void print_counts(const char *what, const struct b10t_stats_count *cs, size_t n)
{
	printf("  %-22s", what);
	for (size_t i = 0; i < n; i++)
		printf("%s%s %" PRIu64, i ? ", " : "", esc(cs[i].name), cs[i].n);
	printf("\n");
}

static void print_sum(const struct b10t_stats_sum *s)
{
	uint64_t loads = s->load_hits + s->load_misses + s->load_skipped + s->load_errors;
	uint64_t saves = s->save_published + s->save_skipped + s->save_errors;
	uint64_t looked = s->load_hits + s->load_misses;
	char b[32];

	printf("  %-22s%" PRIu64 "\n", "loads", loads);
	printf("  %-22s%" PRIu64, "  hit", s->load_hits);
	if (looked)
		printf(" (%.1f %%)", 100.0 * (double)s->load_hits / (double)looked);
	printf("\n  %-22s%" PRIu64 "\n", "  missed", s->load_misses);
	printf("  %-22s%" PRIu64 "\n", "  skipped", s->load_skipped);
	printf("  %-22s%" PRIu64 "\n", "  errors", s->load_errors);
	printf("  %-22s%" PRIu64 "\n", "saves", saves);
	printf("  %-22s%" PRIu64 "\n", "  published", s->save_published);
	printf("  %-22s%" PRIu64 "\n", "  skipped", s->save_skipped);
	printf("  %-22s%" PRIu64 "\n", "  errors", s->save_errors);
	if (s->n_errors)
		print_counts("errors by kind", s->errors, s->n_errors);
	if (s->n_skips)
		print_counts("skipped by reason", s->skips, s->n_skips);
	printf("  %-22s%s\n", "bytes served", human_bytes(s->bytes_served, b, sizeof(b)));
	printf("  %-22s%s\n", "bytes saved", human_bytes(s->bytes_saved, b, sizeof(b)));
	if (s->has_median)
		printf("  %-22s%.3f s\n", "median load (hits)", s->median_load_s);
	else
		printf("  %-22s-\n", "median load (hits)");
}

static void print_text(struct cmd *c, const struct b10t_stats_report *rep)
{
	char a[64], b[64];

	if (c->quiet)
		return;
	printf("Statistics of %s: %" PRIu64 " %s from %" PRIu64 " %s", esc(c->cfg.store_dir),
	       rep->records, plural(rep->records, "record", "records"), rep->hosts,
	       plural(rep->hosts, "host", "hosts"));
	if (rep->records)
		printf(", %s to %s", when(rep->first_ms, a, sizeof(a)), when(rep->last_ms, b, sizeof(b)));
	printf("\n");
	if (rep->zeroed_ms)
		printf("  zeroed %s\n", when(rep->zeroed_ms, a, sizeof(a)));
	if (rep->bad_lines)
		printf("  %" PRIu64 " %s not a record (ignored)\n", rep->bad_lines,
		       plural(rep->bad_lines, "line", "lines"));
	if (args.key[0])
		printf("Key %s:\n", esc(args.key));
	else
		printf("All keys:\n");
	print_sum(&rep->total);
	if (args.key[0] || !rep->n_keys)
		return;
	printf("\n%-16s %7s %7s %7s %7s %7s %7s %10s %9s\n", "KEY", "HITS", "MISSES", "SKIPPED",
	       "ERRORS", "SAVES", "SAVED", "SERVED", "MEDIAN");
	for (size_t i = 0; i < rep->n_keys; i++) {
		const struct b10t_stats_sum *s = &rep->keys[i];
		char served[32], med[32];

		if (s->has_median)
			snprintf(med, sizeof(med), "%.3f s", s->median_load_s);
		else
			snprintf(med, sizeof(med), "-");
		printf("%-16s %7" PRIu64 " %7" PRIu64 " %7" PRIu64 " %7" PRIu64 " %7" PRIu64
		       " %7" PRIu64 " %10s %9s\n", esc(s->key), s->load_hits, s->load_misses,
		       s->load_skipped + s->save_skipped, s->load_errors + s->save_errors,
		       s->save_published + s->save_skipped + s->save_errors, s->save_published,
		       human_bytes(s->bytes_served, served, sizeof(served)), med);
	}
}

int cmd_stats(struct cmd *c)
{
	struct b10t_stats_query q = { 0 };
	struct b10t_stats_report rep;
	int64_t at;
	int code;

	if (args.zero) {
		if ((args.since_set || args.key[0]))
			return cmd_usage_error(c, "--zero counts every key afresh: no --since or --key");
		if (b10t_stats_zero(&c->ctx, &c->cfg, &at) < 0)
			return cmd_fail(c, NULL);
		if (c->json) {
			cJSON *o = cJSON_CreateObject();

			cJSON_AddStringToObject(o, "status", "SUCCESS");
			add_time(o, "zeroed_time", at);
			return cmd_print_json(c, o) < 0 ? 1 : 0;
		}
		if (!c->quiet)
			printf("stats: SUCCESS: zeroed; records before %s no longer count\n",
			       when(at, (char[64]){ 0 }, 64));
		return 0;
	}
	if (args.since_set)
		q.since_ms = (int64_t)time(NULL) * 1000 - (int64_t)args.since_ms;
	if (args.key[0])
		q.key = args.key;
	if (b10t_stats_read(&c->ctx, &c->cfg, &q, &rep) < 0) {
		b10t_stats_report_free(&rep);
		return cmd_fail(c, NULL);
	}
	if (c->json) {
		code = print_json(c, &rep, q.since_ms);
	} else {
		print_text(c, &rep);
		code = 0;
	}
	b10t_stats_report_free(&rep);
	return code;
}
