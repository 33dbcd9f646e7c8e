/* SPDX-License-Identifier: MIT */
/*
 * torch and triton versions from the installed packages' metadata.
 *
 * Importing torch to ask costs seconds, so this reads the files pip and
 * setuptools leave behind instead: torch/version.py (which also holds
 * torch.version.cuda), *.dist-info/METADATA, *.egg-info/PKG-INFO.  The
 * directories are searched in the order docs/envkey.md gives; python3 is
 * run (only to print sys.path, never importing torch) when none of them has
 * what is wanted.
 */
#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <glob.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "envkey-priv.h"
#include "internal.h"

extern char **environ;

#define MAX_DIRS 512
/*
 * The whole run of python3 for sys.path, start to reaped: it takes 20-50 ms
 * (cold page cache and a slow NFS home: a few hundred), and every verb that
 * needs the key waits for it, so a wedged interpreter must not cost more
 * than this before the search goes on as "not found".
 */
#define PYTHON_TIMEOUT_MS 2000

struct search {
	struct b10t_ctx *ctx;
	struct envkey_pyver *out;
	bool want_torch, want_triton;
	bool found_torch, found_triton;
	const char *root;		/* B10T_PYTHON_ROOT: prefix of system paths */
	size_t n;			/* directories searched so far */
	dev_t dev[MAX_DIRS];
	ino_t ino[MAX_DIRS];
};

void envkey_fact_set(struct envkey_fact *f, const char *value, const char *source)
{
	snprintf(f->value, sizeof(f->value), "%s", value ? value : "");
	snprintf(f->source, sizeof(f->source), "%s", source ? source : "");
}

static bool done(const struct search *s)
{
	return (!s->want_torch || s->found_torch) && (!s->want_triton || s->found_triton);
}

/* Read a small text file whole; NULL when it cannot. free() the result. */
static char *slurp(const char *path)
{
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	size_t len = 0, cap = 1 << 16;
	char *buf;
	ssize_t r;

	if (fd < 0)
		return NULL;
	buf = malloc(cap + 1);
	while (buf && len < cap && (r = read(fd, buf + len, cap - len)) > 0)
		len += (size_t)r;
	close(fd);
	if (buf)
		buf[len] = '\0';
	return buf;
}

/* Trim a value read from a file: no surrounding blanks, no control bytes. */
static bool clean_value(char *v)
{
	size_t n;

	while (isspace((unsigned char)*v))
		memmove(v, v + 1, strlen(v));
	n = strlen(v);
	while (n && isspace((unsigned char)v[n - 1]))
		v[--n] = '\0';
	for (char *p = v; *p; p++)
		if ((unsigned char)*p < 0x20)
			return false;
	return n > 0;
}

/*
 * `NAME = 'value'` or `NAME: Optional[str] = 'value'` or `NAME = None` in a
 * version.py.  Returns false when the name is not assigned.
 */
static bool py_assign(const char *text, const char *name, char *val, size_t size)
{
	size_t nl = strlen(name);

	for (const char *line = text; line && *line; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		const char *p = line, *end;
		char q;

		if (strncmp(p, name, nl) || !(p[nl] == ' ' || p[nl] == '=' || p[nl] == ':' || p[nl] == '\t'))
			continue;
		p += nl;
		if (!(p = strpbrk(p, "=\n")) || *p != '=')
			continue;
		for (p++; *p == ' ' || *p == '\t'; p++)
			;
		if (!strncmp(p, "None", 4)) {
			snprintf(val, size, "none");
			return true;
		}
		if (*p != '\'' && *p != '"')
			continue;
		q = *p++;
		if (!(end = strchr(p, q)) || memchr(p, '\n', (size_t)(end - p)))
			continue;
		snprintf(val, size, "%.*s", (int)(end - p), p);
		return clean_value(val);
	}
	return false;
}

/* The `Version:` header of METADATA or PKG-INFO. */
static bool metadata_version(const char *path, char *val, size_t size)
{
	char *text = slurp(path), *line;
	bool ok = false;

	if (!text)
		return false;
	for (line = text; line && *line && *line != '\n'; line = strchr(line, '\n'), line = line ? line + 1 : NULL) {
		if (strncmp(line, "Version:", 8))
			continue;
		snprintf(val, size, "%.*s", (int)strcspn(line + 8, "\r\n"), line + 8);
		ok = clean_value(val);
		break;
	}
	free(text);
	return ok;
}

/* "torch-2.4.0+cu121.dist-info" with prefix "torch-": the version part. */
static bool name_version(const char *name, const char *prefix, const char *suffix,
			 char *val, size_t size)
{
	size_t pl = strlen(prefix), nl = strlen(name), sl = strlen(suffix);

	if (nl <= pl + sl || strncmp(name, prefix, pl) || strcmp(name + nl - sl, suffix) ||
	    !isdigit((unsigned char)name[pl]))
		return false;
	snprintf(val, size, "%.*s", (int)(nl - pl - sl), name + pl);
	return clean_value(val);
}

/*
 * A distribution's version from its *.dist-info or *.egg-info entry `name`
 * in `dir`, when it is one of `prefixes`.
 */
static bool dist_version(const char *dir, const char *name, const char *const *prefixes,
			 const char *suffix, struct envkey_fact *f)
{
	char val[256], path[PATH_MAX + 64];
	struct stat st;

	for (; *prefixes; prefixes++) {
		if (!name_version(name, *prefixes, suffix, val, sizeof(val)))
			continue;
		/* egg-info can be a file that is PKG-INFO itself */
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (!stat(path, &st) && S_ISDIR(st.st_mode))
			snprintf(path, sizeof(path), "%s/%s/%s", dir, name,
				 !strcmp(suffix, ".dist-info") ? "METADATA" : "PKG-INFO");
		if (metadata_version(path, f->value, sizeof(f->value))) {
			snprintf(f->source, sizeof(f->source), "%s", path);
		} else {
			snprintf(f->value, sizeof(f->value), "%s", val);
			snprintf(f->source, sizeof(f->source), "%s/%s", dir, name);
		}
		return true;
	}
	return false;
}

static const char *const torch_names[] = { "torch-", NULL };
static const char *const triton_names[] = { "triton-", "pytorch_triton-", NULL };

/* torch in one directory: version.py first (it also has cuda), then metadata. */
static void scan_torch(struct search *s, const char *dir, char **names, size_t n)
{
	struct envkey_pyver *o = s->out;
	char path[PATH_MAX + 64], *text;

	snprintf(path, sizeof(path), "%s/torch/version.py", dir);
	if ((text = slurp(path))) {
		if (py_assign(text, "__version__", o->torch.value, sizeof(o->torch.value))) {
			snprintf(o->torch.source, sizeof(o->torch.source), "%s", path);
			if (py_assign(text, "cuda", o->torch_cuda.value, sizeof(o->torch_cuda.value)))
				snprintf(o->torch_cuda.source, sizeof(o->torch_cuda.source), "%s", path);
			else
				o->torch_cuda.value[0] = '\0';
			s->found_torch = true;
		}
		free(text);
		if (s->found_torch)
			return;
	}
	for (size_t i = 0; i < n && !s->found_torch; i++)
		s->found_torch = dist_version(dir, names[i], torch_names, ".dist-info", &o->torch);
	for (size_t i = 0; i < n && !s->found_torch; i++)
		s->found_torch = dist_version(dir, names[i], torch_names, ".egg-info", &o->torch);
}

/* triton in one directory: metadata first, then triton/__init__.py. */
static void scan_triton(struct search *s, const char *dir, char **names, size_t n)
{
	struct envkey_pyver *o = s->out;
	char path[PATH_MAX + 64], *text;

	for (size_t i = 0; i < n && !s->found_triton; i++)
		s->found_triton = dist_version(dir, names[i], triton_names, ".dist-info", &o->triton);
	for (size_t i = 0; i < n && !s->found_triton; i++)
		s->found_triton = dist_version(dir, names[i], triton_names, ".egg-info", &o->triton);
	if (s->found_triton)
		return;
	snprintf(path, sizeof(path), "%s/triton/__init__.py", dir);
	if ((text = slurp(path))) {
		if (py_assign(text, "__version__", o->triton.value, sizeof(o->triton.value))) {
			snprintf(o->triton.source, sizeof(o->triton.source), "%s", path);
			s->found_triton = true;
		}
		free(text);
	}
}

static int cmp_names(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Search one directory (once, whatever path leads to it). */
static void scan_dir(struct search *s, const char *dir)
{
	char *names[64];
	size_t n = 0;
	struct dirent *de;
	struct stat st;
	int err;
	DIR *d;

	if (done(s) || !*dir || stat(dir, &st) || !S_ISDIR(st.st_mode))
		return;
	for (size_t i = 0; i < s->n; i++)
		if (s->dev[i] == st.st_dev && s->ino[i] == st.st_ino)
			return;
	if (s->n == MAX_DIRS)
		return;
	s->dev[s->n] = st.st_dev;
	s->ino[s->n++] = st.st_ino;
	if (!(d = opendir(dir)))
		return;
	/* Only the entries that can matter, sorted for a stable choice. */
	/* A read error ends the search of this dir: what was read still counts. */
	while (n < sizeof(names) / sizeof(names[0]) && (de = b10t_readdir(d, &err))) {
		const char *e = de->d_name;

		if ((!strncmp(e, "torch-", 6) || !strncmp(e, "triton-", 7) ||
		     !strncmp(e, "pytorch_triton-", 15)) && (names[n] = strdup(e)))
			n++;
	}
	if (err)
		b10t_debug(s->ctx, "envkey: reading %s: %s", dir, strerror(err));
	closedir(d);
	qsort(names, n, sizeof(names[0]), cmp_names);
	b10t_debug(s->ctx, "envkey: searching %s", dir);
	if (s->want_torch && !s->found_torch)
		scan_torch(s, dir, names, n);
	if (s->want_triton && !s->found_triton)
		scan_triton(s, dir, names, n);
	while (n)
		free(names[--n]);
}

/* The minor version in ".../python3.11/...", for newest-first order. */
static long py_minor(const char *path)
{
	const char *p = strstr(path, "python3.");

	return p ? strtol(p + 8, NULL, 10) : -1;
}

static int cmp_newest(const void *a, const void *b)
{
	long x = py_minor(*(char *const *)a), y = py_minor(*(char *const *)b);

	return x < y ? 1 : x > y ? -1 : strcmp(*(char *const *)a, *(char *const *)b);
}

/*
 * Search every directory matching `prefix` + `pattern`, newest Python
 * first.  Returns how many there were.
 */
static size_t scan_glob(struct search *s, const char *prefix, const char *pattern)
{
	char pat[PATH_MAX];
	size_t n;
	glob_t g;

	if (done(s) || !prefix)
		return 0;
	snprintf(pat, sizeof(pat), "%.3900s%s", prefix, pattern);
	if (glob(pat, GLOB_NOSORT | GLOB_ONLYDIR, NULL, &g))
		return 0;
	qsort(g.gl_pathv, g.gl_pathc, sizeof(char *), cmp_newest);
	for (size_t i = 0; i < g.gl_pathc; i++)
		scan_dir(s, g.gl_pathv[i]);
	n = g.gl_pathc;
	globfree(&g);
	return n;
}

/* An installation prefix: lib64 is where Fedora puts compiled packages. */
static size_t scan_prefix(struct search *s, const char *prefix)
{
	if (!prefix || !*prefix)
		return 0;	/* VIRTUAL_ENV= is no venv, not the root */
	return scan_glob(s, prefix, "/lib/python3.*/site-packages") +
	       scan_glob(s, prefix, "/lib/python3.*/dist-packages") +
	       scan_glob(s, prefix, "/lib64/python3.*/site-packages");
}

/* The value of `key = value` in a pyvenv.cfg. */
static bool cfg_value(const char *text, const char *key, char *val, size_t size)
{
	size_t kl = strlen(key);

	for (const char *l = text; l && *l; l = strchr(l, '\n'), l = l ? l + 1 : NULL) {
		const char *p = l + strspn(l, " \t");

		if (strncmp(p, key, kl))
			continue;
		p += kl;
		p += strspn(p, " \t");
		if (*p != '=')
			continue;
		snprintf(val, size, "%.*s", (int)strcspn(p + 1, "\r\n"), p + 1);
		return clean_value(val);
	}
	return false;
}

/*
 * A venv: `dir` holds pyvenv.cfg.  Its own site-packages, then (when it
 * includes them) those of the Python it was made from.
 */
static bool scan_venv(struct search *s, const char *dir, size_t *located)
{
	char path[PATH_MAX + 16], val[PATH_MAX], *text;

	snprintf(path, sizeof(path), "%s/pyvenv.cfg", dir);
	if (!(text = slurp(path)))
		return false;
	*located += scan_prefix(s, dir);
	if (cfg_value(text, "include-system-site-packages", val, sizeof(val)) &&
	    !strcasecmp(val, "true") && cfg_value(text, "home", val, sizeof(val))) {
		strncat(val, "/..", sizeof(val) - strlen(val) - 1);
		*located += scan_prefix(s, val);
	}
	free(text);
	return true;
}

/* The directory above `dir`, without needing it to exist. */
static void parent(const char *dir, char *out, size_t size)
{
	const char *slash = strrchr(dir, '/');

	if (slash && slash != dir && slash[1] && strcmp(slash, "/..") && strcmp(slash, "/."))
		snprintf(out, size, "%.*s", (int)(slash - dir), dir);
	else
		snprintf(out, size, "%.3900s/..", dir);
}

/* The first executable `python3` on PATH after `after` (a PATH entry), or "". */
static void find_on_path(const char *after, char *exe, size_t size, char *dir, size_t dsize)
{
	const char *path = getenv("PATH"), *p, *e;
	bool skipping = after != NULL;

	exe[0] = '\0';
	for (p = path; p && *p; p = *e ? e + 1 : e) {
		struct stat st;

		e = p + strcspn(p, ":");
		snprintf(dir, dsize, "%.*s", (int)(e - p), p);
		if (skipping) {
			skipping = strcmp(dir, after) != 0;
			continue;
		}
		if (!dir[0])
			continue;
		snprintf(exe, size, "%.3900s/python3", dir);
		if (!stat(exe, &st) && S_ISREG(st.st_mode) && !access(exe, X_OK))
			return;
		exe[0] = '\0';
	}
}

/* pyenv's selected version: PYENV_VERSION, .python-version up from cwd, the global file. */
static bool pyenv_version(const char *root, char *v, size_t size)
{
	char path[PATH_MAX + 32], cwd[PATH_MAX], *text = NULL;
	const char *env = getenv("PYENV_VERSION");

	if (env && *env) {
		snprintf(v, size, "%.*s", (int)strcspn(env, ":"), env);
		return strcmp(v, "system") != 0;
	}
	if (getcwd(cwd, sizeof(cwd))) {
		for (;;) {
			char *slash;

			snprintf(path, sizeof(path), "%s/.python-version", cwd);
			if ((text = slurp(path)) || !(slash = strrchr(cwd, '/')) || slash == cwd)
				break;
			*slash = '\0';
		}
	}
	if (!text) {
		snprintf(path, sizeof(path), "%s/version", root);
		text = slurp(path);
	}
	if (!text)
		return false;
	snprintf(v, size, "%.*s", (int)strcspn(text + strspn(text, " \t\r\n"), " \t\r\n:"),
		 text + strspn(text, " \t\r\n"));
	free(text);
	return v[0] && strcmp(v, "system") && !strchr(v, '/');
}

/*
 * The first python3 on PATH: its prefix's site-packages.  pyenv shims are
 * followed to the version they select; a venv is known by its pyvenv.cfg
 * (not by resolving the symlink to the base interpreter).  `exe` gets the
 * interpreter, for running it when nothing answers.  Returns how many
 * package directories of it were found.
 */
static size_t scan_path_python(struct search *s, char *exe, size_t size)
{
	size_t located = 0;
	char dir[PATH_MAX], real[PATH_MAX], prefix[PATH_MAX + 16];
	const char *after = NULL;
	char after_buf[PATH_MAX];

	for (int tries = 0; tries < 4; tries++) {
		find_on_path(after, exe, size, dir, sizeof(dir));
		if (!exe[0])
			return 0;
		size_t dl = strlen(dir);

		if (dl > 6 && !strcmp(dir + dl - 6, "/shims")) {
			const char *root = getenv("PYENV_ROOT");
			char v[256], shims_root[PATH_MAX];

			snprintf(shims_root, sizeof(shims_root), "%.*s", (int)(dl - 6), dir);
			if (!root || !*root)
				root = shims_root;
			if (!pyenv_version(root, v, sizeof(v))) {
				/* "system": pyenv runs the next python3 on PATH */
				snprintf(after_buf, sizeof(after_buf), "%s", dir);
				after = after_buf;
				continue;
			}
			snprintf(prefix, sizeof(prefix), "%.3500s/versions/%.255s", root, v);
			snprintf(exe, size, "%.3900s/bin/python3", prefix);
			snprintf(dir, sizeof(dir), "%.3900s/bin", prefix);
		}
		break;
	}
	if (scan_venv(s, dir, &located))
		return located;
	parent(dir, prefix, sizeof(prefix));
	if (scan_venv(s, prefix, &located))
		return located;
	/* Python finds its prefix from the real executable */
	if (realpath(exe, real) && strrchr(real, '/')) {
		*strrchr(real, '/') = '\0';
		parent(real, prefix, sizeof(prefix));
	}
	return scan_prefix(s, prefix);
}

/* Milliseconds left before `deadline` (b10t_now() seconds), never negative. */
static int ms_left(double deadline)
{
	double left = (deadline - b10t_now()) * 1000;

	return left > 0 ? (int)left + 1 : 0;
}

/*
 * Wait for the child to exit until the deadline, without reaping it, so
 * that its pid (and so its process group) cannot be reused while we kill
 * the group.  True when it exited in time.
 */
static bool exited_by(pid_t pid, double deadline)
{
	for (;;) {
		siginfo_t si = { 0 };

		if (waitid(P_PID, (id_t)pid, &si, WEXITED | WNOHANG | WNOWAIT) < 0)
			return errno != EINTR ? true : false;
		if (si.si_pid == pid)
			return true;
		if (!ms_left(deadline))
			return false;
		poll(NULL, 0, 5);
	}
}

/*
 * Last resort: ask the interpreter for sys.path (torch is not imported).
 * It runs in its own process group under one deadline for reading and
 * exiting alike: a python3 that never answers, closes stdout and sleeps,
 * floods the pipe or leaves a grandchild holding it is killed (the whole
 * group, with SIGKILL) and reaped, and the search goes on without it.
 */
static void scan_sys_path(struct search *s, const char *exe)
{
	char *argv[] = { (char *)exe, "-c", "import sys; print('\\n'.join(sys.path))", NULL };
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t attr;
	char buf[1 << 16];
	const char *why = NULL;
	size_t len = 0;
	int fds[2], status, err;
	pid_t pid;
	double start = b10t_now(), deadline = start + PYTHON_TIMEOUT_MS / 1000.0;

	if (pipe2(fds, O_CLOEXEC))
		return;
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_addopen(&fa, 0, "/dev/null", O_RDONLY, 0);
	posix_spawn_file_actions_adddup2(&fa, fds[1], 1);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&attr);
	posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETPGROUP);
	posix_spawnattr_setpgroup(&attr, 0);
	err = posix_spawn(&pid, exe, &fa, &attr, argv, environ);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&attr);
	close(fds[1]);
	if (err) {
		close(fds[0]);
		return;
	}
	for (;;) {
		struct pollfd p = { .fd = fds[0], .events = POLLIN };
		int left = ms_left(deadline), n;
		ssize_t r;

		if (!left || (n = poll(&p, 1, left)) == 0) {
			why = "did not answer";
			break;
		}
		if (n < 0) {
			if (errno == EINTR && !(s->ctx->cancel && *s->ctx->cancel))
				continue;
			if (errno == EINTR) {
				why = "was interrupted";	/* by the user's signal */
				break;
			}
			why = "could not be read";
			break;
		}
		r = read(fds[0], buf + len, sizeof(buf) - 1 - len);
		if (r < 0 && (errno == EINTR || errno == EAGAIN))
			continue;
		if (r < 0) {
			why = "could not be read";
			break;
		}
		if (r == 0)
			break;	/* EOF: now it must exit */
		len += (size_t)r;
		if (len == sizeof(buf) - 1) {
			why = "answered more than 64 KiB";
			break;
		}
	}
	close(fds[0]);
	if (!why && !exited_by(pid, deadline))
		why = "did not exit";
	/* The group too: a grandchild would otherwise keep running.  The
	 * child is not reaped yet, so its pid still names this group. */
	kill(-pid, SIGKILL);
	if (why)
		kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (why) {
		b10t_warn(s->ctx, "envkey: %s %s (deadline %d ms): killed; searching on without it",
			  exe, why, PYTHON_TIMEOUT_MS);
		return;
	}
	buf[len] = '\0';
	b10t_debug(s->ctx, "envkey: ran %s for sys.path in %.1f ms", exe,
		   (b10t_now() - start) * 1000);
	for (char *save, *line = strtok_r(buf, "\n", &save); line; line = strtok_r(NULL, "\n", &save))
		if (line[0] == '/')
			scan_dir(s, line);
}

void envkey_pyver_find(struct b10t_ctx *ctx, bool want_torch, bool want_triton,
		     struct envkey_pyver *out)
{
	struct search *s = calloc(1, sizeof(*s));
	const char *pp = getenv("PYTHONPATH"), *home = getenv("HOME"), *root;
	char exe[PATH_MAX], buf[PATH_MAX];
	double start = b10t_now();
	size_t located = 0;

	memset(out, 0, sizeof(*out));
	if (!s || (!want_torch && !want_triton)) {
		free(s);
		return;
	}
	s->ctx = ctx;
	s->out = out;
	s->want_torch = want_torch;
	s->want_triton = want_triton;
	root = getenv("B10T_PYTHON_ROOT");
	if (!root)
		root = "";

	for (const char *p = pp, *e; p && *p; p = *e ? e + 1 : e) {
		e = p + strcspn(p, ":");
		snprintf(buf, sizeof(buf), "%.*s", (int)(e - p), p);
		scan_dir(s, buf);
	}
	scan_prefix(s, getenv("VIRTUAL_ENV"));
	scan_prefix(s, getenv("CONDA_PREFIX"));
	exe[0] = '\0';
	if (!done(s))
		located = scan_path_python(s, exe, sizeof(exe));
	scan_glob(s, root, "/usr/local/lib/python3.*/site-packages");
	scan_glob(s, root, "/usr/local/lib/python3.*/dist-packages");
	scan_glob(s, root, "/usr/local/lib64/python3.*/site-packages");
	snprintf(buf, sizeof(buf), "%s/usr/lib/python3/dist-packages", root);
	scan_dir(s, buf);
	scan_glob(s, root, "/usr/lib/python3.*/site-packages");
	scan_glob(s, root, "/usr/lib64/python3.*/site-packages");
	if (home && *home)
		scan_glob(s, home, "/.local/lib/python3.*/site-packages");
	/*
	 * python3 costs tens of milliseconds: ask it only when its own
	 * package directories could not be located above.  Where they were,
	 * a package not found there is not installed for it.
	 */
	if (!done(s) && exe[0] && !located)
		scan_sys_path(s, exe);
	b10t_debug(ctx, "envkey: searched %zu Python dirs in %.1f ms", s->n,
		   (b10t_now() - start) * 1000);
	free(s);
}
