#!/bin/sh
# save and load: statuses, JSON, what is left in the store and the cache dir.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
A=	# the published archive, once there is one (published_archive)

# A small cache tree in $1.
make_tree() {
	mkdir -p "$1/sub/deeper" "$1/empty"
	printf 'kernel\n' >"$1/a.py"
	head -c 100000 /dev/urandom >"$1/sub/blob.bin"
	: >"$1/sub/deeper/zero"
	ln -s ../a.py "$1/sub/link"
}
store_state() {	# names, sizes, mtimes and contents of the store, but use markers
	(cd "$S" && for f in $(ls -A | grep -v '^cache_[A-Za-z0-9_-]*\.used$' | LC_ALL=C sort); do
		printf '%s %s ' "$f" "$(stat -c '%s %Y' "$f")"
		sha256sum <"$f"
	done)
}
no_debris() {	# no upload or staging leftovers
	[ -z "$(ls -A "$S" | grep -e '\.incomplete' -e '\.corrupt')" ] &&
	[ -z "$(ls -A "$(dirname "$C")" | grep b10t-staging)" ]
}

# ---- store disabled ---------------------------------------------------
mkdir -p "$C" && make_tree "$C"
BASETEN_FS_ENABLED=0 run save --json
ok "save with the store disabled exits 1" expect_rc 1
ok "save with the store disabled: status ERROR" jq_is .status ERROR
ok "save with the store disabled: says the store is disabled" contains "$ERR" "disabled"
BASETEN_FS_ENABLED=0 run load --json
ok "load with the store disabled exits 1" expect_rc 1
ok "store still empty" [ -z "$(ls -A "$S")" ]

# ---- save: SKIPPED cases ----------------------------------------------
rm -rf "$C"
run save --json
ok "save of a missing cache dir is SKIPPED (4)" expect_rc 4
ok "save of a missing cache dir: JSON status SKIPPED" jq_is .status SKIPPED
ok "save of a missing cache dir: with a reason" jq_is .reason cache_dir_empty
ok "save of a missing cache dir: a message" jq_is '.message | test("empty or missing")' true
mkdir "$C"
run save
ok "save of an empty cache dir is SKIPPED" expect_rc 4
ok "save of an empty cache dir: text names the status" contains "$OUT" "save: SKIPPED:"
make_tree "$C"

fake1=$S/cache_0123456789abcdef.incomplete.hostA.11.00000000000000aa.tar.lz4
fake2=$S/cache_fedcba9876543210.incomplete.hostB.12.00000000000000bb.tar.lz4
touch "$fake1" "$fake2"
MAX_CONCURRENT_SAVES=2 run save --json
ok "save with MAX_CONCURRENT_SAVES fresh uploads in flight is SKIPPED" expect_rc 4
ok "save with MAX_CONCURRENT_SAVES fresh uploads in flight: reason: too_many_saves" jq_is .reason too_many_saves
ok "save with MAX_CONCURRENT_SAVES fresh uploads in flight: message names MAX_CONCURRENT_SAVES" jq_is '.message | test("MAX_CONCURRENT_SAVES")' true
ok "save with MAX_CONCURRENT_SAVES fresh uploads in flight: nothing published" none_published "$S" "$KEY"
MAX_CONCURRENT_SAVES=3 run save --json -q
unpublish "$S" "$KEY"
ok "fewer uploads than MAX_CONCURRENT_SAVES: save proceeds" expect_rc 0
touch -d '-2 minutes' "$fake1" "$fake2"
MAX_CONCURRENT_SAVES=2 run save --json
ok "uploads older than CLEANUP_INCOMPLETE_TIMEOUT_SECONDS do not count" expect_rc 0
rm -f "$fake1" "$fake2"
A=$(published_archive "$S" "$KEY")

# ---- the published archive --------------------------------------------
ok "the claim cache_<key>.g1 names the archive" \
	[ "$(cat "$S/cache_$KEY.g1")" = "$(basename "$A")" ]
ok "save: the archive is named for generation 1, cache_<key>.g1.<uniq>.tar.lz4" sh -c 'case $(basename "$1") in cache_$2.g1.*.tar.lz4) ;; *) exit 1 ;; esac' - "$A" "$KEY"
ok "save: no legacy .latest is written" [ ! -e "$S/cache_$KEY.latest.tar.lz4" ]
ok "save SUCCESS JSON status" jq_is .status SUCCESS
ok "save's SUCCESS JSON: environment_key" jq_is .environment_key "$KEY"
ok "save's SUCCESS JSON: archive is the published path" jq_is .archive "$A"
ok "save's SUCCESS JSON: files counts the files, dirs the dirs" jq_is '"\(.files),\(.dirs)"' '4,3'
ok "save's SUCCESS JSON: bytes are the uncompressed file bytes" jq_is .bytes 100007
ok "save's SUCCESS JSON: archive_bytes is the archive's size" jq_is .archive_bytes "$(stat -c %s "$A")"
ok "save's SUCCESS JSON: elapsed_s is a number" jq_is '.elapsed_s | type' number
ok "save's SUCCESS JSON: no reason on SUCCESS" jq_is 'has("reason")' false
ok "the archive is an lz4 frame" sh -c 'lz4 -t "$1" 2>/dev/null' - "$A"
ok "its first member is the manifest" \
	[ "$(lz4 -dc "$A" | tar -tf - | head -1)" = .b10t/manifest.json ]
lz4 -dc "$A" | tar -xOf - .b10t/manifest.json >"$T_DIR/out"
ok "the manifest names the key" jq_is .key "$KEY"
ok "the manifest has the key components" jq_is '.components | length > 0' true
ok "the manifest has the version and host" jq_is '.b10t_version != null and .host != null' true
ok "the manifest counts files and bytes" jq_is '[.files, .bytes] | map(type)' '[
  "number",
  "number"
]'
ok "no upload left in the store" no_debris

before=$(store_state)
run save --json
ok "save when the archive exists is SKIPPED" expect_rc 4
ok "save when the archive exists: reason: already_published" jq_is .reason already_published
ok "save when the archive exists: message: already exists" jq_is '.message | test("already exists")' true
ok "save when the archive exists: the store is unchanged" [ "$(store_state)" = "$before" ]

# ---- load --------------------------------------------------------------
run load --json
ok "load into a non-empty cache dir is SKIPPED" expect_rc 4
ok "load into a non-empty cache dir: reason: cache_dir_not_empty" jq_is .reason cache_dir_not_empty

cp -a "$C" "$T_DIR/orig"
rm -rf "$C"
run load --json
ok "load into a missing cache dir: SUCCESS" expect_rc 0
ok "load into a missing cache dir: JSON status" jq_is .status SUCCESS
ok "load into a missing cache dir: archive" jq_is .archive "$A"
ok "load into a missing cache dir: files and dirs" jq_is '"\(.files),\(.dirs)"' '4,3'
ok "load into a missing cache dir: bytes" jq_is .bytes 100007
ok "load into a missing cache dir: archive_bytes" jq_is .archive_bytes "$(stat -c %s "$A")"
ok "the tree is identical" diff -r --no-dereference "$T_DIR/orig" "$C"
ok "the manifest is not extracted" [ ! -e "$C/.b10t" ]
ok "load leaves the store unchanged (but for its use marker)" [ "$(store_state)" = "$before" ]
ok "load records its use in cache_<key>.used, an empty file" \
	sh -c '[ -f "$1" ] && [ ! -s "$1" ]' - "$S/cache_$KEY.used"
ok "no staging debris" no_debris

touch -d '2 days ago' "$S/cache_$KEY.used"
am=$(stat -c %Y "$A")
rm -rf "$C" && mkdir "$C" && chmod 0750 "$C"
run load
ok "load into an empty cache dir: SUCCESS" expect_rc 0
ok "load into an empty cache dir: the load refreshes the use marker's mtime" [ "$(stat -c %Y "$S/cache_$KEY.used")" -ge $(($(date +%s) - 5)) ]
ok "load into an empty cache dir: leaves the archive's mtime" [ "$(stat -c %Y "$A")" = "$am" ]
ok "load into an empty cache dir: text: one line with counts and the archive name" \
	contains "$OUT" "load: SUCCESS: 4 files, 3 dirs, 97.7 KiB from $(basename "$A")"
ok "load into an empty cache dir: the empty dir's mode is kept" [ "$(stat -c %a "$C")" = 750 ]
ok "load into an empty cache dir: the tree is identical" diff -r --no-dereference "$T_DIR/orig" "$C"

TORCHINDUCTOR_CACHE_DIR=$T_DIR/new/parents/cache run load
ok "load creates missing parents of the cache dir" expect_rc 0
ok "load into missing parents: the tree is identical" diff -r --no-dereference "$T_DIR/orig" "$T_DIR/new/parents/cache"
mkdir "$T_DIR/real-cache"
ln -s real-cache "$T_DIR/cache-link"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/cache-link run load
ok "load through a symlinked empty cache dir: SUCCESS" expect_rc 0
ok "load through a symlinked empty cache dir: the link is kept and the tree is in its target" \
	sh -c '[ -L "$1/cache-link" ] && diff -r --no-dereference "$1/orig" "$1/real-cache"' - "$T_DIR"

# ---- DOES_NOT_EXIST -----------------------------------------------------
rm -rf "$C"
B10FS_CACHE_DIR=$T_DIR/empty-store
mkdir "$B10FS_CACHE_DIR"
export B10FS_CACHE_DIR
run load --json
ok "load with no archive: DOES_NOT_EXIST (3)" expect_rc 3
ok "load with no archive: JSON status" jq_is .status DOES_NOT_EXIST
ok "load with no archive: reason: no_archive" jq_is .reason no_archive
ok "load with no archive: message names the key" jq_is ".message | test(\"$KEY\")" true
ok "load with no archive: the cache dir was not created" [ ! -e "$C" ]

# ---- MAX_CACHE_SIZE_MB ---------------------------------------------------
mkdir -p "$C"
head -c 3000000 /dev/urandom >"$C/big"
MAX_CACHE_SIZE_MB=1 run save --json
ok "save over MAX_CACHE_SIZE_MB is an ERROR" expect_rc 1
ok "save over MAX_CACHE_SIZE_MB: JSON status ERROR" jq_is .status ERROR
ok "save over MAX_CACHE_SIZE_MB: error names MAX_CACHE_SIZE_MB" jq_is '.error | test("MAX_CACHE_SIZE_MB")' true
ok "save over MAX_CACHE_SIZE_MB: nothing left in the store" [ -z "$(ls -A "$B10FS_CACHE_DIR")" ]
rm -f "$B10FS_CACHE_DIR"/*

# ---- progress bar: on a terminal only, never with -q ----------------------
esc=$(printf '\033')
run save
ok "no progress bar when stderr is not a terminal" sh -c '! printf "%s" "$1" | grep -q "$2"' - "$ERR" "$esc"
rm -f "$B10FS_CACHE_DIR"/*
if command -v script >/dev/null; then
	script -qec "'$B10T' save" /dev/null >"$T_DIR/tty" 2>&1
	ok "a progress bar on a terminal, with the percentage" grep -q "save: 100%" "$T_DIR/tty"
	rm -rf "$C"
	script -qec "'$B10T' load -q" /dev/null >"$T_DIR/tty" 2>&1
	ok "no progress bar with -q" sh -c '! grep -q "$1" "$2"' - "$esc" "$T_DIR/tty"
	ok "no progress bar with -q: nor the result: -q is silent on success" sh -c '! grep -q "load: SUCCESS" "$1"' - "$T_DIR/tty"
fi
export B10FS_CACHE_DIR=$S

done_testing
