/* SPDX-License-Identifier: MIT */
/*
 * The watcher of `b10t watch` and `b10t vllm --follow`: publish what a
 * running server compiles after its first save, once it has been quiet.
 *
 * inotify, not a walk of the tree on a timer: a cache of 50,000 files walked
 * every few seconds costs a core's worth of stat() calls, and the server
 * beside it is the one that needs the CPU.  Idle, the loop is one poll()
 * with no timeout; it wakes only for an event, the caller's fds, or, after
 * a change, the end of the quiet period.
 *
 * inotify is not recursive: every directory gets its own watch, and a
 * directory that appears (made or moved in) is walked and watched at once;
 * whatever was written in it before its watch existed is covered because
 * its creation already marked the tree changed, and the publish step reads
 * the whole tree, not our events.  The events only say "something changed,
 * and when"; so the kernel's queue overflowing (IN_Q_OVERFLOW) costs nothing
 * but a rescan of the watches (a directory made meanwhile may have been
 * missed), and so does a directory moved within the tree (its watches keep
 * old paths).  A rescan is mark-and-sweep: every directory is watched again
 * (inotify hands back the same descriptor for the same inode, with its
 * path updated here), and watches no directory of the tree claimed are
 * removed.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/*
 * What marks the tree changed.  IN_MODIFY too, though IN_CLOSE_WRITE ends
 * every write: a file written slowly for longer than the quiet period is
 * not quiet.  Deletions are not subscribed: they bring no new entry.
 */
#define WATCH_MASK (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_MODIFY | \
		    IN_MOVE_SELF | IN_ONLYDIR | IN_DONT_FOLLOW | IN_EXCL_UNLINK)

/* One read drains this much of the queue; events are at most NAME_MAX + 17 bytes. */
#define EVENT_BUF (64 * 1024)

struct b10t_watch {
	struct b10t_watch_opts o;
	int fd;				/* the inotify instance */
	int root_wd;
	char *root;
	char **paths;			/* by watch descriptor: the dir's path, NULL if none */
	unsigned *mark;			/* by descriptor: the rescan that last saw it */
	size_t cap;
	unsigned sweep;			/* the current rescan's number */
	bool dirty;			/* changed since the last publish began */
	bool limit_warned;
	double first_change, last_change;
	struct b10t_watch_stats st;
};

static int slot_grow(struct b10t_watch *w, int wd)
{
	/* Two arrays of one capacity: each grows from the same cap to the
	 * same size; w->cap moves only once both have. */
	size_t pcap = w->cap, mcap = w->cap;

	if (B10T_GROW(w->paths, pcap, (size_t)wd + 1, 64) < 0 ||
	    B10T_GROW(w->mark, mcap, (size_t)wd + 1, 64) < 0)
		return -ENOMEM;
	memset(w->paths + w->cap, 0, (pcap - w->cap) * sizeof(*w->paths));
	memset(w->mark + w->cap, 0, (mcap - w->cap) * sizeof(*w->mark));
	w->cap = pcap;
	return 0;
}

static void slot_drop(struct b10t_watch *w, int wd)
{
	if (wd < 0 || (size_t)wd >= w->cap || !w->paths[wd])
		return;
	free(w->paths[wd]);
	w->paths[wd] = NULL;
	w->st.watches--;
}

static int limit_error(struct b10t_ctx *ctx, const char *path)
{
	char esc[B10T_ESCAPE_SIZE(256)], max[32] = "?";
	FILE *f = fopen("/proc/sys/fs/inotify/max_user_watches", "re");

	if (f) {
		if (!fgets(max, sizeof(max), f))
			snprintf(max, sizeof(max), "?");
		max[strcspn(max, "\n")] = '\0';
		fclose(f);
	}
	return b10t_set_error(ctx, ENOSPC,
		"watching %s: the inotify watch limit is reached (fs.inotify.max_user_watches=%s; raise it with sysctl)",
		b10t_escape(esc, sizeof(esc), path, 256), max);
}

/* Watch one directory; 0, 1 when it is not one to watch, or -errno. */
static int watch_dir(struct b10t_ctx *ctx, struct b10t_watch *w, const char *path)
{
	char esc[B10T_ESCAPE_SIZE(256)];
	struct stat st;
	int wd, r;

	if (lstat(path, &st) < 0 || !S_ISDIR(st.st_mode))
		return 1;	/* gone already, or not a directory: nothing to watch */
	if (w->o.exclude_ino && (uint64_t)st.st_dev == w->o.exclude_dev &&
	    (uint64_t)st.st_ino == w->o.exclude_ino)
		return 1;
	wd = inotify_add_watch(w->fd, path, WATCH_MASK);
	if (wd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return 1;	/* removed between lstat and here */
		if (errno == ENOSPC)
			return limit_error(ctx, path);
		return b10t_sys_error(ctx, errno, "watching %s",
				      b10t_escape(esc, sizeof(esc), path, 256));
	}
	if ((r = slot_grow(w, wd)) < 0)
		return b10t_set_error(ctx, -r, "watching %s: out of memory", path);
	w->mark[wd] = w->sweep;
	if (w->paths[wd] && !strcmp(w->paths[wd], path))
		return 0;
	if (!w->paths[wd])
		w->st.watches++;
	free(w->paths[wd]);
	if (!(w->paths[wd] = strdup(path))) {
		w->st.watches--;
		return b10t_set_error(ctx, ENOMEM, "watching %s: out of memory", path);
	}
	return 0;
}

/*
 * Watch `path` and every directory under it.  A subdirectory that cannot be
 * read is warned about and left unwatched (its changes are missed, the rest
 * is not); only the limit and memory stop the walk.
 */
static int watch_tree(struct b10t_ctx *ctx, struct b10t_watch *w, const char *path, int depth)
{
	char esc[B10T_ESCAPE_SIZE(256)], sub[PATH_MAX];
	struct dirent *de;
	DIR *d;
	int r, err = 0;

	if ((r = watch_dir(ctx, w, path)) != 0)
		return r > 0 ? 0 : r;
	if (depth > 256)
		return 0;	/* deeper than any cache: the walk stops, the watch is kept */
	if (!(d = opendir(path))) {
		if (errno != ENOENT && errno != ENOTDIR)
			b10t_warn(ctx, "watching %s: %s; changes under it are not seen",
				  b10t_escape(esc, sizeof(esc), path, 256), strerror(errno));
		return 0;
	}
	while ((de = b10t_readdir(d, &err))) {
		if (de->d_type != DT_DIR && de->d_type != DT_UNKNOWN)
			continue;
		if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", path, de->d_name) >= sizeof(sub))
			continue;	/* no path of that length can be packed either */
		if ((r = watch_tree(ctx, w, sub, depth + 1)) < 0)
			break;
	}
	if (!de && err)	/* the walk stops here; what it watched stays */
		b10t_warn(ctx, "watching %s: reading it: %s; changes under it may not be seen",
			  b10t_escape(esc, sizeof(esc), path, 256), strerror(err));
	closedir(d);
	return r < 0 ? r : 0;
}

/* Mark and sweep: watch the tree again, drop watches of dirs no longer in it. */
static int rescan(struct b10t_ctx *ctx, struct b10t_watch *w)
{
	int r;

	w->st.rescans++;
	w->sweep++;
	r = watch_tree(ctx, w, w->root, 0);
	if (r < 0)
		return r;
	for (size_t wd = 0; wd < w->cap; wd++)
		if (w->paths[wd] && w->mark[wd] != w->sweep) {
			inotify_rm_watch(w->fd, (int)wd);
			slot_drop(w, (int)wd);
		}
	return 0;
}

static int mkdir_tree(struct b10t_ctx *ctx, const char *dir)
{
	char p[PATH_MAX];
	size_t len = strlen(dir);

	if (len >= sizeof(p))
		return b10t_set_error(ctx, ENAMETOOLONG, "watching %s: path too long", dir);
	memcpy(p, dir, len + 1);
	for (size_t i = 1; i <= len; i++) {
		if (p[i] != '/' && p[i] != '\0')
			continue;
		p[i] = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST)
			return b10t_sys_error(ctx, errno, "making the cache dir %s", p);
		p[i] = i < len ? '/' : '\0';
	}
	return 0;
}

int b10t_watch_open(struct b10t_ctx *ctx, const char *dir,
		    const struct b10t_watch_opts *opts, struct b10t_watch **out)
{
	struct b10t_watch *w;
	struct stat st;
	int r;

	*out = NULL;
	if (!opts->publish || !(opts->quiet_s >= 0) || !(opts->max_wait_s >= 0))
		return b10t_set_error(ctx, EINVAL, "watching %s: bad options", dir);
	/* Torch makes the dir when it first writes; made now, it is watched from the start. */
	if (stat(dir, &st) < 0 && (r = mkdir_tree(ctx, dir)) < 0)
		return r;
	if (stat(dir, &st) < 0)
		return b10t_sys_error(ctx, errno, "watching %s", dir);
	if (!S_ISDIR(st.st_mode))
		return b10t_set_error(ctx, ENOTDIR, "watching %s: not a directory", dir);
	/* A cache dir that is a symlink: its target is the tree (no watch follows links). */
	if (!(w = calloc(1, sizeof(*w))))
		return b10t_set_error(ctx, ENOMEM, "watching %s: out of memory", dir);
	if (!(w->root = realpath(dir, NULL))) {
		r = b10t_sys_error(ctx, errno, "watching %s", dir);
		free(w);
		return r;
	}
	w->o = *opts;
	w->fd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC);
	if (w->fd < 0) {
		r = errno == EMFILE ?
			b10t_set_error(ctx, EMFILE,
				"watching %s: the inotify instance limit is reached (fs.inotify.max_user_instances)",
				dir) :
			b10t_sys_error(ctx, errno, "watching %s: inotify_init1", dir);
		b10t_watch_close(w);
		return r;
	}
	w->sweep = 1;
	if ((r = watch_tree(ctx, w, w->root, 0)) < 0) {
		b10t_watch_close(w);
		return r;
	}
	w->root_wd = inotify_add_watch(w->fd, w->root, WATCH_MASK);	/* the same wd: its number */
	b10t_debug(ctx, "watching %s: %llu %s", dir, (unsigned long long)w->st.watches,
		   w->st.watches == 1 ? "directory" : "directories");
	*out = w;
	return 0;
}

void b10t_watch_close(struct b10t_watch *w)
{
	if (!w)
		return;
	if (w->fd >= 0)
		close(w->fd);
	for (size_t i = 0; i < w->cap; i++)
		free(w->paths[i]);
	free(w->paths);
	free(w->mark);
	free(w->root);
	free(w);
}

bool b10t_watch_dirty(const struct b10t_watch *w)
{
	return w->dirty;
}

const struct b10t_watch_stats *b10t_watch_stats(const struct b10t_watch *w)
{
	return &w->st;
}

static void changed(struct b10t_watch *w, double now)
{
	if (!w->dirty)
		w->first_change = now;
	w->dirty = true;
	w->last_change = now;
}

/* A watch that could not be added at run time: warned once, the rest goes on. */
static void add_failed(struct b10t_ctx *ctx, struct b10t_watch *w, int r)
{
	char keep[sizeof(ctx->err)];

	if (r == -ENOSPC && w->limit_warned)
		return;
	w->limit_warned |= r == -ENOSPC;
	snprintf(keep, sizeof(keep), "%s", b10t_ctx_error(ctx));
	b10t_warn(ctx, "%s", keep);
	b10t_clear_error(ctx);
}

static void one_event(struct b10t_ctx *ctx, struct b10t_watch *w, const struct inotify_event *e,
		      double now, bool *need_rescan)
{
	char sub[PATH_MAX];
	const char *dir;
	int r;

	w->st.events++;
	if (e->mask & IN_Q_OVERFLOW) {
		b10t_debug(ctx, "watch: the event queue overflowed; rescanning");
		*need_rescan = true;
		changed(w, now);
		return;
	}
	if (e->mask & IN_IGNORED) {	/* the dir is gone (or unmounted) */
		if (e->wd == w->root_wd && !w->st.root_gone) {
			w->st.root_gone = true;
			b10t_warn(ctx, "the cache dir %s was removed; watching stopped", w->root);
		}
		slot_drop(w, e->wd);
		return;
	}
	if (e->mask & IN_MOVE_SELF) {
		if (e->wd == w->root_wd && !w->st.root_gone) {
			w->st.root_gone = true;
			b10t_warn(ctx, "the cache dir %s was moved away; watching stopped", w->root);
			inotify_rm_watch(w->fd, e->wd);
		}
		return;	/* another dir: its parent's IN_MOVED_FROM asks for a rescan */
	}
	changed(w, now);
	if (!(e->mask & IN_ISDIR) || e->wd < 0 || (size_t)e->wd >= w->cap ||
	    !(dir = w->paths[e->wd]) || !e->len)
		return;
	if (e->mask & IN_MOVED_FROM) {
		*need_rescan = true;	/* the watches under it hold old paths */
		return;
	}
	if (!(e->mask & (IN_CREATE | IN_MOVED_TO)))
		return;
	if ((size_t)snprintf(sub, sizeof(sub), "%s/%s", dir, e->name) >= sizeof(sub))
		return;
	if ((r = watch_tree(ctx, w, sub, 1)) < 0)
		add_failed(ctx, w, r);
}

/* Read what the queue holds now; the number of events, or -errno. */
static int read_events(struct b10t_ctx *ctx, struct b10t_watch *w)
{
	char buf[EVENT_BUF] __attribute__((aligned(__alignof__(struct inotify_event))));
	bool need_rescan = false;
	int count = 0, r;
	ssize_t n;

	for (;;) {
		n = read(w->fd, buf, sizeof(buf));
		if (n < 0) {
			if (errno == EINTR)
				continue;
			if (errno == EAGAIN)
				break;
			return b10t_sys_error(ctx, errno, "reading inotify events");
		}
		if (n == 0)
			break;
		double now = b10t_now();

		for (char *p = buf; p < buf + n;) {
			const struct inotify_event *e = (const struct inotify_event *)p;

			one_event(ctx, w, e, now, &need_rescan);
			count++;
			p += sizeof(*e) + e->len;
		}
	}
	if (need_rescan && !w->st.root_gone && (r = rescan(ctx, w)) < 0)
		add_failed(ctx, w, r);
	return count;
}

static int publish(struct b10t_ctx *ctx, struct b10t_watch *w, bool final)
{
	struct b10t_result res;
	int r;

	memset(&res, 0, sizeof(res));
	w->dirty = false;
	w->st.publishes++;
	b10t_clear_error(ctx);
	r = w->o.publish(w->o.arg, final, &res);
	if (r < 0 || res.status == B10T_ERROR)
		w->st.failures++;
	/* Still to publish: again after another quiet period, not in a loop. */
	if (r != 0 || res.status == B10T_ERROR)
		changed(w, b10t_now());
	if (w->o.on_publish)
		w->o.on_publish(w->o.arg, final, r, &res);
	return r;
}

/* Milliseconds until the publish is due, for poll(); -1: nothing due. */
static int due_in(const struct b10t_watch *w, double now)
{
	double at, ms;

	if (!w->dirty)
		return -1;
	at = w->last_change + w->o.quiet_s;
	if (w->o.max_wait_s > 0 && w->first_change + w->o.max_wait_s < at)
		at = w->first_change + w->o.max_wait_s;
	ms = (at - now) * 1000;
	if (ms <= 0)
		return 0;
	return ms > INT_MAX ? INT_MAX : (int)ms + 1;	/* +1: never wake a hair early */
}

int b10t_watch_run(struct b10t_ctx *ctx, struct b10t_watch *w)
{
	struct pollfd pfd[9];
	size_t n = 1 + (w->o.n_wake < 8 ? w->o.n_wake : 8);
	int r, timeout;

	pfd[0] = (struct pollfd){ .fd = w->fd, .events = POLLIN };
	for (size_t i = 1; i < n; i++)
		pfd[i] = (struct pollfd){ .fd = w->o.wake_fds[i - 1], .events = POLLIN };
	for (;;) {
		timeout = due_in(w, b10t_now());
		r = poll(pfd, n, timeout);
		if (r < 0 && errno != EINTR)
			return b10t_sys_error(ctx, errno, "waiting for changes");
		if (r > 0 && (pfd[0].revents & POLLIN) && (r = read_events(ctx, w)) < 0)
			return r;
		/* The caller's fds before a publish that is due: a stop is sooner. */
		for (size_t i = 1; i < n; i++) {
			if (!(pfd[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			pfd[i].revents = 0;
			r = w->o.on_wake(w->o.arg, pfd[i].fd);
			if (r < 0)
				return r;
			if (r == B10T_WATCH_STOP_NOW)
				return 0;
			if (r == B10T_WATCH_STOP) {
				/* What happened up to now counts: read it before deciding. */
				if ((r = read_events(ctx, w)) < 0)
					return r;
				if (w->dirty)
					publish(ctx, w, true);
				return 0;
			}
		}
		pfd[0].revents = 0;
		if (due_in(w, b10t_now()) != 0)
			continue;
		/* Due: but an event still queued means it was not quiet after all. */
		double before = w->last_change;

		if ((r = read_events(ctx, w)) < 0)
			return r;
		if (r > 0 && w->last_change > before && due_in(w, b10t_now()) != 0)
			continue;
		publish(ctx, w, false);
	}
}
