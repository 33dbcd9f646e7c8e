/* SPDX-License-Identifier: MIT */
/* The command layer: argument parsing, printing, exit codes. */
#ifndef B10T_CMD_H
#define B10T_CMD_H

#include <getopt.h>
#include <stdbool.h>
#include <stdio.h>

#include <cjson/cJSON.h>

#include "b10t-int.h"

#define EXIT_USAGE 2

struct verb;

/* One invocation: global state shared by main and the verb. */
struct cmd {
	const char *verb;		/* "load", or "b10t" before dispatch */
	const struct verb *v;		/* the verb being run, NULL before dispatch */
	bool json;
	bool json_short;		/* --json=short: one line */
	bool quiet;
	int verbose;
	int argc;			/* the verb's operands, after its options */
	char **argv;
	struct b10t_ctx ctx;
	struct b10t_config cfg;
	struct b10t_envkey key;		/* computed before run for VERB_KEY */
};

/* A verb's own option: a long option, and how --help shows it. */
struct verb_option {
	struct option opt;		/* .val is what the callback receives */
	const char *metavar;		/* NULL for a flag */
	const char *help;
};

/*
 * What a verb needs (struct verb's flags): the settings it reads (checked
 * before run, listed in its --help and man page), and the key.
 */
enum verb_flags {
	VERB_CACHE = B10T_USES_CACHE,	/* the local cache dir: --cache-dir */
	VERB_STORE = B10T_USES_STORE,	/* the store's path: --store */
	VERB_ENABLED = B10T_USES_ENABLED, /* whether to use the store: --fs-enabled */
	VERB_DEBRIS = B10T_USES_DEBRIS,	/* debris ages: --lock-timeout, --incomplete-timeout */
	VERB_PUBLISH = B10T_USES_PUBLISH, /* save's caps: size, saves in flight */
	VERB_SCHEME = B10T_USES_KEY,	/* may compute the key: --key-scheme */
	VERB_VLLM = B10T_USES_VLLM,	/* the sidecar's --url, --timeout, --interval */
	VERB_CODEC = B10T_USES_CODEC,	/* save's compression: --codec, --zstd-level */
	VERB_FOLLOW = B10T_USES_FOLLOW,	/* watch's timing: --quiet-period, --max-wait, ... */
	VERB_STATS = B10T_USES_STATS,	/* leaves statistics records: --stats */
	VERB_KEY = 1 << 16,		/* computes the key into c->key first (implies SCHEME) */
	VERB_COMMAND = 1 << 17,		/* its operands are a command: options stop at the first */
};

/* The settings a verb reads: B10T_USES_* bits. */
#define VERB_USES(v) (((v)->flags & B10T_USES_ALL) | ((v)->flags & VERB_KEY ? B10T_USES_KEY : 0))

/*
 * One verb: what every verb would otherwise repeat lives here, and
 * verb_run() does it before run(): parsing the verb's options (handed to
 * on_opt) and the common ones, --help, the operand count, the key.
 */
struct verb {
	const char *name;
	int (*run)(struct cmd *c);	/* returns the exit code */
	const char *args;		/* synopsis after the options, or "" */
	const char *summary;		/* one line, for --help and --list-cmds */
	unsigned min_args, max_args;	/* operands */
	unsigned flags;			/* enum verb_flags */
	const struct verb_option *options;	/* NULL, or ended by a zero .opt.name */
	/* One of options: its .opt.val and argument.  0, or -1 after a usage error. */
	int (*on_opt)(struct cmd *c, int val, const char *arg);
	/* After parsing, before the settings are checked: 0 or -errno. */
	int (*prepare)(struct cmd *c);
	/* NULL, or --help's line for --cache-dir, where prepare replaces its default. */
	void (*cache_dir_help)(char *buf, size_t size);
};

extern const struct verb verbs[];
extern const size_t verbs_count;
const struct verb *verb_find(const char *name);
/* Parse the verb's arguments, check them, then run it: the exit code. */
int verb_run(struct cmd *c, const struct verb *v, int argc, char **argv);

/*
 * Parse the verb's arguments: its own options (handed to v->on_opt with the
 * option's val and optarg) and the common ones (--json, -q, -v, -h and every
 * setting's option).  Returns the index of the first operand, or -1 after
 * printing a usage error (the caller exits EXIT_USAGE), or -2 after --help
 * (exit 0).
 */
int cmd_parse(struct cmd *c, const struct verb *v, int argc, char **argv);

/* Print "b10t VERB: error: ..." and, for usage, the --help hint. */
void cmd_error(struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
int cmd_usage_error(struct cmd *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void cmd_help(const struct verb *v, FILE *out);

/* Map a status to the contract's exit code. */
int cmd_exit_code(enum b10t_status status);

/*
 * Report a library failure (r < 0): the message on stderr, and in JSON mode
 * the object {"status": "ERROR", "error": ...} plus `extra` fields on stdout.
 * Returns the exit code (1).
 */
int cmd_fail(struct cmd *c, cJSON *extra);

/* Print a JSON object on stdout (and free it).  Returns 0 or -EIO. */
int cmd_print_json(struct cmd *c, cJSON *obj);

/* cJSON helpers: exact integers (beyond 2^53 too). */
cJSON *json_add_u64(cJSON *obj, const char *name, uint64_t v);

/*
 * Text output of anything b10t did not write itself (a name in the store or
 * the cache dir, a manifest field, an argument): b10t_escape()d into one of
 * a few rotating static buffers, so one printf can take several.  At most
 * 1024 input bytes are shown.
 */
const char *esc(const char *s);
/* A library message (already escaped where it quotes names): one line. */
const char *esc_msg(const char *s);

/* "12 files, 1 dir" (", 0 dirs" left out): counts with their plurals (two
 * rotating buffers). */
const char *cmd_counts(uint64_t files, uint64_t dirs);
/* Human sizes: "1.2 MiB". */
const char *human_bytes(uint64_t bytes, char *buf, size_t size);
/* `one` when n is 1, else `many`: "1 file", "2 files". */
const char *plural(uint64_t n, const char *one, const char *many);
/* How long ago `then` was, in its largest whole unit: "3 d ago", "5 min ago". */
const char *human_age(int64_t then, int64_t now, char *buf, size_t size);
/* b10t --version; with -v the libraries and their versions (cmd/version.c). */
void cmd_version(const struct cmd *c);

/* Install the progress bar on the context when stderr is a terminal. */
void cmd_progress_setup(struct cmd *c, const char *what);
void cmd_progress_end(struct cmd *c);

/*
 * The result of load or save: JSON, or one line such as
 * "load: SUCCESS: 12 files, 1.2 MiB from NAME (0.3 MiB) in 0.01 s" where
 * `prep` is "from" or "to"; failures through cmd_fail().  Returns the exit code.
 */
int cmd_result(struct cmd *c, const struct b10t_result *res, int r, const char *prep);
/*
 * SIGINT/SIGTERM/SIGHUP stop load or save cleanly (the library sees
 * ctx.cancel); cmd_stopped() turns exit 1 into 128 + the signal.
 */
void cmd_stop_signals(struct cmd *c);
int cmd_stopped(int code);

/* A verb option's value as given, and where it came from (for messages). */
struct raw {
	const char *value;
	const char *origin;		/* "--timeout", the variable, or "default" */
};

/* Compute the environment key, reporting errors. 0 or exit code. */
int cmd_envkey(struct cmd *c, struct b10t_envkey *key);

/* The verbs (main.c's table): run, and the options of those that have any. */
int cmd_clear(struct cmd *c);
int cmd_doctor(struct cmd *c);
int cmd_envkey_verb(struct cmd *c);
int cmd_gc(struct cmd *c);
int cmd_info(struct cmd *c);
int cmd_list(struct cmd *c);
int cmd_load(struct cmd *c);
int cmd_rm(struct cmd *c);
int cmd_save(struct cmd *c);
int cmd_stats(struct cmd *c);
int cmd_update(struct cmd *c);
int cmd_vllm(struct cmd *c);
int cmd_watch(struct cmd *c);
int cmd_why(struct cmd *c);

extern const struct verb_option gc_options[], list_options[], save_options[], stats_options[],
	vllm_options[], watch_options[];
int gc_opt(struct cmd *c, int val, const char *arg);
int save_opt(struct cmd *c, int val, const char *arg);
int stats_opt(struct cmd *c, int val, const char *arg);
int list_opt(struct cmd *c, int val, const char *arg);
int vllm_opt(struct cmd *c, int val, const char *arg);
int watch_opt(struct cmd *c, int val, const char *arg);
int vllm_prepare(struct cmd *c);
void vllm_cache_dir_help(char *buf, size_t size);

/*
 * Following a cache dir after its first save (cmd/watch.c): b10t watch, and
 * b10t vllm --follow.  follow_options are the options both take (vllm
 * lists them in its table and hands them to follow_opt).
 */
enum { OPT_FOLLOW_PID = 0x400 };
/* --quiet-period, --max-wait and --final-budget are settings (VERB_FOLLOW). */
#define FOLLOW_OPTIONS \
	{ { "pid", required_argument, NULL, OPT_FOLLOW_PID }, "PID", \
	  "stop, after a last publish, when process PID exits" }
struct b10t_watch;
int follow_opt(struct cmd *c, int val, const char *arg);
/* Check the options; open the watcher on c->cfg.cache_dir.  0, or the exit code. */
int follow_open(struct cmd *c, struct b10t_watch **w);
/*
 * Watch until a stop signal, the exit of --pid's process or of `child`
 * (-1: none), publishing layers; the final publish within the budget.
 * `pending` is a stop signal that came before (0: none).  Closes w.
 * Returns the exit code: the child's status, else 0, 1 after a failed
 * final publish.
 */
int follow_run(struct cmd *c, const struct b10t_envkey *key, struct b10t_watch *w,
	       int pending);

/* "--url", "B10_TRANSFER_VLLM_URL" or "default": where a setting came from. */
const char *cmd_origin(const struct cmd *c, enum b10t_setting_id id);
/* The settings and verb tables as JSON, for tools/gen-docs.py (--dump-settings). */
void cmd_dump_settings(FILE *out);

#endif
