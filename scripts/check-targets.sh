#!/usr/bin/env bash
# Type-checks the core and the binding for the declared targets this machine cannot run
# (musl, arm64), so platform differences in libc bindings fail here rather than at release.
# Skips, saying so, when rustup cannot install a target's standard library.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
for target in x86_64-unknown-linux-musl aarch64-unknown-linux-gnu aarch64-unknown-linux-musl; do
  if ! rustup target list --installed | grep -qx "$target" && ! timeout 120 rustup target add "$target" >/dev/null 2>&1; then
    echo "check $target: SKIPPED (rustup could not install its standard library)"
    continue
  fi
  if cargo check --quiet --release -p exitwatch-core -p exitwatch-node --target "$target"; then
    echo "check $target: ok"
  else
    echo "check $target: FAILED"; status=1
  fi
done
exit $status
