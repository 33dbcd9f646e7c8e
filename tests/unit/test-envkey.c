/* SPDX-License-Identifier: MIT */
/*
 * Unit tests of the environment key: the hash of both schemes against
 * known vectors, and b10t_envkey_compute against a fake CUDA runtime
 * (FAKE_CUDART, built from tests/fake-cudart.c) and fake site-packages.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

#include "b10t-int.h"
#include "../tap.h"

static struct b10t_ctx ctx;
static struct b10t_config cfg;
static char tmp[PATH_MAX / 2];
static const char *fake;

static void fill(struct b10t_envkey *k, enum b10t_key_scheme scheme, const char *const *kv)
{
	memset(k, 0, sizeof(*k));
	k->scheme = scheme;
	for (; kv[0]; kv += 2, k->n++) {
		k->comp[k->n].name = kv[0];
		snprintf(k->comp[k->n].value, sizeof(k->comp[k->n].value), "%s", kv[1]);
	}
	b10t_envkey_hash(k);
}

static void test_hash_vectors(void)
{
	static const char *const gpu[] = { "cuda_version", "12.4",
		"device_name", "NVIDIA H100 80GB HBM3", NULL };
	static const char *const cpu[] = { "cpu_architecture", "x86_64",
		"device_type", "cpu", "platform_system", "Linux", NULL };
	/* Expected values: Python's json.dumps(sort_keys=True, separators=(",", ":")) + sha256 */
	static const char *const dgpu[] = { "compute_capability", "9.0",
		"cuda_version", "12.1", "device_name", "NVIDIA H100 80GB HBM3",
		"torch_version", "2.4.0+cu121", "triton_version", "3.0.0", NULL };
	static const char *const dcpu[] = { "cpu_architecture", "x86_64",
		"device_type", "cpu", "platform_system", "Linux",
		"torch_version", "2.4.0", "triton_version", "3.0.0", NULL };
	static const char *const escapes[] = { "compute_capability", "8.0",
		"cuda_version", "12.4",
		"device_name", "T\xc3\xa9sla \"Q\"\\\t\n\x01\x7f\xe2\x82\xac\xf0\x9f\x98\x80",
		"torch_version", "2.4.0", "triton_version", "3.0.0", NULL };
	struct b10t_envkey k;

	fill(&k, B10T_SCHEME_B10_TRANSFER, gpu);
	is_str(k.key, "5fa34e7ede0685bf", "b10-transfer GPU vector");
	fill(&k, B10T_SCHEME_B10_TRANSFER, cpu);
	is_str(k.key, "436c59e667a63097", "b10-transfer CPU vector");
	fill(&k, B10T_SCHEME_DEFAULT, dgpu);
	is_str(k.key, "6d0a47f1edecb830", "default GPU key matches Python's compact JSON");
	fill(&k, B10T_SCHEME_DEFAULT, dcpu);
	is_str(k.key, "7842542fab8be203", "default CPU key matches Python's compact JSON");
	fill(&k, B10T_SCHEME_DEFAULT, escapes);
	is_str(k.key, "e51f77036db049ab", "non-ASCII, quotes and control bytes escaped like ensure_ascii");
	is_str(b10t_envkey_get(&k, "cuda_version"), "12.4", "get finds a component");
	ok(b10t_envkey_get(&k, "device_type") == NULL, "get of a missing component is NULL");
}

/*
 * Allocation failure on demand.  libb10t is linked in statically, so these
 * stand in for libc's malloc and calloc in the whole test program; glibc's
 * own entry points do the real work.  Not under a sanitizer, which brings
 * its own allocator.
 */
#if defined(__SANITIZE_ADDRESS__)
#define NO_ALLOC_SHIM 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer) || __has_feature(memory_sanitizer)
#define NO_ALLOC_SHIM 1
#endif
#endif
#ifndef NO_ALLOC_SHIM
extern void *__libc_malloc(size_t n);
extern void *__libc_calloc(size_t n, size_t size);
static int fail_alloc;

void *malloc(size_t n)
{
	if (fail_alloc) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_malloc(n);
}

void *calloc(size_t n, size_t size)
{
	if (fail_alloc) {
		errno = ENOMEM;
		return NULL;
	}
	return __libc_calloc(n, size);
}
#endif

/* Out of memory never gives a key: the hash allocates nothing, compute fails. */
static void test_out_of_memory(void)
{
	static const char *const names[] = { "c0", "c1", "c2", "c3", "c4", "c5", "c6", "c7" };
	struct b10t_envkey k, want;
	int r;

	/* The longest input the key can have: 8 components of 255 control
	 * bytes, each written as \u0001 (12,305 bytes of JSON); Python's
	 * json.dumps(sort_keys=True, separators=(",", ":")) + sha256. */
	memset(&k, 0, sizeof(k));
	for (size_t i = 0; i < 8; i++) {
		k.comp[i].name = names[i];
		memset(k.comp[i].value, 1, 255);
	}
	k.n = 8;
	b10t_envkey_hash(&k);
	is_str(k.key, "c04c155ccf5628e3", "the longest key input hashes whole, as Python's");
#ifdef NO_ALLOC_SHIM
	printf("ok %d # SKIP no allocation shim under a sanitizer\n", ++tap_n);
	printf("ok %d # SKIP no allocation shim under a sanitizer\n", ++tap_n);
	(void)want;
	(void)r;
#else
	want = k;
	memset(k.key, 0, sizeof(k.key));
	fail_alloc = 1;
	b10t_envkey_hash(&k);
	fail_alloc = 0;
	is_str(k.key, want.key, "with every allocation failing, the hash is still the key (not \"none\")");

	fail_alloc = 1;
	r = b10t_envkey_compute(&ctx, &cfg, &k);
	fail_alloc = 0;
	is_int(r, -ENOMEM, "with every allocation failing, compute fails with ENOMEM");
#endif
}

static void clear_env(void)
{
	static const char *const vars[] = { "B10T_TORCH_VERSION", "B10T_TRITON_VERSION",
		"B10T_CUDA_VERSION", "B10T_COMPUTE_CAPABILITY", "B10T_DEVICE_NAME",
		"B10T_CUDART", "B10T_CUDA_DRIVER", "FAKE_CUDA_ERROR", "FAKE_CUDA_COUNT",
		"FAKE_CUDA_RUNTIME_VERSION", "FAKE_CUDA_CC", "FAKE_CUDA_NAME", "FAKE_CU_NAME",
		"FAKE_CU_ERROR", "FAKE_CU_COUNT",
		"PYTHONPATH", "VIRTUAL_ENV", "CONDA_PREFIX", "PYENV_VERSION", "PYENV_ROOT", NULL };
	char buf[PATH_MAX];

	for (size_t i = 0; vars[i]; i++)
		unsetenv(vars[i]);
	/* No Python of this machine: an empty root, home and PATH */
	snprintf(buf, sizeof(buf), "%s/root", tmp);
	setenv("B10T_PYTHON_ROOT", buf, 1);
	snprintf(buf, sizeof(buf), "%s/home", tmp);
	setenv("HOME", buf, 1);
	snprintf(buf, sizeof(buf), "%s/bin", tmp);
	setenv("PATH", buf, 1);
	setenv("B10T_CUDA_DRIVER", "/nonexistent/libcuda.so.1", 1);
}

static const char *source(const struct b10t_envkey *k, const char *name)
{
	for (size_t i = 0; i < k->n; i++)
		if (!strcmp(k->comp[i].name, name))
			return k->comp[i].source;
	return NULL;
}

static bool sorted(const struct b10t_envkey *k)
{
	for (size_t i = 1; i < k->n; i++)
		if (strcmp(k->comp[i - 1].name, k->comp[i].name) >= 0)
			return false;
	return true;
}

static void compute(struct b10t_envkey *k, enum b10t_key_scheme scheme)
{
	cfg.key_scheme = scheme;
	if (b10t_envkey_compute(&ctx, &cfg, k) < 0)
		printf("# compute: %s\n", b10t_ctx_error(&ctx));
}

static void test_gpu(void)
{
	struct b10t_envkey k, again;

	clear_env();
	setenv("B10T_CUDART", fake, 1);
	setenv("FAKE_CUDA_CC", "8.6", 1);
	setenv("FAKE_CUDA_NAME", "NVIDIA A10G", 1);
	setenv("FAKE_CUDA_RUNTIME_VERSION", "12020", 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	ok(k.gpu, "fake GPU: GPU key");
	is_int(k.n, 5, "fake GPU: five components");
	ok(sorted(&k), "components sorted by name");
	is_str(b10t_envkey_get(&k, "compute_capability"), "8.6", "compute capability from the runtime");
	is_str(b10t_envkey_get(&k, "cuda_version"), "12.2", "no torch: cuda_version is the runtime's (12020)");
	is_str(b10t_envkey_get(&k, "device_name"), "NVIDIA A10G", "name from cudaGetDeviceProperties");
	is_str(b10t_envkey_get(&k, "torch_version"), "none", "no torch: none");
	is_str(b10t_envkey_get(&k, "triton_version"), "none", "no triton: none");
	is_str(source(&k, "torch_version"), "not found", "source of a missing version");
	is_str(source(&k, "device_name"), fake, "source of the name: the library");
	is_str(source(&k, "compute_capability"), fake, "source of the cc: the library");
	ok(b10t_envkey_get(&k, "device_type") == NULL, "GPU key has no device_type");
	compute(&again, B10T_SCHEME_DEFAULT);
	is_str(again.key, k.key, "the key is stable");

	setenv("B10T_CUDA_DRIVER", fake, 1);
	setenv("FAKE_CU_NAME", "NVIDIA A10G (driver)", 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	is_str(b10t_envkey_get(&k, "device_name"), "NVIDIA A10G (driver)", "driver API name first");
	setenv("FAKE_CU_NAME", "", 1);	/* cuInit succeeds, empty name */
	unsetenv("FAKE_CU_NAME");
	compute(&k, B10T_SCHEME_B10_TRANSFER);
	is_int(k.n, 2, "b10-transfer GPU: two components");
	is_str(b10t_envkey_get(&k, "device_name"), "NVIDIA A10G", "driver fails: runtime name");
	ok(b10t_envkey_get(&k, "compute_capability") == NULL, "b10-transfer has no compute capability");

	setenv("FAKE_CUDA_NAME", "NVIDIA H100 80GB HBM3", 1);
	setenv("FAKE_CUDA_RUNTIME_VERSION", "12040", 1);
	compute(&k, B10T_SCHEME_B10_TRANSFER);
	is_str(k.key, "5fa34e7ede0685bf", "b10-transfer key from the fake H100 is the reference's");
}

static void test_cpu_fallbacks(void)
{
	static const struct { const char *err, *count, *what; } cases[] = {
		{ "34", NULL, "stub driver (34)" },
		{ "35", NULL, "insufficient driver (35)" },
		{ "100", NULL, "no device (100)" },
		{ NULL, "0", "zero devices" },
		{ "999", NULL, "any other error" },
	};
	struct b10t_envkey k;
	struct utsname un;
	char path[PATH_MAX];

	uname(&un);
	clear_env();
	snprintf(path, sizeof(path), "%s/no-such-libcudart.so", tmp);
	setenv("B10T_CUDART", path, 1);
	is_int(b10t_envkey_compute(&ctx, &cfg, &k), 0, "no library: not an error");
	ok(!k.gpu, "no library: CPU key");
	is_str(b10t_envkey_get(&k, "device_type"), "cpu", "no library: device_type cpu");
	is_str(b10t_envkey_get(&k, "cpu_architecture"), un.machine, "cpu_architecture is uname machine");
	is_str(b10t_envkey_get(&k, "platform_system"), un.sysname, "platform_system is uname sysname");
	ok(strstr(source(&k, "device_type"), "no CUDA runtime"), "no library: the reason is the source");
	ok(sorted(&k), "CPU components sorted");

	setenv("B10T_CUDART", fake, 1);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char name[128];

		cases[i].err ? setenv("FAKE_CUDA_ERROR", cases[i].err, 1) : unsetenv("FAKE_CUDA_ERROR");
		cases[i].count ? setenv("FAKE_CUDA_COUNT", cases[i].count, 1) : unsetenv("FAKE_CUDA_COUNT");
		snprintf(name, sizeof(name), "%s: CPU key, not an error", cases[i].what);
		ok(b10t_envkey_compute(&ctx, &cfg, &k) == 0 && !k.gpu &&
		   !strcmp(b10t_envkey_get(&k, "device_type"), "cpu"), "%s", name);
	}
	unsetenv("FAKE_CUDA_COUNT");
	setenv("FAKE_CUDA_ERROR", "34", 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	ok(strstr(source(&k, "device_type"), "error 34"), "stub driver named in the source");
	compute(&k, B10T_SCHEME_B10_TRANSFER);
	is_int(k.n, 3, "b10-transfer CPU: three components");
	unsetenv("FAKE_CUDA_ERROR");
}

/* No usable runtime: the driver API alone finds the device. */
static void test_driver_fallback(void)
{
	struct b10t_envkey k;
	char path[PATH_MAX];

	clear_env();
	snprintf(path, sizeof(path), "%s/no-such-libcudart.so", tmp);
	setenv("B10T_CUDART", path, 1);
	setenv("B10T_CUDA_DRIVER", fake, 1);
	setenv("FAKE_CU_NAME", "NVIDIA L4", 1);
	setenv("FAKE_CUDA_CC", "8.9", 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	ok(k.gpu, "no runtime, a driver with a device: GPU key");
	is_str(b10t_envkey_get(&k, "device_name"), "NVIDIA L4", "name from the driver");
	is_str(b10t_envkey_get(&k, "compute_capability"), "8.9", "cc from the driver");
	is_str(source(&k, "compute_capability"), fake, "its source is the driver library");
	is_str(b10t_envkey_get(&k, "cuda_version"), "none", "no runtime, no torch: cuda_version none");

	setenv("B10T_CUDART", fake, 1);
	setenv("FAKE_CUDA_ERROR", "35", 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	ok(k.gpu, "runtime too new for the driver (35), driver has a device: GPU key");
	is_str(b10t_envkey_get(&k, "cuda_version"), "12.4", "the runtime's version still counts");

	setenv("FAKE_CU_ERROR", "34", 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	ok(!k.gpu, "stub driver too: CPU key");
	ok(strstr(source(&k, "device_type"), "cuInit: error 34"), "both reasons in the source");
	unsetenv("FAKE_CU_ERROR");
	setenv("FAKE_CU_COUNT", "0", 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	ok(!k.gpu, "driver with zero devices: CPU key");
	unsetenv("FAKE_CU_COUNT");
	unsetenv("FAKE_CUDA_ERROR");
	unsetenv("FAKE_CU_NAME");
}

static void test_overrides(void)
{
	struct b10t_envkey k;

	clear_env();
	setenv("B10T_CUDART", fake, 1);
	setenv("B10T_TORCH_VERSION", "2.5.1", 1);
	setenv("B10T_TRITON_VERSION", "3.1.0", 1);
	setenv("B10T_CUDA_VERSION", "12.6", 1);
	setenv("B10T_COMPUTE_CAPABILITY", "9.0", 1);
	setenv("B10T_DEVICE_NAME", "NVIDIA H200", 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	is_str(b10t_envkey_get(&k, "torch_version"), "2.5.1", "B10T_TORCH_VERSION");
	is_str(source(&k, "torch_version"), "override B10T_TORCH_VERSION", "its source");
	is_str(b10t_envkey_get(&k, "triton_version"), "3.1.0", "B10T_TRITON_VERSION");
	is_str(source(&k, "triton_version"), "override B10T_TRITON_VERSION", "its source");
	is_str(b10t_envkey_get(&k, "cuda_version"), "12.6", "B10T_CUDA_VERSION");
	is_str(source(&k, "cuda_version"), "override B10T_CUDA_VERSION", "its source");
	is_str(b10t_envkey_get(&k, "compute_capability"), "9.0", "B10T_COMPUTE_CAPABILITY");
	is_str(source(&k, "compute_capability"), "override B10T_COMPUTE_CAPABILITY", "its source");
	is_str(b10t_envkey_get(&k, "device_name"), "NVIDIA H200", "B10T_DEVICE_NAME");
	is_str(source(&k, "device_name"), "override B10T_DEVICE_NAME", "its source");

	/* A forced name makes a GPU key even when there is no GPU */
	setenv("FAKE_CUDA_ERROR", "100", 1);
	unsetenv("B10T_COMPUTE_CAPABILITY");
	compute(&k, B10T_SCHEME_DEFAULT);
	ok(k.gpu, "B10T_DEVICE_NAME forces the GPU key");
	is_str(b10t_envkey_get(&k, "compute_capability"), "none", "no device: compute capability none");
	unsetenv("FAKE_CUDA_ERROR");
	setenv("FAKE_CUDA_CC", "7.5", 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	is_str(b10t_envkey_get(&k, "compute_capability"), "7.5", "only the name forced: cc from the runtime");
	unsetenv("B10T_CUDA_VERSION");
	compute(&k, B10T_SCHEME_DEFAULT);
	is_str(b10t_envkey_get(&k, "cuda_version"), "12.4", "torch forced: cuda from the runtime");

	setenv("B10T_DEVICE_NAME", "", 1);
	setenv("B10T_CUDART", "/nonexistent/libcudart.so", 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	ok(!k.gpu, "an empty B10T_DEVICE_NAME is as if unset");

	{
		char big[400];

		memset(big, 'x', sizeof(big) - 1);
		big[sizeof(big) - 1] = '\0';
		setenv("B10T_DEVICE_NAME", big, 1);
		is_int(b10t_envkey_compute(&ctx, &cfg, &k), -EINVAL, "an override over 255 bytes is refused");
		ok(strstr(b10t_ctx_error(&ctx), "B10T_DEVICE_NAME"), "the message names the variable");
		unsetenv("B10T_DEVICE_NAME");
	}
}

static void write_file(const char *path, const char *text)
{
	char dir[PATH_MAX], *p;
	FILE *f;

	snprintf(dir, sizeof(dir), "%s", path);
	for (p = dir + 1; (p = strchr(p, '/')); p++) {
		*p = '\0';
		mkdir(dir, 0755);
		*p = '/';
	}
	f = fopen(path, "w");
	if (f) {
		fputs(text, f);
		fclose(f);
	}
}

static void test_metadata(void)
{
	struct b10t_envkey k;
	char a[PATH_MAX], b[PATH_MAX], p[PATH_MAX + 64], pp[2 * PATH_MAX + 2];

	clear_env();
	setenv("B10T_CUDART", fake, 1);
	snprintf(a, sizeof(a), "%s/a", tmp);
	snprintf(b, sizeof(b), "%s/b", tmp);
	snprintf(p, sizeof(p), "%s/torch/version.py", a);
	write_file(p, "from typing import Optional\n\n__all__ = ['__version__', 'debug', 'cuda']\n"
		   "__version__ = '2.4.0+cu121'\ndebug = False\ncuda: Optional[str] = '12.1'\n"
		   "git_version = 'e4ee3be4063b7c430974252fdf7db42273388d86'\nhip: Optional[str] = None\n");
	snprintf(p, sizeof(p), "%s/triton-3.0.0.dist-info/METADATA", a);
	write_file(p, "Metadata-Version: 2.1\nName: triton\nVersion: 3.0.0\n\nVersion: 9.9.9 (body)\n");
	snprintf(p, sizeof(p), "%s/torch-2.0.0.dist-info/METADATA", b);
	write_file(p, "Metadata-Version: 2.1\nName: torch\nVersion: 2.0.0\n");
	snprintf(pp, sizeof(pp), "%s:%s", a, b);
	setenv("PYTHONPATH", pp, 1);

	compute(&k, B10T_SCHEME_DEFAULT);
	is_str(b10t_envkey_get(&k, "torch_version"), "2.4.0+cu121", "torch from version.py");
	snprintf(p, sizeof(p), "%s/torch/version.py", a);
	is_str(source(&k, "torch_version"), p, "its source is version.py");
	is_str(b10t_envkey_get(&k, "cuda_version"), "12.1", "cuda_version is torch.version.cuda, not the runtime's");
	is_str(source(&k, "cuda_version"), p, "cuda_version's source is version.py");
	is_str(b10t_envkey_get(&k, "triton_version"), "3.0.0", "triton from dist-info METADATA headers");

	snprintf(pp, sizeof(pp), "%s:%s", b, a);
	setenv("PYTHONPATH", pp, 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	is_str(b10t_envkey_get(&k, "torch_version"), "2.0.0", "the first PYTHONPATH entry wins");
	is_str(b10t_envkey_get(&k, "cuda_version"), "12.4", "torch without version.py: runtime's cuda");

	snprintf(p, sizeof(p), "%s/torch/version.py", a);
	write_file(p, "__version__ = \"2.4.0\"\ncuda = None\n");
	setenv("PYTHONPATH", a, 1);
	compute(&k, B10T_SCHEME_DEFAULT);
	ok(!k.gpu, "a torch built without CUDA gives the CPU key on a GPU machine");
	ok(strstr(source(&k, "device_type"), "without CUDA"), "and says why");
	compute(&k, B10T_SCHEME_B10_TRANSFER);
	ok(!k.gpu, "so does the b10-transfer scheme (torch.cuda.is_available() is False)");
}

int main(void)
{
	b10t_ctx_init(&ctx);
	fake = getenv("FAKE_CUDART");
	tap_tmpdir(tmp, sizeof(tmp), "envkey");
	b10t_config_init(&ctx, &cfg);
	test_hash_vectors();
	test_out_of_memory();
	if (fake && !access(fake, R_OK)) {
		test_gpu();
		test_cpu_fallbacks();
		test_driver_fallback();
		test_overrides();
		test_metadata();
	} else {
		ok(0, "FAKE_CUDART points at the fake libcudart.so (run through meson test)");
	}
	tap_rmdir(tmp);
	return tap_done();
}
