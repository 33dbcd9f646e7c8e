#!/bin/sh
# `meson install --destdir`: the installed tree, the b10-compile-cache link,
# and a C program built against the installed pkg-config file.
. "$(dirname "$0")/lib.sh"

command -v meson >/dev/null 2>&1 || skip_all "meson not found"
command -v pkg-config >/dev/null 2>&1 || skip_all "pkg-config not found"
CC=${CC:-cc}
command -v "$CC" >/dev/null 2>&1 || skip_all "no C compiler"
ROOT=$(cd "$BUILDDIR/.." && pwd)

# Installing only reads the build dir (--no-rebuild): safe beside other tests.
D="$T_DIR/dest"
meson install -C "$ROOT" --destdir "$D" --no-rebuild --quiet >"$T_DIR/install.log" 2>&1
rc=$?
ok "meson install --destdir succeeds" expect_rc 0
[ $rc -eq 0 ] || sed 's/^/#   /' "$T_DIR/install.log"

meson introspect "$ROOT" --buildoptions >"$T_DIR/options.json"
opt() { jq -r ".[] | select(.name == \"$1\") | .value" "$T_DIR/options.json"; }
PREFIX=$(opt prefix)
dir() {	# dir OPTION: an install dir inside the destdir (relative ones are under the prefix)
	v=$(opt "$1")
	case "$v" in /*) echo "$D$v" ;; *) echo "$D$PREFIX/$v" ;; esac
}
BIN=$(dir bindir)
LIB=$(dir libdir)
INC=$(dir includedir)
DATA=$(dir datadir)
MAN=$(dir mandir)

ok "bin/b10t is installed and runs" sh -c '"$1" --version | grep -q "^b10t "' - "$BIN/b10t"
ok "bin/b10-compile-cache is a link to b10t" [ "$(readlink "$BIN/b10-compile-cache")" = b10t ]
ok "b10-compile-cache runs the vllm verb" sh -c '"$1" --help | grep -q "^Usage: b10t vllm"' - "$BIN/b10-compile-cache"
ok "libb10t.so.1 is installed" [ -f "$(readlink -f "$LIB/libb10t.so.1")" ]
ok "the libb10t.so dev link is installed" [ -L "$LIB/libb10t.so" ]
ok "the public header b10t.h is installed" cmp -s "$INC/b10t/b10t.h" "$SRCDIR/../lib/b10t.h"
ok "the internal header b10t-int.h is not" [ ! -e "$INC/b10t/b10t-int.h" ]
ok "the pkg-config file is installed" [ -f "$LIB/pkgconfig/b10t.pc" ]
ok "the shared library exports only b10t_* symbols" sh -c \
	'! nm -D --defined-only "$1" | awk "\$2 ~ /^[TDBR]\$/ { print \$3 }" | grep -v "^b10t_"' - "$LIB/libb10t.so"
ok "bash completion installed" [ -f "$DATA/bash-completion/completions/b10t" ]
ok "zsh completion installed" [ -f "$DATA/zsh/site-functions/_b10t" ]
# fish: where the installed fish looks (its pkg-config completionsdir),
# else the usual place under the prefix.
FISH_DIR=$(pkg-config --variable completionsdir fish 2>/dev/null)
if [ -n "$FISH_DIR" ]; then
	ok "fish completion installed in fish's completionsdir ($FISH_DIR)" [ -f "$D$FISH_DIR/b10t.fish" ]
	if command -v fish >/dev/null 2>&1; then
		ok "fish searches that dir even with XDG_DATA_DIRS unset" sh -c \
			'env -u XDG_DATA_DIRS fish -c "printf \"%s\n\" \$__fish_vendor_completionsdirs" |
			 grep -qx "$1"' - "$FISH_DIR"
	fi
else
	ok "fish completion installed (no fish.pc: under the prefix)" \
		[ -f "$DATA/fish/vendor_completions.d/b10t.fish" ]
fi
# Where a configure puts it, without building: no fish.pc (the pkg-config
# path less its share/ dirs, where fish.pc lives), and the option.
fish_dest() {	# fish_dest BUILD [MESON OPTIONS...]: the fish file's install path
	b=$1; shift
	meson setup "$b" "$SRCDIR/.." --prefix "$(opt prefix)" -Dtests=false -Ddocs=disabled "$@" \
		>"$b.log" 2>&1 &&
		meson introspect "$b" --installed | jq -r 'to_entries[] | .value' | grep '/b10t\.fish$'
}
no_share=$(pkg-config --variable pc_path pkg-config | tr ':' '\n' | grep -v '/share/' | paste -sd:)
got=$(PKG_CONFIG_LIBDIR=$no_share fish_dest "$T_DIR/nofish")
ok "without fish's pkg-config file: <prefix>/share/fish/vendor_completions.d" \
	[ "$got" = "$(opt prefix)/share/fish/vendor_completions.d/b10t.fish" ] || echo "#   got '$got'"
got=$(fish_dest "$T_DIR/fishopt" -Dfish_completions_dir=/opt/fish/c)
ok "-Dfish_completions_dir puts it there" [ "$got" = /opt/fish/c/b10t.fish ] || echo "#   got '$got'"
if command -v scdoc >/dev/null 2>&1 && [ "$(opt docs)" != disabled ]; then
	for v in "" $("$B10T" --list-cmds); do
		[ "$v" = help ] && continue
		page=b10t${v:+-$v}.1
		ok "man page $page installed" [ -s "$MAN/man1/$page" ]
	done
	ok "man b10-compile-cache is the vllm page" [ "$(readlink "$MAN/man1/b10-compile-cache.1")" = b10t-vllm.1 ]
else
	echo "# man pages not built (no scdoc or -Ddocs=disabled)"
fi

# A program built against the installed tree, through its pkg-config file:
# the header's version is the library's, a setting is refused by name, and
# envkey's JSON is the command's.
cat >"$T_DIR/prog.c" <<'EOF'
#include <stdio.h>
#include <string.h>
#include <b10t.h>

int main(void)
{
	b10t_t *h = b10t_new();

	if (!h || b10t_version_number() != B10T_VERSION_NUMBER ||
	    strcmp(b10t_version_string(), B10T_VERSION_STRING))
		return 1;
	if (b10t_set(h, "max_cache_size", "lots") != B10T_ERROR || !*b10t_error(h))
		return 2;
	if (b10t_op_envkey(h) != B10T_SUCCESS)
		return 3;
	printf("%s %s %s\n", b10t_status_name(B10T_SKIPPED), b10t_version_string(),
	       b10t_result_string(h, "environment_key"));
	b10t_free(h);
	return 0;
}
EOF
export PKG_CONFIG_PATH="$LIB/pkgconfig" PKG_CONFIG_SYSROOT_DIR="$D"
flags=$(pkg-config --cflags --libs b10t 2>"$T_DIR/pc.err")
ok "pkg-config finds b10t" [ $? -eq 0 ]
ok "pkg-config has the version" [ "$(pkg-config --modversion b10t)" = "$("$B10T" --version | cut -d' ' -f2)" ]
ok "pkg-config: Requires.private names every library libb10t links" \
	[ "$(pkg-config --print-requires-private b10t | awk '{print $1}' | LC_ALL=C sort | tr '\n' ' ')" = \
	  "libarchive libcjson liblz4 libxxhash libzstd nettle zlib " ]
ok "pkg-config --static --libs gives a static link every library" sh -c \
	'for l in -larchive -llz4 -lzstd -lxxhash -lz -lcjson -lnettle; do
		printf " %s " "$1" | grep -q -- " $l " || { echo "#   missing $l in: $1"; exit 1; }
	 done' - "$(pkg-config --static --libs b10t)"
# A sanitizer build's library needs the sanitizer's runtime in the program too.
[ "${B10T_SANITIZE:-none}" = none ] || flags="$flags -fsanitize=$B10T_SANITIZE"
# shellcheck disable=SC2086
"$CC" -o "$T_DIR/prog" "$T_DIR/prog.c" $flags 2>"$T_DIR/cc.err"
rc=$?
ok "a program builds against the installed library" expect_rc 0
[ $rc -eq 0 ] || sed 's/^/#   /' "$T_DIR/cc.err"
LD_LIBRARY_PATH="$LIB" "$T_DIR/prog" >"$T_DIR/out" 2>&1
rc=$?
ok "it runs and calls the library" expect_rc 0
ok "it prints what the library answered" \
	[ "$(cat "$T_DIR/out")" = "SKIPPED $("$B10T" --version | cut -d' ' -f2) $("$B10T" envkey)" ] ||
	sed 's/^/#   /' "$T_DIR/out"
ok "it uses the installed shared library" sh -c 'LD_LIBRARY_PATH="$1" ldd "$2" | grep -q "$1/libb10t.so.1"' - "$LIB" "$T_DIR/prog"
ok "its b10t_* references carry the symbol version B10T_1.0" sh -c \
	'nm -D --undefined-only "$1" | grep " b10t_" | grep -vq "@B10T_1.0" && exit 1
	 nm -D --undefined-only "$1" | grep -q " b10t_op_envkey@B10T_1.0"' - "$T_DIR/prog"

# The ABI: the library exports exactly the functions the installed header
# declares, each in version node B10T_1.0, and nothing of the internal
# library (b10t_load, b10t_unpack, ...).
if command -v nm >/dev/null; then
	nm -D --defined-only "$LIB/libb10t.so.1" | awk '$2 != "A" { print $3 }' | sort -u >"$T_DIR/exported"
	# the header's functions: a name followed by "(" on a line that is not
	# a comment, a typedef or a macro
	grep -v -e '^[[:space:]]*[/*#]' -e '^typedef' "$INC/b10t/b10t.h" |
		grep -oE '\bb10t_[a-z0-9_]+\(' | tr -d '(' | sed 's/$/@@B10T_1.0/' | sort -u >"$T_DIR/declared"
	ok "the header declares the API ($(wc -l <"$T_DIR/declared") functions, b10t_new among them)" \
		grep -qx 'b10t_new@@B10T_1.0' "$T_DIR/declared"
	ok "exported symbols = the header's functions, each @@B10T_1.0" cmp -s "$T_DIR/declared" "$T_DIR/exported" ||
		diff "$T_DIR/declared" "$T_DIR/exported" | sed 's/^/#   /'
	ok "no internal function is exported (b10t_load, b10t_unpack, b10t_ctx_init)" sh -c \
		'! grep -E "^(b10t_load|b10t_unpack|b10t_ctx_init)@" "$1"' - "$T_DIR/exported"
fi
# ... and against the checked-in baseline lib/libb10t.abi (abigail-tools):
# a changed signature, enum value or removed function fails.  After a
# deliberate addition (in a new version node), regenerate it with the
# abidw line of docs/HACKING.md.
if ! command -v abidiff >/dev/null 2>&1; then
	echo "# abidiff not found (apt-get install abigail-tools): ABI baseline not compared"
elif ! readelf -S "$LIB/libb10t.so.1" 2>/dev/null | grep -q '\.debug_info'; then
	echo "# libb10t.so.1 has no debug info (-Dbuildtype=release?): ABI baseline not compared"
else
	abidiff --headers-dir2 "$INC/b10t" "$SRCDIR/../lib/libb10t.abi" "$LIB/libb10t.so.1" \
		>"$T_DIR/abidiff" 2>&1
	rc=$?
	ok "abidiff: the installed library's ABI is the baseline lib/libb10t.abi" expect_rc 0 ||
		sed 's/^/#   /' "$T_DIR/abidiff"
	# the check can fail: a status renumbered is an ABI change (bit 4), a
	# function gone an incompatible one (bit 8)
	sed "s/name='B10T_SKIPPED' value='4'/name='B10T_SKIPPED' value='5'/" \
		"$SRCDIR/../lib/libb10t.abi" >"$T_DIR/renumbered.abi"
	abidiff --headers-dir2 "$INC/b10t" "$T_DIR/renumbered.abi" "$LIB/libb10t.so.1" >/dev/null 2>&1
	rc=$?
	ok "abidiff: a baseline with B10T_SKIPPED = 5 is an ABI change (exit $rc)" [ $((rc & 4)) -ne 0 ]
	grep -v "elf-symbol name='b10t_op_gc'" "$SRCDIR/../lib/libb10t.abi" >"$T_DIR/no-gc.abi"
	abidiff --headers-dir1 "$INC/b10t" "$LIB/libb10t.so.1" "$T_DIR/no-gc.abi" >/dev/null 2>&1
	rc=$?
	ok "abidiff: a library without b10t_op_gc is incompatible (exit $rc)" [ $((rc & 8)) -ne 0 ]
fi

done_testing
