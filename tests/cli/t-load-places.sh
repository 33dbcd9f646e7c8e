#!/bin/sh
# Where load reads and writes: the archive is judged by the fd it opened (a
# FIFO, symlink or directory at its name is an ERROR, never a hang); a cache
# dir that is a mount point or sits under an unwritable parent is staged in
# place under an install marker that the next load finishes or cleans; and
# staging of a load in another pid namespace is never taken for debris.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
KEY=$("$B10T" envkey) || { echo "Bail out! b10t envkey failed"; exit 1; }
A=$S/cache_$KEY.latest.tar.lz4
ORIG=$T_DIR/orig
treecmp() { python3 "$SRCDIR/cli/treecmp.py" "$@"; }
# No b10t state (staging, marker) left in a dir, nor next to it.
no_b10t_left() {
	[ -z "$(ls -A "$1" | grep '^\.b10t-')" ] &&
	[ -z "$(ls -A "$(dirname "$1")" | grep "^\.$(basename "$1")\.b10t-")" ]
}
# strace: LeakSanitizer (sanitizer builds) cannot run under ptrace.
traced() { ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" strace -qq -f -o /dev/null "$@"; }
# Our pid namespace and boot, as b10t writes them into names.
TAG="ns$(stat -Lc %i /proc/self/ns/pid)-$(head -c 8 /proc/sys/kernel/random/boot_id)"

mkdir -p "$ORIG/fxgraph/ab" "$ORIG/triton/0" "$ORIG/empty"
printf 'kernel\n' >"$ORIG/fxgraph/ab/entry"
head -c 200000 /dev/urandom >"$ORIG/triton/0/blob.bin"
printf 'x\n' >"$ORIG/top.py"
ln -s top.py "$ORIG/link"
run save --cache-dir "$ORIG" --json
[ "$rc" -eq 0 ] || { echo "Bail out! save failed: $ERR"; exit 1; }
as_legacy "$S" "$KEY" || { echo "Bail out! no published archive"; exit 1; }
mv "$A" "$T_DIR/good.tar.lz4"
restore() { rm -rf "$A"; cp "$T_DIR/good.tar.lz4" "$A"; }

# ---- 1. the archive's name holds no regular file -----------------------
mkfifo "$A"
timeout 10 "$B10T" load --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?; ERR=$(cat "$T_DIR/err")
ok "FIFO at the name: load exits at once with 1 (no hang)" expect_rc 1
ok "load of a FIFO at the name: status ERROR" jq_is .status ERROR
ok "load of a FIFO at the name: the message names the FIFO" contains "$ERR" "is a FIFO"
ok "load of a FIFO at the name: no cache dir made, no staging left" [ ! -e "$C" ]
timeout 10 "$B10T" info --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
ok "FIFO at the name: info does not hang" [ "$rc" -ne 124 ]
timeout 10 "$B10T" list --manifest --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
ok "FIFO at the name: list --manifest does not hang" [ "$rc" -ne 124 ]
# A FIFO swapped in under a name list saw as a file: the reader decides on its fd.
rm -f "$A"; ln -s "$T_DIR/fifo" "$A"; mkfifo "$T_DIR/fifo"
timeout 10 "$B10T" list --manifest --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
ok "symlink to a FIFO: list --manifest does not hang" [ "$rc" -ne 124 ]
timeout 10 "$B10T" load --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?; ERR=$(cat "$T_DIR/err")
ok "symlink to a FIFO: load exits 1" expect_rc 1

rm -f "$A"; ln -s "$T_DIR/good.tar.lz4" "$A"
timeout 10 "$B10T" load --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?; ERR=$(cat "$T_DIR/err")
ok "symlink at the name (to a good archive): load exits 1" expect_rc 1
ok "load of a symlink at the name: refused as a symlink" contains "$ERR" "is a symlink"
ok "load of a symlink at the name: the symlink stays in the store" [ -L "$A" ]
ok "load of a symlink at the name: nothing loaded" [ ! -e "$C" ]
timeout 10 "$B10T" info --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
ok "symlink at the name: info does not hang" [ "$rc" -ne 124 ]
ok "symlink at the name: info does not follow it" jq_is .b10fs_cache_exists false

rm -f "$A"; mkdir "$A"
timeout 10 "$B10T" load --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?; ERR=$(cat "$T_DIR/err")
ok "directory at the name: load exits 1" expect_rc 1
ok "load of a dir at the name: saying it is a directory" contains "$ERR" "is a directory"
rmdir "$A"

restore
run load --json
ok "the real archive loads" expect_rc 0
ok "load of the real archive: archive_bytes is the archive's size" jq_is .archive_bytes "$(stat -c %s "$A")"
rm -rf "$C"

# ---- 2a. the cache dir is a mount point (tmpfs) ---------------------------
M=$T_DIR/mnt/cache
mkdir -p "$M"
if [ "$(id -u)" = 0 ] && mount -t tmpfs -o mode=0755 tmpfs "$M" 2>/dev/null; then
	trap 'umount "$M" 2>/dev/null; rm -rf "$T_DIR"' EXIT
	run load --cache-dir "$M" --json
	ok "tmpfs mount point as cache dir: load exits 0" expect_rc 0
	ok "load into a tmpfs mount point: status SUCCESS" jq_is .status SUCCESS
	ok "load into a tmpfs mount point: the tree is the archive's" treecmp "$ORIG" "$M"
	ok "load into a tmpfs mount point: still a mount point" mountpoint -q "$M"
	ok "load into a tmpfs mount point: no staging or marker left" no_b10t_left "$M"
	run load --cache-dir "$M" --json
	ok "load into a tmpfs mount point: a second load is SKIPPED" expect_rc 4

	# Killed after the marker, half moved: the next load finishes the move.
	rm -rf "$M"/* "$M"/.[!.]* 2>/dev/null
	st=".b10t-staging.ns1-00000000.999999.0123456789abcdef"
	mkdir "$M/$st"
	cp -a "$ORIG"/. "$M/$st/"
	mv "$M/$st/fxgraph" "$M/$st/top.py" "$M/"
	ln -s "$st" "$M/.b10t-installing"
	mv "$A" "$T_DIR/keep.tar.lz4"
	run save --cache-dir "$M" --json
	ok "interrupted install: save refuses the partial cache (exit 1)" expect_rc 1
	ok "save of an interrupted install: saying an install is unfinished" contains "$ERR" "unfinished install"
	ok "save of an interrupted install: nothing published" none_published "$S" "$KEY"
	mv "$T_DIR/keep.tar.lz4" "$A"
	run load --cache-dir "$M" --json
	ok "interrupted install: the next load finishes it, then SKIPPED" expect_rc 4
	ok "the load after an interrupted install: says so" contains "$ERR$OUT" "finished an interrupted install"
	ok "the load after an interrupted install: the cache is the whole archive" treecmp "$ORIG" "$M"
	ok "the load after an interrupted install: marker and staging gone" no_b10t_left "$M"

	# Killed after the marker, staging gone (removed by hand): cleaned.
	rm -rf "$M"/* "$M"/.[!.]* 2>/dev/null
	cp -a "$ORIG/fxgraph" "$M/"
	ln -s ".b10t-staging.ns1-00000000.999999.0123456789abcdef" "$M/.b10t-installing"
	run load --cache-dir "$M" --json
	ok "install without its staging: not SKIPPED, cleaned and loaded (exit 0)" expect_rc 0
	ok "install without its staging: says it cleaned" contains "$ERR" "cleaned an interrupted install"
	ok "install without its staging: the cache is the whole archive" treecmp "$ORIG" "$M"

	# The marker names a symlink, not a staging dir: cleaned, not followed.
	rm -rf "$M"/* "$M"/.[!.]* 2>/dev/null
	mkdir "$T_DIR/elsewhere"; echo keep >"$T_DIR/elsewhere/f"
	cp -a "$ORIG/fxgraph" "$M/"
	ln -s "$T_DIR/elsewhere" "$M/.b10t-staging.x"
	ln -s ".b10t-staging.x" "$M/.b10t-installing"
	run load --cache-dir "$M" --json
	ok "marker naming a symlink: cleaned and loaded (exit 0)" expect_rc 0
	ok "marker naming a symlink: the symlink's target is untouched" \
		sh -c '[ -f "$1/f" ] && [ ! -e "$1/fxgraph" ]' - "$T_DIR/elsewhere"
	ok "marker naming a symlink: the cache is the whole archive" treecmp "$ORIG" "$M"

	# Killed before the marker: a partial staging never counts.
	rm -rf "$M"/* "$M"/.[!.]* 2>/dev/null
	mkdir -p "$M/.b10t-staging.$TAG.999999.0123456789abcdef/fxgraph"
	mv "$A" "$T_DIR/keep.tar.lz4"
	run save --cache-dir "$M" --json
	ok "only a dead load's staging: save finds nothing to save (SKIPPED)" expect_rc 4
	ok "only a dead load's staging: because the cache dir is empty" contains "$OUT" "empty"
	mv "$T_DIR/keep.tar.lz4" "$A"
	run load --cache-dir "$M" --json
	ok "only a dead load's staging: load is not SKIPPED: it loads (exit 0)" expect_rc 0
	ok "only a dead load's staging: the dead staging is removed" no_b10t_left "$M"
	ok "only a dead load's staging: the cache is the whole archive" treecmp "$ORIG" "$M"
	# Four loads at once into the mount point: one installs, the others
	# answer SKIPPED only once the cache is whole.
	rm -rf "$M"/* "$M"/.[!.]* 2>/dev/null
	pids=""
	for n in 1 2 3 4; do
		"$B10T" load --cache-dir "$M" --quiet >/dev/null 2>"$T_DIR/c$n.err" &
		pids="$pids $!"
	done
	succ=0 skip=0 other=0
	for p in $pids; do
		wait $p
		case $? in 0) succ=$((succ + 1)) ;; 4) skip=$((skip + 1)) ;; *) other=$((other + 1)) ;; esac
	done
	ok "four loads at once into a mount point: one SUCCESS, three SKIPPED ($succ/$skip/$other)" \
		[ "$succ" = 1 ] && [ "$skip" = 3 ] || sed 's/^/#   /' "$T_DIR"/c[1-4].err
	ok "four loads at once into a mount point: the cache is the whole archive" treecmp "$ORIG" "$M"
	ok "four loads at once into a mount point: no staging or marker left" no_b10t_left "$M"
	umount "$M"
	trap 'rm -rf "$T_DIR"' EXIT
else
	ok "# SKIP tmpfs mount point: needs root and mount -t tmpfs" true
fi

# A mount point that the checks miss (a bind mount on a kernel before 5.8)
# shows only as EBUSY at the final rename: staged again inside, loaded.
if command -v strace >/dev/null; then
	mkdir -p "$C"
	traced -e trace=rename -e inject=rename:error=EBUSY:when=1 \
		"$B10T" load -v --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?; ERR=$(cat "$T_DIR/err")
	ok "EBUSY at the final rename: load exits 0" expect_rc 0
	ok "EBUSY at the final rename: after staging again inside" contains "$ERR" "staging again inside"
	ok "EBUSY at the final rename: the cache is the whole archive" treecmp "$ORIG" "$C"
	ok "EBUSY at the final rename: no staging or marker left" no_b10t_left "$C"
	rm -rf "$C"
else
	ok "# SKIP EBUSY at the final rename: needs strace" true
fi

# A hidden staging of a live load inside a plain cache dir: rename() says
# ENOTEMPTY; load joins the in-place protocol and leaves the other alone.
sleep 60 & live=$!
mkdir -p "$C/.b10t-staging.$TAG.$live.0123456789abcdef/x"
run load --json
ok "cache dir holding only a live load's staging: load exits 0" expect_rc 0
ok "load into a cache dir holding only a live load's staging: the other load's staging stays" [ -d "$C/.b10t-staging.$TAG.$live.0123456789abcdef/x" ]
mv "$C/.b10t-staging.$TAG.$live.0123456789abcdef" "$T_DIR/keep"
ok "load into a cache dir holding only a live load's staging: the rest is the archive" treecmp "$ORIG" "$C"
mv "$T_DIR/keep" "$C/.b10t-staging.$TAG.$live.0123456789abcdef"
rm -rf "$C"

# save never packs b10t's own entries.
mkdir -p "$T_DIR/withstaging/.b10t-staging.$TAG.$live.0123456789abcdef"
echo x >"$T_DIR/withstaging/.b10t-staging.$TAG.$live.0123456789abcdef/f"
echo y >"$T_DIR/withstaging/real"
mv "$A" "$T_DIR/keep.tar.lz4"
run save --cache-dir "$T_DIR/withstaging" --json
ok "save with a staging dir inside: exit 0" expect_rc 0
P=$(published_archive "$S" "$KEY")
ok "save with a staging dir inside: the archive holds no b10t staging" sh -c "lz4 -dc '$P' | tar -t | grep -q b10t-staging && exit 1 || exit 0"
ok "save with a staging dir inside: holds the real file" sh -c "lz4 -dc '$P' | tar -t | grep -qx real"
unpublish "$S" "$KEY"
mv "$T_DIR/keep.tar.lz4" "$A"
kill $live 2>/dev/null; wait $live 2>/dev/null

# An archive that holds our reserved names is refused as hostile.
mkdir -p "$T_DIR/evil"
echo y >"$T_DIR/evil/real"
(cd "$T_DIR/evil" && ln -s .b10t-staging.x .b10t-installing)
( cd "$T_DIR/evil" && tar -cf - --format=pax real .b10t-installing ) | lz4 -q -c >"$T_DIR/evil.tar.lz4"
cp "$T_DIR/evil.tar.lz4" "$A"
run load --json
ok "archive with a '.b10t-installing' member: ERROR" expect_rc 1
ok "archive with a '.b10t-installing' member: naming the member" contains "$ERR" ".b10t-installing"
ok "archive with a '.b10t-installing' member: the cache dir is as it was (absent)" [ ! -e "$C" ]
ok "archive with a '.b10t-installing' member: the archive is moved aside" sh -c "[ ! -e '$A' ] && ls '$S' | grep -q '\.corrupt\.'"
rm -f "$S"/*.corrupt.*
restore

# ---- 2b. a non-root user's cache dir under a root-owned parent -------------
if [ "$(id -u)" = 0 ] && command -v setpriv >/dev/null; then
	chmod 755 "$T_DIR" "$S"
	chmod 644 "$A"
	P=$T_DIR/rootowned
	mkdir -p "$P/cache"
	chown 65534:65534 "$P/cache"
	chmod 755 "$P"
	asuser() { setpriv --reuid=65534 --regid=65534 --clear-groups "$@"; }
	asuser "$B10T" load --cache-dir "$P/cache" --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
	ok "user cache dir under a root-owned parent: load exits 0" expect_rc 0
	ok "load into a user cache dir under a root-owned parent: the tree is the archive's" treecmp "$ORIG" "$P/cache"
	ok "load into a user cache dir under a root-owned parent: owned by the user" [ "$(stat -c %u "$P/cache/top.py")" = 65534 ]
	ok "load into a user cache dir under a root-owned parent: no staging or marker left" no_b10t_left "$P/cache"
	asuser "$B10T" load --cache-dir "$P/cache" --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
	ok "load into a user cache dir under a root-owned parent: a second load is SKIPPED" expect_rc 4
	# The same user, a missing cache dir it cannot create: a clear ERROR.
	asuser "$B10T" load --cache-dir "$P/missing" --json >"$T_DIR/out" 2>"$T_DIR/err"; rc=$?
	ok "a missing cache dir under a root-owned parent: ERROR (exit 1)" expect_rc 1
	ok "load into a missing cache dir under a root-owned parent: saying permission denied" contains "$(cat "$T_DIR/err")" "ermission denied"
	ok "load into a missing cache dir under a root-owned parent: the store is untouched" [ -f "$A" ]
	rm -rf "$P"
else
	ok "# SKIP non-root user under a root-owned parent: needs root and setpriv" true
fi

# ---- 3. debris of other pid namespaces ------------------------------------
parent=$(dirname "$C")
base=$(basename "$C")
dead=$(sh -c 'echo $$')
mkdir -p "$parent/.$base.b10t-staging.ns1-deadbeef.$dead.0123456789abcdef/sub"
mkdir -p "$parent/.$base.b10t-staging.ns1-deadbeef.$dead.00000000000000ff"
touch -d '2 hours ago' "$parent/.$base.b10t-staging.ns1-deadbeef.$dead.00000000000000ff"
mkdir -p "$parent/.$base.b10t-staging.$TAG.$dead.0123456789abcdef"
mkdir -p "$parent/.$base.b10t-clear.ns1-deadbeef.$dead.0123456789abcdef"
mkdir -p "$parent/.$base.b10t-staging.$dead.fedcba9876543210"
run gc --json
ok "gc exits 0" expect_rc 0
ok "a young staging of another pid namespace stays" [ -d "$parent/.$base.b10t-staging.ns1-deadbeef.$dead.0123456789abcdef/sub" ]
ok "a young clear of another pid namespace stays" [ -d "$parent/.$base.b10t-clear.ns1-deadbeef.$dead.0123456789abcdef" ]
ok "an hour-old one of another namespace is removed" [ ! -e "$parent/.$base.b10t-staging.ns1-deadbeef.$dead.00000000000000ff" ]
ok "one of our namespace with a dead pid is removed" [ ! -e "$parent/.$base.b10t-staging.$TAG.$dead.0123456789abcdef" ]
ok "an old-format one with a dead pid is removed" [ ! -e "$parent/.$base.b10t-staging.$dead.fedcba9876543210" ]
run load --json
ok "load exits 0 beside a foreign staging" expect_rc 0
ok "load beside a foreign staging: the foreign staging survives load" [ -d "$parent/.$base.b10t-staging.ns1-deadbeef.$dead.0123456789abcdef/sub" ]
rm -rf "$C" "$parent/.$base.b10t-"*

# staging_made: a load's staging dir is beside the cache dir
staging_made() {
	ls -A "$parent" | grep -q "^\.$base\.b10t-staging\."
}
# young PATH: PATH's mtime is under 10 s old
young() {
	[ $(( $(date +%s) - $(stat -c %Y "$1" 2>/dev/null || echo 0) )) -lt 10 ]
}

# A real load in another pid namespace, held (strace delays its final
# rename) with its staging in place: gc and a load here leave it alone.
if unshare --pid --fork true 2>/dev/null && command -v strace >/dev/null; then
	ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}detect_leaks=0" \
	unshare --pid --fork strace -qq -f -o /dev/null -e trace=rename \
		-e inject=rename:delay_enter=6s "$B10T" load --json \
		>"$T_DIR/ns.out" 2>"$T_DIR/ns.err" &
	ns=$!
	wait_for 20 staging_made
	st=$(ls -A "$parent" | grep "^\.$base\.b10t-staging\." | head -1)
	ok "the other namespace's load made a tagged staging dir" sh -c "case '$st' in *.b10t-staging.ns*) [ '$st' != '' ] && ! echo '$st' | grep -q '$TAG' ;; *) exit 1 ;; esac"
	run gc --json
	ok "gc leaves the live foreign load's staging" sh -c '[ -n "$1" ] && [ -d "$2/$1" ]' - "$st" "$parent"
	run load --json
	ok "a load here succeeds meanwhile" expect_rc 0
	ok "a load here meanwhile: leaves the foreign staging" sh -c '[ -n "$1" ] && [ -d "$2/$1" ]' - "$st" "$parent"
	wait $ns; nrc=$?
	ok "the foreign load ends SKIPPED (the cache filled meanwhile)" [ "$nrc" -eq 4 ]
	ok "the foreign load: removed its staging" [ -z "$(ls -A "$parent" | grep "^\.$base\.b10t-")" ]
else
	ok "# SKIP a real foreign pid namespace: needs unshare --pid and strace" true
fi
rm -rf "$C"

# A live load touches its staging dir now and then, so the age rule of
# other namespaces never hits it: slowed down (each file's utimensat waits
# 15 ms), its staging aged by hand is young again a few seconds later.
if command -v strace >/dev/null; then
	mkdir -p "$T_DIR/many"
	i=0; while [ $i -lt 600 ]; do echo $i >"$T_DIR/many/f$i"; i=$((i + 1)); done
	mv "$A" "$T_DIR/keep.tar.lz4"
	run save --cache-dir "$T_DIR/many"
	traced -e trace=utimensat -e inject=utimensat:delay_enter=15ms \
		"$B10T" load --quiet >/dev/null 2>&1 &
	slow=$!
	wait_for 20 staging_made
	st=$(ls -A "$parent" | grep "^\.$base\.b10t-staging\." | head -1)
	[ -n "$st" ] && touch -d '2 hours ago' "$parent/$st"
	# The handshake: the load's next touch moves the mtime (600 files at
	# 15 ms each: about 9 s of load left).
	touched_again() { [ -n "$st" ] && wait_for 30 young "$parent/$st"; }
	ok "a live load's staging dir, aged by hand, is young again" touched_again
	wait $slow; src=$?
	ok "a slow load: the slow load succeeds" [ "$src" -eq 0 ]
	rm -f "$A"; mv "$T_DIR/keep.tar.lz4" "$A"
	rm -rf "$C"
else
	ok "# SKIP a live load touching its staging: needs strace" true
fi

done_testing
