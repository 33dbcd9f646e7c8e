#!/bin/sh
# The repaired wheel on a machine without the C libraries: a mount namespace
# hides libarchive, lz4, cJSON, xxhash, nettle (and what libarchive pulls
# in: libxml2, ICU, lzma, zstd, bz2, acl) by binding /dev/null over every
# copy ldconfig knows, then the
# venv's b10t and api_test.py run there.  The unrepaired binary must fail
# in the same namespace, or the hiding proved nothing.  Root only (77).
. "$(dirname "$0")/lib.sh"
if [ "$(id -u)" != 0 ] || ! command -v unshare >/dev/null; then
	echo "1..0 # SKIP needs root and unshare(1) for a mount namespace"
	exit 77
fi
if ! unshare --mount true 2>/dev/null; then
	echo "1..0 # SKIP unshare --mount is not permitted here"
	exit 77
fi
need_build_tools

ok "the wheel builds and auditwheel repairs it" build_wheel
[ -n "${WHEEL:-}" ] || { done_testing; exit 1; }
V=$T_DIR/venv
ok "it installs into a fresh venv" make_venv "$V"
mkdir -p "$T_DIR/raw"
(cd "$T_DIR/raw" && unzip -q "$T_DIR"/dist/b10t-*.whl)
RAW=$(ls "$T_DIR"/raw/b10t-*.data/scripts/b10t)
chmod +x "$RAW"

# Every file the loader could find for these libraries, links resolved.
# Not libz: it is in the manylinux baseline (auditwheel never vendors it,
# like libc), and CPython's own binascii and zlib modules need it.
libs=
for name in libarchive.so liblz4.so libcjson.so libxxhash.so libnettle.so \
	    libxml2.so liblzma.so libzstd.so libbz2.so libacl.so libicuuc.so libicudata.so; do
	for f in $(ldconfig -p | awk -v n="$name" 'index($1, n) == 1 { print $NF }'); do
		libs="$libs $(readlink -f "$f")"
	done
done
echo "# hidden:$(echo "$libs" | tr ' ' '\n' | sort -u | tr '\n' ' ')"
cat >"$T_DIR/hide.sh" <<EOS
for f in \$(echo "$libs" | tr ' ' '\n' | sort -u); do mount --bind /dev/null "\$f" || exit 1; done
exec "\$@"
EOS
hidden() { unshare --mount sh "$T_DIR/hide.sh" "$@"; }

ok "hidden: the unrepaired binary cannot start" sh -c "! unshare --mount sh '$T_DIR/hide.sh' '$RAW' --version >/dev/null 2>&1"
ok "hidden: the venv's b10t runs" sh -c "unshare --mount sh '$T_DIR/hide.sh' '$V/bin/b10t' --version | grep -q '^b10t '"
ok "hidden: import b10t, b10_transfer" hidden "$V/bin/python" -c \
	'import b10t, b10_transfer; from b10_transfer import load_compile_cache, save_compile_cache, OperationStatus'

echo "# api_test.py in the namespace"
PATH="$V/bin:$PATH" T_START=$T_N hidden "$V/bin/python" "$SRCDIR/python/api_test.py" >"$T_DIR/api.tap" 2>&1
rc=$?
grep -v '^1\.\.' "$T_DIR/api.tap"
T_N=$(grep -c '^\(not \)\?ok ' "$T_DIR/api.tap" | awk -v n="$T_N" '{print n + $1}')
[ $rc -eq 0 ] || T_FAILED=$((T_FAILED + 1))
done_testing
