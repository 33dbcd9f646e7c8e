#!/bin/sh
# b10t stats: the records load and save leave in the store, their sums,
# --since, --key, --zero, --json; records never change what a load answers;
# gc bounds their files; a storm of 64 processes counts exactly.
. "$(dirname "$0")/lib.sh"

export B10T_STATS=1
S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
SD=$S/.b10t-stats
now_ms=$(($(date +%s) * 1000))
# host_file: the one host file of the stats dir
host_file() { ls "$SD"/*.log 2>/dev/null | head -n 1; }
records() { cat "$SD"/*.log 2>/dev/null | wc -l; }

# ---- sums and medians from known records ------------------------------------
K1=1111111111111111 K2=2222222222222222
mkdir -p "$SD"
{
	# five hits of K1: 1, 2, 3, 4 and 100 ms, median 3 ms; 1000 bytes each
	for d in 1000 2000 3000 4000 100000; do
		echo "b10t1 $now_ms hosta load hit - 1000 $d $K1"
	done
	echo "b10t1 $now_ms hosta load miss - 0 500 $K1"
	echo "b10t1 $now_ms hosta load skipped cache_dir_not_empty 0 50 $K1"
	echo "b10t1 $now_ms hosta load error EBADMSG 0 700 $K1"
	echo "b10t1 $now_ms hosta save saved - 4096 9000 $K2"
	echo "b10t1 $now_ms hosta save error EIO 0 9000 $K2"
	echo "b10t1 $now_ms hosta update skipped nothing_new 0 9000 $K2"
	# two hits of K2: 10 and 20 ms, median 15 ms
	echo "b10t1 $now_ms hosta load hit - 10 10000 $K2"
	echo "not a record"
	# two days ago: out of --since 1d
	echo "b10t1 $((now_ms - 2 * 86400000)) hosta load miss - 0 1 $K1"
} >"$SD/hosta.log"
echo "b10t1 $now_ms hostb load hit - 10 20000 $K2" >"$SD/hostb.log"
printf 'b10t1 %s hostb load hit - 10 1' "$now_ms" >>"$SD/hostb.log"	# a torn last line

run stats --json
ok "stats --json of known records: exit 0" expect_rc 0
ok "stats --json: status SUCCESS" jq_is .status SUCCESS
ok "stats: 14 records from 2 hosts, 2 lines that are none" \
	jq_is '"\(.records) \(.hosts) \(.bad_lines)"' "14 2 2"
ok "stats: loads that hit and missed in all" \
	jq_is '"\(.total.load_hits) \(.total.load_misses) \(.total.load_skipped) \(.total.load_errors)"' "7 2 1 1"
ok "stats: saves (update counts as one)" \
	jq_is '"\(.total.saves) \(.total.save_published) \(.total.save_skipped) \(.total.save_errors)"' "3 1 1 1"
ok "stats: errors by kind" jq_is '.total.errors_by_kind | to_entries | map("\(.key)=\(.value)") | join(",")' "EBADMSG=1,EIO=1"
ok "stats: skipped by reason" jq_is '.total.skipped_by_reason.nothing_new' 1
ok "stats: bytes served are the hits' archive bytes" jq_is .total.bytes_served 5020
ok "stats: median load time of every hit (7: 1 2 3 4 10 20 100 ms)" jq_is .total.median_load_s 0.004
ok "stats: keys sorted, each with its sums" jq_is '[.keys[].environment_key] | join(",")' "$K1,$K2"
ok "stats: K1's median of 5 hits is 3 ms" jq_is '.keys[0].median_load_s' 0.003
ok "stats: K2's median of 2 hits is their mean, 15 ms" jq_is '.keys[1].median_load_s' 0.015
ok "stats: K2 has no miss" jq_is '.keys[1].load_misses' 0

run stats --json --since 1d
ok "stats --since 1d leaves out the record of two days ago" jq_is .total.load_misses 1
ok "stats --since 1d: its start in Unix seconds" jq_is '.since > 0' true
run stats --json --key "$K2"
ok "stats --key: that key only" jq_is '"\(.records) \(.total.load_hits) \([.keys[].environment_key] | join(","))"' "5 2 $K2"
run stats --json=short
ok "stats --json=short: one line" [ "$(wc -l <"$T_DIR/out")" -eq 1 ]
run stats
ok "stats (text): exit 0" expect_rc 0
ok "stats (text): the hits and their rate" contains "$OUT" "hit                 7 (77.8 %)"
ok "stats (text): the median" contains "$OUT" "median load (hits)    0.004 s"
ok "stats (text): a line per key" contains "$OUT" "$K2"
run stats --key nokey.x
ok "stats --key with a bad key: usage error" expect_rc 2
run stats --since soon
ok "stats --since with a bad duration: usage error" expect_rc 2
run stats --zero --key "$K1"
ok "stats --zero --key: usage error" expect_rc 2

# ---- --zero -------------------------------------------------------------------
run stats --zero --json
ok "stats --zero: exit 0" expect_rc 0
ok "stats --zero --json: the time it zeroed" jq_is '.zeroed_time > 0' true
run stats --json
ok "after --zero: no record counts" jq_is '"\(.records) \(.total.loads) \(.keys | length)"' "0 0 0"
ok "after --zero: the records are still there (gc drops them)" [ "$(records)" -ge 14 ]
run stats
ok "after --zero, text: says when" contains "$OUT" "zeroed 20"
rm -rf "$SD"

# ---- real loads and saves -------------------------------------------------------
mkdir -p "$C/d" && echo 'x = 1' >"$C/d/k.py"
key=$("$B10T" envkey)
run save
ok "save with statistics on: SUCCESS" expect_rc 0
run save
ok "a second save: SKIPPED" expect_rc 4
rm -rf "$C"
run load --json
ok "load: SUCCESS" expect_rc 0
archive_bytes=$(jq .archive_bytes "$T_DIR/out")
run load
ok "a second load: SKIPPED" expect_rc 4
rm -rf "$C"
B10T_TORCH_VERSION=9.9.9 "$B10T" load >/dev/null 2>&1
ok "a load of another key: DOES_NOT_EXIST" [ $? -eq 3 ]
echo file >"$T_DIR/afile"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/afile "$B10T" load >/dev/null 2>&1
ok "a load into a file: ERROR" [ $? -eq 1 ]
ok "one host file, one line per load and save" [ "$(records)" -eq 6 ]
ok "the host file is <host>.log in .b10t-stats" sh -c 'ls "$1" | grep -qxE "[a-z0-9-]+\.log"' - "$SD"
run stats --json --key "$key"
ok "stats of real runs: 1 hit, 1 skipped load, 1 error" \
	jq_is '"\(.total.load_hits) \(.total.load_skipped) \(.total.load_errors) \(.total.errors_by_kind.ENOTDIR)"' "1 1 1 1"
ok "stats of real runs: 1 save published, 1 skipped (already published)" \
	jq_is '"\(.total.save_published) \(.total.save_skipped) \(.total.skipped_by_reason.already_published)"' "1 1 1"
ok "stats of real runs: bytes served are the load's archive bytes" jq_is .total.bytes_served "$archive_bytes"
run stats --json
ok "stats of real runs: the other key's miss" jq_is '[.keys[] | select(.load_misses == 1)] | length' 1

# B10T_STATS=0: no record
n=$(records)
rm -rf "$C"
B10T_STATS=0 "$B10T" load >/dev/null 2>&1
ok "B10T_STATS=0: load SUCCESS" [ $? -eq 0 ]
ok "B10T_STATS=0: no record" [ "$(records)" -eq "$n" ]
run load --stats=0
ok "--stats 0 as an option: no record either" [ "$(records)" -eq "$n" ]
B10T_STATS=maybe "$B10T" load >/dev/null 2>"$T_DIR/err"
ok "B10T_STATS=maybe: exit 1, the variable named" sh -c '[ $1 -eq 1 ] && grep -q B10T_STATS "$2"' - $? "$T_DIR/err"
B10T_STATS=maybe "$B10T" stats >/dev/null 2>&1
ok "B10T_STATS=maybe does not break b10t stats, which does not read it" [ $? -eq 0 ]

# the sidecar's load leaves its record too
n=$(records)
run vllm --json --timeout 0 --url http://127.0.0.1:1/ --cache-dir "$T_DIR/vc"
if [ "$rc" -eq 0 ]; then
	ok "vllm's load of the published key: one more record" [ "$(records)" -eq $((n + 1)) ]
	ok "vllm's record: a load that hit" sh -c 'tail -n 1 "$1"/*.log | grep -q " load hit - "' - "$SD"
else
	echo "# skipped vllm's record: b10t vllm cannot run here (exit $rc)"
fi

# ---- a store where no record can be written: the load is the same --------------
rm -rf "$C" "$SD"
B10T_STATS=0 "$B10T" load --json=short >"$T_DIR/want" 2>"$T_DIR/want.err"
want_rc=$?
rm -rf "$C"
echo "not a dir" >"$SD"	# .b10t-stats a file: every record fails (ENOTDIR)
"$B10T" load --json=short >"$T_DIR/got" 2>"$T_DIR/got.err"
got_rc=$?
ok "records failing (stats dir a file): load still SUCCESS" [ "$got_rc" -eq 0 ]
ok "records failing: the same exit code as without statistics" [ "$got_rc" -eq "$want_rc" ]
ok "records failing: the same JSON but the time" \
	sh -c 'jq -S "del(.elapsed_s)" "$1" >"$1.a"; jq -S "del(.elapsed_s)" "$2" >"$2.a"; cmp -s "$1.a" "$2.a"' - "$T_DIR/want" "$T_DIR/got"
ok "records failing: nothing on stderr" [ ! -s "$T_DIR/got.err" ]
ok "records failing: the file is untouched" [ "$(cat "$SD")" = "not a dir" ]
rm -f "$SD"
mkdir -p "$T_DIR/elsewhere"
ln -s "$T_DIR/elsewhere" "$SD"	# a symlink at the stats dir's name: never followed
rm -rf "$C"
"$B10T" load >/dev/null 2>&1
ok "stats dir a symlink: load SUCCESS" [ $? -eq 0 ]
ok "stats dir a symlink: no record where it points" [ -z "$(ls -A "$T_DIR/elsewhere")" ]
rm -f "$SD"
if [ "$(id -u)" != 0 ]; then
	rm -rf "$C"
	chmod a-w "$S"
	"$B10T" load >/dev/null 2>"$T_DIR/err"
	rc=$?
	chmod u+w "$S"
	ok "read-only store: load SUCCESS, nothing on stderr" sh -c '[ $1 -eq 0 ] && [ ! -s "$2" ]' - $rc "$T_DIR/err"
	ok "read-only store: no stats dir" [ ! -e "$SD" ]
elif command -v unshare >/dev/null && unshare -m true 2>/dev/null; then
	rm -rf "$C"
	unshare -m sh -c 'mount --bind "$1" "$1" && mount -o remount,ro,bind "$1" && exec "$2" load' \
		- "$S" "$B10T" >/dev/null 2>"$T_DIR/err"
	rc=$?
	ok "read-only store (ro bind mount): load SUCCESS, nothing on stderr" \
		sh -c '[ $1 -eq 0 ] && [ ! -s "$2" ]' - $rc "$T_DIR/err" || sed 's/^/#   /' "$T_DIR/err"
	ok "read-only store: no stats dir" [ ! -e "$SD" ]
else
	echo "# skipped the read-only store: no unshare -m as root here"
fi

# ---- a save failed on a full disk leaves no record --------------------------------
if [ "$(id -u)" = 0 ] && mkdir -p "$T_DIR/tiny" &&
   mount -t tmpfs -o size=8m tmpfs "$T_DIR/tiny" 2>/dev/null; then
	trap 'umount "$T_DIR/tiny"; rm -rf "$T_DIR"' EXIT
	rm -rf "$C" && mkdir -p "$C" && echo small >"$C/f"
	B10FS_CACHE_DIR=$T_DIR/tiny "$B10T" save >/dev/null 2>&1
	ok "full disk: a first small save leaves its record" [ "$(cat "$T_DIR"/tiny/.b10t-stats/*.log | wc -l)" -eq 1 ]
	# the store's names and the stats files: names, sizes, mtimes in ns
	listing() { ls -l --time-style=+%s.%N "$1" "$1/.b10t-stats" | md5sum; }
	before=$(listing "$T_DIR/tiny")
	rm -rf "$C" && mkdir -p "$C" && head -c 20000000 /dev/urandom >"$C/big"
	B10T_TORCH_VERSION=8.8.8 B10FS_CACHE_DIR=$T_DIR/tiny "$B10T" save >/dev/null 2>"$T_DIR/err"
	rc=$?
	ok "full disk: the big save is an ERROR, no space" sh -c '[ $1 -eq 1 ] && grep -q "No space left" "$2"' - $rc "$T_DIR/err"
	ok "full disk: the store as before, its stats file too (no record)" \
		[ "$(listing "$T_DIR/tiny")" = "$before" ]
else
	echo "# skipped the full disk: needs root and a tmpfs"
fi

# ---- gc bounds the files -------------------------------------------------------------
rm -rf "$SD" && mkdir -p "$SD"
python3 - "$SD/bigg.log" "$now_ms" <<'EOF'
import sys
path, now = sys.argv[1], int(sys.argv[2])
with open(path, 'w') as f:
	for i in range(20000):	# ~1.5 MiB, the newest last
		f.write('b10t1 %d bigg load hit - 1 %d 3333333333333333\n' % (now - 20000 + i, i))
EOF
size_before=$(stat -c %s "$SD/bigg.log")
last=$(tail -n 1 "$SD/bigg.log")
echo "b10t1 $now_ms smallh load hit - 1 1 3333333333333333" >"$SD/smallh.log"
touch -d '100 days ago' "$SD/smallh.log"
echo junk >"$SD/.tmp.x.1.2" && touch -d '1 hour ago' "$SD/.tmp.x.1.2"
run gc --dry-run --json
ok "gc --dry-run reports the trim" jq_is '[.removed[] | select(.filename == ".b10t-stats/bigg.log") | .reason] | join(",")' stats-trim
ok "gc --dry-run changes nothing" [ "$(stat -c %s "$SD/bigg.log")" -eq "$size_before" ]
run gc --json
ok "gc: exit 0" expect_rc 0
ok "gc trims a host file past 1 MiB (reported, with the bytes freed)" \
	jq_is '[.removed[] | select(.reason == "stats-trim") | .bytes > 0] | join(",")' true
ok "gc: the trimmed file is at most half of 1 MiB" [ "$(stat -c %s "$SD/bigg.log")" -le 524288 ]
ok "gc: the newest record is kept, last" [ "$(tail -n 1 "$SD/bigg.log")" = "$last" ]
ok "gc removes the file of a host idle for 100 days" [ ! -e "$SD/smallh.log" ]
ok "gc reports it" jq_is '[.removed[] | select(.reason == "stats-idle") | .filename] | join(",")' ".b10t-stats/smallh.log"
ok "gc removes a dead temp of the stats dir" [ ! -e "$SD/.tmp.x.1.2" ]
kept=$(wc -l <"$SD/bigg.log")
run stats --json
ok "stats after the trim counts what was kept" jq_is .records "$kept"
run stats --zero
run gc --json
ok "gc after --zero drops the records before it" [ ! -e "$SD/bigg.log" ]
ok "gc after --zero: reported" jq_is '[.removed[] | select(.filename == ".b10t-stats/bigg.log") | .reason] | join(",")' stats-zeroed
ok "gc leaves the zero marker" [ -f "$SD/zero" ]

# ---- a storm of 64 mixed processes: the counts equal what they reported ----------------
rm -rf "$SD"
mkdir -p "$T_DIR/storm"
python3 "$SRCDIR/cli/stats_storm.py" 64 "$T_DIR/storm" >"$T_DIR/storm.out" 2>&1
ok "the storm ran" [ $? -eq 0 ] || sed 's/^/#   /' "$T_DIR/storm.out"
while IFS='	' read -r res what; do
	case $res in
	ok) ok "$what" true ;;
	fail) ok "$what" false ;;
	*) echo "$res${what:+ $what}" ;;
	esac
done <"$T_DIR/storm.out"

done_testing
