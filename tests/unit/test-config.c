/* SPDX-License-Identifier: MIT */
/* Unit tests of configuration parsing and validation. */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "b10t-int.h"
#include "../tap.h"

static struct b10t_ctx ctx;

static int set(struct b10t_config *cfg, const char *env, const char *value)
{
	return b10t_config_set(&ctx, cfg, env, value, NULL);
}

static void test_durations_and_sizes(void)
{
	uint64_t v;

	is_int(b10t_parse_duration("30s", &v), 0, "30s parses");
	is_int(v, 30, "30s is 30 seconds");
	b10t_parse_duration("5m", &v);
	is_int(v, 300, "5m is 300 seconds");
	b10t_parse_duration("2h", &v);
	is_int(v, 7200, "2h is 7200 seconds");
	b10t_parse_duration("7d", &v);
	is_int(v, 604800, "7d is 604800 seconds");
	b10t_parse_duration("45", &v);
	is_int(v, 45, "a bare number is seconds");
	is_int(b10t_parse_duration("5x", &v), -EINVAL, "unknown unit is refused");
	is_int(b10t_parse_duration("-5s", &v), -EINVAL, "negative is refused");
	is_int(b10t_parse_duration("", &v), -EINVAL, "empty is refused");
	is_int(b10t_parse_duration("5ms", &v), -EINVAL, "two-letter unit is refused");
	b10t_parse_size("20G", &v);
	is_int(v, 20ULL << 30, "20G is 20 GiB");
	b10t_parse_size("512M", &v);
	is_int(v, 512ULL << 20, "512M is 512 MiB");
	is_int(b10t_parse_size("99999999999999T", &v), -ERANGE, "overflow is refused");
}

static void test_defaults(void)
{
	struct b10t_config cfg;

	unsetenv("TORCHINDUCTOR_CACHE_DIR");
	unsetenv("B10FS_CACHE_DIR");
	unsetenv("MAX_CACHE_SIZE_MB");
	setenv("USER", "alice", 1);
	unsetenv("LOGNAME");
	unsetenv("TMPDIR");
	is_int(b10t_config_init(&ctx, &cfg), 0, "defaults load");
	is_str(cfg.cache_dir, "/tmp/torchinductor_alice", "default cache dir follows torch");
	is_str(cfg.store_dir, "/cache/model/compile_cache", "default store");
	is_str(cfg.work_dir, "/app", "default work dir");
	is_int((cfg.max_cache_bytes >> 20), 1024, "default MAX_CACHE_SIZE_MB");
	is_int(cfg.max_concurrent_saves, 50, "default MAX_CONCURRENT_SAVES");
	is_int(cfg.lock_timeout_s, 30, "default lock timeout");
	is_int(cfg.incomplete_timeout_s, 60, "default incomplete timeout");
	is_int(cfg.fs_enabled, -1, "BASETEN_FS_ENABLED unset");
}

static void test_values(void)
{
	struct b10t_config cfg;
	static const char *const truthy[] = { "1", "true", "TRUE", "Yes", "on", "ON" };
	static const char *const falsy[] = { "0", "false", "False", "NO", "off", "Off" };

	b10t_config_init(&ctx, &cfg);
	for (size_t i = 0; i < 6; i++) {
		cfg.fs_enabled = -1;
		set(&cfg, "BASETEN_FS_ENABLED", truthy[i]);
		ok(cfg.fs_enabled == 1, "BASETEN_FS_ENABLED=%s enables", truthy[i]);
		set(&cfg, "BASETEN_FS_ENABLED", falsy[i]);
		ok(cfg.fs_enabled == 0, "BASETEN_FS_ENABLED=%s disables", falsy[i]);
	}
	is_int(set(&cfg, "BASETEN_FS_ENABLED", "maybe"), -EINVAL, "BASETEN_FS_ENABLED=maybe refused");
	ok(strstr(ctx.err, "BASETEN_FS_ENABLED") != NULL, "message names the variable");

	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "abc"), -EINVAL, "MAX_CACHE_SIZE_MB=abc refused");
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "-5"), -EINVAL, "MAX_CACHE_SIZE_MB=-5 refused");
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "0"), -ERANGE, "MAX_CACHE_SIZE_MB=0 refused");
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "99999999"), -ERANGE, "MAX_CACHE_SIZE_MB over the cap refused");
	is_int((cfg.max_cache_bytes >> 20), 1024, "a refused value leaves the setting as it was");
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "2048"), 0, "MAX_CACHE_SIZE_MB=2048 accepted");
	is_int((cfg.max_cache_bytes >> 20), 2048, "and applied");
	is_int(set(&cfg, "MAX_CONCURRENT_SAVES", "0"), -ERANGE, "MAX_CONCURRENT_SAVES=0 refused");
	is_int(set(&cfg, "CLEANUP_LOCK_TIMEOUT_SECONDS", "1.5"), -EINVAL, "fractional timeout refused");
	is_int(set(&cfg, "CLEANUP_INCOMPLETE_TIMEOUT_SECONDS", "99999999"), -ERANGE, "timeout over 30 days refused");

	is_int(set(&cfg, "B10FS_CACHE_DIR", "relative/store"), -EINVAL, "relative store refused");
	is_int(set(&cfg, "B10FS_CACHE_DIR", "/a/../b"), -EINVAL, "'..' in store refused");
	is_int(set(&cfg, "B10FS_CACHE_DIR", "/srv/store//x/"), 0, "store with extra slashes accepted");
	is_str(cfg.store_dir, "/srv/store/x", "and normalized");
	is_int(set(&cfg, "B10FS_CACHE_DIR", "/srv/./store/x/."), 0, "store with . components accepted");
	is_str(cfg.store_dir, "/srv/store/x", "and the . components dropped");
	is_int(set(&cfg, "B10FS_CACHE_DIR", "/srv/.store/x./.y"), 0, "dot-names kept");
	is_str(cfg.store_dir, "/srv/.store/x./.y", "as they are");
	is_int(set(&cfg, "TORCHINDUCTOR_CACHE_DIR", "/"), -EPERM, "cache dir / refused");
	is_int(set(&cfg, "TORCHINDUCTOR_CACHE_DIR", "/usr"), -EPERM, "cache dir /usr refused");
	is_int(set(&cfg, "TORCHINDUCTOR_CACHE_DIR", "/home/bob/"), -EPERM, "a home dir refused");
	setenv("HOME", "/data/me", 1);
	is_int(set(&cfg, "TORCHINDUCTOR_CACHE_DIR", "/data/me"), -EPERM, "$HOME itself refused");
	is_int(set(&cfg, "TORCHINDUCTOR_CACHE_DIR", "/data/me/.cache/inductor"), 0, "a dir under $HOME accepted");
	is_int(set(&cfg, "B10T_KEY_SCHEME", "b10-transfer"), 0, "key scheme b10-transfer");
	is_int(cfg.key_scheme, B10T_SCHEME_B10_TRANSFER, "applied");
	is_int(set(&cfg, "B10T_KEY_SCHEME", "md5"), -EINVAL, "unknown key scheme refused");
}


/* The system-dir guard: refused and accepted paths, as given. */
static void test_cache_dir_guard(void)
{
	static const char *const refused[] = {
		"/", "//", "/bin", "/bin/x", "/boot/efi", "/dev/shm/x", "/etc", "/etc/cron.d",
		"/etc/cron.d/", "/lib", "/lib/modules", "/lib64/x", "/lib32", "/libx32/y",
		"/libexec/z", "/proc/self", "/run/user/0", "/sbin/x", "/sys/fs/cgroup",
		"/usr", "/usr/lib/x86_64-linux-gnu", "/usr/local", "/usr/local/sbin",
		"/usr/local/share/x/y", "/usr//lib", "/var", "/var/lib", "/var/lib/dpkg",
		"/var/log/x", "/var/spool/cron", "/var/tmpx", "/var/cachex/y", "/var/mail",
		/* shared parents, as the dir itself */
		"/tmp", "/tmp/", "/home", "/root", "/var/tmp", "/var/cache", "/var/cache/",
		"/app", "/cache", "/cache/model", "/mnt", "/media", "/opt", "/srv",
		"/home/bob", "/home/bob/", NULL,
	};
	static const char *const accepted[] = {
		"/tmp/x", "/tmp/torchinductor_alice", "/var/tmp/x", "/var/tmp/a/b",
		"/var/cache/inductor", "/cache/x", "/cache/model/compile", "/app/x",
		"/app/.cache/inductor", "/home/bob/x", "/home/bob/.cache/torch",
		"/root/.cache/x", "/mnt/x", "/data/x", "/data", "/workspace/cache",
		"/opt/app/cache", "/srv/x", NULL,
	};
	struct b10t_config cfg;

	b10t_config_init(&ctx, &cfg);
	setenv("HOME", "/data/me", 1);
	for (size_t i = 0; refused[i]; i++)
		ok(b10t_check_cache_dir(&ctx, refused[i]) == -EPERM, "cache dir %s refused",
		   refused[i]);
	for (size_t i = 0; accepted[i]; i++) {
		int r = b10t_check_cache_dir(&ctx, accepted[i]);
		if (!ok(r == 0, "cache dir %s accepted", accepted[i]))
			printf("#   %s\n", b10t_ctx_error(&ctx));
	}
	is_int(set(&cfg, "TORCHINDUCTOR_CACHE_DIR", "/etc/cron.d"), -EPERM,
	       "TORCHINDUCTOR_CACHE_DIR=/etc/cron.d refused");
	ok(strstr(b10t_ctx_error(&ctx), "TORCHINDUCTOR_CACHE_DIR") != NULL,
	   "and the message names the variable");
	is_int(set(&cfg, "TORCHINDUCTOR_CACHE_DIR", "/usr/local/sbin"), -EPERM,
	       "TORCHINDUCTOR_CACHE_DIR=/usr/local/sbin refused");
}

/* Symlinks into the system trees: refused by where they resolve. */
static void test_cache_dir_guard_links(void)
{
	char dir[PATH_MAX], p[PATH_MAX + 64], t[PATH_MAX + 128];
	static const char *const targets[] = { "/usr", "/usr/lib", "/etc", "/var/lib", "/", "/tmp",
					       NULL };

	tap_tmpdir(dir, sizeof(dir), "config");
	for (size_t i = 0; targets[i]; i++) {
		snprintf(p, sizeof(p), "%s/link%zu", dir, i);
		if (symlink(targets[i], p) < 0) {
			ok(0, "symlink %s", p);
			continue;
		}
		ok(b10t_check_cache_dir(&ctx, p) == -EPERM, "a link to %s refused", targets[i]);
		ok(strstr(b10t_ctx_error(&ctx), "resolves to") != NULL, "the message says where it goes");
		if (strcmp(targets[i], "/tmp") && strcmp(targets[i], "/")) {
			/* not there yet: judged by the nearest existing ancestor */
			snprintf(t, sizeof(t), "%s/not/yet", p);
			ok(b10t_check_cache_dir(&ctx, t) == -EPERM,
			   "a dir not yet made below a link to %s refused", targets[i]);
		}
	}
	/* Dangling links: judged by where mkdir through them would land. */
	snprintf(p, sizeof(p), "%s/dangling-abs", dir);
	ok(symlink("/usr/lib/b10t-no-such-dir", p) == 0, "a dangling link into /usr/lib");
	is_int(b10t_check_cache_dir(&ctx, p), -EPERM, "a dangling link into /usr/lib refused");
	snprintf(t, sizeof(t), "%s/below/it", p);
	is_int(b10t_check_cache_dir(&ctx, t), -EPERM, "a dir below a dangling link into /usr/lib refused");
	snprintf(p, sizeof(p), "%s/dangling-rel", dir);
	ok(symlink("../../../../../../../../../../../../../etc/b10t-no-such-dir", p) == 0,
	   "a relative dangling link into /etc");
	is_int(b10t_check_cache_dir(&ctx, p), -EPERM, "a relative dangling link into /etc refused");
	snprintf(p, sizeof(p), "%s/dangling-hop", dir);
	snprintf(t, sizeof(t), "%s/dangling-abs", dir);
	ok(symlink(t, p) == 0, "a dangling link to a dangling link");
	is_int(b10t_check_cache_dir(&ctx, p), -EPERM, "a chain of dangling links into /usr refused");
	snprintf(p, sizeof(p), "%s/dangling-ok", dir);
	snprintf(t, sizeof(t), "%s/not-made-yet", dir);
	ok(symlink(t, p) == 0, "a dangling link to a plain place");
	is_int(b10t_check_cache_dir(&ctx, p), 0, "a dangling link to a plain place accepted");

	/* A link to a fine place is fine; so is a plain new dir. */
	snprintf(p, sizeof(p), "%s/real", dir);
	mkdir(p, 0700);
	snprintf(t, sizeof(t), "%s/good", dir);
	ok(symlink(p, t) == 0, "symlink to a plain dir");
	is_int(b10t_check_cache_dir(&ctx, t), 0, "a link to a plain dir accepted");
	snprintf(t, sizeof(t), "%s/new/deeper/dir", dir);
	is_int(b10t_check_cache_dir(&ctx, t), 0, "a dir that does not exist yet accepted");
	/* the link itself under /tmp/x, pointing at /tmp/x/../.. = /tmp: refused */
	snprintf(p, sizeof(p), "%s/up", dir);
	snprintf(t, sizeof(t), "%s/..", dir);
	ok(symlink(t, p) == 0, "symlink to the temp root");
	ok(b10t_check_cache_dir(&ctx, p) != 0 || strcmp(dir, "/tmp") != 0,
	   "a link to the temp root is refused when that is /tmp");
	tap_rmdir(dir);
}

/* Numbers: digits only, a bad value echoed escaped on one line. */
static void test_numbers(void)
{
	static const char *const bad[] = {
		" 5", "5 ", "5\n", "\t5", "+5", "-1", "-0", "0x10", "5abc", "1e3", ".5", "5.",
		"5 5", "99999999999999999999999999", "18446744073709551616", "\xef\xbc\x95", NULL,
	};
	static const char *const vars[] = {
		"MAX_CACHE_SIZE_MB", "MAX_CONCURRENT_SAVES", "CLEANUP_LOCK_TIMEOUT_SECONDS",
		"CLEANUP_INCOMPLETE_TIMEOUT_SECONDS", "B10T_COMPACT_LAYERS", "B10T_COMPACT_MB",
		"B10T_COMPACT_GRACE", NULL,
	};
	struct b10t_config cfg;
	char big[5001];
	uint64_t v;

	b10t_config_init(&ctx, &cfg);
	ok(cfg.compact_layers == 16 && cfg.compact_bytes == (1024ULL << 20) && cfg.compact_grace_s == 600,
	   "compaction defaults: 16 layers, 1024 MiB, 600 s");
	is_int(set(&cfg, "B10T_COMPACT_LAYERS", "0"), -ERANGE, "B10T_COMPACT_LAYERS=0 refused");
	is_int(set(&cfg, "B10T_COMPACT_LAYERS", "100001"), -ERANGE, "B10T_COMPACT_LAYERS over 100000");
	is_int(set(&cfg, "B10T_COMPACT_MB", "0"), -ERANGE, "B10T_COMPACT_MB=0 refused");
	ok(set(&cfg, "B10T_COMPACT_GRACE", "0") == 0 && cfg.compact_grace_s == 0,
	   "B10T_COMPACT_GRACE=0: no grace");
	ok(set(&cfg, "B10T_COMPACT_LAYERS", "3") == 0 && cfg.compact_layers == 3,
	   "B10T_COMPACT_LAYERS=3");
	for (size_t k = 0; vars[k]; k++)
		for (size_t i = 0; bad[i]; i++) {
			int r = set(&cfg, vars[k], bad[i]);
			const char *e = b10t_ctx_error(&ctx);
			char shown[B10T_ESCAPE_SIZE(32)];

			b10t_escape(shown, sizeof(shown), bad[i], 32);
			ok(r == -EINVAL || r == -ERANGE, "%s='%s' refused", vars[k], shown);
			ok(!strchr(e, '\n') && !strchr(e, '\t') && !strchr(e, '\r'),
			   "%s: the message is one line", vars[k]);
			ok(strstr(e, vars[k]) != NULL, "%s: the message names it", vars[k]);
		}
	set(&cfg, "MAX_CACHE_SIZE_MB", "5\n");
	is_str(b10t_ctx_error(&ctx), "MAX_CACHE_SIZE_MB=5\\n: not a size (20GB, 20GiB, 1.5G, 500M)",
	       "a newline is echoed as \\n");
	set(&cfg, "MAX_CACHE_SIZE_MB", "\x01x");
	is_str(b10t_ctx_error(&ctx), "MAX_CACHE_SIZE_MB=\\x01x: not a size (20GB, 20GiB, 1.5G, 500M)",
	       "a control byte is echoed as \\x01");
	set(&cfg, "MAX_CONCURRENT_SAVES", "5\n");
	is_str(b10t_ctx_error(&ctx), "MAX_CONCURRENT_SAVES=5\\n: not a whole number",
	       "a count: not a whole number");
	set(&cfg, "MAX_CACHE_SIZE_MB", "7");
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", ""), 0, "an empty value is accepted");
	is_int(cfg.max_cache_bytes, 1024ULL << 20, "as unset: the default is back");
	is_int(set(&cfg, "CLEANUP_LOCK_TIMEOUT_SECONDS", "1.5"), -EINVAL, "1.5 seconds: refused");
	is_str(b10t_ctx_error(&ctx), "CLEANUP_LOCK_TIMEOUT_SECONDS=1.5: not a whole number of seconds",
	       "and said so");
	memset(big, '7', 5000);
	big[5000] = '\0';
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", big), -ERANGE, "5000 digits: out of range");
	ok(strlen(b10t_ctx_error(&ctx)) < 200 && strstr(b10t_ctx_error(&ctx), "..."),
	   "a long value is cut with '...'");
	big[100] = '\n';
	set(&cfg, "MAX_CACHE_SIZE_MB", big);
	ok(!strchr(b10t_ctx_error(&ctx), '\n'), "a long value with a newline: one line");
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "007"), 0, "leading zeros are decimal");
	is_int((cfg.max_cache_bytes >> 20), 7, "007 is 7");
	is_int(set(&cfg, "BASETEN_FS_ENABLED", "yes\nno"), -EINVAL, "a bool with a newline refused");
	ok(!strchr(b10t_ctx_error(&ctx), '\n'), "and echoed on one line");
	is_int(set(&cfg, "B10FS_CACHE_DIR", "rel\n/x"), -EINVAL, "a path with a newline refused");
	ok(!strchr(b10t_ctx_error(&ctx), '\n'), "and echoed on one line");

	/* gc's --stale, --max-age, --max-size */
	for (size_t i = 0; bad[i]; i++) {
		char shown[B10T_ESCAPE_SIZE(32)];

		b10t_escape(shown, sizeof(shown), bad[i], 32);
		ok(b10t_parse_duration(bad[i], &v) < 0, "duration '%s' refused", shown);
		ok(b10t_parse_size(bad[i], &v) < 0, "size '%s' refused", shown);
	}
	is_int(b10t_parse_duration("5s ", &v), -EINVAL, "duration with a trailing blank refused");
	is_int(b10t_parse_duration("5s\n", &v), -EINVAL, "duration with a newline refused");
	is_int(b10t_parse_size("5G\n", &v), -EINVAL, "size with a newline refused");
	is_int(b10t_parse_size("20G", &v), 0, "20G still parses");
	is_int(v, 20ULL << 30, "20G");
	is_int(b10t_parse_size("17179869184G", &v), -ERANGE, "a size over 2^64 refused");
}

/* The escaping helper every echo goes through. */
static void test_escape(void)
{
	char b[B10T_ESCAPE_SIZE(16)], small[8];
	char long_in[300];

	is_str(b10t_escape(b, sizeof(b), "plain-name_1.tar", 0), "plain-name_1.tar", "plain as is");
	is_str(b10t_escape(b, sizeof(b), "a\nb\rc\td", 0), "a\\nb\\rc\\td", "\\n \\r \\t");
	is_str(b10t_escape(b, sizeof(b), "\x1b[2J\x01\x7f", 0), "\\x1b[2J\\x01\\x7f", "ESC, ^A, DEL as \\xNN");
	is_str(b10t_escape(b, sizeof(b), "\xc3\xa9\x9b", 0), "\\xc3\\xa9\\x9b", "non-ASCII as \\xNN");
	is_str(b10t_escape(b, sizeof(b), "a\\nb", 0), "a\\\\nb", "a backslash is doubled");
	is_str(b10t_escape(b, sizeof(b), "0123456789abcdefXYZ", 0), "0123456789abcdef...",
	       "cut at the buffer's room with ...");
	is_str(b10t_escape(b, sizeof(b), "0123456789", 4), "0123...", "cut at max");
	is_str(b10t_escape(b, sizeof(b), "0123", 4), "0123", "exactly max: no cut");
	b10t_escape(small, sizeof(small), "\n\n\n\n\n", 0);
	ok(strlen(small) < sizeof(small), "a small buffer is never overrun");
	memset(long_in, '\n', sizeof(long_in) - 1);
	long_in[sizeof(long_in) - 1] = '\0';
	b10t_escape(b, sizeof(b), long_in, 0);
	ok(strlen(b) < sizeof(b) && !strchr(b, '\n'), "all newlines: fits, one line");
	is_str(b10t_escape_msg(b, sizeof(b), "x\\n\ny"), "x\\n\\ny", "a message keeps its backslashes");
}

/* Sizes and durations: one syntax for every option and variable (15.3). */
static void test_units(void)
{
	struct b10t_config cfg;
	uint64_t v;

	is_int(b10t_parse_size("20GB", &v), 0, "20GB parses");
	is_int(v, 20000000000ULL, "20GB is 20 * 10^9 (GB is decimal)");
	b10t_parse_size("20GiB", &v);
	is_int(v, 20ULL << 30, "20GiB is 20 * 2^30");
	b10t_parse_size("20gib", &v);
	is_int(v, 20ULL << 30, "any case");
	b10t_parse_size("1.5G", &v);
	is_int(v, 3ULL << 29, "1.5G is exactly 1.5 GiB (G means GiB)");
	b10t_parse_size("500M", &v);
	is_int(v, 500ULL << 20, "500M is 500 MiB");
	b10t_parse_size("500MB", &v);
	is_int(v, 500000000ULL, "500MB is 5 * 10^8");
	b10t_parse_size("2Ki", &v);
	is_int(v, 2048, "Ki as KiB");
	is_int(b10t_parse_size_in("3", 1ULL << 20, &v), 0, "a plain number in the caller's unit");
	is_int(v, 3ULL << 20, "3 MiB");
	is_int(b10t_parse_size("16EiB", &v), -EINVAL, "no unit past P");
	is_int(b10t_parse_size("20 GB", &v), -EINVAL, "no blank before the unit");
	is_int(b10t_parse_size("1.G", &v), -EINVAL, "a point needs digits after it");
	b10t_parse_duration("1.5m", &v);
	is_int(v, 90, "1.5m is 90 s");
	is_int(b10t_parse_duration_ms("0.1", &v), 0, "0.1 s parses to milliseconds");
	is_int(v, 100, "100 ms");
	is_int(b10t_parse_duration("1.5s", &v), -EDOM, "1.5s is not whole seconds");
	b10t_parse_duration("7d", &v);
	is_int(v, 604800, "7d");

	b10t_config_init(&ctx, &cfg);
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "20GB"), 0, "MAX_CACHE_SIZE_MB=20GB accepted");
	is_int(cfg.max_cache_bytes, 20000000000ULL, "20GB in bytes");
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "1.5G"), 0, "MAX_CACHE_SIZE_MB=1.5G accepted");
	is_int(cfg.max_cache_bytes, 3ULL << 29, "1.5 GiB");
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "2TiB"), -ERANGE, "over 1 TiB refused");
	is_str(b10t_ctx_error(&ctx), "MAX_CACHE_SIZE_MB=2TiB: must be between 1 MiB and 1 TiB",
	       "the range in the message, in units");
	is_int(set(&cfg, "CLEANUP_LOCK_TIMEOUT_SECONDS", "2h"), 0, "a lock timeout of 2h");
	is_int(cfg.lock_timeout_s, 7200, "7200 s");
	is_int(set(&cfg, "CLEANUP_INCOMPLETE_TIMEOUT_SECONDS", "31d"), -ERANGE, "31d refused");
	is_str(b10t_ctx_error(&ctx), "CLEANUP_INCOMPLETE_TIMEOUT_SECONDS=31d: must be between 0s and 30d",
	       "the range in the message");
	is_int(set(&cfg, "B10_TRANSFER_INTERVAL_S", "0.05"), -ERANGE, "an interval under 0.1 s refused");
	is_int(set(&cfg, "B10_TRANSFER_INTERVAL_S", "1.5m"), 0, "an interval of 1.5m");
	is_int(cfg.vllm_interval_ms, 90000, "in milliseconds");
	is_int(set(&cfg, "timeout", "2h"), 0, "a setting by its option name");
	is_int(cfg.vllm_timeout_ms, 7200000, "applied");
}

/* The table: every default parses; a bad value breaks only its users (15.2). */
static void test_table(void)
{
	struct b10t_config cfg;
	struct b10t_ctx c2;

	for (size_t i = 0; i < b10t_settings_count; i++) {
		const struct b10t_setting *s = &b10t_settings[i];

		b10t_config_init(&ctx, &cfg);
		b10t_ctx_init(&c2);
		ok(!s->def || b10t_config_set(&c2, &cfg, s->env, s->def, NULL) == 0,
		   "%s: its default %s is a valid value", s->env, s->def ? s->def : "(computed)");
		ok(s->def || s->def_doc, "%s: its default is documented", s->env);
		ok(b10t_setting_find(s->option) == s && b10t_setting_find(s->env) == s,
		   "%s: found by variable and by --%s", s->env, s->option);
		ok(s->help && s->help[0] && !strchr(s->help, '\n'), "%s: a one-line help", s->env);
		ok(s->uses && !(s->uses & ~B10T_USES_ALL), "%s: read by someone, or marked none", s->env);
	}
	setenv("LOCAL_WORK_DIR", "app", 1);
	setenv("MAX_CONCURRENT_SAVES", "many", 1);
	setenv("B10FS_CACHE_DIR", "", 1);
	is_int(b10t_config_init(&ctx, &cfg), 0, "bad variables do not fail the config");
	is_str(cfg.work_dir, "/app", "a refused LOCAL_WORK_DIR leaves the default");
	is_str(cfg.store_dir, "/cache/model/compile_cache", "an empty B10FS_CACHE_DIR is unset");
	is_int(b10t_config_check(&ctx, &cfg, B10T_USES_KEY | B10T_USES_STORE | B10T_USES_CACHE), 0,
	       "a verb that reads neither is not broken");
	is_int(b10t_config_check(&ctx, &cfg, B10T_USES_PUBLISH), -EINVAL,
	       "save, which reads MAX_CONCURRENT_SAVES, is");
	is_str(b10t_ctx_error(&ctx), "MAX_CONCURRENT_SAVES=many: not a whole number",
	       "with the variable's message");
	is_int(b10t_config_set(&ctx, &cfg, "MAX_CONCURRENT_SAVES", "3", "--max-concurrent-saves"), 0,
	       "an option over the bad variable");
	is_int(b10t_config_check(&ctx, &cfg, B10T_USES_PUBLISH), 0, "wins: nothing to report");
	is_int(cfg.origin[B10T_SET_MAX_CONCURRENT_SAVES], B10T_ORIGIN_SET, "its origin is the option");
	unsetenv("LOCAL_WORK_DIR");
	unsetenv("MAX_CONCURRENT_SAVES");
	unsetenv("B10FS_CACHE_DIR");
}

int main(void)
{
	b10t_ctx_init(&ctx);
	test_durations_and_sizes();
	test_defaults();
	test_values();
	test_cache_dir_guard();
	test_cache_dir_guard_links();
	test_numbers();
	test_units();
	test_table();
	test_escape();
	return tap_done();
}
