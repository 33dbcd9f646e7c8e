/* SPDX-License-Identifier: MIT */
/*
 * The verbs' JSON, one builder for the CLI (cmd/<verb>.c) and the C API
 * (lib/api.c), so that the two print the same keys in the same order
 * (tests/cli/t-capi.sh compares them): exact integers, the fields of a
 * load/save/update/compact result, gc's and rm's reports, gc --compact's
 * "compaction", list's, info's published archive.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"

cJSON *b10t_json_u64(cJSON *obj, const char *name, uint64_t v)
{
	char buf[32];

	if (v <= (1ULL << 53))
		return cJSON_AddNumberToObject(obj, name, (double)v);
	snprintf(buf, sizeof(buf), "%" PRIu64, v);
	return cJSON_AddRawToObject(obj, name, buf);
}

cJSON *b10t_json_result(cJSON *o, const struct b10t_result *res)
{
	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "environment_key", res->environment_key);
	if (res->archive[0])
		cJSON_AddStringToObject(o, "archive", res->archive);
	else
		cJSON_AddNullToObject(o, "archive");
	b10t_json_u64(o, "files", res->files);
	b10t_json_u64(o, "dirs", res->dirs);
	b10t_json_u64(o, "bytes", res->bytes);
	b10t_json_u64(o, "archive_bytes", res->archive_bytes);
	b10t_json_u64(o, "skipped_entries", res->skipped);
	cJSON_AddNumberToObject(o, "elapsed_s", (double)(int64_t)(res->elapsed_s * 1000) / 1000);
	/* SKIPPED, DOES_NOT_EXIST: why, for programs and in words; absent otherwise */
	if (res->why)
		cJSON_AddStringToObject(o, "reason", res->why);
	if (res->reason[0])
		cJSON_AddStringToObject(o, "message", res->reason);
	if (res->saved_cache_dir[0])
		cJSON_AddStringToObject(o, "saved_cache_dir", res->saved_cache_dir);
	if (res->generation)
		b10t_json_u64(o, "generation", res->generation);
	b10t_json_load_differences(o, res);	/* load: what differs from the saver's */
	return o;
}

cJSON *b10t_json_compaction(const struct b10t_result *r)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "status", b10t_status_name(r->status));
	if (r->generation)
		b10t_json_u64(o, "generation", r->generation);
	if (r->archive[0])
		cJSON_AddStringToObject(o, "archive", r->archive);
	b10t_json_u64(o, "archive_bytes", r->archive_bytes);
	if (r->reason[0])
		cJSON_AddStringToObject(o, "reason", r->reason);
	return o;
}

/* gc's and rm's "removed": [{<file_key>, reason, bytes}]. */
static cJSON *removed_json(cJSON *o, const struct b10t_gc_result *res, const char *file_key)
{
	cJSON *arr = cJSON_CreateArray();

	if (!arr)
		return NULL;
	for (size_t i = 0; i < res->n_items; i++) {
		cJSON *it = cJSON_CreateObject();

		if (!it)
			break;
		cJSON_AddStringToObject(it, file_key, res->items[i].filename);
		cJSON_AddStringToObject(it, "reason", res->items[i].reason);
		b10t_json_u64(it, "bytes", res->items[i].bytes);
		cJSON_AddItemToArray(arr, it);
	}
	cJSON_AddItemToObject(o, "removed", arr);
	return arr;
}

cJSON *b10t_json_gc(const struct b10t_gc_opts *opts, const struct b10t_gc_result *res,
		    bool with_status)
{
	cJSON *o = cJSON_CreateObject(), *arr;

	if (!o)
		return NULL;
	if (with_status)
		cJSON_AddStringToObject(o, "status", b10t_status_name(res->status));
	cJSON_AddBoolToObject(o, "dry_run", res->dry_run);
	if (!removed_json(o, res, "filename")) {
		cJSON_Delete(o);
		return NULL;
	}
	b10t_json_u64(o, "freed_bytes", res->freed_bytes);
	b10t_json_u64(o, "kept", res->kept);
	b10t_json_u64(o, "kept_bytes", res->kept_bytes);
	b10t_json_u64(o, "store_bytes_before", res->store_bytes_before);
	b10t_json_u64(o, "store_bytes_after", res->store_bytes_after);
	if (opts->max_size_set) {
		b10t_json_u64(o, "max_size_bytes", opts->max_size);
		cJSON_AddBoolToObject(o, "max_size_reached", !res->max_size_missed);
	}
	if (res->max_size_missed) {	/* why not: what stays over it */
		b10t_json_u64(o, "over_max_size_bytes", res->over_bytes);
		b10t_json_u64(o, "protected_keys", res->protected_keys);
		b10t_json_u64(o, "protected_bytes", res->protected_bytes);
		b10t_json_u64(o, "young_keys", res->young_keys);
		b10t_json_u64(o, "young_bytes", res->young_bytes);
	}
	if ((arr = cJSON_AddArrayToObject(o, "keep_missing")))
		for (size_t i = 0; i < res->n_keep_missing; i++)
			cJSON_AddItemToArray(arr, cJSON_CreateString(res->keep_missing[i]));
	return o;
}

cJSON *b10t_json_rm(const char *key, const struct b10t_gc_result *res)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "status", b10t_status_name(res->status));
	cJSON_AddStringToObject(o, "environment_key", key);
	if (!removed_json(o, res, "file")) {
		cJSON_Delete(o);
		return NULL;
	}
	b10t_json_u64(o, "freed_bytes", res->freed_bytes);
	return o;
}

/* Megabytes as b10-transfer counts them: bytes / 1024 / 1024. */
static double mb(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* One archive of list's "caches", with its manifest's counts when m. */
static cJSON *list_entry_json(const struct b10t_archive_info *a, const struct b10t_manifest *m,
			      const char *cur)
{
	cJSON *e = cJSON_CreateObject(), *names;

	if (!e)
		return NULL;
	cJSON_AddStringToObject(e, "filename", a->filename);
	cJSON_AddStringToObject(e, "environment_key", a->key);
	cJSON_AddNumberToObject(e, "size_mb", mb(a->bytes));
	cJSON_AddBoolToObject(e, "is_current_environment", !strcmp(a->key, cur));
	cJSON_AddNumberToObject(e, "created_time", (double)a->mtime);
	b10t_json_u64(e, "archive_bytes", a->bytes);
	cJSON_AddStringToObject(e, "format", b10t_format_name(a->format));
	cJSON_AddNumberToObject(e, "last_used", (double)a->last_used);
	b10t_json_u64(e, "generation", a->generation);
	b10t_json_u64(e, "base_generation", a->base_generation);
	b10t_json_u64(e, "layers", a->n_layers);
	b10t_json_u64(e, "layer_bytes", a->layer_bytes);
	names = cJSON_AddArrayToObject(e, "archives");
	for (size_t k = 0; names && a->archives && k < a->n_archives; k++)
		cJSON_AddItemToArray(names, cJSON_CreateString(a->archives[k]));
	if (m && m->has_files)
		b10t_json_u64(e, "files", m->files);
	if (m && m->has_dirs)
		b10t_json_u64(e, "dirs", m->dirs);
	if (m && m->has_bytes)
		b10t_json_u64(e, "bytes", m->bytes);
	if (m) {
		cJSON *comp = cJSON_AddObjectToObject(e, "components");

		for (size_t k = 0; comp && k < m->n; k++)
			cJSON_AddStringToObject(comp, m->comp[k].name, m->comp[k].value);
	}
	return e;
}

cJSON *b10t_json_list(const struct b10t_list_json *l)
{
	cJSON *o = cJSON_CreateObject(), *arr = o ? cJSON_AddArrayToObject(o, "caches") : NULL;
	uint64_t total = 0;

	if (!arr) {
		cJSON_Delete(o);
		return NULL;
	}
	for (size_t i = 0; i < l->n; i++) {
		cJSON *e = list_entry_json(&l->v[i], l->manifests ? l->manifests[i] : NULL,
					   l->current_key);

		if (!e)
			break;
		total += l->v[i].bytes;
		cJSON_AddItemToArray(arr, e);
	}
	cJSON_AddStringToObject(o, "current_environment", l->current_key);
	cJSON_AddNumberToObject(o, "total_caches", (double)l->n);
	b10t_json_u64(o, "total_bytes", total);
	cJSON_AddBoolToObject(o, "current_cache_exists", l->current_exists);
	cJSON_AddBoolToObject(o, "b10fs_enabled", l->enabled);
	cJSON_AddStringToObject(o, "store_dir", l->store_dir);
	if (!l->enabled)	/* as b10-transfer says it; the exit status is still 0 */
		cJSON_AddStringToObject(o, "error", "b10fs is not enabled");
	return o;
}

void b10t_json_info_archive(cJSON *o, const struct b10t_archive_info *ar,
			    const struct b10t_manifest *m, const char *manifest_error)
{
	b10t_json_u64(o, "b10fs_cache_bytes", ar ? ar->bytes : 0);
	if (!ar) {
		cJSON_AddNullToObject(o, "b10fs_cache_filename");
		return;
	}
	cJSON_AddStringToObject(o, "b10fs_cache_filename", ar->filename);
	cJSON_AddStringToObject(o, "b10fs_cache_format", b10t_format_name(ar->format));
	cJSON_AddNumberToObject(o, "b10fs_cache_created_time", (double)ar->mtime);
	b10t_json_u64(o, "b10fs_cache_generation", ar->generation);
	b10t_json_u64(o, "b10fs_cache_base_generation", ar->base_generation);
	b10t_json_u64(o, "b10fs_cache_layers", ar->n_layers);
	b10t_json_u64(o, "b10fs_cache_layer_bytes", ar->layer_bytes);
	/* The manifest's counts and origin, or why it could not be read. */
	if (!m) {
		if (manifest_error && manifest_error[0])
			cJSON_AddStringToObject(o, "b10fs_cache_manifest_error", manifest_error);
		return;
	}
	if (m->has_files)
		b10t_json_u64(o, "b10fs_cache_files", m->files);
	if (m->has_dirs)
		b10t_json_u64(o, "b10fs_cache_dirs", m->dirs);
	if (m->has_bytes)
		b10t_json_u64(o, "b10fs_cache_uncompressed_bytes", m->bytes);
	if (m->host[0])
		cJSON_AddStringToObject(o, "b10fs_cache_host", m->host);
	if (m->b10t_version[0])
		cJSON_AddStringToObject(o, "b10fs_cache_b10t_version", m->b10t_version);
}
