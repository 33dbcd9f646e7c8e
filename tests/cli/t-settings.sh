#!/bin/sh
# The settings table: a bad value stops only the verbs that read it, an
# empty value is unset for every variable, and sizes and durations read the
# same in every option and variable.
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null 2>&1 || skip_all "jq not found (reads --dump-settings)"
unset B10_TRANSFER_VLLM_URL B10_TRANSFER_TIMEOUT_S B10_TRANSFER_INTERVAL_S
# The default cache dir ($TMPDIR/torchinductor_$USER), should a test unset
# TORCHINDUCTOR_CACHE_DIR: inside the sandbox.
export TMPDIR="$T_DIR/tmp" USER=b10t-test LOGNAME=b10t-test
mkdir -p "$TMPDIR"
"$B10T" --dump-settings >"$T_DIR/dump.json"
ok "--dump-settings is JSON" [ "$(jq '.settings | length > 0' "$T_DIR/dump.json")" = true ]

# bad_value TYPE: a value that type refuses ("" for a URL: only vllm checks it)
bad_value() {
	case $1 in
	path) echo relative/dir ;;
	count | size | duration) echo 12abc ;;
	bool) echo maybe ;;
	choice) echo nope ;;
	*) echo "" ;;
	esac
}
# VAR:TYPE words (a for loop, not a pipe: ok's counter lives in this shell)
VARS=$(jq -r '.settings[] | "\(.env):\(.type)"' "$T_DIR/dump.json")

# ---- 15.2: the issue's case, then every verb against every setting ----------
run envkey
key=$OUT
LOCAL_WORK_DIR=app run envkey
ok "LOCAL_WORK_DIR=app b10t envkey: exit 0" expect_rc 0
ok "LOCAL_WORK_DIR=app b10t envkey: the key" [ "$OUT" = "$key" ]
ok "LOCAL_WORK_DIR=app b10t envkey: nothing on stderr" [ -z "$ERR" ]
LOCAL_WORK_DIR=app run envkey -v
ok "-v says the bad value was ignored" contains "$ERR" "not read by envkey, so ignored: LOCAL_WORK_DIR=app"

for verb in clear doctor envkey gc info list load save; do
	run "$verb" --json
	base=$rc
	reads=" $(jq -r --arg v "$verb" '.verbs[] | select(.name == $v) | .settings | join(" ")' \
		"$T_DIR/dump.json") "
	for vt in $VARS; do
		var=${vt%%:*} type=${vt#*:}
		bad=$(bad_value "$type")
		[ -n "$bad" ] || continue
		env "$var=$bad" "$B10T" "$verb" --json >"$T_DIR/out" 2>"$T_DIR/err"
		rc=$?
		case $reads in
		*" $var "*)
			ok "$verb reads $var: $var=$bad exits 1" expect_rc 1
			ok "$verb reads $var: the error names it" grep -q "$var=$bad" "$T_DIR/err"
			ok "$verb reads $var: the JSON error names it" jq_is '.error | contains("'"$var"'")' true
			;;
		*)
			ok "$verb does not read $var: $var=$bad changes nothing" expect_rc "$base"
			ok "$verb does not read $var: not named" sh -c '! grep -q "$1" "$2"' - "$var" "$T_DIR/err"
			;;
		esac
	done
done
# vllm too, with a probe that fails at once (exit 1 either way: the
# message tells a refused setting from the timeout)
VA="--timeout 0 --url http://127.0.0.1:1/"
reads=" $(jq -r '.verbs[] | select(.name == "vllm") | .settings | join(" ")' "$T_DIR/dump.json") "
for vt in $VARS; do
	var=${vt%%:*} type=${vt#*:}
	bad=$(bad_value "$type")
	[ -n "$bad" ] || continue
	case $var in B10_TRANSFER_TIMEOUT_S | B10_TRANSFER_VLLM_URL) continue ;; esac	# set by $VA
	# shellcheck disable=SC2086
	env "$var=$bad" "$B10T" vllm $VA >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	case $var in
	TORCHINDUCTOR_CACHE_DIR)	# vLLM's cache root replaces it (b10t-vllm(1))
		ok "vllm: its cache dir is vLLM's, $var=$bad not read" sh -c '! grep -q "$1" "$2"' - "$var" "$T_DIR/err"
		continue ;;
	esac
	case $reads in
	*" $var "*)
		ok "vllm reads $var: $var=$bad refused, named" grep -q "$var=$bad" "$T_DIR/err" ;;
	*)
		ok "vllm does not read $var: $var=$bad not named" sh -c '! grep -q "$1" "$2"' - "$var" "$T_DIR/err" ;;
	esac
done

# an option replaces its variable: a bad variable under a good option is
# never read (save reads 8 settings; the same exit as the option alone)
good_value() {
	case $2 in
	path) echo "$T_DIR/opt-$1" ;;
	size) echo 4G ;;
	count) echo 3 ;;
	duration) echo 30s ;;
	bool) echo 1 ;;
	*) jq -r --arg v "$1" '.settings[] | select(.env == $v) | .default' "$T_DIR/dump.json" ;;
	esac
}
for var in $(jq -r '.verbs[] | select(.name == "save") | .settings[]' "$T_DIR/dump.json"); do
	type=$(jq -r --arg v "$var" '.settings[] | select(.env == $v) | .type' "$T_DIR/dump.json")
	opt=$(jq -r --arg v "$var" '.settings[] | select(.env == $v) | .option' "$T_DIR/dump.json")
	bad=$(bad_value "$type") good=$(good_value "$var" "$type")
	[ -n "$bad" ] || continue
	"$B10T" save --json "--$opt=$good" >/dev/null 2>&1
	want=$?
	env "$var=$bad" "$B10T" save --json "--$opt=$good" >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	ok "$var=$bad under --$opt=$good: not read, the same exit ($want)" expect_rc "$want"
	ok "$var=$bad under --$opt=$good: not named" sh -c '! grep -q "$1=" "$2"' - "$var" "$T_DIR/err"
done
# every verb's --help lists exactly the settings it reads
for verb in clear doctor envkey gc info list load save vllm; do
	# (vllm's cache dir is vLLM's cache root: its line names VLLM_CACHE_ROOT)
	want=$(jq -r --arg v "$verb" '.verbs[] | select(.name == $v) | .settings[]' "$T_DIR/dump.json" |
	       if [ "$verb" = vllm ]; then sed 's/^TORCHINDUCTOR_CACHE_DIR$/VLLM_CACHE_ROOT/'; else cat; fi | sort)
	got=$("$B10T" "$verb" --help | grep -E '^ ' | grep -oE '\[[A-Z][A-Z0-9_]+\]$' | tr -d '[]' | sort)
	ok "$verb --help lists the settings it reads" [ "$want" = "$got" ]
done

# ---- 15.2: an empty value is unset, for every variable ---------------------
for vt in $VARS; do
	var=${vt%%:*}
	env -u "$var" "$B10T" info --json >"$T_DIR/unset.json" 2>/dev/null
	env "$var=" "$B10T" info --json >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	ok "$var= (empty): info exits 0" expect_rc 0
	ok "$var= (empty): as if unset" [ "$(jq -S . "$T_DIR/out")" = "$(jq -S . "$T_DIR/unset.json")" ]
	env "$var=" "$B10T" save >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	ok "$var= (empty): save is not refused for it" sh -c '! grep -q "$1=" "$2"' - "$var" "$T_DIR/err"
done
for var in B10T_TORCH_VERSION B10T_TRITON_VERSION B10T_CUDA_VERSION B10T_COMPUTE_CAPABILITY \
	   B10T_DEVICE_NAME B10T_CUDART B10T_CUDA_DRIVER B10T_LOG; do
	env "$var=" "$B10T" envkey --json >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	ok "$var= (empty): envkey exits 0" expect_rc 0
	env -u "$var" "$B10T" envkey --json >"$T_DIR/unset.json" 2>/dev/null
	ok "$var= (empty): the key as if unset" \
		[ "$(jq -r .environment_key "$T_DIR/out")" = "$(jq -r .environment_key "$T_DIR/unset.json")" ]
done

# and the variables b10t reads beside the table: vLLM's cache root
for var in VLLM_CACHE_ROOT XDG_CACHE_HOME HOME; do
	env -u "$var" "$B10T" vllm --json --timeout 0 --url http://127.0.0.1:1/ >"$T_DIR/unset.json" 2>/dev/null
	env "$var=" "$B10T" vllm --json --timeout 0 --url http://127.0.0.1:1/ >"$T_DIR/out" 2>/dev/null
	got=$(jq -r .cache_dir "$T_DIR/out")
	ok "$var= (empty): vllm's cache dir as if unset" \
		sh -c '[ "$1" != null ] && [ "$1" = "$2" ]' - "$got" "$(jq -r .cache_dir "$T_DIR/unset.json")"
done
for var in VIRTUAL_ENV CONDA_PREFIX PYTHONPATH PYENV_VERSION PYENV_ROOT B10T_PYTHON_ROOT; do
	env "$var=" "$B10T" envkey --json >"$T_DIR/out" 2>/dev/null
	env -u "$var" "$B10T" envkey --json >"$T_DIR/unset.json" 2>/dev/null
	ok "$var= (empty): the key as if unset" \
		[ "$(jq -r .environment_key "$T_DIR/out")" = "$(jq -r .environment_key "$T_DIR/unset.json")" ]
done

# ---- 15.3: sizes and durations, one syntax everywhere ----------------------
rm -rf "${B10FS_CACHE_DIR:?}"/* "$TMPDIR"/*
mkdir -p "$TORCHINDUCTOR_CACHE_DIR"
head -c 3145728 /dev/urandom >"$TORCHINDUCTOR_CACHE_DIR/blob"	# 3 MiB, incompressible
for v in 1.5M 2MiB 2M 2097152B; do
	MAX_CACHE_SIZE_MB=$v run save
	ok "MAX_CACHE_SIZE_MB=$v: a 3 MiB cache is refused" expect_rc 1
	ok "MAX_CACHE_SIZE_MB=$v: said so" contains "$ERR" "exceed MAX_CACHE_SIZE_MB"
done
KEY=$("$B10T" envkey)
ok "and nothing was published" none_published "$B10FS_CACHE_DIR" "$KEY"
for v in 20GB 20GiB 1.5G 500M 500mb 4; do
	unpublish "$B10FS_CACHE_DIR" "$KEY"
	MAX_CACHE_SIZE_MB=$v run save --json
	ok "MAX_CACHE_SIZE_MB=$v: a 3 MiB cache is accepted" expect_rc 0
done
ok "a plain MAX_CACHE_SIZE_MB is MiB: 4 let 3 MiB through" [ -n "$(published_archive "$B10FS_CACHE_DIR" "$KEY")" ]
for bad in 1MB 2TiB 20XB "20 GB" -1G 1.G; do
	MAX_CACHE_SIZE_MB=$bad run save
	ok "MAX_CACHE_SIZE_MB='$bad': exit 1" expect_rc 1
	ok "MAX_CACHE_SIZE_MB='$bad': one line naming it" \
		sh -c '[ "$(wc -l <"$2")" -eq 1 ] && grep -q "MAX_CACHE_SIZE_MB=$1: " "$2"' - "$bad" "$T_DIR/err"
done
run save --max-cache-size-mb 2TiB
ok "an option: the same range" contains "$ERR" "--max-cache-size-mb=2TiB: must be between 1 MiB and 1 TiB"
for v in 30s 1.5m 2h 7d 45; do
	CLEANUP_LOCK_TIMEOUT_SECONDS=$v run gc --json
	ok "CLEANUP_LOCK_TIMEOUT_SECONDS=$v accepted" expect_rc 0
	run gc --stale "$v" --max-age "$v" --max-size 20GB --all --dry-run --json
	ok "gc --stale/--max-age $v --max-size 20GB accepted" expect_rc 0
done
CLEANUP_INCOMPLETE_TIMEOUT_SECONDS=1.5s run gc
ok "a duration of whole seconds: 1.5s refused" contains "$ERR" \
	"CLEANUP_INCOMPLETE_TIMEOUT_SECONDS=1.5s: not a whole number of seconds"
CLEANUP_INCOMPLETE_TIMEOUT_SECONDS=31d run gc
ok "over the range: said with the range" contains "$ERR" "must be between 0s and 30d"
run gc --max-size 1.5Q
ok "gc --max-size 1.5Q: a usage error" expect_rc 2
ok "gc --max-size: the sizes' message" contains "$ERR" "--max-size=1.5Q: not a size (20GB, 20GiB, 1.5G, 500M)"
run gc --max-age 2w
ok "gc --max-age 2w: the durations' message" contains "$ERR" "--max-age=2w: not a duration (30s, 1.5m, 2h, 7d)"
run vllm --timeout 1.5m --interval 0.05
ok "vllm --interval 0.05: under 100ms refused" contains "$ERR" "--interval=0.05: must be between 100ms and 1h"
B10_TRANSFER_TIMEOUT_S= run vllm --interval 0.5 --url http://127.0.0.1:1/ --json
ok "vllm: a warm load, and an empty B10_TRANSFER_TIMEOUT_S is the default" jq_is .timeout_s 1800
ok "vllm --interval 0.5: half a second" jq_is .interval_s 0.5

# README's configuration table has a row for every setting of the table,
# with its variable and option (a new setting shows where users look).
"$B10T" --dump-settings | jq -r '.settings[] | .env + " " + .option' >"$T_DIR/settings"
while read -r env opt; do
	ok "README's configuration table: $env, --$opt" \
		grep -qF "| \`$env\` | \`--$opt\` |" "$SRCDIR/../README.md"
done <"$T_DIR/settings"
ok "the settings dump lists the settings" [ "$(wc -l <"$T_DIR/settings")" -ge 20 ]

done_testing
