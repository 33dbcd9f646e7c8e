#!/bin/sh
# Compaction (gc --compact, and automatic past B10T_COMPACT_LAYERS), the
# removal of what a base covers after the grace period, b10t rm, and kill -9
# at spread points of update and compaction: no partial layer is ever
# visible, loads never fail, gc removes the debris.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
command -v lz4 >/dev/null || skip_all "no lz4 CLI"
export B10T_COMPACT_LAYERS=1000

claims() {	# the claim names of the key, sorted
	ls "$S" | grep -E "^cache_$KEY\.[gb][0-9]+$" | sort
}
age() {		# age FILE...: an hour old (past gc's floors for uploads)
	touch -d '-1 hour' "$@"
}

mkdir -p "$C/a"
for i in 1 2 3; do echo "kernel $i" >"$C/a/k$i.py"; done
run update
for n in 2 3 4; do
	echo "layer $n" >"$C/a/l$n.py"
	run update --json
done
ok "a base and three layers" [ "$(claims | tr '\n' ' ')" = "cache_$KEY.g1 cache_$KEY.g2 cache_$KEY.g3 cache_$KEY.g4 " ]

run gc --compact --json
ok "gc --compact: SUCCESS" expect_rc 0
ok "gc --compact made the base of generation 4" jq_is '"\(.compaction.status) \(.compaction.generation)"' "SUCCESS 4"
ok "gc --compact: claim b4 names a whole archive" [ -f "$S/$(cat "$S/cache_$KEY.b4")" ]
ok "gc --compact removes nothing within the grace period" [ "$(claims | wc -l)" -eq 5 ]
TORCHINDUCTOR_CACHE_DIR=$T_DIR/l1 run load
ok "load of the compacted set" expect_rc 0
ok "load of the compacted set: the same tree" python3 "$SRCDIR/cli/treecmp.py" "$C" "$T_DIR/l1"
members=$(lz4 -dc "$S/$(cat "$S/cache_$KEY.b4")" | tar -tf - | grep -c 'a/l[0-9]\.py$')
ok "the base holds every layer's entries" [ "$members" -eq 3 ]
run gc --compact --json
ok "gc --compact again: the base is the whole set" jq_is .compaction.status SKIPPED

echo "layer 5" >"$C/a/l5.py"
run update --json
ok "an update after the base: generation 5" jq_is .generation 5
TORCHINDUCTOR_CACHE_DIR=$T_DIR/l2 run load
ok "load: base + the later layer" expect_rc 0
ok "load of base + the later layer: the whole tree" python3 "$SRCDIR/cli/treecmp.py" "$C" "$T_DIR/l2"

# Past the grace period gc removes what b4 covers, claims and archives.
for c in 1 2 3 4; do age "$S/$(cat "$S/cache_$KEY.g$c")"; done
age "$S/cache_$KEY.b4"
B10T_COMPACT_GRACE=0 run gc --stale 0s --json
ok "gc after the grace period: SUCCESS" expect_rc 0
ok "gc after the grace period: the covered claims went, b4 and g5 stay" \
	[ "$(claims | tr '\n' ' ')" = "cache_$KEY.b4 cache_$KEY.g5 " ]
ok "gc after the grace period: the covered claims' archives went" [ "$(ls "$S" | grep -c "^cache_$KEY\.g[1-4]\.")" -eq 0 ]
TORCHINDUCTOR_CACHE_DIR=$T_DIR/l3 run load
ok "load after gc: the whole tree" python3 "$SRCDIR/cli/treecmp.py" "$C" "$T_DIR/l3"

# Automatic compaction: more than 2 layers.
for n in 6 7; do
	echo "layer $n" >"$C/a/l$n.py"
	B10T_COMPACT_LAYERS=2 run update --json
done
ok "an update past B10T_COMPACT_LAYERS=2 compacts: base b7" [ -f "$S/cache_$KEY.b7" ]
TORCHINDUCTOR_CACHE_DIR=$T_DIR/l4 run load
ok "the automatic base b7 loads the whole tree" python3 "$SRCDIR/cli/treecmp.py" "$C" "$T_DIR/l4"

# kill -9 at spread points of an update (a 24 MB layer) and a compaction.
head -c 24000000 /dev/urandom >"$C/big.bin"
cp -a "$C" "$T_DIR/want"
fails=0
for d in 0.01 0.03 0.06 0.1 0.15 0.25 0.4; do
	"$B10T" update -q >/dev/null 2>&1 &
	pid=$!
	sleep $d	# a kill point: wherever it lands, nothing may be lost
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/k run load -q
	[ "$rc" -eq 0 ] || { fails=$((fails + 1)); echo "#   load after kill at $d s: exit $rc: $ERR"; }
	python3 "$SRCDIR/cli/treecmp.py" "$T_DIR/k" "$T_DIR/k" >/dev/null
	rm -rf "$T_DIR/k"
done
ok "loads after each killed update: SUCCESS" [ "$fails" -eq 0 ]
for d in 0.02 0.08 0.2 0.5; do
	"$B10T" gc --compact -q >/dev/null 2>&1 &
	pid=$!
	sleep $d
	kill -9 $pid 2>/dev/null
	wait $pid 2>/dev/null
done
bad=0
for c in $(claims); do [ -f "$S/$(cat "$S/$c")" ] || bad=$((bad + 1)); done
ok "no claim names a missing or partial archive" [ "$bad" -eq 0 ]
TORCHINDUCTOR_CACHE_DIR=$T_DIR/k2 run load
ok "load after the kills: SUCCESS" expect_rc 0
run update --json
ok "update after the kills: publishes the big file (or a killed one did)" \
	sh -c "[ $rc -eq 0 ] || [ $rc -eq 4 ]"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/k3 run load
ok "update after the kills: the whole tree loads" python3 "$SRCDIR/cli/treecmp.py" "$T_DIR/want" "$T_DIR/k3"
# An unclaimed archive is debris 10 s after its rename (gc's floor, by
# ctime): a wait on the real clock, which no handshake can shorten.
sleep 11
B10T_COMPACT_GRACE=0 run gc --stale 0s
ok "gc after the kills" expect_rc 0
left=$(ls -a "$S" | grep -E '\.incomplete|^\.b10t-compact' | head -3)
ok "no upload or claim temp left" [ -z "$left" ]
unclaimed=0
for a in $(ls "$S" | grep -E "^cache_$KEY\.[gb][0-9]+\..*\.tar\."); do
	grep -qx "$a" "$S"/cache_$KEY.[gb][0-9]* 2>/dev/null || unclaimed=$((unclaimed + 1))
done
ok "no unclaimed archive left" [ "$unclaimed" -eq 0 ]
[ "$unclaimed" -eq 0 ] || ls -l "$S" | sed 's/^/#   /'
ok "no compaction dir left next to the cache dir (local debris, gone with its pid)" \
	[ -z "$(ls -a "$(dirname "$C")" | grep -E '\.b10t-(staging|compact)')" ]
TORCHINDUCTOR_CACHE_DIR=$T_DIR/k4 run load
ok "and the store still loads the whole tree" python3 "$SRCDIR/cli/treecmp.py" "$T_DIR/want" "$T_DIR/k4"

# Compaction racing 16 updaters and two loaders.
S2=$T_DIR/store16
mkdir -p "$S2" "$T_DIR/seed/shared" "$T_DIR/fleet"
python3 - "$T_DIR/seed" <<'PY'
import os, sys
rel = "shared/s0.py"	# as layers_fleet.py writes it: the file names itself
open(os.path.join(sys.argv[1], rel), "wb").write((("%s\n" % rel) * (1 + len(rel) % 7)).encode())
PY
B10FS_CACHE_DIR=$S2 TORCHINDUCTOR_CACHE_DIR=$T_DIR/seed run save
B10FS_CACHE_DIR=$S2 python3 "$SRCDIR/cli/layers_fleet.py" "$B10T" "$T_DIR/fleet" 16 --compact \
	>"$T_DIR/out"
ok "the fleet with a compactor: every updater SUCCESS" jq_is '[.updaters[] | select(.rc == 0)] | length' 16
jq -r '.updaters[] | select(.rc != 0) | .stderr // .reason' "$T_DIR/out" | head -3 | sed 's/^/#   /'
ok "loads never failed" jq_is '.loads.fail | length' 0
jq -r '.loads.fail[]' "$T_DIR/out" | head -3 | sed 's/^/#   /'
ok "every loaded tree whole" jq_is '.loads.bad | length' 0
ok "compactions: none failed" jq_is '[.compactions.rc[] | select(. != 0)] | length' 0
echo "# $(jq -c '.compactions.rc | length' "$T_DIR/out") compactions," \
     "$(jq -c .loads.ok "$T_DIR/out") loads during the fleet"
B10FS_CACHE_DIR=$S2 "$B10T" gc --compact -q
B10FS_CACHE_DIR=$S2 TORCHINDUCTOR_CACHE_DIR=$T_DIR/f run load
ok "after the race: the store loads" expect_rc 0
ok "nothing lost: every updater's unique entries (96)" \
	[ "$(find "$T_DIR/f" -path '*/u*/k*.py' | wc -l)" -eq 96 ]
python3 - "$T_DIR/f/torch_compile_cache/ab/rank_0_0/backbone/vllm_compile_cache.py" <<'PY' >"$T_DIR/n"
import ast, sys
print(len(ast.literal_eval(open(sys.argv[1]).read())))
PY
ok "and every updater's index key (16)" [ "$(cat "$T_DIR/n")" = 16 ]

# b10t rm: the key goes, loads running meanwhile never fail.
( i=0; while [ $i -lt 30 ]; do
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/r$i "$B10T" load -q >/dev/null 2>>"$T_DIR/rmerr"
	echo $? >>"$T_DIR/rmrc"; rm -rf "$T_DIR/r$i"; i=$((i + 1))
  done ) &
lpid=$!
run rm --json
ok "rm: SUCCESS" expect_rc 0
ok "rm removed every claim and archive of the key" [ -z "$(ls "$S" | grep -E "^cache_$KEY\.[gb][0-9]+")" ]
ok "rm removed the key's legacy names" [ -z "$(ls "$S" | grep -E "^cache_$KEY\.latest")" ]
wait $lpid
ok "loads during rm: SUCCESS or DOES_NOT_EXIST, never ERROR" \
	[ -z "$(grep -vxE '0|3' "$T_DIR/rmrc")" ]
TORCHINDUCTOR_CACHE_DIR=$T_DIR/r run load
ok "load after rm: DOES_NOT_EXIST" expect_rc 3
run save --json
ok "save after rm publishes generation 1 afresh" jq_is '"\(.status) \(.generation)"' "SUCCESS 1"
run rm 0123456789abcdef
ok "rm of a key with nothing: DOES_NOT_EXIST (exit 3)" expect_rc 3
run rm 'bad.key'
ok "rm of a bad key: usage (exit 2)" expect_rc 2

done_testing
