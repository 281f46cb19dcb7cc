// Builds the addon for every target in package.json's napi.targets, from this one machine, with
// cargo-zigbuild (zig as the cross linker and C library provider): x64 and arm64, glibc and
// musl. glibc builds link against glibc GLIBC_FLOOR symbols, so they load on every distribution
// with that glibc or newer. Each lands in prebuilds/<platform>/<binaryName>.<platform>.node,
// where scripts/pack.mjs takes it from. Installs what it lacks: the Rust targets (rustup), zig
// and cargo-zigbuild (PyPI, pinned). Then builds the init binary when scripts/build-init.mjs exists.
// Run after `npm run build` (it reads the target list through the built loader).
import { execFileSync } from 'node:child_process'
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { binaryName, prebuilt, root, TARGETS } from './targets.mjs'

const GLIBC_FLOOR = '2.17'
const ZIG_TOOLS = ['ziglang==0.17.1', 'cargo-zigbuild==0.24.1']

const run = (command, args, options = {}) => execFileSync(command, args, { cwd: root, stdio: 'inherit', ...options })
const succeeds = (command, args) => {
  try {
    execFileSync(command, args, { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

const installed = execFileSync('rustup', ['target', 'list', '--installed'], { encoding: 'utf8' }).split('\n')
const missing = TARGETS.map((t) => t.triple).filter((triple) => !installed.includes(triple))
if (missing.length > 0) run('rustup', ['target', 'add', ...missing])
// zig and cargo-zigbuild in a private virtual environment (.tools/venv), first on PATH: the
// machine's Python stays untouched, and cargo-zigbuild finds zig as `python3 -m ziglang`.
const venv = join(root, '.tools', 'venv')
if (!succeeds(join(venv, 'bin', 'cargo-zigbuild'), ['--help'])) {
  run('python3', ['-m', 'venv', venv])
  run(join(venv, 'bin', 'pip'), ['install', '--quiet', ...ZIG_TOOLS])
}
const env = { ...process.env, PATH: `${join(venv, 'bin')}:${process.env.PATH}` }

for (const target of TARGETS) {
  const started = Date.now()
  const triple = target.libc === 'glibc' ? `${target.triple}.${GLIBC_FLOOR}` : target.triple
  const out = mkdtempSync(join(tmpdir(), 'exitwatch-build-'))
  run('nice', [
    'npx', 'napi', 'build', '--platform', '--release', '--cross-compile', '--target', triple,
    '--manifest-path', 'crates/node/Cargo.toml', '--package-json-path', 'package.json',
    '--output-dir', out, '--no-js', '--dts', 'unused.d.ts',
  ], { env })
  const file = `${binaryName}.${target.platform}.node`
  mkdirSync(join(root, 'prebuilds', target.platform), { recursive: true })
  copyFileSync(join(out, file), prebuilt(target))
  rmSync(out, { recursive: true, force: true })
  console.log(`built ${target.platform} (${triple}) in ${Math.round((Date.now() - started) / 1000)} s`)
}

const buildInit = fileURLToPath(new URL('build-init.mjs', import.meta.url))
if (existsSync(buildInit)) run(process.execPath, [buildInit])
