#!/bin/sh
# Man pages: one per verb, with the contract's sections, naming every option
# of the verb's --help and every variable it reads; scdoc builds each.
. "$(dirname "$0")/lib.sh"

# The pages as built: their settings and ENVIRONMENT parts made from the tables.
DOCS="$BUILDDIR/../docs"
SRCDOCS="$SRCDIR/../docs"

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
ok "docs/migrating.md exists" [ -s "$SRCDOCS/migrating.md" ]
ok "docs/truss.md exists" [ -s "$SRCDOCS/truss.md" ]

# ---- the generated parts match the tables (b10t --dump-settings) ------------
if command -v jq >/dev/null 2>&1; then
	"$B10T" --dump-settings >"$T_DIR/dump.json"
	for v in "" $("$B10T" --list-cmds); do
		[ "$v" = help ] && continue
		page="$DOCS/b10t${v:+-$v}.1.scd"
		name="b10t${v:+-$v}.1"
		if [ -n "$v" ]; then
			sel='.verbs[] | select(.name == $v) | .settings[] as $e | $d.settings[] | select(.env == $e)'
		else
			sel='$d.settings[]'
		fi
		jq -r --arg v "$v" --slurpfile d "$T_DIR/dump.json" "\$d[0] as \$d | $sel |
			\"*--\\(.option)* _\\(.metavar)_\t\\(.env)\t\\(.default)\"" "$T_DIR/dump.json" >"$T_DIR/want"
		n=0 bad=""
		while IFS='	' read -r opt env def; do
			n=$((n + 1))
			# the option's entry, its variable and default in the lines after it
			entry=$(grep -A1 -F -x -- "$opt" "$page" | tail -1)
			case $entry in *"[*$env*]"*"Default: "*) ;; *) bad="$bad $opt" ;; esac
			sed -n '/^# ENVIRONMENT$/,/^# /p' "$page" | grep -qF "*$env*" || bad="$bad $env"
		done <"$T_DIR/want"
		ok "$name: every setting ${v:-b10t} reads, generated ($n)" sh -c '[ -z "$1" ] || { echo "#   missing:$1"; exit 1; }' - "$bad"
		if [ -n "$v" ]; then
			unread=$(jq -r --arg v "$v" '(.verbs[] | select(.name == $v) | .settings) as $r |
				.settings[] | select(.env as $e | $r | index($e) | not) | "*--\(.option)*"' "$T_DIR/dump.json")
			extra=""
			for o in $unread; do grep -qF -- "$o _" "$page" && extra="$extra $o"; done
			ok "$name: no setting $v does not read" [ -z "$extra" ]
		fi
		src="$SRCDOCS/b10t${v:+-$v}.1.scd"
		ok "$name.scd (source): includes the generated parts" \
			sh -c 'grep -qx "include::settings\[\]" "$1" && grep -qx "include::environment\[\]" "$1"' - "$src"
		ok "$name.scd (source): no settings pasted in" sh -c '! grep -qE "^\*--(cache-dir|store|key-scheme)\* _" "$1"' - "$src"
		python3 "$SRCDIR/../tools/settings-docs.py" man "$T_DIR/dump.json" "$src" "$T_DIR/regen.scd"
		ok "$name: the built page is what the tables make now" cmp -s "$T_DIR/regen.scd" "$page"
	done
else
	echo "# jq not found: the generated parts were not checked against the table"
fi

done_testing
