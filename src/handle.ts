import type { Channel } from './channel.js'
import { ExitwatchError, native } from './errors.js'
import type { ExitInfo } from './exit-info.js'
import { signalNumber } from './signals.js'
import { killTree, type KillTreeOptions } from './tree.js'

/** One watched process. */
export class ProcessHandle implements Disposable {
  readonly pid: number
  /** Resolves with the exit once observed; rejects with ECANCELED if disposed first. */
  readonly exited: Promise<ExitInfo>
  readonly #channel: Channel
  /** The native watch; -1 (no watch, which the monitor answers with ESRCH) when the exit was known at creation. */
  readonly #token: number
  #exit: ExitInfo | undefined
  #settled = false
  #referenced = true
  #reject!: (error: ExitwatchError) => void

  /**
   * @internal use `ExitMonitor.watch()` or `Subscription.claim()`. `watch` is the token of a
   * native watch, or the exit itself when it was already known.
   */
  constructor(channel: Channel, pid: number, watch: number | ExitInfo) {
    this.pid = pid
    this.#channel = channel
    if (typeof watch !== 'number') {
      this.#token = -1
      this.#exit = watch
      this.#settled = true
      this.#referenced = false
      this.exited = Promise.resolve(watch)
      return
    }
    this.#token = watch
    this.exited = new Promise<ExitInfo>((resolve, reject) => {
      this.#reject = reject
      channel.onWatchExit(watch, (exit) => {
        this.#exit = exit
        this.#settle()
        resolve(exit)
      })
    })
    // A disposal nobody awaits must not become an unhandled rejection.
    this.exited.catch(() => {})
    channel.hold()
  }

  /** The exit, once observed. */
  get exit(): ExitInfo | undefined {
    return this.#exit
  }

  /**
   * Sends a signal through the process's pidfd: it can only reach this process, never one
   * that reused its pid. Throws ESRCH once the exit has been observed.
   */
  kill(signal: NodeJS.Signals | number = 'SIGTERM'): void {
    const number = signalNumber(signal)
    native(() => this.#channel.native.kill(this.#token, number))
  }

  /**
   * Signals this process and all its descendants (and, as PID 1 / subreaper, the orphans
   * re-parented to this process), each pinned by a pidfd first; escalates after
   * `escalateAfterMs`. Resolves with one exit per member once all are gone.
   */
  killTree(signal: NodeJS.Signals | number = 'SIGTERM', options: KillTreeOptions = {}): Promise<ExitInfo[]> {
    signalNumber(signal)
    if (options.escalateSignal !== undefined) signalNumber(options.escalateSignal)
    return killTree(this.#channel, this, signal, options)
  }

  /** Lets the event loop end while this process still runs (like `ChildProcess.unref()`). */
  unref(): this {
    if (this.#referenced && !this.#settled) this.#channel.release()
    this.#referenced = false
    return this
  }

  /** Keeps the event loop alive until the exit (the default). */
  ref(): this {
    if (!this.#referenced && !this.#settled) this.#channel.hold()
    this.#referenced = true
    return this
  }

  /** Stops watching. A pending `exited` rejects with ECANCELED. Safe to call twice. */
  [Symbol.dispose](): void {
    if (this.#settled) return
    this.#channel.forgetWatch(this.#token)
    native(() => this.#channel.native.unwatch(this.#token))
    this.#settle()
    this.#reject(new ExitwatchError('ECANCELED', `the watch of process ${this.pid} was disposed before it exited`))
  }

  #settle(): void {
    this.#settled = true
    if (this.#referenced) this.#channel.release()
  }
}
