/* SPDX-License-Identifier: MIT */
/*
 * b10t._native: the verbs of libb10t for Python, through its public C API
 * (lib/b10t.h) alone: one function each, every result a dict with the keys
 * of the CLI's --json object (docs/b10t-*.1.scd JSON OUTPUT), parsed from
 * b10t_result_json().  Limited API (abi3, 3.9): one build serves every
 * CPython.
 *
 * Every function takes `settings`, a dict {ENV_NAME: str} applied after the
 * environment with b10t_set(), as the CLI's --cache-dir etc. are.  A bad
 * setting raises ValueError; everything else (no archive, a corrupt one,
 * a full disk, a bad variable in the environment) is a result with
 * "status" and "error", as the CLI's exit status is.  The GIL is released
 * while the library works; its warnings are collected and returned under
 * "_log" for the Python side to log.
 */
#define Py_LIMITED_API 0x03090000
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <stdlib.h>
#include <string.h>

#include "b10t.h"

/* ---- the call: a handle and its collected log lines ------------------ */

#define LOG_MAX 64

struct call {
	b10t_t *h;
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

static void call_free(struct call *c)
{
	if (c) {
		b10t_free(c->h);
		free(c);
	}
}

/* name=value through b10t_set(): 0, or -1 with ValueError. */
static int set(struct call *c, const char *name, const char *value)
{
	if (b10t_set(c->h, name, value) == B10T_SUCCESS)
		return 0;
	PyErr_SetString(PyExc_ValueError, b10t_error(c->h));
	return -1;
}

/* A fresh call: the handle with the environment, then `settings`. */
static struct call *call_new(PyObject *settings)
{
	struct call *c = calloc(1, sizeof(*c));
	PyObject *k, *v;
	Py_ssize_t pos = 0;

	if (!c || !(c->h = b10t_new())) {
		free(c);
		return (struct call *)PyErr_NoMemory();
	}
	b10t_set_log(c->h, collect_log, c, B10T_LOG_WARN);
	if (!settings || settings == Py_None)
		return c;
	if (!PyDict_Check(settings)) {
		PyErr_SetString(PyExc_TypeError, "settings must be a dict");
		call_free(c);
		return NULL;
	}
	while (PyDict_Next(settings, &pos, &k, &v)) {
		PyObject *kb = NULL, *vb = NULL;
		int r = -1;

		/* Paths go through the filesystem encoding, like os.fsencode(). */
		if (PyUnicode_Check(k) && PyUnicode_FSConverter(k, &kb) &&
		    PyUnicode_FSConverter(v, &vb)) {
			const char *ks = PyBytes_AsString(kb), *vs = PyBytes_AsString(vb);

			if (ks && vs)
				r = set(c, ks, vs);
		} else if (!PyErr_Occurred()) {
			PyErr_SetString(PyExc_TypeError, "settings: str keys and values");
		}
		Py_XDECREF(kb);
		Py_XDECREF(vb);
		if (r < 0) {
			call_free(c);
			return NULL;
		}
	}
	return c;
}

/* ---- the result: the JSON, parsed, with "status" and "_log" -------------- */

static PyObject *json_loads;	/* json.loads, imported at the first result */

static int put(PyObject *d, const char *name, PyObject *v)
{
	int r;

	if (!v)
		return -1;
	r = PyDict_SetItemString(d, name, v);
	Py_DECREF(v);
	return r;
}

/* The result dict of the call's last operation; frees the call. */
static PyObject *finish(struct call *c, enum b10t_status st)
{
	static const char *const names[] = { "error", "warning", "info", "debug" };
	PyObject *text = NULL, *d = NULL, *log = NULL;
	int bad = 0;

	if (!json_loads) {
		PyObject *mod = PyImport_ImportModule("json");

		json_loads = mod ? PyObject_GetAttrString(mod, "loads") : NULL;
		Py_XDECREF(mod);
		if (!json_loads)
			goto out;
	}
	/* Paths are any bytes: decoded as os.fsdecode() would. */
	text = PyUnicode_DecodeFSDefault(b10t_result_json(c->h));
	d = text ? PyObject_CallFunctionObjArgs(json_loads, text, NULL) : NULL;
	if (!d)
		goto out;
	if (!PyDict_Check(d)) {
		PyErr_SetString(PyExc_RuntimeError, "libb10t: the result is not a JSON object");
		bad = 1;
		goto out;
	}
	/* info, list and envkey print no status: the call's is theirs. */
	if (!PyDict_GetItemString(d, "status"))
		bad |= put(d, "status", PyUnicode_FromString(b10t_status_name(st)));
	log = PyList_New(0);
	for (size_t i = 0; log && i < c->n_log; i++) {
		/* Messages hold paths, any bytes (and may be cut inside a
		 * character): decoded as the filesystem's, never failing. */
		PyObject *m = PyUnicode_DecodeFSDefault(c->log[i].msg);
		PyObject *t = m ? Py_BuildValue("(sN)", names[c->log[i].level], m) : NULL;

		if (!t || PyList_Append(log, t) < 0)
			bad = 1;
		Py_XDECREF(t);
	}
	if (!log || put(d, "_log", log) < 0)
		bad = 1;
out:
	Py_XDECREF(text);
	call_free(c);
	if (bad || !d) {
		Py_XDECREF(d);
		if (!PyErr_Occurred())
			PyErr_NoMemory();
		return NULL;
	}
	return d;
}

/* ---- the verbs ---------------------------------------------------------- */

typedef enum b10t_status op_fn(b10t_t *h);

static PyObject *run(PyObject *args, op_fn *op)
{
	PyObject *settings = Py_None;
	enum b10t_status st;
	struct call *c;

	if (!PyArg_ParseTuple(args, "|O", &settings) || !(c = call_new(settings)))
		return NULL;
	Py_BEGIN_ALLOW_THREADS
	st = op(c->h);
	Py_END_ALLOW_THREADS
	return finish(c, st);
}

static PyObject *py_envkey(PyObject *self, PyObject *args)
{
	return run(args, b10t_op_envkey);
}

static PyObject *py_load(PyObject *self, PyObject *args)
{
	return run(args, b10t_op_load);
}

static PyObject *py_save(PyObject *self, PyObject *args)
{
	return run(args, b10t_op_save);
}

static PyObject *py_clear(PyObject *self, PyObject *args)
{
	return run(args, b10t_op_clear);
}

static PyObject *py_info(PyObject *self, PyObject *args)
{
	return run(args, b10t_op_info);
}

/* manifest=True reads each archive's manifest. */
static PyObject *py_list(PyObject *self, PyObject *args)
{
	PyObject *settings = Py_None;
	enum b10t_status st;
	int manifest = 0;
	struct call *c;

	if (!PyArg_ParseTuple(args, "|Op", &settings, &manifest) || !(c = call_new(settings)))
		return NULL;
	if (manifest && set(c, "manifest", "1") < 0) {
		call_free(c);
		return NULL;
	}
	Py_BEGIN_ALLOW_THREADS
	st = b10t_op_list(c->h);
	Py_END_ALLOW_THREADS
	return finish(c, st);
}

/*
 * A duration or size: None (unset), an int >= 0, or a string read as gc's
 * options read it (the same units, ranges and messages as `b10t gc
 * --max-size 20GB --max-age 1.5d`): b10t_set() parses both.
 */
static int set_opt(struct call *c, const char *name, PyObject *o)
{
	PyObject *s, *b;
	int r;

	if (!o || o == Py_None)
		return 0;
	if (PyLong_Check(o)) {
		PyObject *zero = PyLong_FromLong(0);
		int neg = zero ? PyObject_RichCompareBool(o, zero, Py_LT) : -1;

		Py_XDECREF(zero);
		if (neg < 0)
			return -1;
		if (neg) {
			PyErr_Format(PyExc_ValueError, "%s: not a number >= 0", name);
			return -1;
		}
		s = PyObject_Str(o);
	} else if (PyUnicode_Check(o)) {
		Py_INCREF(o);
		s = o;
	} else {
		PyErr_Format(PyExc_TypeError, "%s: int or str", name);
		return -1;
	}
	/* PyUnicode_AsUTF8AndSize is limited API only from 3.10 */
	b = s ? PyUnicode_AsUTF8String(s) : NULL;
	Py_XDECREF(s);
	if (!b)
		return -1;
	r = PyBytes_AsString(b) ? set(c, name, PyBytes_AsString(b)) : -1;
	Py_DECREF(b);
	return r;
}

/* cmd/gc.c: the same options, the same keys. */
static PyObject *py_gc(PyObject *self, PyObject *args, PyObject *kw)
{
	static char *kwlist[] = { "settings", "stale", "max_size", "max_age", "keep",
				  "all", "dry_run", NULL };
	PyObject *settings = Py_None, *stale = Py_None, *max_size = Py_None,
		 *max_age = Py_None, *keep = Py_None;
	enum b10t_status st;
	int all = 0, dry = 0;
	struct call *c;

	if (!PyArg_ParseTupleAndKeywords(args, kw, "|OOOOOpp", kwlist, &settings, &stale,
					 &max_size, &max_age, &keep, &all, &dry) ||
	    !(c = call_new(settings)))
		return NULL;
	if (set_opt(c, "stale", stale) < 0 || set_opt(c, "max_size", max_size) < 0 ||
	    set_opt(c, "max_age", max_age) < 0 || set(c, "all", all ? "1" : "0") < 0 ||
	    set(c, "dry_run", dry ? "1" : "0") < 0)
		goto fail;
	if (keep != Py_None) {
		PyObject *seq = PySequence_Fast(keep, "keep: a list of keys");
		Py_ssize_t n = seq ? PySequence_Size(seq) : -1;
		int bad = n < 0;

		for (Py_ssize_t i = 0; !bad && i < n; i++) {
			PyObject *it = PySequence_GetItem(seq, i);
			PyObject *b = it && PyUnicode_Check(it) ? PyUnicode_AsUTF8String(it) : NULL;
			const char *s = b ? PyBytes_AsString(b) : NULL;

			if (!s) {
				if (!PyErr_Occurred())
					PyErr_Format(PyExc_ValueError, "keep %R: not a key", it);
				bad = 1;
			} else if (b10t_set(c->h, "keep", s) != B10T_SUCCESS) {
				PyErr_Format(PyExc_ValueError, "keep %R: not a key", it);
				bad = 1;
			}
			Py_XDECREF(b);
			Py_XDECREF(it);
		}
		Py_XDECREF(seq);
		if (bad)
			goto fail;
	}
	Py_BEGIN_ALLOW_THREADS
	st = b10t_op_gc(c->h);
	Py_END_ALLOW_THREADS
	return finish(c, st);
fail:
	call_free(c);
	return NULL;
}

static PyObject *py_settings(PyObject *self, PyObject *noargs)
{
	PyObject *l = PyList_New(0);

	for (size_t i = 0; l && i < b10t_setting_count(); i++) {
		const char *env, *option, *help;
		PyObject *t;

		b10t_setting_info(i, NULL, &env, &option, &help);
		t = Py_BuildValue("(sss)", env, option, help);
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

	if (m && PyModule_AddStringConstant(m, "version", b10t_version_string()) < 0) {
		Py_DECREF(m);
		return NULL;
	}
	return m;
}
