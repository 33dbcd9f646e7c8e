#!/bin/sh
# After the end of the tar only zero padding may follow, wherever the
# compressed blocks end: in the same lz4 block as the tar's end, in a later
# block, in tiny blocks (so libarchive holds bytes of earlier ones), in the
# gzip stream.  Legitimate padding still loads.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
A=$S/cache_$KEY.latest.tar.lz4
G=$S/cache_$KEY.latest.tar.gz
W=$T_DIR/w
mkdir -p "$W" "$C/d"
head -c 200000 /dev/urandom >"$C/d/blob"
seq 1 20000 >"$C/d/text"
ln -s d/text "$C/link"
cp -a "$C" "$W/orig"
run save -q
ok "save: SUCCESS" expect_rc 0
P=$(published_archive "$S" "$KEY")
lz4 -dc "$P" >"$W/tar" 2>/dev/null
ok "the saved archive decompresses" [ -s "$W/tar" ]
cp "$P" "$W/good.lz4"
# The variants are written under the legacy names, which load still reads.

# variant CASE OUT: the saved tar, changed after its end as CASE says;
# prints the lz4 or gz bytes to OUT.
variant() {
	python3 - "$W/tar" "$1" "$2" "$SRCDIR/cli" <<'PY'
import gzip, io, subprocess, sys, tarfile
sys.path.insert(0, sys.argv[4])
import mklz4
raw = open(sys.argv[1], 'rb').read()
tf = tarfile.open(fileobj=io.BytesIO(raw))
tf.getmembers()
end = tf.offset			# where the end-of-archive blocks start
assert raw[end:] == bytes(len(raw) - end), 'the saved tar has no clean end'
case = sys.argv[2]
body, how = raw, 'lz4'
if case == 'right-after-end':	# first byte after the two zero blocks
    body = raw[:end + 1024] + b'X' + bytes(10239)
elif case == 'record-last-byte':
    body = raw[:-1] + b'\1'
elif case == 'one-zero-block':	# one zero block, then a tar header's worth of junk
    body = raw[:end + 512] + b'junk' * 128
elif case == 'later-block':	# 64 KiB blocks: the junk is blocks after the end
    n = (end + 1024 + 65535) // 65536 * 65536 + 3 * 65536
    body = raw[:end] + bytes(n - end) + b'junk'
    how = 'lz4-64k'
elif case == 'tiny-blocks-junk':	# 100-byte blocks: the end straddles many
    body = raw[:end + 1024] + b'X' + bytes(500)
    how = 'tiny'
elif case == 'tiny-blocks-good':
    how = 'tiny'
elif case == 'padding-100k':
    body = raw + bytes(100 << 10)
elif case == 'padding-2m':
    body = raw + bytes(2 << 20)
elif case == 'no-end-junk':	# no end blocks: junk where the next header would be
    body = raw[:end] + b'not a tar header' * 32
elif case == 'gz-right-after-end':
    body, how = raw[:end + 1024] + b'X' + bytes(511), 'gz'
elif case == 'gz-good':
    how = 'gz'
if how == 'gz':
    out = gzip.compress(body)
elif how == 'tiny':
    out = mklz4.frame(body, 100)
else:
    out = subprocess.run(['lz4', '-q', '-c', '-BD'] + (['-B4'] if how == 'lz4-64k' else []),
                         input=body, capture_output=True, check=True).stdout
open(sys.argv[3], 'wb').write(out)
PY
}
fresh() { rm -rf "$C" "$S"/*; }
aside() { ls "$S" | grep -q "^cache_$KEY\.corrupt\."; }

# refused CASE WANT: an ERROR saying WANT, moved aside, no cache dir.
refused() {
	fresh
	case $1 in gz-*) out=$G ;; *) out=$A ;; esac
	variant "$1" "$out"
	run load --json
	ok "$1: ERROR" expect_rc 1
	ok "$1: ... the error says why" jq_is ".error | test(\"$2\")" true
	ok "$1: ... moved aside" aside
	ok "$1: ... no cache dir" [ ! -e "$C" ]
}
# loads CASE: SUCCESS with the saved tree.
loads() {
	fresh
	case $1 in gz-*) out=$G ;; *) out=$A ;; esac
	variant "$1" "$out"
	run load
	ok "$1: SUCCESS" expect_rc 0
	ok "$1: ... the tree is identical" diff -r "$W/orig" "$C"
}

refused right-after-end 'data after the end of the tar'
refused record-last-byte 'data after the end of the tar'
refused one-zero-block 'data after the end of the tar'
refused later-block 'data after the end of the tar'
refused tiny-blocks-junk 'data after the end of the tar'
refused padding-2m 'bytes of padding after the end of the tar'
refused no-end-junk 'corrupt archive'
refused gz-right-after-end 'data after the end of the tar'
loads tiny-blocks-good
loads padding-100k
loads gz-good
fresh
cp "$W/good.lz4" "$A"
run load
ok "the archive as saved: SUCCESS" expect_rc 0

done_testing
