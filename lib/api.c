/* SPDX-License-Identifier: MIT */
/*
 * The public API (lib/b10t.h) over the internal library: a handle holding
 * a context and a configuration, one call per verb, and the verb's result
 * as the JSON object the b10t command prints (--json=short).  The JSON is
 * built here with the same keys, in the same order, as the verbs in cmd/
 * build it; tests/cli/t-capi.sh compares the two verb by verb.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cjson/cJSON.h>

#include "b10t.h"
#include "internal.h"

struct b10t_handle {
	struct b10t_ctx ctx;
	struct b10t_config cfg;
	volatile sig_atomic_t cancel;
	b10t_log_fn *log;
	void *log_arg;
	/* operation options (b10t_set) */
	bool manifest, all, dry_run;
	bool stale_set, max_size_set, max_age_set;
	uint64_t stale_s, max_size, max_age_s;
	char **keep;
	size_t n_keep;
	/* the last result */
	enum b10t_status status;
	cJSON *res;
	char *json;
	char err[sizeof(((struct b10t_ctx *)0)->err)];
	int err_no;
};

unsigned b10t_version_number(void)
{
	return B10T_VERSION_NUMBER;
}

const char *b10t_version_string(void)
{
	return B10T_VERSION_STRING;
}

b10t_t *b10t_new(void)
{
	b10t_t *h = calloc(1, sizeof(*h));

	if (!h)
		return NULL;
	b10t_ctx_init(&h->ctx);
	h->ctx.cancel = &h->cancel;
	/* A bad variable is kept in cfg.bad: the operation reading it fails. */
	b10t_config_init(&h->ctx, &h->cfg);
	b10t_clear_error(&h->ctx);
	h->status = B10T_ERROR;
	return h;
}

static void result_reset(b10t_t *h)
{
	cJSON_Delete(h->res);
	cJSON_free(h->json);
	h->res = NULL;
	h->json = NULL;
}

static void keep_clear(b10t_t *h)
{
	for (size_t i = 0; i < h->n_keep; i++)
		free(h->keep[i]);
	free(h->keep);
	h->keep = NULL;
	h->n_keep = 0;
}

void b10t_free(b10t_t *h)
{
	if (!h)
		return;
	result_reset(h);
	keep_clear(h);
	free(h);
}

/* A failure of b10t_set: its message kept as the handle's last error. */
static enum b10t_status set_failed(b10t_t *h)
{
	snprintf(h->err, sizeof(h->err), "%s", b10t_ctx_error(&h->ctx));
	h->err_no = -h->ctx.err_code;
	b10t_clear_error(&h->ctx);
	return B10T_ERROR;
}

static int parse_bool(const char *v)
{
	static const char *const yes[] = { "1", "true", "yes", "on" };
	static const char *const no[] = { "0", "false", "no", "off" };

	for (size_t i = 0; i < 4; i++) {
		if (!strcasecmp(v, yes[i]))
			return 1;
		if (!strcasecmp(v, no[i]))
			return 0;
	}
	return -1;
}

/* The operation options of b10t_set; 1 when `name` is none of them. */
static int set_option(b10t_t *h, const char *name, const char *value)
{
	bool *flag = !strcmp(name, "manifest") ? &h->manifest :
		     !strcmp(name, "all") ? &h->all :
		     !strcmp(name, "dry_run") ? &h->dry_run : NULL;
	bool unset = !value || !*value;
	struct b10t_archive_info info;
	int b;

	if (flag) {
		if (unset) {
			*flag = false;
			return 0;
		}
		if ((b = parse_bool(value)) < 0)
			return b10t_set_error(&h->ctx, EINVAL, "%s: not a boolean: '%s'", name,
					      value);
		*flag = b;
		return 0;
	}
	if (!strcmp(name, "stale") || !strcmp(name, "max_age")) {
		bool stale = name[0] == 's';
		uint64_t v;

		if (unset) {
			*(stale ? &h->stale_set : &h->max_age_set) = false;
			return 0;
		}
		if (b10t_value_duration(&h->ctx, name, value, 0, UINT64_MAX, 1000, &v) < 0)
			return h->ctx.err_code;
		*(stale ? &h->stale_s : &h->max_age_s) = v;
		*(stale ? &h->stale_set : &h->max_age_set) = true;
		return 0;
	}
	if (!strcmp(name, "max_size")) {
		if (unset) {
			h->max_size_set = false;
			return 0;
		}
		if (b10t_value_size(&h->ctx, name, value, 1, 0, UINT64_MAX, &h->max_size) < 0)
			return h->ctx.err_code;
		h->max_size_set = true;
		return 0;
	}
	if (!strcmp(name, "keep")) {
		size_t len;

		if (unset) {
			keep_clear(h);
			return 0;
		}
		/* a key, or an archive's file name as b10t list shows it */
		if (b10t_parse_archive_name(value, &info))
			value = info.key;
		len = strlen(value);
		if (!b10t_valid_key(value, len))
			return b10t_set_error(&h->ctx, EINVAL, "keep: not a key");
		if (B10T_PUSH(h->keep, h->n_keep) < 0)
			return b10t_set_error(&h->ctx, ENOMEM, "out of memory");
		if (!(h->keep[h->n_keep] = strndup(value, len)))
			return b10t_set_error(&h->ctx, ENOMEM, "out of memory");
		h->n_keep++;
		return 0;
	}
	return 1;
}

enum b10t_status b10t_set(b10t_t *h, const char *name, const char *value)
{
	const struct b10t_setting *s = NULL;
	int r;

	if (!h)
		return B10T_ERROR;
	h->err[0] = '\0';
	h->err_no = 0;
	if (!name)
		return b10t_set_error(&h->ctx, EINVAL, "no setting named"), set_failed(h);
	for (size_t i = 0; !s && i < b10t_settings_count; i++)
		if (!strcmp(name, b10t_settings[i].name))
			s = &b10t_settings[i];
	if (!s)
		s = b10t_setting_find(name);
	if (!s) {
		r = set_option(h, name, value);
		if (r == 0)
			return B10T_SUCCESS;
		if (r > 0) {
			char esc[B10T_ESCAPE_SIZE(64)];

			b10t_set_error(&h->ctx, EINVAL, "unknown setting '%s'",
				       b10t_escape(esc, sizeof(esc), name, 64));
		}
		return set_failed(h);
	}
	if (b10t_config_set(&h->ctx, &h->cfg, s->env, value ? value : "", name) < 0)
		return set_failed(h);
	return B10T_SUCCESS;
}

void b10t_set_log(b10t_t *h, b10t_log_fn *fn, void *arg, enum b10t_log_level max_level)
{
	if (!h)
		return;
	h->ctx.log = fn;
	h->ctx.log_arg = arg;
	h->ctx.log_level = max_level;
}

void b10t_interrupt(b10t_t *h)
{
	if (h)
		h->cancel = 1;
}

/* ---- running an operation ------------------------------------------- */

/* The start of every operation: the last result dropped, settings checked. */
static int begin(b10t_t *h, unsigned uses)
{
	result_reset(h);
	h->cancel = 0;
	h->err[0] = '\0';
	h->err_no = 0;
	b10t_clear_error(&h->ctx);
	return b10t_config_check(&h->ctx, &h->cfg, uses);
}

/*
 * The end: o becomes the result (o NULL: out of memory).  failed: the
 * operation failed (r < 0 in the command: cmd_fail), so "status": "ERROR"
 * and "error" are appended to o as the command does.
 */
static enum b10t_status finish(b10t_t *h, cJSON *o, bool failed, enum b10t_status status)
{
	if (failed) {
		const char *msg = b10t_ctx_error(&h->ctx);

		snprintf(h->err, sizeof(h->err), "%s", msg);
		h->err_no = h->ctx.err_code ? -h->ctx.err_code : EIO;
		if (!o)
			o = cJSON_CreateObject();
		if (o) {
			cJSON_AddStringToObject(o, "status", "ERROR");
			cJSON_AddStringToObject(o, "error", msg);
		}
		status = B10T_ERROR;
	}
	if (!o || !(h->json = cJSON_PrintUnformatted(o))) {
		cJSON_Delete(o);
		snprintf(h->err, sizeof(h->err), "out of memory");
		h->err_no = ENOMEM;
		h->status = B10T_ERROR;
		return B10T_ERROR;
	}
	h->res = o;
	h->status = status;
	return status;
}

/* Megabytes as b10-transfer counts them: bytes / 1024 / 1024. */
static double mb(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* ---- load, save, update, compact: b10t_json_result (lib/json.c) ---- */

typedef int transfer_fn(struct b10t_ctx *ctx, const struct b10t_config *cfg,
			const struct b10t_envkey *key, struct b10t_result *res);

#define USES_PUBLISH (B10T_USES_KEY | B10T_USES_CACHE | B10T_USES_STORE | B10T_USES_ENABLED | \
		      B10T_USES_DEBRIS | B10T_USES_PUBLISH | B10T_USES_CODEC | B10T_USES_STATS)

/* This machine's key, computed (it may probe the GPU); NULL with the error set. */
static struct b10t_envkey *this_key(b10t_t *h)
{
	struct b10t_envkey *key = calloc(1, sizeof(*key));

	if (!key)
		b10t_set_error(&h->ctx, ENOMEM, "out of memory");
	else if (b10t_envkey_compute(&h->ctx, &h->cfg, key) < 0) {
		free(key);
		key = NULL;
	}
	return key;
}

static enum b10t_status transfer(b10t_t *h, unsigned uses, transfer_fn *fn)
{
	struct b10t_envkey *key;
	struct b10t_result *res;
	enum b10t_status st;
	cJSON *o;
	int r;

	if (!h)
		return B10T_ERROR;
	if (begin(h, uses) < 0)
		return finish(h, NULL, true, B10T_ERROR);
	if (!(key = this_key(h)))
		return finish(h, NULL, true, B10T_ERROR);
	if (!(res = calloc(1, sizeof(*res)))) {
		free(key);
		b10t_set_error(&h->ctx, ENOMEM, "out of memory");
		return finish(h, NULL, true, B10T_ERROR);
	}
	res->status = B10T_ERROR;
	r = fn(&h->ctx, &h->cfg, key, res);
	/* the record for b10t stats, as the command leaves one (lib/stats.c) */
	b10t_stats_note(&h->ctx, &h->cfg, fn == b10t_load ? "load" : fn == b10t_update ? "update" :
			"save", key->key, res, r);
	if (r < 0 || res->status == B10T_ERROR) {
		o = b10t_json_result(cJSON_CreateObject(), res);
		st = finish(h, o, true, B10T_ERROR);
	} else {
		o = cJSON_CreateObject();
		if (o)
			cJSON_AddStringToObject(o, "status", b10t_status_name(res->status));
		st = finish(h, b10t_json_result(o, res), false, res->status);
	}
	free(key);
	free(res);
	return st;
}

enum b10t_status b10t_op_load(b10t_t *h)
{
	return transfer(h, B10T_USES_KEY | B10T_USES_CACHE | B10T_USES_STORE | B10T_USES_ENABLED |
			   B10T_USES_DEBRIS | B10T_USES_STATS, b10t_load);
}

enum b10t_status b10t_op_save(b10t_t *h)
{
	return transfer(h, USES_PUBLISH, b10t_save);
}

enum b10t_status b10t_op_update(b10t_t *h)
{
	return transfer(h, USES_PUBLISH, b10t_update);
}

/* The compaction alone: gc --compact's "compaction" object. */
enum b10t_status b10t_op_compact(b10t_t *h)
{
	struct b10t_envkey *key;
	struct b10t_result *res;
	enum b10t_status st;

	if (!h)
		return B10T_ERROR;
	if (begin(h, USES_PUBLISH) < 0)
		return finish(h, NULL, true, B10T_ERROR);
	key = NULL;
	if (!(res = calloc(1, sizeof(*res)))) {
		b10t_set_error(&h->ctx, ENOMEM, "out of memory");
		st = finish(h, NULL, true, B10T_ERROR);
	} else if (b10t_store_check(&h->ctx, &h->cfg) < 0 || !(key = this_key(h)) ||
		 b10t_compact(&h->ctx, &h->cfg, key, res) < 0)
		st = finish(h, NULL, true, B10T_ERROR);
	else
		st = finish(h, b10t_json_compaction(res), false, res->status);
	free(key);
	free(res);
	return st;
}

/* ---- clear: cmd/clear.c --------------------------------------------- */

enum b10t_status b10t_op_clear(b10t_t *h)
{
	struct b10t_result res;
	cJSON *o;
	int r;

	if (!h)
		return B10T_ERROR;
	if (begin(h, B10T_USES_CACHE | B10T_USES_STORE) < 0)
		return finish(h, NULL, true, B10T_ERROR);
	memset(&res, 0, sizeof(res));
	r = b10t_clear(&h->ctx, &h->cfg, &res);
	if ((o = cJSON_CreateObject())) {
		/* On failure the command's object has res's status, then (finish)
		 * "status": "ERROR" and "error" after it: the last one counts. */
		cJSON_AddStringToObject(o, "status", b10t_status_name(res.status));
		cJSON_AddStringToObject(o, "cache_dir", h->cfg.cache_dir);
		b10t_json_u64(o, "files", res.files);
		b10t_json_u64(o, "dirs", res.dirs);
		b10t_json_u64(o, "bytes", res.bytes);
		if (res.reason[0])
			cJSON_AddStringToObject(o, "message", res.reason);
	}
	return finish(h, o, r < 0, res.status);
}

/* ---- envkey: cmd/envkey.c ------------------------------------------- */

enum b10t_status b10t_op_envkey(b10t_t *h)
{
	struct b10t_envkey *key;
	enum b10t_status st;
	cJSON *o, *comp, *src;

	if (!h)
		return B10T_ERROR;
	if (begin(h, B10T_USES_KEY) < 0)
		return finish(h, NULL, true, B10T_ERROR);
	if (!(key = this_key(h)))
		return finish(h, NULL, true, B10T_ERROR);
	o = cJSON_CreateObject();
	comp = cJSON_CreateObject();
	src = cJSON_CreateObject();
	if (o && comp && src) {
		cJSON_AddStringToObject(o, "environment_key", key->key);
		cJSON_AddStringToObject(o, "key_scheme", b10t_scheme_name(key->scheme));
		cJSON_AddBoolToObject(o, "gpu", key->gpu);
		b10t_json_namespace(o, key);
		for (size_t i = 0; i < key->n; i++) {
			cJSON_AddStringToObject(comp, key->comp[i].name, key->comp[i].value);
			cJSON_AddStringToObject(src, key->comp[i].name, key->comp[i].source);
		}
		cJSON_AddItemToObject(o, "components", comp);
		cJSON_AddItemToObject(o, "sources", src);
	} else {
		cJSON_Delete(o);
		cJSON_Delete(comp);
		cJSON_Delete(src);
		o = NULL;
	}
	st = finish(h, o, false, B10T_SUCCESS);
	free(key);
	return st;
}

/* ---- info: cmd/info.c ----------------------------------------------- */

enum b10t_status b10t_op_info(b10t_t *h)
{
	struct b10t_envkey *key;
	struct b10t_archive_info ar;
	struct b10t_manifest *m;
	char local_error[sizeof(h->err)] = "", store_error[sizeof(h->err)] = "";
	char manifest_error[sizeof(h->err)] = "";
	uint64_t lbytes = 0, lfiles = 0, ldirs = 0;
	bool enabled, exists = false, has_m = false, surveyed, why;
	struct b10t_namespaces *ns;
	struct b10t_why *w;
	enum b10t_status st;
	cJSON *o, *comp;

	if (!h)
		return B10T_ERROR;
	if (begin(h, B10T_USES_KEY | B10T_USES_CACHE | B10T_USES_STORE | B10T_USES_ENABLED) < 0)
		return finish(h, NULL, true, B10T_ERROR);
	if (!(key = this_key(h)))
		return finish(h, NULL, true, B10T_ERROR);
	m = calloc(1, sizeof(*m));
	ns = calloc(1, sizeof(*ns));
	w = calloc(1, sizeof(*w));
	if (!m || !ns || !w) {
		free(key);
		free(m);
		free(ns);
		free(w);
		b10t_set_error(&h->ctx, ENOMEM, "out of memory");
		return finish(h, NULL, true, B10T_ERROR);
	}
	if (b10t_tree_size(&h->ctx, h->cfg.cache_dir, &lbytes, &lfiles, &ldirs) < 0) {
		snprintf(local_error, sizeof(local_error), "%s", b10t_ctx_error(&h->ctx));
		b10t_warn(&h->ctx, "%s", local_error);
	}
	enabled = b10t_store_enabled(&h->cfg);
	if (enabled && b10t_store_find(&h->ctx, &h->cfg, key->key, &ar) == 0) {
		char path[PATH_MAX + NAME_MAX + 2], *json = NULL;

		exists = true;
		snprintf(path, sizeof(path), "%s/%s", h->cfg.store_dir, ar.filename);
		if (b10t_read_manifest(&h->ctx, path, ar.format, &json) == 0) {
			if (b10t_manifest_parse(&h->ctx, json, strlen(json), m) == 0)
				has_m = true;
			else
				snprintf(manifest_error, sizeof(manifest_error), "%s",
					 b10t_ctx_error(&h->ctx));
		}
		free(json);
	} else if (enabled && h->ctx.err_code != -ENOENT && h->ctx.err_code != -ENOTDIR) {
		snprintf(store_error, sizeof(store_error), "%s", b10t_ctx_error(&h->ctx));
		b10t_warn(&h->ctx, "%s", store_error);
	}
	b10t_clear_error(&h->ctx);
	/* as cmd/info.c: the store's namespaces, what differs from the saver's */
	surveyed = enabled && b10t_store_namespaces(&h->ctx, &h->cfg, ns) == 0;
	why = exists && b10t_why(&h->ctx, &h->cfg, key, NULL, w) == 0;
	b10t_clear_error(&h->ctx);

	if ((o = cJSON_CreateObject())) {
		cJSON_AddStringToObject(o, "environment_key", key->key);
		cJSON_AddBoolToObject(o, "local_cache_exists", lfiles + ldirs > 0);
		cJSON_AddBoolToObject(o, "b10fs_enabled", enabled);
		cJSON_AddBoolToObject(o, "b10fs_cache_exists", exists);
		cJSON_AddNumberToObject(o, "local_cache_size_mb", mb(lbytes));
		cJSON_AddNumberToObject(o, "b10fs_cache_size_mb", exists ? mb(ar.bytes) : 0.0);
		b10t_json_u64(o, "local_cache_bytes", lbytes);
		b10t_json_u64(o, "local_cache_files", lfiles);
		b10t_json_u64(o, "local_cache_dirs", ldirs);
		b10t_json_info_archive(o, exists ? &ar : NULL, has_m ? m : NULL, manifest_error);
		cJSON_AddStringToObject(o, "cache_dir", h->cfg.cache_dir);
		cJSON_AddStringToObject(o, "store_dir", h->cfg.store_dir);
		cJSON_AddStringToObject(o, "key_scheme", b10t_scheme_name(key->scheme));
		comp = cJSON_AddObjectToObject(o, "components");
		for (size_t i = 0; comp && i < key->n; i++)
			cJSON_AddStringToObject(comp, key->comp[i].name, key->comp[i].value);
		b10t_json_namespace(o, key);
		if (surveyed)
			b10t_json_store_namespaces(o, ns);
		if (why)
			b10t_json_info_differences(o, w);
		if (local_error[0])
			cJSON_AddStringToObject(o, "local_cache_error", local_error);
		if (store_error[0])
			cJSON_AddStringToObject(o, "b10fs_error", store_error);
	}
	st = finish(h, o, false, B10T_SUCCESS);
	if (why)
		b10t_why_free(w);
	free(key);
	free(m);
	free(ns);
	free(w);
	return st;
}

/* ---- list: cmd/list.c ----------------------------------------------- */

static cJSON *list_json(const b10t_t *h, const char *cur, bool enabled,
			const struct b10t_archive_info *v, size_t n,
			struct b10t_manifest *const *ms, bool current)
{
	struct b10t_list_json l = {
		.current_key = cur, .store_dir = h->cfg.store_dir, .enabled = enabled,
		.current_exists = current, .v = v, .n = n, .manifests = ms,
	};

	return b10t_json_list(&l);
}

enum b10t_status b10t_op_list(b10t_t *h)
{
	struct b10t_envkey *key;
	struct b10t_archive_info *v = NULL;
	struct b10t_manifest **ms = NULL;
	bool enabled, current = false;
	enum b10t_status st;
	size_t n = 0;

	if (!h)
		return B10T_ERROR;
	if (begin(h, B10T_USES_KEY | B10T_USES_STORE | B10T_USES_ENABLED) < 0)
		return finish(h, NULL, true, B10T_ERROR);
	if (!(key = this_key(h)))
		return finish(h, NULL, true, B10T_ERROR);
	enabled = b10t_store_enabled(&h->cfg);
	if (enabled && b10t_store_list(&h->ctx, &h->cfg, &v, &n) < 0 &&
	    h->ctx.err_code != -ENOENT) {
		/* every key of a listing still, of none */
		st = finish(h, list_json(h, key->key, true, NULL, 0, NULL, false), true, 0);
		free(key);
		return st;
	}
	b10t_clear_error(&h->ctx);
	for (size_t k = 0; k < n; k++)
		if (!strcmp(v[k].key, key->key))
			current = true;
	if (h->manifest && n && (ms = calloc(n, sizeof(*ms)))) {
		for (size_t i = 0; i < n; i++) {
			char path[PATH_MAX + NAME_MAX + 2], *json = NULL;

			snprintf(path, sizeof(path), "%s/%s", h->cfg.store_dir, v[i].filename);
			if (b10t_read_manifest(&h->ctx, path, v[i].format, &json) < 0)
				continue;
			ms[i] = malloc(sizeof(*ms[i]));
			if (ms[i] && b10t_manifest_parse(&h->ctx, json, strlen(json), ms[i]) < 0) {
				free(ms[i]);
				ms[i] = NULL;
			}
			free(json);
		}
		b10t_clear_error(&h->ctx);
	}
	st = finish(h, list_json(h, key->key, enabled, v, n, ms, current), false, B10T_SUCCESS);
	for (size_t i = 0; ms && i < n; i++)
		free(ms[i]);
	free(ms);
	free(v);
	free(key);
	return st;
}

/* ---- gc and rm: cmd/gc.c, cmd/rm.c ---------------------------------- */

enum b10t_status b10t_op_gc(b10t_t *h)
{
	struct b10t_gc_opts o;
	struct b10t_gc_result res;
	struct b10t_envkey *key = NULL;
	enum b10t_status st;
	int r;

	if (!h)
		return B10T_ERROR;
	if (begin(h, B10T_USES_STORE | B10T_USES_ENABLED | B10T_USES_DEBRIS | B10T_USES_KEY) < 0)
		return finish(h, NULL, true, B10T_ERROR);
	memset(&res, 0, sizeof(res));
	b10t_gc_opts_init(&o, &h->cfg);
	if (h->stale_set)
		o.stale_s = h->stale_s;
	if ((o.max_age_set = h->max_age_set))
		o.max_age_s = h->max_age_s;
	if ((o.max_size_set = h->max_size_set))
		o.max_size = h->max_size;
	o.all = h->all;
	o.dry_run = h->dry_run;
	o.keep = (const char *const *)h->keep;
	o.n_keep = h->n_keep;
	/* The key costs a GPU probe: only when eviction needs it. */
	if ((o.max_size_set || o.max_age_set) && !o.all) {
		if (b10t_store_check(&h->ctx, &h->cfg) < 0 || !(key = this_key(h)))
			return finish(h, NULL, true, B10T_ERROR);
		o.current_key = key->key;
	}
	r = b10t_gc(&h->ctx, &h->cfg, &o, &res);
	st = finish(h, b10t_json_gc(&o, &res, r >= 0), r < 0, res.status);
	b10t_gc_result_free(&res);
	free(key);
	return st;
}

enum b10t_status b10t_op_rm(b10t_t *h, const char *key)
{
	struct b10t_gc_result res;
	struct b10t_archive_info info;
	struct b10t_envkey *ek = NULL;
	enum b10t_status st;
	cJSON *o;
	const char *k = key;

	if (!h)
		return B10T_ERROR;
	if (begin(h, B10T_USES_STORE | B10T_USES_ENABLED | B10T_USES_KEY) < 0)
		return finish(h, NULL, true, B10T_ERROR);
	memset(&res, 0, sizeof(res));
	if (k) {
		if (!(k = b10t_key_arg(k, &info))) {
			b10t_set_error(&h->ctx, EINVAL, "not a key");
			return finish(h, NULL, true, B10T_ERROR);
		}
	} else {
		if (b10t_store_check(&h->ctx, &h->cfg) < 0 || !(ek = this_key(h)))
			return finish(h, NULL, true, B10T_ERROR);
		k = ek->key;
	}
	if (b10t_rm_key(&h->ctx, &h->cfg, k, &res) < 0) {
		b10t_gc_result_free(&res);
		free(ek);
		return finish(h, NULL, true, B10T_ERROR);
	}
	o = b10t_json_rm(k, &res);
	st = finish(h, o, false, res.status);
	b10t_gc_result_free(&res);
	free(ek);
	return st;
}

/* ---- the result ----------------------------------------------------- */

const char *b10t_result_json(const b10t_t *h)
{
	return h && h->json ? h->json : "{}";
}

enum b10t_status b10t_result_status(const b10t_t *h)
{
	return h ? h->status : B10T_ERROR;
}

const char *b10t_result_string(const b10t_t *h, const char *key)
{
	const cJSON *v = h && h->res && key ? cJSON_GetObjectItemCaseSensitive(h->res, key) : NULL;

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

static const cJSON *number(const b10t_t *h, const char *key)
{
	const cJSON *v = h && h->res && key ? cJSON_GetObjectItemCaseSensitive(h->res, key) : NULL;

	return cJSON_IsNumber(v) || cJSON_IsBool(v) || cJSON_IsRaw(v) ? v : NULL;
}

int b10t_result_u64(const b10t_t *h, const char *key, uint64_t *out)
{
	const cJSON *v = number(h, key);

	if (!v || !out)
		return -1;
	if (cJSON_IsBool(v))
		*out = cJSON_IsTrue(v);
	else if (cJSON_IsRaw(v))	/* past 2^53: written as digits */
		*out = strtoull(v->valuestring, NULL, 10);
	else if (v->valuedouble < 0)
		return -1;
	else
		*out = (uint64_t)v->valuedouble;
	return 0;
}

int b10t_result_double(const b10t_t *h, const char *key, double *out)
{
	const cJSON *v = number(h, key);

	if (!v || !out)
		return -1;
	if (cJSON_IsBool(v))
		*out = cJSON_IsTrue(v);
	else if (cJSON_IsRaw(v))
		*out = strtod(v->valuestring, NULL);
	else
		*out = v->valuedouble;
	return 0;
}

const char *b10t_error(const b10t_t *h)
{
	return h ? h->err : "no handle";
}

int b10t_errno(const b10t_t *h)
{
	return h ? h->err_no : EINVAL;
}

/* ---- the settings table --------------------------------------------- */

size_t b10t_setting_count(void)
{
	return b10t_settings_count;
}

enum b10t_status b10t_setting_info(size_t i, const char **name, const char **env,
				   const char **option, const char **help)
{
	if (i >= b10t_settings_count)
		return B10T_ERROR;
	if (name)
		*name = b10t_settings[i].name;
	if (env)
		*env = b10t_settings[i].env;
	if (option)
		*option = b10t_settings[i].option;
	if (help)
		*help = b10t_settings[i].help;
	return B10T_SUCCESS;
}
