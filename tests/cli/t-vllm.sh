#!/bin/sh
# b10t vllm: load, else wait for a real local HTTP server to answer 200, then
# save; timeouts, signals, settings, and the b10-compile-cache link.
. "$(dirname "$0")/lib.sh"

command -v python3 >/dev/null 2>&1 || skip_all "python3 not found (needed for the HTTP server)"

SERVERS=""
trap 'for p in $SERVERS; do kill "$p" 2>/dev/null; done; rm -rf "$T_DIR"' EXIT
export VLLM_CACHE_ROOT="$T_DIR/vllm"
unset B10_TRANSFER_VLLM_URL B10_TRANSFER_TIMEOUT_S B10_TRANSFER_INTERVAL_S XDG_CACHE_HOME \
      http_proxy https_proxy HTTP_PROXY HTTPS_PROXY all_proxy ALL_PROXY no_proxy NO_PROXY

# start_server NAME [ARGS...]: run tests/http_server.py; sets URL and LOG.
start_server() {
	name=$1; shift
	LOG="$T_DIR/$name.log"
	python3 "$SRCDIR/http_server.py" --port-file "$T_DIR/$name.port" --log "$LOG" "$@" &
	SERVERS="$SERVERS $!"
	n=0
	while [ ! -s "$T_DIR/$name.port" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
	URL="http://127.0.0.1:$(cat "$T_DIR/$name.port")/v1/models"
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

now_ms() { echo $(($(date +%s%N) / 1000000)); }

# ---- settings: clear one-line errors naming the variable, exit 1 ----------
B10_TRANSFER_TIMEOUT_S=abc run vllm
ok "bad B10_TRANSFER_TIMEOUT_S exits 1" expect_rc 1
ok "bad B10_TRANSFER_TIMEOUT_S is named" contains "$ERR" "B10_TRANSFER_TIMEOUT_S=abc"
ok "the error is one line" [ "$(printf '%s\n' "$ERR" | wc -l)" -eq 1 ]
B10_TRANSFER_INTERVAL_S=0 run vllm
ok "B10_TRANSFER_INTERVAL_S=0 exits 1" expect_rc 1
ok "B10_TRANSFER_INTERVAL_S is named" contains "$ERR" "B10_TRANSFER_INTERVAL_S=0"
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

# ---- cold store: 503 then 200, then save ---------------------------------
# As in `b10t vllm & vllm serve`: the sidecar starts on an empty cache dir,
# vLLM compiles into it, then answers 200.  A dead proxy must not matter:
# loopback is never proxied.
start_server slow --ready-after 1
t0=$(now_ms)
http_proxy=http://127.0.0.1:1 "$B10T" vllm --json --url "$URL" --interval 0.2 --timeout 20 \
	>"$T_DIR/out" 2>"$T_DIR/err" &
pid=$!
sleep 0.3
fill_cache
wait "$pid"
rc=$?
t1=$(now_ms)
ok "cold: exits 0 after saving" expect_rc 0
ok "cold: status SUCCESS" jq_is .status SUCCESS
ok "cold: load found nothing" jq_is .load_status DOES_NOT_EXIST
ok "cold: save published" jq_is .save_status SUCCESS
# The server's clock starts before the sidecar's, so on a busy machine the
# wait can be shorter than --ready-after: count polls, not seconds.
ok "cold: it waited until ready" jq_is '.ready and .waited_s > 0 and .polls >= 3' true
ok "cold: the server saw 503s" [ "$(requests 503)" -ge 3 ]
ok "cold: then exactly one 200" [ "$(requests 200)" -eq 1 ]
ok "cold: probes went to the readiness path" [ "$(grep -vc ' /v1/models$' "$LOG")" -eq 0 ]
ok "cold: finished before its timeout" [ $((t1 - t0)) -lt 20000 ]
ok "cold: the archive is in the store" [ -f "$(jq -r .archive "$T_DIR/out")" ]
ok "cold: its name is the key's, the archive its claim names" \
	[ "$(published_archive "$B10FS_CACHE_DIR" "$(jq -r .environment_key "$T_DIR/out")")" = "$(jq -r .archive "$T_DIR/out")" ]
ok "cold: no temp file left in the store" only_published "$B10FS_CACHE_DIR" "$(jq -r .environment_key "$T_DIR/out")"

# ---- warm store: load and exit 0 without a single probe -------------------
rm -rf "$VLLM_CACHE_ROOT"
start_server warm
t0=$(now_ms)
run vllm --json --url "$URL" --interval 0.2
t1=$(now_ms)
ok "warm: exits 0" expect_rc 0
ok "warm: load SUCCESS" jq_is .load_status SUCCESS
ok "warm: no save" jq_is .save_status null
ok "warm: no probe" jq_is .polls 0
ok "warm: the server got no request" [ "$(requests)" -eq 0 ]
ok "warm: the files are back" [ "$(cat "$VLLM_CACHE_ROOT/torch_compile_cache/1234/rank_0_0/model.py")" = "compiled graph" ]
ok "warm: quick (< 2 s)" [ $((t1 - t0)) -lt 2000 ]
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
t0=$(now_ms)
run vllm --json --url "$URL" --interval 0.2 --timeout 1
t1=$(now_ms)
ok "never ready: exits 1" expect_rc 1
ok "never ready: status ERROR" jq_is .status ERROR
ok "never ready: says it timed out" jq_is '.error | test("timed out")' true
ok "never ready: the message is on stderr too" contains "$ERR" "timed out"
ok "never ready: last answer 503" jq_is .last_http_status 503
ok "never ready: no save tried" jq_is .save_status null
ok "never ready: nothing in the store" [ -z "$(ls -A "$B10FS_CACHE_DIR")" ]
ok "never ready: kept to the timeout (< 3 s)" [ $((t1 - t0)) -lt 3000 ]
B10_TRANSFER_TIMEOUT_S=0.5 B10_TRANSFER_INTERVAL_S=0.1 B10_TRANSFER_VLLM_URL="$URL" run vllm --json
ok "variables: the URL, timeout and interval are used" \
	jq_is '[.url == "'"$URL"'", .timeout_s, .interval_s, .polls >= 3] | map(tostring) | join(" ")' "true 0.5 0.1 true"

# ---- SIGTERM while polling: prompt, clean --------------------------------
ls -A "$T_DIR" "$VLLM_CACHE_ROOT" >"$T_DIR/before.ls"
"$B10T" vllm --json --url "$URL" --interval 10 --timeout 600 >"$T_DIR/out" 2>"$T_DIR/err" &
pid=$!
before=$(requests)
n=0
while [ "$(requests)" -le "$before" ] && [ $n -lt 100 ]; do sleep 0.05; n=$((n + 1)); done
sleep 0.2	# now in the 10 s sleep between probes
t0=$(now_ms)
kill -TERM "$pid"
wait "$pid"
rc=$?
t1=$(now_ms)
ok "SIGTERM: exits promptly (< 2 s)" [ $((t1 - t0)) -lt 2000 ]
ok "SIGTERM: exit 143" expect_rc 143
ok "SIGTERM: handled, not killed: the result says so" jq_is '[.status, .signal] | map(tostring) | join(" ")' "ERROR SIGTERM"
ok "SIGTERM: nothing in the store" [ -z "$(ls -A "$B10FS_CACHE_DIR")" ]
ok "SIGTERM: nothing new beside or in the cache dir" \
	sh -c 'ls -A "$1" "$2" | cmp -s - "$1/before.ls"' - "$T_DIR" "$VLLM_CACHE_ROOT"

# SIGINT too (from a parent that does not ignore it, unlike `sh -c 'cmd &'`)
python3 - "$B10T" "$URL" >"$T_DIR/sigint" 2>&1 <<'EOF'
import json, signal, subprocess, sys, time
p = subprocess.Popen([sys.argv[1], "vllm", "--json", "--url", sys.argv[2], "--interval", "10",
                      "--timeout", "600"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                     preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
time.sleep(0.5)
t = time.monotonic()
p.send_signal(signal.SIGINT)
out, _ = p.communicate(timeout=10)
print(p.returncode, json.loads(out).get("signal"), time.monotonic() - t < 2)
EOF
ok "SIGINT: exit 130, handled, promptly" [ "$(cat "$T_DIR/sigint")" = "130 SIGINT True" ]

# ---- SIGTERM during save: the save completes (or cleans up), no debris ----
export B10FS_CACHE_DIR="$T_DIR/store3"
mkdir -p "$B10FS_CACHE_DIR"
head -c 40000000 /dev/urandom >"$VLLM_CACHE_ROOT/triton/big.bin"
start_server ready3
"$B10T" vllm --json --url "$URL" --interval 0.1 >"$T_DIR/out" 2>"$T_DIR/err" &
pid=$!
n=0
while ! ls "$B10FS_CACHE_DIR" | grep -q incomplete && kill -0 "$pid" 2>/dev/null && [ $n -lt 400 ]; do
	sleep 0.01; n=$((n + 1))
done
kill -TERM "$pid" 2>/dev/null && echo "# SIGTERM sent while saving"
wait "$pid"
rc=$?
ok "SIGTERM during save: save's result stands (exit 0)" expect_rc 0
ok "SIGTERM during save: the archive is published" jq_is .save_status SUCCESS
ok "SIGTERM during save: no temp file left in the store" [ "$(ls "$B10FS_CACHE_DIR" | grep -c incomplete)" -eq 0 ]
rm -f "$VLLM_CACHE_ROOT/triton/big.bin"

# ---- load ERROR (store disabled): still waits, save reports the error -----
start_server ready
BASETEN_FS_ENABLED=0 run vllm --json --url "$URL" --interval 0.2 --timeout 5
ok "store disabled: exit 1" expect_rc 1
ok "store disabled: load ERROR, then waited and tried to save" \
	jq_is '[.load_status, .ready, .save_status] | map(tostring) | join(" ")' "ERROR true ERROR"
ok "store disabled: the load error is shown" jq_is '.load_error | length > 0' true

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
