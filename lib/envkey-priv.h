/* SPDX-License-Identifier: MIT */
/*
 * Private to the environment key (lib/envkey.c, lib/pyver.c, lib/gpu.c):
 * the facts the key is made from, gathered by the two probes.  Not b10t_*
 * names, so the shared library does not export them (libb10t.sym).
 */
#ifndef B10T_ENVKEY_PRIV_H
#define B10T_ENVKEY_PRIV_H

#include "b10t-int.h"

/* One fact and where it came from; value "" when not found. */
struct envkey_fact {
	char value[256];
	char source[PATH_MAX + 64];
};

/* ---- lib/pyver.c: installed package metadata, never importing torch ---- */

struct envkey_pyver {
	struct envkey_fact torch;		/* torch.__version__ */
	/*
	 * torch.version.cuda as written in torch/version.py: "" when torch or
	 * its version.py was not found, "none" when torch says None (a build
	 * without CUDA).
	 */
	struct envkey_fact torch_cuda;
	struct envkey_fact triton;	/* triton's version */
};

/*
 * Search the Python installations (order in docs/envkey.md) for torch
 * (when want_torch) and triton (when want_triton).  Never fails: what is
 * not found stays "".
 */
void envkey_pyver_find(struct b10t_ctx *ctx, bool want_torch, bool want_triton,
		     struct envkey_pyver *out);

/* ---- lib/gpu.c: the CUDA runtime through dlopen ---------------------- */

struct envkey_gpu {
	bool present;			/* a CUDA device answered */
	char why[PATH_MAX + 64];	/* when not present: the reason */
	char lib[PATH_MAX];		/* the CUDA runtime loaded, "" if none */
	struct envkey_fact runtime;	/* cudaRuntimeGetVersion: "12.4" */
	struct envkey_fact cc;		/* compute capability of device 0: "9.0" */
	struct envkey_fact name;		/* name of device 0 (when want_name) */
};

/*
 * Load the CUDA runtime (B10T_CUDART, else the usual SONAMEs) and ask about
 * device 0.  Never fails: no library, a stub or too old driver, no device
 * all give present = false with the reason in `why`.
 */
void envkey_gpu_query(struct b10t_ctx *ctx, bool want_name, struct envkey_gpu *gpu);
/* The CUDA runtime and driver as b10t --version -v shows them (lib/version.c):
 * found where the key's probe would find them, with their versions. */
void envkey_cuda_libraries(struct b10t_library *runtime, struct b10t_library *driver);

/* Copy src into a fact, truncating; "" for NULL. */
void envkey_fact_set(struct envkey_fact *f, const char *value, const char *source);

#endif
