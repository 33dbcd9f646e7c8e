/* SPDX-License-Identifier: MIT */
/*
 * b10t watch [-- COMMAND [ARG...]]: follow the cache dir and publish what
 * the server compiles after its start (new shapes, warm-up after
 * readiness, traffic), and b10t vllm --follow, which does the same after
 * its first save.
 *
 * The watcher (lib/watch.c) calls the publish step once the dir has been
 * quiet for --quiet-period after a change, and once more when the server
 * stops: on SIGTERM (or SIGINT, SIGHUP, SIGQUIT), within --final-budget
 * seconds, or when the server exits.  The server is the COMMAND, run as our
 * child with the signals sent to us forwarded to it (a terminal's ^C
 * reaches its process group by itself and is not sent twice); or the
 * process of --pid; or neither (a sidecar that runs until it is stopped).
 *
 * The budget: the first stop signal arms a timer; when it fires the
 * publish in flight is cancelled (ctx.cancel: the library removes its
 * upload) and nothing more starts.  A second stop signal cancels at once.
 *
 * Exit status: the child's (128 + N when a signal killed it); without a
 * child 0, or 1 when the final publish failed.
 */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "cmd.h"

/*
 * The publish step: a layer of only the entries the store lacks
 * (b10t_update, `save --update`: SKIPPED "nothing new" otherwise) where
 * the library has it, else b10t_save, which publishes only a key's first
 * archive (SKIPPED "already published" after it).  A weak reference, so
 * that this file builds and works on either side of the layers' merge;
 * b10t_update lives in save.c beside b10t_save, which is always linked.
 */
extern int b10t_update(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		       const struct b10t_envkey *key, struct b10t_result *res)
	__attribute__((weak));

static int publish_fn(struct b10t_ctx *ctx, const struct b10t_config *cfg,
		      const struct b10t_envkey *key, struct b10t_result *res)
{
	int r = b10t_update ? b10t_update(ctx, cfg, key, res) : b10t_save(ctx, cfg, key, res);

	b10t_stats_note(ctx, cfg, b10t_update ? "update" : "save", key->key, res, r);
	return r;
}

static const char *publish_step_name(void)
{
	return b10t_update ? "update" : "save";
}

const struct verb_option watch_options[] = {
	FOLLOW_OPTIONS,
	{ { 0 }, NULL, NULL },
};

static const char *opt_pid;

int follow_opt(struct cmd *c, int val, const char *arg)
{
	if (val == OPT_FOLLOW_PID) {
		opt_pid = arg;
		return 0;
	}
	return -1;
}

int watch_opt(struct cmd *c, int val, const char *arg)
{
	return follow_opt(c, val, arg);
}

/* ---- signals ---------------------------------------------------------- */

static const int stop_sigs[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
static const int pass_sigs[] = { SIGUSR1, SIGUSR2 };	/* forwarded, nothing more */

static int sig_pipe[2] = { -1, -1 };
static volatile sig_atomic_t stop_signo, budget_spent;
static volatile pid_t child_pid = -1;
static timer_t budget_timer;
static bool have_timer;
static double budget_s;

/* Arm the budget's timer once (async-signal-safe: timer_settime). */
static void budget_start(void)
{
	static volatile sig_atomic_t armed;
	struct itimerspec its = { 0 };

	if (armed)
		return;
	armed = 1;
	if (budget_s <= 0 || !have_timer) {
		budget_spent = 1;
		return;
	}
	its.it_value.tv_sec = (time_t)budget_s;
	its.it_value.tv_nsec = (long)((budget_s - (double)its.it_value.tv_sec) * 1e9);
	if (!its.it_value.tv_sec && !its.it_value.tv_nsec)
		its.it_value.tv_nsec = 1;
	timer_settime(budget_timer, 0, &its, NULL);
}

static void on_signal(int sig, siginfo_t *si, void *uc)
{
	int saved = errno;
	unsigned char b = (unsigned char)sig;
	bool stop = sig != SIGCHLD && sig != SIGALRM && sig != SIGUSR1 && sig != SIGUSR2;

	(void)uc;
	if (sig == SIGALRM) {
		budget_spent = 1;
		errno = saved;
		return;
	}
	/* Sent to us (kill, the container runtime): the child's too.  The
	 * terminal's (SI_KERNEL) reached the child's process group already. */
	if (sig != SIGCHLD && child_pid > 0 && si && si->si_code <= 0)
		kill(child_pid, sig);
	if (stop) {
		if (stop_signo)
			budget_spent = 1;	/* the second: now */
		else
			stop_signo = sig;
		budget_start();
	}
	if (sig_pipe[1] >= 0 && write(sig_pipe[1], &b, 1) < 0) {
		/* full: a wake-up is pending already */
	}
	errno = saved;
}

static int signals_setup(struct cmd *c)
{
	struct sigaction sa = { .sa_sigaction = on_signal, .sa_flags = SA_SIGINFO | SA_RESTART };
	struct sigaction old;
	struct sigevent sev = { .sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGALRM };

	if (sig_pipe[0] < 0 && pipe2(sig_pipe, O_CLOEXEC | O_NONBLOCK) < 0) {
		cmd_error(c, "making the signal pipe: %s", strerror(errno));
		return 1;
	}
	sigemptyset(&sa.sa_mask);
	for (size_t i = 0; i < sizeof(stop_sigs) / sizeof(stop_sigs[0]); i++) {
		/* A shell starts `cmd &` with SIGINT ignored: keep it so. */
		if (sigaction(stop_sigs[i], NULL, &old) == 0 && old.sa_handler == SIG_IGN)
			continue;
		sigaction(stop_sigs[i], &sa, NULL);
	}
	for (size_t i = 0; i < sizeof(pass_sigs) / sizeof(pass_sigs[0]); i++)
		sigaction(pass_sigs[i], &sa, NULL);
	sigaction(SIGALRM, &sa, NULL);
	sa.sa_flags |= SA_NOCLDSTOP;
	sigaction(SIGCHLD, &sa, NULL);
	have_timer = timer_create(CLOCK_MONOTONIC, &sev, &budget_timer) == 0;
	return 0;
}

/* ---- the follower ------------------------------------------------------ */

struct follow {
	struct cmd *c;
	const struct b10t_envkey *key;
	struct b10t_watch *w;
	int pidfd;			/* --pid's process, -1 when none */
	pid_t pid;
	bool child_done;
	int child_status;		/* waitpid's status */
	bool final_tried, final_failed;
	double quiet_s, max_wait_s;
};

static struct follow F = { .pidfd = -1 };

static void print_line(struct cmd *c, cJSON *o)
{
	char *s = cJSON_PrintUnformatted(o);

	cJSON_Delete(o);
	if (s)
		puts(s);
	else
		cmd_error(c, "out of memory");
	cJSON_free(s);
	fflush(stdout);
}

static int publish_step(void *arg, bool final, struct b10t_result *res)
{
	struct follow *f = arg;
	int r;

	if (final)
		f->final_tried = true;
	if (budget_spent)
		return b10t_set_error(&f->c->ctx, ETIME,
				      "the final budget (%g s) was spent before it could start",
				      budget_s);
	r = publish_fn(&f->c->ctx, &f->c->cfg, f->key, res);
	/*
	 * SKIPPED for MAX_CONCURRENT_SAVES is "not now", unlike "already
	 * published" or "nothing new": the changes are still to publish.
	 */
	if (!r && res->status == B10T_SKIPPED && res->why && !strcmp(res->why, "too_many_saves"))
		return 1;
	return r;
}

static void on_publish(void *arg, bool final, int r, const struct b10t_result *res)
{
	struct follow *f = arg;
	struct cmd *c = f->c;
	const char *what = final ? "final publish" : "publish";
	char msg[sizeof(c->ctx.err) + 64], b[32];
	bool failed = r < 0 || res->status == B10T_ERROR;

	if (r < 0 && (r == -EINTR || r == -ETIME) && budget_spent)
		snprintf(msg, sizeof(msg), "cut at the final budget of %g s: %s", budget_s,
			 b10t_ctx_error(&c->ctx));
	else
		snprintf(msg, sizeof(msg), "%s", b10t_ctx_error(&c->ctx));
	if (final && failed)
		f->final_failed = true;
	if (c->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "event", "publish");
		cJSON_AddBoolToObject(o, "final", final);
		cJSON_AddStringToObject(o, "status",
					b10t_status_name(failed ? B10T_ERROR : res->status));
		if (failed) {
			cJSON_AddStringToObject(o, "error", msg);
		} else {
			/* as load's and save's: a code for programs, then the words */
			if (res->why)
				cJSON_AddStringToObject(o, "reason", res->why);
			if (res->reason[0])
				cJSON_AddStringToObject(o, "message", res->reason);
			if (res->archive[0])
				cJSON_AddStringToObject(o, "archive", res->archive);
			json_add_u64(o, "files", res->files);
			json_add_u64(o, "dirs", res->dirs);
			json_add_u64(o, "bytes", res->bytes);
			json_add_u64(o, "archive_bytes", res->archive_bytes);
		}
		cJSON_AddNumberToObject(o, "elapsed_s",
					(double)(long long)(res->elapsed_s * 1000 + 0.5) / 1000);
		print_line(c, o);
		return;
	}
	if (failed)
		printf("%s: ERROR: %s\n", what, esc_msg(msg));
	else if (res->status == B10T_SUCCESS)
		printf("%s: SUCCESS %s (%s, %s) in %.2f s\n", what, esc(res->archive),
		       cmd_counts(res->files, res->dirs), human_bytes(res->bytes, b, sizeof(b)),
		       res->elapsed_s);
	else
		printf("%s: %s (%s)\n", what, b10t_status_name(res->status), esc_msg(res->reason));
	fflush(stdout);
}

/*
 * Reap what has ended; true once the child has.  Every child, not only
 * ours: as PID 1 of a container, orphans are handed to us, and an init
 * that does not reap them fills the process table with zombies.
 */
static bool reap(struct follow *f)
{
	int st;
	pid_t p;

	for (;;) {
		p = waitpid(-1, &st, WNOHANG);
		if (p < 0 && errno == EINTR)
			continue;
		if (p <= 0)
			break;
		if (p == child_pid && !f->child_done) {
			f->child_done = true;
			f->child_status = st;
		}
	}
	if (child_pid > 0 && !f->child_done && p < 0 && errno == ECHILD) {
		f->child_done = true;	/* reaped elsewhere: its status is lost */
		f->child_status = 0;
	}
	return f->child_done;
}

static int on_wake(void *arg, int fd)
{
	struct follow *f = arg;
	unsigned char buf[64];

	/* --final-budget 0: no last publish at all. */
	int stop = budget_s > 0 ? B10T_WATCH_STOP : B10T_WATCH_STOP_NOW;

	if (fd == f->pidfd) {
		budget_start();
		return stop;
	}
	while (read(fd, buf, sizeof(buf)) > 0)
		;
	if (reap(f)) {
		budget_start();
		return stop;
	}
	return stop_signo ? stop : B10T_WATCH_CONTINUE;
}

int follow_open(struct cmd *c, struct b10t_watch **w)
{
	struct b10t_watch_opts o = { 0 };
	struct stat st;
	static int fds[2];

	/* Parsed and range-checked as settings (lib/config.c's table). */
	F.quiet_s = (double)c->cfg.watch_quiet_ms / 1000;
	F.max_wait_s = (double)c->cfg.watch_max_wait_ms / 1000;
	budget_s = (double)c->cfg.watch_budget_ms / 1000;
	if (opt_pid) {
		char *end;
		long pid;

		errno = 0;
		pid = strtol(opt_pid, &end, 10);
		if (!*opt_pid || *end || errno || pid <= 0 || pid > 0x3fffffff)
			return cmd_usage_error(c, "--pid=%s: not a process id", esc(opt_pid));
		F.pid = (pid_t)pid;
		F.pidfd = (int)syscall(SYS_pidfd_open, F.pid, 0);
		if (F.pidfd < 0) {
			cmd_error(c, "--pid=%ld: %s", pid, errno == ESRCH ? "no such process" :
				  errno == ENOSYS ? "needs Linux 5.3 or later (pidfd_open)" :
				  strerror(errno));
			return 1;
		}
	}
	o.quiet_s = F.quiet_s;
	o.max_wait_s = F.max_wait_s;
	o.publish = publish_step;
	o.on_publish = on_publish;
	o.on_wake = on_wake;
	o.arg = &F;
	F.c = c;
	if (signals_setup(c))
		return 1;
	fds[0] = sig_pipe[0];
	fds[1] = F.pidfd;
	o.wake_fds = fds;
	o.n_wake = F.pidfd >= 0 ? 2 : 1;
	/* The store inside the cache dir: our own uploads are no change. */
	if (stat(c->cfg.store_dir, &st) == 0) {
		o.exclude_dev = (uint64_t)st.st_dev;
		o.exclude_ino = (uint64_t)st.st_ino;
	}
	if (b10t_watch_open(&c->ctx, c->cfg.cache_dir, &o, w) < 0) {
		cmd_error(c, "%s", esc_msg(b10t_ctx_error(&c->ctx)));
		return 1;
	}
	c->ctx.cancel = &budget_spent;
	return 0;
}

static void say_watching(struct cmd *c, const struct b10t_watch *w)
{
	const struct b10t_watch_stats *st = b10t_watch_stats(w);

	if (c->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "event", "watching");
		cJSON_AddStringToObject(o, "cache_dir", c->cfg.cache_dir);
		json_add_u64(o, "directories", st->watches);
		cJSON_AddNumberToObject(o, "quiet_period_s", F.quiet_s);
		cJSON_AddNumberToObject(o, "max_wait_s", F.max_wait_s);
		cJSON_AddNumberToObject(o, "final_budget_s", budget_s);
		cJSON_AddStringToObject(o, "publish_step", publish_step_name());
		if (child_pid > 0)
			cJSON_AddNumberToObject(o, "child_pid", child_pid);
		if (F.pidfd >= 0)
			cJSON_AddNumberToObject(o, "pid", F.pid);
		print_line(c, o);
	}
	if (!c->quiet)
		fprintf(stderr, "b10t %s: watching %s (%llu %s); publishing after %g s quiet\n",
			c->verb, esc(c->cfg.cache_dir), (unsigned long long)st->watches,
			plural(st->watches, "directory", "directories"), F.quiet_s);
}

static const char *sig_name(int sig)
{
	static char buf[16];

	switch (sig) {
	case SIGTERM: return "SIGTERM";
	case SIGINT: return "SIGINT";
	case SIGHUP: return "SIGHUP";
	case SIGQUIT: return "SIGQUIT";
	}
	snprintf(buf, sizeof(buf), "signal %d", sig);
	return buf;
}

int follow_run(struct cmd *c, const struct b10t_envkey *key, struct b10t_watch *w, int pending)
{
	const struct b10t_watch_stats *st;
	int r, code;

	F.key = key;
	F.w = w;
	if (pending && !stop_signo) {
		stop_signo = pending;
		budget_start();
	}
	say_watching(c, w);
	if (stop_signo) {
		/* Stopped before the loop began: what changed meanwhile still goes out. */
		unsigned char b = (unsigned char)stop_signo;

		if (write(sig_pipe[1], &b, 1) < 0) {
			/* full: a wake-up is pending already */
		}
	}
	r = b10t_watch_run(&c->ctx, w);
	if (r < 0)
		cmd_error(c, "%s", esc_msg(b10t_ctx_error(&c->ctx)));
	/* The server goes on shutting down: wait for it, forwarding signals. */
	if (child_pid > 0) {
		sigset_t block, old;

		/* Blocked while we look, so no SIGCHLD lands between reap() and the wait. */
		sigfillset(&block);
		sigprocmask(SIG_BLOCK, &block, &old);
		while (!reap(&F))
			sigsuspend(&old);
		sigprocmask(SIG_SETMASK, &old, NULL);
	}
	st = b10t_watch_stats(w);
	if (F.child_done)
		code = WIFEXITED(F.child_status) ? WEXITSTATUS(F.child_status) :
		       WIFSIGNALED(F.child_status) ? 128 + WTERMSIG(F.child_status) : 1;
	else
		code = r < 0 || F.final_failed ? 1 : 0;
	if (c->json) {
		cJSON *o = cJSON_CreateObject();

		cJSON_AddStringToObject(o, "event", "exit");
		cJSON_AddNumberToObject(o, "exit_code", code);
		if (r < 0)
			cJSON_AddStringToObject(o, "error", b10t_ctx_error(&c->ctx));
		if (stop_signo)
			cJSON_AddStringToObject(o, "signal", sig_name(stop_signo));
		if (F.child_done) {
			if (WIFEXITED(F.child_status))
				cJSON_AddNumberToObject(o, "child_exit", WEXITSTATUS(F.child_status));
			else if (WIFSIGNALED(F.child_status))
				cJSON_AddNumberToObject(o, "child_signal", WTERMSIG(F.child_status));
		}
		json_add_u64(o, "publishes", st->publishes);
		json_add_u64(o, "failures", st->failures);
		cJSON_AddBoolToObject(o, "final_publish", F.final_tried);
		json_add_u64(o, "events", st->events);
		json_add_u64(o, "directories", st->watches);
		json_add_u64(o, "rescans", st->rescans);
		print_line(c, o);
	} else if (!c->quiet) {
		fprintf(stderr, "b10t %s: stopped%s%s: %llu %s (%llu failed)%s\n", c->verb,
			stop_signo ? " by " : "", stop_signo ? sig_name(stop_signo) : "",
			(unsigned long long)st->publishes, plural(st->publishes, "publish", "publishes"),
			(unsigned long long)st->failures,
			F.child_done ? "; the command has exited" : "");
	}
	b10t_watch_close(w);
	if (F.pidfd >= 0)
		close(F.pidfd);
	return code;
}

/* Run the command as our child, with the signal mask and dispositions it would have had. */
static int spawn(struct cmd *c, char **argv)
{
	posix_spawnattr_t attr;
	sigset_t def, none, block, old;
	pid_t pid;
	int r;

	sigemptyset(&def);
	for (size_t i = 0; i < sizeof(stop_sigs) / sizeof(stop_sigs[0]); i++) {
		struct sigaction cur;

		if (sigaction(stop_sigs[i], NULL, &cur) == 0 && cur.sa_handler != SIG_IGN)
			sigaddset(&def, stop_sigs[i]);
	}
	for (size_t i = 0; i < sizeof(pass_sigs) / sizeof(pass_sigs[0]); i++)
		sigaddset(&def, pass_sigs[i]);
	sigaddset(&def, SIGALRM);
	sigaddset(&def, SIGCHLD);
	sigemptyset(&none);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setsigdefault(&attr, &def);
	posix_spawnattr_setsigmask(&attr, &none);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK);
	/* No signal between the spawn and child_pid: it would not be forwarded. */
	sigfillset(&block);
	sigprocmask(SIG_BLOCK, &block, &old);
	r = posix_spawnp(&pid, argv[0], NULL, &attr, argv, environ);
	if (!r)
		child_pid = pid;
	sigprocmask(SIG_SETMASK, &old, NULL);
	posix_spawnattr_destroy(&attr);
	if (r) {
		cmd_error(c, "running %s: %s", esc(argv[0]), strerror(r));
		return r == ENOENT ? 127 : 126;
	}
	return 0;
}

int cmd_watch(struct cmd *c)
{
	struct b10t_watch *w;
	int r;

	if (opt_pid && c->argc)
		return cmd_usage_error(c, "--pid and a command: give one of them");
	if ((r = follow_open(c, &w)) != 0)
		return r;
	if (c->argc && (r = spawn(c, c->argv)) != 0) {
		b10t_watch_close(w);
		return r;
	}
	return follow_run(c, &c->key, w, 0);
}
