#!/bin/sh
# Install, build, and run the main job on an embedded default: a local
# directory as the store and a small sample cache dir made here.
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh
BUILD=${BUILD:-build}
[ -d "$BUILD" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" >/dev/null
B10T=$PWD/$BUILD/cmd/b10t

DEMO=$(mktemp -d "${TMPDIR:-/tmp}/b10t-demo.XXXXXX")
trap 'rm -rf "$DEMO"' EXIT
export TORCHINDUCTOR_CACHE_DIR="$DEMO/torchinductor" B10FS_CACHE_DIR="$DEMO/store"
mkdir -p "$B10FS_CACHE_DIR"

# A sample cache dir shaped like TorchInductor's.
mkdir -p "$TORCHINDUCTOR_CACHE_DIR/triton/0/abc123" "$TORCHINDUCTOR_CACHE_DIR/fxgraph/xy"
for i in 1 2 3 4 5 6 7 8; do
	python3 -c "print('def kernel_$i(in_ptr0, out_ptr0, xnumel):\n    xoffset = tl.program_id(0) * 1024\n' * 200)" \
		>"$TORCHINDUCTOR_CACHE_DIR/triton/0/abc123/kernel_$i.py"
done
head -c 200000 /dev/urandom >"$TORCHINDUCTOR_CACHE_DIR/triton/0/abc123/kernel.cubin"
echo '{"name": "kernel"}' >"$TORCHINDUCTOR_CACHE_DIR/triton/0/abc123/kernel.json"
echo 'graph' >"$TORCHINDUCTOR_CACHE_DIR/fxgraph/xy/fxgraph.pkl"

step() { printf '\n$ %s\n' "$*"; "$@"; }
step "$B10T" envkey
step "$B10T" info
step "$B10T" save             # first replica: publish the cache
step "$B10T" list
step "$B10T" clear            # a new replica starts with no cache
step "$B10T" load             # ... and loads the published one
step "$B10T" info --json
