#!/bin/sh
# A stale view of the store (a network client's cached attributes show a
# republished archive with the old, smaller size, as sshfs does) must never
# move a good archive aside; a really truncated one still is.  ESTALE on a
# lookup of the store is retried.  The views are made by an LD_PRELOAD shim
# (tests/stale-store.c), so every case is deterministic on a local disk.
. "$(dirname "$0")/lib.sh"

SHIM=${STALE_STORE:-}
[ -n "$SHIM" ] && [ -f "$SHIM" ] || skip_all "no stale-store shim (STALE_STORE)"
case ${B10T_SANITIZE:-none} in none | '') ;;
*) skip_all "the shim cannot be preloaded before the sanitizer runtime" ;; esac

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
A=$(fixed_archive "$S" "$KEY")	# after as_legacy below

# srun ENV... -- ARGS: b10t under the shim, like run
srun() {
	env_args=
	while [ "$1" != -- ]; do env_args="$env_args $1"; shift; done
	shift
	# shellcheck disable=SC2086
	env LD_PRELOAD="$SHIM" $env_args "$B10T" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	OUT=$(cat "$T_DIR/out")
	ERR=$(cat "$T_DIR/err")
}
no_aside() { ! ls -A "$S" | grep -q corrupt; }
aside() { [ ! -e "$A" ] && ls -A "$S" | grep -q "^cache_$KEY\.corrupt\..*\.tar\.$EXT$"; }
fresh() { rm -rf "$C"; }

mkdir -p "$C/d"
head -c 400000 /dev/urandom >"$C/d/blob"
for i in $(seq 1 40); do echo "kernel $i" >"$C/k$i.py"; done
cp -a "$C" "$T_DIR/orig"
run save -q
ok "save: SUCCESS" expect_rc 0
# 0. A short first view of the generation archive as save names it.
fresh
srun B10T_SHIM_MATCH=".g1." B10T_SHIM_SHORT=$(($(stat -c %s "$(published_archive "$S" "$KEY")") / 2)) -- load --json
ok "short first view of a generation archive: load SUCCESS after a retry" expect_rc 0
ok "short first view of a generation archive: it said the store changed while loading" contains "$ERR" "the store changed while loading"
ok "short first view of a generation archive: the tree is the saved one" diff -r "$T_DIR/orig" "$C"
ok "short first view of a generation archive: nothing moved aside" no_aside
# The cases below put their bytes at one fixed name (lib.sh, fixed_archive).
as_legacy "$S" "$KEY"
size=$(stat -c %s "$A")
half=$((size / 2))

# 1. The first open shows half the file (fstat and reads agree, like the
#    old size cached for a new file); a fresh open shows it whole.
fresh
srun B10T_SHIM_MATCH=$FIXED_MATCH B10T_SHIM_SHORT=$half -- load --json
ok "short first view: load SUCCESS after a retry" expect_rc 0
ok "load of a short first view: it said the store changed while loading" contains "$ERR" "the store changed while loading"
ok "load of a short first view: the tree is the saved one" diff -r "$T_DIR/orig" "$C"
ok "load of a short first view: the good archive is not moved aside" sh -c '[ -e "$1" ]' - "$A"
ok "load of a short first view: no corrupt.* in the store" no_aside

# 1b. The first view larger than the file (a smaller archive republished
#     over a larger one): the read ends before the size fstat gave.
fresh
srun B10T_SHIM_MATCH=$FIXED_MATCH B10T_SHIM_SHORT=$((size * 2)) -- load -q
ok "long first view: load SUCCESS after a retry" expect_rc 0
ok "load of a long first view: the tree is the saved one" diff -r "$T_DIR/orig" "$C"
ok "load of a long first view: nothing moved aside" sh -c '[ -e "$1" ] && ! ls -A "$2" | grep -q corrupt' - "$A" "$S"

# 2. Every open for 0.5 s is stale and all agree (a fresh open too), on a
#    network filesystem: load waits past the attribute cache, then retries.
fresh
srun B10T_SHIM_MATCH=$FIXED_MATCH B10T_SHIM_SHORT=$half B10T_SHIM_SECS=0.5 B10T_SHIM_NETFS=1 -- load -q
ok "stale for 0.5 s on a network fs: load SUCCESS" expect_rc 0
ok "load stale for 0.5 s on a network fs: the tree is the saved one" diff -r "$T_DIR/orig" "$C"
ok "load stale for 0.5 s on a network fs: nothing moved aside" sh -c '[ -e "$1" ] && ! ls -A "$2" | grep -q corrupt' - "$A" "$S"

# 3. An empty first view ("empty file"), whole afterwards.
fresh
cp "$A" "$T_DIR/good.$EXT"
srun B10T_SHIM_MATCH=$FIXED_MATCH B10T_SHIM_SHORT=0 -- load -q
ok "empty first view: load SUCCESS after a retry" expect_rc 0
ok "load of an empty first view: not moved aside" no_aside

# 3b. A damaged file seen stale on the first try (shorter still), as it is
#     on the second: the two tries read different views, so ERROR and
#     nothing moved; the next load, on a steady view, moves it aside.
fresh
truncate -s $((size * 2 / 3)) "$A"
srun B10T_SHIM_MATCH=$FIXED_MATCH B10T_SHIM_SHORT=$((size / 3)) -- load --json
ok "truncated file, stale first view: load ERROR" expect_rc 1
ok "load of a truncated file, stale first view: the store changed while loading: not moved aside" \
	jq_is '.error | test("the store changed while loading .*not moving it aside")' true
ok "load of a truncated file, stale first view: the archive is still there" sh -c '[ -e "$1" ]' - "$A"
fresh
run load -q
ok "load of a truncated file, stale first view: the next load (steady view): ERROR" expect_rc 1
ok "load of a truncated file, stale first view: moves it aside" aside
rm -f "$S"/*.corrupt.*
cp "$T_DIR/good.$EXT" "$A" && reclaim "$S" "$KEY"

# 4. A really truncated archive (local disk): corrupt twice, the same
#    file both times: moved aside.
fresh
cp "$T_DIR/good.$EXT" "$A" && reclaim "$S" "$KEY"
truncate -s $half "$A"
srun B10T_SHIM_MATCH=nothing-matches -- load --json
ok "truncated on a local disk: load ERROR" expect_rc 1
ok "load of a file truncated on a local disk: moved aside (corrupt twice, same file)" aside
ok "load of a file truncated on a local disk: the error says moved aside" jq_is '.error | test("moved aside")' true
ok "load of a file truncated on a local disk: the cache dir is not created" [ ! -e "$C" ]
rm -f "$S"/*.corrupt.*

# 5. The same on a network filesystem: the wait, the same file again:
#    moved aside.
cp "$T_DIR/good.$EXT" "$A" && reclaim "$S" "$KEY"
truncate -s $half "$A"
t0=$(date +%s%N)
srun B10T_SHIM_MATCH=nothing-matches B10T_SHIM_NETFS=1 -- load -q
ms=$((($(date +%s%N) - t0) / 1000000))
echo "# truncated on a network fs: load took $ms ms"
ok "truncated on a network fs: load ERROR" expect_rc 1
ok "load of a file truncated on a network fs: moved aside after the second try" aside
ok "load of a file truncated on a network fs: the retry waited for the client's attribute cache (>= 1 s)" [ "$ms" -ge 1000 ]
rm -f "$S"/*.corrupt.*

# 6. A flipped byte (a checksum failure, not a short read) on a local disk:
#    moved aside, as before.
cp "$T_DIR/good.$EXT" "$A" && reclaim "$S" "$KEY"
printf 'XXXXXXXXXXXXXXXX' | dd of="$A" bs=1 seek=$half conv=notrunc status=none
srun B10T_SHIM_MATCH=nothing-matches -- load -q
ok "flipped bytes: load ERROR" expect_rc 1
ok "load of flipped bytes: moved aside" aside
rm -f "$S"/*.corrupt.*

# 7. The reference's .tar.gz seen short first: SUCCESS after a retry.
G=$S/cache_$KEY.latest.tar.gz
unpublish "$S" "$KEY"
tar -C "$T_DIR/orig" -czf "$G" .
gsize=$(stat -c %s "$G")
fresh
srun B10T_SHIM_MATCH=.latest. B10T_SHIM_SHORT=$((gsize / 2)) -- load -q
ok "short first view of a .tar.gz: load SUCCESS" expect_rc 0
ok "load of a short first view of a .tar.gz: the tree is the saved one" diff -r "$T_DIR/orig" "$C"
ok "load of a short first view of a .tar.gz: not moved aside" sh -c '[ -e "$1" ] && ! ls -A "$2" | grep -q corrupt' - "$G" "$S"
rm -f "$G"
cp "$T_DIR/good.$EXT" "$A" && reclaim "$S" "$KEY"

ok "no staging debris after all the retries" \
	sh -c '! ls -A "$1" | grep -q b10t-staging' - "$T_DIR"

# 8. ESTALE on the first stat/lstat/open of the store and of the archive:
#    retried once, by load, info and list.
fresh
srun B10T_SHIM_MATCH="$S" B10T_SHIM_ESTALE=1 -- load -q
ok "ESTALE once on each lookup: load SUCCESS" expect_rc 0
ok "load with ESTALE once on each lookup: the tree is the saved one" diff -r "$T_DIR/orig" "$C"
fresh
srun B10T_SHIM_MATCH=$FIXED_MATCH B10T_SHIM_ESTALE_READ=1 -- load --json
ok "ESTALE on the first read of the archive: load SUCCESS (retried)" expect_rc 0
ok "load with ESTALE on the first read: the tree is the saved one" diff -r "$T_DIR/orig" "$C"
srun B10T_SHIM_MATCH="$S,cache_" B10T_SHIM_ESTALE=1 -- list --json
ok "ESTALE once: list lists the archive" expect_rc 0
ok "list with ESTALE once: its name" contains "$OUT" "$(basename "$A")"
srun B10T_SHIM_ESTALE_READDIR=1 -- list --json
ok "ESTALE from readdir of the store: list lists it (listed afresh)" contains "$OUT" "$(basename "$A")"
srun B10T_SHIM_MATCH="$S" B10T_SHIM_ESTALE=1 -- info --json
ok "ESTALE once: info finds the archive" contains "$OUT" "$(basename "$A")"
ok "info with ESTALE once: nothing moved aside" no_aside

done_testing
