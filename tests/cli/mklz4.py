#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""mklz4.py BLOCK <IN >OUT: an lz4 frame of IN cut into BLOCK-byte blocks,
each stored uncompressed, with the header and content checksums, so a test
decides exactly where the blocks end (the lz4 CLI only has 64 KiB..4 MiB)."""
import struct
import sys

M = 0xffffffff
P1, P2, P3, P4, P5 = 2654435761, 2246822519, 3266489917, 668265263, 374761393


def rotl(x, r):
	return ((x << r) | (x >> (32 - r))) & M


def xxh32(data, seed=0):
	n, i = len(data), 0
	if n >= 16:
		v = [(seed + P1 + P2) & M, (seed + P2) & M, seed, (seed - P1) & M]
		while i + 16 <= n:
			for k in range(4):
				w = struct.unpack_from('<I', data, i + 4 * k)[0]
				v[k] = rotl((v[k] + w * P2) & M, 13) * P1 & M
			i += 16
		h = (rotl(v[0], 1) + rotl(v[1], 7) + rotl(v[2], 12) + rotl(v[3], 18)) & M
	else:
		h = (seed + P5) & M
	h = (h + n) & M
	while i + 4 <= n:
		h = rotl((h + struct.unpack_from('<I', data, i)[0] * P3) & M, 17) * P4 & M
		i += 4
	while i < n:
		h = rotl((h + data[i] * P5) & M, 11) * P1 & M
		i += 1
	h ^= h >> 15
	h = h * P2 & M
	h ^= h >> 13
	h = h * P3 & M
	h ^= h >> 16
	return h


def frame(data, block):
	desc = bytes([0x64, 0x40])	# v1, independent blocks, content checksum; 64 KiB max
	out = [struct.pack('<I', 0x184D2204), desc, bytes([(xxh32(desc) >> 8) & 0xff])]
	for i in range(0, len(data), block):
		b = data[i:i + block]
		out.append(struct.pack('<I', len(b) | 0x80000000) + b)
	out.append(struct.pack('<II', 0, xxh32(data)))
	return b''.join(out)


if __name__ == '__main__':
	blk = int(sys.argv[1])
	assert 0 < blk <= 65536
	sys.stdout.buffer.write(frame(sys.stdin.buffer.read(), blk))
