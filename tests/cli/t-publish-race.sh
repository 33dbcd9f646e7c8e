#!/bin/sh
# lib/publish.c's rule for a link() that fails with an errno other than
# EEXIST: a name there now, not ours, is another writer's claim, and the
# save lost the race (SKIPPED, nothing of it left); no name there is an
# error.  sshfs answers EPERM for a link onto an existing name (shim:
# tests/no-link.c, NO_LINK_MODE=sshfs; renameat2 NOREPLACE fails there).
. "$(dirname "$0")/lib.sh"

[ -f "${NO_LINK:-}" ] || skip_all "the no-link shim is not built"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
mkdir -p "$C/a"
echo "kernel" >"$C/a/k.py"
KEY=$("$B10T" envkey)
RACER=cache_$KEY.g1.racer.tar.$EXT	# what the other writer's claim names

preload() {	# preload ARGS...: b10t with the shim, as run() (the shim only in b10t)
	LD_PRELOAD=$NO_LINK "$B10T" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	OUT=$(cat "$T_DIR/out")
	ERR=$(cat "$T_DIR/err")
}
store_holds() {	# store_holds [NAME...]: the store's names, the use marker aside
	_l=$(ls -A "$S" | grep -v "^cache_$KEY\.used\$" | LC_ALL=C sort | tr '\n' ' ')
	[ "$_l" = "${*:+$* }" ] && return 0
	echo "#   the store holds: $_l"
	echo "#   want:            $*"
	return 1
}

# ---- sshfs without a race: link() publishes
NO_LINK_MODE=sshfs preload save --json
ok "sshfs, no race: save SUCCESS" expect_rc 0
ok "sshfs, no race: status SUCCESS" jq_is .status SUCCESS
ok "sshfs, no race: the claim and its archive, one link each, no upload" only_published "$S" "$KEY"
rm -f "$S"/*

# ---- sshfs, another writer's claim appears between the listing and the link
NO_LINK_MODE=sshfs NO_LINK_RACE="cache_$KEY.g" NO_LINK_RACE_ARCHIVE=$RACER preload save --json
ok "lost race (EPERM, the name exists): exit 4, SKIPPED, not ERROR" expect_rc 4
ok "lost race: status SKIPPED" jq_is .status SKIPPED
ok "lost race: reason already_published" jq_is .reason already_published
ok "lost race: the message says another save published the claim meanwhile" \
	jq_is .message "cache_$KEY.g1 was published by another save meanwhile"
ok "lost race: no error on stderr" sh -c '! grep -q "error" "$1"' - "$T_DIR/err"
ok "lost race: the other writer's claim stays as it was" \
	[ "$(cat "$S/cache_$KEY.g1" 2>/dev/null)" = "$RACER" ]
ok "lost race: nothing of ours left: no archive, no upload, no claim temp" \
	store_holds "cache_$KEY.g1"
rm -f "$S"/*

# ---- EPERM where no name is: an error, and it says which
NO_LINK_MODE=eperm NO_LINK_PREFIX="cache_$KEY.g" preload save --json
ok "EPERM, no name there: exit 1, ERROR" expect_rc 1
ok "EPERM, no name there: status ERROR" jq_is .status ERROR
ok "EPERM, no name there: the error names link()'s EPERM" \
	jq_is '.error | test("link\\(\\): Operation not permitted")' true
ok "EPERM, no name there: nothing left" store_holds

done_testing
