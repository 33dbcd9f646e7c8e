#!/bin/sh
# b10t update (save --update): a layer holds only what the store lacks; a
# later layer wins for a path; vLLM's index file is merged; nothing new is
# SKIPPED; 16 updaters at once each publish their unique entries exactly
# once, with no generation lost or taken twice, while loads stay whole.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
command -v lz4 >/dev/null || skip_all "no lz4 CLI"

members() {	# members ARCHIVE: its member paths, one a line, sorted
	lz4 -dc "$1" 2>/dev/null | tar -tf - | grep -v '^\.b10t/' | sed 's,/$,,' | sort
}
claim() {	# claim N: the archive claim g<N> names
	cat "$S/cache_$KEY.g$1" 2>/dev/null
}

mkdir -p "$C/a" "$C/b"
for i in 1 2 3; do echo "kernel $i" >"$C/a/k$i.py"; done
head -c 300000 /dev/urandom >"$C/b/blob.so"
ln -s ../a/k1.py "$C/b/link"

run update --json
ok "update on an empty store publishes generation 1 (the whole tree)" expect_rc 0
ok "update on an empty store: SUCCESS, generation 1" jq_is '"\(.status) \(.generation)"' "SUCCESS 1"
ok "update on an empty store: claim g1 names its archive" [ -f "$S/$(claim 1)" ]

run update --json
ok "update of an unchanged cache: SKIPPED (exit 4)" expect_rc 4
ok "update of an unchanged cache says nothing new" contains "$(jq -r .message "$T_DIR/out")" "nothing new"
ok "update of an unchanged cache publishes nothing" [ ! -e "$S/cache_$KEY.g2" ]
run save --update --json
ok "save --update is the same verb" expect_rc 4

mkdir -p "$C/a/new"
echo new >"$C/a/new/k9.py"
echo "kernel 2, retuned" >"$C/a/k2.py"
run update --json
ok "update with a new and a changed file: SUCCESS, generation 2" \
	jq_is '"\(.status) \(.generation)"' "SUCCESS 2"
members "$S/$(claim 2)" >"$T_DIR/m2"
ok "the layer holds only the new dir, the new file and the changed one" \
	[ "$(tr '\n' ' ' <"$T_DIR/m2")" = "a/k2.py a/new a/new/k9.py " ]
ok "the layer of two files is a small archive" [ "$(stat -c %s "$S/$(claim 2)")" -lt 5000 ]

TORCHINDUCTOR_CACHE_DIR=$T_DIR/l1 run load --json
ok "load of base + layer: SUCCESS" expect_rc 0
ok "the loaded tree is the cache dir (a later layer wins)" \
	python3 "$SRCDIR/cli/treecmp.py" "$C" "$T_DIR/l1"

# vLLM's index file: two writers, two keys, one merged file.
IDX=torch_compile_cache/ab/rank_0_0/backbone/vllm_compile_cache.py
mkdir -p "$C/$(dirname $IDX)"
printf "{(8, 0, 'inductor'): ('h8', 'p8')}" >"$C/$IDX"
run update --json
ok "an index file: generation 3" jq_is .generation 3
C2=$T_DIR/c2
mkdir -p "$C2/$(dirname $IDX)"
printf "{(16, 0, 'inductor'): ('h16', 'p16'), (None, 0, 'inductor'): ('hn', 'pn')}" >"$C2/$IDX"
TORCHINDUCTOR_CACHE_DIR=$C2 run update --json
ok "another writer's index file: generation 4" jq_is .generation 4
TORCHINDUCTOR_CACHE_DIR=$T_DIR/l2 run load
ok "load after both" expect_rc 0
python3 - "$T_DIR/l2/$IDX" <<'PY' >"$T_DIR/keys"
import ast, sys
print(" ".join(sorted(str(k[0]) for k in ast.literal_eval(open(sys.argv[1]).read()))))
PY
ok "the loaded index holds both writers' keys (merged by meaning)" \
	[ "$(cat "$T_DIR/keys")" = "16 8 None" ]
TORCHINDUCTOR_CACHE_DIR=$C2 run update --json
ok "the second writer again: nothing new" expect_rc 4

# list and info show the layers per key: g1..g4, no base.
run list --json
ok "list: the key's 4 layers, generations up to 4, no base" \
	jq_is ".caches[] | select(.environment_key == \"$KEY\") | \"\(.layers) \(.generation) \(.base_generation)\"" "4 4 0"
lb=0
for n in 1 2 3 4; do lb=$((lb + $(stat -c %s "$S/$(claim $n)"))); done
ok "list: layer_bytes is the sum of the 4 archives" \
	jq_is ".caches[] | select(.environment_key == \"$KEY\") | .layer_bytes" "$lb"
run info --json
ok "info: b10fs_cache_layers 4, generation 4" \
	jq_is '"\(.b10fs_cache_layers) \(.b10fs_cache_generation)"' "4 4"
run info
ok "info text: a layers line" contains "$OUT" "4 layers"

# save --replace: the published set goes, the cache dir is generation 1 afresh.
run save --replace --json
ok "save --replace: SUCCESS, generation 1" jq_is '"\(.status) \(.generation)"' "SUCCESS 1"
ok "save --replace: only the new claim g1 is left" \
	[ "$(ls "$S" | grep -c "^cache_$KEY\.[gb][0-9]*$")" -eq 1 ] && [ -f "$S/$(claim 1)" ]
TORCHINDUCTOR_CACHE_DIR=$T_DIR/l3 run load
ok "save --replace: the store loads the cache dir as it is now" \
	python3 "$SRCDIR/cli/treecmp.py" "$C" "$T_DIR/l3"
run save --replace --update
ok "save --replace --update: a usage error (exit 2)" expect_rc 2

# 16 updaters at once, each with 4 shared and 6 unique entries and an index
# key of its own, on a fresh store whose base holds the shared ones; two
# loaders load meanwhile.
S2=$T_DIR/store16
mkdir -p "$S2" "$T_DIR/seed/shared" "$T_DIR/fleet"
python3 - "$T_DIR/seed" <<'PY'
import os, sys
for s in range(4):
    rel = "shared/s%d.py" % s
    open(os.path.join(sys.argv[1], rel), "wb").write((("%s\n" % rel) * (1 + len(rel) % 7)).encode())
PY
B10FS_CACHE_DIR=$S2 TORCHINDUCTOR_CACHE_DIR=$T_DIR/seed run save
ok "the fleet's base: generation 1" expect_rc 0
B10FS_CACHE_DIR=$S2 python3 "$SRCDIR/cli/layers_fleet.py" "$B10T" "$T_DIR/fleet" 16 \
	>"$T_DIR/fleet.json"
ok "the fleet ran" [ -s "$T_DIR/fleet.json" ]
F=$T_DIR/fleet.json
cp "$F" "$T_DIR/out"	# for jq_is
ok "every updater: SUCCESS" jq_is '[.updaters[] | select(.rc == 0)] | length' 16
jq -r '.updaters[] | select(.rc != 0) | .stderr // .reason' "$F" | head -3 | sed 's/^/#   /'
ok "generations 2..17, each taken once" \
	jq_is '[.updaters[].generation] | sort | map(tostring) | join(",")' \
	"$(seq -s, 2 17)"
ok "claims g1..g17 and no other" \
	[ "$(ls "$S2" | grep -c "^cache_$KEY\.g[0-9]*$")" -eq 17 ] && [ ! -e "$S2/cache_$KEY.g18" ]
for n in $(seq 1 17); do
	members "$S2/$(cat "$S2/cache_$KEY.g$n")"
done | grep -v '/$' >"$T_DIR/all"
ok "every unique entry reached the store exactly once (96)" \
	[ "$(grep -c '^u[0-9]*/k[0-9]\.py$' "$T_DIR/all")" -eq 96 ] && \
	[ "$(grep '^u[0-9]*/k[0-9]\.py$' "$T_DIR/all" | sort | uniq -d | wc -l)" -eq 0 ]
ok "shared entries: only in the base" [ "$(grep -c '^shared/s[0-9]\.py$' "$T_DIR/all")" -eq 4 ]
ok "loads meanwhile: none failed" jq_is '.loads.fail | length' 0
jq -r '.loads.fail[]' "$F" | head -3 | sed 's/^/#   /'
ok "loads meanwhile: every loaded tree whole" jq_is '.loads.bad | length' 0
echo "# $(jq -c .loads.ok "$F") loads during the fleet"
B10FS_CACHE_DIR=$S2 TORCHINDUCTOR_CACHE_DIR=$T_DIR/l16 run load
ok "the fleet's store loads" expect_rc 0
ok "with every updater's unique entries" [ "$(find "$T_DIR/l16" -path '*/u*/k*.py' | wc -l)" -eq 96 ]
python3 - "$T_DIR/l16/torch_compile_cache/ab/rank_0_0/backbone/vllm_compile_cache.py" <<'PY' >"$T_DIR/n"
import ast, sys
print(len(ast.literal_eval(open(sys.argv[1]).read())))
PY
ok "and every updater's index key (16)" [ "$(cat "$T_DIR/n")" = 16 ]

done_testing
