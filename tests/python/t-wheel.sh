#!/bin/sh
# The wheel: built, repaired to a manylinux tag, installed into a fresh venv;
# there the API, b10_transfer, the entry points and the Truss example run
# (tests/python/api_test.py, truss_model.py).
. "$(dirname "$0")/lib.sh"
need_build_tools

t0=$(date +%s)
ok "the wheel builds and auditwheel repairs it" build_wheel
[ -n "${WHEEL:-}" ] || { done_testing; exit 1; }
echo "# $(basename "$WHEEL"): $(du -k "$WHEEL" | cut -f1) KiB, built in $(( $(date +%s) - t0 )) s"
ok "abi3 and a manylinux tag in its name" sh -c "basename '$WHEEL' | grep -q -- '-abi3-manylinux_2_[0-9]*_x86_64.whl'"
ok "auditwheel show: manylinux" sh -c "auditwheel show '$WHEEL' 2>&1 | grep -q 'manylinux_2_'"
ok "the wheel vendors libarchive, lz4, cjson, xxhash" sh -c "unzip -l '$WHEEL' | grep -q 'b10t.libs/libarchive' &&
	unzip -l '$WHEEL' | grep -q 'b10t.libs/liblz4' && unzip -l '$WHEEL' | grep -q 'b10t.libs/libcjson' &&
	unzip -l '$WHEEL' | grep -q 'b10t.libs/libxxhash'"
ok "py.typed is in the wheel" sh -c "unzip -l '$WHEEL' | grep -q 'b10t/py.typed'"

V=$T_DIR/venv
ok "it installs into a fresh venv" make_venv "$V"
ok "b10t --version runs from the venv's bin" sh -c "'$V/bin/b10t' --version | grep -q '^b10t '"
ok "b10t save --help from the venv's bin" sh -c "'$V/bin/b10t' save --help | grep -q Usage"

# The Truss example, two replicas sharing one store.
S=$T_DIR/store
mkdir -p "$S" "$T_DIR/home"
replica() {	# replica NAME: run the README's Model().load(), print its summary
	env -u BASETEN_FS_ENABLED -u B10T_KEY_SCHEME HOME="$T_DIR/home" B10FS_CACHE_DIR="$S" \
		TORCHINDUCTOR_CACHE_DIR="$T_DIR/cache-$1" LOCAL_WORK_DIR="$T_DIR/work-$1" \
		B10T_TORCH_VERSION=2.4.0 B10T_TRITON_VERSION=3.0.0 B10T_CUDART=/nonexistent \
		B10T_CUDA_DRIVER=/nonexistent \
		"$V/bin/python" "$SRCDIR/python/truss_model.py" 2>"$T_DIR/replica-$1.err" | tail -n 1
	sed 's/^/# stderr: /' "$T_DIR/replica-$1.err" >&2
}
a=$(replica a)
echo "# replica a: $a"
ok "Truss example, replica A: compiles 2 graphs, saves one archive" \
	sh -c "echo '$a' | grep -q '\"compiled\": 2, \"archives\": \[\"cache_[0-9a-f]*.g1.[a-z0-9-]*.tar.lz4\"\]'"
b=$(replica b)
echo "# replica b: $b"
ok "Truss example, replica B: loads it, compiles nothing" \
	sh -c "echo '$b' | grep -q '\"compiled\": 0, \"archives\": \[\"cache_[0-9a-f]*.g1.[a-z0-9-]*.tar.lz4\"\]'"

# Beside the real b10-transfer: b10t's shim says so at import.
site=$("$V/bin/python" -c 'import b10t, os; print(os.path.dirname(os.path.dirname(b10t.__file__)))')
mkdir "$site/b10_transfer-0.3.17.dist-info"
ok "with b10-transfer's metadata beside it, import b10_transfer warns" sh -c \
	"'$V/bin/python' -W error::RuntimeWarning -c 'import b10_transfer' 2>&1 | grep -q 'both b10t and b10-transfer'"
rmdir "$site/b10_transfer-0.3.17.dist-info"
ok "alone, import b10_transfer is silent" sh -c "[ -z \"\$('$V/bin/python' -W error -c 'import b10_transfer' 2>&1)\" ]"

# The API, verb by verb (its own TAP lines, numbered after these).
echo "# api_test.py"
PATH="$V/bin:$PATH" T_START=$T_N "$V/bin/python" "$SRCDIR/python/api_test.py" >"$T_DIR/api.tap" 2>&1
rc=$?
grep -v '^1\.\.' "$T_DIR/api.tap"
T_N=$(grep -c '^\(not \)\?ok ' "$T_DIR/api.tap" | awk -v n="$T_N" '{print n + $1}')
[ $rc -eq 0 ] || T_FAILED=$((T_FAILED + 1))
done_testing
