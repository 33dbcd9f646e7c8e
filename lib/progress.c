/* SPDX-License-Identifier: MIT */
/*
 * What pack and unpack share beyond the codecs: the progress throttle and
 * whether a second thread can help.
 */
#include <sched.h>
#include <unistd.h>

#include "archive-int.h"
#include "internal.h"

int b10t_cpu_count(void)
{
	cpu_set_t set;
	long n;

	/* The CPUs we may run on (taskset, cgroup cpusets), not the machine's. */
	if (sched_getaffinity(0, sizeof(set), &set) == 0 && CPU_COUNT(&set) > 0)
		return CPU_COUNT(&set);
	n = sysconf(_SC_NPROCESSORS_ONLN);
	return n > 1 ? (int)(n < 1024 ? n : 1024) : 1;
}

bool b10t_use_threads(void)
{
	return b10t_cpu_count() > 1;
}

void b10t_progress_step(struct b10t_ctx *ctx, struct b10t_progress_gate *g,
			const struct b10t_pack_stats *st, bool done)
{
	struct b10t_progress pr = { .files = st->files, .bytes = st->bytes,
				    .total_bytes = g->total_bytes, .done = done };

	if (!ctx->progress)
		return;
	if (!done && st->files - g->files < 64 && st->bytes - g->bytes < (4u << 20))
		return;
	g->files = st->files;
	g->bytes = st->bytes;
	ctx->progress(ctx->progress_arg, &pr);
}
