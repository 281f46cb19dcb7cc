#!/usr/bin/env bash
# Runs the vitest suite on every declared target other than this machine's own, each on its
# runtime (scripts/runtime.sh: musl Node; arm64 Node under qemu-user) with that target's addon
# from `npm run build:targets`. Which test files run there:
#   musl:  all but packaging.test.ts and targets.test.ts (they test the packages, the CLI and the
#          install with the machine's Node and npm, and targets.test.ts already runs each packed
#          target package on its runtime);
#   arm64: emulated, about 10x slower, so only the files whose results depend on the machine
#          and the runtime (ARM64_FILES): exit statuses, signals, subscriptions, process
#          lifetime, spawning (qemu-user turns its vfork-style clone into a fork), trees,
#          subreaper and PID 1 — not the supervisor's pure logic either.
# Tests that need what a runtime lacks skip themselves by capability (__test__/helpers.ts). A
# target that cannot run here is recorded as skipped, with why.
# Usage: scripts/test-runtimes.sh <results dir> (vitest-<platform>.json files land there).
set -uo pipefail
cd "$(dirname "$0")/.."
results=${1:?usage: scripts/test-runtimes.sh <results dir>}
ARM64_FILES=(__test__/watch.test.ts __test__/subscriptions.test.ts __test__/process-lifetime.test.ts __test__/spawn.test.ts
  __test__/tree.test.ts __test__/subreaper.test.ts)
host=$(node -p "require('./dist/cjs/load-binding.cjs').runningTarget().platform")
# vitest's bundler has a native binding too; its loader reads /usr/bin/ldd (glibc here), so it
# is pointed at the binding of the runtime's own target.
rolldown=$(node -p "require('./node_modules/@rolldown/binding-$host/package.json').version")
eval "$(scripts/runtime.sh --env)"
status=0
mapfile -t targets < <(node scripts/targets.mjs platform prebuilt)
for line in "${targets[@]}"; do
  read -r platform addon <<<"$line"
  [ "$platform" = "$host" ] && continue
  skip() { echo "vitest on $platform: $1" | tee -a "$results/runtimes.skipped"; }
  [ -f "$addon" ] || { skip "its addon is not built (npm run build:targets)"; continue; }
  if ! node=$(scripts/runtime.sh "$platform" 2>"$results/runtime.err"); then
    skip "$(tail -n 1 "$results/runtime.err")"; continue
  fi
  deps=.runtimes/$platform/deps
  binding=$deps/node_modules/@rolldown/binding-$platform
  if [ "$(node -p "try { require('./$binding/package.json').version } catch { '' }")" != "$rolldown" ]; then
    npm install --silent --prefix "$deps" --no-save --no-package-lock --no-audit --no-fund --force \
      "@rolldown/binding-$platform@$rolldown" || { skip "could not fetch @rolldown/binding-$platform"; continue; }
  fi
  cp -f "$addon" . # the loader takes <binary>.<platform>.node from the package root first
  files=(--exclude __test__/packaging.test.ts --exclude __test__/targets.test.ts)
  [[ $platform == *arm64* ]] && files=("${ARM64_FILES[@]}")
  echo; echo "=== vitest on $platform: $("$node" --version), ${files[*]}"
  started=$SECONDS
  PATH="$(dirname "$node"):$PATH" NAPI_RS_NATIVE_LIBRARY_PATH=$(ls "$PWD/$binding"/*.node) \
    "$node" node_modules/vitest/vitest.mjs run --reporter=default --reporter=json \
    --outputFile.json="$results/vitest-$platform.json" "${files[@]}" </dev/null || status=1
  echo "vitest on $platform: $((SECONDS - started)) s"
done
rm -f "$results/runtime.err"
exit $status
