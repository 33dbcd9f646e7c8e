#!/bin/bash
# Completions: the bash one, driven through COMP_WORDS/COMP_CWORD, offers
# every verb of `b10t --list-cmds` and every option of every `b10t VERB
# --help`, from the binary and from its static fallback; the zsh and fish
# files name every option (and, where those shells exist, complete them).
. "$(dirname "$0")/lib.sh"

# The built completions: their static lists are made from the tables.
COMPL="$BUILDDIR/../completions"
# shellcheck source=/dev/null
. "$COMPL/b10t"

# comp WORD...: the candidates for the last word, one a line
comp() {
	COMP_WORDS=("$@")
	COMP_CWORD=$(($# - 1))
	COMP_LINE="$*"
	COMP_POINT=${#COMP_LINE}
	COMPREPLY=()
	_b10t
	printf '%s\n' "${COMPREPLY[@]}"
}

# options_of [VERB]: every option `b10t [VERB] --help` prints, one a line
options_of() {
	"$B10T" ${1:+"$1"} --help | grep -E '^ +-' |
		grep -oE -- '(^ +|, )--?[a-zA-Z0-9][a-zA-Z0-9-]*' | sed 's/^[ ,]*//'
}

# offers_all WANT... -- GOT...: every WANT is among GOT
offers_all() {
	local want=() got missing=""
	while [ "$1" != -- ]; do want+=("$1"); shift; done
	shift
	got=" $* "
	for w in "${want[@]}"; do
		[[ $got == *" $w "* ]] || missing="$missing $w"
	done
	[ -z "$missing" ] && return 0
	echo "#   not offered:$missing"
	return 1
}

VERBS=$("$B10T" --list-cmds)
ok "there are verbs to complete" [ -n "$VERBS" ]
ok "bash: every verb is offered" offers_all $VERBS -- $(comp "$B10T" "")
ok "bash: a prefix narrows the verbs" [ "$(comp "$B10T" l | tr '\n' ' ')" = "list load " ]
ok "bash: the argument of a setting is not the verb" offers_all $VERBS -- $(comp "$B10T" --store /tmp "")
ok "bash: help completes verbs" offers_all load save -- $(comp "$B10T" help "")
ok "bash: top-level options" offers_all $(options_of) -- $(comp "$B10T" -)
for v in $VERBS; do
	[ "$v" = help ] && continue
	ok "bash: every option of $v" offers_all $(options_of "$v") -- $(comp "$B10T" "$v" -)
	ok "bash: every option of $v, after a setting" \
		offers_all $(options_of "$v") -- $(comp "$B10T" --store /tmp "$v" -)
	# the binary cannot run: the static lists must be complete too
	ok "bash fallback: every option of $v" offers_all $(options_of "$v") -- $(comp /nonexistent/b10t "$v" -)
done
ok "bash fallback: every verb" offers_all $VERBS -- $(comp /nonexistent/b10t "")
ok "bash fallback: top-level options" offers_all $(options_of) -- $(comp /nonexistent/b10t -)

ok "bash: --key-scheme values" [ "$(comp "$B10T" load --key-scheme "" | tr '\n' ' ')" = "default b10-transfer " ]
ok "bash: --key-scheme=VALUE" [ "$(comp "$B10T" load --key-scheme = b | tr '\n' ' ')" = "b10-transfer " ]
ok "bash: --fs-enabled values" offers_all 0 1 true false -- $(comp "$B10T" save --fs-enabled "")
mkdir -p "$T_DIR/somedir/inner"
touch "$T_DIR/somefile"
ok "bash: --store completes directories only" \
	[ "$(comp "$B10T" load --store "$T_DIR/some" | tr '\n' ' ')" = "$T_DIR/somedir " ]
ok "bash: an option's argument gets no option candidates" [ -z "$(comp "$B10T" gc --stale "")" ]

# The b10-compile-cache link completes the vllm verb's options.
mkdir -p "$T_DIR/bin"
ln -s "$B10T" "$T_DIR/bin/b10-compile-cache"
ok "bash: b10-compile-cache offers vllm's options" \
	offers_all $(options_of vllm) -- $(comp "$T_DIR/bin/b10-compile-cache" -)
ok "bash: b10-compile-cache offers no verbs" sh -c '! printf "%s\n" "$1" | grep -qx load' - "$(comp "$T_DIR/bin/b10-compile-cache" "")"

# zsh and fish: every option of every verb is named in the file (the static
# fallback); where the shell exists, the file parses and completes.
for f in _b10t b10t.fish; do
	for v in "" $VERBS; do
		[ "$v" = help ] && continue
		missing=""
		for o in $(options_of "$v"); do
			grep -qE -- "(^|[^a-z0-9-])$o([^a-z0-9-]|\$)" "$COMPL/$f" || missing="$missing $o"
		done
		ok "$f names every option of ${v:-b10t}" sh -c '[ -z "$1" ] || { echo "#   missing:$1"; exit 1; }' - "$missing"
	done
	for v in $VERBS; do
		ok "$f names the verb $v" grep -qE -- "(^|[^a-z0-9-])$v([^a-z0-9-]|\$)" "$COMPL/$f"
	done
done

if command -v zsh >/dev/null 2>&1; then
	ok "zsh: _b10t parses" zsh -n "$COMPL/_b10t"
	for bin in "$B10T" /nonexistent/b10t; do
		for v in $VERBS; do
			[ "$v" = help ] && continue
			got=$(zsh -fc 'source <(sed "\$d" "$1"); _b10t_specs "$2" "$3"; print -rl -- $reply' - \
				"$COMPL/_b10t" "$bin" "$v" | sed -E 's/^\([^)]*\)//; s/[=[].*//')
			ok "zsh ($bin): an _arguments spec for every option of $v" offers_all $(options_of "$v") -- $got
		done
	done
else
	echo "# zsh not installed: only the grep checks ran"
fi

if command -v fish >/dev/null 2>&1; then
	ok "fish: b10t.fish parses" fish -n "$COMPL/b10t.fish"
	got=$(fish -c 'source $argv[1]; complete -C "$argv[2] "' "$COMPL/b10t.fish" "$B10T" | cut -f1)
	ok "fish: every verb is offered" offers_all $VERBS -- $got
	for bin in "$B10T" /nonexistent/b10t; do
		for v in $VERBS; do
			[ "$v" = help ] && continue
			got=$(fish -c 'source $argv[1]; complete -C "$argv[2] $argv[3] -"' \
				"$COMPL/b10t.fish" "$bin" "$v" 2>/dev/null | cut -f1)
			ok "fish ($bin): every option of $v" offers_all $(options_of "$v") -- $got
		done
	done
else
	echo "# fish not installed: only the grep checks ran"
fi

done_testing
