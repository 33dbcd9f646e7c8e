/* SPDX-License-Identifier: MIT */
/*
 * The GPU facts of the environment key, from the CUDA runtime loaded with
 * dlopen: one binary for GPU and CPU-only machines, and a build that needs
 * no CUDA.  Only the few ABI-stable entry points below are used, declared
 * here by hand.
 */
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "envkey-priv.h"

/* cudaError_t values that mean "this machine has no usable GPU". */
enum {
	CUDA_ERROR_STUB_LIBRARY = 34,
	CUDA_ERROR_INSUFFICIENT_DRIVER = 35,
	CUDA_ERROR_NO_DEVICE = 100,
};

/* cudaDeviceAttr values: stable since CUDA 5. */
enum { ATTR_CC_MAJOR = 75, ATTR_CC_MINOR = 76 };

typedef int (*cuda_count_fn)(int *count);
typedef int (*cuda_version_fn)(int *version);
typedef int (*cuda_attr_fn)(int *value, int attr, int device);
typedef int (*cuda_props_fn)(void *prop, int device);
typedef int (*cu_init_fn)(unsigned flags);
typedef int (*cu_device_get_fn)(int *device, int ordinal);
typedef int (*cu_device_name_fn)(char *name, int len, int device);
typedef int (*cu_count_fn)(int *count);
typedef int (*cu_attr_fn)(int *value, int attr, int device);

/* Tried in order when B10T_CUDART is not set. */
static const char *const cudart_sonames[] = {
	"libcudart.so", "libcudart.so.13", "libcudart.so.12", "libcudart.so.11.0",
};

static void *sym(void *h, const char *name)
{
	void *p;

	dlerror();
	p = dlsym(h, name);
	return dlerror() ? NULL : p;
}

/* The file a loaded symbol lives in, for the sources; `fallback` if unknown. */
static void lib_path(void *fn, const char *fallback, char *buf, size_t size)
{
	Dl_info info;

	if (fn && dladdr(fn, &info) && info.dli_fname && info.dli_fname[0])
		snprintf(buf, size, "%s", info.dli_fname);
	else
		snprintf(buf, size, "%s", fallback);
}

static void *open_cudart(struct b10t_ctx *ctx, struct envkey_gpu *gpu)
{
	const char *path = getenv("B10T_CUDART");
	void *h;

	if (path && *path) {
		h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
		if (!h)
			snprintf(gpu->why, sizeof(gpu->why),
				 "no CUDA runtime (B10T_CUDART=%s: %s)", path, dlerror());
		return h;
	}
	for (size_t i = 0; i < sizeof(cudart_sonames) / sizeof(cudart_sonames[0]); i++) {
		h = dlopen(cudart_sonames[i], RTLD_NOW | RTLD_LOCAL);
		if (h)
			return h;
		b10t_debug(ctx, "envkey: dlopen %s: %s", cudart_sonames[i], dlerror());
	}
	snprintf(gpu->why, sizeof(gpu->why), "no CUDA runtime (libcudart.so not found)");
	return NULL;
}

/* The driver API (libcuda.so.1), loaded once it is needed. */
struct driver {
	void *h;
	char path[PATH_MAX];		/* the library, for the sources */
	cu_init_fn init;
	cu_count_fn count;
	cu_device_get_fn get;
	cu_attr_fn attr;
	cu_device_name_fn name;
	int dev;			/* device 0 after a successful open */
};

/*
 * Load the driver API and initialise it; 0, or the CUresult (or -1 when
 * the library is missing) with the reason in `why`.  The library stays
 * loaded: the driver keeps state and exit handlers.
 */
static int driver_open(struct b10t_ctx *ctx, struct driver *d, char *why, size_t size)
{
	const char *path = getenv("B10T_CUDA_DRIVER");
	int r;

	if (!path || !*path)
		path = "libcuda.so.1";
	d->h = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!d->h) {
		snprintf(why, size, "%s: %s", path, dlerror());
		b10t_debug(ctx, "envkey: driver API: %s", why);
		return -1;
	}
	d->init = (cu_init_fn)sym(d->h, "cuInit");
	d->count = (cu_count_fn)sym(d->h, "cuDeviceGetCount");
	d->get = (cu_device_get_fn)sym(d->h, "cuDeviceGet");
	d->attr = (cu_attr_fn)sym(d->h, "cuDeviceGetAttribute");
	d->name = (cu_device_name_fn)sym(d->h, "cuDeviceGetName");
	lib_path((void *)d->init, path, d->path, sizeof(d->path));
	if (!d->init || !d->get || !d->name) {
		snprintf(why, size, "%.3900s: not a CUDA driver", d->path);
		return -1;
	}
	if ((r = d->init(0)) || (r = d->get(&d->dev, 0))) {
		snprintf(why, size, "%.3900s: cuInit: error %d", d->path, r);
		b10t_debug(ctx, "envkey: driver API: %s", why);
		return r;
	}
	return 0;
}

/* The name of device 0 from an open driver; false when it cannot say. */
static bool driver_name(struct driver *d, struct envkey_gpu *gpu)
{
	char name[256] = "";

	if (d->name(name, (int)sizeof(name) - 1, d->dev) || !name[0])
		return false;
	name[sizeof(name) - 1] = '\0';
	envkey_fact_set(&gpu->name, name, d->path);
	return true;
}

/*
 * No runtime, or one that cannot work here (a toolkit's newer libcudart
 * next to an older driver, while torch brings its own): the driver alone
 * says whether there is a device.
 */
static void query_driver(struct b10t_ctx *ctx, bool want_name, struct envkey_gpu *gpu)
{
	struct driver d = { 0 };
	char why[PATH_MAX + 64];
	size_t len = strlen(gpu->why);
	int count = 0, major, minor, r;

	r = driver_open(ctx, &d, why, sizeof(why));
	if (!r && d.count && (r = d.count(&count)) == 0 && count <= 0)
		snprintf(why, sizeof(why), "%.3900s: no CUDA device", d.path);
	else if (!r && !d.count)
		snprintf(why, sizeof(why), "%.3900s: no cuDeviceGetCount", d.path);
	if (r || !d.count || count <= 0) {
		snprintf(gpu->why + len, sizeof(gpu->why) - len, "; driver API: %s", why);
		return;
	}
	gpu->present = true;
	gpu->why[0] = '\0';
	if (d.attr && !d.attr(&major, ATTR_CC_MAJOR, d.dev) && !d.attr(&minor, ATTR_CC_MINOR, d.dev)) {
		snprintf(why, sizeof(why), "%d.%d", major, minor);
		envkey_fact_set(&gpu->cc, why, d.path);
	}
	if (want_name)
		driver_name(&d, gpu);
	b10t_debug(ctx, "envkey: %d CUDA device(s) through the driver API %s", count, d.path);
}

/* The device name from cudaGetDeviceProperties: the struct starts with it. */
static void name_from_runtime(void *h, struct envkey_gpu *gpu)
{
	/* Far larger than any cudaDeviceProp so far (about 1 KiB). */
	union prop {
		char name[256];
		long double align;
		unsigned char raw[16384];
	} *prop = calloc(1, sizeof(*prop));
	cuda_props_fn props = (cuda_props_fn)sym(h, "cudaGetDeviceProperties_v2");

	if (!props)
		props = (cuda_props_fn)sym(h, "cudaGetDeviceProperties");
	if (prop && props && !props(prop, 0) && prop->name[0]) {
		prop->name[sizeof(prop->name) - 1] = '\0';
		envkey_fact_set(&gpu->name, prop->name, gpu->lib);
	}
	free(prop);
}

void envkey_gpu_query(struct b10t_ctx *ctx, bool want_name, struct envkey_gpu *gpu)
{
	cuda_count_fn count_fn;
	cuda_version_fn version_fn;
	cuda_attr_fn attr_fn;
	int count = 0, v, major, minor, r;
	char buf[64];
	void *h;

	memset(gpu, 0, sizeof(*gpu));
	h = open_cudart(ctx, gpu);
	if (!h) {
		query_driver(ctx, want_name, gpu);
		return;
	}
	count_fn = (cuda_count_fn)sym(h, "cudaGetDeviceCount");
	version_fn = (cuda_version_fn)sym(h, "cudaRuntimeGetVersion");
	attr_fn = (cuda_attr_fn)sym(h, "cudaDeviceGetAttribute");
	/* set but empty is unset, as for every variable */
	lib_path((void *)count_fn, getenv("B10T_CUDART") && *getenv("B10T_CUDART") ?
		 getenv("B10T_CUDART") : "libcudart.so", gpu->lib, sizeof(gpu->lib));
	if (!count_fn) {
		snprintf(gpu->why, sizeof(gpu->why), "no CUDA runtime (%.3900s has no cudaGetDeviceCount)",
			 gpu->lib);
		dlclose(h);
		query_driver(ctx, want_name, gpu);
		return;
	}
	/* Never dlclose from here on: the runtime registers exit handlers. */
	if (version_fn && !version_fn(&v) && v > 0) {
		snprintf(buf, sizeof(buf), "%d.%d", v / 1000, v % 1000 / 10);
		envkey_fact_set(&gpu->runtime, buf, gpu->lib);
	}
	r = count_fn(&count);
	if (r || count <= 0) {
		const char *what = r == CUDA_ERROR_STUB_LIBRARY ? "stub driver" :
			r == CUDA_ERROR_INSUFFICIENT_DRIVER ? "driver too old or missing" :
			r == CUDA_ERROR_NO_DEVICE || !r ? "no CUDA device" : "CUDA error";

		snprintf(gpu->why, sizeof(gpu->why), "%s (%.3900s: cudaGetDeviceCount: error %d, %d devices)",
			 what, gpu->lib, r, r ? 0 : count);
		query_driver(ctx, want_name, gpu);
		return;
	}
	gpu->present = true;
	if (attr_fn && !attr_fn(&major, ATTR_CC_MAJOR, 0) && !attr_fn(&minor, ATTR_CC_MINOR, 0)) {
		snprintf(buf, sizeof(buf), "%d.%d", major, minor);
		envkey_fact_set(&gpu->cc, buf, gpu->lib);
	}
	if (want_name) {
		struct driver d = { 0 };
		char why[PATH_MAX + 64];

		if (driver_open(ctx, &d, why, sizeof(why)) || !driver_name(&d, gpu))
			name_from_runtime(h, gpu);
	}
	b10t_debug(ctx, "envkey: %d CUDA device(s) through %s", count, gpu->lib);
}

/* cudaRuntimeGetVersion and cuDriverGetVersion: 12040 is "12.4". */
static void cuda_version(void *h, const char *fn, char *buf, size_t size)
{
	cuda_version_fn get = (cuda_version_fn)sym(h, fn);
	int v = 0;

	if (get && !get(&v) && v > 0)
		snprintf(buf, size, "%d.%d", v / 1000, v % 1000 / 10);
}

void envkey_cuda_libraries(struct b10t_library *runtime, struct b10t_library *driver)
{
	struct envkey_gpu *gpu = calloc(1, sizeof(*gpu));
	struct b10t_ctx quiet;
	const char *path = getenv("B10T_CUDA_DRIVER"), *rt = getenv("B10T_CUDART");
	void *h;

	if (!rt || !*rt)
		rt = "libcudart.so";	/* B10T_CUDART= is unset, as open_cudart reads it */
	b10t_ctx_init(&quiet);
	/* Never dlclosed: the runtime and the driver register exit handlers. */
	if (gpu && (h = open_cudart(&quiet, gpu))) {
		runtime->found = true;
		lib_path(sym(h, "cudaRuntimeGetVersion"), rt, runtime->path, sizeof(runtime->path));
		cuda_version(h, "cudaRuntimeGetVersion", runtime->version, sizeof(runtime->version));
	}
	free(gpu);
	if (!path || !*path)
		path = "libcuda.so.1";
	if ((h = dlopen(path, RTLD_NOW | RTLD_LOCAL))) {
		driver->found = true;
		lib_path(sym(h, "cuDriverGetVersion"), path, driver->path, sizeof(driver->path));
		cuda_version(h, "cuDriverGetVersion", driver->version, sizeof(driver->version));
	}
}
