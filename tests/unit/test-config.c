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
	is_int(b10t_parse_size("99999999999999T", &v), -EINVAL, "overflow is refused");
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
	is_int(cfg.max_cache_size_mb, 1024, "default MAX_CACHE_SIZE_MB");
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
	is_int(cfg.max_cache_size_mb, 1024, "a refused value leaves the setting as it was");
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "2048"), 0, "MAX_CACHE_SIZE_MB=2048 accepted");
	is_int(cfg.max_cache_size_mb, 2048, "and applied");
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
		" 5", "5 ", "5\n", "\t5", "+5", "-1", "-0", "0x10", "5abc", "", "1e3", "1.5",
		"5 5", "99999999999999999999999999", "18446744073709551616", "\xef\xbc\x95", NULL,
	};
	static const char *const vars[] = {
		"MAX_CACHE_SIZE_MB", "MAX_CONCURRENT_SAVES", "CLEANUP_LOCK_TIMEOUT_SECONDS",
		"CLEANUP_INCOMPLETE_TIMEOUT_SECONDS", NULL,
	};
	struct b10t_config cfg;
	char big[5001];
	uint64_t v;

	b10t_config_init(&ctx, &cfg);
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
	is_str(b10t_ctx_error(&ctx), "MAX_CACHE_SIZE_MB=5\\n: not a whole number",
	       "a newline is echoed as \\n");
	set(&cfg, "MAX_CACHE_SIZE_MB", "\x01x");
	is_str(b10t_ctx_error(&ctx), "MAX_CACHE_SIZE_MB=\\x01x: not a whole number",
	       "a control byte is echoed as \\x01");
	set(&cfg, "MAX_CACHE_SIZE_MB", "");
	is_str(b10t_ctx_error(&ctx), "MAX_CACHE_SIZE_MB is empty: expected a whole number",
	       "empty said so");
	memset(big, '7', 5000);
	big[5000] = '\0';
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", big), -ERANGE, "5000 digits: out of range");
	ok(strlen(b10t_ctx_error(&ctx)) < 200 && strstr(b10t_ctx_error(&ctx), "..."),
	   "a long value is cut with '...'");
	big[100] = '\n';
	set(&cfg, "MAX_CACHE_SIZE_MB", big);
	ok(!strchr(b10t_ctx_error(&ctx), '\n'), "a long value with a newline: one line");
	is_int(set(&cfg, "MAX_CACHE_SIZE_MB", "007"), 0, "leading zeros are decimal");
	is_int(cfg.max_cache_size_mb, 7, "007 is 7");
	is_int(set(&cfg, "BASETEN_FS_ENABLED", "yes\nno"), -EINVAL, "a bool with a newline refused");
	ok(!strchr(b10t_ctx_error(&ctx), '\n'), "and echoed on one line");
	is_int(set(&cfg, "B10FS_CACHE_DIR", "rel\n/x"), -EINVAL, "a path with a newline refused");
	ok(!strchr(b10t_ctx_error(&ctx), '\n'), "and echoed on one line");

	/* gc's --stale, --max-age, --max-size */
	for (size_t i = 0; bad[i]; i++) {
		char shown[B10T_ESCAPE_SIZE(32)];

		b10t_escape(shown, sizeof(shown), bad[i], 32);
		ok(b10t_parse_duration(bad[i], &v) == -EINVAL, "duration '%s' refused", shown);
		ok(b10t_parse_size(bad[i], &v) == -EINVAL, "size '%s' refused", shown);
	}
	is_int(b10t_parse_duration("5s ", &v), -EINVAL, "duration with a trailing blank refused");
	is_int(b10t_parse_duration("5s\n", &v), -EINVAL, "duration with a newline refused");
	is_int(b10t_parse_size("5G\n", &v), -EINVAL, "size with a newline refused");
	is_int(b10t_parse_size("20G", &v), 0, "20G still parses");
	is_int(v, 20ULL << 30, "20G");
	is_int(b10t_parse_size("17179869184G", &v), -EINVAL, "a size over 2^64 refused");
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

int main(void)
{
	b10t_ctx_init(&ctx);
	test_durations_and_sizes();
	test_defaults();
	test_values();
	test_cache_dir_guard();
	test_cache_dir_guard_links();
	test_numbers();
	test_escape();
	return tap_done();
}
