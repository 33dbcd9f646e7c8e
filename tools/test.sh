#!/bin/sh
# Install, build and run the whole test suite:
#   1. the normal build (gcc, debugoptimized): every suite, with the
#      end-to-end tests on real torch.compile caches (tools/venv.sh makes
#      their venv: torch 2.13.0+cpu and b10-transfer), then the netfs-ci
#      suite: the store on JuiceFS and sshfs, each mounted twice
#      (docs/netfs.md; skips without /dev/fuse);
#   2. the same suites under ASan + UBSan (clang), float-cast-overflow too;
#   3. valgrind memcheck over the CLI tests of load and save;
#   4. the libFuzzer targets for a bounded time (clang).
# Ends with one line "N passed, N failed, N skipped" over all of them and
# exits non-zero when anything failed.  STAGES="1 2" runs only some.
set -u
cd "$(dirname "$0")/.."
tools/deps.sh || exit 1
STAGES=${STAGES:-"1 2 3 4"}
B=${BUILD:-build}
logs=
rc=0

# setup DIR [meson options]: set up or refresh DIR, build it, show the
# compiler's output when that fails.
. tools/build-dir.sh

stage() { echo; echo "=== $*"; }

for s in $STAGES; do
	case $s in
	1)
		stage "tests ($B)"
		setup "$B" || { rc=1; continue; }
		# Without the venv (no pip index) the e2e tests skip and say why.
		tools/venv.sh || echo "warning: tools/venv.sh failed: the e2e tests will skip" >&2
		meson test -C "$B" --print-errorlogs --num-processes 2 --no-suite fuzz --no-suite valgrind || rc=1
		cp "$B/meson-logs/testlog.json" "$B/meson-logs/testlog-main.json"
		logs="$logs $B/meson-logs/testlog-main.json"
		# Apart from the rest: these mount FUSE and start daemons, one at a
		# time. NETFS_CI=0 leaves them out.
		if [ "${NETFS_CI:-1}" != 0 ]; then
			rm -f "$B/meson-logs/testlog.json"
			meson test -C "$B" --print-errorlogs --suite netfs-ci || rc=1
			if [ -f "$B/meson-logs/testlog.json" ]; then
				mv "$B/meson-logs/testlog.json" "$B/meson-logs/testlog-netfs.json"
				logs="$logs $B/meson-logs/testlog-netfs.json"
			fi
		fi
		;;
	2)
		stage "tests under ASan + UBSan ($B-asan)"
		# float-cast-overflow is not in clang's -fsanitize=undefined: it
		# catches a double out of range converted to an integer (a manifest's
		# 1e300 read as a count, tests/cli/t-manifest.sh).
		fco=-fsanitize=float-cast-overflow
		CC=clang setup "$B-asan" -Db_sanitize=address,undefined -Db_lundef=false \
			-Dbuildtype=debug -Dc_args=$fco -Dc_link_args=$fco || { rc=1; continue; }
		ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
		UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
			meson test -C "$B-asan" --print-errorlogs --num-processes 2 \
			--no-suite fuzz --no-suite valgrind --no-suite slow --no-suite e2e --no-suite python \
			--timeout-multiplier 3 || rc=1
		logs="$logs $B-asan/meson-logs/testlog.json"
		;;
	3)
		stage "valgrind memcheck over the CLI tests of load and save ($B)"
		setup "$B" || { rc=1; continue; }
		rm -f "$B/meson-logs/testlog.json"
		meson test -C "$B" --print-errorlogs --num-processes 2 \
			--suite valgrind --timeout-multiplier 4 || rc=1
		if [ -f "$B/meson-logs/testlog.json" ]; then
			mv "$B/meson-logs/testlog.json" "$B/meson-logs/testlog-valgrind.json"
			logs="$logs $B/meson-logs/testlog-valgrind.json"
		fi
		;;
	4)
		stage "fuzzing ($B-fuzz)"
		CC=clang setup "$B-fuzz" -Dfuzz=true -Db_lundef=false || { rc=1; continue; }
		rm -f "$B-fuzz/meson-logs/testlog.json"
		meson test -C "$B-fuzz" --print-errorlogs --suite fuzz --timeout-multiplier 2 || rc=1
		[ -f "$B-fuzz/meson-logs/testlog.json" ] && logs="$logs $B-fuzz/meson-logs/testlog.json"
		;;
	esac
done
echo
python3 tools/testlog-summary.py $logs || rc=1
exit $rc
