/* SPDX-License-Identifier: MIT */
/* Configuration: defaults, environment variables, command-line overrides. */
#include <errno.h>
#include <limits.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b10t-int.h"

#define MAX_CACHE_SIZE_MB_CAP (1024ULL * 1024)	/* 1 TiB */
#define MAX_CONCURRENT_SAVES_CAP 100000
#define TIMEOUT_CAP (30U * 86400)		/* 30 days */

const struct b10t_setting b10t_settings[] = {
	{ "TORCHINDUCTOR_CACHE_DIR", "cache-dir", "DIR",
	  "local cache dir (default $TMPDIR or /tmp, /torchinductor_USER)" },
	{ "B10FS_CACHE_DIR", "store", "DIR",
	  "the shared store (default /cache/model/compile_cache)" },
	{ "LOCAL_WORK_DIR", "work-dir", "DIR", "local scratch dir (default /app)" },
	{ "MAX_CACHE_SIZE_MB", "max-cache-size-mb", "MB",
	  "largest archive save publishes (default 1024)" },
	{ "MAX_CONCURRENT_SAVES", "max-concurrent-saves", "N",
	  "saves in flight before save skips (default 50)" },
	{ "CLEANUP_LOCK_TIMEOUT_SECONDS", "lock-timeout", "SECONDS",
	  "age after which a *.lock is debris (default 30)" },
	{ "CLEANUP_INCOMPLETE_TIMEOUT_SECONDS", "incomplete-timeout", "SECONDS",
	  "age after which an unfinished upload is debris (default 60)" },
	{ "BASETEN_FS_ENABLED", "fs-enabled", "BOOL",
	  "use the store: 1/true/yes/on or 0/false/no/off (default: if it exists)" },
	{ "B10T_KEY_SCHEME", "key-scheme", "SCHEME",
	  "environment key scheme: default or b10-transfer" },
	{ "B10T_CODEC", "codec", "CODEC",
	  "compression of save's archives: auto (zstd on a network store, else lz4), lz4, zstd" },
	{ "B10T_ZSTD_LEVEL", "zstd-level", "N",
	  "zstd level of save, 1 (fastest) to 19 (default 3)" },
};
const size_t b10t_settings_count = sizeof(b10t_settings) / sizeof(b10t_settings[0]);

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
int b10t_codec_parse(const char *s, int *out)
{
	/* Only the codecs save writes: gz is the reference's, read only. */
	if (!strcmp(s, "auto"))
		*out = B10T_CODEC_AUTO;
	else if (!strcmp(s, "lz4"))
		*out = B10T_FMT_LZ4;
	else if (!strcmp(s, "zstd"))
		*out = B10T_FMT_ZSTD;
	else
		return -EINVAL;
	return 0;
}

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

/*
 * Only decimal digits: strtoull alone would take leading blanks, a sign
 * ("-1" wraps to 2^64-1) and stop silently at trailing junk.
 */
static int parse_uint(struct b10t_ctx *ctx, const char *origin, const char *value,
		      uint64_t min, uint64_t cap, uint64_t *out)
{
	char esc[B10T_ESCAPE_SIZE(SHOW_MAX)];
	unsigned long long v;
	size_t len = strlen(value);

	if (!len)
		return b10t_set_error(ctx, EINVAL, "%s is empty: expected a whole number",
				      origin);
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

static int parse_bool(const char *s)
{
	static const char *const yes[] = { "1", "true", "yes", "on", NULL };
	static const char *const no[] = { "0", "false", "no", "off", NULL };

	for (size_t i = 0; yes[i]; i++)
		if (!strcasecmp(s, yes[i]))
			return 1;
	for (size_t i = 0; no[i]; i++)
		if (!strcasecmp(s, no[i]))
			return 0;
	return -1;
}

int b10t_config_set(struct b10t_ctx *ctx, struct b10t_config *cfg,
		    const char *env, const char *value, const char *origin)
{
	uint64_t v;
	int r;

	if (!origin)
		origin = env;
	if (!strcmp(env, "TORCHINDUCTOR_CACHE_DIR") || !strcmp(env, "B10FS_CACHE_DIR") ||
	    !strcmp(env, "LOCAL_WORK_DIR")) {
		char *dst = env[0] == 'T' ? cfg->cache_dir :
			    env[0] == 'B' ? cfg->store_dir : cfg->work_dir;
		if ((r = check_path(ctx, origin, value)) < 0)
			return r;
		if (dst == cfg->cache_dir && (r = b10t_check_cache_dir(ctx, value)) < 0) {
			char msg[sizeof(ctx->err)];
			memcpy(msg, ctx->err, sizeof(msg));
			return b10t_set_error(ctx, -r, "%s: %s", origin, msg);
		}
		normalize(dst, value);
	} else if (!strcmp(env, "MAX_CACHE_SIZE_MB")) {
		if ((r = parse_uint(ctx, origin, value, 1, MAX_CACHE_SIZE_MB_CAP, &v)) < 0)
			return r;
		cfg->max_cache_size_mb = v;
	} else if (!strcmp(env, "MAX_CONCURRENT_SAVES")) {
		if ((r = parse_uint(ctx, origin, value, 1, MAX_CONCURRENT_SAVES_CAP, &v)) < 0)
			return r;
		cfg->max_concurrent_saves = (unsigned)v;
	} else if (!strcmp(env, "CLEANUP_LOCK_TIMEOUT_SECONDS")) {
		if ((r = parse_uint(ctx, origin, value, 0, TIMEOUT_CAP, &v)) < 0)
			return r;
		cfg->lock_timeout_s = (unsigned)v;
	} else if (!strcmp(env, "CLEANUP_INCOMPLETE_TIMEOUT_SECONDS")) {
		if ((r = parse_uint(ctx, origin, value, 0, TIMEOUT_CAP, &v)) < 0)
			return r;
		cfg->incomplete_timeout_s = (unsigned)v;
	} else if (!strcmp(env, "BASETEN_FS_ENABLED")) {
		char esc[B10T_ESCAPE_SIZE(SHOW_MAX)];
		int b = parse_bool(value);
		if (b < 0)
			return b10t_set_error(ctx, EINVAL,
				"%s=%s: expected 1/true/yes/on or 0/false/no/off", origin,
				SHOW(esc, value));
		cfg->fs_enabled = b;
	} else if (!strcmp(env, "B10T_KEY_SCHEME")) {
		char esc[B10T_ESCAPE_SIZE(SHOW_MAX)];
		if (b10t_scheme_parse(value, &cfg->key_scheme) < 0)
			return b10t_set_error(ctx, EINVAL,
				"%s=%s: expected 'default' or 'b10-transfer'", origin,
				SHOW(esc, value));
	} else if (!strcmp(env, "B10T_CODEC")) {
		char esc[B10T_ESCAPE_SIZE(SHOW_MAX)];
		if (b10t_codec_parse(value, &cfg->codec) < 0)
			return b10t_set_error(ctx, EINVAL, "%s=%s: expected 'auto', 'lz4' or 'zstd'", origin,
					      SHOW(esc, value));
	} else if (!strcmp(env, "B10T_ZSTD_LEVEL")) {
		if ((r = parse_uint(ctx, origin, value, B10T_ZSTD_LEVEL_MIN, B10T_ZSTD_LEVEL_MAX,
				    &v)) < 0)
			return r;
		cfg->zstd_level = (int)v;
	} else {
		char esc[B10T_ESCAPE_SIZE(SHOW_MAX)];
		return b10t_set_error(ctx, EINVAL, "unknown setting %s", SHOW(esc, env));
	}
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

int b10t_config_init(struct b10t_ctx *ctx, struct b10t_config *cfg)
{
	char def[PATH_MAX];
	int r;

	memset(cfg, 0, sizeof(*cfg));
	default_cache_dir(def, sizeof(def));
	normalize(cfg->cache_dir, def);
	strcpy(cfg->store_dir, "/cache/model/compile_cache");
	strcpy(cfg->work_dir, "/app");
	cfg->max_cache_size_mb = 1024;
	cfg->max_concurrent_saves = 50;
	cfg->lock_timeout_s = 30;
	cfg->incomplete_timeout_s = 60;
	cfg->fs_enabled = -1;
	cfg->key_scheme = B10T_SCHEME_DEFAULT;
	cfg->codec = B10T_CODEC_AUTO;
	cfg->zstd_level = B10T_ZSTD_LEVEL_DEFAULT;

	for (size_t i = 0; i < b10t_settings_count; i++) {
		const char *v = getenv(b10t_settings[i].env);
		if (v && (r = b10t_config_set(ctx, cfg, b10t_settings[i].env, v, NULL)) < 0)
			return r;
	}
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
