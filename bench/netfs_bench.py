#!/usr/bin/env python3
"""Load and save speed from real network filesystems, and which codec a
network store should use.

    python3 bench/netfs_bench.py [--fs juicefs,sshfs,gluster,rclone,tmpfs]
                                 [--runs 5] [--tree small|cpu]

Needs root (mounts, drop_caches).  Each network FS is brought up with
tests/netfs/netfs.sh (two mounts of one share, two client caches): the
store is written through mount 1, every load reads through mount 2 (the
other client).  The local side (tree, destinations, b10t's staging dir)
is a private tmpfs; so is the FS's server side (share, daemons' state), so
dropping the page cache between runs drops the client's cache, not the
server's.  See bench/README.md, "Network filesystems".
"""

import argparse
import math
import os
import shutil
import statistics
import subprocess
import sys
import tarfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(HERE)
sys.path.insert(0, HERE)
import gen_tree  # noqa: E402
from benchlib import SkipFS, b10t_env, each_fs, find_b10t, fs_list, loadavg, logger, rm_rf, scratch  # noqa: E402

NETFS = os.path.join(REPO, "tests", "netfs", "netfs.sh")
ALL_FS = ("juicefs", "sshfs", "gluster", "rclone", "tmpfs")
MiB = 1024 * 1024

# Codecs of the comparison: name, file suffix, compress argv (stdin to
# stdout), decompress argv.  lz4 -1 is what b10t writes.  zstd decompresses
# on one thread whatever -T says; -T0 only speeds the save.
CODECS = [
	("lz4 -1", "lz4", ["lz4", "-1", "-q", "-c"], "lz4 -dc"),
	("zstd -1 -T0", "zst1", ["zstd", "-1", "-T0", "-q", "-c"], "zstd -dc -q"),
	("zstd -2 -T0", "zst2", ["zstd", "-2", "-T0", "-q", "-c"], "zstd -dc -q"),
	("zstd -3 -T0", "zst3", ["zstd", "-3", "-T0", "-q", "-c"], "zstd -dc -q"),
	("gzip -6", "gz6", ["gzip", "-6", "-c"], "gzip -dc"),
]


log = logger("netfs_bench")


def q(s):
	return "'" + s.replace("'", "'\\''") + "'"


def drop_caches():
	"""The kernel's page cache, dentries and inodes, of every filesystem:
	FUSE files' pages are kernel page cache, so this drops the client's
	data cache, and the dentry/inode drop sends FORGETs to the FUSE daemon.
	It does not reach caches inside the daemons (sshfs's attribute and
	directory cache, gluster's io-cache/md-cache, rclone's dir cache,
	JuiceFS's memory buffers and --cache-dir): see drop_client()."""
	os.sync()
	with open("/proc/sys/vm/drop_caches", "w") as f:
		f.write("3\n")


def attempt(res, notes, op, cmd, env=None):
	"""timed(), but a failing op is recorded (None) and the others go on."""
	try:
		res[op].append(timed(cmd, env))
		return True
	except RuntimeError as e:
		res[op].append(None)
		if not any(n.startswith(op + ": ") for n in notes):
			notes.append("%s: %s" % (op, e))
		return False


def timed(cmd, env=None):
	"""Wall seconds of a shell command, process start included."""
	t0 = time.perf_counter()
	p = subprocess.run(["bash", "-o", "pipefail", "-c", cmd], env=env,
			   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
	dt = time.perf_counter() - t0
	if p.returncode != 0:
		raise RuntimeError("%s: exit %d: %s" % (cmd, p.returncode,
							p.stderr.decode(errors="replace").strip()[-300:]))
	return dt


def shape(root):
	"""Files, total bytes: enough to tell a wrong load from a right one."""
	s = gen_tree.stats(root)
	return s["files"], s["bytes"]


def wait_visible(path, timeout=60):
	"""Until a name made through mount 1 is seen through mount 2 (client
	caches hold negative entries for up to 20 s on sshfs)."""
	t0 = time.time()
	while not os.path.exists(path):
		if time.time() - t0 > timeout:
			raise RuntimeError("%s not visible after %d s" % (path, timeout))
		time.sleep(0.2)


class Bench:
	def __init__(self, args, work, b10t):
		self.args = args
		self.work = work
		self.b10t = b10t
		self.loc = os.path.join(work, "local")	# the replica's local disk
		self.tree = os.path.join(self.loc, "tree")
		self.arch = os.path.join(work, "archives")	# made once, copied to each FS
		self.sizes = {}
		self.jfs_dropped = 0	# JuiceFS cache blocks removed (proof it was there)

	# ---- once: the tree and its archives
	def prepare(self):
		os.makedirs(self.loc)
		os.makedirs(self.arch)
		st = gen_tree.generate(self.args.tree, self.args.seed, self.tree)
		self.tree_stats = st
		self.want = (st["files"], st["bytes"])
		# The reference (b10-transfer) writes its archive with Python's
		# tarfile, mode w:gz (gzip level 9, one thread).
		ref = os.path.join(self.arch, "ref.tar.gz")
		with tarfile.open(ref, "w:gz") as t:
			for name in sorted(os.listdir(self.tree)):
				t.add(os.path.join(self.tree, name), arcname=name)
		self.sizes["tarfile w:gz"] = os.path.getsize(ref)
		plain = os.path.join(self.work, "tree.tar")
		subprocess.run(["tar", "-cf", plain, "-C", self.tree, "."], check=True)
		self.sizes["tar"] = os.path.getsize(plain)
		# Compression time too (local tmpfs to tmpfs, the tar already
		# made, median of --runs): what a save would pay for each codec.
		self.comp_s = {}
		for name, suf, comp, _ in CODECS:
			out = os.path.join(self.arch, "tree.tar." + suf)
			ts = []
			for _ in range(self.args.runs):
				ts.append(timed("%s < %s > %s" % (" ".join(comp), q(plain), q(out))))
			self.comp_s[name] = statistics.median(ts)
			self.sizes[name] = os.path.getsize(out)
		os.unlink(plain)

	def b10t_env(self, store, cache_dir, scratch):
		return b10t_env(store, cache_dir, scratch)

	def drop_client(self, fsdir, fs):
		"""Before each timed op: the kernel's caches, and JuiceFS's block
		cache of client 2 (its --cache-dir DIR/c2; JuiceFS notices a
		missing cached block and reads the object again)."""
		if fs == "juicefs":
			for dp, dn, fn in os.walk(os.path.join(fsdir, "c2")):
				for f in fn:
					if "/raw/" in dp + "/":
						try:
							os.unlink(os.path.join(dp, f))
							self.jfs_dropped += 1
						except OSError:
							pass
		drop_caches()

	def fresh(self, name):
		d = os.path.join(self.loc, name)
		rm_rf(d)
		return d

	# ---- one filesystem
	def bench_fs(self, fs):
		"""{op: [seconds]} for one FS; raises SkipFS when it cannot run."""
		runs = self.args.runs
		fsdir = None
		if fs == "tmpfs":
			m1 = m2 = os.path.join(self.work, "tmpfs-store")
			os.makedirs(m1)
		else:
			fsdir = os.path.join(self.work, "net-" + fs)
			p = subprocess.run([NETFS, "start", fs, fsdir], stdout=subprocess.PIPE,
					   stderr=subprocess.PIPE)
			if p.returncode != 0:
				err = p.stderr.decode(errors="replace").strip().splitlines()
				raise SkipFS("netfs.sh start exit %d: %s" % (
					p.returncode, err[-1] if err else ""))
			m1, m2 = p.stdout.decode().split()[:2]
		try:
			return self._bench_fs(fs, fsdir, m1, m2, runs)
		finally:
			if fsdir:
				subprocess.run([NETFS, "stop", fs, fsdir], stdout=subprocess.DEVNULL,
					       stderr=subprocess.DEVNULL)

	def _bench_fs(self, fs, fsdir, m1, m2, runs):
		res = {}
		notes = self.notes = []
		net = fs != "tmpfs"
		drop = lambda: self.drop_client(fsdir, fs) if net else None  # noqa: E731
		scratch = os.path.join(self.loc, "scratch")

		# Untimed: the archives and a tree copy go onto the share through
		# mount 1 and are waited for through mount 2.
		t0 = time.perf_counter()
		sh = os.path.join(m1, "bench")
		os.makedirs(sh)
		for f in sorted(os.listdir(self.arch)):
			shutil.copyfile(os.path.join(self.arch, f), os.path.join(sh, f))
		# rclone answers EIO to chmod: copy without modes there (the
		# loads' check compares file count and bytes, not modes).
		dst = os.path.join(sh, "tree")
		if subprocess.run(["cp", "-a", self.tree, dst], stderr=subprocess.DEVNULL).returncode:
			rm_rf(dst)
			notes.append("setup: cp -a onto the share failed (chmod EIO); tree copied with "
				     "cp -R --preserve=timestamps")
			subprocess.run(["cp", "-R", "--preserve=timestamps", self.tree, dst], check=True)
		os.sync()
		rd = os.path.join(m2, "bench")
		for f in os.listdir(self.arch) + ["tree"]:
			wait_visible(os.path.join(rd, f))
		# Visible is not complete: rclone uploads what client 1 wrote a
		# few seconds later (--vfs-write-back), and client 2 reads EIO
		# until then.  Wait until client 2 sees every byte.
		t1 = time.time()
		while True:
			try:
				done = shape(os.path.join(rd, "tree")) == self.want and all(
					os.path.getsize(os.path.join(rd, f)) == os.path.getsize(
						os.path.join(self.arch, f)) for f in os.listdir(self.arch))
			except OSError:
				done = False
			if done:
				break
			if time.time() - t1 > 120:
				raise RuntimeError("client 2 does not see the whole tree after 120 s")
			time.sleep(1)
		log("%s: data on the share in %.1f s" % (fs, time.perf_counter() - t0))

		# b10t save through mount 1, into an emptied store each run.
		store1 = os.path.join(m1, "store")
		res["b10t save"] = []
		for i in range(runs):
			rm_rf(store1)
			os.makedirs(store1)
			rm_rf(scratch)
			os.makedirs(scratch)
			drop()
			attempt(res, notes, "b10t save", "%s save --quiet" % q(self.b10t),
				self.b10t_env(store1, self.tree, scratch))
		arch = [f for f in os.listdir(store1) if f.endswith(".tar.lz4")]
		store2 = os.path.join(m2, "store")
		if len(arch) == 1:
			self.sizes["b10t (lz4)"] = os.path.getsize(os.path.join(store1, arch[0]))
			os.sync()
			wait_visible(os.path.join(store2, arch[0]))
		else:
			# No publish on this FS (rclone: no link(), no
			# RENAME_NOREPLACE): still time the load, of an archive
			# b10t saved into a local store and copied onto the share.
			lstore = os.path.join(self.loc, "lstore")
			rm_rf(lstore)
			os.makedirs(lstore)
			timed("%s save --quiet" % q(self.b10t), self.b10t_env(lstore, self.tree, scratch))
			arch = [f for f in os.listdir(lstore) if f.endswith(".tar.lz4")]
			rm_rf(store1)
			os.makedirs(store1)
			shutil.copyfile(os.path.join(lstore, arch[0]), os.path.join(store1, arch[0]))
			self.sizes["b10t (lz4)"] = os.path.getsize(os.path.join(lstore, arch[0]))
			rm_rf(lstore)
			os.sync()
			wait_visible(os.path.join(store2, arch[0]))
			t1 = time.time()
			while os.path.getsize(os.path.join(store2, arch[0])) != self.sizes["b10t (lz4)"]:
				if time.time() - t1 > 120:
					raise RuntimeError("client 2 does not see the whole archive")
				time.sleep(1)
			notes.append("b10t save failed, so b10t load reads an archive saved locally and "
				     "copied onto the share")

		# rclone answers EIO to listxattr, so cp -a fails on every file
		# there: measure cp without xattrs then (same data, same walk).
		cp = "cp -a"
		probe = self.fresh("probe")
		if subprocess.run(["cp", "-a", os.path.join(rd, "ref.tar.gz"), probe],
				  stderr=subprocess.DEVNULL).returncode:
			cp = "cp -R --preserve=timestamps"
			notes.append("cp -a from the mount fails (listxattr and ACL reads answer EIO); the row is %s" % cp)
		rm_rf(probe)

		def dest_cmd(op, d):
			if op == "b10t load":
				return ("%s load --quiet" % q(self.b10t),
					self.b10t_env(store2, d, scratch))
			if op == "cp -a":
				return "%s %s %s" % (cp, q(os.path.join(rd, "tree")), q(d)), None
			if op == "tar -xzf (tarfile w:gz)":
				return "mkdir %s && tar -xzf %s -C %s" % (
					q(d), q(os.path.join(rd, "ref.tar.gz")), q(d)), None
			for name, suf, _, dec in CODECS:
				if op == name:
					return "mkdir %s && %s %s | tar -xf - -C %s" % (
						q(d), dec, q(os.path.join(rd, "tree.tar." + suf)), q(d)), None
			raise KeyError(op)

		ops = ["b10t load", "cp -a", "tar -xzf (tarfile w:gz)"] + [c[0] for c in CODECS]
		for op in ops:
			res[op] = []
		for i in range(runs):
			# Rotate the order from run to run: no op is always first
			# after a drop, or always behind the same neighbour.
			order = ops[i % len(ops):] + ops[:i % len(ops)]
			for op in order:
				d = self.fresh("dest")
				rm_rf(scratch)
				os.makedirs(scratch)
				cmd, env = dest_cmd(op, d)
				drop()
				if attempt(res, notes, op, cmd, env) and i == 0:
					got = shape(d)
					if got != self.want:
						notes.append("%s: loaded %d files %d bytes, want %d files %d bytes"
							     % (op, got[0], got[1], self.want[0], self.want[1]))
		rm_rf(os.path.join(self.loc, "dest"))
		return res, notes


def med(xs):
	"""None when any run failed: a median of the runs that worked would
	hide the failure."""
	return statistics.median(xs) if xs and None not in xs else None


def fmt(x, spec="%.3f"):
	return "n/a" if x is None else spec % x


def geomean(xs):
	return math.exp(sum(math.log(x) for x in xs) / len(xs)) if xs else None


def ratio(a, b):
	return None if a is None or b is None else a / b


def cell(t, t0):
	return "n/a" if t is None else "%.3f (%s)" % (t, fmt(ratio(t, t0), "%.2fx"))


# Loopback moves GB/s, so the bytes saved by a smaller archive cost little
# here; on a real network they are the bulk of a load.  This link speed
# turns archive sizes into the transfer time they would add.
LINK_MBIT = 1000


def report(b, results, skipped, notes, la0, la1, runs):
	st = b.tree_stats
	print("# netfs_bench: tree %s (%s), %d runs, median seconds, process start included"
	      % (b.args.tree, gen_tree.describe(st), runs))
	print("# store written through mount 1, loads read through mount 2; client page cache "
	      "dropped before every timed op (JuiceFS: its --cache-dir too, %d blocks removed)"
	      % b.jfs_dropped)
	print()
	for fs, res in results.items():
		m = {k: med(v) for k, v in res.items()}
		print("## %s" % fs)
		print()
		print("| op | median s | min s | max s | vs b10t load |")
		print("|---|---|---|---|---|")
		rows = [("b10t save", "b10t save"), ("b10t load", "b10t load"),
			("cp -a", "cp -a from the mount"),
			("tar -xzf (tarfile w:gz)", "tar -xzf of tarfile w:gz"),
			("zstd -1 -T0", "zstd -dc \\| tar -x (zstd -1)"),
			("lz4 -1", "lz4 -dc \\| tar -x (lz4 -1)")]
		for k, label in rows:
			ok = [x for x in res.get(k, []) if x is not None]
			rel = "" if k == "b10t save" else fmt(ratio(m[k], m["b10t load"]), "%.2fx")
			print("| %s | %s | %s | %s | %s |" % (label, fmt(m[k]), fmt(min(ok) if ok else None),
							  fmt(max(ok) if ok else None), rel))
		for n in notes.get(fs, []):
			print("\nnote: " + n)
		print()

	fss = list(results)
	lz = b.sizes["lz4 -1"]
	print("## codecs: load (decompress \\| tar -x from the store), median s (x lz4's); size")
	print()
	print("| codec | MiB | size vs lz4 | +s at %d Mbit/s | compress s | %s |"
	      % (LINK_MBIT, " | ".join(fss)))
	print("|---|---|---|---|---|" + "---|" * len(fss))
	rows = [(c[0], c[0], b.sizes[c[0]], "%.3f" % b.comp_s[c[0]]) for c in CODECS]
	rows.append(("tarfile w:gz (reference)", "tar -xzf (tarfile w:gz)", b.sizes["tarfile w:gz"], ""))
	for label, op, size, cs in rows:
		cells = [cell(med(results[fs][op]), med(results[fs]["lz4 -1"])) for fs in fss]
		print("| %s | %.2f | %+.0f%% | %.3f | %s | %s |" % (
			label, size / MiB, 100.0 * (size - lz) / lz, size * 8 / (LINK_MBIT * 1e6), cs,
			" | ".join(cells)))
	if "b10t (lz4)" in b.sizes:
		print("\nb10t's own archive: %.2f MiB; plain tar %.2f MiB"
		      % (b.sizes["b10t (lz4)"] / MiB, b.sizes["tar"] / MiB))
	print()

	# The recommendation, from the numbers: the codec whose load time is
	# lowest relative to lz4's over the network filesystems (geometric
	# mean of the per-FS ratios, so no one FS dominates).
	base = [fs for fs in fss if fs != "tmpfs"] or fss
	ratios = {c[0]: {fs: ratio(med(results[fs][c[0]]), med(results[fs]["lz4 -1"])) for fs in fss}
		  for c in CODECS}
	score = {}
	for n, r in ratios.items():
		xs = [r[fs] for fs in base]
		if None not in xs:
			score[n] = geomean(xs)
	if not score:
		print("recommendation: none (a codec failed on every filesystem)")
	else:
		best = min(score, key=score.get)
		per = ", ".join("%s on %s" % (fmt(ratios[best][fs], "%.2fx"), fs) for fs in fss)
		smaller = 100.0 * (lz - b.sizes[best]) / lz
		saved = (lz - b.sizes[best]) * 8 / (LINK_MBIT * 1e6)
		if best == "lz4 -1":
			nxt = min((n for n in score if n != best), key=score.get)
			print("recommendation: lz4 -1 (b10t's) loads fastest over %s; the next best, %s, "
			      "takes %.2fx its time" % ("/".join(base), nxt, score[nxt]))
		else:
			print("recommendation: %s: %.2fx of lz4's load time over %s (geometric mean; %s), "
			      "%.0f%% smaller (%.3f s less to move at %d Mbit/s)"
			      % (best, score[best], "/".join(base), per, smaller, saved, LINK_MBIT))
			# The runner-up: two codecs a few % apart are within this
			# machine's noise, and then size decides on a real network.
			rest = sorted((n for n in score if n != best), key=score.get)
			if rest:
				n = rest[0]
				print("runner-up: %s: %.2fx of lz4's, %.0f%% smaller than lz4"
				      % (n, score[n], 100.0 * (lz - b.sizes[n]) / lz))
	for fs, why in skipped.items():
		print("skipped %s: %s" % (fs, why))
	print("load average: start %s, end %s (%d CPUs)" % (la0, la1, os.cpu_count()))


def main():
	ap = argparse.ArgumentParser(description="b10t and codecs on network filesystems.")
	ap.add_argument("--fs", default=",".join(ALL_FS),
			help="comma-separated, of %s" % ",".join(ALL_FS))
	ap.add_argument("--runs", type=int, default=5)
	ap.add_argument("--tree", choices=("small", "cpu"), default="cpu")
	ap.add_argument("--seed", type=int, default=1)
	ap.add_argument("--b10t", default=None)
	args = ap.parse_args()
	fss = fs_list(args.fs, ALL_FS, "netfs_bench")
	if args.runs < 1:
		sys.exit("netfs_bench: --runs must be >= 1")
	if os.geteuid() != 0:
		sys.exit("netfs_bench: needs root (mounts, /proc/sys/vm/drop_caches)")
	b10t = find_b10t(args.b10t, "netfs_bench")
	la0 = loadavg()
	# One private tmpfs for everything: the local side and every FS's
	# server side, so a drop of the page cache cannot evict them.
	with scratch("b10t-netbench.", 8 << 30) as (work, mounted):
		if not mounted:
			sys.exit("netfs_bench: could not mount a tmpfs on %s" % work)
		b = Bench(args, work, b10t)
		b.prepare()
		log("tree: %s" % gen_tree.describe(b.tree_stats))
		both, skipped = each_fs(fss, b.bench_fs, log)
		if not both:
			sys.exit("netfs_bench: no filesystem ran")
		results = {fs: r for fs, (r, n) in both.items()}
		notes = {fs: n for fs, (r, n) in both.items()}
		report(b, results, skipped, notes, la0, loadavg(), args.runs)


if __name__ == "__main__":
	main()
