#!/usr/bin/env bash
# The whole test suite: builds, then the Rust tests, then the vitest suite under the
# machine's Node and under Node 22 and 24 (N-API compatibility is tested, not assumed).
# Ends with one line "N passed, N failed, N skipped" over everything that ran.
set -uo pipefail
cd "$(dirname "$0")/.."
results=$(mktemp -d)
failed_steps=0

step() { echo; echo "=== $*"; }

step "build (release addon + TypeScript)"
npm run --silent build || exit 1

step "cargo test (exitwatch-core, with fault injection)"
cargo test -p exitwatch-core --all-features --no-fail-fast 2>&1 | tee "$results/cargo.txt" || failed_steps=$((failed_steps + 1))
cargo test -p exitwatch-init --no-fail-fast 2>&1 | tee -a "$results/cargo.txt" || failed_steps=$((failed_steps + 1))

step "lint (cargo fmt --check, cargo clippy -D warnings)"
{ cargo fmt --check && cargo clippy --quiet --workspace --all-targets --all-features -- -D warnings; } \
  || failed_steps=$((failed_steps + 1))

step "type-check the targets this machine cannot run (musl, arm64)"
scripts/check-targets.sh || failed_steps=$((failed_steps + 1))

nodes=("$(command -v node)")
mapfile -t -O 1 nodes < <(scripts/node-versions.sh) || { echo "could not fetch Node 22/24"; exit 1; }
for node in "${nodes[@]}"; do
  version=$("$node" --version)
  step "vitest under Node $version"
  PATH="$(dirname "$node"):$PATH" "$node" node_modules/vitest/vitest.mjs run \
    --reporter=default --reporter=json --outputFile.json="$results/vitest-$version.json" \
    || failed_steps=$((failed_steps + 1))
done

node scripts/summarize-tests.mjs "$results"
summary=$?
rm -rf "$results"
[ "$failed_steps" -eq 0 ] && [ "$summary" -eq 0 ]
