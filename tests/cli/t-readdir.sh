#!/bin/sh
# A directory read that fails is an error, never the end of the directory
# (lib/util.c b10t_readdir): the stale-store shim fails the first readdir
# of the process with ESTALE, as an NFS client does after the server
# dropped the handle.
. "$(dirname "$0")/lib.sh"

[ -e "${STALE_STORE:-}" ] || skip_all "STALE_STORE does not point at the shim (run through meson test)"
case ${B10T_SANITIZE:-none} in none | '') ;;
*) skip_all "the shim cannot be preloaded before the sanitizer runtime" ;; esac
C=$TORCHINDUCTOR_CACHE_DIR S=$B10FS_CACHE_DIR
stale_run() {
	LD_PRELOAD=$STALE_STORE B10T_SHIM_ESTALE_READDIR=1 run "$@"
}
fill_cache() {
	rm -rf "$C" && mkdir -p "$C/sub" && echo data >"$C/sub/f" && echo more >"$C/g"
}
tree_of() {
	(cd "$1" && find . | LC_ALL=C sort)
}

fill_cache
stale_run save
ok "save of a full cache dir whose read fails: exit 1, not SKIPPED as empty" expect_rc 1
ok "save of a cache dir whose read fails: the message names the dir and the errno" \
	contains "$ERR" "reading the cache dir $C: Stale file handle"
ok "save of a cache dir whose read fails: nothing in the store" [ -z "$(ls -A "$S")" ]

run save
ok "save of the same cache dir read whole: exit 0" expect_rc 0
before=$(tree_of "$C")
stale_run load
ok "load into a full cache dir whose read fails: exit 1" expect_rc 1
ok "load into a cache dir whose read fails: the message names the dir" \
	contains "$ERR" "reading the cache dir $C: Stale file handle"
ok "load into a cache dir whose read fails: the cache dir is untouched" \
	[ "$(tree_of "$C")" = "$before" ]

stale_run clear
ok "clear whose read of the cache dir fails: exit 1" expect_rc 1
ok "clear whose read fails: says the read failed, not 'Directory not empty'" \
	contains "$ERR" "Stale file handle"

stale_run gc
ok "gc whose read of the store fails: exit 1" expect_rc 1
ok "gc whose read of the store fails: the message names the store" \
	contains "$ERR" "reading the store $S: Stale file handle"

# update's delta walk: whichever readdir of the process fails, an update
# fails with the errno or publishes a whole layer; never a layer short of
# what the read missed.
rm -rf "$S"/* && fill_cache && run save
ok "update's case: the first generation" expect_rc 0
cp -a "$S" "$T_DIR/s0"
mkdir -p "$C/sub/new" && echo layer >"$C/sub/new/h" && echo top >"$C/top"
bad=0 walked=0 n=1
while [ $n -le 40 ]; do
	rm -rf "$S" && cp -a "$T_DIR/s0" "$S"
	LD_PRELOAD=$STALE_STORE B10T_SHIM_ESTALE_READDIR=$n run update
	case $rc in
	1) case $ERR in *"Stale file handle"*) ;; *) bad=$((bad + 1)); echo "#   N=$n: exit 1: $ERR" ;; esac
	   case $ERR in *"reading $C/"*) walked=$((walked + 1)) ;; esac ;;
	0) rm -rf "$T_DIR/l" && TORCHINDUCTOR_CACHE_DIR=$T_DIR/l run load -q
	   [ "$rc" = 0 ] && [ "$(tree_of "$T_DIR/l")" = "$(tree_of "$C")" ] &&
	   cmp -s "$T_DIR/l/sub/new/h" "$C/sub/new/h" ||
		{ bad=$((bad + 1)); echo "#   N=$n: a layer that does not load the whole tree"; } ;;
	*) bad=$((bad + 1)); echo "#   N=$n: exit $rc: $ERR" ;;
	esac
	n=$((n + 1))
done
ok "update with its Nth readdir failing (N 1..40): the errno or a whole layer" [ "$bad" = 0 ]
ok "some of them failed in the delta's walk of the cache dir, named" [ "$walked" -gt 0 ]

done_testing
