#!/bin/sh
# Make the Python venv of the end-to-end tests (tests/e2e) and of
# bench/torch_bench.py: a CPU build of torch and the reference b10-transfer.
#
#   tools/venv.sh            # .venv-e2e/ in the source tree (B10T_VENV=DIR elsewhere)
#
# torch is pinned to 2.13.0: that release installs a CPU build (+cpu) from
# this fleet's local wheel mirror in seconds; another version or a plain
# `torch` pulls CUDA builds of several GB.  b10-transfer comes with
# --no-deps, so it cannot drag another torch in (B10T_REF_VERSION picks its
# release, default 0.3.17).  Nothing is done when the venv already holds
# both at these versions.
set -eu
cd "$(dirname "$0")/.."
VENV=${B10T_VENV:-$PWD/.venv-e2e}
TORCH=2.13.0
REF=${B10T_REF_VERSION:-0.3.17}
PY=${PYTHON:-python3}

have() {	# the installed versions, checked from metadata (no import torch)
	[ -x "$VENV/bin/python" ] || return 1
	"$VENV/bin/python" - "$TORCH" "$REF" <<'PYEOF' 2>/dev/null
import sys
from importlib.metadata import version
t, r = sys.argv[1], sys.argv[2]
sys.exit(0 if version("torch").split("+")[0] == t and version("b10-transfer") == r else 1)
PYEOF
}

have && exit 0
echo "venv: $VENV (torch==$TORCH, b10-transfer==$REF)" >&2
[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check "torch==$TORCH"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps "b10-transfer==$REF"
have || { echo "venv: $VENV still lacks torch $TORCH or b10-transfer $REF" >&2; exit 1; }
