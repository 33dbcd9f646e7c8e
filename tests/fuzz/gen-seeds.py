#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-seeds.py DIR: write the seed corpus of fuzz-unpack into DIR.

Each seed is one byte that picks fuzz-unpack's path (0 lz4 archive as
stored, 1 raw tar wrapped in lz4 by the target, 2 tar.gz) and the archive.
Valid archives come from `b10t save` ($B10T) when it works; hostile ones
are tars written with python's tarfile, compressed with the `lz4` CLI.
"""
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

LZ4, RAW, GZ = b'\0', b'\1', b'\2'


def member(tf, name, kind=tarfile.REGTYPE, data=b'', **attrs):
	ti = tarfile.TarInfo(name)
	ti.type = kind
	ti.mode = attrs.pop('mode', 0o755 if kind == tarfile.DIRTYPE else 0o644)
	ti.mtime = 1700000000
	for k, v in attrs.items():
		setattr(ti, k, v)
	if kind == tarfile.REGTYPE:
		ti.size = len(data)
		tf.addfile(ti, io.BytesIO(data))
	else:
		tf.addfile(ti)


def tar(members, fmt=tarfile.PAX_FORMAT, manifest=True):
	buf = io.BytesIO()
	with tarfile.open(fileobj=buf, mode='w', format=fmt) as tf:
		if manifest:
			member(tf, '.b10t', tarfile.DIRTYPE)
			member(tf, '.b10t/manifest.json', data=b'{"b10t_manifest": 1, "key": "0123456789abcdef"}')
		# (name, bytes) is a regular file; (name, type[, attrs]) anything else
		for m in members:
			if isinstance(m[1], bytes):
				member(tf, m[0], data=m[1])
			else:
				member(tf, m[0], m[1], **(m[2] if len(m) > 2 else {}))
	return buf.getvalue()


def lz4(data):
	p = subprocess.run(['lz4', '-q', '-c', '--content-size', '-BD'], input=data,
			   capture_output=True, check=True)
	return p.stdout


def hostile():
	"""name -> raw tar bytes, one safety rule each."""
	R, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
	return {
		'plain': tar([('a/b.py', b'print(1)\n' * 20), ('a', D), ('empty', b'')]),
		'dotdot': tar([('../escape', b'x')]),
		'dotdot-inner': tar([('a/../../escape', b'x')]),
		'absolute': tar([('/tmp/b10t-fuzz-escape', b'x')]),
		'symlink-abs': tar([('l', S, {'linkname': '/etc'})]),
		'symlink-up': tar([('l', S, {'linkname': '..'})]),
		'symlink-then-write': tar([('d', D), ('d/l', S, {'linkname': '..'}),
					   ('d/l/escape', b'x')]),
		'symlink-chain': tar([('d', D), ('d/l', S, {'linkname': '..'}),
				      ('m', S, {'linkname': 'd/l/..'})]),
		'symlink-ok': tar([('d', D), ('d/f', b'y'), ('l', S, {'linkname': 'd/f'})]),
		'hardlink': tar([('f', b'data'), ('h', H, {'linkname': 'f'})]),
		'hardlink-out': tar([('h', H, {'linkname': '/etc/passwd'})]),
		'fifo': tar([('p', tarfile.FIFOTYPE)]),
		'chardev': tar([('c', tarfile.CHRTYPE, {'devmajor': 1, 'devminor': 3})]),
		'blockdev': tar([('b', tarfile.BLKTYPE, {'devmajor': 7, 'devminor': 0})]),
		'setuid': tar([('s', R, {'mode': 0o4755})]),
		'setgid-dir': tar([('g', D, {'mode': 0o2755})]),
		'control-char': tar([('a\nb', b'x'), ('c\x1bd', b'y')]),
		'mode-zero-dir': tar([('z', D, {'mode': 0}), ('z/f', b'x')]),
		'dup-names': tar([('f', b'one'), ('f', b'two'), ('f', D)]),
		'file-then-dir': tar([('x', b'file'), ('x/y', b'under a file')]),
		'long-name-pax': tar([('d/' + 'n' * 300, b'long')]),
		'long-name-gnu': tar([('g/' + 'm' * 200, b'long')], fmt=tarfile.GNU_FORMAT, manifest=False),
		'ustar-no-manifest': tar([('u', b'ustar')], fmt=tarfile.USTAR_FORMAT, manifest=False),
		'reserved-dir': tar([('.b10t/evil', b'x')]),
		'many-entries': tar([('e%d' % i, b'') for i in range(300)]),
		'empty-tar': tar([], manifest=False),
		'owner': tar([('o', R, {'uid': 0, 'gid': 0, 'uname': 'root', 'gname': 'root'})]),
	}


def corrupt_variants(data):
	"""A few damaged copies of a valid lz4 archive."""
	out = {}
	if len(data) > 16:
		out['trunc-half'] = data[:len(data) // 2]
		out['trunc-last'] = data[:-1]
		mid = bytearray(data)
		mid[len(data) // 2] ^= 0x10
		out['flip-mid'] = bytes(mid)
		out['trailing'] = data + b'garbage'
	return out


def save_archive(b10t, tmp):
	"""A real archive from `b10t save` of a small tree, or None."""
	src, store = os.path.join(tmp, 'src'), os.path.join(tmp, 'store')
	os.makedirs(os.path.join(src, 'ab', 'cdef'))
	os.makedirs(os.path.join(src, 'empty'))
	os.makedirs(store)
	with open(os.path.join(src, 'ab', 'cdef', 'k.py'), 'w') as f:
		f.write('def kernel():\n    return 1\n' * 40)
	with open(os.path.join(src, 'ab', 'cdef', 'k.cubin'), 'wb') as f:
		f.write(bytes(range(256)) * 8)
	os.symlink('ab/cdef/k.py', os.path.join(src, 'latest'))
	env = dict(os.environ, TORCHINDUCTOR_CACHE_DIR=src, B10FS_CACHE_DIR=store,
		   LOCAL_WORK_DIR=os.path.join(tmp, 'work'), HOME=tmp,
		   B10T_CUDART=os.path.join(tmp, 'none.so'), B10T_TORCH_VERSION='2.4.0',
		   B10T_TRITON_VERSION='3.0.0')
	env.pop('BASETEN_FS_ENABLED', None)
	p = subprocess.run([b10t, 'save'], env=env, capture_output=True, text=True)
	names = [n for n in os.listdir(store) if n.endswith('.latest.tar.lz4')]
	if p.returncode != 0 or len(names) != 1:
		print('b10t save did not make an archive (exit %d): %s' % (p.returncode,
									  p.stderr.strip()), file=sys.stderr)
		return None
	with open(os.path.join(store, names[0]), 'rb') as f:
		return f.read()


def main():
	if len(sys.argv) != 2:
		sys.exit(__doc__)
	out = sys.argv[1]
	os.makedirs(out, exist_ok=True)
	seeds = {}
	for name, data in hostile().items():
		seeds['raw-' + name] = RAW + data
		seeds['lz4-' + name] = LZ4 + lz4(data)
	seeds['gz-plain'] = GZ + gzip.compress(hostile()['plain'], mtime=0)
	seeds['gz-dotdot'] = GZ + gzip.compress(hostile()['dotdot'], mtime=0)
	tmp = tempfile.mkdtemp(prefix='b10t-seeds.')
	try:
		b10t = os.environ.get('B10T')
		real = save_archive(b10t, tmp) if b10t else None
		if real:
			seeds['b10t-save'] = LZ4 + real
			for name, data in corrupt_variants(real).items():
				seeds['b10t-save-' + name] = LZ4 + data
			p = subprocess.run(['lz4', '-d', '-c'], input=real, capture_output=True)
			if p.returncode == 0:
				seeds['b10t-save-raw'] = RAW + p.stdout
				seeds['b10t-save-gz'] = GZ + gzip.compress(p.stdout, mtime=0)
	finally:
		shutil.rmtree(tmp, ignore_errors=True)
	for name, data in seeds.items():
		with open(os.path.join(out, name), 'wb') as f:
			f.write(data)
	print('%d seeds in %s%s' % (len(seeds), out, '' if 'b10t-save' in seeds
				    else ' (no archive from b10t save)'))


if __name__ == '__main__':
	main()
