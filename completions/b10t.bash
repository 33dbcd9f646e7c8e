# bash completion for b10t (and its b10-compile-cache link)          -*- sh -*-
# SPDX-License-Identifier: MIT
#
# Verbs and options come from the binary itself (`b10t --list-cmds`,
# `b10t VERB --help`), so they cannot drift from it; the lists below are the
# fallback when the binary cannot be run (tests/cli/t-completion.sh checks
# that they are complete).

_b10t_static_verbs="clear doctor envkey gc help info list load save vllm watch"
_b10t_static_common="--json --quiet -q --verbose -v --help -h --cache-dir --store
	--work-dir --max-cache-size-mb --max-concurrent-saves --lock-timeout
	--incomplete-timeout --fs-enabled --key-scheme --codec --zstd-level"
_b10t_static_args="--cache-dir --store --work-dir --max-cache-size-mb --max-concurrent-saves
	--lock-timeout --incomplete-timeout --fs-enabled --key-scheme --codec --zstd-level --stale --max-size
	--max-age --keep --url --timeout --interval --quiet-period --max-wait --final-budget --pid"

_b10t_static_options() {
	case $1 in
	"") echo "--version --list-cmds" ;;
	gc) echo "--stale --max-size --max-age --keep --all --dry-run" ;;
	list) echo "--manifest" ;;
	vllm) echo "--url --timeout --interval --follow --quiet-period --max-wait --final-budget --pid" ;;
	watch) echo "--quiet-period --max-wait --final-budget --pid" ;;
	esac
	echo "$_b10t_static_common"
}

# _b10t_help BIN [VERB]: the --help text, or nothing when BIN cannot run
_b10t_help() {
	local bin=$1
	shift
	"$bin" "$@" --help 2>/dev/null
}

# _b10t_parse_options: "--name" or "--name METAVAR" for every option in the
# help text on stdin ("  -q, --quiet   ..." and "      --store DIR   ...")
_b10t_parse_options() {
	sed -nE 's/^ +(-([a-zA-Z]), )?(--[a-z0-9][a-z0-9-]*)( [A-Z][A-Z_]*)?( .*)?$/\3\4 -\2/p'
}

_b10t() {
	local cur prev bin verb="" i w opts="" argopts="" help line opt
	cur=${COMP_WORDS[COMP_CWORD]}
	prev=""
	((COMP_CWORD > 0)) && prev=${COMP_WORDS[COMP_CWORD - 1]}

	# --opt=VALUE: bash splits at '=' (COMP_WORDBREAKS)
	if [[ $cur == "=" ]]; then
		cur=""
	elif [[ $prev == "=" ]] && ((COMP_CWORD > 1)); then
		prev=${COMP_WORDS[COMP_CWORD - 2]}
	fi

	bin=${COMP_WORDS[0]}
	[[ $bin == "~/"* ]] && bin=$HOME/${bin#"~/"}
	if [[ ${bin##*/} == b10-compile-cache ]]; then
		verb=vllm
	fi

	# Which options take an argument, from the top-level help (settings) and
	# the verb's; the first word that is neither an option nor one's
	# argument is the verb.
	help=$(_b10t_help "$bin")
	local dynamic=1
	[[ -z $help ]] && dynamic=0
	_b10t_argopts() {	# VERB: options taking an argument
		if ((dynamic)); then
			_b10t_help "$bin" ${1:+"$1"} | _b10t_parse_options |
				while read -r o m _; do [[ $m == -* || -z $m ]] || echo "$o"; done
		else
			echo "$_b10t_static_args"
		fi
	}
	argopts=" $(_b10t_argopts "$verb" | tr '\n' ' ') "
	if [[ -z $verb ]]; then
		for ((i = 1; i < COMP_CWORD; i++)); do
			w=${COMP_WORDS[i]}
			if [[ $w == "=" ]]; then
				((i++))
				continue
			elif [[ $w == -* ]]; then
				[[ $argopts == *" $w "* && ${COMP_WORDS[i + 1]} != "=" ]] && ((i++))
				continue
			fi
			verb=$w
			break
		done
		[[ -n $verb ]] && argopts=" $(_b10t_argopts "$verb" | tr '\n' ' ') "
	fi

	# The argument of an option
	if [[ $prev == -* && $argopts == *" $prev "* ]]; then
		case $prev in
		--cache-dir | --store | --work-dir)
			compopt -o filenames 2>/dev/null
			COMPREPLY=($(compgen -d -- "$cur"))
			;;
		--fs-enabled)
			COMPREPLY=($(compgen -W "1 0 true false yes no on off" -- "$cur"))
			;;
		--key-scheme)
			COMPREPLY=($(compgen -W "default b10-transfer" -- "$cur"))
			;;
		--codec)
			COMPREPLY=($(compgen -W "lz4 zstd" -- "$cur"))
			;;
		--url)
			COMPREPLY=($(compgen -W "http://127.0.0.1:8000/v1/models" -- "$cur"))
			;;
		*)
			COMPREPLY=()
			;;
		esac
		return 0
	fi

	if [[ -z $verb && $cur != -* ]]; then
		local verbs=""
		if ((dynamic)); then
			verbs=$("$bin" --list-cmds 2>/dev/null)
		fi
		[[ -z $verbs ]] && verbs=$_b10t_static_verbs
		COMPREPLY=($(compgen -W "$verbs" -- "$cur"))
		return 0
	fi
	# b10t watch [OPTIONS] -- COMMAND ...: past the "--", a command line of its own
	if [[ $verb == watch ]]; then
		for ((i = 1; i < COMP_CWORD; i++)); do
			if [[ ${COMP_WORDS[i]} == -- ]]; then
				if declare -F _command_offset >/dev/null; then
					_command_offset $((i + 1))
				elif ((i + 1 == COMP_CWORD)); then
					COMPREPLY=($(compgen -c -- "$cur"))
				else
					COMPREPLY=($(compgen -f -- "$cur"))
				fi
				return 0
			fi
		done
	fi
	if [[ $verb == help ]]; then
		local verbs=""
		((dynamic)) && verbs=$("$bin" --list-cmds 2>/dev/null)
		[[ -z $verbs ]] && verbs=$_b10t_static_verbs
		COMPREPLY=($(compgen -W "${verbs//help/}" -- "$cur"))
		return 0
	fi

	if ((dynamic)); then
		opts=$(_b10t_help "$bin" ${verb:+"$verb"} | _b10t_parse_options |
			while read -r o m s; do
				[[ $m == -* ]] && s=$m
				echo "$o"
				[[ $s == -? ]] && echo "$s"
			done)
	fi
	[[ -z $opts ]] && opts=$(_b10t_static_options "$verb")
	COMPREPLY=($(compgen -W "$opts" -- "$cur"))
	return 0
}

complete -F _b10t b10t b10-compile-cache
