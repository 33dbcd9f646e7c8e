#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Benchmark b10t on a real torch.compile cache, against the real b10-transfer.

    tools/venv.sh && python3 bench/torch_bench.py [--runs 5] [--herd 16] [--json]

Uses the venv of tools/venv.sh (torch 2.13.0+cpu, b10-transfer) and the
model of tests/e2e/replica.py (Inductor on CPU, g++ kernels).  As root it
re-runs itself in a private mount namespace with a tmpfs on /cache, which
the reference needs (B10FS_CACHE_DIR under /cache/model, 50 GB free
locally, 100 GB in the store); without root the reference rows are n/a.

1. Time to first inference of a fresh replica (process start to the first
   output, median of --runs): (a) cold, (b) b10t load then the replica,
   (c) the replica calling b10_transfer.load_compile_cache() first,
   (d) the cache already on local disk.
2. save / load / a herd of --herd replicas loading at once, on the real
   tree the model leaves: b10t, the reference (a python process each,
   import included), tar | zstd -T0, cp -a.
3. The real tree's profile next to bench/gen_tree.py's synthetic ones.
Not pass/fail.  See bench/README.md.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.dont_write_bytecode = True
HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_tree  # noqa: E402

REPLICA = os.path.join(REPO, "tests", "e2e", "replica.py")
SHAPES = "1,4,8"
MNT = "/cache"


def log(msg):
	print("torch_bench: " + msg, file=sys.stderr, flush=True)


def find_b10t(arg):
	for p in (arg, os.path.join(REPO, "build", "cmd", "b10t"), shutil.which("b10t")):
		if p and os.access(p, os.X_OK):
			return os.path.abspath(p)
	sys.exit("torch_bench: no b10t binary: build it (ninja -C build) or pass --b10t")


def in_namespace(argv):
	"""As root, re-run in a private mount namespace with a lazily
	allocated tmpfs on /cache.  Returns True when the reference can run."""
	if os.environ.get("B10T_BENCH_NS") == "1":
		return True
	if os.geteuid() != 0 or not shutil.which("unshare"):
		log("not root (or no unshare): the reference's rows are n/a")
		return False
	try:
		os.makedirs(MNT, exist_ok=True)
	except OSError as e:
		log("cannot create %s (%s): the reference's rows are n/a" % (MNT, e))
		return False
	script = ("mount --make-rprivate / && mount -t tmpfs -o size=1t,mode=755 b10t-bench %s "
		  "&& exec \"$@\"" % MNT)
	env = dict(os.environ, B10T_BENCH_NS="1")
	p = subprocess.run(["unshare", "--mount", "sh", "-c", script, "sh",
			    sys.executable, os.path.abspath(__file__)] + argv, env=env)
	sys.exit(p.returncode)


class Bench:
	def __init__(self, a, ref_ok):
		self.a = a
		self.ref_ok = ref_ok
		self.b10t = find_b10t(a.b10t)
		self.venv = a.venv or os.environ.get("B10T_VENV") or os.path.join(REPO, ".venv-e2e")
		self.py = os.path.join(self.venv, "bin", "python")
		if not os.access(self.py, os.X_OK):
			sys.exit("torch_bench: no venv at %s: run tools/venv.sh" % self.venv)
		parent = MNT if ref_ok else (a.dir or "/dev/shm")
		self.w = tempfile.mkdtemp(prefix="b10t-tbench.", dir=parent)
		self.local = os.path.join(self.w, "local")	# the replica's cache dir
		self.tree = os.path.join(self.w, "tree")	# the real tree, kept
		self.store_b = os.path.join(self.w, "store-b10t")
		self.store_r = os.path.join(MNT, "model", "compile_cache") if ref_ok else None
		self.scratch = os.path.join(self.w, "work")
		for d in (self.store_b, self.scratch) + ((self.store_r,) if ref_ok else ()):
			os.makedirs(d, exist_ok=True)
		env = {k: v for k, v in os.environ.items()
		       if not k.startswith(("B10T_", "TORCHINDUCTOR_", "B10FS_"))
		       and k not in ("PYTHONPATH", "LOCAL_WORK_DIR", "BASETEN_FS_ENABLED")}
		env.update(PATH=os.path.join(self.venv, "bin") + os.pathsep + env.get("PATH", ""),
			   VIRTUAL_ENV=self.venv, HOME=os.path.join(self.w, "home"),
			   PYTHONDONTWRITEBYTECODE="1", TORCHINDUCTOR_CACHE_DIR=self.local,
			   B10FS_CACHE_DIR=self.store_b, LOCAL_WORK_DIR=self.scratch,
			   BASETEN_FS_ENABLED="1")
		os.makedirs(env["HOME"], exist_ok=True)
		self.env = env
		self.env_r = dict(env, B10FS_CACHE_DIR=self.store_r or "")

	def rm(self, *paths):
		for p in paths:
			shutil.rmtree(p, ignore_errors=True)

	def sh(self, argv, env=None, check=True):
		p = subprocess.run(argv, env=env or self.env, capture_output=True, text=True)
		if check and p.returncode != 0:
			sys.exit("torch_bench: %s failed (%d): %s" % (argv[:3], p.returncode, p.stderr[-2000:]))
		return p

	def replica(self, *extra, env=None):
		p = self.sh([self.py, REPLICA, "--shapes", SHAPES] + list(extra), env=env)
		return json.loads(p.stdout.strip().splitlines()[-1])

	# ---- 1. time to first inference ------------------------------------

	def prepare(self):
		log("compiling the model once (3 shapes) to make the real tree")
		self.rm(self.local)
		r = self.replica()
		self.cold_full = r
		shutil.copytree(self.local, self.tree, symlinks=True)
		self.sh([self.b10t, "save", "-q"])
		if self.ref_ok:
			p = self.sh([self.py, "-c", "import b10_transfer as b; print(b.save_compile_cache().name)"],
				    env=self.env_r)
			if p.stdout.strip().splitlines()[-1] != "SUCCESS":
				sys.exit("torch_bench: the reference's save failed: " + p.stderr[-2000:])

	def ttfi(self):
		cases = ["a", "b", "c", "d"] if self.ref_ok else ["a", "b", "d"]
		res = {k: [] for k in cases}
		share = []
		refload = []
		hits = {k: [] for k in cases}
		for i in range(self.a.runs):
			order = cases[i % len(cases):] + cases[:i % len(cases)]
			for k in order:
				self.rm(self.local)
				if k == "d":
					shutil.copytree(self.tree, self.local, symlinks=True)
				t = time.perf_counter()
				if k == "b":
					self.sh([self.b10t, "load", "-q"])
					tl = time.perf_counter() - t
				r = self.replica("--first-only", *(["--ref-load"] if k == "c" else []),
						 env=self.env_r if k == "c" else None)
				dt = time.perf_counter() - t
				res[k].append(dt)
				if k == "b":
					share.append(tl / dt)
				if k == "c":
					refload.append(r["ref_load"]["seconds"])
				c = r["counters"]
				hits[k].append("%d/%d" % (c["fxgraph_cache_hit"], c["fxgraph_cache_miss"]))
			log("ttfi run %d/%d: %s" % (i + 1, self.a.runs,
				" ".join("%s %.2f" % (k, res[k][-1]) for k in cases)))
		med = {k: statistics.median(v) for k, v in res.items()}
		return {"median_s": med, "runs_s": res, "b10t_share_of_b": statistics.median(share),
			"ref_load_s": statistics.median(refload) if refload else None,
			"fxgraph_hit_miss": hits}

	# ---- 2. save / load / herd on the real tree --------------------------

	def tools(self):
		"""name -> (save argv, load argv(dest), store dir, env)"""
		zst = os.path.join(self.w, "store-zstd", "cache.tar.zst")
		cpd = os.path.join(self.w, "store-cp", "tree")
		t = {
			"b10t": (lambda: [self.b10t, "save", "-q", "--cache-dir", self.tree],
				 lambda d: [self.b10t, "load", "-q", "--cache-dir", d],
				 self.store_b, self.env),
			"tar | zstd -T0": (lambda: ["sh", "-c", "tar -C '%s' -cf - . | zstd -q -T0 -o '%s'" % (self.tree, zst)],
					  lambda d: ["sh", "-c", "mkdir -p '%s' && zstd -q -dc '%s' | tar -C '%s' -xf -" % (d, zst, d)],
					  os.path.dirname(zst), self.env),
			"cp -a": (lambda: ["cp", "-a", self.tree, cpd],
				  lambda d: ["cp", "-a", cpd, d],
				  os.path.dirname(cpd), self.env),
		}
		if self.ref_ok:
			code = "import b10_transfer as b, sys; s = b.%s(); sys.exit(s.name not in ('SUCCESS',))"
			t["reference"] = (
				lambda: [self.py, "-c", code % "save_compile_cache"],
				lambda d: [self.py, "-c", code % "load_compile_cache"],
				self.store_r, None)
		return t

	def env_for(self, name, cache):
		if name == "reference":
			return dict(self.env_r, TORCHINDUCTOR_CACHE_DIR=cache)
		return self.env

	def timed(self, argv, env):
		t = time.perf_counter()
		p = subprocess.run(argv, env=env, capture_output=True, text=True)
		dt = time.perf_counter() - t
		if p.returncode != 0:
			sys.exit("torch_bench: %s failed (%d): %s" % (argv[:3], p.returncode, p.stderr[-1500:]))
		return dt

	def ops(self):
		tools = self.tools()
		names = list(tools)
		out = {n: {"save": [], "load": [], "herd": []} for n in names}
		dests = [os.path.join(self.w, "dest%d" % i) for i in range(self.a.herd)]
		for i in range(self.a.runs):
			order = names[i % len(names):] + names[:i % len(names)]
			for n in order:
				save, load, store, _ = tools[n]
				# save: from an emptied store (untimed)
				self.rm(store)
				os.makedirs(store, exist_ok=True)
				out[n]["save"].append(self.timed(save(), self.env_for(n, self.tree)))
				d = os.path.join(self.w, "dest")
				self.rm(d)
				out[n]["load"].append(self.timed(load(d), self.env_for(n, d)))
				if i < self.a.herd_runs:
					self.rm(*dests)
					t = time.perf_counter()
					ps = [subprocess.Popen(load(x), env=self.env_for(n, x),
							       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
					      for x in dests]
					bad = sum(p.wait() != 0 for p in ps)
					out[n]["herd"].append(time.perf_counter() - t)
					if bad:
						log("%s herd: %d of %d loads failed" % (n, bad, len(ps)))
			log("ops run %d/%d done" % (i + 1, self.a.runs))
		self.rm(*dests)
		floor = [self.timed([self.py, "-c", "import torch"], self.env) for _ in range(3)]
		return {n: {k: statistics.median(v) for k, v in o.items() if v} for n, o in out.items()}, \
			statistics.median(floor)


# ---- 3. tree profiles -----------------------------------------------------

BUCKETS = [(0, "0"), (1 << 10, "<1K"), (4 << 10, "1-4K"), (16 << 10, "4-16K"),
	   (64 << 10, "16-64K"), (256 << 10, "64-256K"), (1 << 20, "256K-1M"),
	   (4 << 20, "1-4M"), (1 << 62, ">4M")]


def kind(rel):
	parts = rel.split("/")
	top = parts[0]
	if top in ("fxgraph", "aotautograd", "locks", "triton"):
		return top + "/"
	name = parts[-1]
	return "<2>/*" + name[name.find("."):] if "." in name else "<2>/(no ext)"


def profile(root):
	sizes = []
	kinds = {}
	for d, _, fs in os.walk(root):
		for f in fs:
			p = os.path.join(d, f)
			n = os.lstat(p).st_size
			rel = os.path.relpath(p, root)
			sizes.append((n, rel))
			k = kinds.setdefault(kind(rel), [0, 0])
			k[0] += 1
			k[1] += n
	hist = []
	for i, (lim, label) in enumerate(BUCKETS):
		lo = BUCKETS[i - 1][0] if i else -1
		hist.append((label, sum(1 for n, _ in sizes if lo < n <= lim) if i else
			     sum(1 for n, _ in sizes if n == 0)))
	st = gen_tree.stats(root)
	st["hist"] = hist
	st["largest"] = sorted(sizes, reverse=True)[:5]
	st["kinds"] = kinds
	return st


def print_profiles(profs):
	names = list(profs)
	print("\n## Tree profiles (real vs bench/gen_tree.py)\n")
	print("| | " + " | ".join(names) + " |")
	print("|---" * (len(names) + 1) + "|")
	for key, fmt in (("files", "%d"), ("dirs", "%d"), ("bytes", "%d"), ("median", "%d"),
			 ("p90", "%d"), ("max", "%d")):
		print("| %s | " % key + " | ".join(fmt % profs[n][key] for n in names) + " |")
	for i, (_, label) in enumerate(BUCKETS):
		print("| files %s | " % label + " | ".join(
			"%.0f%%" % (100.0 * profs[n]["hist"][i][1] / max(1, profs[n]["files"])) for n in names) + " |")
	for n in names:
		print("\n%s: largest files:" % n)
		for size, rel in profs[n]["largest"]:
			print("  %9d  %s" % (size, rel))
		print("%s: by kind: %s" % (n, ", ".join(
			"%s %d files %.0f KiB" % (k, c, b / 1024) for k, (c, b) in sorted(profs[n]["kinds"].items()))))


def main():
	ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
	ap.add_argument("--runs", type=int, default=5)
	ap.add_argument("--herd", type=int, default=16)
	ap.add_argument("--herd-runs", type=int, default=3)
	ap.add_argument("--b10t")
	ap.add_argument("--venv")
	ap.add_argument("--dir", help="work dir parent without root (default /dev/shm)")
	ap.add_argument("--json", action="store_true")
	a = ap.parse_args()
	ref_ok = in_namespace(sys.argv[1:])
	b = Bench(a, ref_ok)
	try:
		b.prepare()
		tt = b.ttfi()
		ops, floor = b.ops()
		profs = {"real (this model)": profile(b.tree)}
		for size, gdir in (("cpu", "gen-cpu"), ("small", "gen-small")):
			out = os.path.join(b.w, gdir)
			gen_tree.generate(size, 1, out)
			profs["gen_tree " + size] = profile(out)
			shutil.rmtree(out)
	finally:
		shutil.rmtree(b.w, ignore_errors=True)
	if a.json:
		json.dump({"ttfi": tt, "ops": ops, "python_import_torch_s": floor,
			   "profiles": profs}, sys.stdout, indent=1, default=str)
		print()
		return
	m = tt["median_s"]
	print("## Time to first inference (median of %d, process start to first output)\n" % a.runs)
	print("| case | seconds | fxgraph hit/miss |")
	print("|---|---|---|")
	label = {"a": "(a) cold, no cache", "b": "(b) b10t load, then compile with hits",
		 "c": "(c) b10_transfer.load_compile_cache() in the replica, then compile",
		 "d": "(d) cache already on local disk"}
	for k in m:
		print("| %s | %.2f | %s |" % (label[k], m[k], tt["fxgraph_hit_miss"][k][0]))
	print()
	print("a/b %.2f   b/d %.2f   %s  b10t's share of (b) %.1f%%" % (
		m["a"] / m["b"], m["b"] / m["d"],
		("c/b %.2f (its load alone %.2f s)  " % (m["c"] / m["b"], tt["ref_load_s"])) if "c" in m else "c/b n/a  ",
		100 * tt["b10t_share_of_b"]))
	print("\n## save / load / herd of %d on the real tree (median seconds, process start included)\n" % a.herd)
	print("| tool | save | load | herd x%d | herd vs b10t |" % a.herd)
	print("|---|---|---|---|---|")
	hb = ops["b10t"]["herd"]
	for n, o in ops.items():
		print("| %s | %.3f | %.3f | %.3f | %.1fx |" % (n.replace("|", "\\|"), o["save"], o["load"], o["herd"], o["herd"] / hb))
	print("\n`python -c 'import torch'` alone: %.2f s (inside every reference row)" % floor)
	print_profiles(profs)


if __name__ == "__main__":
	main()
