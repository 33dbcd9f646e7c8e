#!/bin/sh
# The public C API (lib/b10t.h) through tests/capi-json.c, a program linked
# to libb10t.so.1 with that header alone: every verb's JSON is the one
# `b10t VERB --json=short` prints (elapsed_s aside), with the same status;
# the accessors, setters by name, the settings table and the version.
. "$(dirname "$0")/lib.sh"

: "${CAPI_JSON:?CAPI_JSON must point at tests/capi-json}"
command -v jq >/dev/null 2>&1 || skip_all "jq not found"

# same DESC VERB [CLI ARGS...]: the API's JSON and status equal the
# command's.  $API: the NAME=VALUE settings the API gets for the CLI's
# options; $KEY: rm's operand, for both.
same() {
	what=$1 verb=$2
	shift 2
	# the state before
	rm -rf "$T_DIR/before" && mkdir "$T_DIR/before" &&
		cp -a "$B10FS_CACHE_DIR" "$T_DIR/before/store" &&
		{ [ ! -e "$TORCHINDUCTOR_CACHE_DIR" ] || [ "$TORCHINDUCTOR_CACHE_DIR" = /usr ] ||
		  cp -a "$TORCHINDUCTOR_CACHE_DIR" "$T_DIR/before/cache"; }
	"$B10T" "$verb" --json=short "$@" ${KEY:-} >"$T_DIR/cli.json" 2>"$T_DIR/cli.err"
	cli_rc=$?
	# the state before, again: the API changes it as the command did
	if [ -e "$T_DIR/before/cache" ]; then
		rm -rf "$TORCHINDUCTOR_CACHE_DIR" && cp -a "$T_DIR/before/cache" "$TORCHINDUCTOR_CACHE_DIR"
	fi
	rm -rf "$B10FS_CACHE_DIR" && cp -a "$T_DIR/before/store" "$B10FS_CACHE_DIR"
	# shellcheck disable=SC2086
	"$CAPI_JSON" ${API:-} "$verb" ${KEY:-} >"$T_DIR/api.json" 2>"$T_DIR/api.err"
	api_rc=$?
	# elapsed_s is a timing, last_used an access time (the copy above
	# reads the store); jq -c keeps the order of the keys
	norm='del(.elapsed_s) | if .caches then .caches |= map(del(.last_used)) else . end'
	jq -c "$norm" "$T_DIR/cli.json" >"$T_DIR/cli.n" 2>&1
	jq -c "$norm" "$T_DIR/api.json" >"$T_DIR/api.n" 2>&1
	ok "$what: the same JSON as b10t $verb --json" cmp -s "$T_DIR/cli.n" "$T_DIR/api.n" ||
		diff "$T_DIR/cli.n" "$T_DIR/api.n" | sed 's/^/#   /'
	ok "$what: the same status ($cli_rc)" [ "$cli_rc" = "$api_rc" ] || echo "#   api: $api_rc"
}

field() {	# field KIND:NAME VERB...: one accessor's answer after VERB
	f=$1
	shift
	"$CAPI_JSON" "$@" "$f" 2>/dev/null
}

mkdir -p "$TORCHINDUCTOR_CACHE_DIR/fxgraph/ab"
for i in 1 2 3; do echo "graph $i" >"$TORCHINDUCTOR_CACHE_DIR/fxgraph/ab/g$i"; done

same "envkey" envkey
same "info before any save" info
same "list of an empty store" list
same "load with nothing in the store" load
# save: the API publishes (the CLI's save afterwards is SKIPPED), so the
# first save is checked on its own.
"$CAPI_JSON" save >"$T_DIR/save.json" 2>"$T_DIR/save.err"
rc=$?
ok "save through the API: SUCCESS (exit 0)" expect_rc 0
ok "save: its JSON says SUCCESS, 3 files, generation 1" \
	[ "$(jq -r '[.status, .files, .generation] | join(" ")' "$T_DIR/save.json")" = "SUCCESS 3 1" ]
arch=$(jq -r .archive "$T_DIR/save.json")
ok "save: the archive it names is in the store" [ -s "$arch" ]
ok "the archive's key is the command's" \
	[ "$(jq -r .environment_key "$T_DIR/save.json")" = "$("$B10T" envkey)" ]
same "save when published" save
same "info after a save" info
same "list after a save" list
API=manifest=1 same "list --manifest (manifest=1)" list --manifest
"$CAPI_JSON" manifest=1 list >"$T_DIR/m.json" 2>&1
ok "manifest=1 adds the manifest's fields" [ "$(jq -r '.caches[0].files' "$T_DIR/m.json")" = 3 ]
same "load into a full cache dir" load
echo "graph 4" >"$TORCHINDUCTOR_CACHE_DIR/fxgraph/ab/g4"
"$CAPI_JSON" update >"$T_DIR/up.json" 2>&1
ok "update through the API publishes generation 2" \
	[ "$(jq -r '[.status, .generation] | join(" ")' "$T_DIR/up.json")" = "SUCCESS 2" ]
same "update with nothing new" update
same "gc" gc
API="dry_run=1 max_age=0s stale=0s all=1 keep=" \
	same "gc --dry-run --max-age 0s --stale 0s --all" gc --dry-run --max-age 0s --stale 0s --all
"$CAPI_JSON" dry_run=1 max_age=0s stale=0s all=1 gc >"$T_DIR/gc.json" 2>&1
ok "gc's options by name: dry_run=1 max_age=0s stale=0s all=1 would evict both archives" \
	[ "$(jq -r '[.dry_run, ([.removed[] | select(.reason == "max-age" and (.filename | endswith(".tar.lz4")))] | length)] | join(" ")' "$T_DIR/gc.json")" = "true 2" ] ||
	sed 's/^/#   /' "$T_DIR/gc.json"
"$CAPI_JSON" dry_run=1 max_age=0s stale=0s all=1 "keep=$("$B10T" envkey)" gc >"$T_DIR/gc.json" 2>&1
ok "keep=KEY: none of its archives" [ "$(jq '[.removed[] | select(.reason == "max-age")] | length' "$T_DIR/gc.json")" = 0 ]
ok "gc dry_run=1 through the API removed nothing" sh -c \
	'[ "$("$1" list --json | jq .total_caches)" = 1 ] && [ -s "$2" ]' - "$B10T" "$arch"

# compact: gc --compact's "compaction" object (its archive's name is
# unique to the process, and so its size by a few bytes: compared apart)
rm -rf "$T_DIR/before" && cp -a "$B10FS_CACHE_DIR" "$T_DIR/before"
"$B10T" gc --compact --json=short | jq -c '.compaction | del(.archive, .archive_bytes)' >"$T_DIR/cli.n" 2>&1
rm -rf "$B10FS_CACHE_DIR" && cp -a "$T_DIR/before" "$B10FS_CACHE_DIR"
"$CAPI_JSON" compact >"$T_DIR/compact.json" 2>"$T_DIR/compact.err"
rc=$?
ok "compact through the API: SUCCESS" expect_rc 0 || sed 's/^/#   /' "$T_DIR/compact.err"
jq -c 'del(.archive, .archive_bytes)' "$T_DIR/compact.json" >"$T_DIR/api.n" 2>&1
ok "compact: the JSON of b10t gc --compact's compaction, generation 2" sh -c \
	'cmp -s "$1" "$2" && [ "$(jq .generation "$2")" = 2 ]' - "$T_DIR/cli.n" "$T_DIR/api.n" ||
	diff "$T_DIR/cli.n" "$T_DIR/api.n" | sed 's/^/#   /'
ok "compact: the base it names is in the store, archive_bytes its size" sh -c \
	'[ "$(stat -c %s "$(jq -r .archive "$1")")" = "$(jq .archive_bytes "$1")" ]' - "$T_DIR/compact.json"
same "info after a compaction" info

# load into an empty cache dir: the bytes come back
mv "$TORCHINDUCTOR_CACHE_DIR" "$T_DIR/was"
"$CAPI_JSON" load >"$T_DIR/load.json" 2>"$T_DIR/load.err"
rc=$?
ok "load through the API: SUCCESS" expect_rc 0
ok "load: every file back, byte for byte" diff -r "$T_DIR/was" "$TORCHINDUCTOR_CACHE_DIR"
ok "load: its JSON counts 4 files" [ "$(jq -r .files "$T_DIR/load.json")" = 4 ]

# the accessors
ok "b10t_result_string: environment_key" \
	[ "$(field s:environment_key info)" = "$("$B10T" envkey)" ]
ok "b10t_result_u64: local_cache_files" [ "$(field u:local_cache_files info)" = 4 ]
ok "b10t_result_u64: a boolean is 0 or 1" [ "$(field u:b10fs_cache_exists info)" = 1 ]
ok "b10t_result_double: local_cache_size_mb" \
	[ "$(jq -n "$(field d:local_cache_size_mb info) == $("$B10T" info --json | jq .local_cache_size_mb)")" = true ]
ok "an absent field is NULL / -1" [ "$(field s:no_such info) $(field u:no_such info)" = "(null) (none)" ]
ok "a string is not a number" [ "$(field u:environment_key info)" = "(none)" ]

# setters by name: the setting's name, its variable and its option
other="$T_DIR/other"
for name in cache_dir TORCHINDUCTOR_CACHE_DIR cache-dir; do
	ok "b10t_set($name) sets the cache dir" \
		[ "$("$CAPI_JSON" "$name=$other" info s:cache_dir)" = "$other" ]
done
"$CAPI_JSON" max_cache_size=lots save >/dev/null 2>"$T_DIR/err"
rc=$?
ok "a bad value is refused by b10t_set (exit 2 here)" expect_rc 2
ok "a bad value for b10t_set: the setting's message and EINVAL" grep -q "max_cache_size.*(errno 22)" "$T_DIR/err" ||
	sed 's/^/#   /' "$T_DIR/err"
"$CAPI_JSON" no_such_thing=1 info >/dev/null 2>"$T_DIR/err"
rc=$?
ok "an unknown name is refused" sh -c '[ $1 = 2 ] && grep -q "unknown setting" "$2"' - $rc "$T_DIR/err"
"$CAPI_JSON" cache_dir= info s:cache_dir >"$T_DIR/out" 2>&1
ok "an empty value puts back the default (the environment's is not re-read)" \
	[ "$(cat "$T_DIR/out")" != "$TORCHINDUCTOR_CACHE_DIR" ]
# a bad variable fails the operation that reads it, as the command does
MAX_CACHE_SIZE_MB=lots same "a bad MAX_CACHE_SIZE_MB fails save" save
MAX_CACHE_SIZE_MB=lots same "a bad MAX_CACHE_SIZE_MB does not fail envkey, which does not read it" envkey

# errors: the JSON has status ERROR and the error, errno is set
"$CAPI_JSON" cache_dir=/usr clear >/dev/null 2>"$T_DIR/err"
rc=$?
ok "b10t_set refuses /usr as the cache dir" sh -c '[ $1 = 2 ] && grep -q "/usr" "$2"' - $rc "$T_DIR/err"
TORCHINDUCTOR_CACHE_DIR=/usr same "clear of a refused cache dir (/usr) in the environment" clear
# a store that is a file: list fails in both
mv "$B10FS_CACHE_DIR" "$T_DIR/store.d" && echo x >"$B10FS_CACHE_DIR"
BASETEN_FS_ENABLED=1 same "list of a store that is not a dir" list
BASETEN_FS_ENABLED=1 same "load from a store that is not a dir" load
rm -f "$B10FS_CACHE_DIR" && mv "$T_DIR/store.d" "$B10FS_CACHE_DIR"

KEY=0123456789abcdef same "rm of a key with nothing" rm
same "rm of this environment's key" rm
same "clear" clear
same "clear of a missing cache dir" clear

# the settings table and the version
"$CAPI_JSON" settings >"$T_DIR/settings" 2>&1
ok "b10t_setting_info: the table of b10t --dump-settings, in order, then the end" \
	[ "$(cat "$T_DIR/settings")" = "$("$B10T" --dump-settings | jq -r '.settings[] | "\(.name) \(.env) \(.option)"')" ]
v=$("$B10T" --version | cut -d' ' -f2)
num=$(echo "$v" | awk -F. '{ print $1 * 10000 + $2 * 100 + $3 }')
ok "b10t_version_string and _number: $v" [ "$("$CAPI_JSON" version)" = "$num $v" ]

done_testing
