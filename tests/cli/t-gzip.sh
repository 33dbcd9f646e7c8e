#!/bin/sh
# The reference's .tar.gz: both its writers load; any damage to the gzip
# layer (header, deflate data, CRC32, ISIZE, truncation, trailing bytes)
# is an ERROR with the archive moved aside; 200 random bit flips never
# load as SUCCESS with wrong bytes.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
export B10T_KEY_SCHEME=b10-transfer
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
G=$S/cache_$KEY.latest.tar.gz
W=$T_DIR/w
mkdir -p "$W"

# A tree of a few hundred KB: source text (deflate works hard), random
# bytes (stored blocks), a symlink, an empty dir.
python3 - "$W/src" <<'PY'
import os, random, sys
root = sys.argv[1]
rng = random.Random(9)
for d in range(6):
    p = os.path.join(root, 'd%d' % d, 'sub')
    os.makedirs(p)
    for f in range(8):
        with open(os.path.join(p, 'k%d.py' % f), 'w') as fh:
            for i in range(rng.randrange(50, 400)):
                fh.write('def kernel_%d_%d(x):\n    return x * %d + %d\n' %
                         (f, i, rng.randrange(1000), rng.randrange(1000)))
    with open(os.path.join(root, 'd%d' % d, 'blob.cubin' ), 'wb') as fh:
        fh.write(rng.randbytes(rng.randrange(5000, 30000)))
os.makedirs(os.path.join(root, 'empty'))
os.symlink('d0/sub/k0.py', os.path.join(root, 'latest'))
PY

# mkgz OUT: the tree as the reference writes it (tarfile "w:gz", arcname ".").
mkgz() {
	python3 - "$W/src" "$1" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[2], 'w:gz') as t:
    t.add(sys.argv[1], arcname='.')
PY
}
# same A B: the trees hold the same names, types, bytes and link targets.
same() {
	PYTHONPATH="$SRCDIR/cli" python3 - "$1" "$2" <<'PY'
import sys
from treecmp import scan, shape
# The archives' modes and mtimes are tarfile's, not the point here.
a, b = shape(scan(sys.argv[1])), shape(scan(sys.argv[2]))
if a != b:
    print('#   trees differ: %s' % sorted(set(a.items()) ^ set(b.items()))[:3])
    sys.exit(1)
PY
}
aside() { ls "$S" | grep -q "^cache_$KEY\.corrupt\..*\.tar\.gz$"; }
fresh() { rm -rf "$C" "$S"/*; }

mkgz "$W/good.tar.gz"
(cd "$W/src" && tar -czf "$W/gnu.tar.gz" .)

for kind in good gnu; do
	fresh
	cp "$W/$kind.tar.gz" "$G"
	run load --json
	ok "$kind: load of the .tar.gz: SUCCESS" expect_rc 0
	ok "$kind: ... the tree is identical" same "$W/src" "$C"
done

# Two gzip members (RFC 1952 allows it; `cat a.gz b.gz` makes them).
python3 - "$W/good.tar.gz" "$W/multi.tar.gz" <<'PY'
import gzip, sys
raw = gzip.decompress(open(sys.argv[1], 'rb').read())
cut = len(raw) // 3
open(sys.argv[2], 'wb').write(gzip.compress(raw[:cut]) + gzip.compress(raw[cut:]))
PY
fresh
cp "$W/multi.tar.gz" "$G"
run load
ok "two gzip members: SUCCESS" expect_rc 0
ok "two gzip members: ... the tree is identical" same "$W/src" "$C"

# damaged CASE: each case is an ERROR, names the damage, moves it aside.
damaged() {
	case=$1 want=$2
	fresh
	python3 - "$W/good.tar.gz" "$G" "$case" <<'PY'
import gzip, struct, sys, zlib
gz = bytearray(open(sys.argv[1], 'rb').read())
raw = gzip.decompress(bytes(gz))
case = sys.argv[3]
if case == 'crc':
    gz[-8:-4] = struct.pack('<I', zlib.crc32(raw) ^ 1)
elif case == 'isize':
    gz[-4:] = struct.pack('<I', (len(raw) + 512) & 0xffffffff)
elif case == 'no-trailer':
    gz = gz[:-8]
elif case == 'half':
    gz = gz[:len(gz) // 2]
elif case == 'garbage-after':
    gz += b'garbage'
elif case == 'zeros-after':
    gz += bytes(512)
elif case == 'magic':
    gz[1] ^= 0xff
elif case == 'method':
    gz[2] = 7
elif case == 'header-crc':
    # FHCRC set with a wrong header CRC16 (zlib checks it)
    flg = gz[3]
    end = 10
    if flg & 8:
        end = gz.index(0, 10) + 1
    gz = gz[:3] + bytes([flg | 2]) + gz[4:end] + b'\0\0' + gz[end:]
elif case == 'deflate':
    gz[len(gz) // 2] ^= 0x40
elif case == 'second-member-bad':
    gz += gzip.compress(b'\0' * 1024)[:-4] + b'\0\0\0\0'
elif case == 'tar-trailing':
    # garbage after the tar's end, inside the (good) gzip stream
    gz = gzip.compress(raw + b'after the end of the tar')
open(sys.argv[2], 'wb').write(bytes(gz))
PY
	run load --json
	ok "$case: ERROR" expect_rc 1
	ok "$case: ... the error says why" jq_is ".error | test(\"$want\")" true
	ok "$case: ... moved aside as .corrupt.*.tar.gz" aside
	ok "$case: ... the cache dir is not there" [ ! -e "$C" ]
}
damaged crc 'CRC32 mismatch'
damaged isize 'ISIZE mismatch'
damaged no-trailer 'truncated'
damaged half 'truncated'
damaged garbage-after 'after the end of the gzip stream'
damaged zeros-after 'after the end of the gzip stream'
damaged magic 'gzip: incorrect header check'
damaged method 'gzip: unknown compression method'
damaged header-crc 'gzip: header crc mismatch'
damaged deflate 'corrupt archive'
damaged second-member-bad 'ISIZE mismatch'
damaged tar-trailing 'data after the end of the tar'

# 200 random single-bit flips, each loaded.  gzip checks the data, not the
# stream: a flip in the header's FTEXT, MTIME, XFL, OS or FNAME, or in the padding
# bits after the last deflate block, leaves the same bytes and may load,
# but only with the original tree.  Every other outcome must be an ERROR
# with the archive moved aside.  No flip may load wrong bytes.
PYTHONPATH="$SRCDIR/cli" python3 - "$B10T" "$W/good.tar.gz" "$G" "$C" "$S" "$KEY" "$W/src" >"$T_DIR/flips" <<'PY'
import os, random, re, shutil, subprocess, sys
b10t, good, g, cache, store, key, src = sys.argv[1:]
data = open(good, 'rb').read()
rng = random.Random(int(os.environ.get('B10T_FLIP_SEED', '1')))
from treecmp import scan as tree_scan, shape
def scan(root):
    return shape(tree_scan(root))
want = scan(src)
# the header's fields that no check covers: MTIME, XFL, OS, FNAME's bytes
# (and FLG's FTEXT bit, below)
hdr_end = data.index(0, 10) if data[3] & 8 else 10
harmless = set(range(4, 10)) | set(range(10, hdr_end))
n_err = n_same_hdr = n_same = n_wrong = n_bad = 0
for i in range(200):
    # a third in the header and trailer, where uniform picks rarely land
    x = rng.random()
    off = rng.randrange(32) if x < 0.15 else \
        rng.randrange(len(data) - 16, len(data)) if x < 0.3 else rng.randrange(len(data))
    bit = rng.randrange(8)
    d = bytearray(data)
    d[off] ^= 1 << bit
    for n in os.listdir(store):
        os.unlink(os.path.join(store, n))
    shutil.rmtree(cache, ignore_errors=True)
    open(g, 'wb').write(d)
    r = subprocess.run([b10t, 'load', '-q'], capture_output=True, text=True)
    names = os.listdir(store)
    moved = [n for n in names if re.fullmatch(r'cache_%s\.corrupt\..*\.tar\.gz' % key, n)]
    if r.returncode == 0:
        if scan(cache) == want:
            if off in harmless or (off == 3 and bit == 0):
                n_same_hdr += 1
            else:
                n_same += 1
                print('# flip at %d of %d bit %d (not in the header) loaded the same tree'
                      % (off, len(data), bit))
        else:
            n_wrong += 1
            print('# flip at %d bit %d: SUCCESS with wrong bytes' % (off, bit))
    elif r.returncode == 1 and len(moved) == 1 and os.path.basename(g) not in names \
            and not os.path.exists(cache):
        n_err += 1
    else:
        n_bad += 1
        print('# flip at %d bit %d: exit %d, store %s: %s' % (off, bit, r.returncode, names,
                                                            r.stderr.strip()))
print('# 200 flips of a %d-byte .tar.gz: %d ERROR and moved aside, %d SUCCESS with the '
      'original tree (%d in the unchecked header fields), %d SUCCESS with wrong bytes, '
      '%d other' % (len(data), n_err, n_same_hdr + n_same, n_same_hdr, n_wrong, n_bad))
sys.exit(1 if n_wrong or n_bad else 0)
PY
frc=$?
cat "$T_DIR/flips"
ok "200 bit flips: none loads wrong bytes; the rest are ERRORs moved aside" [ $frc -eq 0 ]

done_testing
