import { AsyncQueue } from './async-queue.js'
import type { Channel } from './channel.js'
import { native } from './errors.js'
import type { ExitInfo } from './exit-info.js'

/**
 * An async iterator of every exit the monitor observes, in order, with its own unbounded
 * queue. `return()` (what `break` calls) unsubscribes synchronously; an aborted signal ends
 * it too, rejecting a pending `next()` with the signal's reason.
 */
export class ExitStream implements AsyncIterableIterator<ExitInfo>, Disposable {
  readonly #channel: Channel
  readonly #id: number
  readonly #signal: AbortSignal | undefined
  readonly #onAbort = (): void => this.#close(this.#signal?.reason)
  readonly #queue = new AsyncQueue<ExitInfo>()
  #closed = false

  /** @internal use `ExitMonitor.exits()` */
  constructor(channel: Channel, signal?: AbortSignal) {
    this.#channel = channel
    this.#signal = signal
    this.#id = native(() => channel.native.subscribe())
    channel.onSubscriptionExit(this.#id, (exit) => this.#queue.push(exit))
    channel.hold()
    if (signal?.aborted) this.#close(signal.reason)
    else signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  /** Exits received and not yet taken by `next()`. */
  get pending(): number {
    return this.#queue.pending
  }

  next(): Promise<IteratorResult<ExitInfo>> {
    return this.#queue.next()
  }

  return(): Promise<IteratorResult<ExitInfo>> {
    this.#close()
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  [Symbol.dispose](): void {
    this.#close()
  }

  #close(abortReason?: unknown): void {
    if (this.#closed) return
    this.#closed = true
    this.#channel.forgetSubscription(this.#id)
    native(() => this.#channel.native.unsubscribe(this.#id))
    this.#channel.release()
    this.#signal?.removeEventListener('abort', this.#onAbort)
    this.#queue.close(abortReason)
  }
}
