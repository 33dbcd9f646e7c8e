#!/bin/sh
# b10t envkey: both schemes' keys, the components and their sources, the
# GPU through a fake libcudart.so, versions from fake site-packages trees,
# the overrides, and the laziness (no Python, no dlopen when not needed).
. "$(dirname "$0")/lib.sh"

: "${FAKE_CUDART:?FAKE_CUDART must point at the fake libcudart.so}"

# No Python of this machine: an empty system root, and a fake python3 first
# on PATH that logs each run and prints $FAKE_SYS_PATH as its sys.path.
export B10T_PYTHON_ROOT="$T_DIR/root"
mkdir -p "$T_DIR/bin" "$B10T_PYTHON_ROOT"
cat >"$T_DIR/bin/python3" <<EOF
#!/bin/sh
printf '%s\\n' "\$*" | tr -d '\\n' >>"$T_DIR/python-ran"; echo >>"$T_DIR/python-ran"
for d in \${FAKE_SYS_PATH:-}; do echo "\$d"; done
EOF
chmod +x "$T_DIR/bin/python3"
export PATH="$T_DIR/bin:$PATH"
unset PYTHONPATH VIRTUAL_ENV CONDA_PREFIX PYENV_VERSION PYENV_ROOT FAKE_SYS_PATH
export B10T_CUDA_DRIVER="$T_DIR/no-libcuda.so.1"

# mk FILE TEXT: write TEXT to FILE, making its directories
mk() {
	mkdir -p "$(dirname "$1")"
	printf '%s\n' "$2" >"$1"
}

# pykey SCHEME: the key Python computes from the components of the last --json
pykey() {
	python3_real -c '
import hashlib, json, sys
d = json.load(open(sys.argv[1]))["components"]
s = json.dumps(d, sort_keys=True, separators=(",", ":")) if sys.argv[2] == "default" else json.dumps(d, sort_keys=True)
print(hashlib.sha256(s.encode()).hexdigest()[:16])' "$T_DIR/out" "$1"
}
python3_real() {
	PATH=$(printf '%s' "$PATH" | sed "s|^$T_DIR/bin:||") python3 "$@"
}

# ---- the reference's vectors ---------------------------------------------
B10T_KEY_SCHEME=b10-transfer B10T_DEVICE_NAME='NVIDIA H100 80GB HBM3' B10T_CUDA_VERSION=12.4 run envkey
ok "b10-transfer GPU vector (forced H100, CUDA 12.4)" [ "$OUT" = 5fa34e7ede0685bf ]
ok "envkey exits 0" expect_rc 0
ok "stdout is the key and a newline" [ "$(wc -c <"$T_DIR/out")" -eq 17 ]
B10T_DEVICE_NAME='NVIDIA H100 80GB HBM3' B10T_CUDA_VERSION=12.4 run envkey --key-scheme b10-transfer
ok "--key-scheme b10-transfer gives the same key" [ "$OUT" = 5fa34e7ede0685bf ]
run envkey --key-scheme b10-transfer --json
if [ "$(uname -m)-$(uname -s)" = x86_64-Linux ]; then
	ok "b10-transfer CPU vector (x86_64 Linux)" jq_is .environment_key 436c59e667a63097
fi
ok "b10-transfer CPU key is Python's json.dumps(sort_keys=True)" jq_is .environment_key "$(pykey b10-transfer)"
ok "b10-transfer CPU components" jq_is '.components | keys | join(",")' cpu_architecture,device_type,platform_system
ok "scheme named in the JSON" jq_is .key_scheme b10-transfer
run envkey --key-scheme nope
ok "an unknown scheme is refused" expect_rc 1
run envkey extra
ok "an operand is a usage error" expect_rc 2

# ---- default scheme, CPU ------------------------------------------------------
run envkey --json
ok "--json exits 0" expect_rc 0
ok "default scheme" jq_is .key_scheme default
ok "default key is sha256 of Python's compact sorted JSON" jq_is .environment_key "$(pykey default)"
ok "CPU components" jq_is '.components | keys | join(",")' \
	cpu_architecture,device_type,platform_system,torch_version,triton_version
ok "device_type cpu" jq_is .components.device_type cpu
ok "cpu_architecture is uname -m" jq_is .components.cpu_architecture "$(uname -m)"
ok "platform_system is uname -s" jq_is .components.platform_system "$(uname -s)"
ok "sources for every component" jq_is '.sources | keys | join(",")' \
	cpu_architecture,device_type,platform_system,torch_version,triton_version
ok "forced torch version and its source" jq_is '.components.torch_version + " " + .sources.torch_version' \
	"2.4.0 override B10T_TORCH_VERSION"
ok "missing library named as the reason for CPU" jq_is '.sources.device_type | test("no CUDA runtime")' true
KEY_JSON=$(jq -r .environment_key "$T_DIR/out")
run envkey
ok "text and JSON give the same key" [ "$OUT" = "$KEY_JSON" ]

# ---- the fake GPU -------------------------------------------------------------
export FAKE_CUDA_LOG="$T_DIR/cuda-log"
B10T_CUDART=$FAKE_CUDART FAKE_CUDA_CC=8.0 FAKE_CUDA_NAME='NVIDIA A100-SXM4-80GB' \
	FAKE_CUDA_RUNTIME_VERSION=12010 run envkey --json
ok "fake GPU: GPU key" jq_is .gpu true
ok "fake GPU: components" jq_is '.components | keys | join(",")' \
	compute_capability,cuda_version,device_name,torch_version,triton_version
ok "fake GPU: compute capability" jq_is .components.compute_capability 8.0
ok "fake GPU: device name" jq_is .components.device_name 'NVIDIA A100-SXM4-80GB'
ok "fake GPU: runtime version 12010 is 12.1" jq_is .components.cuda_version 12.1
ok "fake GPU: sources name the library" jq_is .sources.device_name "$FAKE_CUDART"
ok "fake GPU: key is Python's" jq_is .environment_key "$(pykey default)"
ok "the runtime was loaded" grep -q load "$FAKE_CUDA_LOG"
B10T_CUDART=$FAKE_CUDART B10T_CUDA_DRIVER=$FAKE_CUDART FAKE_CU_NAME='NVIDIA L4' run envkey --json
ok "driver API name comes first" jq_is .components.device_name 'NVIDIA L4'
for e in 34 35 100; do
	B10T_CUDART=$FAKE_CUDART FAKE_CUDA_ERROR=$e run envkey --json
	ok "cudaGetDeviceCount error $e: CPU key, exit 0" jq_is '"\(.gpu) \(.components.device_type)"' "false cpu"
done
B10T_CUDART=$FAKE_CUDART FAKE_CUDA_COUNT=0 run envkey --json
ok "zero devices: CPU key" jq_is .components.device_type cpu
B10T_CUDART=$FAKE_CUDART FAKE_CUDA_NAME='NVIDIA H100 80GB HBM3' run envkey --key-scheme b10-transfer
ok "b10-transfer key from the fake H100 is the reference's" [ "$OUT" = 5fa34e7ede0685bf ]

# ---- overrides and laziness ---------------------------------------------------
rm -f "$FAKE_CUDA_LOG" "$T_DIR/python-ran"
B10T_CUDART=$FAKE_CUDART B10T_CUDA_VERSION=12.8 B10T_COMPUTE_CAPABILITY=10.0 \
	B10T_DEVICE_NAME='NVIDIA B200' run envkey --json
ok "all overrides: components" jq_is '[.components[]] | join("|")' '10.0|12.8|NVIDIA B200|2.4.0|3.0.0'
ok "all overrides: sources" jq_is '[.sources[]] | map(sub("override ";"")) | join(",")' \
	B10T_COMPUTE_CAPABILITY,B10T_CUDA_VERSION,B10T_DEVICE_NAME,B10T_TORCH_VERSION,B10T_TRITON_VERSION
ok "all forced: the CUDA runtime is not loaded" [ ! -e "$FAKE_CUDA_LOG" ]
ok "both versions forced: python3 is not run" [ ! -e "$T_DIR/python-ran" ]
B10T_CUDART=$FAKE_CUDART B10T_CUDA_VERSION=12.4 B10T_DEVICE_NAME='NVIDIA H100 80GB HBM3' \
	run envkey --key-scheme b10-transfer
ok "b10-transfer needs no compute capability: runtime not loaded" [ ! -e "$FAKE_CUDA_LOG" ]
B10T_CUDART=$FAKE_CUDART FAKE_CUDA_CC=9.0 B10T_DEVICE_NAME='NVIDIA H100 80GB HBM3' run envkey --json
ok "name forced, cc from the runtime" jq_is .components.compute_capability 9.0
ok "the runtime was loaded for it" grep -q cudaDeviceGetAttribute "$FAKE_CUDA_LOG"
ok "but the name was not asked" sh -c '! grep -q cudaGetDeviceProperties "$1"' - "$FAKE_CUDA_LOG"
unset FAKE_CUDA_LOG

# ---- versions from site-packages trees ------------------------------------------
unset B10T_TORCH_VERSION B10T_TRITON_VERSION
S=$T_DIR/sites
run envkey --json
ok "nothing installed: torch none" jq_is .components.torch_version none
ok "nothing installed: triton none" jq_is .components.triton_version none
ok "nothing located: python3 asked for sys.path" grep -q "import sys" "$T_DIR/python-ran"

mk "$S/pp/torch/version.py" "__version__ = '2.4.0+cu121'
debug = False
cuda: Optional[str] = '12.1'
hip: Optional[str] = None"
mk "$S/pp/pytorch_triton-3.0.0+45fff310c8.dist-info/METADATA" "Metadata-Version: 2.1
Name: pytorch-triton
Version: 3.0.0+45fff310c8"
PYTHONPATH=$S/nothing:$S/pp B10T_CUDART=$FAKE_CUDART run envkey --json
ok "PYTHONPATH: torch from version.py" jq_is .components.torch_version 2.4.0+cu121
ok "PYTHONPATH: its source" jq_is .sources.torch_version "$S/pp/torch/version.py"
ok "GPU: cuda_version is torch.version.cuda" jq_is .components.cuda_version 12.1
ok "pytorch_triton dist-info" jq_is .components.triton_version 3.0.0+45fff310c8
ok "its source is METADATA" jq_is .sources.triton_version "$S/pp/pytorch_triton-3.0.0+45fff310c8.dist-info/METADATA"

mkdir -p "$S/name/torch-2.3.1+cpu.dist-info" "$S/name/triton/"
mk "$S/name/triton/__init__.py" '__version__ = "2.3.1"'
PYTHONPATH=$S/name run envkey --json
ok "dist-info without METADATA: version from its name" jq_is .components.torch_version 2.3.1+cpu
ok "its source is the dist-info dir" jq_is .sources.torch_version "$S/name/torch-2.3.1+cpu.dist-info"
ok "triton/__init__.py" jq_is .components.triton_version 2.3.1

mk "$S/egg/torch-1.13.0-py3.10.egg-info/PKG-INFO" "Metadata-Version: 2.1
Name: torch
Version: 1.13.0"
mk "$S/egg/triton-2.0.0-py3.10.egg-info" "Metadata-Version: 1.0
Name: triton
Version: 2.0.0"
mk "$S/egg/torchvision-0.14.0.dist-info/METADATA" "Version: 0.14.0"
PYTHONPATH=$S/egg run envkey --json
ok "egg-info PKG-INFO" jq_is .components.torch_version 1.13.0
ok "egg-info as a file" jq_is .components.triton_version 2.0.0

mk "$S/venv/lib/python3.11/site-packages/torch-2.5.0.dist-info/METADATA" "Version: 2.5.0"
mk "$S/conda/lib/python3.10/site-packages/torch-2.1.0.dist-info/METADATA" "Version: 2.1.0"
mk "$B10T_PYTHON_ROOT/usr/local/lib/python3.10/dist-packages/torch-2.2.0.dist-info/METADATA" "Version: 2.2.0"
VIRTUAL_ENV=$S/venv CONDA_PREFIX=$S/conda run envkey --json
ok "VIRTUAL_ENV before CONDA_PREFIX and the system" jq_is .components.torch_version 2.5.0
CONDA_PREFIX=$S/conda run envkey --json
ok "CONDA_PREFIX before the system" jq_is .components.torch_version 2.1.0
run envkey --json
ok "/usr/local/lib/python3.*/dist-packages" jq_is .components.torch_version 2.2.0
ok "its source" jq_is .sources.torch_version "$B10T_PYTHON_ROOT/usr/local/lib/python3.10/dist-packages/torch-2.2.0.dist-info/METADATA"
PYTHONPATH=$S/pp run envkey --json
ok "PYTHONPATH before everything" jq_is .components.torch_version 2.4.0+cu121

mk "$B10T_PYTHON_ROOT/usr/lib/python3/dist-packages/triton-2.1.0.dist-info/METADATA" "Version: 2.1.0"
mk "$HOME/.local/lib/python3.11/site-packages/triton-9.0.0.dist-info/METADATA" "Version: 9.0.0"
run envkey --json
ok "/usr/lib/python3/dist-packages" jq_is .components.triton_version 2.1.0
rm -r "$B10T_PYTHON_ROOT/usr/lib/python3"
run envkey --json
ok "~/.local last" jq_is .components.triton_version 9.0.0
rm -r "$HOME/.local" "$B10T_PYTHON_ROOT/usr"

# the python3 on PATH: its prefix, a venv's pyvenv.cfg, a pyenv shim
mkdir -p "$S/py/bin" "$S/base/bin"
cp "$T_DIR/bin/python3" "$S/py/bin/python3"
mk "$S/py/lib/python3.12/site-packages/torch-2.6.0.dist-info/METADATA" "Version: 2.6.0"
rm -f "$T_DIR/python-ran"
PATH="$S/py/bin:$PATH" run envkey --json
ok "prefix of the first python3 on PATH" jq_is .components.torch_version 2.6.0
ok "python3 located: not run (triton missing)" [ ! -e "$T_DIR/python-ran" ]
mk "$S/py/pyvenv.cfg" "home = $S/base/bin
include-system-site-packages = true"
rm -r "$S/py/lib/python3.12/site-packages/torch-2.6.0.dist-info"
mk "$S/base/lib/python3.12/site-packages/torch-2.6.1.dist-info/METADATA" "Version: 2.6.1"
PATH="$S/py/bin:$PATH" run envkey --json
ok "venv with system site-packages: the base's" jq_is .components.torch_version 2.6.1
mk "$S/py/pyvenv.cfg" "home = $S/base/bin
include-system-site-packages = false"
PATH="$S/py/bin:$PATH" run envkey --json
ok "venv without system site-packages: not the base's" jq_is .components.torch_version none

mkdir -p "$S/pyenv/shims"
cp "$T_DIR/bin/python3" "$S/pyenv/shims/python3"
mk "$S/pyenv/versions/3.11.9/lib/python3.11/site-packages/torch-2.7.0.dist-info/METADATA" "Version: 2.7.0"
mk "$S/pyenv/version" "3.11.9"
PATH="$S/pyenv/shims:$PATH" run envkey --json
ok "pyenv shim: the global version" jq_is .components.torch_version 2.7.0
PATH="$S/pyenv/shims:$PATH" PYENV_VERSION=3.10.1 PYENV_ROOT=$S/pyenv run envkey --json
ok "pyenv shim: PYENV_VERSION" jq_is .components.torch_version none

# last resort: python3's sys.path (with FAKE_SYS_PATH as its answer)
mk "$S/odd/torch/version.py" "__version__ = '2.8.0'
cuda = None"
rm -f "$T_DIR/python-ran"
FAKE_SYS_PATH="$S/odd" B10T_CUDART=$FAKE_CUDART run envkey --json
ok "sys.path of python3 when nothing else answers" jq_is .components.torch_version 2.8.0
ok "torch built without CUDA: CPU key on a GPU machine" jq_is .components.device_type cpu
ok "python3 was run once" [ "$(wc -l <"$T_DIR/python-ran")" -eq 1 ]

done_testing
