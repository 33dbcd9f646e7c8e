# fish completion for b10t (and its b10-compile-cache link)
# SPDX-License-Identifier: MIT
#
# Verbs and options come from the binary itself (`b10t --help`,
# `b10t VERB --help`), so they cannot drift from it; the lists below are the
# fallback when the binary cannot be run (tests/cli/t-completion.sh checks
# that they are complete).

function __b10t_static_help -a verb
    # The lines of `b10t [VERB] --help` that matter, in its format.
    if test -z "$verb"
        printf '%s\n' 'Verbs:' \
            '  clear    remove the local cache dir' \
            "  doctor   probe what the store's filesystem can do" \
            "  envkey   print this environment's key" \
            '  gc       remove stale debris and evict old archives' \
            '  help     show help for b10t or a verb' \
            "  info     status of this environment's caches" \
            '  list     list the archives in the store' \
            "  load     extract this environment's archive into the cache dir" \
            '  save     publish the cache dir to the store' \
            '  vllm     beside vllm serve: load, or save once vLLM is ready' \
            '  watch    publish what the cache dir gains while a server runs' \
            '      --version    print the version and exit' \
            '      --list-cmds    print the verbs, one a line'
    end
    switch "$verb"
        case gc
            printf '      %s    \n' '--stale DURATION' '--max-size SIZE' '--max-age DURATION' \
                '--keep KEY' --all --dry-run
        case list
            printf '      %s    \n' --manifest
        case vllm
            printf '      %s    \n' '--url URL' '--timeout SECONDS' '--interval SECONDS' --follow \
                '--quiet-period SECONDS' '--max-wait SECONDS' '--final-budget SECONDS' '--pid PID'
        case watch
            printf '      %s    \n' '--quiet-period SECONDS' '--max-wait SECONDS' \
                '--final-budget SECONDS' '--pid PID'
    end
    printf '      %s    \n' --json '-q, --quiet' '-v, --verbose' '-h, --help' \
        '--cache-dir DIR' '--store DIR' '--work-dir DIR' '--max-cache-size-mb MB' \
        '--max-concurrent-saves N' '--lock-timeout SECONDS' '--incomplete-timeout SECONDS' \
        '--fs-enabled BOOL' '--key-scheme SCHEME' '--codec CODEC' '--zstd-level N'
end

function __b10t_bin
    set -l cmd (commandline -opc)
    echo $cmd[1]
end

function __b10t_help -a verb
    # `BIN [VERB] --help`, else the static text
    set -l bin (__b10t_bin)
    set -l args
    test -n "$verb"; and set args $verb
    set -l out
    command -q -- $bin; and set out ($bin $args --help 2>/dev/null)
    test -n "$out"; or set out (__b10t_static_help $verb)
    printf '%s\n' $out
end

function __b10t_parse_options -a verb
    # "NAME|METAVAR|SHORT|DESCRIPTION" for every option of the help text
    __b10t_help $verb | string replace -rf \
        '^ +(?:-([a-zA-Z]), )?(--[a-z0-9][a-z0-9-]*)(?: ([A-Z][A-Z_]*))?(?: +(.*))?$' '$2|$3|$1|$4'
end

function __b10t_argopts -a verb
    # the options that take an argument
    for o in (__b10t_parse_options $verb)
        set -l f (string split '|' -- $o)
        test -n "$f[2]"; and echo $f[1]
    end
end

function __b10t_verb
    # The verb on the command line so far, "" if none yet
    set -l cmd (commandline -opc)
    if test (basename -- $cmd[1]) = b10-compile-cache
        echo vllm
        return
    end
    set -l argopts (__b10t_argopts '')
    set -l skip 0
    for w in $cmd[2..-1]
        if test $skip = 1
            set skip 0
            continue
        end
        if string match -q -- '-*' $w
            contains -- $w $argopts; and set skip 1
            continue
        end
        echo $w
        return
    end
end

function __b10t_pending_argopt
    # The option whose argument is being typed, if any
    set -l cmd (commandline -opc)
    set -l prev $cmd[-1]
    test (count $cmd) -gt 1; or return 1
    string match -q -- '--*' $prev; or return 1
    contains -- $prev (__b10t_argopts (__b10t_verb)); or return 1
    echo $prev
end

function __b10t_values -a opt
    switch $opt
        case --cache-dir --store --work-dir
            __fish_complete_directories (commandline -ct | string replace -r '^--[^=]*=' '')
        case --fs-enabled
            printf '%s\n' 1 0 true false yes no on off
        case --key-scheme
            printf '%s\n' default b10-transfer
        case --codec
            printf '%s\n' lz4 zstd
        case --url
            echo http://127.0.0.1:8000/v1/models
    end
end

function __b10t_complete
    set -l tok (commandline -ct)
    set -l opt (__b10t_pending_argopt)
    if test -n "$opt"
        __b10t_values $opt
        return
    end
    set -l verb (__b10t_verb)
    # --opt=VALUE
    if string match -qr -- '^--[a-z0-9-]+=' $tok
        set -l name (string replace -r '=.*' '' -- $tok)
        for v in (__b10t_values $name)
            echo "$name="(string split -f1 \t -- $v)
        end
        return
    end
    if string match -q -- '-*' $tok
        for o in (__b10t_parse_options $verb)
            set -l f (string split '|' -- $o)
            printf '%s\t%s\n' $f[1] $f[4]
            test -n "$f[3]"; and printf '%s\t%s\n' -$f[3] $f[4]
        end
        return
    end
    if test -z "$verb"; or test "$verb" = help
        __b10t_help '' | string replace -rf '^  ([a-z][a-z0-9-]*) +(.*)$' '$1\t$2' |
            string match -v -- (test "$verb" = help; and echo 'help*'; or echo '')
    end
end

complete -c b10t -f -a '(__b10t_complete)'
complete -c b10-compile-cache -f -a '(__b10t_complete)'
