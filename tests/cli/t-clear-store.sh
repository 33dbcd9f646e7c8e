#!/bin/sh
# b10t clear never deletes the store: it refuses when the cache dir is the
# store or lies inside it, and empties the cache dir around a store below
# it.  Paths are compared as dirs (dev/ino), so symlinks change nothing.
. "$(dirname "$0")/lib.sh"

C=$TORCHINDUCTOR_CACHE_DIR

# fill_store DIR: two archives and a lock, random bytes
fill_store() {
	mkdir -p "$1"
	head -c 4096 /dev/urandom >"$1/cache_aaaa.tar.lz4"
	head -c 1000 /dev/urandom >"$1/cache_bbbb.tar.gz"
	: >"$1/cache_aaaa.lock"
}
# sums DIR: every file's checksum, by name
sums() { (cd "$1" && find . -type f -exec sha256sum {} + | sort); }
fill_cache() {
	mkdir -p "$C/triton/x" && echo k >"$C/triton/x/kernel" && echo f >"$C/fx"
}
# refused WHAT: exit 1, ERROR in JSON, one line on stderr
refused() {
	ok "$1: exit 1" expect_rc 1
	ok "$1: ERROR" jq_is .status ERROR
	ok "$1: one line on stderr" [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ]
	ok "$1: says why" contains "$ERR" "store"
}

# 1. The cache dir is the store.
S=$T_DIR/s1
fill_store "$S"
before=$(sums "$S")
TORCHINDUCTOR_CACHE_DIR=$S B10FS_CACHE_DIR=$S run clear --json
refused "the store as the cache dir"
ok "the store as the cache dir: store byte for byte" [ "$(sums "$S")" = "$before" ]

# ... named through a symlink to it: the same dir, the same refusal.
ln -s "$S" "$T_DIR/s1-link"
TORCHINDUCTOR_CACHE_DIR=$S B10FS_CACHE_DIR=$T_DIR/s1-link run clear --json
refused "the store as a symlink to the cache dir"
ok "the store as a symlink: store byte for byte" [ "$(sums "$S")" = "$before" ]
TORCHINDUCTOR_CACHE_DIR=$T_DIR/s1-link/ B10FS_CACHE_DIR=$S run clear --json
ok "the cache dir a symlink to the store: exit 0 (only the link goes)" expect_rc 0
ok "the cache dir a symlink to the store: store byte for byte" [ "$(sums "$S")" = "$before" ]

# 2. The cache dir inside the store, directly and through a symlink.
S=$T_DIR/s2
fill_store "$S"
mkdir -p "$S/torch/sub" && echo x >"$S/torch/sub/f"
before=$(sums "$S")
TORCHINDUCTOR_CACHE_DIR=$S/torch B10FS_CACHE_DIR=$S run clear --json
refused "the cache dir inside the store"
ok "inside the store: store byte for byte" [ "$(sums "$S")" = "$before" ]
ln -s "$S" "$T_DIR/s2-alias"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/s2-alias/torch B10FS_CACHE_DIR=$S run clear --json
refused "the cache dir inside the store through a symlink"
ok "through a symlink: store byte for byte" [ "$(sums "$S")" = "$before" ]
mkdir -p "$S/a/b/c"
TORCHINDUCTOR_CACHE_DIR=$S/a/b/c B10FS_CACHE_DIR=$T_DIR/s2-alias run clear --json
refused "deep inside the store named by a symlink"
ok "deep inside: nothing removed" [ -d "$S/a/b/c" ]
ok "deep inside: store byte for byte" [ "$(sums "$S")" = "$before" ]

# 3. The store below the cache dir: emptied around it, in place.
fill_cache
S=$C/sub/store
fill_store "$S"
echo beside >"$C/sub/beside"
before=$(sums "$S")
B10FS_CACHE_DIR=$S run clear --json
ok "the store below the cache dir: exit 0" expect_rc 0
ok "store below: SUCCESS" jq_is .status SUCCESS
ok "store below: says it kept the store" jq_is '.message | test("keeping the store")' true
ok "store below: store byte for byte" [ "$(sums "$S")" = "$before" ]
ok "store below: the rest is removed" [ "$(cd "$C" && find . | sort | tr '\n' ' ')" = ". ./sub ./sub/store $(cd "$S" && find . -mindepth 1 | sort | sed 's|^\./|./sub/store/|' | tr '\n' ' ')" ]
ok "store below: the cache dir stays at its name" [ -d "$C" ]
ok "store below: nothing renamed aside" [ -z "$(ls -A "$T_DIR" | grep b10t-clear)" ]
B10FS_CACHE_DIR=$S run clear
ok "store below, text: exit 0" expect_rc 0
ok "store below, text: says so" contains "$OUT" "keeping the store"

# ... the store named through a symlink from outside.
fill_cache
ln -s "$S" "$T_DIR/store-link"
B10FS_CACHE_DIR=$T_DIR/store-link run clear --json
ok "store below via a symlink: exit 0" expect_rc 0
ok "store below via a symlink: says so" jq_is '.message | test("keeping the store")' true
ok "store below via a symlink: store byte for byte" [ "$(sums "$S")" = "$before" ]
ok "store below via a symlink: the rest is removed" [ ! -e "$C/fx" -a ! -e "$C/triton" ]

# ... the store's path through a symlink inside the cache dir: the data
# is elsewhere, but the link is its name and stays.
S=$T_DIR/s5
fill_store "$S"
before=$(sums "$S")
fill_cache
ln -s "$S" "$C/store-link"
B10FS_CACHE_DIR=$C/store-link run clear --json
ok "the store's name a symlink in the cache dir: exit 0" expect_rc 0
ok "store's name a link: says it kept the store" jq_is '.message | test("keeping the store")' true
ok "store's name a link: the link stays" [ -L "$C/store-link" ]
ok "store's name a link: store byte for byte" [ "$(sums "$S")" = "$before" ]
ok "store's name a link: the rest is removed" [ ! -e "$C/fx" -a ! -e "$C/triton" ]
fill_cache
mkdir -p "$T_DIR/s6/store" && fill_store "$T_DIR/s6/store"
before=$(sums "$T_DIR/s6/store")
ln -s "$T_DIR/s6" "$C/via"
B10FS_CACHE_DIR=$C/via/store run clear --json
ok "a symlink on the way to the store in the cache dir: exit 0" expect_rc 0
ok "link on the way: it stays" [ -L "$C/via" ]
ok "link on the way: store byte for byte" [ "$(sums "$T_DIR/s6/store")" = "$before" ]
ok "link on the way: the rest is removed" [ ! -e "$C/fx" -a ! -e "$C/triton" -a ! -e "$C/store-link" ]
rm -f "$C/via"

# ... the store bind-mounted into the cache dir: a dir that is the store.
if [ "$(id -u)" -eq 0 ]; then
	S=$T_DIR/s4
	fill_store "$S"
	before=$(sums "$S")
	fill_cache
	mkdir -p "$C/mnt"
	if mount --bind "$S" "$C/mnt" 2>/dev/null; then
		B10FS_CACHE_DIR=$S run clear --json
		ok "the store bind-mounted inside: exit 0" expect_rc 0
		ok "bind-mounted: says it kept the store" jq_is '.message | test("keeping the store")' true
		ok "bind-mounted: store byte for byte" [ "$(sums "$S")" = "$before" ]
		ok "bind-mounted: the cache dir is back at its name" mountpoint -q "$C/mnt"
		ok "bind-mounted: the rest is removed" [ ! -e "$C/fx" -a ! -e "$C/triton" ]
		umount "$C/mnt" 2>/dev/null || umount "$T_DIR"/.cache.b10t-clear.*/mnt
	else
		T_N=$((T_N + 1)); echo "ok $T_N # SKIP bind mount: mount --bind failed"
	fi
else
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP bind mount of the store: needs root"
fi

done_testing
