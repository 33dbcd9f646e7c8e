#!/bin/sh
# Bad configuration values: one-line error naming the variable, exit 1, nothing touched.
. "$(dirname "$0")/lib.sh"

mkdir -p "$TORCHINDUCTOR_CACHE_DIR" && echo keep >"$TORCHINDUCTOR_CACHE_DIR/f"
# save reads every setting but LOCAL_WORK_DIR and the sidecar's: a bad one
# stops it before it packs or publishes anything.
check_bad() {	# check_bad VAR VALUE
	env "$1=$2" "$B10T" save >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	ERR=$(cat "$T_DIR/err")
	ok "$1=$2: exit 1" expect_rc 1
	ok "$1=$2: message names the variable" contains "$ERR" "$1"
	ok "$1=$2: one line" [ "$(wc -l <"$T_DIR/err")" -eq 1 ]
	ok "$1=$2: cache dir untouched" [ -f "$TORCHINDUCTOR_CACHE_DIR/f" ]
	ok "$1=$2: nothing in the store" [ -z "$(ls -A "$B10FS_CACHE_DIR")" ]
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
check_bad B10T_STATS maybe
check_bad B10T_KEY_SCHEME sha1
check_bad B10T_CODEC gz
check_bad B10T_CODEC LZ4
check_bad B10T_ZSTD_LEVEL 0
check_bad B10T_ZSTD_LEVEL 20
check_bad B10T_ZSTD_LEVEL -1
check_bad B10FS_CACHE_DIR relative/dir
check_bad B10FS_CACHE_DIR /cache/../etc
check_bad TORCHINDUCTOR_CACHE_DIR /
check_bad TORCHINDUCTOR_CACHE_DIR /etc
check_bad TORCHINDUCTOR_CACHE_DIR "$HOME"

run envkey --max-cache-size-mb nope
ok "a bad option value exits 1" expect_rc 1
ok "and names the option" contains "$ERR" "--max-cache-size-mb"
run clear --cache-dir /usr
ok "--cache-dir /usr refused" expect_rc 1
ok "cache dir still intact" [ -f "$TORCHINDUCTOR_CACHE_DIR/f" ]

MAX_CACHE_SIZE_MB=x "$B10T" save --json >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
ok "a bad variable with --json: exit 1" expect_rc 1
ok "a bad variable with --json: status ERROR" jq_is .status ERROR
ok "a bad variable with --json: error names it" jq_is '.error | test("MAX_CACHE_SIZE_MB")' true

# ---- numeric values: digits only, echoed escaped on one line -------------------
long=$(head -c 5000 /dev/zero | tr '\0' 7)
nl='5
'
for var in MAX_CACHE_SIZE_MB MAX_CONCURRENT_SAVES CLEANUP_LOCK_TIMEOUT_SECONDS \
	   CLEANUP_INCOMPLETE_TIMEOUT_SECONDS B10T_ZSTD_LEVEL; do
	for v in " 5" "5 " "+5" "-1" "0x10" "5abc" "1.5x" ".5" "99999999999999999999999" \
		 "18446744073709551617" "$nl" "$long" "5$(printf '\001')"; do
		env "$var=$v" "$B10T" save >"$T_DIR/out" 2>"$T_DIR/err"
		rc=$?
		shown=$(printf '%s' "$v" | head -c 20 | tr '\n\001' 'N1')
		ok "$var='$shown': exit 1" expect_rc 1
		ok "$var='$shown': stderr is one line" [ "$(wc -l <"$T_DIR/err")" -eq 1 ]
		ok "$var='$shown': names the variable" grep -q "$var" "$T_DIR/err"
	done
done
env "MAX_CACHE_SIZE_MB=$nl" "$B10T" save 2>"$T_DIR/err" >/dev/null
ok "a newline is echoed as \\n" grep -qF 'MAX_CACHE_SIZE_MB=5\n: not a size' "$T_DIR/err"
env "MAX_CONCURRENT_SAVES=5$(printf '\001')" "$B10T" save 2>"$T_DIR/err" >/dev/null
ok "a control byte is echoed as \\x01" grep -qF 'MAX_CONCURRENT_SAVES=5\x01: not a whole number' "$T_DIR/err"
env "MAX_CACHE_SIZE_MB=$long" "$B10T" save 2>"$T_DIR/err" >/dev/null
ok "a 5000-byte value is cut with ..." grep -q '=7*\.\.\.: must be between' "$T_DIR/err"
ok "a 5000-byte value: to a short line" [ "$(wc -c <"$T_DIR/err")" -lt 300 ]
for v in " 5" "5 " "-1" "0x10" "$nl"; do
	run info --max-cache-size-mb "$v"
	ok "--max-cache-size-mb '$(printf '%s' "$v" | tr '\n' N)': exit 1, one line" \
		sh -c '[ "$1" -eq 1 ] && [ "$(wc -l <"$2")" -eq 1 ] && grep -q -- --max-cache-size-mb "$2"' \
		- "$rc" "$T_DIR/err"
done
for opt in --stale --max-age --max-size; do
	for v in " 5" "5 " "+5" "-1" "0x10" "5abc" "" "$nl" "$long"; do
		run gc --dry-run "$opt" "$v"
		ok "gc $opt '$(printf '%s' "$v" | head -c 20 | tr '\n' N)': usage error, exit 2" expect_rc 2
		ok "gc $opt: the error is one line (and the hint)" [ "$(wc -l <"$T_DIR/err")" -eq 2 ]
		ok "gc $opt: names the option" grep -q -- "$opt" "$T_DIR/err"
	done
done

# ---- the system-dir guard ---------------------------------------------------------
for d in / /usr /usr/lib/x86_64-linux-gnu /etc/cron.d /usr/local/sbin /usr/local/share/x \
	 /lib64 /lib/x /libx32/y /bin/x /sbin /boot/efi /dev/shm /proc/1 /run/lock /sys/x \
	 /var /var/lib/dpkg /var/log /var/spool/cron /var/tmpx /tmp /tmp/ /home /root \
	 /var/tmp /var/cache /app /cache /cache/model /mnt /opt "$HOME" /home/someone; do
	run info --cache-dir "$d"
	ok "--cache-dir $d refused" expect_rc 1
	ok "--cache-dir $d: one line" [ "$(wc -l <"$T_DIR/err")" -eq 1 ]
	TORCHINDUCTOR_CACHE_DIR=$d run info
	ok "TORCHINDUCTOR_CACHE_DIR=$d refused" expect_rc 1
	ok "TORCHINDUCTOR_CACHE_DIR=$d: names the variable" contains "$ERR" TORCHINDUCTOR_CACHE_DIR
done
for d in /tmp/b10t-none-$$/x /var/tmp/b10t-none-$$ /var/cache/b10t-none-$$ /cache/b10t-none \
	 /app/b10t-none /mnt/b10t-none /data/b10t-none /opt/b10t-none/c "$HOME/.cache/inductor" \
	 "$T_DIR/cache2"; do
	run info --cache-dir "$d" --json
	ok "--cache-dir $d accepted" expect_rc 0
done
# Symlinks into the system trees: refused by where they lead, also for a
# dir not made yet below them; load creates nothing there.
ln -s /usr "$T_DIR/to-usr"
ln -s /usr/lib "$T_DIR/to-usr-lib"
ln -s /etc "$T_DIR/to-etc"
ln -s /var/lib "$T_DIR/to-var-lib"
ln -s "$T_DIR/to-usr" "$T_DIR/to-to-usr"
for l in to-usr to-usr-lib to-etc to-var-lib to-to-usr; do
	run info --cache-dir "$T_DIR/$l"
	ok "a link $l refused" expect_rc 1
	ok "a link $l: says where it resolves" contains "$ERR" "resolves to"
	TORCHINDUCTOR_CACHE_DIR="$T_DIR/$l/b10t-not-yet-$$" run load
	ok "load into $l/new refused" expect_rc 1
	ok "load into $l/new: nothing made there" [ ! -e "$T_DIR/$l/b10t-not-yet-$$" ]
done
# A dangling link: mkdir through it would create its target.
ln -s "/usr/lib/b10t-not-yet-$$" "$T_DIR/dangling"
TORCHINDUCTOR_CACHE_DIR="$T_DIR/dangling" run load
ok "load into a dangling link into /usr/lib refused" expect_rc 1
ok "nothing made at its target" [ ! -e "/usr/lib/b10t-not-yet-$$" ]
TORCHINDUCTOR_CACHE_DIR="$T_DIR/to-usr-lib" run clear
ok "clear of a link into /usr/lib refused" expect_rc 1
mkdir -p "$T_DIR/plain"
ln -s "$T_DIR/plain" "$T_DIR/to-plain"
run info --cache-dir "$T_DIR/to-plain" --json
ok "a link to a plain dir accepted" expect_rc 0

done_testing
