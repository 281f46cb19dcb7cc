// Keeps orphan reaping from stealing the exits of children Node starts itself:
// - every ChildProcess is claimed in the tick it is spawned (libuv will reap it);
// - synchronous spawns suspend orphan reaping while they run (they reap their own child).
import childProcess, { ChildProcess } from 'node:child_process'
import { syncBuiltinESMExports } from 'node:module'
import { binding } from './native.js'

const SYNC_SPAWNS = ['spawnSync', 'execSync', 'execFileSync'] as const
let installed = false
/** Children this environment started and Node has not reaped yet. */
const spawned = new Set<number>()
let subreaper = false

/** Called when this environment makes the process a subreaper (or it is PID 1). */
export function markSubreaper(): void {
  subreaper = true
}

/**
 * Children of this process that it did not start: descendants re-parented to it as PID 1 or
 * subreaper (double-forked daemons). Empty when it is neither.
 */
export function adoptedChildren(): number[] {
  if (!subreaper && process.pid !== 1) return []
  return binding()
    .descendants(process.pid)
    .filter((m) => m.ppid === process.pid && !spawned.has(m.pid))
    .map((m) => m.pid)
}

/** Installs the hooks in this environment (main thread or worker); idempotent. */
export function installChildProcessHooks(): void {
  if (installed) return
  installed = true

  // `spawn`, `exec`, `execFile` and `fork` all go through this (undocumented) method.
  const prototype = ChildProcess.prototype as unknown as { spawn: (this: ChildProcess, ...args: unknown[]) => unknown }
  const spawn = prototype.spawn
  prototype.spawn = function (this: ChildProcess, ...args: unknown[]) {
    const result = spawn.apply(this, args)
    const pid = this.pid
    if (pid !== undefined) {
      spawned.add(pid)
      this.once('exit', () => spawned.delete(pid))
    }
    if (this.pid !== undefined && binding().orphanReapingEnabled()) {
      try {
        binding().claimChild(this.pid)
      } catch {
        // Already gone (it cannot have been reaped yet, so this means it never ran).
      }
    }
    return result
  }

  // The default import is the builtin's mutable exports object (a namespace import is not).
  const exports = childProcess as unknown as Record<(typeof SYNC_SPAWNS)[number], (...a: unknown[]) => unknown>
  for (const name of SYNC_SPAWNS) {
    const original = exports[name]
    exports[name] = function (this: unknown, ...args: unknown[]) {
      binding().suspendOrphanReaping()
      try {
        return original.apply(this, args)
      } finally {
        binding().resumeOrphanReaping()
      }
    }
  }
  // ES modules that import these by name see the wrapped versions too.
  syncBuiltinESMExports()
}
