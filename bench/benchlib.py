"""benchlib.py: what every benchmark here needs the same way.

  find_b10t(arg, who, required=True)   the binary: --b10t, build/, PATH
  b10t_env(store, cache, local, **extra)
                                       a b10t environment of its own
  rm_rf(path), loadavg(), logger(who)
  scratch(prefix, size, parent)        a work dir on a private tmpfs
  each_fs(fss, bench_fs, log)          run per filesystem; one failing
                                       costs none of the others

The benchmarks differ in what they time; where they find the binary, which
environment they give it and where their bytes live must not differ, or
two benchmarks' numbers stop being comparable.
"""
import contextlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# What a user's shell may set that would change what b10t does: none of it
# reaches a benchmark's b10t.
_OURS = ("B10T_", "B10FS_", "TORCHINDUCTOR_")


def find_b10t(arg, who, required=True):
	"""--b10t's path (or a name on PATH), else build/cmd/b10t, else b10t
	on PATH; absolute.  Exits naming `who` when there is none (None when
	not required)."""
	if arg:
		p = shutil.which(arg) or arg
		if not os.access(p, os.X_OK):
			sys.exit("%s: --b10t %s: not an executable" % (who, arg))
		return os.path.abspath(p)
	for p in (os.path.join(REPO, "build", "cmd", "b10t"), shutil.which("b10t")):
		if p and os.access(p, os.X_OK):
			return os.path.abspath(p)
	if required:
		sys.exit("%s: no b10t binary: build it (ninja -C build) or pass --b10t" % who)
	return None


def b10t_env(store, cache, local, **extra):
	"""The caller's environment without any B10T_/B10FS_/TORCHINDUCTOR_
	setting, then a store, a cache dir and LOCAL_WORK_DIR, the store on
	(BASETEN_FS_ENABLED), a fixed CPU key (no torch, no GPU probe) and no
	size cap; `extra` last (B10T_CODEC="zstd", ...)."""
	env = {k: v for k, v in os.environ.items() if not k.startswith(_OURS)}
	env.update({
		"TORCHINDUCTOR_CACHE_DIR": cache,
		"B10FS_CACHE_DIR": store,
		"LOCAL_WORK_DIR": local,
		"BASETEN_FS_ENABLED": "1",
		"B10T_TORCH_VERSION": "x",
		"B10T_TRITON_VERSION": "y",
		"B10T_CUDART": "/nonexistent",
		"MAX_CACHE_SIZE_MB": "1048576",	# the large trees are GBs
	})
	env.update({k: str(v) for k, v in extra.items()})
	return env


def rm_rf(path):
	"""Remove a file, link or tree; nothing when it is not there."""
	if os.path.islink(path) or os.path.isfile(path):
		os.unlink(path)
	elif os.path.isdir(path):
		shutil.rmtree(path)


def loadavg():
	"""The 1, 5 and 15 minute load averages, as /proc/loadavg says them."""
	with open("/proc/loadavg") as f:
		return " ".join(f.read().split()[:3])


def logger(who):
	"""A log(msg) that writes "who: msg" to stderr, flushed."""
	def log(msg):
		print("%s: %s" % (who, msg), file=sys.stderr, flush=True)
	return log


@contextlib.contextmanager
def scratch(prefix, size, parent="/tmp", tmpfs=True):
	"""A fresh work dir under `parent`, with a private tmpfs of `size`
	bytes mounted on it when root (and tmpfs): the timings then read no
	disk.  Yields (path, mounted).  Removed afterwards, unmounted first;
	a killed command's last children may hold the mount a moment, so the
	unmount is tried for 5 s, then left lazy.  Not under /dev: b10t
	refuses cache dirs there."""
	d = tempfile.mkdtemp(prefix=prefix, dir=parent)
	mounted = False
	if tmpfs and os.geteuid() == 0:
		mounted = subprocess.run(
			["mount", "-t", "tmpfs", "-o", "size=%d,mode=0700" % size, "b10t-bench", d],
			capture_output=True).returncode == 0
	try:
		yield d, mounted
	finally:
		os.chdir("/")
		if mounted:
			for _ in range(10):
				if subprocess.run(["umount", d], stderr=subprocess.DEVNULL).returncode == 0:
					break
				time.sleep(0.5)
			else:
				subprocess.run(["umount", "-l", d])
			os.rmdir(d)
		else:
			shutil.rmtree(d, ignore_errors=True)


class SkipFS(Exception):
	"""A filesystem that cannot run here (its tools missing): skipped,
	not failed."""


def each_fs(fss, bench_fs, log):
	"""bench_fs(fs) for each filesystem name; returns (results, skipped):
	the results by name, and why each one that raised did not run (a
	SkipFS as said, anything else as FAILED)."""
	results, skipped = {}, {}
	for fs in fss:
		log("%s: start (load average %s)" % (fs, loadavg()))
		t0 = time.perf_counter()
		try:
			results[fs] = bench_fs(fs)
		except Exception as e:	# a FS that fails must not cost the others
			skipped[fs] = "%s%s" % ("" if isinstance(e, SkipFS) else "FAILED: ", e)
			log("%s: skipped: %s" % (fs, e))
			continue
		log("%s: done in %.0f s" % (fs, time.perf_counter() - t0))
	return results, skipped


def fs_list(arg, known, who):
	"""--fs's comma-separated names, each one of `known`."""
	fss = [f for f in arg.split(",") if f]
	for f in fss:
		if f not in known:
			sys.exit("%s: unknown --fs %s (known: %s)" % (who, f, ",".join(known)))
	return fss
