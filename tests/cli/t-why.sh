#!/bin/sh
# b10t why, and load's check: what the archive's manifest recorded at save
# (versions, compute capability, cache dir, HOME and XDG_*, the
# TORCHINDUCTOR_* / TRITON_* / VLLM_* settings) against this machine, each
# kind of difference flagged, in text and JSON; "no differences" when none;
# DOES_NOT_EXIST without an archive; old manifests without the fields.
. "$(dirname "$0")/lib.sh"
: "${FAKE_CUDART:?FAKE_CUDART must point at the fake libcudart.so}"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
unset XDG_CACHE_HOME XDG_CONFIG_HOME XDG_DATA_HOME XDG_STATE_HOME XDG_RUNTIME_DIR \
      XDG_CONFIG_DIRS XDG_DATA_DIRS
for v in $(env | sed -n 's/^\(\(TORCHINDUCTOR\|TRITON\|VLLM\)_[A-Za-z0-9_]*\)=.*/\1/p'); do
	[ "$v" = TORCHINDUCTOR_CACHE_DIR ] || unset "$v"
done

# diff_of KIND NAME: the difference of that kind and name in why's JSON
has_diff() {
	jq -e --arg k "$1" --arg n "$2" 'any(.differences[]; .kind == $k and .name == $n)' \
		"$T_DIR/out" >/dev/null || { echo "#   no $1 $2 in: $(jq -c .differences "$T_DIR/out")"; return 1; }
}
fresh() {	# fresh: an empty store and a cache dir of one file
	rm -rf "$S" "$C" && mkdir -p "$S" "$C" && echo graph >"$C/graph"
}

# ---- no archive --------------------------------------------------------------
fresh
run why
ok "why without an archive: exit 3 (DOES_NOT_EXIST)" expect_rc 3
ok "why without an archive: says so" contains "$OUT" "DOES_NOT_EXIST: no archive for key"
run why --json
ok "why --json without an archive: status DOES_NOT_EXIST" jq_is .status DOES_NOT_EXIST
ok "why --json without an archive: reason no_archive" jq_is .reason no_archive
ok "why --json without an archive: archive null" jq_is .archive null
ok "why --json in an empty store: nearest null" jq_is .nearest null
run why 0123456789abcdef
ok "why KEY of a key without an archive: exit 3" expect_rc 3
run why 'not a key!'
ok "why of something that is not a key: usage error, exit 2" expect_rc 2

# ---- the same environment: no differences -----------------------------------
fresh
export TORCHINDUCTOR_FX_GRAPH_CACHE=1 VLLM_API_KEY=sekrit-123 TRITON_SECRET_TOKEN=hush
run save -q
ok "save: exit 0" expect_rc 0
ok "the manifest records the settings" sh -c 'lz4 -dc "$1" | head -c 65536 | grep -aq "\"TORCHINDUCTOR_FX_GRAPH_CACHE\":\"1\""' - "$(published_archive "$S" "$(cat /dev/null; "$B10T" envkey)")"
ok "the manifest records HOME" sh -c 'lz4 -dc "$1" | head -c 65536 | grep -aq "\"HOME\":\"$2\""' - "$(published_archive "$S" "$("$B10T" envkey)")" "$HOME"
ok "the manifest leaves out a variable named like a secret" sh -c '! lz4 -dc "$1" | head -c 65536 | grep -aqe sekrit-123 -e hush' - "$(published_archive "$S" "$("$B10T" envkey)")"
run why
ok "why, same environment: exit 0" expect_rc 0
ok "why, same environment: no differences" contains "$OUT" "no differences"
run why --json
ok "why --json, same environment: SUCCESS" jq_is .status SUCCESS
ok "why --json, same environment: differences []" jq_is '.differences | length' 0
ok "why --json: recorded true" jq_is .recorded true
ok "why --json: own_key true" jq_is .own_key true
VLLM_API_KEY=other run why --json
ok "a secret-looking variable that differs is not a difference" jq_is '.differences | length' 0
run why -q
ok "why -q, same environment: exit 0, nothing on stdout" sh -c '[ "$1" -eq 0 ] && [ ! -s "$2" ]' - "$rc" "$T_DIR/out"
BASETEN_FS_ENABLED=0 run why --json
ok "why with the store disabled: exit 1 (ERROR)" expect_rc 1
ok "why with the store disabled: says so" jq_is '.error | test("disabled")' true
run info --json
ok "info --json: differences [] for its archive" jq_is '.differences | length' 0
run info
ok "info: differences: 0" contains "$OUT" "differences:         0"

# ---- each kind of difference -------------------------------------------------
HOME=$T_DIR/other-home XDG_CACHE_HOME=$T_DIR/xdg TORCHINDUCTOR_FX_GRAPH_CACHE=0 \
	TRITON_CACHE_DIR=$T_DIR/tc TORCHINDUCTOR_CACHE_DIR=$T_DIR/elsewhere run why --json
ok "why --json: HOME differs: kind home_xdg" has_diff home_xdg HOME
ok "why --json: HOME: saved and here" jq_is '.differences[] | select(.name == "HOME") | "\(.saved) \(.here)"' "$HOME $T_DIR/other-home"
ok "why --json: XDG_CACHE_HOME set only here: saved null" jq_is '.differences[] | select(.name == "XDG_CACHE_HOME") | "\(.saved) \(.here)"' "null $T_DIR/xdg"
ok "why --json: the cache dir: kind path" has_diff path cache_dir
ok "why --json: TORCHINDUCTOR_FX_GRAPH_CACHE: kind setting" has_diff setting TORCHINDUCTOR_FX_GRAPH_CACHE
ok "why --json: TRITON_CACHE_DIR set only here: kind setting" has_diff setting TRITON_CACHE_DIR
ok "why --json: each difference says what it does" jq_is '[.differences[] | select(.effect | length > 20)] | length' 5
ok "why --json: HOME cites vllm#47573" jq_is '.differences[] | select(.name == "HOME") | .effect | test("vllm#47573")' true
HOME=$T_DIR/other-home XDG_CACHE_HOME=$T_DIR/xdg TORCHINDUCTOR_FX_GRAPH_CACHE=0 \
	TRITON_CACHE_DIR=$T_DIR/tc TORCHINDUCTOR_CACHE_DIR=$T_DIR/elsewhere run why
ok "why: 5 differences" contains "$OUT" "5 differences between the archive's environment and this machine"
ok "why: HOME, saved and here" contains "$OUT" "HOME: saved $HOME, here $T_DIR/other-home"
ok "why: XDG_CACHE_HOME unset at save" contains "$OUT" "XDG_CACHE_HOME: saved (unset), here $T_DIR/xdg"
ok "why: the cache dir" contains "$OUT" "cache_dir: saved $C, here $T_DIR/elsewhere"
ok "why: the setting" contains "$OUT" "TORCHINDUCTOR_FX_GRAPH_CACHE: saved 1, here 0"
HOME=$T_DIR/other-home run info
ok "info: differences: 1 (HOME)" contains "$OUT" "differences:         1 (HOME): see b10t why"

# load warns, one line per difference, and its JSON names them
HOME=$T_DIR/other-home TORCHINDUCTOR_FX_GRAPH_CACHE=0 TORCHINDUCTOR_CACHE_DIR=$T_DIR/l1 run load --json
ok "load with differences: exit 0" expect_rc 0
ok "load: a warning line for HOME" contains "$ERR" "warning: HOME: saved with $HOME, here $T_DIR/other-home: vLLM hashes"
ok "load: a warning line for the setting" contains "$ERR" "warning: TORCHINDUCTOR_FX_GRAPH_CACHE: saved with 1, here 0"
ok "load --json: differences name them" jq_is '[.differences[] | "\(.kind):\(.name)"] | join(",")' "home_xdg:HOME,setting:TORCHINDUCTOR_FX_GRAPH_CACHE"
rm -rf "$C"
run load --json
ok "load, same environment: differences []" jq_is '.differences | length' 0
ok "load, same environment: no warning" [ -z "$ERR" ]

# versions, with the b10-transfer scheme (whose key leaves them out)
fresh
B10T_KEY_SCHEME=b10-transfer run save -q
B10T_KEY_SCHEME=b10-transfer B10T_TORCH_VERSION=2.5.0 B10T_TRITON_VERSION=3.1.0 run why --json
ok "why: another torch under one b10-transfer key: kind version" has_diff version torch_version
ok "why: another triton: kind version" has_diff version triton_version
ok "why: torch_version saved 2.4.0, here 2.5.0" jq_is '.differences[] | select(.name == "torch_version") | "\(.saved) \(.here)"' "2.4.0 2.5.0"
B10T_KEY_SCHEME=b10-transfer B10T_TORCH_VERSION=2.5.0 run why
ok "why text: torch_version" contains "$OUT" "torch_version: saved 2.4.0, here 2.5.0"
B10T_KEY_SCHEME=b10-transfer B10T_TORCH_VERSION=2.5.0 TORCHINDUCTOR_CACHE_DIR=$T_DIR/l3 run load
ok "load: warns of another torch" contains "$ERR" "warning: torch_version: saved with 2.4.0, here 2.5.0"

# another key: its components
fresh
run save -q
OLD=$("$B10T" envkey)
B10T_TORCH_VERSION=2.5.0 run why
ok "why with another torch (default scheme): DOES_NOT_EXIST for this key" expect_rc 3
ok "why without an archive: names the nearest key in the store" contains "$OUT" "the nearest key in the store: $OLD"
ok "why without an archive: and what differs" contains "$OUT" "torch_version: saved 2.4.0, here 2.5.0"
B10T_TORCH_VERSION=2.5.0 TORCHINDUCTOR_CACHE_DIR=$T_DIR/ctri B10T_TRITON_VERSION=3.1.0 run save -q
B10T_TORCH_VERSION=2.5.0 run why --json
ok "why --json without an archive: still DOES_NOT_EXIST" jq_is .status DOES_NOT_EXIST
ok "why --json: nearest is the key of one differing component" jq_is .nearest.key "$OLD"
ok "why --json: nearest's differences: torch_version, once, as a key component" \
	jq_is '[.nearest.differences[] | "\(.kind):\(.name)"] | join(",")' "key:torch_version"
B10T_NAMESPACE=model-a run why --json
ok "why with a namespace the store lacks: the namespace is the difference" \
	jq_is '[.nearest.differences[] | select(.kind == "key") | "\(.name):\(.saved):\(.here)"] | join(",")' "namespace:null:model-a"
B10T_TORCH_VERSION=2.5.0 run why --json "$OLD"
ok "why KEY: another key's archive: SUCCESS" jq_is .status SUCCESS
ok "why KEY: own_key false" jq_is .own_key false
ok "why KEY: torch_version is a key difference" has_diff key torch_version

# Python's version, from where torch is installed
fresh
for py in 3.11 3.12; do
	d=$T_DIR/venv$py/lib/python$py/site-packages/torch
	mkdir -p "$d" && printf "__version__ = '2.4.0'\ncuda = None\n" >"$d/version.py"
done
(unset B10T_TORCH_VERSION; PYTHONPATH=$T_DIR/venv3.11/lib/python3.11/site-packages run save -q)
(unset B10T_TORCH_VERSION; PYTHONPATH=$T_DIR/venv3.12/lib/python3.12/site-packages "$B10T" why --json >"$T_DIR/out" 2>"$T_DIR/err")
ok "why: Python 3.11 at save, 3.12 here: kind version" has_diff version python_version
ok "why: python_version saved 3.11, here 3.12" jq_is '.differences[] | select(.name == "python_version") | "\(.saved) \(.here)"' "3.11 3.12"

# ---- the GPU: compute capability, CUDA driver (the fake libcudart) ------------
fresh
export B10T_CUDART=$FAKE_CUDART B10T_CUDA_DRIVER=$FAKE_CUDART FAKE_CUDA_NAME='NVIDIA GB10'
B10T_KEY_SCHEME=b10-transfer FAKE_CUDA_CC=12.0 run save -q
ok "fake GPU sm_120: save exit 0" expect_rc 0
B10T_KEY_SCHEME=b10-transfer FAKE_CUDA_CC=12.1 FAKE_CUDA_DRIVER_VERSION=12090 run why --json
ok "why on sm_121: kind compute_capability" has_diff compute_capability compute_capability
ok "why on sm_121: saved 12.0, here 12.1" jq_is '.differences[] | select(.kind == "compute_capability") | "\(.saved) \(.here)"' "12.0 12.1"
ok "why on sm_121: wrong_output true, citing vllm#41871" jq_is '.differences[] | select(.kind == "compute_capability") | "\(.wrong_output) \(.effect | test("vllm#41871"))"' "true true"
ok "why: another CUDA driver: cuda_driver_version 12.8 -> 12.9" jq_is '.differences[] | select(.name == "cuda_driver_version") | "\(.kind) \(.saved) \(.here)"' "version 12.8 12.9"
B10T_KEY_SCHEME=b10-transfer FAKE_CUDA_CC=12.1 run why
ok "why text on sm_121: the danger said" contains "$OUT" "DANGER: a Triton kernel of another compute capability"
B10T_KEY_SCHEME=b10-transfer FAKE_CUDA_CC=12.1 TORCHINDUCTOR_CACHE_DIR=$T_DIR/l4 run load --json
ok "load on sm_121: a warning line for the compute capability" contains "$ERR" "warning: compute_capability: saved with 12.0, here 12.1"
ok "load --json on sm_121: differences has it" jq_is '[.differences[].kind] | index("compute_capability") != null' true
B10T_KEY_SCHEME=b10-transfer FAKE_CUDA_CC=12.0 run why --json
ok "why on sm_120 itself: no differences" jq_is '.differences | length' 0
# The default scheme keys by compute capability: another key, said as such.
FAKE_CUDA_CC=12.0 run save -q
K120=$(FAKE_CUDA_CC=12.0 "$B10T" envkey)
FAKE_CUDA_CC=12.1 run why --json "$K120"
ok "default scheme: sm_120's key seen from sm_121: compute_capability a key difference" has_diff key compute_capability
unset B10T_CUDART B10T_CUDA_DRIVER FAKE_CUDA_NAME
export B10T_CUDART="$T_DIR/no-such-libcudart.so" B10T_CUDA_DRIVER="$T_DIR/no-such-libcuda.so.1"

# ---- old manifests, without the fields --------------------------------------
fresh
KEY=$("$B10T" envkey)
python3 - "{\"b10t_manifest\":1,\"key\":\"$KEY\",\"scheme\":\"default\",\"files\":1,\"bytes\":6,\"host\":\"old\",\"b10t_version\":\"0.0.9\",\"cache_dir\":\"$C\"}" <<'PY' | lz4 -q -c --content-size -BD >"$S/cache_$KEY.latest.tar.lz4"
import io, sys, tarfile
out = io.BytesIO()
with tarfile.open(fileobj=out, mode="w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data):
        i = tarfile.TarInfo(name); i.size = len(data); i.mode = 0o644; i.mtime = 1700000000
        t.addfile(i, io.BytesIO(data))
    add(".b10t/manifest.json", sys.argv[1].encode())
    add("hello", b"hello\n")
sys.stdout.buffer.write(out.getvalue())
PY
HOME=$T_DIR/other-home run why --json
ok "old manifest: why exit 0" expect_rc 0
ok "old manifest: recorded false" jq_is .recorded false
ok "old manifest: no differences (nothing recorded but the cache dir)" jq_is '.differences | length' 0
HOME=$T_DIR/other-home run why
ok "old manifest: why says it records no environment" contains "$OUT" "records no environment"
HOME=$T_DIR/other-home TORCHINDUCTOR_CACHE_DIR=$T_DIR/l5 run load --json
ok "old manifest: load SUCCESS" jq_is .status SUCCESS
ok "old manifest: load has no differences field (nothing compared)" jq_is 'has("differences")' false
ok "old manifest: the file loaded" [ "$(cat "$T_DIR/l5/hello")" = hello ]
HOME=$T_DIR/other-home run info --json
ok "old manifest: info works, no differences" jq_is '.differences | length' 0

done_testing
