#!/bin/sh
# SIGTERM or SIGINT in the middle of save or load: the command stops at the
# next entry, cleans up (no upload left in the store, no staging dir next to
# the cache dir, nothing published, the cache dir as before) and exits
# 128 + the signal.  The process is frozen (SIGSTOP) as soon as its temp
# file or staging dir appears, signalled, then thawed, so the signal always
# lands mid-run.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
mkdir -p "$C"
python3 - "$C" <<'PY'
import os, sys
root = sys.argv[1]
for d in range(8):
    os.makedirs(f"{root}/d{d}", exist_ok=True)
    for f in range(64):		# 512 files of 256 KiB: 128 MiB that lz4 cannot shrink
        with open(f"{root}/d{d}/f{f}", "wb") as fh:
            fh.write(os.urandom(256 << 10))
PY

# interrupt SIGNAL GLOB VERB: run b10t VERB, freeze it once GLOB matches, signal it.
interrupt() {
	# `&` makes sh ignore SIGINT in the job (and b10t keeps an ignored
	# signal ignored, as nohup users expect): start it with the default.
	python3 -c 'import os, signal, sys
signal.signal(signal.SIGINT, signal.SIG_DFL)
os.execv(sys.argv[1], sys.argv[1:])' "$B10T" "$3" -q >"$T_DIR/out" 2>"$T_DIR/err" &
	pid=$!
	i=0
	until ls $2 >/dev/null 2>&1; do
		i=$((i + 1))
		if [ $i -gt 20000 ] || ! kill -0 $pid 2>/dev/null; then
			break
		fi
	done
	kill -STOP $pid 2>/dev/null
	seen=$(ls -d $2 2>/dev/null)
	kill -"$1" $pid 2>/dev/null
	kill -CONT $pid 2>/dev/null
	wait $pid
	rc=$?
	ERR=$(cat "$T_DIR/err")
}

for sig in TERM INT; do
	case $sig in TERM) want=143 ;; INT) want=130 ;; esac
	interrupt $sig "$S/*.incomplete.*" save
	ok "save, SIG$sig: caught mid-run" [ -n "$seen" ]
	ok "save, SIG$sig: exit $want" expect_rc $want
	ok "save, SIG$sig: says it was interrupted" contains "$ERR" "interrupted"
	ok "save, SIG$sig: the store is empty (no upload, nothing published)" [ -z "$(ls -A "$S")" ]
done

run save -q
ok "an undisturbed save publishes" expect_rc 0
rm -rf "$C"
parent=$(dirname "$C")
for sig in TERM INT; do
	case $sig in TERM) want=143 ;; INT) want=130 ;; esac
	interrupt $sig "$parent/.$(basename "$C").b10t-staging.*" load
	ok "load, SIG$sig: caught mid-run" [ -n "$seen" ]
	ok "load, SIG$sig: exit $want" expect_rc $want
	ok "load, SIG$sig: no cache dir, as before" [ ! -e "$C" ]
	ok "load, SIG$sig: no staging dir left" [ -z "$(ls -A "$parent" | grep b10t-staging)" ]
	ok "load, SIG$sig: the archive stays published" [ -f "$(published_archive "$S" "$("$B10T" envkey)")" ]
done
run load -q
ok "an undisturbed load then succeeds" expect_rc 0

done_testing
