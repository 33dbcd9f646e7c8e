#!/bin/sh
# b10t list: every published archive, newest first, read-only, fast.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }

# now_ms: milliseconds since the epoch
now_ms() { echo $(($(date +%s%N) / 1000000)); }

run list --json
ok "empty store: exit 0" expect_rc 0
ok "empty store: no caches" jq_is '.caches | length' 0
ok "empty store: total_caches 0" jq_is .total_caches 0
ok "empty store: current_cache_exists false" jq_is .current_cache_exists false
ok "empty store: b10fs_enabled" jq_is .b10fs_enabled true
ok "current_environment is the key" jq_is .current_environment "$KEY"
run list
ok "empty store text: exit 0" expect_rc 0
ok "empty store text: says so" contains "$OUT" "no archives"

# Archives of three ages, both formats, another scheme's key; debris around.
head -c 3000 /dev/zero >"$S/cache_$KEY.latest.tar.lz4"
head -c 2000 /dev/zero >"$S/cache_5fa34e7ede0685bf.latest.tar.gz"
head -c 1000 /dev/zero >"$S/cache_other-scheme_key.latest.tar.lz4"
touch -d '2026-01-01 00:00:00 UTC' "$S/cache_$KEY.latest.tar.lz4"
touch -d '2026-01-03 00:00:00 UTC' "$S/cache_5fa34e7ede0685bf.latest.tar.gz"
touch -d '2026-01-02 00:00:00 UTC' "$S/cache_other-scheme_key.latest.tar.lz4"
touch "$S/cache_$KEY.incomplete.host.1.0123456789abcdef.tar.lz4" \
      "$S/cache_$KEY.latest.tar.lz4.lock" "$S/README" \
      "$S/cache_abc.latest.tar.lz4.corrupt.1" "$S/cache_bad.key.latest.tar.gz"
mkdir "$S/cache_dir.latest.tar.lz4"
# A symlink at an archive's name is refused by load: list must not show it.
ln -s "cache_$KEY.latest.tar.lz4" "$S/cache_symlinked.latest.tar.lz4"

run list --json
ok "list --json exits 0" expect_rc 0
ok "output parses with jq" sh -c '"$B10T" list --json | jq . >/dev/null'
ok "three archives" jq_is .total_caches 3
ok "caches[] holds them" jq_is '.caches | length' 3
ok "newest first" jq_is '[.caches[].environment_key] | join(" ")' \
	"5fa34e7ede0685bf other-scheme_key $KEY"
ok "filenames" jq_is '.caches[0].filename' cache_5fa34e7ede0685bf.latest.tar.gz
ok "the reference's gz is listed as gz" jq_is '.caches[0].format' gz
ok "lz4 format" jq_is '.caches[2].format' lz4
ok "exact archive_bytes" jq_is '.caches[0].archive_bytes' 2000
ok "size_mb is bytes/1024/1024" jq_is '.caches[2].size_mb == (3000 / 1048576)' true
ok "created_time is the mtime, Unix seconds" jq_is '.caches[2].created_time' \
	"$(date -d '2026-01-01 00:00:00 UTC' +%s)"
ok "last_used is a number" jq_is '.caches[2].last_used | type' number
ok "only this environment's is current" jq_is \
	'[.caches[] | select(.is_current_environment) | .environment_key] | join(" ")' "$KEY"
ok "current_cache_exists" jq_is .current_cache_exists true
for k in filename environment_key size_mb is_current_environment created_time \
	 archive_bytes format last_used; do
	ok "every cache has $k" jq_is "[.caches[] | has(\"$k\")] | all" true
done

run list
ok "text list exits 0" expect_rc 0
ok "text: the current one is marked *" sh -c 'printf "%s\n" "$1" | grep -Eq "^\* $2 "' - "$OUT" "$KEY"
ok "text: only one mark" [ "$(printf '%s\n' "$OUT" | grep -c '^\*')" -eq 1 ]
ok "text: newest first" [ "$(printf '%s\n' "$OUT" | sed -n 2p | awk '{print $1}')" = 5fa34e7ede0685bf ]
ok "text: debris not shown" [ "$(printf '%s\n' "$OUT" | grep -c 'incomplete\|README\|corrupt\|lock')" -eq 0 ]
ok "text: the summary counts the archives and the store's total size" \
	contains "$OUT" "3 archives, 5.9 KiB in all; this environment ($KEY): marked *"
ok "list --json: total_bytes is the sum of the archives' sizes" \
	sh -c '[ "$("$1" list --json | jq .total_bytes)" = 6000 ]' - "$B10T"

# Read-only: names, sizes, mtimes of the store and its files, and the files'
# atimes (no archive opened), unchanged.  (Reading a dir may touch its atime.)
snapshot() { (cd "$S" && stat -c '%n %Y' . && find . -mindepth 1 -maxdepth 1 -printf '%p %s %T@ %A@\n' | sort); }
before=$(snapshot)
"$B10T" list >/dev/null 2>&1
"$B10T" list --json >/dev/null 2>&1
"$B10T" info --json >/dev/null 2>&1
"$B10T" info >/dev/null 2>&1
ok "list and info leave the store as it was" [ "$before" = "$(snapshot)" ]
# --manifest opens the archives: names, sizes, mtimes stay (atimes may move).
before=$(snapshot | cut -d' ' -f1-3)
"$B10T" list --manifest --json >/dev/null 2>&1
ok "list --manifest writes nothing" [ "$before" = "$(snapshot | cut -d' ' -f1-3)" ]

# --manifest on archives without one: listed all the same.
run list --manifest --json
ok "--manifest on fake archives: exit 0" expect_rc 0
ok "--manifest: still three" jq_is .total_caches 3
ok "--manifest: no files claimed without a manifest" jq_is '[.caches[] | has("files")] | any' false

# A real archive: its manifest gives files and bytes.
mkdir -p "$TORCHINDUCTOR_CACHE_DIR/d" && echo hello >"$TORCHINDUCTOR_CACHE_DIR/d/f"
rm -f "$S/cache_$KEY.latest.tar.lz4"
run save -q
ok "save of a small tree for --manifest" expect_rc 0
run list --manifest --json
ok "--manifest after save: exit 0" expect_rc 0
ok "--manifest: files from the manifest" jq_is \
	'.caches[] | select(.is_current_environment) | "\(.files),\(.dirs)"' 1,1
ok "--manifest: bytes from the manifest" jq_is \
	'.caches[] | select(.is_current_environment) | .bytes' 6
run list --manifest
ok "list --manifest text: the key's components under the archive" \
	sh -c 'printf "%s\n" "$1" | grep -A1 "$3\$" | tail -1 |
	       grep -qx "    components: .*torch_version=2.4.0.*triton_version=3.0.0"' - "$OUT" "$KEY" \
	"$(basename "$(published_archive "$S" "$KEY")")"
ok "list --manifest text: no components line for an archive without a manifest" \
	[ "$(printf '%s\n' "$OUT" | grep -c '^    components:')" = 1 ]

# Ages and plurals, in a store of its own: one archive used 3 days ago.
S1=$T_DIR/store-ages
mkdir -p "$S1" && head -c 1024 /dev/zero >"$S1/cache_$KEY.latest.tar.lz4"
touch -d '3 days ago' "$S1/cache_$KEY.latest.tar.lz4"
run list --store "$S1"
ok "one archive: text exit 0" expect_rc 0
ok "one archive: LAST USED is an age, '3 d ago'" \
	sh -c 'printf "%s\n" "$1" | grep -q "^\* $2 .* 3 d ago  "' - "$OUT" "$KEY"
ok "one archive: the summary says '1 archive', singular" \
	contains "$OUT" "1 archive, 1.0 KiB in all;"
touch -d '5 minutes ago' "$S1/cache_$KEY.latest.tar.lz4"
run list --store "$S1"
ok "an archive used 5 minutes ago: '5 min ago'" contains "$OUT" " 5 min ago "

# Store disabled or missing: an empty list, exit 0 (as b10-transfer).
BASETEN_FS_ENABLED=0 run list --json
ok "disabled: exit 0" expect_rc 0
ok "disabled: b10fs_enabled false" jq_is .b10fs_enabled false
ok "disabled: empty caches" jq_is '.caches | length' 0
ok "disabled: the reference's error key" jq_is .error "b10fs is not enabled"
BASETEN_FS_ENABLED=0 run list
ok "disabled text: exit 0" expect_rc 0
ok "disabled text: says so" contains "$OUT" "disabled"
BASETEN_FS_ENABLED=1 run list --json --store "$T_DIR/none"
ok "forced on, missing: exit 0" expect_rc 0
ok "forced on, missing: b10fs_enabled true" jq_is .b10fs_enabled true
ok "forced on, missing: empty" jq_is .total_caches 0
unset BASETEN_FS_ENABLED
run list --json --store "$T_DIR/none"
ok "missing store: b10fs_enabled false" jq_is .b10fs_enabled false
ok "missing store: exit 0" expect_rc 0
if [ "$(id -u)" -ne 0 ]; then
	chmod 000 "$S"
	run list --json
	ok "unreadable store: exit 1" expect_rc 1
	ok "unreadable store: status ERROR" jq_is .status ERROR
	chmod 755 "$S"
else
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP unreadable store: root reads everything"
fi
run list extra
ok "an operand is a usage error" expect_rc 2

# CREATED is the archive's mtime (its publish) and a load never moves it;
# the load's use shows in last_used, through the key's use marker.
rm -rf "$S" "$TORCHINDUCTOR_CACHE_DIR"; mkdir -p "$S" "$TORCHINDUCTOR_CACHE_DIR/d"
echo data >"$TORCHINDUCTOR_CACHE_DIR/d/f"
run save -q
ok "a save to list after a load" expect_rc 0
A=$(published_archive "$S" "$KEY")
touch -d '2026-01-01 00:00:00 UTC' "$A"	# published long ago, never loaded
c0=$("$B10T" list --json | jq '.caches[0].created_time')
u0=$("$B10T" list --json | jq '.caches[0].last_used')
m0=$(stat -c '%y' "$A")
rm -rf "$TORCHINDUCTOR_CACHE_DIR"
run load --json
ok "load of a saved archive: SUCCESS" expect_rc 0
run list --json
ok "created_time does not move after a load" jq_is '.caches[0].created_time' "$c0"
ok "a load does not move the archive's mtime either" [ "$(stat -c '%y' "$A")" = "$m0" ]
ok "last_used moves to the load" jq_is ".caches[0].last_used > $u0 and .caches[0].last_used >= $(date +%s) - 5" true
ok "the use marker is no archive" jq_is .total_caches 1
run list
ok "text: CREATED is the publish date" contains "$OUT" "2026-01-01"

# 1,000 archives: each of envkey, info, list stays fast.
n0=$("$B10T" list --json | jq .total_caches)
(cd "$S" && seq -f 'cache_%016g.latest.tar.lz4' 1 1000 | xargs touch)
run list --json
ok "1,000 more archives listed" jq_is .total_caches $((n0 + 1000))
for cmd in envkey info list; do
	run $cmd
	ok "$cmd on 1,000+ archives exits 0" expect_rc 0
done
for cmd in envkey info "list --json" list; do
	best=999999
	for _ in 1 2 3; do
		t0=$(now_ms)
		"$B10T" $cmd >/dev/null 2>&1
		t=$(($(now_ms) - t0))
		[ "$t" -lt "$best" ] && best=$t
	done
	# Speed is the benchmark's to prove (bench/bench.py); here it is only shown.
	echo "# b10t $cmd on 1,000+ archives: best of 3 ${best} ms"
done

done_testing
