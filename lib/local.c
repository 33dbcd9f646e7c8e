/* SPDX-License-Identifier: MIT */
/*
 * Debris next to the local cache dir.  A load extracts into
 * `.<name>.b10t-staging.<pid>.<rnd>` and a clear renames the cache dir to
 * `.<name>.b10t-clear.<pid>.<rnd>` before deleting it; a process killed in
 * between leaves that dir behind.  It is debris once its process is gone
 * (the pid is in the name: kill(pid, 0) answers ESRCH), or after a day,
 * should the pid have been reused or belong to another pid namespace.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define DEBRIS_MAX_AGE (24 * 3600)

/* The reason when `name` is debris of the cache dir named `base`, else NULL. */
static const char *debris_kind(const char *name, const char *base, long *pid)
{
	static const char *const kinds[][2] = {
		{ ".b10t-staging.", "stale-staging" },
		{ ".b10t-clear.", "stale-clear" },
	};
	size_t blen = strlen(base);

	if (name[0] != '.' || strncmp(name + 1, base, blen))
		return NULL;
	name += 1 + blen;
	for (size_t i = 0; i < sizeof(kinds) / sizeof(kinds[0]); i++) {
		size_t klen = strlen(kinds[i][0]);
		char *end;

		if (strncmp(name, kinds[i][0], klen))
			continue;
		*pid = strtol(name + klen, &end, 10);
		if (end == name + klen || *end != '.' || *pid <= 0)
			return NULL;
		return kinds[i][1];
	}
	return NULL;
}

int b10t_local_debris(struct b10t_ctx *ctx, const struct b10t_config *cfg, bool dry_run,
		      void (*found)(void *arg, const char *name, const char *reason,
				    uint64_t bytes),
		      void *arg)
{
	char parent[PATH_MAX];
	const char *base;
	struct dirent *de;
	time_t now = time(NULL);
	int fd, count = 0;
	DIR *d;

	base = strrchr(cfg->cache_dir, '/');
	if (!base || !base[1])
		return 0;
	snprintf(parent, sizeof(parent), "%.*s", base == cfg->cache_dir ? 1 :
		 (int)(base - cfg->cache_dir), cfg->cache_dir);
	base++;

	fd = open(parent, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = readdir(d))) {
		const char *reason;
		struct b10t_rm rm = { 0 };
		struct stat st;
		long pid;

		if (!(reason = debris_kind(de->d_name, base, &pid)))
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISDIR(st.st_mode))
			continue;
		if (pid == (long)getpid())
			continue;
		if (!(kill((pid_t)pid, 0) < 0 && errno == ESRCH) &&
		    now - st.st_mtime < DEBRIS_MAX_AGE)
			continue;	/* its process may still be working */
		if (!dry_run && b10t_rm_tree_at(fd, de->d_name, &rm) < 0) {
			b10t_warn(ctx, "removing %s/%s: %s", parent, de->d_name,
				  strerror(rm.err ? rm.err : errno));
			continue;
		}
		b10t_debug(ctx, "%s %s/%s (%s)", dry_run ? "would remove" : "removed",
			   parent, de->d_name, reason);
		if (found)
			found(arg, de->d_name, reason, rm.bytes);
		count++;
	}
	closedir(d);
	return count;
}
