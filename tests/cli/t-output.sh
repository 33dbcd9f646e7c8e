#!/bin/sh
# Output a program relies on: one name per concept in every verb's JSON,
# null or absent (never both) for one field, files apart from dirs, machine
# reasons for SKIPPED and DOES_NOT_EXIST, usage errors as objects,
# --json=short, and -q silent on success.
. "$(dirname "$0")/lib.sh"

command -v jq >/dev/null 2>&1 || skip_all "jq not found"
S=$B10FS_CACHE_DIR C=$TORCHINDUCTOR_CACHE_DIR
J="$T_DIR/json"
mkdir -p "$J"
n=0
# keep VERB ARGS...: run b10t VERB ARGS... --json, keep the object for the
# null-or-absent check below
keep() {
	n=$((n + 1))
	"$B10T" "$@" --json >"$J/$1.$n" 2>/dev/null
	rc=$?
	cp "$J/$1.$n" "$T_DIR/out"
}
make_tree() {
	mkdir -p "$C/d/e" && echo hi >"$C/d/f" && echo ho >"$C/g" && ln -sf g "$C/l"
}

# ---- states of every verb, kept for the checks ----------------------------
keep load
ok "load, no archive: DOES_NOT_EXIST" expect_rc 3
ok "load, no archive: reason is a code: no_archive" jq_is .reason no_archive
ok "load, no archive: the words in message" jq_is '.message | test("no archive for key")' true
keep save
ok "save, nothing to save: SKIPPED" expect_rc 4
ok "save, nothing to save: reason cache_dir_empty" jq_is .reason cache_dir_empty
keep info
keep list
keep list --manifest
keep clear
make_tree
keep info
keep save
ok "save: SUCCESS" expect_rc 0
ok "save: files counts the files and symlinks, dirs the dirs" jq_is '"\(.files) \(.dirs)"' "3 2"
ok "save: no reason nor message on SUCCESS" jq_is 'has("reason") or has("message")' false
keep save
ok "save again: reason already_published" jq_is .reason already_published
keep load
ok "load into a full dir: reason cache_dir_not_empty" jq_is .reason cache_dir_not_empty
keep info
ok "info: the archive's filename" jq_is .b10fs_cache_filename "$(ls "$S" | grep '\.tar\.lz4$')"
ok "info: local files and dirs apart" jq_is '"\(.local_cache_files) \(.local_cache_dirs)"' "3 2"
ok "info: the archive's files and dirs, from its manifest" \
	jq_is '"\(.b10fs_cache_files) \(.b10fs_cache_dirs)"' "3 2"
keep list
ok "list: filename and archive_bytes" jq_is '.caches[0] | has("filename") and has("archive_bytes")' true
keep list --manifest
ok "list --manifest: files and dirs" jq_is '.caches[0] | "\(.files) \(.dirs)"' "3 2"
keep clear
ok "clear: files and dirs removed apart" jq_is '"\(.files) \(.dirs)"' "3 2"
keep load
ok "load: SUCCESS, files and dirs" jq_is '"\(.status) \(.files) \(.dirs)"' "SUCCESS 3 2"
keep envkey
ok "envkey: key_scheme, as info names it" jq_is .key_scheme default
keep info
ok "info: key_scheme" jq_is .key_scheme default
: >"$S/cache_0123456789abcdef.lock"
touch -d '1 hour ago' "$S/cache_0123456789abcdef.lock"
keep gc --dry-run
ok "gc: removed items have filename, as list's caches" jq_is '.removed[0].filename' cache_0123456789abcdef.lock
keep gc
keep doctor
BASETEN_FS_ENABLED=0 keep list
ok "list, store disabled: caches is []" jq_is '.caches | length' 0
BASETEN_FS_ENABLED=1 B10FS_CACHE_DIR="$T_DIR/no-store" keep list
ok "list, store missing: caches is []" jq_is '.caches | length' 0
BASETEN_FS_ENABLED=1 B10FS_CACHE_DIR="$T_DIR/no-store" keep load
if [ "$(id -u)" != 0 ]; then
	mkdir -p "$T_DIR/locked" && chmod 000 "$T_DIR/locked"
	BASETEN_FS_ENABLED=1 B10FS_CACHE_DIR="$T_DIR/locked" keep list
	ok "list, store unreadable: exit 1" expect_rc 1
	ok "list, store unreadable: still caches []" jq_is '"\(.caches | length) \(.error != null)"' "0 true"
	ok "list, store unreadable: every key of a listing, totals 0" \
		jq_is '"\(.total_caches) \(.total_bytes) \(.current_cache_exists) \(.store_dir != null) \(.status)"' "0 0 false true ERROR"
	chmod 700 "$T_DIR/locked"
else
	# root reads a mode-000 dir: a file where the store should be instead
	: >"$T_DIR/a-file"
	BASETEN_FS_ENABLED=1 B10FS_CACHE_DIR="$T_DIR/a-file" keep list
	ok "list, store not a dir: exit 1" expect_rc 1
	ok "list, store unreadable: still caches []" jq_is '"\(.caches | length) \(.error != null)"' "0 true"
	ok "list, store unreadable: every key of a listing, totals 0" \
		jq_is '"\(.total_caches) \(.total_bytes) \(.current_cache_exists) \(.store_dir != null) \(.status)"' "0 0 false true ERROR"
fi

# ---- one field: null in some objects or absent in others, never both -------
python3 - "$J" >"$T_DIR/mixed" <<'PY'
import json, os, sys
seen = {}	# (verb, path) -> set of "null" / "value" / "absent"
objs = {}
for f in sorted(os.listdir(sys.argv[1])):
    verb = f.split(".")[0]
    try:
        o = json.load(open(os.path.join(sys.argv[1], f)))
    except ValueError:
        continue
    objs.setdefault(verb, []).append(o)
def paths(o, pre=""):
    out = {}
    if isinstance(o, dict):
        for k, v in o.items():
            if pre.endswith("components") or pre.endswith("sources"):
                continue	# named by the environment, not by b10t
            out[pre + k] = v
            out.update(paths(v, pre + k + "."))
    elif isinstance(o, list):
        for v in o:
            out.update(paths(v, pre + "[]."))
    return out
for verb, os_ in objs.items():
    ps = [paths(o) for o in os_]
    keys = set().union(*ps)
    for k in keys:
        parent = k.rsplit(".", 1)[0] if "." in k else ""
        kinds = set()
        for p in ps:
            if parent and parent not in p:
                continue
            if k not in p:
                kinds.add("absent")
            elif p[k] is None:
                kinds.add("null")
        if kinds == {"absent", "null"}:
            print(f"{verb}: {k}")
PY
ok "no field is null in one object and absent in another" sh -c '[ ! -s "$1" ] || { sed "s/^/#   /" "$1"; exit 1; }' - "$T_DIR/mixed"
ok "the check saw the verbs" [ "$(ls "$J" | cut -d. -f1 | sort -u | wc -l)" -ge 8 ]

# ---- the man pages match: each key's entry in JSON OUTPUT, and says so ------
# when the key can be null or absent (the objects kept above, of 8 verbs)
python3 - "$J" "$BUILDDIR/../docs" >"$T_DIR/undocumented" <<'PY'
import json, os, re, sys
jdir, docs = sys.argv[1], sys.argv[2]
SKIP_CHILDREN = ("components", "sources")	# named by the environment
def section(verb):
    text = open(os.path.join(docs, "b10t-%s.1.scd" % verb)).read()
    m = re.search(r"^# JSON OUTPUT\n(.*?)^# ", text, re.S | re.M)
    return m.group(1) if m else ""
def entries(sec):
    out = {}	# name -> paragraph (its heading line and the tab lines after it)
    head, para = None, []
    def flush():
        if head is not None:
            for n in re.findall(r"\*([a-z_][a-z0-9_]*)\*", head):
                out.setdefault(n, "")
                out[n] += head + "\n" + "\n".join(para)
    for line in sec.split("\n"):
        if line.startswith("\t"):
            para.append(line)
        elif line.startswith("*"):
            flush()
            head, para = line, []
        else:
            flush()
            head, para = None, []
    flush()
    return out
objs = {}
for f in sorted(os.listdir(jdir)):
    try:
        o = json.load(open(os.path.join(jdir, f)))
    except ValueError:
        continue
    if isinstance(o, dict) and not o.get("usage_error"):
        objs.setdefault(f.split(".")[0], []).append(o)
bad = []
def nested(o, pre, acc):	# every key below the top level
    if isinstance(o, dict):
        for k, v in o.items():
            acc.add(k)
            if k not in SKIP_CHILDREN:
                nested(v, pre, acc)
    elif isinstance(o, list):
        for v in o:
            nested(v, pre, acc)
for verb, os_ in sorted(objs.items()):
    sec = section(verb)
    ent = entries(sec)
    keys = set().union(*[set(o) for o in os_])
    for k in sorted(keys):
        if k not in ent:
            bad.append("%s: top-level %s has no entry" % (verb, k))
            continue
        p = ent[k]
        if any(k in o and o[k] is None for o in os_) and "null" not in p:
            bad.append("%s: %s is null in output; its entry never says null" % (verb, k))
        if any(k not in o for o in os_) and any(k in o for o in os_) and \
           not re.search(r"[Aa]bsent|[Oo]nly|with status ERROR|[Ww]ith \*--", p):
            bad.append("%s: %s is absent from some objects; its entry does not say when" % (verb, k))
    inner = set()
    for o in os_:
        for k, v in o.items():
            if k not in SKIP_CHILDREN:
                nested(v, "", inner)
    for k in sorted(inner - keys):
        if "*%s*" % k not in sec and '"%s"' % k not in sec:
            bad.append("%s: nested %s not named in JSON OUTPUT" % (verb, k))
if bad:
    print("\n".join(bad))
PY
ok "every key of every verb's JSON has its entry in the verb's man page" \
	sh -c '[ ! -s "$1" ] || { sed "s/^/#   /" "$1"; exit 1; }' - "$T_DIR/undocumented"

# ---- --json=short, --json=pretty ---------------------------------------------
run info --json=short
ok "--json=short: exit 0" expect_rc 0
ok "--json=short: one line" [ "$(wc -l <"$T_DIR/out")" -eq 1 ]
ok "--json=short: the same object" [ "$(jq -S . "$T_DIR/out")" = "$("$B10T" info --json | jq -S .)" ]
bad=""
for a in envkey info list "list --manifest" load save clear gc "gc --dry-run" doctor \
	 "vllm --timeout 0 --url http://127.0.0.1:1/"; do
	# shellcheck disable=SC2086
	"$B10T" $a --json=short >"$T_DIR/out" 2>/dev/null
	[ "$(wc -l <"$T_DIR/out")" -eq 1 ] && jq -e 'type == "object"' "$T_DIR/out" >/dev/null ||
		bad="$bad [$a]"
done
ok "--json=short: one line, one object, for every verb" \
	sh -c '[ -z "$1" ] || { echo "#   not one line:$1"; exit 1; }' - "$bad"
run list --json=pretty
ok "--json=pretty: indented, several lines" [ "$(wc -l <"$T_DIR/out")" -gt 3 ]
run list --json=yaml
ok "--json=yaml: a usage error" expect_rc 2
ok "--json=yaml: named" contains "$ERR" "--json=yaml"
run list --frob --json=short
ok "a usage error under --json=short: one line of JSON" \
	sh -c '[ "$(wc -l <"$1")" -eq 1 ] && jq -e ".usage_error == true and .status == \"ERROR\"" "$1" >/dev/null' - "$T_DIR/out"
run envkey --json extra
ok "an operand under --json: the error as an object" jq_is .error "unexpected argument 'extra'"
# every verb, --json before or after the bad word, and an unknown verb
bad=""
for v in $("$B10T" --list-cmds) frob; do
	for a in "--frob --json" "--json --frob" "--frob --json=short" "--json=short extra extra"; do
		# watch's operands are a command to run, not extra arguments
		[ "$v" = watch ] && [ "$a" = "--json=short extra extra" ] && a="--json=short --pid 1 -- true"
		# shellcheck disable=SC2086
		"$B10T" $v $a >"$T_DIR/out" 2>/dev/null
		rc=$?
		[ "$rc" = 2 ] && jq -e '.usage_error == true and .status == "ERROR" and (.error | length > 0)' \
			"$T_DIR/out" >/dev/null 2>&1 || bad="$bad [$v $a: rc $rc]"
	done
done
ok "every verb's usage error under --json is an object, exit 2" \
	sh -c '[ -z "$1" ] || { echo "#   not an object:$1"; exit 1; }' - "$bad"
run load --cache-dir relative/dir --json
ok "a bad setting option before --json: the error as an object" \
	jq_is '"\(.status) \(.error | test("--cache-dir=relative/dir"))"' "ERROR true"

# ---- -q: silent on success, as git's -q ----------------------------------------
rm -rf "$C"
run load -q
ok "load -q: SUCCESS" expect_rc 0
ok "load -q: nothing on stdout" [ -z "$OUT" ]
ok "load -q: nothing on stderr" [ -z "$ERR" ]
run load -q
ok "load -q into a full dir: SKIPPED by the exit status" expect_rc 4
ok "load -q into a full dir: silent" [ -z "$OUT$ERR" ]
run clear -q
ok "clear -q: silent" sh -c '[ "$1" = 0 ] && [ -z "$2" ]' - "$rc" "$OUT$ERR"
make_tree
rm -f "$S"/cache_*
run save -q
ok "save -q: silent" sh -c '[ "$1" = 0 ] && [ -z "$2" ]' - "$rc" "$OUT$ERR"
run doctor -q
ok "doctor -q: silent when save can publish" sh -c '[ "$1" = 0 ] && [ -z "$2" ]' - "$rc" "$OUT"
run gc -q
ok "gc -q: silent" sh -c '[ "$1" = 0 ] && [ -z "$2" ]' - "$rc" "$OUT$ERR"
BASETEN_FS_ENABLED=0 run load -q --cache-dir "$T_DIR/other"
ok "load -q that fails: exit 1" expect_rc 1
ok "load -q that fails: the error still on stderr" contains "$ERR" "b10t load: error:"
run envkey -q
ok "envkey -q still prints the key (its answer)" [ -n "$OUT" ]
run save -q --json
ok "-q --json: the object still printed" jq_is .status SKIPPED

done_testing
