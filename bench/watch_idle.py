#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Idle cost of `b10t watch` against `sleep` over the same time.

    python3 bench/watch_idle.py [--dirs 2000] [--files 20000] [--seconds 10]
                                [--runs 5] [--b10t PATH] [--json]

A TorchInductor-shaped tree of --dirs directories and --files files
(what a warm cache holds: every directory is one inotify watch), then,
--runs times: `b10t watch` (no command: a sidecar) and `sleep` start side
by side; once the watcher prints its "watching" line (the handshake), both
are measured over the same --seconds: CPU time from /proc/PID/schedstat
(nanoseconds on the CPU, finer than the clock ticks of /proc/PID/stat)
and wake-ups (voluntary + involuntary context switches from
/proc/PID/status).  The rows give the medians over the runs; the
watcher's ratios are against `sleep`'s, with 1 us (CPU) and 1 (wake-up)
as the floor of the divisor, since an idle `sleep` costs nothing at all.

A third named baseline, measured in the same run: what a poller would
cost instead, one walk of the tree (os.walk + lstat of every entry, the
least a poll can do to see a new file), timed (median of --runs walks) and
scaled to one walk every 2 s over the same --seconds.

The watcher's set-up (one inotify_add_watch per directory) is reported
apart: it is paid once, at the start.
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

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
POLL_INTERVAL_S = 2.0


def find_b10t(arg):
	if arg:
		return arg
	p = os.path.join(REPO, "build", "cmd", "b10t")
	return p if os.access(p, os.X_OK) else shutil.which("b10t")


def make_tree(root, ndirs, nfiles):
	"""fxgraph/<2 hex>/<hash>/ and triton/<hash>/ dirs, files spread over them."""
	dirs = []
	for i in range(ndirs):
		if i % 2:
			d = os.path.join(root, "fxgraph", "%02x" % (i % 256), "h%06d" % i)
		else:
			d = os.path.join(root, "triton", "k%06d" % i)
		os.makedirs(d, exist_ok=True)
		dirs.append(d)
	for i in range(nfiles):
		with open(os.path.join(dirs[i % len(dirs)], "e%06d" % i), "wb") as f:
			f.write(b"x" * (64 + i % 512))


def cpu_ns(pid):
	with open("/proc/%d/schedstat" % pid) as f:
		return int(f.read().split()[0])


def wakeups(pid):
	n = 0
	with open("/proc/%d/status" % pid) as f:
		for line in f:
			if "ctxt_switches" in line:
				n += int(line.split()[1])
	return n


def walk_once(root):
	t = time.perf_counter()
	for d, subdirs, files in os.walk(root):
		for name in files + subdirs:
			os.lstat(os.path.join(d, name))
	return time.perf_counter() - t


def one_run(b10t, env, seconds):
	t0 = time.perf_counter()
	w = subprocess.Popen([b10t, "watch", "--json", "-q", "--quiet-period", "1"], env=env,
			     stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
	line = w.stdout.readline()	# the handshake: {"event":"watching",...}
	setup_s = time.perf_counter() - t0
	if b'"watching"' not in line:
		w.kill()
		sys.exit("b10t watch did not start: %r" % line)
	s = subprocess.Popen(["sleep", str(seconds * 4 + 30)])
	time.sleep(0.2)		# let sleep reach its nanosleep
	a = (cpu_ns(w.pid), wakeups(w.pid), cpu_ns(s.pid), wakeups(s.pid))
	time.sleep(seconds)
	b = (cpu_ns(w.pid), wakeups(w.pid), cpu_ns(s.pid), wakeups(s.pid))
	w.terminate()
	s.kill()
	w.wait()
	s.wait()
	return {
		"watch_cpu_ns": b[0] - a[0], "watch_wakeups": b[1] - a[1],
		"sleep_cpu_ns": b[2] - a[2], "sleep_wakeups": b[3] - a[3],
		"setup_s": setup_s,
	}


def main():
	ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
	ap.add_argument("--dirs", type=int, default=2000)
	ap.add_argument("--files", type=int, default=20000)
	ap.add_argument("--seconds", type=float, default=10.0)
	ap.add_argument("--runs", type=int, default=5)
	ap.add_argument("--b10t")
	ap.add_argument("--json", action="store_true")
	a = ap.parse_args()
	b10t = find_b10t(a.b10t)
	if not b10t:
		sys.exit("b10t not found: build it (ninja -C build) or pass --b10t")
	# Not /dev/shm: b10t refuses a cache dir under /dev.
	work = tempfile.mkdtemp(prefix="b10t-watch-bench.")
	try:
		cache = os.path.join(work, "cache")
		make_tree(cache, a.dirs, a.files)
		os.makedirs(os.path.join(work, "store"))
		env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=cache,
			   B10FS_CACHE_DIR=os.path.join(work, "store"),
			   LOCAL_WORK_DIR=os.path.join(work, "local"), BASETEN_FS_ENABLED="1",
			   B10T_TORCH_VERSION="x", B10T_TRITON_VERSION="y",
			   B10T_CUDART="/nonexistent", B10T_CUDA_DRIVER="/nonexistent")
		runs = []
		walks = []
		for i in range(a.runs):
			print("run %d/%d ..." % (i + 1, a.runs), file=sys.stderr)
			runs.append(one_run(b10t, env, a.seconds))
			walks.append(walk_once(cache))
		med = {k: statistics.median(r[k] for r in runs) for k in runs[0]}
		walk_s = statistics.median(walks)
		poll_cpu_ns = walk_s * 1e9 * (a.seconds / POLL_INTERVAL_S)
		res = {
			"dirs": a.dirs, "files": a.files, "seconds": a.seconds, "runs": a.runs,
			"median": med,
			"watch_vs_sleep_cpu": med["watch_cpu_ns"] / max(med["sleep_cpu_ns"], 1000),
			"watch_vs_sleep_wakeups": med["watch_wakeups"] / max(med["sleep_wakeups"], 1),
			"poll_walk_s": walk_s,
			"poll_cpu_ns": poll_cpu_ns,
			"poll_vs_watch_cpu": poll_cpu_ns / max(med["watch_cpu_ns"], 1000),
			"loadavg": os.getloadavg(),
		}
		if a.json:
			print(json.dumps(res, indent=2))
			return
		print("idle for %g s, tree of %d dirs / %d files, medians of %d runs"
		      % (a.seconds, a.dirs, a.files, a.runs))
		print("%-34s %14s %10s" % ("", "CPU (us)", "wake-ups"))
		print("%-34s %14.1f %10d" % ("b10t watch (idle)", med["watch_cpu_ns"] / 1e3,
					       med["watch_wakeups"]))
		print("%-34s %14.1f %10d" % ("sleep", med["sleep_cpu_ns"] / 1e3, med["sleep_wakeups"]))
		print("%-34s %14.1f %10d" % ("poller: walk every %g s (est.)" % POLL_INTERVAL_S,
					       poll_cpu_ns / 1e3, int(a.seconds / POLL_INTERVAL_S)))
		print("ratios: watch/sleep CPU %.2f (floor 1 us), wake-ups %.2f (floor 1); "
		      "poller/watch CPU %.0fx (floor 1 us)"
		      % (res["watch_vs_sleep_cpu"], res["watch_vs_sleep_wakeups"],
			 res["poll_vs_watch_cpu"]))
		print("watch set-up (once): %.3f s for %d dirs; one tree walk: %.3f s"
		      % (med["setup_s"], a.dirs, walk_s))
		print("load average at end: %.2f %.2f %.2f" % res["loadavg"])
	finally:
		shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
	main()
