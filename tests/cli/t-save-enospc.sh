#!/bin/sh
# save into a full store: ERROR, no temp file, nothing published.
. "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || skip_all "needs root to mount a tmpfs"
S=$T_DIR/tiny
mkdir -p "$S"
mount -t tmpfs -o size=8m tmpfs "$S" 2>/dev/null || skip_all "cannot mount a tmpfs here"
trap 'umount "$S"; rm -rf "$T_DIR"' EXIT
export B10FS_CACHE_DIR=$S
C=$TORCHINDUCTOR_CACHE_DIR

mkdir -p "$C"
head -c 20000000 /dev/urandom >"$C/incompressible"
run save --json
ok "save of 20 MB of random bytes into an 8 MiB store: ERROR" expect_rc 1
ok "save of 20 MB of random bytes into an 8 MiB store: mentions no space" contains "$ERR" "No space left"
ok "save of 20 MB of random bytes into an 8 MiB store: JSON error too" jq_is '.error | test("No space left")' true
ok "save of 20 MB of random bytes into an 8 MiB store: no temp file, nothing published" [ -z "$(ls -A "$S")" ]

# obviously too big: refused before writing anything
truncate -s 4G "$C/sparse"
run save
ok "save of 4 GB into an 8 MiB store fails fast" expect_rc 1
ok "save of 4 GB into an 8 MiB store fails fast: saying how much is free" contains "$ERR" "bytes free"

done_testing
