#!/bin/sh
# Real torch.compile through the wheel's Python API: a fresh venv with the
# wheel, torch from the e2e venv (B10T_VENV, default .venv-e2e: tools/venv.sh)
# on its path after the wheel's own site-packages, so `import b10_transfer`
# is b10t's.  Replica A compiles (tests/e2e/replica.py) and saves with
# b10t.save(); replica B, on a fresh cache dir, loads with
# b10_transfer.load_compile_cache() in its own process, as a model.py does,
# and must hit every graph and give the same outputs.  77 without the venv.
. "$(dirname "$0")/lib.sh"
EV=${B10T_VENV:-$ROOT/.venv-e2e}
if ! "$EV/bin/python" -c 'import torch' 2>/dev/null; then
	echo "1..0 # SKIP no torch venv at $EV (tools/venv.sh makes it)"
	exit 77
fi
need_build_tools
ok "the wheel builds and auditwheel repairs it" build_wheel
[ -n "${WHEEL:-}" ] || { done_testing; exit 1; }
V=$T_DIR/venv
ok "it installs into a fresh venv" make_venv "$V"
site=$("$V/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))')
"$EV/bin/python" -c 'import sysconfig; print(sysconfig.get_path("purelib"))' >"$site/zz-torch-venv.pth"

S=$T_DIR/store
mkdir -p "$S" "$T_DIR/home"
run() {	# run NAME ARGS...: the venv's python with replica NAME's settings
	name=$1; shift
	env -u BASETEN_FS_ENABLED -u B10T_KEY_SCHEME HOME="$T_DIR/home" B10FS_CACHE_DIR="$S" \
		TORCHINDUCTOR_CACHE_DIR="$T_DIR/cache-$name" LOCAL_WORK_DIR="$T_DIR/work-$name" \
		"$V/bin/python" "$@"
}
field() { "$PY" -c 'import json, sys; d = json.loads(sys.argv[1]); print(eval(sys.argv[2], {}, d))' "$1" "$2"; }

a=$(run a "$SRCDIR/e2e/replica.py" 2>"$T_DIR/a.err" | tail -n 1)
echo "# replica A: $(field "$a" 'counters')"
ok "replica A compiles: fxgraph misses, no hits" [ "$(field "$a" 'counters["fxgraph_cache_miss"] > 0 and counters["fxgraph_cache_hit"] == 0')" = True ]
s=$(run a -c 'import b10t; r = b10t.save(); print(r.status.name, r.files)')
echo "# b10t.save(): $s"
ok "b10t.save() publishes replica A's cache" sh -c "echo '$s' | grep -q '^SUCCESS [1-9]'"
b=$(run b "$SRCDIR/e2e/replica.py" --ref-load 2>"$T_DIR/b.err" | tail -n 1)
echo "# replica B: $(field "$b" 'ref_load') $(field "$b" 'counters')"
ok "replica B: load_compile_cache() is b10t's and SUCCESS" [ "$(field "$b" 'ref_load["status"]')" = SUCCESS ]
ok "replica B hits every graph, compiles none" [ "$(field "$b" 'counters["fxgraph_cache_miss"] == 0 and counters["fxgraph_cache_hit"] > 0')" = True ]
ok "replica B's outputs are replica A's" [ "$(field "$a" checksum)" = "$(field "$b" checksum)" ]
ok "b10_transfer in that venv is b10t's" sh -c "'$V/bin/python' -c 'import b10_transfer, b10t.compat; assert b10_transfer.load_compile_cache is b10t.compat.load_compile_cache'"
done_testing
