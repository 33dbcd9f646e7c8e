/* SPDX-License-Identifier: MIT */
/* load and save: one verb body, one result struct rendered as JSON or one line. */
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <string.h>

#include "cmd.h"

/* The fields every result has, after "status" (added by the caller). */
static cJSON *result_json(cJSON *o, const struct b10t_result *res)
{
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "environment_key", res->environment_key);
	if (res->archive[0])
		cJSON_AddStringToObject(o, "archive", res->archive);
	else
		cJSON_AddNullToObject(o, "archive");
	json_add_u64(o, "files", res->files);
	json_add_u64(o, "bytes", res->bytes);
	json_add_u64(o, "archive_bytes", res->archive_bytes);
	json_add_u64(o, "skipped_entries", res->skipped);
	cJSON_AddNumberToObject(o, "elapsed_s", (double)(int64_t)(res->elapsed_s * 1000) / 1000);
	if (res->reason[0])
		cJSON_AddStringToObject(o, "reason", res->reason);
	if (res->saved_cache_dir[0])
		cJSON_AddStringToObject(o, "saved_cache_dir", res->saved_cache_dir);
	return o;
}

int cmd_result(struct cmd *c, const struct b10t_result *res, int r, const char *prep)
{
	char b[32], ab[32];
	const char *name;

	if (r < 0 || res->status == B10T_ERROR)
		return cmd_fail(c, result_json(cJSON_CreateObject(), res));
	if (c->json) {
		cJSON *o = cJSON_CreateObject();

		if (!o) {
			b10t_set_error(&c->ctx, ENOMEM, "out of memory");
			return cmd_fail(c, NULL);
		}
		cJSON_AddStringToObject(o, "status", b10t_status_name(res->status));
		if (cmd_print_json(c, result_json(o, res)) < 0)
			return 1;
		return cmd_exit_code(res->status);
	}
	if (res->status != B10T_SUCCESS) {
		printf("%s: %s: %s\n", c->verb, b10t_status_name(res->status),
		       esc_msg(res->reason));
		return cmd_exit_code(res->status);
	}
	name = strrchr(res->archive, '/');
	name = name ? name + 1 : res->archive;
	printf("%s: SUCCESS: %" PRIu64 " files, %s %s %s (%s) in %.2f s", c->verb,
	       res->files, human_bytes(res->bytes, b, sizeof(b)), prep, esc(name),
	       human_bytes(res->archive_bytes, ab, sizeof(ab)), res->elapsed_s);
	if (res->skipped)	/* each one named in a warning on stderr */
		printf(", %" PRIu64 " %s left out", res->skipped,
		       res->skipped == 1 ? "entry" : "entries");
	printf("\n");
	return cmd_exit_code(res->status);
}

static volatile sig_atomic_t stop_signal;

/* First SIGINT/SIGTERM/SIGHUP: stop cleanly; a second one kills at once. */
static void on_stop_signal(int sig)
{
	if (stop_signal) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	stop_signal = sig;
}

static void stop_signals_setup(struct cmd *c)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESTART };
	struct sigaction old;

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		/* A signal ignored by whoever started us (nohup, `&`) stays ignored. */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
	c->ctx.cancel = &stop_signal;
}

int cmd_transfer(struct cmd *c, int argc, char **argv,
		 int (*fn)(struct b10t_ctx *ctx, const struct b10t_config *cfg,
			   const struct b10t_envkey *key, struct b10t_result *res),
		 const char *prep)
{
	struct b10t_envkey key;
	struct b10t_result res;
	int i = cmd_parse(c, verb_find(c->verb), argc, argv, NULL, NULL);
	int r;

	if (i < 0)
		return i == -2 ? 0 : EXIT_USAGE;
	if (i < argc)
		return cmd_usage_error(c, "unexpected argument '%s'", esc(argv[i]));
	if ((r = cmd_envkey(c, &key)) != 0)
		return r;
	stop_signals_setup(c);
	cmd_progress_setup(c, c->verb);
	r = fn(&c->ctx, &c->cfg, &key, &res);
	cmd_progress_end(c);
	r = cmd_result(c, &res, r, prep);
	/* Stopped by a signal: cleaned up, and the shell's usual 128 + N. */
	return r == 1 && stop_signal ? 128 + stop_signal : r;
}
