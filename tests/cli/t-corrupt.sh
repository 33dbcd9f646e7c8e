#!/bin/sh
# A corrupt archive: load fails cleanly, moves it aside, the next save heals.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
A=	# the published archive (published_archive), after each save
used_names=	# every archive name published so far

mkdir -p "$C/d"
head -c 300000 /dev/urandom >"$C/d/blob"
printf 'hello\n' >"$C/hello"
cp -a "$C" "$T_DIR/orig"
run save -q
ok "save: SUCCESS" expect_rc 0

no_staging() { [ -z "$(ls -A "$T_DIR" | grep b10t-staging)" ]; }

# flip: overwrite 16 bytes in the middle; truncate: cut the last third.
for how in flip truncate; do
	A=$(published_archive "$S" "$KEY")
	ok "$how: a name never published before" sh -c 'case " $1 " in *" $2 "*) exit 1 ;; esac' - "$used_names" "$A"
	used_names="$used_names $A"
	size=$(stat -c %s "$A")
	case $how in
	flip) printf 'XXXXXXXXXXXXXXXX' |
		dd of="$A" bs=1 seek=$((size / 2)) conv=notrunc status=none ;;
	truncate) truncate -s $((size * 2 / 3)) "$A" ;;
	esac
	rm -rf "$C" && mkdir "$C" && touch -d '2020-01-01' "$C"
	run load --json
	ok "$how: load of a corrupt archive is an ERROR" expect_rc 1
	ok "$how: ... JSON status ERROR with the error" jq_is '.status + ": " + (.error | test("moved aside") | tostring)' "ERROR: true"
	ok "$how: the archive was moved aside as *.corrupt.*" \
		sh -c '[ ! -e "$1" ] && ls "$2" | grep -q "^cache_$3\.corrupt\..*\.tar\.$4$"' - "$A" "$S" "$KEY" "$EXT"
	ok "$how: its claim is removed too" [ ! -e "$S/cache_$KEY.g1" ]
	ok "$how: the cache dir is untouched (empty, same mtime)" \
		sh -c '[ -z "$(ls -A "$1")" ] && [ "$(stat -c %Y "$1")" = "$(date -d 2020-01-01 +%s)" ]' - "$C"
	ok "$how: no staging debris" no_staging
	run load
	ok "$how: then load says DOES_NOT_EXIST" expect_rc 3
	cp -a "$T_DIR/orig/." "$C/"
	run save -q
	ok "$how: save publishes a good archive" expect_rc 0
	rm -rf "$C"
	run load -q
	ok "$how: load: SUCCESS" expect_rc 0
	ok "$how: ... the tree is identical" diff -r "$T_DIR/orig" "$C"
	rm -f "$S"/*.corrupt.*
done

# Not an archive at all, and a missing cache dir stays missing.
A=$(published_archive "$S" "$KEY")
printf 'garbage' >"$A"
rm -rf "$C"
run load
ok "garbage: load is an ERROR" expect_rc 1
ok "garbage: the cache dir was not created" [ ! -e "$C" ]
ok "garbage: moved aside" [ ! -e "$A" ]

# A hostile archive (a member escaping the tree) is refused and moved aside.
G=$S/cache_$KEY.latest.tar.gz
python3 - "$G" <<'PY'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w:gz") as t:
    for name in ("ok.txt", "../escaped"):
        data = b"payload\n"
        ti = tarfile.TarInfo(name)
        ti.size = len(data)
        t.addfile(ti, io.BytesIO(data))
PY
mkdir -p "$C"
run load --json
ok "hostile: load is an ERROR" expect_rc 1
ok "hostile: the error names the member" jq_is '.error | test("escaped")' true
ok "hostile: nothing written outside the cache dir" [ ! -e "$T_DIR/escaped" ]
ok "hostile: the cache dir is still empty" [ -z "$(ls -A "$C")" ]
ok "hostile: moved aside as .corrupt.*.tar.gz" \
	sh -c '[ ! -e "$1" ] && ls "$2" | grep -q "^cache_$3\.corrupt\..*\.tar\.gz$"' - "$G" "$S" "$KEY"
ok "hostile: no staging debris" no_staging

done_testing
