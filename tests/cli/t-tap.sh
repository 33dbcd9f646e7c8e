#!/bin/sh
# The TAP helpers themselves (tests/tap.sh): ok returns the status of its
# command, so `ok ... || diagnostics` shows them on a failure and only then.
. "$(dirname "$0")/lib.sh"

cat >"$T_DIR/t.sh" <<'EOS'
. "$SRCDIR/tap.sh"
ok "a failing check" false || echo "# diagnostics of the failure"
ok "a passing check" true || echo "# diagnostics that must not show"
ok "a passing check returns 0" true && echo "# after a pass"
ok "a failing check returns 1" false && echo "# after a failure"
done_testing
EOS
SRCDIR=$SRCDIR sh "$T_DIR/t.sh" >"$T_DIR/out" 2>&1
rc=$?
OUT=$(cat "$T_DIR/out")
ok "a file with failures exits 1" [ "$rc" = 1 ]
ok "ok || diagnostics: they show after the failing check" \
	contains "$OUT" "not ok 1 - a failing check
# diagnostics of the failure
ok 2 - a passing check"
ok "ok || diagnostics: nothing shows after a passing check" \
	sh -c '! printf "%s\n" "$1" | grep -q "must not show"' - "$OUT"
ok "ok && next: the next command runs after a pass" contains "$OUT" "ok 3 - a passing check returns 0
# after a pass"
ok "ok && next: the next command does not run after a failure" \
	sh -c '! printf "%s\n" "$1" | grep -q "after a failure"' - "$OUT"
ok "the plan counts every check" contains "$OUT" "1..4"

cat >"$T_DIR/pass.sh" <<'EOS'
. "$SRCDIR/tap.sh"
ok "one check" true
done_testing
EOS
SRCDIR=$SRCDIR sh "$T_DIR/pass.sh" >"$T_DIR/out" 2>&1
ok "a file whose checks all pass exits 0" [ "$?" = 0 ]

# Titles stand alone (git's t/): none continues the one before it.
ok "no cli title starts with '...' or blanks" sh -c \
	'! grep -nE "^[[:space:]]*(ok|todo_ok) \"(\.\.\.|  )" "$1"/t-*.sh' - "$SRCDIR/cli"
done_testing
