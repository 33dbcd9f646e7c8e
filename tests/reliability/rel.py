#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Reliability tests of b10t with real processes and real filesystems.

    rel.py crash      kill -9 save and load at random moments
    rel.py diskfull   store and local dir on full tmpfs (root only)
    rel.py corrupt    truncated and bit-flipped archives, .tar.lz4 and .tar.gz
    rel.py storm      64 processes of save/load/list/info/gc on 3 keys

Output is TAP.  B10T is the binary under test.  Every random choice comes
from one seed, printed as a TAP comment; B10T_SEED=N replays a run.
Knobs: B10T_CRASH_TRIALS (60), B10T_CORRUPT_TRIALS (250),
B10T_STORM_SECONDS (30), B10T_STORM_PROCS (64).
"""
import io
import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import tarfile
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "cli"))
import treecmp  # noqa: E402  (tests/cli/treecmp.py)

B10T = os.environ.get('B10T', '')
CMD_TIMEOUT = 60	# no command may take longer: a hang fails the test

# Variables the tests set themselves; anything inherited would skew them.
UNSET = ('BASETEN_FS_ENABLED', 'B10T_KEY_SCHEME', 'MAX_CACHE_SIZE_MB',
	 'MAX_CONCURRENT_SAVES', 'CLEANUP_LOCK_TIMEOUT_SECONDS',
	 'CLEANUP_INCOMPLETE_TIMEOUT_SECONDS', 'B10T_LOG', 'B10T_CUDA_VERSION',
	 'B10T_COMPUTE_CAPABILITY', 'B10T_DEVICE_NAME', 'B10T_STATS')
STATS_DIR = '.b10t-stats'	# the records of load and save (lib/stats.c)


class Tap:
	def __init__(self):
		self.n = 0
		self.failed = 0
		self.lock = threading.Lock()

	def ok(self, cond, desc, diag=None):
		with self.lock:
			self.n += 1
			print('%s %d - %s' % ('ok' if cond else 'not ok', self.n, desc))
			if not cond:
				self.failed += 1
				for line in str(diag or '').splitlines()[:60]:
					print('#   ' + line)
			sys.stdout.flush()
		return bool(cond)

	def comment(self, msg):
		for line in str(msg).splitlines():
			print('# ' + line)
		sys.stdout.flush()

	def done(self):
		print('1..%d' % self.n)
		sys.stdout.flush()
		sys.exit(1 if self.failed else 0)


def skip_all(why):
	print('1..0 # SKIP ' + why)
	sys.exit(0)


def seed_rng(t):
	seed = int(os.environ.get('B10T_SEED') or time.time_ns() % 1000000007)
	t.comment('seed: %d (replay with B10T_SEED=%d)' % (seed, seed))
	return random.Random(seed)


# ---- the sandbox ----------------------------------------------------------

class Sandbox:
	"""A temp dir removed at exit, and the environment of b10t inside it."""

	def __init__(self):
		self.root = tempfile.mkdtemp(prefix='b10t-rel.')
		os.makedirs(self.path('home'))

	def path(self, *parts):
		return os.path.join(self.root, *parts)

	def env(self, cache, store, torch='2.4.0', **extra):
		env = dict(os.environ)
		for k in UNSET:
			env.pop(k, None)
		env.update(HOME=self.path('home'), TORCHINDUCTOR_CACHE_DIR=cache,
			   B10FS_CACHE_DIR=store, LOCAL_WORK_DIR=self.path('work'),
			   B10T_CUDART=self.path('no-such-libcudart.so'),
			   B10T_TORCH_VERSION=torch, B10T_TRITON_VERSION='3.0.0')
		env.update(extra)
		return env

	def close(self):
		shutil.rmtree(self.root, ignore_errors=True)


class Result:
	def __init__(self, args, rc, out, err, secs):
		self.args, self.rc, self.out, self.err, self.secs = args, rc, out, err, secs

	def show(self):
		return 'b10t %s: exit %s after %.2fs\nstdout: %s\nstderr: %s' % (
			' '.join(self.args), self.rc, self.secs, self.out.strip()[:800],
			self.err.strip()[:800])


def b10t(env, *args, timeout=CMD_TIMEOUT):
	"""Run b10t; rc is 'timeout' when it hung, negative for a signal."""
	t0 = time.monotonic()
	try:
		p = subprocess.run([B10T, *args], env=env, stdin=subprocess.DEVNULL,
				   capture_output=True, timeout=timeout)
		rc, out, err = p.returncode, p.stdout, p.stderr
	except subprocess.TimeoutExpired as e:
		rc, out, err = 'timeout', e.stdout or b'', e.stderr or b''
	return Result(args, rc, out.decode('utf-8', 'replace'),
		      err.decode('utf-8', 'replace'), time.monotonic() - t0)


def envkey(env):
	r = b10t(env, 'envkey')
	key = r.out.strip()
	if r.rc != 0 or not re.fullmatch(r'[0-9a-f]{16}', key):
		raise SystemExit('Bail out! b10t envkey does not work:\n' + r.show())
	return key


def published(store, key):
	"""What a first save of key publishes (docs/store-protocol.md): the
	claim cache_<key>.g1 and the archive it names, sorted; [] without one."""
	claim = 'cache_%s.g1' % key
	try:
		with open(os.path.join(store, claim)) as f:
			return sorted([claim, f.read().strip()])
	except OSError:
		return []


def published_archive(store, key):
	"""The name of the archive key's claim g1 names, or None."""
	names = [n for n in published(store, key) if '.tar.' in n]
	return names[0] if names else None


def without_markers(names):
	"""The store's names less the use markers (cache_<key>.used) that each
	successful load sets, the store's own record of last use, and the stats
	dir where every load and save leaves its record: no debris."""
	return [n for n in names if not re.fullmatch(r'cache_[A-Za-z0-9_-]+\.used', n)
		and n != STATS_DIR]


def store_sizes(store):
	"""{name: size} of the store's names, and of each file in its stats dir
	(as STATS_DIR/NAME): a record written counts as a change."""
	out = {}
	for n in listdir(store):
		p = os.path.join(store, n)
		if n == STATS_DIR and os.path.isdir(p):
			for m in listdir(p):
				out[n + '/' + m] = os.stat(os.path.join(p, m)).st_size
		else:
			out[n] = os.stat(p).st_size
	return out


def stats_json(env):
	"""`b10t stats --json` of env's store, or {} when it fails."""
	r = b10t(env, 'stats', '--json')
	try:
		return json.loads(r.out) if r.rc == 0 else {}
	except ValueError:
		return {}


def age_uploads(store, seconds=7200):
	"""gc keeps an upload touched in the last 10 s (it may be live on another
	client): make a killed save's upload, and an archive it renamed into
	place but never claimed, as old as they would be by then."""
	t = time.time() - seconds
	claimed = set()
	for n in listdir(store):
		m = re.fullmatch(r'(cache_[A-Za-z0-9_-]+)\.g[1-9][0-9]*', n)
		if m:
			claimed.update(published(store, m.group(1)[len('cache_'):]))
	for n in listdir(store):
		if '.incomplete.' in n or (re.fullmatch(r'cache_.*\.g[0-9]+\..*\.tar\.\w+', n)
					   and n not in claimed):
			os.utime(os.path.join(store, n), (t, t))


# ---- trees -----------------------------------------------------------------

def make_tree(root, rng, n_files, total_bytes, random_share=0.5):
	"""A tree shaped like an inductor cache: hex-named dirs, compressible
	sources, incompressible blobs, empty files, an empty dir, a relative
	symlink, an executable."""
	os.makedirs(root)
	words = [b'import torch', b'def kernel(in_ptr0, out_ptr0, xnumel, XBLOCK):',
		 b'    xoffset = tl.program_id(0) * XBLOCK', b'    tmp0 = tl.load(in_ptr0 + x0)',
		 b'    tl.store(out_ptr0 + x0, tmp0)', b'# triton autotune config']
	per = max(1, total_bytes // max(1, n_files))
	dirs = []
	for i in range(n_files):
		if i % 16 == 0:
			d = os.path.join(root, '%02x' % rng.randrange(256),
					 '%016x' % rng.getrandbits(64))
			os.makedirs(d, exist_ok=True)
			dirs.append(d)
		size = rng.randrange(per // 2, per * 3 // 2 + 1) if i % 29 else 0
		if rng.random() < random_share:
			name, data = 'k%d.cubin' % i, rng.randbytes(size)
		else:
			lines, n = [], 0
			while n < size:
				w = rng.choice(words) + b' # %d' % rng.randrange(1000)
				lines.append(w)
				n += len(w) + 1
			name, data = 'c%d.py' % i, b'\n'.join(lines)[:size]
		with open(os.path.join(dirs[-1], name), 'wb') as f:
			f.write(data)
	os.makedirs(os.path.join(root, 'empty', 'dir'))
	with open(os.path.join(root, 'run.sh'), 'w') as f:
		f.write('#!/bin/sh\necho hi\n')
	os.chmod(os.path.join(root, 'run.sh'), 0o755)
	rel = os.path.relpath(dirs[0], root)
	os.symlink(rel, os.path.join(root, 'latest'))


def snapshot(root):
	"""{relative path: (type, mode or link target, sha256)} of a tree, from
	tests/cli/treecmp.py's walk without the mtimes (pack keeps whole
	seconds); None when absent."""
	if not os.path.lexists(root):
		return None
	return {rel: e[:3] for rel, e in treecmp.scan(root).items()}


def diff(want, got):
	"""Human lines of how tree `got` differs from `want` (empty when equal)."""
	if want == got:
		return ''
	if got is None:
		return 'tree absent'
	lines = []
	for k in sorted(set(want) | set(got)):
		if want.get(k) != got.get(k):
			lines.append('%s: want %s, got %s' % (k, want.get(k), got.get(k)))
	return '\n'.join(lines[:20]) + ('\n... %d differences' % len(lines))


def listdir(path):
	try:
		return sorted(os.listdir(path))
	except FileNotFoundError:
		return []


def debris(names, keep=()):
	return [n for n in names if n not in keep]


# ---- crash safety ------------------------------------------------------------

def measure(sb, t, what, env, args, n=3):
	"""Seconds of an undisturbed run, the fastest of n (a slow outlier
	would push the kills past the end); calls args() before each."""
	times = []
	for _ in range(n):
		args.reset()
		r = b10t(env, what)
		times.append(r.secs)
		if r.rc != 0:
			raise SystemExit('Bail out! undisturbed %s fails:\n%s' % (what, r.show()))
	return min(times)


def kill_after(env, verb, delay):
	"""Start `b10t verb`, SIGKILL it after `delay` s.  True when it had
	already finished by itself."""
	p = subprocess.Popen([B10T, verb], env=env, stdin=subprocess.DEVNULL,
			     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
	try:
		p.wait(timeout=delay)
		return True
	except subprocess.TimeoutExpired:
		p.send_signal(signal.SIGKILL)
		p.wait(timeout=CMD_TIMEOUT)
		return False


def crash_save_trial(sb, t, rng, i, src, snap, key, t_save, stats):
	d = sb.path('t%03d' % i)
	store = os.path.join(d, 'store')
	os.makedirs(store)
	env = sb.env(src, store)
	# Past the end too: some kills land around the publish or after exit.
	delay = rng.uniform(0, 1.25 * t_save)
	finished = kill_after(env, 'save', delay)
	stats['finished' if finished else 'killed'] += 1
	what = 'crash %d: save killed after %.0f ms' % (i, delay * 1000)
	bad = []
	names = without_markers(listdir(store))
	pub = published(store, key)
	# A save killed between the rename of its archive and its claim leaves
	# an archive no claim names: invisible to loads, debris for gc.
	junk = [n for n in names if n not in pub and '.incomplete.' not in n and
		not re.fullmatch(r'cache_%s\.g1\.[a-z0-9-]+\.tar\.lz4' % key, n)]
	if junk:
		bad.append('unexpected files in the store: %s' % junk)
	if pub:
		stats['published'] += 1
		check = os.path.join(d, 'check', 'cache')
		r = b10t(sb.env(check, store), 'load')
		if r.rc != 0:
			bad.append('the published archive does not load:\n' + r.show())
		else:
			dd = diff(snap, snapshot(check))
			if dd:
				bad.append('the published archive loads a different tree:\n' + dd)
	elif finished:
		bad.append('save finished but published nothing: %s' % names)
	age_uploads(store)
	r = b10t(env, 'gc', '--stale', '0s')
	if r.rc != 0:
		bad.append('gc --stale 0s failed:\n' + r.show())
	left = debris(without_markers(listdir(store)), keep=pub)
	if left:
		bad.append('debris after gc --stale 0s: %s' % left)
	t.ok(not bad, what, '\n'.join(bad))
	shutil.rmtree(d, ignore_errors=True)


def crash_load_trial(sb, t, rng, i, good, snap, key, t_load, stats):
	d = sb.path('t%03d' % i)
	store = os.path.join(d, 'store')
	local = os.path.join(d, 'local')
	cache = os.path.join(local, 'cache')
	os.makedirs(store)
	os.makedirs(local)
	for n in published(good, key):
		os.link(os.path.join(good, n), os.path.join(store, n))
	before = None
	if rng.random() < 0.25:		# an empty cache dir is "as before" too
		os.mkdir(cache)
		before = {}
	env = sb.env(cache, store)
	delay = rng.uniform(0, 1.25 * t_load)
	finished = kill_after(env, 'load', delay)
	stats['finished' if finished else 'killed'] += 1
	what = 'crash %d: load killed after %.0f ms (cache dir %s before)' % (
		i, delay * 1000, 'empty' if before is not None else 'absent')
	bad = []
	got = snapshot(cache)
	if got == snap:
		stats['complete'] += 1
	elif got == before:
		stats['as_before'] += 1
		if finished:
			bad.append('load finished but the cache dir is as before')
	else:
		bad.append('the cache dir is neither as before nor complete:\n' + diff(snap, got))
	if without_markers(listdir(store)) != published(good, key):
		bad.append('the store changed: %s' % listdir(store))
	r = b10t(env, 'gc', '--stale', '0s')
	if r.rc != 0:
		bad.append('gc --stale 0s failed:\n' + r.show())
	left = debris(listdir(local), keep=('cache',))
	if left:
		bad.append('debris next to the cache dir after gc --stale 0s: %s' % left)
	left = debris(without_markers(listdir(store)), keep=published(good, key))
	if left:
		bad.append('debris in the store after gc: %s' % left)
	# The next load finishes the job.
	r = b10t(env, 'load')
	if r.rc not in (0, 4):
		bad.append('the next load fails:\n' + r.show())
	dd = diff(snap, snapshot(cache))
	if dd:
		bad.append('after the next load the cache dir differs:\n' + dd)
	t.ok(not bad, what, '\n'.join(bad))
	shutil.rmtree(d, ignore_errors=True)


class Resetter:
	def __init__(self, fn):
		self.reset = fn


def test_crash(t):
	rng = seed_rng(t)
	sb = Sandbox()
	try:
		files = int(os.environ.get('B10T_CRASH_FILES', '500'))
		mb = int(os.environ.get('B10T_CRASH_MB', '10'))
		src = sb.path('src')
		make_tree(src, rng, files, mb << 20)
		snap = snapshot(src)
		store = sb.path('m', 'store')
		cache = sb.path('m', 'local', 'cache')
		os.makedirs(store)
		key = envkey(sb.env(src, store))
		t_save = measure(sb, t, 'save', sb.env(src, store),
				 Resetter(lambda: shutil.rmtree(store) or os.makedirs(store)))
		good = store	# the published set the load trials copy
		t_load = measure(sb, t, 'load', sb.env(cache, store),
				 Resetter(lambda: shutil.rmtree(cache, ignore_errors=True)))
		t.ok(diff(snap, snapshot(cache)) == '', 'an undisturbed load gives the saved tree',
		     diff(snap, snapshot(cache)))
		t.comment('tree: %d entries, %d MiB; undisturbed save %.0f ms, load %.0f ms' % (
			len(snap), mb, t_save * 1000, t_load * 1000))
		n = int(os.environ.get('B10T_CRASH_TRIALS', '60'))
		saves = {'finished': 0, 'killed': 0, 'published': 0}
		loads = {'finished': 0, 'killed': 0, 'complete': 0, 'as_before': 0}
		for i in range(n):
			if i % 2 == 0:
				crash_save_trial(sb, t, rng, i, src, snap, key, t_save, saves)
			else:
				crash_load_trial(sb, t, rng, i, good, snap, key, t_load, loads)
		t.ok(diff(snap, snapshot(src)) == '', 'save never changed the source tree',
		     diff(snap, snapshot(src)))
		t.comment('crash trials: %d (save: %d killed, %d finished first, %d published; '
			  'load: %d killed, %d finished first, %d complete, %d as before)' % (
				  n, saves['killed'], saves['finished'], saves['published'],
				  loads['killed'], loads['finished'], loads['complete'],
				  loads['as_before']))
	finally:
		sb.close()


# ---- disk full -------------------------------------------------------------

class Tmpfs:
	def __init__(self, path, size='16m'):
		os.makedirs(path)
		r = subprocess.run(['mount', '-t', 'tmpfs', '-o', 'size=' + size, 'tmpfs', path],
				   capture_output=True, text=True)
		self.path = path
		self.mounted = r.returncode == 0
		self.err = r.stderr.strip()

	def umount(self):
		if self.mounted:
			subprocess.run(['umount', self.path])
			self.mounted = False


def says_full(r, strerror=True):
	"""The message says the disk is full: strerror(ENOSPC) when a write
	failed; save's check of free space before packing words it itself."""
	if strerror:
		return 'No space left on device' in r.err
	return re.search(r'no space left', r.err, re.I) is not None


def test_diskfull(t):
	if os.geteuid() != 0:
		skip_all('needs root to mount a tmpfs')
	rng = seed_rng(t)
	sb = Sandbox()
	mounts = []

	def cleanup(*_):
		for m in mounts:
			m.umount()
		sb.close()
	signal.signal(signal.SIGTERM, lambda *a: (cleanup(), sys.exit(1)))
	try:
		for name in ('store', 'local'):
			m = Tmpfs(sb.path(name))
			if not m.mounted:
				cleanup()
				skip_all('cannot mount a tmpfs: ' + m.err)
			mounts.append(m)
		store, local = sb.path('store'), sb.path('local')
		# 24 MiB of incompressible data cannot fit in 16 MiB either way.
		big = sb.path('big')
		make_tree(big, rng, 200, 24 << 20, random_share=1.0)
		big_snap = snapshot(big)
		small = sb.path('small')
		make_tree(small, rng, 50, 256 << 10)
		small_snap = snapshot(small)
		key = envkey(sb.env(big, store))
		other_key = envkey(sb.env(big, store, torch='9.9.9'))

		# The store holds another key's archive and a stranger's file.
		r = b10t(sb.env(small, store, torch='9.9.9'), 'save')
		t.ok(r.rc == 0, 'save of a small tree fits in the store', r.show())
		with open(os.path.join(store, 'README'), 'w') as f:
			f.write('not ours\n')
		# the stats files too: a save that failed on the full disk leaves no record
		store_before = store_sizes(store)

		for how in ('streaming', 'nearly full'):
			filler = os.path.join(sb.path('store'), 'filler')
			if how == 'nearly full':
				fill(filler, store, leave=8 << 10)
			r = b10t(sb.env(big, store), 'save', '--json')
			t.ok(r.rc == 1, 'save into a full store (%s) answers ERROR' % how, r.show())
			t.ok(says_full(r, how == 'streaming'), 'save says the disk is full (%s)' % how,
			     r.show())
			t.comment('  ' + r.err.strip().replace(sb.root, 'SANDBOX'))
			t.ok('"ERROR"' in r.out, 'save --json says ERROR (%s)' % how, r.show())
			if os.path.exists(filler):
				os.unlink(filler)
			after = store_sizes(store)
			t.ok(after == store_before, 'a failed save leaves the store as it was (%s)' % how,
			     'before %s\nafter %s' % (store_before, after))
		r = b10t(sb.env(sb.path('check', 'c'), store, torch='9.9.9'), 'load')
		t.ok(r.rc == 0 and diff(small_snap, snapshot(sb.path('check', 'c'))) == '',
		     'the other archive still loads intact', r.show())

		# Load: the local dir is the small tmpfs, the archive in a big store.
		bigstore = sb.path('bigstore')
		os.makedirs(bigstore)
		r = b10t(sb.env(big, bigstore), 'save')
		t.ok(r.rc == 0, 'save of the big tree into a roomy store', r.show())
		for before in ('absent', 'empty'):
			cache = os.path.join(local, 'cache')
			if before == 'empty':
				os.mkdir(cache)
			r = b10t(sb.env(cache, bigstore, LOCAL_WORK_DIR=os.path.join(local, 'work')),
				 'load', '--json')
			t.ok(r.rc == 1, 'load onto a full disk answers ERROR (cache dir %s)' % before,
			     r.show())
			t.ok(says_full(r), 'load says the disk is full (cache dir %s)' % before, r.show())
			t.comment('  ' + r.err.strip().replace(sb.root, 'SANDBOX'))
			want = None if before == 'absent' else {}
			t.ok(snapshot(cache) == want, 'the cache dir is as before (%s)' % before,
			     diff(want or {}, snapshot(cache)))
			left = debris(listdir(local), keep=('cache',))
			t.ok(not left, 'no staging left on the full disk (cache dir %s)' % before,
			     'left: %s' % left)
			t.ok(published(bigstore, key) and
			     without_markers(listdir(bigstore)) == published(bigstore, key),
			     'a full local disk does not move the archive aside (%s)' % before,
			     'store: %s' % listdir(bigstore))
			used = shutil.disk_usage(local).used
			t.ok(used < (256 << 10), 'the space is given back (%s): %d bytes used' % (
				before, used), listdir(local))
			shutil.rmtree(cache, ignore_errors=True)
		# And with room, the same archive loads.
		r = b10t(sb.env(sb.path('check', 'big'), bigstore), 'load')
		t.ok(r.rc == 0 and diff(big_snap, snapshot(sb.path('check', 'big'))) == '',
		     'with room, the same archive loads intact', r.show())
		del other_key
	finally:
		cleanup()


def fill(path, fs, leave):
	"""Fill filesystem `fs` with file `path` until about `leave` bytes are free."""
	free = shutil.disk_usage(fs).free
	with open(path, 'wb') as f:
		try:
			f.write(b'\0' * max(0, free - leave))
			f.flush()
			os.fsync(f.fileno())
		except OSError:
			pass


# ---- corruption --------------------------------------------------------------

def pick_offset(rng, size):
	"""Mostly uniform, but often in the small parts uniform picks miss:
	the frame header and the manifest's block (head), the end mark and
	the content checksum (tail)."""
	x = rng.random()
	if x < 0.2:
		return rng.randrange(min(size, 1024))
	if x < 0.35:
		return rng.randrange(max(0, size - 32), size)
	return rng.randrange(size)


def test_corrupt(t):
	rng = seed_rng(t)
	sb = Sandbox()
	try:
		src = sb.path('src')
		make_tree(src, rng, 120, 384 << 10, random_share=0.3)
		snap = snapshot(src)
		store = sb.path('store')
		os.makedirs(store)
		env = sb.env(src, store)
		key = envkey(env)
		r = b10t(env, 'save')
		if not t.ok(r.rc == 0, 'save makes the archive to corrupt', r.show()):
			return
		# The trials put their bytes at the legacy name, which loads still
		# read (generation 0): one fixed name to corrupt and find moved aside.
		with open(os.path.join(store, published_archive(store, key)), 'rb') as f:
			good = f.read()
		for n in published(store, key):
			os.unlink(os.path.join(store, n))
		name = 'cache_%s.latest.tar.lz4' % key
		n = int(os.environ.get('B10T_CORRUPT_TRIALS', '250'))
		corrupt_trials(t, rng, sb, store, key, snap, good, name, 'lz4', n, False)
		# The reference's .tar.gz, as it writes it (tarfile "w:gz").
		buf = io.BytesIO()
		with tarfile.open(fileobj=buf, mode='w:gz') as tf:
			tf.add(src, arcname='.')
		gz = buf.getvalue()
		# gzip checks the data, not the stream that holds it: a change to the
		# header's FTEXT, MTIME, XFL, OS or FNAME, or to the padding bits after the
		# last deflate block, leaves the same bytes.  Such a load must give
		# the original tree; any other must fail.
		corrupt_trials(t, rng, sb, store, key, snap, gz, 'cache_%s.latest.tar.gz' % key,
			       'gz', n, True)
	finally:
		sb.close()


def corrupt_trials(t, rng, sb, store, key, snap, good, name, ext, n, same_ok):
	"""n truncations, bit flips and bursts of archive `good` under `name`:
	each load must be an ERROR with the archive moved aside, or, with
	`same_ok` and not a truncation, a SUCCESS with the original tree."""
	local = sb.path('local')
	cache = os.path.join(local, 'cache')
	sentinel = sb.path('sentinel')
	os.makedirs(sentinel, exist_ok=True)
	os.makedirs(local, exist_ok=True)
	lenv = sb.env(cache, store, LOCAL_WORK_DIR=sb.path('sentinel', 'work'))
	with open(os.path.join(store, name), 'wb') as f:
		f.write(good)
	r = b10t(lenv, 'load')
	t.ok(r.rc == 0 and diff(snap, snapshot(cache)) == '', '%s: the intact archive loads' % ext,
	     r.show() + '\n' + diff(snap, snapshot(cache)))
	shutil.rmtree(cache, ignore_errors=True)
	os.unlink(os.path.join(store, name))

	# The entry list after an lz4 archive's frame (lib/entries.c) is an lz4
	# block of JSON checked by the JSON's XXH64: a change to a match there
	# can decode to the same JSON, so it may load, with the original tree.
	idx = good.rfind(b'B10TIDX1') if ext == 'lz4' else -1
	list_at = idx - 8 if idx >= 8 else len(good)
	failures = []
	counts = {'truncate': 0, 'flip': 0, 'burst': 0}
	undetected = []
	harmless = 0
	msgs = {}
	for i in range(n):
		data = bytearray(good)
		kind = ('truncate', 'flip', 'flip', 'burst')[i % 4]
		if kind == 'truncate':
			off = rng.randrange(len(data))
			data = data[:off]
			desc = 'truncated to %d of %d bytes' % (off, len(good))
		elif kind == 'flip':
			off = pick_offset(rng, len(data))
			data[off] ^= 1 << rng.randrange(8)
			desc = 'bit flipped at offset %d of %d' % (off, len(good))
		else:
			off = pick_offset(rng, len(data))
			for j in range(off, min(len(data), off + rng.randrange(2, 64))):
				data[j] = rng.randrange(256)
			desc = 'random burst at offset %d of %d' % (off, len(good))
		if bytes(data) == good:
			continue	# a burst that wrote the same bytes
		counts[kind] += 1
		with open(os.path.join(store, name), 'wb') as f:
			f.write(data)
		r = b10t(lenv, 'load')
		bad = []
		if r.rc == 0:
			got = snapshot(cache)
			if got == snap and kind != 'truncate' and (same_ok or off >= list_at):
				harmless += 1
			else:
				undetected.append('%s: %s' % (desc, 'same tree' if got == snap
								   else diff(snap, got)))
				bad.append('load answered SUCCESS: the corruption went undetected')
		elif r.rc != 1:
			bad.append('exit %s, want 1 (ERROR)' % r.rc)
		if r.rc != 0 and os.path.lexists(cache):
			bad.append('the cache dir exists after a failed load')
		# A harmless gz flip loads: its cache dir is no debris.
		if listdir(sentinel) or debris(listdir(local), keep=('cache',) if r.rc == 0 else ()):
			bad.append('files outside staging: sentinel %s, next to the cache dir %s' %
				   (listdir(sentinel), listdir(local)))
		names = without_markers(listdir(store))
		aside = [x for x in names if re.fullmatch(
			r'cache_%s\.corrupt\..*\.tar\.%s' % (key, ext), x)]
		if r.rc == 1 and (name in names or len(aside) != 1):
			bad.append('the corrupt archive was not moved aside: %s' % names)
		if len(names) != len(aside) + (name in names):
			bad.append('other files in the store: %s' % names)
		m = r.err.strip().splitlines()[-1] if r.err.strip() else '(no message)'
		m = re.sub(r'[0-9a-f]{16}|(?<![A-Za-z])\d+(?![A-Za-z])', 'N',
			   m.replace(sb.root, 'SANDBOX'))
		msgs[m] = msgs.get(m, 0) + 1
		if not r.err.strip() and r.rc == 1:
			bad.append('ERROR without a message')
		if bad:
			failures.append('trial %d (%s): %s\n%s' % (i, desc, '; '.join(bad),
								     r.show()))
		for x in listdir(store):
			if x == STATS_DIR:
				shutil.rmtree(os.path.join(store, x), ignore_errors=True)
			else:
				os.unlink(os.path.join(store, x))
		shutil.rmtree(cache, ignore_errors=True)
		for x in listdir(local):
			shutil.rmtree(os.path.join(local, x), ignore_errors=True)
		for x in listdir(sentinel):
			shutil.rmtree(os.path.join(sentinel, x), ignore_errors=True)
	total = sum(counts.values())
	t.ok(total >= min(n, 200) * 4 // 5, '%s: at least %d corruption trials ran (%d)' %
	     (ext, min(n, 200) * 4 // 5, total))
	t.ok(not undetected, '%s: no corruption goes undetected (%d did)' % (ext, len(undetected)),
	     '\n'.join(undetected))
	t.ok(not failures, '%s: every corrupt archive: exit 1, nothing outside staging, '
	     'moved aside (%d of %d trials failed)' % (ext, len(failures), total),
	     '\n---\n'.join(failures[:5]))
	t.comment('%s corruption trials: %d (%d truncations, %d bit flips, %d bursts) on a '
		  '%d-byte archive; %d loaded the original tree (unchecked bytes)' %
		  (ext, total, counts['truncate'], counts['flip'], counts['burst'], len(good),
		   harmless))
	t.comment('messages seen (numbers as N):')
	for m, c in sorted(msgs.items(), key=lambda kv: -kv[1])[:12]:
		t.comment('  %4d  %s' % (c, m[:200]))


# ---- storm -------------------------------------------------------------------

def test_storm(t):
	rng = seed_rng(t)
	sb = Sandbox()
	try:
		secs = float(os.environ.get('B10T_STORM_SECONDS', '30'))
		nproc = int(os.environ.get('B10T_STORM_PROCS', '64'))
		store = sb.path('store')
		os.makedirs(store)
		envs = []
		for i, torch in enumerate(('2.4.0', '2.5.1', '2.6.0')):
			src = sb.path('src%d' % i)
			make_tree(src, rng, 150 + 50 * i, (1 + i) << 20)
			env = sb.env(src, store, torch=torch)
			envs.append((torch, src, snapshot(src), envkey(env)))
		keys = [e[3] for e in envs]
		t.ok(len(set(keys)) == 3, 'three torch versions give three keys', keys)

		counts = {}
		failures = []
		lock = threading.Lock()
		deadline = time.monotonic() + secs
		verbs = ['load'] * 8 + ['save'] * 5 + ['list'] * 2 + ['info'] * 2 + ['gc'] * 2

		def note(verb, rc):
			with lock:
				counts[(verb, rc)] = counts.get((verb, rc), 0) + 1

		def fail(msg):
			with lock:
				failures.append(msg)

		def worker(w, wrng):
			local = sb.path('w%02d' % w)
			cache = os.path.join(local, 'cache')
			os.makedirs(local)
			while time.monotonic() < deadline and len(failures) < 20:
				torch, src, snap, key = wrng.choice(envs)
				verb = wrng.choice(verbs)
				if verb == 'save':
					r = b10t(sb.env(src, store, torch=torch), 'save')
					ok_rc = (0, 4)
				elif verb == 'load':
					r = b10t(sb.env(cache, store, torch=torch), 'load')
					ok_rc = (0, 3)
				elif verb == 'gc':
					r = b10t(sb.env(cache, store, torch=torch), 'gc')
					ok_rc = (0,)
				else:
					r = b10t(sb.env(cache, store, torch=torch), verb, '--json')
					ok_rc = (0, 3)
				note(verb, r.rc)
				if r.rc not in ok_rc:
					fail('worker %d: %s' % (w, r.show()))
				if verb == 'load' and r.rc == 0:
					dd = diff(snap, snapshot(cache))
					if dd:
						fail('worker %d: load of key %s gave a different tree:\n%s' %
						     (w, key, dd))
				if verb == 'load':
					left = debris(listdir(local), keep=('cache',))
					if left:
						fail('worker %d: staging left after load: %s' % (w, left))
					shutil.rmtree(cache, ignore_errors=True)

		threads = [threading.Thread(target=worker, args=(w, random.Random(rng.getrandbits(64))))
			   for w in range(nproc)]
		t0 = time.monotonic()
		for th in threads:
			th.start()
		for th in threads:
			th.join()
		took = time.monotonic() - t0
		hung = sum(c for (v, rc), c in counts.items() if rc == 'timeout')
		t.ok(hung == 0, 'no command hung (each under a %d s timeout)' % CMD_TIMEOUT,
		     '%d timeouts' % hung)
		t.ok(not failures, 'every command answered as the contract says, every load '
		     'gave its key\'s tree (%d failures)' % len(failures), '\n---\n'.join(failures[:6]))
		loads_ok = sum(c for (v, rc), c in counts.items() if v == 'load' and rc == 0)
		t.ok(loads_ok > 0, 'loads succeeded during the storm (%d)' % loads_ok)
		# Every load and save left its record: b10t stats counts what they answered.
		st = stats_json(sb.env(sb.path('final'), store)).get('total', {})
		want = {'load_hits': counts.get(('load', 0), 0),
			'load_misses': counts.get(('load', 3), 0),
			'load_skipped': counts.get(('load', 4), 0),
			'load_errors': counts.get(('load', 1), 0),
			'save_published': counts.get(('save', 0), 0),
			'save_skipped': counts.get(('save', 4), 0),
			'save_errors': counts.get(('save', 1), 0)}
		got = {k: st.get(k) for k in want}
		t.ok(got == want, 'b10t stats counts what the storm\'s loads and saves answered',
		     'stats %s\nprocesses %s' % (got, want))
		r = b10t(sb.env(sb.path('final'), store), 'gc', '--stale', '0s')
		t.ok(r.rc == 0, 'the final gc --stale 0s succeeds', r.show())
		want = sorted(n for k in keys for n in published(store, k))
		t.ok(without_markers(listdir(store)) == want, 'exactly one archive per key and no debris',
		     'store: %s' % listdir(store))
		for torch, src, snap, key in envs:
			cache = sb.path('final-%s' % torch)
			r = b10t(sb.env(cache, store, torch=torch), 'load')
			t.ok(r.rc == 0 and diff(snap, snapshot(cache)) == '',
			     'after the storm key %s loads its tree' % key, r.show())
		total = sum(counts.values())
		t.comment('storm: %d processes for %.1f s, %d commands run' % (nproc, took, total))
		per = {}
		for (v, rc), c in sorted(counts.items(), key=str):
			per.setdefault(v, []).append('%s=%d' % (rc, c))
		for v in sorted(per):
			t.comment('  %-5s exit codes: %s' % (v, ' '.join(per[v])))
	finally:
		sb.close()


def main():
	tests = {'crash': test_crash, 'diskfull': test_diskfull, 'corrupt': test_corrupt,
		 'storm': test_storm}
	if len(sys.argv) != 2 or sys.argv[1] not in tests:
		sys.exit('usage: rel.py %s' % '|'.join(tests))
	if not B10T:
		sys.exit('B10T must point at the built binary')
	t = Tap()
	tests[sys.argv[1]](t)
	t.done()


if __name__ == '__main__':
	main()
