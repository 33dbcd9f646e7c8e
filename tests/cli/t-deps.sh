#!/bin/sh
# tools/deps.sh installs by names this Debian release has, and names no
# compiler version of its own: ASan's runtime follows the installed clang.
. "$(dirname "$0")/lib.sh"

DEPS=$SRCDIR/../tools/deps.sh
FAKE=$T_DIR/bin
mkdir -p "$FAKE"

list() {	# list [PATH]: deps.sh --list's names, one a line, in $OUT; rc in $rc
	PATH=${1:-$PATH} sh "$DEPS" --list >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	OUT=$(cat "$T_DIR/out")
}

list
ok "--list exits 0" expect_rc 0
ok "--list says nothing on stderr" [ ! -s "$T_DIR/err" ]
ok "--list names the build's tools" sh -c 'for p in meson clang gcc libarchive-dev; do grep -qx "$p" "$1" || exit 1; done' - "$T_DIR/out"
v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p' | head -n 1)
if [ -n "$v" ] && dpkg-query -W "libclang-rt-$v-dev" >/dev/null 2>&1; then
	ok "the sanitizer runtime is the installed clang's, $v" grep -qx "libclang-rt-$v-dev" "$T_DIR/out"
else
	ok "no clang of a known runtime here: Debian's default runtime" grep -qx libclang-rt-dev "$T_DIR/out"
fi
ok "no other versioned compiler package" \
	sh -c '! grep -Ev "^libclang-rt-$2-dev\$" "$1" | grep -Eq "^(clang|gcc|g\+\+|llvm|libclang|libllvm)[a-z+-]*-[0-9]+"' - "$T_DIR/out" "${v:-none}"

# A clang of a version this release has no runtime package for, and a clang
# that does not answer: the unversioned default.
printf '#!/bin/sh\necho "Debian clang version 999.0.1 (1)"\n' >"$FAKE/clang"
chmod +x "$FAKE/clang"
list "$FAKE:$PATH"
ok "clang 999 (no libclang-rt-999-dev): libclang-rt-dev" grep -qx libclang-rt-dev "$T_DIR/out"
ok "clang 999: no libclang-rt-999-dev" sh -c '! grep -q 999 "$1"' - "$T_DIR/out"
printf '#!/bin/sh\nexit 1\n' >"$FAKE/clang"
list "$FAKE:$PATH"
ok "clang that fails: libclang-rt-dev" grep -qx libclang-rt-dev "$T_DIR/out"

# Every name exists in this machine's release (apt's own lists, no network).
if command -v apt-cache >/dev/null && [ -n "$(apt-cache policy meson 2>/dev/null)" ]; then
	list
	# one apt-cache call for all (it costs a second each on a busy machine)
	apt-cache show --no-all-versions $OUT libclang-rt-dev 2>/dev/null |
		sed -n 's/^Package: //p' >"$T_DIR/known"
	for p in $OUT libclang-rt-dev; do
		ok "apt knows $p" grep -qx "$p" "$T_DIR/known"
	done
else
	echo "ok $((T_N += 1)) # SKIP no apt-cache with package lists here"
fi

done_testing
