#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""gen-seeds.py DIR: write the seed corpus of fuzz-unpack into DIR.

Each seed is one byte that picks fuzz-unpack's path (0 lz4 archive as
stored, 1 raw tar wrapped in lz4 by the target, 2 tar.gz as stored, 3 raw
tar wrapped in gzip by the target, 4 tar.zst as stored, 5 raw tar wrapped
in zstd by the target) and the archive.
Valid archives come from `b10t save` ($B10T) when it works; hostile ones
are tars written with python's tarfile (a few headers made by hand where
tarfile cannot write them), compressed with the `lz4` CLI.  Each hostile
seed says which members it holds (Seed.claims); check-seeds.py reads the
seeds back and holds them to it.
"""
import gzip
import io
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile

LZ4, RAW, GZ, RAW_GZ, ZST, RAW_ZST = b'\0', b'\1', b'\2', b'\3', b'\4', b'\5'
MTIME = 1700000000
KEY = '0123456789abcdef'
SPARSE = 'sparse'	# the claimed kind of a sparse member, whatever its type byte


class T:
	"""A member that is not a plain file: its tarfile type and attributes.

	Files are (name, bytes).  Types are T(...) and never bare: tarfile's
	type constants are bytes themselves (REGTYPE is b'0'), so a bare
	(name, DIRTYPE) once read as a 1-byte file holding b'5'."""
	def __init__(self, kind, **attrs):
		self.kind = kind
		self.attrs = attrs


def member(tf, name, kind=tarfile.REGTYPE, data=b'', **attrs):
	ti = tarfile.TarInfo(name)
	ti.type = kind
	ti.mode = attrs.pop('mode', 0o755 if kind == tarfile.DIRTYPE else 0o644)
	ti.mtime = MTIME
	for k, v in attrs.items():
		setattr(ti, k, v)
	if kind in (tarfile.REGTYPE, tarfile.AREGTYPE, tarfile.CONTTYPE):
		ti.size = len(data)
		tf.addfile(ti, io.BytesIO(data))
	else:
		tf.addfile(ti)


def manifest_json(key=KEY, extra=''):
	return ('{"b10t_manifest": 1, "key": "%s"%s}' % (key, extra)).encode()


class Seed:
	"""A hostile tar: its members, how it is written, what it claims to hold.

	claims() is what a reader must find in the bytes: (name, kind) per
	member, kind a tarfile type or SPARSE.  check-seeds.py reads every
	seed back and compares."""
	def __init__(self, members, fmt=tarfile.PAX_FORMAT, manifest=True, after=b'',
		     manifest_data=None, end_blocks=None):
		self.members = members
		self.fmt = fmt
		self.manifest = manifest
		self.manifest_data = manifest_data or manifest_json()
		self.after = after	# bytes after the tar's end blocks and padding
		self.end_blocks = end_blocks	# None: as tarfile ends it; n: n zero blocks

	def junk_after_end(self):
		"""Whether non-zero bytes follow the tar's end."""
		return any(self.after)

	def claims(self):
		out = [('.b10t', tarfile.DIRTYPE), ('.b10t/manifest.json', tarfile.REGTYPE)] \
			if self.manifest else []
		for name, what in self.members:
			if isinstance(what, bytes):
				out.append((name, tarfile.REGTYPE))
			elif isinstance(what, T):
				out.append((name, what.kind))
			else:	# a crafted member: (name, (kind, header bytes))
				out.append((name, what[0]))
		return out

	def tar(self):
		buf = io.BytesIO()
		with tarfile.open(fileobj=buf, mode='w', format=self.fmt) as tf:
			if self.manifest:
				member(tf, '.b10t', tarfile.DIRTYPE)
				member(tf, '.b10t/manifest.json', data=self.manifest_data)
			for name, what in self.members:
				if isinstance(what, bytes):
					member(tf, name, data=what)
				elif isinstance(what, T) and what.kind == SPARSE:
					pax_sparse(tf, name, **what.attrs)
				elif isinstance(what, T):
					member(tf, name, what.kind, **what.attrs)
				else:	# raw blocks, written as they are
					tf.fileobj.write(what[1])
					tf.offset += len(what[1])
			end = tf.offset
		data = buf.getvalue()
		if self.end_blocks is not None:
			data = data[:end] + bytes(512 * self.end_blocks)
		return data + self.after


def octal(n, width):
	return (b'%0*o' % (width - 1, n)) + b'\0'


def gnu_sparse(name, offset, numbytes):
	"""A GNU 'S' member: `numbytes` of data at `offset`, a real size past it.
	tarfile cannot write one, so the header is made here (GNU tar's layout:
	4 sparse entries at 386, isextended at 482, realsize at 483)."""
	h = bytearray(512)
	h[0:len(name)] = name.encode()
	h[100:108] = octal(0o644, 8)
	h[108:116] = octal(0, 8)
	h[116:124] = octal(0, 8)
	h[124:136] = octal(numbytes, 12)
	h[136:148] = octal(MTIME, 12)
	h[156:157] = tarfile.GNUTYPE_SPARSE
	h[257:265] = b'ustar  \0'
	h[386:398] = octal(offset, 12)
	h[398:410] = octal(numbytes, 12)
	h[483:495] = octal(offset + numbytes, 12)
	h[148:156] = b' ' * 8
	h[148:156] = b'%06o\0 ' % sum(h)
	data = b'S' * numbytes
	return (SPARSE, bytes(h) + data + bytes(-len(data) % 512))


def pax_sparse(tf, name, version='1.0', offset=10 << 20, numbytes=1):
	"""A pax sparse member (GNU.sparse.* keys), format 0.1 or 1.0."""
	ti = tarfile.TarInfo(name)
	ti.mtime = MTIME
	ti.mode = 0o644
	data = b'S' * numbytes
	if version == '1.0':
		ti.name = 'GNUSparseFile.0/' + name
		ti.pax_headers = {'GNU.sparse.major': '1', 'GNU.sparse.minor': '0',
				  'GNU.sparse.name': name,
				  'GNU.sparse.realsize': str(offset + numbytes)}
		mp = b'1\n%d\n%d\n' % (offset, numbytes)
		data = mp + bytes(-len(mp) % 512) + data
	else:
		ti.pax_headers = {'GNU.sparse.numblocks': '1',
				  'GNU.sparse.map': '%d,%d' % (offset, numbytes),
				  'GNU.sparse.size': str(offset + numbytes)}
	ti.size = len(data)
	tf.addfile(ti, io.BytesIO(data))


def lz4(data, block='-B7'):
	p = subprocess.run(['lz4', '-q', '-c', '--content-size', '-BD', block], input=data,
			   capture_output=True, check=True)
	return p.stdout


def hostile():
	"""name -> Seed, one safety rule each."""
	R, D, S, H = tarfile.REGTYPE, tarfile.DIRTYPE, tarfile.SYMTYPE, tarfile.LNKTYPE
	deep = '/'.join(['d'] * 300)
	return {
		'plain': Seed([('a/b.py', b'print(1)\n' * 20), ('a', T(D)), ('empty', b'')]),
		'dotdot': Seed([('../escape', b'x')]),
		'dotdot-inner': Seed([('a/../../escape', b'x')]),
		'absolute': Seed([('/tmp/b10t-fuzz-escape', b'x')]),
		'symlink-abs': Seed([('l', T(S, linkname='/etc'))]),
		'symlink-up': Seed([('l', T(S, linkname='..'))]),
		'symlink-then-write': Seed([('d', T(D)), ('d/l', T(S, linkname='..')),
					    ('d/l/escape', b'x')]),
		'symlink-chain': Seed([('d', T(D)), ('d/l', T(S, linkname='..')),
				       ('m', T(S, linkname='d/l/..'))]),
		'symlink-ok': Seed([('d', T(D)), ('d/f', b'y'), ('l', T(S, linkname='d/f'))]),
		'symlink-long-target': Seed([('l', T(S, linkname='a/' * 2100 + 'f'))]),
		'symlink-target-name-max': Seed([('l', T(S, linkname='n' * 300))]),
		'hardlink': Seed([('f', b'data'), ('h', T(H, linkname='f'))]),
		'hardlink-out': Seed([('h', T(H, linkname='/etc/passwd'))]),
		'fifo': Seed([('p', T(tarfile.FIFOTYPE))]),
		'chardev': Seed([('c', T(tarfile.CHRTYPE, devmajor=1, devminor=3))]),
		'blockdev': Seed([('b', T(tarfile.BLKTYPE, devmajor=7, devminor=0))]),
		'contiguous': Seed([('c', T(tarfile.CONTTYPE))]),
		'setuid': Seed([('s', T(R, mode=0o4755))]),
		'setgid-dir': Seed([('g', T(D, mode=0o2755))]),
		'mode-0777': Seed([('w', T(D, mode=0o777)), ('w/f', T(R, mode=0o666))]),
		'control-char': Seed([('a\nb', b'x'), ('c\x1bd', b'y')]),
		'mode-zero-dir': Seed([('z', T(D, mode=0)), ('z/f', b'x')]),
		'dup-names': Seed([('f', b'one'), ('f', b'two'), ('f', T(D))]),
		'file-then-dir': Seed([('x', b'file'), ('x/y', b'under a file')]),
		'long-name-pax': Seed([('d/' + 'n' * 300, b'long')]),
		'long-name-gnu': Seed([('g/' + 'm' * 200, b'long')], fmt=tarfile.GNU_FORMAT,
				      manifest=False),
		'deep-300': Seed([(deep + '/f', b'deep')]),
		'deep-256': Seed([('/'.join(['e'] * 255) + '/f', b'at the limit')]),
		'deep-257': Seed([('/'.join(['e'] * 256) + '/f', b'past the limit')]),
		'path-too-long': Seed([('/'.join(['p' * 200] * 25) + '/f', b'x')]),
		'sparse-gnu': Seed([gnu_sparse_member('sg')], fmt=tarfile.GNU_FORMAT),
		'sparse-pax-1.0': Seed([('sp', T(SPARSE, version='1.0'))]),
		'sparse-pax-0.1': Seed([('sq', T(SPARSE, version='0.1'))]),
		'ustar-no-manifest': Seed([('u', b'ustar')], fmt=tarfile.USTAR_FORMAT, manifest=False),
		'reserved-dir': Seed([('.b10t/evil', b'x')]),
		'many-entries': Seed([('e%d' % i, b'') for i in range(100)]),
		'empty-tar': Seed([], manifest=False),
		'owner': Seed([('o', T(R, uid=0, gid=0, uname='root', gname='root'))]),
		'trailing-junk': Seed([('f', b'x')], after=b'junk after the end of the tar'),
		'trailing-after-padding': Seed([('f', b'x')], after=b'x'),
		'trailing-one-zero-block': Seed([('f', b'x')], end_blocks=1, after=b'junk' * 128),
		'trailing-right-after-end': Seed([('f', b'x')], end_blocks=2, after=b'j'),
		'no-end-blocks': Seed([('f', b'x')], end_blocks=0),
		'manifest-wrong-key': Seed([('f', b'x')], manifest_data=manifest_json('fedcba9876543210')),
		'manifest-huge-number': Seed([('f', b'x')],
					     manifest_data=manifest_json(extra=', "files": 1e300, "bytes": -1')),
	}


def gnu_sparse_member(name):
	return (name, gnu_sparse(name, 10 << 20, 1))


# The hostile tars also given raw for the target to wrap in gzip.
RAW_GZ_SEEDS = ('plain', 'symlink-then-write', 'hardlink', 'sparse-gnu', 'sparse-pax-1.0',
		'symlink-long-target', 'deep-257', 'trailing-junk', 'trailing-one-zero-block',
		'long-name-gnu', 'dup-names')


def gz_variants(tar_bytes):
	"""Damaged gzip layers over a good tar: name -> gzip bytes."""
	good = gzip.compress(tar_bytes, mtime=0)
	crc = bytearray(good)
	crc[-8] ^= 1
	isize = bytearray(good)
	isize[-4] ^= 1
	half = len(tar_bytes) // 2
	return {
		'gz-bad-crc': bytes(crc),
		'gz-bad-isize': bytes(isize),
		'gz-no-trailer': good[:-8],
		'gz-trailing-junk': good + b'junk',
		'gz-trailing-zeros': good + bytes(16),
		'gz-two-members': gzip.compress(tar_bytes[:half], mtime=0) +
				  gzip.compress(tar_bytes[half:], mtime=0),
		'gz-tar-trailing-junk': gzip.compress(tar_bytes + b'junk', mtime=0),
	}


def zstd(data, *opts):
	"""`data` as the zstd CLI frames it (content checksum on, as b10t writes)."""
	p = subprocess.run(['zstd', '-q', '-c', '--check', *opts], input=data, capture_output=True)
	return p.stdout if p.returncode == 0 else None


# The hostile tars also given as .tar.zst, and through the target's own frame.
ZST_SEEDS = ('plain', 'dotdot', 'sparse-gnu', 'symlink-long-target', 'trailing-junk')


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


def save_archive(b10t, tmp, codec='lz4'):
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
		   B10T_TRITON_VERSION='3.0.0', B10T_CODEC=codec)
	env.pop('BASETEN_FS_ENABLED', None)
	p = subprocess.run([b10t, 'save'], env=env, capture_output=True, text=True)
	ext = '.tar.zst' if codec == 'zstd' else '.tar.lz4'
	names = [n for n in os.listdir(store) if n.endswith('.latest' + ext)]
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
	tars = {name: seed.tar() for name, seed in hostile().items()}
	for name, data in tars.items():
		seeds['raw-' + name] = RAW + data
		seeds['lz4-' + name] = LZ4 + lz4(data)
	for name in ('plain', 'dotdot', 'sparse-gnu', 'symlink-long-target', 'trailing-junk'):
		seeds['gz-' + name] = GZ + gzip.compress(tars[name], mtime=0)
	for name in RAW_GZ_SEEDS:
		seeds['rawgz-' + name] = RAW_GZ + tars[name]
	for name, data in gz_variants(tars['plain']).items():
		seeds[name] = GZ + data
	for name in ZST_SEEDS:
		z = zstd(tars[name])
		if z:
			seeds['zst-' + name] = ZST + z
			seeds['zst-' + name + '-no-check'] = ZST + zstd(tars[name], '--no-check')
		seeds['rawzst-' + name] = RAW_ZST + tars[name]
	# The junk in a later lz4 block than the tar's end: 64 KiB blocks.
	big = Seed([('big', bytes(range(256)) * 400)], after=bytes(70000) + b'junk').tar()
	seeds['lz4-trailing-junk-later-block'] = LZ4 + lz4(big, '-B4')
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
		shutil.rmtree(tmp, ignore_errors=True)
		os.makedirs(tmp)
		real = save_archive(b10t, tmp, 'zstd') if b10t else None
		if real:
			# Two frames: the manifest's, then the data's.
			seeds['b10t-save-zst'] = ZST + real
			for name, data in corrupt_variants(real).items():
				seeds['b10t-save-zst-' + name] = ZST + data
	finally:
		shutil.rmtree(tmp, ignore_errors=True)
	for name, data in seeds.items():
		with open(os.path.join(out, name), 'wb') as f:
			f.write(data)
	print('%d seeds in %s%s' % (len(seeds), out, '' if 'b10t-save' in seeds
				    else ' (no archive from b10t save)'))


if __name__ == '__main__':
	main()
