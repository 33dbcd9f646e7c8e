/* SPDX-License-Identifier: MIT */
/*
 * b10t list: every published archive in the store, newest first, with its
 * key and whether it is this environment's.  One readdir and one stat per
 * archive, nothing written; --manifest also opens each archive to read its
 * manifest (file count, uncompressed bytes, key components), which costs
 * one small read per archive.  The JSON keeps b10-transfer's
 * list_available_caches() names and adds exact sizes.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "cmd.h"

enum { OPT_MANIFEST = 0x300 };

const struct verb_option list_options[] = {
	{ { "manifest", no_argument, NULL, OPT_MANIFEST }, NULL,
	  "also read each archive's manifest: files, bytes, components (slower: opens every archive)" },
	{ { 0 }, NULL, NULL },
};

static struct {
	bool manifest;
} args;

struct listing {
	struct b10t_envkey key;
	bool store_enabled;
	struct b10t_archive_info *v;
	size_t n;
	struct b10t_manifest **manifests;	/* per archive, NULL when none or invalid */
	bool current_exists;
};

int list_opt(struct cmd *c, int val, const char *arg)
{
	if (val != OPT_MANIFEST)
		return -1;
	args.manifest = true;
	return 0;
}

/* A manifest is a bonus: any failure to read one just means "none". */
static void read_manifests(struct cmd *c, struct listing *l)
{
	char path[PATH_MAX + NAME_MAX + 2];

	l->manifests = calloc(l->n ? l->n : 1, sizeof(*l->manifests));
	if (!l->manifests)
		return;
	for (size_t i = 0; i < l->n; i++) {
		char *json = NULL;

		snprintf(path, sizeof(path), "%s/%s", c->cfg.store_dir, l->v[i].filename);
		if (b10t_read_manifest(&c->ctx, path, l->v[i].format, &json) < 0) {
			b10t_debug(&c->ctx, "no manifest in %s: %s", l->v[i].filename,
				   b10t_ctx_error(&c->ctx));
			continue;
		}
		l->manifests[i] = malloc(sizeof(*l->manifests[i]));
		if (l->manifests[i] &&
		    b10t_manifest_parse(&c->ctx, json, strlen(json), l->manifests[i]) < 0) {
			b10t_debug(&c->ctx, "%s: %s", l->v[i].filename, b10t_ctx_error(&c->ctx));
			free(l->manifests[i]);
			l->manifests[i] = NULL;
		}
		free(json);
	}
}

static const struct b10t_manifest *manifest_of(const struct listing *l, size_t i)
{
	return l->manifests ? l->manifests[i] : NULL;
}

static cJSON *list_json(const struct cmd *c, const struct listing *l)
{
	struct b10t_list_json j = {
		.current_key = l->key.key, .store_dir = c->cfg.store_dir,
		.enabled = l->store_enabled, .current_exists = l->current_exists,
		.v = l->v, .n = l->n, .manifests = l->manifests,
	};

	return b10t_json_list(&j);
}

static const char *utc(int64_t t, char *buf, size_t size)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, size, "%Y-%m-%d %H:%M:%S", &tm))
		snprintf(buf, size, "%" PRId64, t);
	return buf;
}

static void list_text(const struct cmd *c, const struct listing *l)
{
	char size[32], created[32], used[32], total_s[32];
	bool m = l->manifests != NULL;
	int64_t now = (int64_t)time(NULL);
	uint64_t total = 0;

	if (!l->store_enabled) {
		printf("store disabled (BASETEN_FS_ENABLED, or %s missing): no archives listed\n",
		       c->cfg.store_dir);
		return;
	}
	if (!l->n) {
		printf("no archives in %s\n", c->cfg.store_dir);
		return;
	}
	printf("  %-16s  %-4s  %10s  %-19s  %-13s  %sFILE\n", "KEY", "FMT", "SIZE",
	       "CREATED (UTC)", "LAST USED", m ? "     FILES  UNPACKED  " : "");
	for (size_t i = 0; i < l->n; i++) {
		const struct b10t_archive_info *a = &l->v[i];
		char files[32] = "-", unpacked[32] = "-";
		const struct b10t_manifest *mf = manifest_of(l, i);

		total += a->bytes;
		if (mf && mf->has_files)
			snprintf(files, sizeof(files), "%" PRIu64, mf->files);
		if (mf && mf->has_bytes)
			human_bytes(mf->bytes, unpacked, sizeof(unpacked));
		printf("%c %-16s  %-4s  %10s  %-19s  %-13s  ", strcmp(a->key, l->key.key) ? ' ' : '*',
		       esc(a->key), b10t_format_name(a->format),
		       human_bytes(a->bytes, size, sizeof(size)),
		       utc(a->mtime, created, sizeof(created)),
		       human_age(a->last_used, now, used, sizeof(used)));
		if (m)
			printf("%10s  %8s  ", files, unpacked);
		printf("%s", esc(a->filename));
		/* The generations applied after it, as load does. */
		for (size_t k = 1; a->archives && k < a->n_archives; k++)
			printf(" + %s", esc(a->archives[k]));
		printf("\n");
		/* --manifest: what the key was made of, on a line of its own. */
		if (mf && mf->n) {
			printf("    components:");
			for (size_t k = 0; k < mf->n; k++)
				printf(" %s=%s", esc(mf->comp[k].name), esc(mf->comp[k].value));
			printf("\n");
		}
	}
	printf("%zu %s, %s in all; this environment (%s): %s\n", l->n,
	       plural(l->n, "archive", "archives"), human_bytes(total, total_s, sizeof(total_s)),
	       l->key.key, l->current_exists ? "marked *" : "none");
}

static void listing_free(struct listing *l)
{
	for (size_t i = 0; l->manifests && i < l->n; i++)
		free(l->manifests[i]);
	free(l->manifests);
	free(l->v);
}

int cmd_list(struct cmd *c)
{
	static struct listing l;
	double t0 = b10t_now();
	int r = 0;

	l.key = c->key;
	b10t_debug(&c->ctx, "environment key %s in %.1f ms", l.key.key, (b10t_now() - t0) * 1e3);
	t0 = b10t_now();

	/* Disabled, or (enabled by BASETEN_FS_ENABLED) not there: an empty list. */
	l.store_enabled = b10t_store_enabled(&c->cfg);
	if (l.store_enabled && b10t_store_list(&c->ctx, &c->cfg, &l.v, &l.n) < 0 &&
	    c->ctx.err_code != -ENOENT) {
		/* Every key of a listing still, of none (caches [], totals 0), so
		 * a program reads one shape; cmd_fail adds status and error. */
		struct listing none = { .key = l.key, .store_enabled = true };

		return cmd_fail(c, c->json ? list_json(c, &none) : NULL);
	}
	for (size_t k = 0; k < l.n; k++)
		if (!strcmp(l.v[k].key, l.key.key))
			l.current_exists = true;
	if (args.manifest)
		read_manifests(c, &l);
	b10t_debug(&c->ctx, "listed %zu archives%s in %.1f ms", l.n,
		   args.manifest ? " and their manifests" : "", (b10t_now() - t0) * 1e3);

	t0 = b10t_now();
	if (c->json)
		r = cmd_print_json(c, list_json(c, &l)) < 0 ? 1 : 0;
	else
		list_text(c, &l);
	b10t_debug(&c->ctx, "printed in %.1f ms", (b10t_now() - t0) * 1e3);
	listing_free(&l);
	return r;
}
