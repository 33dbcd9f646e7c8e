#!/bin/sh
# The manifest records the cache dir save packed; load into another dir
# says so (a warning on stderr, "saved_cache_dir" in --json), loads all the
# same, and says nothing when the dirs are the same or the archive has no
# record (the reference's .tar.gz, an older b10t).
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
mkdir -p "$C/ab" && echo kernel >"$C/ab/c1.so"
run save
ok "save publishes" expect_rc 0
man=$(lz4 -dc "$(published_archive "$S" "$("$B10T" envkey)")" | tar -xOf - .b10t/manifest.json)
ok "the manifest records the cache dir" contains "$man" "\"cache_dir\":\"$C\""

rm -rf "$C"
run load --json
ok "load at the same path succeeds" expect_rc 0
ok "load at the same path: without saved_cache_dir" jq_is '.saved_cache_dir' null
ok "load at the same path: without a warning" [ -z "$ERR" ]

D=$T_DIR/elsewhere/inductor
run load --json --cache-dir "$D"
ok "load into another dir succeeds" expect_rc 0
ok "load into another dir: extracts" [ "$(cat "$D/ab/c1.so")" = kernel ]
ok "load into another dir: --json names the dir it was saved from" jq_is '.saved_cache_dir' "$C"
ok "load into another dir: stderr warns, naming both dirs" contains "$ERR" "warning: the archive was saved from $C, loaded into $D"

rm -rf "$D"
run load -q --cache-dir "$D"
ok "-q: loaded" expect_rc 0
ok "load -q into another dir: without the warning" [ -z "$ERR" ]

# An archive without the record (as an older b10t or the reference wrote).
rm -rf "$S"/* "$D" && mkdir -p "$T_DIR/src/x" && echo y >"$T_DIR/src/x/f"
key=$("$B10T" envkey)
python3 - "$key" <<'PY' | lz4 -q -c --content-size >"$S/cache_$key.latest.tar.lz4"
import io, json, sys, tarfile
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
    for name, data in ((".b10t/manifest.json", json.dumps({"key": sys.argv[1]}).encode()),
                       ("x/f", b"y\n")):
        i = tarfile.TarInfo(name); i.size = len(data); i.mode = 0o644
        t.addfile(i, io.BytesIO(data))
sys.stdout.buffer.write(out.getvalue())
PY
run load --json --cache-dir "$D"
ok "an archive without cache_dir loads anywhere" expect_rc 0
ok "an archive without cache_dir: with no saved_cache_dir" jq_is '.saved_cache_dir' null
ok "an archive without cache_dir: no warning" [ -z "$ERR" ]
done_testing
