// A small supervisor built only on the public exitwatch API: restart policies, backoff with
// jitter, a start limit, and a stop that takes down the whole process tree.
import type { ChildProcess } from 'node:child_process'
import { invalid } from './errors.js'
import type { ExitInfo } from './exit-info.js'
import { ProcessHandle } from './handle.js'
import { ExitMonitor } from './monitor.js'
import { checkSpawn, type SpawnCommand } from './spawn.js'

export type RestartPolicy = 'always' | 'on-failure' | 'never'

export interface BackoffOptions {
  /** Delay before the first restart after a failure. Default 100 ms. */
  initialMs?: number
  /** Growth per consecutive failure. Default 2. */
  factor?: number
  /** Cap. Default 30 s. */
  maxMs?: number
  /** Random spread, as a fraction of the delay (0.2: ±20 %). Default 0.2. */
  jitter?: number
}

export interface SuperviseOptions {
  /** Default 'on-failure'. */
  restart?: RestartPolicy
  backoff?: BackoffOptions
  /** At most `burst` starts within `intervalMs`, then give up (systemd's StartLimitBurst). Default 5 in 10 s. */
  startLimit?: { burst: number; intervalMs: number }
  /** Exit codes that count as success. Default [0]. */
  successExitCodes?: number[]
  /** A run shorter than this counts as a failure whatever its exit code. Default 1000 ms. */
  minUptimeMs?: number
  /** Defaults for `stop()`. */
  stop?: StopOptions
  monitor?: ExitMonitor
}

export interface StopOptions {
  /** Default 'SIGTERM'. */
  signal?: NodeJS.Signals
  /** Then SIGKILL whatever is left of the tree. Default 5000 ms. */
  timeoutMs?: number
}

export type SupervisorEvent =
  | { type: 'start'; run: number; pid: number; at: number }
  | { type: 'exit'; run: number; exit: ExitInfo; uptimeMs: number; failed: boolean }
  | { type: 'restart'; run: number; delayMs: number }
  | { type: 'give-up'; reason: string; runs: number }
  | { type: 'stopped'; runs: number }

export interface SupervisorStatus {
  state: 'running' | 'backoff' | 'stopping' | 'stopped' | 'gave-up' | 'finished'
  pid: number | null
  runs: number
  lastExit: ExitInfo | null
  /** When the next start is due (ms since the epoch), while in backoff. */
  nextRestartAt: number | null
}

/**
 * What each run starts: a command that the supervisor's monitor spawns (`monitor.spawn`, with
 * `stdio: 'inherit'` unless the command's options say otherwise), or a function that starts
 * the process itself and returns its `ChildProcess`, pid, or handle (`monitor.spawn(…)`).
 */
export type SuperviseStart = SpawnCommand | (() => ChildProcess | number | ProcessHandle)

/** Supervises what `start` starts; see `SuperviseStart` and `SuperviseOptions`. */
export function supervise(start: SuperviseStart, options: SuperviseOptions = {}): Supervisor {
  return new Supervisor(start, options)
}

export class Supervisor implements AsyncDisposable {
  /** Settles when supervision ends: finished, gave up, or stopped. */
  readonly done: Promise<void>
  readonly #start: SuperviseStart
  readonly #options: Required<Omit<SuperviseOptions, 'monitor' | 'backoff' | 'stop'>> & {
    backoff: Required<BackoffOptions>
    stop: Required<StopOptions>
  }
  readonly #monitor: ExitMonitor
  readonly #history: SupervisorEvent[] = []
  readonly #listeners = new Set<(event: SupervisorEvent) => void>()
  readonly #starts: number[] = []
  #state: SupervisorStatus['state'] = 'running'
  #handle: ProcessHandle | undefined
  #runs = 0
  #lastExit: ExitInfo | null = null
  #nextRestartAt: number | null = null
  #wakeFromBackoff: (() => void) | undefined
  #stopping: Promise<void> | undefined

  /** @internal use `supervise()` */
  constructor(start: SuperviseStart, options: SuperviseOptions) {
    if (typeof start !== 'function') {
      if (start === null || typeof start !== 'object') throw invalid(`start must be a function or a command ({ file, args, options }), not ${String(start)}`)
      // A bad command fails here, not at its first start.
      checkSpawn(start.file, start.args ?? [], start.options)
    }
    this.#start = start
    this.#monitor = options.monitor ?? ExitMonitor.shared()
    this.#options = {
      restart: options.restart ?? 'on-failure',
      startLimit: options.startLimit ?? { burst: 5, intervalMs: 10_000 },
      successExitCodes: options.successExitCodes ?? [0],
      minUptimeMs: options.minUptimeMs ?? 1000,
      backoff: { initialMs: 100, factor: 2, maxMs: 30_000, jitter: 0.2, ...options.backoff },
      stop: { signal: 'SIGTERM', timeoutMs: 5000, ...options.stop },
    }
    if (!['always', 'on-failure', 'never'].includes(this.#options.restart)) {
      throw invalid(`restart must be 'always', 'on-failure' or 'never', not ${String(this.#options.restart)}`)
    }
    this.done = this.#supervise()
  }

  status(): SupervisorStatus {
    return {
      state: this.#state,
      pid: this.#handle && !this.#handle.exit ? this.#handle.pid : null,
      runs: this.#runs,
      lastExit: this.#lastExit,
      nextRestartAt: this.#nextRestartAt,
    }
  }

  /**
   * Every event from the start of supervision, then live ones, until supervision ends.
   * Each call is an independent iterator.
   */
  async *events(): AsyncGenerator<SupervisorEvent, void, undefined> {
    const queue = [...this.#history]
    let wake: (() => void) | undefined
    const listener = (event: SupervisorEvent): void => {
      queue.push(event)
      wake?.()
    }
    this.#listeners.add(listener)
    try {
      for (;;) {
        while (queue.length > 0) yield queue.shift()!
        if (this.#ended()) return
        await new Promise<void>((resolve) => (wake = resolve))
      }
    } finally {
      this.#listeners.delete(listener)
    }
  }

  /**
   * Stops restarting, signals the current process tree (each process pinned by a pidfd),
   * SIGKILLs what is left after `timeoutMs`, and resolves when every member is gone.
   */
  stop(options: StopOptions = {}): Promise<void> {
    this.#stopping ??= (async () => {
      const { signal, timeoutMs } = { ...this.#options.stop, ...options }
      this.#state = 'stopping'
      this.#wakeFromBackoff?.()
      if (this.#handle && !this.#handle.exit) await this.#handle.killTree(signal, { escalateAfterMs: timeoutMs })
      await this.done
    })()
    return this.#stopping
  }

  [Symbol.asyncDispose](): Promise<void> {
    return this.stop()
  }

  #ended(): boolean {
    return ['stopped', 'gave-up', 'finished'].includes(this.#state)
  }

  #emit(event: SupervisorEvent): void {
    this.#history.push(event)
    for (const listener of this.#listeners) listener(event)
  }

  async #supervise(): Promise<void> {
    let failures = 0
    while (this.#state !== 'stopping') {
      const now = Date.now()
      const { burst, intervalMs } = this.#options.startLimit
      while (this.#starts.length > 0 && this.#starts[0]! <= now - intervalMs) this.#starts.shift()
      if (this.#starts.length >= burst) {
        this.#finish('gave-up')
        this.#emit({ type: 'give-up', reason: `${burst} starts within ${intervalMs} ms`, runs: this.#runs })
        return
      }
      this.#starts.push(now)
      let handle: ProcessHandle
      try {
        handle = this.#startRun()
      } catch (error) {
        // Nothing runs and nothing will: event iterators end, `done` rejects with why.
        this.#finish('gave-up')
        this.#emit({ type: 'give-up', reason: `start failed: ${(error as Error).message}`, runs: this.#runs })
        throw error
      }
      const run = ++this.#runs
      this.#handle = handle
      this.#state = 'running'
      this.#emit({ type: 'start', run, pid: handle.pid, at: now })

      const exit = await handle.exited
      const uptimeMs = Date.now() - now
      // stop() may have run while we awaited the exit.
      const stopping = (this.#state as SupervisorStatus['state']) === 'stopping'
      const failed = !stopping && (exit.code === null || !this.#options.successExitCodes.includes(exit.code) || uptimeMs < this.#options.minUptimeMs)
      this.#lastExit = exit
      this.#emit({ type: 'exit', run, exit, uptimeMs, failed })
      if (stopping) break
      const restart = this.#options.restart === 'always' || (this.#options.restart === 'on-failure' && failed)
      if (!restart) {
        this.#finish('finished')
        this.#emit({ type: 'stopped', runs: this.#runs })
        return
      }
      failures = failed ? failures + 1 : 0
      const delayMs = this.#delay(failures)
      this.#state = 'backoff'
      this.#nextRestartAt = Date.now() + delayMs
      this.#emit({ type: 'restart', run: run + 1, delayMs })
      await new Promise<void>((resolve) => {
        const timer = setTimeout(resolve, delayMs)
        this.#wakeFromBackoff = () => {
          clearTimeout(timer)
          resolve()
        }
      })
      this.#wakeFromBackoff = undefined
      this.#nextRestartAt = null
    }
    this.#finish('stopped')
    this.#emit({ type: 'stopped', runs: this.#runs })
  }

  #startRun(): ProcessHandle {
    if (typeof this.#start !== 'function') {
      const { file, args = [], options } = this.#start
      return this.#monitor.spawn(file, args, { stdio: 'inherit', ...options })
    }
    const started = this.#start()
    return started instanceof ProcessHandle ? started : this.#monitor.watch(started)
  }

  #finish(state: SupervisorStatus['state']): void {
    this.#state = state
    this.#nextRestartAt = null
  }

  /** Exponential in the consecutive failures, capped, spread by ± jitter. */
  #delay(failures: number): number {
    const { initialMs, factor, maxMs, jitter } = this.#options.backoff
    const base = Math.min(maxMs, initialMs * factor ** Math.max(0, failures - 1))
    return Math.max(0, Math.round(base * (1 + jitter * (2 * Math.random() - 1))))
  }
}
