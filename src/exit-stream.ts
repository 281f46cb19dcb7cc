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
  /** FIFO: `#queue[#head]` is the oldest exit not taken yet. */
  #queue: ExitInfo[] = []
  #head = 0
  #waiter: { resolve: (r: IteratorResult<ExitInfo>) => void; reject: (e: unknown) => void } | undefined
  #closed = false

  /** @internal use `ExitMonitor.exits()` */
  constructor(channel: Channel, signal?: AbortSignal) {
    this.#channel = channel
    this.#signal = signal
    this.#id = native(() => channel.native.subscribe())
    channel.onSubscriptionExit(this.#id, (exit) => this.#push(exit))
    channel.hold()
    if (signal?.aborted) this.#close(signal.reason)
    else signal?.addEventListener('abort', this.#onAbort, { once: true })
  }

  /** Exits received and not yet taken by `next()`. */
  get pending(): number {
    return this.#queue.length - this.#head
  }

  next(): Promise<IteratorResult<ExitInfo>> {
    if (this.#head < this.#queue.length) return Promise.resolve({ value: this.#shift(), done: false })
    if (this.#closed) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }))
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

  #push(exit: ExitInfo): void {
    const waiter = this.#waiter
    if (waiter) {
      this.#waiter = undefined
      waiter.resolve({ value: exit, done: false })
    } else {
      this.#queue.push(exit)
    }
  }

  #shift(): ExitInfo {
    const exit = this.#queue[this.#head++]!
    if (this.#head > 1024 && this.#head * 2 > this.#queue.length) {
      this.#queue = this.#queue.slice(this.#head)
      this.#head = 0
    }
    return exit
  }

  #close(abortReason?: unknown): void {
    if (this.#closed) return
    this.#closed = true
    this.#channel.forgetSubscription(this.#id)
    native(() => this.#channel.native.unsubscribe(this.#id))
    this.#channel.release()
    this.#signal?.removeEventListener('abort', this.#onAbort)
    this.#queue = []
    this.#head = 0
    const waiter = this.#waiter
    this.#waiter = undefined
    if (waiter && abortReason !== undefined) waiter.reject(abortReason)
    else waiter?.resolve({ value: undefined, done: true })
  }
}
