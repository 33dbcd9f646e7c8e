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
      B10T_CUDA_VERSION B10T_COMPUTE_CAPABILITY B10T_DEVICE_NAME B10T_CODEC B10T_ZSTD_LEVEL
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
