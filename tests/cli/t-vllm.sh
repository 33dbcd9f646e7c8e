#!/bin/sh
# b10t vllm: load, else wait for a real local HTTP server to answer 200, then
# save; timeouts, signals, settings, and the b10-compile-cache link.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all "python3 not found (needed for the HTTP server)"

SERVERS=""
trap 'for p in $SERVERS; do kill "$p" 2>/dev/null; done; rm -rf "$T_DIR"' EXIT
export VLLM_CACHE_ROOT="$T_DIR/vllm"
unset B10_TRANSFER_VLLM_URL B10_TRANSFER_TIMEOUT_S B10_TRANSFER_INTERVAL_S B10T_VLLM_LOG_INTERVAL \
      XDG_CACHE_HOME http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

# No sleeps and no clocks: every wait below is a handshake on a FIFO that
# the fake server (tests/http_server.py), the save-gate shim or the
# sidecar's stderr writes, and a slow machine only makes the test slower.

# start_server NAME [ARGS...]: run tests/http_server.py; sets URL and LOG.
# It returns once the server listens: its port comes through a FIFO.
start_server() {
	name=$1; shift
	LOG="$T_DIR/$name.log"
	mkfifo "$T_DIR/$name.port"
	python3 "$SRCDIR/http_server.py" --port-file "$T_DIR/$name.port" --log "$LOG" "$@" &
	SERVERS="$SERVERS $!"
	read -r port <"$T_DIR/$name.port"
	URL="http://127.0.0.1:$port/v1/models"
}

# fill_cache: what vLLM would have compiled
fill_cache() {
	mkdir -p "$VLLM_CACHE_ROOT/torch_compile_cache/1234/rank_0_0" "$VLLM_CACHE_ROOT/triton"
	echo "compiled graph" >"$VLLM_CACHE_ROOT/torch_compile_cache/1234/rank_0_0/model.py"
	head -c 70000 /dev/urandom >"$VLLM_CACHE_ROOT/triton/kernel.cubin"
}

# requests [STATUS]: how many requests the server got (with that status)
requests() {
	if [ $# -eq 0 ]; then wc -l <"$LOG" | tr -d ' '; else grep -c "^$1 " "$LOG"; fi
}

# read_until FD TEXT: read lines from FD until one contains TEXT (fails at
# EOF); the line is left in $_line
read_until() {
	while IFS= read -r _line <&"$1"; do
		case $_line in *"$2"*) return 0 ;; esac
	done
	echo "#   EOF before a line with '$2'"
	return 1
}

# ---- settings: clear one-line errors naming the variable, exit 1 ----------
B10_TRANSFER_TIMEOUT_S=abc run vllm
ok "bad B10_TRANSFER_TIMEOUT_S exits 1" expect_rc 1
ok "bad B10_TRANSFER_TIMEOUT_S is named" contains "$ERR" "B10_TRANSFER_TIMEOUT_S=abc"
ok "the error is one line" [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ]
B10_TRANSFER_INTERVAL_S=0 run vllm
ok "B10_TRANSFER_INTERVAL_S=0 exits 1" expect_rc 1
ok "B10_TRANSFER_INTERVAL_S is named" contains "$ERR" "B10_TRANSFER_INTERVAL_S=0"
B10T_VLLM_LOG_INTERVAL=often run vllm
ok "bad B10T_VLLM_LOG_INTERVAL exits 1" expect_rc 1
ok "B10T_VLLM_LOG_INTERVAL is named" contains "$ERR" "B10T_VLLM_LOG_INTERVAL=often"
B10_TRANSFER_VLLM_URL=ftp://127.0.0.1/x run vllm
ok "a non-http URL exits 1" expect_rc 1
ok "B10_TRANSFER_VLLM_URL is named" contains "$ERR" "B10_TRANSFER_VLLM_URL=ftp://127.0.0.1/x"
run vllm --timeout=-5
ok "negative --timeout exits 1" expect_rc 1
ok "--timeout is named" contains "$ERR" "--timeout=-5"
B10_TRANSFER_TIMEOUT_S=abc run vllm --timeout 0 --url http://127.0.0.1:1/ --json
ok "an option overrides a bad variable" jq_is .timeout_s 0
run vllm extra
ok "an operand is a usage error" expect_rc 2
ok "nothing was written to the store" [ -z "$(ls -A "$B10FS_CACHE_DIR")" ]

# ---- the cache dir is vLLM's, --cache-dir still wins ---------------------
run vllm --json --timeout 0 --url http://127.0.0.1:1/
ok "VLLM_CACHE_ROOT is the cache dir" jq_is .cache_dir "$VLLM_CACHE_ROOT"
ok "no server: ERROR" expect_rc 1
ok "no server: the transport error is reported" jq_is '.last_http_error | length > 0' true
VLLM_CACHE_ROOT= XDG_CACHE_HOME="$T_DIR/xdg" run vllm --json --timeout 0 --url http://127.0.0.1:1/
ok "unset VLLM_CACHE_ROOT: \$XDG_CACHE_HOME/vllm" jq_is .cache_dir "$T_DIR/xdg/vllm"
VLLM_CACHE_ROOT= XDG_CACHE_HOME= run vllm --json --timeout 0 --url http://127.0.0.1:1/
ok "empty VLLM_CACHE_ROOT and XDG_CACHE_HOME: ~/.cache/vllm" jq_is .cache_dir "$HOME/.cache/vllm"
VLLM_CACHE_ROOT="~/vc" run vllm --json --timeout 0 --url http://127.0.0.1:1/
ok "~ in VLLM_CACHE_ROOT is the home dir" jq_is .cache_dir "$HOME/vc"
run vllm --json --timeout 0 --url http://127.0.0.1:1/ --cache-dir "$T_DIR/explicit"
ok "--cache-dir wins over VLLM_CACHE_ROOT" jq_is .cache_dir "$T_DIR/explicit"
VLLM_CACHE_ROOT=relative run vllm --timeout 0 --url http://127.0.0.1:1/
ok "a relative VLLM_CACHE_ROOT exits 1" expect_rc 1
ok "a relative VLLM_CACHE_ROOT is named" contains "$ERR" "VLLM_CACHE_ROOT"

# ---- --help: the cache dir it really uses --------------------------------
run vllm --help
ok "--help: the cache dir is VLLM_CACHE_ROOT, with its value here" \
	contains "$OUT" "vLLM's cache root (default \$XDG_CACHE_HOME/vllm, else ~/.cache/vllm; here $VLLM_CACHE_ROOT) [VLLM_CACHE_ROOT]"
ok "--help: not torch's default" sh -c '! printf "%s" "$1" | grep -q torchinductor' - "$OUT"
VLLM_CACHE_ROOT= XDG_CACHE_HOME="$T_DIR/xdg" run vllm --help
ok "--help, VLLM_CACHE_ROOT unset: here \$XDG_CACHE_HOME/vllm" contains "$OUT" "here $T_DIR/xdg/vllm)"
VLLM_CACHE_ROOT= run vllm --help
ok "--help, neither set: here ~/.cache/vllm" contains "$OUT" "here $HOME/.cache/vllm)"

# ---- no store: said at once, nothing waited for ------------------------------
# --timeout 120 with a server that is never ready: a sidecar that waited
# would end in ERROR after 2 minutes, not with these answers.
start_server nostore --never
BASETEN_FS_ENABLED=0 run vllm --json --url "$URL" --timeout 120
ok "store disabled: SKIPPED, exit 4" expect_rc 4
ok "store disabled: reason store_disabled" jq_is .reason store_disabled
ok "store disabled: the message says nothing can be saved" jq_is '.message | test("nothing can be saved")' true
ok "store disabled: no load, no wait, no save" \
	jq_is '[.load_status, .waited, .polls, .save_status] | map(tostring) | join(" ")' "null false 0 null"
ok "store disabled: said on stderr, not as an error" \
	sh -c 'grep -q "^b10t vllm: turned off by BASETEN_FS_ENABLED" "$1" && ! grep -q "error" "$1"' - "$T_DIR/err"
B10FS_CACHE_DIR="$T_DIR/no-such-store" run vllm --url "$URL" --timeout 120
ok "store missing: SKIPPED, exit 4" expect_rc 4
ok "store missing: the text result says why and what to set" \
	contains "$OUT" "status: SKIPPED (the store $T_DIR/no-such-store does not exist: set B10FS_CACHE_DIR"
ok "store missing: no wait line" sh -c '! grep -q "^wait:" "$1"' - "$T_DIR/out"
B10FS_CACHE_DIR="$T_DIR/no-such-store" run vllm --json --url "$URL" --timeout 120
ok "store missing: reason store_missing" jq_is .reason store_missing
B10FS_CACHE_DIR="$T_DIR/no-such-store" BASETEN_FS_ENABLED=1 run vllm --json --url "$URL" --timeout 120
ok "store forced on but missing: ERROR at once, exit 1" expect_rc 1
ok "store forced on but missing: the error says nothing can be saved" \
	jq_is '[.waited, (.error | test("does not exist.*nothing can be saved"))] | map(tostring) | join(" ")' "false true"
ok "no store: the server got no probe at all" [ "$(requests)" -eq 0 ]
ok "no store: nothing was written in the cache dir" [ ! -e "$VLLM_CACHE_ROOT" ]

# ---- cold store: 503 then 200, then save ---------------------------------
# As in `b10t vllm & vllm serve`: the sidecar starts on an empty cache dir,
# vLLM compiles into it, then answers 200.  Here the server answers 503
# until the file "ready" exists, and tells each probe on a FIFO: the test
# fills the cache after the first probe, then makes the server ready.  A
# dead proxy must not matter: loopback is never proxied.
mkfifo "$T_DIR/cold.notify"
start_server cold --ready-file "$T_DIR/cold.ready" --notify "$T_DIR/cold.notify"
http_proxy=http://127.0.0.1:1 "$B10T" vllm --json --url "$URL" --interval 0.1 --timeout 600 \
	>"$T_DIR/out" 2>"$T_DIR/err" &
pid=$!
exec 3<"$T_DIR/cold.notify"	# returns at the server's first request
read -r first <&3
fill_cache
: >"$T_DIR/cold.ready"
wait "$pid"
rc=$?
exec 3<&-
ok "cold: the first probe was answered 503" [ "$first" = "503 /v1/models" ]
ok "cold: exits 0 after saving" expect_rc 0
ok "cold: status SUCCESS" jq_is .status SUCCESS
ok "cold: load found nothing" jq_is .load_status DOES_NOT_EXIST
ok "cold: save published" jq_is .save_status SUCCESS
ok "cold: it waited until ready, probing more than once" jq_is '.ready and .waited_s > 0 and .polls >= 2' true
ok "cold: its polls are the server's requests" [ "$(jq .polls "$T_DIR/out")" -eq "$(requests)" ]
ok "cold: the server saw 503s" [ "$(requests 503)" -ge 1 ]
ok "cold: then exactly one 200, the last" sh -c '[ "$(grep -c "^200 " "$1")" -eq 1 ] && [ "$(tail -n 1 "$1")" = "200 /v1/models" ]' - "$LOG"
ok "cold: probes went to the readiness path" [ "$(grep -vc ' /v1/models$' "$LOG")" -eq 0 ]
ok "cold: the archive is in the store" [ -f "$(jq -r .archive "$T_DIR/out")" ]
ok "cold: its name is the key's, the archive its claim names" \
	[ "$(published_archive "$B10FS_CACHE_DIR" "$(jq -r .environment_key "$T_DIR/out")")" = "$(jq -r .archive "$T_DIR/out")" ]
ok "cold: no temp file left in the store" only_published "$B10FS_CACHE_DIR" "$(jq -r .environment_key "$T_DIR/out")"

# ---- warm store: load and exit 0 without a single probe -------------------
rm -rf "$VLLM_CACHE_ROOT"
start_server warm
run vllm --json --url "$URL" --interval 0.2
ok "warm: exits 0" expect_rc 0
ok "warm: load SUCCESS" jq_is .load_status SUCCESS
ok "warm: no save" jq_is .save_status null
ok "warm: no probe" jq_is .polls 0
ok "warm: the server got no request" [ "$(requests)" -eq 0 ]
ok "warm: the files are back" [ "$(cat "$VLLM_CACHE_ROOT/torch_compile_cache/1234/rank_0_0/model.py")" = "compiled graph" ]
run vllm --url "$URL"
ok "text: the non-empty cache dir is SKIPPED, the wait and save reported" \
	sh -c 'printf "%s" "$1" | grep -q "^load: SKIPPED" && printf "%s" "$1" | grep -q "^wait: ready" &&
	       printf "%s" "$1" | grep -q "^save: SKIPPED"' - "$OUT"
ok "text: already published: exit 4 (save's SKIPPED)" expect_rc 4
ok "text: a wait of one probe says '1 probe', singular" contains "$OUT" ", 1 probe of "

# ---- never ready: time out, save nothing ---------------------------------
export B10FS_CACHE_DIR="$T_DIR/store2"
mkdir -p "$B10FS_CACHE_DIR"
start_server never --never
run vllm --json --url "$URL" --interval 0.2 --timeout 1
ok "never ready: exits 1" expect_rc 1
ok "never ready: status ERROR" jq_is .status ERROR
ok "never ready: says it timed out" jq_is '.error | test("timed out")' true
ok "never ready: the message is on stderr too" contains "$ERR" "timed out"
ok "never ready: last answer 503" jq_is .last_http_status 503
ok "never ready: no save tried" jq_is .save_status null
ok "never ready: nothing in the store" [ -z "$(ls -A "$B10FS_CACHE_DIR")" ]
ok "never ready: it waited the whole timeout" jq_is '.waited_s >= .timeout_s and .polls >= 1' true
B10_TRANSFER_TIMEOUT_S=0.5 B10_TRANSFER_INTERVAL_S=0.1 B10_TRANSFER_VLLM_URL="$URL" run vllm --json
ok "variables: the URL, timeout and interval are used" \
	jq_is '[.url == "'"$URL"'", .timeout_s, .interval_s, .polls >= 1] | map(tostring) | join(" ")' "true 0.5 0.1 true"

# ---- while waiting: a line now and then; SIGTERM is a stop, not an error ----
# The sidecar's stderr is a FIFO the test reads: once it has said it is
# still waiting, it is in its loop, between or in probes.  --timeout 120:
# a sidecar that missed the signal ends in ERROR, exit 1, not 143.
ls -A "$T_DIR" "$VLLM_CACHE_ROOT" >"$T_DIR/before.ls"
mkfifo "$T_DIR/wait.err"
"$B10T" vllm --json --url "$URL" --interval 0.1 --log-interval 0.1 --timeout 120 \
	>"$T_DIR/out" 2>"$T_DIR/wait.err" &
pid=$!
exec 4<"$T_DIR/wait.err"
ok "waiting: it says so first" read_until 4 "waiting up to 120 s for HTTP 200 from $URL"
ok "waiting: then a line now and then (--log-interval)" read_until 4 "b10t vllm: still waiting for HTTP 200 from $URL: "
printf '%s\n' "$_line" >"$T_DIR/still"
kill -TERM "$pid"
cat <&4 >"$T_DIR/err"
exec 4<&-
wait "$pid"
rc=$?
ok "waiting: the line says for how long, of how long, and the last answer" \
	grep -Eq ': [0-9]+\.[0-9] s of 120 s, [0-9]+ probes?, last answer: HTTP 503$' "$T_DIR/still"
ok "SIGTERM while waiting: exit 143" expect_rc 143
ok "SIGTERM while waiting: handled: SKIPPED, reason signal" \
	jq_is '[.status, .reason, .signal] | map(tostring) | join(" ")' "SKIPPED signal SIGTERM"
ok "SIGTERM while waiting: no error in the result" jq_is 'has("error")' false
ok "SIGTERM while waiting: a notice on stderr, not an error" \
	sh -c 'grep -q "^b10t vllm: stopped by SIGTERM while waiting for vLLM; nothing saved$" "$1" &&
	       ! grep -qi "error" "$1"' - "$T_DIR/err"
ok "SIGTERM while waiting: nothing in the store" [ -z "$(ls -A "$B10FS_CACHE_DIR")" ]
ok "SIGTERM while waiting: nothing new beside or in the cache dir" \
	sh -c 'ls -A "$1" "$2" | grep -Ev "^(wait.err|still)$" | cmp -s - "$1/before.ls"' - "$T_DIR" "$VLLM_CACHE_ROOT"
"$B10T" vllm --url "$URL" --interval 0.1 --log-interval 0 --timeout 0.5 >"$T_DIR/out" 2>"$T_DIR/err"
ok "--log-interval 0: no such line" sh -c '! grep -q "still waiting" "$1"' - "$T_DIR/err"
"$B10T" vllm -q --url "$URL" --interval 0.1 --log-interval 0.1 --timeout 0.5 >"$T_DIR/out" 2>"$T_DIR/err"
ok "-q: no such line" sh -c '! grep -q "still waiting" "$1"' - "$T_DIR/err"

# SIGINT too (from a parent that does not ignore it, unlike `sh -c 'cmd &'`),
# sent once the sidecar said it waits
python3 - "$B10T" "$URL" >"$T_DIR/sigint" 2>&1 <<'EOF'
import json, signal, subprocess, sys
p = subprocess.Popen([sys.argv[1], "vllm", "--json", "--url", sys.argv[2], "--interval", "0.1",
                      "--timeout", "120"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
for line in p.stderr:
    if b"waiting up to" in line:
        break
    sys.stdout.write("# stderr: " + line.decode(errors="replace"))
p.send_signal(signal.SIGINT)
out, err = p.communicate(timeout=100)
r = json.loads(out)
print(p.returncode, r.get("status"), r.get("signal"), b"error" in err)
EOF
ok "SIGINT while waiting: exit 130, handled, not an error" [ "$(cat "$T_DIR/sigint")" = "130 SKIPPED SIGINT False" ]

# ---- SIGTERM during save: the save completes, no debris -------------------
# The save-gate shim holds the save once its upload exists in the store,
# and says so on a FIFO: the signal lands while save runs, by construction.
if [ -n "${SAVE_GATE:-}" ] && [ -f "$SAVE_GATE" ] &&
   case ${B10T_SANITIZE:-none} in none | '') true ;; *) false ;; esac; then
	export B10FS_CACHE_DIR="$T_DIR/store3"
	mkdir -p "$B10FS_CACHE_DIR"
	mkfifo "$T_DIR/gate.note" "$T_DIR/gate.wait"
	start_server ready3
	LD_PRELOAD=$SAVE_GATE B10T_GATE_MATCH=.incomplete. B10T_GATE_NOTE="$T_DIR/gate.note" \
	B10T_GATE_WAIT="$T_DIR/gate.wait" \
		"$B10T" vllm --json --url "$URL" --interval 0.1 >"$T_DIR/out" 2>"$T_DIR/err" &
	pid=$!
	read -r held <"$T_DIR/gate.note"
	ok "SIGTERM during save: the save was held at its upload" contains "$held" ".incomplete."
	ok "SIGTERM during save: the upload is in the store when the signal is sent" \
		[ "$(ls "$B10FS_CACHE_DIR" | grep -c incomplete)" -eq 1 ]
	kill -TERM "$pid"
	: >"$T_DIR/gate.wait"	# let the save go on
	wait "$pid"
	rc=$?
	key=$(jq -r .environment_key "$T_DIR/out")
	ok "SIGTERM during save: save's result stands (exit 0)" expect_rc 0
	ok "SIGTERM during save: it said the save finishes first" \
		grep -q "^b10t vllm: signal received: the save in progress finishes first; a second signal stops it at once$" "$T_DIR/err"
	ok "SIGTERM during save: the archive is published" jq_is .save_status SUCCESS
	ok "SIGTERM during save: only the claim and its archive, no temp file" \
		only_published "$B10FS_CACHE_DIR" "$key"
	rm -rf "$T_DIR/back"
	TORCHINDUCTOR_CACHE_DIR="$T_DIR/back" "$B10T" load >/dev/null 2>&1
	ok "SIGTERM during save: the archive is whole: it loads the same bytes" \
		cmp -s "$T_DIR/back/triton/kernel.cubin" "$VLLM_CACHE_ROOT/triton/kernel.cubin"

	# A second signal means now: killed, the store holds no archive of it.
	export B10FS_CACHE_DIR="$T_DIR/store3b"
	mkdir -p "$B10FS_CACHE_DIR"
	# Its stderr is a FIFO: the second is sent once the first was handled
	# (its notice came), else the kernel would merge the two.
	mkfifo "$T_DIR/save.err"
	LD_PRELOAD=$SAVE_GATE B10T_GATE_MATCH=.incomplete. B10T_GATE_NOTE="$T_DIR/gate.note" \
	B10T_GATE_WAIT="$T_DIR/gate.wait" \
		"$B10T" vllm --json --url "$URL" --interval 0.1 >"$T_DIR/out" 2>"$T_DIR/save.err" &
	pid=$!
	exec 5<"$T_DIR/save.err"
	read -r held <"$T_DIR/gate.note"
	kill -TERM "$pid"
	ok "two SIGTERMs during save: the first is handled" read_until 5 "finishes first"
	kill -TERM "$pid"
	cat <&5 >/dev/null
	exec 5<&-
	wait "$pid"
	rc=$?
	ok "two SIGTERMs during save: killed by the second (143)" expect_rc 143
	ok "two SIGTERMs during save: no archive published" none_published "$B10FS_CACHE_DIR" "$key"
	ok "two SIGTERMs during save: only the upload is left, for gc" \
		[ "$(ls -A "$B10FS_CACHE_DIR" | grep -vc '\.incomplete\.')" -eq 0 ]
else
	T_N=$((T_N + 1))
	echo "ok $T_N - SIGTERM during save # SKIP the save-gate shim (LD_PRELOAD) does not run under sanitizers"
fi

start_server ready
# ---- the b10-compile-cache link runs the verb ----------------------------
mkdir -p "$T_DIR/bin"
ln -s "$B10T" "$T_DIR/bin/b10-compile-cache"
"$T_DIR/bin/b10-compile-cache" --help >"$T_DIR/out" 2>&1
ok "b10-compile-cache is b10t vllm" contains "$(cat "$T_DIR/out")" "Usage: b10t vllm"
export B10FS_CACHE_DIR="$T_DIR/store4"
mkdir -p "$B10FS_CACHE_DIR"
"$T_DIR/bin/b10-compile-cache" --json --url "$URL" --timeout 5 >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
ok "b10-compile-cache saves like b10t vllm" jq_is .save_status SUCCESS
ok "b10-compile-cache exit 0" expect_rc 0

done_testing
