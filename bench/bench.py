#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark b10t save/load against the reference path and plain tools.

    python3 bench/bench.py [--sizes small,medium,large] [--runs 5]
                           [--fs tmpfs|disk] [--json] [--b10t PATH]

For each size: generate a TorchInductor-like tree (bench/gen_tree.py),
then time save and load of every tool on that tree, with the store and
the local dirs on one filesystem.  Runs alternate between tools (run i
starts at tool i) to spread noise.  Everything is hot-cache: tmpfs has
no page cache to drop, and on disk the caches stay warm unless
--drop-caches.  See bench/README.md for how to read the table.
"""
import argparse
import filecmp
import glob
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True	# no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import depth  # noqa: E402
from benchlib import b10t_env, find_b10t, rm_rf, scratch  # noqa: E402
import gen_tree  # noqa: E402

MB = 1 << 20
REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
KEY = "0123456789abcdef"	# the baselines' archive names; any will do

TOOLS = ["b10t", "reference", "lz4", "zstd", "cp"]
LABEL = {
	"b10t": "b10t",
	"reference": "reference (tar.gz)",
	"lz4": "tar | lz4 -1",
	"zstd": "tar | zstd -1 -T0",
	"cp": "cp -a",
}


def log(msg):
	print("bench: " + msg, file=sys.stderr, flush=True)


# ---- running one timed command ------------------------------------------

class Result:
	def __init__(self, seconds, rss_kib, code, err):
		self.seconds = seconds
		self.rss_kib = rss_kib
		self.code = code
		self.err = err


def subreaper():
	"""Make this process the reaper of its orphaned descendants, so run()
	can collect a command's rusage from its own wait4()."""
	try:
		import ctypes
		libc = ctypes.CDLL(None, use_errno=True)
		return libc.prctl(36, 1, 0, 0, 0) == 0	# PR_SET_CHILD_SUBREAPER
	except (OSError, AttributeError):
		return False


CLEAN_RSS = subreaper() and shutil.which("setsid") is not None


def run(argv, env=None, rss=True):
	"""Run argv: wall time from spawn to reap, exit code, the last line of
	stderr, and the peak RSS of its largest process.

	Peak RSS is wait4()'s ru_maxrss, which covers the process and, through
	RUSAGE_BOTH, every descendant it reaped: a `bash -c 'a | b'` pipeline
	gives the max over its members.  But a child forked (or vforked) from
	this Python inherits Python's own RSS high-water mark at exec, so the
	command is started through `setsid -f` (a 1 MiB process that forks it
	and exits at once); as the subreaper we then reap the command itself
	with wait4(-1).  Runs are sequential, so it is the only child left.
	The few ms of setsid are in every tool's time alike."""
	with tempfile.TemporaryFile() as errf:
		return _run(argv, env, rss and CLEAN_RSS, errf)


def _run(argv, env, via, errf):
	"""run(), with stderr going to the open file errf."""
	t0 = time.perf_counter()
	p = subprocess.Popen((["setsid", "-f"] if via else []) + argv, env=env,
			     stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=errf)
	if via:
		if p.wait() != 0:
			raise RuntimeError("setsid -f %s: exit %d" % (argv[0], p.returncode))
		_, status, ru = os.wait4(-1, 0)
	else:
		_, status, ru = os.wait4(p.pid, 0)
	dt = time.perf_counter() - t0
	code = os.waitstatus_to_exitcode(status)
	if not via:
		p.returncode = code
	err = ""
	if code != 0:
		errf.seek(0)
		lines = errf.read().decode(errors="replace").strip().splitlines()
		err = lines[-1] if lines else ""
	return Result(dt, ru.ru_maxrss if via else None, code, err)


def sh(script):
	return ["bash", "-o", "pipefail", "-c", script]


def q(path):
	return "'" + path.replace("'", "'\\''") + "'"


def empty_dir(path):
	os.makedirs(path, exist_ok=True)
	for e in os.listdir(path):
		rm_rf(os.path.join(path, e))


# ---- the tools ----------------------------------------------------------

class Tools:
	"""Commands for each tool.  Every tool has its own store dir, local
	scratch dir and load destination under one work dir, so all sit on
	the same filesystem."""

	def __init__(self, work, tree, b10t):
		self.work = work
		self.tree = tree
		self.b10t = b10t

	def store(self, t):
		return os.path.join(self.work, "store", t)

	def local(self, t):
		return os.path.join(self.work, "local", t)

	def dest(self, t):
		return os.path.join(self.work, "out", t)

	def archive(self, t):
		s = self.store(t)
		if t == "b10t":
			found = sorted(glob.glob(os.path.join(s, "cache_*.latest.tar.lz4")))
			return found[0] if found else None
		return os.path.join(s, {
			"reference": "cache_%s.latest.tar.gz" % KEY,
			"lz4": "cache.tar.lz4",
			"zstd": "cache.tar.zst",
			"cp": "tree",
		}[t])

	def b10t_env(self, t, cache_dir):
		return b10t_env(self.store(t), cache_dir, self.local(t))

	def prepare_save(self, t):
		"""Untimed, the same for every tool: an empty store and scratch."""
		empty_dir(self.store(t))
		empty_dir(self.local(t))

	def prepare_load(self, t):
		"""Untimed: no destination, an empty scratch; the store keeps the
		archive of the last save."""
		rm_rf(self.dest(t))
		os.makedirs(os.path.dirname(self.dest(t)), exist_ok=True)
		empty_dir(self.local(t))

	def save(self, t):
		T, S, L = q(self.tree), q(self.store(t)), q(self.local(t))
		if t == "b10t":
			return run([self.b10t, "save", "--quiet"], self.b10t_env(t, self.tree))
		if t == "reference":
			# b10-transfer: gzip tar in local scratch, copy into the store
			# under a temp name, rename, remove the local file.
			tmp = "%s/cache_%s.incomplete.tar.gz" % (S, KEY)
			return run(sh("tar -czf %s/cache.tar.gz -C %s . && cp %s/cache.tar.gz %s && "
				      "mv %s %s && rm -f %s/cache.tar.gz" % (
					      L, T, L, tmp, tmp, q(self.archive(t)), L)))
		if t == "lz4":
			return run(sh("tar -cf - -C %s . | lz4 -1 -q > %s" % (T, q(self.archive(t)))))
		if t == "zstd":
			return run(sh("tar -cf - -C %s . | zstd -1 -T0 -q > %s" % (T, q(self.archive(t)))))
		return run(["cp", "-a", self.tree, self.archive(t)])

	def load(self, t):
		D, L, A = q(self.dest(t)), q(self.local(t)), q(self.archive(t) or "/nonexistent")
		if t == "b10t":
			return run([self.b10t, "load", "--quiet"], self.b10t_env(t, self.dest(t)))
		if t == "reference":
			return run(sh("cp %s %s/cache.tar.gz && mkdir %s && tar -xzf %s/cache.tar.gz -C %s && "
				      "rm -f %s/cache.tar.gz" % (A, L, D, L, D, L)))
		if t == "lz4":
			return run(sh("mkdir %s && lz4 -dc %s | tar -xf - -C %s" % (D, A, D)))
		if t == "zstd":
			return run(sh("mkdir %s && zstd -dc -q %s | tar -xf - -C %s" % (D, A, D)))
		return run(["cp", "-a", self.archive(t), self.dest(t)])


def archive_bytes(path):
	if path is None or not os.path.exists(path):
		return None
	if os.path.isdir(path):
		return gen_tree.stats(path)["bytes"]
	return os.path.getsize(path)


def drop_caches():
	os.sync()
	with open("/proc/sys/vm/drop_caches", "w") as f:
		f.write("3\n")


# ---- one size -----------------------------------------------------------

def bench_size(size, args, work, b10t):
	tree = os.path.join(work, "tree")
	rm_rf(tree)
	log("%s: generating (seed %d)" % (size, args.seed))
	st = gen_tree.generate(size, args.seed, tree)
	gen_s = st.pop("gen_seconds")
	st = gen_tree.stats(tree)	# measured, not what the generator meant
	st["gen_seconds"] = gen_s
	st["check"] = check_stats(size, st)
	log("%s: %s (%.1f s); %s" % (size, gen_tree.describe(st), gen_s, st["check"]))

	tools = Tools(work, tree, b10t)
	names = [t for t in TOOLS if t != "b10t" or b10t]
	res = {t: {"save": [], "load": [], "save_rss": [], "load_rss": [], "error": None} for t in TOOLS}
	if not b10t:
		res["b10t"]["error"] = "no b10t binary (--b10t)"
	runs = args.large_runs if size == "large" else args.runs

	for op in ("save", "load"):
		for i in range(runs):
			order = names[i % len(names):] + names[:i % len(names)]
			for t in order:
				r = res[t]
				if r["error"]:
					continue
				getattr(tools, "prepare_" + op)(t)
				if args.drop_caches:
					drop_caches()
				out = getattr(tools, op)(t)
				if out.code != 0:
					r["error"] = "%s: exit %d: %s" % (op, out.code, out.err)
					log("%s: %s %s" % (size, t, r["error"]))
					continue
				r[op].append(out.seconds)
				if out.rss_kib is not None:
					r[op + "_rss"].append(out.rss_kib)
				if op == "load" and i == 0:
					bad = verify(tree, tools.dest(t))
					if bad:
						r["error"] = "load: wrong tree: " + bad
						log("%s: %s %s" % (size, t, r["error"]))
				if op == "load":
					rm_rf(tools.dest(t))	# untimed; one extracted tree at a time
			log("%s: %s run %d/%d done" % (size, op, i + 1, runs))
		if op == "save":
			for t in names:
				res[t]["archive"] = archive_bytes(tools.archive(t)) if not res[t]["error"] else None

	out = {"tree": st, "runs": runs, "tools": {}}
	for t in TOOLS:
		r = res[t]
		o = {"label": LABEL[t], "error": r["error"], "archive_bytes": r.get("archive")}
		for op in ("save", "load"):
			ok = r[op] and not (r["error"] and r["error"].startswith(op)) and \
				not (op == "load" and r["error"] and r["error"].startswith("save"))
			o[op] = {
				"seconds": [round(x, 4) for x in r[op]],
				"median": round(statistics.median(r[op]), 4) if ok else None,
				"peak_rss_kib": max(r[op + "_rss"]) if ok and r[op + "_rss"] else None,
			}
		out["tools"][t] = o
	for t in TOOLS:
		rm_rf(tools.store(t))
		rm_rf(tools.dest(t))
		rm_rf(tools.local(t))
	rm_rf(tree)
	return out


def check_stats(size, st):
	"""The generator's promise: about the size and count asked for, a
	median near 8 KiB."""
	want_bytes, want_files = gen_tree.SIZES[size]
	bad = []
	if abs(st["bytes"] - want_bytes) > want_bytes * 0.1:
		bad.append("total %.0f MiB, wanted %.0f" % (st["bytes"] / MB, want_bytes / MB))
	if abs(st["files"] - want_files) > want_files * 0.15:
		bad.append("%d files, wanted ~%d" % (st["files"], want_files))
	if not 4096 <= st["median"] <= 16384:
		bad.append("median %.1f KiB, wanted ~8" % (st["median"] / 1024))
	return "stats OK" if not bad else "stats OFF: " + "; ".join(bad)


def verify(src, dst):
	"""Cheap check that a load produced the tree: same count and total
	size, and the same bytes in a sample of files."""
	a, b = gen_tree.stats(src), gen_tree.stats(dst) if os.path.isdir(dst) else None
	if b is None:
		return "no directory"
	if (a["files"], a["bytes"]) != (b["files"], b["bytes"]):
		return "%d files/%d bytes, source has %d/%d" % (b["files"], b["bytes"], a["files"], a["bytes"])
	# and the bytes of every 25th file
	rels = sorted(os.path.relpath(os.path.join(dp, f), src)
		      for dp, _, fn in os.walk(src) for f in fn)
	for rel in rels[::25]:
		if not filecmp.cmp(os.path.join(src, rel), os.path.join(dst, rel), shallow=False):
			return "%s differs" % rel
	return None


# ---- envkey/info/list on a big store -------------------------------------

def bench_verbs(work, b10t, runs=20, n_archives=1000):
	"""Median wall time of the quick verbs against a store of 1,000 small
	fake archives (each a valid tar.lz4 of one small file), a missing
	local cache dir."""
	store = os.path.join(work, "verbs-store")
	empty_dir(store)
	one = os.path.join(work, "verbs-one")
	empty_dir(one)
	with open(os.path.join(one, "kernel.py"), "w") as f:
		f.write("print('hello')\n" * 20)
	blob = subprocess.run(sh("tar -cf - -C %s . | lz4 -1 -q" % q(one)), check=True,
			      capture_output=True).stdout
	for i in range(n_archives):
		with open(os.path.join(store, "cache_%016x.latest.tar.lz4" % (i * 0x9e3779b97f4a7c15 % (1 << 64))), "wb") as f:
			f.write(blob)
	tools = Tools(work, os.path.join(work, "verbs-missing"), b10t)
	env = tools.b10t_env("b10t", os.path.join(work, "verbs-missing"))
	env["B10FS_CACHE_DIR"] = store
	out = {"archives": n_archives, "runs": runs}
	floor = [run(["/bin/true"], rss=False).seconds for _ in range(runs)]
	out["spawn_floor"] = round(statistics.median(floor), 5)
	for verb in ("envkey", "info", "list"):
		if not b10t:
			out[verb] = {"median": None, "error": "no b10t binary (--b10t)"}
			continue
		times, err = [], None
		for _ in range(runs):
			r = run([b10t, verb], env, rss=False)
			if r.code != 0:
				err = "exit %d: %s" % (r.code, r.err)
				break
			times.append(r.seconds)
		out[verb] = {"median": round(statistics.median(times), 5) if not err else None,
			     "peak_rss_kib": None, "error": err}
	rm_rf(store)
	rm_rf(one)
	return out


# ---- targets --------------------------------------------------------------

def med(size_res, t, op):
	return size_res["tools"][t][op]["median"]


def targets(res, fs):
	"""The issue's targets, each PASS, MISS or n/a.  Ratio targets are
	defined on the medium tree on tmpfs; without medium they are checked
	on the largest size run, and say so."""
	out = []
	sizes = [s for s in ("small", "medium", "large") if s in res["sizes"]]
	if not sizes:
		return out
	base = "medium" if "medium" in sizes else sizes[-1]
	r = res["sizes"][base]
	where = base + ("" if base == "medium" else " (target is for medium)") + \
		("" if fs == "tmpfs" else ", on disk (targets are for tmpfs)")

	def add(name, value, limit, unit="s", le=True, size=where):
		if value is None or limit is None:
			out.append({"target": name, "size": size, "value": value, "limit": limit, "result": "n/a"})
			return
		ok = value <= limit if le else value >= limit
		out.append({"target": name, "size": size, "value": round(value, 4),
			    "limit": round(limit, 4), "unit": unit, "result": "PASS" if ok else "MISS"})

	def mul(x, k):
		return None if x is None else x * k

	def fastest(*xs):
		xs = [x for x in xs if x is not None]
		return min(xs) if xs else None

	for op in ("load", "save"):
		b = med(r, "b10t", op)
		add("%s <= 0.7 x faster of lz4/zstd" % op, b,
		    mul(fastest(med(r, "lz4", op), med(r, "zstd", op)), 0.7))
		if op == "load":
			add("load <= 1.3 x cp -a", b, mul(med(r, "cp", "load"), 1.3))
			add("load >= 4x faster than reference", b, mul(med(r, "reference", "load"), 1 / 4))
		else:
			add("save >= 12x faster than reference", b, mul(med(r, "reference", "save"), 1 / 12))
	add("archive <= lz4 -1 archive", r["tools"]["b10t"]["archive_bytes"],
	    r["tools"]["lz4"]["archive_bytes"], unit="bytes")
	for s in sizes:
		for op in ("save", "load"):
			k = res["sizes"][s]["tools"]["b10t"][op]["peak_rss_kib"]
			add("%s peak RSS < 64 MiB" % op, None if k is None else k / 1024, 64, "MiB", size=s)
	# Linear growth: from one size to the next, time grows no faster than
	# 1.25x the bytes (smaller trees carry fixed costs, so sublinear is fine).
	for a, b in zip(sizes, sizes[1:]):
		ra, rb = res["sizes"][a], res["sizes"][b]
		k = rb["tree"]["bytes"] / ra["tree"]["bytes"]
		for op in ("save", "load"):
			ta, tb = med(ra, "b10t", op), med(rb, "b10t", op)
			add("%s time grows linearly (%s->%s: bytes x%.1f)" % (op, a, b, k),
			    None if ta is None or tb is None else tb / ta, 1.25 * k, "x", size="%s->%s" % (a, b))
	for verb in ("envkey", "info", "list"):
		v = res.get("verbs", {}).get(verb, {})
		add("%s < 20 ms (1,000 archives)" % verb, mul(v.get("median"), 1000), 20, "ms", size="store")
	return out


# ---- printing -------------------------------------------------------------

def fmt(x, spec, na="n/a"):
	return na if x is None else spec % x


def ratio(b, x):
	return None if b is None or x is None or x == 0 else b / x


def print_table(res):
	m = res["meta"]
	print("b10t benchmark: %s at %s%s, %s, %d CPUs, b10t %s" % (
		m["fs"], m["work"], " (own mount)" if m["own_mount"] else "",
		"hot cache (caches dropped before each op)" if m["drop_caches"] else "hot cache",
		m["cpus"], m["b10t"] or "n/a"))
	if not m["rss_measured"]:
		print("peak RSS not measured: needs Linux prctl(PR_SET_CHILD_SUBREAPER) and setsid")
	print("median wall time of %s; RSS = peak MiB of the largest process (pipelines: max over "
	      "members); spawn floor (setsid -f /bin/true) %.1f ms; compr = tree bytes / archive bytes" % (
		", ".join("%d runs (%s)" % (r["runs"], s) for s, r in res["sizes"].items()) or "no sizes",
		m["spawn_floor"] * 1000))
	for size, r in res["sizes"].items():
		st = r["tree"]
		print()
		print("== %s: %s; seed %d, generated in %.1f s; %s" % (
			size, gen_tree.describe(st), m["seed"], st["gen_seconds"], st["check"]))
		hdr = "%-19s %8s %8s %11s %6s %8s %8s %9s %9s" % (
			"tool", "save s", "load s", "archive MiB", "compr", "RSS save", "RSS load",
			"b10t/save", "b10t/load")
		print(hdr)
		print("-" * len(hdr))
		b = r["tools"]["b10t"]
		for t in TOOLS:
			o = r["tools"][t]
			ab = o["archive_bytes"]
			print("%-19s %8s %8s %11s %6s %8s %8s %9s %9s" % (
				o["label"],
				fmt(o["save"]["median"], "%.3f"), fmt(o["load"]["median"], "%.3f"),
				fmt(None if ab is None else ab / MB, "%.2f"),
				fmt(None if not ab else st["bytes"] / ab, "%.2f"),
				fmt(None if o["save"]["peak_rss_kib"] is None else o["save"]["peak_rss_kib"] / 1024, "%.1f"),
				fmt(None if o["load"]["peak_rss_kib"] is None else o["load"]["peak_rss_kib"] / 1024, "%.1f"),
				"-" if t == "b10t" else fmt(ratio(b["save"]["median"], o["save"]["median"]), "%.2fx"),
				"-" if t == "b10t" else fmt(ratio(b["load"]["median"], o["load"]["median"]), "%.2fx")))
		for t in TOOLS:
			if r["tools"][t]["error"]:
				print("  %s: n/a: %s" % (LABEL[t], r["tools"][t]["error"]))
	if res.get("depth"):
		print()
		print("== depth: load of %d entries, each in its own dir, per entry" %
		      res["depth"][0]["entries"])
		depth.print_rows(res["depth"])
	v = res.get("verbs")
	if v:
		print()
		print("== quick verbs: store of %d fake archives, median of %d runs (spawn of /bin/true: %.1f ms)" % (
			v["archives"], v["runs"], v["spawn_floor"] * 1000))
		for verb in ("envkey", "info", "list"):
			e = v[verb]
			print("b10t %-7s %s" % (verb, fmt(None if e["median"] is None else e["median"] * 1000, "%.1f ms")
						+ ("  (%s)" % e["error"] if e.get("error") else "")))
	print()
	print("== targets")
	for tg in res["targets"]:
		if tg["result"] == "n/a":
			val = "n/a"
		elif tg.get("unit") == "bytes":
			val = "%d vs limit %d bytes" % (tg["value"], tg["limit"])
		else:
			u = tg.get("unit", "s")
			sp = "%.3f %s" if u == "s" else "%.1f %s"
			val = (sp + " vs limit " + sp) % (tg["value"], u, tg["limit"], u)
		print("%-4s  %-48s %-30s %s" % (tg["result"], tg["target"], tg["size"], val))
	print()
	print("total wall time %.0f s; load average %.1f at start, %.1f at end (%d CPUs: "
	      "above that, other work shared the CPUs and times are inflated)" % (
		      m["seconds"], m["loadavg_start"], m["loadavg_end"], m["cpus"]))


# ---- work dir -------------------------------------------------------------

def mem_available():
	with open("/proc/meminfo") as f:
		for line in f:
			if line.startswith("MemAvailable:"):
				return int(line.split()[1]) * 1024
	return 0


def kill_children():
	"""On an interrupt: a command started through setsid -f is in its own
	session, out of reach of the terminal's ^C, and (after setsid exits)
	our child as the subreaper.  End those, by their ids, and reap them."""
	me = str(os.getpid())
	for pid in os.listdir("/proc"):
		if not pid.isdigit():
			continue
		try:
			with open("/proc/%s/stat" % pid) as f:
				ppid = f.read().rsplit(")", 1)[1].split()[1]
		except OSError:
			continue
		if ppid == me:
			try:
				os.killpg(int(pid), signal.SIGTERM)
			except OSError:
				try:
					os.kill(int(pid), signal.SIGTERM)
				except OSError:
					pass
			try:
				os.waitpid(int(pid), 0)
			except OSError:
				pass


def main():
	ap = argparse.ArgumentParser(description="Benchmark b10t save/load against baselines.")
	ap.add_argument("--sizes", default="small,medium,large",
			help="comma-separated: small (~50 MB), medium (~400 MB), large (~2 GB)")
	ap.add_argument("--runs", type=int, default=5, help="timed runs per op (default 5)")
	ap.add_argument("--large-runs", type=int, default=3,
			help="runs for the large size (default 3, to fit ~15 min on 2 cores)")
	ap.add_argument("--fs", choices=("tmpfs", "disk"), default="tmpfs")
	ap.add_argument("--dir", default="/var/tmp", help="parent of the work dir with --fs disk")
	ap.add_argument("--drop-caches", action="store_true",
			help="with --fs disk as root: sync and drop the page cache before each op")
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("--b10t", help="the b10t binary (default: build/cmd/b10t, then PATH)")
	ap.add_argument("--no-verbs", action="store_true", help="skip the envkey/info/list timing")
	ap.add_argument("--no-depth", action="store_true",
			help="skip the load time per entry at depth 2 and 200 (bench/depth.py)")
	ap.add_argument("--depth-entries", type=int, default=100000,
			help="entries of each depth archive (default 100000)")
	ap.add_argument("--json", action="store_true", help="print one JSON object instead of the table")
	args = ap.parse_args()
	sizes = [s for s in args.sizes.split(",") if s]
	for s in sizes:
		if s not in gen_tree.SIZES:
			ap.error("unknown size %r" % s)
	if args.runs < 1 or args.large_runs < 1:
		ap.error("runs must be at least 1")
	if args.drop_caches and (args.fs != "disk" or os.geteuid() != 0):
		ap.error("--drop-caches needs --fs disk and root")
	for tool in ("tar", "gzip", "lz4", "zstd", "cp", "bash"):
		if not shutil.which(tool):
			sys.exit("bench: %s not found" % tool)
	b10t = find_b10t(args.b10t, "bench", required=False)

	# tree + cp -a copy + one extracted tree + four archives (< 0.5 each)
	biggest = max(gen_tree.SIZES[s][0] for s in sizes) if sizes else 0
	need = int(biggest * 5.5) + 256 * MB
	if args.fs == "tmpfs" and mem_available() < need:
		sys.exit("bench: needs ~%d MiB of free memory for tmpfs, %d available" % (
			need // MB, mem_available() // MB))

	signal.signal(signal.SIGTERM, lambda *a: sys.exit(143))
	signal.signal(signal.SIGINT, signal.default_int_handler)
	# tmpfs: a private mount of our own when root, else a dir under /tmp
	# (not /dev/shm: b10t refuses cache dirs under /dev); disk: under --dir.
	disk = args.fs == "disk"
	with scratch("b10t-bench.", need, args.dir if disk else "/tmp", tmpfs=not disk) as (work, own):
		if not disk and not own:
			log("no tmpfs of our own (not root?): timing on %s" % work)
		try:
			res = bench_all(args, sizes, work, own, b10t)
		finally:
			kill_children()
	res["meta"]["loadavg_end"] = round(os.getloadavg()[0], 2)
	res["targets"] = targets(res, args.fs)
	if args.json:
		json.dump(res, sys.stdout, indent=1)
		print()
	else:
		print_table(res)


def bench_all(args, sizes, work, own, b10t):
	t0 = time.perf_counter()
	floor = [run(["/bin/true"]).seconds for _ in range(10)]
	res = {"meta": {"spawn_floor": round(statistics.median(floor), 5), "rss_measured": bool(CLEAN_RSS),
			"fs": args.fs, "work": work, "own_mount": own, "drop_caches": args.drop_caches,
			"cpus": os.cpu_count(), "b10t": b10t, "seed": args.seed,
			"host": platform.node(), "kernel": platform.release(),
			"loadavg_start": round(os.getloadavg()[0], 2)},
	       "sizes": {}}
	for s in sizes:
		res["sizes"][s] = bench_size(s, args, work, b10t)
	if not args.no_verbs:
		log("timing envkey/info/list")
		res["verbs"] = bench_verbs(work, b10t)
	if not args.no_depth:
		log("timing load per entry at depth 2 and 200")
		res["depth"] = depth.measure(b10t, args.depth_entries, [2, 200], args.runs, work)
	res["meta"]["seconds"] = round(time.perf_counter() - t0, 1)
	return res


if __name__ == "__main__":
	try:
		main()
	except KeyboardInterrupt:
		sys.exit("bench: interrupted; work dir removed")
