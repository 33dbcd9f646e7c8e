# Sourced by tools/test.sh (and tests/cli/t-testsh.sh): setup(), which
# makes or refreshes a meson build dir and builds it.  No side effects when
# sourced.

# setup DIR [meson options]: run in the source dir.  A new DIR is set up; an
# existing one gets today's options (meson configure), or, where meson cannot
# read it any more (another meson's dir, a damaged one), is wiped and set up
# again.  Quiet when it builds; the compiler's own words (DIR/ninja.log)
# when it does not.  0, or 1 after saying why.
setup() {
	dir=$1; shift
	if [ -f "$dir/meson-private/coredata.dat" ]; then
		meson configure "$dir" "$@" >/dev/null 2>&1 ||
			meson setup --wipe "$dir" "$@" >/dev/null || return 1
	else
		meson setup "$dir" "$@" >/dev/null || return 1
	fi
	ninja -C "$dir" >"$dir/ninja.log" 2>&1 || { cat "$dir/ninja.log"; return 1; }
}
