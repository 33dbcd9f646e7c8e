#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Write a hostile tar that Python's tarfile cannot: raw headers.

    python3 tests/hostile-tar.py CASE OUT.tar
    python3 tests/hostile-tar.py --list

Cases (each holds a file `ok` of 2 bytes, then the hostile member `f`):
  gnu-sparse        GNU type 'S', 1 byte stored, real size 8 GiB
  gnu-sparse-over   GNU type 'S', real size 1, a map of 10 MiB of data
  pax-sparse-00     pax GNU.sparse.numblocks/offset/numbytes (format 0.0), 8 GiB
  pax-sparse-01     pax GNU.sparse.map (format 0.1), 8 GiB
  pax-sparse-10     pax GNU.sparse.major=1 (format 1.0, map in the data), 8 GiB
  pax-sparse-10-over format 1.0, real size 1, 10 MiB of data in the map
The tar is not compressed; wrap it with `lz4`.
"""
import sys

BIG = 0o77777777777	# 8 GiB - 1: the most an 11-digit octal field holds
TEN_MIB = 10 << 20


def header(name, size, typ=b"0", gnu=False, sparse=(), realsize=0):
	h = bytearray(512)

	def put(off, width, value):
		h[off:off + len(value)] = value[:width]

	put(0, 100, name.encode())
	put(100, 8, b"0000644\0")
	put(108, 8, b"0000000\0")
	put(116, 8, b"0000000\0")
	put(124, 12, b"%011o\0" % size)
	put(136, 12, b"%011o\0" % 1700000000)
	put(156, 1, typ)
	if gnu:
		put(257, 8, b"ustar  \0")
		for i, (off, n) in enumerate(sparse[:4]):
			put(386 + 24 * i, 12, b"%011o\0" % off)
			put(386 + 24 * i + 12, 12, b"%011o\0" % n)
		put(483, 12, b"%011o\0" % realsize)
	else:
		put(257, 6, b"ustar\0")
		put(263, 2, b"00")
	h[148:156] = b" " * 8
	put(148, 8, b"%06o\0 " % sum(h))
	return bytes(h)


def pad(data):
	return data + b"\0" * (-len(data) % 512)


def member(name, data, **kw):
	return header(name, len(data), **kw) + pad(data)


def pax(records, name="PaxHeaders/f"):
	body = b""
	for k, v in records:
		rec = " %s=%s\n" % (k, v)
		n = len(rec) + 1
		while len(str(n)) + len(rec) != n:
			n += 1
		body += (str(n) + rec).encode()
	return member(name, body, typ=b"x")


def build(case):
	out = member("ok", b"ok")
	if case == "gnu-sparse":
		out += header("f", 1, typ=b"S", gnu=True, sparse=[(BIG - 1, 1)], realsize=BIG)
		out += pad(b"x")
	elif case == "gnu-sparse-over":
		out += header("f", TEN_MIB, typ=b"S", gnu=True, sparse=[(0, TEN_MIB)], realsize=1)
		out += pad(b"x" * TEN_MIB)
	elif case == "pax-sparse-00":
		out += pax([("GNU.sparse.size", BIG), ("GNU.sparse.numblocks", 1),
			    ("GNU.sparse.offset", BIG - 1), ("GNU.sparse.numbytes", 1)])
		out += member("f", b"x")
	elif case == "pax-sparse-01":
		out += pax([("GNU.sparse.size", BIG), ("GNU.sparse.numblocks", 1),
			    ("GNU.sparse.map", "%d,1" % (BIG - 1))])
		out += member("f", b"x")
	elif case in ("pax-sparse-10", "pax-sparse-10-over"):
		real, n = (BIG, 1) if case == "pax-sparse-10" else (1, TEN_MIB)
		out += pax([("GNU.sparse.major", 1), ("GNU.sparse.minor", 0),
			    ("GNU.sparse.name", "f"), ("GNU.sparse.realsize", real)])
		data = pad(b"1\n%d\n%d\n" % (real - 1 if n == 1 else 0, n)) + b"x" * n
		out += member("GNUSparseFile.0/f", data)
	else:
		sys.exit("hostile-tar: unknown case %s" % case)
	return out + b"\0" * 1024


CASES = ["gnu-sparse", "gnu-sparse-over", "pax-sparse-00", "pax-sparse-01",
	 "pax-sparse-10", "pax-sparse-10-over"]

if __name__ == "__main__":
	if sys.argv[1:] == ["--list"]:
		print("\n".join(CASES))
	elif len(sys.argv) == 3:
		with open(sys.argv[2], "wb") as f:
			f.write(build(sys.argv[1]))
	else:
		sys.exit(__doc__)
