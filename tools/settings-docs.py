#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Make the parts of the docs that come from the settings and verb tables.

The tables live in C (lib/config.c's b10t_settings[], cmd/main.c's verbs[]);
`b10t --dump-settings` prints them as JSON, and meson runs this at build
time on that JSON, as git generates its shared doc parts:

  settings-docs.py man DUMP PAGE.scd OUT.scd
      PAGE with its `include::NAME[]` lines expanded: NAME is `settings`
      (the verb's settings, as options), `environment` (the ENVIRONMENT
      entries of those and of the variables every verb reads), or a
      hand-written shared part docs/NAME.scd (`common-options`).  The verb is
      the page's name (b10t-gc.1.scd: gc; b10t.1.scd: every setting).

  settings-docs.py completion DUMP TEMPLATE OUT
      TEMPLATE with @NAME@ lines replaced by the static lists the
      completion falls back to when the binary cannot be run.
"""
import json
import os
import re
import sys


def scd_text(s):
    """Plain text for scdoc: '*' and a word-leading '_' would start markup."""
    s = s.replace("\\", "\\\\").replace("*", "\\*")
    return re.sub(r"(^|[^A-Za-z0-9])_", r"\1\\_", s)


def capital(s):
    return s[0].upper() + s[1:]


def verb_settings(dump, verb):
    if verb is None:
        return dump["settings"]
    for v in dump["verbs"]:
        if v["name"] == verb:
            names = set(v["settings"])
            return [s for s in dump["settings"] if s["env"] in names]
    sys.exit(f"settings-docs: no verb {verb!r} in the dump")


def man_settings(dump, verb):
    out = ["## Settings", ""]
    sets = verb_settings(dump, verb)
    if not sets:
        return out + ["This verb reads no setting.", ""]
    out += [
        "Every setting is an option and an environment variable (those of",
        "*b10-transfer*); the option wins. A variable set but empty is unset.",
        "A bad value (not a number, out of its range, a relative path, *..*) is",
        "a one-line error naming the variable or option, exit 1, and nothing is",
        "touched; a bad value of a variable this verb does not read is ignored.",
        "Sizes and durations: see *SIZES AND DURATIONS* in *b10t*(1).",
        "",
    ]
    for s in sets:
        out.append(f"*--{s['option']}* _{s['metavar']}_")
        line = f"\t{scd_text(capital(s['help']))} [*{s['env']}*]."
        line += f" Default: {scd_text(s['default'])}."
        if "range" in s:
            line += f" Range: {scd_text(s['range'])}."
        if "choices" in s and s["type"] == "choice":
            line += " One of " + ", ".join(f"*{c}*" for c in s["choices"]) + "."
        if "doc" in s:
            line += " " + s["doc"]
        out += [line, ""]
    return out


def man_environment(dump, verb):
    sets = verb_settings(dump, verb)
    out = []
    if sets:
        names = [f"*{s['env']}*" for s in sets]
        lines, cur = [], ""
        for n in names:
            piece = n if not cur else cur + ", " + n
            if len(piece) > 72 and cur:
                lines.append(cur + ",")
                cur = n
            else:
                cur = piece
        lines.append(cur)
        out += lines
        out += ["\tThe settings above; an option wins over its variable, and a variable",
                "\tset but empty is unset.", ""]
    out += ["*B10T_LOG*", "\t*debug* (or *trace*): debug logs, as *-v*.", ""]
    reads_key = verb is None or any(s["env"] == "B10T_KEY_SCHEME" for s in sets)
    if reads_key:
        out += ["*B10T_TORCH_VERSION*, *B10T_TRITON_VERSION*, *B10T_CUDA_VERSION*,",
                "*B10T_COMPUTE_CAPABILITY*, *B10T_DEVICE_NAME*",
                "\tForce one component of the environment key (*b10t-envkey*(1)); set",
                "\tbut empty is unset.", "",
                "*B10T_CUDART*, *B10T_CUDA_DRIVER*",
                "\tPath of the CUDA runtime (or driver) library to query for the GPU.", ""]
    return out


def man(dump, page, out_path):
    base = os.path.basename(page)
    m = re.fullmatch(r"b10t(?:-([a-z0-9-]+))?\.1\.scd", base)
    if not m:
        sys.exit(f"settings-docs: {base}: not a b10t[-VERB].1.scd page")
    verb = m.group(1)
    generated = {"settings": man_settings, "environment": man_environment}
    lines = []
    with open(page, encoding="utf-8") as f:
        for n, line in enumerate(f, 1):
            inc = re.fullmatch(r"include::([a-z0-9-]+)\[\]\n?", line)
            if not inc:
                lines.append(line.rstrip("\n"))
                continue
            name = inc.group(1)
            if name in generated:
                part = generated[name](dump, verb)
                while part and part[-1] == "":
                    part.pop()
                lines += part
            else:
                shared = os.path.join(os.path.dirname(page), name + ".scd")
                if not os.path.exists(shared):
                    sys.exit(f"{page}:{n}: include::{name}[]: no such part")
                with open(shared, encoding="utf-8") as g:
                    lines += [x.rstrip("\n") for x in g if not x.startswith(";")]
    with open(out_path, "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


def completion(dump, template, out_path):
    verbs = [v["name"] for v in dump["verbs"]]
    settings = dump["settings"]
    common = []
    for o in dump["common_options"]:
        common.append("--" + o["name"])
        if "short" in o:
            common.append("-" + o["short"])
    common += ["--" + s["option"] for s in settings]
    argopts = ["--" + s["option"] for s in settings]
    for v in dump["verbs"]:
        argopts += ["--" + o["name"] for o in v["options"] if "metavar" in o]

    def values(s):
        if s["type"] == "path":
            return None
        if "choices" in s:
            return s["choices"]
        if s["type"] == "url":
            return [s["default"]]
        return []

    def help_line(o, short=None):
        left = (f"-{short}, " if short else "    ") + "--" + o["name"]
        if o.get("metavar"):
            left += " " + o["metavar"]
        return "  " + left

    subs = {}
    subs["VERBS"] = " ".join(verbs)
    subs["COMMON"] = " ".join(common)
    subs["ARGOPTS"] = " ".join(sorted(set(argopts)))
    # bash: the verbs' own options, as case arms
    arms = []
    for v in dump["verbs"]:
        if v["options"]:
            arms.append(f"\t{v['name']}) echo \"{' '.join('--' + o['name'] for o in v['options'])}\" ;;")
    subs["BASH_VERB_OPTIONS"] = "\n".join(arms)
    # bash / fish: values of an option's argument
    dirs = [s for s in settings if s["type"] == "path"]
    arms_bash, arms_fish, arms_zsh = [], [], []
    arms_bash.append("\t\t" + " | ".join("--" + s["option"] for s in dirs) + ")")
    arms_bash.append("\t\t\tcompopt -o filenames 2>/dev/null")
    arms_bash.append("\t\t\tCOMPREPLY=($(compgen -d -- \"$cur\"))")
    arms_bash.append("\t\t\t;;")
    arms_fish.append("        case " + " ".join("--" + s["option"] for s in dirs))
    arms_fish.append("            __fish_complete_directories (commandline -ct | string replace -r '^--[^=]*=' '')")
    arms_zsh.append("\t\t\t" + "|".join("--" + s["option"] for s in dirs) + ") action=_directories ;;")
    for s in settings:
        vals = values(s)
        if not vals:
            continue
        arms_bash += [f"\t\t--{s['option']})",
                      f"\t\t\tCOMPREPLY=($(compgen -W \"{' '.join(vals)}\" -- \"$cur\"))",
                      "\t\t\t;;"]
        arms_fish += [f"        case --{s['option']}", f"            printf '%s\\n' {' '.join(vals)}"]
        arms_zsh.append(f"\t\t\t--{s['option']}) action='({' '.join(vals)})' ;;")
    subs["BASH_VALUES"] = "\n".join(arms_bash)
    subs["FISH_VALUES"] = "\n".join(arms_fish)
    subs["ZSH_VALUES"] = "\n".join(arms_zsh)
    # zsh / fish: the help text's lines, in --help's format
    width = max(len(v) for v in verbs)
    verb_lines = [f"  {v['name']:<{width}}  {v['summary']}" for v in dump["verbs"]]
    opt_lines = {}
    for v in dump["verbs"]:
        opt_lines[v["name"]] = [help_line(o, o.get("short")) for o in v["options"]]
    top = [help_line({"name": n}) for n in ("version", "list-cmds", "dump-settings")]
    common_lines = [help_line(o, o.get("short")) for o in dump["common_options"]]
    common_lines += [help_line({"name": s["option"], "metavar": s["metavar"]}) for s in settings]

    def sh_quote(s):
        return "'" + s.replace("'", "'\\''") + "'"

    subs["STATIC_VERB_LINES"] = " \\\n".join("\t\t\t" + sh_quote(x) for x in verb_lines + top)
    subs["STATIC_COMMON_LINES"] = " \\\n".join("\t\t" + sh_quote(x) for x in common_lines)
    arms = []
    for v in dump["verbs"]:
        if opt_lines[v["name"]]:
            arms.append(f"\t{v['name']})\n\t\tprint -rl -- " +
                        " ".join(sh_quote(x) for x in opt_lines[v["name"]]) + " ;;")
    subs["ZSH_VERB_LINES"] = "\n".join(arms)
    arms = []
    for v in dump["verbs"]:
        if opt_lines[v["name"]]:
            arms.append(f"        case {v['name']}\n            printf '%s\\n' " +
                        " ".join(sh_quote(x) for x in opt_lines[v["name"]]))
    subs["FISH_VERB_LINES"] = "\n".join(arms)

    with open(template, encoding="utf-8") as f:
        text = f.read()

    def sub(m):
        name = m.group(1)
        if name not in subs:
            sys.exit(f"{template}: unknown @{name}@")
        return subs[name]

    text = re.sub(r"@([A-Z_]+)@", sub, text)
    with open(out_path, "w", encoding="utf-8") as f:
        f.write(text)


def main():
    if len(sys.argv) != 5 or sys.argv[1] not in ("man", "completion"):
        sys.exit(__doc__)
    with open(sys.argv[2], encoding="utf-8") as f:
        dump = json.load(f)
    (man if sys.argv[1] == "man" else completion)(dump, sys.argv[3], sys.argv[4])


if __name__ == "__main__":
    main()
