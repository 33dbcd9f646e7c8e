/* SPDX-License-Identifier: MIT */
/* Unit tests of configuration parsing and validation. */
#include <errno.h>
#include <stdlib.h>

#include "b10t.h"
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

int main(void)
{
	b10t_ctx_init(&ctx);
	test_durations_and_sizes();
	test_defaults();
	test_values();
	return tap_done();
}
