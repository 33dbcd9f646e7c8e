/* SPDX-License-Identifier: MIT */
/*
 * b10t._native: the verbs of libb10t for Python, one function each, every
 * result a dict with the keys of the CLI's --json object (docs/b10t-*.1.scd
 * JSON OUTPUT).  Limited API (abi3, 3.9): one build serves every CPython.
 *
 * Every function takes `settings`, a dict {ENV_NAME: str} applied after the
 * environment with b10t_config_set(), as the CLI's --cache-dir etc. are.  A
 * bad setting raises ValueError; everything else (no archive, a corrupt one,
 * a full disk) is a result with "status" and "error", as the CLI's exit
 * status is.  The GIL is released while the library works; its warnings
 * are collected and returned under "_log" for the Python side to log.
 */
#define Py_LIMITED_API 0x03090000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "b10t-int.h"

/* ---- the context: collected log lines -------------------------------- */

#define LOG_MAX 64

struct call {
	struct b10t_ctx ctx;
	struct b10t_config cfg;
	size_t n_log;
	struct {
		enum b10t_log_level level;
		char msg[512];
	} log[LOG_MAX];
};

/* Runs without the GIL: only copies into the call. */
static void collect_log(void *arg, enum b10t_log_level level, const char *msg)
{
	struct call *c = arg;

	if (c->n_log < LOG_MAX) {
		c->log[c->n_log].level = level;
		snprintf(c->log[c->n_log].msg, sizeof(c->log[0].msg), "%s", msg);
		c->n_log++;
	}
}

/* A fresh call: heap-allocated (the config holds PATH_MAX strings). */
static struct call *call_new(PyObject *settings)
{
	struct call *c = calloc(1, sizeof(*c));
	PyObject *k, *v;
	Py_ssize_t pos = 0;

	if (!c)
		return (struct call *)PyErr_NoMemory();
	b10t_ctx_init(&c->ctx);
	c->ctx.log = collect_log;
	c->ctx.log_arg = c;
	c->ctx.log_level = B10T_LOG_WARN;
	/* A refused variable raises, whichever verb this is (the CLI lets a
	 * verb run past the ones it does not read: b10t_config_check). */
	if (b10t_config_init(&c->ctx, &c->cfg) < 0 ||
	    b10t_config_check(&c->ctx, &c->cfg, B10T_USES_ALL & ~B10T_USES_NONE) < 0) {
		PyErr_SetString(PyExc_ValueError, b10t_ctx_error(&c->ctx));
		free(c);
		return NULL;
	}
	if (settings && settings != Py_None) {
		if (!PyDict_Check(settings)) {
			PyErr_SetString(PyExc_TypeError, "settings must be a dict");
			free(c);
			return NULL;
		}
		while (PyDict_Next(settings, &pos, &k, &v)) {
			PyObject *kb = NULL, *vb = NULL;
			int r = -1;

			/* Paths go through the filesystem encoding, like os.fsencode(). */
			if (PyUnicode_Check(k) && PyUnicode_FSConverter(k, &kb) &&
			    PyUnicode_FSConverter(v, &vb)) {
				const char *ks = PyBytes_AsString(kb), *vs = PyBytes_AsString(vb);

				if (ks && vs) {
					r = b10t_config_set(&c->ctx, &c->cfg, ks, vs, ks);
					if (r < 0)
						PyErr_SetString(PyExc_ValueError, b10t_ctx_error(&c->ctx));
				}
			} else if (!PyErr_Occurred()) {
				PyErr_SetString(PyExc_TypeError, "settings: str keys and values");
			}
			Py_XDECREF(kb);
			Py_XDECREF(vb);
			if (r < 0) {
				free(c);
				return NULL;
			}
		}
	}
	b10t_clear_error(&c->ctx);
	return c;
}

/* ---- dict building: each setter steals nothing, returns -1 on error -- */

static int put(PyObject *d, const char *name, PyObject *v)
{
	int r;

	if (!v)
		return -1;
	r = PyDict_SetItemString(d, name, v);
	Py_DECREF(v);
	return r;
}

/* Strings from the library are bytes of the filesystem: decode as os.fsdecode(). */
static int put_str(PyObject *d, const char *name, const char *s)
{
	return put(d, name, PyUnicode_DecodeFSDefault(s));
}

static int put_u64(PyObject *d, const char *name, uint64_t v)
{
	return put(d, name, PyLong_FromUnsignedLongLong(v));
}

static int put_f(PyObject *d, const char *name, double v)
{
	return put(d, name, PyFloat_FromDouble(v));
}

static int put_bool(PyObject *d, const char *name, bool v)
{
	return put(d, name, PyBool_FromLong(v));
}

static int put_none(PyObject *d, const char *name)
{
	Py_INCREF(Py_None);
	return put(d, name, Py_None);
}

static double mb(uint64_t bytes)
{
	return (double)bytes / (1024.0 * 1024.0);
}

/* The result dict finished: "_log" added, the call freed; NULL on error. */
static PyObject *finish(struct call *c, PyObject *d, int bad)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	PyObject *log = NULL;

	if (!bad && d) {
		log = PyList_New(0);
		for (size_t i = 0; log && i < c->n_log; i++) {
			/* Messages hold paths, any bytes (and may be cut inside a
			 * character): decoded as the filesystem's, never failing. */
			PyObject *m = PyUnicode_DecodeFSDefault(c->log[i].msg);
			PyObject *t = m ? Py_BuildValue("(sN)", names[c->log[i].level], m)
					: NULL;

			if (!t || PyList_Append(log, t) < 0)
				bad = 1;
			Py_XDECREF(t);
		}
		if (!log || put(d, "_log", log) < 0)
			bad = 1;
		else
			log = NULL;
	}
	Py_XDECREF(log);
	free(c);
	if (bad) {
		Py_XDECREF(d);
		if (!PyErr_Occurred())
			PyErr_NoMemory();
		return NULL;
	}
	return d;
}

/* {"status": "ERROR", "error": msg} plus what d already holds. */
static int put_error(struct call *c, PyObject *d)
{
	const char *msg = b10t_ctx_error(&c->ctx);

	return put_str(d, "status", "ERROR") | put_str(d, "error", msg[0] ? msg : "failed");
}

static int envkey_fields(PyObject *d, const struct b10t_envkey *key, bool sources)
{
	PyObject *comp = PyDict_New(), *src = sources ? PyDict_New() : NULL;
	int bad = 0;

	if (!comp || (sources && !src)) {
		Py_XDECREF(comp);
		Py_XDECREF(src);
		return -1;
	}
	for (size_t i = 0; i < key->n; i++) {
		bad |= put_str(comp, key->comp[i].name, key->comp[i].value);
		if (src)
			bad |= put_str(src, key->comp[i].name, key->comp[i].source);
	}
	bad |= put(d, "components", comp);
	if (src)
		bad |= put(d, "sources", src);
	return bad;
}

/* ---- the verbs ---------------------------------------------------------- */

static PyObject *py_envkey(PyObject *self, PyObject *args)
{
	PyObject *settings = Py_None, *d;
	struct b10t_envkey key;
	struct call *c;
	int r, bad = 0;

	if (!PyArg_ParseTuple(args, "|O", &settings) || !(c = call_new(settings)))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = b10t_envkey_compute(&c->ctx, &c->cfg, &key);
	Py_END_ALLOW_THREADS
	if (!(d = PyDict_New()))
		return finish(c, NULL, 1);
	if (r < 0) {
		bad |= put_error(c, d);
	} else {
		bad |= put_str(d, "status", "SUCCESS");
		bad |= put_str(d, "environment_key", key.key);
		bad |= put_str(d, "key_scheme", b10t_scheme_name(key.scheme));
		bad |= put_bool(d, "gpu", key.gpu);
		bad |= envkey_fields(d, &key, true);
	}
	return finish(c, d, bad);
}

/* load and save: one body, cmd/result.c's fields. */
static PyObject *transfer(PyObject *args,
			  int (*fn)(struct b10t_ctx *, const struct b10t_config *,
				    const struct b10t_envkey *, struct b10t_result *))
{
	PyObject *settings = Py_None, *d;
	struct b10t_envkey key;
	struct b10t_result res;
	struct call *c;
	int r, bad = 0;

	if (!PyArg_ParseTuple(args, "|O", &settings) || !(c = call_new(settings)))
		return NULL;
	memset(&res, 0, sizeof(res));
	res.status = B10T_ERROR;
	Py_BEGIN_ALLOW_THREADS
	r = b10t_envkey_compute(&c->ctx, &c->cfg, &key);
	if (r == 0) {
		r = fn(&c->ctx, &c->cfg, &key, &res);
		/* the record for b10t stats, as the command leaves one */
		b10t_stats_note(&c->ctx, &c->cfg, fn == b10t_load ? "load" : "save", key.key,
				&res, r);
	}
	Py_END_ALLOW_THREADS
	if (!(d = PyDict_New()))
		return finish(c, NULL, 1);
	if (r < 0 || res.status == B10T_ERROR)
		bad |= put_error(c, d);
	else
		bad |= put_str(d, "status", b10t_status_name(res.status));
	bad |= put_str(d, "environment_key", res.environment_key);
	bad |= res.archive[0] ? put_str(d, "archive", res.archive) : put_none(d, "archive");
	bad |= put_u64(d, "files", res.files);
	bad |= put_u64(d, "dirs", res.dirs);
	bad |= put_u64(d, "bytes", res.bytes);
	bad |= put_u64(d, "archive_bytes", res.archive_bytes);
	bad |= put_u64(d, "skipped_entries", res.skipped);
	bad |= put_f(d, "elapsed_s", (double)(int64_t)(res.elapsed_s * 1000) / 1000);
	if (res.why)
		bad |= put_str(d, "reason", res.why);
	if (res.reason[0])
		bad |= put_str(d, "message", res.reason);
	if (res.saved_cache_dir[0])
		bad |= put_str(d, "saved_cache_dir", res.saved_cache_dir);
	return finish(c, d, bad);
}

static PyObject *py_load(PyObject *self, PyObject *args)
{
	return transfer(args, b10t_load);
}

static PyObject *py_save(PyObject *self, PyObject *args)
{
	return transfer(args, b10t_save);
}

static PyObject *py_clear(PyObject *self, PyObject *args)
{
	PyObject *settings = Py_None, *d;
	struct b10t_result res;
	struct call *c;
	int r, bad = 0;

	if (!PyArg_ParseTuple(args, "|O", &settings) || !(c = call_new(settings)))
		return NULL;
	memset(&res, 0, sizeof(res));
	Py_BEGIN_ALLOW_THREADS
	r = b10t_clear(&c->ctx, &c->cfg, &res);
	Py_END_ALLOW_THREADS
	if (!(d = PyDict_New()))
		return finish(c, NULL, 1);
	if (r < 0)
		bad |= put_error(c, d);
	else
		bad |= put_str(d, "status", b10t_status_name(res.status));
	bad |= put_str(d, "cache_dir", c->cfg.cache_dir);
	bad |= put_u64(d, "files", res.files);
	bad |= put_u64(d, "dirs", res.dirs);
	bad |= put_u64(d, "bytes", res.bytes);
	if (res.reason[0])
		bad |= put_str(d, "message", res.reason);
	return finish(c, d, bad);
}

/* cmd/info.c's gather() and info_json(), the same keys in the same order. */
static PyObject *py_info(PyObject *self, PyObject *args)
{
	PyObject *settings = Py_None, *d;
	struct b10t_envkey key;
	struct b10t_archive_info ar;
	struct b10t_manifest *m = NULL;
	char local_error[1024] = "", store_error[1024] = "", manifest_error[1024] = "";
	uint64_t lbytes = 0, lfiles = 0, ldirs = 0;
	bool enabled = false, exists = false, has_m = false;
	struct call *c;
	int r, bad = 0;

	if (!PyArg_ParseTuple(args, "|O", &settings) || !(c = call_new(settings)))
		return NULL;
	if (!(m = calloc(1, sizeof(*m))))
		return finish(c, NULL, 1);
	Py_BEGIN_ALLOW_THREADS
	r = b10t_envkey_compute(&c->ctx, &c->cfg, &key);
	if (r == 0) {
		if (b10t_tree_size(&c->ctx, c->cfg.cache_dir, &lbytes, &lfiles, &ldirs) < 0)
			snprintf(local_error, sizeof(local_error), "%s", b10t_ctx_error(&c->ctx));
		enabled = b10t_store_enabled(&c->cfg);
		if (enabled && b10t_store_find(&c->ctx, &c->cfg, key.key, &ar) == 0) {
			char path[PATH_MAX + NAME_MAX + 2], *json = NULL;

			exists = true;
			snprintf(path, sizeof(path), "%s/%s", c->cfg.store_dir, ar.filename);
			if (b10t_read_manifest(&c->ctx, path, ar.format, &json) == 0) {
				if (b10t_manifest_parse(&c->ctx, json, strlen(json), m) == 0)
					has_m = true;
				else
					snprintf(manifest_error, sizeof(manifest_error), "%s",
						 b10t_ctx_error(&c->ctx));
			}
			free(json);
		} else if (enabled && c->ctx.err_code != -ENOENT && c->ctx.err_code != -ENOTDIR) {
			snprintf(store_error, sizeof(store_error), "%s", b10t_ctx_error(&c->ctx));
		}
	}
	Py_END_ALLOW_THREADS
	if (!(d = PyDict_New())) {
		free(m);
		return finish(c, NULL, 1);
	}
	if (r < 0) {
		free(m);
		bad |= put_error(c, d);
		return finish(c, d, bad);
	}
	bad |= put_str(d, "status", "SUCCESS");
	bad |= put_str(d, "environment_key", key.key);
	bad |= put_bool(d, "local_cache_exists", lfiles + ldirs > 0);
	bad |= put_bool(d, "b10fs_enabled", enabled);
	bad |= put_bool(d, "b10fs_cache_exists", exists);
	bad |= put_f(d, "local_cache_size_mb", mb(lbytes));
	bad |= put_f(d, "b10fs_cache_size_mb", exists ? mb(ar.bytes) : 0.0);
	bad |= put_u64(d, "local_cache_bytes", lbytes);
	bad |= put_u64(d, "local_cache_files", lfiles);
	bad |= put_u64(d, "local_cache_dirs", ldirs);
	bad |= put_u64(d, "b10fs_cache_bytes", exists ? ar.bytes : 0);
	if (exists) {
		bad |= put_str(d, "b10fs_cache_filename", ar.filename);
		bad |= put_str(d, "b10fs_cache_format", b10t_format_name(ar.format));
		bad |= put_f(d, "b10fs_cache_created_time", (double)ar.mtime);
		if (has_m) {
			if (m->has_files)
				bad |= put_u64(d, "b10fs_cache_files", m->files);
			if (m->has_bytes)
				bad |= put_u64(d, "b10fs_cache_uncompressed_bytes", m->bytes);
			if (m->host[0])
				bad |= put_str(d, "b10fs_cache_host", m->host);
			if (m->b10t_version[0])
				bad |= put_str(d, "b10fs_cache_b10t_version", m->b10t_version);
		} else if (manifest_error[0]) {
			bad |= put_str(d, "b10fs_cache_manifest_error", manifest_error);
		}
	} else {
		bad |= put_none(d, "b10fs_cache_filename");
	}
	free(m);
	bad |= put_str(d, "cache_dir", c->cfg.cache_dir);
	bad |= put_str(d, "store_dir", c->cfg.store_dir);
	bad |= put_str(d, "key_scheme", b10t_scheme_name(key.scheme));
	bad |= envkey_fields(d, &key, false);
	if (local_error[0])
		bad |= put_str(d, "local_cache_error", local_error);
	if (store_error[0])
		bad |= put_str(d, "b10fs_error", store_error);
	return finish(c, d, bad);
}

/* cmd/list.c's list_json(); manifest=True reads each archive's manifest. */
static PyObject *py_list(PyObject *self, PyObject *args)
{
	PyObject *settings = Py_None, *d, *arr;
	struct b10t_envkey key;
	struct b10t_archive_info *v = NULL;
	struct b10t_manifest *ms = NULL;
	bool *has_m = NULL, enabled = false, current = false;
	size_t n = 0;
	int manifest = 0, r, listed = 0, bad = 0;
	struct call *c;

	if (!PyArg_ParseTuple(args, "|Op", &settings, &manifest) || !(c = call_new(settings)))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	r = b10t_envkey_compute(&c->ctx, &c->cfg, &key);
	if (r == 0) {
		enabled = b10t_store_enabled(&c->cfg);
		if (enabled) {
			listed = b10t_store_list(&c->ctx, &c->cfg, &v, &n);
			if (listed == -ENOENT)
				listed = 0;	/* enabled but not there: an empty list */
		}
	}
	if (r == 0 && listed >= 0 && manifest && n) {
		ms = calloc(n, sizeof(*ms));
		has_m = calloc(n, sizeof(*has_m));
		for (size_t i = 0; ms && has_m && i < n; i++) {
			char path[PATH_MAX + NAME_MAX + 2], *json = NULL;

			snprintf(path, sizeof(path), "%s/%s", c->cfg.store_dir, v[i].filename);
			if (b10t_read_manifest(&c->ctx, path, v[i].format, &json) == 0)
				has_m[i] = b10t_manifest_parse(&c->ctx, json, strlen(json), &ms[i]) == 0;
			free(json);
		}
	}
	Py_END_ALLOW_THREADS
	if (!(d = PyDict_New()))
		goto out;
	if (r < 0) {
		bad |= put_error(c, d);
		goto out;
	}
	if (listed < 0) {
		bad |= put_error(c, d);
		bad |= put_str(d, "current_environment", key.key);
		bad |= put_bool(d, "b10fs_enabled", true);
		goto out;
	}
	bad |= put_str(d, "status", "SUCCESS");
	if (!(arr = PyList_New(0))) {
		bad = 1;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		PyObject *e = PyDict_New();
		bool is_cur = !strcmp(v[i].key, key.key);

		if (!e) {
			bad = 1;
			break;
		}
		current |= is_cur;
		bad |= put_str(e, "filename", v[i].filename);
		bad |= put_str(e, "environment_key", v[i].key);
		bad |= put_f(e, "size_mb", mb(v[i].bytes));
		bad |= put_bool(e, "is_current_environment", is_cur);
		bad |= put_f(e, "created_time", (double)v[i].mtime);
		bad |= put_u64(e, "archive_bytes", v[i].bytes);
		bad |= put_str(e, "format", b10t_format_name(v[i].format));
		bad |= put_f(e, "last_used", (double)v[i].last_used);
		if (has_m && has_m[i]) {
			PyObject *comp = PyDict_New();

			if (ms[i].has_files)
				bad |= put_u64(e, "files", ms[i].files);
			if (ms[i].has_dirs)
				bad |= put_u64(e, "dirs", ms[i].dirs);
			if (ms[i].has_bytes)
				bad |= put_u64(e, "bytes", ms[i].bytes);
			for (size_t k = 0; comp && k < ms[i].n; k++)
				bad |= put_str(comp, ms[i].comp[k].name, ms[i].comp[k].value);
			bad |= put(e, "components", comp);
		}
		if (PyList_Append(arr, e) < 0)
			bad = 1;
		Py_DECREF(e);
	}
	bad |= put(d, "caches", arr);
	bad |= put_str(d, "current_environment", key.key);
	bad |= put_u64(d, "total_caches", n);
	bad |= put_bool(d, "current_cache_exists", current);
	bad |= put_bool(d, "b10fs_enabled", enabled);
	bad |= put_str(d, "store_dir", c->cfg.store_dir);
	if (!enabled)
		bad |= put_str(d, "error", "b10fs is not enabled");
out:
	free(v);
	free(ms);
	free(has_m);
	return finish(c, d, bad || !d);
}

/*
 * A duration or size: None (unset), an int >= 0, or a string read as gc's
 * options read it (b10t_value_size/_duration: the same units, ranges and
 * messages as `b10t gc --max-size 20GB --max-age 1.5d`).
 */
static int opt_u64(struct call *c, PyObject *o, const char *what, bool size, bool *set,
		   uint64_t *out)
{
	*set = false;
	if (!o || o == Py_None)
		return 0;
	if (PyLong_Check(o)) {
		unsigned long long v = PyLong_AsUnsignedLongLong(o);

		if (PyErr_Occurred()) {
			PyErr_Clear();
			PyErr_Format(PyExc_ValueError, "%s: not a number >= 0", what);
			return -1;
		}
		*out = v;
	} else if (PyUnicode_Check(o)) {
		/* PyUnicode_AsUTF8AndSize is limited API only from 3.10 */
		PyObject *b = PyUnicode_AsUTF8String(o);
		const char *s = b ? PyBytes_AsString(b) : NULL;
		int r = 0;

		if (s)
			r = size ? b10t_value_size(&c->ctx, what, s, 1, 0, UINT64_MAX, out) :
				   b10t_value_duration(&c->ctx, what, s, 0, UINT64_MAX, 1000, out);
		Py_XDECREF(b);
		if (!s)
			return -1;
		if (r < 0) {
			PyErr_SetString(PyExc_ValueError, b10t_ctx_error(&c->ctx));
			b10t_clear_error(&c->ctx);
			return -1;
		}
	} else {
		PyErr_Format(PyExc_TypeError, "%s: int or str", what);
		return -1;
	}
	*set = true;
	return 0;
}

/* cmd/gc.c: the same options, the same keys. */
static PyObject *py_gc(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "settings", "stale", "max_size", "max_age", "keep",
				  "all", "dry_run", NULL };
	PyObject *settings = Py_None, *stale = Py_None, *max_size = Py_None,
		 *max_age = Py_None, *keep = Py_None, *d = NULL, *arr;
	struct b10t_gc_opts o;
	struct b10t_gc_result res;
	struct b10t_envkey key;
	char **keys = NULL;
	Py_ssize_t nk = 0;
	bool stale_set = false;
	int all = 0, dry = 0, r = 0, bad = 0;
	uint64_t stale_s = 0;
	struct call *c;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOOOpp", kwlist, &settings, &stale,
					 &max_size, &max_age, &keep, &all, &dry) ||
	    !(c = call_new(settings)))
		return NULL;
	memset(&res, 0, sizeof(res));
	b10t_gc_opts_init(&o, &c->cfg);
	o.all = all;
	o.dry_run = dry;
	if (opt_u64(c, stale, "stale", false, &stale_set, &stale_s) < 0 ||
	    opt_u64(c, max_size, "max_size", true, &o.max_size_set, &o.max_size) < 0 ||
	    opt_u64(c, max_age, "max_age", false, &o.max_age_set, &o.max_age_s) < 0)
		return finish(c, NULL, 1);
	if (stale_set)
		o.stale_s = stale_s;
	if (keep != Py_None) {
		PyObject *seq = PySequence_Fast(keep, "keep: a list of keys");

		if (!seq)
			return finish(c, NULL, 1);
		nk = PySequence_Size(seq);
		keys = calloc(nk ? (size_t)nk : 1, sizeof(*keys));
		for (Py_ssize_t i = 0; keys && i < nk; i++) {
			PyObject *it = PySequence_GetItem(seq, i);
			PyObject *b = it && PyUnicode_Check(it) ? PyUnicode_AsUTF8String(it) : NULL;
			const char *s = b ? PyBytes_AsString(b) : NULL;
			struct b10t_archive_info ai;
			size_t len;

			if (s && b10t_parse_archive_name(s, &ai))	/* a file name, as list shows */
				s += strlen("cache_"), len = strlen(ai.key);
			else
				len = s ? strlen(s) : 0;
			if (!s || !b10t_valid_key(s, len)) {
				if (!PyErr_Occurred())
					PyErr_Format(PyExc_ValueError, "keep %R: not a key", it);
				bad = 1;
			} else {
				keys[i] = strndup(s, len);
			}
			Py_XDECREF(b);
			Py_XDECREF(it);
			if (bad)
				break;
		}
		Py_DECREF(seq);
		if (!keys)
			PyErr_NoMemory();
		if (bad || !keys)
			goto out;
		o.keep = (const char *const *)keys;
		o.n_keep = (size_t)nk;
	}
	Py_BEGIN_ALLOW_THREADS
	/* The key costs a GPU probe: only when eviction may need it. */
	if ((o.max_size_set || o.max_age_set) && !o.all) {
		r = b10t_store_check(&c->ctx, &c->cfg);
		if (r == 0)
			r = b10t_envkey_compute(&c->ctx, &c->cfg, &key);
		if (r == 0)
			o.current_key = key.key;
	}
	if (r == 0)
		r = b10t_gc(&c->ctx, &c->cfg, &o, &res);
	else
		r = -1, res.n_items = 0;
	Py_END_ALLOW_THREADS
	if (!(d = PyDict_New())) {
		bad = 1;
		goto out;
	}
	if (r < 0)
		bad |= put_error(c, d);
	else
		bad |= put_str(d, "status", b10t_status_name(res.status));
	bad |= put_bool(d, "dry_run", o.dry_run);
	if ((arr = PyList_New(0))) {
		for (size_t i = 0; i < res.n_items; i++) {
			PyObject *it = PyDict_New();

			if (!it) {
				bad = 1;
				break;
			}
			bad |= put_str(it, "filename", res.items[i].filename);
			bad |= put_str(it, "reason", res.items[i].reason);
			bad |= put_u64(it, "bytes", res.items[i].bytes);
			if (PyList_Append(arr, it) < 0)
				bad = 1;
			Py_DECREF(it);
		}
	}
	bad |= put(d, "removed", arr);
	bad |= put_u64(d, "freed_bytes", res.freed_bytes);
	bad |= put_u64(d, "kept", res.kept);
	bad |= put_u64(d, "kept_bytes", res.kept_bytes);
	b10t_gc_result_free(&res);
out:
	for (Py_ssize_t i = 0; keys && i < nk; i++)
		free(keys[i]);
	free(keys);
	return finish(c, d, bad || !d);
}

static PyObject *py_settings(PyObject *self, PyObject *noargs)
{
	PyObject *l = PyList_New(0);

	for (size_t i = 0; l && i < b10t_settings_count; i++) {
		PyObject *t = Py_BuildValue("(sss)", b10t_settings[i].env, b10t_settings[i].option,
					    b10t_settings[i].help);

		if (!t || PyList_Append(l, t) < 0) {
			Py_XDECREF(t);
			Py_DECREF(l);
			return NULL;
		}
		Py_DECREF(t);
	}
	return l;
}

static PyMethodDef methods[] = {
	{ "envkey", py_envkey, METH_VARARGS, "envkey(settings=None) -> dict" },
	{ "load", py_load, METH_VARARGS, "load(settings=None) -> dict" },
	{ "save", py_save, METH_VARARGS, "save(settings=None) -> dict" },
	{ "clear", py_clear, METH_VARARGS, "clear(settings=None) -> dict" },
	{ "info", py_info, METH_VARARGS, "info(settings=None) -> dict" },
	{ "list", py_list, METH_VARARGS, "list(settings=None, manifest=False) -> dict" },
	{ "gc", (PyCFunction)(void (*)(void))py_gc, METH_VARARGS | METH_KEYWORDS,
	  "gc(settings=None, stale=None, max_size=None, max_age=None, keep=None, all=False, dry_run=False) -> dict" },
	{ "settings", py_settings, METH_NOARGS, "settings() -> [(env, option, help)]" },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "b10t._native",
	"libb10t's verbs; use the b10t package, not this module.", -1, methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__native(void);
PyMODINIT_FUNC PyInit__native(void)
{
	PyObject *m = PyModule_Create(&module);

	if (m && PyModule_AddStringConstant(m, "version", B10T_VERSION_STRING) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
