#!/usr/bin/env node
// Runs the native exitwatch-init binary with this command's arguments. The binary comes from
// this platform's package (exitwatch-linux-<arch>-<libc>: a static binary, the same for gnu
// and musl), or from a development checkout (init-bin/, then target/release/).
import { spawnSync } from 'node:child_process'
import { existsSync, realpathSync } from 'node:fs'
import { createRequire } from 'node:module'
import { constants } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = fileURLToPath(new URL('..', import.meta.url))
const arch = { x64: 'x64', arm64: 'arm64' }[process.arch]

/** Where the exitwatch-init binary for this machine is; throws, saying where it looked. */
export function findInitBinary() {
  const require = createRequire(import.meta.url)
  const candidates = []
  for (const libc of ['gnu', 'musl']) {
    const platform = `linux-${arch}-${libc}`
    try {
      candidates.push(join(dirname(require.resolve(`exitwatch-${platform}/package.json`)), 'exitwatch-init'))
    } catch {
      // that package is not installed
    }
    candidates.push(join(root, 'init-bin', platform, 'exitwatch-init'))
  }
  candidates.push(join(root, 'target', 'release', 'exitwatch-init'))
  const found = candidates.find((path) => existsSync(path))
  if (process.platform !== 'linux' || !arch || !found) {
    throw new Error(
      `exitwatch-init: no binary for ${process.platform}-${process.arch} (looked in: ${candidates.join(', ')}). ` +
        'It ships in the exitwatch-linux-<x64|arm64>-<gnu|musl> packages; in a checkout, run npm run build.',
    )
  }
  return found
}

/** Signals passed on to the init when this process cannot replace itself with it. */
const FORWARDED = ['SIGHUP', 'SIGINT', 'SIGQUIT', 'SIGUSR1', 'SIGUSR2', 'SIGTERM', 'SIGWINCH', 'SIGALRM', 'SIGCONT', 'SIGPWR']

/**
 * `env` that can reset signal dispositions (coreutils 8.31+), or null. Node ignores SIGPIPE
 * and SIGXFSZ, and an ignored signal survives exec: the init would hand that on to its child.
 */
function envResettingSignals() {
  const env = ['/usr/bin/env', '/bin/env'].find((path) => existsSync(path))
  return env && spawnSync(env, [`--default-signal=${NODE_IGNORES}`, 'true']).status === 0 ? env : null
}
const NODE_IGNORES = 'PIPE,XFSZ'

/**
 * Becomes exitwatch-init with `args`: replaces this process with it where Node can
 * (process.execve, Node 22.15+/23.11+; through `env --default-signal` so the signals Node
 * ignores reach the child at their defaults), so there is one init, not two. Otherwise it runs
 * as this process's child, started by exitwatch's spawn (no fork of this Node process; the
 * child starts with default signal dispositions), gets the signals this process receives, and
 * its exit status is passed on.
 */
export async function execInit(args) {
  const binary = findInitBinary()
  const env = typeof process.execve === 'function' ? envResettingSignals() : null
  if (env) process.execve(env, [env, `--default-signal=${NODE_IGNORES}`, binary, ...args], process.env)
  const { ExitMonitor } = await import('../dist/esm/index.js')
  let child
  try {
    child = ExitMonitor.shared().spawn(binary, args, { stdio: 'inherit' })
  } catch (error) {
    process.stderr.write(`exitwatch-init: ${error.message}\n`)
    process.exit(126)
  }
  for (const signal of FORWARDED) {
    process.on(signal, () => {
      try {
        child.kill(signal)
      } catch {
        // Already exited: its exit ends this process.
      }
    })
  }
  const exit = await child.exited
  process.exit(exit.code ?? 128 + (constants.signals[exit.signal] ?? 0))
}

const invokedDirectly = process.argv[1] && realpathSync(process.argv[1]) === fileURLToPath(import.meta.url)
if (invokedDirectly) {
  try {
    await execInit(process.argv.slice(2))
  } catch (error) {
    process.stderr.write(`${error.message}\n`)
    process.exit(127)
  }
}
