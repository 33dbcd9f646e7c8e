#!/bin/sh
# Run a libFuzzer target for a bounded time over freshly generated seeds.
#   FUZZER=path/to/fuzz-unpack B10T=path/to/b10t run-fuzz.sh
# TAP: seeds generated, no crash, the execution count.  A crashing input is
# kept as $BUILDDIR/fuzz-unpack-crash-* (replay: $FUZZER THAT_FILE).
set -u
: "${FUZZER:?FUZZER must point at the fuzz target}"
: "${SRCDIR:=$(dirname "$0")/..}"
: "${BUILDDIR:=.}"
secs=${B10T_FUZZ_SECONDS:-60}
dir=$(mktemp -d "${TMPDIR:-/tmp}/b10t-fuzz-run.XXXXXX")
trap 'rm -rf "$dir"' EXIT
mkdir "$dir/seeds" "$dir/corpus"
echo "1..3"

if python3 "$SRCDIR/fuzz/gen-seeds.py" "$dir/seeds" >"$dir/gen.log" 2>&1; then
	echo "ok 1 - seeds: $(cat "$dir/gen.log" | tail -1)"
	sed 's/^/# /' "$dir/gen.log" | grep -v seeds
else
	echo "not ok 1 - the seed generator failed"
	sed 's/^/#   /' "$dir/gen.log"
	exit 1
fi

# Extract on a tmpfs when there is one: on a busy disk each mkdir costs
# a millisecond, and the fuzzer would run 30x fewer inputs.
fuzz_tmp=${TMPDIR:-/tmp}
[ -d /dev/shm ] && [ -w /dev/shm ] && fuzz_tmp=/dev/shm
# -timeout: one input taking 10 s is a hang; -max_len fits the seeds.
TMPDIR=$fuzz_tmp "$FUZZER" -max_total_time="$secs" -print_final_stats=1 -timeout=10 \
	-rss_limit_mb=2048 -max_len=131072 -artifact_prefix="$BUILDDIR/fuzz-unpack-" \
	"$dir/corpus" "$dir/seeds" >"$dir/log" 2>&1
rc=$?
if [ $rc -eq 0 ]; then
	echo "ok 2 - no crash, leak, hang or broken safety promise in ${secs}s"
else
	echo "not ok 2 - the fuzzer found a failure (exit $rc)"
	grep -v '^#[0-9]' "$dir/log" | tail -60 | sed 's/^/#   /'
fi
execs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$dir/log")
corpus=$(ls "$dir/corpus" | wc -l)
if [ -n "$execs" ] && [ "$execs" -gt 0 ]; then
	echo "ok 3 - the target ran"
else
	echo "not ok 3 - the target ran (no execution count)"
	tail -20 "$dir/log" | sed 's/^/#   /'
fi
echo "# fuzz executions: ${execs:-0} in ${secs}s, corpus grew to $corpus inputs from $(ls "$dir/seeds" | wc -l) seeds"
[ $rc -eq 0 ] && [ -n "$execs" ]
