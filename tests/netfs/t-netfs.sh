#!/bin/sh
# The store on a real network filesystem, seen by two clients (two mounts
# of one share, each with its own client cache): t-netfs.sh FS, FS one of
# juicefs, sshfs, gluster, rclone (started by netfs.sh beside this file).
#
#   1. 16 saves of one key race, half through each client: one SUCCESS.
#   2. Loads spin on client 2 while client 1 publishes: each load finds
#      nothing or the whole tree.
#   3. Evict and republish in a reused store: client 1 removes the archive
#      (gc eviction, then rm) and publishes other content; client 2, whose
#      cache saw the old file, loads.
#   4. Swing: republish a large and a small tree in turn, client 2 loads
#      after each: its cached size is now too large, now too small.
#   5. Last use across clients: client 2 loads an old archive; through
#      client 1, list's created_time stays and gc sees the use.
#   6. gc --stale 0s on client 1 while a (slowed) save runs on client 2:
#      the upload stays and the save succeeds.
#
# Counts go to the log as "# ..." lines.  Assertions of bugs that issue 11
# describes and the current b10t still has are TAP TODO when they fail
# ("not ok N - ... # TODO no-link publish, issue 11"): the suite documents
# them without failing.  They print plain "ok" when they pass, so a fix
# shows.  The stale-view assertions of part 3 (no good archive moved aside,
# not cold, heals) are plain: load re-checks before moving aside.
FS=${1:?usage: t-netfs.sh juicefs|sshfs|gluster|rclone}
HERE=$(cd "$(dirname "$0")" && pwd)
: "${SRCDIR:=$HERE/..}"
. "$HERE/../cli/lib.sh"

T_TODO=0
# todo_ok REASON DESC CMD...: ok, but a failure is a known bug (TAP TODO).
todo_ok() {
	reason=$1 desc=$2; shift 2
	T_N=$((T_N + 1))
	if "$@"; then
		echo "ok $T_N - $desc"
		return 0
	fi
	echo "not ok $T_N - $desc # TODO $reason"
	T_TODO=$((T_TODO + 1))
	return 1
}
# rclone has neither link() nor RENAME_NOREPLACE: save refuses to publish
# there, by design (a mkdir claim is not exclusive across rclone clients:
# docs/store-protocol.md), so every assertion that needs a publish stays
# TODO; the refusal itself is checked below. The store heals only where
# save can publish.
NOPUB="no-link publish: save refuses on rclone by design, issue 11"
if [ "$FS" = rclone ]; then
	pub_ok() { todo_ok "$NOPUB" "$@"; }
	heal_ok() { todo_ok "$NOPUB" "$@"; }
else
	pub_ok() { ok "$@"; }
	heal_ok() { ok "$@"; }
fi

now() { date +%s.%N; }
since() { awk "BEGIN { printf \"%.1f\", $(now) - $1 }"; }

NETFS=$HERE/netfs.sh
FSDIR=$T_DIR/fs
# Stop (a no-op when nothing started) before the sandbox is removed, also
# on a timeout (meson sends TERM) or ^C.
trap '"$NETFS" stop "$FS" "$FSDIR" 2>&1 | sed "s/^/# /"; rm -rf "$T_DIR"' EXIT
trap 'exit 143' TERM INT HUP
t0=$(now)
"$NETFS" start "$FS" "$FSDIR" >"$T_DIR/mounts" 2>"$T_DIR/netfs.log"
rc=$?
sed 's/^/# /' "$T_DIR/netfs.log"
[ $rc = 77 ] && skip_all "$FS: $(grep SKIP: "$T_DIR/netfs.log" | tail -1 | sed 's/.*SKIP: //')"
[ $rc = 0 ] || { echo "Bail out! netfs.sh start $FS failed (exit $rc)"; exit 1; }
M1=$(sed -n 1p "$T_DIR/mounts") M2=$(sed -n 2p "$T_DIR/mounts")
echo "# $FS: setup $(since "$t0") s, client 1 $M1, client 2 $M2"

KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
NAME=cache_$KEY.latest.tar.lz4

# visible PATH: PATH exists, waiting out the client caches (30 s at most).
visible() {
	i=0
	while [ ! -e "$1" ]; do
		i=$((i + 1)); [ $i -le 300 ] || return 1; sleep 0.1
	done
}

# ---- 0. b10t doctor on both clients: what the filesystem can do
for c in 1 2; do
	if [ $c = 1 ]; then st=$M1; else st=$M2; fi
	"$B10T" doctor --json --store "$st" >"$T_DIR/doctor$c.json" 2>"$T_DIR/doctor$c.err"
	drc=$?
	echo "# doctor client $c: exit $drc, $(jq -r '"fstype \(.store.fstype), publish \(.publish_path), renameat2 \(.probe.renameat2_noreplace.ok), link \(.probe.link.ok), st_nlink \(.probe.st_nlink.value // "-"), O_EXCL \(.probe.o_excl.ok), fsync \(.probe.fsync.ok), atime kept \(.probe.atime.ok) (moves mtime \(.probe.atime.moves_mtime)), inodes free \(.store.inodes_free)"' "$T_DIR/doctor$c.json")"
	if [ "$FS" = rclone ]; then
		ok "doctor client $c: cannot publish, exit 1" sh -c '[ "$1" = 1 ] && [ "$(jq -r .publish_path "$2")" = none ]' - "$drc" "$T_DIR/doctor$c.json"
	else
		ok "doctor client $c: can publish, exit 0" sh -c '[ "$1" = 0 ] && [ "$(jq -r .can_publish "$2")" = true ]' - "$drc" "$T_DIR/doctor$c.json"
	fi
	ok "doctor client $c: fstype fuse.*" sh -c 'jq -r .store.fstype "$1" | grep -q "^fuse\."' - "$T_DIR/doctor$c.json"
	ok "doctor client $c: no probe dir left" sh -c '! ls -A "$1" | grep -q b10t-doctor' - "$st"
done

# One store dir per part, so each part starts from a fresh store.
for s in race spin cycle use live; do mkdir "$M1/$s" || { echo "Bail out! mkdir $M1/$s"; exit 1; }; done
for s in race spin cycle use live; do visible "$M2/$s" || { echo "Bail out! $M2/$s never appeared"; exit 1; }; done

# mktree DIR SEED BLOB_KB NFILES: a sample cache tree, different per seed.
mktree() {
	mkdir -p "$1/a/b"
	python3 -c 'import random, sys
random.seed(int(sys.argv[2]))
open(sys.argv[1] + "/a/b/blob", "wb").write(random.randbytes(int(sys.argv[3]) * 1024))' \
		"$1" "$2" "$3"
	for i in $(seq 1 "$4"); do echo "kernel $i of tree $2" >"$1/a/k$i.py"; done
	ln -s b/blob "$1/a/link"
}
treeq() { python3 "$SRCDIR/cli/treecmp.py" "$@" >/dev/null; }

# b CLIENT CACHE VERB [ARGS]: b10t through client 1 or 2, output in $OUT
b() {
	c=$1 cache=$2; shift 2
	if [ "$c" = 1 ]; then st=$M1; else st=$M2; fi
	FULL=$(TORCHINDUCTOR_CACHE_DIR=$cache B10FS_CACHE_DIR=$st/$PART "$B10T" "$@" 2>&1)
	rc=$?
	OUT=$(printf '%s\n' "$FULL" | tail -1)
}
squeeze() {	# squeeze WORD...: runs of one word as WORDxN
	printf '%s\n' "$@" | uniq -c | awk '{ printf " %sx%s", $2, $1 }'
}
status_of() {	# status_of RC: the status word for an exit code
	case $1 in 0) echo SUCCESS ;; 1) echo ERROR ;; 2) echo USAGE ;;
	3) echo DOES_NOT_EXIST ;; 4) echo SKIPPED ;; *) echo "exit$1" ;; esac
}

# ---- 1. 16 saves of one key race across the two clients
PART=race
N=16
mktree "$T_DIR/src" 1 2048 100
for i in $(seq 0 $((N - 1))); do
	mkdir -p "$T_DIR/save$i" && cp -a "$T_DIR/src" "$T_DIR/save$i/cache"
done
t1=$(now)
python3 "$HERE/fleet.py" save $N "$B10T" "$T_DIR" "$M1/race" "$M2/race" >"$T_DIR/codes"
succ=$(awk '$3 == 0' "$T_DIR/codes" | wc -l)
skip=$(awk '$3 == 4' "$T_DIR/codes" | wc -l)
err=$(awk '$3 != 0 && $3 != 4' "$T_DIR/codes" | wc -l)
echo "# race: $N saves in $(since "$t1") s: $succ SUCCESS, $skip SKIPPED, $err other"
echo "# race: client 1 $(awk '$2 == 1 && $3 == 0' "$T_DIR/codes" | wc -l) SUCCESS," \
	"client 2 $(awk '$2 == 2 && $3 == 0' "$T_DIR/codes" | wc -l) SUCCESS;" \
	"$(grep -c meanwhile "$T_DIR/codes") lost the publish race itself"
# The failures, one line per client and message, with their count.
[ "$err" = 0 ] || awk '$3 != 0 && $3 != 4 { c = $2; r = $3; $1 = $2 = $3 = ""
	sub(/^ +/, ""); print "client " c ", exit " r ": " $0 }' "$T_DIR/codes" |
	sort | uniq -c | sed 's/^ */# race: /; s/^# race: \([0-9]*\) /# race: \1x /'
if [ "$FS" = rclone ]; then
	refused=$(grep -c "this filesystem cannot publish without replacing (no RENAME_NOREPLACE: .*; no link(): .*): .*see b10t doctor" "$T_DIR/codes")
	echo "# race: $refused of $N saves refused: the filesystem cannot publish"
	ok "rclone: every save refused in one line naming why and b10t doctor" [ "$refused" = "$N" ]
fi
pub_ok "$N saves across two clients: exactly one SUCCESS" [ "$succ" = 1 ]
pub_ok "... the other $((N - 1)) SKIPPED" [ "$skip" = $((N - 1)) ]
sleep 2	# past the clients' attribute and directory caches
ls -A "$M1/race" >"$T_DIR/ls1"; ls -A "$M2/race" >"$T_DIR/ls2"
echo "# race: store through client 1: $(tr '\n' ' ' <"$T_DIR/ls1")"
echo "# race: store through client 2: $(tr '\n' ' ' <"$T_DIR/ls2")"
pub_ok "... one archive in the store, as both clients see it" \
	sh -c '[ "$(cat "$1")" = "$3" ] && [ "$(cat "$2")" = "$3" ]' - "$T_DIR/ls1" "$T_DIR/ls2" "$NAME"
ok "... no upload or probe dir left behind" sh -c '! grep -qE "incomplete|b10t-doctor" "$1" "$2"' - "$T_DIR/ls1" "$T_DIR/ls2"
if [ "$FS" = rclone ]; then
	# Why save has no mkdir-claim fallback here: is a mkdir of one name,
	# racing across the two clients, exclusive? (A count, not an assertion:
	# rclone's property, not b10t's.)
	wins=""
	for r in 1 2 3 4 5; do
		w=$(for i in $(seq 0 15); do
			if [ $((i % 2)) = 0 ]; then m=$M1; else m=$M2; fi
			(mkdir "$m/race/claim$r" 2>/dev/null && echo w) &
		done; wait)
		wins="$wins $(printf '%s\n' "$w" | grep -c w)"
	done
	echo "# claim: 16 mkdirs of one name racing across the two clients, winners per round:$wins"
	rmdir "$M1/race"/claim* 2>/dev/null
fi

# ---- 2. loads spin on client 2 while client 1 publishes
PART=spin
NL=8
t1=$(now)
python3 "$HERE/fleet.py" spin $NL "$B10T" "$T_DIR" "$M2/spin" "$M1/spin" "$T_DIR/src" 30 \
	>"$T_DIR/spin"
saverc=$(awk '$1 == "save" { print $2 }' "$T_DIR/spin")
got=$(awk '$1 != "save" && $2 == 0' "$T_DIR/spin" | wc -l)
dne=$(awk '$1 != "save" && $2 == 3' "$T_DIR/spin" | wc -l)
other=$(awk '$1 != "save" && $2 != 0 && $2 != 3' "$T_DIR/spin" | wc -l)
tries=$(awk '$1 != "save" { n += $3 } END { print n + 0 }' "$T_DIR/spin")
echo "# spin: $NL loads on client 2 ($tries attempts) during a save on client 1," \
	"$(since "$t1") s: save $(status_of "$saverc"); loads $got SUCCESS, $dne DOES_NOT_EXIST, $other other"
[ "$other" = 0 ] || awk '$1 != "save" && $2 != 0 && $2 != 3' "$T_DIR/spin" | sed 's/^/# spin: /'
pub_ok "the save on client 1 during the loads: SUCCESS" [ "$saverc" = 0 ]
ok "every load on client 2: SUCCESS or DOES_NOT_EXIST" [ "$other" = 0 ]
loaded=$(for i in $(seq 0 $((NL - 1))); do
	[ -e "$T_DIR/load$i/cache" ] && echo "$T_DIR/load$i/cache"; done)
bad=0
[ -z "$loaded" ] || python3 "$SRCDIR/cli/treecmp.py" "$T_DIR/src" $loaded || bad=1
ok "every tree loaded on client 2 is the saved one" [ "$bad" = 0 ]
pub_ok "client 2 got the archive once it was published" [ "$got" -gt 0 ]
ok "no archive moved aside" sh -c '! ls -A "$1" | grep -q corrupt' - "$M1/spin"

# ---- 3. evict and republish in a reused store, loads on client 2
PART=cycle
CYCLES=4
HEAL=30
t1=$(now)
mktree "$T_DIR/tree0" 100 1024 50
b 1 "$T_DIR/tree0" save -q
pub_ok "cycle 0: client 1 publishes tree 0" [ "$rc" = 0 ]
b 2 "$T_DIR/c0load" load -q
echo "# cycle 0: client 2 load: $(status_of $rc): $OUT"
pub_ok "cycle 0: client 2 loads tree 0" sh -c '[ "$1" = 0 ] && python3 "$2" "$3" "$4" >/dev/null' \
	- "$rc" "$SRCDIR/cli/treecmp.py" "$T_DIR/tree0" "$T_DIR/c0load"
rm -rf "$T_DIR/c0load"
n_retry=0 n_err=0 n_aside=0 n_good_aside=0 n_stale=0 n_cold=0 n_first_ok=0 n_unhealed=0
for k in $(seq 1 $CYCLES); do
	# Each tree larger than the last: a client that keeps the old size reads
	# the new file short.
	mktree "$T_DIR/tree$k" $((100 + k)) $((1024 + 512 * k)) $((50 + 10 * k))
	aside0=$(ls -A "$M1/cycle" | grep -c corrupt)
	if [ $((k % 2)) = 1 ]; then
		how="gc eviction"
		b 1 "$T_DIR/tree$((k - 1))" gc -q --all --stale 0s --max-size 0
	else
		how="rm"
		rm -f "$M1/cycle/$NAME"
	fi
	ok "cycle $k: client 1 evicts the archive ($how)" [ ! -e "$M1/cycle/$NAME" ]
	b 1 "$T_DIR/tree$k" save -q
	save1=$(status_of $rc)
	pub_ok "cycle $k: client 1 publishes tree $k" [ "$rc" = 0 ]

	# Client 2, whose cache saw the old archive, loads right after (not
	# quiet: a retry after a stale view is a warning).
	b 2 "$T_DIR/c${k}load" load
	first=$rc firstmsg=$OUT stale=0
	retry=$(printf '%s\n' "$FULL" | grep -o 'the store changed while loading ([^)]*)' | head -1)
	[ -n "$retry" ] && n_retry=$((n_retry + 1))
	[ "$rc" = 1 ] && n_err=$((n_err + 1))
	if [ "$rc" = 0 ]; then
		if treeq "$T_DIR/tree$k" "$T_DIR/c${k}load"; then n_first_ok=$((n_first_ok + 1))
		else stale=1 n_stale=$((n_stale + 1)); fi
	fi
	ok "cycle $k: client 2's first load is the new tree or DOES_NOT_EXIST, no ERROR" \
		[ "$first" = 3 -o "$first" = 0 -a "$stale" = 0 ]

	# Was a good archive moved aside?  Load each new corrupt.* from a
	# private store: a SUCCESS with tree k means it was the good one.
	ls -A "$M1/cycle" | grep corrupt >"$T_DIR/aside.now"
	aside=$(($(grep -c . "$T_DIR/aside.now") - aside0))
	good=0
	for f in $(cat "$T_DIR/aside.now"); do
		grep -qx "$f" "$T_DIR/aside.seen" 2>/dev/null && continue
		echo "$f" >>"$T_DIR/aside.seen"
		rm -rf "$T_DIR/probe"; mkdir -p "$T_DIR/probe/store"
		cp "$M1/cycle/$f" "$T_DIR/probe/store/$NAME"
		TORCHINDUCTOR_CACHE_DIR=$T_DIR/probe/cache B10FS_CACHE_DIR=$T_DIR/probe/store \
			"$B10T" load -q >/dev/null 2>&1 &&
			treeq "$T_DIR/tree$k" "$T_DIR/probe/cache" && good=$((good + 1))
	done
	n_aside=$((n_aside + aside)) n_good_aside=$((n_good_aside + good))
	ok "cycle $k: no good archive moved aside" [ "$good" = 0 ]

	# The fleet must not go cold: the writer's client must not answer
	# SKIPPED while the reader's answers DOES_NOT_EXIST.
	b 1 "$T_DIR/tree$k" save -q
	save1b=$(status_of $rc)
	b 2 "$T_DIR/c${k}load2" load -q
	load2=$(status_of $rc)
	cold=0
	[ "$save1b" = SKIPPED ] && [ "$load2" = DOES_NOT_EXIST ] && cold=1 n_cold=$((n_cold + 1))
	ok "cycle $k: not cold (client 1 save $save1b, client 2 load $load2)" [ "$cold" = 0 ]

	# Heal as a fleet would: client 2 loads into a fresh dir, client 1
	# saves again after each miss, until client 2 gets tree k.
	i=0 healed=1 trail= giveup=
	while :; do
		rm -rf "$T_DIR/c${k}retry"
		b 2 "$T_DIR/c${k}retry" load -q
		l=$rc
		[ "$l" = 0 ] && treeq "$T_DIR/tree$k" "$T_DIR/c${k}retry" && break
		b 1 "$T_DIR/tree$k" save -q
		trail="$trail $(status_of $l | cut -c1-4)/$(status_of $rc | cut -c1-4)"
		i=$((i + 1))
		# Three saves in a row that fail: nothing will publish, stop.
		case $trail in */ERRO\ ????/ERRO\ ????/ERRO) giveup=" (stopped: saves fail)" ;; esac
		[ $i -lt $HEAL ] && [ -z "$giveup" ] || { healed=0 n_unhealed=$((n_unhealed + 1)); break; }
		sleep 1
	done
	heal_ok "cycle $k: the store heals: client 2 loads tree $k within ${HEAL} s" [ "$healed" = 1 ]

	echo "# cycle $k ($how, tree $k): client 1 save $save1; client 2 first load" \
		"$(status_of "$first")$([ $stale = 1 ] && echo ' (OLD TREE)'): $firstmsg${retry:+ (after a retry: $retry)}"
	echo "# cycle $k: $aside moved aside ($good of them good archives of tree $k);" \
		"then client 1 save $save1b, client 2 load $load2$([ $cold = 1 ] && echo ' (COLD)');" \
		"healed after $i rounds$([ $healed = 0 ] && echo " (NOT healed)$giveup")${trail:+ (load/save:$(squeeze $trail))}"
	echo "# cycle $k: store: $(ls -A "$M1/cycle" | tr '\n' ' ')"
	rm -rf "$T_DIR/c${k}load" "$T_DIR/c${k}load2" "$T_DIR/c${k}retry"
done
echo "# evict/republish: $CYCLES cycles in $(since "$t1") s: $n_first_ok first loads" \
	"got the new tree ($n_retry after a retry on a stale view), $n_err ERROR, $n_stale old tree; $n_aside moved aside," \
	"$n_good_aside of them good; $n_cold cold; $n_unhealed not healed in ${HEAL} s"

# ---- 4. republish smaller and larger in turn, loads on client 2 at once
# Part 3 grows the tree each cycle; here it alternates, so client 2's
# cached size is now larger, now smaller than the new file's.  Wanted:
# every load the new tree or DOES_NOT_EXIST (a publish not seen yet),
# nothing moved aside.
PART=swing
mkdir "$M1/swing" && visible "$M2/swing" || { echo "Bail out! $M2/swing never appeared"; exit 1; }
SWING=8
t1=$(now)
sw_new=0 sw_retry=0 sw_dne=0 sw_bad=0 sw_aside=0 sw_trail=
for k in $(seq 0 $SWING); do
	kb=$([ $((k % 2)) = 0 ] && echo 3072 || echo 256)
	mktree "$T_DIR/sw$k" $((200 + k)) "$kb" $((20 + k))
	rm -f "$M1/swing/$NAME"
	b 1 "$T_DIR/sw$k" save -q
	[ "$rc" = 0 ] || { sw_trail="$sw_trail save$k:$(status_of $rc)"; rm -rf "$T_DIR/sw$k"; continue; }
	b 2 "$T_DIR/swl" load
	l=$rc
	printf '%s\n' "$FULL" | grep -q 'the store changed while loading' && sw_retry=$((sw_retry + 1))
	if [ "$l" = 0 ] && treeq "$T_DIR/sw$k" "$T_DIR/swl"; then sw_new=$((sw_new + 1))
	elif [ "$l" = 3 ]; then sw_dne=$((sw_dne + 1))
	else sw_bad=$((sw_bad + 1)) sw_trail="$sw_trail load$k:$(status_of $l)"; fi
	sw_aside=$((sw_aside + $(ls -A "$M1/swing" | grep -c corrupt)))
	rm -f "$M1/swing/"*.corrupt.*
	rm -rf "$T_DIR/swl" "$T_DIR/sw$k"
done
echo "# swing: $((SWING + 1)) republishes (3 MiB and 256 KiB in turn) in $(since "$t1") s:" \
	"client 2 loads $sw_new new tree ($sw_retry after a retry), $sw_dne DOES_NOT_EXIST," \
	"$sw_bad other; $sw_aside moved aside${sw_trail:+ (${sw_trail# })}"
pub_ok "swing: client 2 loads every republished tree (or DOES_NOT_EXIST)" [ "$sw_bad" = 0 -a "$sw_new" -gt 0 ]
ok "swing: nothing moved aside" [ "$sw_aside" = 0 ]

# ---- 5. last use across clients: a load on client 2, seen on client 1
PART=use
# Published by a copy (a plain write works everywhere, rclone too), so this
# part does not depend on save's publish; made two days old, never used.
rm -rf "$T_DIR/usestore"; mkdir -p "$T_DIR/usestore"
mktree "$T_DIR/usetree" 200 64 5
TORCHINDUCTOR_CACHE_DIR=$T_DIR/usetree B10FS_CACHE_DIR=$T_DIR/usestore "$B10T" save -q
cp "$T_DIR/usestore/$NAME" "$M1/use/$NAME.tmp" && mv "$M1/use/$NAME.tmp" "$M1/use/$NAME"
touch -d '2 days ago' "$M1/use/$NAME"
# same_mtime FILE1 FILE2: until both clients show one mtime (30 s at most;
# rclone uploads a closed file 5 s later, then its directory cache is 2 s).
same_mtime() {
	i=0
	until [ -e "$2" ] && [ "$(stat -c %Y "$1")" = "$(stat -c %Y "$2")" ]; do
		i=$((i + 1)); [ $i -le 300 ] || return 1; sleep 0.1
	done
}
tw=$(now)
same_mtime "$M1/use/$NAME" "$M2/use/$NAME" || echo "# use: client 2 never saw the archive"
echo "# use: the archive reached client 2 in $(since "$tw") s"
sleep 2	# past the clients' attribute caches
l1() { TORCHINDUCTOR_CACHE_DIR=$T_DIR/uc1 B10FS_CACHE_DIR=$M1/use "$B10T" "$@" 2>/dev/null; }
c0=$(l1 list --json | jq '.caches[0].created_time')
m0=$(stat -c %Y "$M1/use/$NAME")
ev0=$(l1 gc --all --max-age 1h --dry-run --json | jq '[.removed[] | select(.reason == "max-age")] | length')
ok "use: before any load, gc on client 1 would evict the 2-day-old archive" [ "$ev0" = 1 ]
tl=$(date +%s)
b 2 "$T_DIR/useload" load -q
ok "use: client 2 loads it" sh -c '[ "$1" = 0 ] && python3 "$2" "$3" "$4" >/dev/null' \
	- "$rc" "$SRCDIR/cli/treecmp.py" "$T_DIR/usetree" "$T_DIR/useload"
tw=$(now)
same_mtime "$M2/use/cache_$KEY.used" "$M1/use/cache_$KEY.used" || echo "# use: client 1 never saw the marker"
echo "# use: the use marker reached client 1 in $(since "$tw") s"
sleep 2
c1=$(l1 list --json | jq '.caches[0].created_time')
u1=$(l1 list --json | jq '.caches[0].last_used')
gcj=$(l1 gc --all --max-age 1h --json)
echo "# use: created_time $c0 -> $c1 (archive mtime $m0 -> $(stat -c %Y "$M1/use/$NAME")), last_used $u1 (load at $tl); store: $(ls -A "$M1/use" | tr '\n' ' ')"
ok "use: created_time on client 1 does not move after client 2's load" [ "$c1" = "$c0" ]
ok "use: nor does the archive's mtime" [ "$(stat -c %Y "$M1/use/$NAME")" = "$m0" ]
ok "use: client 1's list shows the load as last_used" [ "$u1" -ge $((tl - 2)) ]
ok "use: gc --max-age 1h on client 1 keeps the archive client 2 just used" \
	sh -c '[ "$(printf "%s" "$1" | jq .kept)" = 1 ] && [ -e "$2" ]' - "$gcj" "$M1/use/$NAME"

# ---- 6. gc --stale 0s on client 1 during a save on client 2
PART=live
mktree "$T_DIR/livetree" 300 16384 5
t1=$(now)
if command -v strace >/dev/null; then
	# Slow the save's writes down (4 or so writev of 4 MiB, 1 s each).
	ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/livetree B10FS_CACHE_DIR=$M2/live strace -f -o /dev/null \
		-e trace=writev -e inject=writev:delay_enter=1000000 "$B10T" save -q \
		>"$T_DIR/live.out" 2>&1 &
else
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/livetree B10FS_CACHE_DIR=$M2/live "$B10T" save -q \
		>"$T_DIR/live.out" 2>&1 &
fi
spid=$!
# Wait for the upload through the writer's own client (its cache knows its
# own create); client 1 lists the dir first in gc itself, so no cached
# listing of client 1 (sshfs keeps one 20 s) can hide the upload from gc.
i=0
while [ $i -lt 100 ] && kill -0 $spid 2>/dev/null; do
	ls -A "$M2/live" | grep -q incomplete && break
	i=$((i + 1)); sleep 0.1
done
sleep 1
gcj=$(TORCHINDUCTOR_CACHE_DIR=$T_DIR/lc1 B10FS_CACHE_DIR=$M1/live "$B10T" gc --stale 0s -v --json 2>"$T_DIR/live.gc")
seen=$(ls -A "$M1/live" | grep -c incomplete)
sed -n 's/^b10t gc: debug: /# live: gc: /p' "$T_DIR/live.gc" | grep -v 'local\|staging' | head -5
wait $spid; src=$?
gone=$(printf '%s' "$gcj" | jq '[.removed[]? | select(.reason == "incomplete")] | length')
echo "# live: client 1 saw the upload: $seen; gc --stale 0s removed $gone uploads; client 2 save $(status_of $src) in $(since "$t1") s: $(tail -1 "$T_DIR/live.out")"
ok "live: gc --stale 0s on client 1 removes no upload of a save in flight" [ "$gone" = 0 ]
pub_ok "live: the save on client 2 succeeds" [ "$src" = 0 ]

echo "# $FS: total $(since "$t0") s, $T_TODO known bugs (TODO)"

done_testing
