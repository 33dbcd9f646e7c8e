#!/bin/sh
# Man pages: one per verb, with the contract's sections, naming every option
# of the verb's --help and every variable it reads; scdoc builds each.
. "$(dirname "$0")/lib.sh"

DOCS="$SRCDIR/../docs"

# options_of [VERB]: every option `b10t [VERB] --help` prints, one a line
options_of() {
	"$B10T" ${1:+"$1"} --help | grep -E '^ +-' |
		grep -oE -- '(^ +|, )--?[a-zA-Z0-9][a-zA-Z0-9-]*' | sed 's/^[ ,]*//'
}

# vars_of [VERB]: the environment variables its --help names ([VAR])
vars_of() {
	"$B10T" ${1:+"$1"} --help | grep -oE '\[[A-Z][A-Z0-9_]+\]' | tr -d '[]'
}

# names PAGE WORD...: every WORD appears in PAGE as a whole word
names() {
	page=$1; shift
	missing=""
	for w in "$@"; do
		grep -qE -- "(^|[^a-zA-Z0-9_-])$w([^a-zA-Z0-9_-]|\$)" "$page" || missing="$missing $w"
	done
	[ -z "$missing" ] && return 0
	echo "#   $page does not name:$missing"
	return 1
}

for v in "" $("$B10T" --list-cmds); do
	[ "$v" = help ] && continue
	page="$DOCS/b10t${v:+-$v}.1.scd"
	name="b10t${v:+-$v}.1"
	ok "$name.scd exists" [ -f "$page" ]
	[ -f "$page" ] || continue
	ok "$name has a title line" [ "$(head -1 "$page")" = "b10t${v:+-$v}(1)" ]
	for s in NAME SYNOPSIS DESCRIPTION OPTIONS "JSON OUTPUT" "EXIT STATUS" ENVIRONMENT EXAMPLES; do
		ok "$name has the section $s" grep -qx "# $s" "$page"
	done
	ok "$name names every option of ${v:-b10t} --help" names "$page" $(options_of "$v")
	ok "$name names every variable of ${v:-b10t} --help" names "$page" $(vars_of "$v")
	if command -v scdoc >/dev/null 2>&1; then
		ok "scdoc builds $name" sh -c 'scdoc <"$1" >/dev/null' - "$page"
	fi
done
ok "b10t.1 names every verb" names "$DOCS/b10t.1.scd" $("$B10T" --list-cmds)
for s in SUCCESS ERROR DOES_NOT_EXIST SKIPPED; do
	ok "b10t.1 documents the status $s" grep -q "\*$s\*" "$DOCS/b10t.1.scd"
done
ok "b10t-vllm.1 documents the signal exit codes" grep -q "143" "$DOCS/b10t-vllm.1.scd"
ok "b10t-vllm.1 documents VLLM_CACHE_ROOT" names "$DOCS/b10t-vllm.1.scd" VLLM_CACHE_ROOT
ok "docs/migrating.md exists" [ -s "$DOCS/migrating.md" ]
ok "docs/truss.md exists" [ -s "$DOCS/truss.md" ]

done_testing
