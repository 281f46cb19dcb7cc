// What exitwatch needs to know about the children Node starts itself:
// - in PID-1 / subreaper mode every ChildProcess is claimed in the tick it is spawned (libuv
//   will reap it), and synchronous spawns suspend orphan reaping while they run;
// - a ChildProcess's 'exit' reports libuv's exact status, for the exits no kernel source kept
//   (libuv reaped first, before Linux 6.15);
// - a watched ChildProcess's ref()/unref() is followed by its handles.
// The wrappers keep the wrapped functions' `name` and `length`.
import childProcess, { ChildProcess } from 'node:child_process'
import { syncBuiltinESMExports } from 'node:module'
import { constants } from 'node:os'
import { binding } from './native.js'

const SYNC_SPAWNS = ['spawnSync', 'execSync', 'execFileSync'] as const
let installed = false
/** Children this environment started (child_process, monitor.spawn) that have not exited yet. */
const spawned = new Set<number>()
/** ChildProcesses whose 'exit' is reported to the native monitor. */
const reporting = new WeakSet<ChildProcess>()
/** What follows a ChildProcess's ref()/unref(): the handles watching it. */
const refFollowers = new WeakMap<ChildProcess, Set<RefFollower>>()
let subreaper = false

export interface RefFollower {
  ref(): unknown
  unref(): unknown
}

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

/** Records a child started by `monitor.spawn` until its watch settles: it is not adopted. */
export function recordSpawned(pid: number, exited: Promise<unknown>): void {
  spawned.add(pid)
  const forget = (): boolean => spawned.delete(pid)
  exited.then(forget, forget)
}

/**
 * Reports `child`'s exit status to the native monitor when it emits 'exit' (idempotent). The
 * listener goes first when attached in the spawn tick, so the report precedes user code.
 */
export function reportExitOf(child: ChildProcess): void {
  if (reporting.has(child) || child.pid === undefined) return
  reporting.add(child)
  const pid = child.pid
  child.once('exit', (code: number | null, signal: NodeJS.Signals | null) => {
    const signalNumber = signal === null ? null : constants.signals[signal]
    binding().ownerReportedExit(pid, code ?? undefined, signalNumber ?? undefined)
  })
}

/**
 * Makes `follower` follow `child.ref()` / `child.unref()` from now on, starting from the
 * child's current state. Returns a function that stops it.
 */
export function followRef(child: ChildProcess, follower: RefFollower): () => void {
  let followers = refFollowers.get(child)
  if (!followers) refFollowers.set(child, (followers = new Set()))
  followers.add(follower)
  if (!isReferenced(child)) follower.unref()
  return () => followers.delete(follower)
}

/** Node keeps no public record of it; its process handle does. */
function isReferenced(child: ChildProcess): boolean {
  const handle = (child as unknown as { _handle?: { hasRef?: () => boolean } | null })._handle
  return handle?.hasRef?.() ?? true
}

/** Installs the hooks in this environment (main thread or worker); idempotent. */
export function installChildProcessHooks(): void {
  if (installed) return
  installed = true

  const prototype = ChildProcess.prototype as unknown as Record<'spawn' | 'ref' | 'unref', (...args: unknown[]) => unknown>
  // `spawn`, `exec`, `execFile` and `fork` all go through this (undocumented) method.
  wrap(prototype, 'spawn', (spawn) =>
    function (this: ChildProcess, ...args: unknown[]) {
      const result = spawn.apply(this, args)
      const pid = this.pid
      if (pid !== undefined) {
        spawned.add(pid)
        this.once('exit', () => spawned.delete(pid))
        if (binding().orphanReapingEnabled()) {
          try {
            binding().claimChild(pid)
            reportExitOf(this)
          } catch {
            // Already gone (it cannot have been reaped yet, so this means it never ran).
          }
        }
      }
      return result
    },
  )
  for (const method of ['ref', 'unref'] as const) {
    wrap(prototype, method, (original) =>
      function (this: ChildProcess, ...args: unknown[]) {
        const result = original.apply(this, args)
        for (const follower of refFollowers.get(this) ?? []) follower[method]()
        return result
      },
    )
  }

  // The default import is the builtin's mutable exports object (a namespace import is not).
  const exports = childProcess as unknown as Record<(typeof SYNC_SPAWNS)[number], (...a: unknown[]) => unknown>
  for (const name of SYNC_SPAWNS) {
    wrap(exports, name, (original) =>
      function (this: unknown, ...args: unknown[]) {
        binding().suspendOrphanReaping()
        try {
          return original.apply(this, args)
        } finally {
          binding().resumeOrphanReaping()
        }
      },
    )
  }
  // ES modules that import these by name see the wrapped versions too.
  syncBuiltinESMExports()
}

type AnyFunction = (...args: unknown[]) => unknown

/** Replaces `target[key]` by `make(original)`, keeping the original's `name` and `length`. */
function wrap<K extends string>(target: Record<K, AnyFunction>, key: K, make: (original: AnyFunction) => AnyFunction): void {
  const original = target[key]
  const wrapper = make(original)
  Object.defineProperty(wrapper, 'name', { value: original.name })
  Object.defineProperty(wrapper, 'length', { value: original.length })
  target[key] = wrapper
}
