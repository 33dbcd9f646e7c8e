/* SPDX-License-Identifier: MIT */
/*
 * libb10t: share torch.compile caches through a shared directory.
 *
 * Conventions: functions return 0 (or a count) on success and a negative
 * errno on failure, leaving a one-line human message in the context
 * (b10t_ctx_error()).  The library never prints and never exits; logs go
 * through the context's log callback.
 */
#ifndef B10T_INT_H
#define B10T_INT_H

#include <limits.h>
#include <signal.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The public API (lib/b10t.h): the version, statuses, log levels. */
#include "b10t.h"

/* ---- statuses (CONTRACT.md "Statuses and exit codes") ---------------- */

/* enum b10t_status and b10t_status_name(): lib/b10t.h */

/* ---- context: errors, logs, progress --------------------------------- */

/* enum b10t_log_level: lib/b10t.h */

struct b10t_progress {
	uint64_t files;		/* entries done so far */
	uint64_t bytes;		/* uncompressed bytes done so far */
	uint64_t total_bytes;	/* expected total, 0 when unknown */
	bool done;		/* last call of a phase */
};

struct b10t_ctx {
	char err[1024];		/* last error message, "" when none */
	int err_code;		/* last negative errno, 0 when none */
	enum b10t_log_level log_level;	/* messages above this are dropped */
	void (*log)(void *arg, enum b10t_log_level level, const char *msg);
	void *log_arg;
	void (*progress)(void *arg, const struct b10t_progress *p);
	void *progress_arg;
	/*
	 * When set and non-zero (a signal handler's flag), pack and unpack stop
	 * at the next entry with -EINTR; save and load then clean up as after
	 * any failure (no temp file, no staging dir).
	 */
	volatile sig_atomic_t *cancel;
};

void b10t_ctx_init(struct b10t_ctx *ctx);
const char *b10t_ctx_error(const struct b10t_ctx *ctx);
/* Set the error message (printf-style); returns -errnum (errnum > 0). */
int b10t_set_error(struct b10t_ctx *ctx, int errnum, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
void b10t_clear_error(struct b10t_ctx *ctx);
void b10t_log(struct b10t_ctx *ctx, enum b10t_log_level level, const char *fmt, ...)
	__attribute__((format(printf, 3, 4)));
#define b10t_debug(ctx, ...) b10t_log((ctx), B10T_LOG_DEBUG, __VA_ARGS__)
#define b10t_warn(ctx, ...) b10t_log((ctx), B10T_LOG_WARN, __VA_ARGS__)
/* Monotonic seconds, for phase timings. */
double b10t_now(void);
/* fdatasync(fd) when a second passed since *last (0: start counting). */
void b10t_heartbeat(int fd, double *last);

/* ---- what b10t runs with (b10t --version -v) --------------------------- */

/*
 * A library b10t uses: linked in, or loaded with dlopen only when a verb
 * needs it (libcurl for vllm's readiness probe, the CUDA runtime and
 * driver for the key's GPU facts), so that one binary runs on machines
 * without them.
 */
struct b10t_library {
	const char *name;		/* "libarchive", "libcurl.so.4" */
	const char *use;		/* what b10t needs it for */
	bool dlopen;			/* loaded when needed, not linked */
	bool found;			/* linked: always; dlopen: loadable here now */
	char version[160];		/* "3.6.2 zlib/1.2.13 ...", "" when unknown */
	char path[PATH_MAX];		/* dlopen: the file it loads, else "" */
};
#define B10T_LIBRARIES_MAX 12
/* Fill out[0..max) with the linked libraries (their versions at run time)
 * and the dlopen ones: with probe, whether and where they load now (which
 * loads them); without, only their names.  The count. */
size_t b10t_libraries(struct b10t_library *out, size_t max, bool probe);

/* ---- configuration (CONTRACT.md "Configuration") ---------------------- */

#define B10T_SIZE_EXAMPLES "20GB, 20GiB, 1.5G, 500M"
#define B10T_DURATION_EXAMPLES "30s, 1.5m, 2h, 7d"

/* A namespace (B10T_NAMESPACE): 1 to 64 of [A-Za-z0-9._-], a letter or
 * digit first (lib/namespace.c). */
#define B10T_NAMESPACE_MAX 64

enum b10t_key_scheme {
	B10T_SCHEME_DEFAULT = 0,	/* "default" */
	B10T_SCHEME_B10_TRANSFER,	/* "b10-transfer" */
};

/* The archive formats of the store (CONTRACT.md "The store"). */
/* B10T_FMT_ZSTD: .tar.zst, zstd frames with content checksums. */
enum b10t_format { B10T_FMT_LZ4 = 0, B10T_FMT_GZ, B10T_FMT_ZSTD };
/* zstd levels save accepts (B10T_ZSTD_LEVEL); 1-3 measured in docs/netfs.md. */
#define B10T_ZSTD_LEVEL_MIN 1
#define B10T_ZSTD_LEVEL_MAX 19
#define B10T_ZSTD_LEVEL_DEFAULT 3
/*
 * The settings, in the order of b10t_settings[] (config.c), which is the one
 * place each is described: its variable, option, type, range, default and
 * doc line.  --help, the man pages and the completions come from it.
 */
enum b10t_setting_id {
	B10T_SET_CACHE_DIR,
	B10T_SET_STORE_DIR,
	B10T_SET_WORK_DIR,
	B10T_SET_MAX_CACHE_SIZE,
	B10T_SET_MAX_CONCURRENT_SAVES,
	B10T_SET_LOCK_TIMEOUT,
	B10T_SET_INCOMPLETE_TIMEOUT,
	B10T_SET_FS_ENABLED,
	B10T_SET_KEY_SCHEME,
	B10T_SET_VLLM_URL,
	B10T_SET_VLLM_TIMEOUT,
	B10T_SET_VLLM_INTERVAL,
	B10T_SET_VLLM_LOG_INTERVAL,
	B10T_SET_CODEC,
	B10T_SET_ZSTD_LEVEL,
	B10T_SET_WATCH_QUIET,
	B10T_SET_WATCH_MAX_WAIT,
	B10T_SET_WATCH_BUDGET,
	B10T_SET_COMPACT_LAYERS,
	B10T_SET_COMPACT_SIZE,
	B10T_SET_COMPACT_GRACE,
	B10T_SET_STATS,
	B10T_SET_NAMESPACE,
	B10T_SETTINGS_MAX
};

/* Where a setting's value came from. */
enum b10t_origin { B10T_ORIGIN_DEFAULT = 0, B10T_ORIGIN_ENV, B10T_ORIGIN_SET };

struct b10t_config {
	char cache_dir[PATH_MAX];	/* TORCHINDUCTOR_CACHE_DIR */
	char store_dir[PATH_MAX];	/* B10FS_CACHE_DIR */
	char work_dir[PATH_MAX];	/* LOCAL_WORK_DIR */
	uint64_t max_cache_bytes;	/* MAX_CACHE_SIZE_MB, in bytes */
	uint64_t max_concurrent_saves;	/* MAX_CONCURRENT_SAVES */
	uint64_t lock_timeout_s;	/* CLEANUP_LOCK_TIMEOUT_SECONDS */
	uint64_t incomplete_timeout_s;	/* CLEANUP_INCOMPLETE_TIMEOUT_SECONDS */
	int fs_enabled;			/* BASETEN_FS_ENABLED: -1 unset, 0, 1 */
	int key_scheme;			/* B10T_KEY_SCHEME: enum b10t_key_scheme */
	int codec;			/* B10T_CODEC: B10T_FMT_LZ4, B10T_FMT_ZSTD or
					 * B10T_CODEC_AUTO (by the store's filesystem) */
	uint64_t zstd_level;		/* B10T_ZSTD_LEVEL */
	uint64_t watch_quiet_ms;	/* B10T_WATCH_QUIET_PERIOD */
	uint64_t watch_max_wait_ms;	/* B10T_WATCH_MAX_WAIT */
	uint64_t watch_budget_ms;	/* B10T_WATCH_FINAL_BUDGET */
	char vllm_url[PATH_MAX];	/* B10_TRANSFER_VLLM_URL */
	uint64_t vllm_timeout_ms;	/* B10_TRANSFER_TIMEOUT_S */
	uint64_t vllm_interval_ms;	/* B10_TRANSFER_INTERVAL_S */
	uint64_t vllm_log_interval_ms;	/* B10T_VLLM_LOG_INTERVAL */
	uint64_t compact_layers;	/* B10T_COMPACT_LAYERS */
	uint64_t compact_bytes;		/* B10T_COMPACT_MB, in bytes */
	uint64_t compact_grace_s;	/* B10T_COMPACT_GRACE */
	int stats;			/* B10T_STATS: load and save leave records */
	char key_namespace[B10T_NAMESPACE_MAX + 1];	/* B10T_NAMESPACE, "" when none */
	/* per setting: where the value came from, and why the environment's
	 * value was refused ("" when it was not; then the default stands) */
	unsigned char origin[B10T_SETTINGS_MAX];
	char bad[B10T_SETTINGS_MAX][200];
};

enum b10t_setting_type {
	B10T_TYPE_PATH,		/* an absolute path, normalized */
	B10T_TYPE_COUNT,	/* a whole number */
	B10T_TYPE_SIZE,		/* bytes: b10t_parse_size_in(), a plain number in .unit */
	B10T_TYPE_DURATION,	/* b10t_parse_duration_ms(), stored in units of .unit ms */
	B10T_TYPE_BOOL,		/* 1/true/yes/on or 0/false/no/off, any case */
	B10T_TYPE_CHOICE,	/* one of .choices, stored as its index */
	B10T_TYPE_URL,		/* text; its verb checks it */
	B10T_TYPE_NAME,		/* a namespace: b10t_namespace_check() */
};

/* What reads a setting: a verb whose uses mask has its bit checks it. */
enum b10t_uses {
	B10T_USES_CACHE = 1 << 0,	/* the local cache dir */
	B10T_USES_STORE = 1 << 1,	/* the store's path */
	B10T_USES_ENABLED = 1 << 2,	/* whether the store may be used */
	B10T_USES_DEBRIS = 1 << 3,	/* the ages of debris (cooperative cleanup, gc) */
	B10T_USES_PUBLISH = 1 << 4,	/* save's caps */
	B10T_USES_KEY = 1 << 5,		/* the environment key */
	B10T_USES_VLLM = 1 << 6,	/* the vLLM sidecar */
	B10T_USES_CODEC = 1 << 7,	/* save's compression */
	B10T_USES_FOLLOW = 1 << 8,	/* watch, vllm --follow: when to publish */
	B10T_USES_NONE = 1 << 9,	/* read by nothing (b10-transfer's LOCAL_WORK_DIR) */
	B10T_USES_STATS = 1 << 10,	/* the statistics records of load and save */
	B10T_USES_ALL = (1 << 11) - 1,
};

struct b10t_setting {
	const char *name;	/* "cache_dir": the config field and JSON name */
	const char *env;	/* "TORCHINDUCTOR_CACHE_DIR" */
	const char *option;	/* "cache-dir" (long option, no dashes) */
	const char *metavar;	/* "DIR" */
	enum b10t_setting_type type;
	unsigned uses;		/* enum b10t_uses */
	size_t offset;		/* of the value in struct b10t_config */
	uint64_t min, max;	/* range of a number: count, bytes or milliseconds */
	uint64_t unit;		/* size: bytes of a plain number; duration: ms per stored unit */
	const char *def;	/* the default, written as a value ("1024", "30s");
				 * NULL when computed or unset: def_doc says which */
	const char *def_doc;	/* the default in words, when def is NULL */
	const char *const *choices;	/* choice: the names, NULL-terminated */
	const char *help;	/* one line, for --help */
	const char *doc;	/* more for the man page, or NULL */
	const int *values;	/* choice: the value stored for each name; NULL: its index */
};
extern const struct b10t_setting b10t_settings[];
extern const size_t b10t_settings_count;

/* The default as the docs show it ("1 GiB", "30s", "/app"), into buf. */
const char *b10t_setting_default(const struct b10t_setting *s, char *buf, size_t size);
/* The range of a number ("1 MiB to 1 TiB", "0s to 30d"), "" for others. */
const char *b10t_setting_range(const struct b10t_setting *s, char *buf, size_t size);
/* The setting of this variable or option name, NULL when none. */
const struct b10t_setting *b10t_setting_find(const char *env_or_option);

/*
 * Defaults, then the environment.  An empty variable is unset.  A bad
 * value is not an error here: it is kept in cfg->bad, the default stands,
 * and b10t_config_check() reports it to whoever uses the setting; a verb
 * that does not read LOCAL_WORK_DIR is not broken by it.
 */
int b10t_config_init(struct b10t_ctx *ctx, struct b10t_config *cfg);
/* -EINVAL with the first refused value among the settings `uses` selects. */
int b10t_config_check(struct b10t_ctx *ctx, const struct b10t_config *cfg, unsigned uses);
/*
 * Set one setting by its variable (or option) name, as from the command
 * line; `origin` names the source in messages ("--cache-dir" or the
 * variable).  An empty value puts back the default.  Validates; on error
 * the config is unchanged.
 */
int b10t_config_set(struct b10t_ctx *ctx, struct b10t_config *cfg,
		    const char *env, const char *value, const char *origin);
/*
 * A size or duration option outside the settings (gc --max-size): parsed,
 * range-checked, and a one-line error naming `origin` when bad.
 */
int b10t_value_size(struct b10t_ctx *ctx, const char *origin, const char *value,
		    uint64_t plain, uint64_t min, uint64_t max, uint64_t *bytes);
int b10t_value_duration(struct b10t_ctx *ctx, const char *origin, const char *value,
			uint64_t min_ms, uint64_t max_ms, uint64_t unit_ms, uint64_t *out);
/* Whether the store may be used: BASETEN_FS_ENABLED, else the dir exists. */
bool b10t_store_enabled(const struct b10t_config *cfg);
/*
 * Why the store is not used: NULL when the store dir is there (whatever
 * BASETEN_FS_ENABLED=1 says otherwise), else a reason code,
 * "store_disabled" (BASETEN_FS_ENABLED off) or "store_missing" (no such
 * dir, not a dir, not reachable), with a one-line message in why.
 */
const char *b10t_store_disabled(const struct b10t_config *cfg, char *why, size_t size);
/* 0 when the store is usable, else -errno with a message. */
int b10t_store_check(struct b10t_ctx *ctx, const struct b10t_config *cfg);
/*
 * Refuse a cache dir that clear or load could wreck: '/', anything under
 * /bin /boot /dev /etc /lib* /proc /run /sbin /sys /usr /var (but not under
 * /var/tmp and /var/cache), and the shared parents themselves (/tmp, /home,
 * /root, /var/tmp, /var/cache, /app, /cache, /cache/model, a home dir, ...).
 * Checks the path as given and as resolved (through the nearest existing
 * ancestor when it does not exist yet).
 */
int b10t_check_cache_dir(struct b10t_ctx *ctx, const char *path);

/*
 * Write `s` into dst as one line of printable ASCII: '\\', '\n', '\r',
 * '\t', other control and non-ASCII bytes as '\xNN'; cut after `max` input
 * bytes (0: as many as fit) with "...".  size >= 8; returns dst.
 */
#define B10T_ESCAPE_SIZE(max) (4 * (max) + 4)
const char *b10t_escape(char *dst, size_t size, const char *s, size_t max);
/* The same for a whole message, leaving its backslashes as they are. */
const char *b10t_escape_msg(char *dst, size_t size, const char *s);

/*
 * Sizes and durations, read the same in every option and variable: a
 * decimal number, a fraction allowed ("1.5G"), then a unit.
 *
 * Sizes: B; K, M, G, T, P and KiB ... PiB (also Ki ... Pi) are powers of
 * 1024; KB, MB, GB, TB, PB are powers of 1000 (so G means GiB and GB
 * means 10^9, as "20GB" reads on a disk's label).  Any case.  A plain
 * number is in `plain` bytes (1 for b10t_parse_size).
 *
 * Durations: s, m, h, d ("30s", "1.5m", "2h", "7d"); a plain number is
 * seconds.  b10t_parse_duration wants whole seconds (-EDOM for "1.5s").
 *
 * 0, -EINVAL when not such a value, -ERANGE past 2^64.  Range checks and
 * messages: b10t_value_size() / b10t_value_duration() in config.c.
 */
int b10t_parse_size(const char *s, uint64_t *bytes);
int b10t_parse_size_in(const char *s, uint64_t plain, uint64_t *bytes);
int b10t_parse_duration_ms(const char *s, uint64_t *ms);
int b10t_parse_duration(const char *s, uint64_t *seconds);

/* ---- the environment key (CONTRACT.md "The environment key") ---------- */

#define B10T_KEY_LEN 16
#define B10T_MAX_COMPONENTS 8

struct b10t_component {
	const char *name;		/* "torch_version", ... */
	char value[256];		/* "none" when not found */
	char source[PATH_MAX + 64];	/* where it came from */
};

struct b10t_envkey {
	enum b10t_key_scheme scheme;
	char key[B10T_KEY_LEN + 1];
	bool gpu;
	size_t n;			/* components in the key, sorted by name */
	struct b10t_component comp[B10T_MAX_COMPONENTS];
};

const char *b10t_scheme_name(enum b10t_key_scheme scheme);
int b10t_scheme_parse(const char *s, enum b10t_key_scheme *out);
/* B10T_CODEC=auto (cfg->codec; the table's codec_values): by the store's fs. */
#define B10T_CODEC_AUTO (-1)
/* The codec save writes with cfg: B10T_CODEC, auto resolved by the store's
 * filesystem (zstd unless b10t_local_fs).  (lib/save.c) */
enum b10t_format b10t_save_codec(const struct b10t_config *cfg);

/* Gather components (packages, GPU, overrides) and compute the key. */
int b10t_envkey_compute(struct b10t_ctx *ctx, const struct b10t_config *cfg,
			struct b10t_envkey *key);
/* Hash already-filled components (comp[0..n) sorted by name) into key->key. */
void b10t_envkey_hash(struct b10t_envkey *key);
/* The value of a component, NULL when the key has none of that name. */
const char *b10t_envkey_get(const struct b10t_envkey *key, const char *name);

/* ---- namespaces (lib/namespace.c) ------------------------------------ */

/* Whether s is a namespace: 1 to B10T_NAMESPACE_MAX of [A-Za-z0-9._-],
 * a letter or digit first. */
bool b10t_namespace_valid(const char *s);
/* 0, or -EINVAL with "ORIGIN=VALUE: not a namespace (...)". */
int b10t_namespace_check(struct b10t_ctx *ctx, const char *origin, const char *value);

#define B10T_NAMESPACES_MAX 32		/* named namespaces listed */
#define B10T_NAMESPACES_SURVEY 4096	/* keys whose manifest is read */
struct b10t_namespace_count {
	char name[B10T_NAMESPACE_MAX + 1];
	uint64_t keys;
};
/* The namespaces of a store's keys, from their archives' manifests. */
struct b10t_namespaces {
	uint64_t keys;			/* keys surveyed */
	size_t n;			/* named namespaces in ns[] */
	struct b10t_namespace_count ns[B10T_NAMESPACES_MAX];
	bool more;			/* more names than ns[] holds ... */
	uint64_t more_keys;		/* ... with this many keys */
	uint64_t unnamespaced;		/* keys without a namespace (or a manifest) */
	uint64_t unreadable;		/* keys whose manifest could not be read */
	uint64_t not_surveyed;		/* keys past B10T_NAMESPACES_SURVEY */
	bool shared;			/* several names, or names and keys without one */
};
/* Read the manifest of every key's first archive (reads only). */
int b10t_store_namespaces(struct b10t_ctx *ctx, const struct b10t_config *cfg,
			  struct b10t_namespaces *out);
/*
 * The JSON fields, one builder for the CLI (cmd/) and the C API (api.c):
 * "namespace" (the key's, null when none) of envkey and info; info's
 * "store_namespaces", "store_keys", "store_unnamespaced_keys", "store_shared".
 */
struct cJSON;
void b10t_json_namespace(struct cJSON *o, const struct b10t_envkey *key);
void b10t_json_store_namespaces(struct cJSON *o, const struct b10t_namespaces *ns);

/* ---- the store (CONTRACT.md "The store") ------------------------------ */


/*
 * A key's published set in the store (docs/store-protocol.md): its base
 * (a legacy cache_<key>.latest archive, or a compacted base) and its
 * generations.  filename and format are the first archive a load applies.
 */
struct b10t_archive_info {
	char filename[NAME_MAX + 1];
	char key[NAME_MAX + 1];		/* the key part of the filename */
	enum b10t_format format;
	uint64_t bytes;			/* size of the set's archive files */
	int64_t mtime;			/* the newest publish time, seconds */
	int64_t last_used;		/* last use, seconds: max(mtime, atime, use marker's mtime) */
	uint64_t generation;		/* the highest generation, 0 for a legacy archive alone */
	/* Layers: the archives above the base (every archive, without one),
	 * their bytes, and the base's generation (G of b<G>, 0 legacy or none). */
	size_t n_layers;
	uint64_t layer_bytes;
	uint64_t base_generation;
	size_t n_archives;		/* archives in the set */
	/* b10t_store_list: their names, in load order (in the same
	 * allocation as the array); NULL from b10t_store_find */
	const char *const *archives;
};

/* The legacy "cache_<key>.latest.tar.lz4" (or .tar.gz) into buf: the name
 * the reference and older b10t read; b10t no longer writes it. */
void b10t_archive_name(char *buf, size_t size, const char *key, enum b10t_format fmt);
/* Parse an archive name (a legacy .latest, a generation's or a base's);
 * false when `name` is not one. */
bool b10t_parse_archive_name(const char *name, struct b10t_archive_info *info);
/*
 * Every key with a published set in the store, one entry each, newest
 * first; *out is malloc'ed, with the archive names (one free()).  Never
 * writes to the store.
 */
int b10t_store_list(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		    struct b10t_archive_info **out, size_t *n);
/* The published set of `key` (the legacy lz4 before the reference's gz,
 * as the base; generations in either codec); -ENOENT when none. */
int b10t_store_find(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		    const char *key, struct b10t_archive_info *info);
/* "lz4", "gz" or "zstd". (lib/names.c) */
const char *b10t_format_name(enum b10t_format fmt);
/* Whether key[0..len) can be a key in a store name: 1..223 of [A-Za-z0-9_-]. */
bool b10t_valid_key(const char *key, size_t len);
/* A key as a user names it on the command line: the key itself or one of
 * its archive names (then info holds the parse).  NULL when it is neither. */
const char *b10t_key_arg(const char *arg, struct b10t_archive_info *info);
/*
 * A fresh unique upload name for `key`:
 * "cache_<key>.incomplete.<host>.<pid>.<16 hex from getrandom>.tar.lz4"
 * (the host's characters outside [A-Za-z0-9-] become '-').  Create it with
 * O_EXCL.  -EINVAL for a bad key, -ENAMETOOLONG when it does not fit.
 */
int b10t_incomplete_name(char *buf, size_t size, const char *key);
/* The same, ending in fmt's extension (.tar.lz4, .tar.zst). */
int b10t_upload_name(char *buf, size_t size, const char *key, enum b10t_format fmt);
/*
 * Whether `name` is an upload in progress: "cache_<key>.incomplete" alone or
 * followed by ".anything" (ours and the reference's .incomplete.tar.gz).
 * Its key goes to key[size] when key is not NULL.
 */
bool b10t_parse_incomplete_name(const char *name, char *key, size_t size);

/* ---- archives: pack and unpack ----------------------------------------- */

struct b10t_limits {
	uint64_t max_entries;		/* default 1,000,000 */
	uint64_t max_bytes;		/* total extracted bytes, default 64 GiB */
	uint64_t max_archive_bytes;	/* pack: stop past this; 0 = no cap */
	/*
	 * pack: a directory to leave out (with a warning) wherever it appears
	 * in the tree, by device and inode: the store, when it lies inside
	 * the cache dir, so the upload being written is never packed into
	 * itself.  exclude_ino 0: none.
	 */
	uint64_t exclude_dev, exclude_ino;
	/*
	 * unpack: dst holds the earlier archives of a key's set (a later
	 * generation wins for the same path): a member replaces a file or
	 * symlink an earlier archive made, joins its directory, and a
	 * directory against a file (either way) is the archive's fault.  A
	 * name twice in the same archive is a duplicate as ever.
	 */
	bool overlay;
	/* pack: the codec, B10T_FMT_LZ4 (default) or B10T_FMT_ZSTD, and the
	 * zstd level (0: B10T_ZSTD_LEVEL_DEFAULT). */
	enum b10t_format format;
	int zstd_level;
};
void b10t_limits_default(struct b10t_limits *lim);

struct b10t_pack_stats {
	uint64_t files;			/* files and symlinks written */
	uint64_t dirs;			/* directories written */
	uint64_t bytes;			/* uncompressed file bytes */
	uint64_t archive_bytes;		/* compressed bytes written */
	uint64_t skipped;		/* pack: entries left out (each warned about) */
	bool archive_fault;		/* unpack: it failed because of the archive's
					 * content, not the local side: move it aside */
	bool archive_short;		/* unpack: the archive's file ended before its
					 * data did (truncated, or a stale view of it) */
};

/*
 * Pack directory `src` as pax tar + lz4 frame (or zstd frames, by
 * lim->format) into out_fd.  The first
 * member is `.b10t/manifest.json` with `manifest_json`.  -EFBIG when the
 * archive would pass lim->max_archive_bytes.
 */
int b10t_pack(struct b10t_ctx *ctx, const char *src, int out_fd,
	      const char *manifest_json, const struct b10t_limits *lim,
	      struct b10t_pack_stats *stats);

/*
 * Extract the archive read from in_fd into the existing empty directory
 * `dst`, enforcing "Safety of archives".  Errors:
 *   -EBADMSG  corrupt: checksum, truncation, not an archive
 *   -EPERM    a hostile member (named in the message)
 *   -EFBIG    a cap on entries or bytes
 *   other     local I/O failure (ENOSPC, EIO, ...), or an archive whose
 *             content the local filesystem refuses (ENAMETOOLONG, ...)
 * stats->archive_fault tells the two kinds of failure apart: set when the
 * archive's content caused it, whatever the errno.
 * *manifest (may be NULL) gets the manifest JSON when present (free()).
 */
int b10t_unpack(struct b10t_ctx *ctx, int in_fd, enum b10t_format fmt,
		const char *dst, const struct b10t_limits *lim,
		struct b10t_pack_stats *stats, char **manifest);

/* Read only the manifest of an archive file; -ENOENT when it has none. */
int b10t_read_manifest(struct b10t_ctx *ctx, const char *path,
		       enum b10t_format fmt, char **manifest);

/* ---- the manifest (lib/manifest.c) ----------------------------------- */

/*
 * The archive's first member, .b10t/manifest.json: what save packed and for
 * which key.  One struct, one writer, one reader.  Every field is optional
 * on reading (the reference's .tar.gz and old archives have none); a field
 * that is present must have its type and range, else the manifest is
 * invalid and the archive counts as corrupt.
 */
#define B10T_MANIFEST_VERSION 1
#define B10T_MANIFEST_COMPONENTS 32
#define B10T_MANIFEST_NUM_MAX ((1ULL << 53) - 1)	/* every integer to here is exact in a double */

struct b10t_manifest_component {
	char name[64];
	char value[256];
};

/* The manifest's "facts" and "env" (what decides a torch hit, recorded at
 * save for b10t why: lib/why.c gathers them), as name/value pairs. */
#define B10T_MANIFEST_FACTS 16
#define B10T_MANIFEST_ENV 48

struct b10t_manifest {
	uint64_t version;		/* "b10t_manifest": 1 */
	char key[B10T_KEY_LEN + 1];	/* "key", "" when absent */
	bool has_scheme;
	enum b10t_key_scheme scheme;	/* "scheme" */
	size_t n;			/* "components": {name: value} */
	struct b10t_manifest_component comp[B10T_MANIFEST_COMPONENTS];
	bool has_files, has_bytes, has_created, has_dirs;
	uint64_t files;			/* "files": files and symlinks packed (before
					 * 0.x's manifests with "dirs": every entry) */
	uint64_t dirs;			/* "dirs": directories packed */
	uint64_t bytes;			/* "bytes": uncompressed bytes */
	uint64_t created_time;		/* "created_time": Unix seconds */
	char host[256];			/* "host" */
	char b10t_version[64];		/* "b10t_version" */
	char cache_dir[PATH_MAX];	/* "cache_dir": the dir it was saved from, "" when absent */
	/*
	 * "facts": {name: value}: versions (torch, triton, CUDA runtime and
	 * driver, Python), compute capability, device, whatever the scheme's
	 * key left out; "env": {VARIABLE: value}: HOME, XDG_* and the
	 * TORCHINDUCTOR_* / TRITON_* / VLLM_* settings.  Both sorted by name,
	 * absent in manifests before b10t why (has_* false).
	 */
	bool has_facts, has_env;
	size_t n_facts, n_env;
	struct b10t_manifest_component facts[B10T_MANIFEST_FACTS];
	struct b10t_manifest_component env[B10T_MANIFEST_ENV];
	/*
	 * "entries": what the archive holds, in the entry list that follows
	 * the lz4 frame (never in the first member: it is known only once
	 * the tree is packed).  Filled by b10t_manifest_parse_list and by
	 * pack; b10t_manifest_free releases it.
	 */
	bool has_entries;
	size_t n_entries, cap_entries;
	struct b10t_entry *entries;
};

/* One entry of an archive's entry list (see "Entry lists" in store-protocol.md). */
#define B10T_ENTRIES_MAX 1000000
#define B10T_INLINE_MAX (1u << 20)	/* a merged index file's content */
struct b10t_entry {
	char *path;			/* member path, normalised */
	char type;			/* 'f' file, 'd' dir, 'l' symlink */
	uint32_t mode;			/* f, d: permission bits */
	uint64_t size;			/* f */
	uint64_t hash;			/* f: XXH3-64 of its bytes */
	uint64_t mtime;			/* f: seconds, as packed (the delta's quick check) */
	char *target;			/* l */
	char *content;			/* f: a merged index file's bytes, or NULL */
};

/* The manifest save writes for `key`: components, counts, now, this host,
 * and `cache_dir` (may be NULL) it packs. */
void b10t_manifest_init(struct b10t_manifest *m, const struct b10t_envkey *key,
			uint64_t files, uint64_t bytes, const char *cache_dir);
/* Its JSON (malloc'ed, one line), or NULL when out of memory. */
char *b10t_manifest_write(const struct b10t_manifest *m);
/*
 * Parse `json` (len bytes).  0, or -EBADMSG with "invalid manifest: WHY"
 * in the ctx: not a JSON object, a field of the wrong type, a number that
 * is negative, fractional or over B10T_MANIFEST_NUM_MAX (2^53 - 1), a string too long.
 */
int b10t_manifest_parse(struct b10t_ctx *ctx, const char *json, size_t len,
			struct b10t_manifest *m);
/*
 * Whether the manifest belongs to the archive named for `key` (and
 * `scheme`): 0, or -EBADMSG with "archive was made for key K" (or scheme).
 */
int b10t_manifest_check(struct b10t_ctx *ctx, const struct b10t_manifest *m,
			const char *key, enum b10t_key_scheme scheme);
/*
 * The same, reading "entries" too (the entry list form): every entry's
 * path (at most B10T_MAX_PATH bytes, no control character, no duplicate),
 * type, mode (0..0777), size (0..2^53-1), hash (16 hex digits), target and
 * content (at most B10T_INLINE_MAX bytes, its length and hash the
 * entry's) are checked; at most B10T_ENTRIES_MAX entries.  Free with
 * b10t_manifest_free.
 */
int b10t_manifest_parse_list(struct b10t_ctx *ctx, const char *json, size_t len,
			     struct b10t_manifest *m);
/* Append a copy of *e to m's entries: 0 or -ENOMEM. */
int b10t_manifest_add_entry(struct b10t_manifest *m, const struct b10t_entry *e);
/* Release the entries (the rest of the struct needs no freeing). */
void b10t_manifest_free(struct b10t_manifest *m);
/* Parse, then check: what load asks of the manifest it unpacked. */
int b10t_manifest_verify(struct b10t_ctx *ctx, const char *json, const char *key,
			 enum b10t_key_scheme scheme);

/* ---- why: explain a miss (lib/why.c) -------------------------------- */

/*
 * One difference between what an archive's manifest recorded at save and
 * this machine.  kind: "key" (a key component), "path" (the cache dir),
 * "home_xdg" (HOME, XDG_*), "compute_capability", "version" (torch,
 * triton, CUDA, driver, Python), "device", "setting" (TORCHINDUCTOR_*,
 * TRITON_*, VLLM_*).
 */
struct b10t_why_diff {
	const char *kind;
	char name[64];			/* the component, fact or variable */
	bool saved_set, here_set;	/* false: absent (unset) on that side */
	char saved[256], here[256];
	bool wrong_output;		/* known to give silently wrong output, not a miss */
	const char *effect;		/* what it does to torch or vLLM, one line */
};
#define B10T_WHY_DIFFS_MAX 256

/*
 * This machine as a manifest would record it: the key's components and
 * scheme, cache_dir, and b10t_why_gather's facts and env.  Never fails
 * (what cannot be found is "none").
 */
void b10t_why_here(const struct b10t_envkey *key, const char *cache_dir,
		   struct b10t_manifest *here);
/* Fill m's facts and env from this machine (b10t_manifest_init calls it). */
void b10t_why_gather(const struct b10t_envkey *key, struct b10t_manifest *m);
/* The differences of saved against here, at most max into out; the count. */
size_t b10t_why_compare(const struct b10t_manifest *saved, const struct b10t_manifest *here,
			struct b10t_why_diff *out, size_t max);

struct b10t_why {
	enum b10t_status status;	/* SUCCESS, or DOES_NOT_EXIST (no archive) */
	char key[NAME_MAX + 1];		/* the key asked about */
	bool own_key;			/* ... is this environment's */
	char archive[NAME_MAX + 1];	/* the first archive of its set */
	bool has_manifest;		/* false: no manifest (the reference's .tar.gz) */
	bool recorded;			/* it has facts and env (saved by a b10t with why) */
	char host[256], b10t_version[64];
	bool has_created;
	uint64_t created_time;
	size_t n;			/* differences */
	struct b10t_why_diff *diffs;	/* malloc'ed: b10t_why_free */
	/*
	 * DOES_NOT_EXIST for this environment's key: the store's key nearest
	 * to it (fewest differing components, then newest; same scheme), whose
	 * archive the fields above then describe.  false when none.
	 */
	bool nearest;
	char nearest_key[NAME_MAX + 1];
};
/*
 * Why this machine would (or would not) hit with the archive of key
 * (other_key, or this environment's when NULL): read its manifest and
 * compare.  Without an archive for this environment's key, the nearest
 * key's.  0 with the status in res, or -errno.  Reads only.
 */
int b10t_why(struct b10t_ctx *ctx, const struct b10t_config *cfg, const struct b10t_envkey *key,
	     const char *other_key, struct b10t_why *res);
void b10t_why_free(struct b10t_why *res);
/* One difference as JSON: kind, name, saved, here (null when unset),
 * wrong_output, and with `effect` its effect. */
struct cJSON *b10t_why_diff_json(const struct b10t_why_diff *d, bool effect);
/* info's "differences" (when w was compared: has_manifest). */
void b10t_json_info_differences(struct cJSON *o, const struct b10t_why *w);
/* load's "differences" [{kind, name}] when res->compared. */
struct b10t_result;
void b10t_json_load_differences(struct cJSON *o, const struct b10t_result *res);

/* ---- verbs ----------------------------------------------------------- */

struct b10t_result {
	enum b10t_status status;
	char environment_key[B10T_KEY_LEN + 1];
	char archive[PATH_MAX];		/* archive path in the store, "" if none */
	uint64_t files;			/* files and symlinks */
	uint64_t dirs;			/* directories */
	uint64_t bytes;			/* uncompressed */
	uint64_t archive_bytes;
	double elapsed_s;
	char reason[256];		/* why SKIPPED / DOES_NOT_EXIST, in words (JSON "message") */
	const char *why;		/* the same for programs (JSON "reason"): "no_archive",
					 * "cache_dir_not_empty", "cache_dir_empty",
					 * "already_published", "too_many_saves"; NULL if none */
	uint64_t skipped;		/* save: entries left out, each warned about */
	char saved_cache_dir[PATH_MAX];	/* load: the archive's recorded cache dir when it
					 * is not the one loaded into, else "" */
	uint64_t generation;		/* save, update, compaction: the generation published */
	/* load: the archive recorded its environment and it was compared
	 * with this machine (lib/why.c); the differences found, each warned */
	bool compared;
	size_t n_differences;
	struct { const char *kind; char name[64]; } differences[16];
};

int b10t_save(struct b10t_ctx *ctx, const struct b10t_config *cfg,
	      const struct b10t_envkey *key, struct b10t_result *res);
int b10t_load(struct b10t_ctx *ctx, const struct b10t_config *cfg,
	      const struct b10t_envkey *key, struct b10t_result *res);
/*
 * Publish a layer of what the cache dir has and the store's set for the
 * key lacks (docs/store-protocol.md, "Update"): SUCCESS with
 * res->generation, SKIPPED "nothing new", or the first save's g1 when the
 * key has nothing yet.  Lock-free: a lost claim recomputes the delta
 * against the new set and takes the next number.  Compacts afterwards
 * past B10T_COMPACT_*.  0 (status in res) or -errno with the message in
 * ctx; never prints.
 */
int b10t_update(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		const struct b10t_envkey *key, struct b10t_result *res);
/* Publish a base b<G> of the key's whole set ("Compaction"): SUCCESS,
 * SKIPPED when there is one archive or a base of G already. */
int b10t_compact(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		 const struct b10t_envkey *key, struct b10t_result *res);
int b10t_clear(struct b10t_ctx *ctx, const struct b10t_config *cfg,
	       struct b10t_result *res);

/* Size, file (and symlink) and dir counts of a tree; zeros when missing. */
int b10t_tree_size(struct b10t_ctx *ctx, const char *path,
		   uint64_t *bytes, uint64_t *files, uint64_t *dirs);

/* ---- watch: publish what a running server compiles (lib/watch.c) ------ */

/*
 * The watcher: inotify watches on every directory of a tree (new ones added
 * as they appear, a full rescan after the kernel's queue overflowed), and a
 * loop that calls the caller's publish step once the tree has had no change
 * for quiet_s seconds after a change.  Idle, it sleeps in one poll() with
 * no timeout: no timer, no tree walk, no wake-up until something happens.
 */
enum b10t_watch_wake {
	B10T_WATCH_CONTINUE = 0,	/* keep watching */
	B10T_WATCH_STOP = 1,		/* publish once more if anything changed, then return */
	B10T_WATCH_STOP_NOW = 2,	/* return without publishing */
};

struct b10t_watch_opts {
	double quiet_s;			/* publish once the tree was quiet this long */
	/* publish at the latest this long after the first unpublished change,
	 * quiet or not (a server that never stops writing); 0: no limit */
	double max_wait_s;
	const int *wake_fds;		/* the caller's fds (a signal pipe, a pidfd) */
	size_t n_wake;
	/* one of wake_fds is readable: an enum b10t_watch_wake, or -errno */
	int (*on_wake)(void *arg, int fd);
	/*
	 * Publish the tree (final: the last one, after STOP).  0, 1 when it
	 * could not publish for now (the store busy: tried again after another
	 * quiet period, not a failure), or -errno with the message in ctx (tried
	 * again the same way).  The caller bounds its time (ctx->cancel).
	 */
	int (*publish)(void *arg, bool final, struct b10t_result *res);
	/* after each publish, r its return (may be NULL) */
	void (*on_publish)(void *arg, bool final, int r, const struct b10t_result *res);
	void *arg;
	/* a directory never watched (the store, when it lies in the tree); 0: none */
	uint64_t exclude_dev, exclude_ino;
};

struct b10t_watch_stats {
	uint64_t watches;		/* directories watched now */
	uint64_t events;		/* inotify events read */
	uint64_t rescans;		/* full rescans (queue overflow, a directory moved) */
	uint64_t publishes;		/* publish steps called */
	uint64_t failures;		/* ... of which returned an error */
	bool root_gone;			/* the tree's root was removed or moved away */
};

struct b10t_watch;
/*
 * Watch the tree `dir` (made, as torch would, when missing).  -ENOSPC with
 * the sysctl to raise when the inotify watch limit is reached.
 */
int b10t_watch_open(struct b10t_ctx *ctx, const char *dir,
		    const struct b10t_watch_opts *opts, struct b10t_watch **out);
/* Loop until a wake callback says stop (0) or fails (-errno). */
int b10t_watch_run(struct b10t_ctx *ctx, struct b10t_watch *w);
/* Whether the tree changed since the last publish step began. */
bool b10t_watch_dirty(const struct b10t_watch *w);
const struct b10t_watch_stats *b10t_watch_stats(const struct b10t_watch *w);
void b10t_watch_close(struct b10t_watch *w);

/* ---- gc: debris removal and eviction (lib/gc.c) ----------------------- */

/*
 * What `b10t gc` removes.  Debris: uploads (`cache_*.incomplete*`) older
 * than stale_s, `*.lock` older than cfg->lock_timeout_s, `cache_*.corrupt.*`
 * older than a day.  Eviction (only when max_size_set or max_age_set): published
 * archives, never those of `keep`, of current_key (unless all), nor any
 * younger than stale_s.
 */
struct b10t_gc_opts {
	uint64_t stale_s;		/* upload age that is debris (CLEANUP_INCOMPLETE_TIMEOUT_SECONDS) */
	bool max_size_set;
	uint64_t max_size;		/* evict least recently used until the total fits */
	bool max_age_set;
	uint64_t max_age_s;		/* evict archives unused this long */
	const char *const *keep;	/* keys never evicted */
	size_t n_keep;
	const char *current_key;	/* this environment's key, never evicted; NULL if unknown */
	bool all;			/* current_key may be evicted too */
	bool dry_run;			/* report, remove nothing */
};

struct b10t_gc_item {
	char filename[NAME_MAX + 1];
	const char *reason;		/* "incomplete", "lock", "corrupt", "marker", "unclaimed",
					 * "bad-claim", "max-size", "max-age", "covered";
					 * rm: "claim", "archive" */
	uint64_t bytes;
};

struct b10t_gc_result {
	enum b10t_status status;
	bool dry_run;
	struct b10t_gc_item *items;	/* removed (or, dry run, would be); malloc'ed */
	size_t n_items;
	uint64_t freed_bytes;
	uint64_t kept;			/* published archives left */
	uint64_t kept_bytes;
	/* The store's size (b10t's files in it) before the pass and after it
	 * (dry run: after it would be); local debris is not counted. */
	uint64_t store_bytes_before, store_bytes_after;
	/* --max-size: whether the archives left fit, and when not, why: keys
	 * protected (this environment's, --keep) or younger than stale_s. */
	bool max_size_missed;
	uint64_t over_bytes;		/* the archives' total the plan leaves */
	uint64_t protected_keys, protected_bytes, young_keys, young_bytes;
	/* --keep keys with no archive in the store (a typo?); malloc'ed */
	char **keep_missing;
	size_t n_keep_missing;
};

/* Defaults from the configuration (stale_s = incomplete timeout). */
void b10t_gc_opts_init(struct b10t_gc_opts *opts, const struct b10t_config *cfg);
/*
 * One gc pass over the store.  Safe against concurrent gc runs and loads: a
 * file someone else removed first is skipped, not counted, not an error.
 * On error res holds what was removed before it.  Free with
 * b10t_gc_result_free().
 */
int b10t_gc(struct b10t_ctx *ctx, const struct b10t_config *cfg,
	    const struct b10t_gc_opts *opts, struct b10t_gc_result *res);
void b10t_gc_result_free(struct b10t_gc_result *res);
/*
 * b10t rm KEY: remove every claim of the key (highest first), its legacy
 * archives, then the archives the claims named; res lists them.  SUCCESS,
 * or DOES_NOT_EXIST when the key had nothing.  Safe against loads: an
 * open archive reads on, a load that finds one gone lists again.
 */
int b10t_rm_key(struct b10t_ctx *ctx, const struct b10t_config *cfg, const char *key,
		struct b10t_gc_result *res);
/*
 * The cheap cleanup load and save run first: stale uploads and locks only,
 * within a budget (5 ms or 10,000 directory entries).  Never fails: returns
 * the number of files removed (0 when the store is unusable).
 */
int b10t_gc_cooperative(struct b10t_ctx *ctx, const struct b10t_config *cfg);

/* ---- the verbs' JSON (lib/json.c) ------------------------------------ */

/*
 * One builder a verb for the CLI (cmd/) and the C API (api.c): the same
 * keys in the same order.  b10t_json_u64: an exact integer (a raw number
 * beyond 2^53).  b10t_json_result: the fields every load, save, update and
 * compact result has after "status" (o NULL: NULL).  b10t_json_gc: gc's
 * report, "status" first when with_status.  b10t_json_rm: rm's.
 * b10t_json_list: list's.
 */
struct cJSON *b10t_json_u64(struct cJSON *obj, const char *name, uint64_t v);
struct cJSON *b10t_json_result(struct cJSON *o, const struct b10t_result *res);
struct cJSON *b10t_json_gc(const struct b10t_gc_opts *opts, const struct b10t_gc_result *res,
			   bool with_status);
struct cJSON *b10t_json_rm(const char *key, const struct b10t_gc_result *res);
/* gc --compact's "compaction" (and b10t_op_compact's result). */
struct cJSON *b10t_json_compaction(const struct b10t_result *r);
/* list's: the archives v[n] (with their manifests when manifests, each
 * NULL when none) and the totals. */
struct b10t_list_json {
	const char *current_key;	/* this environment's */
	const char *store_dir;
	bool enabled;			/* the store's (b10t_store_enabled) */
	bool current_exists;		/* an archive of current_key is in v */
	const struct b10t_archive_info *v;
	size_t n;
	struct b10t_manifest *const *manifests;
};
struct cJSON *b10t_json_list(const struct b10t_list_json *l);
/* info's "b10fs_cache_bytes" and the published archive's b10fs_cache_*
 * fields: ar NULL when none (filename null); m its manifest, NULL when
 * none (then manifest_error, when not empty, says why). */
void b10t_json_info_archive(struct cJSON *o, const struct b10t_archive_info *ar,
			    const struct b10t_manifest *m, const char *manifest_error);

/* ---- statistics: b10t stats (lib/stats.c) ----------------------------- */

/*
 * One record of a load or save, as it crosses the disk: one line of a
 * host's file in the store's stats dir (docs/store-protocol.md,
 * "Statistics"), written by b10t_stats_note, read by b10t_stats_read.
 */
#define B10T_STATS_KIND_MAX 24
struct b10t_stats_record {
	int64_t time_ms;		/* Unix time, ms */
	char host[65];			/* the host part of the writer tag */
	char verb[12];			/* "load", "save", "update" */
	char outcome[12];		/* load: hit, miss, skipped, error; save: saved, skipped, error */
	char kind[B10T_STATS_KIND_MAX];	/* error: its kind ("ENOSPC"); skipped: the reason; else "" */
	uint64_t bytes;			/* archive bytes read (hit) or written (saved) */
	uint64_t duration_us;		/* the operation's time */
	char key[NAME_MAX + 1];
};
/* The record's line (with its '\n') into buf: its length, or -EINVAL when
 * a field does not fit the format (a key that is not a key). */
int b10t_stats_format(char *buf, size_t size, const struct b10t_stats_record *rec);
/* Parse one line (without its '\n'): 0, or -EINVAL when it is not a record. */
int b10t_stats_parse(const char *line, size_t len, struct b10t_stats_record *rec);
/* The kind of an error: the errno's name ("ENOSPC"), "E<n>" when unnamed. */
const char *b10t_stats_error_kind(int err, char *buf, size_t size);
/*
 * Leave the record of `verb` (load, save, update) that ended in res / r (a
 * negative errno) in the store.  Never fails, never touches ctx's error,
 * never slows the caller beyond an open, one write() and a close (no
 * fsync); skipped when B10T_STATS is off, the store is disabled or
 * unwritable, or the outcome is a full disk (ENOSPC, EDQUOT): a save that
 * failed so must leave the store as it was.  The records written (0 or 1).
 */
int b10t_stats_note(struct b10t_ctx *ctx, const struct b10t_config *cfg, const char *verb,
		    const char *key, const struct b10t_result *res, int r);

struct b10t_stats_count {
	char name[B10T_STATS_KIND_MAX];
	uint64_t n;
};
#define B10T_STATS_KINDS_MAX 32	/* more kinds than this go into "other" */
struct b10t_stats_sum {
	char key[NAME_MAX + 1];		/* "" for the whole store */
	uint64_t load_hits, load_misses, load_skipped, load_errors;
	uint64_t save_published, save_skipped, save_errors;
	uint64_t bytes_served;		/* archive bytes of the loads that hit */
	uint64_t bytes_saved;		/* archive bytes of the saves that published */
	bool has_median;
	double median_load_s;		/* of the loads that hit */
	size_t n_errors;		/* errors by kind */
	struct b10t_stats_count errors[B10T_STATS_KINDS_MAX];
	size_t n_skips;			/* skipped by reason (loads and saves) */
	struct b10t_stats_count skips[B10T_STATS_KINDS_MAX];
};
struct b10t_stats_query {
	int64_t since_ms;		/* records at or after this time; 0: all */
	const char *key;		/* one key only, NULL: all */
};
struct b10t_stats_report {
	int64_t zeroed_ms;		/* the last --zero, 0 when never */
	int64_t first_ms, last_ms;	/* the records counted: oldest and newest */
	uint64_t records;		/* counted */
	uint64_t bad_lines;		/* lines that are no record (torn, foreign) */
	uint64_t hosts;			/* files read */
	uint64_t file_bytes;		/* their size */
	struct b10t_stats_sum total;
	struct b10t_stats_sum *keys;	/* sorted by key; malloc'ed */
	size_t n_keys;
};
/* Sum the records of the store (0, or -errno with the message; no stats
 * dir is no record).  Free with b10t_stats_report_free. */
int b10t_stats_read(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		    const struct b10t_stats_query *q, struct b10t_stats_report *out);
void b10t_stats_report_free(struct b10t_stats_report *rep);
/* b10t stats --zero: records before now no longer count (the zero marker,
 * replaced atomically; gc drops them).  0 and the time in *at_ms, or -errno. */
int b10t_stats_zero(struct b10t_ctx *ctx, const struct b10t_config *cfg, int64_t *at_ms);
/* Per-host files are trimmed by gc past this size, to their newest half. */
#define B10T_STATS_FILE_MAX (1024 * 1024)
/* A host file with no record this recent is removed by gc (a host gone). */
#define B10T_STATS_HOST_MAX_AGE_S (90 * 86400)

/*
 * b10t doctor: what the store's and the cache dir's filesystems can do.
 * lib/doctor.c probes for real, in a probe dir of the store named
 * .b10t-doctor.<host>.<pid>.<rnd> that it removes (gc and list leave such
 * names alone: they are not cache_* names).
 */
enum b10t_publish_path {
	B10T_PUBLISH_NONE,		/* cannot publish without replacing */
	B10T_PUBLISH_RENAMEAT2,		/* renameat2(RENAME_NOREPLACE) */
	B10T_PUBLISH_LINK,		/* link() + unlink() */
};
const char *b10t_publish_path_name(enum b10t_publish_path p);

/* One capability: ok, or why not (errno, 0 when the call "worked" wrongly). */
struct b10t_cap {
	bool tried;
	bool ok;
	int err;
	char why[200];
};

struct b10t_publish_probe {
	bool ran;			/* the probe dir and its files could be made */
	char setup_error[PATH_MAX + 512];		/* else why not */
	struct b10t_cap rename_noreplace;	/* renames, and refuses an existing name */
	struct b10t_cap link;		/* links, and refuses an existing name */
	unsigned long link_nlink;	/* st_nlink after link(), 2 when kept */
	struct b10t_cap nlink;		/* st_nlink counts the link */
	struct b10t_cap excl;		/* O_CREAT|O_EXCL refuses an existing name */
	struct b10t_cap fsync;		/* fsync of a file and of the dir */
	struct b10t_cap atime;		/* an explicit atime update is kept */
	bool atime_moves_mtime;		/* ... and it moved the mtime too */
	enum b10t_publish_path path;
};
/*
 * The publish probe in the directory dirfd (the store, named `store` in
 * messages).  Never fails: a probe dir that cannot be made is ran = false
 * with setup_error; everything made is removed.
 */
void b10t_probe_publish(int dirfd, const char *store, struct b10t_publish_probe *p);
/* Remove a probe dir `name` of dirfd: the probe's own files, then the dir
 * (-ENOTEMPTY when something else is in it, which stays). 0 or -errno. */
int b10t_probe_dir_remove(int dirfd, const char *name);

struct b10t_fs_info {
	bool exists;
	int err;			/* errno of stat/statfs, 0 when fine */
	char error[512];
	bool mount_point;		/* the dir is the root of a mount */
	uint64_t f_type;		/* statfs */
	char statfs_type[32];		/* "ext4", "fuse", ... or "0x..." */
	char fstype[64];		/* /proc/self/mountinfo: "fuse.sshfs", "" unknown */
	char mount[4096];		/* the mount point holding the dir */
	char source[256];		/* mountinfo's source */
	bool has_space;
	uint64_t bytes_free, bytes_total, inodes_free, inodes_total;
};
void b10t_fs_info(const char *path, struct b10t_fs_info *fs);

struct b10t_doctor {
	struct b10t_fs_info store, cache;
	bool store_enabled;
	bool store_writable;		/* access(W_OK) and the probe dir was made */
	struct b10t_publish_probe probe;
	bool can_publish;		/* the verdict: exit 0 */
	char verdict[2 * PATH_MAX + 1024];		/* why not, or which path */
};
/* Probe the store and the cache dir of cfg.  Never fails. */
void b10t_doctor(const struct b10t_config *cfg, struct b10t_doctor *d);

#ifdef __cplusplus
}
#endif
#endif
