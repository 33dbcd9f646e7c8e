#!/bin/sh
# Many replicas at once: one save wins, loads see nothing or a whole archive.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
N=32

mkdir -p "$C/a/b"
head -c 2000000 /dev/urandom >"$C/a/b/blob"
for i in $(seq 1 100); do echo "kernel $i" >"$C/a/k$i.py"; done
ln -s b/blob "$C/a/link"

# Start N commands at once (released together by a pipe); print each exit
# code and stdout.  A loader retries while it finds nothing, so the loads
# span the moment the save publishes.
cat >"$T_DIR/fleet.py" <<'PY'
import os, subprocess, sys
n, mode, b10t, base = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4]
LOOP = 'read x; i=0; while :; do "$0" load -q; rc=$?; i=$((i+1)); ' \
       '[ $rc = 3 ] && [ $i -lt 300 ] || exit $rc; sleep 0.3; done'
r, w = os.pipe()
procs = []
for i in range(n):
    env = dict(os.environ)
    if mode == "load":
        env["TORCHINDUCTOR_CACHE_DIR"] = "%s/load%d/cache" % (base, i)
        cmd = ["sh", "-c", LOOP, b10t]
    else:
        cmd = ["sh", "-c", 'read x; exec "$0" save -q', b10t]
    procs.append(subprocess.Popen(cmd, stdin=r, env=env, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT))
if mode == "load":  # one save publishes while the loads run
    procs.append(subprocess.Popen(["sh", "-c", 'read x; exec "$0" save -q', b10t],
                                  stdin=r, stdout=subprocess.PIPE,
                                  stderr=subprocess.STDOUT))
os.close(r)
os.close(w)
for p in procs:
    out = p.communicate()[0].decode().strip().split("\n")[-1]
    print(p.returncode, out)
PY

python3 "$T_DIR/fleet.py" $N save "$B10T" "$T_DIR" >"$T_DIR/codes"
ok "$N saves at once: exactly one SUCCESS" [ "$(grep -c '^0' "$T_DIR/codes")" = 1 ]
ok "$N saves at once: the others SKIPPED" [ "$(grep -c '^4' "$T_DIR/codes")" = $((N - 1)) ] ||
	sed 's/^/#   /' "$T_DIR/codes"
echo "# $(grep -c meanwhile "$T_DIR/codes") saves lost the publish race itself"
ok "$N saves at once: one claim and the one archive it names, nothing else" \
	only_published "$S" "$KEY"

# The same where renameat2(RENAME_NOREPLACE) is missing: link() + unlink().
rm -f "$S"/*
if [ -n "${NO_RENAMEAT2:-}" ] && [ -f "$NO_RENAMEAT2" ]; then
	# Preload into b10t only (python3 is not built with the sanitizers b10t may be).
	printf '#!/bin/sh\nLD_PRELOAD="%s" exec "%s" "$@"\n' "$NO_RENAMEAT2" "$B10T" >"$T_DIR/b10t-link"
	chmod +x "$T_DIR/b10t-link"
	python3 "$T_DIR/fleet.py" 16 save "$T_DIR/b10t-link" "$T_DIR" >"$T_DIR/codes"
	ok "16 saves publishing with link(): exactly one SUCCESS" [ "$(grep -c '^0' "$T_DIR/codes")" = 1 ]
	ok "16 saves publishing with link(): the others SKIPPED" [ "$(grep -c '^4' "$T_DIR/codes")" = 15 ] ||
		sed 's/^/#   /' "$T_DIR/codes"
	ok "16 saves publishing with link(): one claim, one archive, single links, no upload left" \
		only_published "$S" "$KEY"
	rm -f "$S"/*
fi

python3 "$T_DIR/fleet.py" $N load "$B10T" "$T_DIR" >"$T_DIR/codes"
ok "the save during $N loads: SUCCESS" [ "$(tail -1 "$T_DIR/codes" | cut -c1)" = 0 ]
ok "every load: SUCCESS or DOES_NOT_EXIST" \
	sh -c 'head -n '$N' "$1" | grep -qv "^[03] " && { sed "s/^/#   /" "$1"; exit 1; } || exit 0' - "$T_DIR/codes"
ok "loads got the archive once it was published" \
	sh -c 'head -n "$2" "$1" | grep -q "^0"' - "$T_DIR/codes" "$N"
loaded=$(for i in $(seq 0 $((N - 1))); do
	[ -e "$T_DIR/load$i/cache" ] && echo "$T_DIR/load$i/cache"; done)
good=$(echo "$loaded" | grep -c .)
echo "# $good loads got the tree, $((N - good)) found nothing"
bad=0
[ "$good" = 0 ] || python3 "$SRCDIR/cli/treecmp.py" "$C" $loaded || bad=1
ok "every loaded tree is identical to the saved one" [ "$bad" = 0 ]
ok "loads that found nothing left no cache dir" \
	[ "$good" = "$(grep -c '^0' "$T_DIR/codes" | awk '{print $1 - 1}')" ]
ok "no staging or upload debris" \
	sh -c '[ -z "$(ls -A "$1"/load*/ "$2" | grep -e staging -e incomplete)" ]' - "$T_DIR" "$S"

done_testing
