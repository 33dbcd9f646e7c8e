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

#include "b10t.h"

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
};
const size_t b10t_settings_count = sizeof(b10t_settings) / sizeof(b10t_settings[0]);

static const char *const system_dirs[] = {
	"/", "/bin", "/boot", "/dev", "/etc", "/home", "/lib", "/lib32", "/lib64",
	"/libx32", "/media", "/mnt", "/opt", "/proc", "/root", "/run", "/sbin",
	"/srv", "/sys", "/tmp", "/usr", "/usr/bin", "/usr/include", "/usr/lib",
	"/usr/lib64", "/usr/libexec", "/usr/local", "/usr/local/bin",
	"/usr/local/lib", "/usr/sbin", "/usr/share", "/usr/src", "/var",
	"/var/cache", "/var/lib", "/var/log", "/var/tmp", "/app", "/cache",
	"/cache/model", NULL,
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

/* Copy `path` without trailing or doubled slashes. */
static void normalize(char *dst, const char *path)
{
	char *d = dst;

	for (const char *p = path; *p; p++) {
		if (*p == '/' && d > dst && d[-1] == '/')
			continue;
		*d++ = *p;
	}
	while (d > dst + 1 && d[-1] == '/')
		d--;
	*d = '\0';
}

static bool is_dangerous(const char *path)
{
	const char *home = getenv("HOME");
	struct passwd *pw = getpwuid(geteuid());
	char h[PATH_MAX];

	for (size_t i = 0; system_dirs[i]; i++)
		if (!strcmp(path, system_dirs[i]))
			return true;
	if (home && *home && strlen(home) < sizeof(h)) {
		normalize(h, home);
		if (!strcmp(path, h))
			return true;
	}
	if (pw && pw->pw_dir && !strcmp(path, pw->pw_dir))
		return true;
	/* /home/NAME itself */
	if (!strncmp(path, "/home/", 6) && !strchr(path + 6, '/'))
		return true;
	return false;
}

int b10t_check_cache_dir(struct b10t_ctx *ctx, const char *path)
{
	char norm[PATH_MAX], real[PATH_MAX];

	normalize(norm, path);
	if (is_dangerous(norm))
		return b10t_set_error(ctx, EPERM,
			"refusing to use %s as the cache dir: it is a system or home directory",
			path);
	if (realpath(norm, real) && is_dangerous(real))
		return b10t_set_error(ctx, EPERM,
			"refusing to use %s as the cache dir: it resolves to %s, a system or home directory",
			path, real);
	return 0;
}

static int check_path(struct b10t_ctx *ctx, const char *origin, const char *value)
{
	size_t len = strlen(value);

	if (!len)
		return b10t_set_error(ctx, EINVAL, "%s is empty", origin);
	if (value[0] != '/')
		return b10t_set_error(ctx, EINVAL, "%s=%s: not an absolute path", origin, value);
	if (len >= PATH_MAX - 128)
		return b10t_set_error(ctx, ENAMETOOLONG, "%s: path too long", origin);
	for (const char *p = value; (p = strstr(p, "..")); p += 2)
		if (p[-1] == '/' && (p[2] == '/' || p[2] == '\0'))
			return b10t_set_error(ctx, EINVAL, "%s=%s: '..' is not allowed", origin, value);
	for (const char *p = value; *p; p++)
		if ((unsigned char)*p < 0x20 || *p == 0x7f)
			return b10t_set_error(ctx, EINVAL, "%s: control character in path", origin);
	return 0;
}

static int parse_uint(struct b10t_ctx *ctx, const char *origin, const char *value,
		      uint64_t min, uint64_t cap, uint64_t *out)
{
	char *end;
	unsigned long long v;

	errno = 0;
	v = strtoull(value, &end, 10);
	if (!*value || *end || errno || value[0] == '-' || value[0] == '+' ||
	    value[0] == ' ')
		return b10t_set_error(ctx, EINVAL, "%s=%s: not a whole number", origin, value);
	if (v < min || v > cap)
		return b10t_set_error(ctx, ERANGE, "%s=%s: must be between %llu and %llu",
				      origin, value, (unsigned long long)min,
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
		int b = parse_bool(value);
		if (b < 0)
			return b10t_set_error(ctx, EINVAL,
				"%s=%s: expected 1/true/yes/on or 0/false/no/off", origin, value);
		cfg->fs_enabled = b;
	} else if (!strcmp(env, "B10T_KEY_SCHEME")) {
		if (b10t_scheme_parse(value, &cfg->key_scheme) < 0)
			return b10t_set_error(ctx, EINVAL,
				"%s=%s: expected 'default' or 'b10-transfer'", origin, value);
	} else {
		return b10t_set_error(ctx, EINVAL, "unknown setting %s", env);
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
	return stat(cfg->store_dir, &st) == 0 && S_ISDIR(st.st_mode);
}

int b10t_store_check(struct b10t_ctx *ctx, const struct b10t_config *cfg)
{
	struct stat st;

	if (cfg->fs_enabled == 0)
		return b10t_set_error(ctx, EACCES,
			"the store is disabled (BASETEN_FS_ENABLED is off)");
	if (stat(cfg->store_dir, &st) < 0)
		return b10t_set_error(ctx, errno, "the store %s (B10FS_CACHE_DIR): %s", cfg->store_dir,
				      strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return b10t_set_error(ctx, ENOTDIR, "the store %s (B10FS_CACHE_DIR): not a directory",
				      cfg->store_dir);
	return 0;
}
