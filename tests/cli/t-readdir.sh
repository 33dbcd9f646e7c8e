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

done_testing
