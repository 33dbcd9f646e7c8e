/* SPDX-License-Identifier: MIT */
/*
 * The environment key (CONTRACT.md "The environment key"): which facts go
 * in under each scheme, the overrides, the namespace (default scheme only,
 * and only when set, so keys without one are unchanged), and the hash.
 *
 * Both schemes hash JSON text, so the serialisation must match Python's
 * json.dumps byte for byte: sorted keys, its separators, and its
 * ensure_ascii escaping.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/utsname.h>

#include <nettle/sha2.h>

#include "envkey-priv.h"

/*
 * The key's JSON goes straight into the hash as it is written: nothing to
 * allocate, so hashing cannot fail.  It used to malloc a 16 KiB buffer and
 * answer the valid-looking key "none" when that failed, so every process
 * short of memory shared one wrong key.
 */
struct out {
	struct sha256_ctx sha;
};

static void put(struct out *o, const char *s, size_t n)
{
	sha256_update(&o->sha, n, (const uint8_t *)s);
}

static void put_u(struct out *o, unsigned cp)
{
	char e[8];

	snprintf(e, sizeof(e), "\\u%04x", cp);
	put(o, e, 6);
}

/* One UTF-8 sequence at s: its code point and length; U+FFFD, 1 when bad. */
static unsigned utf8_next(const unsigned char *s, size_t *len)
{
	unsigned cp, min;
	size_t n;

	if (s[0] < 0xc2 || s[0] > 0xf4) {
		*len = 1;
		return 0xfffd;
	}
	n = s[0] < 0xe0 ? 2 : s[0] < 0xf0 ? 3 : 4;
	cp = s[0] & (0x7f >> n);
	for (size_t i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80) {
			*len = 1;
			return 0xfffd;
		}
		cp = cp << 6 | (s[i] & 0x3f);
	}
	min = n == 2 ? 0x80 : n == 3 ? 0x800 : 0x10000;
	if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff)) {
		*len = 1;
		return 0xfffd;
	}
	*len = n;
	return cp;
}

/* A JSON string as Python's json.dumps(ensure_ascii=True) writes it. */
static void put_str(struct out *o, const char *str)
{
	const unsigned char *s = (const unsigned char *)str;

	put(o, "\"", 1);
	while (*s) {
		size_t n = 1;
		unsigned cp = *s;

		switch (cp) {
		case '"': put(o, "\\\"", 2); break;
		case '\\': put(o, "\\\\", 2); break;
		case '\n': put(o, "\\n", 2); break;
		case '\r': put(o, "\\r", 2); break;
		case '\t': put(o, "\\t", 2); break;
		case '\b': put(o, "\\b", 2); break;
		case '\f': put(o, "\\f", 2); break;
		default:
			if (cp >= 0x20 && cp < 0x7f) {
				put(o, (const char *)s, 1);
			} else if (cp < 0x80) {
				put_u(o, cp);
			} else {
				cp = utf8_next(s, &n);
				if (cp >= 0x10000) {
					cp -= 0x10000;
					put_u(o, 0xd800 | cp >> 10);
					put_u(o, 0xdc00 | (cp & 0x3ff));
				} else {
					put_u(o, cp);
				}
			}
		}
		s += n;
	}
	put(o, "\"", 1);
}

/*
 * The JSON the key hashes.  default: compact, {"a":"b","c":"d"};
 * b10-transfer: json.dumps(d, sort_keys=True), {"a": "b", "c": "d"}.
 */
static void serialise(const struct b10t_envkey *key, struct out *o)
{
	bool compat = key->scheme == B10T_SCHEME_B10_TRANSFER;

	put(o, "{", 1);
	for (size_t i = 0; i < key->n; i++) {
		if (i)
			put(o, compat ? ", " : ",", compat ? 2 : 1);
		put_str(o, key->comp[i].name);
		put(o, compat ? ": " : ":", compat ? 2 : 1);
		put_str(o, key->comp[i].value);
	}
	put(o, "}", 1);
}

void b10t_envkey_hash(struct b10t_envkey *key)
{
	static const char hex[] = "0123456789abcdef";
	uint8_t digest[SHA256_DIGEST_SIZE];
	struct out o;

	sha256_init(&o.sha);
	serialise(key, &o);
	sha256_digest(&o.sha, sizeof(digest), digest);
	for (size_t i = 0; i < B10T_KEY_LEN / 2; i++) {
		key->key[2 * i] = hex[digest[i] >> 4];
		key->key[2 * i + 1] = hex[digest[i] & 15];
	}
	key->key[B10T_KEY_LEN] = '\0';
}

const char *b10t_envkey_get(const struct b10t_envkey *key, const char *name)
{
	for (size_t i = 0; i < key->n; i++)
		if (!strcmp(key->comp[i].name, name))
			return key->comp[i].value;
	return NULL;
}

static void add(struct b10t_envkey *key, const char *name, const char *value,
		const char *source)
{
	struct b10t_component *c = &key->comp[key->n++];

	c->name = name;
	snprintf(c->value, sizeof(c->value), "%s", value && *value ? value : "none");
	snprintf(c->source, sizeof(c->source), "%s", value && *value ? source : "not found");
}

/* A component forced by the environment, or a found fact. */
static void add_fact(struct b10t_envkey *key, const char *name, const char *env,
		     const char *forced, const struct envkey_fact *f)
{
	char source[64];

	if (forced) {
		snprintf(source, sizeof(source), "override %s", env);
		add(key, name, forced, source);
	} else {
		add(key, name, f ? f->value : NULL, f ? f->source : NULL);
	}
}

static int cmp_comp(const void *a, const void *b)
{
	return strcmp(((const struct b10t_component *)a)->name,
		      ((const struct b10t_component *)b)->name);
}

enum { OV_TORCH, OV_TRITON, OV_CUDA, OV_CC, OV_NAME, OV_N };
static const char *const ov_env[OV_N] = {
	"B10T_TORCH_VERSION", "B10T_TRITON_VERSION", "B10T_CUDA_VERSION",
	"B10T_COMPUTE_CAPABILITY", "B10T_DEVICE_NAME",
};

int b10t_envkey_compute(struct b10t_ctx *ctx, const struct b10t_config *cfg,
			struct b10t_envkey *key)
{
	bool dflt = cfg->key_scheme == B10T_SCHEME_DEFAULT, queried = false, gpu_on;
	const char *ov[OV_N];
	struct envkey_gpu *gpu;
	struct envkey_pyver *py;
	char why[sizeof(gpu->why)];
	double start = b10t_now();
	struct utsname un;

	memset(key, 0, sizeof(*key));
	why[0] = '\0';
	key->scheme = cfg->key_scheme;
	/* The reference's key has no namespace: one there would find nothing. */
	if (cfg->key_namespace[0] && !dflt)
		return b10t_set_error(ctx, EINVAL, "%s: the b10-transfer key scheme has no "
				      "namespace (its keys are b10-transfer's); unset it or use the "
				      "default scheme", cfg->origin[B10T_SET_NAMESPACE] == B10T_ORIGIN_SET
				      ? "--namespace" : "B10T_NAMESPACE");
	for (int i = 0; i < OV_N; i++) {
		ov[i] = getenv(ov_env[i]);
		if (ov[i] && !*ov[i])
			ov[i] = NULL;	/* set but empty: as if unset */
		if (ov[i] && strlen(ov[i]) >= sizeof(key->comp[0].value))
			return b10t_set_error(ctx, EINVAL, "%s: longer than %zu bytes",
					      ov_env[i], sizeof(key->comp[0].value) - 1);
	}
	gpu = calloc(1, sizeof(*gpu));
	py = calloc(1, sizeof(*py));
	if (!gpu || !py) {
		free(gpu);
		free(py);
		return b10t_set_error(ctx, ENOMEM, "computing the environment key: out of memory");
	}

	/* A forced device name means a GPU, and spares asking the runtime. */
	if (ov[OV_NAME]) {
		gpu_on = true;
	} else {
		envkey_gpu_query(ctx, true, gpu);
		queried = true;
		gpu_on = gpu->present;
		snprintf(why, sizeof(why), "%s", gpu->why);
	}

	/* torch's metadata gives torch_version, and on a GPU cuda_version. */
	envkey_pyver_find(ctx, !ov[OV_TORCH] && (dflt || gpu_on), !ov[OV_TRITON] && dflt, py);
	if (gpu_on && !ov[OV_NAME] && !strcmp(py->torch_cuda.value, "none")) {
		/* torch.cuda.is_available() is False for such a build */
		gpu_on = false;
		snprintf(why, sizeof(why), "torch built without CUDA (%.*s)",
			 (int)sizeof(why) - 40, py->torch_cuda.source);
	}

	if (dflt) {
		add_fact(key, "torch_version", ov_env[OV_TORCH], ov[OV_TORCH], &py->torch);
		add_fact(key, "triton_version", ov_env[OV_TRITON], ov[OV_TRITON], &py->triton);
	}
	if (gpu_on) {
		bool torch_cuda = py->torch_cuda.value[0] != '\0';

		if (!queried && ((!ov[OV_CUDA] && !torch_cuda) || (dflt && !ov[OV_CC])))
			envkey_gpu_query(ctx, false, gpu);
		key->gpu = true;
		add_fact(key, "cuda_version", ov_env[OV_CUDA], ov[OV_CUDA],
			 torch_cuda ? &py->torch_cuda : &gpu->runtime);
		if (dflt)
			add_fact(key, "compute_capability", ov_env[OV_CC], ov[OV_CC], &gpu->cc);
		add_fact(key, "device_name", ov_env[OV_NAME], ov[OV_NAME], &gpu->name);
	} else {
		bool u = uname(&un) == 0;

		add(key, "device_type", "cpu", why[0] ? why : "no CUDA device");
		add(key, "cpu_architecture", u ? un.machine : NULL, "uname");
		add(key, "platform_system", u ? un.sysname : NULL, "uname");
	}
	free(gpu);
	free(py);
	/* Only when set: without one the key is byte for byte what it was. */
	if (cfg->key_namespace[0])
		add(key, "namespace", cfg->key_namespace,
		    cfg->origin[B10T_SET_NAMESPACE] == B10T_ORIGIN_SET ? "option --namespace"
		    : "B10T_NAMESPACE");

	qsort(key->comp, key->n, sizeof(key->comp[0]), cmp_comp);
	b10t_envkey_hash(key);
	b10t_debug(ctx, "envkey: %s key %s (%s) in %.1f ms", b10t_scheme_name(key->scheme),
		   key->key, key->gpu ? "GPU" : "CPU", (b10t_now() - start) * 1000);
	return 0;
}
