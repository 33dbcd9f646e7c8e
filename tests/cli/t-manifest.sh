#!/bin/sh
# The manifest: load checks it against the name it loaded (key, scheme);
# a hostile one is a corrupt archive for load, and info and list print
# sane output for it.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY_A=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
KEY_B=$(B10T_TORCH_VERSION=2.5.0 "$B10T" envkey)
[ "$KEY_A" != "$KEY_B" ] || { echo "Bail out! two torch versions gave one key"; exit 1; }

# fresh_cache: an empty cache dir with a known mtime, to see it untouched
fresh_cache() {
	rm -rf "$C" && mkdir "$C" && touch -d '2020-01-01' "$C"
}
untouched() {
	[ -z "$(ls -A "$C")" ] && [ "$(stat -c %Y "$C")" = "$(date -d 2020-01-01 +%s)" ]
}
no_staging() { [ -z "$(ls -A "$T_DIR" | grep b10t-staging)" ]; }
aside() {	# aside KEY: the key's archive was moved aside
	[ ! -e "$S/cache_$1.latest.tar.lz4" ] &&
		ls "$S" | grep -q "^cache_$1\.corrupt\..*\.tar\.lz4$"
}

# mkarchive OUT [MANIFEST]: a tar.lz4 as save writes it (pax, the manifest
# first when given), holding one file `hello`
mkarchive() {
	python3 - "$2" <<'PY' | lz4 -q -c --content-size -BD >"$1"
import io, sys, tarfile
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data):
        i = tarfile.TarInfo(name); i.size = len(data); i.mode = 0o644; i.mtime = 1700000000
        t.addfile(i, io.BytesIO(data))
    if sys.argv[1]:
        add(".b10t/manifest.json", sys.argv[1].encode())
    add("hello", b"hello\n")
sys.stdout.buffer.write(out.getvalue())
PY
}

# ---- key A's archive under key B's name ------------------------------------
mkdir -p "$C" && printf 'hello\n' >"$C/hello"
run save -q
ok "save under key A" expect_rc 0
AA=$(published_archive "$S" "$KEY_A")
cp "$AA" "$S/cache_$KEY_B.latest.tar.lz4"
fresh_cache
B10T_TORCH_VERSION=2.5.0 run load
ok "key A's archive loaded as key B: exit 1" expect_rc 1
ok "the message names key A" contains "$ERR" "archive was made for key $KEY_A"
ok "and the archive it read" contains "$ERR" "extracting cache_$KEY_B.latest.tar.lz4"
ok "one line on stderr" [ "$(wc -l <"$T_DIR/err")" -eq 1 ]
ok "the archive was moved aside" aside "$KEY_B"
ok "the cache dir is unchanged (empty, same mtime)" untouched
ok "no staging left" no_staging
ok "key A's own archive is still there" [ -f "$AA" ]
run load --json
ok "key A's own archive still loads" expect_rc 0
ok "key A's own archive: load status SUCCESS" jq_is .status SUCCESS
# The same under key B's generation name, with its claim: moved aside, and
# the claim goes with it.
cp "$AA" "$S/cache_$KEY_B.g1.other-1-ab.tar.lz4"
echo "cache_$KEY_B.g1.other-1-ab.tar.lz4" >"$S/cache_$KEY_B.g1"
fresh_cache
B10T_TORCH_VERSION=2.5.0 run load
ok "key A's archive claimed by key B: exit 1" expect_rc 1
ok "key A's archive claimed by key B: the message names key A" contains "$ERR" "archive was made for key $KEY_A"
ok "key A's archive claimed by key B: moved aside" sh -c '[ ! -e "$1" ] && ls "$2" | grep -q "^cache_$3\.corrupt\..*\.tar\.lz4$"' - "$S/cache_$KEY_B.g1.other-1-ab.tar.lz4" "$S" "$KEY_B"
ok "key A's archive claimed by key B: its claim removed" [ ! -e "$S/cache_$KEY_B.g1" ]
rm -f "$S"/cache_"$KEY_B".corrupt.*

# ---- the scheme, where present ------------------------------------------------
mkarchive "$S/cache_$KEY_B.latest.tar.lz4" "{\"b10t_manifest\":1,\"key\":\"$KEY_B\",\"scheme\":\"b10-transfer\"}"
fresh_cache
B10T_TORCH_VERSION=2.5.0 run load
ok "right key, other scheme: exit 1" expect_rc 1
ok "the message names the scheme" contains "$ERR" "archive was made for key scheme b10-transfer"
ok "moved aside" aside "$KEY_B"
ok "cache dir unchanged" untouched

# ---- no manifest: fine (the reference's archives, old ones) ---------------------
mkarchive "$S/cache_$KEY_B.latest.tar.lz4" ""
fresh_cache
B10T_TORCH_VERSION=2.5.0 run load
ok "no manifest: load SUCCESS" expect_rc 0
ok "the file is there" [ "$(cat "$C/hello")" = hello ]
rm -f "$S/cache_$KEY_B.latest.tar.lz4"

# ---- hostile manifests -----------------------------------------------------------
# Numbers out of range: invalid, so the archive is corrupt for load (and
# UBSan's float-cast-overflow would catch a conversion of 1e300).
for m in '{"files":1e300,"bytes":1}' '{"files":1,"bytes":-1}' '{"files":1.5}' \
	 '{"bytes":"12"}' '{"key":5}' '[1,2]' 'not json'; do
	mkarchive "$S/cache_$KEY_B.latest.tar.lz4" "$m"
	B10T_TORCH_VERSION=2.5.0 run info --json
	ok "$m: info exits 0" expect_rc 0
	ok "$m: info reports the invalid manifest" jq_is '.b10fs_cache_manifest_error | startswith("invalid manifest")' true
	ok "$m: info has no counts from it" jq_is '.b10fs_cache_files == null and .b10fs_cache_uncompressed_bytes == null' true
	B10T_TORCH_VERSION=2.5.0 run info
	ok "$m: info text exits 0" expect_rc 0
	ok "$m: info text says it" contains "$OUT" "b10fs_cache_manifest: invalid manifest"
	ok "$m: and has no entries line" sh -c '! grep -q b10fs_cache_holds "$1"' - "$T_DIR/out"
	run list --manifest --json
	ok "$m: list --manifest exits 0" expect_rc 0
	ok "$m: list shows no counts for it" jq_is ".caches[] | select(.environment_key == \"$KEY_B\") | (.files == null and .bytes == null and .components == null)" true
	run list --manifest
	ok "$m: list text shows - for it" sh -c 'grep "$2" "$1" | grep -q "  -  *-  "' - "$T_DIR/out" "cache_$KEY_B"
	fresh_cache
	B10T_TORCH_VERSION=2.5.0 run load
	ok "$m: load exit 1" expect_rc 1
	ok "$m: load says the manifest is invalid" contains "$ERR" "invalid manifest"
	ok "$m: moved aside" aside "$KEY_B"
	ok "$m: cache dir unchanged" untouched
	ok "$m: no staging left" no_staging
done

# Strings that would forge lines: valid, printed escaped.
nl='\n'
mkarchive "$S/cache_$KEY_B.latest.tar.lz4" \
	"{\"key\":\"$KEY_B\",\"files\":1,\"bytes\":6,\"host\":\"evil${nl}b10fs_cache: forged\",\"b10t_version\":\"\\u001b[2J\",\"components\":{\"torch_version\":\"2.5.0${nl}forged\"}}"
B10T_TORCH_VERSION=2.5.0 run info
ok "hostile strings: info exits 0" expect_rc 0
ok "hostile strings: the host escaped" contains "$OUT" 'host evil\nb10fs_cache: forged, b10t \x1b[2J'
ok "hostile strings: no forged line" sh -c '! grep -q "^b10fs_cache: forged" "$1"' - "$T_DIR/out"
ok "hostile strings: no escape byte" sh -c '! grep -q "$(printf "\033")" "$1"' - "$T_DIR/out"
B10T_TORCH_VERSION=2.5.0 run info --json
ok "hostile strings: info --json keeps the host" jq_is .b10fs_cache_host "evil
b10fs_cache: forged"
run list --manifest --json
ok "hostile strings: list --json keeps the component" jq_is ".caches[] | select(.environment_key == \"$KEY_B\") | .components.torch_version" "2.5.0
forged"
run list --manifest
ok "hostile strings: list text: header, 2 archives with their components, summary" [ "$(wc -l <"$T_DIR/out")" -eq 6 ]
ok "hostile strings: list text: the component escaped on its line" \
	contains "$OUT" 'torch_version=2.5.0\nforged'
ok "hostile strings: list text: no escape byte" sh -c '! grep -q "$(printf "\033")" "$1"' - "$T_DIR/out"
fresh_cache
B10T_TORCH_VERSION=2.5.0 run load
ok "hostile strings: a valid manifest of the right key loads" expect_rc 0

done_testing
