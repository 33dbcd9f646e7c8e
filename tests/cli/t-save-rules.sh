#!/bin/sh
# save never publishes what load refuses: each entry unpack would reject
# is left out with one warning, the rest is published and loads; a store
# inside the cache dir is never packed into itself.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
A=	# the published archive, after the save (published_archive)
NL='
'

warnings() {	# the warning lines of the last run
	grep -c '^b10t save: warning: ' "$T_DIR/err"
}
one_warning() {	# one_warning TEXT: exactly one warning line holds TEXT
	n=$(grep '^b10t save: warning: ' "$T_DIR/err" | grep -cF -- "$1")
	[ "$n" -eq 1 ] && return 0
	echo "#   $n warnings hold '$1'"
	sed 's/^/#   err: /' "$T_DIR/err"
	return 1
}
no_upload() {
	[ -z "$(ls -A "$S" | grep '\.incomplete')" ]
}

# ---- the good part: what must arrive -----------------------------------
mkdir -p "$C/sub" "$C/sgdir"
printf 'kernel\n' >"$C/a.py"
printf '#!/bin/sh\n' >"$C/run.sh" && chmod 0755 "$C/run.sh"
head -c 50000 /dev/urandom >"$C/sub/blob.bin"
ln -s ../a.py "$C/sub/up-link"
ln -s sub/blob.bin "$C/down-link"
printf 'in sgdir\n' >"$C/sgdir/f"
# 256 components: the deepest members a load accepts (a file and a dir).
deep=d
for i in $(seq 2 255); do deep=$deep/d; done
mkdir -p "$C/$deep/e" && printf 'deep\n' >"$C/$deep/f"
# Hard links: stored as two regular files, never as a tar hardlink.
printf 'shared\n' >"$C/sub/h1" && ln "$C/sub/h1" "$C/sub/h2"
cp -a "$C" "$T_DIR/expect"

# ---- the bad part: each entry load would refuse --------------------------
# Set-id bits are cleared, not refused: the entries arrive without them.
chmod 4755 "$C/run.sh"
chmod 2755 "$C/sgdir"
nbad=0
bad() { nbad=$((nbad + 1)); }
mkfifo "$C/fifo" && bad
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' \
	"$C/sub/sock" && bad
if mknod "$C/sub/null" c 1 3 2>/dev/null; then bad; DEV=1; else DEV=; fi
printf 'x' >"$C/bad${NL}name" && bad
printf 'x' >"$C/sub/ctl$(printf '\001')x" && bad
mkdir "$C/dir$(printf '\t')x" && printf 'x' >"$C/dir$(printf '\t')x/inside" && bad
printf 'x' >"$C/$deep/e/too-deep" && bad	# 257 components
mkdir "$C/.b10t" && printf 'x' >"$C/.b10t/mine" && bad
ln -s /etc/passwd "$C/abs-link" && bad
ln -s ../../outside "$C/sub/escape-link" && bad
ln -s 'sub/../..' "$C/via-dir-link" && bad
ln -s "a${NL}b" "$C/ctl-target-link" && bad
# A chain of 255-byte names: 16 of them make a path of exactly 4095 bytes
# (B10T_MAX_PATH, kept), the 17th passes it (left out).
python3 - "$C" <<'EOF' && bad
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(17):
    name = "%02d" % i + "L" * 253
    os.mkdir(name, dir_fd=fd)
    nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    os.close(fd)
    fd = nfd
os.close(os.open("f", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd))
EOF

run save --json
ok "save with $nbad bad entries next to good ones: SUCCESS" expect_rc 0
ok "save with $nbad bad entries next to good ones: JSON status SUCCESS" jq_is .status SUCCESS
ok "save with $nbad bad entries next to good ones: skipped_entries counts each bad entry" jq_is .skipped_entries "$nbad"
ok "save with $nbad bad entries next to good ones: exactly one warning per bad entry" [ "$(warnings)" -eq "$nbad" ]
ok "save with $nbad bad entries next to good ones: the FIFO" one_warning "fifo: it is a FIFO"
ok "save with $nbad bad entries next to good ones: the socket" one_warning "sub/sock: it is a socket"
[ -n "$DEV" ] && ok "... the device" one_warning "sub/null: it is a character device"
ok "save with $nbad bad entries next to good ones: a newline in a name, shown escaped" \
	one_warning "bad\\nname: it has a control character in its name"
ok "save with $nbad bad entries next to good ones: \\x01 in a name, shown escaped" \
	one_warning "sub/ctl\\x01x: it has a control character in its name"
ok "save with $nbad bad entries next to good ones: a dir with a control character: one warning for the dir" \
	one_warning "dir\\tx: it has a control character in its name"
ok "save with $nbad bad entries next to good ones: the 257th component" one_warning "/e/too-deep: it is nested too deep (more than 256 levels)"
ok "save with $nbad bad entries next to good ones: the reserved .b10t dir" one_warning ".b10t: it is in b10t's reserved .b10t dir"
ok "save with $nbad bad entries next to good ones: an absolute link" one_warning "abs-link: it is a symlink pointing outside the cache dir"
ok "save with $nbad bad entries next to good ones: a link escaping the tree" \
	one_warning "sub/escape-link: it is a symlink pointing outside the cache dir"
ok "save with $nbad bad entries next to good ones: a link through a dir and up" \
	one_warning "via-dir-link: it is a symlink pointing outside the cache dir"
ok "save with $nbad bad entries next to good ones: a link target with a control character" \
	one_warning "ctl-target-link: it is a symlink with a control character in its target"
ok "save with $nbad bad entries next to good ones: a path over 4095 bytes" one_warning "it has a path longer than 4095 bytes"
ok "save with $nbad bad entries next to good ones: no warning about the good entries" \
	sh -c '! grep -e "run.sh" -e "sgdir" -e "h1" -e "h2" -e "/f:" "$1"' - "$T_DIR/err"
A=$(published_archive "$S" "$KEY")
ok "save with $nbad bad entries next to good ones: published" [ -f "$A" ]
ok "save with $nbad bad entries next to good ones: no upload left" no_upload

TORCHINDUCTOR_CACHE_DIR=$T_DIR/loaded run load --json
ok "the published archive loads: SUCCESS" expect_rc 0
ok "the published archive loads: JSON status SUCCESS" jq_is .status SUCCESS
L=$T_DIR/loaded
ok "the published archive loads: the long chain arrived up to 4095 bytes, not past them" python3 - "$L" <<'EOF'
import os, sys
fd = os.open(sys.argv[1], os.O_RDONLY)
for i in range(17):
    name = "%02d" % i + "L" * 253
    try:
        nfd = os.open(name, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
    except FileNotFoundError:
        sys.exit(0 if i == 16 else 1)
    os.close(fd)
    fd = nfd
sys.exit(1)
EOF
rm -rf "$L/00$(printf 'L%.0s' $(seq 253))"
ok "the published archive loads: the tree is the good part, set-id bits cleared" python3 "$SRCDIR/cli/treecmp.py" "$T_DIR/expect" "$L"
ok "the published archive loads: the hard links arrived as two separate files" \
	sh -c '[ "$(stat -c %h "$1/sub/h1")" = 1 ] && [ "$(cat "$1/sub/h2")" = shared ]' - "$L"
ok "the published archive loads: the archive has no tar hardlink" sh -c '! lz4 -dc "$1" | tar -tvf - | grep -q "^h"' - "$A"

run save
unpublish "$S" "$KEY"
run save
ok "text output: SUCCESS, and how many entries were left out" \
	contains "$OUT" ", $nbad entries left out"
unpublish "$S" "$KEY"
run save --json -q
ok "--quiet: no warnings, the count stays in the JSON" \
	sh -c '[ "$(grep -c warning "$1")" = 0 ]' - "$T_DIR/err"
ok "--quiet: no warnings, the count stays in the JSON: skipped_entries" jq_is .skipped_entries "$nbad"

# ---- load reports skipped_entries 0 -------------------------------------
rm -rf "$L"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/loaded2 run load --json
ok "load of that archive succeeds" expect_rc 0
ok "load's JSON has skipped_entries 0" jq_is .skipped_entries 0

# ---- the store inside the cache dir ---------------------------------------
C2=$T_DIR/c2
mkdir -p "$C2/sub"
printf 'one\n' >"$C2/a" && printf 'two\n' >"$C2/sub/b"
cp -a "$C2" "$T_DIR/expect2"
mkdir "$C2/sub/store"
TORCHINDUCTOR_CACHE_DIR=$C2 B10FS_CACHE_DIR=$C2/sub/store run save --json
ok "store inside the cache dir: save SUCCESS" expect_rc 0
ok "save with the store inside the cache dir: one warning, naming the store" one_warning "sub/store: it is the store"
ok "save with the store inside the cache dir: skipped_entries 1" jq_is .skipped_entries 1
A2=$(published_archive "$C2/sub/store" "$KEY")
ok "save with the store inside the cache dir: the archive holds neither the store nor the upload" \
	sh -c '! lz4 -dc "$1" | tar -tf - | grep -q store' - "$A2"
TORCHINDUCTOR_CACHE_DIR=$T_DIR/loaded3 B10FS_CACHE_DIR=$C2/sub/store run load --json
ok "save with the store inside the cache dir: it loads: SUCCESS" expect_rc 0
ok "save with the store inside the cache dir: the tree is the cache without the store" \
	python3 "$SRCDIR/cli/treecmp.py" "$T_DIR/expect2" "$T_DIR/loaded3"
# The store the cache dir itself: nothing can be packed without packing it.
unpublish "$C2/sub/store" "$KEY"
C3=$T_DIR/c3
mkdir -p "$C3" && printf 'x\n' >"$C3/a"
TORCHINDUCTOR_CACHE_DIR=$C3 B10FS_CACHE_DIR=$C3 run save --json
ok "store == cache dir: save is an ERROR (exit 1)" expect_rc 1
ok "save with the store as the cache dir: saying the cache dir is the store" contains "$ERR" "is the store itself"
ok "save with the store as the cache dir: nothing published, no upload left" \
	[ "$(ls -A "$C3")" = a ]

done_testing
