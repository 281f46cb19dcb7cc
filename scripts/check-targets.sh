#!/usr/bin/env bash
# Type-checks the core and the binding for every declared target (package.json's napi.targets)
# other than the machine's own, so platform differences in libc bindings fail here, in seconds,
# even where `npm run build:targets` has not run. Skips, saying so, when rustup cannot install
# a target's standard library.
set -uo pipefail
cd "$(dirname "$0")/.."
status=0
host=$(rustc -vV | sed -n 's/^host: //p')
for target in $(node scripts/targets.mjs triple); do
  [ "$target" = "$host" ] && continue
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
