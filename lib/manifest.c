/* SPDX-License-Identifier: MIT */
/*
 * The archive manifest, .b10t/manifest.json: one struct (b10t-int.h), one
 * writer (save), one reader (load, info, list).  It is one JSON object:
 *   "b10t_manifest": 1, "key", "scheme", "components": {name: value},
 *   "files", "bytes" (as measured before packing), "created_time" (Unix
 *   seconds), "host", "b10t_version", "cache_dir" (the dir it was packed
 *   from: load says so when it extracts elsewhere), "facts" and "env"
 *   ({name: value} each: what decides whether torch hits, gathered by
 *   lib/why.c at save and compared by b10t why and load).
 * Its entry list form (b10t_manifest_parse_list, and the writer when
 * m->has_entries) adds "entries": [[path, "f", mode, size, "xxh3", mtime
 * (, "content")], [path, "d", mode], [path, "l", target], ...]: arrays,
 * not objects, as a cache holds up to a million entries.
 * The reader takes the archive for hostile: every number is range-checked
 * as a double before it becomes an integer (converting 1e300 or -1 to
 * uint64_t is undefined behaviour), every string must fit its field, and
 * unknown fields are ignored so that a newer writer stays readable.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cjson/cJSON.h>
#include <xxhash.h>

#include "archive-int.h"
#include "internal.h"

void b10t_manifest_init(struct b10t_manifest *m, const struct b10t_envkey *key,
			uint64_t files, uint64_t bytes, const char *cache_dir)
{
	time_t now = time(NULL);

	memset(m, 0, sizeof(*m));
	m->version = B10T_MANIFEST_VERSION;
	snprintf(m->key, sizeof(m->key), "%s", key->key);
	m->has_scheme = true;
	m->scheme = key->scheme;
	for (size_t i = 0; i < key->n && i < B10T_MANIFEST_COMPONENTS; i++) {
		snprintf(m->comp[i].name, sizeof(m->comp[i].name), "%s", key->comp[i].name);
		snprintf(m->comp[i].value, sizeof(m->comp[i].value), "%s", key->comp[i].value);
		m->n++;
	}
	m->has_files = m->has_bytes = m->has_created = true;
	m->files = files;
	m->bytes = bytes;
	m->created_time = now > 0 ? (uint64_t)now : 0;
	if (gethostname(m->host, sizeof(m->host) - 1) < 0)
		m->host[0] = '\0';
	snprintf(m->b10t_version, sizeof(m->b10t_version), "%s", B10T_VERSION_STRING);
	if (cache_dir)
		snprintf(m->cache_dir, sizeof(m->cache_dir), "%s", cache_dir);
	b10t_why_gather(key, m);
}

static bool add_map(cJSON *o, const char *name, const struct b10t_manifest_component *v, size_t n)
{
	cJSON *map = cJSON_AddObjectToObject(o, name);

	for (size_t i = 0; map && i < n; i++)
		if (!cJSON_AddStringToObject(map, v[i].name, v[i].value))
			return false;
	return map != NULL;
}

/* Counts beyond 2^53 are not exact as doubles: written raw. */
static bool add_u64(cJSON *o, const char *name, uint64_t v)
{
	char buf[32];

	if (v <= B10T_MANIFEST_NUM_MAX)
		return cJSON_AddNumberToObject(o, name, (double)v) != NULL;
	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	return cJSON_AddRawToObject(o, name, buf) != NULL;
}

static cJSON *entry_json(const struct b10t_entry *e)
{
	cJSON *a = cJSON_CreateArray();
	char t[2] = { e->type, 0 }, hex[17];
	bool ok = a != NULL;

	ok = ok && cJSON_AddItemToArray(a, cJSON_CreateString(e->path));
	ok = ok && cJSON_AddItemToArray(a, cJSON_CreateString(t));
	if (e->type == 'l') {
		ok = ok && cJSON_AddItemToArray(a, cJSON_CreateString(e->target ? e->target : ""));
	} else {
		ok = ok && cJSON_AddItemToArray(a, cJSON_CreateNumber(e->mode & 0777));
	}
	if (e->type == 'f') {
		snprintf(hex, sizeof(hex), "%016" PRIx64, e->hash);
		ok = ok && cJSON_AddItemToArray(a, cJSON_CreateNumber((double)e->size));
		ok = ok && cJSON_AddItemToArray(a, cJSON_CreateString(hex));
		ok = ok && cJSON_AddItemToArray(a, cJSON_CreateNumber((double)e->mtime));
		if (e->content)
			ok = ok && cJSON_AddItemToArray(a, cJSON_CreateString(e->content));
	}
	if (!ok) {
		cJSON_Delete(a);
		return NULL;
	}
	return a;
}

static bool add_entries(cJSON *o, const struct b10t_manifest *m)
{
	cJSON *arr = cJSON_AddArrayToObject(o, "entries");

	if (!arr)
		return false;
	for (size_t i = 0; i < m->n_entries; i++) {
		cJSON *a = entry_json(&m->entries[i]);

		if (!a || !cJSON_AddItemToArray(arr, a)) {
			cJSON_Delete(a);
			return false;
		}
	}
	return true;
}

char *b10t_manifest_write(const struct b10t_manifest *m)
{
	cJSON *o = cJSON_CreateObject(), *comp;
	bool ok;
	char *s = NULL;

	if (!o)
		return NULL;
	ok = add_u64(o, "b10t_manifest", m->version);
	/* No key (a list made for a test's bare "{}"): none written, as read. */
	if (m->key[0])
		ok = ok && cJSON_AddStringToObject(o, "key", m->key);
	if (m->has_scheme)
		ok = ok && cJSON_AddStringToObject(o, "scheme", b10t_scheme_name(m->scheme));
	ok = ok && (comp = cJSON_AddObjectToObject(o, "components"));
	for (size_t i = 0; ok && i < m->n; i++)
		ok = cJSON_AddStringToObject(comp, m->comp[i].name, m->comp[i].value) != NULL;
	if (m->has_files)
		ok = ok && add_u64(o, "files", m->files);
	if (m->has_dirs)
		ok = ok && add_u64(o, "dirs", m->dirs);
	if (m->has_bytes)
		ok = ok && add_u64(o, "bytes", m->bytes);
	if (m->has_created)
		ok = ok && add_u64(o, "created_time", m->created_time);
	ok = ok && cJSON_AddStringToObject(o, "host", m->host);
	ok = ok && cJSON_AddStringToObject(o, "b10t_version", m->b10t_version);
	if (m->cache_dir[0])
		ok = ok && cJSON_AddStringToObject(o, "cache_dir", m->cache_dir);
	if (m->has_facts)
		ok = ok && add_map(o, "facts", m->facts, m->n_facts);
	if (m->has_env)
		ok = ok && add_map(o, "env", m->env, m->n_env);
	if (m->has_entries)
		ok = ok && add_entries(o, m);
	if (ok)
		s = cJSON_PrintUnformatted(o);
	cJSON_Delete(o);
	return s;
}

/*
 * A count: a JSON number that is finite, >= 0, integral and below 2^53 (2^53
 * itself could be 2^53 + 1 rounded),
 * checked on the double before any conversion.
 */
static int get_u64(struct b10t_ctx *ctx, const cJSON *o, const char *name, bool *has,
		   uint64_t *out)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);
	double d;

	if (has)
		*has = false;
	if (!v)
		return 0;
	if (!cJSON_IsNumber(v))
		return b10t_set_error(ctx, EBADMSG, "invalid manifest: \"%s\" is not a number",
				      name);
	d = v->valuedouble;
	/* In range first (NaN fails both tests), then the conversion is
	 * defined and tells whether d was integral. */
	if (!(d >= 0 && d <= (double)B10T_MANIFEST_NUM_MAX) || (double)(uint64_t)d != d)
		return b10t_set_error(ctx, EBADMSG,
			"invalid manifest: \"%s\" is not a whole number from 0 to 2^53 - 1", name);
	*out = (uint64_t)d;
	if (has)
		*has = true;
	return 0;
}

/* A string that fits `size` with its NUL; absent leaves dst as it is. */
static int get_str(struct b10t_ctx *ctx, const cJSON *o, const char *name, char *dst,
		   size_t size, bool *has)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, name);

	if (has)
		*has = false;
	if (!v)
		return 0;
	if (!cJSON_IsString(v) || !v->valuestring)
		return b10t_set_error(ctx, EBADMSG, "invalid manifest: \"%s\" is not a string",
				      name);
	if (strlen(v->valuestring) >= size)
		return b10t_set_error(ctx, EBADMSG, "invalid manifest: \"%s\" is too long",
				      name);
	memcpy(dst, v->valuestring, strlen(v->valuestring) + 1);
	if (has)
		*has = true;
	return 0;
}

static int parse_components(struct b10t_ctx *ctx, const cJSON *o, struct b10t_manifest *m)
{
	const cJSON *comp = cJSON_GetObjectItemCaseSensitive(o, "components"), *c;

	if (!comp)
		return 0;
	if (!cJSON_IsObject(comp))
		return b10t_set_error(ctx, EBADMSG,
				      "invalid manifest: \"components\" is not an object");
	cJSON_ArrayForEach(c, comp) {
		struct b10t_manifest_component *mc = &m->comp[m->n];

		if (m->n == B10T_MANIFEST_COMPONENTS)
			return b10t_set_error(ctx, EBADMSG,
				"invalid manifest: more than %d components", B10T_MANIFEST_COMPONENTS);
		if (!c->string || strlen(c->string) >= sizeof(mc->name) ||
		    !cJSON_IsString(c) || !c->valuestring ||
		    strlen(c->valuestring) >= sizeof(mc->value))
			return b10t_set_error(ctx, EBADMSG,
				"invalid manifest: a component is not a short string");
		memcpy(mc->name, c->string, strlen(c->string) + 1);
		memcpy(mc->value, c->valuestring, strlen(c->valuestring) + 1);
		m->n++;
	}
	return 0;
}

/* "facts" or "env": an object of at most max short strings. */
static int parse_map(struct b10t_ctx *ctx, const cJSON *o, const char *name,
		     struct b10t_manifest_component *v, size_t max, size_t *n, bool *has)
{
	const cJSON *map = cJSON_GetObjectItemCaseSensitive(o, name), *c;

	if (!map)
		return 0;
	if (!cJSON_IsObject(map))
		return b10t_set_error(ctx, EBADMSG, "invalid manifest: \"%s\" is not an object",
				      name);
	cJSON_ArrayForEach(c, map) {
		if (*n == max)
			return b10t_set_error(ctx, EBADMSG, "invalid manifest: more than %zu \"%s\"",
					      max, name);
		if (!c->string || strlen(c->string) >= sizeof(v->name) || !cJSON_IsString(c) ||
		    !c->valuestring || strlen(c->valuestring) >= sizeof(v->value))
			return b10t_set_error(ctx, EBADMSG,
				"invalid manifest: an entry of \"%s\" is not a short string", name);
		memcpy(v[*n].name, c->string, strlen(c->string) + 1);
		memcpy(v[*n].value, c->valuestring, strlen(c->valuestring) + 1);
		(*n)++;
	}
	*has = true;
	return 0;
}

int b10t_manifest_add_entry(struct b10t_manifest *m, const struct b10t_entry *e)
{
	struct b10t_entry *d;

	if (B10T_GROW(m->entries, m->cap_entries, m->n_entries + 1, 256) < 0)
		return -ENOMEM;
	d = &m->entries[m->n_entries];
	*d = *e;
	d->path = strdup(e->path);
	d->target = e->target ? strdup(e->target) : NULL;
	d->content = e->content ? strdup(e->content) : NULL;
	if (!d->path || (e->target && !d->target) || (e->content && !d->content)) {
		free(d->path);
		free(d->target);
		free(d->content);
		return -ENOMEM;
	}
	m->n_entries++;
	m->has_entries = true;
	return 0;
}

void b10t_manifest_free(struct b10t_manifest *m)
{
	for (size_t i = 0; i < m->n_entries; i++) {
		free(m->entries[i].path);
		free(m->entries[i].target);
		free(m->entries[i].content);
	}
	free(m->entries);
	m->entries = NULL;
	m->n_entries = m->cap_entries = 0;
	m->has_entries = false;
}

static int bad_entry(struct b10t_ctx *ctx, size_t i, const char *why)
{
	return b10t_set_error(ctx, EBADMSG, "invalid entry list: entry %zu %s", i, why);
}

/* A whole number in [0, max] (checked on the double, as get_u64). */
static bool whole(const cJSON *v, double max, uint64_t *out)
{
	double d;

	if (!cJSON_IsNumber(v))
		return false;
	d = v->valuedouble;
	if (!(d >= 0 && d <= max) || (double)(uint64_t)d != d)
		return false;
	*out = (uint64_t)d;
	return true;
}

static bool hex64(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (strlen(s) != 16)
		return false;
	for (int i = 0; i < 16; i++) {
		int c = s[i];

		if (c >= '0' && c <= '9')
			v = v << 4 | (uint64_t)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v = v << 4 | (uint64_t)(c - 'a' + 10);
		else
			return false;
	}
	*out = v;
	return true;
}

static const char *str_at(const cJSON *a, int i)
{
	const cJSON *v = cJSON_GetArrayItem(a, i);

	return cJSON_IsString(v) ? v->valuestring : NULL;
}

/* One entry: [path, type, ...] as the header comment says; into *e (borrowed strings). */
static int parse_entry(struct b10t_ctx *ctx, size_t i, const cJSON *a, struct b10t_entry *e)
{
	const char *path = str_at(a, 0), *type = str_at(a, 1), *s;
	int n = cJSON_GetArraySize(a);
	uint64_t v;

	memset(e, 0, sizeof(*e));
	if (!cJSON_IsArray(a) || !path || !type || strlen(type) != 1)
		return bad_entry(ctx, i, "is not [path, type, ...]");
	if (!path[0] || strlen(path) > B10T_MAX_PATH || b10t_has_control(path))
		return bad_entry(ctx, i, "has a bad path");
	e->path = (char *)path;
	e->type = type[0];
	switch (e->type) {
	case 'l':
		if (n != 3 || !(s = str_at(a, 2)) || strlen(s) > B10T_MAX_PATH)
			return bad_entry(ctx, i, "is not [path, \"l\", target]");
		e->target = (char *)s;
		return 0;
	case 'd':
		if (n != 3 || !whole(cJSON_GetArrayItem(a, 2), 0777, &v))
			return bad_entry(ctx, i, "is not [path, \"d\", mode]");
		e->mode = (uint32_t)v;
		return 0;
	case 'f':
		if ((n != 6 && n != 7) || !whole(cJSON_GetArrayItem(a, 2), 0777, &v))
			return bad_entry(ctx, i, "is not [path, \"f\", mode, size, hash, mtime]");
		e->mode = (uint32_t)v;
		if (!whole(cJSON_GetArrayItem(a, 3), (double)B10T_MANIFEST_NUM_MAX, &e->size))
			return bad_entry(ctx, i, "has a size that is not a whole number from 0 to 2^53 - 1");
		if (!(s = str_at(a, 4)) || !hex64(s, &e->hash))
			return bad_entry(ctx, i, "has a hash that is not 16 hex digits");
		if (!whole(cJSON_GetArrayItem(a, 5), (double)B10T_MANIFEST_NUM_MAX, &e->mtime))
			return bad_entry(ctx, i, "has an mtime that is not a whole number from 0 to 2^53 - 1");
		if (n == 7) {
			if (!(s = str_at(a, 6)) || strlen(s) > B10T_INLINE_MAX ||
			    strlen(s) != e->size || XXH3_64bits(s, e->size) != e->hash)
				return bad_entry(ctx, i, "has a content that is not its size and hash");
			e->content = (char *)s;
		}
		return 0;
	default:
		return bad_entry(ctx, i, "has an unknown type");
	}
}

static int parse_entries(struct b10t_ctx *ctx, const cJSON *o, struct b10t_manifest *m)
{
	const cJSON *arr = cJSON_GetObjectItemCaseSensitive(o, "entries"), *a;
	struct b10t_entry_set seen;
	size_t i = 0;
	int r = 0;

	if (!arr)
		return 0;
	if (!cJSON_IsArray(arr))
		return b10t_set_error(ctx, EBADMSG, "invalid entry list: \"entries\" is not an array");
	if (cJSON_GetArraySize(arr) > B10T_ENTRIES_MAX)
		return b10t_set_error(ctx, EBADMSG, "invalid entry list: more than %d entries",
				      B10T_ENTRIES_MAX);
	m->has_entries = true;
	cJSON_ArrayForEach(a, arr) {
		struct b10t_entry e;

		if ((r = parse_entry(ctx, i++, a, &e)) < 0)
			return r;
		if (b10t_manifest_add_entry(m, &e) < 0)
			return b10t_set_error(ctx, ENOMEM, "reading the entry list: out of memory");
	}
	if (b10t_entry_set_init(&seen, m->n_entries) < 0)
		return b10t_set_error(ctx, ENOMEM, "reading the entry list: out of memory");
	for (i = 0; i < m->n_entries && !r; i++) {
		const struct b10t_entry *old;

		if (b10t_entry_set_put(&seen, &m->entries[i], &old) < 0)
			r = b10t_set_error(ctx, ENOMEM, "reading the entry list: out of memory");
		else if (old)
			r = bad_entry(ctx, i, "has a path listed twice");
	}
	b10t_entry_set_free(&seen);
	return r;
}

static int parse(struct b10t_ctx *ctx, const char *json, size_t len, struct b10t_manifest *m,
		 bool list)
{
	char scheme[32];
	bool has_key;
	cJSON *o;
	int r;

	memset(m, 0, sizeof(*m));
	if (len > (list ? B10T_LIST_JSON_MAX : B10T_MANIFEST_MAX))
		return b10t_set_error(ctx, EBADMSG, "invalid manifest: %zu bytes", len);
	/* cJSON bounds nesting itself (CJSON_NESTING_LIMIT): no deep recursion. */
	o = cJSON_ParseWithLength(json, len);
	if (!o || !cJSON_IsObject(o)) {
		cJSON_Delete(o);
		return b10t_set_error(ctx, EBADMSG, "invalid manifest: not a JSON object");
	}
	if ((r = get_u64(ctx, o, "b10t_manifest", NULL, &m->version)) < 0 ||
	    (r = get_str(ctx, o, "key", m->key, sizeof(m->key), &has_key)) < 0 ||
	    (r = get_str(ctx, o, "scheme", scheme, sizeof(scheme), &m->has_scheme)) < 0 ||
	    (r = parse_components(ctx, o, m)) < 0 ||
	    (r = get_u64(ctx, o, "files", &m->has_files, &m->files)) < 0 ||
	    (r = get_u64(ctx, o, "dirs", &m->has_dirs, &m->dirs)) < 0 ||
	    (r = get_u64(ctx, o, "bytes", &m->has_bytes, &m->bytes)) < 0 ||
	    (r = get_u64(ctx, o, "created_time", &m->has_created, &m->created_time)) < 0 ||
	    (r = get_str(ctx, o, "host", m->host, sizeof(m->host), NULL)) < 0 ||
	    (r = get_str(ctx, o, "b10t_version", m->b10t_version, sizeof(m->b10t_version),
			 NULL)) < 0 ||
	    (r = get_str(ctx, o, "cache_dir", m->cache_dir, sizeof(m->cache_dir), NULL)) < 0 ||
	    (r = parse_map(ctx, o, "facts", m->facts, B10T_MANIFEST_FACTS, &m->n_facts,
			   &m->has_facts)) < 0 ||
	    (r = parse_map(ctx, o, "env", m->env, B10T_MANIFEST_ENV, &m->n_env,
			   &m->has_env)) < 0 ||
	    (list && (r = parse_entries(ctx, o, m)) < 0))
		goto out;
	if (has_key && !b10t_valid_key(m->key, strlen(m->key))) {
		r = b10t_set_error(ctx, EBADMSG, "invalid manifest: \"key\" is not a key");
		goto out;
	}
	if (m->has_scheme && b10t_scheme_parse(scheme, &m->scheme) < 0) {
		char esc[B10T_ESCAPE_SIZE(32)];
		r = b10t_set_error(ctx, EBADMSG, "invalid manifest: unknown scheme \"%s\"",
				   b10t_escape(esc, sizeof(esc), scheme, 32));
	}
out:
	cJSON_Delete(o);
	if (r < 0) {
		b10t_manifest_free(m);
		memset(m, 0, sizeof(*m));
	}
	return r;
}

int b10t_manifest_parse(struct b10t_ctx *ctx, const char *json, size_t len,
			struct b10t_manifest *m)
{
	return parse(ctx, json, len, m, false);
}

int b10t_manifest_parse_list(struct b10t_ctx *ctx, const char *json, size_t len,
			     struct b10t_manifest *m)
{
	return parse(ctx, json, len, m, true);
}

int b10t_manifest_check(struct b10t_ctx *ctx, const struct b10t_manifest *m,
			const char *key, enum b10t_key_scheme scheme)
{
	if (m->key[0] && strcmp(m->key, key))
		return b10t_set_error(ctx, EBADMSG, "archive was made for key %s", m->key);
	if (m->has_scheme && m->scheme != scheme)
		return b10t_set_error(ctx, EBADMSG, "archive was made for key scheme %s, not %s",
				      b10t_scheme_name(m->scheme), b10t_scheme_name(scheme));
	return 0;
}

int b10t_manifest_verify(struct b10t_ctx *ctx, const char *json, const char *key,
			 enum b10t_key_scheme scheme)
{
	struct b10t_manifest m;
	int r;

	if ((r = b10t_manifest_parse(ctx, json, strlen(json), &m)) < 0)
		return r;
	return b10t_manifest_check(ctx, &m, key, scheme);
}
