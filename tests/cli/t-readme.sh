#!/bin/sh
# README's first five minutes, run as written: its code block, line by
# line, on a laptop-like machine (no /cache/model), with `python serve.py`
# standing for a server.
. "$(dirname "$0")/lib.sh"

README="$SRCDIR/../README.md"
[ -f "$README" ] || skip_all "no README.md next to tests/"
command -v jq >/dev/null 2>&1 || skip_all "jq not found (the README pipes list into it)"

# The block after "## The first five minutes".
awk '/^## The first five minutes/ { on = 1; next }
     on && /^```sh$/ { inb = 1; next }
     inb && /^```$/ { exit }
     inb { print }' "$README" >"$T_DIR/block.sh"
ok "the README has the first five minutes' block" [ "$(wc -l <"$T_DIR/block.sh")" -ge 8 ]

# A laptop: no store until the block's first line makes one, a cache dir
# torch would have filled, `b10t` on PATH, and python serve.py a stub that
# says it served.
unset B10FS_CACHE_DIR
mkdir -p "$T_DIR/bin"
ln -s "$B10T" "$T_DIR/bin/b10t"
cat >"$T_DIR/bin/python" <<'STUB'
#!/bin/sh
echo "served $*" >>"$SERVED"
STUB
chmod +x "$T_DIR/bin/python"
export PATH="$T_DIR/bin:$PATH" SERVED="$T_DIR/served" TMPDIR="$T_DIR/tmp"
mkdir -p "$TMPDIR"
# the store the README's first line names, inside the sandbox
sed "s|/tmp/b10t-store|$T_DIR/b10t-store|g" "$T_DIR/block.sh" >"$T_DIR/block2.sh"
ok "the block's first line sets B10FS_CACHE_DIR for a local try" \
	grep -q '^export B10FS_CACHE_DIR=.*mkdir -p "$B10FS_CACHE_DIR"' "$T_DIR/block2.sh"

# Before it: info says why the store is disabled.
run info
ok "before: info says why the store is disabled and what to set" \
	contains "$OUT" "(store disabled: the store /cache/model/compile_cache does not exist: set B10FS_CACHE_DIR"

# Each line alone under `sh -e`, in order, in one shell (exports carry):
# what a user pastes.  `exec` would end that shell: each line that
# serves runs in a subshell of it.
{
	echo 'set -e'
	while IFS= read -r line; do
		line=$(printf '%s\n' "$line" | sed 's/  *#.*//')	# the comment
		case $line in
		*exec\ python*) printf '( %s )\n' "$line" ;;
		*) printf '%s\n' "$line" ;;
		esac
		printf 'echo "line done: %s" >>"$T_DIR/done"\n' "$(printf '%s' "$line" | cut -c1-20 | tr -d '"$`\\')"
	done <"$T_DIR/block2.sh"
} >"$T_DIR/run.sh"
mkdir -p "$TORCHINDUCTOR_CACHE_DIR"
echo "compiled" >"$TORCHINDUCTOR_CACHE_DIR/graph.py"
T_DIR=$T_DIR sh "$T_DIR/run.sh" >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
ok "the block runs to its end under set -e" expect_rc 0
ok "every line ran" [ "$(wc -l <"$T_DIR/done")" -eq "$(wc -l <"$T_DIR/block2.sh")" ]
has_archive() { published_archive "$@" >/dev/null; }
ok "the store it made holds the saved archive" has_archive "$T_DIR/b10t-store" "$("$B10T" envkey)"
ok "'always serve' served" grep -q "^served serve.py" "$SERVED"

# The always-serve line on a cold store under set -e: load exits 3, it serves.
rm -rf "$T_DIR/b10t-store" "$TORCHINDUCTOR_CACHE_DIR" "$SERVED"
mkdir -p "$T_DIR/b10t-store"
line=$(grep 'exec python serve.py' "$T_DIR/block2.sh" | sed 's/ *#.*//')
B10FS_CACHE_DIR="$T_DIR/b10t-store" sh -ec "$line" >/dev/null 2>&1
ok "cold store, set -e: the always-serve line still serves" grep -q "^served serve.py" "$SERVED"
rm -f "$SERVED"
B10FS_CACHE_DIR="$T_DIR/b10t-store" sh -ec "b10t load; exec python serve.py" >/dev/null 2>&1
ok "cold store, set -e: without || true it would not (why the README has it)" [ ! -e "$SERVED" ]

done_testing
