// Keeps orphan reaping from stealing the exits of children Node starts itself:
// - every ChildProcess is claimed in the tick it is spawned (libuv will reap it);
// - synchronous spawns suspend orphan reaping while they run (they reap their own child).
import { ChildProcess } from 'node:child_process'
import { createRequire, syncBuiltinESMExports } from 'node:module'
import { binding } from './native.js'

const require = createRequire(import.meta.url)
const SYNC_SPAWNS = ['spawnSync', 'execSync', 'execFileSync'] as const
let installed = false

/** Installs the hooks in this environment (main thread or worker); idempotent. */
export function installChildProcessHooks(): void {
  if (installed) return
  installed = true

  // `spawn`, `exec`, `execFile` and `fork` all go through this (undocumented) method.
  const prototype = ChildProcess.prototype as unknown as { spawn: (this: ChildProcess, ...args: unknown[]) => unknown }
  const spawn = prototype.spawn
  prototype.spawn = function (this: ChildProcess, ...args: unknown[]) {
    const result = spawn.apply(this, args)
    if (this.pid !== undefined && binding.orphanReapingEnabled()) {
      try {
        binding.claimChild(this.pid)
      } catch {
        // Already gone (it cannot have been reaped yet, so this means it never ran).
      }
    }
    return result
  }

  const childProcess = require('node:child_process') as Record<(typeof SYNC_SPAWNS)[number], (...a: unknown[]) => unknown>
  for (const name of SYNC_SPAWNS) {
    const original = childProcess[name]
    childProcess[name] = function (this: unknown, ...args: unknown[]) {
      binding.suspendOrphanReaping()
      try {
        return original.apply(this, args)
      } finally {
        binding.resumeOrphanReaping()
      }
    }
  }
  // ES modules that import these by name see the wrapped versions too.
  syncBuiltinESMExports()
}
