/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of namespaces and of b10t why's record: the namespace rule,
 * the manifest's facts and env (written, read back, hostile, absent in old
 * manifests), what is recorded of the environment, and the comparison.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "b10t-int.h"
#include "../tap.h"

static struct b10t_ctx ctx;

static void test_namespace_rule(void)
{
	char long64[66];

	ok(b10t_namespace_valid("llama-3.1_70b"), "letters, digits, '.', '_', '-'");
	ok(b10t_namespace_valid("7b"), "a digit first");
	ok(!b10t_namespace_valid(""), "empty: no");
	ok(!b10t_namespace_valid("-x"), "a dash first: no (an option's look)");
	ok(!b10t_namespace_valid(".x"), "a dot first: no");
	ok(!b10t_namespace_valid("a b"), "a blank: no");
	ok(!b10t_namespace_valid("a/b"), "a slash: no");
	ok(!b10t_namespace_valid("caf\xc3\xa9"), "non-ASCII: no");
	memset(long64, 'a', 64);
	long64[64] = '\0';
	ok(b10t_namespace_valid(long64), "64 characters: yes");
	long64[64] = 'a';
	long64[65] = '\0';
	ok(!b10t_namespace_valid(long64), "65: no");
	is_int(b10t_namespace_check(&ctx, "B10T_NAMESPACE", "a b"), -EINVAL, "check: -EINVAL");
	ok(strstr(b10t_ctx_error(&ctx), "B10T_NAMESPACE=a b: not a namespace") != NULL,
	   "check: the message names the variable and value");
}

static const char *env_of(const struct b10t_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n_env; i++)
		if (!strcmp(m->env[i].name, name))
			return m->env[i].value;
	return NULL;
}

static const char *fact_of(const struct b10t_manifest *m, const char *name)
{
	for (size_t i = 0; i < m->n_facts; i++)
		if (!strcmp(m->facts[i].name, name))
			return m->facts[i].value;
	return NULL;
}

static void cpu_key(struct b10t_envkey *key)
{
	memset(key, 0, sizeof(*key));
	key->scheme = B10T_SCHEME_DEFAULT;
	snprintf(key->key, sizeof(key->key), "0123456789abcdef");
	key->n = 3;
	key->comp[0].name = "device_type";
	snprintf(key->comp[0].value, sizeof(key->comp[0].value), "cpu");
	key->comp[1].name = "namespace";
	snprintf(key->comp[1].value, sizeof(key->comp[1].value), "m");
	key->comp[2].name = "torch_version";
	snprintf(key->comp[2].value, sizeof(key->comp[2].value), "2.4.0");
	snprintf(key->comp[2].source, sizeof(key->comp[2].source),
		 "/v/lib/python3.11/site-packages/torch/version.py");
}

static void test_record(void)
{
	static struct b10t_manifest m, back;
	struct b10t_envkey key;
	char *json;
	bool sorted = true;

	cpu_key(&key);
	setenv("HOME", "/home/u", 1);
	setenv("XDG_CACHE_HOME", "/home/u/.cache", 1);
	setenv("XDG_SESSION_ID", "7", 1);
	setenv("TORCHINDUCTOR_FX_GRAPH_CACHE", "1", 1);
	setenv("TORCHINDUCTOR_CACHE_DIR", "/tmp/c", 1);
	setenv("TRITON_CACHE_DIR", "/t", 1);
	setenv("VLLM_API_KEY", "secret", 1);
	setenv("HF_TOKEN", "secret", 1);
	setenv("VLLM_ATTENTION_BACKEND", "FLASHINFER", 1);
	b10t_manifest_init(&m, &key, 1, 1, "/tmp/c");
	ok(m.has_facts && m.has_env, "init records facts and env");
	is_str(env_of(&m, "HOME"), "/home/u", "HOME recorded");
	is_str(env_of(&m, "XDG_CACHE_HOME"), "/home/u/.cache", "XDG_CACHE_HOME recorded");
	ok(!env_of(&m, "XDG_SESSION_ID"), "an XDG variable that is no base dir: left out");
	is_str(env_of(&m, "TORCHINDUCTOR_FX_GRAPH_CACHE"), "1", "a TORCHINDUCTOR_ setting");
	is_str(env_of(&m, "TRITON_CACHE_DIR"), "/t", "a TRITON_ setting");
	is_str(env_of(&m, "VLLM_ATTENTION_BACKEND"), "FLASHINFER", "a VLLM_ setting");
	ok(!env_of(&m, "TORCHINDUCTOR_CACHE_DIR"), "TORCHINDUCTOR_CACHE_DIR: the cache dir, not a setting");
	ok(!env_of(&m, "VLLM_API_KEY"), "a secret-looking name: left out");
	ok(!env_of(&m, "HF_TOKEN"), "another prefix: left out");
	for (size_t i = 1; i < m.n_env; i++)
		sorted &= strcmp(m.env[i - 1].name, m.env[i].name) < 0;
	ok(sorted, "env sorted by name, no duplicate");
	is_str(fact_of(&m, "torch_version"), "2.4.0", "facts: the key's torch_version");
	is_str(fact_of(&m, "python_version"), "3.11", "facts: Python's version from torch's path");
	ok(!fact_of(&m, "namespace"), "facts: not the namespace (a component)");
	json = b10t_manifest_write(&m);
	is_int(json ? b10t_manifest_parse(&ctx, json, strlen(json), &back) : -1, 0, "read back");
	ok(back.has_facts && back.n_facts == m.n_facts, "facts read back");
	ok(back.has_env && back.n_env == m.n_env, "env read back");
	is_str(env_of(&back, "HOME"), "/home/u", "HOME read back");
	free(json);
	is_int(b10t_why_compare(&back, &m, NULL, 0), 0, "the same machine: no differences");
	unsetenv("XDG_SESSION_ID");
	unsetenv("VLLM_API_KEY");
	unsetenv("HF_TOKEN");
}

static int parse(const char *json, struct b10t_manifest *m)
{
	return b10t_manifest_parse(&ctx, json, strlen(json), m);
}

static void test_hostile(void)
{
	static struct b10t_manifest m;
	char big[16384];
	size_t n;

	is_int(parse("{\"key\":\"0123456789abcdef\",\"cache_dir\":\"/c\"}", &m), 0,
	       "an old manifest without facts or env reads");
	ok(!m.has_facts && !m.has_env, "  with neither");
	is_int(parse("{\"facts\":[]}", &m), -EBADMSG, "facts not an object: invalid");
	is_int(parse("{\"env\":{\"HOME\":1}}", &m), -EBADMSG, "an env value not a string: invalid");
	n = (size_t)snprintf(big, sizeof(big), "{\"env\":{");
	for (int i = 0; i <= B10T_MANIFEST_ENV; i++)
		n += (size_t)snprintf(big + n, sizeof(big) - n, "%s\"V%d\":\"x\"", i ? "," : "", i);
	snprintf(big + n, sizeof(big) - n, "}}");
	is_int(parse(big, &m), -EBADMSG, "more than 48 env entries: invalid");
	memset(big, 0, sizeof(big));
	n = (size_t)snprintf(big, sizeof(big), "{\"facts\":{\"x\":\"");
	memset(big + n, 'a', 600);
	snprintf(big + n + 600, sizeof(big) - n - 600, "\"}}");
	is_int(parse(big, &m), -EBADMSG, "a fact of 600 bytes (over 255): invalid");
}

static void put(struct b10t_manifest_component *v, size_t *n, const char *name, const char *value)
{
	snprintf(v[*n].name, sizeof(v->name), "%s", name);
	snprintf(v[*n].value, sizeof(v->value), "%s", value);
	(*n)++;
}

static const struct b10t_why_diff *find(const struct b10t_why_diff *d, size_t n, const char *name)
{
	for (size_t i = 0; i < n; i++)
		if (!strcmp(d[i].name, name))
			return &d[i];
	return NULL;
}

static void test_compare(void)
{
	static struct b10t_manifest a, b;
	static struct b10t_why_diff d[32];
	const struct b10t_why_diff *x;
	size_t n;

	a.has_facts = b.has_facts = a.has_env = b.has_env = true;
	snprintf(a.cache_dir, sizeof(a.cache_dir), "/a");
	snprintf(b.cache_dir, sizeof(b.cache_dir), "/b");
	put(a.facts, &a.n_facts, "compute_capability", "12.0");
	put(b.facts, &b.n_facts, "compute_capability", "12.1");
	put(a.facts, &a.n_facts, "cuda_driver_version", "12.8");
	put(b.facts, &b.n_facts, "cuda_driver_version", "12.9");
	put(a.facts, &a.n_facts, "device_name", "X");
	put(b.facts, &b.n_facts, "device_name", "Y");
	put(a.facts, &a.n_facts, "python_version", "3.11");
	put(b.facts, &b.n_facts, "python_version", "3.12");
	put(a.facts, &a.n_facts, "torch_version", "2.4.0");
	put(b.facts, &b.n_facts, "torch_version", "2.4.0");
	put(a.env, &a.n_env, "HOME", "/root");
	put(b.env, &b.n_env, "HOME", "/home/u");
	put(a.env, &a.n_env, "TORCHINDUCTOR_MAX_AUTOTUNE", "1");
	put(b.env, &b.n_env, "VLLM_USE_V1", "1");
	n = b10t_why_compare(&a, &b, d, 32);
	is_int(n, 8, "eight differences (torch_version equal)");
	ok((x = find(d, n, "compute_capability")) && !strcmp(x->kind, "compute_capability") &&
	   x->wrong_output, "compute capability: its kind, wrong_output");
	ok((x = find(d, n, "cuda_driver_version")) && !strcmp(x->kind, "version") &&
	   strstr(x->effect, "CUDA") && !x->wrong_output, "the driver: a version, CUDA's effect");
	ok((x = find(d, n, "python_version")) && !strcmp(x->kind, "version") &&
	   !strcmp(x->saved, "3.11") && !strcmp(x->here, "3.12"), "Python: a version, both values");
	ok((x = find(d, n, "device_name")) && !strcmp(x->kind, "device"), "the device");
	ok((x = find(d, n, "cache_dir")) && !strcmp(x->kind, "path"), "the cache dir: path");
	ok((x = find(d, n, "HOME")) && !strcmp(x->kind, "home_xdg") && strstr(x->effect, "vllm#47573"),
	   "HOME: home_xdg, vllm#47573");
	ok((x = find(d, n, "TORCHINDUCTOR_MAX_AUTOTUNE")) && !strcmp(x->kind, "setting") &&
	   x->saved_set && !x->here_set, "a setting only at save: here unset");
	ok((x = find(d, n, "VLLM_USE_V1")) && !strcmp(x->kind, "setting") && !x->saved_set &&
	   x->here_set, "a setting only here: saved unset");
	ok(!find(d, n, "torch_version"), "an equal fact is no difference");
	is_int(b10t_why_compare(&a, &b, d, 3), 3, "at most max");
	a.has_facts = a.has_env = false;
	is_int(b10t_why_compare(&a, &b, d, 32), 1, "an old manifest: the cache dir alone");
	a.cache_dir[0] = '\0';
	is_int(b10t_why_compare(&a, &b, d, 32), 0, "... and without one, nothing");
	a.has_scheme = b.has_scheme = true;
	a.scheme = B10T_SCHEME_B10_TRANSFER;
	n = b10t_why_compare(&a, &b, d, 32);
	ok(n == 1 && !strcmp(d[0].kind, "key") && !strcmp(d[0].name, "key_scheme"),
	   "another scheme: one key difference");
}

int main(void)
{
	b10t_ctx_init(&ctx);
	/* a CPU, whatever this machine has */
	setenv("B10T_CUDART", "/nonexistent/libcudart.so", 1);
	setenv("B10T_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
	test_namespace_rule();
	test_record();
	test_hostile();
	test_compare();
	return tap_done();
}
