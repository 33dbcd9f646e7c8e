/* SPDX-License-Identifier: MIT */
/* Configuration: defaults, environment variables, command-line overrides. */
#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stddef.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b10t-int.h"

#define MIB (1024ULL * 1024)
#define SECOND 1000ULL		/* durations are milliseconds */
#define DAY (86400 * SECOND)

static const char *const bool_names[] = { "1", "true", "yes", "on", "0", "false", "no", "off", NULL };
static const char *const scheme_names[] = { "default", "b10-transfer", NULL };
/* Only the codecs save writes: gz is the reference's, read only. */
static const char *const codec_names[] = { "auto", "lz4", "zstd", NULL };
static const int codec_values[] = { B10T_CODEC_AUTO, B10T_FMT_LZ4, B10T_FMT_ZSTD };

#define AT(field) offsetof(struct b10t_config, field)

/*
 * Every setting, once.  The uses bits say which verbs read it (a bad value
 * stops only those); min/max are the range in the stored unit's base
 * (bytes, milliseconds); def is parsed like a value from the environment.
 */
const struct b10t_setting b10t_settings[B10T_SETTINGS_MAX] = {
	[B10T_SET_CACHE_DIR] = {
		"cache_dir", "TORCHINDUCTOR_CACHE_DIR", "cache-dir", "DIR", B10T_TYPE_PATH,
		B10T_USES_CACHE, AT(cache_dir), 0, 0, 0, NULL, "$TMPDIR/torchinductor_$USER",
		NULL, "the local cache dir",
		"As torch chooses it (*$TMPDIR* unset is _/tmp_). Never _/_, a system directory or a home directory itself." },
	[B10T_SET_STORE_DIR] = {
		"store_dir", "B10FS_CACHE_DIR", "store", "DIR", B10T_TYPE_PATH,
		B10T_USES_STORE, AT(store_dir), 0, 0, 0, "/cache/model/compile_cache", NULL,
		NULL, "the store, the shared directory", NULL },
	[B10T_SET_WORK_DIR] = {
		"work_dir", "LOCAL_WORK_DIR", "work-dir", "DIR", B10T_TYPE_PATH,
		B10T_USES_NONE, AT(work_dir), 0, 0, 0, "/app", NULL,
		NULL, "local scratch dir (b10-transfer's; b10t needs none)",
		"Accepted for b10-transfer's environments; no verb reads it, so a bad value breaks nothing." },
	[B10T_SET_MAX_CACHE_SIZE] = {
		"max_cache_size", "MAX_CACHE_SIZE_MB", "max-cache-size-mb", "SIZE", B10T_TYPE_SIZE,
		B10T_USES_PUBLISH, AT(max_cache_bytes), MIB, 1024 * 1024 * MIB, MIB, "1024", NULL,
		NULL, "largest archive save publishes; a plain number is MiB",
		"As in b10-transfer, a plain number is MiB; *20GB*, *1.5G* also work (see *SIZES AND DURATIONS* in *b10t*(1))." },
	[B10T_SET_MAX_CONCURRENT_SAVES] = {
		"max_concurrent_saves", "MAX_CONCURRENT_SAVES", "max-concurrent-saves", "N",
		B10T_TYPE_COUNT, B10T_USES_PUBLISH, AT(max_concurrent_saves), 1, 100000, 0, "50", NULL,
		NULL, "saves in flight in one store before save answers SKIPPED", NULL },
	[B10T_SET_LOCK_TIMEOUT] = {
		"lock_timeout", "CLEANUP_LOCK_TIMEOUT_SECONDS", "lock-timeout", "DURATION",
		B10T_TYPE_DURATION, B10T_USES_DEBRIS, AT(lock_timeout_s), 0, 30 * DAY, SECOND, "30", NULL,
		NULL, "age after which a *.lock is debris", "A plain number is seconds." },
	[B10T_SET_INCOMPLETE_TIMEOUT] = {
		"incomplete_timeout", "CLEANUP_INCOMPLETE_TIMEOUT_SECONDS", "incomplete-timeout",
		"DURATION", B10T_TYPE_DURATION, B10T_USES_DEBRIS, AT(incomplete_timeout_s), 0, 30 * DAY,
		SECOND, "60", NULL,
		NULL, "age after which an unfinished upload is debris", "A plain number is seconds." },
	[B10T_SET_FS_ENABLED] = {
		"fs_enabled", "BASETEN_FS_ENABLED", "fs-enabled", "BOOL", B10T_TYPE_BOOL,
		B10T_USES_ENABLED, AT(fs_enabled), 0, 0, 0, NULL, "enabled when the store dir exists",
		bool_names, "use the store: 1/true/yes/on or 0/false/no/off",
		"Any case. Disabled, *load* and *save* answer ERROR." },
	[B10T_SET_KEY_SCHEME] = {
		"key_scheme", "B10T_KEY_SCHEME", "key-scheme", "SCHEME", B10T_TYPE_CHOICE,
		B10T_USES_KEY, AT(key_scheme), 0, 0, 0, "default", NULL,
		scheme_names, "environment key scheme: default or b10-transfer",
		"*b10-transfer* finds the archives of the Python package (see *b10t-envkey*(1))." },
	[B10T_SET_VLLM_URL] = {
		"vllm_url", "B10_TRANSFER_VLLM_URL", "url", "URL", B10T_TYPE_URL,
		B10T_USES_VLLM, AT(vllm_url), 0, 0, 0, "http://127.0.0.1:8000/v1/models", NULL,
		NULL, "vLLM's readiness URL (http:// or https://)", NULL },
	[B10T_SET_VLLM_TIMEOUT] = {
		"vllm_timeout", "B10_TRANSFER_TIMEOUT_S", "timeout", "DURATION", B10T_TYPE_DURATION,
		B10T_USES_VLLM, AT(vllm_timeout_ms), 0, 7 * DAY, 1, "1800", NULL,
		NULL, "give up waiting for vLLM after this long", "A plain number is seconds; 0 does not wait." },
	[B10T_SET_VLLM_INTERVAL] = {
		"vllm_interval", "B10_TRANSFER_INTERVAL_S", "interval", "DURATION", B10T_TYPE_DURATION,
		B10T_USES_VLLM, AT(vllm_interval_ms), 100, 3600 * SECOND, 1, "2", NULL,
		NULL, "time between readiness probes", "A plain number is seconds, fractions allowed (0.5)." },
	[B10T_SET_VLLM_LOG_INTERVAL] = {
		"vllm_log_interval", "B10T_VLLM_LOG_INTERVAL", "log-interval", "DURATION", B10T_TYPE_DURATION,
		B10T_USES_VLLM, AT(vllm_log_interval_ms), 0, 3600 * SECOND, 1, "30", NULL,
		NULL, "while waiting for vLLM, log a line this often; 0: never",
		"A plain number is seconds. Each line says how long it has waited, of how long, and vLLM's last answer; none with *--quiet*." },
	[B10T_SET_CODEC] = {
		"codec", "B10T_CODEC", "codec", "CODEC", B10T_TYPE_CHOICE,
		B10T_USES_CODEC, AT(codec), 0, 0, 0, "auto", NULL,
		codec_names, "compression of save's archives: auto (zstd on a network store, else lz4), lz4, zstd",
		"*auto*: *zstd* when the store is on a network filesystem, FUSE, NFS, SMB, Ceph, "
		"Lustre or unknown; *lz4* on a local disk or tmpfs. *lz4* writes *.tar.lz4*, "
		"*zstd* *.tar.zst* (zstd frames with content checksums, compressed in one thread "
		"per CPU). *load* reads every format whatever this says, and an archive of either "
		"codec is the key's archive (*save* answers SKIPPED). The measurement behind the "
		"choice is in docs/netfs.md.", codec_values },
	[B10T_SET_ZSTD_LEVEL] = {
		"zstd_level", "B10T_ZSTD_LEVEL", "zstd-level", "N", B10T_TYPE_COUNT,
		B10T_USES_CODEC, AT(zstd_level), B10T_ZSTD_LEVEL_MIN, B10T_ZSTD_LEVEL_MAX, 0, "3", NULL,
		NULL, "zstd level of save, 1 (fastest) to 19", NULL },
	[B10T_SET_WATCH_QUIET] = {
		"watch_quiet_period", "B10T_WATCH_QUIET_PERIOD", "quiet-period", "DURATION",
		B10T_TYPE_DURATION, B10T_USES_FOLLOW, AT(watch_quiet_ms), 0, 7 * DAY, 1, "30", NULL,
		NULL, "publish once the cache dir had no change this long",
		"A plain number is seconds, fractions allowed (0.3)." },
	[B10T_SET_WATCH_MAX_WAIT] = {
		"watch_max_wait", "B10T_WATCH_MAX_WAIT", "max-wait", "DURATION",
		B10T_TYPE_DURATION, B10T_USES_FOLLOW, AT(watch_max_wait_ms), 0, 7 * DAY, 1, "600", NULL,
		NULL, "publish at the latest this long after a change, quiet or not; 0: never",
		"From the first unpublished change. A plain number is seconds." },
	[B10T_SET_WATCH_BUDGET] = {
		"watch_final_budget", "B10T_WATCH_FINAL_BUDGET", "final-budget", "DURATION",
		B10T_TYPE_DURATION, B10T_USES_FOLLOW, AT(watch_budget_ms), 0, 3600 * SECOND, 1, "20",
		NULL, NULL, "time the last publish may take after SIGTERM or the server's exit",
		"Below Kubernetes' default grace period of 30 s; *0* publishes nothing at the end. "
		"A plain number is seconds, fractions allowed (0.5)." },
	[B10T_SET_COMPACT_LAYERS] = {
		"compact_layers", "B10T_COMPACT_LAYERS", "compact-layers", "N", B10T_TYPE_COUNT,
		B10T_USES_PUBLISH, AT(compact_layers), 1, 100000, 0, "16", NULL,
		NULL, "update compacts a key past N layers", NULL },
	[B10T_SET_COMPACT_SIZE] = {
		"compact_size", "B10T_COMPACT_MB", "compact-mb", "SIZE", B10T_TYPE_SIZE,
		B10T_USES_PUBLISH, AT(compact_bytes), MIB, 1024 * 1024 * MIB, MIB, "1024", NULL,
		NULL, "update compacts a key past this size of layers; a plain number is MiB", NULL },
	[B10T_SET_COMPACT_GRACE] = {
		"compact_grace", "B10T_COMPACT_GRACE", "compact-grace", "DURATION",
		B10T_TYPE_DURATION, B10T_USES_DEBRIS, AT(compact_grace_s), 0, 30 * DAY, SECOND, "600",
		NULL, NULL, "age of a base before gc removes the layers it covers",
		"So that loads which listed the older set can finish. A plain number is seconds." },
	[B10T_SET_STATS] = {
		"stats", "B10T_STATS", "stats", "BOOL", B10T_TYPE_BOOL,
		B10T_USES_STATS, AT(stats), 0, 0, 0, "1", NULL,
		bool_names, "leave a record of each load and save in the store, for b10t stats",
		"One line appended to the host's file in the store's _.b10t-stats_ dir: no lock, "
		"no fsync, and a failure to write it changes nothing. *0* writes none "
		"(see *b10t-stats*(1))." },
	[B10T_SET_NAMESPACE] = {
		"namespace", "B10T_NAMESPACE", "namespace", "NAME", B10T_TYPE_NAME,
		B10T_USES_KEY, AT(key_namespace), 0, 0, 0, NULL, "none",
		NULL, "a model or build name that goes into the key, so models sharing a store do not collide",
		"1 to 64 letters, digits, dots, underscores or dashes, a letter or digit first. Unset, the key is "
		"what it always was, so existing stores keep working. Not with *--key-scheme "
		"b10-transfer* (the reference's key has no namespace). *b10t info* says when a "
		"store holds the archives of several namespaces." },
};
const size_t b10t_settings_count = B10T_SETTINGS_MAX;

/*
 * The system trees: nothing at or below these may be a cache dir, since
 * clear empties it and load fills it.  Any top-level "lib*" counts too
 * (/lib, /lib32, /lib64, /libx32, ...).  /var is one, except the two
 * scratch trees below it.
 */
static const char *const system_trees[] = {
	"bin", "boot", "dev", "etc", "proc", "run", "sbin", "sys", "usr", "var", NULL,
};
static const char *const var_scratch[] = { "tmp", "cache", NULL };

/* Shared parents: refused as the dir itself, fine for a dir below them. */
static const char *const shared_parents[] = {
	"/tmp", "/home", "/root", "/media", "/mnt", "/opt", "/srv", "/var/tmp",
	"/var/cache", "/app", "/cache", "/cache/model", NULL,
};

const char *b10t_scheme_name(enum b10t_key_scheme scheme)
{
	return scheme == B10T_SCHEME_B10_TRANSFER ? "b10-transfer" : "default";
}

int b10t_scheme_parse(const char *s, enum b10t_key_scheme *out)
{
	if (!strcmp(s, "default"))
		*out = B10T_SCHEME_DEFAULT;
	else if (!strcmp(s, "b10-transfer"))
		*out = B10T_SCHEME_B10_TRANSFER;
	else
		return -EINVAL;
	return 0;
}

/* Copy `path` without doubled or trailing slashes and "." components
 * ("/a/./b/." is "/a/b"), so two spellings of one dir compare equal. */
static void normalize(char *dst, const char *path)
{
	char *d = dst;

	for (const char *p = path; *p; p++) {
		if (*p == '/' && d > dst && d[-1] == '/')
			continue;
		if (*p == '.' && d > dst && d[-1] == '/' && (p[1] == '/' || !p[1]))
			continue;	/* a "." component: its slash goes with the next */
		*d++ = *p;
	}
	while (d > dst + 1 && d[-1] == '/')
		d--;
	*d = '\0';
}

/* Whether the first `len` bytes of `comp` are one of `names`. */
static bool comp_in(const char *comp, size_t len, const char *const *names)
{
	for (size_t i = 0; names[i]; i++)
		if (strlen(names[i]) == len && !strncmp(comp, names[i], len))
			return true;
	return false;
}

/* `path` is normalized and absolute. */
static bool in_system_tree(const char *path)
{
	const char *c1 = path + 1, *c2;
	size_t l1, l2;

	if (!*c1)
		return true;	/* "/" itself */
	l1 = strcspn(c1, "/");
	if (l1 >= 3 && !strncmp(c1, "lib", 3))
		return true;
	if (!comp_in(c1, l1, system_trees))
		return false;
	if (l1 != 3 || strncmp(c1, "var", 3))
		return true;
	/* /var/tmp/x and /var/cache/x are scratch space; /var/tmp itself is a
	 * shared parent, refused below. */
	if (c1[l1] != '/')
		return true;
	c2 = c1 + l1 + 1;
	l2 = strcspn(c2, "/");
	return !comp_in(c2, l2, var_scratch);
}

static bool is_dangerous(const char *path)
{
	const char *home = getenv("HOME");
	struct passwd *pw = getpwuid(geteuid());
	char h[PATH_MAX];

	if (path[0] != '/' || in_system_tree(path))
		return true;
	for (size_t i = 0; shared_parents[i]; i++)
		if (!strcmp(path, shared_parents[i]))
			return true;
	if (home && *home == '/' && strlen(home) < sizeof(h)) {
		normalize(h, home);
		if (!strcmp(path, h))
			return true;
	}
	if (pw && pw->pw_dir && pw->pw_dir[0] == '/' && strlen(pw->pw_dir) < sizeof(h)) {
		normalize(h, pw->pw_dir);
		if (!strcmp(path, h))
			return true;
	}
	/* /home/NAME itself */
	if (!strncmp(path, "/home/", 6) && !strchr(path + 6, '/'))
		return true;
	return false;
}

/*
 * `path` with symlinks resolved; when it does not exist yet, the nearest
 * existing ancestor resolved with the rest appended, so that a new dir
 * below a link into /usr is seen as the /usr dir it would become.  A
 * dangling link on the way is followed to where it points (mkdir through
 * it would create its target).  False when nothing resolves (then the
 * given path is all there is to check).
 */
static bool resolve(const char *path, char *out, int depth)
{
	char buf[PATH_MAX], real[PATH_MAX], link[PATH_MAX], next[PATH_MAX];
	const char *rest;
	struct stat st;
	ssize_t n;

	if (realpath(path, out))
		return true;
	snprintf(buf, sizeof(buf), "%s", path);
	while (lstat(buf, &st) < 0) {	/* the longest prefix that exists, as an entry */
		char *slash = strrchr(buf, '/');

		if (!slash || slash == buf) {
			strcpy(real, "/");
			rest = path;
			goto join;
		}
		*slash = '\0';
	}
	rest = path + strlen(buf);
	if (realpath(buf, real))
		goto join;
	/* Its last component is a dangling symlink: follow it by hand. */
	if (!S_ISLNK(st.st_mode) || depth >= 8 ||
	    (n = readlink(buf, link, sizeof(link) - 1)) <= 0)
		return false;
	link[n] = '\0';
	if (link[0] == '/') {
		if ((size_t)snprintf(next, sizeof(next), "%s%s", link, rest) >= sizeof(next))
			return false;
	} else {
		*strrchr(buf, '/') = '\0';	/* its directory */
		if ((size_t)snprintf(next, sizeof(next), "%s/%s%s", buf, link, rest) >=
		    sizeof(next))
			return false;
	}
	return resolve(next, out, depth + 1);
join:
	return (size_t)snprintf(out, PATH_MAX, "%s%s", strcmp(real, "/") ? real : "",
				rest) < PATH_MAX;
}

int b10t_check_cache_dir(struct b10t_ctx *ctx, const char *path)
{
	char norm[PATH_MAX], real[PATH_MAX], rnorm[PATH_MAX], esc[B10T_ESCAPE_SIZE(256)];

	if (strlen(path) >= sizeof(norm))
		return b10t_set_error(ctx, ENAMETOOLONG, "cache dir: path too long");
	normalize(norm, path);
	if (is_dangerous(norm))
		return b10t_set_error(ctx, EPERM,
			"refusing to use %s as the cache dir: it is a system or home directory",
			b10t_escape(esc, sizeof(esc), path, 256));
	if (resolve(norm, real, 0)) {
		normalize(rnorm, real);
		if (is_dangerous(rnorm)) {
			char esc2[B10T_ESCAPE_SIZE(256)];
			return b10t_set_error(ctx, EPERM,
				"refusing to use %s as the cache dir: it resolves to %s, a system or home directory",
				b10t_escape(esc, sizeof(esc), path, 256),
				b10t_escape(esc2, sizeof(esc2), rnorm, 256));
		}
	}
	return 0;
}

/* A value echoed in a message: escaped and cut, so the error is one line. */
#define SHOW_MAX 64
#define SHOW(buf, v) b10t_escape(buf, sizeof(buf), v, SHOW_MAX)

static int check_path(struct b10t_ctx *ctx, const char *origin, const char *value)
{
	char esc[B10T_ESCAPE_SIZE(SHOW_MAX)];
	size_t len = strlen(value);

	if (!len)
		return b10t_set_error(ctx, EINVAL, "%s is empty", origin);
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return b10t_set_error(ctx, EINVAL, "%s=%s: control character in path",
					      origin, SHOW(esc, value));
	if (value[0] != '/')
		return b10t_set_error(ctx, EINVAL, "%s=%s: not an absolute path", origin,
				      SHOW(esc, value));
	if (len >= PATH_MAX - 128)
		return b10t_set_error(ctx, ENAMETOOLONG, "%s=%s: path too long", origin,
				      SHOW(esc, value));
	for (const char *p = value; (p = strstr(p, "..")); p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
			return b10t_set_error(ctx, EINVAL, "%s=%s: '..' is not allowed", origin,
					      SHOW(esc, value));
	return 0;
}

static void default_cache_dir(char *buf, size_t size)
{
	/* As torch does: tempfile.gettempdir() + "torchinductor_" + getpass.getuser() */
	static const char *const user_vars[] = { "LOGNAME", "USER", "LNAME", "USERNAME", NULL };
	const char *tmp = getenv("TMPDIR"), *user = NULL;
	struct passwd *pw;
	char uidbuf[32];

	if (!tmp || tmp[0] != '/' || strlen(tmp) > 1024)
		tmp = "/tmp";
	for (size_t i = 0; user_vars[i] && !user; i++) {
		const char *u = getenv(user_vars[i]);
		if (u && *u && !strchr(u, '/') && strlen(u) < 256)
			user = u;
	}
	if (!user && (pw = getpwuid(geteuid())))
		user = pw->pw_name;
	if (!user) {
		snprintf(uidbuf, sizeof(uidbuf), "%u", (unsigned)geteuid());
		user = uidbuf;
	}
	snprintf(buf, size, "%s/torchinductor_%s", tmp, user);
}

/* "1 MiB", "1 TiB", "123 B": the largest binary unit that divides exactly. */
static const char *show_size(char *buf, size_t size, uint64_t v)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
	size_t u = 0;

	while (v && u + 1 < sizeof(units) / sizeof(units[0]) && !(v % 1024)) {
		v /= 1024;
		u++;
	}
	snprintf(buf, size, "%" PRIu64 " %s", v, units[u]);
	return buf;
}

/* "30d", "90s", "100ms": the largest unit that divides exactly. */
static const char *show_duration(char *buf, size_t size, uint64_t ms)
{
	static const struct { const char *name; uint64_t ms; } units[] = {
		{ "d", DAY }, { "h", 3600 * SECOND }, { "m", 60 * SECOND }, { "s", SECOND },
	};

	for (size_t i = 0; ms && i < sizeof(units) / sizeof(units[0]); i++)
		if (!(ms % units[i].ms)) {
			snprintf(buf, size, "%" PRIu64 "%s", ms / units[i].ms, units[i].name);
			return buf;
		}
	snprintf(buf, size, ms ? "%" PRIu64 "ms" : "0s", ms);
	return buf;
}

int b10t_value_size(struct b10t_ctx *ctx, const char *origin, const char *value,
		    uint64_t plain, uint64_t min, uint64_t max, uint64_t *bytes)
{
	char esc[B10T_ESCAPE_SIZE(SHOW_MAX)], lo[32], hi[32];
	uint64_t v;
	int r = b10t_parse_size_in(value, plain, &v);

	if (r == -EINVAL)
		return b10t_set_error(ctx, EINVAL, "%s=%s: not a size (" B10T_SIZE_EXAMPLES ")",
				      origin, SHOW(esc, value));
	if (r < 0 || v < min || v > max)
		return b10t_set_error(ctx, ERANGE, "%s=%s: must be between %s and %s", origin,
				      SHOW(esc, value), show_size(lo, sizeof(lo), min),
				      show_size(hi, sizeof(hi), max));
	*bytes = v;
	return 0;
}

int b10t_value_duration(struct b10t_ctx *ctx, const char *origin, const char *value,
			uint64_t min_ms, uint64_t max_ms, uint64_t unit_ms, uint64_t *out)
{
	char esc[B10T_ESCAPE_SIZE(SHOW_MAX)], lo[32], hi[32];
	uint64_t ms;
	int r = b10t_parse_duration_ms(value, &ms);

	if (r == -EINVAL)
		return b10t_set_error(ctx, EINVAL, "%s=%s: not a duration (" B10T_DURATION_EXAMPLES ")",
				      origin, SHOW(esc, value));
	if (r < 0 || ms < min_ms || ms > max_ms)
		return b10t_set_error(ctx, ERANGE, "%s=%s: must be between %s and %s", origin,
				      SHOW(esc, value), show_duration(lo, sizeof(lo), min_ms),
				      show_duration(hi, sizeof(hi), max_ms));
	if (ms % unit_ms)
		return b10t_set_error(ctx, EINVAL, "%s=%s: not a whole number of %s", origin,
				      SHOW(esc, value), unit_ms == SECOND ? "seconds" : "units");
	*out = ms / unit_ms;
	return 0;
}

/*
 * Only decimal digits: strtoull alone would take leading blanks, a sign
 * ("-1" wraps to 2^64-1) and stop silently at trailing junk.
 */
static int parse_count(struct b10t_ctx *ctx, const char *origin, const char *value,
		       uint64_t min, uint64_t cap, uint64_t *out)
{
	char esc[B10T_ESCAPE_SIZE(SHOW_MAX)];
	unsigned long long v;
	size_t len = strlen(value);

	if (strspn(value, "0123456789") != len)
		return b10t_set_error(ctx, EINVAL, "%s=%s: not a whole number", origin,
				      SHOW(esc, value));
	errno = 0;
	v = strtoull(value, NULL, 10);
	if (errno || v < min || v > cap)
		return b10t_set_error(ctx, ERANGE, "%s=%s: must be between %llu and %llu",
				      origin, SHOW(esc, value), (unsigned long long)min,
				      (unsigned long long)cap);
	*out = v;
	return 0;
}

/* The index of `s` in `names` (any case for bools), or -1. */
static int choice(const char *const *names, const char *s, bool icase)
{
	for (int i = 0; names[i]; i++)
		if (icase ? !strcasecmp(s, names[i]) : !strcmp(s, names[i]))
			return i;
	return -1;
}

const struct b10t_setting *b10t_setting_find(const char *name)
{
	for (size_t i = 0; i < b10t_settings_count; i++)
		if (!strcmp(name, b10t_settings[i].env) || !strcmp(name, b10t_settings[i].option))
			return &b10t_settings[i];
	return NULL;
}

/* Parse `value` for setting `s` into its field of cfg; cfg unchanged on error. */
static int setting_parse(struct b10t_ctx *ctx, struct b10t_config *cfg,
			 const struct b10t_setting *s, const char *value, const char *origin)
{
	char esc[B10T_ESCAPE_SIZE(SHOW_MAX)];
	void *field = (char *)cfg + s->offset;
	uint64_t v = 0;
	int r, k;

	switch (s->type) {
	case B10T_TYPE_PATH:
		if ((r = check_path(ctx, origin, value)) < 0)
			return r;
		if (s->offset == offsetof(struct b10t_config, cache_dir) &&
		    (r = b10t_check_cache_dir(ctx, value)) < 0) {
			char msg[sizeof(ctx->err)];

			memcpy(msg, ctx->err, sizeof(msg));
			return b10t_set_error(ctx, -r, "%s: %s", origin, msg);
		}
		normalize(field, value);
		return 0;
	case B10T_TYPE_NAME:
		if ((r = b10t_namespace_check(ctx, origin, value)) < 0)
			return r;
		strcpy(field, value);
		return 0;
	case B10T_TYPE_URL:
		if (strlen(value) >= PATH_MAX)
			return b10t_set_error(ctx, ENAMETOOLONG, "%s: longer than %d bytes",
					      origin, PATH_MAX - 1);
		strcpy(field, value);
		return 0;
	case B10T_TYPE_COUNT:
		if ((r = parse_count(ctx, origin, value, s->min, s->max, &v)) < 0)
			return r;
		break;
	case B10T_TYPE_SIZE:
		if ((r = b10t_value_size(ctx, origin, value, s->unit, s->min, s->max, &v)) < 0)
			return r;
		break;
	case B10T_TYPE_DURATION:
		if ((r = b10t_value_duration(ctx, origin, value, s->min, s->max, s->unit, &v)) < 0)
			return r;
		break;
	case B10T_TYPE_BOOL:
		if ((k = choice(s->choices, value, true)) < 0)
			return b10t_set_error(ctx, EINVAL,
				"%s=%s: expected 1/true/yes/on or 0/false/no/off", origin,
				SHOW(esc, value));
		*(int *)field = k < 4;	/* the first four names are the true ones */
		return 0;
	case B10T_TYPE_CHOICE: {
		char list[256] = "";

		if ((k = choice(s->choices, value, false)) >= 0) {
			*(int *)field = s->values ? s->values[k] : k;
			return 0;
		}
		for (int i = 0; s->choices[i]; i++)
			snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s'%s'",
				 !i ? "" : s->choices[i + 1] ? ", " : " or ", s->choices[i]);
		return b10t_set_error(ctx, EINVAL, "%s=%s: expected %s", origin,
				      SHOW(esc, value), list);
	}
	}
	*(uint64_t *)field = v;
	return 0;
}

/* The default of `s` (computed for the cache dir, -1 for an unset bool). */
static void setting_default(struct b10t_config *cfg, const struct b10t_setting *s)
{
	struct b10t_ctx quiet;

	if (s->def) {
		b10t_ctx_init(&quiet);
		setting_parse(&quiet, cfg, s, s->def, "default");	/* tests/unit checks each */
	} else if (s->type == B10T_TYPE_BOOL) {
		*(int *)((char *)cfg + s->offset) = -1;
	} else if (s->type == B10T_TYPE_NAME) {
		*((char *)cfg + s->offset) = '\0';	/* none */
	} else if (s->offset == offsetof(struct b10t_config, cache_dir)) {
		char def[PATH_MAX];

		default_cache_dir(def, sizeof(def));
		normalize(cfg->cache_dir, def);
	}
	cfg->origin[s - b10t_settings] = B10T_ORIGIN_DEFAULT;
}

const char *b10t_setting_default(const struct b10t_setting *s, char *buf, size_t size)
{
	uint64_t v;

	if (!s->def)
		snprintf(buf, size, "%s", s->def_doc);
	else if (s->type == B10T_TYPE_SIZE && b10t_parse_size_in(s->def, s->unit, &v) == 0)
		show_size(buf, size, v);
	else if (s->type == B10T_TYPE_DURATION && b10t_parse_duration_ms(s->def, &v) == 0)
		show_duration(buf, size, v);
	else
		snprintf(buf, size, "%s", s->def);
	return buf;
}

const char *b10t_setting_range(const struct b10t_setting *s, char *buf, size_t size)
{
	char lo[32], hi[32];

	buf[0] = '\0';
	if (s->type == B10T_TYPE_SIZE)
		snprintf(buf, size, "%s to %s", show_size(lo, sizeof(lo), s->min),
			 show_size(hi, sizeof(hi), s->max));
	else if (s->type == B10T_TYPE_DURATION)
		snprintf(buf, size, "%s to %s", show_duration(lo, sizeof(lo), s->min),
			 show_duration(hi, sizeof(hi), s->max));
	else if (s->type == B10T_TYPE_COUNT)
		snprintf(buf, size, "%" PRIu64 " to %" PRIu64, s->min, s->max);
	return buf;
}

int b10t_config_set(struct b10t_ctx *ctx, struct b10t_config *cfg,
		    const char *env, const char *value, const char *origin)
{
	const struct b10t_setting *s = b10t_setting_find(env);
	char esc[B10T_ESCAPE_SIZE(SHOW_MAX)];
	int r;

	if (!s)
		return b10t_set_error(ctx, EINVAL, "unknown setting %s", SHOW(esc, env));
	if (!*value) {	/* empty is unset, for every setting: the default */
		setting_default(cfg, s);
		cfg->bad[s - b10t_settings][0] = '\0';
		return 0;
	}
	if ((r = setting_parse(ctx, cfg, s, value, origin ? origin : s->env)) < 0)
		return r;
	cfg->origin[s - b10t_settings] = B10T_ORIGIN_SET;
	cfg->bad[s - b10t_settings][0] = '\0';
	return 0;
}

int b10t_config_init(struct b10t_ctx *ctx, struct b10t_config *cfg)
{
	memset(cfg, 0, sizeof(*cfg));
	for (size_t i = 0; i < b10t_settings_count; i++) {
		const struct b10t_setting *s = &b10t_settings[i];
		const char *v = getenv(s->env);

		setting_default(cfg, s);
		if (!v || !*v)
			continue;	/* unset, or set but empty: the default */
		if (setting_parse(ctx, cfg, s, v, s->env) < 0) {
			snprintf(cfg->bad[i], sizeof(cfg->bad[i]), "%s", b10t_ctx_error(ctx));
			b10t_clear_error(ctx);
			continue;
		}
		cfg->origin[i] = B10T_ORIGIN_ENV;
	}
	return 0;
}

int b10t_config_check(struct b10t_ctx *ctx, const struct b10t_config *cfg, unsigned uses)
{
	for (size_t i = 0; i < b10t_settings_count; i++)
		if ((b10t_settings[i].uses & uses) && cfg->bad[i][0])
			return b10t_set_error(ctx, EINVAL, "%s", cfg->bad[i]);
	return 0;
}

bool b10t_store_enabled(const struct b10t_config *cfg)
{
	struct stat st;

	if (cfg->fs_enabled >= 0)
		return cfg->fs_enabled;
	/* ESTALE: a stale NFS handle of the store dir; a second lookup asks afresh. */
	if (stat(cfg->store_dir, &st) < 0 && (errno != ESTALE || stat(cfg->store_dir, &st) < 0))
		return false;
	return S_ISDIR(st.st_mode);
}

const char *b10t_store_disabled(const struct b10t_config *cfg, char *why, size_t size)
{
	struct stat st;

	if (cfg->fs_enabled == 0) {
		snprintf(why, size, "turned off by BASETEN_FS_ENABLED (or --fs-enabled)");
		return "store_disabled";
	}
	if (stat(cfg->store_dir, &st) < 0 && (errno != ESTALE || stat(cfg->store_dir, &st) < 0)) {
		if (errno == ENOENT)
			snprintf(why, size, "the store %s does not exist: set B10FS_CACHE_DIR "
				 "to the shared dir (to try it locally, any empty dir)",
				 cfg->store_dir);
		else
			snprintf(why, size, "the store %s (B10FS_CACHE_DIR): %s", cfg->store_dir,
				 strerror(errno));
		return "store_missing";
	}
	if (!S_ISDIR(st.st_mode)) {
		snprintf(why, size, "the store %s (B10FS_CACHE_DIR) is not a directory",
			 cfg->store_dir);
		return "store_missing";
	}
	return NULL;
}

int b10t_store_check(struct b10t_ctx *ctx, const struct b10t_config *cfg)
{
	struct stat st;

	if (cfg->fs_enabled == 0)
		return b10t_set_error(ctx, EACCES,
			"the store is disabled (BASETEN_FS_ENABLED is off)");
	/* ESTALE: a stale NFS handle of the store dir; a second lookup asks afresh. */
	if (stat(cfg->store_dir, &st) < 0 && (errno != ESTALE || stat(cfg->store_dir, &st) < 0))
		return b10t_set_error(ctx, errno, "the store %s (B10FS_CACHE_DIR): %s", cfg->store_dir,
				      strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return b10t_set_error(ctx, ENOTDIR, "the store %s (B10FS_CACHE_DIR): not a directory",
				      cfg->store_dir);
	return 0;
}
