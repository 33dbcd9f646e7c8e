#!/usr/bin/env python3
"""b10t's codecs side by side: save time, archive size and load time of
B10T_CODEC=lz4 against zstd levels 1-3 (libzstd's worker threads, one per
CPU), from tmpfs and from real network filesystems.

    python3 bench/codec.py [--fs tmpfs,juicefs,sshfs,gluster,rclone]
                           [--runs 5] [--tree small|cpu]

Needs root (mounts, drop_caches).  Every filesystem but tmpfs is brought up
with tests/netfs/netfs.sh as bench/netfs_bench.py does: saves go through
mount 1, loads read through mount 2 (the other client), the client caches
are dropped before every timed op, and the local side (tree, each load's
fresh cache dir, b10t's scratch) is a private tmpfs.  Each save writes into
an emptied store; each load into a fresh cache dir.  The codecs run in a
rotated order from run to run.  Medians of --runs, with the ratio against
lz4 measured in the same run, per filesystem.
"""

import argparse
import math
import re
import os
import resource
import shutil
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import gen_tree  # noqa: E402
import netfs_bench as nb  # noqa: E402
from benchlib import each_fs, find_b10t, fs_list, loadavg, rm_rf, scratch  # noqa: E402

ALL_FS = ("tmpfs", "juicefs", "sshfs", "gluster", "rclone")
MiB = 1024 * 1024
CODECS = [
	("lz4", {"B10T_CODEC": "lz4"}),
	("zstd -1", {"B10T_CODEC": "zstd", "B10T_ZSTD_LEVEL": "1"}),
	("zstd -2", {"B10T_CODEC": "zstd", "B10T_ZSTD_LEVEL": "2"}),
	("zstd -3", {"B10T_CODEC": "zstd", "B10T_ZSTD_LEVEL": "3"}),
]


def timed(cmd, env=None):
	"""(wall s, CPU s of the command and its children): on a shared, busy
	machine the CPU seconds move far less than the wall seconds."""
	r0 = resource.getrusage(resource.RUSAGE_CHILDREN)
	wall = nb.timed(cmd, env)
	r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
	return wall, (r1.ru_utime - r0.ru_utime) + (r1.ru_stime - r0.ru_stime)


def attempt(res, notes, op, cmd, env):
	"""Record wall and CPU seconds of op in res[op], res[op + " cpu"];
	None for both when it fails (the median is then n/a)."""
	try:
		w, c = timed(cmd, env)
	except RuntimeError as e:
		w = c = None
		if not any(n.startswith(op + ": ") for n in notes):
			notes.append("%s: %s" % (op, e))
	res[op].append(w)
	res[op + " cpu"].append(c)
	return w is not None


# A generation's archive, whichever codec (docs/store-protocol.md).
GEN_ARCHIVE = re.compile(r"^cache_[A-Za-z0-9_-]+\.g[1-9][0-9]*\.[a-z0-9-]+\.tar\.(lz4|zst)$")


def archives(store):
	return [f for f in os.listdir(store) if GEN_ARCHIVE.match(f)]


def claim_of(archive):
	"""cache_K.g<N>.<uniq>.tar.x -> cache_K.g<N>, the claim naming it."""
	return archive.split(".")[0] + "." + archive.split(".")[1]


def slug(name):
	return name.replace(" ", "").replace("-", "")


class Bench(nb.Bench):
	def prepare(self):
		os.makedirs(self.loc)
		st = gen_tree.generate(self.args.tree, self.args.seed, self.tree)
		self.tree_stats = st
		self.want = (st["files"], st["bytes"])

	def env(self, codec_env, store, cache_dir, scratch):
		e = self.b10t_env(store, cache_dir, scratch)
		e.pop("B10T_ZSTD_LEVEL", None)
		e.update(codec_env)
		return e

	def bench_fs(self, fs):
		fsdir = None
		if fs == "tmpfs":
			m1 = m2 = os.path.join(self.work, "tmpfs-store")
			os.makedirs(m1)
		else:
			fsdir = os.path.join(self.work, "net-" + fs)
			p = subprocess.run([nb.NETFS, "start", fs, fsdir], stdout=subprocess.PIPE,
					   stderr=subprocess.PIPE)
			if p.returncode != 0:
				err = p.stderr.decode(errors="replace").strip().splitlines()
				raise nb.SkipFS("netfs.sh start exit %d: %s" % (
					p.returncode, err[-1] if err else ""))
			m1, m2 = p.stdout.decode().split()[:2]
		try:
			return self._run(fs, fsdir, m1, m2)
		finally:
			if fsdir:
				subprocess.run([nb.NETFS, "stop", fs, fsdir], stdout=subprocess.DEVNULL,
					       stderr=subprocess.DEVNULL)

	def _run(self, fs, fsdir, m1, m2):
		runs, net = self.args.runs, fs != "tmpfs"
		drop = lambda: self.drop_client(fsdir, fs) if net else None  # noqa: E731
		scratch = os.path.join(self.loc, "scratch")
		res = {c: {"save": [], "load": [], "save cpu": [], "load cpu": []} for c, _ in CODECS}
		sizes, notes = {}, []

		def fresh_scratch():
			rm_rf(scratch)
			os.makedirs(scratch)

		# Saves: through mount 1, into an emptied store of the codec's own.
		for i in range(runs):
			order = CODECS[i % len(CODECS):] + CODECS[:i % len(CODECS)]
			for name, cenv in order:
				store = os.path.join(m1, "store-" + slug(name))
				rm_rf(store)
				os.makedirs(store)
				fresh_scratch()
				drop()
				attempt(res[name], notes, "save",
					   "%s save --quiet" % nb.q(self.b10t),
					   self.env(cenv, store, self.tree, scratch))
		# The archive each load reads: the last save's; where save cannot
		# publish (rclone), one saved locally and copied onto the share.
		for name, cenv in CODECS:
			store = os.path.join(m1, "store-" + slug(name))
			arch = archives(store)
			if len(arch) != 1:
				lstore = os.path.join(self.loc, "lstore")
				rm_rf(lstore)
				os.makedirs(lstore)
				fresh_scratch()
				nb.timed("%s save --quiet" % nb.q(self.b10t),
					 self.env(cenv, lstore, self.tree, scratch))
				arch = archives(lstore)
				rm_rf(store)
				os.makedirs(store)
				# the archive, then its claim (the commit point)
				for f in (arch[0], claim_of(arch[0])):
					shutil.copyfile(os.path.join(lstore, f), os.path.join(store, f))
				rm_rf(lstore)
				if not any(n.startswith("load reads") for n in notes):
					notes.append("load reads archives saved locally and copied onto the "
						     "share (save cannot publish here)")
			sizes[name] = os.path.getsize(os.path.join(store, arch[0]))
			os.sync()
			seen = os.path.join(m2, "store-" + slug(name), arch[0])
			nb.wait_visible(seen)
			t1 = time.time()
			while os.path.getsize(seen) != sizes[name]:
				if time.time() - t1 > 120:
					raise RuntimeError("client 2 does not see the whole archive")
				time.sleep(1)
		# Loads: through mount 2, each into a fresh local cache dir.
		for i in range(runs):
			order = CODECS[i % len(CODECS):] + CODECS[:i % len(CODECS)]
			for name, cenv in order:
				d = self.fresh("dest")
				fresh_scratch()
				drop()
				store = os.path.join(m2, "store-" + slug(name))
				if attempt(res[name], notes, "load",
					      "%s load --quiet" % nb.q(self.b10t),
					      self.env(cenv, store, d, scratch)) and i == 0:
					got = nb.shape(d)
					if got != self.want:
						notes.append("%s: loaded %d files %d bytes, want %d files %d bytes"
							     % (name, got[0], got[1], self.want[0], self.want[1]))
		rm_rf(os.path.join(self.loc, "dest"))
		return res, sizes, notes


def geomean(xs):
	return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def report(b, results, skipped, la0, la1, runs):
	med, fmt, ratio = nb.med, nb.fmt, nb.ratio
	print("# bench/codec.py: tree %s (%s), %d runs, median seconds, process start included"
	      % (b.args.tree, gen_tree.describe(b.tree_stats), runs))
	print("# saves through mount 1 into an emptied store, loads through mount 2 into a fresh "
	      "cache dir; client caches dropped before every op; ratios against lz4 of the same run")
	print("# %d CPUs in our affinity mask (zstd's workers), load average %s at start"
	      % (len(os.sched_getaffinity(0)), la0))
	print()
	best = {}
	for fs, (res, sizes, notes) in results.items():
		lz = {k: med(v) for k, v in res["lz4"].items()}
		print("## %s" % fs)
		print()
		print("| codec | archive MiB | size vs lz4 | save s | vs lz4 | save CPU s | vs lz4 "
		      "| load s | vs lz4 | load CPU s | vs lz4 |")
		print("|---|---|---|---|---|---|---|---|---|---|---|")
		for name, _ in CODECS:
			cells = []
			for k in ("save", "save cpu", "load", "load cpu"):
				v = med(res[name][k])
				cells += [fmt(v), fmt(ratio(v, lz[k]), "%.2fx")]
			print("| %s | %.2f | %.2fx | %s |" % (name, sizes[name] / MiB,
							     sizes[name] / sizes["lz4"], " | ".join(cells)))
		for n in notes:
			print("\nnote: " + n)
		print()
		loads = {n: med(res[n]["load"]) for n, _ in CODECS if med(res[n]["load"]) is not None}
		if loads:
			best[fs] = min(loads, key=loads.get)
	# The choice: the codec with the lowest load time relative to lz4's,
	# per filesystem and over the network ones (geometric mean).
	net = [fs for fs in results if fs != "tmpfs"]
	for fs, n in best.items():
		print("fastest load on %s: %s" % (fs, n))
	if net:
		score = {}
		for name, _ in CODECS:
			xs = [ratio(med(results[fs][0][name]["load"]), med(results[fs][0]["lz4"]["load"]))
			      for fs in net]
			if None not in xs:
				score[name] = geomean(xs)
		if score:
			w = min(score, key=score.get)
			print("over the network filesystems (%s), load time vs lz4, geometric mean: %s; "
			      "fastest: %s" % ("/".join(net), ", ".join("%s %.2fx" % (n, s) for n, s in
									score.items()), w))
	for fs, why in skipped.items():
		print("skipped %s: %s" % (fs, why))
	print("load average: start %s, end %s" % (la0, la1))


def main():
	ap = argparse.ArgumentParser(description="b10t's lz4 against zstd 1-3, save and load.")
	ap.add_argument("--fs", default=",".join(ALL_FS))
	ap.add_argument("--runs", type=int, default=5)
	ap.add_argument("--tree", choices=("small", "cpu"), default="cpu")
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("--b10t", default=None)
	args = ap.parse_args()
	fss = fs_list(args.fs, ALL_FS, "codec.py")
	if args.runs < 1:
		sys.exit("codec.py: --runs must be >= 1")
	if os.geteuid() != 0:
		sys.exit("codec.py: needs root (mounts, /proc/sys/vm/drop_caches)")
	b10t = find_b10t(args.b10t, "codec.py")
	la0 = loadavg()
	with scratch("b10t-codecbench.", 8 << 30) as (work, mounted):
		if not mounted:
			sys.exit("codec.py: could not mount a tmpfs on %s" % work)
		b = Bench(args, work, b10t)
		b.prepare()
		nb.log("tree: %s" % gen_tree.describe(b.tree_stats))
		results, skipped = each_fs(fss, b.bench_fs, nb.log)
		if not results:
			sys.exit("codec.py: no filesystem ran")
		report(b, results, skipped, la0, loadavg(), args.runs)


if __name__ == "__main__":
	main()
