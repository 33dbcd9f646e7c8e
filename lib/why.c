/* SPDX-License-Identifier: MIT */
/*
 * Explain a miss: what decides whether torch (and vLLM) will hit with a
 * cache, recorded in the manifest at save (b10t_why_gather), and compared
 * with this machine by b10t why and by load (b10t_why_compare).
 *
 * The facts: the versions of torch, triton, CUDA (torch's build, the
 * runtime, the driver) and Python, the compute capability and the device,
 * whatever the scheme's key left out.  The environment: HOME and the XDG
 * base dirs, and every TORCHINDUCTOR_*, TRITON_* and VLLM_* variable but
 * TORCHINDUCTOR_CACHE_DIR (that is the cache dir, recorded as such) and
 * those whose name says they hold a secret (*KEY*, *TOKEN*, *SECRET*,
 * *PASSWORD*, *CREDENTIAL*): the store is shared.  A value of 256 bytes
 * or more is left out, as are variables past the 48th by name.
 *
 * What is known about each kind of difference (the effects below):
 * Inductor's FX graph entries and g++'s build dirs hold the cache dir's
 * path; vLLM hashes HOME- and XDG-derived paths into its cache keys
 * (vllm#47573); a Triton kernel of sm_120 loaded on sm_121 ran and gave
 * silently wrong output (vllm#41871); torch's keys hold its, Triton's and
 * Python's versions; Inductor, Triton and vLLM hash their settings.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cjson/cJSON.h>

#include "envkey-priv.h"
#include "internal.h"

extern char **environ;

/* ---- gathering ------------------------------------------------------- */

static void put(struct b10t_manifest_component *v, size_t max, size_t *n, const char *name,
		const char *value)
{
	if (*n >= max || strlen(name) >= sizeof(v->name) || strlen(value) >= sizeof(v->value))
		return;
	snprintf(v[*n].name, sizeof(v->name), "%s", name);
	snprintf(v[*n].value, sizeof(v->value), "%s", value);
	(*n)++;
}

static int cmp_var(const void *a, const void *b)
{
	return strcmp(((const struct b10t_manifest_component *)a)->name,
		      ((const struct b10t_manifest_component *)b)->name);
}

/* "3.11" from ".../lib/python3.11/site-packages/...", into buf; false if none. */
static bool python_from_path(const char *path, char *buf, size_t size)
{
	const char *p = path;

	while ((p = strstr(p, "/python3."))) {
		size_t n;

		p += 7;		/* "3." */
		n = 2 + strspn(p + 2, "0123456789");
		if (n > 2 && (p[n] == '/' || !p[n]) && n < size) {
			memcpy(buf, p, n);
			buf[n] = '\0';
			return true;
		}
	}
	return false;
}

static const char *const xdg_vars[] = {
	"HOME", "XDG_CACHE_HOME", "XDG_CONFIG_HOME", "XDG_DATA_HOME", "XDG_STATE_HOME",
	"XDG_RUNTIME_DIR", "XDG_CONFIG_DIRS", "XDG_DATA_DIRS", NULL,
};
static const char *const setting_prefixes[] = { "TORCHINDUCTOR_", "TRITON_", "VLLM_", NULL };
static const char *const secret_words[] = {
	"KEY", "TOKEN", "SECRET", "PASSWORD", "PASSWD", "CREDENTIAL", NULL,
};

static bool is_xdg(const char *name)
{
	for (size_t i = 0; xdg_vars[i]; i++)
		if (!strcmp(name, xdg_vars[i]))
			return true;
	return false;
}

/* Whether the variable `name` (len bytes) is recorded. */
static bool recorded_var(const char *name, size_t len)
{
	char n[64];
	bool prefix = false;

	if (len >= sizeof(n))
		return false;
	memcpy(n, name, len);
	n[len] = '\0';
	if (is_xdg(n))
		return true;
	for (size_t i = 0; setting_prefixes[i]; i++)
		prefix |= !strncmp(n, setting_prefixes[i], strlen(setting_prefixes[i]));
	if (!prefix || !strcmp(n, "TORCHINDUCTOR_CACHE_DIR"))
		return false;
	for (size_t i = 0; secret_words[i]; i++)
		if (strstr(n, secret_words[i]))
			return false;
	return true;
}

static void gather_env(struct b10t_manifest *m)
{
	/* Sorted before the cap, so which ones are kept does not depend on
	 * the order of environ. */
	struct b10t_manifest_component *all = NULL;
	size_t n = 0, cap = 0;

	for (char **e = environ; e && *e; e++) {
		const char *eq = strchr(*e, '=');

		if (!eq || !recorded_var(*e, (size_t)(eq - *e)) || strlen(eq + 1) >= sizeof(all->value))
			continue;
		if (B10T_GROW(all, cap, n + 1, 32) < 0)
			break;
		memcpy(all[n].name, *e, (size_t)(eq - *e));
		all[n].name[eq - *e] = '\0';
		snprintf(all[n].value, sizeof(all[n].value), "%s", eq + 1);
		n++;
	}
	if (n)
		qsort(all, n, sizeof(*all), cmp_var);
	m->n_env = 0;
	for (size_t i = 0; i < n && m->n_env < B10T_MANIFEST_ENV; i++)
		if (!m->n_env || strcmp(m->env[m->n_env - 1].name, all[i].name))
			m->env[m->n_env++] = all[i];
	free(all);
	m->has_env = true;
}

void b10t_why_gather(const struct b10t_envkey *key, struct b10t_manifest *m)
{
	struct b10t_envkey *dk = NULL;
	const struct b10t_envkey *k = key;
	char py[32] = "none";

	/* The default scheme's key holds every version; the other scheme's
	 * leaves some out: ask for them as the default scheme would. */
	if (key->scheme != B10T_SCHEME_DEFAULT) {
		struct b10t_config *cfg = calloc(1, sizeof(*cfg));
		struct b10t_ctx quiet;

		dk = malloc(sizeof(*dk));
		b10t_ctx_init(&quiet);
		quiet.log = NULL;
		if (cfg && dk && b10t_envkey_compute(&quiet, cfg, dk) == 0)
			k = dk;
		free(cfg);
	}
	m->n_facts = 0;
	for (size_t i = 0; i < k->n; i++)
		if (strcmp(k->comp[i].name, "namespace"))
			put(m->facts, B10T_MANIFEST_FACTS, &m->n_facts, k->comp[i].name,
			    k->comp[i].value);
	for (size_t i = 0; i < k->n; i++)
		if ((!strcmp(k->comp[i].name, "torch_version") ||
		     !strcmp(k->comp[i].name, "triton_version")) &&
		    python_from_path(k->comp[i].source, py, sizeof(py)))
			break;
	put(m->facts, B10T_MANIFEST_FACTS, &m->n_facts, "python_version", py);
	if (k->gpu) {
		struct b10t_library rt = { 0 }, drv = { 0 };

		envkey_cuda_libraries(&rt, &drv);
		put(m->facts, B10T_MANIFEST_FACTS, &m->n_facts, "cuda_runtime_version",
		    rt.version[0] ? rt.version : "none");
		put(m->facts, B10T_MANIFEST_FACTS, &m->n_facts, "cuda_driver_version",
		    drv.version[0] ? drv.version : "none");
	}
	free(dk);
	qsort(m->facts, m->n_facts, sizeof(m->facts[0]), cmp_var);
	m->has_facts = true;
	gather_env(m);
}

void b10t_why_here(const struct b10t_envkey *key, const char *cache_dir,
		   struct b10t_manifest *here)
{
	b10t_manifest_init(here, key, 0, 0, cache_dir);
}

/* ---- comparing ------------------------------------------------------- */

static const char *const effect_path =
	"artifacts that embed their path (Inductor's FX graph entries, g++'s build dirs) may miss";
static const char *const effect_home =
	"vLLM hashes HOME- and XDG-derived paths into its cache keys (vllm#47573) and Triton's "
	"cache dir follows HOME: they miss";
static const char *const effect_cc =
	"a Triton kernel of another compute capability can load and give silently wrong output "
	"(vllm#41871: sm_120 on sm_121): do not share this cache";
static const char *const effect_version =
	"torch's cache keys hold torch's, Triton's and Python's versions: its graphs miss";
static const char *const effect_cuda =
	"Inductor and Triton key kernels by CUDA version (the driver: its PTX JIT): they recompile";
static const char *const effect_device =
	"another device or platform: kernels built and tuned for the other miss";
static const char *const effect_setting =
	"Inductor, Triton and vLLM hash their settings into their cache keys or compile "
	"differently: misses, or another behaviour";
static const char *const effect_key =
	"another environment key: load would not pick this archive";

static void kind_of_fact(const char *name, struct b10t_why_diff *d)
{
	if (!strcmp(name, "compute_capability")) {
		d->kind = "compute_capability";
		d->effect = effect_cc;
		d->wrong_output = true;
	} else if (strstr(name, "cuda")) {
		d->kind = "version";
		d->effect = effect_cuda;
	} else if (strstr(name, "_version")) {
		d->kind = "version";
		d->effect = effect_version;
	} else {
		d->kind = "device";
		d->effect = effect_device;
	}
}

struct diffs {
	struct b10t_why_diff *out;
	size_t max, n;
};

static struct b10t_why_diff *add(struct diffs *ds, const char *name, const char *saved,
				 const char *here)
{
	struct b10t_why_diff *d;

	if (ds->n >= ds->max)
		return NULL;
	/* A fact that is also a component: said once, as the key's. */
	for (size_t i = 0; i < ds->n; i++)
		if (!strcmp(ds->out[i].name, name))
			return NULL;
	d = &ds->out[ds->n++];
	memset(d, 0, sizeof(*d));
	snprintf(d->name, sizeof(d->name), "%s", name);
	if ((d->saved_set = saved != NULL))
		snprintf(d->saved, sizeof(d->saved), "%s", saved);
	if ((d->here_set = here != NULL))
		snprintf(d->here, sizeof(d->here), "%s", here);
	return d;
}

static const char *find(const struct b10t_manifest_component *v, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(v[i].name, name))
			return v[i].value;
	return NULL;
}

/*
 * Every name of either side whose values differ (or that one side lacks),
 * in name order: both lists are sorted, but an old manifest's need not
 * be, so each is looked up in the other.
 */
static void compare_maps(struct diffs *ds, const struct b10t_manifest_component *a, size_t na,
			 const struct b10t_manifest_component *b, size_t nb,
			 void (*classify)(const char *name, struct b10t_why_diff *d))
{
	for (size_t i = 0; i < na; i++) {
		const char *h = find(b, nb, a[i].name);
		struct b10t_why_diff *d;

		if (h && !strcmp(h, a[i].value))
			continue;
		if ((d = add(ds, a[i].name, a[i].value, h)))
			classify(a[i].name, d);
	}
	for (size_t i = 0; i < nb; i++) {
		struct b10t_why_diff *d;

		if (find(a, na, b[i].name))
			continue;
		if ((d = add(ds, b[i].name, NULL, b[i].value)))
			classify(b[i].name, d);
	}
}

static void kind_of_env(const char *name, struct b10t_why_diff *d)
{
	if (is_xdg(name)) {
		d->kind = "home_xdg";
		d->effect = effect_home;
	} else {
		d->kind = "setting";
		d->effect = effect_setting;
	}
}

static void kind_of_component(const char *name, struct b10t_why_diff *d)
{
	(void)name;
	d->kind = "key";
	d->effect = effect_key;
}

/* The components as name/value pairs, to compare them like the maps. */
static size_t components(const struct b10t_manifest *m, struct b10t_manifest_component *v)
{
	size_t n = 0;

	for (size_t i = 0; i < m->n && i < B10T_MANIFEST_COMPONENTS; i++) {
		snprintf(v[n].name, sizeof(v->name), "%s", m->comp[i].name);
		snprintf(v[n].value, sizeof(v->value), "%s", m->comp[i].value);
		n++;
	}
	return n;
}

size_t b10t_why_compare(const struct b10t_manifest *saved, const struct b10t_manifest *here,
			struct b10t_why_diff *out, size_t max)
{
	struct diffs ds = { out, max, 0 };
	struct b10t_manifest_component *a = calloc(2 * B10T_MANIFEST_COMPONENTS, sizeof(*a));
	struct b10t_why_diff *d;

	if (saved->has_scheme && saved->scheme != here->scheme &&
	    (d = add(&ds, "key_scheme", b10t_scheme_name(saved->scheme),
		     b10t_scheme_name(here->scheme))))
		kind_of_component(NULL, d);
	else if (a) {
		size_t na = components(saved, a), nb = components(here, a + B10T_MANIFEST_COMPONENTS);

		/* A manifest without components (none written): nothing to say. */
		if (saved->n)
			compare_maps(&ds, a, na, a + B10T_MANIFEST_COMPONENTS, nb, kind_of_component);
	}
	free(a);
	if (saved->cache_dir[0] && strcmp(saved->cache_dir, here->cache_dir) &&
	    (d = add(&ds, "cache_dir", saved->cache_dir, here->cache_dir))) {
		d->kind = "path";
		d->effect = effect_path;
	}
	if (saved->has_facts)
		compare_maps(&ds, saved->facts, saved->n_facts, here->facts, here->n_facts,
			     kind_of_fact);
	if (saved->has_env)
		compare_maps(&ds, saved->env, saved->n_env, here->env, here->n_env, kind_of_env);
	return ds.n;
}

/* ---- b10t why -------------------------------------------------------- */

void b10t_why_free(struct b10t_why *res)
{
	free(res->diffs);
	res->diffs = NULL;
	res->n = 0;
}

/* The manifest of archive `name` into m: 0, or -1 (none, unreadable, invalid). */
static int read_saved(const struct b10t_config *cfg, const char *name, enum b10t_format fmt,
		      struct b10t_manifest *m)
{
	char path[PATH_MAX + NAME_MAX + 2], *json = NULL;
	struct b10t_ctx quiet;
	int r;

	b10t_ctx_init(&quiet);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", cfg->store_dir, name) >= sizeof(path) ||
	    b10t_read_manifest(&quiet, path, fmt, &json) < 0) {
		free(json);
		return -1;
	}
	r = b10t_manifest_parse(&quiet, json, strlen(json), m);
	free(json);
	return r < 0 ? -1 : 0;
}

/*
 * This key has no archive: the most common miss is a key that changed (a
 * torch upgrade, another GPU, a namespace).  Find the store's key with the
 * fewest differing components (the newest of those: the list is newest
 * first) and describe its archive in res.  Best effort: nothing on error.
 */
static void find_nearest(const struct b10t_config *cfg, const struct b10t_envkey *key,
			 struct b10t_why *res)
{
	struct b10t_archive_info *list = NULL;
	struct b10t_manifest *saved = malloc(sizeof(*saved)), *here = malloc(sizeof(*here));
	struct b10t_why_diff *d = calloc(B10T_WHY_DIFFS_MAX, sizeof(*d));
	size_t n = 0, best = (size_t)-1;
	struct b10t_ctx quiet;

	b10t_ctx_init(&quiet);
	if (!saved || !here || !d || b10t_store_list(&quiet, cfg, &list, &n) < 0)
		goto out;
	b10t_why_here(key, cfg->cache_dir, here);
	for (size_t i = 0; i < n && i < B10T_NAMESPACES_SURVEY; i++) {
		size_t nd, nk = 0;

		if (read_saved(cfg, list[i].filename, list[i].format, saved) < 0 || !saved->n ||
		    (saved->has_scheme && saved->scheme != key->scheme))
			continue;
		nd = b10t_why_compare(saved, here, d, B10T_WHY_DIFFS_MAX);
		for (size_t j = 0; j < nd; j++)
			nk += !strcmp(d[j].kind, "key");
		if (nk >= best)
			continue;
		best = nk;
		if (!res->diffs && !(res->diffs = calloc(B10T_WHY_DIFFS_MAX, sizeof(*d))))
			break;
		memcpy(res->diffs, d, nd * sizeof(*d));
		res->n = nd;
		res->nearest = true;
		snprintf(res->nearest_key, sizeof(res->nearest_key), "%s", list[i].key);
		snprintf(res->archive, sizeof(res->archive), "%s", list[i].filename);
		res->has_manifest = true;
		res->recorded = saved->has_facts && saved->has_env;
		snprintf(res->host, sizeof(res->host), "%s", saved->host);
		snprintf(res->b10t_version, sizeof(res->b10t_version), "%s", saved->b10t_version);
		res->has_created = saved->has_created;
		res->created_time = saved->created_time;
	}
out:
	free(list);
	free(saved);
	free(here);
	free(d);
}

int b10t_why(struct b10t_ctx *ctx, const struct b10t_config *cfg, const struct b10t_envkey *key,
	     const char *other_key, struct b10t_why *res)
{
	struct b10t_archive_info info;
	struct b10t_manifest *saved = NULL, *here = NULL;
	char path[PATH_MAX + NAME_MAX + 2], *json = NULL;
	const char *k = other_key ? other_key : key->key;
	int r;

	memset(res, 0, sizeof(*res));
	res->status = B10T_ERROR;
	if (!b10t_valid_key(k, strlen(k)))
		return b10t_set_error(ctx, EINVAL, "not a key: %s", k);
	snprintf(res->key, sizeof(res->key), "%s", k);
	res->own_key = !strcmp(k, key->key);
	if ((r = b10t_store_check(ctx, cfg)) < 0)
		return r;
	if ((r = b10t_store_find(ctx, cfg, k, &info)) == -ENOENT) {
		b10t_clear_error(ctx);
		res->status = B10T_DOES_NOT_EXIST;
		if (!other_key)
			find_nearest(cfg, key, res);
		return 0;
	}
	if (r < 0)
		return r;
	snprintf(res->archive, sizeof(res->archive), "%s", info.filename);
	if ((size_t)snprintf(path, sizeof(path), "%s/%s", cfg->store_dir, info.filename) >=
	    sizeof(path))
		return b10t_set_error(ctx, ENAMETOOLONG, "%s: path too long", cfg->store_dir);
	r = b10t_read_manifest(ctx, path, info.format, &json);
	if (r == -ENOENT && !json) {
		b10t_clear_error(ctx);
		res->status = B10T_SUCCESS;	/* the reference's: nothing recorded */
		return 0;
	}
	if (r < 0)
		return b10t_wrap_error(ctx, -r, "reading the manifest of %s", info.filename);
	saved = malloc(sizeof(*saved));
	here = malloc(sizeof(*here));
	res->diffs = calloc(B10T_WHY_DIFFS_MAX, sizeof(*res->diffs));
	if (!saved || !here || !res->diffs) {
		r = b10t_set_error(ctx, ENOMEM, "b10t why: out of memory");
		goto out;
	}
	if ((r = b10t_manifest_parse(ctx, json, strlen(json), saved)) < 0) {
		b10t_wrap_error(ctx, -r, "reading the manifest of %s", info.filename);
		goto out;
	}
	res->has_manifest = true;
	res->recorded = saved->has_facts && saved->has_env;
	snprintf(res->host, sizeof(res->host), "%s", saved->host);
	snprintf(res->b10t_version, sizeof(res->b10t_version), "%s", saved->b10t_version);
	res->has_created = saved->has_created;
	res->created_time = saved->created_time;
	b10t_why_here(key, cfg->cache_dir, here);
	res->n = b10t_why_compare(saved, here, res->diffs, B10T_WHY_DIFFS_MAX);
	res->status = B10T_SUCCESS;
out:
	free(json);
	free(saved);
	free(here);
	if (r < 0)
		b10t_why_free(res);
	return r;
}

/*
 * Load's check (lib/load.c, for each archive of the set): warn once per
 * difference, and note it in res.  The cache dir has its own warning
 * there; the key's components are the same by the archive's name.
 */
void b10t_why_load(struct b10t_ctx *ctx, const struct b10t_envkey *key, const char *cache_dir,
		   const struct b10t_manifest *saved, struct b10t_result *res)
{
	struct b10t_manifest *here;
	struct b10t_why_diff *d;
	double t0 = b10t_now();
	size_t n = 0;

	if (!key || (!saved->has_facts && !saved->has_env))
		return;
	here = malloc(sizeof(*here));
	d = calloc(B10T_WHY_DIFFS_MAX, sizeof(*d));
	if (!here || !d)
		goto out;
	b10t_why_here(key, cache_dir, here);
	res->compared = true;
	n = b10t_why_compare(saved, here, d, B10T_WHY_DIFFS_MAX);
	for (size_t i = 0; i < n; i++) {
		bool seen = false;
		char s[B10T_ESCAPE_SIZE(128)], h[B10T_ESCAPE_SIZE(128)];

		if (!strcmp(d[i].kind, "path") || !strcmp(d[i].kind, "key"))
			continue;
		for (size_t j = 0; j < res->n_differences; j++)
			seen |= !strcmp(res->differences[j].name, d[i].name);
		if (seen || res->n_differences == sizeof(res->differences) / sizeof(res->differences[0]))
			continue;
		res->differences[res->n_differences].kind = d[i].kind;
		snprintf(res->differences[res->n_differences].name,
			 sizeof(res->differences[0].name), "%s", d[i].name);
		res->n_differences++;
		b10t_warn(ctx, "%s: saved with %s, here %s: %s; see b10t why", d[i].name,
			  d[i].saved_set ? b10t_escape(s, sizeof(s), d[i].saved, 128) : "(unset)",
			  d[i].here_set ? b10t_escape(h, sizeof(h), d[i].here, 128) : "(unset)",
			  d[i].effect);
	}
	b10t_debug(ctx, "why: the archive's environment compared in %.2f ms, %zu %s",
		   (b10t_now() - t0) * 1e3, n, n == 1 ? "difference" : "differences");
out:
	free(here);
	free(d);
}

/* ---- JSON, for cmd/ and the C API ------------------------------------ */

cJSON *b10t_why_diff_json(const struct b10t_why_diff *d, bool effect)
{
	cJSON *o = cJSON_CreateObject();

	if (!o)
		return NULL;
	cJSON_AddStringToObject(o, "kind", d->kind);
	cJSON_AddStringToObject(o, "name", d->name);
	if (d->saved_set)
		cJSON_AddStringToObject(o, "saved", d->saved);
	else
		cJSON_AddNullToObject(o, "saved");
	if (d->here_set)
		cJSON_AddStringToObject(o, "here", d->here);
	else
		cJSON_AddNullToObject(o, "here");
	cJSON_AddBoolToObject(o, "wrong_output", d->wrong_output);
	if (effect)
		cJSON_AddStringToObject(o, "effect", d->effect);
	return o;
}

void b10t_json_info_differences(cJSON *o, const struct b10t_why *w)
{
	cJSON *arr;

	if (w->status != B10T_SUCCESS || !w->has_manifest)
		return;
	arr = cJSON_AddArrayToObject(o, "differences");
	for (size_t i = 0; arr && i < w->n; i++)
		cJSON_AddItemToArray(arr, b10t_why_diff_json(&w->diffs[i], false));
}

void b10t_json_load_differences(cJSON *o, const struct b10t_result *res)
{
	cJSON *arr;

	if (!res->compared)
		return;
	arr = cJSON_AddArrayToObject(o, "differences");
	for (size_t i = 0; arr && i < res->n_differences; i++) {
		cJSON *e = cJSON_CreateObject();

		if (!e)
			break;
		cJSON_AddStringToObject(e, "kind", res->differences[i].kind);
		cJSON_AddStringToObject(e, "name", res->differences[i].name);
		cJSON_AddItemToArray(arr, e);
	}
}
