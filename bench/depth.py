#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Cost of `b10t load` per archive entry at a shallow and a deep path.

    python3 bench/depth.py [--entries 100000] [--depths 2,200] [--runs 5]
                           [--b10t PATH] [--json]

For each depth D, an archive of --entries entries: half directories
P/x<i>/ and half files P/x<i>/f (one byte each), where P is a chain of
D-2 directories, so every file sits D levels deep and every member is in
a directory other than the one before it (the worst case for a cache of
one parent dir).  The archive is a real b10t archive: the manifest of a
`b10t save` of a tiny tree, then the members, as pax tar in an lz4 frame
(the `lz4` CLI).  Each run loads it into a missing cache dir; the time
per entry is the median over the runs divided by the entry count.  Work
dir: a private tmpfs under --dir when root (hot cache, like bench.py), else
a dir under --dir (/tmp; not /dev/shm: b10t refuses cache dirs under /dev).
"""
import argparse
import io
import json
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from benchlib import b10t_env, find_b10t, rm_rf, scratch  # noqa: E402


def env_for(work):
	return b10t_env(os.path.join(work, "store"), os.path.join(work, "cache"),
			os.path.join(work, "local"))


def member_names(i, depth, path_len=0):
	"""The dir and file of entry pair i: depth-2 chain dirs "a/", then x<i>/f.
	With path_len (depth 2 only), x<i> and f are padded to make the file's
	path that long: the control row, long names without depth."""
	prefix = "a/" * (depth - 2)
	d, f = "x%d" % i, "f"
	if path_len:
		d = (d + "y" * 250)[:250]
		f = "f" * max(1, min(255, path_len - len(d) - 1))
	return prefix + d, prefix + d + "/" + f


def make_archive(b10t, work, env, entries, depth, path_len=0):
	"""Publish the depth archive under the key's name; returns its path."""
	store, cache = env["B10FS_CACHE_DIR"], env["TORCHINDUCTOR_CACHE_DIR"]
	rm_rf(store)
	rm_rf(cache)
	os.makedirs(store)
	os.makedirs(os.path.join(cache, "t"))
	with open(os.path.join(cache, "t", "f"), "w") as f:
		f.write("x")
	subprocess.run([b10t, "save", "-q"], env=env, check=True, stdout=subprocess.DEVNULL)
	name = [n for n in os.listdir(store) if n.endswith(".tar.lz4")][0]
	arch = os.path.join(store, name)
	tar = subprocess.run(["lz4", "-dc", arch], capture_output=True, check=True).stdout
	with tarfile.open(fileobj=io.BytesIO(tar)) as t:
		mi = t.getmember(".b10t/manifest.json")
		manifest = t.extractfile(mi).read()
	rm_rf(cache)
	raw = os.path.join(work, "depth.tar")
	prefix = "".join("a/" for _ in range(depth - 2))
	with tarfile.open(raw, "w", format=tarfile.PAX_FORMAT) as t:
		ti = tarfile.TarInfo(".b10t/manifest.json")
		ti.size = len(manifest)
		ti.mtime = 1700000000
		t.addfile(ti, io.BytesIO(manifest))
		d = tarfile.TarInfo(prefix.rstrip("/") or ".")
		d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1700000000
		if prefix:
			t.addfile(d)
		for i in range(entries // 2):
			dname, fname = member_names(i, depth, path_len)
			d = tarfile.TarInfo(dname)
			d.type, d.mode, d.mtime = tarfile.DIRTYPE, 0o755, 1700000000
			t.addfile(d)
			f = tarfile.TarInfo(fname)
			f.size, f.mode, f.mtime = 1, 0o644, 1700000000
			t.addfile(f, io.BytesIO(b"x"))
	subprocess.run(["lz4", "-1", "-q", "-f", raw, arch], check=True)
	os.unlink(raw)
	return arch


def time_loads(b10t, env, runs):
	cache = env["TORCHINDUCTOR_CACHE_DIR"]
	times = []
	for _ in range(runs):
		rm_rf(cache)
		t0 = time.perf_counter()
		r = subprocess.run([b10t, "load", "-q"], env=env, capture_output=True)
		times.append(time.perf_counter() - t0)
		if r.returncode != 0:
			sys.exit("depth: b10t load failed (exit %d): %s" % (
				r.returncode, r.stderr.decode().strip()))
	rm_rf(cache)
	return times


def measure(b10t, entries, depths, runs, parent="/tmp", control=True):
	"""One row per depth: entries, archive size, the runs, median, us/entry.
	With control, a last row at depth 2 whose paths are as long as the
	deepest row's: what long names cost without depth."""
	work = tempfile.mkdtemp(prefix="b10t-depth.", dir=parent)
	rows = []
	cases = [(d, 0) for d in depths]
	if control:
		cases.append((2, len(member_names(0, max(depths))[1])))
	try:
		env = env_for(work)
		for depth, path_len in cases:
			print("depth: building %d entries at depth %d%s" % (
				entries, depth, " with %d-byte paths" % path_len if path_len else ""),
			      file=sys.stderr, flush=True)
			arch = make_archive(b10t, work, env, entries, depth, path_len)
			times = time_loads(b10t, env, runs)
			med = statistics.median(times)
			rows.append({"depth": depth, "entries": entries, "path_bytes":
				     path_len or len(member_names(0, depth)[1]),
				     "archive_bytes": os.path.getsize(arch), "runs": times,
				     "median_s": med, "us_per_entry": med / entries * 1e6})
	finally:
		rm_rf(work)
	return rows


def print_rows(rows):
	print("%-6s %10s %9s %12s %10s %12s %12s" % ("depth", "path bytes", "entries",
						     "archive KiB", "load s", "us/entry",
						     "min us/entry"))
	for r in rows:
		print("%-6d %10d %9d %12.0f %10.3f %12.2f %12.2f" % (
		      r["depth"], r["path_bytes"], r["entries"], r["archive_bytes"] / 1024,
		      r["median_s"], r["us_per_entry"], min(r["runs"]) / r["entries"] * 1e6))
	deep = max(rows, key=lambda r: r["depth"])
	for r in rows:
		if r is not deep:
			print("per entry, depth %d / depth %d with %d-byte paths: %.2fx" % (
				deep["depth"], r["depth"], r["path_bytes"],
				deep["us_per_entry"] / r["us_per_entry"]))


def main():
	ap = argparse.ArgumentParser(description="b10t load: time per entry vs path depth.")
	ap.add_argument("--entries", type=int, default=100000)
	ap.add_argument("--depths", default="2,200")
	ap.add_argument("--runs", type=int, default=5)
	ap.add_argument("--b10t")
	ap.add_argument("--dir", default="/tmp", help="parent of the work dir")
	ap.add_argument("--no-control", action="store_true",
			help="no row at depth 2 with paths as long as the deepest row's")
	ap.add_argument("--json", action="store_true")
	args = ap.parse_args()
	b10t = find_b10t(args.b10t, "depth")
	if not shutil.which("lz4"):
		sys.exit("depth: needs the lz4 CLI")
	with scratch("b10t-depth-tmpfs.", 4 << 30, args.dir) as (work, _):
		rows = measure(b10t, args.entries, [int(d) for d in args.depths.split(",")],
			       args.runs, work, not args.no_control)
	if args.json:
		print(json.dumps({"depth": rows}, indent=1))
	else:
		print_rows(rows)


if __name__ == "__main__":
	main()
