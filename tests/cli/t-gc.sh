#!/bin/sh
# b10t gc: debris removal by age, eviction, dry run, JSON, concurrency, exit codes.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR

# mk NAME AGE [BYTES]: a file in the store, modified (and accessed) AGE ago
mk() {
	head -c "${3:-10}" /dev/zero >"$S/$1"
	touch -d "$2" "$S/$1"
}
# used NAME AGE: the archive was last read AGE ago (its atime: older b10t,
# relatime; a fallback where the filesystem keeps atime)
used() {
	touch -a -d "$2" "$S/$1"
}
# marked KEY AGE: the key's archive was last loaded AGE ago (load sets the
# mtime of the use marker cache_KEY.used)
marked() {
	: >"$S/cache_$1.used"
	touch -d "$2" "$S/cache_$1.used"
}
present() { [ -e "$S/$1" ] || { echo "#   $1 is gone"; return 1; }; }
absent() { [ ! -e "$S/$1" ] || { echo "#   $1 is still there"; return 1; }; }
reset_store() { rm -rf "$S"; mkdir -p "$S"; }

A1=cache_aaaaaaaaaaaaaaa1.latest.tar.lz4
A2=cache_aaaaaaaaaaaaaaa2.latest.tar.lz4
A3=cache_aaaaaaaaaaaaaaa3.latest.tar.lz4
AGZ=cache_aaaaaaaaaaaaaaa4.latest.tar.gz

# ---- debris: each kind goes only when old enough -------------------------
mk cache_aaaaaaaaaaaaaaa1.incomplete.host-1-ab.tar.lz4 '2 hours ago' 100
mk cache_aaaaaaaaaaaaaaa1.incomplete.host-2-cd.tar.lz4 '10 seconds ago' 100
mk cache_aaaaaaaaaaaaaaa1.incomplete.tar.gz '2 hours ago' 50
mk cache_aaaaaaaaaaaaaaa1.latest.tar.gz.lock '45 seconds ago' 0
mk cache_aaaaaaaaaaaaaaa2.lock '10 seconds ago' 0
mk cache_aaaaaaaaaaaaaaa1.corrupt.host-1-ab.tar.lz4 '2 days ago' 300
mk cache_aaaaaaaaaaaaaaa2.corrupt.host-1-ab.tar.gz '2 hours ago' 300
mk "$A1" '2 days ago' 1000
mk "$AGZ" '2 days ago' 1000
# things gc must not recognise
mk random-file '3 days ago'
mk cache_foo.txt '3 days ago'
mk .nfs0000000000001234 '3 days ago'
mk .nfs123.lock '3 days ago'
mk notes.incomplete '3 days ago'
mkdir "$S/cache_dir.incomplete.x.tar.lz4" "$S/subdir" && touch -d '3 days ago' "$S/cache_dir.incomplete.x.tar.lz4"
ln -s /etc/passwd "$S/cache_link.incomplete.x.tar.lz4"
touch -h -d '3 days ago' "$S/cache_link.incomplete.x.tar.lz4"

# the store's b10t files: 2 x 100 + 50 + 2 x 300 + 2 x 1000 = 2850 bytes
run gc
ok "gc exits 0" expect_rc 0
ok "gc reports each file it removed, as docker's prune" \
	contains "$OUT" "removed cache_aaaaaaaaaaaaaaa1.incomplete.host-1-ab.tar.lz4 (incomplete, 100 B)"
ok "gc reports the files, the bytes freed and the store before and after" \
	contains "$OUT" "removed 4 files, 450 B freed; store 2.8 KiB -> 2.3 KiB; 2 archives kept"
ok "gc: nothing on stderr" [ -z "$ERR" ]
ok "an old upload is removed" absent cache_aaaaaaaaaaaaaaa1.incomplete.host-1-ab.tar.lz4
ok "the reference's old upload is removed" absent cache_aaaaaaaaaaaaaaa1.incomplete.tar.gz
ok "a young upload stays (its writer may be alive)" present cache_aaaaaaaaaaaaaaa1.incomplete.host-2-cd.tar.lz4
ok "a lock past CLEANUP_LOCK_TIMEOUT_SECONDS is removed" absent cache_aaaaaaaaaaaaaaa1.latest.tar.gz.lock
ok "a young lock stays" present cache_aaaaaaaaaaaaaaa2.lock
ok "a corrupt archive older than a day is removed" absent cache_aaaaaaaaaaaaaaa1.corrupt.host-1-ab.tar.lz4
ok "a corrupt archive younger than a day stays" present cache_aaaaaaaaaaaaaaa2.corrupt.host-1-ab.tar.gz
ok "published archives stay without eviction options" sh -c '[ -e "$1/$2" ] && [ -e "$1/$3" ]' - "$S" "$A1" "$AGZ"
for f in random-file cache_foo.txt .nfs0000000000001234 .nfs123.lock notes.incomplete \
	 cache_dir.incomplete.x.tar.lz4 subdir cache_link.incomplete.x.tar.lz4; do
	ok "unknown entry $f is left alone" present "$f"
done

run gc --json
ok "nothing more to remove: gc --json exits 0" expect_rc 0
ok "second run removes nothing" jq_is '.removed | length' 0
ok "kept counts the published archives" jq_is '.kept' 2

# the lock timeout is the setting's, not the upload one
CLEANUP_LOCK_TIMEOUT_SECONDS=5 run gc
ok "CLEANUP_LOCK_TIMEOUT_SECONDS=5 removes a 10 s old lock" absent cache_aaaaaaaaaaaaaaa2.lock

# ---- --stale ----------------------------------------------------------------
reset_store
mk cache_b.incomplete.h-1.tar.lz4 '20 seconds ago'
mk cache_b.incomplete.h-2.tar.lz4 '5 minutes ago'
run gc --stale 2m
ok "--stale 2m exits 0" expect_rc 0
ok "--stale 2m removes a 5 min old upload" absent cache_b.incomplete.h-2.tar.lz4
ok "--stale 2m keeps a 20 s old upload" present cache_b.incomplete.h-1.tar.lz4
CLEANUP_INCOMPLETE_TIMEOUT_SECONDS=10 run gc
ok "CLEANUP_INCOMPLETE_TIMEOUT_SECONDS is the default stale window" absent cache_b.incomplete.h-1.tar.lz4
# --stale 0s used to remove even a fresh upload, and so a save in flight on
# another client.  Now an upload modified in the last 10 s is never debris,
# and an older one that moves during gc's pass is live (below).
mk cache_b.incomplete.h-3.tar.lz4 'now'
mk cache_b.incomplete.h-4.tar.lz4 '30 seconds ago'
t0=$(date +%s)
run gc --stale 0s --json
t1=$(date +%s)
ok "--stale 0s exits 0" expect_rc 0
ok "--stale 0s keeps an upload younger than 10 s (the floor)" present cache_b.incomplete.h-3.tar.lz4
ok "--stale 0s removes a 30 s old upload that does not move" absent cache_b.incomplete.h-4.tar.lz4
ok "--stale 0s removes a 30 s old upload that does not move: after one short wait for the whole pass (2 s)" [ $((t1 - t0)) -ge 2 ]
touch -d '2 hours ago' "$S/cache_b.incomplete.h-3.tar.lz4"
t0=$(date +%s)
run gc --stale 0s
t1=$(date +%s)
ok "an upload over an hour old is removed without the wait" \
	sh -c '[ ! -e "$1" ] && [ $(($3 - $2)) -le 1 ]' - "$S/cache_b.incomplete.h-3.tar.lz4" "$t0" "$t1"

# A live upload whose mtime looks old (a writer's clock behind, a client's
# cached attributes): it grows during gc's pass and stays, whatever --stale.
cat >"$T_DIR/writer.py" <<'PY'
import os, sys, time
path, n = sys.argv[1], int(sys.argv[2])
with open(path, "ab") as f:
    for i in range(n):
        f.write(b"x" * 4096)
        f.flush()
        old = time.time() - 300    # the mtime a skewed writer leaves
        os.utime(path, (old, old))
        time.sleep(0.1)
PY
# grown NAME: the writer's first write landed (past mk's 10 bytes)
grown() {
	[ "$(stat -c %s "$S/$1" 2>/dev/null || echo 0)" -gt 10 ]
}
mk cache_b.incomplete.h-5.tar.lz4 '5 minutes ago'
python3 "$T_DIR/writer.py" "$S/cache_b.incomplete.h-5.tar.lz4" 60 & wpid=$!
wait_for 20 grown cache_b.incomplete.h-5.tar.lz4
run gc --stale 0s --json
ok "a growing upload with an old mtime: gc exits 0" expect_rc 0
ok "a growing upload with an old mtime: it stays (live)" present cache_b.incomplete.h-5.tar.lz4
ok "a growing upload with an old mtime: not reported as removed" jq_is '[.removed[].filename] | index("cache_b.incomplete.h-5.tar.lz4")' null
wait $wpid
run gc --stale 0s
ok "once its writer stopped it is debris" absent cache_b.incomplete.h-5.tar.lz4

# The same seen through a client that caches attributes (sshfs: 20 s) and
# answers a stat from its cache however the file is opened: only a look
# that makes the client fetch them again (gc chmods the upload to its own
# mode) sees it grow.  The stale-store shim's attribute cache stands in.
# (The shim cannot be preloaded before a sanitizer runtime.)
if [ -n "${STALE_STORE:-}" ] && [ -f "$STALE_STORE" ] &&
   [ "${B10T_SANITIZE:-none}" = none ]; then
	mk cache_b.incomplete.h-8.tar.lz4 '5 minutes ago'
	python3 "$T_DIR/writer.py" "$S/cache_b.incomplete.h-8.tar.lz4" 60 & wpid=$!
	wait_for 20 grown cache_b.incomplete.h-8.tar.lz4
	LD_PRELOAD=$STALE_STORE B10T_SHIM_ATTRS=30 B10T_SHIM_MATCH=.incomplete.h-8 run gc --stale 0s --json -v
	ok "cached attributes: a growing upload with an old mtime: gc exits 0" expect_rc 0
	ok "cached attributes: a growing upload with an old mtime: it stays (live)" present cache_b.incomplete.h-8.tar.lz4
	ok "cached attributes: gc says why it is live" contains "$ERR" "cache_b.incomplete.h-8.tar.lz4 is live"
	kill $wpid 2>/dev/null; wait $wpid 2>/dev/null
	LD_PRELOAD=$STALE_STORE B10T_SHIM_ATTRS=30 B10T_SHIM_MATCH=.incomplete.h-8 run gc --stale 0s
	ok "cached attributes: once its writer stopped it is debris" absent cache_b.incomplete.h-8.tar.lz4
else
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP no stale-store shim (STALE_STORE)"
fi

# A real save in flight, its writes slowed down: gc --stale 0s leaves it be.
if command -v strace >/dev/null && strace -o /dev/null true 2>/dev/null; then
	mkdir -p "$T_DIR/slow/d"
	head -c 16777216 /dev/urandom >"$T_DIR/slow/d/blob"
	# LeakSanitizer cannot run under ptrace: no leak check for this one.
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/slow strace -f -o /dev/null -e trace=writev \
		-e inject=writev:delay_enter=700000 "$B10T" save -q >"$T_DIR/slow.out" 2>&1 &
	spid=$!
	# uploading: the save's upload is in the store (its first write is
	# slowed 0.7 s, so gc runs while the upload is young and unfinished)
	uploading() { ls -A "$S" | grep -q '^cache_.*\.incomplete\.'; }
	wait_for 30 uploading
	up=$(ls -A "$S" | grep -c "^cache_$("$B10T" envkey)\.incomplete\.")
	run gc --stale 0s --json
	wait $spid; src=$?
	ok "a slowed save's upload was in the store during gc" [ "$up" = 1 ]
	ok "gc --stale 0s during a real save removes no upload" jq_is '[.removed[] | select(.reason == "incomplete")] | length' 0
	[ "$src" = 0 ] || sed "s|^|#   |" "$T_DIR/slow.out"
	ok "gc --stale 0s during a real save removes no upload: the save succeeds" [ "$src" = 0 ]
	rm -f "$S"/cache_*.latest.tar.lz4
else
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP no usable strace to slow a save down"
fi

# The cooperative cleanup of load and save keeps the floor too.
mk cache_b.incomplete.h-6.tar.lz4 'now'
mk cache_b.incomplete.h-7.tar.lz4 '30 seconds ago'
CLEANUP_INCOMPLETE_TIMEOUT_SECONDS=0 "$B10T" load --cache-dir "$T_DIR/coop" >/dev/null 2>&1
ok "load's cleanup with a 0 s timeout keeps a fresh upload" present cache_b.incomplete.h-6.tar.lz4
ok "load's cleanup with a 0 s timeout: removes a 30 s old one" absent cache_b.incomplete.h-7.tar.lz4

# ---- publish probe dirs a killed doctor or save left (lib/doctor.c) ------------
# probe NAME AGE [FILE...]: a probe dir holding the probe's FILEs, AGE old.
probe() {
	d=$1 age=$2; shift 2
	mkdir "$S/$d" && for f in "$@"; do : >"$S/$d/$f"; touch -d "$age" "$S/$d/$f"; done
	touch -d "$age" "$S/$d"
}
probe .b10t-doctor.host.1.aa '2 hours ago' a b l e
probe .b10t-doctor.host.2.bb '2 hours ago'
probe .b10t-doctor.host.3.cc '3 seconds ago' a
probe .b10t-doctor.host.4.dd '30 seconds ago' a c
probe .b10t-doctor.host.5.ee '2 hours ago' a notes.txt
mk .b10t-doctor.host.6.ff '2 hours ago'
run gc --dry-run --json
ok "dry run: an old probe dir would go, reason probe" \
	jq_is '[.removed[] | select(.reason == "probe") | .filename] | sort | join(" ")' '.b10t-doctor.host.1.aa .b10t-doctor.host.2.bb .b10t-doctor.host.5.ee'
ok "dry run: the probe dir stays" present .b10t-doctor.host.1.aa/a
run gc --json
ok "gc removes an old probe dir and the probe's files in it" absent .b10t-doctor.host.1.aa
ok "gc removes an old empty probe dir" absent .b10t-doctor.host.2.bb
ok "old probe dirs: reported with reason probe" jq_is '[.removed[] | select(.reason == "probe")] | length' 2
ok "a probe dir younger than the stale age stays (30 s, default timeout)" present .b10t-doctor.host.4.dd/c
ok "a probe dir holding a file not the probe's stays, with that file" present .b10t-doctor.host.5.ee/notes.txt
ok "a regular file with a probe dir's name is not ours: it stays" present .b10t-doctor.host.6.ff
run gc --stale 0s --json
ok "gc --stale 0s: a 30 s old probe dir goes" absent .b10t-doctor.host.4.dd
ok "gc --stale 0s: a 3 s old one stays (the 10 s floor: its probe may run)" present .b10t-doctor.host.3.cc/a
rm -rf "$S"/.b10t-doctor.*

# ---- usage errors ---------------------------------------------------------------
mk cache_c.incomplete.h-1.tar.lz4 '2 hours ago'
for bad in "--stale 5x" "--stale -1s" "--stale 5ms" "--stale ''" "--max-age abc" \
	   "--max-size 12Q" "--max-size -1G"; do
	eval "run gc $bad"
	ok "gc $bad exits 2" expect_rc 2
	ok "gc $bad hints --help" contains "$ERR" "Try 'b10t gc --help'"
done
run gc extra
ok "an operand is a usage error" expect_rc 2
ok "usage errors remove nothing" present cache_c.incomplete.h-1.tar.lz4

# ---- --dry-run and --json ---------------------------------------------------------
reset_store
mk cache_d.incomplete.h-1.tar.lz4 '2 hours ago' 123
mk cache_d.lock '2 hours ago' 7
mk cache_d.corrupt.h-1.tar.lz4 '3 days ago' 1000
mk "$A1" '3 days ago' 4000
run gc --dry-run
ok "--dry-run exits 0" expect_rc 0
ok "--dry-run lists the upload" contains "$OUT" "would remove cache_d.incomplete.h-1.tar.lz4"
ok "--dry-run lists the lock" contains "$OUT" "cache_d.lock"
ok "--dry-run lists the corrupt archive" contains "$OUT" "cache_d.corrupt.h-1.tar.lz4"
ok "--dry-run removes nothing" sh -c '[ $(ls -A "$1" | wc -l) -eq 4 ]' - "$S"
run gc --dry-run --json
ok "--dry-run --json exits 0" expect_rc 0
ok "--dry-run --json: dry_run true" jq_is '.dry_run' true
ok "--dry-run --json: lists 3" jq_is '.removed | length' 3
ok "--dry-run still removes nothing" sh -c '[ $(ls -A "$1" | wc -l) -eq 4 ]' - "$S"
run gc --json
ok "--json exits 0" expect_rc 0
ok "--json: status SUCCESS" jq_is '.status' SUCCESS
ok "--json: dry_run false" jq_is '.dry_run' false
ok "--json: removed files by name" jq_is '[.removed[].filename] | sort | join(",")' \
	"cache_d.corrupt.h-1.tar.lz4,cache_d.incomplete.h-1.tar.lz4,cache_d.lock"
ok "--json: reasons" jq_is '[.removed[] | .filename + "=" + .reason] | sort | join(",")' \
	"cache_d.corrupt.h-1.tar.lz4=corrupt,cache_d.incomplete.h-1.tar.lz4=incomplete,cache_d.lock=lock"
ok "--json: bytes per file" jq_is '.removed[] | select(.filename == "cache_d.incomplete.h-1.tar.lz4") | .bytes' 123
ok "--json: freed_bytes is the sum" jq_is '.freed_bytes' 1130
ok "--json: kept" jq_is '.kept' 1
ok "--json removed them" sh -c '[ "$(ls -A "$1")" = "$2" ]' - "$S" "$A1"
mk cache_d.lock '2 hours ago' 7
run gc -v
ok "-v exits 0" expect_rc 0
ok "-v reports what was removed on stdout" contains "$OUT" "removed cache_d.lock (lock"

# ---- eviction -------------------------------------------------------------------------
evict_setup() {
	reset_store
	mk "$A1" '10 hours ago' 1000; used "$A1" '5 hours ago'
	mk "$A2" '10 hours ago' 1000; used "$A2" '1 hour ago'
	mk "$A3" '10 hours ago' 1000; used "$A3" '3 hours ago'
	mk "$AGZ" '3 hours ago' 1000	# never loaded: its mtime is its last use
}
evict_setup
run gc --all --max-size 3000 --json
ok "--max-size exits 0" expect_rc 0
ok "--max-size evicts the least recently used" absent "$A1"
ok "--max-size keeps the others" sh -c 'for f; do [ -e "$f" ] || exit 1; done' - "$S/$A2" "$S/$A3" "$S/$AGZ"
ok "--max-size: reason" jq_is '.removed[0].reason' max-size
ok "--max-size: kept 3" jq_is '.kept' 3
evict_setup
run gc --all --max-size 1500
ok "--max-size 1500 keeps only the most recently used" sh -c '[ "$(ls -A "$1")" = "$2" ]' - "$S" "$A2"
evict_setup
touch -m -d '2 minutes ago' "$S/$A1"	# republished recently: mtime newer than the last load
run gc --all --max-size 3000
ok "last use is max(atime, mtime)" sh -c '[ -e "$1/$2" ] && [ ! -e "$1/$3" ]' - "$S" "$A1" "$A3"
# last use is the use marker's mtime (what load sets), never moved by gc
evict_setup
marked aaaaaaaaaaaaaaa1 '10 minutes ago'	# loaded since: now the most recent
run gc --all --max-size 2000 --json
ok "the use marker is a use: --max-size keeps the most recently loaded" \
	sh -c '[ -e "$1/$2" ] && [ -e "$1/$3" ] && [ ! -e "$1/$4" ] && [ ! -e "$1/$5" ]' - \
	"$S" "$A1" "$A2" "$A3" "$AGZ"
ok "--max-size with use markers: the marker of a kept archive stays" present cache_aaaaaaaaaaaaaaa1.used
ok "--max-size with use markers: markers are not counted as archives" jq_is '.kept' 2
evict_setup
touch -a -d '10 hours ago' "$S/$A1" "$S/$A2" "$S/$A3"	# a filesystem without atime
marked aaaaaaaaaaaaaaa1 '1 hour ago'
marked aaaaaaaaaaaaaaa2 '5 hours ago'
marked aaaaaaaaaaaaaaa3 '2 hours ago'
run gc --all --max-size 2000 --json
ok "eviction without atime orders by the markers (least recently loaded first)" \
	jq_is '[.removed[] | select(.reason == "max-size") | .filename] | join(",")' "$A2,$AGZ"
ok "eviction without atime: the evicted archive's marker goes with it" \
	sh -c '[ ! -e "$1/cache_aaaaaaaaaaaaaaa2.used" ] && [ -e "$1/cache_aaaaaaaaaaaaaaa1.used" ]' - "$S"
ok "eviction without atime: reported as a marker" jq_is '[.removed[] | select(.reason == "marker") | .filename] | join(",")' \
	cache_aaaaaaaaaaaaaaa2.used
evict_setup
marked aaaaaaaaaaaaaaa3 '30 minutes ago'
run gc --all --max-age 2h --json
ok "--max-age counts the marker: a recently loaded archive stays" present "$A3"
ok "--max-age with use markers: the unused ones go" sh -c '[ ! -e "$1/$2" ] && [ ! -e "$1/$3" ]' - "$S" "$A1" "$AGZ"

# ---- the report: sizes before and after, --max-size not reached, --keep ----
evict_setup
run gc --all --max-size 3000 --json
ok "report: store_bytes_before is the store's b10t files" jq_is .store_bytes_before 4000
ok "report: store_bytes_after = before - freed" jq_is '.store_bytes_after == .store_bytes_before - .freed_bytes and .store_bytes_after == 3000' true
ok "report: --max-size reached" jq_is '[.max_size_bytes, .max_size_reached] | map(tostring) | join(" ")' "3000 true"
ok "report: no reasons when reached" jq_is 'has("protected_keys")' false
evict_setup
run gc --all --max-size 1500 --keep aaaaaaaaaaaaaaa1 --keep "$A3" --json
ok "--max-size behind --keep: not reached" jq_is .max_size_reached false
ok "--max-size not reached: why: 2 keys protected, 2000 bytes" \
	jq_is '[.over_max_size_bytes, .protected_keys, .protected_bytes, .young_keys] | map(tostring) | join(" ")' "2000 2 2000 0"
ok "--max-size not reached: the others went" sh -c '[ ! -e "$1/$2" ] && [ ! -e "$1/$3" ]' - "$S" "$A2" "$AGZ"
evict_setup
run gc --all --max-size 1500 --keep aaaaaaaaaaaaaaa1 --keep "$A3"
ok "--max-size not reached: said in the text" \
	contains "$OUT" "--max-size 1.5 KiB not reached: 2.0 KiB of archives stay; 2 keys protected (this environment's or --keep), 2.0 KiB"
evict_setup
mk "$A3" '5 seconds ago' 1000	# just published: young
run gc --all --max-size 500 --stale 1h
ok "--max-size not reached: a young archive, said with --stale" \
	contains "$OUT" "1 key published less than --stale 3600 s ago, 1000 B"
run gc --all --max-size 500 --stale 1h --json
ok "--max-size not reached: young_keys, young_bytes" jq_is '"\(.young_keys) \(.young_bytes)"' "1 1000"
run gc --keep 0123456789abcdef --keep aaaaaaaaaaaaaaa3 --json
ok "--keep of a key with no archive: exit 0" expect_rc 0
ok "--keep of a key with no archive: warned on stderr" \
	contains "$ERR" "b10t gc: warning: --keep 0123456789abcdef: no archive of that key in the store"
ok "--keep of a key with no archive: keep_missing names it, not the other" jq_is '.keep_missing | join(",")' 0123456789abcdef
run gc -q --keep 0123456789abcdef
ok "gc -q: no warning either" [ -z "$OUT$ERR" ]

# markers of gone archives; markers gc must not take for anything else
reset_store
mk "$A1" '3 days ago' 1000
marked aaaaaaaaaaaaaaa1 '3 days ago'
marked orphan1 '2 hours ago'
marked orphan2 '10 seconds ago'
: >"$S/cache_bad.key.used"; touch -d '3 days ago' "$S/cache_bad.key.used"
ln -s /etc/passwd "$S/cache_linked.used"; touch -h -d '3 days ago' "$S/cache_linked.used"
mkdir "$S/cache_dir.used"; touch -d '3 days ago' "$S/cache_dir.used"
run gc --json
ok "gc with markers exits 0" expect_rc 0
ok "a marker whose archive is gone is removed after the stale window" absent cache_orphan1.used
ok "a marker whose archive is gone: reason marker" jq_is '[.removed[] | select(.filename == "cache_orphan1.used") | .reason] | join(",")' marker
ok "a young marker of a gone archive stays (a load may have just made it)" present cache_orphan2.used
ok "the marker of a present archive stays, however old" present cache_aaaaaaaaaaaaaaa1.used
for f in cache_bad.key.used cache_linked.used cache_dir.used; do
	ok "$f is no marker of ours: left alone" present "$f"
done
ok "markers are not archives: kept 1" jq_is '.kept' 1
run list --json
ok "list does not show markers as archives" jq_is '[.caches[].filename] | join(",")' "$A1"
run gc --stale 0s --json
ok "--stale 0s: a marker of a gone archive goes" absent cache_orphan2.used
ok "--stale 0s with use markers: never the marker of a present one" present cache_aaaaaaaaaaaaaaa1.used

evict_setup
run gc --all --max-size 20G --json
ok "--max-size above the total evicts nothing" jq_is '.removed | length' 0
evict_setup
run gc --all --max-age 2h --json
ok "--max-age exits 0" expect_rc 0
ok "--max-age evicts archives unused that long" sh -c '[ ! -e "$1/$2" ] && [ ! -e "$1/$3" ] && [ ! -e "$1/$4" ]' - "$S" "$A1" "$A3" "$AGZ"
ok "--max-age keeps a recently used one" present "$A2"
ok "--max-age: reason" jq_is '[.removed[].reason] | unique | join(",")' max-age
evict_setup
run gc --all --max-age 2h --keep aaaaaaaaaaaaaaa1 --keep aaaaaaaaaaaaaaa4
ok "--keep (repeated) protects those keys" sh -c '[ -e "$1/$2" ] && [ -e "$1/$3" ] && [ ! -e "$1/$4" ]' - "$S" "$A1" "$AGZ" "$A3"
evict_setup
run gc --all --max-age 2h --keep "$A3"
ok "--keep takes an archive's file name too" sh -c '[ -e "$1/$2" ] && [ ! -e "$1/$3" ]' - "$S" "$A3" "$A1"
evict_setup
run gc --all --max-age 2h --keep ../etc
ok "--keep with a bad key exits 2" expect_rc 2
ok "--keep with a bad key: removes nothing" present "$A1"
evict_setup
run gc --all --max-size 0 --dry-run --json
ok "--dry-run eviction lists all four" jq_is '.removed | length' 4
ok "--dry-run eviction: kept 0" jq_is '.kept' 0
ok "--dry-run eviction removes nothing" sh -c '[ $(ls -A "$1" | wc -l) -eq 4 ]' - "$S"

reset_store
mk "$A1" '20 seconds ago' 1000
mk "$A2" '2 days ago' 1000
run gc --all --max-size 0 --max-age 0s
ok "young archives are never evicted" present "$A1"
ok "old ones are" absent "$A2"
reset_store
mk "$A1" '20 seconds ago' 1000
run gc --all --max-size 0 --stale 0s
ok "the stale window (--stale 0s) decides what is young" absent "$A1"

# the current environment's archive
KEY=$("$B10T" envkey)
ok "b10t envkey prints a key" sh -c 'printf "%s" "$1" | grep -Eq "^[0-9a-f]{16}$"' - "$KEY"
CUR=cache_$KEY.latest.tar.lz4
reset_store
mk "$CUR" '3 days ago' 1000
mk "$A1" '3 days ago' 1000
run gc --max-size 0 --json
ok "eviction without --all exits 0" expect_rc 0
ok "the current environment's archive is never evicted" present "$CUR"
ok "others are" absent "$A1"
ok "kept 1" jq_is '.kept' 1
run gc --max-age 1h --all
ok "--all evicts the current environment's archive too" absent "$CUR"

# ---- the store ----------------------------------------------------------------------------
reset_store
mk cache_e.incomplete.h-1.tar.lz4 '2 hours ago'
run gc --fs-enabled 0 --json
ok "store disabled: exit 1" expect_rc 1
ok "store disabled: status ERROR" jq_is '.status' ERROR
ok "store disabled: error in JSON" jq_is '.error | length > 0' true
ok "store disabled: nothing removed" present cache_e.incomplete.h-1.tar.lz4
run gc --store "$T_DIR/no-such-store"
ok "store missing: exit 1" expect_rc 1
ok "store missing: the message names it" contains "$ERR" "no-such-store"
# a file gc may not remove is a real error (exit 1), with the others still removed
mk cache_e.lock '2 hours ago'
if [ "$(id -u)" != 0 ]; then
	chmod a-w "$S"
	run gc --json
	chmod u+w "$S"
elif command -v setpriv >/dev/null; then
	# root removes anything: run as nobody in a store it can read, not write
	chmod 755 "$T_DIR"
	setpriv --reuid=65534 --regid=65534 --clear-groups "$B10T" gc --json \
		>"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?; ERR=$(cat "$T_DIR/err")
	chmod 700 "$T_DIR"
else
	rc=skip
fi
if [ "$rc" = skip ]; then
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP root without setpriv removes anything"
else
	ok "a file that cannot be removed: exit 1" expect_rc 1
	ok "a file that cannot be removed: status ERROR" jq_is '.status' ERROR
	ok "a file that cannot be removed: the message says why" contains "$ERR" "Permission denied"
	ok "a file that cannot be removed: the files stay" present cache_e.lock
fi

# ---- two gc runs at once --------------------------------------------------------------------
reset_store
i=0
while [ $i -lt 400 ]; do
	: >"$S/cache_f$i.incomplete.h-$i.tar.lz4"
	: >"$S/cache_f$i.lock"
	i=$((i + 1))
done
touch -d '2 hours ago' "$S"/cache_f*
mk "$A1" '3 days ago'
"$B10T" gc --json >"$T_DIR/gc1" 2>"$T_DIR/gc1.err" & p1=$!
"$B10T" gc --json >"$T_DIR/gc2" 2>"$T_DIR/gc2.err" & p2=$!
wait $p1; rc1=$?
wait $p2; rc2=$?
ok "parallel gc: both exit 0" sh -c '[ "$1" -eq 0 ] && [ "$2" -eq 0 ]' - "$rc1" "$rc2" ||
	echo "#   exit codes $rc1 and $rc2"
ok "parallel gc: no error output" sh -c '[ ! -s "$1" ] && [ ! -s "$2" ]' - "$T_DIR/gc1.err" "$T_DIR/gc2.err" ||
	sed 's/^/#   err: /' "$T_DIR/gc1.err" "$T_DIR/gc2.err"
ok "parallel gc: all debris is gone" sh -c '[ "$(ls -A "$1")" = "$2" ]' - "$S" "$A1"
ok "parallel gc: each file counted once" \
	[ "$(jq -s '[.[].removed | length] | add' "$T_DIR/gc1" "$T_DIR/gc2")" -eq 800 ]

done_testing
