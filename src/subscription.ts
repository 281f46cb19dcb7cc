import type { Channel } from './channel.js'
import { invalid, native } from './errors.js'
import { toExitInfo, type ExitInfo } from './exit-info.js'
import { ProcessHandle } from './handle.js'
import { pidOf, type WatchOptions } from './target.js'

/**
 * A pre-start subscription: from its creation, every exit the monitor observes (watched
 * processes, owned ones, orphans it reaps) is kept, so a process whose pid is learned late
 * (pid file, double fork) can be claimed even if it already exited. Dispose it to release
 * the buffer.
 */
export class Subscription implements Disposable {
  readonly #channel: Channel
  readonly #id: number
  /** pid → its latest exit during the subscription. */
  readonly #exits = new Map<number, ExitInfo>()
  #disposed = false

  /** @internal use `ExitMonitor.subscribe()` */
  constructor(channel: Channel) {
    this.#channel = channel
    this.#id = native(() => channel.native.subscribe())
    channel.onSubscriptionExit(this.#id, (exit) => this.#exits.set(exit.pid, exit))
  }

  /** Exits buffered and not claimed. */
  get size(): number {
    return this.#exits.size
  }

  /**
   * A handle on `pid`: already resolved if it exited during the subscription (so a recycled
   * pid is never mistaken for it), else a new watch.
   */
  claim(target: number, options: WatchOptions = {}): ProcessHandle {
    if (this.#disposed) throw invalid('the subscription was disposed: subscribe() again before claiming')
    const pid = pidOf(target, options)
    // Delivered exits are in the buffer; those drained but waiting for their turn of the event
    // loop are newer.
    const buffered = this.#channel.takeQueuedSubscriptionExit(this.#id, pid) ?? this.#exits.get(pid)
    if (buffered) {
      this.#exits.delete(pid)
      return new ProcessHandle(this.#channel, pid, buffered)
    }
    // Exits not yet handed to JavaScript are looked up natively, atomically with reaping.
    const claimed = native(() => this.#channel.native.claim(this.#id, pid, options.reap === true))
    return new ProcessHandle(this.#channel, pid, claimed.state === 'running' ? claimed.token : toExitInfo(claimed.exit))
  }

  /** Ends the subscription and releases the buffer. Synchronous; safe to call twice. */
  [Symbol.dispose](): void {
    if (this.#disposed) return
    this.#disposed = true
    this.#channel.forgetSubscription(this.#id)
    native(() => this.#channel.native.unsubscribe(this.#id))
    this.#exits.clear()
  }
}
