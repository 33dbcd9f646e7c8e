/* SPDX-License-Identifier: MIT */
/*
 * libb10t: the public C API (libb10t.so.1, pkg-config b10t, <b10t/b10t.h>).
 *
 * Share torch.compile caches between replicas through a shared directory,
 * as the b10t command does; every verb of the command is one call here
 * and its result is the JSON object `b10t VERB --json=short` prints.
 *
 *	b10t_t *h = b10t_new();
 *	b10t_set(h, "cache_dir", "/tmp/cache");
 *	if (b10t_op_load(h) == B10T_ERROR)
 *		fprintf(stderr, "load: %s\n", b10t_error(h));
 *	else
 *		printf("%s\n", b10t_result_json(h));
 *	b10t_free(h);
 *
 * WHAT IS STABLE.  Within soname libb10t.so.1 (symbol version B10T_1.0):
 *  - the functions below, their arguments and return values; new ones
 *    get a new symbol version (B10T_1.1, ...), none is removed or changed;
 *  - the handle is opaque: its size and layout are not part of the ABI;
 *  - the status values (the b10t command's exit codes, CONTRACT.md) and
 *    the log levels keep their numbers;
 *  - setting names (the `name` column of `b10t --dump-settings`, e.g.
 *    "cache_dir"), their variables and options, and the operation options
 *    listed at b10t_set();
 *  - result keys: those the verb's man page lists under JSON OUTPUT; new
 *    keys may appear, none is renamed or changes type.
 * Not stable: message texts (b10t_error(), logs), the order of keys in
 * the JSON, anything in lib/b10t-int.h (the internal header, not
 * installed for linking: its names are not exported by libb10t.so.1).
 *
 * Threads: a handle is used by one thread at a time; different handles
 * run in parallel.  b10t_interrupt() may be called from any thread or a
 * signal handler.  The library never prints and never exits.
 */
#ifndef B10T_H
#define B10T_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* The version this header belongs to; b10t_version_*() tell the library's. */
#define B10T_VERSION_MAJOR 0
#define B10T_VERSION_MINOR 1
#define B10T_VERSION_PATCH 0
#define B10T_VERSION_NUMBER \
	(B10T_VERSION_MAJOR * 10000 + B10T_VERSION_MINOR * 100 + B10T_VERSION_PATCH)
#define B10T_VERSION_STRING "0.1.0"

/* MAJOR * 10000 + MINOR * 100 + PATCH of the library loaded, as zstd's. */
unsigned b10t_version_number(void);
/* "0.1.0". */
const char *b10t_version_string(void);

/* ---- statuses (CONTRACT.md "Statuses and exit codes") ---------------- */

enum b10t_status {
	B10T_SUCCESS = 0,
	B10T_ERROR = 1,
	B10T_DOES_NOT_EXIST = 3,
	B10T_SKIPPED = 4,
};

/* "SUCCESS", "ERROR", "DOES_NOT_EXIST", "SKIPPED" ("UNKNOWN" for others). */
const char *b10t_status_name(enum b10t_status status);

enum b10t_log_level { B10T_LOG_ERROR, B10T_LOG_WARN, B10T_LOG_INFO, B10T_LOG_DEBUG };

/* ---- the handle -------------------------------------------------------- */

typedef struct b10t_handle b10t_t;

/*
 * A handle with the settings' defaults, then the environment (the
 * variables the b10t command reads).  NULL when out of memory.  A bad
 * variable is reported by the first operation that reads the setting.
 */
b10t_t *b10t_new(void);
void b10t_free(b10t_t *h);

/*
 * Set one setting or operation option by name: the setting's name
 * ("cache_dir", "store_dir", "max_cache_size", ...), its variable
 * ("TORCHINDUCTOR_CACHE_DIR") or its option ("cache-dir"), with the
 * value as the variable takes it ("20GB", "30s", "zstd").  NULL or ""
 * puts back the default.  Operation options:
 *   "manifest"  list: read each archive's manifest ("1"/"0")
 *   "stale", "max_age"  gc: durations; "max_size" gc: a size
 *   "keep"      gc: a key never evicted (each call adds one; NULL clears)
 *   "all", "dry_run"  gc: booleans
 * B10T_SUCCESS, or B10T_ERROR with the reason in b10t_error() (the
 * setting is unchanged).
 */
enum b10t_status b10t_set(b10t_t *h, const char *name, const char *value);

/*
 * Log messages (warnings by default) go to fn instead of being dropped;
 * called from the thread running the operation.  fn NULL: none.
 */
typedef void b10t_log_fn(void *arg, enum b10t_log_level level, const char *msg);
void b10t_set_log(b10t_t *h, b10t_log_fn *fn, void *arg, enum b10t_log_level max_level);

/*
 * Stop the operation running on h at its next entry: it fails with
 * B10T_ERROR (errno EINTR) and cleans up as after any failure.  Async-
 * signal-safe.  The next operation clears it.
 */
void b10t_interrupt(b10t_t *h);

/* ---- operations: the b10t verbs ---------------------------------------- */

/*
 * b10t_op_VERB() runs `b10t VERB`.  Each returns the verb's status (what
 * `b10t VERB` exits with) and keeps its result in h until the next one.
 * B10T_ERROR: the message in b10t_error(), and the JSON holds "status":
 * "ERROR" and "error".
 */
enum b10t_status b10t_op_load(b10t_t *h);	/* b10t load */
enum b10t_status b10t_op_save(b10t_t *h);	/* b10t save */
enum b10t_status b10t_op_update(b10t_t *h);	/* b10t update */
enum b10t_status b10t_op_compact(b10t_t *h);	/* the compaction of b10t gc --compact */
enum b10t_status b10t_op_clear(b10t_t *h);	/* b10t clear */
enum b10t_status b10t_op_info(b10t_t *h);	/* b10t info */
enum b10t_status b10t_op_list(b10t_t *h);	/* b10t list [--manifest] */
enum b10t_status b10t_op_envkey(b10t_t *h);	/* b10t envkey */
enum b10t_status b10t_op_gc(b10t_t *h);	/* b10t gc [options set with b10t_set] */
/* b10t rm [KEY]: key (or an archive's file name) NULL: this environment's. */
enum b10t_status b10t_op_rm(b10t_t *h, const char *key);

/* ---- the result -------------------------------------------------------- */

/* The last operation's JSON object, one line; "{}" before any.  Owned by h. */
const char *b10t_result_json(const b10t_t *h);
/* The last operation's status (B10T_ERROR before any). */
enum b10t_status b10t_result_status(const b10t_t *h);
/* A top-level string field ("environment_key", "archive"), NULL when absent
 * or not a string.  Owned by h. */
const char *b10t_result_string(const b10t_t *h, const char *key);
/* A top-level number or boolean field into *out: 0, or -1 when absent or
 * of another type. */
int b10t_result_u64(const b10t_t *h, const char *key, uint64_t *out);
int b10t_result_double(const b10t_t *h, const char *key, double *out);
/* The last error's message, "" when the last operation did not fail. */
const char *b10t_error(const b10t_t *h);
/* The last error as a positive errno value, 0 when none. */
int b10t_errno(const b10t_t *h);

/* ---- the settings table ----------------------------------------------- */

/*
 * Setting i (0 <= i < b10t_setting_count()): its name, variable, option
 * and one-line help; B10T_ERROR past the end.  Any pointer may be NULL.
 */
size_t b10t_setting_count(void);
enum b10t_status b10t_setting_info(size_t i, const char **name, const char **env,
				   const char **option, const char **help);

#ifdef __cplusplus
}
#endif
#endif
