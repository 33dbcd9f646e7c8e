#!/bin/sh
# b10t clear: removes the local cache dir and nothing else.
. "$(dirname "$0")/lib.sh"

C=$TORCHINDUCTOR_CACHE_DIR
OUTSIDE=$T_DIR/outside

# A cache with nested dirs, 1000 + 24 bytes in two files, and symlinks that
# point outside it (to a dir and to a file).
make_cache() {
	mkdir -p "$C/triton/abc" "$C/fxgraph" "$OUTSIDE/dir"
	head -c 1000 /dev/zero >"$C/triton/abc/kernel.so"
	head -c 24 /dev/zero >"$C/fxgraph/entry"
	echo precious >"$OUTSIDE/file"
	echo precious >"$OUTSIDE/dir/inner"
	ln -s "$OUTSIDE/dir" "$C/link-to-dir"
	ln -s "$OUTSIDE/file" "$C/triton/link-to-file"
	ln -s ../../outside "$C/fxgraph/relative-link"
}

make_cache
run clear --json
ok "clear exits 0" expect_rc 0
ok "status SUCCESS" jq_is .status SUCCESS
ok "cache_dir named" jq_is .cache_dir "$C"
ok "bytes: the regular files' bytes" jq_is .bytes 1024
ok "files and dirs: every entry removed (3 dirs, 2 files, 3 links)" jq_is '"\(.files),\(.dirs)"' 5,3
ok "the cache dir is gone" [ ! -e "$C" -a ! -L "$C" ]
ok "a symlinked dir's contents survive" [ -f "$OUTSIDE/dir/inner" ]
ok "a symlinked file survives" [ "$(cat "$OUTSIDE/file")" = precious ]
ok "nothing renamed aside is left" [ -z "$(ls -A "$T_DIR" | grep b10t-clear)" ]

run clear
ok "clearing an absent dir exits 0" expect_rc 0
ok "and says so" contains "$OUT" "already absent"
run clear --json
ok "absent: status SUCCESS" jq_is .status SUCCESS
ok "absent: nothing removed" jq_is .files 0

make_cache
run clear
ok "text mode exits 0" expect_rc 0
ok "text mode: one line" [ "$(printf '%s\n' "$OUT" | wc -l)" -eq 1 ]
ok "text mode names the dir" contains "$OUT" "removed $C"
ok "nothing on stderr" [ -z "$ERR" ]

# The cache dir itself a symlink: the link goes, the target stays whole.
rm -rf "$OUTSIDE"
mkdir -p "$OUTSIDE/real" && echo precious >"$OUTSIDE/real/f"
ln -s "$OUTSIDE/real" "$C"
run clear --json
ok "a symlinked cache dir: exit 0" expect_rc 0
ok "the link is removed" [ ! -L "$C" ]
ok "the target dir survives" [ -d "$OUTSIDE/real" ]
ok "the target's files survive" [ -f "$OUTSIDE/real/f" ]

# Not a directory: refused, left as it is.
echo data >"$C"
run clear --json
ok "a file as cache dir: exit 1" expect_rc 1
ok "error in JSON" jq_is .status ERROR
ok "error message in JSON" jq_is '.error | test("not a directory")' true
ok "error on stderr" contains "$ERR" "b10t clear: error:"
ok "the file is untouched" [ "$(cat "$C")" = data ]
rm -f "$C"

# Dangerous dirs: exit 1, nothing touched.
echo keep >"$HOME/file"
for d in / /usr /etc "$HOME" /usr/ //usr; do
	run clear --cache-dir "$d"
	ok "--cache-dir $d refused with exit 1" expect_rc 1
	ok "--cache-dir $d: says why" contains "$ERR" "refusing"
	TORCHINDUCTOR_CACHE_DIR=$d "$B10T" clear >/dev/null 2>&1
	ok "TORCHINDUCTOR_CACHE_DIR=$d refused with exit 1" [ $? -eq 1 ]
done
ok "\$HOME untouched" [ -f "$HOME/file" ]
ok "/usr/bin untouched" [ -d /usr/bin ]
# A symlink that resolves to a dangerous dir is refused too.
ln -s "$HOME" "$T_DIR/home-link"
run clear --cache-dir "$T_DIR/home-link"
ok "a link to \$HOME refused" expect_rc 1
ok "the link stays" [ -L "$T_DIR/home-link" ]
ok "\$HOME still untouched" [ -f "$HOME/file" ]

run clear extra
ok "an operand is a usage error" expect_rc 2

# An unwritable parent cannot lose the dir: it is emptied in place.
if [ "$(id -u)" -ne 0 ]; then
	mkdir -p "$T_DIR/ro/cache/sub" && echo x >"$T_DIR/ro/cache/sub/f"
	chmod 555 "$T_DIR/ro"
	run clear --cache-dir "$T_DIR/ro/cache" --json
	ok "unwritable parent: exit 0" expect_rc 0
	ok "unwritable parent: dir emptied" [ -z "$(ls -A "$T_DIR/ro/cache")" ]
	chmod 755 "$T_DIR/ro"
else
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP unwritable parent: root ignores permissions"
fi

# A mount point as the cache dir (a container volume) cannot be renamed:
# it is emptied in place.  A mount inside the cache dir is never entered.
M=$T_DIR/mnt/cache
mkdir -p "$M"
if [ "$(id -u)" -eq 0 ] && mount -t tmpfs b10t-test "$M" 2>/dev/null; then
	mkdir -p "$M/sub" && echo x >"$M/sub/f" && echo y >"$M/g"
	run clear --cache-dir "$M" --json
	ok "mount point: exit 0" expect_rc 0
	ok "mount point: still mounted" mountpoint -q "$M"
	ok "mount point: emptied" [ -z "$(ls -A "$M")" ]
	ok "mount point: says so" jq_is '.message | test("in place")' true
	umount "$M"

	mkdir -p "$C/inner"
	echo z >"$C/top"
	mount -t tmpfs b10t-test "$C/inner" && echo keep >"$C/inner/f"
	run clear --json
	ok "a mount inside: exit 1" expect_rc 1
	ok "a mount inside: named in the error" jq_is '.error | test("inner")' true
	aside=$(ls -d "$T_DIR"/.cache.b10t-clear.* 2>/dev/null | head -1)
	ok "a mount inside: its files survive" [ -n "$aside" -a -f "$aside/inner/f" ]
	[ -n "$aside" ] && umount "$aside/inner" && rm -rf "$aside"

	# A bind mount of the same filesystem: same st_dev, still never entered.
	mkdir -p "$C/bind" "$OUTSIDE/bound" && echo keep >"$OUTSIDE/bound/f"
	if mount --bind "$OUTSIDE/bound" "$C/bind" 2>/dev/null; then
		run clear --json
		ok "a bind mount inside: exit 1" expect_rc 1
		ok "a bind mount inside: its files survive" [ -f "$OUTSIDE/bound/f" ]
		aside=$(ls -d "$T_DIR"/.cache.b10t-clear.* 2>/dev/null | head -1)
		[ -n "$aside" ] && umount "$aside/bind"
	fi
else
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP mount point: needs root and tmpfs"
fi

done_testing
