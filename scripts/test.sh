#!/usr/bin/env bash
# The whole test suite: builds, then the Rust tests, then the vitest suite under the
# machine's Node and under Node 22 and 24 (N-API compatibility is tested, not assumed), then,
# when `npm run build:targets` built them, the other declared targets on their runtimes.
# Ends with one line "N passed, N failed, N skipped" over everything that ran; a test that
# needs a tool this machine lacks is skipped, listed with how to get the tool, and counted.
set -uo pipefail
cd "$(dirname "$0")/.."
results=$(mktemp -d)
failed_steps=0

step() { echo; echo "=== $*"; }

step "build (release addon + TypeScript)"
npm run --silent build || exit 1

step "cargo test (exitwatch-core, with fault injection)"
cargo_skips=()
if ! command -v strace >/dev/null; then
  cargo_skips=(--skip strace)
  echo "cargo tests named *strace*: strace is not installed (apt-get install strace)" >"$results/cargo.skipped"
fi
cargo test -p exitwatch-core --all-features --no-fail-fast -- "${cargo_skips[@]}" 2>&1 | tee "$results/cargo.txt" \
  || failed_steps=$((failed_steps + 1))
cargo test -p exitwatch-init --no-fail-fast 2>&1 | tee -a "$results/cargo.txt" || failed_steps=$((failed_steps + 1))

step "lint (cargo fmt --check, cargo clippy -D warnings)"
{ cargo fmt --check && cargo clippy --quiet --workspace --all-targets --all-features -- -D warnings; } \
  || failed_steps=$((failed_steps + 1))

step "type-check the other declared targets (cargo check)"
scripts/check-targets.sh | tee >(grep SKIPPED >"$results/check-targets.skipped") || failed_steps=$((failed_steps + 1))

nodes=("$(command -v node)")
mapfile -t -O 1 nodes < <(scripts/node-versions.sh) || { echo "could not fetch Node 22/24"; exit 1; }
for node in "${nodes[@]}"; do
  version=$("$node" --version)
  step "vitest under Node $version"
  # The packed target packages are tested once, under the machine's Node.
  once=()
  [ "$node" = "${nodes[0]}" ] || once=(--exclude __test__/targets.test.ts)
  PATH="$(dirname "$node"):$PATH" "$node" node_modules/vitest/vitest.mjs run "${once[@]}" \
    --reporter=default --reporter=json --outputFile.json="$results/vitest-$version.json" \
    || failed_steps=$((failed_steps + 1))
done

step "vitest on the other declared targets' runtimes (musl Node; arm64 Node under qemu-user)"
scripts/test-runtimes.sh "$results" || failed_steps=$((failed_steps + 1))

node scripts/summarize-tests.mjs "$results"
summary=$?
rm -rf "$results"
[ "$failed_steps" -eq 0 ] && [ "$summary" -eq 0 ]
