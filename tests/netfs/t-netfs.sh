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
#   6. gc --stale 0s on client 2 while a (slowed) save runs on client 1,
#      the upload's mtime set an hour back: gc sees it move, keeps it, and
#      the save succeeds.
#   7. kill -9 of save (client 1) and of load (client 2) at points spread
#      over their runs: in the pack, at each fsync, rename and link, and by
#      time.  Seen through the other client: nothing partial; then gc
#      removes the debris and the next save and load work.
#   7c. 16 updaters of one key (b10t update), half through each client,
#      loads meanwhile: every updater publishes, generations 2..17 each
#      once, every unique entry reaches the store once; on rclone, which
#      cannot publish, update refuses as save does and leaves nothing.
#   8. netfs.sh stop, then: no mount and no daemon of ours is left.
#
# The assertions go by behaviour (exit codes, JSON, the store's files by
# pattern), not by the store's exact names, so they hold for every store
# layout that keeps docs/store-protocol.md's guarantees.
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
# The legacy published name: every b10t reads it (store-protocol.md); used
# only to place an archive by hand.
NAME=cache_$KEY.latest.tar.lz4
# No call may hang the suite: each b10t and each look at a mount has a limit.
LIM=${NETFS_CALL_LIMIT:-120}
lsa() { timeout 30 ls -A "$@"; }
# archives DIR: the published archives in a store dir (names ending in an
# archive suffix that are neither uploads nor moved aside), by pattern.
archives() {
	lsa "$1" | grep -E '^cache_[A-Za-z0-9_-]+\..*\.tar\.(lz4|zst|gz)$' |
		grep -vE '\.incomplete|\.corrupt\.'
}
# debris DIR: what a save or doctor leaves in flight (uploads, claim temps,
# probe dirs).
debris() { lsa "$1" | grep -E '\.incomplete|b10t-doctor'; }
# evict DIR: remove the key's published files by hand (claims, archives),
# keeping the use marker and what was moved aside.  Claims sort first.
evict() {
	for f in $(lsa "$1" | grep "^cache_$KEY\." | grep -vE '\.used$|\.corrupt\.|\.incomplete'); do
		rm -f "$1/$f"
	done
}
# ncaches STORE: how many caches b10t list --json shows there.
ncaches() {
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/lscache B10FS_CACHE_DIR=$1 timeout "$LIM" "$B10T" list --json 2>/dev/null |
		jq '.caches | length'
}

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
PARTS="race spin cycle swing use kill"
for s in $PARTS; do mkdir "$M1/$s" || { echo "Bail out! mkdir $M1/$s"; exit 1; }; done
for s in $PARTS; do visible "$M2/$s" || { echo "Bail out! $M2/$s never appeared"; exit 1; }; done

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
# good_archive FILE TREE: FILE is a whole archive of TREE, judged by its
# bytes (decompressed by its suffix, untarred; b10t's own .b10t dir set
# aside), not by any name a load would look for.
good_archive() {
	rm -rf "$T_DIR/probe" "$T_DIR/probe.tar"; mkdir -p "$T_DIR/probe"
	case $1 in
	*.tar.lz4) dec="lz4 -dc" ;; *.tar.zst) dec="zstd -dc" ;; *.tar.gz) dec="gzip -dc" ;; *) return 1 ;;
	esac
	$dec <"$1" >"$T_DIR/probe.tar" 2>/dev/null && tar -xf "$T_DIR/probe.tar" -C "$T_DIR/probe" 2>/dev/null ||
		return 1
	rm -rf "$T_DIR/probe/.b10t"
	treeq "$2" "$T_DIR/probe"
}

# b CLIENT CACHE VERB [ARGS]: b10t through client 1 or 2, output in $OUT
b() {
	c=$1 cache=$2; shift 2
	if [ "$c" = 1 ]; then st=$M1; else st=$M2; fi
	FULL=$(TORCHINDUCTOR_CACHE_DIR=$cache B10FS_CACHE_DIR=$st/$PART timeout "$LIM" "$B10T" "$@" 2>&1)
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
lsa "$M1/race" >"$T_DIR/ls1"; lsa "$M2/race" >"$T_DIR/ls2"
echo "# race: store through client 1: $(tr '\n' ' ' <"$T_DIR/ls1")"
echo "# race: store through client 2: $(tr '\n' ' ' <"$T_DIR/ls2")"
a1=$(archives "$M1/race") a2=$(archives "$M2/race")
l1=$(ncaches "$M1/race") l2=$(ncaches "$M2/race")
echo "# race: archives through client 1: $(printf '%s\n' "$a1" | grep -c .), client 2: $(printf '%s\n' "$a2" | grep -c .); list --json: $l1 and $l2 caches"
pub_ok "... one archive in the store, the same through both clients" \
	sh -c '[ "$(printf "%s\n" "$1" | grep -c .)" = 1 ] && [ "$1" = "$2" ]' - "$a1" "$a2"
pub_ok "... list --json shows one cache through each client" [ "$l1" = 1 -a "$l2" = 1 ]
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
na=$(archives "$M1/spin" | grep -c .) nd=$(debris "$M1/spin" | grep -c .)
pub_ok "spin: one archive ($na)" [ "$na" = 1 ]
ok "spin: no upload left ($nd)" [ "$nd" = 0 ]

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
	aside0=$(lsa "$M1/cycle" | grep -c corrupt)
	if [ $((k % 2)) = 1 ]; then
		how="gc eviction"
		b 1 "$T_DIR/tree$((k - 1))" gc -q --all --stale 0s --max-size 0
	else
		how="rm"
		evict "$M1/cycle"
	fi
	na=$(archives "$M1/cycle" | grep -c .) nc=$(ncaches "$M1/cycle")
	ok "cycle $k: client 1 evicts the archive ($how): $na archives, list shows $nc" [ "$na" = 0 -a "$nc" = 0 ]
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
	lsa "$M1/cycle" | grep corrupt >"$T_DIR/aside.now"
	aside=$(($(grep -c . "$T_DIR/aside.now") - aside0))
	good=0
	for f in $(cat "$T_DIR/aside.now"); do
		grep -qx "$f" "$T_DIR/aside.seen" 2>/dev/null && continue
		echo "$f" >>"$T_DIR/aside.seen"
		good_archive "$M1/cycle/$f" "$T_DIR/tree$k" && good=$((good + 1))
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
SWING=8
t1=$(now)
sw_new=0 sw_retry=0 sw_dne=0 sw_bad=0 sw_aside=0 sw_trail=
for k in $(seq 0 $SWING); do
	kb=$([ $((k % 2)) = 0 ] && echo 3072 || echo 256)
	mktree "$T_DIR/sw$k" $((200 + k)) "$kb" $((20 + k))
	evict "$M1/swing"
	b 1 "$T_DIR/sw$k" save -q
	[ "$rc" = 0 ] || { sw_trail="$sw_trail save$k:$(status_of $rc)"; rm -rf "$T_DIR/sw$k"; continue; }
	b 2 "$T_DIR/swl" load
	l=$rc
	printf '%s\n' "$FULL" | grep -q 'the store changed while loading' && sw_retry=$((sw_retry + 1))
	if [ "$l" = 0 ] && treeq "$T_DIR/sw$k" "$T_DIR/swl"; then sw_new=$((sw_new + 1))
	elif [ "$l" = 3 ]; then sw_dne=$((sw_dne + 1))
	else sw_bad=$((sw_bad + 1)) sw_trail="$sw_trail load$k:$(status_of $l)"; fi
	sw_aside=$((sw_aside + $(lsa "$M1/swing" | grep -c corrupt)))
	rm -f "$M1/swing/"*.corrupt.*
	rm -rf "$T_DIR/swl" "$T_DIR/sw$k"
done
echo "# swing: $((SWING + 1)) republishes (3 MiB and 256 KiB in turn) in $(since "$t1") s:" \
	"client 2 loads $sw_new new tree ($sw_retry after a retry), $sw_dne DOES_NOT_EXIST," \
	"$sw_bad other; $sw_aside moved aside${sw_trail:+ (${sw_trail# })}"
pub_ok "swing: client 2 loads every republished tree (or DOES_NOT_EXIST)" [ "$sw_bad" = 0 -a "$sw_new" -gt 0 ]
ok "swing: nothing moved aside" [ "$sw_aside" = 0 ]

# ---- 5. last use across clients, on a mount that keeps no atime
PART=use
# Published by copying a store made locally (a plain write works
# everywhere, rclone too), so this part does not depend on save's publish:
# key A made two days old, key B (another torch version) one day old, both
# never used.  Archives first, then the rest (claims), as a publish does.
rm -rf "$T_DIR/usestore"; mkdir -p "$T_DIR/usestore"
mktree "$T_DIR/usetree" 200 64 5
TORCHINDUCTOR_CACHE_DIR=$T_DIR/usetree B10FS_CACHE_DIR=$T_DIR/usestore "$B10T" save -q >/dev/null
KEYB=$(B10T_TORCH_VERSION=2.4.1 "$B10T" envkey)
B10T_TORCH_VERSION=2.4.1 TORCHINDUCTOR_CACHE_DIR=$T_DIR/usetree B10FS_CACHE_DIR=$T_DIR/usestore \
	"$B10T" save -q >/dev/null
for f in $(archives "$T_DIR/usestore") $(ls -A "$T_DIR/usestore" | grep -vE '\.tar\.|\.used$'); do
	cp "$T_DIR/usestore/$f" "$M1/use/.tmp.$f" && mv "$M1/use/.tmp.$f" "$M1/use/$f"
done
for f in $(ls -A "$T_DIR/usestore" | grep -v '\.used$'); do
	case $f in "cache_$KEY."*) touch -d '2 days ago' "$M1/use/$f" ;; *) touch -d '1 day ago' "$M1/use/$f" ;; esac
done
ARCH=$M1/use/$(archives "$T_DIR/usestore" | grep "^cache_$KEY\.")
# same_mtime FILE1 FILE2: until both clients show one mtime (30 s at most;
# rclone uploads a closed file 5 s later, then its directory cache is 2 s).
same_mtime() {
	i=0
	until [ -e "$2" ] && [ "$(stat -c %Y "$1")" = "$(stat -c %Y "$2")" ]; do
		i=$((i + 1)); [ $i -le 300 ] || return 1; sleep 0.1
	done
}
tw=$(now)
same_mtime "$ARCH" "$M2/use/${ARCH##*/}" || echo "# use: client 2 never saw the archive"
echo "# use: the archives reached client 2 in $(since "$tw") s"
sleep 2	# past the clients' attribute caches
l1() { TORCHINDUCTOR_CACHE_DIR=$T_DIR/uc1 B10FS_CACHE_DIR=$M1/use timeout "$LIM" "$B10T" "$@" 2>/dev/null; }
c0=$(l1 list --json | jq ".caches[] | select(.environment_key == \"$KEY\") | .created_time")
m0=$(stat -c %Y "$ARCH") a0=$(stat -c %X "$ARCH")
# Counted by key: a key's eviction removes its claims and its archives.
ev0=$(l1 gc --all --max-age 1h --dry-run --json |
	jq '[.removed[] | select(.reason == "max-age") | .filename | capture("^cache_(?<k>[A-Za-z0-9_-]+)\\.").k] | unique | length')
ok "use: before any load, gc on client 1 would evict both old keys by age ($ev0)" [ "$ev0" = 2 ]
tl=$(date +%s)
b 2 "$T_DIR/useload" load -q
ok "use: client 2 loads key A" sh -c '[ "$1" = 0 ] && python3 "$2" "$3" "$4" >/dev/null' \
	- "$rc" "$SRCDIR/cli/treecmp.py" "$T_DIR/usetree" "$T_DIR/useload"
tw=$(now)
same_mtime "$M2/use/cache_$KEY.used" "$M1/use/cache_$KEY.used" || echo "# use: client 1 never saw the marker"
echo "# use: the use marker reached client 1 in $(since "$tw") s"
sleep 2
c1=$(l1 list --json | jq ".caches[] | select(.environment_key == \"$KEY\") | .created_time")
u1=$(l1 list --json | jq ".caches[] | select(.environment_key == \"$KEY\") | .last_used")
a1=$(stat -c %X "$ARCH")
# LRU by the marker: room for one archive; B (newer, unused) must go, A
# (older, just used) stay.  By atime, mtime or creation A would go first.
room=$(l1 list --json | jq '[.caches[].archive_bytes] | max + 512')
gcj=$(l1 gc --all --max-size "$room" --json)
evicted=$(printf '%s' "$gcj" | jq -r '[.removed[] | select(.reason != "incomplete") | .filename] | join(" ")')
echo "# use: created_time $c0 -> $c1 (archive mtime $m0 -> $(stat -c %Y "$ARCH"), atime $a0 -> $a1: $([ "$a1" = "$a0" ] && echo 'not moved by the load' || echo moved)), last_used $u1 (load at $tl)"
echo "# use: gc --max-size $room on client 1 removed: $evicted; store: $(lsa "$M1/use" | tr '\n' ' ')"
ok "use: created_time on client 1 does not move after client 2's load" [ "$c1" = "$c0" ]
ok "use: nor does the archive's mtime" [ "$(stat -c %Y "$ARCH")" = "$m0" ]
ok "use: client 1's list shows the load as last_used" [ "${u1:-0}" -ge $((tl - 2)) ]
if [ "$FS" = juicefs ] || [ "$FS" = rclone ]; then
	# The case of issue 11: no atime here (juicefs mounts noatime, rclone
	# stores none), so only the marker can tell gc of the use.
	ok "use: the mount keeps no atime: the load left the archive's atime" [ "$a1" = "$a0" ]
fi
ok "use: gc --max-size (room for one) on client 1 keeps key A, just used on client 2" \
	sh -c '[ -e "$1" ] && ! printf "%s" "$2" | grep -q "cache_$3\."' - "$ARCH" "$evicted" "$KEY"
ok "use: ... and evicts key B, newer but never used" \
	sh -c 'printf "%s" "$1" | grep -q "cache_$2\."' - "$evicted" "$KEYB"

# ---- 6. gc --stale 0s on client 2 during a save on client 1
# Two cases, each a fresh store dir and a save slowed with strace (4 or so
# writev of 4 MiB, 1 s each), gc on client 2 once the upload shows:
#   plain: as it comes (issue 11's case);
#   aged:  the upload's mtime first set 30 minutes back through client 2,
#          so client 2's view of it is past every age rule (--stale 0s,
#          the 10 s floor) and only the live rule (its size or times move
#          during the pass) can keep it.  A client that caches attributes
#          (sshfs, 20 s) shows gc that old mtime, and no move, for as long.
#          Unless a write lands first and makes it young (the log says
#          "0 past every age rule"); juicefs's client 1 buffers its writes.
# live_case NAME: sets $gone (uploads gc removed), $src (the save's exit).
live_case() {
	PART=live-$1
	mkdir "$M1/$PART" && visible "$M2/$PART" || echo "# live $1: client 2 never saw $PART"
	t1=$(now)
	if command -v strace >/dev/null; then
		ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		TORCHINDUCTOR_CACHE_DIR=$T_DIR/livetree B10FS_CACHE_DIR=$M1/$PART timeout "$LIM" strace -f -o /dev/null \
			-e trace=writev -e inject=writev:delay_enter=1000000 "$B10T" save -q \
			>"$T_DIR/live.out" 2>&1 &
	else
		echo "# live $1: no strace: the save runs at full speed"
		TORCHINDUCTOR_CACHE_DIR=$T_DIR/livetree B10FS_CACHE_DIR=$M1/$PART timeout "$LIM" "$B10T" save -q \
			>"$T_DIR/live.out" 2>&1 &
	fi
	spid=$!
	# The upload, through the writer's own client (its cache knows its own create).
	i=0 up=
	while [ $i -lt 100 ] && kill -0 $spid 2>/dev/null; do
		up=$(lsa "$M1/$PART" | grep incomplete | head -1)
		[ -n "$up" ] && break
		i=$((i + 1)); sleep 0.1
	done
	sleep 1
	back=-
	if [ "$1" = aged ]; then
		back=no
		# Listed through client 2 first: its directory cache then holds the
		# listing, so gc's readdir does not refresh the attributes that the
		# touch leaves cached (sshfs: 20 s), and gc sees the old mtime.
		[ -n "$up" ] && visible "$M2/$PART/$up" && lsa "$M2/$PART" >/dev/null &&
			touch -d '30 minutes ago' "$M2/$PART/$up" && back=yes
	fi
	gcj=$(TORCHINDUCTOR_CACHE_DIR=$T_DIR/lc2 B10FS_CACHE_DIR=$M2/$PART timeout "$LIM" "$B10T" gc --stale 0s -v --json 2>"$T_DIR/live.gc")
	live=$(grep -c 'is live' "$T_DIR/live.gc")
	old=$(sed -n 's/.*gc: \([0-9]*\) of \([0-9]*\) uploads past the stale age are live.*/\2/p' "$T_DIR/live.gc")
	sed -n "s/^b10t gc: debug: /# live $1: gc: /p" "$T_DIR/live.gc" | grep -v 'local\|staging' | head -5
	wait $spid; src=$?
	gone=$(printf '%s' "$gcj" | jq '[.removed[]? | select(.reason == "incomplete")] | length')
	echo "# live $1: upload seen by client 1: $([ -n "$up" ] && echo yes || echo no), mtime set back through client 2: $back;" \
		"gc --stale 0s on client 2: ${old:-0} uploads past every age rule, $live seen moving in its 2 s look, $gone removed;" \
		"client 1 save $(status_of $src) in $(since "$t1") s: $(tail -1 "$T_DIR/live.out")"
}
mktree "$T_DIR/livetree" 300 16384 5
live_case plain
ok "live: gc --stale 0s on client 2 removes no upload of a save in flight on client 1" [ "$gone" = 0 ]
pub_ok "live: the save on client 1 succeeds" [ "$src" = 0 ]
live_case aged
# sshfs: a stat through client 2 answers from its cache (20 s), however the
# file is opened; gc's looks chmod the upload to its own mode, which makes
# sshfs drop the cached attributes (lib/gc.c, look()).
pub_ok "live, aged on client 2: gc --stale 0s removes no upload of a save in flight" [ "$gone" = 0 ]
pub_ok "live, aged: the save on client 1 succeeds" [ "$src" = 0 ]

# ---- 7. kill -9 of save and of load at points spread over their runs
# fleet.py plans the points from an uninterrupted traced run: through the
# pack (or unpack), at the entry of every fsync, rename, link, unlink and
# utimens after it (strace delivers the SIGKILL there: exact), and two by
# time from outside.  Each save kill gets a fresh store dir (kill/sN), seen
# from client 2; the load kills share one published store, seen from client 1.
PART=kill
if ! strace -f -o /dev/null true 2>/dev/null; then
	echo "# kill: SKIP: strace cannot trace here (ptrace refused)"
else
kill_tree=$T_DIR/killtree
mktree "$kill_tree" 400 8192 100
F=$HERE/fleet.py
# kb CLIENT DIR CACHE POINT TRACE VERB: b10t VERB under fleet.py kill.
kb() {
	if [ "$1" = 1 ]; then st=$M1; else st=$M2; fi
	TORCHINDUCTOR_CACHE_DIR=$3 B10FS_CACHE_DIR=$st/kill/$2 ASAN_OPTIONS=${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0 \
		python3 "$F" kill "$4" "$5" "$B10T" "$6" -q
}
# stagings DIR: load's staging dirs and marker next to DIR/cache and inside.
stagings() { { ls -A "$1"; ls -A "$1/cache"; } 2>/dev/null | grep -c 'b10t-'; }
mkdir -p "$M1/kill/cal" "$M1/kill/load"
visible "$M2/kill/load" || echo "# kill: client 2 never saw kill/load"
t1=$(now)
kb 1 cal "$kill_tree" none "$T_DIR/ks.cal" save >/dev/null
python3 "$F" plan save "$T_DIR/ks.cal" >"$T_DIR/ks.plan"
ok "kill: a save plan" [ -s "$T_DIR/ks.plan" ]
echo "# kill: save plan ($(grep -c . "$T_DIR/ks.plan") points): $(awk '{printf "%s ", $1}' "$T_DIR/ks.plan")"
n=0 k_partial=0 k_err=0 k_aside=0 k_pub=0 k_left=0 k_probe0=0
while read -r pt label; do
	n=$((n + 1))
	mkdir "$M1/kill/s$n"
	res=$(kb 1 "s$n" "$kill_tree" "$pt" "$T_DIR/ks.$n" save)
	ph=$(python3 "$F" phase save "$T_DIR/ks.$n")
	visible "$M2/kill/s$n"
	# Through client 2: a load finds nothing or the whole tree, list agrees.
	rm -rf "$T_DIR/kl"
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/kl B10FS_CACHE_DIR=$M2/kill/s$n timeout "$LIM" "$B10T" load -q >"$T_DIR/kl.out" 2>&1
	l=$?
	nc=$(ncaches "$M2/kill/s$n")
	whole=-
	if [ "$l" = 0 ]; then
		if treeq "$kill_tree" "$T_DIR/kl"; then whole=whole k_pub=$((k_pub + 1)); else whole=PARTIAL k_partial=$((k_partial + 1)); fi
	elif [ "$l" != 3 ]; then k_err=$((k_err + 1))
	fi
	[ "$l" = 0 -a "$nc" = 1 ] || [ "$l" = 3 -a "$nc" = 0 ] || k_partial=$((k_partial + 1))
	aside=$(lsa "$M1/kill/s$n" | grep -c corrupt)
	k_aside=$((k_aside + aside))
	left=$(debris "$M1/kill/s$n" | grep -c .)
	[ "$left" = 0 ] || k_left=$((k_left + 1))
	debris "$M1/kill/s$n" | grep -q b10t-doctor && k_probe0=$((k_probe0 + 1))
	echo "# kill save $n at $pt ($label): $res, died $ph; client 2: load $(status_of $l) $whole, list $nc; $left uploads left, $aside moved aside"
	ok "kill save $n ($ph): client 2 sees nothing or the whole tree" \
		[ \( "$l" = 0 -a "$whole" = whole -a "$nc" = 1 \) -o \( "$l" = 3 -a "$nc" = 0 \) ]
done <"$T_DIR/ks.plan"
nsave=$n t2=$(now)
ok "kill save: nothing moved aside" [ "$k_aside" = 0 ]

# The load's plan, from a published copy of the tree in kill/load.
PART=kill/load
b 1 "$kill_tree" save -q
PART=kill
rm -rf "$T_DIR/klc"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/klc/cache B10FS_CACHE_DIR=$M2/kill/load python3 "$F" kill none "$T_DIR/kl.cal" "$B10T" load -q >/dev/null
# Nothing to load where nothing publishes (rclone): no load points.
python3 "$F" plan load "$T_DIR/kl.cal" >"$T_DIR/kl.plan" 2>"$T_DIR/kl.plan.err" ||
	echo "# kill: no load plan: $(cat "$T_DIR/kl.plan.err") (the load: $(ncaches "$M2/kill/load") caches)"
[ "$FS" = rclone ] || ok "kill: a load plan from the published store" [ -s "$T_DIR/kl.plan" ]
echo "# kill: load plan ($(grep -c . "$T_DIR/kl.plan") points): $(awk '{printf "%s ", $1}' "$T_DIR/kl.plan")"
n=0 kl_partial=0 kl_bad=0
while read -r pt label; do
	n=$((n + 1))
	mkdir -p "$T_DIR/kload$n"
	res=$(kb 2 load "$T_DIR/kload$n/cache" "$pt" "$T_DIR/kl.$n" load)
	ph=$(python3 "$F" phase load "$T_DIR/kl.$n")
	# The cache dir: absent, empty, or the whole tree; never a part.
	c=$T_DIR/kload$n/cache
	if [ ! -e "$c" ] || [ -z "$(ls -A "$c" | grep -v '^\.b10t-')" ]; then st=empty
	elif treeq "$kill_tree" "$c"; then st=whole
	else st=PARTIAL kl_partial=$((kl_partial + 1)); fi
	staging=$(stagings "$T_DIR/kload$n")
	# Through client 1: the archive is whole and in place.
	rm -rf "$T_DIR/kl1"
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/kl1 B10FS_CACHE_DIR=$M1/kill/load timeout "$LIM" "$B10T" load -q >/dev/null 2>&1
	l=$?
	if [ "$l" = 0 ] && treeq "$kill_tree" "$T_DIR/kl1" && [ "$(ncaches "$M1/kill/load")" = 1 ] &&
	   ! lsa "$M1/kill/load" | grep -q corrupt; then s1=whole; else s1=BAD kl_bad=$((kl_bad + 1)); fi
	echo "# kill load $n at $pt ($label): $res, died $ph; cache dir $st, $staging staging entries; client 1: archive $s1"
	ok "kill load $n ($ph): the cache dir is empty or whole, the archive whole through client 1" \
		[ "$st" != PARTIAL -a "$s1" = whole ]
done <"$T_DIR/kl.plan"
nload=$n

# Debris: once past gc's 10 s floor for uploads, gc --stale 0s on client 2
# removes every upload the kills left; then each store takes a save (or has
# the whole tree, with one archive) and each cache dir a load.
el=$(awk "BEGIN { print int($(now) - $t2) }")
[ "$el" -ge 12 ] || sleep $((12 - el))
if [ "$FS" = rclone ]; then
	# rclone writes a killed writer's file back to the share after it is
	# closed (5 s, one at a time): wait until client 2 sees what client 1
	# does, at most 60 s, or gc on client 2 cannot see it yet.
	i=0
	while [ $i -lt 60 ]; do
		same=1
		for j in $(seq 1 "$nsave"); do
			[ "$(debris "$M1/kill/s$j")" = "$(debris "$M2/kill/s$j")" ] || { same=0; break; }
		done
		[ $same = 1 ] && break
		i=$((i + 1)); sleep 1
	done
	echo "# kill: client 2 saw client 1's uploads after $i s"
	# The share stamps a file written back then: wait until the newest is
	# past gc's floor (10 s) as client 2 sees it, at most 60 s.
	i=0
	while [ $i -lt 60 ]; do
		newest=0
		for j in $(seq 1 "$nsave"); do
			for f in $(debris "$M2/kill/s$j"); do
				m=$(stat -c %Y "$M2/kill/s$j/$f" 2>/dev/null || echo 0)
				[ "$m" -gt "$newest" ] && newest=$m
			done
		done
		[ $(($(date +%s) - newest)) -ge 11 ] && break
		i=$((i + 1)); sleep 1
	done
	echo "# kill: the newest upload past gc's floor after $i s more"
fi
for i in $(seq 1 "$nsave"); do
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/kgc B10FS_CACHE_DIR=$M2/kill/s$i timeout "$LIM" "$B10T" gc -q --stale 0s >/dev/null 2>&1 &
done
wait
sleep 2	# past the clients' caches
k_debris=0 k_probe=0 k_next=0 trail=
for i in $(seq 1 "$nsave"); do
	# Uploads (and claim temps) apart from doctor's probe dirs (save makes
	# one only after a failed publish: rclone), counted on their own.
	# Through client 2, gc's own: client 1's listing may be cached (sshfs 20 s).
	d=$(debris "$M2/kill/s$i" | grep -vc b10t-doctor)
	[ "$d" = 0 ] || k_debris=$((k_debris + 1))
	debris "$M2/kill/s$i" | grep -q b10t-doctor && k_probe=$((k_probe + 1))
	rm -rf "$T_DIR/kn" "$T_DIR/knl"
	TORCHINDUCTOR_CACHE_DIR=$kill_tree B10FS_CACHE_DIR=$M1/kill/s$i timeout "$LIM" "$B10T" save -q >/dev/null 2>&1
	s=$?
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/knl B10FS_CACHE_DIR=$M2/kill/s$i timeout "$LIM" "$B10T" load -q >/dev/null 2>&1
	l=$?
	if [ "$s" = 0 -o "$s" = 4 ] && [ "$l" = 0 ] && treeq "$kill_tree" "$T_DIR/knl" &&
	   [ "$(archives "$M1/kill/s$i" | grep -c .)" = 1 ]; then :; else k_next=$((k_next + 1)); fi
	trail="$trail $(status_of $s | cut -c1-4)/$(status_of $l | cut -c1-4)"
done
kl_next=0
for i in $(seq 1 "$nload"); do
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/kload$i/cache B10FS_CACHE_DIR=$M2/kill/load timeout "$LIM" "$B10T" gc -q >/dev/null 2>&1
	left=$(stagings "$T_DIR/kload$i")
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/kload$i/cache B10FS_CACHE_DIR=$M2/kill/load timeout "$LIM" "$B10T" load -q >/dev/null 2>&1
	l=$?
	{ [ "$l" = 0 ] || [ "$l" = 4 ]; } && [ "$left" = 0 ] && treeq "$kill_tree" "$T_DIR/kload$i/cache" ||
		kl_next=$((kl_next + 1))
done
echo "# kill: $nsave save kills: $k_pub published whole, $k_partial partial, $k_err ERROR, $k_aside moved aside, $k_left left uploads ($k_probe0 a probe dir);" \
	"after gc: $k_debris stores with uploads left, $k_probe with a probe dir left, $k_next where the next save+load failed (save/load:$(squeeze $trail))"
echo "# kill: $nload load kills: $kl_partial partial cache dirs, $kl_bad archives hurt; after gc: $kl_next cache dirs where the next load failed; $(since "$t1") s"
ok "kill: gc --stale 0s on client 2 removes every upload the killed saves left" [ "$k_debris" = 0 ]
# A save killed inside its publish probe (after a failed publish: rclone)
# leaves the probe dir .b10t-doctor.*: gc removes it, aged as an upload.
[ "$FS" = rclone ] && ok "kill: saves killed in their publish probe left probe dirs ($k_probe0)" [ "$k_probe0" -gt 0 ]
ok "kill: no probe dir of a killed save left after gc" [ "$k_probe" = 0 ]
pub_ok "kill: after each killed save, the next save and load work (whole tree)" [ "$k_next" = 0 ]
ok "kill: after each killed load, gc leaves no staging and the next load gives the whole tree" [ "$kl_next" = 0 ]
fi

# ---- 7c. 16 updaters of one key across the two clients, loads meanwhile
PART=update
if [ "$FS" != rclone ]; then
mkdir -p "$M1/upd" "$T_DIR/useed/shared" "$T_DIR/ufleet"
python3 - "$T_DIR/useed" <<'PY'
import os, sys
rel = "shared/s0.py"	# as layers_fleet.py writes it: the file names itself
open(os.path.join(sys.argv[1], rel), "wb").write((("%s\n" % rel) * (1 + len(rel) % 7)).encode())
PY
TORCHINDUCTOR_CACHE_DIR=$T_DIR/useed B10FS_CACHE_DIR=$M1/upd timeout "$LIM" "$B10T" save -q >/dev/null 2>&1
t1=$(now)
B10FS_CACHE_DIR=$M1/upd python3 "$SRCDIR/cli/layers_fleet.py" "$B10T" "$T_DIR/ufleet" 16 \
	--stores "$M1/upd:$M2/upd" >"$T_DIR/ufleet.json"
U=$T_DIR/ufleet.json
echo "# update: 16 updaters across two clients in $(since "$t1") s: exit codes" \
	"$(jq -c '[.updaters[].rc] | group_by(.) | map("\(.[0])x\(length)")' "$U"), generations" \
	"$(jq -c '[.updaters[].generation] | sort' "$U"); loads $(jq -c '.loads | {ok, dne, fail: (.fail | length), bad: (.bad | length)}' "$U")"
jq -r '.updaters[] | select(.rc != 0) | .stderr // .reason' "$U" | sort | uniq -c | head -5 | sed 's/^/# update: /'
ok "update: every updater SUCCESS" [ "$(jq '[.updaters[] | select(.rc == 0)] | length' "$U")" = 16 ]
ok "update: generations 2..17, each taken once" \
	[ "$(jq -r '[.updaters[].generation] | sort | map(tostring) | join(",")' "$U")" = "$(seq -s, 2 17)" ]
ok "update: loads meanwhile never failed, every tree whole" \
	[ "$(jq '(.loads.fail | length) + (.loads.bad | length)' "$U")" = 0 ]
# Past the clients' caches: every claim visible through client 2 by name,
# then, on sshfs, its listing cache (20 s) expired.
for g in $(seq 2 17); do visible "$M2/upd/cache_$KEY.g$g" || break; done
if [ "$FS" = sshfs ]; then sleep 21; else sleep 2; fi
rm -rf "$T_DIR/uload"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/uload B10FS_CACHE_DIR=$M2/upd timeout "$LIM" "$B10T" load -q >/dev/null 2>&1
ok "update: through client 2, every updater's unique entries, once each (96)" \
	[ "$(find "$T_DIR/uload" -path '*/u*/k*.py' | wc -l)" = 96 ]
else
# rclone publishes nothing without replacing: update refuses as save does,
# and leaves no claim, upload or archive behind.
mkdir -p "$M1/upd" "$T_DIR/useed/a"
echo seed >"$T_DIR/useed/a/k.py"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/useed B10FS_CACHE_DIR=$M1/upd timeout "$LIM" "$B10T" update --json \
	>"$T_DIR/upd.json" 2>"$T_DIR/upd.err"
urc=$?
ok "update: refused where nothing can be published without replacing (exit 1)" \
	sh -c '[ "$1" = 1 ] && grep -q "cannot publish without replacing" "$2"' - "$urc" "$T_DIR/upd.err"
ok "update: the refusal leaves nothing in the store" [ -z "$(ls -A "$M1/upd")" ]
fi

# ---- 7b. the codec: B10T_CODEC=auto writes zstd onto a network store
mkdir -p "$M1/codec"
env -u B10T_CODEC TORCHINDUCTOR_CACHE_DIR=$T_DIR/livetree B10FS_CACHE_DIR=$M1/codec \
	"$B10T" save --json >"$T_DIR/codec.json" 2>"$T_DIR/codec.err"
crc=$?
echo "# codec: auto save on client 1: $(status_of $crc), $(jq -r .archive "$T_DIR/codec.json" 2>/dev/null)"
ZA=$(jq -r .archive "$T_DIR/codec.json" 2>/dev/null)
pub_ok "codec: B10T_CODEC=auto on $FS publishes a zstd generation, cache_KEY.g1.<uniq>.tar.zst" \
	sh -c 'case $1 in "$2/cache_$3".g1.*.tar.zst) ;; *) exit 1 ;; esac' - "$ZA" "$M1/codec" "$KEY"
if [ $crc = 0 ] && visible "$M2/codec/$(basename "$ZA")"; then
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/codecload B10FS_CACHE_DIR=$M2/codec "$B10T" load -q \
		>"$T_DIR/codec.load" 2>&1
	lrc=$?
else
	lrc=none
fi
pub_ok "codec: client 2 loads it" [ "$lrc" = 0 ]

# ---- 8. stop: nothing of ours is left (mounts, daemons)
# Every process start started (and its guard), then the mount table.
pids=$(awk '{print $1}' "$FSDIR/srv/pids" 2>/dev/null; cat "$FSDIR/srv/guard" 2>/dev/null)
"$NETFS" stop "$FS" "$FSDIR" 2>&1 | sed 's/^/# stop: /'
left=
sleep 0.5
for p in $pids; do kill -0 "$p" 2>/dev/null && left="$left $p($(tr '\0' ' ' <"/proc/$p/cmdline" | cut -c1-40))"; done
mnt=$(awk -v d="$FSDIR/" 'index($2, d) == 1 { print $2 }' /proc/self/mounts)
echo "# stop: $(printf '%s\n' $pids | grep -c .) processes started, left:${left:- none}; mounts left: ${mnt:-none}"
ok "stop: no mount left" [ -z "$mnt" ]
ok "stop: no daemon left" [ -z "$left" ]
ok "stop: its dir removed" [ ! -e "$FSDIR" ]

echo "# $FS: total $(since "$t0") s, $T_TODO known bugs (TODO)"

done_testing
