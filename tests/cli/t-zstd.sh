#!/bin/sh
# .tar.zst archives (B10T_CODEC=zstd): what save writes (two frames, the
# manifest alone in the first, content checksums), that list --manifest
# needs only the first frame, the codec and level settings, the codecs
# side by side in one store, and every kind of damage a zstd stream can
# have: ERROR, moved aside, the cache dir untouched, never wrong bytes.
# zstd archives are generations like lz4's (cache_KEY.g<N>.<uniq>.tar.zst
# and the claim cache_KEY.g<N>); a set may mix the codecs and the legacy
# bases, each archive read by its extension.
# corrupt-zstd, hostile-zstd, stale-view-zstd and roundtrip-zstd run the
# lz4 suites' own cases on zstd archives.
. "$(dirname "$0")/lib.sh"

command -v zstd >/dev/null || skip_all "no zstd CLI to check the archives with"
command -v lz4 >/dev/null || skip_all "no lz4 CLI"
S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
FR="python3 $SRCDIR/cli/zstdframes.py"
export B10T_CODEC=zstd
EXT=zst	# this file's codec, whatever B10T_TEST_CODEC says (fixed_archive, reclaim)
# pub EXT: the key's published archive is a generation archive .tar.EXT
pub() {
	case $(published_archive "$S" "$KEY") in
	"$S/cache_$KEY".g[1-9]*.*.tar."$1") return 0 ;;
	esac
	echo "#   published: $(published_archive "$S" "$KEY")"
	return 1
}
no_zst() { ! ls -A "$S" | grep -q '\.tar\.zst$'; }
no_lz4() { ! ls -A "$S" | grep -q '\.tar\.lz4$'; }

mkdir -p "$C/d/e"
head -c 2000000 /dev/urandom >"$C/d/blob"
seq 1 300000 >"$C/d/e/seq.txt"
for i in $(seq 1 50); do echo "kernel $i" >"$C/k$i.py"; done
ln -s ../blob "$C/d/e/link"
cp -a "$C" "$T_DIR/orig"

# ---- what save writes ---------------------------------------------------------
run save --json
ok "save with B10T_CODEC=zstd: SUCCESS" expect_rc 0
Z=$(published_archive "$S" "$KEY")
ok "save with B10T_CODEC=zstd: publishes generation 1, cache_KEY.g1.<uniq>.tar.zst" \
	sh -c 'case $1 in "$2/cache_$3".g1.*.tar.zst) ;; *) exit 1 ;; esac' - "$Z" "$S" "$KEY"
ok "save with B10T_CODEC=zstd: the JSON names it" jq_is .archive "$Z"
ok "save with B10T_CODEC=zstd: its claim cache_KEY.g1 names it; no upload, no claim temp, nothing else" \
	only_published "$S" "$KEY"
ok "zstd -t accepts it (a standard zstd stream)" zstd -q -t "$Z"
ok "zstd -dc | tar -t lists the tree, manifest first" \
	sh -c 'zstd -dc "$1" | tar -t | head -1 | grep -qx .b10t/manifest.json' - "$Z"
$FR "$Z" >"$T_DIR/frames"
ok "two frames, then the entry list (a skippable frame), nothing after them" \
	sh -c '[ "$(grep -vEc "^(end|list)" "$1")" = 2 ] && [ "$(grep -c ^list "$1")" = 1 ] &&
		[ "$(sed -n "s/^end //p" "$1")" = "$(stat -c %s "$2")" ]' \
	- "$T_DIR/frames" "$Z"
ok "the two frames: both with a content checksum" sh -c '! grep -vE "^(end|list)" "$1" | grep -qv " 1$"' - "$T_DIR/frames"
first=$(head -1 "$T_DIR/frames" | cut -d' ' -f2)
$FR "$Z" --first "$T_DIR/first.zst"
ok "the first frame ($first bytes) holds the manifest member alone" \
	sh -c '[ "$(zstd -dc "$1" | tar -t)" = .b10t/manifest.json ]' - "$T_DIR/first.zst"
cp "$Z" "$T_DIR/good.zst"
size=$(sed -n 's/^list \([0-9]*\) .*/\1/p' "$T_DIR/frames")	# where the data frames end

# list --manifest reads the start only: the archive cut 64 KiB in still lists.
run list --manifest --json
files=$(printf '%s' "$OUT" | jq '.caches[0].files')
ok "list --manifest: the manifest's file count" [ "$files" -gt 50 ]
ok "list --manifest: format zstd" jq_is '.caches[0].format' zstd
truncate -s 65536 "$Z"
run list --manifest --json
ok "list --manifest of the archive cut to its first 64 KiB: the same count" \
	jq_is '.caches[0].files' "$files"
cp "$T_DIR/good.zst" "$Z"
if command -v strace >/dev/null; then
	strace -f -e trace=openat,read -o "$T_DIR/st" "$B10T" list --manifest >/dev/null 2>&1
	got=$(python3 - "$T_DIR/st" "$Z" <<'PY'
import re, sys
fds, n = set(), 0
for line in open(sys.argv[1]):
	m = re.search(r'openat\(.*"(.*)".* = (\d+)$', line)
	if m and m.group(1) in (sys.argv[2], sys.argv[2].rsplit("/", 1)[-1]):
		fds.add(m.group(2))
	m = re.search(r'read\((\d+),.* = (\d+)$', line)
	if m and m.group(1) in fds:
		n += int(m.group(2))
print(n)
PY
)
	echo "# list --manifest read $got of $size bytes"
	ok "list --manifest reads at most 64 KiB of the $size-byte archive" \
		[ "$got" -gt 0 ] && [ "$got" -le 65536 ]
else
	T_N=$((T_N + 1)); echo "ok $T_N - list --manifest reads little # SKIP no strace"
fi

rm -rf "$C"
run load --json
ok "load of the .tar.zst: SUCCESS" expect_rc 0
ok "load of the .tar.zst: the tree is identical" diff -r "$T_DIR/orig" "$C"
rm -rf "$C"
taskset -c 0 "$B10T" load -q >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
ok "load on one CPU (no decoder thread): SUCCESS" expect_rc 0
ok "load on one CPU: the tree is identical" diff -r "$T_DIR/orig" "$C"

# ---- settings ----------------------------------------------------------------
unpublish "$S" "$KEY"
cp -a "$T_DIR/orig/." "$C/"
run save -q --zstd-level 1
ok "--zstd-level 1: SUCCESS" expect_rc 0
s1=$(stat -c %s "$(published_archive "$S" "$KEY")")
unpublish "$S" "$KEY"
export B10T_ZSTD_LEVEL=19
run save -q
unset B10T_ZSTD_LEVEL
ok "B10T_ZSTD_LEVEL=19: SUCCESS" expect_rc 0
s19=$(stat -c %s "$(published_archive "$S" "$KEY")")
echo "# level 1: $s1 bytes, level 19: $s19 bytes"
ok "level 19 writes a smaller archive than level 1" [ "$s19" -lt "$s1" ]
rm -rf "$C"
run load -q
ok "the level-19 archive loads the same tree" diff -r "$T_DIR/orig" "$C"
unpublish "$S" "$KEY"
taskset -c 0 "$B10T" save -q >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
ok "save on one CPU (no worker threads): SUCCESS" expect_rc 0
ok "save on one CPU: zstd -t accepts it" zstd -q -t "$(published_archive "$S" "$KEY")"
unpublish "$S" "$KEY"
run save -q --codec lz4
ok "--codec lz4 over B10T_CODEC=zstd: a .tar.lz4 generation" pub lz4

# ---- auto (the default): lz4 on a local disk, zstd on a network store -----------
unpublish "$S" "$KEY"
env -u B10T_CODEC "$B10T" save --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
ok "B10T_CODEC unset (auto), the store on a local disk: a .tar.lz4" pub lz4
unpublish "$S" "$KEY"
B10T_CODEC=auto "$B10T" save -q >/dev/null 2>&1
ok "B10T_CODEC=auto, local disk: a .tar.lz4" pub lz4
ok "B10T_CODEC=auto, local disk: ... and no .tar.zst" no_zst
env -u B10T_CODEC "$B10T" doctor --json >"$T_DIR/out" 2>/dev/null
ok "doctor says save writes lz4 to this (local) store" jq_is .codec lz4
unpublish "$S" "$KEY"
if [ -n "${STALE_STORE:-}" ] && [ -f "$STALE_STORE" ] && [ "${B10T_SANITIZE:-none}" = none ]; then
	# The stale-store shim's fstatfs answers FUSE, as on sshfs or JuiceFS.
	env -u B10T_CODEC LD_PRELOAD="$STALE_STORE" B10T_SHIM_NETFS=1 B10T_SHIM_MATCH=nothing \
		"$B10T" save -v --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
	ok "auto, the store on a FUSE filesystem: a .tar.zst" pub zst
	ok "auto on FUSE: the debug log says why" grep -q "codec: zstd (auto, by the store's filesystem)" "$T_DIR/err"
	rm -rf "$C"
	run load -q
	ok "auto on FUSE: and it loads the tree" diff -r "$T_DIR/orig" "$C"
	unpublish "$S" "$KEY"
	env -u B10T_CODEC LD_PRELOAD="$STALE_STORE" B10T_SHIM_NETFS=1 B10T_SHIM_MATCH=nothing \
		"$B10T" doctor --json >"$T_DIR/out" 2>/dev/null
	ok "auto on FUSE: doctor says save writes zstd there" jq_is .codec zstd
else
	for t in "auto on FUSE: a .tar.zst" "auto on FUSE: the debug log says why" "auto on FUSE: it loads the tree" \
		 "auto on FUSE: doctor says save writes zstd there"; do
		T_N=$((T_N + 1)); echo "ok $T_N - $t # SKIP no stale-store shim (or a sanitizer build)"
	done
fi
unpublish "$S" "$KEY"
"$B10T" save -q --codec lz4 >/dev/null 2>&1

# ---- the codecs side by side: one claim per generation, whichever codec ----------
run save --json
ok "an lz4 g1 is the key's archive: a zstd save is SKIPPED (exit 4)" expect_rc 4
ok "a zstd save over an lz4 g1: status SKIPPED" jq_is .status SKIPPED
ok "a zstd save over an lz4 g1: no .tar.zst" no_zst
unpublish "$S" "$KEY"
run save -q
ok "a zstd save publishes g1 (.tar.zst)" pub zst
run save --json --codec lz4
ok "a zstd g1 is the key's archive: an lz4 save is SKIPPED" jq_is .status SKIPPED
ok "an lz4 save over a zstd g1: no .tar.lz4" no_lz4
ok "an lz4 save over a zstd g1: the store holds g1's claim and its archive only" only_published "$S" "$KEY"
unpublish "$S" "$KEY"

# Racing saves of both codecs on one key: exactly one claim, one archive.
pids=
for i in 1 2 3 4 5 6 7 8; do
	case $i in *[1357]) c=lz4 ;; *) c=zstd ;; esac
	B10T_CODEC=$c "$B10T" save -q >"$T_DIR/race.$i" 2>&1 &
	pids="$pids $!"
done
nok=0 nskip=0 nother=0
for p in $pids; do
	wait "$p"
	case $? in 0) nok=$((nok + 1)) ;; 4) nskip=$((nskip + 1)) ;; *) nother=$((nother + 1)) ;; esac
done
echo "# 8 saves of both codecs racing: $nok SUCCESS, $nskip SKIPPED, $nother other"
ok "8 saves of both codecs racing: one SUCCESS, 7 SKIPPED" [ "$nok.$nskip.$nother" = 1.7.0 ]
ok "8 saves of both codecs racing: one claim and the archive it names, nothing else" only_published "$S" "$KEY"
rm -rf "$C.l" && TORCHINDUCTOR_CACHE_DIR=$C.l run load -q
ok "8 saves of both codecs racing: which loads the tree" diff -r "$T_DIR/orig" "$C.l"

# A zstd generation in gc and list.
unpublish "$S" "$KEY"
run save -q
Z=$(published_archive "$S" "$KEY")
run list --json
ok "list: the zstd generation, format zstd" jq_is '.caches[0].format' zstd
ok "list: its archive, generation 1" \
	jq_is '[.caches[0].archives[0], .caches[0].generation] | map(tostring) | join(" ")' "$(basename "$Z") 1"
run list
ok "list (text) names the .tar.zst" contains "$OUT" "$(basename "$Z")"
run gc --stale 0s --json
ok "gc --stale 0s leaves a claimed zstd generation alone" sh -c '[ -f "$1" ] && [ -f "$2" ]' - "$Z" "$S/cache_$KEY.g1"
# An unclaimed .tar.zst (a kill between the rename and the claim) is debris.
cp "$Z" "$S/cache_$KEY.g2.dead-1-0123456789abcdef.tar.zst"
touch -d '2 hours ago' "$S/cache_$KEY.g2.dead-1-0123456789abcdef.tar.zst"
run gc --stale 0s --json
ok "gc removes an unclaimed zstd generation archive" \
	sh -c '[ ! -e "$1/cache_$2.g2.dead-1-0123456789abcdef.tar.zst" ] && [ -f "$3" ]' - "$S" "$KEY" "$Z"
touch -d '2 hours ago' "$S"/*
run gc --max-size 0 --all --json
ok "gc eviction of a zstd generation: the claim first, then the archive" \
	jq_is "[.removed[].filename | select(startswith(\"cache_$KEY.g\"))] | join(\" \")" "cache_$KEY.g1 $(basename "$Z")"
ok "gc eviction of a zstd generation: nothing of the key is left" none_published "$S" "$KEY"

# ---- mixed sets: older b10t's lz4 and the reference's gz under newer zstd -------------
# layer_zst TREE N: save TREE with zstd into a scratch store and put its
# archive into $S as generation N (as a newer b10t's save --update would).
layer_zst() {
	rm -rf "$T_DIR/ls" && mkdir -p "$T_DIR/ls"
	TORCHINDUCTOR_CACHE_DIR=$1 B10FS_CACHE_DIR=$T_DIR/ls "$B10T" save -q >/dev/null 2>&1 ||
		{ echo "Bail out! saving the layer failed"; exit 1; }
	mv "$(published_archive "$T_DIR/ls" "$KEY")" "$S/cache_$KEY.g$2.newer-1-ab.tar.zst"
	echo "cache_$KEY.g$2.newer-1-ab.tar.zst" >"$S/cache_$KEY.g$2"
}
mkdir -p "$T_DIR/new/d" && printf 'newer\n' >"$T_DIR/new/k1.py" && printf 'zstd only\n' >"$T_DIR/new/d/z"
# mixed WHAT: load the set in $S: the base's tree with the zstd layer over it.
mixed() {
	rm -rf "$C.l" && TORCHINDUCTOR_CACHE_DIR=$C.l run load --json
	ok "$1: load SUCCESS" expect_rc 0
	ok "$1: the zstd layer's file wins" [ "$(cat "$C.l/k1.py")" = newer ]
	ok "$1: the zstd layer's new file is there" [ "$(cat "$C.l/d/z")" = "zstd only" ]
	ok "$1: the base's other files too" cmp -s "$C.l/d/blob" "$T_DIR/orig/d/blob"
	run list --json
	ok "$1: list shows both archives of the set" jq_is '.caches[0].archives | length' 2
}
unpublish "$S" "$KEY"
run save -q --codec lz4
layer_zst "$T_DIR/new" 2
mixed "an lz4 g1 (an older b10t) and a zstd g2"
unpublish "$S" "$KEY"
run save -q --codec lz4
mv "$(published_archive "$S" "$KEY")" "$S/cache_$KEY.latest.tar.lz4" && rm -f "$S/cache_$KEY.g1"
layer_zst "$T_DIR/new" 1
mixed "the legacy cache_KEY.latest.tar.lz4 and a zstd g1"
unpublish "$S" "$KEY"
tar -czf "$S/cache_$KEY.latest.tar.gz" -C "$T_DIR/orig" .
run save --json
ok "only the reference's .tar.gz: a zstd save is SKIPPED (a legacy base is published)" expect_rc 4
layer_zst "$T_DIR/new" 1
mixed "the reference's .tar.gz and a zstd g1"
rm -f "$S/cache_$KEY.g1" "$S/cache_$KEY.g1.newer-1-ab.tar.zst"
rm -rf "$C"
run load --json
ok "the .tar.gz alone still loads" jq_is .status SUCCESS
ok "the .tar.gz alone: the same tree" diff -r "$T_DIR/orig" "$C"
rm -f "$S/cache_$KEY.latest.tar.gz"

# ---- damage ---------------------------------------------------------------------
Z=$(fixed_archive "$S" "$KEY")	# g1 under a fixed name; bad() claims it
no_staging() { ! ls -A "$T_DIR" | grep -q b10t-staging; }
aside() { [ ! -e "$Z" ] && ls "$S" | grep -q "^cache_$KEY\.corrupt\..*\.tar\.zst$"; }
# bad WHAT WORDS: the file at $Z is damaged: load ERROR with WORDS, moved
# aside, no cache dir made, no staging left.
bad() {
	reclaim "$S" "$KEY"
	rm -rf "$C"
	run load --json
	ok "$1: load is an ERROR" expect_rc 1
	ok "$1: the error says '$2'" jq_is ".error | contains(\"$2\")" true
	ok "$1: moved aside as *.corrupt.*.tar.zst" aside
	ok "$1: no cache dir, no staging" sh -c '[ ! -e "$1" ]' - "$C"
	ok "$1: ... no staging debris" no_staging
	rm -f "$S"/*.corrupt.*
}
: >"$Z"; bad "an empty file" "empty file"
lz4 -q -c "$T_DIR/orig/k1.py" >"$Z"; bad "an lz4 frame named .tar.zst" "not a zstd frame"
for cut in 1 3 4 5 $((first / 2)) $((first - 1)) $((first + 4)) $((size / 2)) $((size - 4)) $((size - 1)); do
	head -c "$cut" "$T_DIR/good.zst" >"$Z"
	bad "cut to $cut of $size bytes" "truncated"
done
head -c "$first" "$T_DIR/good.zst" >"$Z"
bad "cut at the end of the manifest frame (a whole stream of one frame)" \
	"the tar ends without its end-of-archive record"
{ cat "$T_DIR/good.zst"; printf x; } >"$Z"; bad "one byte after the last frame" "unexpected data after the end of the zstd frame"
{ cat "$T_DIR/good.zst"; head -c 4 /dev/zero; } >"$Z"; bad "4 zero bytes after the last frame" "unexpected data after the end of the zstd frame"
{ cat "$T_DIR/good.zst"; printf '\120\052\115\030\004\000\000\000abcd'; } >"$Z"
bad "a skippable frame after the last one" "unexpected data after the end of the zstd frame"
printf 'more data\n' | zstd -q --check -c >"$T_DIR/extra.zst"
cat "$T_DIR/good.zst" "$T_DIR/extra.zst" >"$Z"; bad "a frame of data after the tar's end" "after the end"
tar -cf "$T_DIR/plain.tar" -C "$T_DIR/orig" .
zstd -q --no-check -c "$T_DIR/plain.tar" >"$Z"; bad "a frame without a content checksum" "without a content checksum"
python3 - "$T_DIR/good.zst" "$Z" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
d[4] &= ~0x04	# the first frame's checksum flag
open(sys.argv[2], 'wb').write(d)
PY
bad "the manifest frame's checksum flag cleared" "without a content checksum"
python3 - "$T_DIR/good.zst" "$Z" "$size" <<'PY'
import sys
d = bytearray(open(sys.argv[1], 'rb').read())
n = int(sys.argv[3])
d[n - 2] ^= 0x10	# inside the data frame's content checksum
open(sys.argv[2], 'wb').write(d)
PY
bad "a flipped bit in the content checksum" "checksum"
head -c 40000000 /dev/zero | zstd -q --check --zstd=wlog=26 -c >"$Z"
bad "a frame whose window (64 MiB) passes the 16 MiB bound" "zstd"

# 60 single-bit flips over the whole archive: ERROR and moved aside, or the
# identical tree; never other bytes.
python3 - "$T_DIR/good.zst" "$T_DIR/flips" <<'PY'
import random, sys
d = open(sys.argv[1], 'rb').read()
rnd = random.Random(11)
with open(sys.argv[2], 'w') as f:
	for i in range(60):
		o = rnd.randrange(len(d)) if i >= 6 else rnd.randrange(16)
		print(o, 1 << rnd.randrange(8), file=f)
PY
nerr=0 nsame=0 nwrong=0 nother=0
while read -r off bit; do
	python3 -c '
import sys
d = bytearray(open(sys.argv[1], "rb").read())
d[int(sys.argv[3])] ^= int(sys.argv[4])
open(sys.argv[2], "wb").write(d)' "$T_DIR/good.zst" "$Z" "$off" "$bit"
	reclaim "$S" "$KEY"
	rm -rf "$C"
	"$B10T" load -q >/dev/null 2>&1
	case $? in
	0) if diff -r "$T_DIR/orig" "$C" >/dev/null 2>&1; then nsame=$((nsame + 1)); else nwrong=$((nwrong + 1)); fi ;;
	1) if aside && [ ! -e "$C" ]; then nerr=$((nerr + 1)); else nother=$((nother + 1)); fi ;;
	*) nother=$((nother + 1)) ;;
	esac
	rm -f "$S"/*.corrupt.* "$Z"
done <"$T_DIR/flips"
echo "# 60 bit flips: $nerr ERROR and moved aside, $nsame loaded the identical tree, $nwrong wrong bytes, $nother other"
ok "60 bit flips: none loads other bytes" [ "$nwrong" = 0 ]
ok "60 bit flips: every failure is ERROR, moved aside, no cache dir" [ "$nother" = 0 ]
ok "60 bit flips: most are caught" [ "$nerr" -ge 50 ]

# A cap on the archive size stops the zstd writer too.
cp "$T_DIR/good.zst" "$T_DIR/keep.zst"
rm -f "$S"/*
cp -a "$T_DIR/orig/." "$C/" 2>/dev/null
export MAX_CACHE_SIZE_MB=1
run save --json
unset MAX_CACHE_SIZE_MB
ok "MAX_CACHE_SIZE_MB=1 over a 2 MB archive: ERROR" expect_rc 1
ok "MAX_CACHE_SIZE_MB=1 with zstd: says it would exceed the cap" jq_is '.error | contains("MAX_CACHE_SIZE_MB")' true
ok "MAX_CACHE_SIZE_MB=1 with zstd: nothing left in the store" [ -z "$(ls -A "$S")" ]

done_testing
