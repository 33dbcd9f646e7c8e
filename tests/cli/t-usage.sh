#!/bin/sh
# The command line: help, version, verb table, usage errors and exit codes.
. "$(dirname "$0")/lib.sh"

run --help
ok "--help exits 0" expect_rc 0
ok "--help lists every verb" sh -c 'for v in $("$B10T" --list-cmds); do printf "%s" "$1" | grep -q "^  $v " || exit 1; done' - "$OUT"
run --version
ok "--version exits 0" expect_rc 0
ok "--version prints the version" contains "$OUT" "b10t 0."
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

done_testing
