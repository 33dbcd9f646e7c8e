# Shared helpers for the CLI tests: TAP output, a fresh sandbox, run().
# Each t-*.sh sources this, calls the helpers and ends with `done_testing`.
set -u

: "${B10T:?B10T must point at the built binary}"
: "${SRCDIR:=$(dirname "$0")/..}"
. "$SRCDIR/tap.sh"

# A fresh sandbox per test file, removed at exit.
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/b10t-test.XXXXXX")
trap 'rm -rf "$T_DIR"' EXIT
export HOME="$T_DIR/home"
mkdir -p "$HOME"
export TORCHINDUCTOR_CACHE_DIR="$T_DIR/cache"
export B10FS_CACHE_DIR="$T_DIR/store"
export LOCAL_WORK_DIR="$T_DIR/work"
mkdir -p "$B10FS_CACHE_DIR"
# A deterministic CPU environment unless a test says otherwise.
export B10T_CUDART="$T_DIR/no-such-libcudart.so" B10T_CUDA_DRIVER="$T_DIR/no-such-libcuda.so.1"
export B10T_TORCH_VERSION=2.4.0 B10T_TRITON_VERSION=3.0.0
unset BASETEN_FS_ENABLED B10T_KEY_SCHEME MAX_CACHE_SIZE_MB MAX_CONCURRENT_SAVES \
      CLEANUP_LOCK_TIMEOUT_SECONDS CLEANUP_INCOMPLETE_TIMEOUT_SECONDS B10T_LOG \
      B10T_CUDA_VERSION B10T_COMPUTE_CAPABILITY B10T_DEVICE_NAME B10T_CODEC B10T_ZSTD_LEVEL \
      B10T_NAMESPACE
# No statistics records (lib/stats.c): these tests list the store's names
# exactly.  t-stats.sh turns them on; so does the reliability suite.
export B10T_STATS=0
# The codec save writes: lz4, or the one meson's *-zstd runs of a test set
# (B10T_TEST_CODEC=zstd).  EXT is its extension, `frame IN OUT` frames a
# tar as that codec's CLI does (for hand-made archives).
case ${B10T_TEST_CODEC:-lz4} in
zstd)	export B10T_CODEC=zstd; EXT=zst
	frame() { zstd -q -f --check "$1" -o "$2"; } ;;
*)	export B10T_CODEC=lz4; EXT=lz4	# not auto: the same on any TMPDIR
	frame() { lz4 -q -f "$1" "$2"; } ;;
esac

skip_all() {
	echo "1..0 # SKIP $*"
	exit 0
}

# run [ARGS...]: run b10t, keeping exit code in $rc, output in $T_DIR/out, err
run() {
	"$B10T" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	OUT=$(cat "$T_DIR/out")
	ERR=$(cat "$T_DIR/err")
}

# wait_for SECONDS COMMAND...: a handshake: poll COMMAND every 50 ms until
# it succeeds; fails, saying what it waited for, after SECONDS.  The tests
# wait on what the other side does (a file appears, a process is gone), never
# on a guess of how long that takes.
wait_for() {
	_lim=$(($1 * 20)); shift
	_n=0
	until "$@"; do
		_n=$((_n + 1))
		[ $_n -ge $_lim ] && { echo "#   gave up waiting for: $*"; return 1; }
		sleep 0.05
	done
}

# expect_rc WANT: check $rc, show the output on mismatch
expect_rc() {
	[ "$rc" -eq "$1" ] && return 0
	echo "#   exit $rc, want $1"
	sed 's/^/#   out: /' "$T_DIR/out"
	sed 's/^/#   err: /' "$T_DIR/err"
	return 1
}

# contains HAYSTACK NEEDLE
contains() {
	case "$1" in *"$2"*) return 0 ;; esac
	echo "#   '$2' not found in: $(printf '%s' "$1" | head -c 400)"
	return 1
}

# jq_is FILTER WANT: check a jq filter over the last stdout
jq_is() {
	got=$(jq -r "$1" "$T_DIR/out" 2>&1)
	[ "$got" = "$2" ] && return 0
	echo "#   jq '$1': got '$got', want '$2'"
	return 1
}

# published_claim DIR KEY: the path of the key's highest-generation claim
# (cache_KEY.g<N>) in the store DIR; fails when there is none.
published_claim() {
	_c=$(ls -A "$1" 2>/dev/null | grep -E "^cache_$2\.g[1-9][0-9]*\$" |
	     sed "s/^cache_$2\.g//" | sort -n | tail -n 1)
	[ -n "$_c" ] || return 1
	printf '%s\n' "$1/cache_$2.g$_c"
}

# published_archive DIR KEY: the path of the archive a load of KEY reads
# first: the one its highest claim names, else the legacy .latest (lz4,
# then the reference's gz); fails when there is none.  Follows only a
# claim that is a regular file of one line.
published_archive() {
	if _c=$(published_claim "$1" "$2") && [ -f "$_c" ] && [ ! -L "$_c" ]; then
		printf '%s/%s\n' "$1" "$(head -n 1 "$_c")"
	elif [ -f "$1/cache_$2.latest.tar.lz4" ]; then
		printf '%s\n' "$1/cache_$2.latest.tar.lz4"
	elif [ -f "$1/cache_$2.latest.tar.gz" ]; then
		printf '%s\n' "$1/cache_$2.latest.tar.gz"
	else
		return 1
	fi
}

# unpublish DIR KEY: remove every claim and published archive of KEY (as
# gc's eviction does: claims first).
unpublish() {
	for _f in "$1/cache_$2".g[0-9]* "$1/cache_$2".b[0-9]*; do
		case ${_f#"$1/cache_$2".} in *.*) ;; *) rm -f "$_f" ;; esac
	done
	rm -f "$1/cache_$2".g[0-9]*.* "$1/cache_$2".b[0-9]*.* "$1/cache_$2".latest.tar.*
}

# only_published DIR KEY: DIR holds exactly KEY's claim g1 and the archive it
# names, one link each: no second archive, no upload, no claim temp (the
# use marker and the stats dir aside).
only_published() {
	_a=$(cat "$1/cache_$2.g1" 2>/dev/null) || { echo "#   no claim cache_$2.g1"; return 1; }
	_l=$(ls -A "$1" | grep -v -e "^cache_$2\.used\$" -e '^\.b10t-stats$' | LC_ALL=C sort |
	     tr '\n' ' ')
	if [ "$_l" != "cache_$2.g1 $_a " ] || [ "$(stat -c %h "$1/cache_$2.g1")" != 1 ] ||
	   [ "$(stat -c %h "$1/$_a")" != 1 ]; then
		echo "#   the store holds: $_l"
		return 1
	fi
}

# fixed_archive DIR KEY: the one archive name of tests that put their own
# bytes at a fixed name, again after a load moved it aside.  lz4: the legacy
# cache_KEY.latest.tar.lz4, which load reads as ever.  zstd was never
# written under a legacy name: generation 1 under the fixed <uniq>
# "fixed", whose claim `reclaim` publishes again.  FIXED_MATCH: a part of
# that name for the stale-store shim's B10T_SHIM_MATCH.
fixed_archive() {
	case $EXT in
	lz4) printf '%s\n' "$1/cache_$2.latest.tar.lz4" ;;
	*) printf '%s\n' "$1/cache_$2.g1.fixed.tar.$EXT" ;;
	esac
}
case $EXT in lz4) FIXED_MATCH=.latest. ;; *) FIXED_MATCH=.g1.fixed. ;; esac

# reclaim DIR KEY: (zstd) publish the claim cache_KEY.g1 of the fixed archive
# again, as a save would have; nothing for lz4's legacy name.
reclaim() {
	[ "$EXT" = lz4 ] && return 0
	printf '%s\n' "$(basename "$(fixed_archive "$1" "$2")")" >"$1/cache_$2.g1"
}

# as_legacy DIR KEY: turn KEY's published generation into the fixed archive
# (fixed_archive: the legacy cache_KEY.latest.tar.lz4, its claim removed;
# for zstd generation 1 under a fixed name), for tests that put their own
# bytes at one fixed archive name.
as_legacy() {
	_p=$(published_archive "$1" "$2") || return 1
	_f=$(fixed_archive "$1" "$2")
	[ "$_p" = "$_f" ] && return 0
	mv "$_p" "$_f" || return 1
	while _c=$(published_claim "$1" "$2"); do rm -f "$_c"; done
	reclaim "$1" "$2" && [ -f "$_f" ]
}

# none_published DIR KEY: no claim and no legacy archive of KEY in DIR.
none_published() {
	! published_archive "$1" "$2" >/dev/null && ! published_claim "$1" "$2" >/dev/null
}
