#!/bin/sh
# Every failure the archive's content causes ends as ERROR with the archive
# moved aside (*.corrupt.*), whatever its errno: sparse members, a link
# target past PATH_MAX, a path too deep or too long, a duplicate.  A failure
# of the local side (a full disk, an unwritable cache dir, a signal) ends
# as an error too, but leaves the archive published for the next try.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
A=$(fixed_archive "$S" "$KEY")	# lib.sh: one fixed name
GEN=$SRCDIR/hostile-tar.py
command -v "${B10T_CODEC:-lz4}" >/dev/null ||
	skip_all "no ${B10T_CODEC:-lz4} CLI to frame the hostile tars"

skip() {	# skip DESCRIPTION REASON
	T_N=$((T_N + 1))
	echo "ok $T_N - $1 # SKIP $2"
}
no_staging() { ! ls -A "$1" | grep -q b10t-staging; }
moved_aside() { [ ! -e "$A" ] && ls "$S" | grep -q "^cache_$KEY\.corrupt\..*\.tar\.$EXT$"; }
published() { [ -f "$A" ] && ! ls "$S" | grep -q corrupt; }

# hostile WHAT WORDS: load $T_DIR/h.tar, lz4- (zstd-) framed under the key's name.
hostile() {
	frame "$T_DIR/h.tar" "$A" || { echo "Bail out! framing with the $EXT CLI failed"; exit 1; }
	reclaim "$S" "$KEY"
	rm -rf "$C"
	run load --json
	ok "$1: load is an ERROR" expect_rc 1
	ok "$1: the error says why" jq_is ".error | contains(\"$2\")" true
	ok "$1: moved aside as *.corrupt.*" moved_aside
	ok "$1: no cache dir" sh -c '[ ! -e "$1" ]' - "$C"
	ok "$1: no staging debris" no_staging "$T_DIR"
	rm -f "$S"/*.corrupt.*
}

# mktar CASE: the tars Python's tarfile can write.
mktar() {
	python3 - "$T_DIR/h.tar" "$1" <<'PY'
import io, sys, tarfile
out, case = sys.argv[1], sys.argv[2]
with tarfile.open(out, "w", format=tarfile.PAX_FORMAT) as t:
    def add(name, data=b"x", typ=tarfile.REGTYPE, link=""):
        ti = tarfile.TarInfo(name)
        ti.type, ti.linkname, ti.mtime = typ, link, 1700000000
        ti.size = len(data) if typ == tarfile.REGTYPE else 0
        t.addfile(ti, io.BytesIO(data) if typ == tarfile.REGTYPE else None)
    add("ok")
    if case == "long-link":	# 18 x 250 bytes: symlinkat says ENAMETOOLONG
        add("l", typ=tarfile.SYMTYPE, link="/".join(["a" * 250] * 18))
    elif case == "deep":
        add("a/" * 300 + "f")
    elif case == "long-path":
        add("/".join(["b" * 200] * 25))
    elif case == "duplicate":
        add("ok")
PY
}

ncases=0
for c in $(python3 "$GEN" --list); do
	python3 "$GEN" "$c" "$T_DIR/h.tar" || { echo "Bail out! $GEN $c failed"; exit 1; }
	hostile "$c" "member 'f' "
	ncases=$((ncases + 1))
done
ok "the generator made its 6 sparse and overlong cases" [ "$ncases" -ge 6 ]
mktar long-link && hostile "a link target of 4517 bytes" "longer than 4095 bytes"
mktar deep && hostile "a member 301 levels deep" "is nested too deep (more than 256 levels)"
mktar long-path && hostile "a path of 5024 bytes" "has a path longer than 4095 bytes"
mktar duplicate && hostile "a duplicate member" "member 'ok' is a duplicate"

# ---- the local side: the archive stays published ----------------------------

# A good archive: 40 dirs of 100 small files, and 4 MiB that lz4 cannot shrink.
SRC=$T_DIR/src
python3 - "$SRC" <<'PY'
import os, sys
for d in range(40):
    os.makedirs(f"{sys.argv[1]}/d{d}")
    for f in range(100):
        with open(f"{sys.argv[1]}/d{d}/f{f}", "w") as fh:
            fh.write("x" * f)
with open(f"{sys.argv[1]}/blob", "wb") as fh:
    fh.write(os.urandom(4 << 20))
PY
export TORCHINDUCTOR_CACHE_DIR="$SRC"
run save -q
export TORCHINDUCTOR_CACHE_DIR="$C"
ok "a good archive is saved" expect_rc 0
as_legacy "$S" "$KEY"	# the cases below put their bytes at one name
cp "$A" "$T_DIR/good.tar.$EXT"

# A full disk: the cache dir on a 1 MiB tmpfs.
M=$T_DIR/small
mkdir -p "$M"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o size=1m b10t-test "$M" 2>/dev/null; then
	export TORCHINDUCTOR_CACHE_DIR="$M/cache"
	run load --json
	export TORCHINDUCTOR_CACHE_DIR="$C"
	ok "disk full: load fails" [ "$rc" -ne 0 ]
	ok "disk full: the error says so" jq_is '.error | contains("No space left on device")' true
	ok "disk full: the archive stays published" published
	ok "disk full: no cache dir, no staging left" sh -c '[ -z "$(ls -A "$1")" ]' - "$M"
	umount "$M"
else
	for t in "load fails" "the error says so" "the archive stays published" \
		 "no cache dir, no staging left"; do
		skip "disk full: $t" "needs root to mount a tmpfs"
	done
fi

# An unwritable cache dir (and parent), as a user who may rename in the store.
RO=$T_DIR/ro
mkdir -p "$RO/cache"
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T_DIR" "$RO" "$RO/cache"
	chown 65534 "$S"
	as_user() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
else
	chmod 555 "$RO/cache" "$RO"
	as_user() { "$@"; }
fi
export TORCHINDUCTOR_CACHE_DIR="$RO/cache"
as_user "$B10T" load --json >"$T_DIR/out" 2>"$T_DIR/err"
rc=$?
export TORCHINDUCTOR_CACHE_DIR="$C"
ok "unwritable cache dir: load fails" [ "$rc" -ne 0 ]
ok "unwritable cache dir: the error says so" jq_is '.error | contains("Permission denied")' true
ok "unwritable cache dir: the archive stays published" published
ok "unwritable cache dir: it stays empty" [ -z "$(ls -A "$RO/cache")" ]
chmod 755 "$RO" "$RO/cache"
[ "$(id -u)" = 0 ] && chown 0 "$S"

# A signal mid-extraction: frozen once staging appears, SIGTERM, thawed.
rm -rf "$C"
python3 - "$B10T" "$C" >"$T_DIR/sig" <<'PY'
import glob, os, signal, subprocess, sys, time
b10t, cache = sys.argv[1], sys.argv[2]
parent = os.path.dirname(cache)
p = subprocess.Popen([b10t, "load", "-q"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
seen, end = False, time.time() + 20
while p.poll() is None and time.time() < end:
    if glob.glob(parent + "/.*b10t-staging*") or (os.path.isdir(cache) and os.listdir(cache)):
        os.kill(p.pid, signal.SIGSTOP)
        seen = True
        break
if p.poll() is None:
    os.kill(p.pid, signal.SIGTERM)
    os.kill(p.pid, signal.SIGCONT)
err = p.communicate()[1].decode()
print(seen, p.returncode, err.strip().replace("\n", " "))
PY
read -r seen rc err <"$T_DIR/sig"
ok "signal: caught mid-extraction" [ "$seen" = True ]
ok "signal: exit 143" [ "$rc" = 143 ]
ok "signal: the archive stays published" published
ok "signal: no staging left" no_staging "$T_DIR"
run load -q
ok "then an undisturbed load succeeds" expect_rc 0
ok "the undisturbed load after them: it has the saved tree" diff -r "$SRC" "$C"

done_testing
