/* SPDX-License-Identifier: MIT */
/*
 * b10t why [KEY]: explain a miss.  Compares what the archive of KEY (this
 * environment's by default) recorded at save with this machine: the key's
 * components, the cache dir, the versions, the compute capability, HOME
 * and XDG_*, the TORCHINDUCTOR_* / TRITON_* / VLLM_* settings
 * (lib/why.c), and says what each difference does to torch or vLLM.
 * DOES_NOT_EXIST when the store has no archive for the key; for this
 * environment's key it then compares the nearest key's archive (a torch
 * upgrade, another GPU: the key changed).  Reads only.
 */
#include <inttypes.h>
#include <string.h>
#include <time.h>

#include "cmd.h"

static cJSON *why_json(const struct cmd *c, const struct b10t_why *w, const char *msg)
{
	cJSON *o = cJSON_CreateObject(), *arr;

	cJSON_AddStringToObject(o, "status", b10t_status_name(w->status));
	cJSON_AddStringToObject(o, "environment_key", c->key.key);
	cJSON_AddStringToObject(o, "key", w->key);
	cJSON_AddBoolToObject(o, "own_key", w->own_key);
	if (w->status == B10T_DOES_NOT_EXIST) {
		cJSON *near;

		cJSON_AddNullToObject(o, "archive");
		cJSON_AddStringToObject(o, "reason", "no_archive");
		cJSON_AddStringToObject(o, "message", msg);
		if (!w->nearest) {
			cJSON_AddNullToObject(o, "nearest");
			return o;
		}
		near = cJSON_AddObjectToObject(o, "nearest");
		cJSON_AddStringToObject(near, "key", w->nearest_key);
		cJSON_AddStringToObject(near, "archive", w->archive);
		cJSON_AddBoolToObject(near, "recorded", w->recorded);
		cJSON_AddStringToObject(near, "host", w->host);
		cJSON_AddStringToObject(near, "b10t_version", w->b10t_version);
		if (w->has_created)
			json_add_u64(near, "created_time", w->created_time);
		arr = cJSON_AddArrayToObject(near, "differences");
		for (size_t i = 0; i < w->n; i++)
			cJSON_AddItemToArray(arr, b10t_why_diff_json(&w->diffs[i], true));
		return o;
	}
	cJSON_AddStringToObject(o, "archive", w->archive);
	cJSON_AddBoolToObject(o, "has_manifest", w->has_manifest);
	cJSON_AddBoolToObject(o, "recorded", w->recorded);
	if (w->has_manifest) {
		cJSON_AddStringToObject(o, "host", w->host);
		cJSON_AddStringToObject(o, "b10t_version", w->b10t_version);
	}
	if (w->has_created)
		json_add_u64(o, "created_time", w->created_time);
	arr = cJSON_AddArrayToObject(o, "differences");
	for (size_t i = 0; i < w->n; i++)
		cJSON_AddItemToArray(arr, b10t_why_diff_json(&w->diffs[i], true));
	cJSON_AddStringToObject(o, "message", msg);
	return o;
}

static void why_text(const struct b10t_why *w, const char *msg)
{
	char age[32];

	if (w->nearest)
		printf("why: the nearest key in the store: %s: %s", esc(w->nearest_key),
		       esc(w->archive));
	else
		printf("why: key %s%s: %s", esc(w->key),
		       w->own_key ? " (this environment's)" : "", esc(w->archive));
	if (w->has_manifest) {
		if (w->has_created)
			printf(", saved %s", human_age((int64_t)w->created_time, (int64_t)time(NULL),
						       age, sizeof(age)));
		printf(" on host %s by b10t %s", esc(w->host), esc(w->b10t_version));
	}
	printf("\n");
	if (w->has_manifest && !w->recorded)
		printf("why: its manifest records no environment (saved before b10t why): "
		       "only the key's components and the cache dir are compared\n");
	printf("why: %s\n", msg);
	for (size_t i = 0; i < w->n; i++) {
		const struct b10t_why_diff *d = &w->diffs[i];

		printf("  %s: saved %s, here %s\n", esc(d->name),
		       d->saved_set ? esc(d->saved) : "(unset)",
		       d->here_set ? esc(d->here) : "(unset)");
		printf("    %s%s\n", d->wrong_output ? "DANGER: " : "", d->effect);
	}
}

int cmd_why(struct cmd *c)
{
	struct b10t_archive_info info;
	struct b10t_why w;
	const char *k = NULL;
	char msg[PATH_MAX + 512];
	int code;

	if (c->argc) {
		if (!(k = b10t_key_arg(c->argv[0], &info)))
			return cmd_usage_error(c, "'%s' is not a key", esc(c->argv[0]));
	}
	if (b10t_why(&c->ctx, &c->cfg, &c->key, k, &w) < 0)
		return cmd_fail(c, NULL);
	if (w.status == B10T_DOES_NOT_EXIST)
		snprintf(msg, sizeof(msg), "no archive for key %s in %s", w.key, c->cfg.store_dir);
	else if (!w.has_manifest)
		snprintf(msg, sizeof(msg), "the archive has no manifest (b10-transfer's): "
			 "nothing recorded to compare");
	else if (!w.n)
		snprintf(msg, sizeof(msg), "no differences: the archive was saved in an "
			 "environment like this one");
	else
		snprintf(msg, sizeof(msg), "%zu %s between the archive's environment and this "
			 "machine:", w.n, plural(w.n, "difference", "differences"));
	code = cmd_exit_code(w.status);
	if (c->json) {
		if (cmd_print_json(c, why_json(c, &w, msg)) < 0)
			code = 1;
	} else if (w.status == B10T_DOES_NOT_EXIST) {
		if (!c->quiet)
			printf("why: DOES_NOT_EXIST: %s\n", esc_msg(msg));
		if (!c->quiet && w.nearest) {
			snprintf(msg, sizeof(msg), "%zu %s between that archive's environment and "
				 "this machine:", w.n, plural(w.n, "difference", "differences"));
			why_text(&w, msg);
		}
	} else if (!c->quiet) {
		why_text(&w, msg);
	}
	b10t_why_free(&w);
	return code;
}
