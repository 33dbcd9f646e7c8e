#!/bin/sh
# Namespaces (B10T_NAMESPACE, --namespace): the name goes into the default
# key, so two models in one store never share a key; without one the key
# is byte for byte what it was; a bad name is refused with one line and
# nothing written; info says when a store is shared by several.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR

# sha256 of the default scheme's JSON (compact, sorted), first 16 hex digits
key_of() {
	python3 -c 'import hashlib, json, sys
print(hashlib.sha256(json.dumps(json.loads(sys.argv[1]), sort_keys=True,
      separators=(",", ":")).encode()).hexdigest()[:16])' "$1"
}
H100="B10T_TORCH_VERSION=2.4.0+cu121 B10T_TRITON_VERSION=3.0.0 B10T_CUDA_VERSION=12.1 B10T_COMPUTE_CAPABILITY=9.0"

# ---- no namespace: the key as it always was ---------------------------------
env $H100 B10T_DEVICE_NAME='NVIDIA H100 80GB HBM3' "$B10T" envkey >"$T_DIR/out" 2>&1
ok "no namespace: the documented default vector 6d0a47f1edecb830" [ "$(cat "$T_DIR/out")" = 6d0a47f1edecb830 ]
env $H100 B10T_DEVICE_NAME='NVIDIA H100 80GB HBM3' B10T_NAMESPACE= "$B10T" envkey >"$T_DIR/out" 2>&1
ok "B10T_NAMESPACE empty is unset: the same key" [ "$(cat "$T_DIR/out")" = 6d0a47f1edecb830 ]
env B10T_KEY_SCHEME=b10-transfer B10T_CUDA_VERSION=12.4 B10T_DEVICE_NAME='NVIDIA H100 80GB HBM3' \
	"$B10T" envkey >"$T_DIR/out" 2>&1
ok "no namespace: b10-transfer's vector 5fa34e7ede0685bf" [ "$(cat "$T_DIR/out")" = 5fa34e7ede0685bf ]
run envkey --json
ok "no namespace: envkey --json has namespace null" jq_is .namespace null
ok "no namespace: no namespace component" jq_is '.components | has("namespace")' false
PLAIN=$(jq -r .environment_key "$T_DIR/out")

# ---- a namespace: one more component, hashed like the others ------------------
WANT=$(key_of '{"compute_capability":"9.0","cuda_version":"12.1","device_name":"NVIDIA H100 80GB HBM3","namespace":"llama-3.1_70b","torch_version":"2.4.0+cu121","triton_version":"3.0.0"}')
env $H100 B10T_DEVICE_NAME='NVIDIA H100 80GB HBM3' B10T_NAMESPACE=llama-3.1_70b \
	"$B10T" envkey >"$T_DIR/out" 2>&1
ok "B10T_NAMESPACE: the key hashes {..., \"namespace\": NAME, ...} ($WANT)" [ "$(cat "$T_DIR/out")" = "$WANT" ]
B10T_NAMESPACE=model-a run envkey --json
ok "envkey --json: .namespace is the name" jq_is .namespace model-a
ok "envkey --json: the namespace component" jq_is .components.namespace model-a
ok "envkey --json: its source is the variable" jq_is .sources.namespace B10T_NAMESPACE
KEY_A=$(jq -r .environment_key "$T_DIR/out")
B10T_NAMESPACE=model-x run envkey --json --namespace model-b
ok "--namespace overrides B10T_NAMESPACE" jq_is .components.namespace model-b
ok "--namespace: its source is the option" jq_is .sources.namespace "option --namespace"
KEY_B=$(jq -r .environment_key "$T_DIR/out")
ok "two namespaces, two keys, neither the plain one" \
	sh -c '[ "$1" != "$2" ] && [ "$1" != "$3" ] && [ "$2" != "$3" ]' - "$KEY_A" "$KEY_B" "$PLAIN"

# ---- two models in one store ----------------------------------------------------
mkdir -p "$T_DIR/ca" "$T_DIR/cb"
echo model-a >"$T_DIR/ca/graph"
echo model-b >"$T_DIR/cb/graph"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/ca B10T_NAMESPACE=model-a run save --json
ok "model a saves: SUCCESS" jq_is .status SUCCESS
TORCHINDUCTOR_CACHE_DIR=$T_DIR/cb B10T_NAMESPACE=model-b run save --json
ok "model b saves into the same store: SUCCESS, not SKIPPED" jq_is .status SUCCESS
ok "model b's archive is under its own key" jq_is .environment_key "$KEY_B"
ok "the store has both keys' archives" \
	sh -c 'published_archive() { ls "$1" | grep -q "^cache_$2\."; }; published_archive "$1" "$2" && published_archive "$1" "$3"' - "$S" "$KEY_A" "$KEY_B"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/la B10T_NAMESPACE=model-a run load
ok "model a loads: exit 0" expect_rc 0
ok "model a loads its own cache" [ "$(cat "$T_DIR/la/graph")" = model-a ]
TORCHINDUCTOR_CACHE_DIR=$T_DIR/lb B10T_NAMESPACE=model-b run load
ok "model b loads: exit 0" expect_rc 0
ok "model b loads its own cache" [ "$(cat "$T_DIR/lb/graph")" = model-b ]
TORCHINDUCTOR_CACHE_DIR=$T_DIR/cb B10T_NAMESPACE=model-b run save --json
ok "model b's second save: SKIPPED (its own archive is there)" jq_is .status SKIPPED

# ---- info: one namespace is not shared; several are ----------------------------
B10T_NAMESPACE=model-a run info --json
ok "info --json: .namespace" jq_is .namespace model-a
ok "info --json: two namespaces in the store" jq_is '[.store_namespaces[].namespace] | join(",")' model-a,model-b
ok "info --json: store_shared true" jq_is .store_shared true
ok "info --json: no key without a namespace" jq_is .store_unnamespaced_keys 0
B10T_NAMESPACE=model-a run info
ok "info: says the store is shared by several namespaces" contains "$OUT" "shared by several namespaces"
ok "info: names them with their keys" contains "$OUT" "2 namespaces (model-a: 1 key, model-b: 1 key)"

S1=$T_DIR/one-store
mkdir -p "$S1"
B10FS_CACHE_DIR=$S1 TORCHINDUCTOR_CACHE_DIR=$T_DIR/ca B10T_NAMESPACE=model-a run save -q
B10FS_CACHE_DIR=$S1 B10T_NAMESPACE=model-a run info --json
ok "a store of one namespace: store_shared false" jq_is .store_shared false
B10FS_CACHE_DIR=$S1 B10T_NAMESPACE=model-a run info
ok "a store of one namespace: info does not say shared" sh -c '! grep -q shared "$1"' - "$T_DIR/out"
B10FS_CACHE_DIR=$S1 TORCHINDUCTOR_CACHE_DIR=$T_DIR/cb run save -q
B10FS_CACHE_DIR=$S1 run info --json
ok "a namespace and a key without one: store_shared true" jq_is .store_shared true
ok "a namespace and a key without one: one key without a namespace" jq_is .store_unnamespaced_keys 1
B10FS_CACHE_DIR=$S1 run info
ok "info without a namespace in a shared store: says to set B10T_NAMESPACE" contains "$OUT" "set B10T_NAMESPACE"

# ---- bad names: one line, exit 1, nothing written -------------------------------
before=$(ls -A "$S" | sort)
long=$(printf 'a%.0s' $(seq 65))
for bad in "bad name" "-lead" ".hidden" "a/b" "$long" "caf$(printf '\303\251')" "x;y"; do
	echo new >"$T_DIR/ca/new"
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/ca B10T_NAMESPACE=$bad run save
	ok "B10T_NAMESPACE='$bad': save exits 1" expect_rc 1
	ok "B10T_NAMESPACE='$bad': one line naming the variable" \
		sh -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -q "B10T_NAMESPACE=.*not a namespace" "$1"' - "$T_DIR/err"
	TORCHINDUCTOR_CACHE_DIR=$T_DIR/ca run save --namespace "$bad"
	ok "--namespace '$bad': exit 1, one line naming the option" \
		sh -c '[ "$1" -eq 1 ] && [ "$(wc -l <"$2")" -eq 1 ] && grep -q -- "--namespace=.*not a namespace" "$2"' - "$rc" "$T_DIR/err"
done
ok "bad names: nothing written to the store" [ "$(ls -A "$S" | sort)" = "$before" ]
B10T_NAMESPACE="bad name" run load
ok "a bad name: load exits 1 and writes nothing" sh -c '[ "$1" -eq 1 ] && [ "$(ls -A "$2" | sort)" = "$3" ]' - "$rc" "$S" "$before"
B10T_NAMESPACE="$(printf 'a%.0s' $(seq 64))" run envkey
ok "a name of 64 characters is fine" expect_rc 0
B10T_NAMESPACE="bad name" run clear
ok "a bad name does not break a verb without a key (clear)" expect_rc 0
B10T_KEY_SCHEME=b10-transfer B10T_NAMESPACE=model-a run envkey
ok "a namespace with the b10-transfer scheme: exit 1" expect_rc 1
ok "a namespace with the b10-transfer scheme: one line saying it has no namespace" \
	sh -c '[ "$(wc -l <"$1")" -eq 1 ] && grep -q "b10-transfer key scheme has no namespace" "$1"' - "$T_DIR/err"

done_testing
