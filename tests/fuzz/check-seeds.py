#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""check-seeds.py: the fuzz seeds hold what they claim (TAP).

Runs gen-seeds.py into a temp dir, then reads every hostile seed back, not
with the generator's code but as a reader would: the lz4 CLI or zlib, then
python's tarfile.  Each seed must hold exactly the members (names and
types, sparse ones as sparse) that its Seed declares, junk after the tar's
end where it says so and none elsewhere, and fit in the fuzzer's -max_len.
The gzip seeds must be damaged just as their names say."""
import importlib.util
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
MAX_LEN = 131072	# run-fuzz.sh's -max_len: a longer seed is cut short

spec = importlib.util.spec_from_file_location('gen_seeds', os.path.join(HERE, 'gen-seeds.py'))
gen = importlib.util.module_from_spec(spec)
spec.loader.exec_module(gen)

n = 0
failed = 0


def ok(cond, desc, detail=''):
	global n, failed
	n += 1
	print('%s %d - %s' % ('ok' if cond else 'not ok', n, desc))
	if not cond:
		failed += 1
		for line in str(detail).splitlines()[:10]:
			print('#   ' + line)


def kind_of(ti):
	return gen.SPARSE if ti.issparse() else ti.type


def members(tar):
	"""[(name, kind)] and the bytes after the tar's end."""
	tf = tarfile.open(fileobj=io.BytesIO(tar), mode='r:')
	got = [(ti.name, kind_of(ti)) for ti in tf.getmembers()]
	return got, tar[tf.offset:]


def unlz4(data):
	p = subprocess.run(['lz4', '-d', '-c'], input=data, capture_output=True)
	return p.stdout if p.returncode == 0 else None


def gz_members(data):
	"""Inflate member by member: [(ok, error)], and what follows the last."""
	out = []
	while data[:2] == b'\x1f\x8b':
		d = zlib.decompressobj(16 + zlib.MAX_WBITS)
		try:
			d.decompress(data)
			out.append((d.eof, None if d.eof else 'truncated'))
		except zlib.error as e:
			out.append((False, str(e)))
			return out, b''
		data = d.unused_data
	return out, data


tmp = tempfile.mkdtemp(prefix='b10t-check-seeds.')
try:
	p = subprocess.run([sys.executable, os.path.join(HERE, 'gen-seeds.py'), tmp],
			   capture_output=True, text=True, env=dict(os.environ, B10T=''))
	ok(p.returncode == 0, 'gen-seeds.py runs', p.stderr)
	files = {f: open(os.path.join(tmp, f), 'rb').read() for f in os.listdir(tmp)}
	ok(all(len(d) <= MAX_LEN for d in files.values()),
	   'every seed fits in -max_len=%d' % MAX_LEN,
	   [f for f, d in files.items() if len(d) > MAX_LEN])
	for name, seed in gen.hostile().items():
		want = seed.claims()
		for prefix, tag in (('raw-', gen.RAW), ('lz4-', gen.LZ4), ('rawgz-', gen.RAW_GZ)):
			if prefix == 'rawgz-' and name not in gen.RAW_GZ_SEEDS:
				continue
			data = files.get(prefix + name)
			if data is None or data[:1] != tag:
				ok(False, '%s%s: present, path byte %r' % (prefix, name, tag))
				continue
			tar = unlz4(data[1:]) if tag == gen.LZ4 else data[1:]
			if tar is None:
				ok(False, '%s%s: the lz4 CLI decodes it' % (prefix, name))
				continue
			got, after = members(tar)
			ok(got == want, '%s%s holds %s' % (prefix, name,
				', '.join('%s:%s' % (ascii(m[:20])[1:-1], k if isinstance(k, str) else k.decode())
					  for m, k in want) or 'no members'),
			   'read back: %s' % got)
			ok(any(after) == seed.junk_after_end(),
			   '%s%s: %s after the tar end' % (prefix, name,
				'junk' if seed.junk_after_end() else 'only zeros'), after[:32])
	# zstd: the hostile tars framed by the zstd CLI hold the same tar.
	for name in gen.ZST_SEEDS:
		data = files.get('zst-' + name, b'')
		p = subprocess.run(['zstd', '-d', '-c', '-q'], input=data[1:], capture_output=True)
		ok(data[:1] == gen.ZST and p.returncode == 0 and
		   members(p.stdout) == members(gen.hostile()[name].tar()),
		   'zst-%s: a zstd frame of the raw seed\'s tar' % name)
		nc = files.get('zst-' + name + '-no-check', b'')
		ok(nc[:1] == gen.ZST and len(nc) > 5 and not nc[5] & 0x04,
		   'zst-%s-no-check: its frame has no content checksum' % name)
		ok(files.get('rawzst-' + name, b'')[:1] == gen.RAW_ZST, 'rawzst-%s: path byte 5' % name)
	# The typed members are no longer 1-byte files (the bug this test is for).
	got, _ = members(files['raw-fifo'][1:])
	ok(('p', tarfile.FIFOTYPE) in got, 'raw-fifo holds a FIFO, not a file of b"6"', got)
	# gzip: damaged as named.
	expect = {
		'gz-bad-crc': ([(False, 'incorrect data check')], b''),
		'gz-bad-isize': ([(False, 'incorrect length check')], b''),
		'gz-no-trailer': ([(False, 'truncated')], b''),
		'gz-trailing-junk': ([(True, None)], b'junk'),
		'gz-trailing-zeros': ([(True, None)], bytes(16)),
		'gz-two-members': ([(True, None), (True, None)], b''),
		'gz-tar-trailing-junk': ([(True, None)], b''),
	}
	for name, (mem, rest) in expect.items():
		data = files.get(name, b'')
		got, after = gz_members(data[1:])
		got = [(g[0], g[1] and g[1].split(': ')[-1].replace('invalid', 'incorrect'))
		       for g in got]
		ok(data[:1] == gen.GZ and all(g[0] == m[0] and (m[1] is None or m[1] in (g[1] or ''))
		   for g, m in zip(got, mem)) and len(got) == len(mem) and after == rest,
		   '%s: gzip members %s, then %r' % (name, mem, rest), 'got %s, then %r' % (got, after[:16]))
	tar = zlib.decompress(files['gz-tar-trailing-junk'][1:], 16 + zlib.MAX_WBITS)
	ok(any(members(tar)[1]), 'gz-tar-trailing-junk: junk after the tar end inside the gzip stream')
	lz = files['lz4-trailing-junk-later-block'][1:]
	ok((lz[5] >> 4) & 7 == 4 and any(members(unlz4(lz))[1]),
	   'lz4-trailing-junk-later-block: 64 KiB blocks, junk after the tar end')
finally:
	shutil.rmtree(tmp, ignore_errors=True)
print('1..%d' % n)
sys.exit(1 if failed else 0)
