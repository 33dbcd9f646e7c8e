#!/bin/sh
# b10t doctor: the store's publish operations probed for real, the
# filesystems named, exit 0 only where save can publish; and save's publish
# path: a filesystem that cannot publish is told from an I/O error by the
# same probe (shims: tests/no-renameat2.c, tests/no-link.c), a retried NFS
# link()/rename() whose first reply was lost is our SUCCESS.
. "$(dirname "$0")/lib.sh"

S=$B10FS_CACHE_DIR
C=$TORCHINDUCTOR_CACHE_DIR
mkdir -p "$C/a"
echo "kernel" >"$C/a/k.py"
KEY=$("$B10T" envkey)
NAME=cache_$KEY.g1	# the claim save publishes
one_published() { only_published "$S" "$KEY"; }

# b10t with a shim preloaded into it only (python3 and jq are not built with
# the sanitizers b10t may be)
preload() {	# preload LIB ARGS...: run b10t with LD_PRELOAD=LIB
	lib=$1; shift
	LD_PRELOAD=$lib "$B10T" "$@" >"$T_DIR/out" 2>"$T_DIR/err"
	rc=$?
	OUT=$(cat "$T_DIR/out")
	ERR=$(cat "$T_DIR/err")
}
store_is_empty() {	# nothing left: no probe dir, no upload
	[ -z "$(ls -A "$S")" ] && return 0
	echo "#   left in the store: $(ls -A "$S" | tr '\n' ' ')"
	return 1
}
one_line() { [ "$(wc -l <"$T_DIR/err")" = 1 ] || { sed 's/^/#   err: /' "$T_DIR/err"; return 1; }; }

# ---- local filesystem
run doctor
ok "local fs: exit 0" expect_rc 0
ok "local fs: publish with renameat2" contains "$OUT" "publish:               renameat2"
ok "local fs: every probe answers yes" sh -c '! grep -E "^  (renameat2|link|st_nlink|O_EXCL|fsync).*: no" "$1"' - "$T_DIR/out"
ok "local fs: nothing left in the store" store_is_empty
run doctor --json
ok "--json: exit 0" expect_rc 0
ok "--json: status SUCCESS" jq_is .status SUCCESS
ok "--json: publish_path renameat2" jq_is .publish_path renameat2
ok "--json: can_publish" jq_is .can_publish true
ok "--json: store writable" jq_is .store.writable true
ok "--json: probes ok" jq_is '[.probe.renameat2_noreplace.ok, .probe.link.ok, .probe.st_nlink.ok, .probe.st_nlink.value, .probe.o_excl.ok, .probe.fsync.ok] | map(tostring) | join(",")' "true,true,true,2,true,true"
ok "--json: free bytes and inodes are integers" jq_is '[.store.bytes_free, .store.inodes_free] | map(type) | join(",")' "number,number"
if command -v findmnt >/dev/null; then
	want=$(findmnt -n -o FSTYPE -T "$S" | head -1)
	ok "--json: the store's fstype is mountinfo's ($want)" jq_is .store.fstype "$want"
	want=$(findmnt -n -o TARGET -T "$S" | head -1)
	ok "--json: the store's mount ($want)" jq_is .store.mount "$want"
fi
ok "--json: the store dir is no mount point" jq_is .store.mount_point false
ok "--json: nothing left in the store" store_is_empty

# ---- tmpfs: its name, mount points
M=$T_DIR/tmpfs
mkdir -p "$M"
if [ "$(id -u)" = 0 ] && mount -t tmpfs b10t-doctor "$M" 2>/dev/null; then
	mkdir "$M/cache"
	run doctor --json --store "$M" --cache-dir "$M/cache"
	ok "tmpfs: exit 0" expect_rc 0
	ok "tmpfs: fstype tmpfs, statfs tmpfs" jq_is '.store.fstype + "," + .store.statfs_type' "tmpfs,tmpfs"
	ok "tmpfs: the store is a mount point" jq_is .store.mount_point true
	ok "tmpfs: source" jq_is .store.source b10t-doctor
	ok "tmpfs: the cache dir is inside it, no mount point" jq_is '.cache.fstype + "," + (.cache.mount_point | tostring)' "tmpfs,false"
	ok "tmpfs: nothing left" [ "$(ls -A "$M")" = cache ]
	mount -o remount,ro "$M"
	run doctor --json --store "$M" --cache-dir "$M/cache"
	ok "read-only store: exit 1" expect_rc 1
	ok "read-only store: not writable, the reason" jq_is '(.store.writable | tostring) + " " + (.store.probe_error | test("^making the probe dir .*/\\.b10t-doctor\\..*: Read-only file system$") | tostring)' "false true"
	ok "read-only store: says why" contains "$ERR" "Read-only file system"
	ok "read-only store: publish_path unknown" jq_is .publish_path unknown
	umount "$M"
else
	echo "ok $((T_N += 1)) - tmpfs cases # SKIP needs root to mount a tmpfs"
fi

# ---- the store missing
run doctor --store "$T_DIR/nonexistent"
ok "missing store: exit 1" expect_rc 1
ok "missing store: says so" contains "$ERR" "No such file or directory"
run doctor --json --store "$T_DIR/nonexistent"
ok "missing store --json: exists false" jq_is .store.exists false
ok "missing store --json: status ERROR" jq_is .status ERROR

# ---- no renameat2 NOREPLACE (NFS): link() is the path
if [ -f "${NO_RENAMEAT2:-}" ] && [ -f "${NO_LINK:-}" ]; then
	preload "$NO_RENAMEAT2" doctor
	ok "no renameat2: exit 0" expect_rc 0
	ok "no renameat2: publish with link" contains "$OUT" "publish:               link"
	ok "no renameat2: renameat2 no, and why" contains "$OUT" "renameat2 NOREPLACE: no: renameat2(RENAME_NOREPLACE): Invalid argument"
	preload "$NO_RENAMEAT2" save
	ok "no renameat2: save SUCCESS" expect_rc 0
	ok "no renameat2, save: the claim and its archive, one link each, no upload" one_published
	rm -f "$S"/*

	# ---- neither (rclone): doctor says so, save refuses in one line
	preload "$NO_LINK" doctor
	ok "no link: doctor exit 1" expect_rc 1
	ok "no link: publish none" contains "$OUT" "publish:               none: this filesystem cannot publish safely"
	ok "no link: link no, EIO" contains "$OUT" "link:                no: link(): Input/output error"
	ok "no link: one line on stderr" one_line
	ok "no link: nothing left" store_is_empty
	preload "$NO_LINK" doctor --json
	ok "no link --json: publish_path none, can_publish false" jq_is '.publish_path + "," + (.can_publish | tostring)' "none,false"
	ok "no link --json: status ERROR with the reason" jq_is '.error | test("cannot publish safely")' true
	preload "$NO_LINK" save
	ok "no link: save exit 1" expect_rc 1
	ok "no link: save says the filesystem cannot publish" contains "$ERR" "this filesystem cannot publish without replacing (no RENAME_NOREPLACE: Invalid argument; no link(): Input/output error)"
	ok "no link: ... and what to do" contains "$ERR" "see b10t doctor"
	ok "no link: ... in one line" one_line
	ok "no link: no upload, no probe dir left" store_is_empty
	preload "$NO_LINK" save --json
	ok "no link: save --json ERROR with the reason" jq_is '.status + " " + (.error | test("cannot publish without replacing") | tostring)' "ERROR true"

	# ---- a real I/O error where the filesystem can publish
	NO_LINK_PREFIX=cache_ preload "$NO_LINK" save
	ok "I/O error: save exit 1" expect_rc 1
	ok "I/O error: both errors, told from a missing feature" contains "$ERR" "renameat2: Invalid argument; link(): Input/output error (the store's filesystem can publish: an error of this publish, not a missing feature)"
	ok "I/O error: in one line" one_line
	ok "I/O error: nothing left" store_is_empty
	NO_LINK_PREFIX=cache_ preload "$NO_LINK" doctor
	ok "I/O error: doctor (whose probe links) exit 0, link" sh -c '[ "$1" = 0 ] && printf "%s\n" "$2" | grep -q "^publish: *link$"' - "$rc" "$OUT"

	# ---- NFS: a retried link() or rename() whose first reply was lost
	NO_LINK_MODE=lost preload "$NO_LINK" save
	ok "lost link reply (EEXIST, st_nlink 2): save SUCCESS" expect_rc 0
	ok "lost link reply (EEXIST, st_nlink 2), save: the claim and its archive, one link each, no upload" one_published
	NO_LINK_MODE=lost preload "$NO_LINK" save
	ok "published already: SKIPPED" expect_rc 4
	rm -f "$S"/*
	NO_LINK_MODE=lost-rename preload "$NO_LINK" save
	ok "lost rename reply (EIO, the name is our inode): save SUCCESS" expect_rc 0
	ok "lost rename reply (EIO, the name is our inode), save: the claim and its archive, no upload" one_published
	# A link that answers EEXIST because another save published first:
	# the name is not our inode, so SKIPPED (and the other archive stays).
	rm -f "$S"/*
	run save -q
	ok "existing archive: the first save publishes it" expect_rc 0
	ino=$(stat -c %i "$S/$NAME")
	rm -rf "$T_DIR/c2" && mkdir -p "$T_DIR/c2" && echo other >"$T_DIR/c2/x.py"
	# the name exists: save's cheap check says SKIPPED before packing; the
	# publish-time EEXIST is t-concurrency's race (16 saves, link path)
	NO_LINK_MODE=lost TORCHINDUCTOR_CACHE_DIR=$T_DIR/c2 preload "$NO_LINK" save
	ok "existing archive: SKIPPED, untouched" sh -c '[ "$1" = 4 ] && [ "$(stat -c %i "$2")" = "$3" ]' - "$rc" "$S/$NAME" "$ino"
	rm -f "$S"/*
else
	echo "ok $((T_N += 1)) - shim cases # SKIP NO_RENAMEAT2/NO_LINK shims not built"
fi

# ---- gc and list leave a probe dir in flight alone; gc removes a dead one
P="$S/.b10t-doctor.otherhost.123.0123456789abcdef"
mkdir "$P" && echo x >"$P/a"
run save -q
ok "gc with a probe dir: a save publishes beside it" expect_rc 0
run gc --all --stale 0s --max-size 0
ok "gc with a probe dir: exit 0" expect_rc 0
ok "gc leaves a probe dir in flight (under 10 s old) and its file" [ -f "$P/a" ]
touch -d '2 days ago' "$P/a" "$P"
run gc --json
ok "gc removes a probe dir a killed probe left (2 days old)" [ ! -e "$P" ]
ok "gc reports it with reason probe" jq_is '[.removed[] | select(.reason == "probe") | .filename] | join(" ")' "${P##*/}"
mkdir "$P" && echo x >"$P/a"
run list --json
ok "list with a probe dir: exit 0" expect_rc 0
ok "list does not show it" sh -c '! grep -q b10t-doctor "$1"' - "$T_DIR/out"
rm -rf "$P" "$S"/*

# ---- usage
run help doctor
ok "help doctor: exit 0" expect_rc 0
ok "help doctor: the summary" contains "$OUT" "Probe what the store's filesystem can do."
run doctor extra
ok "an operand: usage error" expect_rc 2

done_testing
