#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""What does a statistics record cost a load?  `b10t load` with
B10T_STATS=1 (a record appended to the store's .b10t-stats/<host>.log)
against B10T_STATS=0 (none), the wall time of the whole process.

    python3 bench/stats.py [--runs 9] [--size small] [--b10t build/cmd/b10t]

Three loads, each a median of --runs, the two sides alternating run by run
(which goes first alternates too), so noise falls on both:

  hit       a load of the published tree (gen_tree.py --size small, ~50 MB)
            into a fresh dir: what a replica's start pays.
  miss      a load of a key with nothing published (DOES_NOT_EXIST): a
            few ms, where a record's cost shows most of all loads.
  skipped   a load into a non-empty cache dir (SKIPPED): the fastest load,
            its record the largest share.

Work happens on a tmpfs of its own when root (else under --dir, /tmp), so
the numbers are CPU and syscalls.  The host's stats file is first grown to
B10T_STATS_FILE_MAX / 2 (512 KiB, as gc leaves it), the size a busy host
appends to.  Target: each ratio <= 1.05.  Last, the record alone: the
syscalls it makes, timed in a loop (median of --runs batches of 200), and
its share of the fastest load: the cost without the noise of a whole
process.  Prints a table, or --json.
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


log = logger("stats")


def env_for(store, cache, work, stats, torch="x"):
	return b10t_env(store, cache, work, B10T_TORCH_VERSION=torch, B10T_CODEC="lz4",
			B10T_STATS=1 if stats else 0)


def timed(bin_, env, want_rc, *args):
	t = time.perf_counter()
	p = subprocess.run([bin_, *args], env=env, capture_output=True, text=True)
	dt = time.perf_counter() - t
	if p.returncode != want_rc:
		sys.exit("stats: b10t %s: exit %d, want %d: %s" % (" ".join(args), p.returncode,
								   want_rc, p.stderr[-2000:]))
	return dt


def records(store):
	d = os.path.join(store, ".b10t-stats")
	n = 0
	for name in os.listdir(d) if os.path.isdir(d) else []:
		with open(os.path.join(d, name), "rb") as f:
			n += f.read().count(b"\n")
	return n


def run_bench(a, bin_, work):
	src = os.path.join(work, "src")
	store = os.path.join(work, "store")
	os.makedirs(store)
	log("generating a %s tree" % a.size)
	subprocess.run([sys.executable, os.path.join(HERE, "gen_tree.py"), "--size", a.size,
			"--seed", "1", "--out", src], check=True, stdout=subprocess.DEVNULL)
	timed(bin_, env_for(store, src, work, False), 0, "save")
	# A busy host's file: as gc leaves it (half of 1 MiB).
	d = os.path.join(store, ".b10t-stats")
	os.makedirs(d, exist_ok=True)
	host = subprocess.run(["hostname"], capture_output=True, text=True).stdout.strip()
	host = "".join(c if c.isalnum() or c == "-" else "-" for c in host.lower()) or "host"
	now = int(time.time() * 1000)
	with open(os.path.join(d, host + ".log"), "w") as f:
		for i in range(6000):
			f.write("b10t1 %d %s load hit - 123456 1500000 0123456789abcdef\n" % (now - 6000 + i, host))
	before = records(store)

	cache = os.path.join(work, "cache")
	full = os.path.join(work, "full")
	os.makedirs(full)
	with open(os.path.join(full, "x"), "w") as f:
		f.write("x")
	cases = [
		("hit", lambda s: (env_for(store, cache, work, s), 0)),
		("miss", lambda s: (env_for(store, cache, work, s, torch="nothing"), 3)),
		("skipped", lambda s: (env_for(store, full, work, s), 4)),
	]
	rows = []
	for name, mk in cases:
		t = {True: [], False: []}
		for i in range(a.runs):
			for stats in ((True, False) if i % 2 else (False, True)):
				shutil.rmtree(cache, ignore_errors=True)
				env, rc = mk(stats)
				t[stats].append(timed(bin_, env, rc, "load"))
		on, off = statistics.median(t[True]), statistics.median(t[False])
		rows.append({"name": name, "runs": a.runs, "with_stats_s": on, "without_stats_s": off,
			     "ratio": on / off, "target": 1.05, "ok": on / off <= 1.05})
		log("%s: %.4f s with, %.4f s without" % (name, on, off))
	written = records(store) - before
	# The record alone: the syscalls b10t_stats_note makes (open with
	# O_APPEND, fstat, one write, close) on the same file, 200 per batch.
	path = os.path.join(d, host + ".log")
	line = ("b10t1 %d %s load hit - 123456 1500000 0123456789abcdef\n" % (now, host)).encode()
	batches = []
	for _ in range(a.runs):
		t0 = time.perf_counter()
		for _ in range(200):
			fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_CLOEXEC |
				     os.O_NOFOLLOW | os.O_NONBLOCK, 0o666)
			os.fstat(fd)
			os.write(fd, line)
			os.close(fd)
		batches.append((time.perf_counter() - t0) / 200)
	rec_s = statistics.median(batches)
	fastest = min(r["without_stats_s"] for r in rows)
	return {"rows": rows, "record_s": rec_s, "record_share_of_fastest_load": rec_s / fastest, "records_written": written, "records_expected": 3 * a.runs,
		"size": a.size}


def main():
	ap = argparse.ArgumentParser()
	ap.add_argument("--runs", type=int, default=9)
	ap.add_argument("--size", default="small")
	ap.add_argument("--b10t", help="the binary (default: build/cmd/b10t, else PATH)")
	ap.add_argument("--dir", default="/tmp")
	ap.add_argument("--json", action="store_true")
	a = ap.parse_args()
	bin_ = find_b10t(a.b10t, "stats")
	load0 = os.getloadavg()[0]
	with scratch("b10t-stats-bench.", 2 << 30, a.dir) as (work, mounted):
		res = run_bench(a, bin_, work)
	res["tmpfs"] = mounted
	res["loadavg"] = [round(load0, 2), round(os.getloadavg()[0], 2)]
	if a.json:
		print(json.dumps(res, indent=1))
		return
	print("%-30s %12s %12s %8s %8s" % ("load (median of %d)" % a.runs, "B10T_STATS=1",
					   "B10T_STATS=0", "ratio", "target"))
	for r in res["rows"]:
		print("%-30s %10.4f s %10.4f s %8.3f %8s %s" % (r["name"], r["with_stats_s"],
							      r["without_stats_s"], r["ratio"],
							      "<= %.2f" % r["target"],
							      "ok" if r["ok"] else "MISSED"))
	print("the record alone (open, fstat, write, close): %.1f us, %.2f%% of the fastest load" %
	      (res["record_s"] * 1e6, 100 * res["record_share_of_fastest_load"]))
	print("records written: %d of %d expected (one per load with B10T_STATS=1)" %
	      (res["records_written"], res["records_expected"]))
	print("load average at start %.2f, at end %.2f (2 cores: above 2, the numbers are inflated)" %
	      tuple(res["loadavg"]))


if __name__ == "__main__":
	main()
