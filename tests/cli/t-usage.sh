#!/bin/sh
# The command line: help, version, verb table, usage errors and exit codes.
. "$(dirname "$0")/lib.sh"

run --help
ok "--help exits 0" expect_rc 0
ok "--help lists every verb" sh -c 'for v in $("$B10T" --list-cmds); do printf "%s" "$1" | grep -q "^  $v " || exit 1; done' - "$OUT"
run --version
ok "--version exits 0" expect_rc 0
ok "--version prints the version" contains "$OUT" "b10t 0."
ok "--version is one line" [ "$(printf '%s\n' "$OUT" | wc -l)" = 1 ]
ok "--version names the libraries loaded with dlopen" \
	contains "$OUT" "(dlopen: libcurl.so.4, libcudart.so, libcuda.so.1)"
run --version -v
ok "--version -v exits 0" expect_rc 0
ok "--version -v starts with the --version line" \
	[ "$(printf '%s\n' "$OUT" | head -1)" = "$("$B10T" --version)" ]
for lib in libarchive liblz4 libzstd libxxhash zlib libcjson nettle; do
	ok "--version -v lists $lib with a version" \
		sh -c 'printf "%s\n" "$1" | grep -Eq "^  $2 +[0-9]+\.[0-9]"' - "$OUT" "$lib"
done
ok "--version -v: libarchive's version is the one it answers at run time" \
	contains "$OUT" "libarchive     $(python3 -c 'import ctypes, ctypes.util
l = ctypes.CDLL(ctypes.util.find_library("archive")); l.archive_version_details.restype = ctypes.c_char_p
print(l.archive_version_details().decode().split(" ", 1)[1])')"
ok "--version -v: zlib's version is the one it answers at run time" \
	contains "$OUT" "zlib           $(python3 -c 'import zlib; print(zlib.ZLIB_RUNTIME_VERSION)')"
run -v --version
ok "-v before --version works too" contains "$OUT" "Linked:"
B10T_CUDART=$FAKE_CUDART run --version -v
ok "--version -v: the CUDA runtime found, its version and file" \
	sh -c 'printf "%s\n" "$1" | grep -q "^  libcudart.so   12.4 (.*) $2\$"' - "$OUT" "$FAKE_CUDART"
ok "--version -v: a library that does not load is 'not found'" \
	sh -c 'printf "%s\n" "$1" | grep -q "^  libcuda.so.1   not found ("' - "$OUT"
if [ -n "$(ldconfig -p 2>/dev/null | grep 'libcurl.so.4 ')" ]; then
	ok "--version -v: libcurl's version, as curl_version() says it" \
		sh -c 'printf "%s\n" "$1" | grep -Eq "^  libcurl.so.4   [0-9]+\.[0-9]+\.[0-9]+ "' - "$OUT"
else
	T_N=$((T_N + 1)); echo "ok $T_N # SKIP libcurl.so.4 is not installed"
fi
run --list-cmds
ok "--list-cmds lists verbs one a line" [ "$(echo "$OUT" | head -1)" = clear ]
ok "--list-cmds is sorted" sh -c '[ "$1" = "$(printf "%s\n" "$1" | LC_ALL=C sort)" ]' - "$OUT"
for v in $("$B10T" --list-cmds); do
	[ "$v" = help ] && continue
	run "$v" --help
	ok "$v --help exits 0" expect_rc 0
	ok "$v --help shows its usage" contains "$OUT" "Usage: b10t $v"
	run help "$v"
	ok "help $v matches $v --help" [ "$OUT" = "$("$B10T" "$v" --help)" ]
done
run frobnicate
ok "unknown verb exits 2" expect_rc 2
ok "unknown verb names it" contains "$ERR" "unknown verb 'frobnicate'"
ok "unknown verb hints --help" contains "$ERR" "Try 'b10t --help'"
run --frob
ok "unknown global option exits 2" expect_rc 2
run list --frob
ok "unknown verb option exits 2" expect_rc 2
ok "unknown verb option hints verb --help" contains "$ERR" "Try 'b10t list --help'"
run list --cache-dir
ok "missing option argument exits 2" expect_rc 2
run
ok "no verb exits 2" expect_rc 2
run help nosuch
ok "help of an unknown verb exits 2" expect_rc 2

# The verb table: help is a verb like the others.
run help help
ok "help help exits 0" expect_rc 0
ok "help help shows help's usage" contains "$OUT" "Usage: b10t help [OPTIONS] [VERB]"
run help --help
ok "help --help exits 0" expect_rc 0
ok "help --help matches help help" [ "$OUT" = "$("$B10T" help help)" ]
run help load save
ok "help with two operands is a usage error" expect_rc 2
ok "help with two operands names the extra one" contains "$ERR" "unexpected argument 'save'"
run envkey extra
ok "an operand to a verb without operands exits 2" expect_rc 2
ok "an operand names itself" contains "$ERR" "b10t envkey: error: unexpected argument 'extra'"

# Typos: the nearest verb by edit distance, as git suggests.
run lod
ok "a typo exits 2" expect_rc 2
ok "a typo suggests the nearest verb" contains "$ERR" "unknown verb 'lod'; did you mean 'load'?"
run lsit
ok "a transposition suggests list" contains "$ERR" "did you mean 'list'?"
run help sav
ok "help of a typo suggests the verb" contains "$ERR" "did you mean 'save'?"
run frobnicate
ok "a far name gets no guess" sh -c '! printf "%s" "$1" | grep -q "did you mean"' - "$ERR"
run x
ok "a one-letter name gets no guess" sh -c '! printf "%s" "$1" | grep -q "did you mean"' - "$ERR"

# git's padding rule: every option's help starts in one column (28), on
# the option's line or, when the option is too long, alone on the next.
aligned() {
	"$B10T" ${1:+"$1"} --help | awk '
		pend { if ($0 !~ /^                            [^ ]/) bad = bad " " NR; pend = 0; next }
		/^ +-/ { if (match($0, /^ +-[^ ]*( --[^ ]+)?( [A-Z_]+)?  +/)) {
				if (RLENGTH != 28) bad = bad " " NR
			 } else pend = 1 }
		END { if (bad != "") { print "#   misaligned lines:" bad; exit 1 } }'
}
for v in "" $("$B10T" --list-cmds); do
	ok "${v:-b10t} --help: option help in one column" aligned "$v"
done
ok "a long option puts its help on the next line" \
	sh -c '"$1" --help | grep -A1 -- "--incomplete-timeout DURATION$" | tail -1 | grep -q "^                            age"' - "$B10T"

# Usage errors under --json: an object on stdout too.
run list --frob --json
ok "a usage error with --json exits 2" expect_rc 2
ok "a usage error with --json prints an object" jq_is '.status + " " + (.usage_error|tostring)' "ERROR true"
ok "the object names the error" jq_is .error "unknown option '--frob'"
run --json lod
ok "an unknown verb with --json prints an object" jq_is .error "unknown verb 'lod'; did you mean 'load'?"

done_testing
