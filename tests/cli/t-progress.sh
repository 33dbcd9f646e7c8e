#!/bin/sh
# The progress bar of load and save on a terminal: percentage, total and
# ETA (load's total from the archive's manifest, save's from the tree it
# measured), and with TERM=dumb plain lines without control codes.
. "$(dirname "$0")/lib.sh"

command -v script >/dev/null 2>&1 || skip_all "script(1) not found (gives b10t a terminal)"

# 100 files of 50,000 bytes: 5,000,000 bytes, "4.8 MiB"; past the 64
# files after which the library reports progress, so a bar is drawn
# before the end.
mkdir -p "$TORCHINDUCTOR_CACHE_DIR"
i=0
while [ $i -lt 100 ]; do
	head -c 50000 /dev/urandom >"$TORCHINDUCTOR_CACHE_DIR/f$i"
	i=$((i + 1))
done
ESC=$(printf '\033') CR=$(printf '\r')

# on_tty TERM OUT VERB...: run b10t VERB on a terminal (its \n not made \r\n)
on_tty() {
	_term=$1 _out=$2; shift 2
	TERM=$_term script -qec "stty -onlcr; '$B10T' $*" /dev/null >"$_out" 2>&1
}

on_tty xterm "$T_DIR/save.tty" save
ok "save on a terminal: SUCCESS" grep -q "save: SUCCESS" "$T_DIR/save.tty"
ok "save: the bar has %, done of total, and an ETA" \
	grep -Eq "save: +[0-9]+% [0-9.]+ [KM]i?B of 4\.8 MiB, [0-9]+ files?, [0-9.]+ [KMG]?i?B/s, ETA [0-9]+(s|m[0-9]{2}s)" "$T_DIR/save.tty"
ok "save: its last state is 100% of the total, with the time taken" \
	grep -Eq "save: 100% 4\.8 MiB of 4\.8 MiB, 100 files, .*, done in [0-9.]+s" "$T_DIR/save.tty"
ok "save: on a terminal the bar is redrawn in place" grep -q "${CR}${ESC}\[K" "$T_DIR/save.tty"

rm -rf "$TORCHINDUCTOR_CACHE_DIR"
on_tty xterm "$T_DIR/load.tty" load
ok "load on a terminal: SUCCESS" grep -q "load: SUCCESS" "$T_DIR/load.tty"
ok "load: the total is the manifest's, from the start, with an ETA" \
	grep -Eq "load: +[0-9]+% [0-9.]+ [KM]i?B of 4\.8 MiB, [0-9]+ files?, .*, ETA [0-9]+(s|m[0-9]{2}s)" "$T_DIR/load.tty"
ok "load: its last state is 100% of the total" \
	grep -Eq "load: 100% 4\.8 MiB of 4\.8 MiB, 100 files, .*, done in" "$T_DIR/load.tty"

# TERM=dumb (an editor's shell, a CI log on a pty): lines, no control codes
rm -rf "$TORCHINDUCTOR_CACHE_DIR"
on_tty dumb "$T_DIR/load.dumb" load
ok "TERM=dumb: load SUCCESS" grep -q "load: SUCCESS" "$T_DIR/load.dumb"
ok "TERM=dumb: no escape sequence" sh -c '! grep -q "$1" "$2"' - "$ESC" "$T_DIR/load.dumb"
ok "TERM=dumb: no carriage return" sh -c '! grep -q "$1" "$2"' - "$CR" "$T_DIR/load.dumb"
ok "TERM=dumb: the progress as whole lines, %, total and ETA" \
	grep -Eq "^load: +[0-9]+% .* of 4\.8 MiB, .*, ETA " "$T_DIR/load.dumb"
ok "TERM=dumb: and the last one" grep -Eq "^load: 100% 4\.8 MiB of 4\.8 MiB, 100 files, " "$T_DIR/load.dumb"
"$B10T" clear -q
unpublish "$B10FS_CACHE_DIR" "$("$B10T" envkey)"
mkdir -p "$TORCHINDUCTOR_CACHE_DIR"
head -c 50000 /dev/urandom >"$TORCHINDUCTOR_CACHE_DIR/f0"
env -u TERM script -qec "stty -onlcr; '$B10T' save" /dev/null >"$T_DIR/save.noterm" 2>&1
ok "TERM unset: as dumb, no escape sequence" sh -c '! grep -q "$1" "$2" && grep -q "save: SUCCESS" "$2"' - "$ESC" "$T_DIR/save.noterm"

# not a terminal: no bar at all, whatever TERM says
rm -rf "$TORCHINDUCTOR_CACHE_DIR"
TERM=xterm run load
ok "not a terminal: no bar" sh -c '! printf "%s" "$1" | grep -q "%"' - "$ERR"

done_testing
