/* SPDX-License-Identifier: MIT */
/*
 * Every name b10t knows, in one table: what gc, list, load, save, clear and
 * doctor build and recognize in the store and next to the cache dir.  A
 * name is built from its row's pattern and parsed against the rows in
 * order, first match wins, so a change of naming is a change of this table
 * (docs/store-protocol.md, "Names in the store").
 *
 * Pattern tokens:
 *   <key>     [A-Za-z0-9_-]+, at most NAME_MAX - 32 bytes (b10t_valid_key);
 *             keys have no dot, so the first dot after "cache_" ends one
 *   <n>       a generation: decimal, >= 1, no leading zero
 *   <uniq>    [a-z0-9-]+, a writer's tag (b10t_writer_tag with '-')
 *   <ext>     a format's extension (formats[] below), <legacy> only those
 *             the legacy .latest names were ever written with
 *   <tag>     build: the caller's fresh suffix; parse: any run (its start
 *             goes to rest_off, for local.c's debris rules)
 *   <base>    local sibling names: the cache dir's name (n->base), cut to
 *             B10T_NAME_BASE_MAX bytes
 *   *         parse only: any run, possibly empty
 * Anything else is literal.
 */
#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "internal.h"

/* The formats, in the order a reader prefers them for legacy names. */
static const struct {
	enum b10t_format fmt;
	const char *ext, *name;
	bool legacy;		/* written as cache_<key>.latest<ext> by someone */
} formats[] = {
	{ B10T_FMT_LZ4, ".tar.lz4", "lz4", true },
	{ B10T_FMT_GZ, ".tar.gz", "gz", true },	/* the reference's */
	/* B10T_CODEC=zstd: generations only (no released b10t wrote a
	 * .latest.tar.zst; an unmerged branch's test stores did) */
	{ B10T_FMT_ZSTD, ".tar.zst", "zstd", false },
};
#define N_FORMATS (sizeof(formats) / sizeof(formats[0]))

/*
 * The names.  `build`: the row b10t_name_build uses for its kind (one per
 * kind that b10t writes); the others only recognize.  Order matters for
 * parsing: hidden names are never store names of ours (but .nfs*, the
 * doctor's probe dir), an upload or a corrupt name is debris whatever else
 * it looks like, a lock beats a published-looking name.
 */
static const struct pattern {
	enum b10t_name_side side;
	enum b10t_name_kind kind;
	const char *pat;
	bool build;
} patterns[] = {
	{ B10T_SIDE_STORE, B10T_NAME_NFS, ".nfs*", false },
	{ B10T_SIDE_STORE, B10T_NAME_DOCTOR, ".b10t-doctor.<tag>", true },
	{ B10T_SIDE_STORE, B10T_NAME_STATS_DIR, B10T_STATS_DIR, true },
	{ B10T_SIDE_STORE, B10T_NAME_NONE, ".*", false },
	{ B10T_SIDE_STORE, B10T_NAME_CLAIM_TEMP, "cache_<key>.incomplete.<tag>.claim", true },
	{ B10T_SIDE_STORE, B10T_NAME_UPLOAD, "cache_<key>.incomplete.<tag><ext>", true },
	{ B10T_SIDE_STORE, B10T_NAME_UPLOAD, "cache_<key>.incomplete", false },
	{ B10T_SIDE_STORE, B10T_NAME_UPLOAD, "cache_<key>.incomplete.*", false },
	/* other writers' variants (the reference's): debris by the same rule */
	{ B10T_SIDE_STORE, B10T_NAME_UPLOAD, "cache_*.incomplete*", false },
	{ B10T_SIDE_STORE, B10T_NAME_CORRUPT, "cache_<key>.corrupt.<tag><ext>", true },
	{ B10T_SIDE_STORE, B10T_NAME_CORRUPT, "cache_*.corrupt.*", false },
	{ B10T_SIDE_STORE, B10T_NAME_LOCK, "*.lock", false },
	{ B10T_SIDE_STORE, B10T_NAME_LATEST, "cache_<key>.latest<legacy>", true },
	{ B10T_SIDE_STORE, B10T_NAME_CLAIM, "cache_<key>.g<n>", true },
	{ B10T_SIDE_STORE, B10T_NAME_GEN, "cache_<key>.g<n>.<uniq><ext>", true },
	{ B10T_SIDE_STORE, B10T_NAME_BASE_CLAIM, "cache_<key>.b<n>", true },
	{ B10T_SIDE_STORE, B10T_NAME_BASE, "cache_<key>.b<n>.<uniq><ext>", true },
	{ B10T_SIDE_STORE, B10T_NAME_MARKER, "cache_<key>.used", true },
	/* what every name of the key starts with (built, never parsed) */
	{ B10T_SIDE_STORE, B10T_NAME_KEY_PREFIX, "cache_<key>.", true },

	{ B10T_SIDE_LOCAL, B10T_NAME_INSTALL, B10T_INSTALL_MARKER, true },
	/* siblings first: a cache dir named "b10t-staging" has siblings that
	 * look like inside names (those are parsed with no base) */
	{ B10T_SIDE_LOCAL, B10T_NAME_STAGING, ".<base>.b10t-staging.<tag>", true },
	{ B10T_SIDE_LOCAL, B10T_NAME_CLEAR, ".<base>.b10t-clear.<tag>", true },
	{ B10T_SIDE_LOCAL, B10T_NAME_INSIDE, ".b10t-staging.<tag>", true },

	/* inside B10T_STATS_DIR: <uniq> is the host part of b10t_writer_tag */
	{ B10T_SIDE_STATS, B10T_NAME_STATS_TEMP, ".tmp.<tag>", true },
	{ B10T_SIDE_STATS, B10T_NAME_STATS_ZERO, "zero", true },
	{ B10T_SIDE_STATS, B10T_NAME_STATS_LOG, "<uniq>.log", true },
};
#define N_PATTERNS (sizeof(patterns) / sizeof(patterns[0]))

const char *b10t_format_ext(enum b10t_format fmt)
{
	for (size_t i = 0; i < N_FORMATS; i++)
		if (formats[i].fmt == fmt)
			return formats[i].ext;
	return "";
}

const char *b10t_format_name(enum b10t_format fmt)
{
	for (size_t i = 0; i < N_FORMATS; i++)
		if (formats[i].fmt == fmt)
			return formats[i].name;
	return "unknown";
}

static bool key_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	       (c >= 'A' && c <= 'Z') || c == '_' || c == '-';
}

static bool uniq_char(char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-';
}

bool b10t_valid_key(const char *key, size_t len)
{
	if (len == 0 || len > NAME_MAX - 32)
		return false;
	for (size_t i = 0; i < len; i++)
		if (!key_char(key[i]))
			return false;
	return true;
}

const char *b10t_key_arg(const char *arg, struct b10t_archive_info *info)
{
	const char *k = b10t_parse_archive_name(arg, info) ? info->key : arg;

	return b10t_valid_key(k, strlen(k)) ? k : NULL;
}

/* ---- matching ---------------------------------------------------------- */

struct match {
	const char *name;		/* the whole name, for offsets */
	struct b10t_name *out;
	const char *base;
};

static bool token(const char *p, const char *tok, const char **after)
{
	size_t n = strlen(tok);

	if (strncmp(p, tok, n))
		return false;
	*after = p + n;
	return true;
}

/* Whether s matches the pattern p; captures into m->out. */
static bool match(struct match *m, const char *p, const char *s)
{
	struct b10t_name *o = m->out;
	const char *q;

	while (*p) {
		if (*p == '*' || token(p, "<tag>", &q)) {
			const char *rest = *p == '*' ? p + 1 : q;

			if (*p != '*')
				o->rest_off = (size_t)(s - m->name);
			for (const char *t = s;; t++) {
				if (match(m, rest, t))
					return true;
				if (!*t)
					return false;
			}
		}
		if (token(p, "<key>", &q)) {
			const char *t = s;

			while (key_char(*t))
				t++;
			if (!b10t_valid_key(s, (size_t)(t - s)))
				return false;
			o->key_off = (size_t)(s - m->name);
			o->key_len = (size_t)(t - s);
			memcpy(o->key, s, o->key_len);
			o->key[o->key_len] = '\0';
			s = t;
			p = q;
		} else if (token(p, "<uniq>", &q)) {
			const char *t = s;

			while (uniq_char(*t))
				t++;
			if (t == s || (size_t)(t - s) > NAME_MAX)
				return false;
			memcpy(o->uniq, s, (size_t)(t - s));
			o->uniq[t - s] = '\0';
			s = t;
			p = q;
		} else if (token(p, "<n>", &q)) {
			uint64_t v = 0;

			if (*s < '1' || *s > '9')
				return false;	/* none, 0, or a leading zero */
			for (; *s >= '0' && *s <= '9'; s++) {
				if (v > (UINT64_MAX - 9) / 10)
					return false;
				v = v * 10 + (uint64_t)(*s - '0');
			}
			o->gen = v;
			p = q;
		} else if (token(p, "<ext>", &q) || token(p, "<legacy>", &q)) {
			bool legacy = p[1] == 'l';
			size_t i;

			for (i = 0; i < N_FORMATS; i++) {
				size_t n = strlen(formats[i].ext);

				if ((!legacy || formats[i].legacy) && !strncmp(s, formats[i].ext, n) &&
				    match(m, q, s + n)) {
					o->format = formats[i].fmt;
					return true;
				}
			}
			return false;
		} else if (token(p, "<base>", &q)) {
			size_t n = m->base ? strlen(m->base) : 0;

			if (!n)
				return false;
			if (n > B10T_NAME_BASE_MAX)
				n = B10T_NAME_BASE_MAX;
			if (strncmp(s, m->base, n))
				return false;
			s += n;
			p = q;
		} else {
			if (*p != *s)
				return false;
			p++;
			s++;
		}
	}
	return *s == '\0';
}

enum b10t_name_kind b10t_name_parse(enum b10t_name_side side, const char *name,
				    struct b10t_name *out)
{
	struct b10t_name tmp = { 0 };
	struct match m = { .name = name };

	if (!out)
		out = &tmp;
	m.base = out->base;
	if (strlen(name) > NAME_MAX)
		return out->kind = B10T_NAME_NONE;
	for (size_t i = 0; i < N_PATTERNS; i++) {
		const char *base = out->base;

		if (patterns[i].side != side || patterns[i].kind == B10T_NAME_KEY_PREFIX)
			continue;
		memset(out, 0, sizeof(*out));
		out->base = base;
		m.out = out;
		if (match(&m, patterns[i].pat, name)) {
			out->kind = patterns[i].kind;
			return out->kind;
		}
	}
	memset(out, 0, sizeof(*out));
	out->base = m.base;
	return B10T_NAME_NONE;
}

/* ---- building ---------------------------------------------------------- */

static bool put(char *buf, size_t size, size_t *len, const char *s, size_t n)
{
	if (*len + n >= size)
		return false;
	memcpy(buf + *len, s, n);
	*len += n;
	buf[*len] = '\0';
	return true;
}

int b10t_name_build(char *buf, size_t size, const struct b10t_name *n)
{
	const struct pattern *pt = NULL;
	const char *p, *q;
	size_t len = 0;

	if (size)
		buf[0] = '\0';
	for (size_t i = 0; i < N_PATTERNS && !pt; i++)
		if (patterns[i].kind == n->kind && patterns[i].build)
			pt = &patterns[i];
	if (!pt || !size)
		return -EINVAL;
	for (p = pt->pat; *p;) {
		char num[24];
		const char *s = NULL;
		size_t sl = 0;

		if (token(p, "<key>", &q)) {
			if (!b10t_valid_key(n->key, strlen(n->key)))
				return -EINVAL;
			s = n->key;
		} else if (token(p, "<uniq>", &q)) {
			for (s = n->uniq; *s; s++)
				if (!uniq_char(*s))
					return -EINVAL;
			if (!n->uniq[0])
				return -EINVAL;
			s = n->uniq;
		} else if (token(p, "<n>", &q)) {
			if (n->gen == 0)
				return -EINVAL;
			snprintf(num, sizeof(num), "%llu", (unsigned long long)n->gen);
			s = num;
		} else if (token(p, "<ext>", &q) || token(p, "<legacy>", &q)) {
			s = b10t_format_ext(n->format);
			if (!*s)
				return -EINVAL;
		} else if (token(p, "<tag>", &q)) {
			if (!n->tag || !n->tag[0])
				return -EINVAL;
			s = n->tag;
		} else if (token(p, "<base>", &q)) {
			if (!n->base || !n->base[0])
				return -EINVAL;
			s = n->base;
			sl = strlen(s) > B10T_NAME_BASE_MAX ? B10T_NAME_BASE_MAX : strlen(s);
		} else {
			q = p + 1;
			s = p;
			sl = 1;
		}
		if (!sl)
			sl = strlen(s);
		if (!put(buf, size, &len, s, sl))
			return -ENAMETOOLONG;
		p = q;
	}
	return len > NAME_MAX ? -ENAMETOOLONG : 0;
}

int b10t_name_for_key(char *buf, size_t size, enum b10t_name_kind kind, const char *key,
		      uint64_t gen, enum b10t_format fmt)
{
	struct b10t_name n = { .kind = kind, .gen = gen, .format = fmt };

	if (strlen(key) >= sizeof(n.key)) {
		if (size)
			buf[0] = '\0';
		return -EINVAL;
	}
	strcpy(n.key, key);
	return b10t_name_build(buf, size, &n);
}

int b10t_name_key_prefix(char *buf, size_t size, const char *key)
{
	return b10t_name_for_key(buf, size, B10T_NAME_KEY_PREFIX, key, 0, B10T_FMT_LZ4);
}

/* ---- the unique suffix ------------------------------------------------- */

const char *b10t_origin_tag(void)
{
	static char tag[48];
	static bool done;
	char boot[64] = "";
	struct stat st;
	FILE *f;
	size_t i;

	if (done)
		return tag;
	done = true;
	if (stat("/proc/self/ns/pid", &st) < 0)
		return tag;
	f = fopen("/proc/sys/kernel/random/boot_id", "re");
	if (!f)
		return tag;
	if (!fgets(boot, sizeof(boot), f))
		boot[0] = '\0';
	fclose(f);
	for (i = 0; i < 8 && isxdigit((unsigned char)boot[i]); i++)
		boot[i] = (char)tolower((unsigned char)boot[i]);
	if (i < 8)
		return tag;
	snprintf(tag, sizeof(tag), "ns%llu-%.8s", (unsigned long long)st.st_ino, boot);
	return tag;
}

int b10t_writer_tag(char *buf, size_t size, enum b10t_tag_who who, char sep)
{
	char host[65] = "";
	const char *w = NULL;
	int n;

	if (who == B10T_TAG_HOST) {
		if (gethostname(host, sizeof(host) - 1) < 0 || !host[0])
			strcpy(host, "host");
		host[sizeof(host) - 1] = '\0';
		/* One token per separator, and a valid <uniq>: the host's
		 * dots and oddities go. */
		for (char *p = host; *p; p++)
			*p = uniq_char((char)tolower((unsigned char)*p)) ?
			     (char)tolower((unsigned char)*p) : '-';
		w = host;
	} else if (who == B10T_TAG_ORIGIN) {
		/* Without /proc the tag is "ns0-00000000": it matches no one,
		 * so local.c's age rule applies to it everywhere. */
		w = b10t_origin_tag()[0] ? b10t_origin_tag() : "ns0-00000000";
	}
	if (w)
		n = snprintf(buf, size, "%s%c%ld%c%016llx", w, sep, (long)getpid(), sep,
			     (unsigned long long)b10t_random64());
	else
		n = snprintf(buf, size, "%ld%c%016llx", (long)getpid(), sep,
			     (unsigned long long)b10t_random64());
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

/* ---- the API of b10t.h --------------------------------------------------- */

void b10t_archive_name(char *buf, size_t size, const char *key, enum b10t_format fmt)
{
	b10t_name_for_key(buf, size, B10T_NAME_LATEST, key, 0, fmt);
}

bool b10t_parse_archive_name(const char *name, struct b10t_archive_info *info)
{
	struct b10t_name n = { 0 };

	switch (b10t_name_parse(B10T_SIDE_STORE, name, &n)) {
	case B10T_NAME_LATEST:
	case B10T_NAME_GEN:
	case B10T_NAME_BASE:
		break;
	default:
		return false;
	}
	if (info) {
		memset(info, 0, sizeof(*info));
		snprintf(info->filename, sizeof(info->filename), "%s", name);
		memcpy(info->key, n.key, n.key_len + 1);
		info->format = n.format;
		info->generation = n.gen;
	}
	return true;
}

bool b10t_parse_incomplete_name(const char *name, char *key, size_t size)
{
	struct b10t_name n = { 0 };

	/* Ours and the reference's uploads with a key; a claim temp is no
	 * upload in flight (it lives for the instant of a publish). */
	if (b10t_name_parse(B10T_SIDE_STORE, name, &n) != B10T_NAME_UPLOAD || !n.key_len)
		return false;
	if (key) {
		if (n.key_len >= size)
			return false;
		memcpy(key, n.key, n.key_len + 1);
	}
	return true;
}

int b10t_incomplete_name(char *buf, size_t size, const char *key)
{
	return b10t_upload_name(buf, size, key, B10T_FMT_LZ4);
}

int b10t_upload_name(char *buf, size_t size, const char *key, enum b10t_format fmt)
{
	struct b10t_name n = { .kind = B10T_NAME_UPLOAD, .format = fmt };
	char tag[NAME_MAX + 1];
	int r;

	if (size)
		buf[0] = '\0';
	if (!b10t_valid_key(key, strlen(key)))
		return -EINVAL;
	strcpy(n.key, key);
	if ((r = b10t_writer_tag(tag, sizeof(tag), B10T_TAG_HOST, '.')) < 0)
		return r;
	n.tag = tag;
	return b10t_name_build(buf, size, &n);
}

int b10t_use_marker_name(char *buf, size_t size, const char *key)
{
	return b10t_name_for_key(buf, size, B10T_NAME_MARKER, key, 0, B10T_FMT_LZ4);
}

bool b10t_parse_use_marker(const char *name, char *key, size_t size)
{
	struct b10t_name n = { 0 };

	if (b10t_name_parse(B10T_SIDE_STORE, name, &n) != B10T_NAME_MARKER ||
	    (key && n.key_len >= size))
		return false;
	if (key)
		memcpy(key, n.key, n.key_len + 1);
	return true;
}

/* ---- the local side ------------------------------------------------------ */

int b10t_local_name(char *buf, size_t size, enum b10t_name_kind kind, const char *base)
{
	struct b10t_name n = { .kind = kind, .base = base };
	char tag[NAME_MAX + 1];
	int r;

	if ((r = b10t_writer_tag(tag, sizeof(tag), B10T_TAG_ORIGIN, '.')) < 0)
		return r;
	n.tag = tag;
	r = b10t_name_build(buf, size, &n);
	return r == -EINVAL ? -ENAMETOOLONG : r;
}

bool b10t_local_reserved(const char *name)
{
	enum b10t_name_kind k = b10t_name_parse(B10T_SIDE_LOCAL, name, NULL);

	return k == B10T_NAME_INSTALL || k == B10T_NAME_INSIDE;
}
