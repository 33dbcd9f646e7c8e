/* SPDX-License-Identifier: MIT */
/*
 * b10t info: this environment's key, its local cache and its archive in the
 * store.  Reads only: two stat()s in the store, the archive's manifest (its
 * first 16 KiB, opened with O_NOATIME), a walk of the local dir.
 * The JSON keeps b10-transfer's get_cache_info() names and adds exact
 * counts; the store being disabled or missing is reported, not an error.
 * It also reads the manifest of every key's first archive, to say
 * whether the store is shared by several namespaces (lib/namespace.c),
 * and compares its own archive's recorded environment (lib/why.c).
 */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>

#include "cmd.h"

struct info {
	struct b10t_envkey key;
	bool local_exists;
	uint64_t local_bytes, local_files, local_dirs;
	char local_error[sizeof(((struct b10t_ctx *)0)->err)];
	bool store_enabled;
	const char *disabled_reason;	/* !store_enabled: why, a code ... */
	char disabled_msg[PATH_MAX + 128];	/* ... and in words */
	bool store_exists;		/* an archive for the key */
	struct b10t_archive_info archive;
	bool has_manifest;		/* the archive has a valid manifest: */
	struct b10t_manifest manifest;
	char manifest_error[sizeof(((struct b10t_ctx *)0)->err)];	/* or why not */
	char store_error[sizeof(((struct b10t_ctx *)0)->err)];
	bool surveyed;			/* the store's namespaces were read: */
	struct b10t_namespaces ns;
	bool why;			/* the archive's environment was compared: */
	struct b10t_why w;
};

/* Megabytes as b10-transfer counts them: bytes / 1024 / 1024. */
static double mb(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

static void gather(struct cmd *c, struct info *in)
{
	if (b10t_tree_size(&c->ctx, c->cfg.cache_dir, &in->local_bytes, &in->local_files,
			   &in->local_dirs) < 0) {
		snprintf(in->local_error, sizeof(in->local_error), "%s", b10t_ctx_error(&c->ctx));
		b10t_warn(&c->ctx, "%s", in->local_error);
	}
	in->local_exists = in->local_files + in->local_dirs > 0;

	in->store_enabled = b10t_store_enabled(&c->cfg);
	if (!in->store_enabled) {
		in->disabled_reason = b10t_store_disabled(&c->cfg, in->disabled_msg,
							  sizeof(in->disabled_msg));
		if (!in->disabled_reason) {	/* there now: a race with its mkdir */
			in->disabled_reason = "store_missing";
			snprintf(in->disabled_msg, sizeof(in->disabled_msg), "the store %s was not there",
				 c->cfg.store_dir);
		}
		return;
	}
	if (b10t_store_find(&c->ctx, &c->cfg, in->key.key, &in->archive) == 0) {
		char path[PATH_MAX + NAME_MAX + 2], *json = NULL;

		in->store_exists = true;
		/* What the archive holds; the reference's .tar.gz has no manifest. */
		snprintf(path, sizeof(path), "%s/%s", c->cfg.store_dir, in->archive.filename);
		if (b10t_read_manifest(&c->ctx, path, in->archive.format, &json) == 0) {
			if (b10t_manifest_parse(&c->ctx, json, strlen(json), &in->manifest) == 0)
				in->has_manifest = true;
			else
				snprintf(in->manifest_error, sizeof(in->manifest_error), "%s",
					 b10t_ctx_error(&c->ctx));
		}
		free(json);
	} else if (c->ctx.err_code != -ENOENT && c->ctx.err_code != -ENOTDIR) {
		snprintf(in->store_error, sizeof(in->store_error), "%s", b10t_ctx_error(&c->ctx));
		b10t_warn(&c->ctx, "%s", in->store_error);
	}
	/* Whether the store looks shared by several namespaces, and what
	 * differs from the archive's saver (b10t why): best effort. */
	in->surveyed = b10t_store_namespaces(&c->ctx, &c->cfg, &in->ns) == 0;
	in->why = in->store_exists && b10t_why(&c->ctx, &c->cfg, &in->key, NULL, &in->w) == 0 &&
		  in->w.status == B10T_SUCCESS && in->w.has_manifest;
	b10t_clear_error(&c->ctx);
}

static cJSON *info_json(const struct cmd *c, const struct info *in)
{
	cJSON *o = cJSON_CreateObject(), *comp;

	/* b10-transfer's keys first, in its order. */
	cJSON_AddStringToObject(o, "environment_key", in->key.key);
	cJSON_AddBoolToObject(o, "local_cache_exists", in->local_exists);
	cJSON_AddBoolToObject(o, "b10fs_enabled", in->store_enabled);
	cJSON_AddBoolToObject(o, "b10fs_cache_exists", in->store_exists);
	if (in->disabled_reason) {	/* why not enabled, as load's reason and message */
		cJSON_AddStringToObject(o, "b10fs_disabled_reason", in->disabled_reason);
		cJSON_AddStringToObject(o, "b10fs_disabled_message", in->disabled_msg);
	}
	cJSON_AddNumberToObject(o, "local_cache_size_mb", mb(in->local_bytes));
	cJSON_AddNumberToObject(o, "b10fs_cache_size_mb",
				in->store_exists ? mb(in->archive.bytes) : 0.0);
	/* Ours. */
	json_add_u64(o, "local_cache_bytes", in->local_bytes);
	json_add_u64(o, "local_cache_files", in->local_files);
	json_add_u64(o, "local_cache_dirs", in->local_dirs);
	b10t_json_info_archive(o, in->store_exists ? &in->archive : NULL,
			       in->has_manifest ? &in->manifest : NULL, in->manifest_error);
	cJSON_AddStringToObject(o, "cache_dir", c->cfg.cache_dir);
	cJSON_AddStringToObject(o, "store_dir", c->cfg.store_dir);
	cJSON_AddStringToObject(o, "key_scheme", b10t_scheme_name(in->key.scheme));
	comp = cJSON_AddObjectToObject(o, "components");
	for (size_t i = 0; i < in->key.n; i++)
		cJSON_AddStringToObject(comp, in->key.comp[i].name, in->key.comp[i].value);
	b10t_json_namespace(o, &in->key);
	if (in->surveyed)
		b10t_json_store_namespaces(o, &in->ns);
	if (in->why)
		b10t_json_info_differences(o, &in->w);
	if (in->local_error[0])
		cJSON_AddStringToObject(o, "local_cache_error", in->local_error);
	if (in->store_error[0])
		cJSON_AddStringToObject(o, "b10fs_error", in->store_error);
	return o;
}

/* "2 namespaces (a: 1 key, b: 3 keys), 1 key without one: shared ..." */
static void namespaces_text(const struct info *in)
{
	const char *own = in->key.scheme == B10T_SCHEME_DEFAULT ?
			  b10t_envkey_get(&in->key, "namespace") : NULL;

	printf("%-20s %s\n", "namespace:", own ? esc(own) : "none");
	if (!in->surveyed)
		return;
	printf("%-20s %zu%s %s", "store_namespaces:", in->ns.n, in->ns.more ? "+" : "",
	       plural(in->ns.n, "namespace", "namespaces"));
	for (size_t i = 0; i < in->ns.n; i++)
		printf("%s%s: %" PRIu64 " %s", i ? ", " : " (", esc(in->ns.ns[i].name),
		       in->ns.ns[i].keys, plural(in->ns.ns[i].keys, "key", "keys"));
	printf("%s", in->ns.n ? ")" : "");
	if (in->ns.unnamespaced)
		printf(", %" PRIu64 " %s without one", in->ns.unnamespaced,
		       plural(in->ns.unnamespaced, "key", "keys"));
	if (in->ns.shared)
		printf(": shared by several namespaces%s", own ? "" :
		       "; set B10T_NAMESPACE so that models do not share keys");
	printf("\n");
}

static void info_text(const struct cmd *c, const struct info *in)
{
	char size[32];

	printf("%-20s %s\n", "environment_key:", in->key.key);
	printf("%-20s %s\n", "key_scheme:", b10t_scheme_name(in->key.scheme));
	printf("components:\n");
	for (size_t i = 0; i < in->key.n; i++) {
		char label[64];

		snprintf(label, sizeof(label), "  %s:", in->key.comp[i].name);
		printf("%-20s %s\n", label, esc(in->key.comp[i].value));
	}
	printf("%-20s %s\n", "cache_dir:", c->cfg.cache_dir);
	if (in->local_exists)
		printf("%-20s %s, %s (%" PRIu64 " bytes)\n", "local_cache:",
		       cmd_counts(in->local_files, in->local_dirs),
		       human_bytes(in->local_bytes, size, sizeof(size)),
		       in->local_bytes);
	else
		printf("%-20s %s\n", "local_cache:", in->local_error[0] ? "unreadable" :
		       "none (missing or empty)");
	printf("%-20s %s\n", "store_dir:", c->cfg.store_dir);
	printf("%-20s %s\n", "b10fs_enabled:", in->store_enabled ? "true" : "false");
	if (in->store_exists) {
		const struct b10t_manifest *m = &in->manifest;

		printf("%-20s %s, %s (%" PRIu64 " bytes)\n", "b10fs_cache:",
		       esc(in->archive.filename), human_bytes(in->archive.bytes, size, sizeof(size)),
		       in->archive.bytes);
		printf("%-20s %zu layer%s, %s, above base generation %" PRIu64
		       "; generations up to %" PRIu64 "\n", "b10fs_cache_layers:",
		       in->archive.n_layers, in->archive.n_layers == 1 ? "" : "s",
		       human_bytes(in->archive.layer_bytes, size, sizeof(size)),
		       in->archive.base_generation, in->archive.generation);
		if (in->has_manifest && m->has_files && m->has_bytes) {
			char n[64];	/* a manifest before "dirs" counted entries */

			if (!m->has_dirs)
				snprintf(n, sizeof(n), "%" PRIu64 " %s", m->files,
					 plural(m->files, "entry", "entries"));
			printf("%-20s %s, %s\n", "b10fs_cache_holds:",
			       m->has_dirs ? cmd_counts(m->files, m->dirs) : n,
			       human_bytes(m->bytes, size, sizeof(size)));
		}
		if (in->has_manifest && (m->host[0] || m->b10t_version[0]))
			printf("%-20s host %s, b10t %s\n", "b10fs_cache_made:", esc(m->host),
			       esc(m->b10t_version));
		if (in->manifest_error[0])
			printf("%-20s %s\n", "b10fs_cache_manifest:", esc_msg(in->manifest_error));
	} else if (!in->store_enabled)
		printf("%-20s - (store disabled: %s)\n", "b10fs_cache:", esc_msg(in->disabled_msg));
	else
		printf("%-20s %s\n", "b10fs_cache:", in->store_error[0] ? "unreadable" : "none");
	namespaces_text(in);
	if (in->why) {
		printf("%-20s %zu", "differences:", in->w.n);
		for (size_t i = 0; i < in->w.n && i < 8; i++)
			printf("%s%s", i ? ", " : " (", esc(in->w.diffs[i].name));
		printf("%s%s\n", in->w.n > 8 ? ", ..." : "", in->w.n ? "): see b10t why" : "");
	}
}

int cmd_info(struct cmd *c)
{
	static struct info in;
	double t0 = b10t_now();
	int r;

	in.key = c->key;
	gather(c, &in);
	b10t_debug(&c->ctx, "info took %.1f ms", (b10t_now() - t0) * 1e3);
	if (c->json) {
		r = cmd_print_json(c, info_json(c, &in)) < 0 ? 1 : 0;
	} else {
		info_text(c, &in);
		r = 0;
	}
	b10t_why_free(&in.w);
	return r;
}
