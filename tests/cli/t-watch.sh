#!/bin/sh
# b10t watch: publish after the quiet period, one publish per burst, none
# for nothing new, the final publish on SIGTERM within its budget, the
# child's exit status, new subdirs, queue overflow, and an idle watcher
# that never wakes.
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null 2>&1 || skip_all "jq not found"
[ -d /proc/self ] || skip_all "no /proc"

PIDS=""
trap 'for p in $PIDS; do kill -9 "$p" 2>/dev/null; done; rm -rf "$T_DIR"' EXIT
unset B10T_WATCH_QUIET_PERIOD B10T_WATCH_MAX_WAIT B10T_WATCH_FINAL_BUDGET
KEY=$("$B10T" envkey)
C=$TORCHINDUCTOR_CACHE_DIR
S=$B10FS_CACHE_DIR

# start_watch NAME ARGS...: b10t watch --json in the background; $W its pid,
# $WO its stdout (JSON lines), $WE its stderr; returns once it watches.
start_watch() {
	WO="$T_DIR/$1.out" WE="$T_DIR/$1.err"; shift
	# Emptied here, not by the job's own redirection, which may come later
	# than the handshake reads the file.
	: >"$WO"
	: >"$WE"
	"$B10T" watch --json "$@" >"$WO" 2>"$WE" &
	W=$!
	PIDS="$PIDS $W"
	wait_for 20 grep -q '"event":"watching"' "$WO"
}

# stop_watch [SIGNAL]: signal the watcher (default TERM) and wait; $rc
stop_watch() {
	kill -"${1:-TERM}" "$W" 2>/dev/null
	wait "$W"
	rc=$?
}

# line_is FILTER WANT: a jq filter over the JSON lines of $WO gives WANT
line_is() { [ "$(jq -r "$1" "$WO" 2>/dev/null)" = "$2" ]; }
# members ARCHIVE: its member names; has_member ARCHIVE NAME
members() { case $1 in *.zst) zstd -dcq "$1" ;; *) lz4 -dc "$1" ;; esac 2>/dev/null | tar -t 2>/dev/null; }
has_member() { members "$1" | grep -qx "$2"; }
lacks_member() { ! has_member "$1" "$2"; }
all_json() { jq -e . "$WO" >/dev/null 2>&1; }
publishes() { grep -c '"event":"publish"' "$WO"; }
nth_publish() { grep '"event":"publish"' "$WO" | sed -n "${1}p"; }
exit_field() { grep '"event":"exit"' "$WO" | jq -r "$1"; }
has_publish() { [ "$(publishes)" -ge "$1" ]; }

# in_poll PID: the process sleeps in poll() (its wchan, else its syscall number on x86_64)
in_poll() {
	case $(cat "/proc/$1/wchan" 2>/dev/null) in *poll*) return 0 ;; esac
	[ "$(uname -m)/$(cut -d' ' -f1 "/proc/$1/syscall" 2>/dev/null)" = x86_64/7 ]
}
ctxt() { awk '/ctxt_switches/ { n += $2 } END { print n }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

# ---- usage ------------------------------------------------------------------
run watch --pid 1 -- true
ok "--pid with a command is a usage error" expect_rc 2 &&
	ok "--pid with a command: the error says why" contains "$ERR" "give one of them"
run watch --quiet-period abc
ok "a bad --quiet-period: exit 1" expect_rc 1 &&
	ok "a bad --quiet-period: the error names the option" contains "$ERR" "--quiet-period=abc: not a duration (30s, 1.5m, 2h, 7d)"
B10T_WATCH_FINAL_BUDGET=-1 run watch
ok "a bad B10T_WATCH_FINAL_BUDGET: exit 1" expect_rc 1 &&
	ok "a bad B10T_WATCH_FINAL_BUDGET: the error names the variable" contains "$ERR" "B10T_WATCH_FINAL_BUDGET=-1"
run watch --pid 999999999
ok "--pid of no process: exit 1" expect_rc 1 &&
	ok "--pid of no process: the error says so" contains "$ERR" "--pid=999999999: no such process"
run watch -- "$T_DIR/no-such-server"
ok "a command that does not exist: exit 127" expect_rc 127 &&
	ok "a command that does not exist: the error names it" contains "$ERR" "running $T_DIR/no-such-server"
ok "the command's options are its own" sh -c \
	'"$1" watch --quiet-period 0 -- sh -c "exit 0" -v --json >/dev/null 2>&1' _ "$B10T"

# ---- the child's exit ---------------------------------------------------------
run watch -- sh -c 'exit 5'
ok "the child exits 5: watch exits 5" expect_rc 5
run watch -- sh -c 'kill -KILL $$'
ok "the child killed by SIGKILL: watch exits 137" expect_rc 137
ok "nothing changed: nothing published" none_published "$S" "$KEY"

# ---- a file added later is published after the quiet period ------------------
rm -rf "$C"
start_watch added --quiet-period 0.3
ok "watch made the missing cache dir and watches it" test -d "$C"
mkdir -p "$C/fxgraph"
echo graph >"$C/fxgraph/entry1"
ok "a publish follows the quiet period" wait_for 20 has_publish 1
ok "the publish after the quiet period is SUCCESS" sh -c '[ "$(echo "$1" | jq -r .status)" = SUCCESS ]' _ "$(nth_publish 1)"
A=$(published_archive "$S" "$KEY")
ok "the published archive holds the file added later" has_member "$A" fxgraph/entry1
stop_watch
ok "SIGTERM with nothing new: exit 0" expect_rc 0
ok "SIGTERM with nothing new: no final publish" [ "$(publishes)/$(exit_field .final_publish)" = 1/false ]

# ---- nothing new: no publish, and an idle watcher never wakes -------------------
start_watch idle --quiet-period 0.2
# The handshake: asleep in poll (the "watching" line comes just before it).
ok "idle: the watcher sleeps in poll" wait_for 20 in_poll "$W"
if [ "$(uname -m)" = x86_64 ]; then
	ok "idle: poll(2) with no timeout (no timer at all)" \
		[ "$(cut -d' ' -f1,4 "/proc/$W/syscall" 2>/dev/null)" = "7 0xffffffff" ]
else
	ok "idle: poll with no timeout # SKIP syscall numbers checked on x86_64 only" true
fi
cs=$(ctxt "$W") ticks=$(cpu_ticks "$W")
# Reading the cache is no change.
cat "$C/fxgraph/entry1" >/dev/null; ls -lR "$C" >/dev/null; stat "$C/fxgraph" >/dev/null
sleep 2	# a window to prove nothing happens in: no handshake can end it
ok "idle for 2 s: no context switch at all (never woke)" \
	sh -c '[ "$(awk "/ctxt_switches/ { n += \$2 } END { print n }" /proc/$1/status)" = "$2" ]' _ "$W" "$cs"
ok "idle for 2 s: no CPU tick used" sh -c '[ "$(awk "{ print \$14 + \$15 }" /proc/$1/stat)" = "$2" ]' _ "$W" "$ticks"
if command -v strace >/dev/null 2>&1; then
	strace -qq -p "$W" -o "$T_DIR/strace" 2>"$T_DIR/strace.err" &
	STP=$!
	sleep 2
	kill -INT "$STP" 2>/dev/null
	wait "$STP"
	if grep -q "ptrace\|Operation not permitted" "$T_DIR/strace.err"; then
		ok "strace over 2 s # SKIP strace cannot attach: $(head -n 1 "$T_DIR/strace.err")" true
	else
		ok "strace over 2 s: only the blocking poll, restarted" \
			sh -c '! grep -vE "^(restart_syscall|poll|ppoll)\(|^\+\+\+|^---|resumed>" "$1"' _ "$T_DIR/strace" ||
			sed 's/^/#   /' "$T_DIR/strace"
	fi
else
	ok "strace over 2 s # SKIP strace not found" true
fi
ok "reading the cache dir published nothing" [ "$(publishes)" = 0 ]
stop_watch
ok "SIGTERM: exit 0" expect_rc 0 &&
	ok "SIGTERM after an idle watch: no publish at all" [ "$(exit_field .publishes)" = 0 ]

# ---- a burst: one publish, once it is quiet -----------------------------------
unpublish "$S" "$KEY"
start_watch burst --quiet-period 2 --max-wait 0
# 40 writes over about 1 s, each well within the quiet period of the one before
python3 -c 'import sys, time
for i in range(1, 41):
	open(f"{sys.argv[1]}/burst{i}", "w").write(str(i)); time.sleep(0.025)' "$C/fxgraph"
ok "the burst is published" wait_for 30 has_publish 1
sleep 3	# a second publish would come a quiet period after the first
stop_watch
ok "a burst of 40 writes: exactly one publish" [ "$(publishes)" = 1 ] ||
	sed 's/^/#   /' "$WO"
A=$(published_archive "$S" "$KEY")
ok "the burst publish holds all 40 files" [ "$(members "$A" | grep -c "^fxgraph/burst")" = 40 ]

# ---- --max-wait: a server that never stops writing still gets a publish --------
unpublish "$S" "$KEY"
start_watch busy --quiet-period 30 --max-wait 1 -- sh -c \
	'while :; do date >>"$0/busy"; sleep 0.1; done' "$C"
ok "a tree never quiet is published after --max-wait" wait_for 20 has_publish 1
stop_watch
ok "SIGTERM: the child's status (143)" expect_rc 143

# ---- SIGTERM: one final publish within the budget, the child's status ----------
unpublish "$S" "$KEY"
start_watch final --quiet-period 60 --final-budget 10 -- sh -c \
	'trap "exit 7" TERM; while :; do sleep 0.05; done'
echo late >"$C/fxgraph/late"
stop_watch
ok "SIGTERM: the child's exit status (7)" expect_rc 7 ||
	sed 's/^/#   /' "$WE"
ok "SIGTERM after a change: one publish, the final one, SUCCESS" \
	[ "$(publishes)/$(nth_publish 1 | jq -r .final)/$(nth_publish 1 | jq -r .status)" = 1/true/SUCCESS ]
ok "SIGTERM: the final publish took less than the budget" [ "$(nth_publish 1 | jq ".elapsed_s < 10")" = true ]
ok "SIGTERM: the late file is in the final publish" has_member \
	"$(published_archive "$S" "$KEY")" fxgraph/late
ok "SIGTERM: the exit record names the signal and the child" \
	[ "$(exit_field .signal)/$(exit_field .child_exit)" = SIGTERM/7 ]

# The child ends on its own after a change: the last publish is made too.
unpublish "$S" "$KEY"
run watch --json --quiet-period 60 -- sh -c 'echo x >"$0/fxgraph/atexit"; exit 4' "$C"
ok "the child exits 4 after a change: exit 4" expect_rc 4
ok "the child exits after a change: its change had a final publish" sh -c \
	'grep "\"event\":\"publish\"" "$1" | jq -e "select(.final and .status == \"SUCCESS\")" >/dev/null' _ "$T_DIR/out"

# ---- the budget: a final publish too slow for it is cut, nothing left behind --------
unpublish "$S" "$KEY"
mkdir -p "$C/big"
for i in $(seq 1 30); do truncate -s 1G "$C/big/f$i"; done
start_watch budget --quiet-period 60 --final-budget 0.5
touch "$C/big/f1"
t0=$(date +%s%N)
stop_watch
t1=$(date +%s%N)
ok "a final publish past the budget: exit 1" expect_rc 1 || sed 's/^/#   /' "$WO" "$WE"
ok "a final publish past the budget reports the cut" sh -c \
	'nth_publish() { grep "\"event\":\"publish\"" "$1" | sed -n 1p; }
	 nth_publish "$1" | jq -r .error | grep -q "cut at the final budget of 0.5 s"' _ "$WO"
ok "a final publish past the budget: stopped within 5 s of SIGTERM" [ $(((t1 - t0) / 1000000)) -lt 5000 ]
ok "a final publish past the budget: nothing published, no upload left" sh -c '[ -z "$(ls -A "$1")" ]' _ "$S" ||
	ls -A "$S" | sed 's/^/#   /'
rm -rf "$C/big"

# ---- new subdirectories, deep ones, and a directory moved within the tree ---------
unpublish "$S" "$KEY"
start_watch subdirs --quiet-period 0.2
mkdir -p "$C/triton/ab/cd/ef"
ok "a new tree of dirs: published" wait_for 20 has_publish 1
echo kernel >"$C/triton/ab/cd/ef/k.cubin"
ok "a file in the new deepest dir: published again" wait_for 20 has_publish 2
mv "$C/triton/ab" "$C/moved"
ok "a dir moved within the tree: published" wait_for 20 has_publish 3
echo k2 >"$C/moved/cd/ef/k2.cubin"
ok "a file under the moved dir: published" wait_for 20 has_publish 4
stop_watch
ok "new and moved dirs: exit 0, no failure, a rescan" \
	[ "$rc/$(exit_field .failures)/$(exit_field '.rescans > 0')" = 0/0/true ]

# ---- the kernel's queue overflows while the watcher is stopped: a rescan --------------
max=$(cat /proc/sys/fs/inotify/max_queued_events 2>/dev/null || echo 0)
if [ "$max" -gt 0 ] && [ "$max" -le 65536 ]; then
	unpublish "$S" "$KEY"
	start_watch overflow --quiet-period 0.2
	kill -STOP "$W"
	# each new file in a watched dir is IN_CREATE + IN_CLOSE_WRITE: max / 2 + 100
	# of them overflow the queue
	python3 -c 'import sys
for i in range(int(sys.argv[2]) // 2 + 100): open(f"{sys.argv[1]}/flood{i}", "w").close()' "$C/fxgraph" "$max"
	mkdir -p "$C/during/overflow"
	kill -CONT "$W"
	ok "after an overflow: published" wait_for 30 has_publish 1
	echo x >"$C/during/overflow/new"
	ok "a dir made during the overflow is watched after the rescan" wait_for 20 has_publish 2
	stop_watch
	ok "an overflow: one rescan at least" [ "$(exit_field .rescans)" -ge 1 ]
	rm -f "$C"/fxgraph/flood*
else
	ok "queue overflow # SKIP max_queued_events=$max" true
fi

# ---- --pid: stops when that process exits ---------------------------------------
sleep 300 &
SP=$!
PIDS="$PIDS $SP"
start_watch pid --pid "$SP" --quiet-period 60
echo y >"$C/fxgraph/bypid"
kill "$SP"
wait "$W"
rc=$?
ok "--pid's process exits: watch exits 0" expect_rc 0
ok "--pid exits after a change: a final publish" [ "$(exit_field .final_publish)" = true ]

# ---- the store inside the cache dir: our own uploads are no change ------------------
unpublish "$S" "$KEY"
mkdir -p "$C/store"
B10FS_CACHE_DIR="$C/store"
start_watch inner --quiet-period 0.2
echo z >"$C/fxgraph/inner"
ok "a change: published into the store in the cache dir" wait_for 20 has_publish 1
sleep 1	# a window: a publish caused by our own upload would come 0.2 s after it
stop_watch
ok "the store inside the cache dir: our publish caused no other" [ "$(publishes)" = 1 ] ||
	sed 's/^/#   /' "$WO"
B10FS_CACHE_DIR=$S

# ---- --final-budget 0: no last publish --------------------------------------------
unpublish "$S" "$KEY"
start_watch nobudget --quiet-period 60 --final-budget 0
echo n >"$C/fxgraph/nobudget"
stop_watch
ok "--final-budget 0: SIGTERM after a change exits 0" expect_rc 0
ok "--final-budget 0: no final publish" [ "$(publishes)/$(exit_field .final_publish)" = 0/false ]

# ---- the store busy (MAX_CONCURRENT_SAVES): tried again, no new change needed ------
unpublish "$S" "$KEY"
UP="$S/cache_$KEY.incomplete.otherhost.1.0123456789abcdef.tar.lz4"
: >"$UP"
MAX_CONCURRENT_SAVES=1
export MAX_CONCURRENT_SAVES
start_watch store-busy --quiet-period 0.3
echo b >"$C/fxgraph/busy"
ok "a busy store: the publish is SKIPPED" wait_for 20 has_publish 1
ok "a busy store: SKIPPED, reason too_many_saves, the message names MAX_CONCURRENT_SAVES" \
	sh -c 'echo "$1" | jq -e ".reason == \"too_many_saves\" and (.message | test(\"MAX_CONCURRENT_SAVES=1\"))" >/dev/null' \
	_ "$(nth_publish 1)" ||
	nth_publish 1 | sed 's/^/#   /'
rm -f "$UP"
ok "the store free again: published with no new change" wait_for 20 has_publish 2
ok "the retry is SUCCESS" [ "$(nth_publish 2 | jq -r .status)" = SUCCESS ]
stop_watch
unset MAX_CONCURRENT_SAVES

# ---- the cache dir a symlink to the tree -------------------------------------------
unpublish "$S" "$KEY"
mkdir -p "$T_DIR/real"
ln -s "$T_DIR/real" "$T_DIR/link"
TORCHINDUCTOR_CACHE_DIR="$T_DIR/link"
start_watch symlink --quiet-period 0.2
mkdir -p "$T_DIR/real/sub"
echo s >"$T_DIR/real/sub/f"
ok "a cache dir that is a symlink: its target is watched" wait_for 20 has_publish 1
stop_watch
TORCHINDUCTOR_CACHE_DIR=$C

# ---- PID 1 of a container: orphans are reaped ---------------------------------------
if command -v unshare >/dev/null 2>&1 && unshare -fp --mount-proc true 2>/dev/null; then
	unshare -fp --mount-proc "$B10T" watch -q -- sh -c \
		'for i in 1 2 3; do (sleep 0.1 &); done; sleep 1; ps -eo stat= | grep -c "^Z"; exit 4' \
		>"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	ok "as PID 1: the child's status (4)" expect_rc 4
	ok "as PID 1: orphans reaped, no zombie" [ "$(cat "$T_DIR/out")" = 0 ]
else
	ok "as PID 1 # SKIP unshare of a PID namespace not allowed here" true
fi

# ---- layers: after a first save, only what is new, and nothing for nothing new ----
unpublish "$S" "$KEY"
rm -rf "$C" && mkdir -p "$C/fxgraph"
echo base >"$C/fxgraph/base"
"$B10T" save -q >/dev/null 2>&1
start_watch layers --quiet-period 0.3
if line_is 'select(.event == "watching") | .publish_step' update; then
	# The same bytes written again (torch rewrites an index with what it held): nothing new.
	cp "$C/fxgraph/base" "$C/fxgraph/base.tmp" && mv "$C/fxgraph/base.tmp" "$C/fxgraph/base"
	ok "layers: a rewrite with the same bytes is a publish step" wait_for 20 has_publish 1
	ok "layers: which is SKIPPED, nothing new" [ "$(nth_publish 1 | jq -r .status)" = SKIPPED ]
	ok "layers: and the store holds no layer" [ "$(published_claim "$S" "$KEY")" = "$S/cache_$KEY.g1" ]
	echo new >"$C/fxgraph/added"
	ok "layers: a file added after the first save is published" wait_for 20 has_publish 2
	ok "layers: as the layer g2" [ "$(published_claim "$S" "$KEY")" = "$S/cache_$KEY.g2" ]
	A=$(published_archive "$S" "$KEY")
	ok "layers: g2 holds the new file" has_member "$A" fxgraph/added
	ok "layers: g2 holds only what the store lacked" lacks_member "$A" fxgraph/base
else
	ok "layers # SKIP the publish step is save: b10t_update (save --update) is not in this build" true
fi
stop_watch

# ---- b10t vllm --follow: the save after readiness, then the watch ---------------
if command -v python3 >/dev/null 2>&1; then
	unpublish "$S" "$KEY"
	export VLLM_CACHE_ROOT="$T_DIR/vllm"
	unset B10_TRANSFER_VLLM_URL http_proxy HTTP_PROXY no_proxy NO_PROXY B10T_VLLM_FOLLOW
	python3 "$SRCDIR/http_server.py" --port-file "$T_DIR/http.port" --log "$T_DIR/http.log" &
	PIDS="$PIDS $!"
	wait_for 20 test -s "$T_DIR/http.port"
	URL="http://127.0.0.1:$(cat "$T_DIR/http.port")/v1/models"
	mkdir -p "$VLLM_CACHE_ROOT/torch_compile_cache/r0"
	echo first >"$VLLM_CACHE_ROOT/torch_compile_cache/r0/model.py"
	WO="$T_DIR/vllm.out" WE="$T_DIR/vllm.err"
	: >"$WO"
	"$B10T" vllm --follow --json --url "$URL" --interval 0.1 --quiet-period 0.3 >"$WO" 2>"$WE" &
	W=$!
	PIDS="$PIDS $W"
	ok "vllm --follow: the save after readiness, one JSON line" \
		wait_for 20 line_is 'select(.event == "vllm") | .save_status' SUCCESS || sed 's/^/#   /' "$WO" "$WE"
	ok "vllm --follow: then it watches" wait_for 20 grep -q '"event":"watching"' "$WO"
	echo later >"$VLLM_CACHE_ROOT/torch_compile_cache/r0/late.py"
	ok "vllm --follow: a kernel compiled after readiness is published" wait_for 20 has_publish 1
	stop_watch
	ok "vllm --follow: SIGTERM ends it cleanly (exit 0)" expect_rc 0 || sed 's/^/#   /' "$WE"
	ok "vllm --follow: every line is JSON" all_json
	# Warm: load SUCCESS, and the follow goes on after it too.
	rm -rf "$VLLM_CACHE_ROOT"
	: >"$WO"
	B10T_VLLM_FOLLOW=1 "$B10T" vllm --json --url "$URL" --quiet-period 0.2 >"$WO" 2>"$WE" &
	W=$!
	PIDS="$PIDS $W"
	ok "B10T_VLLM_FOLLOW=1 after a warm load: it watches" \
		wait_for 20 grep -q '"event":"watching"' "$WO" || sed 's/^/#   /' "$WO" "$WE"
	ok "vllm --follow after a warm load: load was SUCCESS" \
		line_is 'select(.event == "vllm") | .load_status' SUCCESS
	stop_watch
	ok "SIGTERM after a warm load and no change: exit 0, no publish" \
		[ "$rc/$(publishes)" = 0/0 ]
else
	ok "vllm --follow # SKIP python3 not found" true
fi

done_testing
