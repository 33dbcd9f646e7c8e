/* SPDX-License-Identifier: MIT */
/*
 * b10t vllm: the sidecar that runs beside `vllm serve` (it takes over
 * b10-transfer's `b10-compile-cache`, and the installed link of that name
 * runs it).  Load this environment's archive into vLLM's cache root; when
 * that does not give a warm cache, wait until vLLM answers its readiness URL
 * (it has compiled by then) and save what it compiled.
 *
 * Run as `b10t vllm & vllm serve ...`: nothing here waits on a lock or holds
 * vLLM back, and SIGTERM/SIGINT end the wait at once.  A signal that arrives
 * while load or save runs is acted on when that returns, so the library
 * finishes or cleans up its temp files; a second signal kills at once.
 */
#include <dlfcn.h>
#include <errno.h>
#include <limits.h>
#include <math.h>
#include <poll.h>
#include <pwd.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <curl/curl.h>

#include "cmd.h"

/*
 * libcurl is loaded when the sidecar runs, not linked: linking it adds some
 * thirty shared libraries and about 6 ms of start-up to every verb, and
 * `b10t envkey` must stay well under 10 ms.
 */
static struct {
	CURLcode (*global_init)(long flags);
	CURL *(*easy_init)(void);
	CURLcode (*easy_setopt)(CURL *h, CURLoption opt, ...);
	CURLcode (*easy_perform)(CURL *h);
	CURLcode (*easy_getinfo)(CURL *h, CURLINFO info, ...);
	void (*easy_cleanup)(CURL *h);
	const char *(*easy_strerror)(CURLcode rc);
	CURLU *(*url)(void);
	CURLUcode (*url_set)(CURLU *u, CURLUPart part, const char *s, unsigned int flags);
	CURLUcode (*url_get)(const CURLU *u, CURLUPart part, char **s, unsigned int flags);
	void (*url_cleanup)(CURLU *u);
	const char *(*url_strerror)(CURLUcode rc);
	void (*free)(void *p);
} curl;

static int curl_load(struct b10t_ctx *ctx)
{
	static const char *const names[] = {
		"curl_global_init", "curl_easy_init", "curl_easy_setopt", "curl_easy_perform",
		"curl_easy_getinfo", "curl_easy_cleanup", "curl_easy_strerror", "curl_url",
		"curl_url_set", "curl_url_get", "curl_url_cleanup", "curl_url_strerror",
		"curl_free",
	};
	void **slot = (void **)&curl;
	void *lib;

	_Static_assert(sizeof(curl) == sizeof(names) / sizeof(names[0]) * sizeof(void *),
		       "one name per libcurl entry point");
	if (curl.easy_init)
		return 0;
	lib = dlopen("libcurl.so.4", RTLD_NOW | RTLD_LOCAL);
	if (!lib)
		return b10t_set_error(ctx, ENOENT, "loading libcurl: %s (install libcurl4)",
				      dlerror());
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (!(slot[i] = dlsym(lib, names[i])))
			return b10t_set_error(ctx, ENOSYS, "libcurl.so.4 has no %s: too old",
					      names[i]);
	return 0;
}

#define CONNECT_TIMEOUT_S 1.0		/* loopback: a refused or dead port answers fast */
#define REQUEST_TIMEOUT_S 5.0		/* vLLM answers /v1/models in milliseconds once up */

enum { OPT_FOLLOW = 0x300 };	/* past the short options */

/*
 * The URL, timeout and interval are settings (lib/config.c's table:
 * B10_TRANSFER_VLLM_URL / --url, B10_TRANSFER_TIMEOUT_S / --timeout,
 * B10_TRANSFER_INTERVAL_S / --interval), parsed and range-checked there.
 */
const struct verb_option vllm_options[] = {
	{ { "follow", no_argument, NULL, OPT_FOLLOW }, NULL,
	  "then keep publishing what vLLM compiles, until SIGTERM (as b10t watch; or B10T_VLLM_FOLLOW=1)" },
	FOLLOW_OPTIONS,
	{ { 0 }, NULL, NULL },
};

struct vllm {
	struct raw url;
	double timeout_s, interval_s, log_interval_s;
	/* the wait */
	bool waited, ready;
	unsigned polls;
	long last_http;			/* last HTTP status, 0 if none */
	char last_err[CURL_ERROR_SIZE];	/* last transport error, "" if none */
	double waited_s;
	/* the operations */
	struct b10t_result load, save;
	bool load_tried, load_failed, save_tried, save_failed;
	char load_err[sizeof(((struct b10t_ctx *)0)->err)];
	char save_err[sizeof(((struct b10t_ctx *)0)->err)];
	/* the outcome */
	enum b10t_status status;
	char error[1200];		/* why status is ERROR, "" otherwise */
	const char *reason;		/* why status is SKIPPED before any save: a code */
	char message[1200];		/* ... and in words */
	int signo;			/* the signal that ended the run, 0 if none */
	bool follow;			/* --follow: the result is one line, then the watch */
};

/* ---- signals ---------------------------------------------------------- */

static volatile sig_atomic_t got_signal;
/* Set while load or save runs (not under -q): the first signal says it waits. */
static volatile sig_atomic_t busy;
static char busy_msg[160];

static void on_signal(int sig)
{
	/* The second signal means "now": take the default action. */
	if (got_signal) {
		signal(sig, SIG_DFL);
		raise(sig);
		return;
	}
	got_signal = sig;
	if (busy) {	/* a notice: nothing to do when stderr is gone */
		ssize_t n = write(STDERR_FILENO, busy_msg, strlen(busy_msg));

		(void)n;
	}
}

/* Around load and save: a signal's notice names the operation. */
static void busy_begin(struct cmd *c, const char *op)
{
	snprintf(busy_msg, sizeof(busy_msg), "b10t vllm: signal received: the %s in progress "
		 "finishes first; a second signal stops it at once\n", op);
	busy = !c->quiet;
}

static void signals_setup(void)
{
	static const int sigs[] = { SIGTERM, SIGINT };
	struct sigaction sa, old;

	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	/* One handler at a time: a second signal always finds the first's mark. */
	sigemptyset(&sa.sa_mask);
	sigaddset(&sa.sa_mask, SIGTERM);
	sigaddset(&sa.sa_mask, SIGINT);
	/*
	 * SA_RESTART keeps the library's reads and writes going; the waits
	 * below (ppoll, curl's poll) return EINTR regardless.
	 */
	sa.sa_flags = SA_RESTART;
	for (size_t i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++) {
		/* A shell starts `cmd &` with SIGINT ignored: keep it so. */
		if (sigaction(sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(sigs[i], &sa, NULL);
	}
}

/* Sleep up to `s` seconds; a signal ends it at once (no lost wake-up). */
static void sleep_interruptibly(double s)
{
	sigset_t block, old;
	struct timespec ts;

	if (s <= 0)
		return;
	ts.tv_sec = (time_t)s;
	ts.tv_nsec = (long)((s - (double)ts.tv_sec) * 1e9);
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigprocmask(SIG_BLOCK, &block, &old);
	if (!got_signal)
		ppoll(NULL, 0, &ts, &old);
	sigprocmask(SIG_SETMASK, &old, NULL);
}

/* ---- values ----------------------------------------------------------- */

static int check_url(struct cmd *c, const struct raw *r)
{
	CURLU *u = curl.url();
	char *scheme = NULL;
	CURLUcode rc;
	int ret = 0;

	if (!u)
		return b10t_set_error(&c->ctx, ENOMEM, "out of memory");
	rc = curl.url_set(u, CURLUPART_URL, r->value, 0);
	if (rc != CURLUE_OK)
		ret = b10t_set_error(&c->ctx, EINVAL, "%s=%s: not a URL: %s", r->origin,
				     r->value, curl.url_strerror(rc));
	else if (curl.url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
		 (strcmp(scheme, "http") && strcmp(scheme, "https")))
		ret = b10t_set_error(&c->ctx, EINVAL, "%s=%s: not an http:// or https:// URL",
				     r->origin, r->value);
	curl.free(scheme);
	curl.url_cleanup(u);
	return ret;
}

/*
 * vLLM's cache root, as vLLM finds it: $VLLM_CACHE_ROOT (with ~ expanded),
 * else $XDG_CACHE_HOME/vllm, else ~/.cache/vllm.
 */
static int vllm_cache_root(char *buf, size_t size, const char **origin)
{
	const char *root = getenv("VLLM_CACHE_ROOT"), *xdg = getenv("XDG_CACHE_HOME");
	const char *home = getenv("HOME");
	struct passwd *pw;
	int n;

	if ((!home || !*home) && (pw = getpwuid(geteuid())))
		home = pw->pw_dir;
	if (!home)
		home = "";
	if (root && *root) {
		*origin = "VLLM_CACHE_ROOT";
		if (root[0] == '~' && (root[1] == '/' || !root[1]))
			n = snprintf(buf, size, "%s%s", home, root + 1);
		else
			n = snprintf(buf, size, "%s", root);
	} else if (xdg && xdg[0] == '/') {
		*origin = "XDG_CACHE_HOME";
		n = snprintf(buf, size, "%s/vllm", xdg);
	} else {
		*origin = "HOME";
		n = snprintf(buf, size, "%s/.cache/vllm", home);
	}
	return n < 0 || (size_t)n >= size ? -ENAMETOOLONG : 0;
}

static bool opt_follow;

int vllm_opt(struct cmd *c, int val, const char *arg)
{
	if (val == OPT_FOLLOW) {
		opt_follow = true;
		return 0;
	}
	return follow_opt(c, val, arg);
}

/* ---- the readiness probe (libcurl) ------------------------------------ */

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
	return size * n;
}

static int abort_on_signal(void *arg, curl_off_t dltotal, curl_off_t dlnow,
			   curl_off_t ultotal, curl_off_t ulnow)
{
	return got_signal != 0;	/* non-zero aborts the transfer */
}

static CURL *probe_new(const char *url, char *errbuf, char *noproxy, size_t size)
{
	const char *np = getenv("no_proxy");
	CURL *h = curl.easy_init();

	if (!h)
		return NULL;
	if (!np || !*np)
		np = getenv("NO_PROXY");
	/*
	 * The probe talks to vLLM on this machine: never through the proxy of
	 * http_proxy/HTTPS_PROXY for loopback names.  CURLOPT_NOPROXY replaces
	 * no_proxy, so keep the user's list too (a remote URL may need it).
	 */
	snprintf(noproxy, size, "localhost,127.0.0.1,::1%s%s", np && *np ? "," : "",
		 np && *np ? np : "");
	curl.easy_setopt(h, CURLOPT_URL, url);
	curl.easy_setopt(h, CURLOPT_HTTPGET, 1L);
	curl.easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
#if LIBCURL_VERSION_NUM >= 0x075500
	curl.easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
#else
	curl.easy_setopt(h, CURLOPT_PROTOCOLS, (long)(CURLPROTO_HTTP | CURLPROTO_HTTPS));
#endif
	curl.easy_setopt(h, CURLOPT_NOPROXY, noproxy);
	curl.easy_setopt(h, CURLOPT_USERAGENT, "b10t/" B10T_VERSION_STRING);
	curl.easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
	curl.easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
	curl.easy_setopt(h, CURLOPT_XFERINFOFUNCTION, abort_on_signal);
	curl.easy_setopt(h, CURLOPT_ERRORBUFFER, errbuf);
	return h;
}

/* One GET; the HTTP status, or 0 with s->last_err set. */
static long probe(struct cmd *c, struct vllm *s, CURL *h, char *errbuf, double budget)
{
	double t = budget > REQUEST_TIMEOUT_S ? REQUEST_TIMEOUT_S : budget < 1 ? 1 : budget;
	long code = 0;
	CURLcode rc;

	curl.easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)(t * 1000));
	curl.easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
			 (long)((t < CONNECT_TIMEOUT_S ? t : CONNECT_TIMEOUT_S) * 1000));
	errbuf[0] = '\0';
	rc = curl.easy_perform(h);
	s->polls++;
	if (rc == CURLE_OK) {
		curl.easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
		s->last_err[0] = '\0';
		b10t_debug(&c->ctx, "GET %s: HTTP %ld", s->url.value, code);
	} else {
		snprintf(s->last_err, sizeof(s->last_err), "%s",
			 errbuf[0] ? errbuf : curl.easy_strerror(rc));
		b10t_debug(&c->ctx, "GET %s: %s", s->url.value, s->last_err);
	}
	s->last_http = code;
	return code;
}

/* vLLM's last answer, in words: "HTTP 503", a transport error, "no answer". */
static const char *last_answer(const struct vllm *s, char *buf, size_t size)
{
	if (s->last_http)
		snprintf(buf, size, "HTTP %ld", s->last_http);
	else
		snprintf(buf, size, "%s", s->last_err[0] ? s->last_err : "no answer");
	return buf;
}

/* Now and then while waiting: a line that says the sidecar is alive. */
static void log_waiting(struct cmd *c, const struct vllm *s, double waited)
{
	char last[CURL_ERROR_SIZE + 32];

	if (c->quiet)
		return;
	fprintf(stderr, "b10t vllm: still waiting for HTTP 200 from %s: %.1f s of %g s, "
		"%u %s, last answer: %s\n", esc(s->url.value), waited, s->timeout_s, s->polls,
		plural(s->polls, "probe", "probes"), esc_msg(last_answer(s, last, sizeof(last))));
	fflush(stderr);
}

/* Poll until HTTP 200, the timeout, or a signal. */
static int wait_ready(struct cmd *c, struct vllm *s)
{
	char errbuf[CURL_ERROR_SIZE], noproxy[4096];
	double t0 = b10t_now(), deadline = t0 + s->timeout_s, left, next_log, now;
	CURL *h = probe_new(s->url.value, errbuf, noproxy, sizeof(noproxy));

	if (!h)
		return b10t_set_error(&c->ctx, ENOMEM, "starting the HTTP client: out of memory");
	s->waited = true;
	next_log = t0 + s->log_interval_s;
	while (!got_signal) {
		if (probe(c, s, h, errbuf, deadline - b10t_now()) == 200) {
			s->ready = true;
			break;
		}
		now = b10t_now();
		left = deadline - now;
		if (left <= 0 || got_signal)
			break;
		if (s->log_interval_s > 0 && now >= next_log) {
			log_waiting(c, s, now - t0);
			while (next_log <= now)
				next_log += s->log_interval_s;
		}
		sleep_interruptibly(left < s->interval_s ? left : s->interval_s);
	}
	s->waited_s = b10t_now() - t0;
	curl.easy_cleanup(h);
	return 0;
}

/* ---- the result ------------------------------------------------------- */

static const char *signal_name(int sig)
{
	return sig == SIGTERM ? "SIGTERM" : sig == SIGINT ? "SIGINT" : "a signal";
}

static void add_op(cJSON *o, const char *prefix, const struct b10t_result *r,
		   bool failed, const char *err)
{
	char name[64];

	snprintf(name, sizeof(name), "%s_status", prefix);
	cJSON_AddStringToObject(o, name, b10t_status_name(failed ? B10T_ERROR : r->status));
	if (failed) {
		snprintf(name, sizeof(name), "%s_error", prefix);
		cJSON_AddStringToObject(o, name, err);
	} else if (r->why) {	/* as load's and save's "reason" and "message" */
		snprintf(name, sizeof(name), "%s_reason", prefix);
		cJSON_AddStringToObject(o, name, r->why);
		snprintf(name, sizeof(name), "%s_message", prefix);
		cJSON_AddStringToObject(o, name, r->reason);
	}
}

static cJSON *result_json(struct cmd *c, const struct vllm *s, const char *key)
{
	cJSON *o = cJSON_CreateObject();
	const struct b10t_result *done = s->save_tried && !s->save_failed ? &s->save :
					 s->load_tried && !s->load_failed ? &s->load : NULL;

	cJSON_AddStringToObject(o, "status", b10t_status_name(s->status));
	if (s->error[0])
		cJSON_AddStringToObject(o, "error", s->error);
	if (s->reason) {	/* as load's and save's */
		cJSON_AddStringToObject(o, "reason", s->reason);
		cJSON_AddStringToObject(o, "message", s->message);
	}
	if (s->signo)
		cJSON_AddStringToObject(o, "signal", signal_name(s->signo));
	cJSON_AddStringToObject(o, "environment_key", key);
	cJSON_AddStringToObject(o, "cache_dir", c->cfg.cache_dir);
	if (s->load_tried)
		add_op(o, "load", &s->load, s->load_failed, s->load_err);
	else
		cJSON_AddNullToObject(o, "load_status");
	cJSON_AddStringToObject(o, "url", s->url.value);
	cJSON_AddBoolToObject(o, "waited", s->waited);
	cJSON_AddBoolToObject(o, "ready", s->ready);
	cJSON_AddNumberToObject(o, "waited_s", (double)(long long)(s->waited_s * 1000 + 0.5) / 1000);
	cJSON_AddNumberToObject(o, "polls", s->polls);
	if (s->last_http)
		cJSON_AddNumberToObject(o, "last_http_status", (double)s->last_http);
	else if (s->last_err[0])
		cJSON_AddStringToObject(o, "last_http_error", s->last_err);
	cJSON_AddNumberToObject(o, "timeout_s", s->timeout_s);
	cJSON_AddNumberToObject(o, "interval_s", s->interval_s);
	cJSON_AddNumberToObject(o, "log_interval_s", s->log_interval_s);
	if (s->save_tried)
		add_op(o, "save", &s->save, s->save_failed, s->save_err);
	else
		cJSON_AddNullToObject(o, "save_status");
	if (done) {
		cJSON_AddStringToObject(o, "archive", done->archive);
		json_add_u64(o, "files", done->files);
		json_add_u64(o, "dirs", done->dirs);
		json_add_u64(o, "bytes", done->bytes);
		json_add_u64(o, "archive_bytes", done->archive_bytes);
	}
	return o;
}

static void print_op(const char *what, const struct b10t_result *r, bool failed,
		     const char *err)
{
	char b[32];

	if (failed) {
		printf("%s: ERROR: %s\n", what, esc_msg(err));
		return;
	}
	printf("%s: %s", what, b10t_status_name(r->status));
	if (r->status == B10T_SUCCESS)
		printf(" %s (%s, %s)", esc(r->archive), cmd_counts(r->files, r->dirs),
		       human_bytes(r->bytes, b, sizeof(b)));
	else if (r->reason[0])
		printf(" (%s)", esc_msg(r->reason));
	putchar('\n');
}

static void result_text(const struct vllm *s)
{
	if (s->load_tried)
		print_op("load", &s->load, s->load_failed, s->load_err);
	if (s->waited)
		printf("wait: %s after %.1f s, %u %s of %s\n",
		       s->ready ? "ready" : s->signo ? "stopped" : "timed out",
		       s->waited_s, s->polls, plural(s->polls, "probe", "probes"),
		       esc(s->url.value));
	if (s->save_tried)
		print_op("save", &s->save, s->save_failed, s->save_err);
	if (s->reason)
		printf("status: %s (%s)\n", b10t_status_name(s->status), esc_msg(s->message));
	else
		printf("status: %s\n", b10t_status_name(s->status));
}

/* ---- the verb ----------------------------------------------------------- */

static int finish(struct cmd *c, struct vllm *s, const char *key)
{
	if (s->error[0])
		cmd_error(c, "%s", esc_msg(s->error));
	if (c->json && s->follow) {
		/* What follows is JSON lines: this object too is one. */
		cJSON *o = result_json(c, s, key);
		char *line;

		cJSON_AddStringToObject(o, "event", "vllm");
		line = cJSON_PrintUnformatted(o);
		if (line)
			puts(line);
		cJSON_free(line);
		cJSON_Delete(o);
	} else if (c->json) {
		cmd_print_json(c, result_json(c, s, key));
	} else if (!c->quiet || s->status == B10T_ERROR) {	/* -q: errors only */
		result_text(s);
	}
	fflush(stdout);
	/* Interrupted: 128 + signal, as a shell reports a job killed by it. */
	if (s->signo)
		return 128 + s->signo;
	return cmd_exit_code(s->status);
}

/*
 * SIGTERM or SIGINT before any save: the container is stopping, as it
 * does every day.  Not an error: SKIPPED with reason "signal", said on
 * stderr as a notice; the exit code is still 128 + the signal.
 */
static void interrupted(struct cmd *c, struct vllm *s, const char *during)
{
	s->signo = got_signal;
	s->status = B10T_SKIPPED;
	s->reason = "signal";
	snprintf(s->message, sizeof(s->message), "stopped by %s %s; nothing saved",
		 signal_name(s->signo), during);
	if (c->json && !c->quiet)	/* the text result says it on stdout */
		fprintf(stderr, "b10t vllm: %s\n", s->message);
}

/*
 * No store to save to: say so at once and exit, rather than wait for vLLM
 * only to fail at the end.  Turned off or not there (BASETEN_FS_ENABLED
 * unset, as on a laptop): SKIPPED; forced on with no store: ERROR.
 */
static bool no_store(struct cmd *c, struct vllm *s)
{
	char why[sizeof(s->message) - 64];
	const char *code = b10t_store_disabled(&c->cfg, why, sizeof(why));

	if (!code)
		return false;
	if (c->cfg.fs_enabled == 1) {
		s->status = B10T_ERROR;
		snprintf(s->error, sizeof(s->error), "%s; nothing can be saved", why);
		return true;
	}
	s->status = B10T_SKIPPED;
	s->reason = code;
	snprintf(s->message, sizeof(s->message), "%s; nothing can be saved, vLLM compiles as without a cache", why);
	if (c->json && !c->quiet)	/* the text result says it on stdout */
		fprintf(stderr, "b10t vllm: %s\n", esc_msg(s->message));
	return true;
}

/* --follow after a warm load: print load's result, then watch. */
static int follow(struct cmd *c, struct vllm *s, const struct b10t_envkey *key)
{
	struct b10t_watch *w;
	int r;

	/* The load's result stands either way; a watch that cannot start is exit 1. */
	r = follow_open(c, &w);
	finish(c, s, key->key);
	return r ? r : follow_run(c, key, w, got_signal);
}

/*
 * Before the settings are checked: vLLM's cache root replaces
 * TORCHINDUCTOR_CACHE_DIR (so a bad value of that variable, unused here,
 * breaks nothing); --cache-dir still wins.
 */
void vllm_cache_dir_help(char *buf, size_t size)
{
	char root[PATH_MAX];
	const char *origin;

	if (vllm_cache_root(root, sizeof(root), &origin) < 0)
		snprintf(root, sizeof(root), "(too long)");
	snprintf(buf, size, "the local cache dir: vLLM's cache root (default $XDG_CACHE_HOME/vllm, "
		 "else ~/.cache/vllm; here %s) [VLLM_CACHE_ROOT]", esc(root));
}

int vllm_prepare(struct cmd *c)
{
	char root[PATH_MAX];
	const char *root_origin;

	if (c->cfg.origin[B10T_SET_CACHE_DIR] == B10T_ORIGIN_SET)
		return 0;
	if (vllm_cache_root(root, sizeof(root), &root_origin) < 0)
		return b10t_set_error(&c->ctx, ENAMETOOLONG, "%s: vLLM cache root too long",
				      root_origin);
	return b10t_config_set(&c->ctx, &c->cfg, "TORCHINDUCTOR_CACHE_DIR", root, root_origin);
}

int cmd_vllm(struct cmd *c)
{
	struct vllm s = {
		.url = { c->cfg.vllm_url, cmd_origin(c, B10T_SET_VLLM_URL) },
		.timeout_s = (double)c->cfg.vllm_timeout_ms / 1000,
		.interval_s = (double)c->cfg.vllm_interval_ms / 1000,
		.log_interval_s = (double)c->cfg.vllm_log_interval_ms / 1000,
	};
	struct b10t_envkey key;
	struct b10t_watch *w = NULL;
	const char *fv = getenv("B10T_VLLM_FOLLOW");
	int r, r2;

	s.follow = opt_follow || (fv && (!strcmp(fv, "1") || !strcasecmp(fv, "true") ||
					 !strcasecmp(fv, "yes") || !strcasecmp(fv, "on")));

	if (curl_load(&c->ctx) < 0 || check_url(c, &s.url) < 0) {
		cmd_error(c, "%s", esc_msg(b10t_ctx_error(&c->ctx)));
		return 1;
	}
	if (curl.global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		cmd_error(c, "initialising libcurl failed");
		return 1;
	}
	signals_setup();
	if ((r = cmd_envkey(c, &key)) != 0)
		return r;

	if (no_store(c, &s))
		return finish(c, &s, key.key);

	/* 1. Load: a warm cache means vLLM compiles nothing; we are done. */
	s.load_tried = true;
	busy_begin(c, "load");
	r = b10t_load(&c->ctx, &c->cfg, &key, &s.load);
	busy = 0;
	b10t_stats_note(&c->ctx, &c->cfg, "load", key.key, &s.load, r);	/* for b10t stats */
	if (r < 0) {
		s.load_failed = true;
		snprintf(s.load_err, sizeof(s.load_err), "%s", b10t_ctx_error(&c->ctx));
		if (!c->quiet)
			fprintf(stderr, "b10t vllm: warning: load failed: %s\n", esc_msg(s.load_err));
	} else if (s.load.status == B10T_SUCCESS) {
		s.status = B10T_SUCCESS;
		/* Warm, but vLLM may still compile shapes the cache lacks. */
		if (s.follow && !got_signal)
			return follow(c, &s, &key);
		return finish(c, &s, key.key);
	}
	if (got_signal) {
		interrupted(c, &s, "after load");
		return finish(c, &s, key.key);
	}

	/* 2. Wait until vLLM serves: it has compiled what it needs by then. */
	if (!c->quiet)
		fprintf(stderr, "b10t vllm: no warm cache loaded (%s); waiting up to %g s for HTTP 200 from %s\n",
			s.load_failed ? "load failed" : b10t_status_name(s.load.status),
			s.timeout_s, esc(s.url.value));
	if (wait_ready(c, &s) < 0) {
		snprintf(s.error, sizeof(s.error), "%s", b10t_ctx_error(&c->ctx));
		s.status = B10T_ERROR;
		return finish(c, &s, key.key);
	}
	if (got_signal) {
		interrupted(c, &s, "while waiting for vLLM");
		return finish(c, &s, key.key);
	}
	if (!s.ready) {
		char last[CURL_ERROR_SIZE + 32];

		snprintf(s.error, sizeof(s.error),
			 "timed out after %.1f s waiting for HTTP 200 from %s (last answer: %s); nothing saved",
			 s.waited_s, s.url.value, last_answer(&s, last, sizeof(last)));
		s.status = B10T_ERROR;
		return finish(c, &s, key.key);
	}

	/*
	 * 3. Save what vLLM compiled.  Following, the watch begins before the
	 * save reads the tree: whatever is written after that read is seen.
	 */
	if (s.follow)
		r = follow_open(c, &w);	/* failed: the save still runs, then exit r */
	s.save_tried = true;
	busy_begin(c, "save");
	r2 = b10t_save(&c->ctx, &c->cfg, &key, &s.save);
	busy = 0;
	b10t_stats_note(&c->ctx, &c->cfg, "save", key.key, &s.save, r2);	/* for b10t stats */
	if (r2 < 0) {
		s.save_failed = true;
		snprintf(s.save_err, sizeof(s.save_err), "%s", b10t_ctx_error(&c->ctx));
		snprintf(s.error, sizeof(s.error), "save: %s", s.save_err);
		s.status = B10T_ERROR;
	} else {
		s.status = s.save.status;
	}
	if (w) {
		finish(c, &s, key.key);
		return follow_run(c, &key, w, got_signal);
	}
	if (s.follow) {
		finish(c, &s, key.key);
		return r;
	}
	return finish(c, &s, key.key);
}
