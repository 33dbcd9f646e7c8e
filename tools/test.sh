#!/bin/sh
# Install, build and run the whole test suite; end with "N passed, N failed".
set -eu
cd "$(dirname "$0")/.."
tools/deps.sh
BUILD=${BUILD:-build}
[ -d "$BUILD" ] || meson setup "$BUILD" >/dev/null
ninja -C "$BUILD" >/dev/null
rc=0
meson test -C "$BUILD" --print-errorlogs --num-processes 2 || rc=$?
python3 tools/testlog-summary.py "$BUILD/meson-logs/testlog.json" || rc=1
exit $rc
