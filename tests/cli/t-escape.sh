#!/bin/sh
# Names from the store, the cache dir's neighbours and archives are printed
# escaped in text output: a newline, a carriage return, a tab or an escape
# sequence in a name cannot forge a report line or drive the terminal.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
NL='
'
CR=$(printf '\r')
TAB=$(printf '\t')
ESC=$(printf '\033')
no_raw() {	# no_raw FILE: no CR, tab or ESC byte in it
	! grep -q "[$CR$TAB$ESC]" "$1"
}

# ---- gc: debris whose names hold control bytes ------------------------------------
for n in "evil${NL}removed cache_victim.latest.tar.lz4 (corrupt, 1 B)${NL}x.lock" \
	 "cr${CR}removed forged (lock, 0 B).lock" "tab${TAB}x.lock" "esc${ESC}[2Jx.lock" \
	 "cache_ab.corrupt.1${NL}forged.tar.lz4" "cache_ab.incomplete.${ESC}]0;title${NL}"; do
	: >"$S/$n"
	touch -d 2020-01-01 "$S/$n"
done
run gc --dry-run
ok "gc --dry-run: exit 0" expect_rc 0
ok "gc --dry-run: one line per item and the summary (7)" [ "$(wc -l <"$T_DIR/out")" -eq 7 ]
ok "gc: the newline escaped" contains "$OUT" 'would remove evil\nremoved cache_victim.latest.tar.lz4 (corrupt, 1 B)\nx.lock (lock, 0 B)'
ok "gc: the carriage return escaped" contains "$OUT" 'would remove cr\rremoved forged (lock, 0 B).lock (lock'
ok "gc: the tab escaped" contains "$OUT" 'would remove tab\tx.lock'
ok "gc: the escape sequence escaped" contains "$OUT" 'would remove esc\x1b[2Jx.lock'
ok "gc: the corrupt one" contains "$OUT" 'would remove cache_ab.corrupt.1\nforged.tar.lz4 (corrupt'
ok "gc: the upload" contains "$OUT" 'cache_ab.incomplete.\x1b]0;title\n (incomplete'
ok "gc: no raw control byte" no_raw "$T_DIR/out"
ok "gc: no line starts forged" sh -c '! grep -q "^removed" "$1"' - "$T_DIR/out"
run gc --dry-run --json
ok "gc --json: the names as they are" jq_is '[.removed[].filename] | map(select(test("\n"))) | length' 3
run gc -v
ok "gc -v: exit 0" expect_rc 0
ok "gc -v: one line per item and the summary" [ "$(wc -l <"$T_DIR/out")" -eq 7 ]
ok "gc -v: no raw control byte" no_raw "$T_DIR/out"
ok "gc removed them" [ -z "$(ls -A "$S")" ]

# Local debris next to the cache dir, as gc's local pass prints it.
mkdir -p "$C" "$(dirname "$C")/.$(basename "$C").b10t-staging.999999.x${NL}removed y"
run gc --dry-run
ok "gc local debris: one item and the summary" [ "$(wc -l <"$T_DIR/out")" -eq 2 ]
ok "gc local debris: escaped" contains "$OUT" "b10t-staging.999999.x\\nremoved y"
rm -rf "$(dirname "$C")/.$(basename "$C").b10t-staging.999999.x${NL}removed y"

# ---- list and info: names that are not archives do not show; archive names
# are keys ([A-Za-z0-9_-]), so every line they print is one line.
printf 'hello\n' >"$C/hello"
run save -q
ok "save" expect_rc 0
: >"$S/cache_x${NL}y.latest.tar.lz4"
: >"$S/cache_${ESC}[2J.latest.tar.lz4"
run list
ok "list: exit 0" expect_rc 0
ok "list: header, one archive, summary" [ "$(wc -l <"$T_DIR/out")" -eq 3 ]
ok "list: no raw control byte" no_raw "$T_DIR/out"
run list --manifest
ok "list --manifest: header, one archive, its components, summary" [ "$(wc -l <"$T_DIR/out")" -eq 4 ]
ok "list --manifest: no raw control byte" no_raw "$T_DIR/out"
run info
ok "info: exit 0" expect_rc 0
ok "info: no raw control byte" no_raw "$T_DIR/out"
ok "info: names the archive" contains "$OUT" "b10fs_cache:         $(basename "$(published_archive "$S" "$KEY")")"
rm -f "$S/cache_x${NL}y.latest.tar.lz4" "$S/cache_${ESC}[2J.latest.tar.lz4"

# ---- an archive member name in an error: one line ----------------------------------
for n in "a${NL}b10t load: SUCCESS" "b${ESC}[2J" "c${CR}d"; do
	python3 - "$n" <<'PY' | lz4 -q -c --content-size -BD >"$S/cache_$KEY.latest.tar.lz4"
import io, sys, tarfile
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
    i = tarfile.TarInfo(sys.argv[1]); i.size = 1; i.mode = 0o644
    t.addfile(i, io.BytesIO(b"x"))
sys.stdout.buffer.write(out.getvalue())
PY
	rm -rf "$C" && mkdir "$C"
	run load
	ok "load of a member named $(printf '%s' "$n" | head -c 1)...: exit 1" expect_rc 1
	ok "load of a member named $(printf '%s' "$n" | head -c 1)...: stderr is one line" [ "$(wc -l <"$T_DIR/err")" -eq 1 ]
	ok "load of a member named $(printf '%s' "$n" | head -c 1)...: no raw control byte" no_raw "$T_DIR/err"
	rm -f "$S"/cache_*
done

done_testing
