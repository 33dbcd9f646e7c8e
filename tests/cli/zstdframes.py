#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""zstdframes.py FILE: the zstd frames of FILE, one line each, "OFFSET SIZE
CHECKSUM_FLAG" (the block headers walked, RFC 8878 3.1.1), then "list
OFFSET SIZE" for b10t's entry list when one follows (a skippable frame,
RFC 8878 3.1.2), then "end OFFSET" where the frames stop (the file's size
when nothing follows).
zstdframes.py FILE --first OUT writes the first frame alone to OUT."""
import struct
import sys

MAGIC = 0xFD2FB528


def frames(data):
	off, out = 0, []
	while off + 4 <= len(data) and struct.unpack_from('<I', data, off)[0] == MAGIC:
		fhd = data[off + 4]
		fcs_flag, single, cksum, did_flag = fhd >> 6, (fhd >> 5) & 1, (fhd >> 2) & 1, fhd & 3
		pos = off + 5 + (0 if single else 1) + (0, 1, 2, 4)[did_flag]
		pos += (1 if single else 0, 2, 4, 8)[fcs_flag]
		while True:
			if pos + 3 > len(data):
				return out, off
			bh = data[pos] | data[pos + 1] << 8 | data[pos + 2] << 16
			last, btype, bsize = bh & 1, (bh >> 1) & 3, bh >> 3
			pos += 3 + (1 if btype == 1 else bsize)
			if last:
				break
		pos += 4 if cksum else 0
		if pos > len(data):
			return out, off
		out.append((off, pos - off, cksum))
		off = pos
	return out, off


def main():
	data = open(sys.argv[1], 'rb').read()
	fr, end = frames(data)
	if len(sys.argv) > 3 and sys.argv[2] == '--first':
		o, n, _ = fr[0]
		open(sys.argv[3], 'wb').write(data[o:o + n])
		return
	for o, n, c in fr:
		print(o, n, c)
	if end + 8 <= len(data) and struct.unpack_from('<I', data, end)[0] & ~0xF == 0x184D2A50:
		n = 8 + struct.unpack_from('<I', data, end + 4)[0]
		if end + n <= len(data):
			print('list', end, n)
			end += n
	print('end', end)


main()
