/* SPDX-License-Identifier: MIT */
/*
 * Fleet statistics: every load and save leaves one record in the store,
 * and b10t stats sums them (docs/store-protocol.md, "Statistics").
 *
 * One file per host, `.b10t-stats/<host>.log`, one line per record,
 * appended with O_APPEND in a single write() of well under PIPE_BUF
 * bytes.  Lock-free and safe on the network filesystems of docs/netfs.md:
 * only the processes of one host (one client, whose kernel serialises
 * their appends to one inode) ever append to a file, so no filesystem has
 * to honour O_APPEND across clients (sshfs and other FUSE clients do not:
 * each writes at the size it last saw).  Counters replaced by rename would
 * lose the updates of concurrent processes of one host; appends lose none.
 *
 * A record is never worth a slower or failed load: open, one write, close,
 * no fsync, and every failure is silent (a debug line at most).  `--zero`
 * writes a marker time (`zero`, replaced by rename); older records no
 * longer count, and gc drops them when it trims a file past
 * B10T_STATS_FILE_MAX (rewritten through a temp and a rename).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "internal.h"

#define RECORD_MAGIC "b10t1"
#define RECORD_MAX 512			/* one write, atomic on every filesystem we know */
#define READ_MAX (16u << 20)		/* a host file is read up to this (its newest bytes) */

static int64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the record: one struct, one writer, one reader -------------------- */

static const char *const verbs[] = { "load", "save", "update", NULL };
static const char *const outcomes[] = { "hit", "miss", "skipped", "error", "saved", NULL };

static bool in(const char *s, size_t len, const char *const *set)
{
	for (size_t i = 0; set[i]; i++)
		if (strlen(set[i]) == len && !memcmp(set[i], s, len))
			return true;
	return false;
}

static bool host_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-';
}

static bool kind_char(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
	       c == '_' || c == '-';
}

static bool all(const char *s, size_t len, bool (*ok)(char))
{
	for (size_t i = 0; i < len; i++)
		if (!ok(s[i]))
			return false;
	return true;
}

int b10t_stats_format(char *buf, size_t size, const struct b10t_stats_record *rec)
{
	size_t hl = strlen(rec->host), kl = strlen(rec->kind);
	int n;

	if (!hl || hl >= sizeof(rec->host) || !all(rec->host, hl, host_char) ||
	    !in(rec->verb, strlen(rec->verb), verbs) ||
	    !in(rec->outcome, strlen(rec->outcome), outcomes) ||
	    kl >= B10T_STATS_KIND_MAX || !all(rec->kind, kl, kind_char) ||
	    !b10t_valid_key(rec->key, strlen(rec->key)) || rec->time_ms < 0)
		return -EINVAL;
	n = snprintf(buf, size, RECORD_MAGIC " %" PRId64 " %s %s %s %s %" PRIu64 " %" PRIu64 " %s\n",
		     rec->time_ms, rec->host, rec->verb, rec->outcome, kl ? rec->kind : "-",
		     rec->bytes, rec->duration_us, rec->key);
	if (n < 0 || (size_t)n >= size)
		return -EINVAL;
	return n;
}

/* A decimal number of at most 19 digits. */
static bool number(const char *s, size_t len, uint64_t *v)
{
	*v = 0;
	if (!len || len > 19)
		return false;
	for (size_t i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return false;
		*v = *v * 10 + (uint64_t)(s[i] - '0');
	}
	return true;
}

int b10t_stats_parse(const char *line, size_t len, struct b10t_stats_record *rec)
{
	const char *f[9];
	size_t fl[9], nf = 0;
	uint64_t t;
	const char *p = line, *end = line + len;

	memset(rec, 0, sizeof(*rec));
	while (nf < 9) {
		const char *q = memchr(p, ' ', (size_t)(end - p));

		if (!q)
			q = end;
		f[nf] = p;
		fl[nf++] = (size_t)(q - p);
		if (q == end)
			break;
		p = q + 1;
	}
	if (nf != 9 || f[8] + fl[8] != end)
		return -EINVAL;	/* too few fields, or more than nine */
	if (fl[0] != strlen(RECORD_MAGIC) || memcmp(f[0], RECORD_MAGIC, fl[0]) ||
	    !number(f[1], fl[1], &t) || t > INT64_MAX ||
	    !fl[2] || fl[2] >= sizeof(rec->host) || !all(f[2], fl[2], host_char) ||
	    !in(f[3], fl[3], verbs) || !in(f[4], fl[4], outcomes) ||
	    !fl[5] || fl[5] >= B10T_STATS_KIND_MAX ||
	    (!(fl[5] == 1 && f[5][0] == '-') && !all(f[5], fl[5], kind_char)) ||
	    !number(f[6], fl[6], &rec->bytes) || !number(f[7], fl[7], &rec->duration_us) ||
	    fl[8] >= sizeof(rec->key) || !b10t_valid_key(f[8], fl[8]))
		return -EINVAL;
	rec->time_ms = (int64_t)t;
	memcpy(rec->host, f[2], fl[2]);
	memcpy(rec->verb, f[3], fl[3]);
	memcpy(rec->outcome, f[4], fl[4]);
	if (!(fl[5] == 1 && f[5][0] == '-'))
		memcpy(rec->kind, f[5], fl[5]);
	memcpy(rec->key, f[8], fl[8]);
	return 0;
}

const char *b10t_stats_error_kind(int err, char *buf, size_t size)
{
	static const struct { int err; const char *name; } names[] = {
		{ EACCES, "EACCES" }, { EPERM, "EPERM" }, { ENOENT, "ENOENT" },
		{ ENOTDIR, "ENOTDIR" }, { EISDIR, "EISDIR" }, { EEXIST, "EEXIST" },
		{ ENOSPC, "ENOSPC" }, { EDQUOT, "EDQUOT" }, { EROFS, "EROFS" },
		{ EIO, "EIO" }, { EBADMSG, "EBADMSG" }, { EPROTO, "EPROTO" },
		{ EINVAL, "EINVAL" }, { EFBIG, "EFBIG" }, { E2BIG, "E2BIG" },
		{ ENOMEM, "ENOMEM" }, { EINTR, "EINTR" }, { ETIMEDOUT, "ETIMEDOUT" },
		{ ESTALE, "ESTALE" }, { EBUSY, "EBUSY" }, { ELOOP, "ELOOP" },
		{ ENAMETOOLONG, "ENAMETOOLONG" }, { EMFILE, "EMFILE" }, { ENFILE, "ENFILE" },
		{ EXDEV, "EXDEV" }, { ENOSYS, "ENOSYS" }, { EOPNOTSUPP, "EOPNOTSUPP" },
		{ ERANGE, "ERANGE" }, { EOVERFLOW, "EOVERFLOW" }, { ENOTEMPTY, "ENOTEMPTY" },
		{ EAGAIN, "EAGAIN" }, { ECANCELED, "ECANCELED" }, { EILSEQ, "EILSEQ" }, { ENXIO, "ENXIO" },
	};

	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (names[i].err == err)
			return names[i].name;
	snprintf(buf, size, "E%d", err);
	return buf;
}

/* The host part of the writer tag ([a-z0-9-]), as the upload names have it. */
static void host_name(char *buf, size_t size)
{
	char tag[NAME_MAX + 1], *dot;

	if (b10t_writer_tag(tag, sizeof(tag), B10T_TAG_HOST, '.') < 0)
		strcpy(tag, "host");
	if ((dot = strchr(tag, '.')))
		*dot = '\0';
	snprintf(buf, size, "%s", tag);
}

/* The zero marker's name (lib/names.c's table). */
static const char *zero_name(void)
{
	static char name[16];
	struct b10t_name n = { .kind = B10T_NAME_STATS_ZERO };

	if (!name[0] && b10t_name_build(name, sizeof(name), &n) < 0)
		strcpy(name, "zero");
	return name;
}

static int stats_path(char *buf, size_t size, const struct b10t_config *cfg, const char *name)
{
	int n = snprintf(buf, size, "%s/" B10T_STATS_DIR "%s%s", cfg->store_dir, name ? "/" : "",
			 name ? name : "");

	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static int open_stats_dir(const struct b10t_config *cfg, bool create);

int b10t_stats_note(struct b10t_ctx *ctx, const struct b10t_config *cfg, const char *verb,
		    const char *key, const struct b10t_result *res, int r)
{
	struct b10t_stats_record rec = { 0 };
	struct b10t_name n = { .kind = B10T_NAME_STATS_LOG };
	enum b10t_status st = r < 0 ? B10T_ERROR : res->status;
	int err = r < 0 ? -r : st == B10T_ERROR ? -ctx->err_code : 0;
	char line[RECORD_MAX], name[NAME_MAX + 1], path[PATH_MAX], kb[16];
	bool load = !strcmp(verb, "load");
	struct stat sb;
	ssize_t w;
	int fd, dfd, len, e;

	if (!cfg->stats || cfg->fs_enabled == 0 || !key || !b10t_valid_key(key, strlen(key)))
		return 0;
	/* A full disk: the failed save must leave the store as it was, and a
	 * record there could only make it fuller. */
	if (st == B10T_ERROR && (err == ENOSPC || err == EDQUOT))
		return 0;
	rec.time_ms = now_ms();
	host_name(rec.host, sizeof(rec.host));
	snprintf(rec.verb, sizeof(rec.verb), "%s", verb);
	snprintf(rec.key, sizeof(rec.key), "%s", key);
	switch (st) {
	case B10T_SUCCESS:
		snprintf(rec.outcome, sizeof(rec.outcome), "%s", load ? "hit" : "saved");
		break;
	case B10T_DOES_NOT_EXIST:
		snprintf(rec.outcome, sizeof(rec.outcome), "miss");
		break;
	case B10T_SKIPPED:
		snprintf(rec.outcome, sizeof(rec.outcome), "skipped");
		if (res->why && strlen(res->why) < sizeof(rec.kind))
			snprintf(rec.kind, sizeof(rec.kind), "%s", res->why);
		break;
	default:
		snprintf(rec.outcome, sizeof(rec.outcome), "error");
		snprintf(rec.kind, sizeof(rec.kind), "%s",
			 b10t_stats_error_kind(err > 0 ? err : EIO, kb, sizeof(kb)));
	}
	if (st == B10T_SUCCESS)
		rec.bytes = res->archive_bytes;
	rec.duration_us = res->elapsed_s > 0 ? (uint64_t)(res->elapsed_s * 1e6) : 0;
	if ((len = b10t_stats_format(line, sizeof(line), &rec)) < 0)
		return 0;
	snprintf(n.uniq, sizeof(n.uniq), "%s", rec.host);
	if (b10t_name_build(name, sizeof(name), &n) < 0 || stats_path(path, sizeof(path), cfg, NULL) < 0)
		return 0;
	/* The dir and the file, neither followed if a symlink: the store is
	 * shared with others' code, a record goes nowhere else. */
	dfd = open_stats_dir(cfg, true);
	fd = dfd < 0 ? -1 : openat(dfd, name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC |
					       O_NOFOLLOW | O_NONBLOCK | O_NOCTTY, 0666);
	e = errno;
	if (dfd >= 0)
		close(dfd);
	if (fd < 0) {
		b10t_debug(ctx, "stats: no record: %s/%s: %s", path, name, strerror(e));
		return 0;
	}
	if (fstat(fd, &sb) < 0 || !S_ISREG(sb.st_mode)) {
		b10t_debug(ctx, "stats: no record: %s/%s is not a regular file", path, name);
		close(fd);
		return 0;
	}
	w = write(fd, line, (size_t)len);
	if (w != len)
		b10t_debug(ctx, "stats: no record: writing %s/%s: %s", path, name,
			   w < 0 ? strerror(errno) : "short write");
	close(fd);
	return w == len;
}

/* ---- reading ------------------------------------------------------------ */

/* The whole file dirfd/name (a regular file, not followed), at most
 * READ_MAX of its newest bytes, into a malloc'ed *buf.  0 or -errno. */
static int slurp(int dirfd, const char *name, char **buf, size_t *len, struct stat *st)
{
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY);
	off_t off = 0;
	size_t n = 0, want;
	char *b;

	*buf = NULL;
	*len = 0;
	if (fd < 0)
		return -errno;
	if (fstat(fd, st) < 0 || !S_ISREG(st->st_mode)) {
		close(fd);
		return -EINVAL;
	}
	want = (size_t)st->st_size;
	if (want > READ_MAX) {
		off = st->st_size - READ_MAX;
		want = READ_MAX;
	}
	if (!(b = malloc(want + 1))) {
		close(fd);
		return -ENOMEM;
	}
	while (n < want) {
		ssize_t r = pread(fd, b + n, want - n, off + (off_t)n);

		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		n += (size_t)r;
	}
	close(fd);
	b[n] = '\0';
	*buf = b;
	*len = n;
	return 0;
}

/* The time of the zero marker in the stats dir, 0 when none (or not one). */
static int64_t zero_time(int dirfd)
{
	struct stat st;
	char *b;
	size_t len;
	uint64_t v;
	int64_t t = 0;

	if (slurp(dirfd, zero_name(), &b, &len, &st) < 0)
		return 0;
	if (len > 1 && b[len - 1] == '\n' && number(b, len - 1, &v) && v <= INT64_MAX)
		t = (int64_t)v;
	free(b);
	return t;
}

static void count(struct b10t_stats_count *c, size_t *n, const char *name)
{
	size_t i;

	if (!name[0])
		name = "other";
	for (i = 0; i < *n; i++)
		if (!strcmp(c[i].name, name))
			break;
	if (i == *n) {
		if (*n == B10T_STATS_KINDS_MAX) {
			i = *n - 1;	/* the last slot becomes "other" */
			snprintf(c[i].name, sizeof(c[i].name), "other");
		} else {
			snprintf(c[i].name, sizeof(c[i].name), "%s", name);
			c[i].n = 0;
			(*n)++;
		}
	}
	c[i].n++;
}

struct acc {
	struct b10t_stats_sum sum;
	uint64_t *durs;			/* the hit loads' times, us */
	size_t n_durs, cap_durs;
};

static void add(struct acc *a, const struct b10t_stats_record *r)
{
	struct b10t_stats_sum *s = &a->sum;
	bool load = !strcmp(r->verb, "load");

	if (!strcmp(r->outcome, "error")) {
		if (load)
			s->load_errors++;
		else
			s->save_errors++;
		count(s->errors, &s->n_errors, r->kind);
	} else if (!strcmp(r->outcome, "skipped")) {
		if (load)
			s->load_skipped++;
		else
			s->save_skipped++;
		count(s->skips, &s->n_skips, r->kind);
	} else if (load && !strcmp(r->outcome, "hit")) {
		s->load_hits++;
		s->bytes_served += r->bytes;
		if (B10T_GROW(a->durs, a->cap_durs, a->n_durs + 1, 64) == 0)
			a->durs[a->n_durs++] = r->duration_us;
	} else if (load && !strcmp(r->outcome, "miss")) {
		s->load_misses++;
	} else if (!load && !strcmp(r->outcome, "saved")) {
		s->save_published++;
		s->bytes_saved += r->bytes;
	}
}

static int by_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static void median(struct acc *a)
{
	size_t n = a->n_durs;

	if (!n)
		return;
	qsort(a->durs, n, sizeof(*a->durs), by_u64);
	a->sum.has_median = true;
	a->sum.median_load_s = (n % 2 ? (double)a->durs[n / 2] :
				((double)a->durs[n / 2 - 1] + (double)a->durs[n / 2]) / 2) / 1e6;
}

static int by_key(const void *a, const void *b)
{
	return strcmp(((const struct acc *)a)->sum.key, ((const struct acc *)b)->sum.key);
}

int b10t_stats_read(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		    const struct b10t_stats_query *q, struct b10t_stats_report *out)
{
	struct acc total = { 0 }, *keys = NULL;
	size_t n_keys = 0, cap_keys = 0, n_names = 0;
	char path[PATH_MAX], **names = NULL;
	int dirfd, r;

	memset(out, 0, sizeof(*out));
	if ((r = b10t_store_check(ctx, cfg)) < 0)
		return r;
	if (stats_path(path, sizeof(path), cfg, NULL) < 0)
		return b10t_set_error(ctx, ENAMETOOLONG, "the store path is too long");
	dirfd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (dirfd < 0) {
		if (errno == ENOENT)
			return 0;	/* no record yet */
		return b10t_sys_error(ctx, errno, "opening %s", path);
	}
	out->zeroed_ms = zero_time(dirfd);
	if ((r = b10t_dir_names(dup(dirfd), &names, &n_names)) < 0) {
		close(dirfd);
		return b10t_sys_error(ctx, -r, "reading %s", path);
	}
	for (size_t i = 0; i < n_names && r == 0; i++) {
		struct stat st;
		char *buf, *p, *end;
		size_t len;

		if (b10t_name_parse(B10T_SIDE_STATS, names[i], NULL) != B10T_NAME_STATS_LOG)
			continue;
		if (slurp(dirfd, names[i], &buf, &len, &st) < 0)
			continue;	/* gone, or not a file: nobody's records */
		out->hosts++;
		out->file_bytes += (uint64_t)st.st_size;
		p = buf;
		end = buf + len;
		if ((uint64_t)st.st_size > len) {	/* read from the middle: skip a part line */
			char *nl = memchr(p, '\n', len);

			p = nl ? nl + 1 : end;
		}
		while (p < end) {
			char *nl = memchr(p, '\n', (size_t)(end - p));
			struct b10t_stats_record rec;
			struct acc *a = NULL;

			if (!nl) {	/* a record being written, or torn */
				out->bad_lines++;
				break;
			}
			if (b10t_stats_parse(p, (size_t)(nl - p), &rec) < 0) {
				out->bad_lines++;
				p = nl + 1;
				continue;
			}
			p = nl + 1;
			if (rec.time_ms < out->zeroed_ms || rec.time_ms < q->since_ms ||
			    (q->key && strcmp(q->key, rec.key)))
				continue;
			for (size_t k = 0; k < n_keys; k++)
				if (!strcmp(keys[k].sum.key, rec.key)) {
					a = &keys[k];
					break;
				}
			if (!a) {
				if (B10T_GROW(keys, cap_keys, n_keys + 1, 16) < 0) {
					r = b10t_set_error(ctx, ENOMEM, "stats: out of memory");
					break;
				}
				a = &keys[n_keys++];
				memset(a, 0, sizeof(*a));
				snprintf(a->sum.key, sizeof(a->sum.key), "%s", rec.key);
			}
			add(a, &rec);
			add(&total, &rec);
			out->records++;
			if (!out->first_ms || rec.time_ms < out->first_ms)
				out->first_ms = rec.time_ms;
			if (rec.time_ms > out->last_ms)
				out->last_ms = rec.time_ms;
		}
		free(buf);
	}
	b10t_free_names(names, n_names);
	close(dirfd);
	if (r == 0 && n_keys && !(out->keys = calloc(n_keys, sizeof(*out->keys))))
		r = b10t_set_error(ctx, ENOMEM, "stats: out of memory");
	if (n_keys > 1)
		qsort(keys, n_keys, sizeof(*keys), by_key);
	for (size_t k = 0; k < n_keys; k++) {
		median(&keys[k]);
		if (out->keys)
			out->keys[k] = keys[k].sum;
		free(keys[k].durs);
	}
	out->n_keys = out->keys ? n_keys : 0;
	median(&total);
	out->total = total.sum;
	free(total.durs);
	free(keys);
	return r;
}

void b10t_stats_report_free(struct b10t_stats_report *rep)
{
	free(rep->keys);
	rep->keys = NULL;
	rep->n_keys = 0;
}

/* ---- zero and gc -------------------------------------------------------- */

/* A fresh temp name of the stats dir into buf. */
static int temp_name(char *buf, size_t size)
{
	struct b10t_name n = { .kind = B10T_NAME_STATS_TEMP };
	char tag[NAME_MAX + 1];
	int r;

	if ((r = b10t_writer_tag(tag, sizeof(tag), B10T_TAG_HOST, '.')) < 0)
		return r;
	n.tag = tag;
	return b10t_name_build(buf, size, &n);
}

/* Write `len` bytes to a new temp of dirfd and rename it to `name`
 * (replacing it).  0 or -errno; no temp left behind. */
static int replace_file(int dirfd, const char *name, const char *data, size_t len,
			const char *append_from, off_t from, off_t *grew)
{
	char tmp[NAME_MAX + 1];
	int fd, r = 0;
	size_t done = 0;

	if ((r = temp_name(tmp, sizeof(tmp))) < 0)
		return r;
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0666);
	if (fd < 0)
		return -errno;
	while (done < len) {
		ssize_t w = write(fd, data + done, len - done);

		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			r = w < 0 ? -errno : -EIO;
			break;
		}
		done += (size_t)w;
	}
	/* What the host appended while we read it: copy its whole lines over,
	 * so that only an append in the instant of the rename can be lost. */
	if (!r && append_from) {
		struct stat st;
		int src = openat(dirfd, append_from, O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);

		if (src >= 0 && fstat(src, &st) == 0 && st.st_size > from &&
		    st.st_size - from < (off_t)READ_MAX) {
			size_t n = (size_t)(st.st_size - from);
			char *b = malloc(n);
			ssize_t got = b ? pread(src, b, n, from) : -1;

			if (got > 0) {
				char *last = memrchr(b, '\n', (size_t)got);

				if (last && write(fd, b, (size_t)(last + 1 - b)) == last + 1 - b)
					*grew = last + 1 - b;
			}
			free(b);
		}
		if (src >= 0)
			close(src);
	}
	if (close(fd) < 0 && !r)
		r = -errno;
	if (!r && renameat(dirfd, tmp, dirfd, name) < 0)
		r = -errno;
	if (r)
		unlinkat(dirfd, tmp, 0);
	return r;
}

static int open_stats_dir(const struct b10t_config *cfg, bool create)
{
	char path[PATH_MAX];
	int fd;

	if (stats_path(path, sizeof(path), cfg, NULL) < 0) {
		errno = ENAMETOOLONG;
		return -1;
	}
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd < 0 && errno == ENOENT && create && (mkdir(path, 0777) == 0 || errno == EEXIST))
		fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	return fd;
}

int b10t_stats_zero(struct b10t_ctx *ctx, const struct b10t_config *cfg, int64_t *at_ms)
{
	char line[32];
	int fd, r, n;

	if ((r = b10t_store_check(ctx, cfg)) < 0)
		return r;
	if ((fd = open_stats_dir(cfg, true)) < 0)
		return b10t_sys_error(ctx, errno, "opening %s/" B10T_STATS_DIR, cfg->store_dir);
	*at_ms = now_ms();
	n = snprintf(line, sizeof(line), "%" PRId64 "\n", *at_ms);
	r = replace_file(fd, zero_name(), line, (size_t)n, NULL, 0, NULL);
	close(fd);
	if (r < 0)
		return b10t_sys_error(ctx, -r, "writing %s/" B10T_STATS_DIR "/%s", cfg->store_dir,
				      zero_name());
	return 0;
}

static bool keep_line(const char *s, size_t len, int64_t zero_ms)
{
	struct b10t_stats_record rec;

	return b10t_stats_parse(s, len, &rec) == 0 && rec.time_ms >= zero_ms;
}

/*
 * The lines of buf (len bytes) that gc keeps: records at or after zero_ms,
 * and of those, when trim, the newest up to half of B10T_STATS_FILE_MAX.
 * A line that is no record, or the part line at the end, goes.  Compacted
 * in place; the kept length.
 */
static size_t keep_lines(char *buf, size_t len, int64_t zero_ms, bool trim)
{
	size_t budget = trim ? B10T_STATS_FILE_MAX / 2 : (size_t)-1, used = 0, start, end;
	char *last = len ? memrchr(buf, '\n', len) : NULL, *w = buf;

	end = start = last ? (size_t)(last - buf) + 1 : 0;
	/* From the end: the newest records are the last ones appended. */
	while (start > 0) {
		size_t e = start - 1, s = e;	/* buf[e] is the '\n' ending the line */

		while (s > 0 && buf[s - 1] != '\n')
			s--;
		if (keep_line(buf + s, e - s, zero_ms)) {
			if (used + (e + 1 - s) > budget)
				break;
			used += e + 1 - s;
		}
		start = s;
	}
	for (size_t s = start; s < end;) {
		char *nl = memchr(buf + s, '\n', end - s);
		size_t l = (size_t)(nl - (buf + s)) + 1;

		if (keep_line(buf + s, l - 1, zero_ms)) {
			memmove(w, buf + s, l);
			w += l;
		}
		s += l;
	}
	return (size_t)(w - buf);
}

void b10t_stats_gc(struct b10t_ctx *ctx, const struct b10t_config *cfg, bool dry_run,
		   int64_t now, void (*report)(void *, const char *, const char *, uint64_t),
		   void *arg)
{
	char **names = NULL, shown[NAME_MAX + sizeof(B10T_STATS_DIR) + 2];
	size_t n_names = 0;
	int64_t zero;
	int fd = open_stats_dir(cfg, false);

	if (fd < 0)
		return;
	zero = zero_time(fd);
	if (b10t_dir_names(dup(fd), &names, &n_names) < 0) {
		close(fd);
		return;
	}
	for (size_t i = 0; i < n_names; i++) {
		enum b10t_name_kind k = b10t_name_parse(B10T_SIDE_STATS, names[i], NULL);
		const char *reason = NULL;
		uint64_t freed = 0;
		struct stat st, now_st;
		char *buf;
		size_t len, kept;

		snprintf(shown, sizeof(shown), B10T_STATS_DIR "/%s", names[i]);
		if (fstatat(fd, names[i], &st, AT_SYMLINK_NOFOLLOW) < 0 || !S_ISREG(st.st_mode))
			continue;
		if (k == B10T_NAME_STATS_TEMP) {
			/* a zero or a trim killed before its rename */
			if ((uint64_t)(now - st.st_mtime) < cfg->incomplete_timeout_s)
				continue;
			if (!dry_run && unlinkat(fd, names[i], 0) < 0)
				continue;
			report(arg, shown, "stats-temp", (uint64_t)st.st_size);
			continue;
		}
		if (k != B10T_NAME_STATS_LOG)
			continue;
		if (now - st.st_mtime > B10T_STATS_HOST_MAX_AGE_S ||
		    (zero && (int64_t)st.st_mtime * 1000 + 1000 < zero)) {
			/* a host gone quiet, or one with nothing since the zero */
			if (!dry_run && unlinkat(fd, names[i], 0) < 0)
				continue;
			report(arg, shown, zero && st.st_mtime * 1000LL + 1000 < zero ?
			       "stats-zeroed" : "stats-idle", (uint64_t)st.st_size);
			continue;
		}
		if (st.st_size <= B10T_STATS_FILE_MAX && !zero)
			continue;
		if (slurp(fd, names[i], &buf, &len, &st) < 0)
			continue;
		kept = keep_lines(buf, len, zero, st.st_size > B10T_STATS_FILE_MAX);
		if (kept == 0 && b10t_fstatat_fresh(fd, names[i], &now_st, AT_SYMLINK_NOFOLLOW) == 0 &&
		    now_st.st_size == st.st_size && now_st.st_ino == st.st_ino) {
			/* nothing to keep (all before the zero): the file goes */
			if (dry_run || unlinkat(fd, names[i], 0) == 0)
				report(arg, shown, zero ? "stats-zeroed" : "stats-trim",
				       (uint64_t)st.st_size);
		} else if (kept < (size_t)st.st_size) {
			off_t grew = 0;
			int r = dry_run ? 0 : replace_file(fd, names[i], buf, kept, names[i],
							   st.st_size, &grew);

			if (r < 0)
				b10t_debug(ctx, "gc: trimming %s: %s", shown, strerror(-r));
			else {
				freed = (uint64_t)st.st_size - kept;
				reason = "stats-trim";
			}
		}
		free(buf);
		if (reason)
			report(arg, shown, reason, freed);
	}
	b10t_free_names(names, n_names);
	close(fd);
}
