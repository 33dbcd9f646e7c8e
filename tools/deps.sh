#!/bin/sh
# Install what b10t needs to build and test, from Debian's packages
# (the Python venv of the e2e tests is tools/venv.sh: pip, not apt).
set -eu
PKGS="meson ninja-build pkg-config gcc clang libclang-rt-14-dev libarchive-dev
liblz4-dev libxxhash-dev zlib1g-dev libcjson-dev nettle-dev libcurl4-openssl-dev scdoc lz4 zstd jq
python3 python3-venv g++ util-linux valgrind tar gzip zsh fish"
missing=
for p in $PKGS; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
SUDO=
[ "$(id -u)" -eq 0 ] || SUDO=sudo
echo "installing:$missing" >&2
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
