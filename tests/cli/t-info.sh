#!/bin/sh
# b10t info: key, local cache, store archive; b10-transfer's JSON keys.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR

run info --json
ok "info --json exits 0" expect_rc 0
ok "prints one JSON object" jq_is type object
KEY=$(jq -r .environment_key "$T_DIR/out")
ok "environment_key is 16 hex digits" sh -c 'printf "%s" "$1" | grep -Eq "^[0-9a-f]{16}$"' - "$KEY"
ok "environment_key is what envkey prints" [ "$KEY" = "$("$B10T" envkey 2>/dev/null)" ]
for k in environment_key local_cache_exists b10fs_enabled b10fs_cache_exists \
	 local_cache_size_mb b10fs_cache_size_mb local_cache_bytes local_cache_files local_cache_dirs \
	 b10fs_cache_bytes b10fs_cache_filename cache_dir store_dir key_scheme components; do
	ok "has key $k" jq_is "has(\"$k\")" true
done
ok "no local cache: local_cache_exists false" jq_is .local_cache_exists false
ok "no local cache: 0 bytes" jq_is .local_cache_bytes 0
ok "store dir exists: b10fs_enabled true" jq_is .b10fs_enabled true
ok "no archive: b10fs_cache_exists false" jq_is .b10fs_cache_exists false
ok "no archive: b10fs_cache_filename null" jq_is .b10fs_cache_filename null
ok "cache_dir" jq_is .cache_dir "$C"
ok "store_dir" jq_is .store_dir "$S"
ok "key_scheme default" jq_is .key_scheme default
ok "components hold the forced torch version" jq_is .components.torch_version 2.4.0
ok "components hold the forced triton version" jq_is .components.triton_version 3.0.0

# A local cache of 1.5 MiB in two files and one dir.
mkdir -p "$C/sub"
head -c 1048576 /dev/zero >"$C/a"
head -c 524288 /dev/zero >"$C/sub/b"
# The archive for this key: 2 MiB, lz4 and the reference's gz side by side.
head -c 2097152 /dev/zero >"$S/cache_$KEY.latest.tar.lz4"
head -c 100 /dev/zero >"$S/cache_$KEY.latest.tar.gz"
run info --json
ok "local_cache_exists" jq_is .local_cache_exists true
ok "local_cache_bytes exact" jq_is .local_cache_bytes 1572864
ok "local_cache_size_mb in MiB" jq_is .local_cache_size_mb 1.5
ok "local_cache_files and _dirs count the entries" jq_is '.local_cache_files + .local_cache_dirs' 3
ok "b10fs_cache_exists" jq_is .b10fs_cache_exists true
ok "lz4 preferred over gz" jq_is .b10fs_cache_filename "cache_$KEY.latest.tar.lz4"
ok "b10fs_cache_bytes exact" jq_is .b10fs_cache_bytes 2097152
ok "b10fs_cache_size_mb in MiB" jq_is .b10fs_cache_size_mb 2
rm "$S/cache_$KEY.latest.tar.lz4"
run info --json
ok "the reference's gz is found alone" jq_is .b10fs_cache_filename "cache_$KEY.latest.tar.gz"
ok "its size" jq_is .b10fs_cache_bytes 100

run info
ok "text info exits 0" expect_rc 0
ok "text shows the key" sh -c 'printf "%s\n" "$1" | grep -Eq "^environment_key: +$2$"' - "$OUT" "$KEY"
ok "text shows the archive" contains "$OUT" "cache_$KEY.latest.tar.gz"
ok "text values aligned" [ "$(printf '%s\n' "$OUT" | grep -E '^[a-z_]+:' | grep -v '^components:$' | \
	awk '{ print index($0, $2) }' | sort -u | wc -l)" -eq 1 ]

# The store off or missing: still exit 0, b10fs_enabled false.
BASETEN_FS_ENABLED=0 run info --json
ok "store disabled: exit 0" expect_rc 0
ok "store disabled: b10fs_enabled false" jq_is .b10fs_enabled false
ok "store disabled: no archive reported" jq_is .b10fs_cache_exists false
run info --json --store "$T_DIR/no-such-store"
ok "store missing: exit 0" expect_rc 0
ok "store missing: b10fs_enabled false" jq_is .b10fs_enabled false
ok "store missing: why, as a code" jq_is .b10fs_disabled_reason store_missing
ok "store missing: why, in words: what to set" \
	jq_is .b10fs_disabled_message "the store $T_DIR/no-such-store does not exist: set B10FS_CACHE_DIR to the shared dir (to try it locally, any empty dir)"
run info --store "$T_DIR/no-such-store"
ok "store missing: the text says why the store is disabled" \
	contains "$OUT" "b10fs_cache:         - (store disabled: the store $T_DIR/no-such-store does not exist: set B10FS_CACHE_DIR"
BASETEN_FS_ENABLED=0 run info
ok "store turned off: the text says by what" contains "$OUT" "(store disabled: turned off by BASETEN_FS_ENABLED (or --fs-enabled))"
BASETEN_FS_ENABLED=0 run info --json
ok "store turned off: reason store_disabled" jq_is .b10fs_disabled_reason store_disabled
run info --json
ok "store enabled: no disabled reason" jq_is 'has("b10fs_disabled_reason") or has("b10fs_disabled_message")' false
BASETEN_FS_ENABLED=1 run info --json --store "$T_DIR/no-such-store"
ok "store forced on but missing: exit 0" expect_rc 0
ok "store forced on but missing: b10fs_enabled true" jq_is .b10fs_enabled true
ok "store forced on but missing: no archive" jq_is .b10fs_cache_exists false
unset BASETEN_FS_ENABLED

run info -q --json
ok "-q keeps the result" jq_is .environment_key "$KEY"
run info -v
ok "-v logs timings on stderr" contains "$ERR" "info took"
run info extra
ok "an operand is a usage error" expect_rc 2

# A real archive: info shows what it holds, from its manifest, and reading
# that is no use of the archive (its atime, gc's last use, stays).
rm -rf "$B10FS_CACHE_DIR" "$TORCHINDUCTOR_CACHE_DIR"
mkdir -p "$B10FS_CACHE_DIR" "$TORCHINDUCTOR_CACHE_DIR/sub"
printf 12345 >"$TORCHINDUCTOR_CACHE_DIR/sub/a"
printf 678 >"$TORCHINDUCTOR_CACHE_DIR/b"
run save -q
ok "a save of a two-file tree for info" expect_rc 0
A=$(published_archive "$B10FS_CACHE_DIR" "$("$B10T" envkey)")
touch -a -d '2020-01-02 03:04:05' "$A"
run info --json
ok "manifest: files and dirs the archive holds" jq_is '"\(.b10fs_cache_files),\(.b10fs_cache_dirs)"' 2,1
ok "manifest: uncompressed bytes" jq_is .b10fs_cache_uncompressed_bytes 8
ok "manifest: the b10t that wrote it" jq_is .b10fs_cache_b10t_version "$("$B10T" --version | cut -d' ' -f2)"
ok "reading the manifest keeps the archive's atime" [ "$(stat -c %X "$A")" = "$(date -d '2020-01-02 03:04:05' +%s)" ]
run info
ok "text: what the archive holds" contains "$OUT" "2 files, 1 dir, 8 B"

done_testing
