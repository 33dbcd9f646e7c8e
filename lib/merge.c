/* SPDX-License-Identifier: MIT */
/*
 * Index files merged by meaning (see "Mutable index files" in
 * docs/store-protocol.md).  The one such file found in real caches is
 * vLLM's vllm_compile_cache.py: the Python dict literal that vLLM's
 * CompilerManager rewrites whole (pprint.pformat, read back with
 * ast.literal_eval) each time it compiles a graph for a new shape, mapping
 * (runtime_shape, graph_index, compiler) to the handle of the artifact.
 * Two replicas that compiled different shapes each hold half of it; a
 * layer that simply replaced it would make the other half's artifacts
 * unreachable.
 *
 * The merge needs no Python parser: an item of the dict is the text between
 * top-level commas, its key the text before its top-level colon, compared
 * with the whitespace outside string literals removed (pformat wraps long
 * keys).  Strings ('...' or "...", backslash escapes) and brackets are
 * tracked so that commas and colons inside them do not count.  Anything
 * that is not one {...} literal makes the merge refuse (-EINVAL), and the
 * file is then handled as any other (a later layer wins).
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "archive-int.h"
#include "internal.h"

enum b10t_index_kind b10t_index_kind(const char *path)
{
	const char *base = strrchr(path, '/');

	base = base ? base + 1 : path;
	return !strcmp(base, "vllm_compile_cache.py") ? B10T_INDEX_PYDICT : B10T_INDEX_NONE;
}

bool b10t_write_once(const char *path)
{
	size_t n = strlen(path);

	return (n > 12 && !strcmp(path + n - 12, ".best_config")) ||
	       !strncmp(path, "locks/", 6);
}

struct item {
	const char *s;			/* the item's text, trimmed */
	size_t len;
	char *key;			/* its key, whitespace outside strings dropped */
};

struct items {
	struct item *v;
	size_t n, cap;
};

static bool space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

static void free_items(struct items *it)
{
	for (size_t i = 0; i < it->n; i++)
		free(it->v[i].key);
	free(it->v);
}

/* The key of item s[0..len): 0, -EINVAL (no top-level colon), -ENOMEM. */
static int item_key(const char *s, size_t len, char **key)
{
	char *k = malloc(len + 1), q = 0;
	size_t o = 0;
	int depth = 0;

	if (!k)
		return -ENOMEM;
	for (size_t i = 0; i < len; i++) {
		char c = s[i];

		if (q) {
			k[o++] = c;
			if (c == '\\' && i + 1 < len)
				k[o++] = s[++i];
			else if (c == q)
				q = 0;
			continue;
		}
		if (c == '\'' || c == '"')
			q = c;
		else if (c == '(' || c == '[' || c == '{')
			depth++;
		else if (c == ')' || c == ']' || c == '}')
			depth--;
		else if (c == ':' && depth == 0) {
			k[o] = '\0';
			*key = k;
			return o ? 0 : -EINVAL;
		}
		if (!space(c))
			k[o++] = c;
	}
	free(k);
	return -EINVAL;
}

static int add_item(struct items *it, const char *s, size_t len)
{
	char *key;
	int r;

	while (len && space(*s))
		s++, len--;
	while (len && space(s[len - 1]))
		len--;
	if (!len)
		return 0;	/* after a trailing comma */
	if ((r = item_key(s, len, &key)) < 0)
		return r;
	if (B10T_GROW(it->v, it->cap, it->n + 1, 16) < 0) {
		free(key);
		return -ENOMEM;
	}
	it->v[it->n++] = (struct item){ s, len, key };
	return 0;
}

/* Split the dict literal `s` into its items. */
static int parse_dict(const char *s, struct items *it)
{
	const char *start;
	int depth = 0, r;
	char q = 0;

	while (space(*s))
		s++;
	if (*s != '{')
		return -EINVAL;
	start = ++s;
	for (; *s; s++) {
		char c = *s;

		if (q) {
			if (c == '\\' && s[1])
				s++;
			else if (c == q)
				q = 0;
			else if (c == '\n')
				return -EINVAL;	/* pformat never breaks a string */
			continue;
		}
		if (c == '\'' || c == '"') {
			q = c;
		} else if (c == '(' || c == '[' || c == '{') {
			depth++;
		} else if (c == ')' || c == ']' || c == '}') {
			if (depth-- == 0) {
				if (c != '}' || (r = add_item(it, start, (size_t)(s - start))) < 0)
					return c != '}' ? -EINVAL : r;
				for (s++; space(*s); s++)
					;
				return *s ? -EINVAL : 0;
			}
		} else if (c == ',' && depth == 0) {
			if ((r = add_item(it, start, (size_t)(s - start))) < 0)
				return r;
			start = s + 1;
		}
	}
	return -EINVAL;
}

static bool has_key(const struct items *it, const char *key)
{
	for (size_t i = 0; i < it->n; i++)
		if (!strcmp(it->v[i].key, key))
			return true;
	return false;
}

int b10t_index_merge(enum b10t_index_kind kind, const char *published, const char *local,
		     char **merged)
{
	struct items a = { 0 }, b = { 0 };
	size_t len = 3, o = 0, added = 0;
	char *out = NULL;
	int r;

	*merged = NULL;
	if (kind != B10T_INDEX_PYDICT)
		return -EINVAL;
	if ((r = parse_dict(published, &a)) < 0 || (r = parse_dict(local, &b)) < 0)
		goto out;
	/* A dict of a few hundred shapes: the quadratic lookup costs nothing. */
	for (size_t i = 0; i < b.n; i++) {
		if (has_key(&a, b.v[i].key) || (i && has_key(&(struct items){ b.v, i, 0 }, b.v[i].key))) {
			b.v[i].len = 0;	/* known: the published value stays */
			continue;
		}
		added++;
	}
	if (!added) {
		r = 0;
		goto out;
	}
	for (size_t i = 0; i < a.n; i++)
		len += a.v[i].len + 3;
	for (size_t i = 0; i < b.n; i++)
		len += b.v[i].len + 3;
	if (!(out = malloc(len))) {
		r = -ENOMEM;
		goto out;
	}
	/* pformat's own layout: "{" item ",\n " item ... "}". */
	out[o++] = '{';
	for (size_t pass = 0; pass < 2; pass++) {
		const struct items *it = pass ? &b : &a;

		for (size_t i = 0; i < it->n; i++) {
			if (!it->v[i].len)
				continue;
			if (o > 1) {
				memcpy(out + o, ",\n ", 3);
				o += 3;
			}
			memcpy(out + o, it->v[i].s, it->v[i].len);
			o += it->v[i].len;
		}
	}
	out[o++] = '}';
	out[o] = '\0';
	*merged = out;
	r = 1;
out:
	free_items(&a);
	free_items(&b);
	return r;
}
