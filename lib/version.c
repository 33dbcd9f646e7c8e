/* SPDX-License-Identifier: MIT */
/*
 * What b10t runs with, for b10t --version -v (as curl -V shows libcurl's
 * libraries): the linked libraries' versions as they answer at run time,
 * which may be newer than the headers the build saw, and whether the
 * libraries loaded with dlopen can be loaded here now.
 */
#include <archive.h>
#include <cjson/cJSON.h>
#include <dlfcn.h>
#include <lz4.h>
#include <nettle/version.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>
#include <zlib.h>
#include <zstd.h>

#include "envkey-priv.h"
#include "internal.h"

static struct b10t_library *add(struct b10t_library *out, size_t max, size_t *n,
				const char *name, const char *use, bool dl)
{
	struct b10t_library *l;

	if (*n >= max)
		return NULL;
	l = &out[(*n)++];
	memset(l, 0, sizeof(*l));
	l->name = name;
	l->use = use;
	l->dlopen = dl;
	l->found = !dl;
	return l;
}

/* libcurl's own answer, "libcurl/8.5.0 OpenSSL/3.0.11 ...", less the name. */
static void curl_library(struct b10t_library *l)
{
	typedef const char *(*curl_version_fn)(void);
	void *h = dlopen(l->name, RTLD_NOW | RTLD_LOCAL);
	curl_version_fn v;
	Dl_info info;

	if (!h)
		return;
	l->found = true;
	if ((v = (curl_version_fn)dlsym(h, "curl_version"))) {
		const char *s = v();

		if (s && !strncmp(s, "libcurl/", 8))
			s += 8;
		snprintf(l->version, sizeof(l->version), "%s", s ? s : "");
		if (dladdr((void *)v, &info) && info.dli_fname)
			snprintf(l->path, sizeof(l->path), "%s", info.dli_fname);
	}
	/* Never dlclosed, as the CUDA runtime in gpu.c: curl_version() starts
	 * OpenSSL and friends, whose buffers and exit handlers outlive it. */
}

size_t b10t_libraries(struct b10t_library *out, size_t max, bool probe)
{
	struct b10t_library *l, *rt, *drv;
	const char *s;
	size_t n = 0;
	unsigned x;

	if ((l = add(out, max, &n, "libarchive", "tar reading and writing", false))) {
		s = archive_version_details();
		if (!strncmp(s, "libarchive ", 11))
			s += 11;
		snprintf(l->version, sizeof(l->version), "%s", s);
	}
	if ((l = add(out, max, &n, "liblz4", "lz4 blocks", false)))
		snprintf(l->version, sizeof(l->version), "%s", LZ4_versionString());
	if ((l = add(out, max, &n, "libxxhash", "lz4 frame checksums", false))) {
		x = XXH_versionNumber();
		snprintf(l->version, sizeof(l->version), "%u.%u.%u", x / 10000, x / 100 % 100,
			 x % 100);
	}
	if ((l = add(out, max, &n, "libzstd", ".tar.zst archives", false)))
		snprintf(l->version, sizeof(l->version), "%s", ZSTD_versionString());
	if ((l = add(out, max, &n, "zlib", ".tar.gz archives", false)))
		snprintf(l->version, sizeof(l->version), "%s", zlibVersion());
	if ((l = add(out, max, &n, "libcjson", "manifests and --json", false)))
		snprintf(l->version, sizeof(l->version), "%s", cJSON_Version());
	if ((l = add(out, max, &n, "nettle", "the key's SHA-256", false)))
		snprintf(l->version, sizeof(l->version), "%d.%d", nettle_version_major(),
			 nettle_version_minor());
	if ((l = add(out, max, &n, "libcurl.so.4", "b10t vllm's readiness probe", true)) && probe)
		curl_library(l);
	rt = add(out, max, &n, "libcudart.so", "the key's GPU facts: the CUDA runtime", true);
	drv = add(out, max, &n, "libcuda.so.1", "the key's GPU facts: the CUDA driver", true);
	if (rt && drv && probe)
		envkey_cuda_libraries(rt, drv);
	return n;
}
