import { ChildProcess } from 'node:child_process'
import { isMainThread } from 'node:worker_threads'
import { Channel } from './channel.js'
import { invalid, native } from './errors.js'
import { followRef, installChildProcessHooks, markSubreaper, reportExitOf } from './child-process-hooks.js'
import { installInit, type Init, type InitOptions } from './init.js'
import type { ExitInfo, StatusSource } from './exit-info.js'
import { ExitStream } from './exit-stream.js'
import { ProcessHandle } from './handle.js'
import { binding, type NativeCapabilities } from './native.js'
import { spawnProcess, type SpawnedProcess, type SpawnOptions } from './spawn.js'
import { Subscription } from './subscription.js'
import { pidOf, type WatchOptions } from './target.js'
import type { TreeMember } from './tree.js'

export type { WatchOptions }

export interface SubreaperOptions {
  /** Reap orphans (zombie children nobody claimed). Default true. */
  reapOrphans?: boolean
  /**
   * How long a zombie child whose origin is unknown is left to a possible owner before
   * exitwatch reaps it. Children forked by this process — from any thread, by libuv, a
   * worker or a native addon — are recorded as they are forked and never reaped by exitwatch,
   * so the default is 0 (orphans are reaped at once). Raise it only when native code in this
   * process starts children without `fork()` (`posix_spawn`, `vfork`, `clone`; e.g. Rust's
   * `std::process::Command`) and reaps them itself.
   */
  graceMs?: number
}

export interface ExitsOptions {
  /** Ends the iteration when aborted (a pending `next()` rejects with the abort reason). */
  signal?: AbortSignal
}

export type Capabilities = NativeCapabilities

export interface Stats {
  /** Processes watched now. */
  watched: number
  exitsObserved: number
  /** Owned processes exitwatch reaped. */
  reapedOwned: number
  /** Orphans exitwatch reaped as PID 1 / subreaper. */
  reapedOrphans: number
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
  /** Subscriptions (iterators, pre-start subscriptions, listeners) of all environments. */
  subscriptions: number
  descriptorsInUse: number
  poisonRecoveries: number
  /** Exits observed by the poll engine (`capabilities().engine === 'poll'`: no pidfds). */
  fallbackExits: number
  /** Listener calls in this environment that threw. */
  listenerErrors: number
  /** The proc connector's socket is open (a process exitwatch does not reap is watched). */
  procConnectorListening: boolean
  /** Process events read from the connector. */
  procConnectorEvents: number
  /** Times events were lost (socket overflow); the processes then watched use the other sources. */
  procConnectorOverruns: number
  /** Times the connector could not be opened or read. */
  procConnectorFailures: number
}

let shared: ExitMonitor | undefined

/** Watches processes for their exit. One per environment: use `ExitMonitor.shared()`. */
export class ExitMonitor {
  readonly #channel: Channel

  private constructor() {
    this.#channel = native(() => new Channel())
    // Cheap until orphan reaping is enabled (by this environment or another one).
    installChildProcessHooks()
    if (isMainThread) {
      // libuv owns SIGCHLD in Node; forward each one so held-back statuses are retried.
      // Signal listeners do not keep the event loop alive.
      process.on('SIGCHLD', () => binding().notifySigchld())
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
   * one with the same pid. The handle of a `ChildProcess` follows its `ref()` / `unref()`,
   * and when libuv reaps it before the status could be read and no kernel source kept it
   * (before Linux 6.15), the exit carries libuv's exact status (source `child-process`).
   */
  watch(target: number | ChildProcess, options: WatchOptions = {}): ProcessHandle {
    const pid = pidOf(target, options)
    const child = target instanceof ChildProcess ? target : undefined
    const token = native(() => this.#channel.native.watch(pid, options.reap === true, child !== undefined))
    const handle = new ProcessHandle(this.#channel, pid, token)
    if (child) {
      reportExitOf(child)
      const stopFollowing = followRef(child, handle)
      handle.exited.then(stopFollowing, stopFollowing)
    }
    return handle
  }

  /**
   * Starts `file` (looked up in `PATH` like `execvp` when it has no slash) without forking
   * this process, so the cost does not grow with its memory. exitwatch owns the child: it is
   * reaped by exitwatch, never seen by libuv, and never taken for an orphan. Options are
   * `child_process.spawn`'s where they overlap; a bad option is an EINVAL and starts nothing.
   * A failed start throws a typed error naming the file (ENOENT, EACCES, ENOEXEC, …) and
   * leaves no process and no descriptor behind.
   */
  spawn(file: string, args?: readonly string[], options?: SpawnOptions): SpawnedProcess
  spawn(file: string, options?: SpawnOptions): SpawnedProcess
  spawn(file: string, argsOrOptions?: readonly string[] | SpawnOptions, options?: SpawnOptions): SpawnedProcess {
    return spawnProcess(this.#channel, file, argsOrOptions, options)
  }

  /**
   * Every exit the monitor observes from now on, in order. Each iterator has its own
   * unbounded queue; `break` unsubscribes at once. An open iterator keeps the event loop alive.
   */
  exits(options: ExitsOptions = {}): ExitStream {
    return new ExitStream(this.#channel, options.signal)
  }

  /** A pre-start subscription: see `Subscription.claim()`. */
  subscribe(): Subscription {
    return new Subscription(this.#channel)
  }

  /**
   * Calls `listener` with every exit observed from now on. A listener that throws is counted
   * in `stats().listenerErrors` and disturbs nothing else. Does not keep the event loop alive.
   */
  onExit(listener: (exit: ExitInfo) => void): Disposable {
    const channel = this.#channel
    const id = native(() => channel.native.subscribe())
    channel.onSubscriptionExit(id, listener)
    return {
      [Symbol.dispose]() {
        channel.forgetSubscription(id)
        native(() => channel.native.unsubscribe(id))
      },
    }
  }

  /**
   * PID-1 / subreaper mode. Sets PR_SET_CHILD_SUBREAPER (not needed as PID 1), so orphaned
   * descendants are re-parented to this process, and reaps the orphans without stealing
   * anyone's exit: `child_process` children are claimed as they spawn, synchronous spawns
   * suspend reaping while they run, and any other zombie child is left to its owner for
   * `graceMs`. Orphan exits appear in `exits()`, `onExit()` and subscriptions with
   * `orphan: true`.
   */
  enableSubreaper(options: SubreaperOptions = {}): void {
    installChildProcessHooks()
    markSubreaper()
    const graceMs = options.graceMs ?? 0
    if (!Number.isInteger(graceMs) || graceMs < 0 || graceMs > 2 ** 31) {
      throw invalid(`graceMs must be a whole number of milliseconds, not ${String(graceMs)}`)
    }
    if (options.reapOrphans === false) native(() => binding().setChildSubreaper())
    else native(() => binding().enableOrphanReaping(graceMs))
  }

  /** Behaves as PID 1 should (like tini): see `InitOptions`. */
  installInit(options: InitOptions = {}): Init {
    return installInit(this, options)
  }

  /** `pid` and its descendants as seen now (parents first). ESRCH if `pid` does not exist. */
  descendants(pid: number): TreeMember[] {
    return native(() => binding().descendants(pidOf(pid, {}))).map(({ pid, ppid, command }) => ({ pid, ppid, command }))
  }

  capabilities(): Capabilities {
    return native(() => binding().capabilities())
  }

  stats(): Stats {
    const s = native(() => binding().stats())
    const bySource = Object.fromEntries(s.bySource.map((c) => [c.source, c.count])) as Record<StatusSource, number>
    return {
      watched: s.watched,
      exitsObserved: s.exitsObserved,
      reapedOwned: s.reapedOwned,
      reapedOrphans: s.reapedOrphans,
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
      subscriptions: s.subscriptions,
      descriptorsInUse: s.descriptorsInUse,
      poisonRecoveries: s.poisonRecoveries,
      fallbackExits: s.fallbackExits,
      listenerErrors: this.#channel.listenerErrors,
      procConnectorListening: s.procConnectorListening,
      procConnectorEvents: s.procConnectorEvents,
      procConnectorOverruns: s.procConnectorOverruns,
      procConnectorFailures: s.procConnectorFailures,
    }
  }
}
