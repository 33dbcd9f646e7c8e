/* SPDX-License-Identifier: MIT */
/*
 * A fake CUDA runtime (and driver API) for the tests: the GPU it reports
 * comes from environment variables.
 *
 *   FAKE_CUDA_ERROR            cudaGetDeviceCount returns this (e.g. 34, 35, 100)
 *   FAKE_CUDA_COUNT            device count (default 1)
 *   FAKE_CUDA_RUNTIME_VERSION  cudaRuntimeGetVersion (default 12040)
 *   FAKE_CUDA_DRIVER_VERSION   cuDriverGetVersion, cudaDriverGetVersion (default 12080)
 *   FAKE_CUDA_CC               compute capability "MAJOR.MINOR" (default 9.0)
 *   FAKE_CUDA_NAME             name from cudaGetDeviceProperties
 *   FAKE_CU_NAME               name from cuDeviceGetName; unset: cuInit fails (100)
 *   FAKE_CU_ERROR              cuInit returns this instead
 *   FAKE_CU_COUNT              cuDeviceGetCount (default 1)
 *   FAKE_CUDA_LOG              a file that gets one line per load and per call
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Exported by hand, like the real libraries; -Wmissing-prototypes wants these. */
int cudaGetDeviceCount(int *count);
int cudaRuntimeGetVersion(int *version);
int cudaDeviceGetAttribute(int *value, int attr, int device);
int cudaGetDeviceProperties(void *prop, int device);
int cudaGetDeviceProperties_v2(void *prop, int device);
int cuInit(unsigned flags);
int cuDeviceGet(int *device, int ordinal);
int cuDeviceGetName(char *name, int len, int device);
int cuDeviceGetCount(int *count);
int cuDeviceGetAttribute(int *value, int attr, int device);
int cuDriverGetVersion(int *version);
int cudaDriverGetVersion(int *version);

static void note(const char *what)
{
	const char *path = getenv("FAKE_CUDA_LOG");
	FILE *f;

	if (!path || !(f = fopen(path, "a")))
		return;
	fprintf(f, "%s\n", what);
	fclose(f);
}

__attribute__((constructor)) static void loaded(void)
{
	note("load");
}

static int env_int(const char *name, int def)
{
	const char *v = getenv(name);

	return v && *v ? atoi(v) : def;
}

int cudaGetDeviceCount(int *count)
{
	int err = env_int("FAKE_CUDA_ERROR", 0);

	note("cudaGetDeviceCount");
	*count = 0;
	if (err)
		return err;
	*count = env_int("FAKE_CUDA_COUNT", 1);
	return 0;
}

int cudaRuntimeGetVersion(int *version)
{
	note("cudaRuntimeGetVersion");
	*version = env_int("FAKE_CUDA_RUNTIME_VERSION", 12040);
	return 0;
}

int cudaDeviceGetAttribute(int *value, int attr, int device)
{
	const char *cc = getenv("FAKE_CUDA_CC");
	int major = 9, minor = 0;

	note("cudaDeviceGetAttribute");
	if (device != 0 || env_int("FAKE_CUDA_COUNT", 1) < 1)
		return 101;	/* cudaErrorInvalidDevice */
	if (cc && sscanf(cc, "%d.%d", &major, &minor) != 2)
		return 1;
	if (attr == 75)
		*value = major;
	else if (attr == 76)
		*value = minor;
	else
		return 1;	/* cudaErrorInvalidValue */
	return 0;
}

int cudaGetDeviceProperties_v2(void *prop, int device)
{
	const char *name = getenv("FAKE_CUDA_NAME");

	note("cudaGetDeviceProperties");
	if (device != 0)
		return 101;
	/* The real struct is about 1 KiB with the name first. */
	memset(prop, 0x5a, 1024);
	snprintf(prop, 256, "%s", name ? name : "Fake GPU");
	return 0;
}

int cudaGetDeviceProperties(void *prop, int device)
{
	return cudaGetDeviceProperties_v2(prop, device);
}

int cuInit(unsigned flags)
{
	note("cuInit");
	return env_int("FAKE_CU_ERROR", getenv("FAKE_CU_NAME") ? 0 : 100);
}

int cuDeviceGetCount(int *count)
{
	note("cuDeviceGetCount");
	*count = env_int("FAKE_CU_COUNT", 1);
	return 0;
}

int cuDeviceGetAttribute(int *value, int attr, int device)
{
	note("cuDeviceGetAttribute");
	return cudaDeviceGetAttribute(value, attr, device);
}

int cuDeviceGet(int *device, int ordinal)
{
	*device = ordinal;
	return 0;
}

int cuDeviceGetName(char *name, int len, int device)
{
	note("cuDeviceGetName");
	snprintf(name, (size_t)len, "%s", getenv("FAKE_CU_NAME"));
	return 0;
}

int cuDriverGetVersion(int *version)
{
	note("cuDriverGetVersion");
	*version = env_int("FAKE_CUDA_DRIVER_VERSION", 12080);
	return 0;
}

int cudaDriverGetVersion(int *version)
{
	return cuDriverGetVersion(version);
}
