#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""How much do layers cost?  `b10t update` against `b10t save`, and a load
of a base plus 10 layers against a load of the same tree compacted.

    python3 bench/layers.py [--runs 5] [--size medium] [--b10t build/cmd/b10t]

Work happens on a tmpfs of its own (mounted under /tmp when root, else a
dir under --dir, default /tmp), so the numbers are CPU and syscalls, not a
disk.  (Not /dev/shm: b10t refuses a cache dir under /dev.)  Baselines are measured in the same run, runs alternate between
the two sides of each ratio, and every figure is a median:

  update      a replica that loaded the published tree (gen_tree.py
              --size medium, ~400 MB) and then compiled 1% more bytes
              (files of a second tree of another seed) runs `b10t update`;
              baseline: `b10t save` of that same cache dir into an empty
              store.  Targets: the layer holds ~1% of the bytes, and the
              update costs <= 0.2x the full save.
  load        a store holding a base and 10 layers (each adding 1% new
              files) loaded into a fresh dir; baseline: the same store
              after `b10t gc --compact` (one base of the same tree).
              Target: <= 1.2x.

Prints one table, or --json.  Run it once, not in a loop: the machine's
cores are shared.
"""
import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
from benchlib import b10t_env, find_b10t, logger, scratch  # noqa: E402


log = logger("layers")


def env_for(store, cache, work):
	# No automatic compaction inside the timed updates.
	return b10t_env(store, cache, work, B10T_COMPACT_LAYERS=1000, B10T_COMPACT_MB=1048576)


def b10t(bin_, env, *args, check=True):
	t = time.perf_counter()
	p = subprocess.run([bin_, *args, "--json"], env=env, capture_output=True, text=True)
	dt = time.perf_counter() - t
	if check and p.returncode != 0:
		sys.exit("layers: b10t %s failed (%d): %s" % (" ".join(args), p.returncode, p.stderr[-2000:]))
	try:
		out = json.loads(p.stdout)
	except ValueError:
		out = {}
	return dt, p.returncode, out


def tree_bytes(root):
	n = 0
	for d, _, fs in os.walk(root):
		for f in fs:
			n += os.lstat(os.path.join(d, f)).st_size
	return n


def slices(src, total, k):
	"""k lists of files of tree SRC, each about total bytes."""
	files = []
	for d, _, fs in os.walk(src):
		for f in sorted(fs):
			p = os.path.join(d, f)
			files.append((os.path.relpath(p, src), os.lstat(p).st_size))
	files.sort()
	out, cur, got = [], [], 0
	for rel, size in files:
		if size > total:
			continue
		cur.append(rel)
		got += size
		if got >= total:
			out.append(cur)
			cur, got = [], 0
			if len(out) == k:
				break
	if len(out) < k:
		sys.exit("layers: the extra tree is too small for %d slices of %d bytes" % (k, total))
	return out


def add_files(src, rels, dst):
	for rel in rels:
		d = os.path.join(dst, os.path.dirname(rel))
		os.makedirs(d, exist_ok=True)
		shutil.copy2(os.path.join(src, rel), os.path.join(dst, rel))


def store_bytes(store):
	return {n: os.path.getsize(os.path.join(store, n)) for n in os.listdir(store)}


def drop_generation(store, new_names):
	for n in new_names:
		os.unlink(os.path.join(store, n))


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--runs", type=int, default=5)
	ap.add_argument("--size", default="medium")
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("--b10t", help="the binary (default: build/cmd/b10t, else PATH)")
	ap.add_argument("--dir", default="/tmp")
	ap.add_argument("--json", action="store_true")
	a = ap.parse_args()
	bin_ = find_b10t(a.b10t, "layers")
	load0 = os.getloadavg()[0]
	with scratch("b10t-layers-bench.", 6 << 30, a.dir) as (work, mounted):
		res = run_bench(a, bin_, work)
	res["tmpfs"] = mounted
	res["loadavg"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
	if a.json:
		print(json.dumps(res, indent=1))
		return
	print("%-44s %10s %10s %8s %8s" % ("", "median s", "baseline", "ratio", "target"))
	for row in res["rows"]:
		print("%-44s %10.3f %10.3f %8.3f %8s %s" % (row["name"], row["median"], row["baseline"],
							     row["ratio"], row["target"], "ok" if row["ok"] else "MISSED"))
	print("the layer: %.2f%% of the full archive (%d of %d bytes; the tree: %d bytes, +1%% new)" % (
		100 * res["layer_fraction"], res["layer_archive_bytes"], res["full_archive_bytes"],
		res["tree_bytes"]))
	print("load average at start %.2f, at end %.2f (2 cores: above 2, the numbers are inflated)" %
	      tuple(res["loadavg"]))


def run_bench(a, bin_, work):
	tree, extra = os.path.join(work, "tree"), os.path.join(work, "extra")
	log("generating the %s tree (seed %d) and the extra tree (seed %d)" % (a.size, a.seed, a.seed + 1))
	# The extra tree gives the 1% slices: 10 of them, none of its files
	# over a slice's size; "small" (50 MB, a few big .so) is short of that.
	for out, size, seed in ((tree, a.size, a.seed), (extra, a.size, a.seed + 1)):
		subprocess.run([sys.executable, os.path.join(HERE, "gen_tree.py"), "--size", size,
				"--seed", str(seed), "--out", out], check=True, stdout=subprocess.DEVNULL)
	tb = tree_bytes(tree)
	parts = slices(extra, tb // 100, 10)
	scratch = os.path.join(work, "scratch")
	os.makedirs(scratch)

	# --- update vs save: a replica that loaded the tree and grew by 1%.
	s1 = os.path.join(work, "s1")
	os.makedirs(s1)
	b10t(bin_, env_for(s1, tree, scratch), "save")
	full_archive = sum(store_bytes(s1).values())
	grown = os.path.join(work, "grown")
	b10t(bin_, env_for(s1, grown, scratch), "load")
	add_files(extra, parts[0], grown)
	before = set(os.listdir(s1))
	upd, full, layer_bytes = [], [], None
	for r in range(a.runs):
		order = ("update", "save") if r % 2 == 0 else ("save", "update")
		for what in order:
			if what == "update":
				dt, rc, out = b10t(bin_, env_for(s1, grown, scratch), "update")
				if out.get("status") != "SUCCESS":
					sys.exit("layers: update did not publish: %s" % out)
				new = sorted(set(os.listdir(s1)) - before)
				layer_bytes = out.get("archive_bytes")
				drop_generation(s1, new)
				upd.append(dt)
			else:
				s2 = os.path.join(work, "s2")
				shutil.rmtree(s2, ignore_errors=True)
				os.makedirs(s2)
				dt, rc, out = b10t(bin_, env_for(s2, grown, scratch), "save")
				full.append(dt)
	# --- base + 10 layers vs compacted.
	s3 = os.path.join(work, "s3")
	os.makedirs(s3)
	c3 = os.path.join(work, "c3")
	shutil.copytree(tree, c3, symlinks=True)
	b10t(bin_, env_for(s3, c3, scratch), "save")
	for k in range(10):
		add_files(extra, parts[k], c3)
		b10t(bin_, env_for(s3, c3, scratch), "update")
	s4 = os.path.join(work, "s4")
	shutil.copytree(s3, s4)
	b10t(bin_, env_for(s4, os.path.join(work, "unused"), scratch), "gc", "--compact")
	layered, compacted = [], []
	for r in range(a.runs):
		order = ((s3, layered), (s4, compacted)) if r % 2 == 0 else ((s4, compacted), (s3, layered))
		for store, acc in order:
			dst = os.path.join(work, "dst")
			shutil.rmtree(dst, ignore_errors=True)
			dt, rc, out = b10t(bin_, env_for(store, dst, scratch), "load")
			acc.append(dt)
	rows = []

	def row(name, xs, base, target):
		m, b = statistics.median(xs), statistics.median(base)
		rows.append({"name": name, "median": m, "baseline": b, "ratio": m / b,
			     "target": "<= %.1f" % target, "ok": m / b <= target,
			     "runs": [round(x, 4) for x in xs], "baseline_runs": [round(x, 4) for x in base]})

	row("update (+1%) vs full save", upd, full, 0.2)
	row("load base+10 layers vs compacted", layered, compacted, 1.2)
	return {"rows": rows, "tree_bytes": tb, "layer_archive_bytes": layer_bytes or 0,
		"full_archive_bytes": full_archive,
		"layer_fraction": (layer_bytes or 0) / max(full_archive, 1), "runs": a.runs}


if __name__ == "__main__":
	main()
