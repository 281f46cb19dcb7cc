#!/usr/bin/env bash
# Installs the packed packages into a fresh project, offline and with no Rust toolchain on
# PATH, then runs an ESM, a CommonJS and a strict TypeScript consumer and the CLI there.
# Expects a build (npm run build). Prints "install: ok" at the end.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
mapfile -t tarballs < <(node "$root/scripts/pack.mjs")
main=${tarballs[0]}
host=$(node -p "require('$root/dist/cjs/load-binding.cjs').runningTarget().platform")
platform=$(printf '%s\n' "${tarballs[@]:1}" | awk -v host="$host" '$1 == host { print $2 }')
[ -n "$platform" ] || { echo "no $host package was packed: run npm run build"; exit 1; }

# Size check: the main package carries no binary, tests or Rust sources.
listing=$(tar -tzf "$main")
if grep -Eq '\.node$|\.rs$|__test__|crates/|Cargo' <<<"$listing"; then
  echo "main package contains files it must not:"; grep -E '\.node$|\.rs$|__test__|crates/|Cargo' <<<"$listing"; exit 1
fi
main_kb=$(( $(stat -c %s "$main") / 1024 ))
platform_kb=$(( $(stat -c %s "$platform") / 1024 ))
echo "main package: ${main_kb} KiB, $(wc -l <<<"$listing") files; $host package: ${platform_kb} KiB"
[ "$main_kb" -lt 200 ] || { echo "main package too large"; exit 1; }
[ "$platform_kb" -lt 2048 ] || { echo "binary package too large"; exit 1; }

project=$(mktemp -d)
trap 'rm -rf "$project"' EXIT
cd "$project"
# A PATH with node and npm but no cargo or rustc: nothing may compile on install.
mkdir tools
ln -s "$(command -v node)" tools/node
ln -s "$(command -v npm)" tools/npm
export PATH="$project/tools:/usr/bin:/bin"
if command -v cargo >/dev/null || command -v rustc >/dev/null; then echo "a Rust toolchain is still on PATH"; exit 1; fi
echo '{ "name": "consumer", "version": "1.0.0", "private": true }' > package.json
npm install --offline --no-audit --no-fund --loglevel=error "$main" "$platform" >/dev/null

cat > smoke.mjs <<'JS'
import { spawn } from 'node:child_process'
import { ExitMonitor } from 'exitwatch'
const exit = await ExitMonitor.shared().watch(spawn('sh', ['-c', 'exit 7'])).exited
if (exit.code !== 7) throw new Error(`ESM: expected 7, got ${JSON.stringify(exit)}`)
console.log('esm: ok')
JS
cat > smoke.cjs <<'JS'
const { spawn } = require('node:child_process')
const { ExitMonitor, ExitwatchError } = require('exitwatch')
ExitMonitor.shared().watch(spawn('sh', ['-c', 'kill -TERM $$'])).exited.then((exit) => {
  if (exit.signal !== 'SIGTERM' || typeof ExitwatchError !== 'function') throw new Error(`CJS: ${JSON.stringify(exit)}`)
  console.log('cjs: ok')
})
JS
cat > consumer.mts <<'TS'
import { spawn } from 'node:child_process'
import { ExitMonitor, ExitwatchError, type ExitInfo, type Stats } from 'exitwatch'
const monitor: ExitMonitor = ExitMonitor.shared()
const exit: ExitInfo = await monitor.watch(spawn('sh', ['-c', 'exit 9'])).exited
const code: number | null = exit.code
try {
  monitor.watch(-1)
} catch (error) {
  if (!(error instanceof ExitwatchError) || error.code !== 'EINVAL') throw error
}
const stats: Stats = monitor.stats()
if (code !== 9 || stats.exitsObserved < 1) throw new Error('TypeScript consumer failed')
console.log('typescript: ok')
TS
node smoke.mjs
node smoke.cjs
"$root/node_modules/.bin/tsc" --strict --module nodenext --moduleResolution nodenext --target es2022 \
  --typeRoots "$root/node_modules/@types" --types node consumer.mts
node consumer.mjs
./node_modules/.bin/exitwatch --help | head -n 1
sh -c 'sleep 2; exit 5' &
./node_modules/.bin/exitwatch wait $! | grep -q 'exited with code 5' || { echo 'cli: FAILED'; exit 1; }
echo 'cli: ok'
echo "install: ok"
