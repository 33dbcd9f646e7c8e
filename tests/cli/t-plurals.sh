#!/bin/sh
# Counts read right in every text line: "1 file", "2 files", "1 entry".
# (list's "1 archive" is in t-list.sh, vllm's "1 probe" in t-vllm.sh.)
. "$(dirname "$0")/lib.sh"

C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }

mkdir -p "$C" && echo one >"$C/f"
run save
ok "save of one file: '1 file', singular" contains "$OUT" "save: SUCCESS: 1 file, 4 B "
run info
ok "info of one file: '1 file', singular, no '0 dirs'" contains "$OUT" "local_cache:         1 file, 4 B"
ok "info of an archive of one file: '1 file', singular" \
	contains "$OUT" "b10fs_cache_holds:   1 file, 4 B"
run clear
ok "clear of one file: '1 file', singular" contains "$OUT" ": 1 file, 4 B"
run load
ok "load of one file: '1 file', singular" contains "$OUT" "load: SUCCESS: 1 file, 4 B "

rm -rf "$C" "$B10FS_CACHE_DIR"/cache_* && mkdir -p "$C" && echo a >"$C/a" && echo b >"$C/b"
run save
ok "save of two files: '2 files'" contains "$OUT" "save: SUCCESS: 2 files, "
run clear
ok "clear of two files: '2 files'" contains "$OUT" ": 2 files, "
run load
ok "load of two files: '2 files'" contains "$OUT" "load: SUCCESS: 2 files, "

rm -rf "$C" "$B10FS_CACHE_DIR"/cache_* && mkdir -p "$C/d" && echo a >"$C/d/a"
run save
ok "save of a file in one dir: '1 file, 1 dir', singular" contains "$OUT" "save: SUCCESS: 1 file, 1 dir, "
mkdir -p "$C/e"
run info
ok "info of two dirs: '1 file, 2 dirs'" contains "$OUT" "local_cache:         1 file, 2 dirs, "

done_testing
