#!/bin/sh
# save racing a writer: a process keeps rewriting files in place, renaming
# new ones in and removing some while `b10t save` runs again and again to
# fresh stores.  Every save must publish, every archive must load, and every
# loaded file must be one whole version the writer wrote (each version
# carries its own length and sha256, and the writer logs every version).
# Then a file too large to be read into memory (streamed after its header)
# rewritten in place: a save either leaves it out, takes it whole, or fails
# with nothing published, never publishes it torn.
. "$(dirname "$0")/lib.sh"

C=$TORCHINDUCTOR_CACHE_DIR
W="$SRCDIR/cli/race_writer.py"
SAVES=4
mkdir -p "$C" "$T_DIR/wtmp"

# The writer runs until the test touches $T_DIR/stop (120 s at most): each
# of the saves races it however slow the machine is.
python3 "$W" write "$C" "$T_DIR/wtmp" "$T_DIR/log" 120 >"$T_DIR/ops" &
wpid=$!
ok "the writer started" wait_for 20 [ -e "$T_DIR/ready" ]

saves=0 save_fail=0 skipped=0 warned=0 raced=0
while [ "$saves" -lt $SAVES ]; do
	saves=$((saves + 1))
	mkdir -p "$T_DIR/s$saves"
	B10FS_CACHE_DIR=$T_DIR/s$saves run save --json
	if [ "$rc" -ne 0 ]; then
		save_fail=$((save_fail + 1))
		sed 's/^/#   save: /' "$T_DIR/err" | head -5
	else
		skipped=$((skipped + $(jq .skipped_entries "$T_DIR/out")))
		warned=$((warned + $(grep -c 'warning: ' "$T_DIR/err")))
	fi
	kill -0 $wpid 2>/dev/null && raced=$((raced + 1))
done
: >"$T_DIR/stop"
wait $wpid
ok "the writer ran to its end" [ $? -eq 0 ]
echo "# $saves saves while the writer made $(cat "$T_DIR/ops") changes;" \
     "$skipped entries left out ($warned warnings)"
ok "the writer was still writing at the end of each of the $SAVES saves" [ "$raced" -eq $SAVES ]
ok "every save published (SUCCESS)" [ "$save_fail" -eq 0 ]
ok "one warning per entry left out" [ "$skipped" -eq "$warned" ]

load_fail=0 trees=
for s in $(seq 1 $saves); do
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/l$s B10FS_CACHE_DIR=$T_DIR/s$s run load --json
	if [ "$rc" -ne 0 ]; then
		load_fail=$((load_fail + 1))
		sed 's/^/#   load: /' "$T_DIR/err" | head -5
	fi
	trees="$trees $T_DIR/l$s"
done
ok "every published archive loads (SUCCESS)" [ "$load_fail" -eq 0 ]
# shellcheck disable=SC2086
python3 "$W" check "$T_DIR/log" $trees >"$T_DIR/check"
ok "every loaded file is one whole version the writer wrote" [ $? -eq 0 ]
grep '^#' "$T_DIR/check"
echo "# $(tail -1 "$T_DIR/check") loaded files checked"
ok "the archives held files" [ "$(tail -1 "$T_DIR/check")" -gt 0 ]

# ---- a large streamed file rewritten in place ----------------------------
C2=$T_DIR/big
mkdir -p "$C2"
printf 'small\n' >"$C2/small"
# 20 MiB, over the 16 MiB that save reads whole; each version is one byte
# value repeated, written by one pwrite, about every 150 ms, until the test
# touches $T_DIR/bigstop (120 s at most).
python3 - "$C2/big" "$T_DIR/bigstop" <<'PY' &
import os, sys, time
fd = os.open(sys.argv[1], os.O_WRONLY | os.O_CREAT, 0o644)
end = time.monotonic() + 120
v = 0
while time.monotonic() < end and not os.path.exists(sys.argv[2]):
    v = v % 250 + 1
    os.pwrite(fd, bytes([v]) * (20 << 20), 0)
    time.sleep(0.15)
PY
bpid=$!
whole_big() { [ "$(stat -c %s "$C2/big" 2>/dev/null)" = $((20 << 20)) ]; }
wait_for 20 whole_big
n=0 bad=0 published=0 failed=0 braced=0
while [ $n -lt 4 ]; do
	n=$((n + 1))
	mkdir -p "$T_DIR/bs$n"
	TORCHINDUCTOR_CACHE_DIR=$C2 B10FS_CACHE_DIR=$T_DIR/bs$n run save --json
	if [ "$rc" -eq 0 ]; then
		published=$((published + 1))
		TORCHINDUCTOR_CACHE_DIR=$T_DIR/bl$n B10FS_CACHE_DIR=$T_DIR/bs$n run load --json
		[ "$rc" -eq 0 ] || { bad=$((bad + 1)); echo "#   load $n: exit $rc"; }
		if [ -e "$T_DIR/bl$n/big" ]; then
			python3 -c 'import sys; d = open(sys.argv[1], "rb").read()
sys.exit(len(d) != 20 << 20 or d.count(d[:1]) != len(d))' "$T_DIR/bl$n/big" ||
				{ bad=$((bad + 1)); echo "#   save $n: big is torn"; }
		elif ! grep -q "big: it kept changing while it was read" "$T_DIR/err"; then
			bad=$((bad + 1)); echo "#   save $n: big left out without a warning"
		fi
		rm -rf "$T_DIR/bl$n"
	elif [ "$rc" -eq 1 ] && grep -q "big changed while it was read" "$T_DIR/err" &&
	     [ -z "$(ls -A "$T_DIR/bs$n")" ]; then
		failed=$((failed + 1))
	else
		bad=$((bad + 1)); echo "#   save $n: exit $rc"; sed 's/^/#   err: /' "$T_DIR/err"
	fi
	kill -0 $bpid 2>/dev/null && braced=$((braced + 1))
done
: >"$T_DIR/bigstop"
wait $bpid
echo "# large file: $n saves, $published published, $failed failed cleanly"
ok "a large file rewritten in place: never published torn" [ $bad -eq 0 ]
ok "a large file rewritten in place: the writer was writing through all $n saves" [ $braced -eq $n ]

done_testing
