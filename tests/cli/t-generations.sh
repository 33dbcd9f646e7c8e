#!/bin/sh
# Store generations (docs/store-protocol.md): a save publishes a unique
# archive and commits it with its claim cache_<key>.g<N>; loads follow
# claims, never reuse a name; gc removes what no claim commits.  Negative
# lookup caches, kills at each step of a save, missing and malformed
# claims, eviction and republish, layers applied in order.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
CL=$S/cache_$KEY.g1

mkdir -p "$C/d"
head -c 300000 /dev/urandom >"$C/d/blob"
printf 'hello\n' >"$C/hello"
ln -s hello "$C/link"
cp -a "$C" "$T_DIR/orig"

# age_debris: every name but claimed archives and claims 2 hours old, so
# gc --stale 0s takes what no claim commits
age_debris() {
	for f in "$S"/*; do
		[ -e "$f" ] && touch -d '2 hours ago' "$f"
	done
}
# no_dangling: every claim names an archive that is there
no_dangling() {
	for c in "$S"/cache_"$KEY".g[0-9]*; do
		case $c in *.*.*) continue ;; esac
		[ -e "$c" ] || continue
		[ -f "$S/$(cat "$c")" ] || { echo "#   $c names a missing archive"; return 1; }
	done
}
# loads_whole_or_nothing: a load answers DOES_NOT_EXIST, or SUCCESS with the
# whole tree
loads_whole_or_nothing() {
	rm -rf "$T_DIR/l"
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/l run load -q
	case $rc in
	3) [ ! -e "$T_DIR/l" ] ;;
	0) diff -r "$T_DIR/orig" "$T_DIR/l" >/dev/null ;;
	*) expect_rc 0 ;;
	esac
}

# ---- a negative lookup cache: the save's client sees neither claim nor
# archive, the server refuses its claim -----------------------------------
run save -q
ok "save: SUCCESS" expect_rc 0
ok "save: the claim g1 and its archive, nothing else" only_published "$S" "$KEY"
A=$(published_archive "$S" "$KEY")
before=$(ls -A "$S" | grep -v '\.used$'; stat -c %i "$CL" "$A")
if [ -n "${STALE_STORE:-}" ] && [ -f "$STALE_STORE" ] &&
   case ${B10T_SANITIZE:-none} in none | '') true ;; *) false ;; esac; then
	for how in rename link; do
		pre=$STALE_STORE
		[ $how = link ] && pre="$STALE_STORE:$NO_RENAMEAT2"
		printf 'other\n' >"$C/other"	# a different tree: it would make another archive
		LD_PRELOAD=$pre B10T_SHIM_HIDE="$(basename "$CL"),$(basename "$A")" \
			"$B10T" save --json >"$T_DIR/out" 2>"$T_DIR/err"
		rc=$?
		rm -f "$C/other"
		ok "hidden claim and archive ($how): save SKIPPED" expect_rc 4
		ok "hidden claim and archive ($how): lost at the claim" jq_is '"\(.reason) \(.message | test("published by another save meanwhile"))"' "already_published true"
		ok "hidden claim and archive ($how): the store holds the first claim and archive only, the same files" \
			[ "$(ls -A "$S" | grep -v '\.used$'; stat -c %i "$CL" "$A")" = "$before" ]
	done
else
	echo "ok $((T_N += 1)) - negative lookup cache # SKIP no stale-store shim, or a sanitizer build"
fi

# ---- racing saves: exactly one SUCCESS --------------------------------------
# (16 at once: t-concurrency.sh; the shim above: one that cannot see the winner)

# ---- kill -9 at each step of a save: nothing partial is ever followed -------
if command -v strace >/dev/null && strace -o /dev/null true 2>/dev/null &&
   case ${B10T_SANITIZE:-none} in none | '') true ;; *) false ;; esac; then
	# syscall:when  packing (a write of the frame), the upload's flush,
	# after the rename to the archive's name (the dir's flush), the claim
	# temp's flush, the claim's publish
	for point in writev:1 fsync:1 fsync:3 fsync:4 renameat2:1; do
		rm -rf "$S" && mkdir -p "$S"
		strace -f -o /dev/null -e trace="${point%:*}" \
			-e inject="${point%:*}:signal=KILL:when=${point#*:}" "$B10T" save -q \
			>/dev/null 2>&1
		rc=$?
		ok "kill at $point: the save was killed" [ "$rc" -eq 137 ]
		ok "kill at $point: no claim names a missing archive" no_dangling
		ok "kill at $point: a load gets nothing or the whole tree" loads_whole_or_nothing
		age_debris
		"$B10T" gc --stale 0s -q >/dev/null 2>&1
		ok "kill at $point: gc leaves no debris" sh -c \
			'! ls -A "$1" | grep -v -e "\.used$" -e "^cache_$2\.g1$" -e "^cache_$2\.g1\..*\.tar\.lz4$" | grep -q .' - "$S" "$KEY"
		run save -q
		ok "kill at $point: the next save publishes (or finds it published)" \
			sh -c '[ "$1" = 0 ] || [ "$1" = 4 ]' - "$rc"
		ok "kill at $point: then one claim and its archive" only_published "$S" "$KEY"
	done
else
	echo "ok $((T_N += 1)) - kill -9 during save # SKIP no usable strace (or a sanitizer build)"
fi

# ---- a claim naming a missing archive --------------------------------------
rm -rf "$S" && mkdir -p "$S"
echo "cache_$KEY.g1.gone-1-0123456789abcdef.tar.lz4" >"$CL"
rm -rf "$C.l" && TORCHINDUCTOR_CACHE_DIR=$C.l run load --json
ok "claim naming a missing archive: load DOES_NOT_EXIST" expect_rc 3
ok "claim naming a missing archive: after listing once more" contains "$ERR" "the store changed while loading; retrying"
ok "claim naming a missing archive: and says the generation is skipped" contains "$ERR" "names an archive that is gone"
run save -q
ok "claim naming a missing archive: a save finds the key published (SKIPPED)" expect_rc 4
touch -d '2 hours ago' "$CL"
run gc --stale 0s --json
ok "claim naming a missing archive: gc removes the claim (bad-claim)" jq_is '[.removed[] | select(.reason == "bad-claim")] | length' 1
run save -q
ok "claim naming a missing archive: then a save publishes" expect_rc 0
ok "claim naming a missing archive: one claim and its archive" only_published "$S" "$KEY"
# A good g1 under a g2 whose archive is gone: g1 loads, with a warning.
echo "cache_$KEY.g2.gone-1-0123456789abcdef.tar.lz4" >"$S/cache_$KEY.g2"
rm -rf "$C.l" && TORCHINDUCTOR_CACHE_DIR=$C.l run load --json
ok "g2 naming a missing archive over a good g1: load SUCCESS" expect_rc 0
ok "g2 naming a missing archive over a good g1: with g1's tree" diff -r "$T_DIR/orig" "$C.l"
ok "g2 naming a missing archive over a good g1: warning that generation 2 is skipped" contains "$ERR" "loading without generation 2"
rm -f "$S/cache_$KEY.g2"

# ---- malformed claims: ignored, never followed -------------------------------
G1=$(published_archive "$S" "$KEY")
rm -f "$CL"	# its archive stays, unclaimed: a claim must not lead to it
mkdir -p "$T_DIR/o" && echo other >"$T_DIR/o/f"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/o B10T_TORCH_VERSION=9.9.9 "$B10T" save -q >/dev/null 2>&1
OTHER=$(ls "$S" | grep -v "$KEY" | grep '\.tar\.lz4$')
for how in symlink dir fifo garbage other-key path two-lines; do
	rm -rf "$CL"
	case $how in
	symlink) ln -s "$(basename "$G1")" "$CL" ;;
	dir) mkdir "$CL" ;;
	fifo) mkfifo "$CL" ;;
	garbage) printf 'not a name\n' >"$CL" ;;
	other-key) echo "$OTHER" >"$CL" ;;
	path) echo "../$(basename "$T_DIR")/orig" >"$CL" ;;
	two-lines) printf '%s\n%s\n' "$(basename "$G1")" "$(basename "$G1")" >"$CL" ;;
	esac
	rm -rf "$C.l" && TORCHINDUCTOR_CACHE_DIR=$C.l run load --json
	ok "claim that is a $how: load DOES_NOT_EXIST" expect_rc 3
	ok "claim that is a $how: ignored with a warning" contains "$ERR" "ignoring the claim cache_$KEY.g1"
	ok "claim that is a $how: nothing loaded" [ ! -e "$C.l" ]
done
rm -rf "$CL" "$G1"
mkdir "$CL"
run save --json
ok "a directory at g1: save publishes g2 past it" expect_rc 0
ok "a directory at g1: its claim is g2" jq_is '.archive | test("/cache_'"$KEY"'\\.g2\\.[a-z0-9-]+\\.tar\\.lz4$")' true
rm -rf "$C.l" && TORCHINDUCTOR_CACHE_DIR=$C.l run load -q
ok "a directory at g1: and loads" diff -r "$T_DIR/orig" "$C.l"
rmdir "$CL"
unpublish "$S" "$KEY"

# ---- evict and republish: never the same archive name -----------------------
names=
for i in 1 2 3; do
	run save --json
	ok "round $i: save SUCCESS" expect_rc 0
	a=$(jq -r .archive "$T_DIR/out")
	ok "round $i: a name never published before" sh -c 'case " $1 " in *" $2 "*) exit 1 ;; esac' - "$names" "$a"
	names="$names $a"
	touch -d '2 hours ago' "$S"/*
	run gc --max-size 0 --all --json
	ok "round $i: gc evicts the claim first, then the archive" \
		jq_is "[.removed[].filename | select(startswith(\"cache_$KEY.g\"))] | join(\" \")" "cache_$KEY.g1 $(basename "$a")"
	ok "round $i: nothing of the key is left" none_published "$S" "$KEY"
done

# ---- layers: generations applied in order, a later one winning --------------
run save -q
mkdir -p "$T_DIR/l2/d" && printf 'newer\n' >"$T_DIR/l2/hello" && printf 'two\n' >"$T_DIR/l2/d/g2" &&
	ln -s d/g2 "$T_DIR/l2/link"
mkdir -p "$T_DIR/s2"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/l2 B10FS_CACHE_DIR=$T_DIR/s2 "$B10T" save -q >/dev/null 2>&1
cp "$(published_archive "$T_DIR/s2" "$KEY")" "$S/cache_$KEY.g2.layer-1-ab.tar.lz4"
echo "cache_$KEY.g2.layer-1-ab.tar.lz4" >"$S/cache_$KEY.g2"
rm -rf "$C.l" && TORCHINDUCTOR_CACHE_DIR=$C.l run load --json
ok "g1 then g2: load SUCCESS" expect_rc 0
ok "g1 then g2: g2's file replaces g1's" [ "$(cat "$C.l/hello")" = newer ]
ok "g1 then g2: g2's symlink replaces g1's" [ "$(readlink "$C.l/link")" = d/g2 ]
ok "g1 then g2: g2 adds to g1's directory" [ "$(cat "$C.l/d/g2")" = two ] && cmp -s "$C.l/d/blob" "$T_DIR/orig/d/blob"
g1a=$S/$(cat "$S/cache_$KEY.g1")
ok "g1 then g2: archive_bytes counts both" jq_is .archive_bytes \
	"$(($(stat -c %s "$g1a") + $(stat -c %s "$S/cache_$KEY.g2.layer-1-ab.tar.lz4")))"
run list --json
ok "list: one entry for the key" jq_is .total_caches 1
ok "list: both archives, in load order" \
	jq_is '.caches[0].archives | map(sub("^cache_[^.]*\\."; "") | .[0:2]) | join(",")' "g1,g2"
ok "list: generation 2" jq_is '.caches[0].generation' 2
# A file in g3 where g1 has a directory: g3 is at fault, moved aside.
rm -rf "$T_DIR/l3" "$T_DIR/s3" && mkdir -p "$T_DIR/l3" "$T_DIR/s3" && printf 'file\n' >"$T_DIR/l3/d"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/l3 B10FS_CACHE_DIR=$T_DIR/s3 "$B10T" save -q >/dev/null 2>&1
rm -f "$S/cache_$KEY.g2"
cp "$(published_archive "$T_DIR/s3" "$KEY")" "$S/cache_$KEY.g3.clash-1-ab.tar.lz4"
echo "cache_$KEY.g3.clash-1-ab.tar.lz4" >"$S/cache_$KEY.g3"
rm -rf "$C.l" && TORCHINDUCTOR_CACHE_DIR=$C.l run load -q
ok "a file in g3 where g1 has a directory: load ERROR" expect_rc 1
ok "a file in g3 where g1 has a directory: saying so" contains "$ERR" "where an earlier archive of the set has one"
ok "a file in g3 where g1 has a directory: g3 moved aside, its claim removed" \
	sh -c '[ ! -e "$1/cache_$2.g3" ] && [ ! -e "$1/cache_$2.g3.clash-1-ab.tar.lz4" ] && ls "$1" | grep -q "^cache_$2\.corrupt\."' - "$S" "$KEY"
ok "a file in g3 where g1 has a directory: g1 stays" [ -f "$(published_archive "$S" "$KEY")" ]
rm -rf "$C.l" && TORCHINDUCTOR_CACHE_DIR=$C.l run load -q
ok "a file in g3 where g1 has a directory: then load SUCCESS with g1 (and g2's archive, unclaimed, not applied)" diff -r "$T_DIR/orig" "$C.l"

done_testing
