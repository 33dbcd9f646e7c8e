# TAP for the shell suites (cli, python, netfs, reliability): sourced by
# their lib.sh, so every suite counts, passes and fails the same way.
T_N=0
T_FAILED=0

# ok DESCRIPTION COMMAND...: passes when COMMAND exits 0, and returns its
# status, so `ok ... || diagnostics` shows them exactly when it failed.
ok() {
	desc=$1; shift
	T_N=$((T_N + 1))
	if "$@"; then
		echo "ok $T_N - $desc"
		return 0
	fi
	echo "not ok $T_N - $desc"
	T_FAILED=$((T_FAILED + 1))
	return 1
}

# The plan last, and the exit status of the whole file.
done_testing() {
	echo "1..$T_N"
	[ "$T_FAILED" -eq 0 ]
}
