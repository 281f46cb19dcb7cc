import { ChildProcess } from 'node:child_process'
import { isMainThread } from 'node:worker_threads'
import { Channel } from './channel.js'
import { ExitwatchError, invalid, native } from './errors.js'
import { ProcessHandle } from './handle.js'
import { binding, type NativeCapabilities } from './native.js'
import type { StatusSource } from './exit-info.js'

export interface WatchOptions {
  /**
   * exitwatch owns the process and reaps it, so it never lingers as a zombie. Only for
   * children of this process that nobody else waits for (not for a `ChildProcess`: libuv
   * owns those). Default false: the status is read without reaping.
   */
  reap?: boolean
}

export type Capabilities = NativeCapabilities

export interface Stats {
  /** Processes watched now. */
  watched: number
  exitsObserved: number
  /** Owned processes exitwatch reaped. */
  reapedOwned: number
  /** Exits whose status no source kept (`status: 'unknown'`). */
  unknownStatuses: number
  bySource: Record<StatusSource, number>
  /** Exits queued for consumers and not taken yet: now, and the most ever. */
  queueDepth: number
  queueDepthMax: number
  /** Exits seen whose status is not readable yet (a ptrace tracer holds it). */
  pendingStatuses: number
  statusRetries: number
  workerAlive: boolean
  workerRestarts: number
  /** Times the monitor thread woke up. */
  wakeups: number
  lastWakeupAt: number | null
  descriptorsInUse: number
  pidfds: number
  poisonRecoveries: number
  /** Listener calls in this environment that threw. */
  listenerErrors: number
}

let shared: ExitMonitor | undefined

/** Watches processes for their exit. One per environment: use `ExitMonitor.shared()`. */
export class ExitMonitor {
  readonly #channel: Channel

  private constructor() {
    this.#channel = native(() => new Channel())
    if (isMainThread) {
      // libuv owns SIGCHLD in Node; forward each one so held-back statuses are retried.
      // Signal listeners do not keep the event loop alive.
      process.on('SIGCHLD', () => binding.notifySigchld())
    }
  }

  /** The monitor of this thread (main thread or worker); one native thread serves them all. */
  static shared(): ExitMonitor {
    shared ??= new ExitMonitor()
    return shared
  }

  /**
   * Watches a process by pid, or a `ChildProcess` (call it in the same tick as `spawn`, before
   * Node can reap it). The pidfd is opened now: the handle names this process, never a later
   * one with the same pid.
   */
  watch(target: number | ChildProcess, options: WatchOptions = {}): ProcessHandle {
    const pid = pidOf(target, options)
    const token = native(() => this.#channel.native.watch(pid, options.reap === true))
    return new ProcessHandle(this.#channel, pid, token)
  }

  capabilities(): Capabilities {
    return native(() => binding.capabilities())
  }

  stats(): Stats {
    const s = native(() => binding.stats())
    const bySource = Object.fromEntries(s.bySource.map((c) => [c.source, c.count])) as Record<StatusSource, number>
    return {
      watched: s.watched,
      exitsObserved: s.exitsObserved,
      reapedOwned: s.reapedOwned,
      unknownStatuses: s.unknownStatuses,
      bySource,
      queueDepth: s.queueDepth,
      queueDepthMax: s.queueDepthMax,
      pendingStatuses: s.pendingStatuses,
      statusRetries: s.statusRetries,
      workerAlive: s.workerAlive,
      workerRestarts: s.workerRestarts,
      wakeups: s.wakeups,
      lastWakeupAt: s.lastWakeupMs ?? null,
      descriptorsInUse: s.descriptorsInUse,
      pidfds: s.pidfds,
      poisonRecoveries: s.poisonRecoveries,
      listenerErrors: this.#channel.listenerErrors,
    }
  }
}

function pidOf(target: unknown, options: WatchOptions): number {
  if (typeof target === 'number') return target
  if (target instanceof ChildProcess) {
    if (options.reap) {
      throw invalid('reap: true is refused for a ChildProcess: libuv owns it and would lose its exit status')
    }
    if (target.pid === undefined) {
      throw new ExitwatchError('ESRCH', 'the ChildProcess has no pid: it failed to spawn')
    }
    if (target.exitCode !== null || target.signalCode !== null) {
      throw new ExitwatchError(
        'ESRCH',
        `process ${target.pid} has already exited and been reaped by Node (see child.exitCode / child.signalCode)`,
      )
    }
    return target.pid
  }
  throw invalid(`watch() takes a pid (number) or a ChildProcess, not ${describe(target)}`)
}

function describe(value: unknown): string {
  if (value === null) return 'null'
  if (typeof value === 'object') return `an object (${value.constructor?.name ?? 'Object'})`
  return `${typeof value} ${String(value)}`
}
