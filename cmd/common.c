/* SPDX-License-Identifier: MIT */
/* What every verb shares: options, errors, JSON, the progress bar. */
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cmd.h"

enum { OPT_JSON = 0x200, OPT_SETTING = 0x1000 };

static const struct verb_option common_options[] = {
	{ { "json", optional_argument, NULL, OPT_JSON }, NULL,
	  "print the result as one JSON object (--json=short: on one line)" },
	{ { "quiet", no_argument, NULL, 'q' }, NULL,
	  "errors only: no progress bar, no warnings, no report of success" },
	{ { "verbose", no_argument, NULL, 'v' }, NULL, "debug logs with timings (also B10T_LOG=debug)" },
	{ { "help", no_argument, NULL, 'h' }, NULL, "show this help" },
	{ { 0 }, NULL, NULL },
};

static size_t count_options(const struct verb_option *o)
{
	size_t n = 0;

	while (o && o[n].opt.name)
		n++;
	return n;
}

/*
 * git's padding rule (parse-options.c): the help starts in column
 * OPTS_WIDTH + GAP; an option too long for its column puts its help on the
 * next line at that column, so no help text starts off the column.
 */
#define OPTS_WIDTH 26
#define OPTS_GAP 2

static void print_option(FILE *out, const struct option *o, const char *metavar,
			 const char *help)
{
	int shortopt = o->val > 0 && o->val < 0x80 && o->val != '?';
	int pos;

	if (shortopt)
		pos = fprintf(out, "  -%c, --%s", o->val, o->name);
	else
		pos = fprintf(out, "      --%s", o->name);
	if (metavar)
		pos += fprintf(out, " %s", metavar);
	if (pos > OPTS_WIDTH) {
		fputc('\n', out);
		pos = 0;
	}
	fprintf(out, "%*s%s\n", OPTS_WIDTH + OPTS_GAP - pos, "", help);
}

void cmd_help(const struct verb *v, FILE *out)
{
	bool top = !strcmp(v->name, "b10t");

	if (!top)
		fprintf(out, "Usage: b10t %s [OPTIONS]%s%s\n\n%c%s.\n", v->name,
			v->args ? " " : "", v->args ? v->args : "", toupper((unsigned char)v->summary[0]),
			v->summary + 1);
	if (count_options(v->options)) {
		fprintf(out, "\nOptions:\n");
		for (const struct verb_option *o = v->options; o->opt.name; o++)
			print_option(out, &o->opt, o->metavar, o->help);
	}
	fprintf(out, "\nCommon options:\n");
	for (const struct verb_option *o = common_options; o->opt.name; o++)
		print_option(out, &o->opt, o->metavar, o->help);
	/* The settings the verb reads (b10t itself: all of them). */
	fprintf(out, "\nSettings (option, or environment variable):\n");
	for (size_t i = 0; i < b10t_settings_count; i++) {
		const struct b10t_setting *s = &b10t_settings[i];
		struct option o = { s->option, required_argument, NULL, 0 };
		char help[512], def[128];

		if (!top && !(s->uses & VERB_USES(v)))
			continue;
		if (i == B10T_SET_CACHE_DIR && v->cache_dir_help)
			v->cache_dir_help(help, sizeof(help));
		else
			snprintf(help, sizeof(help), "%s (default %s) [%s]", s->help,
				 b10t_setting_default(s, def, sizeof(def)), s->env);
		print_option(out, &o, s->metavar, help);
	}
	fprintf(out, "\nExit status: 0 SUCCESS, 1 ERROR, 2 usage, 3 DOES_NOT_EXIST, 4 SKIPPED.\n");
}

static void vreport(struct cmd *c, const char *fmt, va_list ap)
{
	fprintf(stderr, "b10t%s%s: error: ", strcmp(c->verb, "b10t") ? " " : "",
		strcmp(c->verb, "b10t") ? c->verb : "");
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
}

void cmd_error(struct cmd *c, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vreport(c, fmt, ap);
	va_end(ap);
}

int cmd_usage_error(struct cmd *c, const char *fmt, ...)
{
	va_list ap;
	bool top = !strcmp(c->verb, "b10t");

	va_start(ap, fmt);
	vreport(c, fmt, ap);
	va_end(ap);
	fprintf(stderr, "Try 'b10t %s%s--help' for more information.\n",
		top ? "" : c->verb, top ? "" : " ");
	if (c->json) {	/* a pipeline reading stdout gets an object too */
		cJSON *o = cJSON_CreateObject();
		char msg[1024];

		va_start(ap, fmt);
		vsnprintf(msg, sizeof(msg), fmt, ap);
		va_end(ap);
		cJSON_AddStringToObject(o, "status", "ERROR");
		cJSON_AddStringToObject(o, "error", msg);
		cJSON_AddBoolToObject(o, "usage_error", true);
		cmd_print_json(c, o);
	}
	return EXIT_USAGE;
}

static void log_to_stderr(void *arg, enum b10t_log_level level, const char *msg)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	struct cmd *c = arg;

	fprintf(stderr, "b10t %s: %s: %s\n", c->verb, names[level], esc_msg(msg));
}

int cmd_parse(struct cmd *c, const struct verb *v, int argc, char **argv)
{
	size_t nv = count_options(v->options), nc = count_options(common_options);
	size_t n = nv + nc + b10t_settings_count;
	struct option *opts = calloc(n + 1, sizeof(*opts));
	bool top = !strcmp(v->name, "b10t");
	int r = 0, ch;

	/* --json after a bad option still makes the usage error an object. */
	for (int i = 1; i < argc && strcmp(argv[i], "--"); i++) {
		if ((top || (v->flags & VERB_COMMAND)) && argv[i][0] != '-')
			break;	/* the verb, or the command: its options are its own */
		c->json |= !strcmp(argv[i], "--json") || !strncmp(argv[i], "--json=", 7);
		c->json_short |= !strcmp(argv[i], "--json=short");
	}
	if (!opts) {
		cmd_error(c, "out of memory");
		return -1;
	}
	for (size_t i = 0; i < nv; i++)
		opts[i] = v->options[i].opt;
	for (size_t i = 0; i < nc; i++)
		opts[nv + i] = common_options[i].opt;
	for (size_t i = 0; i < b10t_settings_count; i++)
		opts[nv + nc + i] = (struct option){ b10t_settings[i].option,
			required_argument, NULL, OPT_SETTING + (int)i };

	optind = 0;
	opterr = 0;
	while ((ch = getopt_long(argc, argv,
				 top || (v->flags & VERB_COMMAND) ? "+:hqv" : ":hqv", opts, NULL)) != -1) {
		switch (ch) {
		case 'h':
			r = -2;
			break;
		case 'q':
			c->quiet = true;
			break;
		case 'v':
			c->verbose++;
			break;
		case OPT_JSON:
			c->json = true;
			if (optarg && !strcmp(optarg, "short"))
				c->json_short = true;
			else if (optarg && strcmp(optarg, "pretty")) {
				c->json_short = false;
				r = -1;
				cmd_usage_error(c, "--json=%s: expected --json, --json=short or --json=pretty",
						esc(optarg));
			}
			break;
		case ':':
			r = -1;
			cmd_usage_error(c, "option '%s' needs an argument",
					esc(argv[optind - 1]));
			break;
		case '?':
			r = -1;
			if (optopt && optopt < 0x80)
				cmd_usage_error(c, "unknown option '-%c'", optopt);
			else
				cmd_usage_error(c, "unknown option '%s'", esc(argv[optind - 1]));
			break;
		default:
			if (ch >= OPT_SETTING && ch < OPT_SETTING + (int)b10t_settings_count) {
				const struct b10t_setting *s = &b10t_settings[ch - OPT_SETTING];
				char origin[64];

				snprintf(origin, sizeof(origin), "--%s", s->option);
				if (b10t_config_set(&c->ctx, &c->cfg, s->env, optarg, origin) < 0) {
					free(opts);
					/* a bad value: exit 1 and touch nothing */
					exit(cmd_fail(c, NULL) || fflush(stdout) ? 1 : 1);
				}
			} else if (!v->on_opt || v->on_opt(c, ch, optarg) < 0) {
				r = -1;
			}
		}
		if (r < 0)
			break;
	}
	free(opts);
	if (r == -2 && !top) {
		cmd_help(v, stdout);
		return -2;
	}
	if (r < 0)
		return r;

	c->ctx.log = log_to_stderr;
	c->ctx.log_arg = c;
	c->ctx.log_level = c->verbose ? B10T_LOG_DEBUG : c->quiet ? B10T_LOG_ERROR : B10T_LOG_WARN;
	return optind;
}

int verb_run(struct cmd *c, const struct verb *v, int argc, char **argv)
{
	int i, n, r;

	c->verb = v->name;
	c->v = v;
	i = cmd_parse(c, v, argc, argv);
	if (i < 0)
		return i == -2 ? 0 : EXIT_USAGE;
	n = argc - i;
	if ((unsigned)n > v->max_args)
		return cmd_usage_error(c, "unexpected argument '%s'", esc(argv[i + v->max_args]));
	if ((unsigned)n < v->min_args)
		return cmd_usage_error(c, "missing operand: %s", v->args);
	c->argc = n;
	c->argv = argv + i;
	/* A refused variable stops only the verbs that read it (lib/config.c). */
	if ((v->prepare && v->prepare(c) < 0) ||
	    b10t_config_check(&c->ctx, &c->cfg, VERB_USES(v)) < 0)
		return cmd_fail(c, NULL);
	for (size_t k = 0; k < b10t_settings_count; k++)
		if (c->cfg.bad[k][0])
			b10t_debug(&c->ctx, "not read by %s, so ignored: %s", v->name, c->cfg.bad[k]);
	if ((v->flags & VERB_KEY) && (r = cmd_envkey(c, &c->key)) != 0)
		return r;
	return v->run(c);
}

const char *cmd_origin(const struct cmd *c, enum b10t_setting_id id)
{
	static char buf[64];

	switch (c->cfg.origin[id]) {
	case B10T_ORIGIN_SET:
		snprintf(buf, sizeof(buf), "--%s", b10t_settings[id].option);
		return buf;
	case B10T_ORIGIN_ENV:
		return b10t_settings[id].env;
	}
	return "default";
}

static const char *const type_names[] = {
	[B10T_TYPE_PATH] = "path", [B10T_TYPE_COUNT] = "count", [B10T_TYPE_SIZE] = "size",
	[B10T_TYPE_DURATION] = "duration", [B10T_TYPE_BOOL] = "bool",
	[B10T_TYPE_CHOICE] = "choice", [B10T_TYPE_URL] = "url", [B10T_TYPE_NAME] = "name",
};

static cJSON *options_json(const struct verb_option *opts)
{
	cJSON *a = cJSON_CreateArray();

	for (const struct verb_option *o = opts; o && o->opt.name; o++) {
		cJSON *e = cJSON_CreateObject();
		char sh[2] = { (char)o->opt.val, 0 };

		cJSON_AddStringToObject(e, "name", o->opt.name);
		if (o->opt.val > 0 && o->opt.val < 0x80)
			cJSON_AddStringToObject(e, "short", sh);
		if (o->metavar)
			cJSON_AddStringToObject(e, "metavar", o->metavar);
		cJSON_AddStringToObject(e, "help", o->help);
		cJSON_AddItemToArray(a, e);
	}
	return a;
}

void cmd_dump_settings(FILE *out)
{
	cJSON *o = cJSON_CreateObject(), *set = cJSON_AddArrayToObject(o, "settings");
	cJSON *vs = cJSON_AddArrayToObject(o, "verbs");
	char *text;

	for (size_t i = 0; i < b10t_settings_count; i++) {
		const struct b10t_setting *s = &b10t_settings[i];
		cJSON *e = cJSON_CreateObject();
		char buf[256];

		cJSON_AddStringToObject(e, "name", s->name);
		cJSON_AddStringToObject(e, "env", s->env);
		cJSON_AddStringToObject(e, "option", s->option);
		cJSON_AddStringToObject(e, "metavar", s->metavar);
		cJSON_AddStringToObject(e, "type", type_names[s->type]);
		cJSON_AddStringToObject(e, "default", b10t_setting_default(s, buf, sizeof(buf)));
		if (*b10t_setting_range(s, buf, sizeof(buf)))
			cJSON_AddStringToObject(e, "range", buf);
		if (s->choices) {
			cJSON *ch = cJSON_AddArrayToObject(e, "choices");

			for (size_t k = 0; s->choices[k]; k++)
				cJSON_AddItemToArray(ch, cJSON_CreateString(s->choices[k]));
		}
		cJSON_AddStringToObject(e, "help", s->help);
		if (s->doc)
			cJSON_AddStringToObject(e, "doc", s->doc);
		cJSON_AddItemToArray(set, e);
	}
	for (size_t i = 0; i < verbs_count; i++) {
		const struct verb *v = &verbs[i];
		cJSON *e = cJSON_CreateObject(), *used;

		cJSON_AddStringToObject(e, "name", v->name);
		cJSON_AddStringToObject(e, "summary", v->summary);
		cJSON_AddItemToObject(e, "options", options_json(v->options));
		used = cJSON_AddArrayToObject(e, "settings");
		for (size_t k = 0; k < b10t_settings_count; k++)
			if (b10t_settings[k].uses & VERB_USES(v))
				cJSON_AddItemToArray(used, cJSON_CreateString(b10t_settings[k].env));
		cJSON_AddItemToArray(vs, e);
	}
	cJSON_AddItemToObject(o, "common_options", options_json(common_options));
	text = cJSON_Print(o);
	if (text)
		fprintf(out, "%s\n", text);
	cJSON_free(text);
	cJSON_Delete(o);
}

int cmd_exit_code(enum b10t_status status)
{
	return (int)status;	/* the enum is the contract's table */
}

cJSON *json_add_u64(cJSON *obj, const char *name, uint64_t v)
{
	return b10t_json_u64(obj, name, v);
}

int cmd_print_json(struct cmd *c, cJSON *obj)
{
	/* --json=short: one line per object, for log pipelines */
	char *s = c->json_short ? cJSON_PrintUnformatted(obj) : cJSON_Print(obj);
	int r = 0;

	cJSON_Delete(obj);
	if (!s) {
		cmd_error(c, "out of memory");
		return -ENOMEM;
	}
	if (puts(s) == EOF)
		r = -EIO;
	cJSON_free(s);
	return r;
}

int cmd_fail(struct cmd *c, cJSON *extra)
{
	const char *msg = b10t_ctx_error(&c->ctx);

	cmd_error(c, "%s", esc_msg(msg));
	if (c->json) {
		cJSON *o = extra ? extra : cJSON_CreateObject();

		cJSON_AddStringToObject(o, "status", "ERROR");
		cJSON_AddStringToObject(o, "error", msg);
		cmd_print_json(c, o);
	} else if (extra) {
		cJSON_Delete(extra);
	}
	return 1;
}

const char *esc(const char *s)
{
	static char bufs[4][B10T_ESCAPE_SIZE(1024)];
	static unsigned next;
	char *b = bufs[next++ % 4];

	return b10t_escape(b, sizeof(bufs[0]), s ? s : "", 1024);
}

const char *esc_msg(const char *s)
{
	static char bufs[2][B10T_ESCAPE_SIZE(1024)];
	static unsigned next;
	char *b = bufs[next++ % 2];

	return b10t_escape_msg(b, sizeof(bufs[0]), s ? s : "");
}

const char *plural(uint64_t n, const char *one, const char *many)
{
	return n == 1 ? one : many;
}

const char *human_age(int64_t then, int64_t now, char *buf, size_t size)
{
	static const struct { int64_t s; const char *unit; } units[] = {
		{ 86400, "d" }, { 3600, "h" }, { 60, "min" }, { 1, "s" },
	};
	int64_t age = now - then;
	size_t u = 0;

	/* A clock ahead of ours (another host's) must not read as "-5 s ago". */
	if (age < 0) {
		snprintf(buf, size, "in the future");
		return buf;
	}
	while (u + 1 < sizeof(units) / sizeof(units[0]) && age < units[u].s)
		u++;
	snprintf(buf, size, "%" PRId64 " %s ago", age / units[u].s, units[u].unit);
	return buf;
}

const char *cmd_counts(uint64_t files, uint64_t dirs)
{
	static char bufs[2][64];
	static unsigned next;
	char *b = bufs[next++ % 2];

	/* "0 dirs" only adds noise to a flat cache dir: dirs appear when any. */
	if (!dirs)
		snprintf(b, sizeof(bufs[0]), "%" PRIu64 " %s", files, plural(files, "file", "files"));
	else
		snprintf(b, sizeof(bufs[0]), "%" PRIu64 " %s, %" PRIu64 " %s", files,
			 plural(files, "file", "files"), dirs, plural(dirs, "dir", "dirs"));
	return b;
}

const char *human_bytes(uint64_t bytes, char *buf, size_t size)
{
	static const char *const units[] = { "B", "KiB", "MiB", "GiB", "TiB" };
	double v = (double)bytes;
	size_t u = 0;

	while (v >= 1024 && u + 1 < sizeof(units) / sizeof(units[0])) {
		v /= 1024;
		u++;
	}
	if (u == 0)
		snprintf(buf, size, "%" PRIu64 " B", bytes);
	else
		snprintf(buf, size, "%.1f %s", v, units[u]);
	return buf;
}

/* ---- load and save: the result, stop signals ----------------------- */

int cmd_result(struct cmd *c, const struct b10t_result *res, int r, const char *prep)
{
	char b[32], ab[32];
	const char *name;

	/* The record for b10t stats: silent, whatever becomes of it. */
	if (c->v && (c->v->flags & VERB_STATS))
		b10t_stats_note(&c->ctx, &c->cfg, c->verb, c->key.key, res, r);
	if (r < 0 || res->status == B10T_ERROR)
		return cmd_fail(c, b10t_json_result(cJSON_CreateObject(), res));
	if (c->json) {
		cJSON *o = cJSON_CreateObject();

		if (!o) {
			b10t_set_error(&c->ctx, ENOMEM, "out of memory");
			return cmd_fail(c, NULL);
		}
		cJSON_AddStringToObject(o, "status", b10t_status_name(res->status));
		if (cmd_print_json(c, b10t_json_result(o, res)) < 0)
			return 1;
		return cmd_exit_code(res->status);
	}
	if (c->quiet)	/* as git's -q: errors only (on stderr), the exit code says the rest */
		return cmd_exit_code(res->status);
	if (res->status != B10T_SUCCESS) {
		printf("%s: %s: %s\n", c->verb, b10t_status_name(res->status),
		       esc_msg(res->reason));
		return cmd_exit_code(res->status);
	}
	name = strrchr(res->archive, '/');
	name = name ? name + 1 : res->archive;
	printf("%s: SUCCESS: %s, %s %s %s (%s) in %.2f s", c->verb,
	       cmd_counts(res->files, res->dirs), human_bytes(res->bytes, b, sizeof(b)), prep,
	       esc(name), human_bytes(res->archive_bytes, ab, sizeof(ab)), res->elapsed_s);
	if (res->skipped)	/* each one named in a warning on stderr */
		printf(", %" PRIu64 " %s left out", res->skipped,
		       plural(res->skipped, "entry", "entries"));
	printf("\n");
	return cmd_exit_code(res->status);
}

static volatile sig_atomic_t stop_signal;

/* First SIGINT/SIGTERM/SIGHUP: stop cleanly; a second one kills at once. */
static void on_stop_signal(int sig)
{
	if (stop_signal) {
		signal(sig, SIG_DFL);
		raise(sig);
	}
	stop_signal = sig;
}

void cmd_stop_signals(struct cmd *c)
{
	static const int sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction sa = { .sa_handler = on_stop_signal, .sa_flags = SA_RESTART };
	struct sigaction old;

	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		/* A signal ignored by whoever started us (nohup, `&`) stays ignored. */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
	c->ctx.cancel = &stop_signal;
}

int cmd_stopped(int code)
{
	/* Stopped by a signal: cleaned up, and the shell's usual 128 + N. */
	return code == 1 && stop_signal ? 128 + stop_signal : code;
}

/* ---- progress bar ---------------------------------------------------- */

static struct {
	const char *what;
	double start, last;
	bool shown;
	bool dumb;		/* TERM=dumb or unset: plain lines, no control codes */
} bar;

/* A duration as curl's and rsync's bars have it: 7s, 2m05s, 1h02m. */
static const char *eta(double s, char *buf, size_t size)
{
	unsigned long t = s > 0 ? (unsigned long)(s + 0.5) : 0;

	if (t < 60)
		snprintf(buf, size, "%lus", t);
	else if (t < 3600)
		snprintf(buf, size, "%lum%02lus", t / 60, t % 60);
	else
		snprintf(buf, size, "%luh%02lum", t / 3600, t / 60 % 60);
	return buf;
}

/*
 * "load:  42% 120.0 MiB of 300.0 MiB, 1234 files, 80.0 MiB/s, ETA 3s": the
 * total comes from the manifest (load) or the tree measured first (save).
 * A terminal gets the line redrawn in place ten times a second; TERM=dumb
 * a plain line each second, without \r or escape sequences.
 */
static void progress_draw(void *arg, const struct b10t_progress *p)
{
	double now = b10t_now(), dt, speed;
	char b[32], rate[32], tot[32], t[32], left[48], line[256];

	/* The first call draws at once: a bar (and its ETA) from the start. */
	if (!p->done && bar.shown && now - bar.last < (bar.dumb ? 1.0 : 0.1))
		return;
	bar.last = now;
	dt = now - bar.start;
	speed = dt > 0 ? (double)p->bytes / dt : 0;
	human_bytes(p->bytes, b, sizeof(b));
	human_bytes((uint64_t)speed, rate, sizeof(rate));
	if (p->total_bytes) {
		uint64_t done = p->bytes < p->total_bytes ? p->bytes : p->total_bytes;

		human_bytes(p->total_bytes, tot, sizeof(tot));
		if (p->done)
			snprintf(left, sizeof(left), "done in %.1fs", dt);
		else if (speed > 0)
			snprintf(left, sizeof(left), "ETA %s",
				 eta((double)(p->total_bytes - done) / speed, t, sizeof(t)));
		else
			snprintf(left, sizeof(left), "ETA --");
		snprintf(line, sizeof(line), "%s: %3d%% %s of %s, %" PRIu64 " %s, %s/s, %s",
			 bar.what, p->done ? 100 : (int)(100.0 * (double)done / (double)p->total_bytes),
			 b, tot, p->files, plural(p->files, "file", "files"), rate, left);
	} else {
		snprintf(line, sizeof(line), "%s: %" PRIu64 " %s, %s, %s/s", bar.what, p->files,
			 plural(p->files, "file", "files"), b, rate);
	}
	if (bar.dumb)
		fprintf(stderr, "%s\n", line);
	else
		fprintf(stderr, "\r\033[K%s", line);
	bar.shown = true;
}

void cmd_progress_setup(struct cmd *c, const char *what)
{
	const char *term = getenv("TERM");

	if (c->quiet || !isatty(STDERR_FILENO))
		return;
	bar.what = what;
	bar.dumb = !term || !*term || !strcmp(term, "dumb");
	bar.start = bar.last = b10t_now();
	c->ctx.progress = progress_draw;
	c->ctx.progress_arg = c;
}

void cmd_progress_end(struct cmd *c)
{
	if (bar.shown && !bar.dumb)
		fputs("\r\033[K", stderr);
	bar.shown = false;
	c->ctx.progress = NULL;
}

int cmd_envkey(struct cmd *c, struct b10t_envkey *key)
{
	if (b10t_envkey_compute(&c->ctx, &c->cfg, key) < 0)
		return cmd_fail(c, NULL);
	return 0;
}
