#!/bin/sh
# Bad configuration values: one-line error naming the variable, exit 1, nothing touched.
. "$(dirname "$0")/lib.sh"

mkdir -p "$TORCHINDUCTOR_CACHE_DIR" && echo keep >"$TORCHINDUCTOR_CACHE_DIR/f"
check_bad() {	# check_bad VAR VALUE
	env "$1=$2" "$B10T" clear >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	ERR=$(cat "$T_DIR/err")
	ok "$1=$2: exit 1" expect_rc 1
	ok "$1=$2: message names the variable" contains "$ERR" "$1"
	ok "$1=$2: one line" [ "$(wc -l <"$T_DIR/err")" -eq 1 ]
	ok "$1=$2: cache dir untouched" [ -f "$TORCHINDUCTOR_CACHE_DIR/f" ]
}
check_bad MAX_CACHE_SIZE_MB abc
check_bad MAX_CACHE_SIZE_MB -1
check_bad MAX_CACHE_SIZE_MB 0
check_bad MAX_CACHE_SIZE_MB 999999999
check_bad MAX_CONCURRENT_SAVES x
check_bad MAX_CONCURRENT_SAVES 0
check_bad CLEANUP_LOCK_TIMEOUT_SECONDS -3
check_bad CLEANUP_INCOMPLETE_TIMEOUT_SECONDS 1e3
check_bad BASETEN_FS_ENABLED maybe
check_bad B10T_KEY_SCHEME sha1
check_bad B10FS_CACHE_DIR relative/dir
check_bad B10FS_CACHE_DIR /cache/../etc
check_bad LOCAL_WORK_DIR app
check_bad TORCHINDUCTOR_CACHE_DIR /
check_bad TORCHINDUCTOR_CACHE_DIR /etc
check_bad TORCHINDUCTOR_CACHE_DIR "$HOME"

run clear --max-cache-size-mb nope
ok "a bad option value exits 1" expect_rc 1
ok "and names the option" contains "$ERR" "--max-cache-size-mb"
run clear --cache-dir /usr
ok "--cache-dir /usr refused" expect_rc 1
ok "cache dir still intact" [ -f "$TORCHINDUCTOR_CACHE_DIR/f" ]

MAX_CACHE_SIZE_MB=x "$B10T" list --json >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
ok "a bad variable with --json: exit 1" expect_rc 1
ok "a bad variable with --json: status ERROR" jq_is .status ERROR
ok "a bad variable with --json: error names it" jq_is '.error | test("MAX_CACHE_SIZE_MB")' true

done_testing
