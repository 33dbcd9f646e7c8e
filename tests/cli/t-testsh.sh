#!/bin/sh
# tools/test.sh's setup(): a failed build shows the compiler's words, a
# build dir made before is set up again with today's options.
. "$(dirname "$0")/lib.sh"

command -v meson >/dev/null && command -v ninja >/dev/null ||
	skip_all "meson or ninja is not installed"
. "$SRCDIR/../tools/build-dir.sh"

# A project that builds only with -DFIXED: without it the compiler stops
# at an #error whose text the test looks for.
P=$T_DIR/proj
mkdir -p "$P"
printf "project('x', 'c')\nexecutable('x', 'x.c')\n" >"$P/meson.build"
printf '#ifndef FIXED\n#error b10t-broken-on-purpose\n#endif\nint main(void) { return 0; }\n' \
	>"$P/x.c"
export CC="${CC:-cc}"

build() {	# build DIR [options]: setup in $P, rc in $rc, stdout in $OUT
	(cd "$P" && setup "$@") >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	OUT=$(cat "$T_DIR/out")
}

build b
ok "a compile error: setup fails" expect_rc 1
ok "a compile error: the compiler's message is shown" contains "$OUT" "b10t-broken-on-purpose"
ok "a compile error: it names the file and line" contains "$OUT" "x.c:2"
ok "a compile error: the same words are kept in ninja.log" \
	grep -q "b10t-broken-on-purpose" "$P/b/ninja.log"

build b -Dc_args=-DFIXED
ok "the dir made before gets the new option: it builds" expect_rc 0
ok "a build that works prints nothing" [ -z "$OUT" ]
ok "the program is built" [ -x "$P/b/x" ]

build b -Dc_args=
ok "options change again on the same dir: the error is back" expect_rc 1
ok "and shown again" contains "$OUT" "b10t-broken-on-purpose"

echo garbage >"$P/b/meson-private/coredata.dat"
build b -Dc_args=-DFIXED
ok "a dir meson cannot read any more is set up anew" expect_rc 0
ok "and builds" [ -x "$P/b/x" ]

done_testing
