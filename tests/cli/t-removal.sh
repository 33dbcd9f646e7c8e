#!/bin/sh
# Tree removal at any depth (clear, gc's local-debris pass), and gc never
# removing the store or the cache dir's parent whatever names a tenant
# gives to dirs and links.
. "$(dirname "$0")/lib.sh"

C=$TORCHINDUCTOR_CACHE_DIR
base=$(basename "$C")
dead=$(sh -c 'echo $$')		# a pid that has exited

# mkdeep DIR LEVELS: DIR/d/d/.../d (LEVELS dirs below DIR) with a file at
# the bottom and one every 500 levels, made level by level through dir fds
# (a path that long cannot be named at once).
mkdeep() {
	python3 - "$1" "$2" <<'PY'
import os, sys
os.makedirs(sys.argv[1], exist_ok=True)
fd = os.open(sys.argv[1], os.O_RDONLY | os.O_DIRECTORY)
for i in range(int(sys.argv[2])):
    os.mkdir("d", dir_fd=fd)
    nfd = os.open("d", os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
    if i % 500 == 0 or i == int(sys.argv[2]) - 1:
        f = os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(f, b"0123456789")
        os.close(f)
os.close(fd)
PY
}
sums() { (cd "$1" && find . -type f -exec sha256sum {} + | sort); }
fill_store() {
	mkdir -p "$1"
	head -c 4096 /dev/urandom >"$1/cache_aaaa.tar.lz4"
	head -c 1000 /dev/urandom >"$1/cache_bbbb.tar.gz"
}

# 1. clear on a cache dir holding a 3,000-level tree.
mkdeep "$C/deep" 3000
echo top >"$C/top"
run info --json
ok "info on a 3,000-level cache dir: exit 0" expect_rc 0
ok "info counts what save packs: entries of up to 256 components" jq_is '.local_cache_files + .local_cache_dirs' 258
run clear --json
ok "clear of a 3,000-level tree: exit 0" expect_rc 0
ok "clear of a 3,000-level tree: SUCCESS" jq_is .status SUCCESS
ok "clear counted every entry" jq_is '.files + .dirs' 3009
ok "nothing is left" [ ! -e "$C" ]
ok "nothing renamed aside is left" [ -z "$(ls -A "$T_DIR" | grep b10t-clear)" ]

# 2. gc removes a deep dead staging dir.
st=$T_DIR/.$base.b10t-staging.$dead.0123456789abcdef
mkdeep "$st" 3000
run gc --json
ok "gc with a 3,000-level dead staging dir: exit 0" expect_rc 0
ok "gc reports it" jq_is '[.removed[] | select(.reason == "stale-staging")] | length' 1
ok "the deep staging dir is gone" [ ! -e "$st" ]

# 3. Names a tenant may give.  The store itself named like local debris.
S=$T_DIR/.$base.b10t-staging.$dead.fedcba9876543210
fill_store "$S"
before=$(sums "$S")
B10FS_CACHE_DIR=$S run gc --json
ok "a store named like staging debris: gc exit 0" expect_rc 0
ok "that store is byte for byte intact" [ "$(sums "$S")" = "$before" ]
B10FS_CACHE_DIR=$S run load --json
ok "and load's debris pass leaves it too" [ "$(sums "$S")" = "$before" ]

# The store inside a dir named like debris.
H=$T_DIR/.$base.b10t-clear.$dead.00000000000000aa
S=$H/store
fill_store "$S"
echo junk >"$H/junk"
before=$(sums "$S")
B10FS_CACHE_DIR=$S run gc --json
ok "a store inside a debris-named dir: gc exit 0" expect_rc 0
ok "that store is byte for byte intact" [ "$(sums "$S")" = "$before" ]
ok "and it is not reported removed" jq_is '[.removed[] | select(.filename | test("00000000000000aa"))] | length' 0

# A symlink named like debris, to the store and to the cache dir's parent.
S=$B10FS_CACHE_DIR
fill_store "$S"
before=$(sums "$S")
mkdir -p "$C" && echo x >"$C/entry"
ln -s "$S" "$T_DIR/.$base.b10t-staging.$dead.00000000000000bb"
ln -s "$T_DIR" "$T_DIR/.$base.b10t-clear.$dead.00000000000000cc"
run gc --json
ok "debris-named symlinks: gc exit 0" expect_rc 0
ok "the link to the store stays" [ -L "$T_DIR/.$base.b10t-staging.$dead.00000000000000bb" ]
ok "the link to the parent stays" [ -L "$T_DIR/.$base.b10t-clear.$dead.00000000000000cc" ]
ok "the store is byte for byte intact" [ "$(sums "$S")" = "$before" ]
ok "the cache dir is intact" [ -f "$C/entry" ]

# In the store: dirs and links named like old debris are not gc's.
mkdir -p "$S/cache_dddd.incomplete.1.2/sub" && echo keep >"$S/cache_dddd.incomplete.1.2/sub/f"
mkdir -p "$S/cache_eeee.corrupt.1"
echo precious >"$T_DIR/outside"
ln -s "$T_DIR/outside" "$S/cache_ffff.incomplete"
ln -s "$S" "$S/store.lock"
ln -s "$T_DIR" "$S/cache_gggg.tar.lz4.incomplete"
touch -h -d '2 days ago' "$S"/cache_dddd.* "$S"/cache_eeee.* "$S"/cache_ffff.* \
	"$S/store.lock" "$S"/cache_gggg.*
run gc --json
ok "debris-named dirs and links in the store: gc exit 0" expect_rc 0
ok "none is reported removed" jq_is '.removed | length' 0
ok "the debris-named dir stays whole" [ -f "$S/cache_dddd.incomplete.1.2/sub/f" ]
ok "the corrupt-named dir stays" [ -d "$S/cache_eeee.corrupt.1" ]
ok "the links stay" [ -L "$S/cache_ffff.incomplete" -a -L "$S/store.lock" -a -L "$S/cache_gggg.tar.lz4.incomplete" ]
ok "the link's target stays" [ "$(cat "$T_DIR/outside")" = precious ]
ok "the archives are byte for byte intact" [ "$(sums "$S" | grep -v cache_dddd)" = "$before" ]

# A bind mount of the cache dir's parent named like debris: never entered.
if [ "$(id -u)" -eq 0 ]; then
	B=$T_DIR/.$base.b10t-staging.$dead.00000000000000dd
	mkdir -p "$B"
	if mount --bind "$T_DIR" "$B" 2>/dev/null; then
		run gc --json
		ok "a bind mount of the parent named like debris: still mounted" mountpoint -q "$B"
		umount "$B"
		ok "the cache dir survives it" [ -f "$C/entry" ]
		ok "the store survives it" [ "$(sums "$S" | grep -v cache_dddd)" = "$before" ]
		rmdir "$B"
	else
		T_N=$((T_N + 1)); echo "ok $T_N # SKIP bind mount: mount --bind failed"
	fi
else
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP bind mount of the parent: needs root"
fi

done_testing
