/**
 * An unbounded FIFO read as an async iterator: `push()` adds, `next()` takes the oldest item
 * or waits for one. `end()` lets the reader take what is queued, then finishes; `close()`
 * finishes at once, dropping what is queued.
 */
export class AsyncQueue<T> implements AsyncIterableIterator<T> {
  /** `#items[#head]` is the oldest item not taken yet. */
  #items: T[] = []
  #head = 0
  #waiter: { resolve: (r: IteratorResult<T>) => void; reject: (e: unknown) => void } | undefined
  #ended = false

  /** Items queued and not taken yet. */
  get pending(): number {
    return this.#items.length - this.#head
  }

  /** Queues `item` (dropped once the queue has ended). */
  push(item: T): void {
    if (this.#ended) return
    const waiter = this.#waiter
    if (waiter) {
      this.#waiter = undefined
      waiter.resolve({ value: item, done: false })
    } else {
      this.#items.push(item)
    }
  }

  next(): Promise<IteratorResult<T>> {
    if (this.pending > 0) return Promise.resolve({ value: this.#shift(), done: false })
    if (this.#ended) return Promise.resolve({ value: undefined, done: true })
    return new Promise((resolve, reject) => (this.#waiter = { resolve, reject }))
  }

  return(): Promise<IteratorResult<T>> {
    this.close()
    return Promise.resolve({ value: undefined, done: true })
  }

  [Symbol.asyncIterator](): this {
    return this
  }

  /** No more items: the reader takes those queued, then is done. */
  end(): void {
    this.#ended = true
    if (this.pending === 0) this.#finishWaiter()
  }

  /** Done now: queued items are dropped; a pending `next()` rejects with `reason` if given. */
  close(reason?: unknown): void {
    this.#ended = true
    this.#items = []
    this.#head = 0
    this.#finishWaiter(reason)
  }

  #finishWaiter(reason?: unknown): void {
    const waiter = this.#waiter
    this.#waiter = undefined
    if (waiter && reason !== undefined) waiter.reject(reason)
    else waiter?.resolve({ value: undefined, done: true })
  }

  #shift(): T {
    const item = this.#items[this.#head++] as T
    // Drop the taken prefix once it dominates, so a long-lived queue does not grow forever.
    if (this.#head > 1024 && this.#head * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#head)
      this.#head = 0
    }
    return item
  }
}
