#!/bin/sh
# Build the wheel to ship: wheelhouse/b10t-VERSION-cp39-abi3-manylinux_*.whl.
#   tools/wheel.sh            # PYTHON=python3.9 when there is one, else python3
# The abi3 tag takes the building interpreter's version: build with the
# oldest Python to support (3.9) and the one wheel installs on 3.9 and later.
# auditwheel repair vendors libarchive & co (docs/python.md).
set -eu
cd "$(dirname "$0")/.."
PY=${PYTHON:-$(command -v python3.9 || command -v python3)}
OUT=${OUT:-wheelhouse}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip wheel -q --no-deps -w "$tmp" .
auditwheel repair -w "$OUT" "$tmp"/b10t-*.whl >"$tmp/repair.log" 2>&1 || { cat "$tmp/repair.log"; exit 1; }
w=$(ls -t "$OUT"/b10t-*.whl | head -n 1)
echo "$w: $(du -k "$w" | cut -f1) KiB"
auditwheel show "$w" | sed -n '1,4p'
