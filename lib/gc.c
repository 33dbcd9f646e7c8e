/* SPDX-License-Identifier: MIT */
/*
 * gc: remove debris from the store (dead uploads, old locks, corrupt
 * archives moved aside) and, when asked, evict published archives.
 *
 * The store is shared by hundreds of replicas and possibly by several gc
 * runs at once, on NFS.  So: every removal is unlinkat() relative to the
 * store's dirfd, preceded by a fresh fstatat() that re-checks the file is
 * still the one we judged (same inode, still old enough, not used since);
 * ENOENT at any point means someone else removed it first, which is fine
 * and not counted.  A load that already opened an archive keeps reading it
 * after the unlink (POSIX; NFS clients keep it as a `.nfsXXXX` silly-rename,
 * which we never touch).  Names we do not recognise are never touched.
 *
 * An archive's last use is the latest of its mtime, its atime and the mtime
 * of its key's use marker (lib/names.c), which load sets (never the
 * archive: not every network filesystem keeps atime).  An upload being
 * written is never debris, whatever --stale says (see check_live).
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define CORRUPT_TIMEOUT_S 86400		/* moved-aside archives: kept a day for a post-mortem */
#define COOP_BUDGET_S 0.005		/* cooperative cleanup: 5 ms ... */
#define COOP_MAX_ENTRIES 10000		/* ... or this many directory entries */
/*
 * Live uploads (docs/b10t-gc.1.scd).  An upload modified less than
 * UPLOAD_FLOOR_S ago is never debris, whatever --stale says: its save is
 * writing it, or is between its last write and its publish.  An older
 * candidate that looks younger than LIVE_CHECK_MAX_AGE_S is looked at
 * twice past the client's attribute cache (look(): a fresh open and a no-op
 * chmod), before and after LIVE_WAIT_MS (once for the whole pass), and kept
 * when its size, mtime, ctime or inode moved: a writer whose clock is
 * behind, or a client whose cached attributes are old, shows an old mtime
 * on a file still growing.  sshfs stamps whole seconds, hence 2 s.  Past an
 * hour no save is alive (nor skewed that far).
 */
#define UPLOAD_FLOOR_S 10
#define LIVE_CHECK_MAX_AGE_S 3600
#define LIVE_WAIT_MS 2000

/*
 * K_ARCHIVE: a published archive (a legacy .latest, or one a claim names);
 * K_CLAIM: a well-formed claim naming an archive that is there; K_GEN: a
 * generation archive until its claim is found (then K_ARCHIVE, else
 * K_UNCLAIMED: an upload no claim committed, debris); K_BADCLAIM: a claim
 * that is malformed or names an archive that is gone, debris; K_PROBE: a
 * publish probe's dir (lib/doctor.c) that a killed doctor or save left,
 * debris aged as an upload (a probe moves its dir's mtime at each step).
 */
enum kind { K_OTHER, K_ARCHIVE, K_UPLOAD, K_LOCK, K_CORRUPT, K_MARKER, K_CLAIM, K_GEN,
	    K_UNCLAIMED, K_BADCLAIM, K_PROBE };

/*
 * What a store entry is, by name alone: lib/names.c's table, so list and gc
 * agree.  Uploads include the reference's variants and claim temps;
 * corrupt names any moved-aside name.
 * Debris kinds come first in the table, so a name that is both is debris.
 * Callers that only want debris pass key NULL.  For archives and markers
 * *key_off and *key_len say where the key is in the name.
 */
static enum kind classify(const char *name, size_t *key_off, size_t *key_len, uint64_t *gen)
{
	struct b10t_name n = { 0 };
	enum b10t_name_kind k = b10t_name_parse(B10T_SIDE_STORE, name, &n);

	if (key_len && (k == B10T_NAME_CLAIM || k == B10T_NAME_BASE_CLAIM || k == B10T_NAME_GEN ||
			k == B10T_NAME_BASE)) {
		*key_off = n.key_off;
		*key_len = n.key_len;
		*gen = n.gen;
		return k == B10T_NAME_GEN || k == B10T_NAME_BASE ? K_GEN : K_CLAIM;
	}
	switch (k) {
	case B10T_NAME_UPLOAD:
	case B10T_NAME_CLAIM_TEMP:
		return K_UPLOAD;
	case B10T_NAME_CORRUPT:
		return K_CORRUPT;
	case B10T_NAME_LOCK:
		return K_LOCK;
	case B10T_NAME_DOCTOR:
		return K_PROBE;
	case B10T_NAME_LATEST:
		if (!key_len)
			return K_OTHER;
		*key_off = n.key_off;
		*key_len = n.key_len;
		return K_ARCHIVE;
	case B10T_NAME_MARKER:
		if (!key_len)
			return K_OTHER;
		*key_off = n.key_off;
		*key_len = n.key_len;
		return K_MARKER;
	default:
		return K_OTHER;	/* .nfs*, what is not ours */
	}
}

static const char *kind_reason(enum kind k)
{
	switch (k) {
	case K_UPLOAD:
		return "incomplete";
	case K_LOCK:
		return "lock";
	case K_CORRUPT:
		return "corrupt";
	case K_MARKER:
		return "marker";
	case K_UNCLAIMED:
		return "unclaimed";
	case K_BADCLAIM:
		return "bad-claim";
	case K_PROBE:
		return "probe";
	default:
		return "other";
	}
}

/* Seconds since t, 0 for a time in the future (clock skew between hosts). */
static uint64_t age_of(int64_t now, int64_t t)
{
	return now > t ? (uint64_t)(now - t) : 0;
}

static uint64_t debris_timeout(enum kind k, const struct b10t_config *cfg, uint64_t stale_s)
{
	switch (k) {
	case K_UPLOAD:
	case K_UNCLAIMED:
	case K_BADCLAIM:
	case K_PROBE:
		return stale_s > UPLOAD_FLOOR_S ? stale_s : UPLOAD_FLOOR_S;
	case K_MARKER:
		return stale_s;
	case K_LOCK:
		return cfg->lock_timeout_s;
	case K_CORRUPT:
		return CORRUPT_TIMEOUT_S;
	default:
		return UINT64_MAX;
	}
}

/* ---- the full pass ---------------------------------------------------- */

struct entry {
	char *name;
	enum kind kind;
	size_t key_off, key_len;	/* archives, claims, markers: where the key is in name */
	uint64_t gen;			/* claims, generation archives */
	uint64_t bytes;
	int64_t mtime, last_used;
	struct timespec mtim, ctim;	/* to the ns: what "moved" compares */
	dev_t dev;
	ino_t ino;
	const char *evict;		/* archives: eviction reason, or NULL */
	struct entry *marker;		/* archives: their key's use marker, or NULL */
	bool archive_kept;		/* markers: an archive of the key stays */
	bool live;			/* uploads: moved during the pass */
	bool removed;			/* removed by this pass (or would be, dry run) */
	char *names;			/* claims: their archive's name */
	struct entry *lead;		/* archives, claims: the key's first archive, which
					 * carries the key's eviction (g_*) */
	uint64_t g_bytes;		/* lead: the key's archives together */
	int64_t g_last_used, g_mtime;
};

struct scan {
	struct entry *e;
	size_t n, cap;
};

static void scan_free(struct scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		free(s->e[i].name);
		free(s->e[i].names);
	}
	free(s->e);
}

static int scan_add(struct scan *s, const char *name, enum kind k, size_t key_off,
		    size_t key_len, uint64_t gen, const struct stat *st)
{
	struct entry *e;

	if (B10T_GROW(s->e, s->cap, s->n + 1, 64) < 0)
		return -ENOMEM;
	e = &s->e[s->n];
	memset(e, 0, sizeof(*e));
	if (!(e->name = strdup(name)))
		return -ENOMEM;
	e->kind = k;
	e->key_off = key_off;
	e->key_len = key_len;
	e->gen = gen;
	e->bytes = (uint64_t)st->st_size;
	e->mtime = st->st_mtime;
	e->mtim = st->st_mtim;
	e->ctim = st->st_ctim;
	e->last_used = b10t_last_used(st, NULL);
	e->dev = st->st_dev;
	e->ino = st->st_ino;
	s->n++;
	return 0;
}

/* e's key, NUL-terminated. */
static const char *key_of(const struct entry *e, char *buf, size_t size)
{
	snprintf(buf, size, "%.*s", (int)e->key_len, e->name + e->key_off);
	return buf;
}

/* The name of e's key's use marker. */
static void marker_name(char *buf, size_t size, const struct entry *e)
{
	char key[NAME_MAX + 1];

	b10t_use_marker_name(buf, size, key_of(e, key, sizeof(key)));
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->name, ((const struct entry *)b)->name);
}

/*
 * Which generation archives are published: each claim is read, the archive
 * it names is K_ARCHIVE.  A claim that is malformed, or names an archive
 * that is neither listed nor there by name, is debris (K_BADCLAIM); an
 * archive no claim names is an upload no claim committed (K_UNCLAIMED).
 */
static int resolve_claims(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
			  struct scan *s)
{
	for (size_t i = 0; i < s->n; i++) {
		struct entry *e = &s->e[i], key = { 0 }, *a;
		struct b10t_name cn = { 0 }, an;
		char why[96], archive[NAME_MAX + 1];
		struct stat st;
		int r;

		if (e->kind != K_CLAIM)
			continue;
		b10t_name_parse(B10T_SIDE_STORE, e->name, &cn);
		r = b10t_read_claim(dirfd, e->name, &cn, &an, why, sizeof(why));
		if (r == -ENOENT) {
			e->kind = K_OTHER;	/* removed under us */
			continue;
		}
		if (r < 0)
			return b10t_set_error(ctx, -r, "reading %s/%s: %s", cfg->store_dir, e->name,
					      strerror(-r));
		if (r == 1) {
			b10t_debug(ctx, "gc: the claim %s is malformed: %s", e->name, why);
			e->kind = K_BADCLAIM;
			continue;
		}
		b10t_name_build(archive, sizeof(archive), &an);
		if (!(e->names = strdup(archive)))
			return b10t_set_error(ctx, ENOMEM, "gc: out of memory");
		key.name = archive;
		a = bsearch(&key, s->e, s->n, sizeof(*s->e), by_name);
		if (a && (a->kind == K_GEN || a->kind == K_ARCHIVE)) {
			a->kind = K_ARCHIVE;
			continue;
		}
		/* Not listed: there by name (a cached listing), or gone. */
		if (fstatat(dirfd, archive, &st, AT_SYMLINK_NOFOLLOW) < 0 && errno == ENOENT)
			e->kind = K_BADCLAIM;
	}
	for (size_t i = 0; i < s->n; i++)
		if (s->e[i].kind == K_GEN)
			s->e[i].kind = K_UNCLAIMED;
	return 0;
}

/* Every entry gc may act on, sorted by name.  Others are not even kept. */
static int scan_store(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
		      struct scan *s)
{
	int fd = dup(dirfd);
	DIR *d;
	struct dirent *de;
	int r = 0, err;

	if (fd < 0 || !(d = fdopendir(fd))) {
		r = -errno;
		if (fd >= 0)
			close(fd);
		return b10t_sys_error(ctx, -r, "reading the store %s", cfg->store_dir);
	}
	while ((de = b10t_readdir(d, &err))) {
		struct stat st;
		size_t key_off = 0, key_len = 0;
		uint64_t gen = 0;
		enum kind k = classify(de->d_name, &key_off, &key_len, &gen);

		if (k == K_OTHER)
			continue;
		if (fstatat(dirfd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
			if (errno == ENOENT)
				continue;	/* removed under us */
			r = b10t_sys_error(ctx, errno, "reading %s/%s", cfg->store_dir,
					   de->d_name);
			break;
		}
		if (k == K_PROBE ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode))
			continue;	/* a directory or link with our name: not ours */
		if (k == K_PROBE)
			st.st_size = 0;	/* a dir's size says nothing of what it holds */
		if ((r = scan_add(s, de->d_name, k, key_off, key_len, gen, &st)) < 0) {
			b10t_set_error(ctx, ENOMEM, "reading the store: out of memory");
			break;
		}
	}
	if (!r && err)
		r = b10t_sys_error(ctx, err, "reading the store %s", cfg->store_dir);
	closedir(d);
	if (!r && s->n)
		qsort(s->e, s->n, sizeof(*s->e), by_name);
	if (!r)
		r = resolve_claims(ctx, cfg, dirfd, s);
	/* Each archive's last use counts its key's marker: a load's use. */
	for (size_t i = 0; !r && i < s->n; i++) {
		struct entry *e = &s->e[i], key = { 0 };
		char name[NAME_MAX + 1];
		struct stat st;

		if (e->kind != K_ARCHIVE)
			continue;
		marker_name(name, sizeof(name), e);
		key.name = name;
		e->marker = bsearch(&key, s->e, s->n, sizeof(*s->e), by_name);
		if (e->marker && e->marker->kind != K_MARKER)
			e->marker = NULL;
		if (e->marker) {
			if (e->marker->mtime > e->last_used)
				e->last_used = e->marker->mtime;
		} else if (fstatat(dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
			   S_ISREG(st.st_mode) && st.st_mtime > e->last_used) {
			/* Not in the listing, there by name: a cached directory
			 * listing (sshfs) misses another client's fresh marker. */
			e->last_used = st.st_mtime;
		}
	}
	return r;
}

static bool key_listed(const struct entry *e, const char *key)
{
	return key && strlen(key) == e->key_len && !memcmp(e->name + e->key_off, key, e->key_len);
}

static bool protected(const struct entry *e, const struct b10t_gc_opts *o, int64_t now)
{
	if (age_of(now, e->g_mtime) < o->stale_s)
		return true;	/* just published: its save may still be reporting */
	if (!o->all && key_listed(e, o->current_key))
		return true;
	for (size_t i = 0; i < o->n_keep; i++)
		if (key_listed(e, o->keep[i]))
			return true;
	return false;
}

static int by_lru(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;

	if (x->g_last_used != y->g_last_used)
		return x->g_last_used < y->g_last_used ? -1 : 1;
	if (x->g_mtime != y->g_mtime)
		return x->g_mtime < y->g_mtime ? -1 : 1;
	return strcmp(x->name, y->name);
}

/* Whether x lies in the run of names of lead's key (B10T_NAME_KEY_PREFIX). */
static bool in_run(const struct entry *lead, const struct entry *x)
{
	size_t plen = lead->key_off + lead->key_len + 1;

	return !strncmp(x->name, lead->name, plen);
}

static bool leads(const struct entry *e)
{
	return e->kind == K_ARCHIVE && e->lead == e;
}

/*
 * A key is evicted whole: its first archive (by name) leads the others and
 * carries their bytes, last use and newest publish.  A key's names are
 * neighbours once sorted, so the lead is found in passing.
 */
static void make_groups(struct scan *s)
{
	struct entry *lead = NULL;

	for (size_t i = 0; i < s->n; i++) {
		struct entry *e = &s->e[i];

		if (e->kind == K_ARCHIVE) {
			if (!lead || !in_run(lead, e)) {
				lead = e;
				e->g_bytes = 0;
				e->g_last_used = e->g_mtime = INT64_MIN;
			}
			e->lead = lead;
			lead->g_bytes += e->bytes;
			if (e->last_used > lead->g_last_used)
				lead->g_last_used = e->last_used;
			if (e->mtime > lead->g_mtime)
				lead->g_mtime = e->mtime;
		}
	}
	for (size_t i = 0; i < s->n; i++) {
		struct entry *e = &s->e[i], key = { 0 }, *a;

		if (e->kind != K_CLAIM || !e->names)
			continue;
		key.name = e->names;
		a = bsearch(&key, s->e, s->n, sizeof(*s->e), by_name);
		e->lead = a && a->kind == K_ARCHIVE ? a->lead : NULL;
	}
}

/* Mark keys to evict (on their leads): too old first, then least recently
 * used to fit. */
static int plan_eviction(struct b10t_ctx *ctx, struct scan *s, const struct b10t_gc_opts *o,
			 int64_t now, struct b10t_gc_result *res)
{
	struct entry **lru;
	uint64_t total = 0;
	size_t n = 0;

	for (size_t i = 0; i < s->n; i++) {
		struct entry *e = &s->e[i];

		if (!leads(e))
			continue;
		total += e->g_bytes;
		if (o->max_age_set && !protected(e, o, now) &&
		    age_of(now, e->g_last_used) >= o->max_age_s) {
			e->evict = "max-age";
			total -= e->g_bytes;
		}
	}
	if (!o->max_size_set || total <= o->max_size)
		return 0;
	if (!(lru = calloc(s->n, sizeof(*lru))))
		return -ENOMEM;
	for (size_t i = 0; i < s->n; i++)
		if (leads(&s->e[i]) && !s->e[i].evict && !protected(&s->e[i], o, now))
			lru[n++] = &s->e[i];
	qsort(lru, n, sizeof(*lru), by_lru);
	for (size_t i = 0; i < n && total > o->max_size; i++) {
		lru[i]->evict = "max-size";
		total -= lru[i]->g_bytes;
	}
	free(lru);
	if (total <= o->max_size)
		return 0;
	/* Why it stays over: each key left is protected (protected()'s order). */
	res->max_size_missed = true;
	res->over_bytes = total;
	for (size_t i = 0; i < s->n; i++) {
		struct entry *e = &s->e[i];

		if (!leads(e) || e->evict)
			continue;
		if (age_of(now, e->g_mtime) < o->stale_s) {
			res->young_keys++;
			res->young_bytes += e->g_bytes;
		} else {
			res->protected_keys++;
			res->protected_bytes += e->g_bytes;
		}
	}
	b10t_debug(ctx, "gc: %llu bytes of protected or young archives stay above --max-size",
		   (unsigned long long)total);
	return 0;
}

/* The --keep keys that have no archive in the store. */
static int find_keep_missing(const struct scan *s, const struct b10t_gc_opts *o,
			     struct b10t_gc_result *res)
{
	for (size_t k = 0; k < o->n_keep; k++) {
		bool found = false;
		char **m;

		for (size_t i = 0; i < s->n && !found; i++)
			found = s->e[i].kind == K_ARCHIVE && key_listed(&s->e[i], o->keep[k]);
		if (found)
			continue;
		if (B10T_PUSH(res->keep_missing, res->n_keep_missing) < 0)
			return -ENOMEM;
		m = res->keep_missing;
		if (!(m[res->n_keep_missing] = strdup(o->keep[k])))
			return -ENOMEM;
		res->n_keep_missing++;
	}
	return 0;
}

static int add_item(struct b10t_gc_result *res, const struct entry *e, const char *reason)
{
	struct b10t_gc_item *it;

	if (B10T_PUSH(res->items, res->n_items) < 0)
		return -ENOMEM;
	it = &res->items[res->n_items++];
	snprintf(it->filename, sizeof(it->filename), "%s", e->name);
	it->reason = reason;
	it->bytes = e->bytes;
	res->freed_bytes += e->bytes;
	return 0;
}

static void add_covered(void *arg, const char *name, uint64_t bytes)
{
	struct b10t_gc_result *res = arg;
	struct b10t_gc_item *items;

	if (B10T_PUSH(res->items, res->n_items) < 0)
		return;
	items = res->items;
	snprintf(items[res->n_items].filename, sizeof(items->filename), "%s", name);
	items[res->n_items].reason = "covered";
	items[res->n_items].bytes = bytes;
	res->n_items++;
	res->freed_bytes += bytes;
}

static void add_local(void *arg, const char *name, const char *reason, uint64_t bytes)
{
	struct entry e = { .name = (char *)name, .bytes = bytes };

	add_item(arg, &e, reason);
}

/* An archive's last use as the store shows it now: a load may have used it
 * (touched or made its marker) since the scan. */
static int64_t used_now(int dirfd, const struct entry *e, const struct stat *st)
{
	char name[NAME_MAX + 1];
	struct stat mst;

	marker_name(name, sizeof(name), e);
	if (fstatat(dirfd, name, &mst, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(mst.st_mode))
		return b10t_last_used(st, &mst);
	return b10t_last_used(st, NULL);
}

static bool same_time(struct timespec a, struct timespec b)
{
	return a.tv_sec == b.tv_sec && a.tv_nsec == b.tv_nsec;
}

/* Written or touched since the scan (size or mtime), or another file. */
static bool moved(const struct entry *e, const struct stat *st, bool with_ctime)
{
	return st->st_size != (off_t)e->bytes || !same_time(st->st_mtim, e->mtim) ||
	       st->st_ino != e->ino || st->st_dev != e->dev ||
	       (with_ctime && !same_time(st->st_ctim, e->ctim));
}

/*
 * One look at an upload that gets past the client's attribute cache where
 * it can.  A fresh open is not enough: NFS revalidates attributes on open
 * (close-to-open), but sshfs answers getattr from its own cache (20 s by
 * default) however the file is opened, and drops that cache only on a
 * change it makes itself.  So the look also chmods the file to its own mode
 * through the fd: nothing changes but the ctime, and the client drops or
 * refreshes what it cached (sshfs purges the path; NFS and JuiceFS answer a
 * setattr with the server's attributes).  Where the chmod is refused (gc
 * does not own the upload, rclone) the look is the open's.  0, or -1 when
 * the upload is gone (published, removed: remove_entry sees it).  *fresh:
 * whether the chmod went through, so the ctime is ours.
 */
static int look(int dirfd, const char *name, struct stat *st, bool *fresh)
{
	int fd = openat(dirfd, name, O_RDONLY | O_NONBLOCK | O_NOFOLLOW | O_CLOEXEC), r;

	*fresh = false;
	if (fd < 0) {
		if (errno == ENOENT)
			return -1;
		return fstatat(dirfd, name, st, AT_SYMLINK_NOFOLLOW) < 0 ? -1 : 0;
	}
	if (fstat(fd, st) == 0 && S_ISREG(st->st_mode) && fchmod(fd, st->st_mode & 07777) == 0)
		*fresh = true;
	r = fstat(fd, st);
	close(fd);
	return r < 0 ? -1 : 0;
}

/* What remove_entry compares with from now on: the latest look. */
static void take_look(struct entry *e, const struct stat *st)
{
	e->bytes = (uint64_t)st->st_size;
	e->mtime = st->st_mtime;
	e->mtim = st->st_mtim;
	e->ctim = st->st_ctim;
}

static bool live_candidate(const struct entry *e, const struct b10t_config *cfg,
			   const struct b10t_gc_opts *o, int64_t now)
{
	uint64_t age = age_of(now, e->mtime);

	return e->kind == K_UPLOAD && !e->live &&
	       age >= debris_timeout(K_UPLOAD, cfg, o->stale_s) && age < LIVE_CHECK_MAX_AGE_S;
}

static void mark_live(struct b10t_ctx *ctx, struct entry *e, size_t *live, const char *why)
{
	e->live = true;
	(*live)++;
	b10t_debug(ctx, "gc: %s is live (%s): kept", e->name, why);
}

enum { LOOK_PENDING = 1, LOOK_FRESH = 2 };

/*
 * Live uploads: every upload gc would remove that looks younger than
 * LIVE_CHECK_MAX_AGE_S is looked at twice (look()), before and after
 * LIVE_WAIT_MS, one wait for the whole pass.  Live, and kept: one that
 * moved since the scan (the scan's listing and stat may come from the
 * client's cache), one the first look shows younger than the floor or the
 * stale age, one that moved between the looks.  Moved: size, mtime, inode;
 * the ctime too where neither look chmod-ed (ours moves it).
 */
static int check_live(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
		      struct scan *s, const struct b10t_gc_opts *o, int64_t now)
{
	size_t n = 0, live = 0, left = 0;
	unsigned char *how;	/* per entry: PENDING (a second look due), FRESH */
	double t0 = b10t_now();
	int r = 0;

	for (size_t i = 0; i < s->n; i++)
		if (live_candidate(&s->e[i], cfg, o, now))
			n++;
	if (!n)
		return 0;
	if (!(how = calloc(s->n, 1)))
		return b10t_set_error(ctx, ENOMEM, "gc: out of memory");
	for (size_t i = 0; i < s->n; i++) {
		struct entry *e = &s->e[i];
		struct stat st;
		bool fresh;

		if (!live_candidate(e, cfg, o, now) || look(dirfd, e->name, &st, &fresh) < 0)
			continue;
		if (moved(e, &st, !fresh))
			mark_live(ctx, e, &live, "it moved since the scan's cached view");
		else if (age_of(time(NULL), st.st_mtime) < debris_timeout(K_UPLOAD, cfg, o->stale_s))
			mark_live(ctx, e, &live, "written within the stale age, as the server has it");
		else
			how[i] = LOOK_PENDING | (fresh ? LOOK_FRESH : 0), left++;
		take_look(e, &st);
	}
	for (int waited = 0; left && waited < LIVE_WAIT_MS; waited += 100) {
		if ((r = b10t_check_cancel(ctx)) < 0)
			goto out;
		nanosleep(&(struct timespec){ 0, 100 * 1000000L }, NULL);
	}
	for (size_t i = 0; left && i < s->n; i++) {
		struct entry *e = &s->e[i];
		struct stat st;
		bool again;

		if (!(how[i] & LOOK_PENDING) || look(dirfd, e->name, &st, &again) < 0)
			continue;
		if (moved(e, &st, !(how[i] & LOOK_FRESH) && !again))
			mark_live(ctx, e, &live, "its size or times moved during the pass");
		take_look(e, &st);
	}
	b10t_debug(ctx, "gc: %zu of %zu uploads past the stale age are live (%.1f s check)",
		   live, n, b10t_now() - t0);
out:
	free(how);
	return r;
}

/*
 * The time a debris entry's age counts from: its mtime.  An unclaimed
 * archive is an upload renamed to its own name a moment before its claim:
 * it is aged like the upload it was (its last write), the claim is looked
 * up by name just before the unlink (claimed_now), and a save whose
 * archive went meanwhile takes its claim back (save.c, check_committed).
 */
static int64_t debris_time(const struct entry *e, const struct stat *st)
{
	return st ? st->st_mtime : e->mtime;
}

/* Whether the claim of generation archive `name` names it now (looked up
 * by name: the listing may be older than a publish). */
static bool claimed_now(int dirfd, const char *name)
{
	struct b10t_name an = { 0 }, cn = { 0 }, got;
	char claim[NAME_MAX + 1], why[96], built[NAME_MAX + 1];
	enum b10t_name_kind k = b10t_name_parse(B10T_SIDE_STORE, name, &an);

	if (k != B10T_NAME_GEN && k != B10T_NAME_BASE)
		return false;
	cn = an;
	cn.kind = k == B10T_NAME_GEN ? B10T_NAME_CLAIM : B10T_NAME_BASE_CLAIM;
	if (b10t_name_build(claim, sizeof(claim), &cn) < 0)
		return false;
	cn.kind = b10t_name_parse(B10T_SIDE_STORE, claim, &cn);
	/* Unsure (a read error) counts as claimed: keep. */
	switch (b10t_read_claim(dirfd, claim, &cn, &got, why, sizeof(why))) {
	case 0:
		return b10t_name_build(built, sizeof(built), &got) == 0 && !strcmp(built, name);
	case 1:
	case -ENOENT:
		return false;
	default:
		return true;
	}
}

/* Whether a bad claim seen by the scan is good now (its archive is there). */
static bool claim_good_now(int dirfd, const struct entry *e)
{
	struct b10t_name cn = { 0 }, an;
	char why[96], archive[NAME_MAX + 1];
	struct stat st;

	b10t_name_parse(B10T_SIDE_STORE, e->name, &cn);
	if (b10t_read_claim(dirfd, e->name, &cn, &an, why, sizeof(why)) != 0 ||
	    b10t_name_build(archive, sizeof(archive), &an) < 0)
		return false;
	return fstatat(dirfd, archive, &st, AT_SYMLINK_NOFOLLOW) == 0 || errno != ENOENT;
}

/*
 * Remove one entry if it is still what the scan saw.  Returns 1 when removed
 * (or would be, dry run), 0 when skipped (gone, replaced, touched since),
 * negative on a real error.
 */
static int remove_entry(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
			struct entry *e, const struct b10t_gc_opts *o,
			struct b10t_gc_result *res, const char *reason)
{
	struct stat st;
	int64_t now = time(NULL);

	if (fstatat(dirfd, e->name, &st, AT_SYMLINK_NOFOLLOW) < 0) {
		if (errno == ENOENT)
			return 0;	/* another gc or a load's corrupt-rename won */
		return b10t_sys_error(ctx, errno, "checking %s/%s", cfg->store_dir,
				      e->name);
	}
	if ((e->kind == K_PROBE ? !S_ISDIR(st.st_mode) : !S_ISREG(st.st_mode)) ||
	    st.st_dev != e->dev || st.st_ino != e->ino)
		return 0;	/* replaced by a new file of the same name */
	if (e->kind == K_ARCHIVE) {
		if (used_now(dirfd, e, &st) != e->last_used)
			return 0;	/* loaded since we looked: no longer the LRU */
	} else if (e->kind == K_CLAIM) {
		;	/* evicted with its key, whose archives evict_key checked */
	} else if (age_of(now, debris_time(e, &st)) < debris_timeout(e->kind, cfg, o->stale_s)) {
		return 0;	/* its writer is alive after all */
	} else if (e->kind == K_UNCLAIMED && claimed_now(dirfd, e->name)) {
		return 0;	/* its claim was published after the scan's listing */
	} else if (e->kind == K_BADCLAIM && claim_good_now(dirfd, e)) {
		return 0;	/* its archive is there after all */
	} else if ((e->kind == K_UPLOAD || e->kind == K_MARKER) && moved(e, &st, false)) {
		return 0;	/* written, or a load used the key, since the scan */
	} else if (e->kind == K_PROBE && !same_time(st.st_mtim, e->mtim)) {
		return 0;	/* its probe took a step since the scan: alive */
	} else if (e->kind == K_MARKER && b10t_store_key_has_archive(dirfd, e->name + e->key_off,
								       e->key_len)) {
		return 0;	/* published again since the scan: its last use */
	}
	if (e->kind == K_PROBE) {
		int pr = o->dry_run ? 0 : b10t_probe_dir_remove(dirfd, e->name);

		if (pr == -ENOENT)
			return 0;
		if (pr < 0) {
			/* Something not the probe's is in it: not ours to remove. */
			b10t_debug(ctx, "gc: the probe dir %s stays: %s", e->name, strerror(-pr));
			return 0;
		}
	} else if (!o->dry_run && unlinkat(dirfd, e->name, 0) < 0) {
		if (errno == ENOENT)
			return 0;
		return b10t_sys_error(ctx, errno, "removing %s/%s", cfg->store_dir,
				      e->name);
	}
	b10t_debug(ctx, "%s %s (%s, %llu bytes)", o->dry_run ? "would remove" : "removed",
		   e->name, reason, (unsigned long long)e->bytes);
	e->removed = true;
	if (add_item(res, e, reason) < 0)
		return b10t_set_error(ctx, ENOMEM, "gc: out of memory");
	return 1;
}

static int by_gen_desc(const void *a, const void *b)
{
	const struct entry *x = *(const struct entry *const *)a;
	const struct entry *y = *(const struct entry *const *)b;

	return x->gen > y->gen ? -1 : x->gen < y->gen;
}

/*
 * Evict the key `lead` leads: nothing when one of its archives was used
 * since the scan; else its claims first, highest generation first (a
 * reader then sees a smaller set, never a claim without its archive), then
 * its archives.  0, or the first error.
 */
static int evict_key(struct b10t_ctx *ctx, const struct b10t_config *cfg, int dirfd,
		     struct scan *s, struct entry *lead, const struct b10t_gc_opts *o,
		     struct b10t_gc_result *res)
{
	size_t lo = (size_t)(lead - s->e), hi = lo + 1, nc = 0;
	struct entry **claims;
	int r = 0, err = 0;

	while (lo > 0 && in_run(lead, &s->e[lo - 1]))
		lo--;
	while (hi < s->n && in_run(lead, &s->e[hi]))
		hi++;
	for (size_t i = lo; i < hi; i++) {
		struct entry *a = &s->e[i];
		struct stat st;

		if (a->kind != K_ARCHIVE || a->lead != lead)
			continue;
		if (fstatat(dirfd, a->name, &st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    used_now(dirfd, a, &st) != a->last_used)
			return 0;	/* loaded since we looked: no longer the LRU */
	}
	if (!(claims = calloc(hi - lo, sizeof(*claims))))
		return b10t_set_error(ctx, ENOMEM, "gc: out of memory");
	for (size_t i = lo; i < hi; i++)
		if (s->e[i].kind == K_CLAIM && s->e[i].lead == lead)
			claims[nc++] = &s->e[i];
	qsort(claims, nc, sizeof(*claims), by_gen_desc);
	for (size_t i = 0; i < nc && r != -ENOMEM; i++)
		if ((r = remove_entry(ctx, cfg, dirfd, claims[i], o, res, lead->evict)) < 0 && !err)
			err = r;
	free(claims);
	for (size_t i = lo; i < hi && r != -ENOMEM; i++) {
		struct entry *a = &s->e[i];

		if (a->kind == K_ARCHIVE && a->lead == lead &&
		    (r = remove_entry(ctx, cfg, dirfd, a, o, res, lead->evict)) < 0 && !err)
			err = r;
	}
	return err;
}

void b10t_gc_opts_init(struct b10t_gc_opts *opts, const struct b10t_config *cfg)
{
	memset(opts, 0, sizeof(*opts));
	opts->stale_s = cfg->incomplete_timeout_s;
}

void b10t_gc_result_free(struct b10t_gc_result *res)
{
	free(res->items);
	res->items = NULL;
	res->n_items = 0;
	for (size_t i = 0; i < res->n_keep_missing; i++)
		free(res->keep_missing[i]);
	free(res->keep_missing);
	res->keep_missing = NULL;
	res->n_keep_missing = 0;
}

int b10t_gc(struct b10t_ctx *ctx, const struct b10t_config *cfg,
	    const struct b10t_gc_opts *opts, struct b10t_gc_result *res)
{
	struct scan s = { 0 };
	double t0 = b10t_now();
	int64_t now = time(NULL);
	uint64_t store_freed;
	int dirfd, r, first_err = 0;

	memset(res, 0, sizeof(*res));
	res->status = B10T_ERROR;
	res->dry_run = opts->dry_run;
	if ((r = b10t_store_check(ctx, cfg)) < 0)
		return r;
	dirfd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		return b10t_sys_error(ctx, errno, "opening the store %s", cfg->store_dir);
	/* What compaction covers goes first: its archives are then no set's,
	 * and the scan below counts only what stays. */
	if ((r = b10t_gc_covered(ctx, cfg, dirfd, opts->dry_run, add_covered, res)) < 0)
		goto out;
	if ((r = scan_store(ctx, cfg, dirfd, &s)) < 0)
		goto out;
	/* The size before: what the scan saw, and what compaction covered. */
	res->store_bytes_before = opts->dry_run ? 0 : res->freed_bytes;
	for (size_t i = 0; i < s.n; i++)
		res->store_bytes_before += s.e[i].bytes;
	make_groups(&s);
	if ((opts->max_size_set || opts->max_age_set) &&
	    (r = plan_eviction(ctx, &s, opts, now, res)) < 0) {
		r = b10t_set_error(ctx, -r, "gc: out of memory");
		goto out;
	}
	if ((r = find_keep_missing(&s, opts, res)) < 0) {
		r = b10t_set_error(ctx, -r, "gc: out of memory");
		goto out;
	}
	b10t_debug(ctx, "gc: scanned %zu entries of interest in %.3f s", s.n, b10t_now() - t0);
	if ((r = check_live(ctx, cfg, dirfd, &s, opts, now)) < 0)
		goto out;

	/* Debris first, then archives, then the markers of gone archives: name
	 * order, so the report is stable. */
	for (size_t i = 0; i < s.n; i++) {
		struct entry *e = &s.e[i];

		if (e->kind == K_ARCHIVE || e->kind == K_MARKER || e->kind == K_CLAIM ||
		    e->kind == K_OTHER || e->live ||
		    age_of(now, debris_time(e, NULL)) < debris_timeout(e->kind, cfg, opts->stale_s))
			continue;
		r = remove_entry(ctx, cfg, dirfd, e, opts, res, kind_reason(e->kind));
		if (r < 0 && !first_err)
			first_err = r;
		if (r == -ENOMEM)
			break;
	}
	for (size_t i = 0; i < s.n; i++) {
		struct entry *e = &s.e[i];

		if (!leads(e))
			continue;
		if (e->evict && first_err != -ENOMEM) {
			r = evict_key(ctx, cfg, dirfd, &s, e, opts, res);
			if (r < 0 && !first_err)
				first_err = r;
		}
	}
	/* What stays: each archive still there (skipped, or used since). */
	for (size_t i = 0; i < s.n; i++) {
		struct entry *e = &s.e[i];

		if (e->kind != K_ARCHIVE)
			continue;
		if (e->removed || (e->lead && e->lead->evict &&
				   faccessat(dirfd, e->name, F_OK, AT_SYMLINK_NOFOLLOW) < 0))
			continue;
		res->kept++;
		res->kept_bytes += e->bytes;
		if (e->marker)
			e->marker->archive_kept = true;
	}
	/* A marker whose key has no archive left records nothing: debris once
	 * it is older than the stale window (a load may have just made it). */
	for (size_t i = 0; i < s.n && first_err != -ENOMEM; i++) {
		struct entry *e = &s.e[i];

		if (e->kind != K_MARKER || e->archive_kept ||
		    age_of(now, e->mtime) < debris_timeout(K_MARKER, cfg, opts->stale_s))
			continue;
		r = remove_entry(ctx, cfg, dirfd, e, opts, res, kind_reason(K_MARKER));
		if (r < 0 && !first_err)
			first_err = r;
	}
	store_freed = res->freed_bytes;
	res->store_bytes_after = res->store_bytes_before > store_freed ?
				 res->store_bytes_before - store_freed : 0;
	/* What killed loads and clears left next to the local cache dir. */
	b10t_local_debris(ctx, cfg, opts->dry_run, add_local, res);
	/* The statistics' files: bounded in size, old records dropped. */
	b10t_stats_gc(ctx, cfg, opts->dry_run, now, add_local, res);
	r = first_err;
	b10t_debug(ctx, "gc: %zu removed, %llu bytes, %llu archives kept, %.3f s",
		   res->n_items, (unsigned long long)res->freed_bytes,
		   (unsigned long long)res->kept, b10t_now() - t0);
out:
	scan_free(&s);
	close(dirfd);
	if (r == 0)
		res->status = B10T_SUCCESS;
	return r;
}

/* ---- the cooperative cleanup of load and save ------------------------- */

int b10t_gc_cooperative(struct b10t_ctx *ctx, const struct b10t_config *cfg)
{
	double t0 = b10t_now();
	int64_t now = time(NULL);
	struct dirent *de;
	unsigned long n = 0;
	int fd, removed = 0, err;
	DIR *d;

	if (!b10t_store_enabled(cfg))
		return 0;
	fd = open(cfg->store_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || !(d = fdopendir(fd))) {
		b10t_debug(ctx, "cleanup: cannot read the store %s: %s", cfg->store_dir,
			   strerror(errno));
		if (fd >= 0)
			close(fd);
		return 0;
	}
	while ((de = b10t_readdir(d, &err))) {
		enum kind k;
		struct stat st;

		if (++n > COOP_MAX_ENTRIES)
			break;
		if (n % 16 == 0 && b10t_now() - t0 > COOP_BUDGET_S)
			break;
		k = classify(de->d_name, NULL, NULL, NULL);
		if (k != K_UPLOAD && k != K_LOCK)
			continue;
		if (de->d_type != DT_REG && de->d_type != DT_UNKNOWN)
			continue;
		if (fstatat(fd, de->d_name, &st, AT_SYMLINK_NOFOLLOW) < 0 ||
		    !S_ISREG(st.st_mode) ||
		    age_of(now, st.st_mtime) < debris_timeout(k, cfg, cfg->incomplete_timeout_s))
			continue;
		if (unlinkat(fd, de->d_name, 0) == 0) {
			removed++;
			b10t_debug(ctx, "cleanup: removed stale %s", de->d_name);
		}
		/* a remove on NFS can take a round trip: mind the budget */
		if (b10t_now() - t0 > COOP_BUDGET_S)
			break;
	}
	/* Housekeeping: a failed read ends it, said only in the debug log. */
	if (err)
		b10t_debug(ctx, "cleanup: reading the store %s: %s", cfg->store_dir, strerror(err));
	closedir(d);
	b10t_debug(ctx, "cleanup: %d stale files removed, %lu entries seen, %.2f ms",
		   removed, n, (b10t_now() - t0) * 1e3);
	return removed;
}
