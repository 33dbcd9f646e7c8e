#!/bin/sh
# The envkey Python probe has a hard deadline (2 s, lib/pyver.c): a python3
# that never answers, closes stdout and sleeps, floods the pipe, or leaves a
# grandchild holding it is killed with its process group, and the key is
# computed without it ("none"), with one warning.
. "$(dirname "$0")/lib.sh"

export B10T_PYTHON_ROOT="$T_DIR/root"
mkdir -p "$B10T_PYTHON_ROOT"
unset PYTHONPATH VIRTUAL_ENV CONDA_PREFIX PYENV_VERSION PYENV_ROOT B10T_TORCH_VERSION \
      B10T_TRITON_VERSION
SAVED_PATH=$PATH

# fake NAME BODY: a python3 in its own prefix (no site-packages there, so
# the probe runs), first on PATH
fake() {
	mkdir -p "$T_DIR/$1/bin"
	printf '#!/bin/sh\n%s\n' "$2" >"$T_DIR/$1/bin/python3"
	chmod +x "$T_DIR/$1/bin/python3"
	PATH="$T_DIR/$1/bin:$SAVED_PATH"
}

# probe NAME: run `b10t envkey` under a 20 s guard and check the outcome
probe() {
	start=$(date +%s)
	PATH=$PATH timeout 20 "$B10T" envkey --json >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	took=$(( $(date +%s) - start ))
	ok "$1: envkey exits 0 (not killed by the guard)" expect_rc 0
	ok "$1: done within a few seconds ($took s)" [ "$took" -le 6 ]
	ok "$1: prints a key" jq_is '.environment_key | test("^[0-9a-f]{16}$")' true
	ok "$1: torch not found" jq_is .components.torch_version none
	ok "$1: warns once" [ "$(grep -c 'warning: envkey: .*python3.*killed' "$T_DIR/err")" -eq 1 ]
	ok "$1: stderr is that one line" [ "$(wc -l <"$T_DIR/err")" -eq 1 ]
}

fake sleeper 'exec sleep 1000'
probe "sleeps forever"

fake closer 'exec >&-; exec sleep 1000'
probe "closes stdout, then sleeps"

fake flood 'yes /usr/lib/python3/dist-packages; sleep 1000'
probe "writes megabytes, never exits"

fake fork "sh -c 'echo \$\$ >\"$T_DIR/grandchild.pid\"; exec sleep 1000' & exit 0"
probe "forks a grandchild that holds the pipe"
gpid=$(cat "$T_DIR/grandchild.pid" 2>/dev/null)
# gone PID: gone, or a zombie waiting for a PID 1 that may be slow to reap it
gone() {
	! kill -0 "$1" 2>/dev/null && return 0
	[ "$(sed 's/^.*) //' "/proc/$1/stat" 2>/dev/null | cut -c1)" = Z ]
}
# killed PID: the kill is sent before envkey returns, but its delivery is
# the kernel's: wait for it to land.
killed() { [ -n "$1" ] && wait_for 10 gone "$1"; }
ok "the grandchild was killed with the group" killed "$gpid"

fake answers-late 'sleep 1; echo /nowhere; exec sleep 1000'
probe "answers, then never exits"

# A python3 that answers and exits: its sys.path is used, no warning.
mkdir -p "$T_DIR/odd/torch"
printf "__version__ = '2.8.0'\n" >"$T_DIR/odd/torch/version.py"
fake good "echo $T_DIR/odd"
PATH=$PATH timeout 20 "$B10T" envkey --json >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
ok "a good python3: exit 0" expect_rc 0
ok "a good python3: its sys.path is searched" jq_is .components.torch_version 2.8.0
ok "a good python3: no warning" [ ! -s "$T_DIR/err" ]

done_testing
