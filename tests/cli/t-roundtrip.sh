#!/bin/sh
# save then load gives back the same tree; the reference's .tar.gz loads too.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
treecmp() { python3 "$SRCDIR/cli/treecmp.py" "$@"; }

# Nested dirs, empty files and dirs, relative symlinks, modes, a big file.
mkdir -p "$C/triton/abc/def" "$C/fxgraph/x" "$C/empty-dir" "$C/ro"
printf 'print(1)\n' >"$C/triton/abc/kernel.py"
printf '#!/bin/sh\necho hi\n' >"$C/triton/abc/run.sh"
chmod 0755 "$C/triton/abc/run.sh"
chmod 0600 "$C/triton/abc/kernel.py"
: >"$C/fxgraph/x/empty-file"
: >"$C/zero"
ln -s abc/kernel.py "$C/triton/link-to-file"
ln -s ../fxgraph "$C/triton/abc/def/up-link"
ln -s missing-target "$C/dangling"
printf 'name with spaces\n' >"$C/fxgraph/a file with spaces"
printf 'r\n' >"$C/ro/readonly"
chmod 0444 "$C/ro/readonly"
chmod 0555 "$C/ro"
for i in $(seq 1 200); do echo "entry $i" >"$C/fxgraph/x/f$i"; done
# over 64 MiB: half random, half compressible
head -c 40000000 /dev/urandom >"$C/big.bin"
yes 'compressible line' | head -c 30000000 >>"$C/big.bin"
touch -d '2024-01-02 03:04:05' "$C/zero"
cp -a "$C" "$T_DIR/orig"

run save --json -q
ok "save of the tree: SUCCESS" expect_rc 0
ok "save of the tree: counts the 70 MB file" jq_is '.bytes > 70000000' true
ok "save of the tree: $EXT compressed the compressible half" jq_is '.archive_bytes < .bytes' true
chmod -R u+w "$C" && rm -rf "$C"
run load --json -q
ok "load of the tree: SUCCESS" expect_rc 0
ok "the loaded tree is identical: contents, modes, links, mtimes" treecmp "$T_DIR/orig" "$C"
ok "the mtime of an old file is kept" [ "$(stat -c %Y "$C/zero")" = "$(stat -c %Y "$T_DIR/orig/zero")" ]

# ---- the reference's cache_<key>.latest.tar.gz -------------------------------
export B10T_KEY_SCHEME=b10-transfer
REFKEY=$("$B10T" envkey)
ok "b10-transfer scheme key is 16 hex digits" sh -c 'echo "$1" | grep -Eq "^[0-9a-f]{16}$"' - "$REFKEY"
mkdir -p "$T_DIR/ref/sub"
printf 'ref kernel\n' >"$T_DIR/ref/sub/k.py"
printf 'x\n' >"$T_DIR/ref/top"
chmod 0751 "$T_DIR/ref/sub"
ln -s sub/k.py "$T_DIR/ref/lnk"
tar -czf "$S/cache_$REFKEY.latest.tar.gz" -C "$T_DIR/ref" .
chmod -R u+w "$C" && rm -rf "$C"
run load --json
ok "load of the reference's .tar.gz: SUCCESS" expect_rc 0
ok "load of the reference's .tar.gz: archive is the .tar.gz" jq_is .archive "$S/cache_$REFKEY.latest.tar.gz"
ok "load of the reference's .tar.gz: the tree is identical" treecmp "$T_DIR/ref" "$C"
# A legacy .latest is published: a generation over it would only double
# what every load reads (docs/store-protocol.md, "Publish").
run save --json
ok "save with only the .tar.gz published: SKIPPED" expect_rc 4
ok "save with only the .tar.gz published: it names the .tar.gz" jq_is .archive "$S/cache_$REFKEY.latest.tar.gz"
ok "save with only the .tar.gz published: no claim is published" sh -c '! ls "$1" | grep -q "^cache_$2\.g"' - "$S" "$REFKEY"
ok "save with only the .tar.gz published: the .tar.gz is left alone" [ -f "$S/cache_$REFKEY.latest.tar.gz" ]
# A set of the legacy base and a generation over it (older replicas
# published the .tar.gz, this one g1): load applies both, g1 winning.
mkdir -p "$T_DIR/g1/sub" && printf 'newer kernel\n' >"$T_DIR/g1/sub/k.py" && printf 'g1 only\n' >"$T_DIR/g1/new"
unpublish "$S" "$REFKEY"
chmod -R u+w "$C" && rm -rf "$C" && cp -a "$T_DIR/g1" "$C"
run save --json
ok "save with nothing published: SUCCESS" expect_rc 0
tar -czf "$S/cache_$REFKEY.latest.tar.gz" -C "$T_DIR/ref" .
rm -rf "$C"
run load --json
ok "load of the legacy base and g1: SUCCESS" expect_rc 0
ok "load of the legacy base and g1: archive is the base, the .tar.gz" jq_is .archive "$S/cache_$REFKEY.latest.tar.gz"
ok "load of the legacy base and g1: g1's file wins over the base's" [ "$(cat "$C/sub/k.py")" = "newer kernel" ]
ok "load of the legacy base and g1: g1's new file is there" [ "$(cat "$C/new")" = "g1 only" ]
ok "load of the legacy base and g1: the base's own files too" [ "$(cat "$C/top")" = x ] && [ -L "$C/lnk" ]
chmod -R u+w "$C"

done_testing
