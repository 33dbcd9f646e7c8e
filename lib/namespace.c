/* SPDX-License-Identifier: MIT */
/*
 * Namespaces (B10T_NAMESPACE): a model or build name that goes into the
 * default key as the component "namespace", so that two models sharing one
 * store never share a key.  This file holds the name's rule and the survey
 * of a store's namespaces that info reports ("shared by several").
 *
 * The survey reads the manifest of the first archive of every key (its
 * first member, as info reads its own): what a store holds is known only
 * from what its archives say.  A key without a manifest (the reference's
 * .tar.gz) or without the component is un-namespaced.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "internal.h"

bool b10t_namespace_valid(const char *s)
{
	size_t n = strlen(s);

	if (n < 1 || n > B10T_NAMESPACE_MAX)
		return false;
	if (!((s[0] >= 'a' && s[0] <= 'z') || (s[0] >= 'A' && s[0] <= 'Z') ||
	      (s[0] >= '0' && s[0] <= '9')))
		return false;
	return strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") == n;
}

int b10t_namespace_check(struct b10t_ctx *ctx, const char *origin, const char *value)
{
	char esc[B10T_ESCAPE_SIZE(64)];

	if (b10t_namespace_valid(value))
		return 0;
	return b10t_set_error(ctx, EINVAL,
		"%s=%s: not a namespace (1 to %d letters, digits, '.', '_' or '-', "
		"a letter or digit first)", origin, b10t_escape(esc, sizeof(esc), value, 64),
		B10T_NAMESPACE_MAX);
}

/* Count one key under namespace `ns` ("" for none). */
static void count(struct b10t_namespaces *out, const char *ns)
{
	if (!ns[0]) {
		out->unnamespaced++;
		return;
	}
	for (size_t i = 0; i < out->n; i++)
		if (!strcmp(out->ns[i].name, ns)) {
			out->ns[i].keys++;
			return;
		}
	if (out->n == B10T_NAMESPACES_MAX) {
		out->more_keys++;
		out->more = true;
		return;
	}
	snprintf(out->ns[out->n].name, sizeof(out->ns[0].name), "%s", ns);
	out->ns[out->n++].keys = 1;
}

/* The namespace the manifest of `name` carries into ns[]: "" when none;
 * -1 when its manifest cannot be read or holds no valid name. */
static int archive_namespace(const struct b10t_config *cfg, const char *name,
			     enum b10t_format fmt, char ns[B10T_NAMESPACE_MAX + 1])
{
	char path[PATH_MAX + NAME_MAX + 2], *json = NULL;
	struct b10t_manifest *m;
	struct b10t_ctx quiet;
	int r;

	ns[0] = '\0';
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", cfg->store_dir, name) >= sizeof(path))
		return -1;
	b10t_ctx_init(&quiet);
	r = b10t_read_manifest(&quiet, path, fmt, &json);
	if (r == -ENOENT && !json)
		return 0;	/* no manifest: the reference's, un-namespaced */
	if (r < 0)
		return -1;
	if (!(m = malloc(sizeof(*m)))) {
		free(json);
		return -1;
	}
	r = b10t_manifest_parse(&quiet, json, strlen(json), m);
	free(json);
	if (r == 0) {
		for (size_t i = 0; i < m->n; i++)
			if (!strcmp(m->comp[i].name, "namespace")) {
				if (!b10t_namespace_valid(m->comp[i].value))
					r = -1;
				else
					snprintf(ns, B10T_NAMESPACE_MAX + 1, "%s", m->comp[i].value);
			}
	}
	free(m);
	return r < 0 ? -1 : 0;
}

static int cmp_ns(const void *a, const void *b)
{
	return strcmp(((const struct b10t_namespace_count *)a)->name,
		      ((const struct b10t_namespace_count *)b)->name);
}

int b10t_store_namespaces(struct b10t_ctx *ctx, const struct b10t_config *cfg,
			  struct b10t_namespaces *out)
{
	struct b10t_archive_info *list = NULL;
	size_t n = 0;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = b10t_store_list(ctx, cfg, &list, &n)) < 0)
		return r;
	for (size_t i = 0; i < n && i < B10T_NAMESPACES_SURVEY; i++) {
		char ns[B10T_NAMESPACE_MAX + 1];

		out->keys++;
		if (archive_namespace(cfg, list[i].filename, list[i].format, ns) < 0)
			out->unreadable++;
		else
			count(out, ns);
	}
	out->not_surveyed = n > B10T_NAMESPACES_SURVEY ? n - B10T_NAMESPACES_SURVEY : 0;
	free(list);
	qsort(out->ns, out->n, sizeof(out->ns[0]), cmp_ns);
	/* Several names, or names next to keys without one. */
	out->shared = out->n + out->more + (out->unnamespaced > 0) > 1;
	return 0;
}

void b10t_json_namespace(cJSON *o, const struct b10t_envkey *key)
{
	const char *ns = b10t_envkey_get(key, "namespace");

	if (ns)
		cJSON_AddStringToObject(o, "namespace", ns);
	else
		cJSON_AddNullToObject(o, "namespace");
}

static void add_count(cJSON *o, const char *name, uint64_t v)
{
	char buf[32];

	if (v <= B10T_MANIFEST_NUM_MAX) {
		cJSON_AddNumberToObject(o, name, (double)v);
	} else {
		snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
		cJSON_AddRawToObject(o, name, buf);
	}
}

void b10t_json_store_namespaces(cJSON *o, const struct b10t_namespaces *ns)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "store_namespaces");

	for (size_t i = 0; arr && i < ns->n; i++) {
		cJSON *e = cJSON_CreateObject();

		if (!e)
			break;
		cJSON_AddStringToObject(e, "namespace", ns->ns[i].name);
		add_count(e, "keys", ns->ns[i].keys);
		cJSON_AddItemToArray(arr, e);
	}
	add_count(o, "store_keys", ns->keys);
	add_count(o, "store_unnamespaced_keys", ns->unnamespaced);
	cJSON_AddBoolToObject(o, "store_shared", ns->shared);
}
