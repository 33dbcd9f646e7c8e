#!/bin/sh
# A small round trip for valgrind memcheck (suite 'valgrind', where $B10T is
# tests/valgrind-b10t.sh): save, load, a second save and load answering
# SKIPPED, a corrupt archive refused, list/info/gc.  Valgrind errors make
# b10t exit 99, which fails the exit-code checks.
. "$(dirname "$0")/../cli/lib.sh"
export B10T_STATS=1	# the records' writer and reader under memcheck too

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
mkdir -p "$C/ab/cdef" "$C/empty"
printf 'def kernel():\n    return 1\n' >"$C/ab/cdef/k.py"
head -c 200000 /dev/urandom >"$C/ab/cdef/k.cubin"
ln -s ab/cdef/k.py "$C/latest"
cp -a "$C" "$T_DIR/orig"

same_tree() {	# same_tree A B: names, types, contents, link targets
	[ "$(cd "$1" && find . | LC_ALL=C sort)" = "$(cd "$2" && find . | LC_ALL=C sort)" ] &&
	diff -r --no-dereference "$1" "$2" >/dev/null
}

run save --json
ok "save exits 0" expect_rc 0
ok "save says SUCCESS" jq_is .status SUCCESS
KEY=$("$B10T_REAL" envkey)
A=$(published_archive "$S" "$KEY")
ok "save published one archive" only_published "$S" "$KEY"
run save
ok "a second save exits 4 (SKIPPED)" expect_rc 4

rm -rf "$C"
run load --json
ok "load exits 0" expect_rc 0
ok "load says SUCCESS" jq_is .status SUCCESS
ok "load gives the saved tree" same_tree "$T_DIR/orig" "$C"
run load
ok "a load into a full cache dir exits 4 (SKIPPED)" expect_rc 4

run list --json
ok "list exits 0" expect_rc 0
ok "list shows the archive" jq_is .total_caches 1
run info --json
ok "info exits 0" expect_rc 0
run gc --stale 0s
ok "gc exits 0" expect_rc 0
run stats --json
ok "stats exits 0" expect_rc 0
ok "stats counts the loads and saves" jq_is '"\(.total.load_hits) \(.total.load_skipped) \(.total.saves)"' "1 1 2"

# A flipped byte in the middle: ERROR, nothing extracted, moved aside.
rm -rf "$C"
size=$(stat -c %s "$A")
printf '\377' | dd of="$A" bs=1 seek=$((size / 2)) conv=notrunc 2>/dev/null
run load
ok "a corrupt archive exits 1" expect_rc 1
ok "the cache dir stays absent" [ ! -e "$C" ]
ok "the corrupt archive is moved aside" sh -c 'ls "$1" | grep -q "\.corrupt\."' - "$S"
ok "no staging left" [ -z "$(ls -A "$(dirname "$C")" | grep -v "^$(basename "$C")\$" | grep b10t)" ]

done_testing
